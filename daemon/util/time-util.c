/* SPDX-License-Identifier: MIT */
#include "time-util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        /* Only fails for a clock id the caller got wrong. */
        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}
