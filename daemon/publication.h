/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides what the loop thread publishes to the HTTP threads: the
 * latest state, whether the collection loop is alive, and the figures that
 * change between collections (events, snapshots, event sources up), and the
 * history of the last collections. One lock covers the pointer swap, the taking
 * of a reference and the copying of the figures, nothing more; the history has a
 * lock of its own, so writing its JSON never holds up a scrape. Times are passed
 * in (CLOCK_MONOTONIC usec). */

#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "history.h"
#include "model.h"
#include "prom.h"

/* Two missed collections plus slack for one slow scan. */
#define DMABUFD_PUBLICATION_SLACK_USEC (10 * 1000000ULL)

typedef struct DmabufdPublication DmabufdPublication;

/* Returns 0 or -ENOMEM. */
int dmabufd_publication_new(DmabufdPublication **ret);
DmabufdPublication *dmabufd_publication_free(DmabufdPublication *p);

/* Publishes s (its reference taken over; NULL is not allowed) at now_usec,
 * collected with interval_usec then in force: the loop counts as alive until
 * now_usec + 2 * interval_usec + DMABUFD_PUBLICATION_SLACK_USEC. The state it
 * replaces is unreferenced; readers that hold one keep it until they finish. */
void dmabufd_publication_swap(DmabufdPublication *p, DmabufState *s, uint64_t interval_usec, uint64_t now_usec);
/* A new reference to the latest state, or NULL before the first. Any thread. */
DmabufState *dmabufd_publication_get_state(DmabufdPublication *p);
/* Whether the loop published recently enough at now_usec. Any thread. */
bool dmabufd_publication_alive(DmabufdPublication *p, uint64_t now_usec);

void dmabufd_publication_get_live(DmabufdPublication *p, DmabufPromLive *ret);
void dmabufd_publication_count_event(DmabufdPublication *p, DmabufdEventKind kind);
void dmabufd_publication_count_snapshot(DmabufdPublication *p, bool ok);

typedef enum DmabufdHookCount {
        DMABUFD_HOOK_EXEC_FAILURE,
        DMABUFD_HOOK_PUSHED,
        DMABUFD_HOOK_PUSH_FAILURE,
        DMABUFD_HOOK_PUSH_DROPPED,
} DmabufdHookCount;
void dmabufd_publication_count_hook(DmabufdPublication *p, DmabufdHookCount which);
void dmabufd_publication_set_push_queue(DmabufdPublication *p, uint64_t n);
void dmabufd_publication_set_sources_up(DmabufdPublication *p, const bool up[_DMABUFD_EVENT_SOURCE_MAX]);

/* The history starts with capacity 0 (disabled). Returns 0, -EINVAL past
 * DMABUF_HISTORY_CAPACITY_MAX or -ENOMEM; the history is unchanged then. */
int dmabufd_publication_set_history_capacity(DmabufdPublication *p, size_t capacity);
/* Adds s's figures to the history. Returns 0 or -ENOMEM. The loop thread. */
int dmabufd_publication_append_history(DmabufdPublication *p, const DmabufState *s);
/* Appends the history's JSON for q. Returns 0 or -ENOMEM. Any thread. */
int dmabufd_publication_write_history(DmabufdPublication *p, const DmabufHistoryQuery *q, StrBuf *sb);
/* Bytes the history holds now. Any thread. */
size_t dmabufd_publication_history_bytes(DmabufdPublication *p);
