/* SPDX-License-Identifier: MIT */
#include <syslog.h>

#include "conf.h"
#include "listen.h"
#include "source-cgroup.h"
#include "source-journal.h"
#include "source-psi.h"
#include "strbuf.h"
#include "test-util.h"

static char *root;

static void setup(void) {
        root = tu_mkdtemp();
}

static void teardown(void) {
        tu_rm_rf(root);
        root = NULL;
}

static int load(const char *text, DmabufdConfig *c, char *err, size_t err_len) {
        char path[PATH_MAX];

        tu_write_str(root, "dmabufd.conf", text);
        snprintf(path, sizeof(path), "%s/dmabufd.conf", root);
        return dmabufd_config_load(c, path, err, err_len);
}

START_TEST(test_valid) {
        DmabufdConfig c;
        char err[512] = "";

        dmabufd_config_init(&c);
        ck_assert_int_eq(load("# comment\n; other comment\n\n"
                              "listen = 127.0.0.1:9000\n"
                              "listen = [::1]:9000\n"
                              "interval = 2.5\n"
                              "root = /srv/capture\n"
                              "state_dir = /var/lib/x\n"
                              "log_level = debug\n"
                              "[dmabufd]\n"
                              "top_processes = 3\n"
                              "top_names = 0\n",
                              &c, err, sizeof(err)),
                         0);
        ck_assert_str_eq(c.listen[0], "127.0.0.1:9000");
        ck_assert_str_eq(c.listen[1], "[::1]:9000");
        ck_assert_ptr_null(c.listen[2]);
        ck_assert(c.interval_sec == 2.5);
        ck_assert_str_eq(c.root, "/srv/capture");
        ck_assert_str_eq(c.state_dir, "/var/lib/x");
        ck_assert_int_eq(c.log_level, LOG_DEBUG);
        ck_assert_uint_eq(c.top_processes, 3);
        ck_assert_uint_eq(c.top_names, 0);
        dmabufd_config_done(&c);
}
END_TEST

START_TEST(test_defaults) {
        DmabufdConfig c;

        dmabufd_config_init(&c);
        ck_assert(c.interval_sec == 10.0);
        ck_assert_uint_eq(c.top_processes, 20);
        ck_assert_uint_eq(c.top_cgroups, 20);
        ck_assert_uint_eq(c.cgroup_depth, 0);
        ck_assert_int_eq(c.log_level, LOG_INFO);
        ck_assert_ptr_null(c.listen);
        ck_assert(c.bpf); /* bpf = auto */
        ck_assert_uint_eq(c.http_max_connections, 64);
        ck_assert_uint_eq(c.http_max_connections_per_address, 16);
        ck_assert_uint_eq(c.http_timeout_sec, 10);
        dmabufd_config_done(&c);
}
END_TEST

START_TEST(test_events_and_snapshots) {
        DmabufdConfig c, copy;
        char err[512] = "";

        dmabufd_config_init(&c);
        ck_assert(c.kmsg);
        ck_assert_uint_eq(c.snapshot_max_count, 50);
        ck_assert_uint_eq(c.snapshot_max_bytes, 256ULL << 20);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_PSI] == 300);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_MANUAL] == 5);
        ck_assert_ptr_null(c.psi_triggers); /* the source's defaults */
        ck_assert_int_eq(load("snapshot_max_count = 7\n"
                              "snapshot_max_bytes = 3G\n"
                              "cooldown_oom_kill = 0\n"
                              "cooldown_psi = 12.5\n"
                              "snapshot_post = any\n"
                              "kmsg = no\n"
                              "bpf = off\n"
                              "psi_trigger = full 100ms 1s\n"
                              "psi_trigger = some 500000 2000000\n"
                              "cgroup =\n"
                              "journal_match = earlyoom ^killing ([0-9]+)\n",
                              &c, err, sizeof(err)),
                         0);
        ck_assert_uint_eq(c.snapshot_max_count, 7);
        ck_assert_uint_eq(c.snapshot_max_bytes, 3ULL << 30);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_OOM_KILL] == 0);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_PSI] == 12.5);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_JOURNAL] == 30);
        ck_assert(c.snapshot_post_any);
        ck_assert(!c.kmsg);
        ck_assert(!c.bpf);
        /* A file's first line of a list replaces the defaults; later ones add. */
        ck_assert_str_eq(c.psi_triggers[0], "full 100ms 1s");
        ck_assert_str_eq(c.psi_triggers[1], "some 500000 2000000");
        ck_assert_ptr_null(c.psi_triggers[2]);
        /* A bare "cgroup =" is an empty list: the source is off, not defaulted. */
        ck_assert_ptr_nonnull(c.cgroups);
        ck_assert_ptr_null(c.cgroups[0]);
        ck_assert_str_eq(c.journal_matches[0], "earlyoom ^killing ([0-9]+)");
        ck_assert_ptr_null(c.journal_matches[1]);

        ck_assert_int_eq(dmabufd_config_copy(&copy, &c), 0);
        ck_assert_str_eq(copy.psi_triggers[1], "some 500000 2000000");
        ck_assert_ptr_ne(copy.psi_triggers, c.psi_triggers);
        ck_assert_ptr_null(copy.cgroups[0]);
        dmabufd_config_done(&copy);
        dmabufd_config_done(&c);
}
END_TEST

/* The shipped example, every "#key = value" line taken in, is valid and says
 * exactly what the built-in defaults are. */
START_TEST(test_shipped_example) {
        static const char *const psi_defaults[] = { DMABUFD_PSI_TRIGGERS_DEFAULT, NULL };
        static const char *const cgroup_defaults[] = { DMABUFD_CGROUPS_DEFAULT, NULL };
        char path[PATH_MAX], line[1024], err[512] = "";
        DmabufdConfig c, d;
        StrBuf sb = STRBUF_INIT;
        FILE *f;

        snprintf(path, sizeof(path), "%s/../../etc/dmabufd.conf", FIXTURES_DIR);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f))
                strbuf_puts(&sb, line[0] == '#' && strstr(line, " = ") ? line + 1 : line);
        fclose(f);
        dmabufd_config_init(&c);
        ck_assert_msg(load(sb.buf, &c, err, sizeof(err)) == 0, "%s", err);
        strbuf_done(&sb);

        dmabufd_config_init(&d);
        ck_assert_str_eq(c.listen[0], DMABUFD_DEFAULT_LISTEN);
        ck_assert(c.interval_sec == d.interval_sec);
        ck_assert_uint_eq(c.top_processes, d.top_processes);
        ck_assert_uint_eq(c.snapshot_max_count, d.snapshot_max_count);
        ck_assert_uint_eq(c.snapshot_max_bytes, d.snapshot_max_bytes);
        ck_assert(memcmp(c.cooldown_sec, d.cooldown_sec, sizeof(d.cooldown_sec)) == 0);
        ck_assert(c.snapshot_post_any == d.snapshot_post_any && c.kmsg == d.kmsg && c.bpf == d.bpf);
        for (size_t i = 0; psi_defaults[i] || c.psi_triggers[i]; i++)
                ck_assert_str_eq(c.psi_triggers[i], psi_defaults[i]);
        for (size_t i = 0; cgroup_defaults[i] || c.cgroups[i]; i++)
                ck_assert_str_eq(c.cgroups[i], cgroup_defaults[i]);
        for (size_t i = 0; dmabufd_journal_default_matches[i] || c.journal_matches[i]; i++)
                ck_assert_str_eq(c.journal_matches[i], dmabufd_journal_default_matches[i]);
        dmabufd_config_done(&c);
        dmabufd_config_done(&d);
}
END_TEST

/* Every bad line is reported with the file and line number and what was wrong. */
START_TEST(test_errors) {
        static const struct {
                const char *text;
                const char *want;
        } cases[] = {
                { "interval = 5\nbogus = 1\n", ":2: unknown option 'bogus'" },
                { "interval = -1\n", ":1: invalid interval '-1'" },
                { "interval = 10s\n", ":1: invalid interval '10s'" },
                { "interval = nan\n", ":1: invalid interval 'nan'" },
                { "\n\ntop_processes = abc\n", ":3: invalid top_processes 'abc'" },
                { "top_names = 100001\n", ":1: invalid top_names '100001'" },
                { "top_cgroups = -1\n", ":1: invalid top_cgroups '-1'" },
                { "\ncgroup_depth = 65\n", ":2: invalid cgroup_depth '65'" },
                { "log_level = loud\n", ":1: invalid log_level 'loud'" },
                { "listen = nope\n", ":1: invalid listen address 'nope'" },
                { "listen = 127.0.0.1:99999\n", ":1: invalid listen address" },
                { "[other]\ninterval = 1\n", ":2: unknown section [other]" },
                { "just words\n", ":1: syntax error" },
                { "root =\n", ":1: root must not be empty" },
                { "bpf = yes\n", ":1: invalid bpf 'yes': expected auto or off" },
                { "snapshot_post = all\n", ":1: invalid snapshot_post 'all': expected loopback or any" },
                { "kmsg = maybe\n", ":1: invalid kmsg 'maybe': expected yes or no" },
                { "interval = 0.04\n", ":1: invalid interval '0.04': expected seconds between 0.05 and 86400" },
                { "interval = 86401\n", ":1: invalid interval '86401'" },
                { "cooldown_psi = -1\n", ":1: invalid cooldown_psi '-1': expected seconds between 0 and 86400" },
                { "cooldown_manual = 86400.5\n", ":1: invalid cooldown_manual '86400.5'" },
                { "cooldown_bogus = 1\n",
                  ":1: unknown option 'cooldown_bogus': cooldowns are cooldown_oom_kill, cooldown_lmk_kill, "
                  "cooldown_cgroup_oom, cooldown_psi, cooldown_journal and cooldown_manual" },
                { "snapshot_max_count = 0\n",
                  ":1: invalid snapshot_max_count '0': expected a whole number from 1 to 100000" },
                { "http_max_connections = 0\n",
                  ":1: invalid http_max_connections '0': expected a whole number from 1 to 4096" },
                { "http_max_connections_per_address = 4097\n",
                  ":1: invalid http_max_connections_per_address '4097': expected a whole number from 1 to 4096" },
                { "http_timeout = 1.5\n", ":1: invalid http_timeout '1.5': expected a whole number from 1 to 3600" },
                { "top_processes = 100001\n",
                  ":1: invalid top_processes '100001': expected a whole number from 0 to 100000" },
                { "snapshot_max_bytes = 63K\n",
                  ":1: invalid snapshot_max_bytes '63K': expected a size of at least 64K, such as 512M or 2G" },
                { "snapshot_max_bytes = 12Q\n", ":1: invalid snapshot_max_bytes '12Q'" },
                { "state_dir =\n", ":1: state_dir must not be empty" },
                { "listen =\n", ":1: invalid listen address ''" },
                { "psi_trigger = sometimes 1ms 1s\n", ":1: invalid psi_trigger 'sometimes 1ms 1s'" },
                { "cgroup = ../escape\n", ":1: invalid cgroup '../escape'" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                DmabufdConfig c;
                char err[512] = "";

                dmabufd_config_init(&c);
                ck_assert_int_eq(load(cases[i].text, &c, err, sizeof(err)), -EINVAL);
                ck_assert_msg(strstr(err, "dmabufd.conf") && strstr(err, cases[i].want), "case %zu: '%s'", i, err);
                dmabufd_config_done(&c);
        }
}
END_TEST

/* The edges of the bounds are in. */
START_TEST(test_bounds) {
        DmabufdConfig c;
        char err[512] = "";

        dmabufd_config_init(&c);
        ck_assert_msg(load("interval = 0.05\n"
                           "cooldown_psi = 86400\n"
                           "cooldown_manual = 0\n"
                           "top_names = 100000\n"
                           "top_cgroups = 0\n"
                           "cgroup_depth = 64\n"
                           "snapshot_max_count = 100000\n"
                           "snapshot_max_bytes = 65536\n",
                           &c, err, sizeof(err)) == 0,
                      "%s", err);
        ck_assert(c.interval_sec == 0.05);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_PSI] == 86400);
        ck_assert_uint_eq(c.top_cgroups, 0);
        ck_assert_uint_eq(c.cgroup_depth, 64);
        ck_assert(c.cooldown_sec[DMABUFD_EVENT_MANUAL] == 0);
        ck_assert_uint_eq(c.top_names, 100000);
        ck_assert_uint_eq(c.snapshot_max_count, 100000);
        ck_assert_uint_eq(c.snapshot_max_bytes, 64 << 10);
        dmabufd_config_done(&c);
}
END_TEST

/* The table itself: names unique, every default valid input that gives what
 * dmabufd_config_init() set, a cooldown for every event kind, and what --help
 * and the shipped file need present. */
START_TEST(test_key_table) {
        DmabufdConfig d;

        dmabufd_config_init(&d);
        for (size_t i = 0; i < dmabufd_config_n_keys; i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];
                DmabufdConfig c;
                char err[512] = "";

                ck_assert_ptr_eq(dmabufd_config_key_find(k->name), k);
                ck_assert_msg(k->defaults && k->defaults[0], "%s has no default", k->name);
                ck_assert_msg(i > 0 || k->doc, "the first key has no comment to share");
                ck_assert_msg(!k->option || (k->metavar && k->help), "%s: option without help", k->name);
                ck_assert_msg(k->type != DMABUFD_CONFIG_LIST || k->check, "%s: list without check", k->name);

                /* init ignores a default it cannot parse, leaving 0: here it fails. */
                dmabufd_config_init(&c);
                for (const char *const *v = k->defaults; *v; v++)
                        ck_assert_msg(dmabufd_config_set(&c, k->name, *v, err, sizeof(err)) == 0, "%s = %s: %s",
                                      k->name, *v, err);
                if (k->type != DMABUFD_CONFIG_STRING && k->type != DMABUFD_CONFIG_LIST)
                        ck_assert_msg(memcmp((char *) &c + k->offset, (char *) &d + k->offset, k->size) == 0,
                                      "%s: init differs from '%s'", k->name, k->defaults[0]);
                dmabufd_config_done(&c);
        }
        for (DmabufdEventKind kind = 0; kind < _DMABUFD_EVENT_KIND_MAX; kind++) {
                char name[64];
                const DmabufdConfigKey *k;

                snprintf(name, sizeof(name), "cooldown_%s", dmabufd_event_kind_to_string(kind));
                k = dmabufd_config_key_find(name);
                ck_assert_msg(k, "no key %s", name);
                ck_assert_uint_eq(k->offset, offsetof(DmabufdConfig, cooldown_sec) + kind * sizeof(double));
        }
        ck_assert_ptr_null(dmabufd_config_key_find("cooldown_"));
        dmabufd_config_done(&d);
}
END_TEST

/* A copy owns every string and list: freeing the original leaves it whole. */
START_TEST(test_copy_owns) {
        DmabufdConfig c, copy;
        char err[512] = "";

        dmabufd_config_init(&c);
        ck_assert_int_eq(load("listen = 127.0.0.1:1\nroot = /r\nstate_dir = /s\npsi_trigger = some 1ms 1s\n"
                              "cgroup = a.slice\njournal_match = x ^y\ninterval = 3\n",
                              &c, err, sizeof(err)),
                         0);
        ck_assert_int_eq(dmabufd_config_copy(&copy, &c), 0);
        dmabufd_config_done(&c);
        ck_assert_str_eq(copy.listen[0], "127.0.0.1:1");
        ck_assert_str_eq(copy.root, "/r");
        ck_assert_str_eq(copy.state_dir, "/s");
        ck_assert_str_eq(copy.psi_triggers[0], "some 1ms 1s");
        ck_assert_str_eq(copy.cgroups[0], "a.slice");
        ck_assert_str_eq(copy.journal_matches[0], "x ^y");
        ck_assert(copy.interval_sec == 3);
        dmabufd_config_done(&copy);
}
END_TEST

START_TEST(test_missing_file) {
        DmabufdConfig c;
        char err[512] = "";

        dmabufd_config_init(&c);
        ck_assert_int_eq(dmabufd_config_load(&c, "/nonexistent/dmabufd.conf", err, sizeof(err)), -ENOENT);
        ck_assert(strstr(err, "/nonexistent/dmabufd.conf"));
        dmabufd_config_done(&c);
}
END_TEST

START_TEST(test_listen_parse) {
        static const struct {
                const char *in;
                int ret;
                const char *host;
                unsigned port;
        } cases[] = {
                { "localhost:10040", 0, "localhost", 10040 },
                { "127.0.0.1:0", 0, "127.0.0.1", 0 },
                { ":9100", 0, "", 9100 },
                { "[::1]:80", 0, "::1", 80 },
                { "[fe80::1%eth0]:80", -EINVAL, NULL, 0 },
                { "[::1]", -EINVAL, NULL, 0 },
                { "[::1:80", -EINVAL, NULL, 0 },
                { "::1:80", -EINVAL, NULL, 0 },
                { "nope", -EINVAL, NULL, 0 },
                { "127.0.0.1:99999", -EINVAL, NULL, 0 },
                { "127.0.0.1:", -EINVAL, NULL, 0 },
                { "127.0.0.1:-1", -EINVAL, NULL, 0 },
                { "host name:80", -EINVAL, NULL, 0 },
                { "", -EINVAL, NULL, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                DmabufdListenAddress a;
                int r = dmabufd_listen_parse(cases[i].in, &a);

                ck_assert_msg(r == cases[i].ret, "case %zu (%s): %d", i, cases[i].in, r);
                if (r == 0) {
                        ck_assert_str_eq(a.host, cases[i].host);
                        ck_assert_uint_eq(a.port, cases[i].port);
                }
        }
}
END_TEST

/* Binding: port 0 reports the real port; a taken port fails naming the address. */
START_TEST(test_listen_open) {
        DmabufdListener *l = NULL, *l2 = NULL;
        size_t n = 0, n2 = 0;
        char err[512] = "", spec[128];

        ck_assert_int_eq(dmabufd_listen_open("127.0.0.1:0", &l, &n, err, sizeof(err)), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert(strncmp(l[0].name, "127.0.0.1:", 10) == 0);
        ck_assert_str_ne(l[0].name, "127.0.0.1:0");
        snprintf(spec, sizeof(spec), "%s", l[0].name);
        ck_assert_int_eq(dmabufd_listen_open(spec, &l2, &n2, err, sizeof(err)), -EADDRINUSE);
        ck_assert_msg(strstr(err, spec), "%s", err);
        ck_assert_uint_eq(n2, 0);
        ck_assert_int_eq(dmabufd_listen_open("no-such-host.invalid:80", &l2, &n2, err, sizeof(err)), -EINVAL);
        close(l[0].fd);
        free(l);
        free(l2);
}
END_TEST

int main(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("config");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_valid);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_events_and_snapshots);
        tcase_add_test(tc, test_shipped_example);
        tcase_add_test(tc, test_bounds);
        tcase_add_test(tc, test_key_table);
        tcase_add_test(tc, test_copy_owns);
        tcase_add_test(tc, test_missing_file);
        tcase_add_test(tc, test_listen_parse);
        tcase_add_test(tc, test_listen_open);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
