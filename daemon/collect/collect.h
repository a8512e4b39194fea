/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides one collection pass: it reads every available source under a
 * root directory and returns the resulting immutable state. */

#include "bpf-loader.h"
#include "model.h"

typedef struct DmabufCollectOptions {
        pid_t only_pid; /* list only this process (0: all); every process is still scanned */
        DmabufBpf *bpf; /* loaded programs, or NULL; used by one collection at a time */
        bool no_bpf;    /* config `bpf = off`: no BPF program and no pinned iterator is read */
        unsigned cgroup_depth; /* cgroups rolled up to this many path components (0: whole) */
} DmabufCollectOptions;

/* root_fd is an O_DIRECTORY fd for "/" or a --root tree. Returns 0 and a new state,
 * or -errno if the root itself is unusable. Missing sources, vanished processes and
 * malformed files are not errors: they show in the state's sources and scan stats. */
int dmabuf_collect(int root_fd, const DmabufCollectOptions *opts, DmabufState **ret);
