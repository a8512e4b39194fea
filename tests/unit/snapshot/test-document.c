/* SPDX-License-Identifier: MIT */
/* A snapshot's trigger and suppressed list when `before` is a collection whose
 * figures are unknown: null in the JSON, never UINT64_MAX. */
#include "document.h"
#include "test-unknown.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static json_object *member(json_object *o, const char *key) {
        json_object *v = NULL;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
                      json_object_to_json_string_ext(o, JSON_FLAGS));
        return v;
}

START_TEST(test_trigger_unknown_tree) {
        DmabufState *before = tu_collect_tree(TU_UNKNOWN_TREE);
        /* 4300 holds the map-only buffer, whose size no source gives. */
        const DmabufdEvent unsized = { .kind = DMABUFD_EVENT_OOM_KILL, .pid = 4300, .comm = "orphan-mapper",
                                       .line = "Out of memory: Killed process 4300 (orphan-mapper)" };
        const DmabufdEvent sized = { .kind = DMABUFD_EVENT_LMK_KILL, .pid = 4100, .comm = "gst-launch-1.0" };
        json_object *t, *bufs;
        bool saw_2003 = false;

        t = dmabuf_snapshot_trigger_new(&unsized, 1700000000000000ULL, before);
        tu_assert_no_unknown_number(json_object_to_json_string_ext(t, JSON_FLAGS), "trigger");
        ck_assert(json_object_get_boolean(member(t, "in_before")));
        ck_assert_ptr_null(member(t, "rss_bytes"));
        ck_assert_ptr_null(member(t, "pss_bytes"));
        bufs = member(t, "buffers");
        ck_assert_uint_eq(json_object_array_length(bufs), 2);
        for (size_t i = 0; i < json_object_array_length(bufs); i++) {
                json_object *b = json_object_array_get_idx(bufs, i);

                if (json_object_get_uint64(member(b, "inode")) != 2003)
                        continue;
                saw_2003 = true;
                ck_assert_ptr_null(member(b, "size"));
                ck_assert_ptr_null(member(b, "exporter"));
        }
        ck_assert(saw_2003);
        json_object_put(t);

        /* A victim whose figures are known keeps them. */
        t = dmabuf_snapshot_trigger_new(&sized, 1700000000000000ULL, before);
        ck_assert_uint_eq(json_object_get_uint64(member(t, "rss_bytes")), 5308416);
        ck_assert_uint_eq(json_object_get_uint64(member(t, "pss_bytes")), 3178496);
        json_object_put(t);
        dmabuf_state_unref(before);
}
END_TEST

START_TEST(test_suppressed_unknown_tree) {
        DmabufState *before = tu_collect_tree(TU_UNKNOWN_TREE);
        const DmabufdEvent unsized = { .kind = DMABUFD_EVENT_OOM_KILL, .pid = 4300, .comm = "orphan-mapper" };
        const DmabufdEvent absent = { .kind = DMABUFD_EVENT_OOM_KILL, .pid = 9999, .comm = "gone" };
        DmabufSuppressed s = {};
        json_object *o, *events;

        dmabuf_suppressed_add(&s, &unsized, 1700000000000000ULL, before);
        dmabuf_suppressed_add(&s, &absent, 1700000000000000ULL, before);
        o = dmabuf_suppressed_to_json(&s);
        ck_assert_ptr_nonnull(o);
        tu_assert_no_unknown_number(json_object_to_json_string_ext(o, JSON_FLAGS), "suppressed");
        events = member(o, "events");
        ck_assert_uint_eq(json_object_array_length(events), 2);
        for (size_t i = 0; i < 2; i++) {
                ck_assert_ptr_null(member(json_object_array_get_idx(events, i), "rss_bytes"));
                ck_assert_ptr_null(member(json_object_array_get_idx(events, i), "pss_bytes"));
        }
        json_object_put(o);
        dmabuf_state_unref(before);
}
END_TEST

int main(void) {
        Suite *s = suite_create("document");
        TCase *tc = tcase_create("unknown");

        tcase_add_test(tc, test_trigger_unknown_tree);
        tcase_add_test(tc, test_suppressed_unknown_tree);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
