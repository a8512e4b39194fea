/* SPDX-License-Identifier: MIT */
#include "state-json.h"
#include "test-util.h"
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

int main(void) {
        Suite *s = suite_create("json");
        TCase *tc = tcase_create("state");

        tcase_add_test(tc, test_time);
        tcase_add_test(tc, test_strings);
        tcase_add_test(tc, test_state);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
