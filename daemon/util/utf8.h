/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides UTF-8 validation. Buffer names and comms are arbitrary bytes
 * chosen by any process, but JSON and Prometheus labels must be valid UTF-8. */

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes at s do not
 * start one (overlong forms, surrogates and code points above U+10FFFF included). */
size_t utf8_sequence_length(const unsigned char *s, size_t len);
bool utf8_is_valid(const char *s, size_t len);

#include "strbuf.h"

/* Appends s to sb with every byte sequence that is not valid UTF-8 replaced by
 * U+FFFD, so output stays well-formed whatever a process named its buffer. */
int utf8_append_sanitized(StrBuf *sb, const char *s, size_t len);
