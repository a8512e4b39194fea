/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the Prometheus exposition of a state, in text format 0.0.4
 * or OpenMetrics 1.0.0, into a buffer; and the Accept-header negotiation between
 * the two. It does no I/O. */

#include <stddef.h>

#include "event.h"
#include "model.h"
#include "strbuf.h"

typedef enum DmabufPromFormat {
        DMABUF_PROM_TEXT,
        DMABUF_PROM_OPENMETRICS,
} DmabufPromFormat;

typedef struct DmabufPromOptions {
        unsigned top_processes; /* series per process metric */
        unsigned top_names;     /* series of dmabuf_name_bytes */
        unsigned top_cgroups;   /* series per cgroup metric */
} DmabufPromOptions;

/* Picks the format an Accept header prefers; text when it names neither. */
DmabufPromFormat dmabuf_prom_negotiate(const char *accept);
const char *dmabuf_prom_content_type(DmabufPromFormat f);

/* Escapes a label value by the format's rules (backslash, double quote, newline)
 * and replaces invalid UTF-8 with U+FFFD. */
int dmabuf_prom_append_label_value(StrBuf *sb, const char *v, size_t len);

/* What changes between collections: events arrive and snapshots are written at
 * any time, so these are rendered for every scrape, never cached with a state. */
typedef struct DmabufPromLive {
        bool source_up[_DMABUFD_EVENT_SOURCE_MAX];
        uint64_t events[_DMABUFD_EVENT_KIND_MAX];
        uint64_t snapshots;
        uint64_t snapshot_failures;
} DmabufPromLive;

/* The families a state determines, its counters included: these can be cached
 * with the state. */
int dmabuf_prom_write_collection(StrBuf *sb, const DmabufState *s, const DmabufPromOptions *opts,
                                 DmabufPromFormat f);
/* dmabufd_source_up, the event and snapshot counters when live is given, and
 * "# EOF" for OpenMetrics: what follows the collection's families. */
int dmabuf_prom_write_daemon(StrBuf *sb, const DmabufState *s, const DmabufPromLive *live, DmabufPromFormat f);
/* Only the dmabuf_cgroup_* families, for the top cgroups by pss (dump --by cgroup). */
int dmabuf_prom_write_cgroups(StrBuf *sb, const DmabufState *s, unsigned top, DmabufPromFormat f);
/* Both, without live figures (dmabufd dump). Returns 0 or -ENOMEM. */
int dmabuf_prom_write(StrBuf *sb, const DmabufState *s, const DmabufPromOptions *opts, DmabufPromFormat f);
