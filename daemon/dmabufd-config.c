/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "dmabufd-config.h"
#include "dmabufd-listen.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

#define TOP_MAX 100000U
#define INTERVAL_MIN 0.05
#define INTERVAL_MAX 86400.0

void dmabufd_config_init(DmabufdConfig *c) {
        *c = (DmabufdConfig){
                .interval_sec = DMABUFD_DEFAULT_INTERVAL,
                .log_level = LOG_INFO,
                .top_processes = DMABUFD_DEFAULT_TOP,
                .top_names = DMABUFD_DEFAULT_TOP,
        };
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
        dmabufd_config_init(c);
}

int dmabufd_config_add_listen(DmabufdConfig *c, const char *addr, bool append, char *err, size_t err_len) {
        DmabufdListenAddress a;
        size_t n = 0;
        char **v, *copy;
        int r;

        r = dmabufd_listen_parse(addr, &a);
        if (r < 0) {
                snprintf(err, err_len, "invalid listen address '%s': expected HOST:PORT, [V6]:PORT or :PORT", addr);
                return -EINVAL;
        }
        copy = strdup(addr);
        if (!copy)
                return -ENOMEM;
        if (append)
                for (; c->listen && c->listen[n]; n++)
                        ;
        else {
                strv_free(c->listen);
                c->listen = NULL;
        }
        v = realloc(c->listen, (n + 2) * sizeof(char *));
        if (!v) {
                free(copy);
                return -ENOMEM;
        }
        v[n] = copy;
        v[n + 1] = NULL;
        c->listen = v;
        return 0;
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
        snprintf(err, err_len, "unknown option '%s'", key);
        return -ENOENT;
}

typedef struct LoadContext {
        DmabufdConfig *config;
        char err[256];
        int error;
        bool listen_seen;
} LoadContext;

static int on_ini_entry(void *userdata, const char *section, const char *name, const char *value) {
        LoadContext *ctx = userdata;
        int r;

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
        /* The file's listen lines replace the built-in default, then accumulate. */
        if (streq(name, "listen") && !ctx->listen_seen) {
                ctx->listen_seen = true;
                r = dmabufd_config_add_listen(ctx->config, value, false, ctx->err, sizeof(ctx->err));
        } else
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
