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
};

int dmabufd_publication_new(DmabufdPublication **ret) {
        DmabufdPublication *p = calloc(1, sizeof(DmabufdPublication));

        if (!p)
                return -ENOMEM;
        pthread_mutex_init(&p->lock, NULL);
        *ret = p;
        return 0;
}

DmabufdPublication *dmabufd_publication_free(DmabufdPublication *p) {
        if (!p)
                return NULL;
        dmabuf_state_unref(p->state);
        pthread_mutex_destroy(&p->lock);
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
