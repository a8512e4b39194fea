/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the daemon loop: sd-event with the collection timer and
 * signal handling, and the publication of each new state to the HTTP threads. */

#include <stddef.h>

#include "conf.h"
#include "listen.h"

typedef struct Manager Manager;

/* Builds the configuration afresh (file, then command-line flags) for SIGHUP.
 * Returns 0, or -errno with a one-line description in err. */
typedef int (*ManagerReloadFunc)(DmabufdConfig *ret, char *err, size_t err_len, void *userdata);

/* Takes root_fd and the listeners' fds. Does the first collection, so that once
 * it returns the HTTP API has something to serve. Returns 0 or -errno, logged. */
int manager_new(const DmabufdConfig *config, int root_fd, DmabufdListener *listeners, size_t n_listeners,
                ManagerReloadFunc reload, void *reload_userdata, Manager **ret);
/* Runs until SIGTERM or SIGINT. Returns 0 or -errno. */
int manager_run(Manager *m);
Manager *manager_free(Manager *m);
