/* SPDX-License-Identifier: MIT */
#include "debugfs.h"
#include "test-util.h"

typedef struct Rows {
        size_t n;
        uint64_t inode[16], size[16], count[16];
        char exporter[16][32], name[16][64];
        bool named[16];
        size_t n_dev;
        uint64_t dev_inode[16];
        char dev[16][32];
} Rows;

static int on_row(const DmabufBufferInfo *info, void *userdata) {
        Rows *r = userdata;

        ck_assert_uint_lt(r->n, 16);
        r->inode[r->n] = info->inode;
        r->size[r->n] = info->size;
        r->count[r->n] = info->count;
        snprintf(r->exporter[r->n], 32, "%s", info->exporter);
        snprintf(r->name[r->n], 64, "%.*s", (int) info->name_len, info->name);
        r->named[r->n] = info->has_name && info->name_len > 0;
        r->n++;
        return 0;
}

static int on_device(uint64_t inode, const char *device, void *userdata) {
        Rows *r = userdata;

        ck_assert_uint_lt(r->n_dev, 16);
        r->dev_inode[r->n_dev] = inode;
        snprintf(r->dev[r->n_dev++], 32, "%s", device);
        return 0;
}

static const DmabufBufinfoCallbacks cb = { .row = on_row, .device = on_device };

/* As 6.1 prints it (drivers/dma-buf/dma-buf.c, dma_buf_debug_show). */
static const char bufinfo_61[] =
        "\nDma-buf Objects:\n"
        "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
        "00004096\t00000002\t00080007\t00000003\tsystem\t00000010\tcamera\n"
        "\twrite fence:drm_sched gfx seq 12146 signalled\n"
        "\tread fence:drm_sched gfx seq 12147 unsignalled\n"
        "\tAttached Devices:\n"
        "\tvgem\n"
        "\t0000:00:02.0\n"
        "Total 2 devices attached\n\n"
        "00008192\t00000002\t00080007\t00000001\tudmabuf\t4294967301\t<none>\n"
        "\tAttached Devices:\n"
        "Total 0 devices attached\n\n"
        "\nTotal 2 objects, 12288 bytes\n";

START_TEST(test_61) {
        Rows r = { 0 };
        DmabufBufinfoSummary sum;

        ck_assert_int_eq(dmabuf_bufinfo_parse(bufinfo_61, strlen(bufinfo_61), &cb, &r, &sum), 0);
        ck_assert_uint_eq(sum.malformed, 0);
        ck_assert_uint_eq(sum.rows, 2);
        ck_assert_uint_eq(sum.total_objects, 2);
        ck_assert_uint_eq(sum.total_bytes, 12288);
        ck_assert_uint_eq(r.n, 2);
        ck_assert_uint_eq(r.inode[0], 10); /* zero-padded decimal, not octal 8 */
        ck_assert_uint_eq(r.size[0], 4096);
        ck_assert_uint_eq(r.count[0], 3);
        ck_assert_str_eq(r.exporter[0], "system");
        ck_assert_str_eq(r.name[0], "camera");
        ck_assert(!r.named[1]); /* "<none>" */
        ck_assert_uint_eq(r.inode[1], 4294967301ULL);
        ck_assert_uint_eq(r.n_dev, 2);
        ck_assert_uint_eq(r.dev_inode[0], 10);
        ck_assert_str_eq(r.dev[0], "vgem");
        ck_assert_str_eq(r.dev[1], "0000:00:02.0");
}
END_TEST

/* 5.10: no name column in the header, rows end in an empty name, fences print as
 * "Exclusive fence"/"Shared fence". */
START_TEST(test_510) {
        static const char in[] =
                "\nDma-buf Objects:\n"
                "size    \tflags   \tmode    \tcount   \texp_name\tino     \n"
                "00004096\t00000002\t00080007\t00000001\theap_helpers\t00000005\t\n"
                "\tExclusive fence: drm_sched gfx signalled\n"
                "\tShared fence: drm_sched gfx unsignalled\n"
                "\tAttached Devices:\n"
                "Total 0 devices attached\n\n"
                "00008192\t00000002\t00080007\t00000002\theap_helpers\t00000006\tvideo\n"
                "\tAttached Devices:\n"
                "Total 0 devices attached\n\n"
                "\nTotal 2 objects, 12288 bytes\n";
        Rows r = { 0 };
        DmabufBufinfoSummary sum;

        ck_assert_int_eq(dmabuf_bufinfo_parse(in, strlen(in), &cb, &r, &sum), 0);
        ck_assert_uint_eq(sum.malformed, 0);
        ck_assert_uint_eq(r.n, 2);
        ck_assert(!r.named[0]);
        ck_assert_str_eq(r.name[1], "video");
        ck_assert_str_eq(r.exporter[0], "heap_helpers");
}
END_TEST

START_TEST(test_name_with_newline) {
        static const char in[] =
                "\nDma-buf Objects:\n"
                "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
                "00004096\t00000002\t00080007\t00000001\tsystem\t00000061\ta\"b\\c\n"
                "d\n"
                "\tAttached Devices:\n"
                "Total 0 devices attached\n\n"
                "\nTotal 1 objects, 4096 bytes\n";
        Rows r = { 0 };
        DmabufBufinfoSummary sum;

        ck_assert_int_eq(dmabuf_bufinfo_parse(in, strlen(in), &cb, &r, &sum), 0);
        ck_assert_uint_eq(sum.malformed, 0);
        ck_assert_uint_eq(r.n, 1);
        ck_assert_str_eq(r.name[0], "a\"b\\c\nd");
}
END_TEST

START_TEST(test_malformed) {
        static const char in[] =
                "\nDma-buf Objects:\n"
                "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
                "00004096\t00000002\t00080007\t00000001\tsystem\n" /* too few columns */
                "\tAttached Devices:\n"
                "Total 0 devices attached\n\n"
                "00004096\t0000000z\t00080007\t00000001\tsystem\t00000002\tx\n" /* bad hex */
                "\tAttached Devices:\n"
                "Total 0 devices attached\n\n"
                "00004096\t00000002\t00080007\t00000001\tsystem\t00000003\tok\n"
                "\tAttached Devices:\n"
                "\tvgem\n"
                "Total 5 devices attached\n\n" /* count disagrees */
                "what is this\n";
        /* and no closing "Total N objects" line: cut short */
        Rows r = { 0 };
        DmabufBufinfoSummary sum;

        ck_assert_int_eq(dmabuf_bufinfo_parse(in, strlen(in), &cb, &r, &sum), 0);
        ck_assert_uint_eq(r.n, 1);
        ck_assert_uint_eq(r.inode[0], 3);
        ck_assert_uint_eq(sum.total_objects, DMABUF_UNKNOWN);
        ck_assert_uint_eq(sum.malformed, 5);
        ck_assert_uint_eq(sum.first_malformed_line, 4);
}
END_TEST

static int fail_row(const DmabufBufferInfo *info, void *userdata) {
        return -ENOMEM;
}

START_TEST(test_callback_error) {
        static const DmabufBufinfoCallbacks failing = { .row = fail_row };

        ck_assert_int_eq(dmabuf_bufinfo_parse(bufinfo_61, strlen(bufinfo_61), &failing, NULL, NULL), -ENOMEM);
}
END_TEST

START_TEST(test_empty) {
        Rows r = { 0 };
        DmabufBufinfoSummary sum;
        static const char in[] = "\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
                                 "\nTotal 0 objects, 0 bytes\n";

        ck_assert_int_eq(dmabuf_bufinfo_parse(in, strlen(in), &cb, &r, &sum), 0);
        ck_assert_uint_eq(sum.malformed, 0);
        ck_assert_uint_eq(r.n, 0);
        ck_assert_int_eq(dmabuf_bufinfo_parse("", 0, &cb, &r, &sum), 0);
        ck_assert_uint_eq(sum.malformed, 1); /* not even the closing line */
}
END_TEST

int main(void) {
        Suite *s = suite_create("debugfs");
        TCase *tc = tcase_create("bufinfo");

        tcase_add_test(tc, test_61);
        tcase_add_test(tc, test_510);
        tcase_add_test(tc, test_name_with_newline);
        tcase_add_test(tc, test_malformed);
        tcase_add_test(tc, test_callback_error);
        tcase_add_test(tc, test_empty);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
