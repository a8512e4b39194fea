/* SPDX-License-Identifier: MIT */
#pragma once

/* The binary record that dmabufd's BPF iterator programs write and the daemon
 * reads: one fixed-size struct per row, shared by both sides so that their layouts
 * cannot drift apart. A stream is a whole number of records; each one carries the
 * magic and its own size, so a program built from another version of this header
 * is told apart from a kernel that truncated a read. Only fixed-width types: the
 * BPF side is compiled with -target bpf, the reader with the host compiler. */

#include <linux/types.h>

#define DMABUF_BPF_RECORD_MAGIC 0x31524244U /* "DBR1", little-endian */

/* DMA_BUF_NAME_LEN: the kernel keeps at most 31 bytes and a NUL. */
#define DMABUF_BPF_NAME_MAX 32
/* An exporter's name is a string constant of its driver ("system", "i915"). */
#define DMABUF_BPF_EXPORTER_MAX 64
/* TASK_COMM_LEN */
#define DMABUF_BPF_COMM_MAX 16

enum {
        DMABUF_BPF_RECORD_BUFFER = 1, /* iter/dmabuf: one per buffer */
        DMABUF_BPF_RECORD_FD = 2,     /* iter/task_file: one per dma-buf fd of a process */
        DMABUF_BPF_RECORD_VMA = 3,    /* iter/task_vma: one per mapping of a dma-buf */
        /* In the fd stream: one per DRM fd of a process (a character device of
         * major 226, or of 261 for a compute accelerator, which is a DRM device
         * too), whose fdinfo the daemon then reads for the client's memory
         * statistics. tgid, fd, comm, cgroup_id and inode (the device node's) only. */
        DMABUF_BPF_RECORD_DRM_FD = 4,
};

/* name_len and exporter_len, where they are not a length. */
#define DMABUF_BPF_LEN_NONE (-1)       /* no name was ever set */
#define DMABUF_BPF_LEN_UNREADABLE (-2) /* the kernel's pointer faulted while read */

struct dmabuf_bpf_record {
        __u32 magic;
        __u16 kind;
        __u16 record_size; /* sizeof(struct dmabuf_bpf_record) of the writer */
        __u32 tgid;        /* FD, VMA: the process (thread group) */
        __u32 fd;          /* FD */
        __u64 inode;       /* the buffer's identity */
        __u64 size;        /* bytes */
        __s64 count;       /* BUFFER, FD: the file's references, less the iterator's own; VMA: -1 */
        __u64 cgroup_id;   /* FD, VMA: the process's cgroup v2 (kernfs id), 0 if unknown */
        __s16 name_len;    /* bytes in name, without NUL; or DMABUF_BPF_LEN_* */
        __s16 exporter_len;
        __u32 reserved;
        char name[DMABUF_BPF_NAME_MAX];
        char exporter[DMABUF_BPF_EXPORTER_MAX];
        char comm[DMABUF_BPF_COMM_MAX]; /* FD, VMA: the process's comm, NUL-terminated */
};
