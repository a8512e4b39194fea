/* SPDX-License-Identifier: MIT */
#include "ratelimit.h"

bool ratelimit_below(RateLimit *rl, usec_t now) {
        /* now < last cannot happen on one monotonic clock; should a caller mix
         * clocks, the message goes out rather than being silenced. */
        if (rl->fired && now >= rl->last && now - rl->last < rl->interval)
                return false;
        rl->fired = true;
        rl->last = now;
        return true;
}
