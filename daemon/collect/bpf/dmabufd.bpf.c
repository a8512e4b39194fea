/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * dmabufd's BPF iterator programs. Each writes fixed-size binary records
 * (dmabuf-bpf-record.h) into the iterator's seq_file; the daemon reads them from
 * bpf_iter_create() fds. Nothing else crosses into userspace: the kernel walks
 * every task's files and mappings itself and hands back only the dma-buf rows.
 *
 * The fd-table walk, which needs a 6.2 kfunc, is an object of its own
 * (dmabufd-fdtables.bpf.c), so that a kernel without it still loads these.
 */
#include "dmabufd-kernel.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Every buffer the kernel holds, 6.16 and later. */
SEC("iter/dmabuf")
int dmabufd_buffers(struct bpf_iter__dmabuf *ctx) {
        struct dma_buf *dmabuf = ctx->dmabuf;
        struct dmabuf_bpf_record rec;
        struct file *file;

        if (!dmabuf)
                return 0;
        file = BPF_CORE_READ(dmabuf, file);
        if (!file)
                return 0;
        init_record(&rec, DMABUF_BPF_RECORD_BUFFER);
        fill_buffer(&rec, dmabuf, file);
        bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
        return 0;
}

/* Every dma-buf fd of every process, 5.8 and later, and every DRM fd (whose
 * fdinfo the daemon reads). Threads share their leader's file table; only the
 * leader is reported, as /proc/<pid>/fd does. */
SEC("iter/task_file")
int dmabufd_fds(struct bpf_iter__task_file *ctx) {
        struct task_struct *task = ctx->task;
        struct file *file = ctx->file;
        struct dmabuf_bpf_record rec;
        struct dma_buf *dmabuf;

        if (!task || !file)
                return 0;
        if (task->pid != task->tgid)
                return 0;
        if (!is_dmabuf(file)) {
                if (!is_drm(file))
                        return 0;
                init_record(&rec, DMABUF_BPF_RECORD_DRM_FD);
                rec.tgid = BPF_CORE_READ(task, tgid);
                rec.cgroup_id = cgroup_id(task);
                bpf_core_read_str(rec.comm, sizeof(rec.comm), &task->comm);
                rec.fd = ctx->fd;
                rec.inode = BPF_CORE_READ(file, f_inode, i_ino);
                rec.name_len = DMABUF_BPF_LEN_NONE;
                rec.exporter_len = DMABUF_BPF_LEN_NONE;
                bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
                return 0;
        }
        dmabuf = BPF_CORE_READ(file, private_data);
        if (!dmabuf)
                return 0;
        init_record(&rec, DMABUF_BPF_RECORD_FD);
        rec.tgid = BPF_CORE_READ(task, tgid);
        rec.cgroup_id = cgroup_id(task);
        bpf_core_read_str(rec.comm, sizeof(rec.comm), &task->comm);
        rec.fd = ctx->fd;
        fill_buffer(&rec, dmabuf, file);
        bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
        return 0;
}

/* Every mapping of a dma-buf, 5.12 and later: gives a buffer that a process holds
 * only by mapping its exact size. */
SEC("iter/task_vma")
int dmabufd_vmas(struct bpf_iter__task_vma *ctx) {
        struct task_struct *task = ctx->task;
        struct vm_area_struct *vma = ctx->vma;
        struct dmabuf_bpf_record rec;
        struct dma_buf *dmabuf;
        struct file *file;

        if (!task || !vma)
                return 0;
        if (task->pid != task->tgid)
                return 0;
        file = vma->vm_file;
        if (!is_dmabuf(file))
                return 0;
        dmabuf = BPF_CORE_READ(file, private_data);
        if (!dmabuf)
                return 0;
        init_record(&rec, DMABUF_BPF_RECORD_VMA);
        rec.tgid = BPF_CORE_READ(task, tgid);
        rec.cgroup_id = cgroup_id(task);
        bpf_core_read_str(rec.comm, sizeof(rec.comm), &task->comm);
        fill_buffer(&rec, dmabuf, file);
        rec.count = -1; /* this iterator holds no reference on the file to leave out */
        bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
        return 0;
}

