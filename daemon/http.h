/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the HTTP API on libmicrohttpd, which runs it in a thread of
 * its own per listening socket. It never touches kernel files or the collector: it
 * serves whatever state the callbacks hand it, so a scrape never waits on a scan. */

#include <stdbool.h>
#include <stddef.h>

#include "history.h"
#include "model.h"
#include "prom.h"
#include "store.h"

/* A POST /api/v1/snapshots waiting for the daemon thread. Its connection is
 * suspended meanwhile, so the HTTP thread goes on serving scrapes. */
typedef struct DmabufdSnapshotRequest DmabufdSnapshotRequest;
struct DmabufdSnapshotRequest {
        char origin[80]; /* "http ADDRESS" */
        /* Set by the daemon thread before dmabufd_http_snapshot_done(). */
        int result;               /* 0, -EBUSY inside the cooldown, or -errno */
        uint64_t retry_after_sec; /* with -EBUSY */
        DmabufdSnapshotInfo info; /* with 0 */
        /* The daemon thread's queue. */
        DmabufdSnapshotRequest *next;
        /* The HTTP module's own. */
        void *connection;
        bool done;
};

typedef struct DmabufdHttpOps {
        /* A new reference to the latest state, or NULL before the first collection.
         * Called from HTTP threads. */
        DmabufState *(*get_state)(void *userdata);
        /* Appends the history's JSON for q. Returns 0 or -ENOMEM. Called from
         * HTTP threads. */
        int (*write_history)(void *userdata, const DmabufHistoryQuery *q, StrBuf *sb);
        /* Whether the collection loop is alive. Called from HTTP threads. */
        bool (*alive)(void *userdata);
        /* The figures that change between collections. Called from HTTP threads. */
        void (*get_live)(void *userdata, DmabufPromLive *ret);
        /* Hands a snapshot request to the daemon thread, which completes it with
         * dmabufd_http_snapshot_done(). Returns 0, or -errno if it was not taken. */
        int (*request_snapshot)(void *userdata, DmabufdSnapshotRequest *req);
} DmabufdHttpOps;

typedef struct DmabufdHttpSettings {
        DmabufPromOptions prom;
        bool snapshot_post_any; /* POST from any address, not only loopback */
} DmabufdHttpSettings;

/* libmicrohttpd's limits, per listening socket, fixed when it starts. */
typedef struct DmabufdHttpLimits {
        unsigned max_connections;
        unsigned max_connections_per_address;
        unsigned timeout_sec; /* a connection idle this long is closed */
} DmabufdHttpLimits;

typedef struct DmabufdHttp DmabufdHttp;

/* Serves on each of fds (listening sockets, taken over). store may be NULL when
 * the state directory is unusable: the snapshot list is then empty. Returns 0
 * or -errno. */
int dmabufd_http_start(const int *fds, size_t n_fds, const DmabufdHttpOps *ops, void *userdata,
                       DmabufdSnapshotStore *store, const DmabufdHttpSettings *settings,
                       const DmabufdHttpLimits *limits, DmabufdHttp **ret);
void dmabufd_http_set_settings(DmabufdHttp *h, const DmabufdHttpSettings *settings);
/* Completes a request from dmabufd_http_start's request_snapshot: its
 * connection resumes and answers. Any thread. */
void dmabufd_http_snapshot_done(DmabufdSnapshotRequest *req);
DmabufdHttp *dmabufd_http_stop(DmabufdHttp *h);
