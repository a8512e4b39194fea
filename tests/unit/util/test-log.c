/* SPDX-License-Identifier: MIT */
#include <stdint.h>

#include "log.h"
#include "test-util.h"

/* Points stderr at a fresh file and returns "DEV:INODE" of it, as systemd
 * would set JOURNAL_STREAM. */
static void stderr_to_file(char *ret, size_t len) {
        char path[] = "/tmp/dmabufd-test-log-XXXXXX";
        struct stat st;
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        close(fd);
        unlink(path);
        ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
        snprintf(ret, len, "%ju:%ju", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino);
}

START_TEST(test_target_journal_only_for_our_stderr) {
        char stream[64], other[80];

        stderr_to_file(stream, sizeof(stream));
        unsetenv("JOURNAL_STREAM");
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);

        setenv("JOURNAL_STREAM", stream, 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_JOURNAL);

        /* Inherited, but stderr was redirected since: not the journal. */
        snprintf(other, sizeof(other), "%s1", stream);
        setenv("JOURNAL_STREAM", other, 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);

        /* Malformed values never select the journal. */
        snprintf(other, sizeof(other), "%s:", stream);
        setenv("JOURNAL_STREAM", other, 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);
        snprintf(other, sizeof(other), "%s x", stream);
        setenv("JOURNAL_STREAM", other, 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);
        setenv("JOURNAL_STREAM", "", 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);
        setenv("JOURNAL_STREAM", "12", 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);
        setenv("JOURNAL_STREAM", "a:b", 1);
        ck_assert_int_eq(log_target_from_environment(), LOG_TARGET_STDERR);
}
END_TEST

START_TEST(test_stderr_line_and_threshold) {
        char stream[64], buf[512];
        ssize_t n;

        stderr_to_file(stream, sizeof(stream));
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_WARNING);
        ck_assert_int_eq(log_info("not shown"), 0);
        ck_assert_int_eq(log_warning_errno(-ENOENT, "cannot open %s: %m", "x.conf"), -ENOENT);
        /* A positive errno is returned negated, as callers expect. */
        ck_assert_int_eq(log_error_errno(EACCES, "denied"), -EACCES);
        fflush(stderr);
        n = pread(STDERR_FILENO, buf, sizeof(buf) - 1, 0);
        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        ck_assert_str_eq(buf, "dmabufd: cannot open x.conf: No such file or directory\ndmabufd: denied\n");
}
END_TEST

START_TEST(test_level_names) {
        ck_assert_int_eq(log_level_from_string("debug"), LOG_DEBUG);
        ck_assert_int_eq(log_level_from_string("err"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("error"), LOG_ERR);
        ck_assert_int_eq(log_level_from_string("7"), 7);
        ck_assert_int_eq(log_level_from_string("8"), -EINVAL);
        ck_assert_int_eq(log_level_from_string("Warning"), -EINVAL);
        ck_assert_int_eq(log_level_from_string(""), -EINVAL);
        ck_assert_str_eq(log_level_to_string(LOG_NOTICE), "notice");
        ck_assert_ptr_null(log_level_to_string(8));
}
END_TEST

int main(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_target_journal_only_for_our_stderr);
        tcase_add_test(tc, test_stderr_line_and_threshold);
        tcase_add_test(tc, test_level_names);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
