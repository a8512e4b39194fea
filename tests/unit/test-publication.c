/* SPDX-License-Identifier: MIT */
/* Publication: the state swap, liveness with literal clock values
 * (milliseconds), and the live counters. */
#include "publication.h"
#include "test-util.h"

#define MS 1000ULL

static DmabufState *empty_state(void) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;

        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000000000ULL, 0.01, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

START_TEST(test_state_swap) {
        DmabufdPublication *p = NULL;
        DmabufState *a = empty_state(), *b = empty_state(), *got, *held;

        ck_assert_int_eq(dmabufd_publication_new(&p), 0);
        ck_assert_ptr_null(dmabufd_publication_get_state(p));

        dmabufd_publication_swap(p, dmabuf_state_ref(a), 10000 * MS, 0);
        held = dmabufd_publication_get_state(p);
        ck_assert_ptr_eq(held, a);
        dmabufd_publication_swap(p, dmabuf_state_ref(b), 10000 * MS, 1000 * MS);
        got = dmabufd_publication_get_state(p);
        ck_assert_ptr_eq(got, b);
        /* The publication dropped its reference to a; a reader's keeps it. */
        dmabuf_state_unref(a);
        ck_assert_uint_eq(dmabuf_state_n_buffers(held), 0);
        ck_assert_uint_eq(dmabuf_state_collected_at_usec(held), 1700000000000000ULL);
        dmabuf_state_unref(held);
        dmabuf_state_unref(got);
        dmabuf_state_unref(b);
        /* The publication still holds b. */
        got = dmabufd_publication_get_state(p);
        ck_assert_ptr_eq(got, b);
        dmabuf_state_unref(got);
        dmabufd_publication_free(p);
}
END_TEST

START_TEST(test_liveness) {
        DmabufdPublication *p = NULL;

        ck_assert_int_eq(dmabufd_publication_new(&p), 0);
        /* Nothing published: not alive, whatever the time. */
        ck_assert(!dmabufd_publication_alive(p, 0));
        ck_assert(!dmabufd_publication_alive(p, 5000 * MS));

        /* Interval 10 s, published at 1 s: two intervals and 10 s of slack. */
        dmabufd_publication_swap(p, empty_state(), 10000 * MS, 1000 * MS);
        ck_assert(dmabufd_publication_alive(p, 1000 * MS));
        ck_assert(dmabufd_publication_alive(p, 31000 * MS));
        ck_assert(!dmabufd_publication_alive(p, 31000 * MS + 1));
        ck_assert(!dmabufd_publication_alive(p, 60000 * MS));

        /* A reload to 0.5 s: the next publication counts from the new interval. */
        dmabufd_publication_swap(p, empty_state(), 500 * MS, 40000 * MS);
        ck_assert(dmabufd_publication_alive(p, 51000 * MS));
        ck_assert(!dmabufd_publication_alive(p, 51001 * MS));
        dmabufd_publication_free(p);
}
END_TEST

START_TEST(test_live_counters) {
        DmabufdPublication *p = NULL;
        bool up[_DMABUFD_EVENT_SOURCE_MAX] = { [DMABUFD_EVENT_SOURCE_KMSG] = true, [DMABUFD_EVENT_SOURCE_CGROUP] = true };
        DmabufPromLive live;

        ck_assert_int_eq(dmabufd_publication_new(&p), 0);
        dmabufd_publication_get_live(p, &live);
        ck_assert_uint_eq(live.events[DMABUFD_EVENT_OOM_KILL], 0);
        ck_assert_uint_eq(live.snapshots, 0);

        dmabufd_publication_count_event(p, DMABUFD_EVENT_OOM_KILL);
        dmabufd_publication_count_event(p, DMABUFD_EVENT_CGROUP_OOM);
        dmabufd_publication_count_event(p, DMABUFD_EVENT_OOM_KILL);
        dmabufd_publication_count_event(p, _DMABUFD_EVENT_KIND_MAX); /* ignored */
        dmabufd_publication_count_snapshot(p, true);
        dmabufd_publication_count_snapshot(p, false);
        dmabufd_publication_count_snapshot(p, true);
        dmabufd_publication_set_sources_up(p, up);
        dmabufd_publication_get_live(p, &live);
        ck_assert_uint_eq(live.events[DMABUFD_EVENT_OOM_KILL], 2);
        ck_assert_uint_eq(live.events[DMABUFD_EVENT_CGROUP_OOM], 1);
        ck_assert_uint_eq(live.events[DMABUFD_EVENT_MANUAL], 0);
        ck_assert_uint_eq(live.snapshots, 2);
        ck_assert_uint_eq(live.snapshot_failures, 1);

        dmabufd_publication_count_hook(p, DMABUFD_HOOK_EXEC_FAILURE);
        dmabufd_publication_count_hook(p, DMABUFD_HOOK_PUSH_FAILURE);
        dmabufd_publication_count_hook(p, DMABUFD_HOOK_PUSH_FAILURE);
        dmabufd_publication_count_hook(p, DMABUFD_HOOK_PUSHED);
        dmabufd_publication_count_hook(p, DMABUFD_HOOK_PUSH_DROPPED);
        dmabufd_publication_set_push_queue(p, 7);
        dmabufd_publication_get_live(p, &live);
        ck_assert_uint_eq(live.snapshot_exec_failures, 1);
        ck_assert_uint_eq(live.snapshot_push_failures, 2);
        ck_assert_uint_eq(live.snapshot_pushes, 1);
        ck_assert_uint_eq(live.snapshot_push_dropped, 1);
        ck_assert_uint_eq(live.snapshot_push_queue, 7);
        ck_assert(live.source_up[DMABUFD_EVENT_SOURCE_KMSG]);
        ck_assert(!live.source_up[DMABUFD_EVENT_SOURCE_PSI]);
        ck_assert(live.source_up[DMABUFD_EVENT_SOURCE_CGROUP]);

        up[DMABUFD_EVENT_SOURCE_KMSG] = false;
        dmabufd_publication_set_sources_up(p, up);
        dmabufd_publication_get_live(p, &live);
        ck_assert(!live.source_up[DMABUFD_EVENT_SOURCE_KMSG]);
        dmabufd_publication_free(p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("publication");
        TCase *tc = tcase_create("publication");

        tcase_add_test(tc, test_state_swap);
        tcase_add_test(tc, test_liveness);
        tcase_add_test(tc, test_live_counters);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
