/* SPDX-License-Identifier: MIT */
#pragma once

/* This module runs collections on a worker thread of their own, so that the
 * event loop never waits for one: a kill's first snapshot file is written from
 * the last published state while a collection runs. Requests made while one runs
 * are served by the next one, which starts after them; any number of them share
 * it, so collections never pile up. Results come back on the loop thread, in
 * order, through an eventfd that sd-event watches. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "bpf-loader.h"
#include "model.h"

typedef struct DmabufdCollector DmabufdCollector;

/* A request's place in the list handed back with the collection that served it;
 * embedded by the caller in whatever it wants back. */
typedef struct DmabufdCollectWaiter DmabufdCollectWaiter;
struct DmabufdCollectWaiter {
        DmabufdCollectWaiter *next;
};

/* On the loop thread, for each finished collection: r and, with r >= 0, the new
 * state (the callee takes the reference); waiters in the order they asked. */
typedef void (*DmabufdCollectorDone)(int r, DmabufState *state, DmabufdCollectWaiter *waiters, void *userdata);

/* root_fd stays the caller's and must outlive the collector. */
int dmabufd_collector_new(sd_event *event, int root_fd, DmabufdCollectorDone done, void *userdata,
                          DmabufdCollector **ret);
/* Stops the worker: the collection in hand ends, and waiters still queued get
 * one more, so that no snapshot is left half-written; then what finished since
 * the loop last ran is handed back as usual. */
DmabufdCollector *dmabufd_collector_free(DmabufdCollector *c);

/* Asks for a collection that starts after this call. waiter may be NULL (a
 * periodic collection). Returns 0 or -errno. */
int dmabufd_collector_request(DmabufdCollector *c, DmabufdCollectWaiter *waiter);
/* Whether a collection runs or is queued. */
bool dmabufd_collector_busy(DmabufdCollector *c);

/* Replaces the BPF handle and the no_bpf option the worker collects with, once
 * its collection in hand (if any) ends, and hands back the previous handle for
 * the caller to free. Blocks the caller that long: for reloads only. */
DmabufBpf *dmabufd_collector_swap_bpf(DmabufdCollector *c, DmabufBpf *bpf, bool no_bpf);
/* The cgroup depth the next collection rolls up to (config cgroup_depth). */
void dmabufd_collector_set_cgroup_depth(DmabufdCollector *c, unsigned depth);
