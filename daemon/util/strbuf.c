/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

int strbuf_reserve(StrBuf *sb, size_t extra) {
        size_t need, cap;
        char *p;

        if (sb->failed)
                return -ENOMEM;
        if (extra > SIZE_MAX - sb->len - 1)
                goto fail;
        need = sb->len + extra + 1;
        if (need <= sb->cap)
                return 0;
        cap = sb->cap ? sb->cap : 256;
        while (cap < need) {
                if (cap > SIZE_MAX / 2)
                        goto fail;
                cap *= 2;
        }
        p = realloc(sb->buf, cap);
        if (!p)
                goto fail;
        sb->buf = p;
        sb->cap = cap;
        return 0;
fail:
        sb->failed = true;
        return -ENOMEM;
}

int strbuf_append(StrBuf *sb, const char *s, size_t n) {
        if (strbuf_reserve(sb, n) < 0)
                return -ENOMEM;
        if (n > 0)
                memcpy(sb->buf + sb->len, s, n);
        sb->len += n;
        sb->buf[sb->len] = '\0';
        return 0;
}

int strbuf_puts(StrBuf *sb, const char *s) {
        return strbuf_append(sb, s, strlen(s));
}

int strbuf_putc(StrBuf *sb, char c) {
        return strbuf_append(sb, &c, 1);
}

int strbuf_printf(StrBuf *sb, const char *fmt, ...) {
        va_list ap;
        int n;

        if (sb->failed)
                return -ENOMEM;
        /* Try in the space we have; grow and retry only when it did not fit. */
        if (strbuf_reserve(sb, 64) < 0)
                return -ENOMEM;
        va_start(ap, fmt);
        n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
                sb->failed = true;
                return -EINVAL;
        }
        if ((size_t) n >= sb->cap - sb->len) {
                if (strbuf_reserve(sb, (size_t) n) < 0)
                        return -ENOMEM;
                va_start(ap, fmt);
                vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
                va_end(ap);
        }
        sb->len += (size_t) n;
        return 0;
}

void strbuf_reset(StrBuf *sb) {
        sb->len = 0;
        sb->failed = false;
        if (sb->buf)
                sb->buf[0] = '\0';
}

void strbuf_done(StrBuf *sb) {
        free(sb->buf);
        *sb = STRBUF_INIT;
}

int strbuf_status(const StrBuf *sb) {
        return sb->failed ? -ENOMEM : 0;
}

int strbuf_steal(StrBuf *sb, char **ret, size_t *ret_len) {
        if (sb->failed) {
                strbuf_done(sb);
                return -ENOMEM;
        }
        if (!sb->buf && strbuf_reserve(sb, 0) < 0)
                return -ENOMEM;
        sb->buf[sb->len] = '\0';
        *ret = sb->buf;
        if (ret_len)
                *ret_len = sb->len;
        *sb = STRBUF_INIT;
        return 0;
}
