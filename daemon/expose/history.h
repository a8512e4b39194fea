/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the bounded history behind the web page's charts: per
 * collection its time, totals, per-exporter figures and the top processes by
 * pss, for the last N collections, and its JSON (GET /api/v1/history). It is pure:
 * states and values in, no clock, no lock, no globals; the caller serialises
 * access. Each entry is one allocation sized to what it holds, so the memory is
 * capacity x (entry bound) at most, and dmabuf_history_memory_bytes() says what
 * it is now. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model.h"
#include "strbuf.h"

#define DMABUF_HISTORY_DEFAULT_CAPACITY 360
/* A day at the default 10 s interval, about 10 MiB at the bounds below. */
#define DMABUF_HISTORY_CAPACITY_MAX 8640
#define DMABUF_HISTORY_TOP_PROCESSES 10
/* Exporters kept per entry, the largest by bytes; the rest are counted in
 * exporters_omitted. A system has a handful; the bound is for a hostile one. */
#define DMABUF_HISTORY_EXPORTERS_MAX 32
/* Exporter names and comms longer than this are cut (at a UTF-8 boundary), so an
 * entry has a fixed upper bound. The kernel's comm is 15 bytes. */
#define DMABUF_HISTORY_NAME_MAX 128

typedef struct DmabufHistoryExporter {
        const char *name; /* NULL: unknown */
        uint64_t buffers; /* DMABUF_UNKNOWN as in the state */
        uint64_t bytes;
} DmabufHistoryExporter;

typedef struct DmabufHistoryProcess {
        pid_t pid;
        const char *comm; /* NULL: unreadable */
        uint64_t rss_bytes; /* DMABUF_UNKNOWN as in the state */
        uint64_t pss_bytes;
} DmabufHistoryProcess;

typedef struct DmabufHistoryEntry {
        uint64_t collected_at_usec; /* CLOCK_REALTIME */
        DmabufTotals totals;
        uint32_t n_exporters;
        uint32_t exporters_omitted;
        uint32_t n_processes;
        DmabufHistoryExporter *exporters; /* by name, as in the state */
        DmabufHistoryProcess *processes;  /* by pss, largest first; unknown last */
        size_t allocated; /* bytes of this entry's one allocation */
} DmabufHistoryEntry;

typedef struct DmabufHistory DmabufHistory;

/* capacity: 0 to DMABUF_HISTORY_CAPACITY_MAX; 0 keeps nothing. Returns 0,
 * -EINVAL or -ENOMEM. */
int dmabuf_history_new(size_t capacity, DmabufHistory **ret);
DmabufHistory *dmabuf_history_free(DmabufHistory *h);

/* Keeps the newest min(size, capacity) entries. Returns 0, -EINVAL or -ENOMEM
 * (then nothing changed). */
int dmabuf_history_set_capacity(DmabufHistory *h, size_t capacity);
size_t dmabuf_history_capacity(const DmabufHistory *h);
size_t dmabuf_history_size(const DmabufHistory *h);
/* The entry i places after the oldest one kept, or NULL past the end. */
const DmabufHistoryEntry *dmabuf_history_get(const DmabufHistory *h, size_t i);
/* Bytes the history holds: its ring and every entry's allocation. */
size_t dmabuf_history_memory_bytes(const DmabufHistory *h);

/* What a state contributes: built apart from the history, so a caller sharing
 * it between threads holds its lock only for dmabuf_history_push(). Returns 0 or
 * -ENOMEM. */
int dmabuf_history_entry_new(const DmabufState *s, DmabufHistoryEntry **ret);
DmabufHistoryEntry *dmabuf_history_entry_free(DmabufHistoryEntry *e);
/* Takes e over. The oldest entry goes when the history is full; with capacity 0
 * e is freed at once. */
void dmabuf_history_push(DmabufHistory *h, DmabufHistoryEntry *e);

/* Which entries a request wants; the default is all of them. */
typedef struct DmabufHistoryQuery {
        size_t points;      /* 0: no limit, else at most the newest this many */
        uint64_t since_usec; /* only entries whose collected_at, in whole ms as
                              * written, is after it; 0: no bound */
} DmabufHistoryQuery;

/* Reads one query parameter (points=N, since=TIME) into q. TIME is RFC 3339 UTC
 * as collected_at is written ("2026-01-02T03:04:05.678Z", fraction optional) or
 * seconds since the epoch. Returns 0, or -EINVAL with a message naming the
 * parameter and its value in err. value NULL: the parameter had no '='. */
int dmabuf_history_query_parse(DmabufHistoryQuery *q, const char *key, const char *value, char *err,
                               size_t err_len);

/* Appends {"capacity", "points": [...]} oldest first (README documents it).
 * Returns 0 or -ENOMEM. */
int dmabuf_history_write_json(StrBuf *sb, const DmabufHistory *h, const DmabufHistoryQuery *q);
