/* SPDX-License-Identifier: MIT */
#include "sysfs.h"
#include "test-util.h"

static DmabufState *scan(const char *root, int expect) {
        char path[PATH_MAX];
        DmabufBuilder *b = dmabuf_builder_new();
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s = NULL;
        int fd;

        snprintf(path, sizeof(path), "%s/sys", root);
        fd = tu_open_dir(path);
        ck_assert_int_eq(dmabuf_sysfs_scan(fd, b, &scratch), expect);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, expect == 0);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, expect == 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);
        strbuf_done(&scratch);
        close(fd);
        return s;
}

START_TEST(test_buffers) {
        char *root = tu_mkdtemp();
        DmabufState *s;
        const DmabufBuffer *b;

        tu_write_str(root, "sys/kernel/dmabuf/buffers/12/exporter_name", "system\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/12/size", "4096\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/4294967301/exporter_name", "udmabuf\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/4294967301/size", "1048576\n");
        s = scan(root, 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 2);
        b = dmabuf_state_find_buffer(s, 4294967301ULL);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(b->size, 1048576);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, b), "udmabuf");
        ck_assert(!b->attachments_known); /* mainline has no attachment stats */
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, 4096 + 1048576);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, 4096 + 1048576);
        dmabuf_state_unref(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_attachments) {
        char *root = tu_mkdtemp();
        DmabufState *s;
        const DmabufBuffer *b;

        tu_write_str(root, "sys/kernel/dmabuf/buffers/7/exporter_name", "system\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/7/size", "8192\n");
        tu_symlink(root, "sys/kernel/dmabuf/buffers/7/attachments/1/device", "../../../../../../devices/platform/vgem");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/7/attachments/1/map_counter", "3\n");
        tu_symlink(root, "sys/kernel/dmabuf/buffers/7/attachments/2/device", "../../../../../../devices/pci0000:00/0000:00:02.0");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/7/attachments/2/map_counter", "0\n");
        s = scan(root, 0);
        b = dmabuf_state_find_buffer(s, 7);
        ck_assert_ptr_nonnull(b);
        ck_assert(b->attachments_known);
        ck_assert_uint_eq(b->n_attachments, 2);
        ck_assert_str_eq(dmabuf_state_buffer_attachments(s, b)[0].device, "0000:00:02.0");
        ck_assert_uint_eq(dmabuf_state_buffer_attachments(s, b)[0].map_counter, 0);
        ck_assert_str_eq(dmabuf_state_buffer_attachments(s, b)[1].device, "vgem");
        ck_assert_uint_eq(dmabuf_state_buffer_attachments(s, b)[1].map_counter, 3);
        dmabuf_state_unref(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_malformed_and_vanished) {
        char *root = tu_mkdtemp();
        DmabufState *s;
        const DmabufScanStats *st;

        tu_write_str(root, "sys/kernel/dmabuf/buffers/1/exporter_name", "system\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/1/size", "-5\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/2/exporter_name", "system\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/2/size", "99999999999999999999\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/3/exporter_name", "");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/3/size", "4096\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/4/exporter_name", "system\n"); /* size gone: freed */
        tu_write_str(root, "sys/kernel/dmabuf/buffers/5/exporter_name", "system\n");
        tu_write_str(root, "sys/kernel/dmabuf/buffers/5/size", "4096\n");
        tu_mkdirs(root, "sys/kernel/dmabuf/buffers/notanumber/x");
        s = scan(root, 0);
        st = dmabuf_state_scan_stats(s);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 1);
        ck_assert_uint_eq(st->parse_errors[DMABUF_SOURCE_SYSFS], 3);
        ck_assert_uint_eq(st->counters[DMABUF_SCAN_BUFFERS_VANISHED], 1);
        ck_assert_msg(strstr(st->first_error, "/sys/kernel/dmabuf/buffers/") != NULL, "%s", st->first_error);
        dmabuf_state_unref(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_missing) {
        char *root = tu_mkdtemp();
        DmabufState *s;

        tu_mkdirs(root, "sys/kernel/x");
        s = scan(root, -ENOENT);
        ck_assert(!dmabuf_state_source_up(s, DMABUF_SOURCE_SYSFS));
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        dmabuf_state_unref(s);
        tu_rm_rf(root);
}
END_TEST

int main(void) {
        Suite *s = suite_create("sysfs");
        TCase *tc = tcase_create("scan");

        tcase_add_test(tc, test_buffers);
        tcase_add_test(tc, test_attachments);
        tcase_add_test(tc, test_malformed_and_vanished);
        tcase_add_test(tc, test_missing);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
