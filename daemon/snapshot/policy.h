/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the event-to-snapshot policy: whether an event takes a
 * snapshot, falls inside its kind's cooldown (and is kept for the next
 * snapshot's suppressed list), or is a second report of a kill that already has
 * one; and which state a snapshot gets as `before`. It does no I/O and reads no
 * clock: the caller passes the time, so every rule can be tested with literal
 * values. Loop thread only. */

#include <stdbool.h>
#include <stdint.h>

#include "document.h"
#include "event.h"
#include "model.h"

/* How far apart the kernel log's and memory.events' reports of one OOM kill may
 * be. Both come from the same kernel function within microseconds; what
 * separates them is the daemon's loop (a snapshot's first part written between
 * the two) and, under memory pressure, its page faults. Two distinct kills of
 * one cgroup inside this window still get a snapshot each unless their reports
 * pair up one for one (see docs/design.md). */
#define DMABUFD_POLICY_FOLD_WINDOW_USEC (2 * 1000000ULL)
/* Kill reports remembered for folding; older ones are forgotten first. */
#define DMABUFD_POLICY_REPORTS_MAX 16

typedef struct DmabufdPolicyClock {
        uint64_t monotonic_usec; /* cooldowns and the fold window */
        uint64_t realtime_usec;  /* what the suppressed list records */
} DmabufdPolicyClock;

typedef enum DmabufdPolicyVerdict {
        DMABUFD_POLICY_SNAPSHOT, /* take one: before, snapshot */
        DMABUFD_POLICY_COOLDOWN, /* inside its kind's cooldown, recorded: retry_after_sec */
        DMABUFD_POLICY_FOLDED,   /* the other source's report of a kill that has its snapshot: snapshot */
} DmabufdPolicyVerdict;

typedef struct DmabufdPolicyDecision {
        DmabufdPolicyVerdict verdict;
        /* SNAPSHOT: the state to write as `before` (borrowed from the policy,
         * valid until the next dmabufd_policy_published(); NULL before the first
         * collection). */
        DmabufState *before;
        /* SNAPSHOT: the new snapshot's number; FOLDED: the number of the one the
         * kill already has. Numbers start at 1. */
        uint64_t snapshot;
        uint64_t retry_after_sec; /* COOLDOWN: whole seconds left, rounded up */
} DmabufdPolicyDecision;

typedef struct DmabufdPolicy DmabufdPolicy;

/* cooldown_sec: per event kind, 0 for none. Returns 0 or -ENOMEM. */
int dmabufd_policy_new(const double cooldown_sec[_DMABUFD_EVENT_KIND_MAX], DmabufdPolicy **ret);
DmabufdPolicy *dmabufd_policy_free(DmabufdPolicy *p);
/* New cooldowns (SIGHUP); attempts already made keep counting from their time. */
void dmabufd_policy_set_cooldowns(DmabufdPolicy *p, const double cooldown_sec[_DMABUFD_EVENT_KIND_MAX]);

/* A collection was published (a new reference to s is taken). One made for a
 * snapshot keeps the state it replaced, the first one of a row, until a
 * periodic collection is published: see dmabufd_policy_choose_before(). */
void dmabufd_policy_published(DmabufdPolicy *p, DmabufState *s, bool for_snapshot);

/* The last collection before e: the latest one, unless a snapshot's collection
 * since no longer shows e's victim and the state it replaced does. Borrowed. */
DmabufState *dmabufd_policy_choose_before(const DmabufdPolicy *p, const DmabufdEvent *e);

/* Decides what e does at time now; a COOLDOWN event is added to the suppressed
 * list. Returns the verdict, also in ret->verdict. */
DmabufdPolicyVerdict dmabufd_policy_event(DmabufdPolicy *p, const DmabufdEvent *e, const DmabufdPolicyClock *now,
                                          DmabufdPolicyDecision *ret);

/* The events a cooldown kept from taking a snapshot since the last snapshot was
 * written, for that snapshot's suppressed member. */
const DmabufSuppressed *dmabufd_policy_suppressed(const DmabufdPolicy *p);
/* A snapshot holding the suppressed list was written: the list starts again.
 * Not called when the write failed, so the next snapshot still carries it. */
void dmabufd_policy_snapshot_written(DmabufdPolicy *p);
