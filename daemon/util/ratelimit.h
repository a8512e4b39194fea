/* SPDX-License-Identifier: MIT */
#pragma once

/* At most one message per interval, for conditions that persist (kernel data that
 * stays malformed, a collection that keeps failing, a kernel log that keeps
 * dropping records) and would otherwise log every time. The caller passes the
 * time on CLOCK_MONOTONIC, so a wall-clock step cannot silence the messages, and
 * tests drive it with literal values. */

#include <stdbool.h>

#include "time-util.h"

typedef struct RateLimit {
        usec_t interval;
        usec_t last;       /* when the last message went out */
        bool fired;        /* false: none yet, so the first one goes out */
} RateLimit;

#define RATELIMIT_INIT(interval_usec) ((RateLimit){ .interval = (interval_usec) })

/* True when a message may go out at now; it then counts as sent. */
bool ratelimit_below(RateLimit *rl, usec_t now);
