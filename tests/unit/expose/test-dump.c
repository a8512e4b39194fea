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
        tcase_add_test(tc, test_drm_and_cgroups);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
