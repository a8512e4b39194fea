/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides a streaming JSON syntax check (RFC 8259) in constant
 * memory: the text is pushed in chunks of any size and nothing of it is kept,
 * except what the caller asks for: the values down to JSON_SCAN_PATH_MAX levels
 * are reported as they are met, with their member names and, for strings, their
 * decoded first bytes. json-c's tokener builds the whole tree instead, which for
 * a multi-MiB snapshot file costs several times its size; this is what the
 * snapshot store validates its files with. */

#include <stddef.h>
#include <stdint.h>

#define JSON_SCAN_DEPTH_MAX 64U /* objects and arrays open at once */
#define JSON_SCAN_PATH_MAX 2U   /* values are reported down to this depth */
#define JSON_SCAN_TEXT_MAX 63U  /* bytes kept of a reported string or a member name */

typedef enum JsonScanType {
        JSON_SCAN_NULL,
        JSON_SCAN_BOOLEAN,
        JSON_SCAN_NUMBER,
        JSON_SCAN_STRING,
        JSON_SCAN_OBJECT,
        JSON_SCAN_ARRAY,
} JsonScanType;

typedef struct JsonScanValue {
        JsonScanType type;
        unsigned depth; /* 0: the top-level value, 1: a member or element of it, ... */
        /* path[i]: the member name of the value (i == depth - 1) or of its
         * container at depth i + 1; NULL for an array element and for a name
         * that cannot be compared (longer than JSON_SCAN_TEXT_MAX, or holding a
         * NUL). Only the first depth entries are set. */
        const char *path[JSON_SCAN_PATH_MAX];
        /* JSON_SCAN_STRING: the decoded string's first JSON_SCAN_TEXT_MAX bytes,
         * NUL-terminated, and its whole length (text may hold NULs from \u0000). */
        const char *text;
        size_t len;
} JsonScanValue;

/* Called for a scalar when it ends and for an object or array when it opens, if
 * its depth is at most JSON_SCAN_PATH_MAX. Returns 0, or a negative errno that
 * stops the scan and is returned by json_scan_feed() and json_scan_finish(). */
typedef int (*JsonScanFunc)(const JsonScanValue *v, void *userdata);

typedef struct JsonScanner JsonScanner;

/* func may be NULL (syntax only). Returns NULL when out of memory. */
JsonScanner *json_scan_new(JsonScanFunc func, void *userdata);
JsonScanner *json_scan_free(JsonScanner *s);

/* Scans the next n bytes. Returns 0, -EBADMSG when they are not JSON (see
 * json_scan_error() and json_scan_offset()), or what func returned. A failure
 * sticks: later calls return it again. */
int json_scan_feed(JsonScanner *s, const void *buf, size_t n);

/* The input is complete: returns 0 when it held exactly one JSON value (white
 * space around it allowed), -EBADMSG when it ended early (truncated, or nothing
 * but white space), or the failure of an earlier call. */
int json_scan_finish(JsonScanner *s);

/* Bytes scanned so far. After -EBADMSG: the offset of the byte at fault, or the
 * length of the input when it ended early. In func: the offset of the value's
 * last byte (for a number, of the byte after it) or of the '{' or '[' that opens
 * it. */
uint64_t json_scan_offset(const JsonScanner *s);

/* What is wrong, after -EBADMSG: "expected ':' after a member name, found 'x'";
 * "" otherwise. */
const char *json_scan_error(const JsonScanner *s);
