/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <ini.h>
#include <math.h>
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

#define TOP_MAX 100000U
#define INTERVAL_MIN 0.05
#define INTERVAL_MAX 86400.0
#define COOLDOWN_MAX 86400.0
#define SNAPSHOT_COUNT_MAX 100000U
#define SNAPSHOT_BYTES_MIN (64ULL << 10)

/* Why these: a kill storm is one incident, and its first snapshot holds the
 * `before` that matters; the kills after it ride along in the next snapshot's
 * "suppressed" list with what `before` said they held. PSI stays high for
 * minutes once it fires, and each snapshot costs a full collection and several
 * MiB of disk. A person asking twice in five seconds gets a 429. */
static const double default_cooldown_sec[_DMABUFD_EVENT_KIND_MAX] = {
        [DMABUFD_EVENT_OOM_KILL] = 30,
        [DMABUFD_EVENT_LMK_KILL] = 30,
        [DMABUFD_EVENT_CGROUP_OOM] = 30,
        [DMABUFD_EVENT_PSI] = 300,
        [DMABUFD_EVENT_JOURNAL] = 30,
        [DMABUFD_EVENT_MANUAL] = 5,
};

void dmabufd_config_init(DmabufdConfig *c) {
        *c = (DmabufdConfig){
                .interval_sec = DMABUFD_DEFAULT_INTERVAL,
                .log_level = LOG_INFO,
                .top_processes = DMABUFD_DEFAULT_TOP,
                .top_names = DMABUFD_DEFAULT_TOP,
                .snapshot_max_count = DMABUFD_DEFAULT_SNAPSHOT_MAX_COUNT,
                .snapshot_max_bytes = DMABUFD_DEFAULT_SNAPSHOT_MAX_BYTES,
                .kmsg = true,
                .bpf = true,
        };
        memcpy(c->cooldown_sec, default_cooldown_sec, sizeof(c->cooldown_sec));
}

static void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

void dmabufd_config_done(DmabufdConfig *c) {
        strv_free(c->listen);
        free(c->root);
        free(c->state_dir);
        strv_free(c->psi_triggers);
        strv_free(c->cgroups);
        strv_free(c->journal_matches);
        dmabufd_config_init(c);
}

static int strv_copy(char ***dst, char *const *src) {
        size_t n = 0;
        char **v;

        if (!src) {
                *dst = NULL;
                return 0;
        }
        while (src[n])
                n++;
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(src[i]))) {
                        strv_free(v);
                        return -ENOMEM;
                }
        *dst = v;
        return 0;
}

int dmabufd_config_copy(DmabufdConfig *dst, const DmabufdConfig *src) {
        *dst = *src;
        dst->listen = dst->psi_triggers = dst->cgroups = dst->journal_matches = NULL;
        dst->root = dst->state_dir = NULL;
        if (strv_copy(&dst->listen, src->listen) < 0 || strv_copy(&dst->psi_triggers, src->psi_triggers) < 0 ||
            strv_copy(&dst->cgroups, src->cgroups) < 0 ||
            strv_copy(&dst->journal_matches, src->journal_matches) < 0 ||
            (src->root && !(dst->root = strdup(src->root))) ||
            (src->state_dir && !(dst->state_dir = strdup(src->state_dir)))) {
                dmabufd_config_done(dst);
                return -ENOMEM;
        }
        return 0;
}

static int strv_push(char ***list, const char *v) {
        size_t n = 0;
        char **nv, *copy;

        for (; *list && (*list)[n]; n++)
                ;
        copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        nv = realloc(*list, (n + 2) * sizeof(char *));
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[n] = copy;
        nv[n + 1] = NULL;
        *list = nv;
        return 0;
}

/* The keys that may be repeated. A file's first line of one replaces the
 * built-in list; later lines add to it. */
static const char *const list_keys[] = { "listen", "psi_trigger", "cgroup", "journal_match" };

static int list_index(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(list_keys); i++)
                if (streq(key, list_keys[i]))
                        return (int) i;
        return -1;
}

static char ***list_field(DmabufdConfig *c, int index) {
        char ***fields[] = { &c->listen, &c->psi_triggers, &c->cgroups, &c->journal_matches };

        return fields[index];
}

/* Empty but set: a list of none, which turns an event source off. */
static int reset_list(DmabufdConfig *c, int index) {
        char ***field = list_field(c, index);

        strv_free(*field);
        *field = calloc(1, sizeof(char *));
        return *field ? 0 : -ENOMEM;
}

int dmabufd_config_add_listen(DmabufdConfig *c, const char *addr, bool append, char *err, size_t err_len) {
        DmabufdListenAddress a;

        if (dmabufd_listen_parse(addr, &a) < 0) {
                snprintf(err, err_len, "invalid listen address '%s': expected HOST:PORT, [V6]:PORT or :PORT", addr);
                return -EINVAL;
        }
        if (!append) {
                strv_free(c->listen);
                c->listen = NULL;
        }
        return strv_push(&c->listen, addr);
}

static int parse_uint(const char *v, unsigned max, unsigned *ret) {
        uint64_t u;

        if (safe_atou64(v, &u) < 0 || u > max)
                return -EINVAL;
        *ret = (unsigned) u;
        return 0;
}

static int parse_interval(const char *v, double *ret) {
        char *end;
        double d;

        /* strtod follows LC_NUMERIC; dmabufd never calls setlocale, so it is "C". */
        errno = 0;
        d = strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < INTERVAL_MIN || d > INTERVAL_MAX)
                return -EINVAL;
        *ret = d;
        return 0;
}

static int parse_seconds(const char *v, double max, double *ret) {
        char *end;
        double d;

        errno = 0;
        d = strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < 0 || d > max)
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

static int parse_bool(const char *v, bool *ret) {
        if (streq(v, "yes") || streq(v, "true") || streq(v, "on") || streq(v, "1"))
                *ret = true;
        else if (streq(v, "no") || streq(v, "false") || streq(v, "off") || streq(v, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int set_string(char **field, const char *v) {
        char *copy;

        if (!*v)
                return -EINVAL;
        copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int dmabufd_config_set(DmabufdConfig *c, const char *key, const char *value, char *err, size_t err_len) {
        int r;

        /* "psi_trigger =": no triggers at all, so the source is off. */
        if (!*value && list_index(key) > 0)
                return reset_list(c, list_index(key));

        if (streq(key, "listen"))
                return dmabufd_config_add_listen(c, value, true, err, err_len);
        if (streq(key, "root")) {
                r = set_string(&c->root, value);
                if (r == -EINVAL)
                        snprintf(err, err_len, "root must not be empty");
                return r;
        }
        if (streq(key, "state_dir")) {
                r = set_string(&c->state_dir, value);
                if (r == -EINVAL)
                        snprintf(err, err_len, "state_dir must not be empty");
                return r;
        }
        if (streq(key, "interval")) {
                r = parse_interval(value, &c->interval_sec);
                if (r < 0)
                        snprintf(err, err_len, "invalid interval '%s': expected seconds between %g and %g", value,
                                 INTERVAL_MIN, INTERVAL_MAX);
                return r;
        }
        if (streq(key, "log_level")) {
                r = log_level_from_string(value);
                if (r < 0) {
                        snprintf(err, err_len,
                                 "invalid log_level '%s': expected debug, info, notice, warning, err, crit, alert "
                                 "or emerg",
                                 value);
                        return -EINVAL;
                }
                c->log_level = r;
                return 0;
        }
        if (streq(key, "top_processes") || streq(key, "top_names")) {
                r = parse_uint(value, TOP_MAX, streq(key, "top_names") ? &c->top_names : &c->top_processes);
                if (r < 0)
                        snprintf(err, err_len, "invalid %s '%s': expected a whole number from 0 to %u", key, value,
                                 TOP_MAX);
                return r;
        }
        if (streq(key, "snapshot_max_count")) {
                unsigned n;
                r = parse_uint(value, SNAPSHOT_COUNT_MAX, &n);
                if (r < 0 || n == 0) {
                        snprintf(err, err_len, "invalid snapshot_max_count '%s': expected a whole number from 1 to %u",
                                 value, SNAPSHOT_COUNT_MAX);
                        return -EINVAL;
                }
                c->snapshot_max_count = n;
                return 0;
        }
        if (streq(key, "snapshot_max_bytes")) {
                r = parse_size(value, &c->snapshot_max_bytes);
                if (r < 0 || c->snapshot_max_bytes < SNAPSHOT_BYTES_MIN) {
                        snprintf(err, err_len,
                                 "invalid snapshot_max_bytes '%s': expected a size of at least 64K, such as 512M or 2G",
                                 value);
                        return -EINVAL;
                }
                return 0;
        }
        if (strneq(key, "cooldown_", STRLEN("cooldown_"))) {
                DmabufdEventKind k = dmabufd_event_kind_from_string(key + STRLEN("cooldown_"));

                if (k == _DMABUFD_EVENT_KIND_INVALID) {
                        snprintf(err, err_len,
                                 "unknown option '%s': cooldowns are cooldown_oom_kill, cooldown_lmk_kill, "
                                 "cooldown_cgroup_oom, cooldown_psi, cooldown_journal and cooldown_manual",
                                 key);
                        return -ENOENT;
                }
                r = parse_seconds(value, COOLDOWN_MAX, &c->cooldown_sec[k]);
                if (r < 0)
                        snprintf(err, err_len, "invalid %s '%s': expected seconds from 0 to %g", key, value,
                                 COOLDOWN_MAX);
                return r;
        }
        if (streq(key, "snapshot_post")) {
                if (streq(value, "loopback"))
                        c->snapshot_post_any = false;
                else if (streq(value, "any"))
                        c->snapshot_post_any = true;
                else {
                        snprintf(err, err_len, "invalid snapshot_post '%s': expected loopback or any", value);
                        return -EINVAL;
                }
                return 0;
        }
        if (streq(key, "bpf")) {
                if (streq(value, "auto"))
                        c->bpf = true;
                else if (streq(value, "off"))
                        c->bpf = false;
                else {
                        snprintf(err, err_len, "invalid bpf '%s': expected auto or off", value);
                        return -EINVAL;
                }
                return 0;
        }
        if (streq(key, "kmsg")) {
                r = parse_bool(value, &c->kmsg);
                if (r < 0)
                        snprintf(err, err_len, "invalid kmsg '%s': expected yes or no", value);
                return r;
        }
        if (streq(key, "psi_trigger")) {
                DmabufPsiTrigger t;
                char what[256];

                if (dmabuf_psi_trigger_parse(value, &t, what, sizeof(what)) < 0) {
                        snprintf(err, err_len, "invalid psi_trigger '%s': %s", value, what);
                        return -EINVAL;
                }
                return strv_push(&c->psi_triggers, value);
        }
        if (streq(key, "journal_match")) {
                _cleanup_(dmabufd_journal_match_freep) DmabufdJournalMatch *match = NULL;
                size_t n = 0;

                for (; c->journal_matches && c->journal_matches[n]; n++)
                        ;
                if (n >= DMABUFD_JOURNAL_MATCHES_MAX) {
                        snprintf(err, err_len, "too many journal_match lines: at most %d", DMABUFD_JOURNAL_MATCHES_MAX);
                        return -EINVAL;
                }
                r = dmabufd_journal_match_parse(value, &match, err, err_len);
                if (r < 0)
                        return r;
                return strv_push(&c->journal_matches, value);
        }
        if (streq(key, "cgroup")) {
                {
                        char norm[PATH_MAX], what[256];

                        if (dmabufd_cgroup_path_normalize(value, norm, sizeof(norm), what, sizeof(what)) < 0) {
                                snprintf(err, err_len, "invalid cgroup '%s': %s", value, what);
                                return -EINVAL;
                        }
                }
                return strv_push(&c->cgroups, value);
        }
        snprintf(err, err_len, "unknown option '%s'", key);
        return -ENOENT;
}

typedef struct LoadContext {
        DmabufdConfig *config;
        char err[512];
        int error;
        bool list_seen[ELEMENTSOF(list_keys)];
} LoadContext;

static int on_ini_entry(void *userdata, const char *section, const char *name, const char *value) {
        LoadContext *ctx = userdata;
        int index, r;

        if (ctx->error != 0)
                return 0;
        if (section[0] != '\0' && !streq(section, "dmabufd")) {
                snprintf(ctx->err, sizeof(ctx->err), "unknown section [%s]", section);
                ctx->error = -EINVAL;
                return 0;
        }
        if (!value) {
                snprintf(ctx->err, sizeof(ctx->err), "'%s' has no value", name);
                ctx->error = -EINVAL;
                return 0;
        }
        /* A list's lines in the file replace the built-in default, then accumulate. */
        index = list_index(name);
        if (index >= 0 && !ctx->list_seen[index]) {
                ctx->list_seen[index] = true;
                r = reset_list(ctx->config, index);
                if (r < 0) {
                        ctx->error = r;
                        return 0;
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
