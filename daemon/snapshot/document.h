/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the snapshot document (SPEC's dmabufd.snapshot/1): the
 * trigger, what the `before` state says the victim held, the events cooldowns
 * suppressed, and the streaming of both states into a file. It does no other
 * I/O; where the file goes is the store's business. */

#include <json-c/json.h>
#include <stdio.h>
#include <sys/types.h>

#include "event.h"
#include "model.h"
#include "store.h"

/* Events that fell inside a cooldown since the last snapshot: all are counted,
 * the first DMABUF_SUPPRESSED_MAX are kept in full. */
#define DMABUF_SUPPRESSED_MAX 32

typedef struct DmabufSuppressedEvent {
        DmabufdEventKind kind;
        uint64_t at_usec; /* CLOCK_REALTIME */
        pid_t pid;
        char comm[64];
        char line[256];
        uint64_t rss_bytes, pss_bytes; /* the victim's, by `before`; DMABUF_UNKNOWN if absent */
} DmabufSuppressedEvent;

typedef struct DmabufSuppressed {
        uint64_t count[_DMABUFD_EVENT_KIND_MAX];
        size_t n_events;
        DmabufSuppressedEvent events[DMABUF_SUPPRESSED_MAX];
} DmabufSuppressed;

/* Records e; a victim's holdings are looked up in before (may be NULL), the
 * state a suppressed kill's own snapshot would have had. */
void dmabuf_suppressed_add(DmabufSuppressed *s, const DmabufdEvent *e, uint64_t at_usec, const DmabufState *before);
/* {"total", "by_kind": {...}, "events": [...]}; NULL when nothing was suppressed. */
json_object *dmabuf_suppressed_to_json(const DmabufSuppressed *s);

/* The trigger object: kind and when it was seen, the victim (pid, comm) with
 * what `before` says it held (rss_bytes, pss_bytes, buffers), the source's own
 * line and its kind-specific details. before may be NULL. */
json_object *dmabuf_snapshot_trigger_new(const DmabufdEvent *e, uint64_t at_usec, const DmabufState *before);

/* {"meminfo": {key: bytes or count, ...}, "psi": {"some": {...}, "full": {...}}}
 * from the files' contents; a NULL or unparseable content is null, and err (may
 * be NULL) names what did not parse. Returns NULL only when out of memory. */
json_object *dmabuf_snapshot_memory_new(const char *meminfo, size_t meminfo_len, const char *psi, size_t psi_len,
                                        char *err, size_t err_len);

typedef struct DmabufSnapshot {
        const char *id;
        uint64_t taken_at_usec; /* CLOCK_REALTIME */
        json_object *trigger;
        json_object *suppressed; /* NULL: none */
        json_object *memory;     /* {"meminfo", "psi"} */
        const DmabufState *before; /* NULL: no collection yet; written as null */
        const DmabufState *state;  /* NULL: the fresh collection failed, or is still to come */
        bool partial;              /* written before the fresh collection: "partial": true */
} DmabufSnapshot;

/* Writes the document to f; the states are streamed element by element, so
 * memory stays small however big they are. Returns 0 or -errno (-EIO or what
 * the stream reports, e.g. -ENOSPC). */
int dmabuf_snapshot_write(FILE *f, const DmabufSnapshot *snap);
