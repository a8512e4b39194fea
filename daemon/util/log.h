/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides logging. Under systemd, when stderr is the journal stream
 * systemd set up (JOURNAL_STREAM), entries go to the journal natively, with
 * PRIORITY, ERRNO, the code location and, for the events people search for, a
 * MESSAGE_ID. Otherwise lines go to stderr as "dmabufd: message". Library-style
 * modules (parsers, model) do not log above debug: they return -errno and let
 * the caller decide. */

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* `journalctl MESSAGE_ID=...` finds every entry of one kind; the catalog
 * (catalog/dmabufd.catalog) explains each. Never change one once released. */
#define DMABUFD_MESSAGE_SNAPSHOT_TAKEN "40232686d3ad4a329f084da5a6fe10e5"
#define DMABUFD_MESSAGE_SNAPSHOT_FAILED "370ffaa289ac4ccdb21616b01a2cc260"
#define DMABUFD_MESSAGE_KILL_SEEN "e9f0f5b4e4b64b9396109b0ac26f9af3"
#define DMABUFD_MESSAGE_SOURCE_LOST "0729edbed8ca45b8821e8246bb9755af"

/* Parses "debug", "info", "notice", "warning", "err"/"error", "crit", "alert",
 * "emerg" or a number 0..7. Returns the syslog level or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

void log_set_max_level(int level);
int log_get_max_level(void);

typedef enum LogTarget {
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

/* The journal when JOURNAL_STREAM ("DEV:INODE") names the file stderr is, as
 * systemd sets it for a service whose output goes to the journal; stderr
 * otherwise, so that output redirected elsewhere stays where it was sent. */
LogTarget log_target_from_environment(void);
void log_set_target(LogTarget target);

/* Logs at level and returns error (a negative errno, passed through so callers can
 * write `return log_error_errno(r, ...)`); "%m" in fmt expands to strerror(-error).
 * message_id may be NULL; fields is NULL or a NULL-terminated list of extra
 * journal fields, "DMABUFD_SNAPSHOT_ID=...", which stderr does not show. */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *message_id,
                 const char *const *fields, const char *fmt, ...) _printf_(8, 9);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, NULL, NULL, __VA_ARGS__)
/* An entry of one of the kinds above: log_struct(LOG_INFO, DMABUFD_MESSAGE_..., fields, fmt, ...). */
#define log_struct(level, message_id, fields, ...) \
        log_internal((level), 0, __FILE__, __LINE__, __func__, (message_id), (fields), __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)
