/* SPDX-License-Identifier: MIT */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "history.h"
#include "test-util.h"

#define T0 1700000000000000ULL /* 2023-11-14T22:13:20Z */

/* n_procs processes, pid i+1 holding its own buffer of (i+1) pages, all
 * listed by sysfs under n_exporters exporters; at_usec as its time. With
 * lists_all false only procfs is up and the totals are unknown. */
static DmabufState *make_state(uint64_t at_usec, unsigned n_procs, unsigned n_exporters, bool lists_all,
                               const char *comm) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;
        char exporter[32];

        ck_assert_ptr_nonnull(b);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        if (lists_all) {
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        }
        for (unsigned i = 0; i < MAX(n_procs, n_exporters); i++) {
                DmabufBufferInfo info = { .inode = 100 + i, .size = (uint64_t) (i + 1) * 4096,
                                          .count = DMABUF_UNKNOWN, .exporter = exporter };

                snprintf(exporter, sizeof(exporter), "exp%02u", n_exporters ? i % n_exporters : 0);
                if (lists_all)
                        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &info), 0);
                if (i < n_procs) {
                        ck_assert_int_eq(dmabuf_builder_add_process(b, (pid_t) (i + 1), comm, "/x", 0), 0);
                        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, (pid_t) (i + 1), &info), 0);
                }
        }
        ck_assert_int_eq(dmabuf_builder_finish(b, at_usec, 0.1, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

static void push_state(DmabufHistory *h, const DmabufState *s) {
        DmabufHistoryEntry *e;

        ck_assert_int_eq(dmabuf_history_entry_new(s, &e), 0);
        dmabuf_history_push(h, e);
}

static json_object *history_json(const DmabufHistory *h, const DmabufHistoryQuery *q) {
        StrBuf sb = STRBUF_INIT;
        json_object *o;

        ck_assert_int_eq(dmabuf_history_write_json(&sb, h, q), 0);
        o = json_tokener_parse(sb.buf);
        ck_assert_msg(o, "does not parse: %s", sb.buf);
        strbuf_done(&sb);
        return o;
}

static json_object *points_of(json_object *o) {
        json_object *v;

        ck_assert(json_object_object_get_ex(o, "points", &v));
        return v;
}

START_TEST(test_entry) {
        DmabufState *s = make_state(T0, 12, 3, true, "comm-that-is-long");
        DmabufHistoryEntry *e;

        ck_assert_int_eq(dmabuf_history_entry_new(s, &e), 0);
        ck_assert_uint_eq(e->collected_at_usec, T0);
        ck_assert_uint_eq(e->totals.buffers, 12);
        ck_assert_uint_eq(e->totals.bytes, 78 * 4096);
        ck_assert_uint_eq(e->totals.kernel_only_bytes, 0);
        /* The ten largest by pss, largest first. */
        ck_assert_uint_eq(e->n_processes, DMABUF_HISTORY_TOP_PROCESSES);
        for (unsigned i = 0; i < e->n_processes; i++) {
                ck_assert_int_eq(e->processes[i].pid, 12 - (pid_t) i);
                ck_assert_uint_eq(e->processes[i].pss_bytes, (12 - i) * 4096ULL);
                ck_assert_str_eq(e->processes[i].comm, "comm-that-is-long");
        }
        /* Exporters by name, as in the state. */
        ck_assert_uint_eq(e->n_exporters, 3);
        ck_assert_uint_eq(e->exporters_omitted, 0);
        ck_assert_str_eq(e->exporters[0].name, "exp00");
        ck_assert_str_eq(e->exporters[2].name, "exp02");
        ck_assert_uint_eq(e->exporters[0].buffers, 4);
        /* exp00 holds buffers 1, 4, 7, 10 pages. */
        ck_assert_uint_eq(e->exporters[0].bytes, 22 * 4096ULL);
        dmabuf_history_entry_free(e);
        dmabuf_state_unref(s);
}
END_TEST

/* A hostile system's many exporters and long names cannot grow an entry past
 * its bound: the largest exporters are kept, the rest counted. */
START_TEST(test_entry_bounds) {
        char comm[DMABUF_HISTORY_NAME_MAX * 2];
        DmabufState *s;
        DmabufHistoryEntry *e;
        size_t bound = sizeof(DmabufHistoryEntry) +
                       DMABUF_HISTORY_EXPORTERS_MAX * (sizeof(DmabufHistoryExporter) + DMABUF_HISTORY_NAME_MAX + 1) +
                       DMABUF_HISTORY_TOP_PROCESSES * (sizeof(DmabufHistoryProcess) + DMABUF_HISTORY_NAME_MAX + 1);

        /* "é" is two bytes: the cut must not split one. */
        for (size_t i = 0; i + 2 < sizeof(comm); i += 2)
                memcpy(comm + i, "\xc3\xa9", 2);
        comm[sizeof(comm) - 1] = '\0';
        s = make_state(T0, 50, 40, true, comm);
        ck_assert_int_eq(dmabuf_history_entry_new(s, &e), 0);
        ck_assert_uint_eq(e->n_exporters, DMABUF_HISTORY_EXPORTERS_MAX);
        ck_assert_uint_eq(e->exporters_omitted, 8);
        /* exp00..exp09 hold a second buffer (41..50 pages), expNN alone one of
         * NN+1 pages: the 8 left out are the smallest, exp10..exp17. */
        ck_assert_str_eq(e->exporters[0].name, "exp00");
        ck_assert_str_eq(e->exporters[9].name, "exp09");
        ck_assert_str_eq(e->exporters[10].name, "exp18");
        ck_assert_str_eq(e->exporters[DMABUF_HISTORY_EXPORTERS_MAX - 1].name, "exp39");
        ck_assert_uint_le(strlen(e->processes[0].comm), DMABUF_HISTORY_NAME_MAX);
        ck_assert_uint_eq(strlen(e->processes[0].comm) % 2, 0);
        ck_assert_uint_le(e->allocated, bound);
        dmabuf_history_entry_free(e);
        dmabuf_state_unref(s);
}
END_TEST

START_TEST(test_ring) {
        DmabufHistory *h;
        json_object *o, *pts, *v;
        size_t one;

        ck_assert_int_eq(dmabuf_history_new(DMABUF_HISTORY_CAPACITY_MAX + 1, &h), -EINVAL);
        ck_assert_int_eq(dmabuf_history_new(3, &h), 0);
        ck_assert_uint_eq(dmabuf_history_size(h), 0);
        ck_assert_ptr_null(dmabuf_history_get(h, 0));
        for (unsigned i = 0; i < 5; i++) {
                DmabufState *s = make_state(T0 + i * 10000000ULL, i + 1, 1, true, "p");

                push_state(h, s);
                dmabuf_state_unref(s);
                if (i == 0)
                        one = dmabuf_history_memory_bytes(h);
        }
        ck_assert_uint_eq(dmabuf_history_size(h), 3);
        ck_assert_uint_eq(dmabuf_history_get(h, 0)->collected_at_usec, T0 + 20000000ULL);
        ck_assert_uint_eq(dmabuf_history_get(h, 2)->collected_at_usec, T0 + 40000000ULL);
        ck_assert_uint_gt(dmabuf_history_memory_bytes(h), one);

        o = history_json(h, &(DmabufHistoryQuery){});
        ck_assert(json_object_object_get_ex(o, "capacity", &v));
        ck_assert_int_eq(json_object_get_int(v), 3);
        pts = points_of(o);
        ck_assert_uint_eq(json_object_array_length(pts), 3);
        v = json_object_array_get_idx(pts, 0);
        ck_assert(json_object_object_get_ex(v, "collected_at", &v));
        ck_assert_str_eq(json_object_get_string(v), "2023-11-14T22:13:40.000Z");
        json_object_put(o);

        /* Shrinking keeps the newest; growing keeps them all; 0 keeps none and
         * takes no more. */
        ck_assert_int_eq(dmabuf_history_set_capacity(h, 2), 0);
        ck_assert_uint_eq(dmabuf_history_size(h), 2);
        ck_assert_uint_eq(dmabuf_history_get(h, 0)->collected_at_usec, T0 + 30000000ULL);
        ck_assert_int_eq(dmabuf_history_set_capacity(h, 10), 0);
        ck_assert_uint_eq(dmabuf_history_size(h), 2);
        ck_assert_uint_eq(dmabuf_history_get(h, 1)->collected_at_usec, T0 + 40000000ULL);
        ck_assert_int_eq(dmabuf_history_set_capacity(h, DMABUF_HISTORY_CAPACITY_MAX + 1), -EINVAL);
        ck_assert_uint_eq(dmabuf_history_capacity(h), 10);
        ck_assert_int_eq(dmabuf_history_set_capacity(h, 0), 0);
        ck_assert_uint_eq(dmabuf_history_size(h), 0);
        {
                DmabufState *s = make_state(T0, 1, 1, true, "p");

                push_state(h, s);
                dmabuf_state_unref(s);
        }
        ck_assert_uint_eq(dmabuf_history_size(h), 0);
        o = history_json(h, &(DmabufHistoryQuery){});
        ck_assert_uint_eq(json_object_array_length(points_of(o)), 0);
        json_object_put(o);
        dmabuf_history_free(h);
}
END_TEST

/* What no source could give is null in every point, never a number. */
START_TEST(test_unknown) {
        DmabufHistory *h;
        DmabufState *s = make_state(T0, 2, 1, false, NULL);
        json_object *o, *p, *v;

        ck_assert_int_eq(dmabuf_history_new(4, &h), 0);
        push_state(h, s);
        o = history_json(h, &(DmabufHistoryQuery){});
        p = json_object_array_get_idx(points_of(o), 0);
        ck_assert(json_object_object_get_ex(p, "totals", &v));
        ck_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                         "{\"buffers\":null,\"bytes\":null,\"userspace_bytes\":12288,\"kernel_only_bytes\":null}");
        ck_assert(json_object_object_get_ex(p, "exporters", &v));
        ck_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                         "[{\"name\":\"exp00\",\"buffers\":null,\"bytes\":null}]");
        ck_assert(json_object_object_get_ex(p, "top_processes", &v));
        ck_assert_str_eq(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                         "[{\"pid\":2,\"comm\":null,\"rss_bytes\":8192,\"pss_bytes\":8192},"
                         "{\"pid\":1,\"comm\":null,\"rss_bytes\":4096,\"pss_bytes\":4096}]");
        json_object_put(o);
        dmabuf_history_free(h);
        dmabuf_state_unref(s);
}
END_TEST

static void assert_query_error(const char *key, const char *value, const char *needle) {
        DmabufHistoryQuery q = {};
        char err[256] = "";

        ck_assert_int_eq(dmabuf_history_query_parse(&q, key, value, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, needle), "%s=%s: \"%s\" does not say \"%s\"", key, value ?: "(none)", err, needle);
}

START_TEST(test_query) {
        DmabufHistoryQuery q = {};
        char err[256];

        ck_assert_int_eq(dmabuf_history_query_parse(&q, "points", "5", err, sizeof(err)), 0);
        ck_assert_uint_eq(q.points, 5);
        ck_assert_int_eq(dmabuf_history_query_parse(&q, "since", "1700000000", err, sizeof(err)), 0);
        ck_assert_uint_eq(q.since_usec, T0);
        ck_assert_int_eq(dmabuf_history_query_parse(&q, "since", "2023-11-14T22:13:20.5Z", err, sizeof(err)), 0);
        ck_assert_uint_eq(q.since_usec, T0 + 500000);
        ck_assert_int_eq(dmabuf_history_query_parse(&q, "since", "2023-11-14T22:13:20Z", err, sizeof(err)), 0);
        ck_assert_uint_eq(q.since_usec, T0);

        assert_query_error("points", "0", "points=\"0\"");
        assert_query_error("points", "-1", "points=\"-1\"");
        assert_query_error("points", "12abc", "points=\"12abc\"");
        assert_query_error("points", "99999999999999999999999", "points=\"9999");
        assert_query_error("points", "8641", "from 1 to 8640");
        assert_query_error("points", NULL, "points needs a value");
        assert_query_error("points", "", "points needs a value");
        assert_query_error("since", "yesterday", "since=\"yesterday\"");
        assert_query_error("since", "2023-11-14T22:13:20", "since=\"2023-11-14T22:13:20\"");
        assert_query_error("since", "2023-11-14T22:13:20.Z", "RFC 3339");
        assert_query_error("since", "2023-13-14T22:13:20Z", "since=");
        assert_query_error("since", "2023-11-14T22:13:20+01:00", "since=");
        assert_query_error("limit", "3", "unknown parameter \"limit\"");
}
END_TEST

START_TEST(test_select) {
        DmabufHistory *h;
        json_object *o, *pts, *v;

        ck_assert_int_eq(dmabuf_history_new(10, &h), 0);
        for (unsigned i = 0; i < 6; i++) {
                DmabufState *s = make_state(T0 + i * 10000000ULL, 1, 1, true, "p");

                push_state(h, s);
                dmabuf_state_unref(s);
        }
        o = history_json(h, &(DmabufHistoryQuery){ .points = 2 });
        pts = points_of(o);
        ck_assert_uint_eq(json_object_array_length(pts), 2);
        ck_assert(json_object_object_get_ex(json_object_array_get_idx(pts, 0), "collected_at", &v));
        ck_assert_str_eq(json_object_get_string(v), "2023-11-14T22:14:00.000Z");
        json_object_put(o);

        /* After T0 + 30 s: the two newer ones, not the one at 30 s itself. */
        o = history_json(h, &(DmabufHistoryQuery){ .since_usec = T0 + 30000000ULL });
        pts = points_of(o);
        ck_assert_uint_eq(json_object_array_length(pts), 2);
        ck_assert(json_object_object_get_ex(json_object_array_get_idx(pts, 0), "collected_at", &v));
        ck_assert_str_eq(json_object_get_string(v), "2023-11-14T22:14:00.000Z");
        json_object_put(o);

        /* As written, to the millisecond: since= a point's collected_at leaves
         * that point out even if it was taken microseconds later. */
        {
                DmabufState *s = make_state(T0 + 60000400ULL, 1, 1, true, "p");

                push_state(h, s);
                dmabuf_state_unref(s);
        }
        o = history_json(h, &(DmabufHistoryQuery){ .since_usec = T0 + 60000000ULL });
        ck_assert_uint_eq(json_object_array_length(points_of(o)), 0);
        json_object_put(o);
        o = history_json(h, &(DmabufHistoryQuery){ .since_usec = T0 + 5000000ULL, .points = 100 });
        ck_assert_uint_eq(json_object_array_length(points_of(o)), 6);
        json_object_put(o);
        dmabuf_history_free(h);
}
END_TEST

/* The default history, full, of collections as large as an entry gets: what
 * it costs at most (README and docs/design.md quote the figure). */
START_TEST(test_memory_360) {
        DmabufHistory *h;
        DmabufState *s = make_state(T0, 2000, 12, true, "surfaceflinger");
        size_t bytes, heap_before, heap_after;
        size_t bound = sizeof(DmabufHistoryEntry) +
                       DMABUF_HISTORY_EXPORTERS_MAX * (sizeof(DmabufHistoryExporter) + DMABUF_HISTORY_NAME_MAX + 1) +
                       DMABUF_HISTORY_TOP_PROCESSES * (sizeof(DmabufHistoryProcess) + DMABUF_HISTORY_NAME_MAX + 1);

        heap_before = mallinfo2().uordblks;
        ck_assert_int_eq(dmabuf_history_new(DMABUF_HISTORY_DEFAULT_CAPACITY, &h), 0);
        for (unsigned i = 0; i < DMABUF_HISTORY_DEFAULT_CAPACITY + 5; i++)
                push_state(h, s);
        heap_after = mallinfo2().uordblks;
        bytes = dmabuf_history_memory_bytes(h);
        /* The accounting is what malloc handed out, less its per-block overhead. */
        printf("history: %d entries of 2000 processes and 12 exporters hold %zu bytes (%zu per entry); "
               "the heap grew by %zu bytes; an entry is at most %zu bytes\n",
               DMABUF_HISTORY_DEFAULT_CAPACITY, bytes, bytes / DMABUF_HISTORY_DEFAULT_CAPACITY,
               heap_after - heap_before, bound);
        ck_assert_uint_eq(dmabuf_history_size(h), DMABUF_HISTORY_DEFAULT_CAPACITY);
        ck_assert_uint_lt(bytes, 512 * 1024);
        /* A sanitizer's allocator leaves glibc's counters at 0: nothing to compare. */
        if (heap_after > heap_before) {
                ck_assert_uint_ge(heap_after - heap_before, bytes);
                ck_assert_uint_le(heap_after - heap_before, bytes + (DMABUF_HISTORY_DEFAULT_CAPACITY + 2) * 32);
        }
        dmabuf_history_free(h);
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("history");
        TCase *tc = tcase_create("history");

        tcase_add_test(tc, test_entry);
        tcase_add_test(tc, test_entry_bounds);
        tcase_add_test(tc, test_ring);
        tcase_add_test(tc, test_unknown);
        tcase_add_test(tc, test_query);
        tcase_add_test(tc, test_select);
        tcase_add_test(tc, test_memory_360);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
