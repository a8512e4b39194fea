/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides a growable byte buffer. Appends after an allocation failure
 * are no-ops and the failure sticks, so writers chain appends and check once. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct StrBuf {
        char *buf; /* always NUL-terminated once anything was appended */
        size_t len;
        size_t cap;
        bool failed;
} StrBuf;

#define STRBUF_INIT ((StrBuf){ 0 })

int strbuf_reserve(StrBuf *sb, size_t extra);
int strbuf_append(StrBuf *sb, const char *s, size_t n);
int strbuf_puts(StrBuf *sb, const char *s);
int strbuf_putc(StrBuf *sb, char c);
int strbuf_printf(StrBuf *sb, const char *fmt, ...) _printf_(2, 3);
/* Empties the buffer but keeps its memory for reuse. */
void strbuf_reset(StrBuf *sb);
void strbuf_done(StrBuf *sb);
/* Returns 0 or -ENOMEM if any append failed. */
int strbuf_status(const StrBuf *sb);
/* Hands the bytes over (NUL-terminated, never NULL on success) and resets sb. */
int strbuf_steal(StrBuf *sb, char **ret, size_t *ret_len);

static inline void strbuf_donep(StrBuf *sb) {
        strbuf_done(sb);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_donep)
