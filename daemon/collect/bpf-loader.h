/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides dmabufd's BPF programs (daemon/bpf/dmabufd.bpf.c, embedded
 * in the binary as a libbpf skeleton): detection of what the running kernel
 * offers, loading, and running one iterator into a buffer. It does not parse the
 * records (dmabuf-bpf does) and logs nothing above debug: why the programs are
 * not in use is returned as text for the caller to log once. */

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

typedef enum DmabufBpfIter {
        DMABUF_BPF_ITER_BUFFERS, /* iter/dmabuf, 6.16+ */
        DMABUF_BPF_ITER_FDS,     /* the fd tables' walk (iter/task, 5.17+), else iter/task_file, 5.8+ */
        DMABUF_BPF_ITER_VMAS,    /* iter/task_vma, 5.12+ */
        _DMABUF_BPF_ITER_MAX,
} DmabufBpfIter;

const char *dmabuf_bpf_iter_to_string(DmabufBpfIter it);

typedef struct DmabufBpf DmabufBpf;

/* The program that runs the iterator: for DMABUF_BPF_ITER_FDS, "iter/task (fd
 * tables)" where the walk loaded, else as dmabuf_bpf_iter_to_string(). */
const char *dmabuf_bpf_iter_name(const DmabufBpf *bpf, DmabufBpfIter it);

/* Whether this build carries the programs (clang and bpftool were found). */
bool dmabuf_bpf_built(void);

/* Detects what the running kernel offers and loads the iterators it can run.
 * root_fd is the directory the daemon reads: the programs see the running kernel,
 * so anything but "/" (a --root tree) is refused. Returns 0 and a handle with
 * iter/dmabuf, or iter/task_file with iter/task_vma, or both; or -errno with the reason in reason: built without BPF,
 * a --root tree, lockdown, no kernel BTF, kernel too old, missing capabilities,
 * or the verifier's refusal. */
int dmabuf_bpf_load(int root_fd, DmabufBpf **ret, char *reason, size_t reason_size);
/* A handle that replays recorded streams instead of running the programs: the
 * files dmabuf.bin, task_file.bin and task_vma.bin in dir_fd, those present
 * standing for the iterators loaded. For tests and captured trees. Returns 0,
 * -ENOENT if there is none, or -errno. */
int dmabuf_bpf_open_recorded(int dir_fd, DmabufBpf **ret);
DmabufBpf *dmabuf_bpf_free(DmabufBpf *bpf);
void dmabuf_bpf_freep(DmabufBpf **bpf);

bool dmabuf_bpf_has(const DmabufBpf *bpf, DmabufBpfIter it);
/* "iter/dmabuf, iter/task_file, iter/task_vma": what was loaded. */
void dmabuf_bpf_describe(const DmabufBpf *bpf, char *buf, size_t size);

/* Runs one loaded iterator and reads its whole output into out (reset first).
 * Returns 0, -EOPNOTSUPP if it is not loaded, or -errno from the kernel. */
int dmabuf_bpf_run(DmabufBpf *bpf, DmabufBpfIter it, StrBuf *out);
