/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the reading of a stored snapshot file back into the
 * model: the document is checked (syntax and schema by the store's streaming
 * validation, with byte offsets), parsed with json-c, and each of its states
 * rebuilt through the model's builder, so that `dump --snapshot` prints it with
 * the same code as a live collection. A figure the file gives as null stays
 * DMABUF_UNKNOWN. */

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "model.h"
#include "store.h"
#include "strbuf.h"

/* A file larger than this is refused rather than parsed: json-c holds the whole
 * document, several times its size. */
#define DMABUF_SNAPSHOT_READ_MAX (256U * 1024 * 1024)

typedef struct DmabufSnapshotFile {
        DmabufdSnapshotInfo info; /* id, taken_at, trigger kind, file size */
        json_object *trigger;     /* owned */
        bool partial;
        DmabufState *before; /* NULL: null in the file */
        DmabufState *state;  /* NULL: null in the file */
} DmabufSnapshotFile;

/* Reads the snapshot in fd; with only_pid > 0 its states list only that
 * process, as a live `dump PID` does (holders and pss still count all). Returns 0 and a file to free with
 * dmabuf_snapshot_file_free(), -EBADMSG when it is not a valid snapshot (err
 * says what and where: a byte offset, or the member at fault as in
 * state.buffers[3].size), -EFBIG above DMABUF_SNAPSHOT_READ_MAX, -ENOMEM, or
 * -errno of a read. Never logs. */
int dmabuf_snapshot_file_read(int fd, pid_t only_pid, DmabufSnapshotFile **ret, char *err, size_t err_len);

/* Rebuilds one state object (SPEC's `state`) through the builder, DRM clients
 * included. A stored "cgroups" must be what the builder derives at the depth its
 * paths show; one from a dmabufd before cgroups has none, and is derived at
 * depth 0. where names it in err ("state", "before"); only_pid as above.
 * Returns 0, -EBADMSG (err set) or -ENOMEM. */
int dmabuf_state_from_json(json_object *o, const char *where, pid_t only_pid, DmabufState **ret, char *err,
                           size_t err_len);

DmabufSnapshotFile *dmabuf_snapshot_file_free(DmabufSnapshotFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(DmabufSnapshotFile *, dmabuf_snapshot_file_free);

/* The trigger in a few lines for a terminal: the snapshot, its kind and time,
 * the victim and what `before` says it held, the kernel's (or the source's)
 * line, and which state follows. Control bytes in names are escaped. */
int dmabuf_snapshot_file_summary(StrBuf *sb, const DmabufSnapshotFile *f, bool before);
