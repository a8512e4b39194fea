/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "dmabuf-collect.h"
#include "dmabufd-http.h"
#include "dmabufd-manager.h"
#include "log.h"
#include "macro.h"

#define USEC_PER_SEC 1000000ULL
/* Kernel data that stays malformed would otherwise log on every collection. */
#define PARSE_WARNING_INTERVAL_USEC (600 * USEC_PER_SEC)

struct Manager {
        sd_event *event;
        sd_event_source *timer;
        sd_event_source *sigterm, *sigint, *sighup;
        ManagerReloadFunc reload;
        void *reload_userdata;
        DmabufdConfig config; /* what is in force, to compare on reload */
        int root_fd;
        uint64_t interval_usec;
        DmabufPromOptions prom_options;
        DmabufdHttp *http;

        /* The one thing shared with the HTTP threads: the latest state. The lock
         * covers the pointer swap and the taking of a reference, nothing more. */
        pthread_mutex_t state_lock;
        DmabufState *state;
        /* CLOCK_MONOTONIC: until when the loop counts as alive. Set with each
         * publication from the interval then in force, so the HTTP threads never
         * read the interval, which SIGHUP may change. */
        uint64_t alive_until_usec;

        DmabufCounters counters;
        uint64_t last_parse_warning_usec;
        uint64_t last_failure_warning_usec;
};

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static DmabufState *get_state(void *userdata) {
        Manager *m = userdata;
        DmabufState *s;

        pthread_mutex_lock(&m->state_lock);
        s = dmabuf_state_ref(m->state);
        pthread_mutex_unlock(&m->state_lock);
        return s;
}

static bool alive(void *userdata) {
        Manager *m = userdata;
        uint64_t until;

        pthread_mutex_lock(&m->state_lock);
        until = m->alive_until_usec;
        pthread_mutex_unlock(&m->state_lock);
        return now_usec(CLOCK_MONOTONIC) <= until;
}

static const DmabufdHttpOps http_ops = {
        .get_state = get_state,
        .alive = alive,
};

static void publish(Manager *m, DmabufState *s) {
        DmabufState *old;

        pthread_mutex_lock(&m->state_lock);
        old = m->state;
        m->state = s;
        /* Two missed collections plus slack for one slow scan. */
        m->alive_until_usec = now_usec(CLOCK_MONOTONIC) + 2 * m->interval_usec + 10 * USEC_PER_SEC;
        pthread_mutex_unlock(&m->state_lock);
        /* Readers that took a reference keep the old state alive until they finish. */
        dmabuf_state_unref(old);
}

static void report_parse_errors(Manager *m, const DmabufState *s) {
        const DmabufScanStats *st = dmabuf_state_scan_stats(s);
        uint64_t total = 0, now;

        for (size_t i = 0; i < _DMABUF_SOURCE_MAX; i++)
                total += st->parse_errors[i];
        if (total == 0)
                return;
        now = now_usec(CLOCK_MONOTONIC);
        if (m->last_parse_warning_usec != 0 && now - m->last_parse_warning_usec < PARSE_WARNING_INTERVAL_USEC)
                return;
        m->last_parse_warning_usec = now;
        log_warning("malformed kernel data, skipped: %s (%" PRIu64
                    " malformed items in this collection; see dmabufd_parse_errors_total)",
                    st->first_error, total);
}

static int collect(Manager *m) {
        DmabufState *s = NULL;
        int r;

        r = dmabuf_collect(m->root_fd, NULL, &s);
        if (r < 0) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (m->last_failure_warning_usec == 0 ||
                    now - m->last_failure_warning_usec >= PARSE_WARNING_INTERVAL_USEC) {
                        m->last_failure_warning_usec = now;
                        log_warning_errno(r, "collection failed, serving the previous one: %m");
                }
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
        publish(m, s);
        /* A collection frees about as much as it allocates; glibc would keep those
         * pages, and the daemon's RSS would sit at its peak for good. */
        malloc_trim(0);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now, next;

        (void) collect(m);

        /* Keep a fixed cadence; after a scan longer than the interval, skip ahead
         * rather than run back to back. */
        now = now_usec(CLOCK_MONOTONIC);
        next = usec + m->interval_usec;
        if (next <= now)
                next = now + m->interval_usec;
        sd_event_source_set_time(source, next);
        return sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
}

static int on_exit_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("received %s, exiting", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        return sd_event_exit(m->event, 0);
}

static bool strv_equal(char **a, char **b) {
        for (; a && *a && b && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static bool str_equal(const char *a, const char *b) {
        return (!a && !b) || (a && b && streq(a, b));
}

static int config_copy(DmabufdConfig *dst, const DmabufdConfig *src) {
        char err[256];

        dmabufd_config_init(dst);
        dst->interval_sec = src->interval_sec;
        dst->log_level = src->log_level;
        dst->top_processes = src->top_processes;
        dst->top_names = src->top_names;
        for (char **l = src->listen; l && *l; l++)
                if (dmabufd_config_add_listen(dst, *l, true, err, sizeof(err)) < 0)
                        return -ENOMEM;
        if ((src->root && !(dst->root = strdup(src->root))) ||
            (src->state_dir && !(dst->state_dir = strdup(src->state_dir))))
                return -ENOMEM;
        return 0;
}

/* SIGHUP: apply what can change in place; what needs the process restarted (the
 * sockets, the root) is reported and left as it is. A bad file changes nothing. */
static int on_reload_signal(sd_event_source *source, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        DmabufdConfig c;
        char err[512];
        int r;

        dmabufd_config_init(&c);
        r = m->reload(&c, err, sizeof(err), m->reload_userdata);
        if (r < 0) {
                log_error("reload failed, keeping the running configuration: %s", err);
                dmabufd_config_done(&c);
                return 0;
        }
        if (!strv_equal(c.listen, m->config.listen) || !str_equal(c.root, m->config.root) ||
            !str_equal(c.state_dir, m->config.state_dir))
                log_warning("listen, root and state_dir changes take effect on restart; keeping the current ones");

        log_set_max_level(c.log_level);
        m->prom_options = (DmabufPromOptions){ .top_processes = c.top_processes, .top_names = c.top_names };
        dmabufd_http_set_options(m->http, &m->prom_options);
        if (c.interval_sec != m->config.interval_sec) {
                m->interval_usec = (uint64_t) (c.interval_sec * (double) USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(m->timer, m->interval_usec);
        }
        m->config.interval_sec = c.interval_sec;
        m->config.log_level = c.log_level;
        m->config.top_processes = c.top_processes;
        m->config.top_names = c.top_names;
        dmabufd_config_done(&c);
        log_info("configuration reloaded");
        return 0;
}

int manager_new(const DmabufdConfig *config, int root_fd, DmabufdListener *listeners, size_t n_listeners,
                ManagerReloadFunc reload, void *reload_userdata, Manager **ret) {
        Manager *m;
        sigset_t mask;
        int r, *fds = NULL;

        m = calloc(1, sizeof(Manager));
        if (!m)
                return log_error_errno(-ENOMEM, "out of memory");
        pthread_mutex_init(&m->state_lock, NULL);
        m->root_fd = root_fd;
        m->reload = reload;
        m->reload_userdata = reload_userdata;
        if (config_copy(&m->config, config) < 0) {
                r = log_error_errno(-ENOMEM, "out of memory");
                goto fail;
        }
        m->interval_usec = (uint64_t) (config->interval_sec * (double) USEC_PER_SEC);
        m->prom_options = (DmabufPromOptions){
                .top_processes = config->top_processes,
                .top_names = config->top_names,
        };

        r = sd_event_default(&m->event);
        if (r < 0) {
                log_error_errno(r, "cannot create the event loop: %m");
                goto fail;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        /* sd-event reads these through a signalfd, which needs them blocked; HTTP
         * threads started later inherit the mask and so never take them. */
        pthread_sigmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_exit_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_reload_signal, m);
        if (r < 0) {
                log_error_errno(r, "cannot watch signals: %m");
                goto fail;
        }

        r = collect(m);
        if (r < 0) {
                log_error_errno(r, "first collection failed: %m");
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
        r = dmabufd_http_start(fds, n_listeners, &http_ops, m, &m->prom_options, &m->http);
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
        int r = sd_event_loop(m->event);

        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* HTTP threads first: after this nothing else reads the state. */
        dmabufd_http_stop(m->http);
        sd_event_source_unref(m->timer);
        sd_event_source_unref(m->sigterm);
        sd_event_source_unref(m->sigint);
        sd_event_source_unref(m->sighup);
        sd_event_unref(m->event);
        dmabuf_state_unref(m->state);
        pthread_mutex_destroy(&m->state_lock);
        dmabufd_config_done(&m->config);
        free(m);
        return NULL;
}
