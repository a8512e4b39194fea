/* SPDX-License-Identifier: MIT */
#pragma once

/* This module runs one external program at a time on the loop, never waiting
 * for it: posix_spawn (no copy of the daemon's memory), a session of its own
 * so that a timeout kills its whole process group, stdout and stderr on one
 * pipe logged line by line through an I/O source, and its exit seen through an
 * sd-event child source. The outcome is logged here, once; the caller counts
 * and decides what comes next. SIGCHLD must be blocked in every thread. */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

/* Longer output lines are logged in pieces of this many bytes. */
#define DMABUFD_RUNNER_LINE_MAX 512
/* Lines logged per run; the rest are counted and said once at the end. */
#define DMABUFD_RUNNER_LINES_MAX 200

typedef struct DmabufdRunner DmabufdRunner;

/* How a run ended: 0 success; > 0 its exit status, or 128 + the signal that
 * killed it; -ETIMEDOUT killed at the timeout; another -errno: it could not be
 * started. */
typedef void (*DmabufdRunnerDone)(DmabufdRunner *r, int result, void *userdata);

/* label names the runs in the log ("snapshot_exec"). Returns 0 or -ENOMEM. */
int dmabufd_runner_new(sd_event *event, const char *label, DmabufdRunnerDone done, void *userdata,
                       DmabufdRunner **ret);
/* Kills a run still going (its process group, SIGKILL) and reaps it. */
DmabufdRunner *dmabufd_runner_free(DmabufdRunner *r);

bool dmabufd_runner_busy(const DmabufdRunner *r);
/* Starts argv[0] (an absolute path) with the daemon's environment, less what
 * the service manager meant for the daemon alone, plus env (NULL-terminated
 * "NAME=value"; may be NULL). Returns 0, -EBUSY while a run goes on, or -errno
 * (logged) when it could not be started; done is called only after 0. */
int dmabufd_runner_start(DmabufdRunner *r, char *const *argv, char *const *env, uint64_t timeout_usec);
