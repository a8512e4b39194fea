/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the Prometheus exposition of a state, in text format 0.0.4
 * or OpenMetrics 1.0.0, into a buffer; and the Accept-header negotiation between
 * the two. It does no I/O. */

#include <stddef.h>

#include "dmabuf-model.h"
#include "strbuf.h"

typedef enum DmabufPromFormat {
        DMABUF_PROM_TEXT,
        DMABUF_PROM_OPENMETRICS,
} DmabufPromFormat;

typedef struct DmabufPromOptions {
        unsigned top_processes; /* series per process metric */
        unsigned top_names;     /* series of dmabuf_name_bytes */
} DmabufPromOptions;

/* Picks the format an Accept header prefers; text when it names neither. */
DmabufPromFormat dmabuf_prom_negotiate(const char *accept);
const char *dmabuf_prom_content_type(DmabufPromFormat f);

/* Escapes a label value by the format's rules (backslash, double quote, newline)
 * and replaces invalid UTF-8 with U+FFFD. */
int dmabuf_prom_append_label_value(StrBuf *sb, const char *v, size_t len);

/* Writes every metric family of the state, its counters included, and "# EOF"
 * for OpenMetrics. Returns 0 or -ENOMEM. */
int dmabuf_prom_write(StrBuf *sb, const DmabufState *s, const DmabufPromOptions *opts, DmabufPromFormat f);
