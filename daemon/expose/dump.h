/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the human tables of `dmabufd dump`, laid out like Android's
 * dmabuf_dump so engineers can compare the two. Output goes into a buffer. */

#include <stdint.h>
#include <sys/types.h>

#include "model.h"
#include "strbuf.h"

/* Default: per process, its buffers with rss, pss and holder count, then totals. */
int dmabuf_dump_processes(StrBuf *sb, const DmabufState *s, pid_t only_pid);
/* -a: one row per buffer, one column per process, fd and map ref counts. */
int dmabuf_dump_buffer_table(StrBuf *sb, const DmabufState *s, pid_t only_pid);
/* -b: per-buffer and per-exporter totals. */
int dmabuf_dump_buffer_totals(StrBuf *sb, const DmabufState *s);
/* --by cgroup: rss, pss and process count per cgroup, largest pss first. */
int dmabuf_dump_cgroups(StrBuf *sb, const DmabufState *s);

/* The one-line summary for `systemctl status` (STATUS=). A figure no source could
 * give is said to be unknown, never printed as a number. */
int dmabuf_dump_status_line(StrBuf *sb, const DmabufState *s, uint64_t snapshots);
