/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
#pragma once
/*
 * What dmabufd's two BPF objects share: the kernel types they read and the
 * helpers that fill a record. The kernel types are declared here, reduced to the
 * members read, with preserve_access_index: libbpf relocates each access against
 * the running kernel's BTF (CO-RE), so the build never needs the build host's
 * vmlinux BTF.
 */
#include <linux/types.h>
#include <linux/bpf.h> /* uapi: map types and helper numbers, not the kernel's types */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "bpf-record.h"

/* include/uapi/linux/magic.h: the superblock of every dma-buf file. An inode
 * number alone is not an identity: other filesystems reuse the same numbers. */
#define DMA_BUF_MAGIC 0x444d4142

#define __kernel_type __attribute__((preserve_access_index))

struct super_block {
        unsigned long s_magic;
} __kernel_type;

struct inode {
        unsigned short i_mode; /* umode_t */
        unsigned long i_ino;
        struct super_block *i_sb;
        __u32 i_rdev; /* dev_t */
} __kernel_type;

/* include/uapi/linux/major.h: DRM's character devices (/dev/dri/card*,
 * renderD*). include/drm/drm_accel.h: compute accelerators' (/dev/accel/accel*),
 * DRM devices too, whose fdinfo is drm_show_fdinfo()'s. The kernel's own dev_t
 * keeps the major above MINORBITS (20) bits. */
#define DRM_MAJOR 226
#define ACCEL_MAJOR 261
#define KERNEL_MINORBITS 20
#define MODE_TYPE_MASK 0170000 /* S_IFMT */
#define MODE_CHR 0020000       /* S_IFCHR */

struct file {
        const void *f_op;
        struct inode *f_inode;
        void *private_data;
} __kernel_type;

/* The file's reference count moved in 6.13 ("fs: add file_ref"): f_count held
 * the count itself, f_ref holds the count less one. Both flavours are declared;
 * CO-RE keeps the one the running kernel has. */
struct file___f_count {
        struct {
                long counter;
        } f_count;
} __kernel_type;

struct file___f_ref {
        struct {
                struct {
                        long counter;
                } refcnt;
        } f_ref;
} __kernel_type;

struct dma_buf {
        __kernel_size_t size;
        struct file *file;
        const char *exp_name;
        const char *name;
} __kernel_type;

struct kernfs_node {
        __u64 id;
} __kernel_type;

struct cgroup {
        struct kernfs_node *kn;
} __kernel_type;

struct css_set {
        struct cgroup *dfl_cgrp;
} __kernel_type;

struct fdtable {
        unsigned int max_fds;
        struct file **fd;
        unsigned long *open_fds;
} __kernel_type;

struct files_struct {
        struct fdtable *fdt;
} __kernel_type;

struct task_struct {
        int pid;
        int tgid;
        char comm[16];
        struct files_struct *files;
        struct css_set *cgroups;
} __kernel_type;

struct vm_area_struct {
        struct file *vm_file;
} __kernel_type;

struct bpf_iter_meta {
        struct seq_file *seq;
} __kernel_type;

struct bpf_iter__dmabuf {
        struct bpf_iter_meta *meta;
        struct dma_buf *dmabuf;
} __kernel_type;

struct bpf_iter__task {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
} __kernel_type;

struct bpf_iter__task_file {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
        __u32 fd;
        struct file *file;
} __kernel_type;

struct bpf_iter__task_vma {
        struct bpf_iter_meta *meta;
        struct task_struct *task;
        struct vm_area_struct *vma;
} __kernel_type;

static __always_inline __s64 file_refs(const struct file *file) {
        if (bpf_core_field_exists(((struct file___f_ref *) 0)->f_ref)) {
                const struct file___f_ref *f = (const void *) file;

                /* file_ref_t: 0 is one reference; at or past FILE_REF_RELEASED
                 * (the sign bit) the file is being freed. */
                long c = BPF_CORE_READ(f, f_ref.refcnt.counter);
                return c < 0 ? 0 : c + 1;
        }
        return BPF_CORE_READ((const struct file___f_count *) (const void *) file, f_count.counter);
}

/* Called for every fd and every mapping of every process, nearly all of them not
 * dma-bufs: plain loads through the BTF-typed pointers (the kernel turns a fault
 * into a zero) cost far less than a helper call each. */
static __always_inline int is_dmabuf(struct file *file) {
        struct inode *inode;
        struct super_block *sb;

        if (!file)
                return 0;
        inode = file->f_inode;
        if (!inode)
                return 0;
        sb = inode->i_sb;
        return sb && sb->s_magic == DMA_BUF_MAGIC;
}

/* A DRM or compute accelerator device file, whose fdinfo carries the client's
 * memory statistics: the daemon reads only those fdinfo files. The same plain
 * loads as is_dmabuf(). */
static __always_inline int is_drm(struct file *file) {
        struct inode *inode;
        __u32 major;

        if (!file)
                return 0;
        inode = file->f_inode;
        if (!inode)
                return 0;
        if ((inode->i_mode & MODE_TYPE_MASK) != MODE_CHR)
                return 0;
        major = inode->i_rdev >> KERNEL_MINORBITS;
        return major == DRM_MAJOR || major == ACCEL_MAJOR;
}

/* The cgroup v2 a process is in, by its kernfs id: the daemon reads the path from
 * /proc once per cgroup, not once per process. */
static __always_inline __u64 cgroup_id(struct task_struct *task) {
        return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

static __always_inline __s16 read_string(char *dst, __u32 dst_size, const char *src) {
        long n;

        if (!src)
                return DMABUF_BPF_LEN_NONE;
        /* No lock is held: the name can be replaced while it is read. A fault
         * makes the name unknown, never a crash, and the size bound keeps any
         * byte sequence inside the record. */
        n = bpf_probe_read_kernel_str(dst, dst_size, src);
        if (n <= 0)
                return DMABUF_BPF_LEN_UNREADABLE;
        return (__s16) (n - 1);
}

/* Fills in what the buffer itself says. The caller's iterator holds a reference
 * on the file, which the count leaves out, as fdinfo's count: does. */
static __always_inline void fill_buffer(struct dmabuf_bpf_record *rec, const struct dma_buf *dmabuf,
                                        const struct file *file) {
        rec->inode = BPF_CORE_READ(file, f_inode, i_ino);
        rec->size = BPF_CORE_READ(dmabuf, size);
        rec->count = file_refs(file) - 1;
        rec->name_len = read_string(rec->name, sizeof(rec->name), BPF_CORE_READ(dmabuf, name));
        rec->exporter_len = read_string(rec->exporter, sizeof(rec->exporter), BPF_CORE_READ(dmabuf, exp_name));
}

static __always_inline void init_record(struct dmabuf_bpf_record *rec, __u16 kind) {
        __builtin_memset(rec, 0, sizeof(*rec));
        rec->magic = DMABUF_BPF_RECORD_MAGIC;
        rec->kind = kind;
        rec->record_size = sizeof(*rec);
}

