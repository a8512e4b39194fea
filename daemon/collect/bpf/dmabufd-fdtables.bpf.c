/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * dmabufd's walk of every process's fd table: a BPF object of its own, because
 * it calls bpf_rdonly_cast (6.2). Where the kernel lacks it, this object does not
 * load and dmabufd.bpf.c's iter/task_file does the same job; kept apart, the
 * failure cannot take the other programs with it.
 */
#include "dmabufd-kernel.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * Every dma-buf fd of every process (and every DRM fd, see walk_slot), walking
 * each process's fd table itself
 * (iter/task with bpf_loop). iter/task_file costs a callback, a reference taken
 * and dropped, and the seq_file's bookkeeping for each of the tens of thousands
 * of fds a machine has, nearly none of them dma-bufs. Here the table is read 64
 * slots at a time, skipping those with no open fd, and a file costs one load of
 * its f_op: the f_op of dma-buf files is learnt from the first file whose
 * superblock has DMA_BUF_MAGIC, and the few other f_ops a machine's files have
 * are remembered as not dma-bufs. A row is still only written for a file whose
 * superblock has the magic.
 *
 * Nothing pins the table while it is read, only RCU (the iterator runs the
 * program under rcu_read_lock, and tables and files are freed after a grace
 * period): a process that closes or opens fds meanwhile gives the state of some
 * moment of the walk, as a readdir of /proc/<pid>/fd does. All reads are
 * fault-safe.
 */
#define FD_CHUNK 64
#define OTHER_FOPS_MAX 16

struct fd_chunk {
        struct file *files[FD_CHUNK];
        unsigned long open; /* the chunk's word of open_fds */
        struct dmabuf_bpf_record rec;
};

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, struct fd_chunk);
} fd_chunks SEC(".maps");

/* Learnt as the programs run; a stale guess only costs a magic check. */
__u64 dmabuf_fops;
__u64 other_fops[OTHER_FOPS_MAX];
__u32 n_other_fops;

struct fd_walk {
        struct seq_file *seq;
        struct fd_chunk *chunk;
        struct file **fds;
        unsigned long *open_fds;
        __u32 base; /* the first fd of the chunk in hand */
        __u64 cgroup_id;
        __u32 tgid;
        char comm[DMABUF_BPF_COMM_MAX];
};

static __always_inline int fops_known_other(__u64 f_op) {
        __u32 n = n_other_fops;

        for (__u32 i = 0; i < OTHER_FOPS_MAX; i++) {
                if (i >= n)
                        break;
                if (other_fops[i] == f_op)
                        return 1;
        }
        return 0;
}

/* A generic cast (6.2 and later): the verifier turns it into a move, and loads
 * through the result into plain fault-safe loads, with no helper call each. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* 1 for a dma-buf, 0 for another file, -1 where it cannot be told (a load
 * faulted, which reads as zero). */
static __always_inline int file_has_dmabuf_magic(struct file *file) {
        struct inode *inode;
        struct super_block *sb;
        unsigned long magic;

        inode = file->f_inode;
        if (!inode)
                return -1;
        sb = inode->i_sb;
        if (!sb)
                return -1;
        magic = sb->s_magic;
        if (magic == 0)
                return -1;
        return magic == DMA_BUF_MAGIC;
}

static long walk_slot(__u32 slot, struct fd_walk *w) {
        struct fd_chunk *c = w->chunk;
        struct dmabuf_bpf_record *rec;
        struct dma_buf *dmabuf;
        struct file *file;
        __u32 fd;
        __u64 f_op;
        int k;

        if (!c || slot >= FD_CHUNK)
                return 1;
        /* The compiler would index with a copy of slot made before the check,
         * which the verifier then sees unbounded: mask it past a barrier. */
        barrier_var(slot);
        slot &= FD_CHUNK - 1;
        if (!(c->open >> slot))
                return 1; /* no open fd left in this chunk */
        if (!(c->open & (1UL << slot)))
                return 0;
        if (!c->files[slot])
                return 0; /* reserved by open() but not installed yet */
        fd = w->base + slot;
        file = bpf_rdonly_cast(c->files[slot], bpf_core_type_id_kernel(struct file));
        f_op = (__u64) file->f_op;
        if (!f_op)
                return 0;
        if (f_op != dmabuf_fops && fops_known_other(f_op))
                return 0;
        k = file_has_dmabuf_magic(file);
        if (k < 0)
                return 0;
        if (k == 0 && is_drm(file)) {
                /* A DRM device: reported for the daemon to read its fdinfo, and
                 * its f_op (a driver's) never remembered as "other", so that its
                 * next files are looked at too. A machine has few of them. */
                rec = &c->rec;
                init_record(rec, DMABUF_BPF_RECORD_DRM_FD);
                rec->tgid = w->tgid;
                rec->fd = fd;
                rec->cgroup_id = w->cgroup_id;
                __builtin_memcpy(rec->comm, w->comm, sizeof(rec->comm));
                rec->inode = file->f_inode->i_ino;
                rec->name_len = DMABUF_BPF_LEN_NONE;
                rec->exporter_len = DMABUF_BPF_LEN_NONE;
                if (rec->inode)
                        bpf_seq_write(w->seq, rec, sizeof(*rec));
                return 0;
        }
        if (k == 0) {
                __u32 n = n_other_fops;

                if (f_op != dmabuf_fops && n < OTHER_FOPS_MAX) {
                        other_fops[n & (OTHER_FOPS_MAX - 1)] = f_op;
                        n_other_fops = n + 1;
                }
                return 0;
        }
        dmabuf_fops = f_op;
        dmabuf = file->private_data;
        if (!dmabuf)
                return 0;

        rec = &c->rec;
        init_record(rec, DMABUF_BPF_RECORD_FD);
        rec->tgid = w->tgid;
        rec->fd = fd;
        rec->cgroup_id = w->cgroup_id;
        __builtin_memcpy(rec->comm, w->comm, sizeof(rec->comm));
        fill_buffer(rec, dmabuf, file);
        /* This walk takes no reference of its own on the file. */
        rec->count = file_refs(file);
        bpf_seq_write(w->seq, rec, sizeof(*rec));
        return 0;
}

/* One chunk of 64 slots: its word of open_fds, then, unless that is empty (as
 * most of a large, sparse table is), its file pointers. */
static long walk_chunk(__u32 chunk, struct fd_walk *w) {
        struct fd_chunk *c = w->chunk;

        if (!c)
                return 1;
        /* max_fds is a multiple of BITS_PER_LONG (64 on the 64-bit kernels the
         * records are laid out for): a chunk never runs past the table. */
        c->open = 0;
        if (bpf_probe_read_kernel(&c->open, sizeof(c->open), w->open_fds + chunk))
                return 1;
        if (!c->open)
                return 0;
        w->base = chunk * FD_CHUNK;
        if (bpf_probe_read_kernel(c->files, sizeof(c->files), w->fds + w->base))
                return 1;
        bpf_loop(FD_CHUNK, walk_slot, w, 0);
        return 0;
}

SEC("iter/task")
int dmabufd_fd_tables(struct bpf_iter__task *ctx) {
        struct task_struct *task = ctx->task;
        struct fd_walk w = {};
        struct fdtable *fdt;
        __u32 key = 0, max_fds;

        if (!task)
                return 0;
        if (task->pid != task->tgid)
                return 0;
        fdt = BPF_CORE_READ(task, files, fdt);
        if (!fdt)
                return 0;
        max_fds = BPF_CORE_READ(fdt, max_fds);
        w.fds = BPF_CORE_READ(fdt, fd);
        w.open_fds = BPF_CORE_READ(fdt, open_fds);
        if (!w.fds || !w.open_fds || max_fds == 0)
                return 0;
        w.chunk = bpf_map_lookup_elem(&fd_chunks, &key);
        if (!w.chunk)
                return 0;
        w.seq = ctx->meta->seq;
        w.tgid = task->tgid;
        w.cgroup_id = cgroup_id(task);
        bpf_core_read_str(w.comm, sizeof(w.comm), &task->comm);
        bpf_loop(max_fds / FD_CHUNK, walk_chunk, &w, 0);
        return 0;
}
