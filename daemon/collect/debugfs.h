/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the debugfs source: a parser for
 * /sys/kernel/debug/dma_buf/bufinfo as kernels 5.3 to 7.x print it (rows with
 * size, flags, mode, count, exp_name, ino and name; fence lines; the Attached
 * Devices list; the closing "Total N objects, M bytes"), and the reader that feeds
 * a DmabufBuilder with it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "strbuf.h"

typedef struct DmabufBufinfoCallbacks {
        /* One buffer row; info->name is unnamed (has_name, len 0) for "<none>" and "". */
        int (*row)(const DmabufBufferInfo *info, void *userdata);
        /* One attached device of the buffer of the last row. */
        int (*device)(uint64_t inode, const char *device, void *userdata);
} DmabufBufinfoCallbacks;

typedef struct DmabufBufinfoSummary {
        uint64_t rows;
        uint64_t total_objects; /* from the closing line; DMABUF_UNKNOWN if absent */
        uint64_t total_bytes;
        unsigned malformed;     /* lines that fit no known form */
        unsigned first_malformed_line; /* 1-based, 0 if none */
} DmabufBufinfoSummary;

/* Parses a whole bufinfo file. Malformed lines are skipped and counted, never
 * fatal. A negative return from a callback stops the parse and is returned. */
int dmabuf_bufinfo_parse(const char *buf, size_t len, const DmabufBufinfoCallbacks *cb, void *userdata,
                         DmabufBufinfoSummary *ret);

/* Reads <sys_fd>/kernel/debug/dma_buf/bufinfo into b. Returns 0, or -errno when it
 * cannot be read (debugfs not mounted or not readable: the source is down). */
int dmabuf_debugfs_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch);
