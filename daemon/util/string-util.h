/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers for the parsers, which work on spans of kernel text (pointer and length,
 * not NUL-terminated) and report faults into a caller's buffer. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Whether the span s[0..len) begins with the NUL-terminated prefix. */
bool span_starts_with(const char *s, size_t len, const char *prefix);

/* Whether a and b are equal, NULL being equal only to NULL. */
bool streq_ptr(const char *a, const char *b);

/* Formats into err (which may be NULL or empty: then nothing is written). */
void set_err(char *err, size_t err_len, const char *fmt, ...) _printf_(3, 4);

/* Walks buf[0..len) one line at a time: *ret and *ret_len get the line without its
 * newline and *pos moves past it; a last line without a newline counts. Returns
 * false at the end. */
bool next_line(const char *buf, size_t len, size_t *pos, const char **ret, size_t *ret_len);

/* The value of one hex digit, or -1. */
int unhexchar(char c);
