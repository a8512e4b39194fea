/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "ratelimit.h"
#include "string-util.h"
#include "strv.h"
#include "test-util.h"
#include "time-util.h"

START_TEST(test_span_starts_with) {
        /* Spans are not NUL-terminated: the prefix must fit in the span itself. */
        ck_assert(span_starts_with("Total 3 devices", 15, "Total "));
        ck_assert(span_starts_with("Total", 5, "Total"));
        ck_assert(!span_starts_with("Total 3", 4, "Total"));
        ck_assert(span_starts_with("x", 0, ""));
        ck_assert(!span_starts_with("size", 4, "sizes"));
}
END_TEST

START_TEST(test_streq_ptr) {
        ck_assert(streq_ptr(NULL, NULL));
        ck_assert(!streq_ptr("a", NULL));
        ck_assert(!streq_ptr(NULL, "a"));
        ck_assert(streq_ptr("a", "a"));
        ck_assert(!streq_ptr("a", "b"));
}
END_TEST

START_TEST(test_set_err) {
        char err[8] = "old";

        set_err(NULL, 0, "%s", "ignored");
        set_err(err, 0, "%s", "ignored");
        ck_assert_str_eq(err, "old");
        set_err(err, sizeof(err), "line %d: %s", 12, "too long for the buffer");
        ck_assert_str_eq(err, "line 12"); /* cut, still terminated */
}
END_TEST

static void check_lines(const char *buf, size_t len, const char *const *expected) {
        const char *line;
        size_t pos = 0, n, i = 0;

        while (next_line(buf, len, &pos, &line, &n)) {
                ck_assert_msg(expected[i], "line %zu is one too many", i);
                ck_assert_uint_eq(n, strlen(expected[i]));
                ck_assert(memcmp(line, expected[i], n) == 0);
                ck_assert_uint_le(pos, len);
                i++;
        }
        ck_assert_msg(!expected[i], "line %zu (\"%s\") was not returned", i, expected[i]);
}

START_TEST(test_next_line) {
        check_lines("", 0, (const char *const[]){ NULL });
        check_lines("a\n", 2, (const char *const[]){ "a", NULL });
        /* The last line counts without its newline; an empty line is a line. */
        check_lines("a\n\nbc", 5, (const char *const[]){ "a", "", "bc", NULL });
        check_lines("\n", 1, (const char *const[]){ "", NULL });
        /* Only len bytes are read: what follows is not part of the buffer. */
        check_lines("ab\ncd\nef", 4, (const char *const[]){ "ab", "c", NULL });
        /* A NUL is data, not an end of line. */
        const char *line;
        size_t pos = 0, n;
        ck_assert(next_line("a\0b\nc", 5, &pos, &line, &n));
        ck_assert_uint_eq(n, 3);
        ck_assert_uint_eq(pos, 4);
}
END_TEST

START_TEST(test_ratelimit) {
        RateLimit rl = RATELIMIT_INIT(10 * USEC_PER_SEC);

        /* The first message goes out whatever the clock reads, even 0. */
        ck_assert(ratelimit_below(&rl, 0));
        ck_assert(!ratelimit_below(&rl, 1));
        ck_assert(!ratelimit_below(&rl, 10 * USEC_PER_SEC - 1));
        ck_assert(ratelimit_below(&rl, 10 * USEC_PER_SEC));
        /* The interval counts from the last message out, not from the last try. */
        ck_assert(!ratelimit_below(&rl, 19 * USEC_PER_SEC));
        ck_assert(ratelimit_below(&rl, 20 * USEC_PER_SEC));
        /* A reading before the last one never silences messages. */
        ck_assert(ratelimit_below(&rl, 5 * USEC_PER_SEC));
        ck_assert(!ratelimit_below(&rl, 6 * USEC_PER_SEC));

        RateLimit none = RATELIMIT_INIT(0);
        ck_assert(ratelimit_below(&none, 100));
        ck_assert(ratelimit_below(&none, 100));
}
END_TEST

START_TEST(test_strv) {
        _cleanup_strv_free_ char **v = NULL, **copy = NULL, **empty = NULL;

        ck_assert_uint_eq(strv_length(NULL), 0);
        ck_assert_int_eq(strv_push(&v, "127.0.0.1:9464"), 0);
        ck_assert_int_eq(strv_push(&v, "[::1]:9464"), 0);
        ck_assert_uint_eq(strv_length(v), 2);
        ck_assert_str_eq(v[1], "[::1]:9464");
        ck_assert_ptr_null(v[2]);

        ck_assert_int_eq(strv_copy(v, &copy), 0);
        ck_assert_ptr_ne(copy[0], v[0]); /* a deep copy */
        ck_assert(strv_equal(v, copy));
        ck_assert_int_eq(strv_push(&copy, "x"), 0);
        ck_assert(!strv_equal(v, copy));
        ck_assert(!strv_equal(copy, v));

        ck_assert_int_eq(strv_copy(NULL, &empty), 0);
        ck_assert_ptr_null(empty);
        empty = calloc(1, sizeof(char *));
        ck_assert_ptr_nonnull(empty);
        /* NULL reads as empty; callers that tell them apart test for NULL. */
        ck_assert(strv_equal(NULL, empty));
        ck_assert(!strv_equal(NULL, v));
        ck_assert_ptr_null(strv_free(NULL));
}
END_TEST

START_TEST(test_unhexchar) {
        ck_assert_int_eq(unhexchar('0'), 0);
        ck_assert_int_eq(unhexchar('9'), 9);
        ck_assert_int_eq(unhexchar('a'), 10);
        ck_assert_int_eq(unhexchar('F'), 15);
        ck_assert_int_eq(unhexchar('g'), -1);
        ck_assert_int_eq(unhexchar('\0'), -1);
}
END_TEST

START_TEST(test_parse_timestamp_utc) {
        static const char *const bad[] = {
                "", "2026-12-06T08:36:11", "2026-12-06T08:36:11.Z", "2026-12-06T08:36:11.1234567890Z",
                "2026-12-06 08:36:11Z", " 026-12-06T08:36:11Z", "+026-12-06T08:36:11Z", "2026-13-06T08:36:11Z",
                "2026-12-06T24:00:00Z", "1969-12-31T23:59:59Z", "2026-12-06T08:36:11+01:00", "2026-12-06T08:36:11Zx",
        };
        usec_t t = 0;

        ck_assert_int_eq(parse_timestamp_utc("1970-01-01T00:00:00Z", &t), 0);
        ck_assert_uint_eq(t, 0);
        ck_assert_int_eq(parse_timestamp_utc("2026-12-06T08:36:11.123Z", &t), 0);
        ck_assert_uint_eq(t, 1796546171123000ULL);
        ck_assert_int_eq(parse_timestamp_utc("2026-12-06T08:36:11.123456789Z", &t), 0);
        ck_assert_uint_eq(t, 1796546171123456ULL);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(parse_timestamp_utc(bad[i], &t) == -EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_now_usec) {
        usec_t a = now_usec(CLOCK_MONOTONIC), b = now_usec(CLOCK_MONOTONIC);
        struct timespec ts;

        ck_assert_uint_gt(a, 0);
        ck_assert_uint_ge(b, a);
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
        /* Within a minute of the wall clock read here, in microseconds. */
        ck_assert_uint_lt(now_usec(CLOCK_REALTIME) / USEC_PER_SEC - (usec_t) ts.tv_sec, 60);
}
END_TEST

int main(void) {
        Suite *s = suite_create("util");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_span_starts_with);
        tcase_add_test(tc, test_streq_ptr);
        tcase_add_test(tc, test_set_err);
        tcase_add_test(tc, test_next_line);
        tcase_add_test(tc, test_ratelimit);
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_now_usec);
        tcase_add_test(tc, test_unhexchar);
        tcase_add_test(tc, test_parse_timestamp_utc);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
