/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the reader of the BPF programs' record streams
 * (bpf-record.h): validation of a stream, and the buffers and holders it
 * describes fed to a DmabufBuilder. It is pure logic over byte buffers, so tests
 * feed it streams they wrote themselves; dmabuf-bpf-loader runs the programs. */

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "strbuf.h"

/* Checks that buf holds only whole records of kind, each with the right magic and
 * size and with lengths inside their fields. Returns the number of records, or
 * -EBADMSG with a description of the first fault (naming the record) in err. */
int dmabuf_bpf_records_check(const void *buf, size_t len, uint16_t kind, char *err, size_t err_size);

/* Adds every buffer of an iter/dmabuf stream. The stream must have passed
 * dmabuf_bpf_records_check(). */
int dmabuf_bpf_add_buffers(DmabufBuilder *b, const void *buf, size_t len);

/* Adds the processes and references of an iter/task_file stream and an
 * iter/task_vma stream (both checked). For a DRM fd of the fd stream the
 * client's statistics are read from /proc/<pid>/fdinfo/<fd>. A process's cgroup is read from
 * proc_fd (<root>/proc); a process that exited since the iterators ran keeps the
 * references it held then, without a cgroup. */
int dmabuf_bpf_add_holders(DmabufBuilder *b, int proc_fd, const void *fds, size_t fds_len, const void *vmas,
                           size_t vmas_len, StrBuf *scratch);
