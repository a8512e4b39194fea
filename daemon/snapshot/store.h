/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the snapshot store: snapshot JSON files under the state
 * directory, written atomically, bounded by count and bytes (oldest go first),
 * validated by a streaming JSON scanner (json-scan.h) when the store is opened,
 * and handed out by fd for serving. Files are named "<id>.json"; anything else in the directory that
 * is not a snapshot is never listed or served. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

#define DMABUFD_SNAPSHOT_SCHEMA "dmabufd.snapshot/1"
#define DMABUFD_SNAPSHOT_ID_MAX 64 /* with the NUL */

typedef struct DmabufdSnapshotInfo {
        char id[DMABUFD_SNAPSHOT_ID_MAX];
        char taken_at[40]; /* RFC3339, as in the file */
        char kind[16];     /* trigger kind */
        uint64_t bytes;    /* file size */
} DmabufdSnapshotInfo;

/* 0 means no limit. */
typedef struct DmabufdSnapshotLimits {
        uint64_t max_count;
        uint64_t max_bytes;
} DmabufdSnapshotLimits;

typedef struct DmabufdSnapshotStore DmabufdSnapshotStore;

/* [A-Za-z0-9._-], 1..63 characters, not starting with '.', no "..": such an id
 * can only ever name a file inside the store. */
bool dmabufd_snapshot_id_is_valid(const char *id);

/* Validates a snapshot file by streaming it through a JSON scanner in 64 KiB
 * chunks (memory does not grow with the file): one JSON object whose "schema" is
 * DMABUFD_SNAPSHOT_SCHEMA, "id" a valid id equal to expected_id (when not NULL),
 * "taken_at" an RFC3339 time, "trigger" an object whose "kind" is one of the
 * event kinds; no trailing data. Reads with pread from offset 0. Returns 0 and
 * fills *ret (bytes = the file size), -EBADMSG for a file that is not a valid
 * snapshot (err says what and where), or -errno for I/O errors. Never logs above
 * debug. */
int dmabufd_snapshot_file_validate(int fd, const char *expected_id, DmabufdSnapshotInfo *ret, char *err,
                                   size_t err_len);

/* Opens dir (creating its last component, mode 0750, when missing), removes temp
 * files an interrupted write left behind, validates every <id>.json (an invalid
 * one gets one warning naming the file and the fault, stays on disk, and is
 * neither listed nor counted), then applies the limits (NULL: none). */
int dmabufd_snapshot_store_open(const char *dir, const DmabufdSnapshotLimits *limits, DmabufdSnapshotStore **ret);

/* New limits (SIGHUP); retention runs at once. */
void dmabufd_snapshot_store_set_limits(DmabufdSnapshotStore *s, const DmabufdSnapshotLimits *limits);

/* Writes the snapshot's JSON to f; returns 0 or -errno. Write errors on f need not
 * be checked: the store checks the stream afterwards. */
typedef int (*DmabufdSnapshotWriteFunc)(FILE *f, void *userdata);

/* Writes a new snapshot through write_func() into a temp file, checks the stream,
 * fsyncs, renames it to <id>.json without replacing anything, fsyncs the
 * directory, indexes it under id, taken_at and kind and applies retention, which
 * never removes this one. What write_func() wrote is not read back: it must be a
 * snapshot with this schema, id, taken_at and trigger.kind, or the next start-up
 * will not list it. Nothing is deleted to make room beforehand. On failure
 * nothing stored changes, the temp file is gone, the failure is logged and -errno
 * returned: -ENOSPC when the disk is full, -EEXIST when <id>.json exists, -EINVAL
 * for a bad id, time or kind, or what write_func() returned. Main thread only. */
int dmabufd_snapshot_store_add(DmabufdSnapshotStore *s, const char *id, const char *taken_at, const char *kind,
                               DmabufdSnapshotWriteFunc write_func, void *userdata, DmabufdSnapshotInfo *ret);

/* Replaces the stored snapshot id with a fuller one written the same way (temp
 * file, fsync; the same id, taken_at and kind, not read back), renamed over
 * it, then the directory fsynced and retention applied. A snapshot can so be on
 * disk moments after its event and completed once the slow part is done. On
 * failure the stored one stays as it was and -errno is returned (logged);
 * -ENOENT when id is not stored. Main thread only. */
int dmabufd_snapshot_store_complete(DmabufdSnapshotStore *s, const char *id, DmabufdSnapshotWriteFunc write_func,
                                    void *userdata, DmabufdSnapshotInfo *ret);

/* A malloc'd copy of the index, newest first (taken_at descending, then id
 * descending); NULL and 0 when empty. Thread-safe. */
int dmabufd_snapshot_store_list(DmabufdSnapshotStore *s, DmabufdSnapshotInfo **ret, size_t *ret_n);

/* Opens a listed snapshot for serving. -EINVAL for an invalid id, before any file
 * system access; -ENOENT when it is not listed, or when the file is no longer the
 * one validated, a regular file of the listed size (a warning, and it is dropped
 * from the list; the file stays).
 * Returns 0 with a read-only fd the caller closes, and its size. Thread-safe. */
int dmabufd_snapshot_store_open_snapshot(DmabufdSnapshotStore *s, const char *id, int *ret_fd, uint64_t *ret_size);

DmabufdSnapshotStore *dmabufd_snapshot_store_free(DmabufdSnapshotStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(DmabufdSnapshotStore *, dmabufd_snapshot_store_free);
