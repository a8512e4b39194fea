/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the kernel-log parsers: /dev/kmsg records, and the kill
 * reports of the OOM killer (global and memcg) and of the old staging
 * lowmemorykiller. Pure functions over buffers; the reader lives elsewhere. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct DmabufKmsgRecord {
        int level;    /* syslog level, 0..7 */
        int facility;
        uint64_t seq;
        uint64_t ts_usec; /* since boot */
        char flag;        /* '-', or 'c'/'+' for continuation fragments (old kernels) */
        const char *message; /* escaped as /dev/kmsg prints it; points into the buffer */
        size_t message_len;
} DmabufKmsgRecord;

/* Parses one record: "PRI,SEQ,TS,FLAGS[,...];MESSAGE" and then, on lines that
 * begin with a space, device properties, which are ignored. Returns 0 or -EBADMSG. */
int dmabuf_kmsg_record_parse(const char *buf, size_t len, DmabufKmsgRecord *ret);

/* /dev/kmsg hands out one record per read; a FIFO standing in for it (tests,
 * --root trees) is a byte stream. The splitter cuts either into records: a line
 * that does not begin with a space starts a record, lines that do continue it.
 * A record is complete when the next one starts or at a flush, which the reader
 * does when a read would block: whoever writes a FIFO writes whole records. */
#define DMABUF_KMSG_RECORD_MAX 16384

typedef struct DmabufKmsgSplitter {
        char record[DMABUF_KMSG_RECORD_MAX]; /* complete lines of the pending record */
        size_t record_len;
        char partial[DMABUF_KMSG_RECORD_MAX]; /* a line still waiting for its newline */
        size_t partial_len;
        bool discarding; /* inside a line too long to keep, until its newline */
        uint64_t overlong; /* lines dropped for being longer than DMABUF_KMSG_RECORD_MAX */
} DmabufKmsgSplitter;

/* Called with each complete record (its lines, newline-terminated). */
typedef void (*DmabufKmsgRecordFunc)(const char *record, size_t len, void *userdata);

void dmabuf_kmsg_splitter_feed(DmabufKmsgSplitter *s, const char *data, size_t len, DmabufKmsgRecordFunc f,
                               void *userdata);
void dmabuf_kmsg_splitter_flush(DmabufKmsgSplitter *s, DmabufKmsgRecordFunc f, void *userdata);

/* Undoes /dev/kmsg's "\xNN" escaping into out (NUL-terminated, cut at out_size).
 * Returns the unescaped length. */
size_t dmabuf_kmsg_unescape(const char *s, size_t len, char *out, size_t out_size);

typedef enum DmabufKillKind {
        DMABUF_KILL_OOM,       /* global OOM killer */
        DMABUF_KILL_MEMCG_OOM, /* OOM killer inside a memory cgroup over its limit */
        DMABUF_KILL_LMK,       /* staging lowmemorykiller */
} DmabufKillKind;

#define DMABUF_KILL_UNKNOWN UINT64_MAX

typedef struct DmabufKill {
        DmabufKillKind kind;
        pid_t pid;
        char comm[64];
        bool has_oom_score_adj;
        int oom_score_adj;
        uint64_t uid;           /* DMABUF_KILL_UNKNOWN when the line has none */
        uint64_t total_vm_kb, anon_rss_kb, file_rss_kb, shmem_rss_kb, pgtables_kb;
        char constraint[32];    /* "CONSTRAINT_NONE", "CONSTRAINT_MEMCG", ...; "" if unknown */
        char task_memcg[256];
        char oom_memcg[256];
        bool global_oom;
        char line[1024]; /* the kernel's own lines, unescaped, newline-separated */
} DmabufKill;

/* Pairs an OOM report's "oom-kill:" summary with the "Killed process" line that
 * follows it, so the kill carries both. */
typedef struct DmabufKillTracker {
        bool have_summary;
        DmabufKill summary;
} DmabufKillTracker;

/* Feeds one unescaped message. Only records of facility 0 (the kernel's own) may
 * be fed: any root process can write to /dev/kmsg, and a forged "Killed process"
 * line must not take a snapshot that names the wrong victim. Returns 1 and fills *ret when it completes a kill,
 * 0 when it is not (or not yet) one, -EBADMSG when it looks like a kill report but
 * does not parse. */
int dmabuf_kill_tracker_feed(DmabufKillTracker *t, const char *msg, size_t len, DmabufKill *ret);
