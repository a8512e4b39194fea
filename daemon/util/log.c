/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Our own CODE_FILE and CODE_LINE are the caller's, not this file's. */
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_MESSAGE_MAX 2048

static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_STDERR;

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

LogTarget log_target_from_environment(void) {
        const char *e = getenv("JOURNAL_STREAM");
        uint64_t dev, ino;
        struct stat st;
        int n = 0;

        if (!e || sscanf(e, "%" SCNu64 ":%" SCNu64 "%n", &dev, &ino, &n) != 2 || e[n] != '\0')
                return LOG_TARGET_STDERR;
        if (fstat(STDERR_FILENO, &st) < 0)
                return LOG_TARGET_STDERR;
        /* Inherited by a child whose stderr was then redirected: not ours. */
        if ((uint64_t) st.st_dev != dev || (uint64_t) st.st_ino != ino)
                return LOG_TARGET_STDERR;
        return LOG_TARGET_JOURNAL;
}

void log_set_target(LogTarget target) {
        __atomic_store_n(&log_target, target, __ATOMIC_RELAXED);
}

static LogTarget log_get_target(void) {
        return __atomic_load_n(&log_target, __ATOMIC_RELAXED);
}

/* No allocation: this runs when memory is short, and it matters most then. */
static int log_to_journal(int level, int error, const char *file, int line, const char *func,
                          const char *message_id, const char *const *fields, const char *msg) {
        char message[LOG_MESSAGE_MAX + sizeof("MESSAGE=")], priority[16], errno_field[32], code_file[256],
                code_line[32], code_func[128], mid[64];
        struct iovec iov[32];
        size_t n = 0;

        snprintf(message, sizeof(message), "MESSAGE=%s", msg);
        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        snprintf(code_func, sizeof(code_func), "CODE_FUNC=%s", func);
        iov[n++] = (struct iovec){ message, strlen(message) };
        iov[n++] = (struct iovec){ priority, strlen(priority) };
        iov[n++] = (struct iovec){ (char *) "SYSLOG_IDENTIFIER=dmabufd", strlen("SYSLOG_IDENTIFIER=dmabufd") };
        iov[n++] = (struct iovec){ code_file, strlen(code_file) };
        iov[n++] = (struct iovec){ code_line, strlen(code_line) };
        iov[n++] = (struct iovec){ code_func, strlen(code_func) };
        if (error != 0) {
                snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", error < 0 ? -error : error);
                iov[n++] = (struct iovec){ errno_field, strlen(errno_field) };
        }
        if (message_id) {
                snprintf(mid, sizeof(mid), "MESSAGE_ID=%s", message_id);
                iov[n++] = (struct iovec){ mid, strlen(mid) };
        }
        for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                iov[n++] = (struct iovec){ (char *) fields[i], strlen(fields[i]) };
        return sd_journal_sendv(iov, (int) n);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *message_id,
                 const char *const *fields, const char *fmt, ...) {
        char msg[LOG_MESSAGE_MAX], expanded[LOG_MESSAGE_MAX];
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

        /* A journal that cannot take the entry (journald restarting, out of
         * memory) must not swallow it: stderr still reaches the journal stream. */
        if (log_get_target() == LOG_TARGET_JOURNAL &&
            log_to_journal(level, error, file, line, func, message_id, fields, msg) >= 0)
                return error < 0 ? error : -error;

        /* One write per line so lines from the HTTP thread never interleave. */
        if (level >= LOG_DEBUG)
                fprintf(stderr, "dmabufd: %s (%s:%d)\n", msg, file, line);
        else
                fprintf(stderr, "dmabufd: %s\n", msg);
        return error < 0 ? error : -error;
}
