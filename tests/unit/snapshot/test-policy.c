/* SPDX-License-Identifier: MIT */
/* The event-to-snapshot policy with literal clock values (milliseconds): no
 * sleep, no daemon. */
#include "policy.h"
#include "test-util.h"

#define MS 1000ULL
#define REALTIME_BASE 1700000000000000ULL

static const double default_cooldowns[_DMABUFD_EVENT_KIND_MAX] = {
        [DMABUFD_EVENT_OOM_KILL] = 30,  [DMABUFD_EVENT_LMK_KILL] = 30, [DMABUFD_EVENT_CGROUP_OOM] = 30,
        [DMABUFD_EVENT_PSI] = 300,      [DMABUFD_EVENT_JOURNAL] = 30,  [DMABUFD_EVENT_MANUAL] = 5,
};
static const double no_cooldowns[_DMABUFD_EVENT_KIND_MAX] = {};

static DmabufdPolicyClock at_ms(uint64_t ms) {
        return (DmabufdPolicyClock){ .monotonic_usec = ms * MS, .realtime_usec = REALTIME_BASE + ms * MS };
}

static DmabufdPolicy *policy(const double cooldowns[_DMABUFD_EVENT_KIND_MAX]) {
        DmabufdPolicy *p = NULL;

        ck_assert_int_eq(dmabufd_policy_new(cooldowns, &p), 0);
        return p;
}

/* Each pid holds buffer 1 (a process that holds none is not kept), in cgroup
 * "/test.slice/<pid>.service"; rss is pid KiB so tests can tell states apart. */
static DmabufState *state_of(const pid_t *pids, size_t n, uint64_t collected_ms) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i = { .inode = 1, .size = 4096, .count = DMABUF_UNKNOWN, .exporter = "system" };
        DmabufState *s = NULL;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);
        for (size_t k = 0; k < n; k++) {
                char cgroup[64];

                snprintf(cgroup, sizeof(cgroup), "/test.slice/%d.service", (int) pids[k]);
                ck_assert_int_eq(dmabuf_builder_add_process(b, pids[k], "victim", cgroup, 0), 0);
                ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, pids[k], &i), 0);
        }
        ck_assert_int_eq(dmabuf_builder_finish(b, REALTIME_BASE + collected_ms * MS, 0.01, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

static void publish(DmabufdPolicy *p, DmabufState *s, bool for_snapshot) {
        dmabufd_policy_published(p, s, for_snapshot);
        dmabuf_state_unref(s); /* the policy keeps its own reference */
}

static DmabufdEvent manual(void) {
        return (DmabufdEvent){ .kind = DMABUFD_EVENT_MANUAL, .origin = "test" };
}

static DmabufdEvent psi(void) {
        return (DmabufdEvent){ .kind = DMABUFD_EVENT_PSI, .psi_trigger = "some 150000 1000000" };
}

static DmabufKill kills[8];
static size_t n_kills;

/* A kernel-log OOM kill; task_memcg and oom_memcg may be "" (the line had none). */
static DmabufdEvent oom(pid_t pid, const char *task_memcg, const char *oom_memcg) {
        DmabufKill *k = &kills[n_kills++ % ELEMENTSOF(kills)];

        *k = (DmabufKill){ .kind = oom_memcg[0] ? DMABUF_KILL_MEMCG_OOM : DMABUF_KILL_OOM, .pid = pid };
        snprintf(k->comm, sizeof(k->comm), "victim");
        snprintf(k->task_memcg, sizeof(k->task_memcg), "%s", task_memcg);
        snprintf(k->oom_memcg, sizeof(k->oom_memcg), "%s", oom_memcg);
        return (DmabufdEvent){
                .kind = DMABUFD_EVENT_OOM_KILL, .pid = pid, .comm = "victim", .line = "Killed process", .kill = k
        };
}

static DmabufdEvent cgroup_oom(const char *cgroup, uint64_t increase) {
        return (DmabufdEvent){
                .kind = DMABUFD_EVENT_CGROUP_OOM, .cgroup = cgroup, .oom_kill = 10, .oom_kill_increase = increase
        };
}

static DmabufdPolicyDecision decide(DmabufdPolicy *p, DmabufdEvent e, uint64_t ms, DmabufdPolicyVerdict expected) {
        DmabufdPolicyClock now = at_ms(ms);
        DmabufdPolicyDecision d;

        DmabufdPolicyVerdict v = dmabufd_policy_event(p, &e, &now, &d);

        ck_assert_msg(v == expected && d.verdict == v, "%s event at %llu ms: verdict %d, expected %d",
                      dmabufd_event_kind_to_string(e.kind), (unsigned long long) ms, (int) v, (int) expected);
        return d;
}

START_TEST(test_cooldown_per_kind) {
        DmabufdPolicy *p = policy(default_cooldowns);

        ck_assert_uint_eq(decide(p, manual(), 0, DMABUFD_POLICY_SNAPSHOT).snapshot, 1);
        decide(p, manual(), 1000, DMABUFD_POLICY_COOLDOWN);
        /* Other kinds have cooldowns of their own. */
        ck_assert_uint_eq(decide(p, psi(), 1000, DMABUFD_POLICY_SNAPSHOT).snapshot, 2);
        ck_assert_uint_eq(decide(p, oom(100, "", ""), 1000, DMABUFD_POLICY_SNAPSHOT).snapshot, 3);
        decide(p, psi(), 299999, DMABUFD_POLICY_COOLDOWN);
        decide(p, psi(), 301000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(101, "", ""), 30999, DMABUFD_POLICY_COOLDOWN);
        decide(p, oom(102, "", ""), 31000, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_cooldown_boundary) {
        DmabufdPolicy *p = policy(default_cooldowns);
        double cooldowns[_DMABUFD_EVENT_KIND_MAX];

        decide(p, manual(), 10000, DMABUFD_POLICY_SNAPSHOT);
        /* A suppressed event does not restart the cooldown. */
        decide(p, manual(), 12000, DMABUFD_POLICY_COOLDOWN);
        decide(p, manual(), 14999, DMABUFD_POLICY_COOLDOWN);
        /* Exactly the cooldown after the attempt: outside it. */
        decide(p, manual(), 15000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, manual(), 15001, DMABUFD_POLICY_COOLDOWN);

        /* 0 turns a cooldown off; a reload applies at once, counted from the
         * attempts already made. */
        memcpy(cooldowns, default_cooldowns, sizeof(cooldowns));
        cooldowns[DMABUFD_EVENT_MANUAL] = 0;
        dmabufd_policy_set_cooldowns(p, cooldowns);
        decide(p, manual(), 15001, DMABUFD_POLICY_SNAPSHOT);
        decide(p, manual(), 15001, DMABUFD_POLICY_SNAPSHOT);
        cooldowns[DMABUFD_EVENT_MANUAL] = 60;
        dmabufd_policy_set_cooldowns(p, cooldowns);
        decide(p, manual(), 75000, DMABUFD_POLICY_COOLDOWN);
        decide(p, manual(), 75001, DMABUFD_POLICY_SNAPSHOT);
        /* Fractions of a second. */
        cooldowns[DMABUFD_EVENT_MANUAL] = 0.25;
        dmabufd_policy_set_cooldowns(p, cooldowns);
        decide(p, manual(), 75250, DMABUFD_POLICY_COOLDOWN);
        decide(p, manual(), 75251, DMABUFD_POLICY_SNAPSHOT);
        decide(p, manual(), 75500, DMABUFD_POLICY_COOLDOWN);
        decide(p, manual(), 75501, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_retry_after_rounding) {
        DmabufdPolicy *p = policy(default_cooldowns); /* manual: 5 s */

        decide(p, manual(), 0, DMABUFD_POLICY_SNAPSHOT);
        ck_assert_uint_eq(decide(p, manual(), 1, DMABUFD_POLICY_COOLDOWN).retry_after_sec, 5);    /* 4.999 s */
        ck_assert_uint_eq(decide(p, manual(), 999, DMABUFD_POLICY_COOLDOWN).retry_after_sec, 5);  /* 4.001 s */
        ck_assert_uint_eq(decide(p, manual(), 1000, DMABUFD_POLICY_COOLDOWN).retry_after_sec, 4); /* 4 s */
        ck_assert_uint_eq(decide(p, manual(), 1001, DMABUFD_POLICY_COOLDOWN).retry_after_sec, 4);
        ck_assert_uint_eq(decide(p, manual(), 4999, DMABUFD_POLICY_COOLDOWN).retry_after_sec, 1); /* 1 ms */
        /* Only COOLDOWN says when to come back. */
        ck_assert_uint_eq(decide(p, manual(), 5000, DMABUFD_POLICY_SNAPSHOT).retry_after_sec, 0);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_suppressed) {
        DmabufdPolicy *p = policy(default_cooldowns);
        const DmabufSuppressed *s = dmabufd_policy_suppressed(p);
        const pid_t pids[] = { 100 };

        publish(p, state_of(pids, 1, 0), false);
        ck_assert_uint_eq(s->n_events, 0);
        decide(p, oom(100, "", ""), 1000, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_snapshot_written(p);
        /* In the cooldown: recorded with when (CLOCK_REALTIME) and what `before` says the victim held. */
        decide(p, oom(100, "", ""), 2000, DMABUFD_POLICY_COOLDOWN);
        decide(p, oom(555, "", ""), 2500, DMABUFD_POLICY_COOLDOWN);
        ck_assert_uint_eq(s->count[DMABUFD_EVENT_OOM_KILL], 2);
        ck_assert_uint_eq(s->n_events, 2);
        ck_assert_int_eq(s->events[0].pid, 100);
        ck_assert_uint_eq(s->events[0].at_usec, REALTIME_BASE + 2000 * MS);
        ck_assert_uint_eq(s->events[0].rss_bytes, 4096);
        ck_assert_int_eq(s->events[1].pid, 555);
        ck_assert_uint_eq(s->events[1].rss_bytes, DMABUF_UNKNOWN);
        /* A snapshot of another kind whose write failed: the list stays for the next. */
        decide(p, manual(), 3000, DMABUFD_POLICY_SNAPSHOT);
        ck_assert_uint_eq(s->n_events, 2);
        /* Events that take a snapshot are not recorded. */
        decide(p, psi(), 3000, DMABUFD_POLICY_SNAPSHOT);
        ck_assert_uint_eq(s->n_events, 2);
        /* Written: the list starts again. */
        dmabufd_policy_snapshot_written(p);
        ck_assert_uint_eq(s->n_events, 0);
        ck_assert_uint_eq(s->count[DMABUFD_EVENT_OOM_KILL], 0);
        /* All counted, the first DMABUF_SUPPRESSED_MAX kept. */
        for (unsigned i = 0; i < DMABUF_SUPPRESSED_MAX + 3; i++)
                decide(p, manual(), 3001 + i, DMABUFD_POLICY_COOLDOWN);
        ck_assert_uint_eq(s->count[DMABUFD_EVENT_MANUAL], DMABUF_SUPPRESSED_MAX + 3);
        ck_assert_uint_eq(s->n_events, DMABUF_SUPPRESSED_MAX);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_before_choice) {
        DmabufdPolicy *p = policy(no_cooldowns);
        const pid_t both[] = { 100, 200 }, only_200[] = { 200 }, none[] = { 300 };
        DmabufState *first = state_of(both, 2, 0), *snap1 = state_of(only_200, 1, 1000),
                    *snap2 = state_of(only_200, 1, 2000), *periodic = state_of(none, 1, 3000);
        DmabufdEvent e100 = oom(100, "", ""), e200 = oom(200, "", ""), e300 = oom(300, "", ""), m = manual();

        /* Nothing published yet. */
        ck_assert_ptr_null(decide(p, m, 0, DMABUFD_POLICY_SNAPSHOT).before);

        dmabufd_policy_published(p, first, false);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e100), first);
        ck_assert_ptr_eq(decide(p, e100, 10, DMABUFD_POLICY_SNAPSHOT).before, first);

        /* The snapshot's own collection: 100 died. */
        dmabufd_policy_published(p, snap1, true);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e100), first); /* absent from latest, in replaced */
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e200), snap1); /* still shown by the latest */
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e300), snap1); /* in neither: the latest */
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &m), snap1);    /* no victim: the latest */
        ck_assert_ptr_eq(decide(p, e100, 20, DMABUFD_POLICY_SNAPSHOT).before, first);

        /* Two snapshots in a row keep the first replaced state. */
        dmabufd_policy_published(p, snap2, true);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e100), first);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e200), snap2);

        /* The next periodic collection drops it: a victim it does not show gets the latest. */
        dmabufd_policy_published(p, periodic, false);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e100), periodic);
        ck_assert_ptr_eq(dmabufd_policy_choose_before(p, &e300), periodic);

        /* The policy holds references of its own: ours go, its stay valid. */
        dmabuf_state_unref(first);
        dmabuf_state_unref(snap1);
        dmabuf_state_unref(snap2);
        dmabuf_state_unref(periodic);
        ck_assert_ptr_nonnull(dmabuf_state_find_process(dmabufd_policy_choose_before(p, &e300), 300));
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_before_of_suppressed) {
        DmabufdPolicy *p = policy(default_cooldowns);
        const pid_t both[] = { 100, 200 }, only_200[] = { 200 };
        const DmabufSuppressed *s = dmabufd_policy_suppressed(p);

        publish(p, state_of(both, 2, 0), false);
        decide(p, oom(200, "", ""), 10, DMABUFD_POLICY_SNAPSHOT);
        publish(p, state_of(only_200, 1, 20), true);
        /* 100's kill inside the cooldown: what it held comes from the replaced state. */
        decide(p, oom(100, "", ""), 30, DMABUFD_POLICY_COOLDOWN);
        ck_assert_uint_eq(s->n_events, 1);
        ck_assert_uint_eq(s->events[0].rss_bytes, 4096);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_kmsg_first) {
        DmabufdPolicy *p = policy(default_cooldowns);

        ck_assert_uint_eq(decide(p, oom(100, "/test.slice/a.service", "/test.slice"), 0, DMABUFD_POLICY_SNAPSHOT)
                                  .snapshot,
                          1);
        ck_assert_uint_eq(decide(p, cgroup_oom("/test.slice", 1), 40, DMABUFD_POLICY_FOLDED).snapshot, 1);
        /* Not a suppressed event: the kill has its snapshot. */
        ck_assert_uint_eq(dmabufd_policy_suppressed(p)->n_events, 0);
        /* The fold started cgroup_oom's cooldown: the next kill of the storm is suppressed. */
        decide(p, cgroup_oom("/test.slice", 1), 5000, DMABUFD_POLICY_COOLDOWN);
        ck_assert_uint_eq(dmabufd_policy_suppressed(p)->n_events, 1);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_cgroup_first) {
        DmabufdPolicy *p = policy(default_cooldowns);

        ck_assert_uint_eq(decide(p, cgroup_oom("/test.slice", 1), 0, DMABUFD_POLICY_SNAPSHOT).snapshot, 1);
        /* A global OOM kill counts in the victim's cgroups too; no oom_memcg. */
        ck_assert_uint_eq(decide(p, oom(100, "/test.slice/a.service", ""), 40, DMABUFD_POLICY_FOLDED).snapshot, 1);
        /* One cgroup kill pairs with one kernel-log kill. */
        decide(p, oom(101, "/test.slice/a.service", ""), 50, DMABUFD_POLICY_COOLDOWN);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_window) {
        DmabufdPolicy *p = policy(no_cooldowns);

        /* The window's edge: 2000 ms apart folds, 2001 does not. */
        decide(p, oom(100, "/test.slice", ""), 0, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", 1), 2000, DMABUFD_POLICY_FOLDED);
        decide(p, oom(101, "/test.slice", ""), 10000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", 1), 12001, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/user.slice", 1), 20000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(102, "/user.slice/b.scope", ""), 22001, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_no_fold_other_cgroup) {
        DmabufdPolicy *p = policy(no_cooldowns);

        decide(p, oom(100, "/user.slice/x.scope", ""), 0, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", 1), 10, DMABUFD_POLICY_SNAPSHOT);
        /* A name that merely starts with the cgroup's is not below it. */
        decide(p, oom(101, "/test.slice2/y.service", ""), 20, DMABUFD_POLICY_SNAPSHOT);
        /* A parent of the watched cgroup is not counted in it. */
        decide(p, oom(102, "/", ""), 30, DMABUFD_POLICY_SNAPSHOT);
        /* Not kills: never folded. */
        decide(p, manual(), 40, DMABUFD_POLICY_SNAPSHOT);
        decide(p, psi(), 40, DMABUFD_POLICY_SNAPSHOT);
        decide(p, (DmabufdEvent){ .kind = DMABUFD_EVENT_LMK_KILL, .pid = 103 }, 40, DMABUFD_POLICY_SNAPSHOT);
        /* The cgroup report's kill is still unmatched: the right kill folds. */
        decide(p, oom(104, "/test.slice/z.service", ""), 50, DMABUFD_POLICY_FOLDED);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_without_memcg_in_line) {
        DmabufdPolicy *p = policy(no_cooldowns);
        const pid_t pids[] = { 100 };

        publish(p, state_of(pids, 1, 0), false);
        /* No summary line: the victim's cgroup in `before` stands in. */
        decide(p, oom(100, "", ""), 10, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", 1), 20, DMABUFD_POLICY_FOLDED);
        /* Neither the line nor `before` names one: not folded, either way round. */
        decide(p, oom(555, "", ""), 30, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", 1), 40, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(556, "", ""), 50, DMABUFD_POLICY_SNAPSHOT);
        /* Only oom_memcg: the victim is at or below it. */
        decide(p, oom(557, "", "/test.slice/c.service"), 60, DMABUFD_POLICY_FOLDED);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_counts) {
        DmabufdPolicy *p = policy(no_cooldowns);

        /* An increase of 2 with one kernel-log kill: the other kill has no
         * snapshot, so the report takes one; the next kill folds into it. */
        decide(p, oom(100, "/test.slice/a", ""), 0, DMABUFD_POLICY_SNAPSHOT);
        ck_assert_uint_eq(decide(p, cgroup_oom("/test.slice", 2), 10, DMABUFD_POLICY_SNAPSHOT).snapshot, 2);
        ck_assert_uint_eq(decide(p, oom(101, "/test.slice/b", ""), 20, DMABUFD_POLICY_FOLDED).snapshot, 2);
        decide(p, oom(102, "/test.slice/c", ""), 30, DMABUFD_POLICY_SNAPSHOT);

        /* Two kernel-log kills, then one report of both. */
        decide(p, oom(200, "/user.slice/a", ""), 10000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(201, "/user.slice/b", ""), 10001, DMABUFD_POLICY_SNAPSHOT);
        ck_assert_uint_eq(decide(p, cgroup_oom("/user.slice", 2), 10010, DMABUFD_POLICY_FOLDED).snapshot, 4);
        /* Each kill pairs once with a cgroup: a third report is a new kill. */
        decide(p, cgroup_oom("/user.slice", 1), 10020, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_nested_cgroups) {
        DmabufdPolicy *p = policy(no_cooldowns);

        /* system.slice and a service below it are both watched: the kill counts
         * in both, in either order around the kernel's line. */
        decide(p, oom(100, "/system.slice/foo.service", ""), 0, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/system.slice/foo.service", 1), 10, DMABUFD_POLICY_FOLDED);
        decide(p, cgroup_oom("/system.slice", 1), 20, DMABUFD_POLICY_FOLDED);

        decide(p, cgroup_oom("/system.slice/foo.service", 1), 10000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(101, "/system.slice/foo.service", ""), 10010, DMABUFD_POLICY_FOLDED);
        decide(p, cgroup_oom("/system.slice", 1), 10020, DMABUFD_POLICY_FOLDED);

        decide(p, cgroup_oom("/system.slice/foo.service", 1), 20000, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/system.slice", 1), 20005, DMABUFD_POLICY_SNAPSHOT);
        /* One kernel line answers both: the snapshot named is the oldest's. */
        ck_assert_uint_eq(decide(p, oom(102, "/system.slice/foo.service", ""), 20010, DMABUFD_POLICY_FOLDED).snapshot,
                          3);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_no_fold_into_suppressed) {
        DmabufdPolicy *p = policy(default_cooldowns);

        /* The second kill's kernel line falls inside oom_kill's cooldown: no
         * snapshot. Its cgroup report must not fold into nothing. */
        decide(p, oom(100, "/user.slice/x", ""), 0, DMABUFD_POLICY_SNAPSHOT);
        decide(p, oom(101, "/test.slice/y", ""), 10000, DMABUFD_POLICY_COOLDOWN);
        decide(p, cgroup_oom("/test.slice", 1), 10050, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

START_TEST(test_fold_memory_bounded) {
        DmabufdPolicy *p = policy(no_cooldowns);

        /* More unmatched kills than the policy remembers: the oldest are
         * forgotten (their reports then take a snapshot), the newest still fold. */
        for (unsigned i = 0; i < DMABUFD_POLICY_REPORTS_MAX + 4; i++)
                decide(p, oom(100 + i, "/test.slice/a", ""), i, DMABUFD_POLICY_SNAPSHOT);
        decide(p, cgroup_oom("/test.slice", DMABUFD_POLICY_REPORTS_MAX), 100, DMABUFD_POLICY_FOLDED);
        decide(p, cgroup_oom("/test.slice", 1), 101, DMABUFD_POLICY_SNAPSHOT);
        dmabufd_policy_free(p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("rules");

        tcase_add_test(tc, test_cooldown_per_kind);
        tcase_add_test(tc, test_cooldown_boundary);
        tcase_add_test(tc, test_retry_after_rounding);
        tcase_add_test(tc, test_suppressed);
        tcase_add_test(tc, test_before_choice);
        tcase_add_test(tc, test_before_of_suppressed);
        tcase_add_test(tc, test_fold_kmsg_first);
        tcase_add_test(tc, test_fold_cgroup_first);
        tcase_add_test(tc, test_fold_window);
        tcase_add_test(tc, test_no_fold_other_cgroup);
        tcase_add_test(tc, test_fold_without_memcg_in_line);
        tcase_add_test(tc, test_fold_counts);
        tcase_add_test(tc, test_fold_nested_cgroups);
        tcase_add_test(tc, test_no_fold_into_suppressed);
        tcase_add_test(tc, test_fold_memory_bounded);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
