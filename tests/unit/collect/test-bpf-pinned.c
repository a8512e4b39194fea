/* SPDX-License-Identifier: MIT */
/* Android's pinned dmabuf iterator: four lines per buffer, printed by
 * "%lu\n%llu\n%s\n%s\n" (inode, size, name, exporter), no header, an unnamed
 * buffer's name line empty, a newline in a name already turned into a space. */
#include "bpf-pinned.h"
#include "test-util.h"

/* Parses text into a fresh builder; returns the state and the parser's result. */
static DmabufState *parse(const char *text, size_t len, int *ret) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;

        *ret = dmabuf_bpf_pinned_parse(text, len, b);
        if (*ret >= 0)
                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_BPF, true);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

#define PARSE(lit, r) parse((lit), sizeof(lit) - 1, (r))

START_TEST(test_good) {
        static const char text[] = "17\n4096\ncam0\nsystem\n"
                                   "4294967301\n1048576\n\nudmabuf\n"
                                   "3\n8294400\nscanout\ni915\n";
        const DmabufBuffer *buf;
        DmabufState *s;
        int r;

        s = PARSE(text, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 3);
        buf = dmabuf_state_find_buffer(s, 17);
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(buf->size, 4096);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), "system");
        ck_assert_str_eq(buf->name, "cam0");
        ck_assert_uint_eq(buf->count, DMABUF_UNKNOWN); /* the program does not print it */
        ck_assert_uint_eq(buf->seen_by, 1u << DMABUF_SOURCE_BPF);
        ck_assert(!buf->attachments_known);
        buf = dmabuf_state_find_buffer(s, 4294967301ULL); /* 64-bit inode */
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(buf->size, 1048576);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), "udmabuf");
        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, 3);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, 4096 + 1048576 + 8294400);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, 4096 + 1048576 + 8294400);
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->parse_errors[DMABUF_SOURCE_BPF], 0);
        ck_assert_uint_eq(dmabuf_state_n_exporters(s), 3);
        ck_assert_str_eq(dmabuf_state_exporters(s)[0].name, "i915");
        ck_assert_uint_eq(dmabuf_state_exporters(s)[0].bytes, 8294400);
        dmabuf_state_unref(s);
}
END_TEST

/* The name line is empty for an unnamed buffer: null, not "" and not "<none>". */
START_TEST(test_unnamed) {
        DmabufState *s;
        int r;

        s = PARSE("5\n8192\n\nsystem\n", &r);
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_null(dmabuf_state_find_buffer(s, 5)->name);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, dmabuf_state_find_buffer(s, 5)), "system");
        dmabuf_state_unref(s);
}
END_TEST

/* Names are bytes a process chose. Every byte but newline comes through as it is;
 * the program already turned a newline into a space, which cannot be undone. A
 * literal "<none>" is a name (unlike bufinfo, which prints it for unnamed). */
START_TEST(test_hostile_names) {
        static const char text[] = "61\n4096\na\"b\\c d\nsystem\n"
                                   "62\n4096\nctl\001name\nsystem\n"
                                   "63\n4096\n\xe3\x82\xab\xe3\x83\xa1\xe3\x83\xa9\nsystem\n"
                                   "64\n4096\nbad\xffname\nsystem\n"
                                   "65\n4096\n0123456789012345678901234567890\nsystem\n"
                                   "66\n4096\n<none>\nsystem\n"
                                   "67\n4096\n   \nsystem\n"
                                   "68\n4096\n\t\r\x7f\nsystem\n";
        DmabufState *s;
        int r;

        s = PARSE(text, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 8);
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 61)->name, "a\"b\\c d");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 62)->name, "ctl\001name");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 63)->name, "\xe3\x82\xab\xe3\x83\xa1\xe3\x83\xa9");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 64)->name, "bad\xffname");
        ck_assert_uint_eq(strlen(dmabuf_state_find_buffer(s, 65)->name), 31);
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 66)->name, "<none>");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 67)->name, "   ");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 68)->name, "\t\r\x7f");
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->parse_errors[DMABUF_SOURCE_BPF], 0);
        dmabuf_state_unref(s);
}
END_TEST

/* A malformed stream adds nothing, even the good records before the fault, and is
 * counted once against bpf, naming the file, the record and the line. */
static void check_rejected(const char *text, size_t len, const char *where) {
        const DmabufScanStats *st;
        DmabufState *s;
        int r;

        s = parse(text, len, &r);
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 0);
        st = dmabuf_state_scan_stats(s);
        ck_assert_uint_eq(st->parse_errors[DMABUF_SOURCE_BPF], 1);
        ck_assert_uint_eq(st->parse_errors[DMABUF_SOURCE_SYSFS] + st->parse_errors[DMABUF_SOURCE_PROCFS] +
                                  st->parse_errors[DMABUF_SOURCE_DEBUGFS],
                          0);
        ck_assert_msg(strncmp(st->first_error, DMABUF_BPF_PINNED_PATH ": ", strlen(DMABUF_BPF_PINNED_PATH) + 2) == 0,
                      "first_error '%s'", st->first_error);
        ck_assert_msg(strstr(st->first_error, where), "first_error '%s' lacks '%s'", st->first_error, where);
        /* The quoted line is printable ASCII only: it goes into logs. */
        for (const char *p = st->first_error; *p; p++)
                ck_assert_msg((unsigned char) *p >= 0x20 && (unsigned char) *p < 0x7f, "raw byte in '%s'",
                              st->first_error);
        dmabuf_state_unref(s);
}

#define REJECTED(lit, where) check_rejected((lit), sizeof(lit) - 1, (where))

START_TEST(test_truncated) {
        /* Cut between lines: the record stops after its size. */
        REJECTED("17\n4096\ncam0\nsystem\n18\n8192\n", "record 2, line 7 (name): the stream ends");
        /* Cut inside a line: no newline at the end. */
        REJECTED("17\n4096\ncam0\nsystem\n18\n8192\n\nsys", "record 2, line 8 (exporter): the line has no newline (truncated stream) 'sys'");
        REJECTED("17\n40", "record 1, line 2 (size): the line has no newline (truncated stream) '40'");
        REJECTED("17\n4096\ncam0\n", "record 1, line 4 (exporter): the stream ends");
        REJECTED("17", "record 1, line 1 (inode): the line has no newline");
}
END_TEST

START_TEST(test_bad_numbers) {
        REJECTED("-5\n4096\n\nsystem\n", "record 1, line 1 (inode): not a decimal number '-5'");
        REJECTED("abc\n4096\n\nsystem\n", "line 1 (inode): not a decimal number 'abc'");
        REJECTED(" 17\n4096\n\nsystem\n", "line 1 (inode): not a decimal number ' 17'");
        REJECTED("0x11\n4096\n\nsystem\n", "line 1 (inode)");
        REJECTED("\n4096\n\nsystem\n", "line 1 (inode): not a decimal number ''");
        REJECTED("17\n99999999999999999999\n\nsystem\n", "line 2 (size): not a decimal number");
        REJECTED("17\n18446744073709551615\n\nsystem\n", "line 2 (size)"); /* the sentinel for unknown */
        REJECTED("17\n4096 \n\nsystem\n", "line 2 (size)");
        REJECTED("17\n4096\n\nsystem\n18\n1e3\n\nsystem\n", "record 2, line 6 (size): not a decimal number '1e3'");
}
END_TEST

START_TEST(test_bad_text) {
        REJECTED("17\n4096\ncam0\n\n", "record 1, line 4 (exporter): empty exporter");
        REJECTED("17\n4096\nca\0m\nsystem\n", "line 3 (name): NUL byte in the line");
        REJECTED("17\n4096\n\nsys\0tem\n", "line 4 (exporter): NUL byte");
        /* A name with a raw newline (a program that did not sanitize it) shifts the
         * lines: the exporter lands where the next inode should be. */
        REJECTED("17\n4096\na\nb\nsystem\n18\n4096\n\nsystem\n", "record 2, line 5 (inode): not a decimal number 'system'");
        /* Control bytes of the bad line are not quoted raw. */
        REJECTED("\033[2J\n4096\n\nsystem\n", "line 1 (inode): not a decimal number '?[2J'");
}
END_TEST

START_TEST(test_long_lines) {
        char text[1024];
        int n;

        n = snprintf(text, sizeof(text), "17\n4096\n%0256d\nsystem\n", 0);
        check_rejected(text, (size_t) n, "line 3 (name): longer than any buffer name");
        n = snprintf(text, sizeof(text), "17\n4096\n\n%0256d\n", 0);
        check_rejected(text, (size_t) n, "line 4 (exporter): longer than any exporter name");
        /* 255 bytes is still accepted, and the exporter is copied whole. */
        n = snprintf(text, sizeof(text), "17\n4096\n\n%0255d\n", 7);
        {
                DmabufState *s;
                int r;

                s = parse(text, (size_t) n, &r);
                ck_assert_int_eq(r, 0);
                ck_assert_uint_eq(strlen(dmabuf_state_buffer_exporter(s, dmabuf_state_find_buffer(s, 17))), 255);
                dmabuf_state_unref(s);
        }
}
END_TEST

/* No buffer at all prints nothing: a valid, empty list, so the totals are 0. */
START_TEST(test_empty) {
        DmabufState *s;
        int r;

        s = parse("", 0, &r);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 0);
        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, 0);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, 0);
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->parse_errors[DMABUF_SOURCE_BPF], 0);
        dmabuf_state_unref(s);
}
END_TEST

/* The scan reads <sys>/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf: -ENOENT without
 * it, -EBADMSG (counted) when malformed, 0 with every buffer added. */
START_TEST(test_scan) {
        char *root = tu_mkdtemp(), path[PATH_MAX];
        DmabufBuilder *b;
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s = NULL;
        int sys_fd;

        tu_mkdirs(root, "sys/x");
        snprintf(path, sizeof(path), "%s/sys", root);
        sys_fd = tu_open_dir(path);

        b = dmabuf_builder_new();
        ck_assert_int_eq(dmabuf_bpf_pinned_scan(sys_fd, b, &scratch), -ENOENT);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_BPF], 0);
        dmabuf_builder_free(b);

        tu_write_str(root, "sys/" DMABUF_BPF_PINNED_FILE, "9\n65536\nleak\nsystem\n10\n4096\n\nudmabuf\n");
        b = dmabuf_builder_new();
        ck_assert_int_eq(dmabuf_bpf_pinned_scan(sys_fd, b, &scratch), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 2);
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 9)->name, "leak");
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);

        tu_write_str(root, "sys/" DMABUF_BPF_PINNED_FILE, "9\n65536\nleak\nsystem\n10\n");
        b = dmabuf_builder_new();
        ck_assert_int_eq(dmabuf_bpf_pinned_scan(sys_fd, b, &scratch), -EBADMSG);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_BPF], 1);
        ck_assert(strstr(dmabuf_builder_scan_stats(b)->first_error, "record 2, line 6 (size)"));
        dmabuf_builder_free(b);

        strbuf_done(&scratch);
        close(sys_fd);
        tu_rm_rf(root);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bpf-pinned");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_good);
        tcase_add_test(tc, test_unnamed);
        tcase_add_test(tc, test_hostile_names);
        tcase_add_test(tc, test_truncated);
        tcase_add_test(tc, test_bad_numbers);
        tcase_add_test(tc, test_bad_text);
        tcase_add_test(tc, test_long_lines);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_scan);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
