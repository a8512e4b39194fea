/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "publication.h"

struct DmabufdPublication {
        pthread_mutex_t lock;
        DmabufState *state;
        /* Set with each publication from the interval then in force, so readers
         * never read the interval, which SIGHUP may change. */
        uint64_t alive_until_usec;
        DmabufPromLive live;

        pthread_mutex_t history_lock;
        DmabufHistory *history;
};

int dmabufd_publication_new(DmabufdPublication **ret) {
        DmabufdPublication *p = calloc(1, sizeof(DmabufdPublication));

        if (!p)
                return -ENOMEM;
        if (dmabuf_history_new(0, &p->history) < 0) {
                free(p);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->history_lock, NULL);
        *ret = p;
        return 0;
}

DmabufdPublication *dmabufd_publication_free(DmabufdPublication *p) {
        if (!p)
                return NULL;
        dmabuf_state_unref(p->state);
        dmabuf_history_free(p->history);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->history_lock);
        free(p);
        return NULL;
}

void dmabufd_publication_swap(DmabufdPublication *p, DmabufState *s, uint64_t interval_usec, uint64_t now_usec) {
        DmabufState *old;

        pthread_mutex_lock(&p->lock);
        old = p->state;
        p->state = s;
        p->alive_until_usec = now_usec + 2 * interval_usec + DMABUFD_PUBLICATION_SLACK_USEC;
        pthread_mutex_unlock(&p->lock);
        /* Outside the lock: freeing a big state must not hold up a scrape. */
        dmabuf_state_unref(old);
}

DmabufState *dmabufd_publication_get_state(DmabufdPublication *p) {
        DmabufState *s;

        pthread_mutex_lock(&p->lock);
        s = dmabuf_state_ref(p->state);
        pthread_mutex_unlock(&p->lock);
        return s;
}

bool dmabufd_publication_alive(DmabufdPublication *p, uint64_t now_usec) {
        bool alive;

        pthread_mutex_lock(&p->lock);
        alive = p->state && now_usec <= p->alive_until_usec;
        pthread_mutex_unlock(&p->lock);
        return alive;
}

void dmabufd_publication_get_live(DmabufdPublication *p, DmabufPromLive *ret) {
        pthread_mutex_lock(&p->lock);
        *ret = p->live;
        pthread_mutex_unlock(&p->lock);
}

void dmabufd_publication_count_event(DmabufdPublication *p, DmabufdEventKind kind) {
        if (kind < 0 || kind >= _DMABUFD_EVENT_KIND_MAX)
                return;
        pthread_mutex_lock(&p->lock);
        p->live.events[kind]++;
        pthread_mutex_unlock(&p->lock);
}

void dmabufd_publication_count_snapshot(DmabufdPublication *p, bool ok) {
        pthread_mutex_lock(&p->lock);
        if (ok)
                p->live.snapshots++;
        else
                p->live.snapshot_failures++;
        pthread_mutex_unlock(&p->lock);
}

void dmabufd_publication_count_hook(DmabufdPublication *p, DmabufdHookCount which) {
        pthread_mutex_lock(&p->lock);
        switch (which) {
        case DMABUFD_HOOK_EXEC_FAILURE:
                p->live.snapshot_exec_failures++;
                break;
        case DMABUFD_HOOK_PUSHED:
                p->live.snapshot_pushes++;
                break;
        case DMABUFD_HOOK_PUSH_FAILURE:
                p->live.snapshot_push_failures++;
                break;
        case DMABUFD_HOOK_PUSH_DROPPED:
                p->live.snapshot_push_dropped++;
                break;
        }
        pthread_mutex_unlock(&p->lock);
}

void dmabufd_publication_set_push_queue(DmabufdPublication *p, uint64_t n) {
        pthread_mutex_lock(&p->lock);
        p->live.snapshot_push_queue = n;
        pthread_mutex_unlock(&p->lock);
}

void dmabufd_publication_set_sources_up(DmabufdPublication *p, const bool up[_DMABUFD_EVENT_SOURCE_MAX]) {
        pthread_mutex_lock(&p->lock);
        memcpy(p->live.source_up, up, sizeof(p->live.source_up));
        pthread_mutex_unlock(&p->lock);
}

int dmabufd_publication_set_history_capacity(DmabufdPublication *p, size_t capacity) {
        int r;

        pthread_mutex_lock(&p->history_lock);
        r = dmabuf_history_set_capacity(p->history, capacity);
        pthread_mutex_unlock(&p->history_lock);
        return r;
}

int dmabufd_publication_append_history(DmabufdPublication *p, const DmabufState *s) {
        DmabufHistoryEntry *e;
        bool enabled;
        int r;

        pthread_mutex_lock(&p->history_lock);
        enabled = dmabuf_history_capacity(p->history) > 0;
        pthread_mutex_unlock(&p->history_lock);
        if (!enabled)
                return 0;
        /* Built outside the lock: sorting thousands of processes by pss takes
         * longer than a reader should wait. */
        r = dmabuf_history_entry_new(s, &e);
        if (r < 0)
                return r;
        pthread_mutex_lock(&p->history_lock);
        dmabuf_history_push(p->history, e);
        pthread_mutex_unlock(&p->history_lock);
        return 0;
}

int dmabufd_publication_write_history(DmabufdPublication *p, const DmabufHistoryQuery *q, StrBuf *sb) {
        int r;

        pthread_mutex_lock(&p->history_lock);
        r = dmabuf_history_write_json(sb, p->history, q);
        pthread_mutex_unlock(&p->history_lock);
        return r;
}

size_t dmabufd_publication_history_bytes(DmabufdPublication *p) {
        size_t n;

        pthread_mutex_lock(&p->history_lock);
        n = dmabuf_history_memory_bytes(p->history);
        pthread_mutex_unlock(&p->history_lock);
        return n;
}
