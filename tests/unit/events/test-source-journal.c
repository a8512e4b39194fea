/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include "source-journal.h"
#include "test-util.h"

#define JOURNAL_DIR FIXTURES_DIR "/journal"
/* sd_journal_open_directory also reads subdirectories named like a machine ID,
 * the layout journald writes. */
#define MACHINE_ID "0123456789abcdef0123456789abcdef"

static const char *const journal_remote_paths[] = {
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
};

/* The source is tested against real journal files, which only journald or
 * systemd-journal-remote write. Missing, it is an environment error, not a pass. */
static const char *journal_remote(void) {
        for (size_t i = 0; i < sizeof(journal_remote_paths) / sizeof(journal_remote_paths[0]); i++)
                if (access(journal_remote_paths[i], X_OK) == 0)
                        return journal_remote_paths[i];
        ck_abort_msg("systemd-journal-remote not found in /lib/systemd or /usr/lib/systemd: install Debian's "
                     "systemd-journal-remote package (./scripts/deps.sh test)");
        return NULL;
}

/* Converts export-format text into a journal file, as a separate process with its
 * output discarded. */
static void make_journal(const char *export_path, const char *journal_path) {
        const char *bin = journal_remote();
        char output[PATH_MAX + 16];
        int status;
        pid_t pid;

        snprintf(output, sizeof(output), "--output=%s", journal_path);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDOUT_FILENO);
                        dup2(null, STDERR_FILENO);
                }
                execl(bin, bin, "--split-mode=none", output, export_path, (char *) NULL);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s %s: status 0x%x", bin, output,
                      export_path, (unsigned) status);
}

/* Events as the callback saw them, copied: the pointers are borrowed. */
typedef struct Seen {
        size_t n;
        struct {
                DmabufdEventKind kind;
                pid_t pid;
                char comm[64];
                bool has_comm;
                char identifier[256];
                char line[4096];
        } ev[16];
} Seen;

static void on_event(const DmabufdEvent *e, void *userdata) {
        Seen *s = userdata;

        ck_assert_uint_lt(s->n, 16);
        s->ev[s->n].kind = e->kind;
        s->ev[s->n].pid = e->pid;
        s->ev[s->n].has_comm = e->comm != NULL;
        snprintf(s->ev[s->n].comm, sizeof(s->ev[s->n].comm), "%s", e->comm ? e->comm : "");
        ck_assert_ptr_nonnull(e->identifier);
        ck_assert_ptr_nonnull(e->line);
        snprintf(s->ev[s->n].identifier, sizeof(s->ev[s->n].identifier), "%s", e->identifier);
        snprintf(s->ev[s->n].line, sizeof(s->ev[s->n].line), "%s", e->line);
        s->n++;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Runs the loop for a while; what the source does in that time is in seen. */
static void run_for(sd_event *e, uint64_t usec) {
        uint64_t deadline = now_usec() + usec;

        while (now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 50 * 1000), 0);
}

/* Runs the loop until want events arrived or 5 s passed, then a little more so
 * that an extra event would show up too. */
static void run_until(sd_event *e, Seen *seen, size_t want) {
        uint64_t deadline = now_usec() + 5 * 1000000;

        while (seen->n < want && now_usec() < deadline)
                ck_assert_int_ge(sd_event_run(e, 50 * 1000), 0);
        run_for(e, 300 * 1000);
}

static char *make_root(void) {
        char *root = tu_mkdtemp();

        tu_mkdirs(root, "var/log/journal/" MACHINE_ID "/");
        return root;
}

static void journal_path(char *buf, size_t size, const char *root, const char *name) {
        snprintf(buf, size, "%s/var/log/journal/%s", root, name);
}

static void assert_fixture_events(const Seen *seen, size_t from) {
        ck_assert_uint_eq(seen->n, from + 2);

        ck_assert_int_eq(seen->ev[from].kind, DMABUFD_EVENT_JOURNAL);
        ck_assert_str_eq(seen->ev[from].identifier, "earlyoom");
        ck_assert_int_eq(seen->ev[from].pid, 4242);
        ck_assert(seen->ev[from].has_comm);
        ck_assert_str_eq(seen->ev[from].comm, "chrome");
        ck_assert_str_eq(seen->ev[from].line,
                         "sending SIGTERM to process 4242 uid 1000 \"chrome\": badness 900, VmRSS 2048 MiB");

        ck_assert_int_eq(seen->ev[from + 1].kind, DMABUFD_EVENT_JOURNAL);
        ck_assert_str_eq(seen->ev[from + 1].identifier, "systemd-oomd");
        ck_assert_int_eq(seen->ev[from + 1].pid, 0);
        ck_assert(!seen->ev[from + 1].has_comm);
        ck_assert_str_eq(seen->ev[from + 1].line,
                         "Killed /user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope due to "
                         "memory pressure for /user.slice/user-1000.slice/user@1000.service being 62.34% > "
                         "50.00% for > 20s with reclaim activity");
}

/* An old kill is in the journal before the start; the new entries come as a
 * second file. Only the new kills fire, in order, with what they captured. */
START_TEST(test_follow_new_file) {
        char *root = make_root();
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };
        char path[PATH_MAX];

        journal_path(path, sizeof(path), root, "old.journal");
        make_journal(JOURNAL_DIR "/old.export", path);

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, root, NULL, on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_journal_is_up(src));

        run_for(e, 300 * 1000);
        ck_assert_uint_eq(seen.n, 0);

        journal_path(path, sizeof(path), root, "new.journal");
        make_journal(JOURNAL_DIR "/new.export", path);
        run_until(e, &seen, 2);
        assert_fixture_events(&seen, 0);
        ck_assert(dmabufd_source_journal_is_up(src));

        dmabufd_source_journal_free(src);
        sd_event_unref(e);
        tu_rm_rf(root);
}
END_TEST

/* journal-remote appends to an existing file: the entries arrive as a
 * modification of the file the source already has open, not as a new file. */
START_TEST(test_follow_append) {
        char *root = make_root();
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };
        char path[PATH_MAX];

        journal_path(path, sizeof(path), root, MACHINE_ID "/system.journal");
        make_journal(JOURNAL_DIR "/old.export", path);

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, root, NULL, on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_journal_is_up(src));
        run_for(e, 300 * 1000);
        ck_assert_uint_eq(seen.n, 0);

        make_journal(JOURNAL_DIR "/new.export", path);
        run_until(e, &seen, 2);
        assert_fixture_events(&seen, 0);

        dmabufd_source_journal_free(src);
        sd_event_unref(e);
        tu_rm_rf(root);
}
END_TEST

/* A binary MESSAGE field (export format: name, newline, little-endian 64-bit
 * length, bytes) with bytes that are not UTF-8, a NUL and a trailing newline. */
static void write_binary_export(const char *path, const char *identifier, const char *msg, size_t len) {
        FILE *f = fopen(path, "we");
        unsigned char le[8];

        ck_assert_ptr_nonnull(f);
        fprintf(f, "__REALTIME_TIMESTAMP=1700000200000000\n__MONOTONIC_TIMESTAMP=300000000\n"
                   "_BOOT_ID=3f8e2c6a1b7d4e5f9a0b1c2d3e4f5a6b\nSYSLOG_IDENTIFIER=%s\nMESSAGE\n",
                identifier);
        for (size_t i = 0; i < 8; i++)
                le[i] = (unsigned char) ((uint64_t) len >> (8 * i));
        ck_assert_uint_eq(fwrite(le, 1, 8, f), 8);
        ck_assert_uint_eq(fwrite(msg, 1, len, f), len);
        fputs("\n\n", f);
        ck_assert_int_eq(fclose(f), 0);
}

/* The journal starts empty (no file at all), which leaves no entry to step back
 * onto; the first file's entries must all arrive. Custom matches replace the
 * defaults, and a binary message comes out as valid UTF-8. */
START_TEST(test_empty_start_custom_match) {
        static const char msg[] = "killing 77 \"b\xff" "d\" now\001\000tail\n";
        const char *specs[] = { "mykiller ^killing ([0-9]+) \"([^\"]*)\"", NULL };
        char *root = make_root();
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };
        char path[PATH_MAX], export[PATH_MAX];

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, root, specs, on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_journal_is_up(src));

        /* The defaults are replaced: an earlyoom kill is not an event any more. */
        journal_path(path, sizeof(path), root, "a.journal");
        make_journal(JOURNAL_DIR "/new.export", path);
        snprintf(export, sizeof(export), "%s/binary.export", root);
        write_binary_export(export, "mykiller", msg, sizeof(msg) - 1);
        journal_path(path, sizeof(path), root, MACHINE_ID "/b.journal");
        make_journal(export, path);

        run_until(e, &seen, 1);
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_str_eq(seen.ev[0].identifier, "mykiller");
        ck_assert_int_eq(seen.ev[0].pid, 77);
        ck_assert_str_eq(seen.ev[0].comm, "b\xef\xbf\xbd" "d");
        ck_assert_str_eq(seen.ev[0].line, "killing 77 \"b\xef\xbf\xbd" "d\" now\001\xef\xbf\xbdtail");

        dmabufd_source_journal_free(src);
        sd_event_unref(e);
        tu_rm_rf(root);
}
END_TEST

/* More matching entries than one dispatch handles: all arrive, in order. */
START_TEST(test_batches) {
        char *root = make_root();
        DmabufdSourceJournal *src = NULL;
        const char *specs[] = { "earlyoom ^x", NULL };
        sd_event *e = NULL;
        Seen seen = { 0 };
        char path[PATH_MAX], export[PATH_MAX];
        FILE *f;

        /* 200 entries: only the last is a match, so reaching it takes several
         * dispatches of the journal's budget. */
        snprintf(export, sizeof(export), "%s/many.export", root);
        f = fopen(export, "we");
        ck_assert_ptr_nonnull(f);
        for (unsigned i = 0; i < 200; i++)
                fprintf(f,
                        "__REALTIME_TIMESTAMP=%llu\n__MONOTONIC_TIMESTAMP=%llu\n"
                        "_BOOT_ID=3f8e2c6a1b7d4e5f9a0b1c2d3e4f5a6b\nSYSLOG_IDENTIFIER=earlyoom\nMESSAGE=%s %u\n\n",
                        1700000300000000ULL + i, 400000000ULL + i, i == 199 ? "x" : "y", i);
        ck_assert_int_eq(fclose(f), 0);

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, root, specs, on_event, &seen, &src), 0);
        journal_path(path, sizeof(path), root, "many.journal");
        make_journal(export, path);
        run_until(e, &seen, 1);
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_str_eq(seen.ev[0].line, "x 199");
        ck_assert_int_eq(seen.ev[0].pid, 0);
        ck_assert(!seen.ev[0].has_comm);

        dmabufd_source_journal_free(src);
        sd_event_unref(e);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_missing_directory) {
        char *root = tu_mkdtemp();
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, root, NULL, on_event, &seen, &src), 0);
        ck_assert_ptr_nonnull(src);
        ck_assert(!dmabufd_source_journal_is_up(src));
        /* A down source adds nothing to the loop. */
        ck_assert_int_eq(sd_event_run(e, 10 * 1000), 0);
        ck_assert_uint_eq(seen.n, 0);
        ck_assert_ptr_null(dmabufd_source_journal_free(src));
        ck_assert_ptr_null(dmabufd_source_journal_free(NULL));
        ck_assert(!dmabufd_source_journal_is_up(NULL));
        sd_event_unref(e);
        tu_rm_rf(root);
}
END_TEST

/* The host's journal, read only: up or down depends on the machine, but opening,
 * seeking and closing it must work either way. */
START_TEST(test_host_journal) {
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, "/", NULL, on_event, &seen, &src), 0);
        ck_assert_ptr_nonnull(src);
        run_for(e, 100 * 1000);
        dmabufd_source_journal_free(src);
        sd_event_unref(e);
}
END_TEST

START_TEST(test_bad_specs) {
        const char *bad[] = { "earlyoom (", NULL };
        const char *empty[] = { NULL };
        DmabufdSourceJournal *src = NULL;
        sd_event *e = NULL;

        ck_assert_int_eq(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_journal_new(e, "/nonexistent", bad, on_event, NULL, &src), -EINVAL);
        ck_assert_int_eq(dmabufd_source_journal_new(e, "/nonexistent", empty, on_event, NULL, &src), -EINVAL);
        ck_assert_ptr_null(src);
        sd_event_unref(e);
}
END_TEST

/* Repetitions glibc's regcomp would expand into gigabytes are refused before it
 * sees them (the config fuzzer found "in" and a hundred "+" taking 1.5 GiB);
 * ordinary patterns of a userspace killer's lines still compile. */
START_TEST(test_parse_costly_regex) {
        static const char *const refused[] = {
                "x a++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++",
                "x a{257}",
                "x ((a{99}){99}){99}",
                "x l*+++++++++", /* the fuzzer's: 512 copies of nested stars, seconds to compile */
                "x (a+){256}",
                "x (a|b{16}){16}{2}",
                /* a group left open: regcomp copies before it finds the ")" missing */
                "x (ab++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++",
                /* 33 groups deep */
                "x (((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))",
                /* the fuzzer's: 120 stacked "?" copied 16 times, over 10 s in regcomp */
                "x a" "????????????????????????????????????????????????????????????????????????????????????????????????????????????????????????" "++++",
        };
        /* Few copies, but one operator on another: the fuzzer's second find
         * (optional atoms, each with a run of "?", then "++++") took seconds. */
        static const char *const stacked[] = {
                "x a??",
                "x a+*",
                "x (ab)*{2}",
                "x c" "????????????????????" "d" "???????????" "e" "????" "f" "????" "++++",
        };
        static const char *const accepted[] = {
                "earlyoom ^sending SIGTERM to process ([0-9]+) uid [0-9]+ \"([^\"]*)\"",
                "x [0-9]{1,8}",
                "x (a{16}){16}",
                "x a{256}",
                "x a+b*c?(d|e)+[+*{]{2,}",
        };
        char err[512];

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                DmabufdJournalMatch *m = NULL;

                err[0] = '\0';
                ck_assert_int_eq(dmabufd_journal_match_parse(refused[i], &m, err, sizeof(err)), -EINVAL);
                ck_assert_ptr_null(m);
                ck_assert_msg(strstr(err, "expand to more than 256 copies"), "case %zu: '%s'", i, err);
        }
        for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
                DmabufdJournalMatch *m = NULL;

                err[0] = '\0';
                ck_assert_msg(dmabufd_journal_match_parse(accepted[i], &m, err, sizeof(err)) == 0, "case %zu: '%s'",
                              i, err);
                dmabufd_journal_match_free(m);
        }
        for (size_t i = 0; i < sizeof(stacked) / sizeof(stacked[0]); i++) {
                DmabufdJournalMatch *m = NULL;

                err[0] = '\0';
                ck_assert_int_eq(dmabufd_journal_match_parse(stacked[i], &m, err, sizeof(err)), -EINVAL);
                ck_assert_ptr_null(m);
                ck_assert_msg(strstr(err, "stacked repetition operators"), "case %zu: '%s'", i, err);
        }
}
END_TEST

START_TEST(test_parse_errors) {
        static const struct {
                const char *spec;
                const char *err;
        } cases[] = {
                { "", "invalid journal_match '': expected IDENTIFIER REGEX" },
                { "earlyoom", "invalid journal_match 'earlyoom': expected IDENTIFIER REGEX" },
                { "earlyoom   ", "invalid journal_match 'earlyoom   ': expected IDENTIFIER REGEX" },
                { "earlyoom (", "invalid journal_match 'earlyoom (': bad regex '(': " },
                { "earlyoom a{2,1}", "invalid journal_match 'earlyoom a{2,1}': bad regex 'a{2,1}': " },
                { "ear\001ly x", "invalid journal_match 'ear\001ly x': control character in the identifier" },
        };
        char long_id[300], err[512];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                DmabufdJournalMatch *m = NULL;

                err[0] = '\0';
                ck_assert_int_eq(dmabufd_journal_match_parse(cases[i].spec, &m, err, sizeof(err)), -EINVAL);
                ck_assert_ptr_null(m);
                ck_assert_msg(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0, "case %zu: '%s'", i, err);
        }
        err[0] = '\0';
        {
                DmabufdJournalMatch *m = NULL;

                ck_assert_int_eq(dmabufd_journal_match_parse("earlyoom (", &m, err, sizeof(err)), -EINVAL);
                ck_assert_msg(strlen(err) > strlen("invalid journal_match 'earlyoom (': bad regex '(': "),
                              "no regerror text: '%s'", err);
        }

        memset(long_id, 'a', 256);
        strcpy(long_id + 256, " x");
        {
                DmabufdJournalMatch *m = NULL;

                ck_assert_int_eq(dmabufd_journal_match_parse(long_id, &m, err, sizeof(err)), -EINVAL);
                ck_assert_msg(strstr(err, "identifier longer than 255 bytes"), "%s", err);
        }
}
END_TEST

static DmabufdJournalMatch *parse_ok(const char *spec) {
        DmabufdJournalMatch *m = NULL;
        char err[512] = "";

        ck_assert_msg(dmabufd_journal_match_parse(spec, &m, err, sizeof(err)) == 0, "%s: %s", spec, err);
        return m;
}

/* Runs every default match against a message the way the source does. */
static int match_defaults(const char *identifier, const char *message, DmabufdJournalHit *hit) {
        int found = 0;

        for (size_t i = 0; dmabufd_journal_default_matches[i]; i++) {
                DmabufdJournalMatch *m = parse_ok(dmabufd_journal_default_matches[i]);

                if (!found && dmabufd_journal_match_exec(m, identifier, message, hit) == 1)
                        found = 1;
                dmabufd_journal_match_free(m);
        }
        return found;
}

START_TEST(test_defaults) {
        static const struct {
                const char *identifier;
                const char *message;
                pid_t pid;
                const char *comm;
        } kills[] = {
                /* earlyoom v1.6/v1.7 */
                { "earlyoom", "sending SIGTERM to process 1985588 uid 1000 \"(sd-pam)\": badness 733, VmRSS 3 MiB",
                  1985588, "(sd-pam)" },
                { "earlyoom", "sending SIGKILL to process 12 uid 0 \"a\": b\": badness -5, VmRSS 1 MiB", 12,
                  "a\": b" },
                /* earlyoom v1.8: a cmdline that quotes does not extend the comm */
                { "earlyoom",
                  "sending SIGTERM to process 4242 uid 1000 \"Web Content\": oom_score 900, VmRSS 2048 MiB, "
                  "cmdline \"/usr/lib/firefox/firefox -contentproc \\\": x\"",
                  4242, "Web Content" },
                /* systemd-oomd v252 and later, and v248/v249 */
                { "systemd-oomd",
                  "Killed /system.slice/leaky.service due to memory used (16000000000) / total (16500000000) and "
                  "swap used (4000000000) / total (4294967296) being more than 90.00%",
                  0, "" },
                { "systemd-oomd",
                  "Killed /user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope due to memory "
                  "pressure for /user.slice/user-1000.slice/user@1000.service being 86.80% > 50.00% for > 20s "
                  "with reclaim activity",
                  0, "" },
                { "systemd-oomd",
                  "Killed /user.slice/app.slice/leaky.service due to swap used (2000000) / total (2097148) being "
                  "more than 90.00%",
                  0, "" },
        };
        static const struct {
                const char *identifier;
                const char *message;
        } others[] = {
                { "earlyoom", "process 4242 exited after 0.300 seconds" },
                { "earlyoom", "escalating to SIGKILL after 0.500 seconds" },
                { "earlyoom", "sending 0 (no-op signal) to process 777 uid 0 \"earlyoom\": badness 0, VmRSS 2 MiB" },
                { "earlyoom", "mem avail:  1234 of 15830 MiB ( 7.80%), swap free:    0 of    0 MiB ( 0.00%)" },
                { "earlyoom", " sending SIGTERM to process 1 uid 0 \"x\": badness 1, VmRSS 1 MiB" },
                { "logger", "sending SIGTERM to process 4242 uid 1000 \"chrome\": badness 900, VmRSS 2048 MiB" },
                { "systemd-oomd", "Memory pressure for /user.slice is 70.00% > 50.00% for > 20s with reclaim activity" },
                { "systemd-oomd", "Failed to kill any cgroups under /user.slice based on pressure: No such process" },
                { "systemd", "Killed /user.slice/x.scope due to memory pressure for /user.slice being 1% > 0%" },
        };

        for (size_t i = 0; i < sizeof(kills) / sizeof(kills[0]); i++) {
                DmabufdJournalHit hit;

                memset(&hit, 0x55, sizeof(hit));
                ck_assert_msg(match_defaults(kills[i].identifier, kills[i].message, &hit), "kill %zu", i);
                ck_assert_int_eq(hit.pid, kills[i].pid);
                ck_assert_str_eq(hit.comm, kills[i].comm);
        }
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
                DmabufdJournalHit hit;

                ck_assert_msg(!match_defaults(others[i].identifier, others[i].message, &hit), "other %zu", i);
        }
}
END_TEST

START_TEST(test_capture_rules) {
        DmabufdJournalMatch *m;
        DmabufdJournalHit hit;
        char longcomm[200];

        /* Group 1 that is not all digits, or out of pid_t's range, names no pid. */
        m = parse_ok("k pid=([0-9a-z]+) comm=(.*)");
        ck_assert_str_eq(dmabufd_journal_match_identifier(m), "k");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "pid=12x comm=a", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_str_eq(hit.comm, "a");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "pid=99999999999999999999 comm=", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_str_eq(hit.comm, "");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "pid=2147483648 comm=b", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "pid=0 comm=b", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "pid=2147483647 comm=b", &hit), 1);
        ck_assert_int_eq(hit.pid, 2147483647);
        /* The identifier is compared whole and exactly. */
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "K", "pid=1 comm=b", &hit), 0);
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "kk", "pid=1 comm=b", &hit), 0);
        ck_assert_int_eq(dmabufd_journal_match_exec(m, NULL, "pid=1 comm=b", &hit), 0);

        /* A long comm is cut to 63 bytes, never inside a UTF-8 sequence. */
        strcpy(longcomm, "pid=5 comm=");
        for (size_t i = 0; i < 40; i++)
                strcat(longcomm, "\xc3\xa9");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", longcomm, &hit), 1);
        ck_assert_int_eq(hit.pid, 5);
        ck_assert_uint_eq(strlen(hit.comm), 62);
        dmabufd_journal_match_free(m);

        /* No groups: no pid, no comm. Leading blanks before the identifier are fine. */
        m = parse_ok("  \tk\t  ^a");
        ck_assert_str_eq(dmabufd_journal_match_identifier(m), "k");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "a 12", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_str_eq(hit.comm, "");
        dmabufd_journal_match_free(m);

        /* A group that did not take part leaves its field empty. */
        m = parse_ok("k ^(x([0-9]+))?y (z)?");
        ck_assert_int_eq(dmabufd_journal_match_exec(m, "k", "y ", &hit), 1);
        ck_assert_int_eq(hit.pid, 0);
        ck_assert_str_eq(hit.comm, "");
        dmabufd_journal_match_free(m);
        ck_assert_ptr_null(dmabufd_journal_match_free(NULL));
}
END_TEST

static void assert_sanitized(const void *in, size_t len, const char *want) {
        StrBuf sb = STRBUF_INIT;

        ck_assert_int_eq(dmabufd_journal_message_sanitize(in, len, &sb), 0);
        ck_assert_ptr_nonnull(sb.buf);
        ck_assert_str_eq(sb.buf, want);
        ck_assert_uint_eq(sb.len, strlen(want));
        strbuf_done(&sb);
}

START_TEST(test_sanitize) {
        char big[DMABUFD_JOURNAL_LINE_MAX + 10];
        StrBuf sb = STRBUF_INIT;

        assert_sanitized("", 0, "");
        assert_sanitized("plain\n\n", 7, "plain");
        assert_sanitized("a\nb\n", 4, "a\nb");
        assert_sanitized("a\0b", 3, "a\xef\xbf\xbd" "b");
        assert_sanitized("\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd");
        assert_sanitized("\xc3\xa9\xe2\x82", 4, "\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
        assert_sanitized("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */

        /* Cut at the limit, backing off to the start of a sequence the limit splits. */
        memset(big, 'a', sizeof(big));
        memcpy(big + DMABUFD_JOURNAL_LINE_MAX - 1, "\xe2\x82\xac", 3);
        ck_assert_int_eq(dmabufd_journal_message_sanitize(big, sizeof(big), &sb), 0);
        ck_assert_uint_eq(sb.len, DMABUFD_JOURNAL_LINE_MAX - 1);
        ck_assert_int_eq(sb.buf[sb.len - 1], 'a');
        /* The buffer is reused: contents are replaced, not appended to. */
        ck_assert_int_eq(dmabufd_journal_message_sanitize("x", 1, &sb), 0);
        ck_assert_str_eq(sb.buf, "x");
        strbuf_done(&sb);
}
END_TEST

int main(void) {
        Suite *s = suite_create("source-journal");
        TCase *pure = tcase_create("matches");
        TCase *journal = tcase_create("journal");

        tcase_add_test(pure, test_parse_errors);
        tcase_add_test(pure, test_parse_costly_regex);
        tcase_add_test(pure, test_defaults);
        tcase_add_test(pure, test_capture_rules);
        tcase_add_test(pure, test_sanitize);
        suite_add_tcase(s, pure);

        /* Each test runs its loop for a few hundred milliseconds, 5 s at most. */
        tcase_set_timeout(journal, 30);
        tcase_add_test(journal, test_follow_new_file);
        tcase_add_test(journal, test_follow_append);
        tcase_add_test(journal, test_empty_start_custom_match);
        tcase_add_test(journal, test_batches);
        tcase_add_test(journal, test_missing_directory);
        tcase_add_test(journal, test_host_journal);
        tcase_add_test(journal, test_bad_specs);
        suite_add_tcase(s, journal);
        return tu_run(s);
}
