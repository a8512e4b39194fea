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
/* --format csv: the same three views as RFC 4180 tables with a header row, one
 * record per line ending in CRLF. Strings are always quoted (a name is chosen by
 * any process and may hold quotes, commas or newlines), numbers never; a figure
 * no source could give is an empty field, never 0.
 *   default: pid,comm,inode,name,exporter,size_bytes,pss_bytes,nr_procs,fds,maps
 *            (one record per process and buffer it holds)
 *   -a:      inode,size_bytes,exporter,name,count,fd_refs,map_refs,pid,comm,fds,maps
 *            (one record per buffer and holder; a buffer no process holds has
 *            one record with the holder fields empty)
 *   -b:      exporter,buffers,bytes (one record per exporter) */
int dmabuf_dump_processes_csv(StrBuf *sb, const DmabufState *s, pid_t only_pid);
int dmabuf_dump_buffer_table_csv(StrBuf *sb, const DmabufState *s, pid_t only_pid);
int dmabuf_dump_exporters_csv(StrBuf *sb, const DmabufState *s);
/* --by cgroup: rss, pss and process count per cgroup, largest pss first. */
int dmabuf_dump_cgroups(StrBuf *sb, const DmabufState *s);

/* The one-line summary for `systemctl status` (STATUS=). A figure no source could
 * give is said to be unknown, never printed as a number. */
int dmabuf_dump_status_line(StrBuf *sb, const DmabufState *s, uint64_t snapshots);
