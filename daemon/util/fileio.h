/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides file reading for kernel virtual files and strict integer
 * parsing. Readers take a directory fd and a relative name so every path can be
 * re-rooted under --root and tests can point at fixture trees. */

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* Reads all of dir_fd/name into sb (replacing its contents), following the rules
 * of procfs and sysfs files: their stat size is meaningless, reads may be short,
 * EINTR is retried. Fails with -EFBIG past max bytes. Other errors are -errno of
 * open/read: -ENOENT and -ESRCH mean the file (or its process) is gone. */
int read_file_at(int dir_fd, const char *name, size_t max, StrBuf *sb);

/* Opens dir_fd/name as a directory stream. Returns 0 or -errno (-ENOENT when it is
 * gone, as a process's fd directory is once it exits). */
int opendir_at(int dir_fd, const char *name, DIR **ret);

/* The next entry of d: 1 with *ret set, 0 at the end of the directory, or
 * -errno (readdir() alone does not tell an error from the end). */
int readdir_next(DIR *d, struct dirent **ret);

/* Parses exactly n bytes as an unsigned decimal number: no sign, no spaces, no
 * empty string. Leading zeros are decimal, never octal (bufinfo prints %08lu).
 * Returns 0, -EINVAL or -ERANGE. */
int safe_atou64_n(const char *s, size_t n, uint64_t *ret);
int safe_atou64(const char *s, uint64_t *ret);

/* Strips one trailing newline, as sysfs and comm files end with one. */
size_t strip_newline(const char *s, size_t n);

/* Writes what fd refers to (its /proc/self/fd link) into buf, for log lines that
 * must name a path the caller only holds as an fd. Returns 0 or -errno; buf then
 * holds "?". */
int fd_get_path(int fd, char *buf, size_t size);
