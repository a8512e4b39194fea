/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy.h"
#include "time-util.h"

/* Watched cgroups one kernel-log kill can be matched with: nested ones
 * (system.slice and a service below it) each count the kill. */
#define MATCHED_MAX 4

/* A kill report that took a snapshot, or folded into one, and may still pair
 * with the other source's report of the same kill. */
typedef struct KillReport {
        bool used;
        DmabufdEventKind kind; /* DMABUFD_EVENT_OOM_KILL or DMABUFD_EVENT_CGROUP_OOM */
        uint64_t at_usec;      /* CLOCK_MONOTONIC */
        uint64_t snapshot;
        char path[256]; /* oom_kill: the victim's memcg; cgroup_oom: the watched cgroup */
        /* cgroup_oom: kills of its increase that no kernel-log report matched yet. */
        uint64_t kills_left;
        /* oom_kill: the cgroups whose reports it was matched with, so one kill
         * pairs once with each watched cgroup that counts it. */
        char matched[MATCHED_MAX][256];
        size_t n_matched;
} KillReport;

struct DmabufdPolicy {
        uint64_t cooldown_usec[_DMABUFD_EVENT_KIND_MAX];
        /* CLOCK_MONOTONIC of each kind's last snapshot attempt. */
        uint64_t last_attempt_usec[_DMABUFD_EVENT_KIND_MAX];
        bool attempted[_DMABUFD_EVENT_KIND_MAX];
        uint64_t n_snapshots;
        DmabufSuppressed suppressed;

        DmabufState *latest;
        /* The state a snapshot's own collection replaced, until the next periodic
         * one. One kill is often seen by two sources in either order (a memcg
         * kill by memory.events and by the kernel log; a userspace killer's by
         * the journal); the second event's `before` must not be the first
         * snapshot's collection, made after the victim died. */
        DmabufState *replaced;

        KillReport reports[DMABUFD_POLICY_REPORTS_MAX];
};

int dmabufd_policy_new(const double cooldown_sec[_DMABUFD_EVENT_KIND_MAX], DmabufdPolicy **ret) {
        DmabufdPolicy *p = calloc(1, sizeof(DmabufdPolicy));

        if (!p)
                return -ENOMEM;
        dmabufd_policy_set_cooldowns(p, cooldown_sec);
        *ret = p;
        return 0;
}

DmabufdPolicy *dmabufd_policy_free(DmabufdPolicy *p) {
        if (!p)
                return NULL;
        dmabuf_state_unref(p->latest);
        dmabuf_state_unref(p->replaced);
        free(p);
        return NULL;
}

void dmabufd_policy_set_cooldowns(DmabufdPolicy *p, const double cooldown_sec[_DMABUFD_EVENT_KIND_MAX]) {
        for (size_t k = 0; k < _DMABUFD_EVENT_KIND_MAX; k++)
                p->cooldown_usec[k] = (uint64_t) (cooldown_sec[k] * (double) USEC_PER_SEC);
}

void dmabufd_policy_published(DmabufdPolicy *p, DmabufState *s, bool for_snapshot) {
        DmabufState *old = p->latest;

        p->latest = dmabuf_state_ref(s);
        if (for_snapshot && !p->replaced) {
                /* Keep the first one: two snapshots in a row must both see the
                 * state from before the event. */
                p->replaced = old;
                return;
        }
        if (!for_snapshot)
                p->replaced = dmabuf_state_unref(p->replaced);
        dmabuf_state_unref(old);
}

DmabufState *dmabufd_policy_choose_before(const DmabufdPolicy *p, const DmabufdEvent *e) {
        if (e->pid > 0 && p->latest && p->replaced && !dmabuf_state_find_process(p->latest, e->pid) &&
            dmabuf_state_find_process(p->replaced, e->pid))
                return p->replaced;
        return p->latest;
}

const DmabufSuppressed *dmabufd_policy_suppressed(const DmabufdPolicy *p) {
        return &p->suppressed;
}

void dmabufd_policy_snapshot_written(DmabufdPolicy *p) {
        memset(&p->suppressed, 0, sizeof(p->suppressed));
}

/* memory.events is hierarchical: a kill in a cgroup counts in every ancestor. */
static bool path_is_at_or_below(const char *path, const char *cgroup) {
        size_t n = strlen(cgroup);

        while (n > 0 && cgroup[n - 1] == '/')
                n--;
        if (n == 0)
                return path[0] == '/';
        return strneq(path, cgroup, n) && (path[n] == '\0' || path[n] == '/');
}

/* The memcg the kernel put the victim in: task_memcg from the "oom-kill:"
 * summary (4.19 and later), else the OOM's own memcg, which the victim is at or
 * below, else the cgroup the collection before the kill saw it in. NULL when
 * none of them names one: such a report is never folded. */
static const char *victim_memcg(const DmabufdEvent *e, const DmabufState *before) {
        const DmabufProcess *proc;

        if (e->kind != DMABUFD_EVENT_OOM_KILL)
                return NULL;
        if (e->kill && e->kill->task_memcg[0] == '/')
                return e->kill->task_memcg;
        if (e->kill && e->kill->oom_memcg[0] == '/')
                return e->kill->oom_memcg;
        proc = e->pid > 0 && before ? dmabuf_state_find_process(before, e->pid) : NULL;
        return proc && proc->cgroup && proc->cgroup[0] == '/' ? proc->cgroup : NULL;
}

static bool report_recent(const KillReport *r, uint64_t now_usec) {
        uint64_t age = now_usec >= r->at_usec ? now_usec - r->at_usec : r->at_usec - now_usec;

        return r->used && age <= DMABUFD_POLICY_FOLD_WINDOW_USEC;
}

static bool report_matched_with(const KillReport *k, const char *cgroup) {
        for (size_t i = 0; i < k->n_matched; i++)
                if (streq(k->matched[i], cgroup))
                        return true;
        return false;
}

static void report_match(KillReport *k, const char *cgroup) {
        if (k->n_matched < MATCHED_MAX)
                snprintf(k->matched[k->n_matched++], sizeof(k->matched[0]), "%s", cgroup);
}

static KillReport *report_add(DmabufdPolicy *p, DmabufdEventKind kind, uint64_t now_usec, const char *path,
                              uint64_t snapshot) {
        KillReport *slot = &p->reports[0];

        /* A free slot, else the oldest. */
        for (size_t i = 0; i < DMABUFD_POLICY_REPORTS_MAX; i++) {
                KillReport *r = &p->reports[i];

                if (!r->used) {
                        slot = r;
                        break;
                }
                if (r->at_usec < slot->at_usec)
                        slot = r;
        }
        *slot = (KillReport){ .used = true, .kind = kind, .at_usec = now_usec, .snapshot = snapshot };
        snprintf(slot->path, sizeof(slot->path), "%s", path);
        return slot;
}

static KillReport *oldest_recent(DmabufdPolicy *p, uint64_t now_usec, bool (*fits)(const KillReport *r,
                                                                                       const char *arg),
                                 const char *arg) {
        KillReport *best = NULL;

        for (size_t i = 0; i < DMABUFD_POLICY_REPORTS_MAX; i++) {
                KillReport *r = &p->reports[i];

                if (report_recent(r, now_usec) && fits(r, arg) && (!best || r->at_usec < best->at_usec))
                        best = r;
        }
        return best;
}

/* A cgroup report with kills still unmatched, whose cgroup counts a kill in memcg. */
static bool fits_cgroup_report(const KillReport *r, const char *memcg) {
        return r->kind == DMABUFD_EVENT_CGROUP_OOM && r->kills_left > 0 && path_is_at_or_below(memcg, r->path);
}

/* A kernel-log report of a kill in cgroup (or below it) not yet matched with
 * that cgroup's reports. */
static bool fits_kmsg_report(const KillReport *r, const char *cgroup) {
        return r->kind == DMABUFD_EVENT_OOM_KILL && path_is_at_or_below(r->path, cgroup) &&
               !report_matched_with(r, cgroup);
}

/* A kernel-log kill: matched with one report (the oldest) of each watched
 * cgroup that counts it. Returns the snapshot of the first match, 0 for none. */
static uint64_t match_kmsg(DmabufdPolicy *p, const char *memcg, uint64_t now_usec, KillReport *matched) {
        uint64_t snapshot = 0;

        while (matched->n_matched < MATCHED_MAX) {
                KillReport *best = NULL;

                for (size_t i = 0; i < DMABUFD_POLICY_REPORTS_MAX; i++) {
                        KillReport *r = &p->reports[i];

                        if (report_recent(r, now_usec) && fits_cgroup_report(r, memcg) &&
                            !report_matched_with(matched, r->path) && (!best || r->at_usec < best->at_usec))
                                best = r;
                }
                if (!best)
                        break;
                best->kills_left--;
                report_match(matched, best->path);
                if (snapshot == 0)
                        snapshot = best->snapshot;
        }
        return snapshot;
}

/* A cgroup report of increase kills: each matched with a kernel-log kill in
 * the cgroup not yet matched with it. Returns how many were. */
static uint64_t match_cgroup(DmabufdPolicy *p, const char *cgroup, uint64_t increase, uint64_t now_usec,
                             uint64_t *ret_snapshot) {
        uint64_t n = 0;

        *ret_snapshot = 0;
        while (n < increase) {
                KillReport *k = oldest_recent(p, now_usec, fits_kmsg_report, cgroup);

                if (!k)
                        break;
                report_match(k, cgroup);
                if (!report_matched_with(k, cgroup))
                        /* Its list is full: stop, rather than match it again. */
                        break;
                if (*ret_snapshot == 0)
                        *ret_snapshot = k->snapshot;
                n++;
        }
        return n;
}

/* The second report of a kill that already has its snapshot (see
 * docs/design.md for the rule). Returns that snapshot's number, or 0. */
static uint64_t fold(DmabufdPolicy *p, const DmabufdEvent *e, const char *memcg, uint64_t now_usec,
                     uint64_t *ret_matched) {
        uint64_t snapshot = 0;

        *ret_matched = 0;
        if (memcg) {
                KillReport matched = {};
                KillReport *k;

                snapshot = match_kmsg(p, memcg, now_usec, &matched);
                if (snapshot == 0)
                        return 0;
                /* Remembered too: a nested watched cgroup may report it next. */
                k = report_add(p, e->kind, now_usec, memcg, snapshot);
                memcpy(k->matched, matched.matched, sizeof(k->matched));
                k->n_matched = matched.n_matched;
                return snapshot;
        }
        if (e->kind == DMABUFD_EVENT_CGROUP_OOM && e->cgroup && e->cgroup[0] == '/' && e->oom_kill_increase > 0) {
                *ret_matched = match_cgroup(p, e->cgroup, e->oom_kill_increase, now_usec, &snapshot);
                /* Kills of the increase that no kernel-log report accounts for
                 * have no snapshot yet: this report takes one for them. */
                if (*ret_matched < e->oom_kill_increase)
                        return 0;
        }
        return snapshot;
}

DmabufdPolicyVerdict dmabufd_policy_event(DmabufdPolicy *p, const DmabufdEvent *e, const DmabufdPolicyClock *now,
                                          DmabufdPolicyDecision *ret) {
        DmabufState *before = dmabufd_policy_choose_before(p, e);
        const char *memcg = victim_memcg(e, before);
        uint64_t matched, cooldown, since;

        assert(e->kind >= 0 && e->kind < _DMABUFD_EVENT_KIND_MAX);
        *ret = (DmabufdPolicyDecision){};
        cooldown = p->cooldown_usec[e->kind];
        since = now->monotonic_usec - p->last_attempt_usec[e->kind];

        /* Folding comes before the cooldown: a second report is the same kill,
         * not a new one to rate-limit. It starts its kind's cooldown as if it
         * had taken the snapshot, so a kill storm stays one incident for both
         * kinds. */
        ret->snapshot = fold(p, e, memcg, now->monotonic_usec, &matched);
        if (ret->snapshot > 0)
                ret->verdict = DMABUFD_POLICY_FOLDED;
        else if (p->attempted[e->kind] && since < cooldown) {
                dmabuf_suppressed_add(&p->suppressed, e, now->realtime_usec, before);
                ret->verdict = DMABUFD_POLICY_COOLDOWN;
                ret->retry_after_sec = (cooldown - since + USEC_PER_SEC - 1) / USEC_PER_SEC;
                return ret->verdict;
        } else {
                ret->verdict = DMABUFD_POLICY_SNAPSHOT;
                ret->before = before;
                ret->snapshot = ++p->n_snapshots;
                /* Remembered for the other source's report of the same kill. */
                if (memcg)
                        (void) report_add(p, e->kind, now->monotonic_usec, memcg, ret->snapshot);
                else if (e->kind == DMABUFD_EVENT_CGROUP_OOM && e->cgroup && e->cgroup[0] == '/' &&
                         e->oom_kill_increase > matched)
                        report_add(p, e->kind, now->monotonic_usec, e->cgroup, ret->snapshot)->kills_left =
                                e->oom_kill_increase - matched;
        }
        p->attempted[e->kind] = true;
        p->last_attempt_usec[e->kind] = now->monotonic_usec;
        return ret->verdict;
}
