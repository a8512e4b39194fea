/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "collect.h"
#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

/* A finished collection on its way to the loop thread. */
typedef struct Result {
        struct Result *next;
        int r;
        DmabufState *state;
        DmabufdCollectWaiter *waiters;
} Result;

struct DmabufdCollector {
        sd_event_source *done_source;
        int done_fd;
        DmabufdCollectorDone done;
        void *userdata;
        int root_fd;

        pthread_t thread;
        bool thread_started;
        /* Everything below is under lock. */
        pthread_mutex_t lock;
        pthread_cond_t wake; /* a request, or stop */
        pthread_cond_t idle; /* the collection in hand ended */
        bool stop;
        bool requested;
        bool running;
        DmabufdCollectWaiter *queued, **queued_tail;
        Result *results, **results_tail;
        DmabufBpf *bpf;
        bool no_bpf;
        unsigned cgroup_depth;
};

static void *worker(void *userdata) {
        DmabufdCollector *c = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&c->lock);
        for (;;) {
                DmabufCollectOptions opts;
                DmabufdCollectWaiter *waiters;
                DmabufState *state = NULL;
                Result *res;
                int r;

                while (!c->requested && !c->stop)
                        pthread_cond_wait(&c->wake, &c->lock);
                /* On the way out, a snapshot already half on disk still gets its
                 * collection; a periodic one does not. */
                if (c->stop && !c->queued)
                        break;
                res = malloc(sizeof(Result));
                if (!res) {
                        /* Nothing to hand a result back in: the waiters stay
                         * queued for the next request to retry. */
                        c->requested = false;
                        if (c->stop)
                                break;
                        continue;
                }
                /* Everyone queued so far asked before this collection starts. */
                c->requested = false;
                waiters = c->queued;
                c->queued = NULL;
                c->queued_tail = &c->queued;
                c->running = true;
                opts = (DmabufCollectOptions){ .bpf = c->bpf, .no_bpf = c->no_bpf, .cgroup_depth = c->cgroup_depth };
                pthread_mutex_unlock(&c->lock);

                r = dmabuf_collect(c->root_fd, &opts, &state);

                pthread_mutex_lock(&c->lock);
                c->running = false;
                pthread_cond_broadcast(&c->idle);
                *res = (Result){ .r = r, .state = r >= 0 ? state : NULL, .waiters = waiters };
                *c->results_tail = res;
                c->results_tail = &res->next;
                /* An eventfd counter cannot overflow from this; a failed write
                 * leaves the result for the next wake-up. */
                (void) !write(c->done_fd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

static Result *take_results(DmabufdCollector *c) {
        Result *list;

        pthread_mutex_lock(&c->lock);
        list = c->results;
        c->results = NULL;
        c->results_tail = &c->results;
        pthread_mutex_unlock(&c->lock);
        return list;
}

static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        DmabufdCollector *c = userdata;
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        for (Result *res = take_results(c), *next; res; res = next) {
                next = res->next;
                c->done(res->r, res->state, res->waiters, c->userdata);
                free(res);
        }
        return 0;
}

int dmabufd_collector_new(sd_event *event, int root_fd, DmabufdCollectorDone done, void *userdata,
                          DmabufdCollector **ret) {
        DmabufdCollector *c;
        int r;

        c = calloc(1, sizeof(DmabufdCollector));
        if (!c)
                return -ENOMEM;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->wake, NULL);
        pthread_cond_init(&c->idle, NULL);
        c->queued_tail = &c->queued;
        c->results_tail = &c->results;
        c->root_fd = root_fd;
        c->done = done;
        c->userdata = userdata;
        c->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->done_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &c->done_source, c->done_fd, EPOLLIN, on_done, c);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(c->done_source, "collection-done");
        r = -pthread_create(&c->thread, NULL, worker, c);
        if (r < 0)
                goto fail;
        c->thread_started = true;
        *ret = c;
        return 0;
fail:
        dmabufd_collector_free(c);
        return r;
}

DmabufdCollector *dmabufd_collector_free(DmabufdCollector *c) {
        DmabufdCollectWaiter *queued;

        if (!c)
                return NULL;
        if (c->thread_started) {
                pthread_mutex_lock(&c->lock);
                c->stop = true;
                pthread_cond_signal(&c->wake);
                pthread_mutex_unlock(&c->lock);
                pthread_join(c->thread, NULL);
        }
        for (Result *res = take_results(c), *next; res; res = next) {
                next = res->next;
                c->done(res->r, res->state, res->waiters, c->userdata);
                free(res);
        }
        queued = c->queued;
        c->queued = NULL;
        if (queued)
                c->done(-ESHUTDOWN, NULL, queued, c->userdata);
        sd_event_source_disable_unref(c->done_source);
        safe_close(c->done_fd);
        pthread_cond_destroy(&c->idle);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

int dmabufd_collector_request(DmabufdCollector *c, DmabufdCollectWaiter *waiter) {
        pthread_mutex_lock(&c->lock);
        if (c->stop) {
                pthread_mutex_unlock(&c->lock);
                return -ESHUTDOWN;
        }
        if (waiter) {
                waiter->next = NULL;
                *c->queued_tail = waiter;
                c->queued_tail = &waiter->next;
        }
        c->requested = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

bool dmabufd_collector_busy(DmabufdCollector *c) {
        bool busy;

        pthread_mutex_lock(&c->lock);
        busy = c->running || c->requested;
        pthread_mutex_unlock(&c->lock);
        return busy;
}

void dmabufd_collector_set_cgroup_depth(DmabufdCollector *c, unsigned depth) {
        pthread_mutex_lock(&c->lock);
        c->cgroup_depth = depth;
        pthread_mutex_unlock(&c->lock);
}

DmabufBpf *dmabufd_collector_swap_bpf(DmabufdCollector *c, DmabufBpf *bpf, bool no_bpf) {
        DmabufBpf *old;

        pthread_mutex_lock(&c->lock);
        while (c->running)
                pthread_cond_wait(&c->idle, &c->lock);
        old = c->bpf;
        c->bpf = bpf;
        c->no_bpf = no_bpf;
        pthread_mutex_unlock(&c->lock);
        return old;
}
