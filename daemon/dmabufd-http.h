/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the HTTP API on libmicrohttpd, which runs it in a thread of
 * its own per listening socket. It never touches kernel files or the collector: it
 * serves whatever state the callbacks hand it, so a scrape never waits on a scan. */

#include <stdbool.h>
#include <stddef.h>

#include "dmabuf-model.h"
#include "dmabuf-prom.h"

typedef struct DmabufdHttpOps {
        /* A new reference to the latest state, or NULL before the first collection.
         * Called from HTTP threads. */
        DmabufState *(*get_state)(void *userdata);
        /* Whether the collection loop is alive. Called from HTTP threads. */
        bool (*alive)(void *userdata);
} DmabufdHttpOps;

typedef struct DmabufdHttp DmabufdHttp;

/* Serves on each of fds (listening sockets, taken over). Returns 0 or -errno. */
int dmabufd_http_start(const int *fds, size_t n_fds, const DmabufdHttpOps *ops, void *userdata,
                       const DmabufPromOptions *opts, DmabufdHttp **ret);
void dmabufd_http_set_options(DmabufdHttp *h, const DmabufPromOptions *opts);
DmabufdHttp *dmabufd_http_stop(DmabufdHttp *h);
