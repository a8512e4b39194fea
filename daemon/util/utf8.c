/* SPDX-License-Identifier: MIT */
#include "utf8.h"

size_t utf8_sequence_length(const unsigned char *s, size_t len) {
        unsigned char c;
        size_t n;
        unsigned cp;

        if (len == 0)
                return 0;
        c = s[0];
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (len < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

bool utf8_is_valid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        while (len > 0) {
                size_t n = utf8_sequence_length(p, len);
                if (n == 0)
                        return false;
                p += n;
                len -= n;
        }
        return true;
}

int utf8_append_sanitized(StrBuf *sb, const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        while (len > 0) {
                size_t n = utf8_sequence_length(p, len);

                if (n == 0) {
                        strbuf_append(sb, "\xef\xbf\xbd", 3);
                        n = 1;
                } else
                        strbuf_append(sb, (const char *) p, n);
                p += n;
                len -= n;
        }
        return strbuf_status(sb);
}
