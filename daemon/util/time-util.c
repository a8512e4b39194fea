/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "time-util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        /* Only fails for a clock id the caller got wrong. */
        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int parse_timestamp_utc(const char *s, usec_t *ret) {
        struct tm tm = {};
        usec_t frac = 0, scale = 100000;
        unsigned digits = 0;
        int n = 0;
        time_t t;

        static const char shape[] = "dddd-dd-ddTdd:dd:dd";

        /* sscanf alone would take blanks and signs where digits must be. */
        for (size_t i = 0; i < sizeof(shape) - 1; i++)
                if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
                        return -EINVAL;
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &n) != 6 ||
            n != 19)
                return -EINVAL;
        s += n;
        if (*s == '.') {
                for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
                        frac += (usec_t) (*s - '0') * scale;
                        scale /= 10;
                }
                if (digits == 0 || digits > 9)
                        return -EINVAL;
        }
        if (strcmp(s, "Z") != 0)
                return -EINVAL;
        if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
            tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
                return -EINVAL;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret = (usec_t) t * USEC_PER_SEC + frac;
        return 0;
}
