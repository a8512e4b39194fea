/* SPDX-License-Identifier: MIT */
/* `dmabufd dump`'s tables and the STATUS= line on a tree whose totals are
 * unknown: "?" where a figure is unknown, never UINT64_MAX as a number. */
#include "dump.h"
#include "test-unknown.h"

START_TEST(test_tables_unknown_tree) {
        DmabufState *s = tu_collect_tree(TU_UNKNOWN_TREE);
        StrBuf sb = STRBUF_INIT;

        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);

        ck_assert_int_eq(dmabuf_dump_processes(&sb, s, 0), 0);
        tu_assert_no_unknown_number(sb.buf, "dump");
        /* The map-only buffer has no size, so neither has its holder's total. */
        ck_assert(strstr(sb.buf, "            orphan-map             ? kB             ? kB                1             2003\n"));
        ck_assert(strstr(sb.buf, "         PROCESS TOTAL             ? kB             ? kB\n"));
        ck_assert(strstr(sb.buf, "         PROCESS TOTAL          5184 kB          3104 kB\n"));
        ck_assert(strstr(sb.buf, "dmabuf total: ? kB kernel_rss: ? kB userspace_rss: ? kB userspace_pss: ? kB\n"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_processes(&sb, s, 4300), 0);
        tu_assert_no_unknown_number(sb.buf, "dump 4300");
        ck_assert(strstr(sb.buf, "orphan-mapper:4300\n"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_buffer_table(&sb, s, 0), 0);
        tu_assert_no_unknown_number(sb.buf, "dump -a");
        ck_assert(strstr(sb.buf, "            2003 |               ? |               0 |               1 |"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_buffer_totals(&sb, s), 0);
        tu_assert_no_unknown_number(sb.buf, "dump -b");
        ck_assert(strstr(sb.buf, "   system                       |           ? |                       ? |\n"));
        ck_assert(strstr(sb.buf, "dmabuf total: ? buffers, ? bytes (userspace ?, kernel-only ?)\n"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_status_line(&sb, s, 7), 0);
        tu_assert_no_unknown_number(sb.buf, "STATUS=");
        ck_assert_str_eq(sb.buf, "total unknown (no source lists every buffer); 4 buffers, ? MiB held by processes "
                                 "in 3 processes; 7 snapshots");
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* Every buffer listed, one size unknown: the count is known, the bytes are not. */
START_TEST(test_status_size_unknown) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo known = { .inode = 1, .size = 1 << 20, .count = 1, .exporter = "system" };
        DmabufBufferInfo unsized = { .inode = 2, .size = DMABUF_UNKNOWN, .count = 1, .exporter = "system" };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &known), 0);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &unsized), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, 2);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        ck_assert_int_eq(dmabuf_dump_status_line(&sb, s, 0), 0);
        ck_assert_str_eq(sb.buf, "2 buffers, ? MiB (? MiB kernel-only) in 0 processes; 0 snapshots");
        strbuf_reset(&sb);
        ck_assert_int_eq(dmabuf_dump_buffer_totals(&sb, s), 0);
        tu_assert_no_unknown_number(sb.buf, "dump -b");
        ck_assert(strstr(sb.buf, "dmabuf total: 2 buffers, ? bytes (userspace 0, kernel-only ?)\n"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* A strict RFC 4180 reader: records of fields, quoted fields with doubled
 * quotes and any byte inside, CRLF after every record. Returns the number of
 * records, every one checked to have n_fields fields; fields[r][f] of the first
 * 16 records are kept (malloc'd) for the caller to look at. */
#define CSV_KEEP 16
static size_t csv_parse(const char *text, size_t n_fields, char *fields[CSV_KEEP][16]) {
        size_t records = 0, field = 0;
        const char *p = text;

        ck_assert(n_fields <= 16);
        while (*p) {
                StrBuf f = STRBUF_INIT;

                if (*p == '"') {
                        for (p++;; p++) {
                                ck_assert_msg(*p, "record %zu: a quoted field never closes", records);
                                if (*p == '"' && p[1] == '"')
                                        strbuf_putc(&f, *p++);
                                else if (*p == '"')
                                        break;
                                else
                                        strbuf_putc(&f, *p);
                        }
                        p++;
                } else
                        for (; *p && *p != ',' && *p != '\r'; p++) {
                                ck_assert_msg(*p != '"' && *p != '\n', "record %zu: a bare quote or newline", records);
                                strbuf_putc(&f, *p);
                        }
                if (records < CSV_KEEP)
                        fields[records][field] = strdup(f.buf ? f.buf : "");
                strbuf_done(&f);
                field++;
                if (*p == ',') {
                        p++;
                        ck_assert_msg(field < n_fields, "record %zu has more than %zu fields", records, n_fields);
                        continue;
                }
                ck_assert_msg(p[0] == '\r' && p[1] == '\n', "record %zu does not end in CRLF", records);
                ck_assert_msg(field == n_fields, "record %zu has %zu fields, not %zu", records, field, n_fields);
                p += 2;
                field = 0;
                records++;
        }
        return records;
}

static void csv_free(char *fields[CSV_KEEP][16], size_t records, size_t n_fields) {
        for (size_t r = 0; r < MIN(records, (size_t) CSV_KEEP); r++)
                for (size_t f = 0; f < n_fields; f++)
                        free(fields[r][f]);
}

/* Names any process can choose, with quotes, a backslash, a newline, a control
 * byte and invalid UTF-8, read back field for field. */
START_TEST(test_csv_hostile) {
        DmabufState *s = tu_collect_tree("hostile");
        char *f[CSV_KEEP][16] = {};
        StrBuf sb = STRBUF_INIT;
        size_t n;

        ck_assert_int_eq(dmabuf_dump_processes_csv(&sb, s, 0), 0);
        n = csv_parse(sb.buf, 10, f);
        ck_assert_uint_eq(n, 1 + 6); /* 67 is held by no process */
        ck_assert_str_eq(f[0][0], "pid");
        ck_assert_str_eq(f[0][9], "maps");
        ck_assert_str_eq(f[1][0], "6100");
        ck_assert_str_eq(f[1][1], "ev\"il\\app");
        ck_assert_str_eq(f[1][2], "61");
        ck_assert_str_eq(f[1][3], "a\"b\\c\nd");
        ck_assert_str_eq(f[1][4], "system");
        ck_assert_str_eq(f[1][5], "4096");
        ck_assert_str_eq(f[2][3], "ctl\001name");
        ck_assert_str_eq(f[3][1], "カメラ");
        ck_assert_str_eq(f[4][3], "bad\xef\xbf\xbdname"); /* U+FFFD, as the JSON */
        ck_assert_str_eq(f[6][3], "<none>"); /* a name, not the table's word for none */
        csv_free(f, n, 10);
        ck_assert(strstr(sb.buf, "\r\n6100,\"ev\"\"il\\app\",61,\"a\"\"b\\c\nd\",\"system\",4096,4096,1,1,1\r\n"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_buffer_table_csv(&sb, s, 6200), 0);
        n = csv_parse(sb.buf, 11, f);
        ck_assert_uint_eq(n, 1 + 2);
        ck_assert_str_eq(f[0][7], "pid");
        ck_assert_str_eq(f[1][0], "63");
        ck_assert_str_eq(f[1][7], "6200");
        ck_assert_str_eq(f[2][0], "64");
        csv_free(f, n, 11);
        strbuf_reset(&sb);
        ck_assert_int_eq(dmabuf_dump_buffer_table_csv(&sb, s, 0), 0);
        ck_assert(strstr(sb.buf, "\r\n67,28672,\"system\",,1,0,0,,,,\r\n")); /* unnamed, unheld */
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_exporters_csv(&sb, s), 0);
        ck_assert_str_eq(sb.buf, "exporter,buffers,bytes\r\n\"system\",7,114688\r\n");
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* Unknown figures are empty fields, never 0 or UINT64_MAX; a buffer no process
 * holds is one -a record with the holder's fields empty. */
START_TEST(test_csv_unknown_tree) {
        DmabufState *s = tu_collect_tree(TU_UNKNOWN_TREE);
        char *f[CSV_KEEP][16] = {};
        StrBuf sb = STRBUF_INIT;
        size_t n;

        ck_assert_int_eq(dmabuf_dump_processes_csv(&sb, s, 4300), 0);
        tu_assert_no_unknown_number(sb.buf, "csv");
        ck_assert_str_eq(sb.buf, "pid,comm,inode,name,exporter,size_bytes,pss_bytes,nr_procs,fds,maps\r\n"
                                 "4300,\"orphan-mapper\",2003,\"orphan-map\",,,,1,0,1\r\n"
                                 "4300,\"orphan-mapper\",2004,\"dup-in-two\",\"system\",65536,32768,2,1,0\r\n");
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_buffer_table_csv(&sb, s, 0), 0);
        tu_assert_no_unknown_number(sb.buf, "csv -a");
        n = csv_parse(sb.buf, 11, f);
        ck_assert_uint_eq(n, 1 + 6); /* a record per holder: 2001 and 2004 have two */
        csv_free(f, n, 11);
        ck_assert(strstr(sb.buf, "\r\n2003,,,\"orphan-map\",,0,1,4300,\"orphan-mapper\",0,1\r\n"));
        strbuf_reset(&sb);

        ck_assert_int_eq(dmabuf_dump_exporters_csv(&sb, s), 0);
        ck_assert_str_eq(sb.buf, "exporter,buffers,bytes\r\n\"system\",,\r\n\"udmabuf\",,\r\n");
        strbuf_done(&sb);
        dmabuf_state_unref(s);

        s = tu_collect_tree("linux-6.1");
        ck_assert_int_eq(dmabuf_dump_buffer_table_csv(&sb, s, 0), 0);
        ck_assert(strstr(sb.buf, "\r\n7,1048576,\"system\",,1,0,0,,,,\r\n"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* The per-process table shows each DRM client with a row per region ("-" for a
 * kind not printed); --by cgroup one row per cgroup, a hostile unit escaped. */
START_TEST(test_drm_and_cgroups) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo in = { .inode = 5, .size = 8192, .count = DMABUF_UNKNOWN, .exporter = "i915" };
        DmabufDrmRegion region = { .name = "system0",
                                   .bytes = { 3 << 20, 8192, DMABUF_UNKNOWN, 0, DMABUF_UNKNOWN } };
        DmabufDrmClientInfo client = { .driver = "i915", .pdev = "0000:00:02.0", .client_id = 13, .n_regions = 1,
                                       .regions = &region };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;

        ck_assert_int_eq(dmabuf_builder_add_process(b, 8100, "gnome-shell", "/system.slice/a\nb.service", 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 8100, &in), 0);
        ck_assert_int_eq(dmabuf_builder_add_drm_client(b, 8100, &client), 0);
        ck_assert_int_eq(dmabuf_builder_add_drm_client(b, 8100, &client), 0);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 8200, "glx", NULL, 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 8200, &in), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);

        ck_assert_int_eq(dmabuf_dump_processes(&sb, s, 0), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "  DRM i915 client 13 on 0000:00:02.0, 2 fds\n"
                                             "                Region            Total           Shared         Resident"
                                             "        Purgeable           Active\n"
                                             "               system0          3072 kB             8 kB                -"
                                             "             0 kB                -\n"));
        strbuf_reset(&sb);
        ck_assert_int_eq(dmabuf_dump_cgroups(&sb, s), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "             Rss              Pss    Procs  Unit                            Cgroup\n"
                                             "            8 kB             4 kB        1  a\\x0ab.service                  "
                                             "/system.slice/a\\x0ab.service\n"
                                             "            8 kB             4 kB        1  -                               "
                                             "(unknown)\n"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("dump");
        TCase *tc = tcase_create("unknown");

        tcase_add_test(tc, test_tables_unknown_tree);
        tcase_add_test(tc, test_status_size_unknown);
        tcase_add_test(tc, test_csv_hostile);
        tcase_add_test(tc, test_csv_unknown_tree);
        tcase_add_test(tc, test_drm_and_cgroups);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
