/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "string-util.h"

bool span_starts_with(const char *s, size_t len, const char *prefix) {
        size_t n = strlen(prefix);

        return len >= n && memcmp(s, prefix, n) == 0;
}

bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

void set_err(char *err, size_t err_len, const char *fmt, ...) {
        va_list ap;

        if (!err || err_len == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
}

bool next_line(const char *buf, size_t len, size_t *pos, const char **ret, size_t *ret_len) {
        const char *nl;
        size_t n;

        if (*pos >= len)
                return false;
        nl = memchr(buf + *pos, '\n', len - *pos);
        n = nl ? (size_t) (nl - (buf + *pos)) : len - *pos;
        *ret = buf + *pos;
        *ret_len = n;
        *pos += n + (nl ? 1 : 0);
        return true;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
