/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "collect.h"
#include "collector.h"
#include "document.h"
#include "dump.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "policy.h"
#include "publication.h"
#include "ratelimit.h"
#include "source-cgroup.h"
#include "source-journal.h"
#include "source-kmsg.h"
#include "source-psi.h"
#include "state-json.h"
#include "store.h"
#include "hooks.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

/* Kernel data that stays malformed would otherwise log on every collection. */
#define PARSE_WARNING_INTERVAL_USEC (600 * USEC_PER_SEC)
/* Free heap below this is kept: glibc's own trim threshold (tune_malloc()). */
#define HEAP_SURPLUS_MIN_BYTES (128U * 1024U)

struct Manager {
        sd_event *event;
        sd_event_source *timer;
        sd_event_source *sigterm, *sigint, *sighup, *sigusr1;
        ManagerReloadFunc reload;
        void *reload_userdata;
        DmabufdConfig config; /* what is in force, to compare on reload */
        int root_fd;
        uint64_t interval_usec;
        DmabufdHttpSettings http_settings;
        DmabufdHttp *http;
        DmabufdSnapshotStore *store; /* NULL: the state directory is unusable */
        DmabufdSnapshotHooks *hooks; /* snapshot_exec and snapshot_push */
        DmabufBpf *bpf;              /* NULL: the bpf source is off or down; the worker's */
        DmabufdCollector *collector; /* the worker thread that collects */
        sd_event_source *watchdog;
        uint64_t watchdog_usec; /* WATCHDOG_USEC, 0: no watchdog */

        DmabufdSourceKmsg *kmsg;
        DmabufdSourcePsi *psi;
        DmabufdSourceCgroup *cgroup;
        DmabufdSourceJournal *journal;

        /* Snapshot requests from the HTTP threads, handed over through an eventfd. */
        pthread_mutex_t requests_lock;
        DmabufdSnapshotRequest *requests;
        bool closing;
        int requests_fd;
        sd_event_source *requests_source;

        /* Cooldowns, the suppressed list, folding and the choice of `before`. */
        DmabufdPolicy *policy;
        /* What the HTTP threads read: the latest state, liveness, live figures. */
        DmabufdPublication *publication;
        /* Snapshots waiting for their fresh collection, for a second report of
         * their kill to be added to. */
        struct PendingSnapshot *pending;

        DmabufCounters counters;
        /* Sources up as of the last look, to tell when one is lost. */
        bool event_source_up[_DMABUFD_EVENT_SOURCE_MAX];
        bool data_source_up[_DMABUF_SOURCE_MAX];
        char status[256]; /* the last STATUS= sent to the service manager */
        RateLimit parse_warnings, failure_warnings;
};

static DmabufState *get_state(void *userdata) {
        Manager *m = userdata;

        return dmabufd_publication_get_state(m->publication);
}

static bool alive(void *userdata) {
        Manager *m = userdata;

        return dmabufd_publication_alive(m->publication, now_usec(CLOCK_MONOTONIC));
}

static void get_live(void *userdata, DmabufPromLive *ret) {
        Manager *m = userdata;

        dmabufd_publication_get_live(m->publication, ret);
}

static int request_snapshot(void *userdata, DmabufdSnapshotRequest *req) {
        Manager *m = userdata;
        DmabufdSnapshotRequest **tail;
        uint64_t one = 1;

        pthread_mutex_lock(&m->requests_lock);
        if (m->closing) {
                pthread_mutex_unlock(&m->requests_lock);
                return -ESHUTDOWN;
        }
        req->next = NULL;
        for (tail = &m->requests; *tail; tail = &(*tail)->next)
                ;
        *tail = req;
        pthread_mutex_unlock(&m->requests_lock);
        /* An eventfd counter cannot overflow from this, and a failed write still
         * leaves the request queued for the next wake-up. */
        (void) !write(m->requests_fd, &one, sizeof(one));
        return 0;
}

static int write_history(void *userdata, const DmabufHistoryQuery *q, StrBuf *sb) {
        Manager *m = userdata;

        return dmabufd_publication_write_history(m->publication, q, sb);
}

static const DmabufdHttpOps http_ops = {
        .get_state = get_state,
        .write_history = write_history,
        .alive = alive,
        .get_live = get_live,
        .request_snapshot = request_snapshot,
};

static void log_source_lost(const char *kind, const char *name, const char *consequence) {
        char field[64];
        const char *fields[] = { field, NULL };

        snprintf(field, sizeof(field), "DMABUFD_SOURCE=%s", name);
        log_struct(LOG_WARNING, DMABUFD_MESSAGE_SOURCE_LOST, fields, "%s source %s lost: %s", kind, name,
                   consequence);
}

/* The sources' own messages say why one went down; this says, once, that it was
 * up and is not any more, under one MESSAGE_ID for all of them. s: a new
 * collection, or NULL when only the event sources changed. */
static void update_sources_up(Manager *m, const DmabufState *s) {
        bool up[_DMABUFD_EVENT_SOURCE_MAX] = {
                [DMABUFD_EVENT_SOURCE_KMSG] = dmabufd_source_kmsg_is_up(m->kmsg),
                [DMABUFD_EVENT_SOURCE_PSI] = m->psi && dmabufd_source_psi_is_up(m->psi),
                [DMABUFD_EVENT_SOURCE_CGROUP] = m->cgroup && dmabufd_source_cgroup_is_up(m->cgroup),
                [DMABUFD_EVENT_SOURCE_JOURNAL] = m->journal && dmabufd_source_journal_is_up(m->journal),
        };

        for (size_t i = 0; i < _DMABUFD_EVENT_SOURCE_MAX; i++)
                if (m->event_source_up[i] && !up[i])
                        log_source_lost("event", dmabufd_event_source_to_string(i),
                                        "its events no longer trigger snapshots");
        memcpy(m->event_source_up, up, sizeof(up));
        for (size_t i = 0; s && i < _DMABUF_SOURCE_MAX; i++) {
                bool now_up = dmabuf_state_source_up(s, i);

                if (m->data_source_up[i] && !now_up)
                        log_source_lost("kernel data", dmabuf_source_to_string(i),
                                        "collections go on without its figures");
                m->data_source_up[i] = now_up;
        }

        dmabufd_publication_set_sources_up(m->publication, up);
}

/* One line for `systemctl status`, sent when it changes. */
static void notify_status(Manager *m) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_(dmabuf_state_unrefp) DmabufState *s = dmabufd_publication_get_state(m->publication);
        DmabufPromLive live;

        if (!s)
                return;
        dmabufd_publication_get_live(m->publication, &live);
        if (dmabuf_dump_status_line(&sb, s, live.snapshots) < 0)
                return; /* out of memory: keep the last line */
        if (strneq(sb.buf, m->status, sizeof(m->status) - 1))
                return;
        snprintf(m->status, sizeof(m->status), "%s", sb.buf);
        (void) sd_notifyf(false, "STATUS=%s", m->status);
}

/* The policy keeps its own reference, and with a snapshot's collection the
 * state it replaced; the publication takes over the caller's. */
static void publish(Manager *m, DmabufState *s, bool for_snapshot) {
        int r;

        dmabufd_policy_published(m->policy, s, for_snapshot);
        /* Before the swap hands the reference over. A missing point only leaves
         * a gap in the charts. */
        r = dmabufd_publication_append_history(m->publication, s);
        if (r < 0 && ratelimit_below(&m->failure_warnings, now_usec(CLOCK_MONOTONIC)))
                log_warning_errno(r, "cannot add the collection to the history, ignoring: %m");
        dmabufd_publication_swap(m->publication, s, m->interval_usec, now_usec(CLOCK_MONOTONIC));
}

static void report_parse_errors(Manager *m, const DmabufState *s) {
        const DmabufScanStats *st = dmabuf_state_scan_stats(s);
        uint64_t total = 0;

        for (size_t i = 0; i < _DMABUF_SOURCE_MAX; i++)
                total += st->parse_errors[i];
        if (total == 0)
                return;
        if (!ratelimit_below(&m->parse_warnings, now_usec(CLOCK_MONOTONIC)))
                return;
        log_warning("malformed kernel data, skipped: %s (%" PRIu64
                    " malformed items in this collection; see dmabufd_parse_errors_total)",
                    st->first_error, total);
}

/* A collection frees about as much as it allocates, and glibc keeps the free pages
 * inside the heap (below a live block, the top trim cannot reach them): about
 * 0.6 MiB on the 2,000-process benchmark tree, 7% of the daemon's RSS target, for
 * as long as the daemon runs. Giving them back costs the next collection about 150
 * page faults (estimated, not measured apart from a collection's own noise). */
static void trim_heap_surplus(void) {
        struct mallinfo2 mi = mallinfo2();

        if (mi.fordblks > HEAP_SURPLUS_MIN_BYTES)
                malloc_trim(0);
}

/* Counts and publishes a finished collection (the state's reference is taken
 * over). A snapshot's own collection keeps the state it replaced, for events
 * that the new one no longer shows the victim of. */
static int collected(Manager *m, int r, DmabufState *s, bool for_snapshot) {
        if (r < 0) {
                if (ratelimit_below(&m->failure_warnings, now_usec(CLOCK_MONOTONIC)))
                        log_warning_errno(r, "collection failed, serving the previous one: %m");
                return r;
        }

        m->counters.collections++;
        for (size_t i = 0; i < _DMABUF_SCAN_COUNTER_MAX; i++)
                m->counters.scan[i] += dmabuf_state_scan_stats(s)->counters[i];
        for (size_t i = 0; i < _DMABUF_SOURCE_MAX; i++)
                m->counters.parse_errors[i] += dmabuf_state_scan_stats(s)->parse_errors[i];
        dmabuf_state_set_counters(s, &m->counters);

        report_parse_errors(m, s);
        log_debug("collected %zu buffers and %zu processes in %.3f s", dmabuf_state_n_buffers(s),
                  dmabuf_state_n_processes(s), dmabuf_state_duration_sec(s));
        publish(m, s, for_snapshot);
        update_sources_up(m, s);
        notify_status(m);
        trim_heap_surplus();
        return 0;
}

/* Memory figures as they are now, at the moment of the event. */
static json_object *memory_json(int root_fd) {
        _cleanup_strbuf_ StrBuf meminfo = STRBUF_INIT, psi = STRBUF_INIT;
        bool have_meminfo, have_psi;
        char err[256];
        json_object *o;

        have_meminfo = read_file_at(root_fd, "proc/meminfo", 64 * 1024, &meminfo) >= 0;
        have_psi = read_file_at(root_fd, "proc/pressure/memory", 4096, &psi) >= 0;
        o = dmabuf_snapshot_memory_new(have_meminfo ? meminfo.buf : NULL, meminfo.len, have_psi ? psi.buf : NULL,
                                       psi.len, err, sizeof(err));
        if (o && err[0])
                log_debug("snapshot memory figures: %s", err);
        return o;
}

static int write_snapshot(FILE *f, void *userdata) {
        return dmabuf_snapshot_write(f, userdata);
}

/* "20261121T101500.123Z-oom_kill": sorts by time, reads as one, and stays in
 * the store's id alphabet. */
static void make_id(uint64_t usec, DmabufdEventKind kind, unsigned attempt, char *buf, size_t len) {
        char t[32];
        size_t o = 0;

        dmabuf_json_format_time(usec, t);
        for (const char *p = t; *p && o + 1 < len; p++)
                if (*p != '-' && *p != ':')
                        buf[o++] = *p;
        buf[o] = '\0';
        if (attempt == 0)
                snprintf(buf + o, len - o, "-%s", dmabufd_event_kind_to_string(kind));
        else
                snprintf(buf + o, len - o, "-%s-%u", dmabufd_event_kind_to_string(kind), attempt + 1);
}

static void count_snapshot(Manager *m, bool ok) {
        dmabufd_publication_count_snapshot(m->publication, ok);
}

/* A snapshot whose first part is on disk, waiting for its fresh collection. */
typedef struct PendingSnapshot {
        DmabufdCollectWaiter waiter; /* first: the collector hands this back */
        struct PendingSnapshot *next_pending;
        uint64_t number; /* the policy's */
        /* The suppressed list as written in the first part, and the other
         * source's report of the same kill when it comes before the second. */
        DmabufSuppressed suppressed;
        bool folded;
        char id[DMABUFD_SNAPSHOT_ID_MAX];
        DmabufdEventKind kind;
        pid_t victim_pid; /* 0: the trigger names none */
        char victim_comm[64];
        DmabufSnapshot snap;
        DmabufState *before;
        uint64_t started, first; /* CLOCK_MONOTONIC: the event, the first part on disk */
        DmabufdSnapshotInfo info;
        DmabufdSnapshotRequest *req; /* a POST to answer once complete, or NULL */
} PendingSnapshot;

static PendingSnapshot *pending_snapshot_free(PendingSnapshot *ps) {
        if (!ps)
                return NULL;
        json_object_put(ps->snap.trigger);
        json_object_put(ps->snap.suppressed);
        json_object_put(ps->snap.memory);
        dmabuf_state_unref(ps->before);
        free(ps);
        return NULL;
}

/* The second step: the fresh collection (NULL when it failed: "state": null;
 * `before` is what matters for a kill, and it is on disk already) replaces the
 * first part. r is -ESHUTDOWN when the daemon stops first: the first part stays. */
static void complete_snapshot(Manager *m, PendingSnapshot *ps, int r, const DmabufState *fresh) {
        char id_field[DMABUFD_SNAPSHOT_ID_MAX + 32], kind_field[64];
        const char *fields[] = { id_field, kind_field, NULL };

        for (PendingSnapshot **p = &m->pending; *p; p = &(*p)->next_pending)
                if (*p == ps) {
                        *p = ps->next_pending;
                        break;
                }
        if (r != -ESHUTDOWN) {
                ps->snap.state = fresh;
                ps->snap.partial = false;
                if (ps->folded) {
                        json_object *suppressed = dmabuf_suppressed_to_json(&ps->suppressed);

                        /* Out of memory: the list as the first part had it. */
                        if (suppressed) {
                                json_object_put(ps->snap.suppressed);
                                ps->snap.suppressed = suppressed;
                        }
                }
                if (dmabufd_snapshot_store_complete(m->store, ps->id, write_snapshot, &ps->snap, &ps->info) < 0)
                        /* Listed and valid still, without its fresh state: a failure to count. */
                        count_snapshot(m, false);
                else
                        dmabufd_snapshot_hooks_snapshot_complete(m->hooks, ps->id,
                                                                 dmabufd_event_kind_to_string(ps->kind), ps->victim_pid,
                                                                 ps->victim_comm[0] ? ps->victim_comm : NULL);
                snprintf(id_field, sizeof(id_field), "DMABUFD_SNAPSHOT_ID=%s", ps->id);
                snprintf(kind_field, sizeof(kind_field), "DMABUFD_TRIGGER=%s", dmabufd_event_kind_to_string(ps->kind));
                log_struct(LOG_INFO, DMABUFD_MESSAGE_SNAPSHOT_TAKEN, fields,
                           "snapshot %s taken on %s: on disk in %.3f s, complete in %.3f s (%" PRIu64 " bytes)",
                           ps->id, dmabufd_event_kind_to_string(ps->kind),
                           (double) (ps->first - ps->started) / USEC_PER_SEC,
                           (double) (now_usec(CLOCK_MONOTONIC) - ps->started) / USEC_PER_SEC, ps->info.bytes);
        }
        if (ps->req) {
                ps->req->result = 0; /* the snapshot exists, complete or not */
                ps->req->info = ps->info;
                dmabufd_http_snapshot_done(ps->req);
        }
        pending_snapshot_free(ps);
        trim_heap_surplus();
}

/* Two steps. First what is already in memory, with the memory figures of this
 * moment: the trigger, `before` and no fresh state ("partial": true). That file
 * is on disk within a fraction of the time a collection takes, which matters
 * when the machine may not survive the next second; the loop writes it at once,
 * whatever the worker is collecting. Then a fresh collection, started after the
 * event, and the complete snapshot replaces the first one. Returns 1 when req
 * (if any) will be answered once the snapshot is complete, or -errno. */
static int take_snapshot(Manager *m, const DmabufdEvent *e, const DmabufdPolicyDecision *d, uint64_t at,
                         DmabufdSnapshotRequest *req) {
        char taken_at[32], kind_field[64];
        PendingSnapshot *ps;
        int r;

        ps = calloc(1, sizeof(PendingSnapshot));
        if (!ps) {
                count_snapshot(m, false);
                log_error("snapshot on %s not taken: out of memory", dmabufd_event_kind_to_string(e->kind));
                return -ENOMEM;
        }
        ps->started = now_usec(CLOCK_MONOTONIC);
        ps->kind = e->kind;
        ps->victim_pid = e->pid > 0 ? e->pid : 0;
        snprintf(ps->victim_comm, sizeof(ps->victim_comm), "%s", e->comm ? e->comm : "");
        ps->number = d->snapshot;
        ps->before = dmabuf_state_ref(d->before);
        ps->suppressed = *dmabufd_policy_suppressed(m->policy);
        ps->snap = (DmabufSnapshot){
                .id = ps->id,
                .taken_at_usec = at,
                .trigger = dmabuf_snapshot_trigger_new(e, at, ps->before),
                .suppressed = dmabuf_suppressed_to_json(&ps->suppressed),
                .memory = memory_json(m->root_fd),
                .before = ps->before,
                .partial = true,
        };
        dmabuf_json_format_time(at, taken_at);
        snprintf(kind_field, sizeof(kind_field), "DMABUFD_TRIGGER=%s", dmabufd_event_kind_to_string(e->kind));
        if (!ps->snap.trigger || !ps->snap.memory)
                r = -ENOMEM;
        else if (!m->store)
                r = -ENODEV;
        else
                for (unsigned attempt = 0;; attempt++) {
                        make_id(at, e->kind, attempt, ps->id, sizeof(ps->id));
                        r = dmabufd_snapshot_store_add(m->store, ps->id, taken_at,
                                                       dmabufd_event_kind_to_string(e->kind), write_snapshot,
                                                       &ps->snap, &ps->info);
                        if (r != -EEXIST || attempt >= 8)
                                break;
                }
        count_snapshot(m, r >= 0);
        if (r < 0) {
                const char *fields[] = { kind_field, NULL };

                /* The store has logged the step and the file; this is the one
                 * entry per lost snapshot to search for. */
                log_struct(LOG_ERR, DMABUFD_MESSAGE_SNAPSHOT_FAILED, fields, "snapshot on %s not taken: %s",
                           dmabufd_event_kind_to_string(e->kind),
                           r == -ENODEV   ? "the state directory is not usable (see the start-up error)"
                           : r == -ENOMEM ? "out of memory"
                                          : "writing it failed (see above)");
                pending_snapshot_free(ps);
                return r;
        }
        dmabufd_policy_snapshot_written(m->policy);
        ps->first = now_usec(CLOCK_MONOTONIC);
        ps->req = req;
        ps->next_pending = m->pending;
        m->pending = ps;

        r = dmabufd_collector_request(m->collector, &ps->waiter);
        if (r < 0)
                complete_snapshot(m, ps, r, NULL);
        return 1;
}

/* Kills are what an engineer looks for after the fact: one entry each, whether or
 * not a snapshot follows. */
static void log_kill(const DmabufdEvent *e) {
        char kind_field[64], pid_field[32], comm_field[64];
        const char *fields[] = { kind_field, pid_field, comm_field, NULL };
        const char *kind = dmabufd_event_kind_to_string(e->kind);

        snprintf(kind_field, sizeof(kind_field), "DMABUFD_TRIGGER=%s", kind);
        snprintf(pid_field, sizeof(pid_field), "DMABUFD_VICTIM_PID=%d", (int) e->pid);
        snprintf(comm_field, sizeof(comm_field), "DMABUFD_VICTIM_COMM=%s", e->comm ? e->comm : "");
        switch (e->kind) {
        case DMABUFD_EVENT_OOM_KILL:
        case DMABUFD_EVENT_LMK_KILL:
                log_struct(LOG_NOTICE, DMABUFD_MESSAGE_KILL_SEEN, fields,
                           "kill seen (%s): the kernel's %s killed pid %d (%s)", kind,
                           e->kind == DMABUFD_EVENT_LMK_KILL ? "lowmemorykiller" : "OOM killer", (int) e->pid,
                           e->comm ? e->comm : "?");
                break;
        case DMABUFD_EVENT_JOURNAL:
                log_struct(LOG_NOTICE, DMABUFD_MESSAGE_KILL_SEEN, fields, "kill seen (%s): %s killed pid %d (%s)", kind,
                           e->identifier ? e->identifier : "a userspace killer", (int) e->pid, e->comm ? e->comm : "?");
                break;
        case DMABUFD_EVENT_CGROUP_OOM:
                fields[1] = NULL;
                log_struct(LOG_NOTICE, DMABUFD_MESSAGE_KILL_SEEN, fields,
                           "kill seen (%s): memory.events oom_kill of cgroup %s rose by %" PRIu64 " to %" PRIu64, kind,
                           e->cgroup ? e->cgroup : "?", e->oom_kill_increase, e->oom_kill);
                break;
        default:
                break;
        }
}

/* The other source's report of a kill whose snapshot is taken: no second
 * snapshot. While that snapshot waits for its fresh collection (the usual case,
 * both reports arriving within milliseconds), the report is added to its
 * suppressed list, written with the complete file. */
static void fold_report(Manager *m, const DmabufdEvent *e, uint64_t at, uint64_t number) {
        const char *kind = dmabufd_event_kind_to_string(e->kind);

        for (PendingSnapshot *ps = m->pending; ps; ps = ps->next_pending)
                if (ps->number == number) {
                        dmabuf_suppressed_add(&ps->suppressed, e, at, ps->before);
                        ps->folded = true;
                        log_info("%s event is a second report of a kill: no second snapshot, recorded in %s's "
                                 "suppressed list",
                                 kind, ps->id);
                        return;
                }
        log_info("%s event is a second report of a kill: no second snapshot (the first report's is complete, or "
                 "was not written)",
                 kind);
}

/* Every event is counted; the policy decides whether it takes a snapshot, falls
 * inside its kind's cooldown (kept for the next snapshot) or reports a kill that
 * has one. Returns 1 when a snapshot was taken (req, if any, is answered once it
 * is complete), 0 when folded, -EBUSY with *retry_after_sec, or the snapshot's
 * -errno. */
static int handle_event(Manager *m, const DmabufdEvent *e, DmabufdSnapshotRequest *req, uint64_t *retry_after_sec) {
        DmabufdPolicyClock now = { .monotonic_usec = now_usec(CLOCK_MONOTONIC),
                                   .realtime_usec = now_usec(CLOCK_REALTIME) };
        DmabufdPolicyDecision d;

        log_kill(e);
        dmabufd_publication_count_event(m->publication, e->kind);
        switch (dmabufd_policy_event(m->policy, e, &now, &d)) {
        case DMABUFD_POLICY_COOLDOWN:
                log_info("%s event inside its cooldown: no snapshot, recorded for the next one",
                         dmabufd_event_kind_to_string(e->kind));
                if (retry_after_sec)
                        *retry_after_sec = d.retry_after_sec;
                return -EBUSY;
        case DMABUFD_POLICY_FOLDED:
                /* Only kills fold: never a manual request, which has a req. */
                fold_report(m, e, now.realtime_usec, d.snapshot);
                return 0;
        case DMABUFD_POLICY_SNAPSHOT:
        default:
                return take_snapshot(m, e, &d, now.realtime_usec, req);
        }
}

static void on_source_event(const DmabufdEvent *e, void *userdata) {
        (void) handle_event(userdata, e, NULL, NULL);
}

static int on_requests(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        DmabufdSnapshotRequest *list, *next;
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        pthread_mutex_lock(&m->requests_lock);
        list = m->requests;
        m->requests = NULL;
        pthread_mutex_unlock(&m->requests_lock);
        for (DmabufdSnapshotRequest *req = list; req; req = next) {
                DmabufdEvent e = { .kind = DMABUFD_EVENT_MANUAL, .origin = req->origin };
                int r;

                /* Read before completing: the HTTP thread frees req once it has answered. */
                next = req->next;
                r = handle_event(m, &e, req, &req->retry_after_sec);
                if (r <= 0) {
                        req->result = r;
                        dmabufd_http_snapshot_done(req);
                }
        }
        return 0;
}

static int on_sigusr1(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        DmabufdEvent e = { .kind = DMABUFD_EVENT_MANUAL, .origin = "SIGUSR1" };

        (void) handle_event(userdata, &e, NULL, NULL);
        return 0;
}

static int start_psi(Manager *m) {
        static const char *const defaults[] = { DMABUFD_PSI_TRIGGERS_DEFAULT, NULL };
        const char *const *specs = m->config.psi_triggers ? (const char *const *) m->config.psi_triggers : defaults;
        DmabufPsiTrigger triggers[64];
        size_t n = 0;

        for (; specs[n] && n < ELEMENTSOF(triggers); n++)
                /* Checked when the configuration was read; the defaults are valid. */
                if (dmabuf_psi_trigger_parse(specs[n], &triggers[n], NULL, 0) < 0)
                        return log_error_errno(-EINVAL, "invalid psi_trigger '%s'", specs[n]);
        if (n == 0) {
                log_debug("no psi_trigger configured, PSI events are off");
                return 0;
        }
        return dmabufd_source_psi_new(m->event, m->root_fd, triggers, n, on_source_event, m, &m->psi);
}

static int start_cgroup(Manager *m) {
        static const char *const defaults[] = { DMABUFD_CGROUPS_DEFAULT, NULL };
        const char *present[ELEMENTSOF(defaults)] = {};
        size_t n = 0;

        if (m->config.cgroups) {
                if (!m->config.cgroups[0]) {
                        log_debug("no cgroup configured, cgroup OOM events are off");
                        return 0;
                }
                return dmabufd_source_cgroup_new(m->event, m->root_fd, m->config.cgroups, on_source_event, m,
                                                 &m->cgroup);
        }
        /* The defaults are systemd's slices: a machine without them (Android, a
         * container) is no misconfiguration, so they are tried quietly. */
        for (size_t i = 0; defaults[i]; i++) {
                char path[256];

                snprintf(path, sizeof(path), "sys/fs/cgroup/%s/memory.events", defaults[i]);
                if (faccessat(m->root_fd, path, R_OK, 0) >= 0)
                        present[n++] = defaults[i];
        }
        if (n == 0) {
                log_debug("none of the default cgroups exists, cgroup OOM events are off");
                return 0;
        }
        return dmabufd_source_cgroup_new(m->event, m->root_fd, (char *const *) present, on_source_event, m,
                                         &m->cgroup);
}

static int start_journal(Manager *m) {
        if (m->config.journal_matches && !m->config.journal_matches[0]) {
                log_debug("no journal_match configured, journal events are off");
                return 0;
        }
        return dmabufd_source_journal_new(m->event, m->config.root,
                                          (const char *const *) m->config.journal_matches, on_source_event, m,
                                          &m->journal);
}

/* Sources follow the configuration; SIGHUP rebuilds them when it changed. Each
 * is optional: one that cannot work is down, which it logged, and the others go
 * on. Returns -errno only for what breaks the daemon itself (out of memory). */
static int start_sources(Manager *m) {
        int r = 0;

        if (m->config.kmsg && !m->kmsg)
                r = dmabufd_source_kmsg_new(m->event, m->root_fd, on_source_event, m, &m->kmsg);
        if (r >= 0 && !m->psi)
                r = start_psi(m);
        if (r >= 0 && !m->cgroup)
                r = start_cgroup(m);
        if (r >= 0 && !m->journal)
                r = start_journal(m);
        update_sources_up(m, NULL);
        return r;
}

static void stop_sources(Manager *m) {
        m->kmsg = dmabufd_source_kmsg_free(m->kmsg);
        m->psi = dmabufd_source_psi_free(m->psi);
        m->cgroup = dmabufd_source_cgroup_free(m->cgroup);
        m->journal = dmabufd_source_journal_free(m->journal);
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now, next;

        /* One still running (or queued for a snapshot) stands for this one:
         * collections never pile up behind a slow one. */
        if (!dmabufd_collector_busy(m->collector))
                (void) dmabufd_collector_request(m->collector, NULL);

        /* Keep a fixed cadence; after a scan longer than the interval, skip ahead
         * rather than run back to back. */
        now = now_usec(CLOCK_MONOTONIC);
        next = usec + m->interval_usec;
        if (next <= now)
                next = now + m->interval_usec;
        sd_event_source_set_time(source, next);
        return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
}

/* Each finished collection, on the loop thread: published, then the snapshots
 * that waited for it are completed with it. */
static void on_collection_done(int r, DmabufState *state, DmabufdCollectWaiter *waiters, void *userdata) {
        Manager *m = userdata;

        if (r != -ESHUTDOWN) {
                /* published holds a reference until the next one replaces it */
                dmabuf_state_ref(state);
                (void) collected(m, r, state, waiters != NULL);
        }
        for (DmabufdCollectWaiter *w = waiters, *next; w; w = next) {
                next = w->next;
                complete_snapshot(m, (PendingSnapshot *) w, r, r >= 0 ? state : NULL);
        }
        dmabuf_state_unref(state);
}

/* WATCHDOG=1 only while collections go on: the loop itself no longer runs them,
 * so a scan stuck in the kernel must still stop the pings, and systemd restart
 * the service. */
static int on_watchdog(sd_event_source *source, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (alive(m))
                (void) sd_notify(false, "WATCHDOG=1");
        sd_event_source_set_time(source, usec + m->watchdog_usec / 2);
        return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
}

static int on_exit_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("received %s, exiting", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        return sd_event_exit(m->event, 0);
}

/* Loads the BPF programs where the configuration and the kernel allow, and says
 * once why not: the other readers then do what they would have. */
static void start_bpf(Manager *m) {
        DmabufBpf *bpf = NULL;
        char reason[512], loaded[128];
        int r;

        if (!m->config.bpf)
                log_info("bpf source off: bpf = off in the configuration");
        else {
                r = dmabuf_bpf_load(m->root_fd, &bpf, reason, sizeof(reason));
                if (r == -ENOMEM)
                        log_error_errno(r, "bpf source down: out of memory while loading the programs");
                else if (r < 0)
                        log_notice("bpf source down: %s", reason);
                else {
                        dmabuf_bpf_describe(bpf, loaded, sizeof(loaded));
                        log_info("bpf source up: %s", loaded);
                }
        }
        /* The worker may be collecting with the old programs: they are freed only
         * once it is done with them. */
        if (m->collector)
                (void) dmabufd_collector_swap_bpf(m->collector, bpf, !m->config.bpf);
        dmabuf_bpf_free(m->bpf);
        m->bpf = bpf;
}

static bool sources_config_equal(const DmabufdConfig *a, const DmabufdConfig *b) {
        /* NULL (the defaults) and an empty list (off) differ. */
        return a->kmsg == b->kmsg && !a->psi_triggers == !b->psi_triggers &&
               strv_equal(a->psi_triggers, b->psi_triggers) && !a->cgroups == !b->cgroups &&
               strv_equal(a->cgroups, b->cgroups) && !a->journal_matches == !b->journal_matches &&
               strv_equal(a->journal_matches, b->journal_matches);
}

static DmabufdSnapshotLimits snapshot_limits(const DmabufdConfig *c) {
        return (DmabufdSnapshotLimits){ .max_count = c->snapshot_max_count, .max_bytes = c->snapshot_max_bytes };
}

static DmabufdHttpSettings http_settings(const DmabufdConfig *c) {
        return (DmabufdHttpSettings){
                .prom = { .top_processes = c->top_processes,
                          .top_names = c->top_names,
                          .top_cgroups = c->top_cgroups },
                .snapshot_post_any = c->snapshot_post_any,
        };
}

static DmabufdHttpLimits http_limits(const DmabufdConfig *c) {
        return (DmabufdHttpLimits){
                .max_connections = c->http_max_connections,
                .max_connections_per_address = c->http_max_connections_per_address,
                .timeout_sec = c->http_timeout_sec,
        };
}

static bool http_limits_equal(const DmabufdConfig *a, const DmabufdConfig *b) {
        return a->http_max_connections == b->http_max_connections &&
               a->http_max_connections_per_address == b->http_max_connections_per_address &&
               a->http_timeout_sec == b->http_timeout_sec;
}

/* SIGHUP: apply what can change in place; what needs the process restarted (the
 * sockets, the root, the state directory) is reported and left as it is. A bad
 * file changes nothing. */
static int on_reload_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        DmabufdConfig c;
        DmabufdSnapshotLimits limits;
        bool restart_sources, interval_changed, bpf_changed;
        char err[512];
        int r;

        /* READY=1 follows in every case: the old configuration or the new one is
         * in force, and the service is as ready as it was. */
        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the configuration");
        m->status[0] = '\0';
        dmabufd_config_init(&c);
        r = m->reload(&c, err, sizeof(err), m->reload_userdata);
        if (r < 0) {
                log_error("reload failed, keeping the running configuration: %s", err);
                dmabufd_config_done(&c);
                (void) sd_notify(false, "READY=1");
                notify_status(m);
                return 0;
        }
        if (!strv_equal(c.listen, m->config.listen) || !streq_ptr(c.root, m->config.root) ||
            !streq_ptr(c.state_dir, m->config.state_dir))
                log_warning("listen, root and state_dir changes take effect on restart; keeping the current ones");
        /* libmicrohttpd takes its limits when it starts. */
        if (!http_limits_equal(&c, &m->config))
                log_warning("http_max_connections, http_max_connections_per_address and http_timeout changes "
                            "take effect on restart; keeping the current ones");
        interval_changed = c.interval_sec != m->config.interval_sec;
        restart_sources = !sources_config_equal(&c, &m->config);
        bpf_changed = c.bpf != m->config.bpf;
        if (restart_sources)
                stop_sources(m);
        /* The new configuration is taken whole, but for the fields that stay
         * until a restart: those are swapped back, and the rest freed. */
        SWAP(c.listen, m->config.listen);
        SWAP(c.root, m->config.root);
        SWAP(c.state_dir, m->config.state_dir);
        SWAP(c.http_max_connections, m->config.http_max_connections);
        SWAP(c.http_max_connections_per_address, m->config.http_max_connections_per_address);
        SWAP(c.http_timeout_sec, m->config.http_timeout_sec);
        SWAP(c, m->config);
        dmabufd_config_done(&c);

        log_set_max_level(m->config.log_level);
        dmabufd_policy_set_cooldowns(m->policy, m->config.cooldown_sec);
        m->http_settings = http_settings(&m->config);
        dmabufd_http_set_settings(m->http, &m->http_settings);
        /* Within the bounds the configuration checked: only -ENOMEM is left. */
        r = dmabufd_publication_set_history_capacity(m->publication, m->config.history);
        if (r < 0)
                log_warning_errno(r, "cannot resize the history to %u collections, keeping its size: %m",
                                  m->config.history);
        if (m->collector)
                dmabufd_collector_set_cgroup_depth(m->collector, m->config.cgroup_depth);
        if (interval_changed) {
                m->interval_usec = (uint64_t) (m->config.interval_sec * (double) USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(m->timer, m->interval_usec);
        }
        limits = snapshot_limits(&m->config);
        if (m->store)
                dmabufd_snapshot_store_set_limits(m->store, &limits);
        if (restart_sources)
                (void) start_sources(m);
        (void) dmabufd_snapshot_hooks_configure(m->hooks, &m->config);
        if (bpf_changed)
                start_bpf(m);
        log_info("configuration reloaded%s", restart_sources ? ", event sources restarted" : "");
        (void) sd_notify(false, "READY=1");
        notify_status(m);
        return 0;
}

static void open_store(Manager *m) {
        const char *dir = m->config.state_dir ? m->config.state_dir : DMABUFD_DEFAULT_STATE_DIR;
        DmabufdSnapshotLimits limits = snapshot_limits(&m->config);
        int r;

        r = dmabufd_snapshot_store_open(dir, &limits, &m->store);
        if (r < 0) {
                /* Metrics are the daemon's first job; it carries on, and every
                 * snapshot it cannot take is counted as a failure. */
                log_error("state directory %s is not usable, every snapshot will fail until it is fixed and "
                          "dmabufd restarted", dir);
                m->store = NULL;
        }
}

int manager_new(const DmabufdConfig *config, int root_fd, DmabufdListener *listeners, size_t n_listeners,
                ManagerReloadFunc reload, void *reload_userdata, Manager **ret) {
        DmabufState *first = NULL;
        DmabufdHttpLimits limits;
        Manager *m;
        sigset_t mask;
        int r, *fds = NULL;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_error_errno(-ENOMEM, "out of memory");
        pthread_mutex_init(&m->requests_lock, NULL);
        m->requests_fd = -EBADF;
        m->parse_warnings = RATELIMIT_INIT(PARSE_WARNING_INTERVAL_USEC);
        m->failure_warnings = RATELIMIT_INIT(PARSE_WARNING_INTERVAL_USEC);
        m->root_fd = root_fd;
        m->reload = reload;
        m->reload_userdata = reload_userdata;
        if (dmabufd_config_copy(&m->config, config) < 0) {
                r = log_error_errno(-ENOMEM, "out of memory");
                dmabufd_config_init(&m->config);
                goto fail;
        }
        m->interval_usec = (uint64_t) (config->interval_sec * (double) USEC_PER_SEC);
        m->http_settings = http_settings(config);
        if (dmabufd_policy_new(m->config.cooldown_sec, &m->policy) < 0 ||
            dmabufd_publication_new(&m->publication) < 0 ||
            dmabufd_publication_set_history_capacity(m->publication, m->config.history) < 0) {
                r = log_error_errno(-ENOMEM, "out of memory");
                goto fail;
        }

        r = sd_event_default(&m->event);
        if (r < 0) {
                log_error_errno(r, "cannot create the event loop: %m");
                goto fail;
        }
        r = sd_watchdog_enabled(false, &m->watchdog_usec);
        if (r > 0 && m->watchdog_usec > 0) {
                r = sd_event_add_time_relative(m->event, &m->watchdog, CLOCK_MONOTONIC, m->watchdog_usec / 2, 1000,
                                               on_watchdog, m);
                if (r < 0) {
                        log_error_errno(r, "cannot arm the service watchdog: %m");
                        goto fail;
                }
                (void) sd_event_source_set_description(m->watchdog, "watchdog");
                log_info("service watchdog on: WatchdogSec=%.1f s", (double) m->watchdog_usec / USEC_PER_SEC);
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        /* snapshot_exec's and snapshot_push's programs end through child sources. */
        sigaddset(&mask, SIGCHLD);
        /* sd-event reads these through a signalfd, which needs them blocked; HTTP
         * threads started later inherit the mask and so never take them. */
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_reload_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigusr1, SIGUSR1, on_sigusr1, m);
        if (r < 0) {
                log_error_errno(r, "cannot watch signals: %m");
                goto fail;
        }

        open_store(m);
        /* The store's directory: state_dir stays as it is until a restart. */
        r = dmabufd_snapshot_hooks_new(m->event,
                                       !m->store               ? NULL
                                       : m->config.state_dir ? m->config.state_dir
                                                             : DMABUFD_DEFAULT_STATE_DIR,
                                       m->publication, &m->hooks);
        if (r < 0) {
                log_error_errno(r, "out of memory");
                goto fail;
        }
        r = dmabufd_snapshot_hooks_configure(m->hooks, &m->config);
        if (r < 0)
                goto fail;
        start_bpf(m);

        m->requests_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->requests_fd < 0) {
                r = log_error_errno(-errno, "cannot create an eventfd: %m");
                goto fail;
        }
        r = sd_event_add_io(m->event, &m->requests_source, m->requests_fd, EPOLLIN, on_requests, m);
        if (r < 0) {
                log_error_errno(r, "cannot watch the request eventfd: %m");
                goto fail;
        }

        /* The first one on this thread: once manager_new returns, the HTTP API has
         * something to serve. */
        r = dmabuf_collect(m->root_fd,
                           &(DmabufCollectOptions){
                                   .bpf = m->bpf,
                                   .no_bpf = !m->config.bpf,
                                   .cgroup_depth = m->config.cgroup_depth,
                           },
                           &first);
        r = collected(m, r, first, false);
        if (r < 0) {
                log_error_errno(r, "first collection failed: %m");
                goto fail;
        }
        /* Started with the signals blocked, as the HTTP threads are. */
        r = dmabufd_collector_new(m->event, m->root_fd, on_collection_done, m, &m->collector);
        if (r < 0) {
                log_error_errno(r, "cannot start the collection thread: %m");
                goto fail;
        }
        (void) dmabufd_collector_swap_bpf(m->collector, m->bpf, !m->config.bpf);
        dmabufd_collector_set_cgroup_depth(m->collector, m->config.cgroup_depth);
        /* After the first collection: a kill's snapshot needs a `before`. */
        r = start_sources(m);
        if (r < 0) {
                log_error_errno(r, "cannot start the event sources: %m");
                goto fail;
        }

        r = sd_event_add_time_relative(m->event, &m->timer, CLOCK_MONOTONIC, m->interval_usec, 1000, on_timer, m);
        if (r < 0) {
                log_error_errno(r, "cannot arm the collection timer: %m");
                goto fail;
        }
        (void) sd_event_source_set_description(m->timer, "collection");

        fds = calloc(MAX(n_listeners, (size_t) 1), sizeof(int));
        if (!fds) {
                r = log_error_errno(-ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < n_listeners; i++)
                fds[i] = listeners[i].fd;
        limits = http_limits(&m->config);
        r = dmabufd_http_start(fds, n_listeners, &http_ops, m, m->store, &m->http_settings, &limits, &m->http);
        free(fds);
        if (r < 0) {
                log_error_errno(r, "cannot start the HTTP server: %m");
                goto fail;
        }
        for (size_t i = 0; i < n_listeners; i++)
                log_info("listening on %s", listeners[i].name);

        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

int manager_run(Manager *m) {
        int r;

        /* manager_new has done the first collection and the sockets listen:
         * what systemd's ordering after dmabufd.service promises. */
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(m->event);

        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}

Manager *manager_free(Manager *m) {
        DmabufdSnapshotRequest *pending, *next;

        if (!m)
                return NULL;
        /* Suspended connections must be resumed before libmicrohttpd stops, and
         * nothing new may queue once the loop no longer reads the queue. */
        pthread_mutex_lock(&m->requests_lock);
        m->closing = true;
        pending = m->requests;
        m->requests = NULL;
        pthread_mutex_unlock(&m->requests_lock);
        for (DmabufdSnapshotRequest *req = pending; req; req = next) {
                next = req->next;
                req->result = -ESHUTDOWN;
                dmabufd_http_snapshot_done(req);
        }
        /* The worker next: the snapshots waiting for its collection answer their
         * requests and keep their first part. */
        m->collector = dmabufd_collector_free(m->collector);
        /* HTTP threads next: after this nothing else reads the state or the store. */
        dmabufd_http_stop(m->http);
        stop_sources(m);
        /* Before the store: a push cut short stays queued for the next start. */
        m->hooks = dmabufd_snapshot_hooks_free(m->hooks);
        sd_event_source_unref(m->timer);
        sd_event_source_unref(m->watchdog);
        sd_event_source_unref(m->sigterm);
        sd_event_source_unref(m->sigint);
        sd_event_source_unref(m->sighup);
        sd_event_source_unref(m->sigusr1);
        sd_event_source_unref(m->requests_source);
        safe_close(m->requests_fd);
        sd_event_unref(m->event);
        dmabufd_snapshot_store_free(m->store);
        dmabuf_bpf_free(m->bpf);
        dmabufd_policy_free(m->policy);
        dmabufd_publication_free(m->publication);
        pthread_mutex_destroy(&m->requests_lock);
        dmabufd_config_done(&m->config);
        free(m);
        return NULL;
}
