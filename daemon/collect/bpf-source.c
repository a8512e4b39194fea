/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf-record.h"
#include "bpf-source.h"
#include "macro.h"
#include "procfs.h"

typedef struct dmabuf_bpf_record Record;

static const char *kind_to_string(uint16_t kind) {
        switch (kind) {
        case DMABUF_BPF_RECORD_BUFFER:
                return "buffer";
        case DMABUF_BPF_RECORD_FD:
                return "fd";
        case DMABUF_BPF_RECORD_VMA:
                return "vma";
        case DMABUF_BPF_RECORD_DRM_FD:
                return "drm fd";
        default:
                return "unknown";
        }
}

static bool length_ok(int16_t len, size_t field_size) {
        return len == DMABUF_BPF_LEN_NONE || len == DMABUF_BPF_LEN_UNREADABLE ||
               (len >= 0 && (size_t) len < field_size);
}

int dmabuf_bpf_records_check(const void *buf, size_t len, uint16_t kind, char *err, size_t err_size) {
        size_t n = len / sizeof(Record);

        if (len % sizeof(Record) != 0) {
                snprintf(err, err_size, "%s stream of %zu bytes is not a whole number of %zu-byte records",
                         kind_to_string(kind), len, sizeof(Record));
                return -EBADMSG;
        }
        for (size_t i = 0; i < n; i++) {
                Record r;

                /* The stream is a byte buffer: copy rather than cast, so the
                 * reader never depends on its alignment. */
                memcpy(&r, (const char *) buf + i * sizeof(Record), sizeof(r));
                if (r.magic != DMABUF_BPF_RECORD_MAGIC || r.record_size != sizeof(Record)) {
                        snprintf(err, err_size,
                                 "%s record %zu: magic 0x%08x size %u, expected 0x%08x size %zu (a program of another version?)",
                                 kind_to_string(kind), i, r.magic, r.record_size, DMABUF_BPF_RECORD_MAGIC,
                                 sizeof(Record));
                        return -EBADMSG;
                }
                /* The fd walks also report DRM fds, in the same stream. */
                if (r.kind != kind && !(kind == DMABUF_BPF_RECORD_FD && r.kind == DMABUF_BPF_RECORD_DRM_FD)) {
                        snprintf(err, err_size, "%s record %zu: kind %u", kind_to_string(kind), i, r.kind);
                        return -EBADMSG;
                }
                if (!length_ok(r.name_len, sizeof(r.name)) || !length_ok(r.exporter_len, sizeof(r.exporter)) ||
                    !memchr(r.comm, '\0', sizeof(r.comm))) {
                        snprintf(err, err_size, "%s record %zu (inode %llu): name length %d, exporter length %d",
                                 kind_to_string(kind), i, (unsigned long long) r.inode, r.name_len,
                                 r.exporter_len);
                        return -EBADMSG;
                }
                if (r.inode == 0 || (kind != DMABUF_BPF_RECORD_BUFFER && (r.tgid == 0 || r.tgid > INT32_MAX))) {
                        snprintf(err, err_size, "%s record %zu: inode %llu, pid %u", kind_to_string(kind), i,
                                 (unsigned long long) r.inode, r.tgid);
                        return -EBADMSG;
                }
        }
        return (int) MIN(n, (size_t) INT32_MAX);
}

/* The info borrows r's strings, so exporter is copied into the caller's buffer
 * to add its NUL. */
static DmabufBufferInfo record_to_info(const Record *r, char exporter[static DMABUF_BPF_EXPORTER_MAX + 1]) {
        DmabufBufferInfo info = {
                .inode = r->inode,
                .size = r->size,
                .count = r->count >= 0 ? (uint64_t) r->count : DMABUF_UNKNOWN,
        };

        if (r->exporter_len >= 0) {
                memcpy(exporter, r->exporter, (size_t) r->exporter_len);
                exporter[r->exporter_len] = '\0';
                info.exporter = exporter;
        }
        if (r->name_len >= 0) {
                info.name = r->name;
                info.name_len = (size_t) r->name_len;
                info.has_name = true;
        } else if (r->name_len == DMABUF_BPF_LEN_NONE)
                info.has_name = true; /* known to be unnamed */
        return info;
}

int dmabuf_bpf_add_buffers(DmabufBuilder *b, const void *buf, size_t len) {
        for (size_t i = 0; i < len / sizeof(Record); i++) {
                char exporter[DMABUF_BPF_EXPORTER_MAX + 1];
                DmabufBufferInfo info;
                Record r;
                int k;

                memcpy(&r, (const char *) buf + i * sizeof(Record), sizeof(r));
                info = record_to_info(&r, exporter);
                k = dmabuf_builder_add_buffer(b, DMABUF_SOURCE_BPF, &info);
                if (k < 0)
                        return k;
        }
        return 0;
}

typedef struct Row {
        uint32_t tgid;
        uint32_t seq; /* position in the merged streams: keeps the sort stable */
        const char *rec;
        bool is_map;
} Row;

static uint32_t row_tgid(const void *stream, size_t i) {
        uint32_t tgid;

        memcpy(&tgid, (const char *) stream + i * sizeof(Record) + offsetof(Record, tgid), sizeof(tgid));
        return tgid;
}

static bool stream_sorted(const void *stream, size_t n) {
        for (size_t i = 1; i < n; i++)
                if (row_tgid(stream, i - 1) > row_tgid(stream, i))
                        return false;
        return true;
}

static int cmp_row(const void *a, const void *b) {
        const Row *x = a, *y = b;

        if (x->tgid != y->tgid)
                return x->tgid < y->tgid ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Paths of the cgroups seen in this collection, by kernfs id: most processes
 * share their cgroup with others, and each path is read from /proc once. */
typedef struct CgroupPath {
        uint64_t id;
        char *path;
} CgroupPath;

typedef struct CgroupCache {
        CgroupPath *entries;
        size_t n, cap;
} CgroupCache;

static void cgroup_cache_done(CgroupCache *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->entries[i].path);
        free(c->entries);
}

static int add_process(DmabufBuilder *b, int proc_fd, const Record *r, CgroupCache *cache, StrBuf *scratch) {
        char cgroup[4096];
        const char *path = NULL;
        CgroupPath *e = NULL;
        int k;

        for (size_t i = 0; r->cgroup_id != 0 && i < cache->n; i++)
                if (cache->entries[i].id == r->cgroup_id) {
                        e = &cache->entries[i];
                        break;
                }
        if (e)
                path = e->path;
        else {
                k = dmabuf_procfs_read_cgroup(proc_fd, (pid_t) r->tgid, scratch, cgroup, sizeof(cgroup));
                if (k == -ENOMEM)
                        return k;
                path = k >= 0 ? cgroup : NULL;
                /* Only a path read is kept: a process that exited, or one whose
                 * file could not be read, says nothing of the others in its cgroup. */
                if (r->cgroup_id != 0 && k >= 0) {
                        if (cache->n == cache->cap) {
                                size_t cap = cache->cap ? cache->cap * 2 : 16;
                                CgroupPath *p = realloc(cache->entries, cap * sizeof(*p));
                                if (!p)
                                        return -ENOMEM;
                                cache->entries = p;
                                cache->cap = cap;
                        }
                        e = &cache->entries[cache->n];
                        *e = (CgroupPath){ .id = r->cgroup_id, .path = strdup(path) };
                        if (!e->path)
                                return -ENOMEM;
                        cache->n++;
                }
        }
        /* comm is NUL-terminated: the check made sure. */
        return dmabuf_builder_add_process(b, (pid_t) r->tgid, r->comm, path, 0);
}

int dmabuf_bpf_add_holders(DmabufBuilder *b, int proc_fd, const void *fds, size_t fds_len, const void *vmas,
                           size_t vmas_len, StrBuf *scratch) {
        size_t n_fds = fds_len / sizeof(Record), n_vmas = vmas_len / sizeof(Record), n = n_fds + n_vmas;
        _cleanup_(cgroup_cache_done) CgroupCache cache = {};
        _cleanup_free_ Row *rows = NULL;
        uint32_t current = 0;
        bool sorted;

        if (n == 0)
                return 0;
        rows = malloc(n * sizeof(Row));
        if (!rows)
                return -ENOMEM;
        /* The builder takes a process's references right after the process, so the
         * two streams are merged by process first. The kernel walks tasks in PID
         * order, so each stream normally comes sorted and a linear merge does;
         * a stream that is not (a PID wrapped mid-walk) is sorted whole. */
        sorted = stream_sorted(fds, n_fds) && stream_sorted(vmas, n_vmas);
        for (size_t i = 0, f = 0, v = 0; i < n; i++) {
                size_t pick;

                if (!sorted)
                        pick = i;
                else if (v >= n_vmas || (f < n_fds && row_tgid(fds, f) <= row_tgid(vmas, v)))
                        pick = f++;
                else
                        pick = n_fds + v++;
                /* seq is the row's place in the two streams end to end: a process's
                 * fds come before its mappings, each in the kernel's order. */
                rows[i] = pick < n_fds ? (Row){ .tgid = row_tgid(fds, pick),
                                                .seq = (uint32_t) pick,
                                                .rec = (const char *) fds + pick * sizeof(Record) }
                                       : (Row){ .tgid = row_tgid(vmas, pick - n_fds),
                                                .seq = (uint32_t) pick,
                                                .rec = (const char *) vmas + (pick - n_fds) * sizeof(Record),
                                                .is_map = true };
        }
        if (!sorted)
                qsort(rows, n, sizeof(Row), cmp_row);

        for (size_t i = 0; i < n; i++) {
                char exporter[DMABUF_BPF_EXPORTER_MAX + 1];
                DmabufBufferInfo info;
                Record r;
                int k;

                memcpy(&r, rows[i].rec, sizeof(r));
                if (r.tgid != current) {
                        k = add_process(b, proc_fd, &r, &cache, scratch);
                        if (k < 0)
                                return k;
                        current = r.tgid;
                }
                if (r.kind == DMABUF_BPF_RECORD_DRM_FD) {
                        /* Only the driver prints its statistics: the one file of
                         * the fd that the kernel said is a DRM device. */
                        k = dmabuf_procfs_scan_drm_fd(proc_fd, (pid_t) r.tgid, (int) MIN(r.fd, (uint32_t) INT32_MAX), b,
                                                      scratch);
                        if (k == -ENOMEM)
                                return k;
                        if (k == -ENOENT || k == -ESRCH)
                                dmabuf_builder_count(b, DMABUF_SCAN_FDS_VANISHED);
                        else if (k < 0)
                                dmabuf_builder_count(b, DMABUF_SCAN_UNREADABLE);
                        continue;
                }
                /* The kernel's own struct says more than fdinfo or maps would:
                 * a mapping's row carries its buffer's exact size too. */
                info = record_to_info(&r, exporter);
                k = dmabuf_builder_add_buffer(b, DMABUF_SOURCE_BPF, &info);
                if (k < 0)
                        return k;
                k = rows[i].is_map ? dmabuf_builder_add_map_ref(b, (pid_t) r.tgid, &info)
                                   : dmabuf_builder_add_fd_ref(b, (pid_t) r.tgid, &info);
                if (k < 0)
                        return k;
        }
        return 0;
}
