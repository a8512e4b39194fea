/* SPDX-License-Identifier: MIT */
#pragma once

/* This module generates a synthetic but kernel-faithful root tree for the benchmark:
 * what /proc and sysfs of a 6.1 kernel show for a system with many processes holding
 * DMA-BUF fds and mappings. Everything is derived from a fixed seed, so the same
 * parameters always give the same tree, and the generator also returns the figures a
 * correct collector must arrive at. */

#include <stdint.h>

typedef struct BenchTreeParams {
        unsigned procs;           /* processes (default 2000) */
        unsigned fds_per_proc;    /* open fds per process (default 200) */
        unsigned dmabuf_permille; /* fds that are dma-bufs, in 1/1000 (default 100 = 10%) */
        unsigned buffers;         /* distinct buffers the fds and maps draw on; 0: dma-buf fds / 2 */
        unsigned kernel_only;     /* extra buffers present in sysfs only; UINT32_MAX: buffers / 20 */
        unsigned dmabuf_maps;     /* dma-buf mapping lines per process (default 4, half map-only) */
        unsigned ordinary_maps;   /* other lines in each maps file (default 30) */
        uint64_t seed;
} BenchTreeParams;

typedef struct BenchTreeStats {
        uint64_t procs;
        uint64_t procs_with_dmabuf; /* processes with a dma-buf fd or mapping */
        uint64_t fds;               /* every fd link */
        uint64_t dmabuf_fds;
        uint64_t dmabuf_maps;       /* dma-buf mapping lines */
        uint64_t map_only_refs;     /* (process, buffer) pairs held by mapping only */
        uint64_t buffers;           /* buffers in sysfs, kernel-only ones included */
        uint64_t shared_buffers;    /* buffers referenced by two processes or more */
        uint64_t userspace_buffers; /* buffers referenced by any process */
        uint64_t bytes;             /* sum of every buffer's size */
        uint64_t userspace_bytes;   /* sum of the sizes of buffers any process references */
        uint64_t files;             /* files, symlinks and directories written */
} BenchTreeStats;

void bench_tree_params_default(BenchTreeParams *p);

/* Writes the tree under dir_fd (an empty directory): proc/... and sys/..., plus a
 * marker file naming the parameters and the expected figures, written last so that a
 * half-written tree is never mistaken for a complete one. Returns 0 or -errno. */
int bench_tree_generate(int dir_fd, const BenchTreeParams *p, BenchTreeStats *ret);

/* Reads the marker of a complete tree under dir_fd. Returns 0, -ENOENT if there is
 * none (the tree is incomplete or absent), or another -errno. */
int bench_tree_read_marker(int dir_fd, BenchTreeParams *ret_params, BenchTreeStats *ret_stats);

/* Removes name under parent_fd recursively (the tree is at most a few levels deep).
 * Returns 0 or -errno of the first failure; carries on past failures. */
int bench_tree_remove(int parent_fd, const char *name);
