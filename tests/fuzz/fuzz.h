/* SPDX-License-Identifier: MIT */
#pragma once

/* What every fuzz target shares. Each tests/fuzz/fuzz-<name>.c defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (./configure
 * --enable-fuzzers, `make fuzz`) or with replay.c, which feeds it the files of
 * tests/fuzz/corpus/<name>/ under `make check`. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parsers that take C strings get the input NUL-terminated; an embedded NUL
 * ends the string as it would for the caller. Returns NULL when out of memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                return NULL;
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* A copy in a buffer of its own, so that ASan sees every read past the end. */
static inline char *fuzz_memdup(const uint8_t *data, size_t size) {
        char *s = malloc(size > 0 ? size : 1);

        if (s && size > 0)
                memcpy(s, data, size);
        return s;
}
