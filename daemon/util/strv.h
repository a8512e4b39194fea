/* SPDX-License-Identifier: MIT */
#pragma once

/* NULL-terminated vectors of strings, each one owned. A NULL vector is an empty
 * one (callers that tell "not set" from "set to nothing" test for NULL first). */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

char **strv_free(char **v);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char *const *v);

/* Appends a copy of s. 0 or -ENOMEM (v is then unchanged). */
int strv_push(char ***v, const char *s);

/* *ret gets a deep copy (NULL for NULL). 0 or -ENOMEM. */
int strv_copy(char *const *v, char ***ret);

/* Same strings in the same order. */
bool strv_equal(char *const *a, char *const *b);
