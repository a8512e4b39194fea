/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the reader of Android's pinned dmabuf iterator,
 * /sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf: a BPF iter/dmabuf program that
 * Android's bpfloader pins there (system/bpfprogs/dmabufIter.c), read the way
 * libdmabufinfo's GetDmabufBPFStats reads it. Reading the file runs the program
 * once over every buffer in the system and needs no privilege to load anything.
 *
 * The text has no header. Each buffer is four lines, printed with
 * BPF_SEQ_PRINTF(seq, "%lu\n%llu\n%s\n%s\n", inode, size, name, exporter):
 *   inode     decimal
 *   size      decimal, bytes
 *   name      the buffer's name, empty when unnamed; the program turns each
 *             newline in it into a space, and prints every other byte raw
 *   exporter  the exporter's name, never empty
 * A name with a newline therefore reads back with a space; the format has no way
 * to tell them apart. A program that printed the newline raw would shift every
 * later line: that shows as a malformed stream (a number that is not one, an
 * empty exporter, a count of lines that is not a multiple of four), which is
 * rejected whole. */

#include <stddef.h>

#include "model.h"
#include "strbuf.h"

/* Relative to the <root>/sys directory fd; as the kernel shows it, for messages. */
#define DMABUF_BPF_PINNED_FILE "fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf"
#define DMABUF_BPF_PINNED_PATH "/sys/" DMABUF_BPF_PINNED_FILE

/* Parses the iterator's text and adds every buffer to b as DMABUF_SOURCE_BPF. The
 * whole stream is checked before anything is added, so a malformed one adds
 * nothing: it counts one bpf parse error naming the record and line at fault, and
 * returns -EBADMSG. An empty stream is valid: a system without buffers. Returns 0,
 * -EBADMSG or -ENOMEM. */
int dmabuf_bpf_pinned_parse(const char *buf, size_t len, DmabufBuilder *b);

/* Reads the pinned iterator under sys_fd (a directory fd for <root>/sys) and feeds
 * b. Returns 0 when every buffer was added (the caller then marks the bpf source
 * up and as listing every buffer), -ENOENT when there is no such file, -EBADMSG
 * when the stream is malformed (counted, nothing added), or another -errno of
 * open/read. */
int dmabuf_bpf_pinned_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch);
