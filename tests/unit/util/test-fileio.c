/* SPDX-License-Identifier: MIT */
#include "fileio.h"
#include "strbuf.h"
#include "test-util.h"
#include "utf8.h"

START_TEST(test_safe_atou64) {
        uint64_t v = 7;

        ck_assert_int_eq(safe_atou64("0", &v), 0);
        ck_assert_uint_eq(v, 0);
        /* bufinfo prints %08lu: zero-padded decimal, never octal */
        ck_assert_int_eq(safe_atou64("00000010", &v), 0);
        ck_assert_uint_eq(v, 10);
        ck_assert_int_eq(safe_atou64("00000089", &v), 0);
        ck_assert_uint_eq(v, 89);
        ck_assert_int_eq(safe_atou64("18446744073709551615", &v), 0);
        ck_assert_uint_eq(v, UINT64_MAX);
        v = 7;
        ck_assert_int_eq(safe_atou64("18446744073709551616", &v), -ERANGE);
        ck_assert_int_eq(safe_atou64("99999999999999999999", &v), -ERANGE);
        ck_assert_int_eq(safe_atou64("", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64("-5", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64("+5", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64(" 5", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64("5 ", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64("0x10", &v), -EINVAL);
        ck_assert_int_eq(safe_atou64("abc", &v), -EINVAL);
        ck_assert_uint_eq(v, 7); /* untouched on failure */
        ck_assert_int_eq(safe_atou64_n("1234xyz", 4, &v), 0);
        ck_assert_uint_eq(v, 1234);
}
END_TEST

START_TEST(test_strip_newline) {
        ck_assert_uint_eq(strip_newline("abc\n", 4), 3);
        ck_assert_uint_eq(strip_newline("abc", 3), 3);
        ck_assert_uint_eq(strip_newline("\n", 1), 0);
        ck_assert_uint_eq(strip_newline("", 0), 0);
}
END_TEST

START_TEST(test_read_file_at) {
        char *root = tu_mkdtemp();
        StrBuf sb = STRBUF_INIT;
        char big[10000];
        int fd;

        memset(big, 'x', sizeof(big));
        tu_write(root, "big", big, sizeof(big));
        tu_write_str(root, "empty", "");
        tu_write_str(root, "sub/small", "4096\n");
        fd = tu_open_dir(root);

        ck_assert_int_eq(read_file_at(fd, "big", 1 << 20, &sb), 0);
        ck_assert_uint_eq(sb.len, sizeof(big));
        ck_assert_int_eq(memcmp(sb.buf, big, sizeof(big)), 0);
        ck_assert_int_eq(read_file_at(fd, "big", 5000, &sb), -EFBIG);
        ck_assert_int_eq(read_file_at(fd, "empty", 100, &sb), 0);
        ck_assert_uint_eq(sb.len, 0);
        ck_assert_str_eq(sb.buf, "");
        ck_assert_int_eq(read_file_at(fd, "sub/small", 100, &sb), 0);
        ck_assert_str_eq(sb.buf, "4096\n");
        ck_assert_int_eq(read_file_at(fd, "missing", 100, &sb), -ENOENT);
        ck_assert_int_eq(read_file_at(fd, "sub", 100, &sb), -EISDIR);

        close(fd);
        strbuf_done(&sb);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_strbuf) {
        StrBuf sb = STRBUF_INIT;
        char *s;
        size_t len;

        for (int i = 0; i < 1000; i++)
                ck_assert_int_eq(strbuf_printf(&sb, "%d,", i), 0);
        ck_assert_uint_eq(sb.len, strlen(sb.buf));
        ck_assert(strncmp(sb.buf, "0,1,2,", 6) == 0);
        ck_assert(strstr(sb.buf, ",999,") != NULL);
        ck_assert_int_eq(strbuf_steal(&sb, &s, &len), 0);
        ck_assert_uint_eq(len, strlen(s));
        ck_assert_ptr_null(sb.buf);
        free(s);
        /* A fresh buffer still yields a valid empty string. */
        ck_assert_int_eq(strbuf_steal(&sb, &s, &len), 0);
        ck_assert_str_eq(s, "");
        free(s);
}
END_TEST

START_TEST(test_utf8) {
        StrBuf sb = STRBUF_INIT;

        ck_assert(utf8_is_valid("plain", 5));
        ck_assert(utf8_is_valid("\xe3\x82\xab\xe3\x83\xa1\xe3\x83\xa9", 9)); /* カメラ */
        ck_assert(utf8_is_valid("\xf0\x9f\x98\x80", 4));
        ck_assert(!utf8_is_valid("\xff", 1));
        ck_assert(!utf8_is_valid("\xc0\xaf", 2));          /* overlong '/' */
        ck_assert(!utf8_is_valid("\xed\xa0\x80", 3));      /* surrogate */
        ck_assert(!utf8_is_valid("\xf4\x90\x80\x80", 4));  /* above U+10FFFF */
        ck_assert(!utf8_is_valid("\xe3\x82", 2));          /* truncated */
        ck_assert_int_eq(utf8_append_sanitized(&sb, "bad\xffname", 8), 0);
        ck_assert_str_eq(sb.buf, "bad\xef\xbf\xbdname");
        strbuf_done(&sb);
}
END_TEST

int main(void) {
        Suite *s = suite_create("fileio");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_safe_atou64);
        tcase_add_test(tc, test_strip_newline);
        tcase_add_test(tc, test_read_file_at);
        tcase_add_test(tc, test_strbuf);
        tcase_add_test(tc, test_utf8);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
