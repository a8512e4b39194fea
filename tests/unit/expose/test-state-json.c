/* SPDX-License-Identifier: MIT */
#include "state-json.h"
#include "test-unknown.h"
#include "utf8.h"

START_TEST(test_time) {
        char buf[32];

        dmabuf_json_format_time(1700000000123456ULL, buf);
        ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z");
        dmabuf_json_format_time(0, buf);
        ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
}
END_TEST

START_TEST(test_strings) {
        json_object *o = dmabuf_json_string("bad\xffname", 8);

        ck_assert_str_eq(json_object_get_string(o), "bad\xef\xbf\xbdname");
        json_object_put(o);
        o = dmabuf_json_string("a\"b\\c\nd\x01", 8);
        ck_assert_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), "\"a\\\"b\\\\c\\nd\\u0001\"");
        json_object_put(o);
        ck_assert_ptr_null(dmabuf_json_string(NULL, 0));
        ck_assert_ptr_null(dmabuf_json_u64(DMABUF_UNKNOWN));
        o = dmabuf_json_u64(UINT64_MAX - 1);
        ck_assert_str_eq(json_object_to_json_string(o), "18446744073709551614");
        json_object_put(o);
}
END_TEST

START_TEST(test_state) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i = { .inode = 9, .size = 8192, .count = DMABUF_UNKNOWN, .exporter = "system",
                               .name = "\xff", .name_len = 1, .has_name = true };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;
        json_object *o, *v, *buf;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 7, NULL, "/a", 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 7, &i), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000000000ULL, 0.5, &s), 0);
        ck_assert_int_eq(dmabuf_json_write_state(&sb, s), 0);
        ck_assert(utf8_is_valid(sb.buf, sb.len));
        o = json_tokener_parse(sb.buf);
        ck_assert_msg(o, "does not parse: %s", sb.buf);

        ck_assert(json_object_object_get_ex(o, "collected_at", &v));
        ck_assert_str_eq(json_object_get_string(v), "2023-11-14T22:13:20.000Z");
        ck_assert(json_object_object_get_ex(o, "kernel", &v));
        ck_assert_ptr_null(v);
        ck_assert(json_object_object_get_ex(o, "totals", &v));
        ck_assert(json_object_object_get_ex(v, "bytes", &v));
        ck_assert_ptr_null(v); /* unknown is null, not 0 */
        ck_assert(json_object_object_get_ex(o, "buffers", &v));
        ck_assert_uint_eq(json_object_array_length(v), 1);
        buf = json_object_array_get_idx(v, 0);
        ck_assert(json_object_object_get_ex(buf, "count", &v));
        ck_assert_ptr_null(v);
        ck_assert(json_object_object_get_ex(buf, "attachments", &v));
        ck_assert_ptr_null(v);
        ck_assert(json_object_object_get_ex(buf, "name", &v));
        ck_assert_str_eq(json_object_get_string(v), "\xef\xbf\xbd");
        ck_assert(json_object_object_get_ex(buf, "holders", &v));
        ck_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), "[{\"pid\":7,\"fds\":1,\"maps\":0}]");
        ck_assert(json_object_object_get_ex(o, "processes", &v));
        v = json_object_array_get_idx(v, 0);
        ck_assert(json_object_object_get_ex(v, "comm", &buf));
        ck_assert_ptr_null(buf);
        ck_assert(json_object_object_get_ex(v, "rss_bytes", &buf));
        ck_assert_int_eq(json_object_get_int64(buf), 8192);
        /* Only procfs: the exporter is named, its figures are null, not a partial sum. */
        ck_assert(json_object_object_get_ex(o, "exporters", &v));
        ck_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                         "[{\"name\":\"system\",\"buffers\":null,\"bytes\":null}]");

        json_object_put(o);
        strbuf_done(&sb);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* Buffers and processes are written by hand, not by json-c: the text must be
 * what json-c writes for the same values, byte for byte, whatever the strings
 * hold (every byte value, invalid UTF-8) and whatever is unknown. */
START_TEST(test_same_as_json_c) {
        DmabufBuilder *b = dmabuf_builder_new();
        char all[256], bad_utf8[] = "ok\xc3(\xff\xed\xa0\x80\xf4\x90\x80\x80", *text;
        DmabufBufferInfo sized = { .inode = 9, .size = 8192, .count = 3, .exporter = all, .name = all,
                                   .name_len = 255, .has_name = true };
        DmabufBufferInfo unsized = { .inode = UINT64_MAX - 1, .size = DMABUF_UNKNOWN, .count = DMABUF_UNKNOWN,
                                     .exporter = bad_utf8, .name = "", .name_len = 0, .has_name = true };
        DmabufBufferInfo unnamed = { .inode = 11, .size = 0, .count = DMABUF_UNKNOWN };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;
        json_object *o;

        for (int i = 1; i < 256; i++)
                all[i - 1] = (char) i;
        all[255] = '\0';
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &unnamed), 0);
        ck_assert_int_eq(dmabuf_builder_attachments_known(b, DMABUF_SOURCE_SYSFS, 11), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, 11, all, 5), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, 11, "gpu", DMABUF_UNKNOWN), 0);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 7, all, bad_utf8, 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 7, &sized), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 7, &unsized), 0);
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 7, &unsized), 0);
        {
                /* A DRM client whose names are every byte, and one with nothing but
                 * its driver and one kind: the hand-written "drm" object too. */
                DmabufDrmRegion regions[] = {
                        { .name = all, .bytes = { 0, 1, UINT64_MAX - 1, 3, 4 } },
                        { .name = bad_utf8, .bytes = { DMABUF_UNKNOWN, DMABUF_UNKNOWN, 5, DMABUF_UNKNOWN,
                                                       DMABUF_UNKNOWN } },
                };
                ck_assert_int_eq(dmabuf_builder_add_drm_client(b, 7,
                                                               &(DmabufDrmClientInfo){ .driver = all,
                                                                                       .pdev = bad_utf8,
                                                                                       .client_id = 0,
                                                                                       .n_regions = 2,
                                                                                       .regions = regions }),
                                 0);
                ck_assert_int_eq(dmabuf_builder_add_drm_client(b, 7,
                                                               &(DmabufDrmClientInfo){ .driver = "msm",
                                                                                       .client_id = DMABUF_UNKNOWN,
                                                                                       .n_regions = 1,
                                                                                       .regions = &regions[1] }),
                                 0);
        }
        ck_assert_int_eq(dmabuf_builder_add_process(b, 2147483647, NULL, NULL, 4294967295U), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 2147483647, &sized), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000000000ULL, 0.5, &s), 0);
        ck_assert_int_eq(dmabuf_json_write_state(&sb, s), 0);

        o = json_tokener_parse(sb.buf);
        ck_assert_msg(o, "does not parse: %s", sb.buf);
        text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        ck_assert_str_eq(sb.buf, text);
        /* and the cases above are there */
        ck_assert_ptr_nonnull(strstr(text, "\"attachment_stats\":[{\"device\":\"\\u0001\\u0002"));
        ck_assert_ptr_nonnull(strstr(text, "\"size\":null,\"exporter\":\"ok\xef\xbf\xbd(\xef\xbf\xbd"));
        ck_assert_ptr_nonnull(strstr(text, "\"attachments\":null,\"attachment_stats\":null"));
        ck_assert_ptr_nonnull(strstr(text, "\"comm\":null,\"cgroup\":null"));
        ck_assert_ptr_nonnull(strstr(text, "\"unidentified_fds\":4294967295"));
        ck_assert_ptr_nonnull(strstr(text, "18446744073709551614"));
        ck_assert_ptr_nonnull(strstr(text, "{\"driver\":\"msm\",\"client_id\":null,\"pdev\":null,\"fds\":1,"
                                           "\"regions\":{\"ok\xef\xbf\xbd(\xef\xbf\xbd"));
        ck_assert_ptr_nonnull(strstr(text, "\":{\"resident\":5}}}]}"));
        ck_assert_ptr_nonnull(strstr(text, "{\"total\":0,\"shared\":1,\"resident\":18446744073709551614,"
                                           "\"purgeable\":3,\"active\":4}"));
        /* pid 7's pss is unknown (an unsized buffer): its cgroup comes last. */
        ck_assert_ptr_nonnull(strstr(text, "\"cgroups\":[{\"path\":null,\"unit\":null,\"processes\":1,"
                                           "\"rss_bytes\":8192,\"pss_bytes\":4096},{\"path\":\"ok\xef\xbf\xbd"));

        free(text);
        json_object_put(o);
        strbuf_done(&sb);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* The tree with unknown totals, written whole and through the HTTP cursor:
 * every unknown figure is null (SPEC), none a number. */
START_TEST(test_unknown_tree) {
        DmabufState *s = tu_collect_tree(TU_UNKNOWN_TREE);
        DmabufJsonCursor *c = dmabuf_json_cursor_new(s);
        StrBuf sb = STRBUF_INIT, streamed = STRBUF_INIT;
        json_object *o, *v, *e;
        char buf[512];
        ssize_t n;

        ck_assert_ptr_nonnull(c);
        for (int i = 0; i < 10000 && (n = dmabuf_json_cursor_read(c, buf, sizeof(buf))) > 0; i++)
                strbuf_append(&streamed, buf, (size_t) n);
        dmabuf_json_cursor_free(c);
        ck_assert_int_eq(dmabuf_json_write_state(&sb, s), 0);
        ck_assert_str_eq(streamed.buf, sb.buf);
        tu_assert_no_unknown_number(sb.buf, "state JSON");

        o = json_tokener_parse(sb.buf);
        ck_assert_ptr_nonnull(o);
        ck_assert(json_object_object_get_ex(o, "totals", &v));
        json_object_object_foreach(v, key, val) {
                ck_assert_msg(val == NULL, "totals.%s is %s, not null", key, json_object_to_json_string(val));
        }
        ck_assert_uint_eq(json_object_object_length(v), 4);
        ck_assert(json_object_object_get_ex(o, "exporters", &v));
        ck_assert_uint_eq(json_object_array_length(v), 2);
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                e = json_object_array_get_idx(v, i);
                ck_assert(json_object_object_get_ex(e, "buffers", &e) && e == NULL);
                e = json_object_array_get_idx(v, i);
                ck_assert(json_object_object_get_ex(e, "bytes", &e) && e == NULL);
        }
        /* The map-only buffer (2003) and its holder (4300). */
        ck_assert(strstr(sb.buf, "{\"inode\":2003,\"size\":null,\"exporter\":null,\"name\":\"orphan-map\",\"count\":null,"));
        ck_assert(strstr(sb.buf, "\"pid\":4300,\"comm\":\"orphan-mapper\",\"cgroup\":\"/user.slice/user-1000.slice/"
                                 "session-3.scope\",\"rss_bytes\":null,\"pss_bytes\":null,"));
        json_object_put(o);
        strbuf_done(&sb);
        strbuf_done(&streamed);
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("json");
        TCase *tc = tcase_create("state");

        tcase_add_test(tc, test_time);
        tcase_add_test(tc, test_strings);
        tcase_add_test(tc, test_state);
        tcase_add_test(tc, test_same_as_json_c);
        tcase_add_test(tc, test_unknown_tree);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
