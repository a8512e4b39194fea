/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides logging. Lines go to stderr as "dmabufd: message"; the
 * threshold is set once at start-up. Library-style modules (parsers, model) do not
 * log above debug: they return -errno and let the caller decide. */

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit", "alert",
 * "emerg" or a number 0..7. Returns the syslog level or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs at level and returns error (a negative errno, passed through so callers can
 * write `return log_error_errno(r, ...)`); "%m" in fmt expands to strerror(-error). */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

#define log_full_errno(level, error, ...) log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
