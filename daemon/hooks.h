/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides what runs after each complete snapshot, on the loop and
 * never waiting: snapshot_exec (one run at a time, a few waiting, the rest
 * counted as failures) and snapshot_push (the helper dmabufd-push POSTs each
 * snapshot from a spool directory, <state_dir>/push/, of hard links to the
 * snapshot files: bounded, oldest dropped first, retried with backoff, and
 * still there after a restart). Both run through runner.c. The counters go to
 * the publication for /metrics. */

#include <sys/types.h>

#include <systemd/sd-event.h>

#include "conf.h"
#include "publication.h"

/* snapshot_exec runs waiting behind the one going on. */
#define DMABUFD_HOOKS_EXEC_QUEUE_MAX 4
/* Retries of a push: 1 s, doubling, at most this. */
#define DMABUFD_HOOKS_PUSH_BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define DMABUFD_HOOKS_PUSH_BACKOFF_MAX_USEC (300 * USEC_PER_SEC)

typedef struct DmabufdSnapshotHooks DmabufdSnapshotHooks;

/* state_dir is the store's directory, or NULL when it is unusable (nothing is
 * then pushed). Returns 0 or -ENOMEM. */
int dmabufd_snapshot_hooks_new(sd_event *event, const char *state_dir, DmabufdPublication *publication,
                               DmabufdSnapshotHooks **ret);
/* Kills what is running; a push cut short stays in the spool. */
DmabufdSnapshotHooks *dmabufd_snapshot_hooks_free(DmabufdSnapshotHooks *h);

/* Takes snapshot_exec, snapshot_push and their settings from c, at start-up and
 * on reload; a run going on finishes with the old ones. Returns 0 or -ENOMEM. */
int dmabufd_snapshot_hooks_configure(DmabufdSnapshotHooks *h, const DmabufdConfig *c);

/* A snapshot is complete: run and push for it. pid 0 and comm NULL when the
 * trigger names no victim. */
void dmabufd_snapshot_hooks_snapshot_complete(DmabufdSnapshotHooks *h, const char *id, const char *kind, pid_t pid,
                                              const char *comm);
