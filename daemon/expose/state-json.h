/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the JSON form of a state (SPEC's "state" object). Each
 * buffer and process is built with json-c and serialised on its own, so memory stays
 * proportional to one element, not to the tens of thousands a busy device has. */

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

#include "model.h"
#include "strbuf.h"

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD. NULL -> null. */
json_object *dmabuf_json_string(const char *s, size_t len);
/* A JSON number, or null for DMABUF_UNKNOWN. */
json_object *dmabuf_json_u64(uint64_t v);

/* Formats usec since the epoch as RFC 3339 UTC with milliseconds. */
void dmabuf_json_format_time(uint64_t usec, char buf[static 32]);

/* The state's "cgroups" array. NULL on allocation failure. */
json_object *dmabuf_json_cgroups(const DmabufState *s);

/* Appends the state object. Returns 0 or -ENOMEM. */
int dmabuf_json_write_state(StrBuf *sb, const DmabufState *s);

/* The same JSON, produced piece by piece for a streamed HTTP response: a 20,000
 * buffer state is 4 MiB of JSON, which need never exist in memory at once. The
 * caller keeps s alive while the cursor is in use. */
typedef struct DmabufJsonCursor DmabufJsonCursor;
DmabufJsonCursor *dmabuf_json_cursor_new(const DmabufState *s);
DmabufJsonCursor *dmabuf_json_cursor_free(DmabufJsonCursor *c);
/* Copies the next bytes, at most max, into buf. Returns how many, 0 at the end,
 * or -ENOMEM. */
ssize_t dmabuf_json_cursor_read(DmabufJsonCursor *c, char *buf, size_t max);
