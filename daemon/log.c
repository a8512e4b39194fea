/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int log_max_level = LOG_INFO;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",     [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        if (!s || !*s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        if (streq(s, "error"))
                return LOG_ERR;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return NULL;
        return level_names[level];
}

void log_set_max_level(int level) {
        __atomic_store_n(&log_max_level, level, __ATOMIC_RELAXED);
}

int log_get_max_level(void) {
        return __atomic_load_n(&log_max_level, __ATOMIC_RELAXED);
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        char msg[2048], expanded[2048];
        const char *p;
        size_t n = 0;
        va_list ap;

        if (level > log_get_max_level())
                return error < 0 ? error : -error;

        /* Expand %m ourselves: errno is no longer the error by the time we get here. */
        for (p = fmt; *p && n + 1 < sizeof(expanded); p++) {
                if (p[0] == '%' && p[1] == 'm') {
                        const char *e = strerror(error < 0 ? -error : error);
                        for (; *e && n + 1 < sizeof(expanded); e++)
                                expanded[n++] = *e == '%' ? '?' : *e;
                        p++;
                } else
                        expanded[n++] = *p;
        }
        expanded[n] = '\0';

        va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(msg, sizeof(msg), expanded, ap);
#pragma GCC diagnostic pop
        va_end(ap);

        /* One write per line so lines from the HTTP thread never interleave. */
        if (level >= LOG_DEBUG)
                fprintf(stderr, "dmabufd: %s (%s:%d)\n", msg, file, line);
        else
                fprintf(stderr, "dmabufd: %s\n", msg);
        return error < 0 ? error : -error;
}
