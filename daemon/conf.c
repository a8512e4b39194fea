/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <ini.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "conf.h"
#include "fileio.h"
#include "listen.h"
#include "log.h"
#include "macro.h"
#include "pressure-parser.h"
#include "source-cgroup.h"
#include "source-journal.h"
#include "source-psi.h"
#include "strv.h"

#define TOP_MAX 100000
/* Deeper than any cgroup tree systemd or a container runtime makes. */
#define CGROUP_DEPTH_MAX 64
#define INTERVAL_MIN 0.05
#define INTERVAL_MAX 86400
#define COOLDOWN_MAX 86400
#define SNAPSHOT_COUNT_MAX 100000
#define SNAPSHOT_BYTES_MIN (64 << 10)
/* Each connection is a file descriptor and up to 32 KiB of buffers; the unit's
 * LimitNOFILE and the memory bound keep far above this. */
#define HTTP_CONNECTIONS_MAX 4096
#define HTTP_TIMEOUT_MAX 3600

#define FIELD(f) .offset = offsetof(DmabufdConfig, f), .size = sizeof(((DmabufdConfig *) NULL)->f)
#define DEFAULTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int check_listen(const DmabufdConfig *c, const char *value, char *err, size_t err_len);
static int check_psi_trigger(const DmabufdConfig *c, const char *value, char *err, size_t err_len);
static int check_cgroup(const DmabufdConfig *c, const char *value, char *err, size_t err_len);
static int check_journal_match(const DmabufdConfig *c, const char *value, char *err, size_t err_len);

/* The shipped file's opening, before the keys. */
static const char example_preamble[] =
        "dmabufd configuration: see dmabufd.conf(5).\n"
        "\n"
        "Every option is shown commented out (with '#') at its default value. Remove the\n"
        "'#' to change one. Lines starting with ';' are explanations. Command-line flags\n"
        "override this file. SIGHUP re-reads it (flags still win): everything takes\n"
        "effect (event sources are restarted when their settings changed) except\n"
        "listen, root, state_dir and the http_ limits, which need a restart. An\n"
        "invalid file is reported with its line and the running configuration stays.\n"
        "\n"
        "List options (listen, psi_trigger, cgroup, journal_match) may be repeated: the\n"
        "first line replaces the built-in list, later lines add to it, and a line with\n"
        "no value (\"psi_trigger =\") leaves the list empty, which turns that source off.";

#define COOLDOWN(kind, KIND, seconds, ...)                                                      \
        {                                                                                       \
                .section = "dmabufd", .name = "cooldown_" #kind, .type = DMABUFD_CONFIG_SECONDS,  \
                FIELD(cooldown_sec[DMABUFD_EVENT_##KIND]), .min = 0, .max = COOLDOWN_MAX,        \
                .defaults = DEFAULTS(#seconds), __VA_ARGS__                                     \
        }

/* In the order of the shipped file and of --help's options. */
const DmabufdConfigKey dmabufd_config_keys[] = {
        {
                .section = "dmabufd",
                .name = "listen",
                .type = DMABUFD_CONFIG_LIST,
                FIELD(listen),
                .check = check_listen,
                .defaults = DEFAULTS(DMABUFD_DEFAULT_LISTEN),
                .option = "listen",
                .short_option = 'l',
                .metavar = "ADDR",
                .help = "HOST:PORT, [V6]:PORT or :PORT; repeatable",
                .doc = "HTTP address: HOST:PORT, [V6]:PORT or :PORT (every address). Repeat the line for\n"
                       "more addresses; the first one replaces the default. --listen replaces them all.\n"
                       "Ignored when systemd passes the sockets (dmabufd.socket). The unit allows\n"
                       "loopback only (IPAddressAllow=localhost): another address needs a drop-in too.",
        },
        {
                .section = "dmabufd",
                .name = "root",
                .type = DMABUFD_CONFIG_STRING,
                FIELD(root),
                .defaults = DEFAULTS("/"),
                .option = "root",
                .short_option = 'r',
                .metavar = "DIR",
                .help = "read /proc, /sys and the rest under DIR",
                .doc = "Directory that holds proc/ and sys/: \"/\" for the running system, or a captured\n"
                       "tree for tests and demos (--root).",
        },
        {
                .section = "dmabufd",
                .name = "state_dir",
                .type = DMABUFD_CONFIG_STRING,
                FIELD(state_dir),
                /* Unset, the manager takes $STATE_DIRECTORY (dmabufd.c), else this. */
                .defaults = DEFAULTS(DMABUFD_DEFAULT_STATE_DIR),
                .shipped_default = "/var/lib/dmabufd",
                .option = "state-dir",
                .short_option = 's',
                .metavar = "DIR",
                .help = "where snapshots are kept",
                .doc = "Where snapshots are kept (--state-dir), created if missing. Default: under\n"
                       "systemd, the unit's StateDirectory ($STATE_DIRECTORY, /var/lib/dmabufd);\n"
                       "otherwise $localstatedir/lib/dmabufd, /var/lib/dmabufd for a\n"
                       "--localstatedir=/var build.",
        },
        {
                .section = "dmabufd",
                .name = "interval",
                .type = DMABUFD_CONFIG_SECONDS,
                FIELD(interval_sec),
                .min = INTERVAL_MIN,
                .max = INTERVAL_MAX,
                .defaults = DEFAULTS("10"),
                .option = "interval",
                .short_option = 'i',
                .metavar = "SECONDS",
                .help = "time between collections",
                .doc = "Seconds between collections, from 0.05 to 86400; fractions allowed (--interval).",
        },
        {
                .section = "dmabufd",
                .name = "log_level",
                .type = DMABUFD_CONFIG_LOG_LEVEL,
                FIELD(log_level),
                .defaults = DEFAULTS("info"),
                .option = "log-level",
                .metavar = "LEVEL",
                .help = "debug, info, notice, warning, err",
                .doc = "Most verbose level logged: debug, info, notice, warning, err, crit, alert, emerg\n"
                       "or 0-7 (--log-level).",
        },
        {
                .section = "dmabufd",
                .name = "top_processes",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(top_processes),
                .max = TOP_MAX,
                .defaults = DEFAULTS("20"),
                .doc = "Processes (top by rss) that get dmabuf_process_rss_bytes/_pss_bytes series,\n"
                       "0 to 100000; 0 turns them off.",
        },
        {
                .section = "dmabufd",
                .name = "top_names",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(top_names),
                .max = TOP_MAX,
                .defaults = DEFAULTS("20"),
                .doc = "Buffer names (top by bytes) that get dmabuf_name_bytes series, 0 to 100000;\n"
                       "0 turns them off.",
        },
        {
                .section = "dmabufd",
                .name = "top_cgroups",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(top_cgroups),
                .max = TOP_MAX,
                .defaults = DEFAULTS("20"),
                .doc = "Cgroups (top by pss) that get dmabuf_cgroup_rss_bytes/_pss_bytes series,\n"
                       "0 to 100000; 0 turns them off.",
        },
        {
                .section = "dmabufd",
                .name = "cgroup_depth",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(cgroup_depth),
                .max = CGROUP_DEPTH_MAX,
                .defaults = DEFAULTS("0"),
                .doc = "Cgroups are rolled up to their first N path components (1: /system.slice),\n"
                       "0 to 64; 0 keeps the whole path.",
        },
        {
                .section = "dmabufd",
                .name = "snapshot_max_count",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(snapshot_max_count),
                .min = 1,
                .max = SNAPSHOT_COUNT_MAX,
                .defaults = DEFAULTS("50"),
                .heading = "snapshots",
                .doc = "The store's bounds: the oldest snapshots go first. Sizes take K, M, G, T.",
        },
        {
                .section = "dmabufd",
                .name = "snapshot_max_bytes",
                .type = DMABUFD_CONFIG_SIZE,
                FIELD(snapshot_max_bytes),
                .min = SNAPSHOT_BYTES_MIN,
                .defaults = DEFAULTS("256M"),
        },
        /* Why these: a kill storm is one incident, and its first snapshot holds
         * the `before` that matters; the kills after it ride along in the next
         * snapshot's "suppressed" list. PSI stays high for minutes once it fires,
         * and each snapshot costs a full collection and several MiB of disk. A
         * person asking twice in five seconds gets a 429. */
        COOLDOWN(oom_kill, OOM_KILL, 30,
                 .doc = "Seconds after a snapshot during which events of the same kind take none; they\n"
                        "are counted (dmabufd_events_total) and listed in the next snapshot's\n"
                        "\"suppressed\", with what `before` said each victim held. A kill storm is one\n"
                        "incident, PSI stays high for minutes once it fires, and every snapshot costs a\n"
                        "full collection and several MiB: hence these defaults. 0 turns one off."),
        COOLDOWN(lmk_kill, LMK_KILL, 30),
        COOLDOWN(cgroup_oom, CGROUP_OOM, 30),
        COOLDOWN(psi, PSI, 300),
        COOLDOWN(journal, JOURNAL, 30),
        COOLDOWN(manual, MANUAL, 5),
        {
                .section = "dmabufd",
                .name = "snapshot_post",
                .type = DMABUFD_CONFIG_CHOICE,
                FIELD(snapshot_post_any),
                .words = { "loopback", "any" },
                .defaults = DEFAULTS("loopback"),
                .doc = "Who may POST /api/v1/snapshots: loopback, or any address the daemon listens on.",
        },
        {
                .section = "dmabufd",
                .name = "bpf",
                .type = DMABUFD_CONFIG_CHOICE,
                FIELD(bpf),
                .words = { "auto", "off" },
                .words0_is_true = true,
                .defaults = DEFAULTS("auto"),
                .doc = "The BPF source: auto loads dmabufd's iterator programs where the kernel has\n"
                       "BTF and the daemon CAP_BPF and CAP_PERFMON (every buffer on 6.16 and later,\n"
                       "who holds what on 5.12 and later); off reads only the files. Android's pinned\n"
                       "iterator, where present, is read under auto only.",
        },
        /* Prometheus keeps one connection per target (two for an HA pair), a
         * browser six per host: 16 from one address leaves room for both, and
         * one address alone can never take all 64. */
        {
                .section = "dmabufd",
                .name = "http_max_connections",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(http_max_connections),
                .min = 1,
                .max = HTTP_CONNECTIONS_MAX,
                .defaults = DEFAULTS("64"),
                .heading = "HTTP",
                .doc = "Connections open at once on each listening address, 1 to 4096; more are\n"
                       "accepted and closed at once. Takes effect on restart.",
        },
        {
                .section = "dmabufd",
                .name = "http_max_connections_per_address",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(http_max_connections_per_address),
                .min = 1,
                .max = HTTP_CONNECTIONS_MAX,
                .defaults = DEFAULTS("16"),
                .doc = "Connections open at once from one client address, 1 to 4096, so that one\n"
                       "client that opens connections and never finishes a request (slowloris)\n"
                       "cannot shut out Prometheus. Takes effect on restart.",
        },
        {
                .section = "dmabufd",
                .name = "http_timeout",
                .type = DMABUFD_CONFIG_UINT,
                FIELD(http_timeout_sec),
                .min = 1,
                .max = HTTP_TIMEOUT_MAX,
                .defaults = DEFAULTS("10"),
                .doc = "Seconds, 1 to 3600, after which a connection that sent and received nothing\n"
                       "is closed: an idle keep-alive connection, or one stalled in its request.\n"
                       "Takes effect on restart.",
        },
        {
                .section = "dmabufd",
                .name = "kmsg",
                .type = DMABUFD_CONFIG_BOOL,
                FIELD(kmsg),
                .defaults = DEFAULTS("yes"),
                .heading = "event sources",
                .doc = "Follow <root>/dev/kmsg for kills by the OOM killer and the old lowmemorykiller.",
        },
        {
                .section = "dmabufd",
                .name = "psi_trigger",
                .type = DMABUFD_CONFIG_LIST,
                FIELD(psi_triggers),
                .check = check_psi_trigger,
                .empty_means_none = true,
                .defaults = DEFAULTS(DMABUFD_PSI_TRIGGERS_DEFAULT),
                .doc = "PSI triggers on <root>/proc/pressure/memory: \"some|full THRESHOLD WINDOW\", with\n"
                       "us (the default unit), ms or s; the window from 500ms to 10s. \"some 150ms 1s\":\n"
                       "tasks stalled on memory for 15% of a second, above Android lmkd's \"medium\"\n"
                       "level, so routine reclaim takes no snapshot. \"full 100ms 1s\": thrashing, near\n"
                       "lmkd's \"critical\" (full 70ms). Both share the psi cooldown.",
        },
        {
                .section = "dmabufd",
                .name = "cgroup",
                .type = DMABUFD_CONFIG_LIST,
                FIELD(cgroups),
                .check = check_cgroup,
                .empty_means_none = true,
                .defaults = DEFAULTS(DMABUFD_CGROUPS_DEFAULT),
                .doc = "cgroups (below <root>/sys/fs/cgroup) whose memory.events oom_kill is watched.\n"
                       "The defaults are used only where they exist.",
        },
        {
                .section = "dmabufd",
                .name = "journal_match",
                .type = DMABUFD_CONFIG_LIST,
                FIELD(journal_matches),
                .check = check_journal_match,
                .empty_means_none = true,
                .defaults = dmabufd_journal_default_matches,
                .doc = "Journal messages of userspace killers: \"IDENTIFIER REGEX\" (POSIX extended),\n"
                       "matched against SYSLOG_IDENTIFIER and MESSAGE. Group 1, when all digits, is the\n"
                       "victim's pid; group 2 its comm. Under --root the journal is read from\n"
                       "<root>/var/log/journal. The defaults match earlyoom's and systemd-oomd's kills:",
        },
};

const size_t dmabufd_config_n_keys = ELEMENTSOF(dmabufd_config_keys);

/* LoadContext keeps one bit per key. */
_Static_assert(ELEMENTSOF(dmabufd_config_keys) <= 64, "too many keys for LoadContext.lists_seen");

const DmabufdConfigKey *dmabufd_config_key_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++)
                if (streq(dmabufd_config_keys[i].name, name))
                        return &dmabufd_config_keys[i];
        return NULL;
}

static bool section_known(const char *section) {
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++)
                if (streq(dmabufd_config_keys[i].section, section))
                        return true;
        return false;
}

static void *field_of(DmabufdConfig *c, const DmabufdConfigKey *k) {
        return (char *) c + k->offset;
}

static int set_value(DmabufdConfig *c, const DmabufdConfigKey *k, const char *value, char *err, size_t err_len);

void dmabufd_config_init(DmabufdConfig *c) {
        *c = (DmabufdConfig){};
        /* Strings and lists stay NULL: their defaults are what NULL means where
         * they are used. The rest come from the table's text, so what the docs
         * show is what applies; test-config checks that every default parses. */
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];
                char err[256];

                if (k->type != DMABUFD_CONFIG_STRING && k->type != DMABUFD_CONFIG_LIST)
                        (void) set_value(c, k, k->defaults[0], err, sizeof(err));
        }
}

void dmabufd_config_done(DmabufdConfig *c) {
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];

                if (k->type == DMABUFD_CONFIG_STRING)
                        free(*(char **) field_of(c, k));
                else if (k->type == DMABUFD_CONFIG_LIST)
                        strv_free(*(char ***) field_of(c, k));
        }
        dmabufd_config_init(c);
}

int dmabufd_config_copy(DmabufdConfig *dst, const DmabufdConfig *src) {
        *dst = *src;
        /* First nothing of src's, so that a failure half-way frees only copies. */
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];

                if (k->type == DMABUFD_CONFIG_STRING || k->type == DMABUFD_CONFIG_LIST)
                        *(void **) field_of(dst, k) = NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];
                const void *from = (const char *) src + k->offset;
                int r = 0;

                if (k->type == DMABUFD_CONFIG_STRING && *(char *const *) from) {
                        char *copy = strdup(*(char *const *) from);

                        *(char **) field_of(dst, k) = copy;
                        r = copy ? 0 : -ENOMEM;
                } else if (k->type == DMABUFD_CONFIG_LIST)
                        r = strv_copy(*(char **const *) from, field_of(dst, k));
                if (r < 0) {
                        dmabufd_config_done(dst);
                        return r;
                }
        }
        return 0;
}

/* Empty but set: a list of none, which turns an event source off. */
static int reset_list(char ***field) {
        strv_free(*field);
        *field = calloc(1, sizeof(char *));
        return *field ? 0 : -ENOMEM;
}

static int check_listen(const DmabufdConfig *c _unused_, const char *value, char *err, size_t err_len) {
        DmabufdListenAddress a;

        if (dmabufd_listen_parse(value, &a) < 0) {
                snprintf(err, err_len, "invalid listen address '%s': expected HOST:PORT, [V6]:PORT or :PORT", value);
                return -EINVAL;
        }
        return 0;
}

int dmabufd_config_add_listen(DmabufdConfig *c, const char *addr, bool append, char *err, size_t err_len) {
        int r;

        r = check_listen(c, addr, err, err_len);
        if (r < 0)
                return r;
        if (!append) {
                strv_free(c->listen);
                c->listen = NULL;
        }
        return strv_push(&c->listen, addr);
}

static int check_psi_trigger(const DmabufdConfig *c _unused_, const char *value, char *err, size_t err_len) {
        DmabufPsiTrigger t;
        char what[256];

        if (dmabuf_psi_trigger_parse(value, &t, what, sizeof(what)) < 0) {
                snprintf(err, err_len, "invalid psi_trigger '%s': %s", value, what);
                return -EINVAL;
        }
        return 0;
}

static int check_cgroup(const DmabufdConfig *c _unused_, const char *value, char *err, size_t err_len) {
        char norm[PATH_MAX], what[256];

        if (dmabufd_cgroup_path_normalize(value, norm, sizeof(norm), what, sizeof(what)) < 0) {
                snprintf(err, err_len, "invalid cgroup '%s': %s", value, what);
                return -EINVAL;
        }
        return 0;
}

static int check_journal_match(const DmabufdConfig *c, const char *value, char *err, size_t err_len) {
        _cleanup_(dmabufd_journal_match_freep) DmabufdJournalMatch *match = NULL;
        size_t n = 0;

        for (; c->journal_matches && c->journal_matches[n]; n++)
                ;
        if (n >= DMABUFD_JOURNAL_MATCHES_MAX) {
                snprintf(err, err_len, "too many journal_match lines: at most %d", DMABUFD_JOURNAL_MATCHES_MAX);
                return -EINVAL;
        }
        return dmabufd_journal_match_parse(value, &match, err, err_len);
}

/* Decimal seconds within [min, max]: interval and the cooldowns. */
static int parse_seconds(const char *v, double min, double max, double *ret) {
        char *end;
        double d;

        /* strtod follows LC_NUMERIC; dmabufd never calls setlocale, so it is "C". */
        errno = 0;
        d = strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < min || d > max)
                return -EINVAL;
        *ret = d;
        return 0;
}

/* "1048576", "512K", "256M", "1G", "1T": binary multiples, as du and systemd read them. */
static int parse_size(const char *v, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        uint64_t n;
        size_t len = strlen(v);
        unsigned shift = 0;
        const char *p;
        char num[32];

        if (len == 0 || len >= sizeof(num))
                return -EINVAL;
        memcpy(num, v, len + 1);
        if ((p = strchr(suffixes, num[len - 1])) && num[len - 1] != '\0') {
                shift = 10 * (unsigned) (p - suffixes + 1);
                num[len - 1] = '\0';
        }
        if (safe_atou64(num, &n) < 0 || (shift > 0 && n > (UINT64_MAX >> shift)))
                return -EINVAL;
        *ret = n << shift;
        return 0;
}

/* The other way: the largest suffix that divides exactly, for messages. */
static void format_size(uint64_t n, char *buf, size_t len) {
        static const char suffixes[] = "KMGT";
        int i = -1;

        while (i + 1 < (int) sizeof(suffixes) - 1 && n != 0 && n % 1024 == 0) {
                n /= 1024;
                i++;
        }
        if (i < 0)
                snprintf(buf, len, "%" PRIu64, n);
        else
                snprintf(buf, len, "%" PRIu64 "%c", n, suffixes[i]);
}

static int parse_bool(const char *v, bool *ret) {
        if (streq(v, "yes") || streq(v, "true") || streq(v, "on") || streq(v, "1"))
                *ret = true;
        else if (streq(v, "no") || streq(v, "false") || streq(v, "off") || streq(v, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* Sets k from one value, which is not the empty value of a list that may be
 * empty. Writes what is wrong into err, naming the key and the value. */
static int set_value(DmabufdConfig *c, const DmabufdConfigKey *k, const char *value, char *err, size_t err_len) {
        void *field = field_of(c, k);
        int r;

        switch (k->type) {
        case DMABUFD_CONFIG_STRING: {
                char *copy;

                if (!*value) {
                        snprintf(err, err_len, "%s must not be empty", k->name);
                        return -EINVAL;
                }
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) field);
                *(char **) field = copy;
                return 0;
        }
        case DMABUFD_CONFIG_SECONDS:
                if (parse_seconds(value, k->min, k->max, field) < 0) {
                        snprintf(err, err_len, "invalid %s '%s': expected seconds between %g and %g", k->name,
                                 value, k->min, k->max);
                        return -EINVAL;
                }
                return 0;
        case DMABUFD_CONFIG_UINT: {
                uint64_t u;

                if (safe_atou64(value, &u) < 0 || u < k->min || u > k->max) {
                        snprintf(err, err_len, "invalid %s '%s': expected a whole number from %.0f to %.0f",
                                 k->name, value, k->min, k->max);
                        return -EINVAL;
                }
                if (k->size == sizeof(unsigned))
                        *(unsigned *) field = (unsigned) u;
                else
                        *(uint64_t *) field = u;
                return 0;
        }
        case DMABUFD_CONFIG_SIZE: {
                uint64_t u;

                if (parse_size(value, &u) < 0 || u < k->min) {
                        char min[32];

                        format_size((uint64_t) k->min, min, sizeof(min));
                        snprintf(err, err_len, "invalid %s '%s': expected a size of at least %s, such as 512M or 2G",
                                 k->name, value, min);
                        return -EINVAL;
                }
                *(uint64_t *) field = u;
                return 0;
        }
        case DMABUFD_CONFIG_BOOL:
                if (parse_bool(value, field) < 0) {
                        snprintf(err, err_len, "invalid %s '%s': expected yes or no", k->name, value);
                        return -EINVAL;
                }
                return 0;
        case DMABUFD_CONFIG_CHOICE:
                if (streq(value, k->words[0]))
                        *(bool *) field = k->words0_is_true;
                else if (streq(value, k->words[1]))
                        *(bool *) field = !k->words0_is_true;
                else {
                        snprintf(err, err_len, "invalid %s '%s': expected %s or %s", k->name, value, k->words[0],
                                 k->words[1]);
                        return -EINVAL;
                }
                return 0;
        case DMABUFD_CONFIG_LOG_LEVEL:
                r = log_level_from_string(value);
                if (r < 0) {
                        snprintf(err, err_len,
                                 "invalid %s '%s': expected debug, info, notice, warning, err, crit, alert or emerg",
                                 k->name, value);
                        return -EINVAL;
                }
                *(int *) field = r;
                return 0;
        case DMABUFD_CONFIG_LIST:
                r = k->check(c, value, err, err_len);
                if (r < 0)
                        return r;
                return strv_push(field, value);
        }
        return -EINVAL;
}

/* The keys named prefix..., as "a, b and c". */
static void list_names(const char *prefix, char *buf, size_t len) {
        size_t n = 0, total = 0, at = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++)
                total += strneq(dmabufd_config_keys[i].name, prefix, strlen(prefix));
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys) && at < len; i++) {
                const char *name = dmabufd_config_keys[i].name;

                if (!strneq(name, prefix, strlen(prefix)))
                        continue;
                n++;
                at += (size_t) snprintf(buf + at, len - at, "%s%s", n == 1 ? "" : n == total ? " and " : ", ", name);
        }
}

int dmabufd_config_set(DmabufdConfig *c, const char *key, const char *value, char *err, size_t err_len) {
        const DmabufdConfigKey *k = dmabufd_config_key_find(key);

        if (!k) {
                if (strneq(key, "cooldown_", STRLEN("cooldown_"))) {
                        char names[256];

                        list_names("cooldown_", names, sizeof(names));
                        snprintf(err, err_len, "unknown option '%s': cooldowns are %s", key, names);
                } else
                        snprintf(err, err_len, "unknown option '%s'", key);
                return -ENOENT;
        }
        /* "psi_trigger =": no triggers at all, so the source is off. */
        if (k->type == DMABUFD_CONFIG_LIST && k->empty_means_none && !*value)
                return reset_list(field_of(c, k));
        return set_value(c, k, value, err, err_len);
}

typedef struct LoadContext {
        DmabufdConfig *config;
        char err[512];
        int error;
        uint64_t lists_seen; /* bit i: dmabufd_config_keys[i] */
} LoadContext;

static int on_ini_entry(void *userdata, const char *section, const char *name, const char *value) {
        LoadContext *ctx = userdata;
        const DmabufdConfigKey *k;
        int r;

        if (ctx->error != 0)
                return 0;
        /* Keys before any section header and keys in their own section mean the same. */
        if (section[0] != '\0' && !section_known(section)) {
                snprintf(ctx->err, sizeof(ctx->err), "unknown section [%s]", section);
                ctx->error = -EINVAL;
                return 0;
        }
        if (!value) {
                snprintf(ctx->err, sizeof(ctx->err), "'%s' has no value", name);
                ctx->error = -EINVAL;
                return 0;
        }
        k = dmabufd_config_key_find(name);
        if (k && section[0] != '\0' && !streq(section, k->section)) {
                snprintf(ctx->err, sizeof(ctx->err), "unknown option '%s' in section [%s]", name, section);
                ctx->error = -EINVAL;
                return 0;
        }
        /* A list's lines in the file replace the built-in default, then accumulate. */
        if (k && k->type == DMABUFD_CONFIG_LIST) {
                uint64_t bit = UINT64_C(1) << (k - dmabufd_config_keys);

                if (!(ctx->lists_seen & bit)) {
                        ctx->lists_seen |= bit;
                        r = reset_list(field_of(ctx->config, k));
                        if (r < 0) {
                                ctx->error = r;
                                return 0;
                        }
                }
        }
        r = dmabufd_config_set(ctx->config, name, value, ctx->err, sizeof(ctx->err));
        if (r < 0) {
                ctx->error = r == -ENOENT ? -EINVAL : r;
                return 0;
        }
        return 1;
}

int dmabufd_config_load(DmabufdConfig *c, const char *path, char *err, size_t err_len) {
        _cleanup_fclose_ FILE *f = NULL;
        LoadContext ctx = { .config = c };
        int line;

        f = fopen(path, "re");
        if (!f) {
                int r = negative_errno();
                snprintf(err, err_len, "%s: %s", path, strerror(-r));
                return r;
        }
        {
                struct stat st;
                if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
                        snprintf(err, err_len, "%s: %s", path, strerror(EISDIR));
                        return -EISDIR;
                }
        }
        line = ini_parse_file(f, on_ini_entry, &ctx);
        if (line < 0) {
                snprintf(err, err_len, "%s: cannot read", path);
                return -EIO;
        }
        if (line > 0) {
                if (ctx.error == 0) /* inih itself rejected the line's syntax */
                        snprintf(ctx.err, sizeof(ctx.err), "syntax error, expected 'key = value'");
                snprintf(err, err_len, "%s:%d: %s", path, line, ctx.err);
                return ctx.error == -ENOMEM ? -ENOMEM : -EINVAL;
        }
        if (ferror(f)) {
                snprintf(err, err_len, "%s: %s", path, strerror(EIO));
                return -EIO;
        }
        return 0;
}

/* Each line of text, prefixed with "; ". */
static void write_comment(FILE *f, const char *text) {
        for (const char *p = text; p;) {
                const char *nl = strchr(p, '\n');
                int n = nl ? (int) (nl - p) : (int) strlen(p);

                if (n > 0)
                        fprintf(f, "; %.*s\n", n, p);
                else
                        fputs(";\n", f);
                p = nl ? nl + 1 : NULL;
        }
}

int dmabufd_config_write_example(FILE *f) {
        const char *section = NULL;

        write_comment(f, example_preamble);
        for (size_t i = 0; i < ELEMENTSOF(dmabufd_config_keys); i++) {
                const DmabufdConfigKey *k = &dmabufd_config_keys[i];

                if (!section || !streq(section, k->section)) {
                        section = k->section;
                        fprintf(f, "\n[%s]\n", section);
                }
                if (k->heading)
                        fprintf(f, "\n; ---- %s ----\n", k->heading);
                if (k->doc) {
                        fputc('\n', f);
                        write_comment(f, k->doc);
                }
                if (k->shipped_default)
                        fprintf(f, "#%s = %s\n", k->name, k->shipped_default);
                else
                        for (const char *const *d = k->defaults; *d; d++)
                                fprintf(f, "#%s = %s\n", k->name, *d);
        }
        return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}
