/* SPDX-License-Identifier: MIT */
/* The collection worker: results come back on the loop thread, each waiter once,
 * in the order asked; nothing is left half-done when it stops. */
#include <systemd/sd-event.h>

#include "collector.h"
#include "test-util.h"

static char trees_dir[PATH_MAX / 2];

typedef struct Waiter {
        DmabufdCollectWaiter w; /* first */
        int id;
        int served; /* how many times handed back */
        int r;
        size_t buffers;
} Waiter;

typedef struct Seen {
        int collections;
        int periodic; /* collections with no waiter */
        int order[16];
        int n_order;
} Seen;

static void on_done(int r, DmabufState *state, DmabufdCollectWaiter *waiters, void *userdata) {
        Seen *seen = userdata;

        seen->collections++;
        if (!waiters)
                seen->periodic++;
        for (DmabufdCollectWaiter *w = waiters; w; w = w->next) {
                Waiter *x = (Waiter *) w;

                x->served++;
                x->r = r;
                x->buffers = state ? dmabuf_state_n_buffers(state) : 0;
                if (seen->n_order < 16)
                        seen->order[seen->n_order++] = x->id;
        }
        dmabuf_state_unref(state);
}

/* Runs the loop until cond holds, at most 10 s. */
#define RUN_UNTIL(event, cond)                                                                   \
        do {                                                                                       \
                for (int _i = 0; _i < 1000 && !(cond); _i++)                                       \
                        ck_assert_int_ge(sd_event_run((event), 10 * 1000), 0);                      \
                ck_assert_msg((cond), "not within 10 s: %s", #cond);                              \
        } while (0)

static int open_tree(const char *name) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", trees_dir, name);
        return tu_open_dir(path);
}

START_TEST(test_waiters_served_once_in_order) {
        Waiter a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };
        DmabufdCollector *col = NULL;
        sd_event *event = NULL;
        Seen seen = {};
        int root_fd = open_tree("linux-6.1");

        ck_assert_int_ge(sd_event_new(&event), 0);
        ck_assert_int_eq(dmabufd_collector_new(event, root_fd, on_done, &seen, &col), 0);
        ck_assert_int_eq(dmabufd_collector_request(col, &a.w), 0);
        ck_assert_int_eq(dmabufd_collector_request(col, &b.w), 0);
        ck_assert_int_eq(dmabufd_collector_request(col, NULL), 0);
        ck_assert_int_eq(dmabufd_collector_request(col, &c.w), 0);
        RUN_UNTIL(event, c.served > 0 && !dmabufd_collector_busy(col));

        ck_assert_int_eq(a.served, 1);
        ck_assert_int_eq(b.served, 1);
        ck_assert_int_eq(c.served, 1);
        ck_assert_int_ge(a.r, 0);
        ck_assert_uint_gt(a.buffers, 0);
        ck_assert_int_eq(seen.n_order, 3);
        ck_assert_int_eq(seen.order[0], 1);
        ck_assert_int_eq(seen.order[1], 2);
        ck_assert_int_eq(seen.order[2], 3);
        /* Four requests, made faster than a collection: they share at most as
         * many collections, and at least one. */
        ck_assert_int_ge(seen.collections, 1);
        ck_assert_int_le(seen.collections, 4);

        dmabufd_collector_free(col);
        sd_event_unref(event);
        close(root_fd);
}
END_TEST

/* A waiter still queued when the collector stops gets its collection: its
 * snapshot is never left half-written. */
START_TEST(test_stop_serves_queued_waiters) {
        Waiter w[8];
        DmabufdCollector *col = NULL;
        sd_event *event = NULL;
        Seen seen = {};
        int root_fd = open_tree("linux-6.1");

        ck_assert_int_ge(sd_event_new(&event), 0);
        ck_assert_int_eq(dmabufd_collector_new(event, root_fd, on_done, &seen, &col), 0);
        for (int i = 0; i < 8; i++) {
                w[i] = (Waiter){ .id = i + 1 };
                ck_assert_int_eq(dmabufd_collector_request(col, &w[i].w), 0);
        }
        dmabufd_collector_free(col);
        for (int i = 0; i < 8; i++) {
                ck_assert_int_eq(w[i].served, 1);
                ck_assert_int_ge(w[i].r, 0);
        }
        sd_event_unref(event);
        close(root_fd);
}
END_TEST

START_TEST(test_swap_bpf_hands_back_the_old_handle) {
        DmabufdCollector *col = NULL;
        DmabufBpf *recorded = NULL;
        sd_event *event = NULL;
        Seen seen = {};
        int root_fd = open_tree("linux-6.1"), dir_fd;
        char *tmp = tu_mkdtemp();

        tu_write_str(tmp, "task_vma.bin", "");
        dir_fd = tu_open_dir(tmp);
        ck_assert_int_eq(dmabuf_bpf_open_recorded(dir_fd, &recorded), 0);

        ck_assert_int_ge(sd_event_new(&event), 0);
        ck_assert_int_eq(dmabufd_collector_new(event, root_fd, on_done, &seen, &col), 0);
        ck_assert_ptr_null(dmabufd_collector_swap_bpf(col, recorded, false));
        ck_assert_int_eq(dmabufd_collector_request(col, NULL), 0);
        ck_assert_ptr_eq(dmabufd_collector_swap_bpf(col, NULL, true), recorded);
        RUN_UNTIL(event, seen.collections > 0 && !dmabufd_collector_busy(col));
        ck_assert_int_eq(seen.periodic, seen.collections);

        dmabufd_collector_free(col);
        dmabuf_bpf_free(recorded);
        sd_event_unref(event);
        close(dir_fd);
        close(root_fd);
        tu_rm_rf(tmp);
}
END_TEST

int main(void) {
        Suite *s = suite_create("collector");
        TCase *tc = tcase_create("worker");

        tu_fixture_tree(trees_dir, sizeof(trees_dir), NULL);
        tcase_add_test(tc, test_waiters_served_once_in_order);
        tcase_add_test(tc, test_stop_serves_queued_waiters);
        tcase_add_test(tc, test_swap_bpf_hands_back_the_old_handle);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
