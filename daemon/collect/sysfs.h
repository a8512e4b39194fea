/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the sysfs source: /sys/kernel/dmabuf/buffers/<ino>/ with
 * exporter_name and size (CONFIG_DMABUF_SYSFS_STATS, 5.15 to 6.x), and the
 * per-attachment directories of the original posting where a patched kernel has
 * them. */

#include "model.h"
#include "strbuf.h"

/* Adds every buffer under sys_fd (a directory fd for <root>/sys) to b. Returns 0,
 * or -ENOENT when the kernel has no sysfs stats (the source is down). */
int dmabuf_sysfs_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch);
