/* SPDX-License-Identifier: MIT */
#pragma once

/* Time in microseconds. Intervals, cooldowns and rate limits are measured on
 * CLOCK_MONOTONIC, so a step of the wall clock neither silences nor repeats them;
 * CLOCK_REALTIME is only for timestamps a human reads. */

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)

usec_t now_usec(clockid_t clock);

/* "2026-12-06T08:36:11.123Z", as the state JSON writes collected_at (UTC, "Z";
 * a fraction of 1 to 9 digits is optional and kept to the microsecond).
 * Returns 0 or -EINVAL. */
int parse_timestamp_utc(const char *s, usec_t *ret);
