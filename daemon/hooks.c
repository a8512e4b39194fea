/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"
#include "macro.h"
#include "runner.h"
#include "store.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"

#define SPOOL_DIR "push"
#define SUFFIX ".json"

typedef struct ExecJob {
        char id[DMABUFD_SNAPSHOT_ID_MAX];
        char kind[32];
        pid_t pid;
        char comm[64];
} ExecJob;

struct DmabufdSnapshotHooks {
        sd_event *event;
        char *state_dir; /* NULL: unusable, nothing is pushed */
        DmabufdPublication *publication;

        char **exec_argv; /* NULL: no snapshot_exec */
        uint64_t exec_timeout_usec;
        DmabufdRunner *exec_runner;
        ExecJob exec_queue[DMABUFD_HOOKS_EXEC_QUEUE_MAX];
        size_t exec_queued;

        char *push_url; /* NULL: no snapshot_push */
        uint64_t push_timeout_usec;
        unsigned push_queue_max;
        uint64_t push_queue_max_bytes;
        DmabufdRunner *push_runner;
        int spool_fd; /* <state_dir>/push, or -EBADF */
        char pushing[DMABUFD_SNAPSHOT_ID_MAX]; /* the entry the helper has, "" when none */
        uint64_t backoff_usec;                 /* the next retry's delay; 0 after a success */
        sd_event_source *retry_source;
};

static void exec_next(DmabufdSnapshotHooks *h);
static void push_next(DmabufdSnapshotHooks *h);

/* ---- snapshot_exec ---- */

static void exec_done(DmabufdRunner *r, int result, void *userdata) {
        DmabufdSnapshotHooks *h = userdata;

        (void) r;
        /* The runner has logged how it ended. */
        if (result != 0)
                dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_EXEC_FAILURE);
        exec_next(h);
}

static void exec_next(DmabufdSnapshotHooks *h) {
        char file[PATH_MAX + 64], id[64 + DMABUFD_SNAPSHOT_ID_MAX], kind[64], pid[48], comm[96];
        char *env[] = { file, id, kind, pid, comm, NULL };
        ExecJob job;

        while (h->exec_queued > 0 && h->exec_argv && !dmabufd_runner_busy(h->exec_runner)) {
                job = h->exec_queue[0];
                memmove(h->exec_queue, h->exec_queue + 1, (h->exec_queued - 1) * sizeof(ExecJob));
                h->exec_queued--;
                snprintf(file, sizeof(file), "DMABUFD_SNAPSHOT_FILE=%s/%s" SUFFIX, h->state_dir ? h->state_dir : "",
                         job.id);
                snprintf(id, sizeof(id), "DMABUFD_SNAPSHOT_ID=%s", job.id);
                snprintf(kind, sizeof(kind), "DMABUFD_TRIGGER_KIND=%s", job.kind);
                /* No victim: the variables are there, empty, so a script need not test for them. */
                if (job.pid > 0)
                        snprintf(pid, sizeof(pid), "DMABUFD_VICTIM_PID=%d", (int) job.pid);
                else
                        snprintf(pid, sizeof(pid), "DMABUFD_VICTIM_PID=");
                snprintf(comm, sizeof(comm), "DMABUFD_VICTIM_COMM=%s", job.comm);
                if (dmabufd_runner_start(h->exec_runner, h->exec_argv, env, h->exec_timeout_usec) < 0)
                        /* Logged; the next one may fare better (a program replaced meanwhile). */
                        dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_EXEC_FAILURE);
        }
}

static void exec_enqueue(DmabufdSnapshotHooks *h, const char *id, const char *kind, pid_t pid, const char *comm) {
        ExecJob *job;

        if (h->exec_queued >= DMABUFD_HOOKS_EXEC_QUEUE_MAX) {
                /* A program slower than the snapshots come: the newest wait goes
                 * unrun, counted, rather than a queue without end. */
                log_warning("snapshot_exec not run for snapshot %s: %d runs are waiting already", id,
                            DMABUFD_HOOKS_EXEC_QUEUE_MAX);
                dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_EXEC_FAILURE);
                return;
        }
        job = &h->exec_queue[h->exec_queued++];
        *job = (ExecJob){ .pid = pid };
        snprintf(job->id, sizeof(job->id), "%s", id);
        snprintf(job->kind, sizeof(job->kind), "%s", kind);
        snprintf(job->comm, sizeof(job->comm), "%s", comm ? comm : "");
        exec_next(h);
}

/* ---- snapshot_push ---- */

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The spool's entries, oldest first (ids begin with the time). */
static int spool_list(DmabufdSnapshotHooks *h, char ***ret, size_t *ret_n) {
        _cleanup_(strv_freep) char **names = NULL;
        DIR *d;
        size_t n = 0;
        int fd;

        fd = openat(h->spool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return negative_errno();
        }
        for (struct dirent *de; (de = readdir(d));) {
                size_t len = strlen(de->d_name);
                char **grown;

                if (de->d_name[0] == '.' || len <= STRLEN(SUFFIX) || !streq(de->d_name + len - STRLEN(SUFFIX), SUFFIX))
                        continue;
                grown = reallocarray(names, n + 2, sizeof(char *));
                if (!grown) {
                        closedir(d);
                        return -ENOMEM;
                }
                names = grown;
                names[n] = strndup(de->d_name, len - STRLEN(SUFFIX));
                if (!names[n]) {
                        closedir(d);
                        return -ENOMEM;
                }
                names[++n] = NULL;
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof(char *), compare_names);
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

/* Drops the oldest entries beyond either bound (never the newest, nor the one
 * being pushed), and publishes how many wait. */
static void spool_trim(DmabufdSnapshotHooks *h) {
        _cleanup_(strv_freep) char **names = NULL;
        _cleanup_free_ uint64_t *sizes = NULL;
        uint64_t bytes = 0;
        size_t n = 0, left;
        int r;

        r = spool_list(h, &names, &n);
        if (r < 0) {
                log_warning_errno(r, "cannot list the push queue %s/" SPOOL_DIR ": %m", h->state_dir);
                return;
        }
        sizes = calloc(MAX(n, (size_t) 1), sizeof(uint64_t));
        if (!sizes) {
                log_warning_errno(-ENOMEM, "cannot bound the push queue: out of memory");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                char name[DMABUFD_SNAPSHOT_ID_MAX + STRLEN(SUFFIX)];
                struct stat st;

                snprintf(name, sizeof(name), "%s" SUFFIX, names[i]);
                /* Gone meanwhile: 0 bytes, and it is dropped as anything else would be. */
                if (fstatat(h->spool_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        sizes[i] = (uint64_t) st.st_size;
                bytes += sizes[i];
        }
        left = n;
        for (size_t i = 0; i + 1 < n && (left > h->push_queue_max || bytes > h->push_queue_max_bytes); i++) {
                char name[DMABUFD_SNAPSHOT_ID_MAX + STRLEN(SUFFIX)];

                if (streq(names[i], h->pushing))
                        continue;
                snprintf(name, sizeof(name), "%s" SUFFIX, names[i]);
                if (unlinkat(h->spool_fd, name, 0) < 0 && errno != ENOENT) {
                        log_warning_errno(negative_errno(), "cannot drop %s from the push queue: %m", name);
                        continue;
                }
                left--;
                bytes -= sizes[i];
                log_warning("snapshot %s dropped from the push queue: more than %u snapshots or %" PRIu64
                            " bytes wait", names[i], h->push_queue_max, h->push_queue_max_bytes);
                dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_PUSH_DROPPED);
        }
        dmabufd_publication_set_push_queue(h->publication, left);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        DmabufdSnapshotHooks *h = userdata;

        (void) s;
        (void) usec;
        h->retry_source = sd_event_source_disable_unref(h->retry_source);
        push_next(h);
        return 0;
}

static void push_done(DmabufdRunner *r, int result, void *userdata) {
        DmabufdSnapshotHooks *h = userdata;
        char name[DMABUFD_SNAPSHOT_ID_MAX + STRLEN(SUFFIX)];
        int q;

        (void) r;
        snprintf(name, sizeof(name), "%s" SUFFIX, h->pushing);
        if (result == 0) {
                log_info("snapshot %s pushed", h->pushing);
                if (h->spool_fd >= 0 && unlinkat(h->spool_fd, name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(), "cannot remove %s/" SPOOL_DIR "/%s: %m", h->state_dir,
                                          name);
                dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_PUSHED);
                h->pushing[0] = '\0';
                h->backoff_usec = 0;
                if (h->spool_fd >= 0)
                        spool_trim(h);
                push_next(h);
                return;
        }
        /* The runner has logged the helper's words and how it ended. */
        dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_PUSH_FAILURE);
        h->pushing[0] = '\0';
        /* The bound spared the entry in flight; now it applies to it too. */
        if (h->spool_fd >= 0)
                spool_trim(h);
        h->backoff_usec = h->backoff_usec == 0 ? DMABUFD_HOOKS_PUSH_BACKOFF_MIN_USEC
                                               : MIN(h->backoff_usec * 2, DMABUFD_HOOKS_PUSH_BACKOFF_MAX_USEC);
        q = sd_event_add_time_relative(h->event, &h->retry_source, CLOCK_MONOTONIC, h->backoff_usec, 0, on_retry, h);
        if (q < 0) {
                log_error_errno(q, "cannot arm the push retry timer, pushing waits for the next snapshot: %m");
                return;
        }
        log_info("snapshot %s: push failed, next try in %.0f s", name, (double) h->backoff_usec / USEC_PER_SEC);
}

static void push_next(DmabufdSnapshotHooks *h) {
        _cleanup_(strv_freep) char **names = NULL;
        char file[PATH_MAX + 64], url[4096], timeout[64], helper_path[PATH_MAX];
        char *env[] = { url, timeout, NULL };
        char *argv[] = { helper_path, file, NULL };
        const char *helper;
        size_t n = 0;

        if (!h->push_url || h->spool_fd < 0 || h->retry_source || dmabufd_runner_busy(h->push_runner))
                return;
        if (spool_list(h, &names, &n) < 0 || n == 0)
                return;
        /* The installed helper; DMABUFD_PUSH_HELPER names another (a build tree's, in the tests). */
        helper = getenv("DMABUFD_PUSH_HELPER");
        snprintf(helper_path, sizeof(helper_path), "%s", helper && *helper ? helper : PKGLIBEXECDIR "/dmabufd-push");
        snprintf(h->pushing, sizeof(h->pushing), "%s", names[0]);
        snprintf(file, sizeof(file), "%s/" SPOOL_DIR "/%s" SUFFIX, h->state_dir, names[0]);
        /* In the environment, not argv: a URL may carry a token, and argv is public. */
        snprintf(url, sizeof(url), "DMABUFD_PUSH_URL=%s", h->push_url);
        snprintf(timeout, sizeof(timeout), "DMABUFD_PUSH_TIMEOUT_MS=%" PRIu64, h->push_timeout_usec / USEC_PER_MSEC);
        /* A second of grace: the helper's own timeout says more than a kill. */
        if (dmabufd_runner_start(h->push_runner, argv, env, h->push_timeout_usec + USEC_PER_SEC) < 0)
                push_done(h->push_runner, -EIO, h);
}

static void push_enqueue(DmabufdSnapshotHooks *h, const char *id) {
        char from[PATH_MAX + 64], name[DMABUFD_SNAPSHOT_ID_MAX + STRLEN(SUFFIX)];

        if (h->spool_fd < 0)
                return;
        /* A hard link: no copy, and the store's retention may delete its own name. */
        snprintf(from, sizeof(from), "%s/%s" SUFFIX, h->state_dir, id);
        snprintf(name, sizeof(name), "%s" SUFFIX, id);
        if (linkat(AT_FDCWD, from, h->spool_fd, name, 0) < 0 && errno != EEXIST) {
                log_error_errno(negative_errno(), "snapshot %s not queued for pushing: cannot link %s into %s/" SPOOL_DIR
                                ": %m", id, from, h->state_dir);
                dmabufd_publication_count_hook(h->publication, DMABUFD_HOOK_PUSH_DROPPED);
                return;
        }
        spool_trim(h);
        push_next(h);
}

/* ---- the module ---- */

int dmabufd_snapshot_hooks_new(sd_event *event, const char *state_dir, DmabufdPublication *publication,
                               DmabufdSnapshotHooks **ret) {
        DmabufdSnapshotHooks *h = calloc(1, sizeof(DmabufdSnapshotHooks));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->publication = publication;
        h->spool_fd = -EBADF;
        if ((state_dir && !(h->state_dir = strdup(state_dir))) ||
            dmabufd_runner_new(event, "snapshot_exec", exec_done, h, &h->exec_runner) < 0 ||
            dmabufd_runner_new(event, "snapshot_push", push_done, h, &h->push_runner) < 0) {
                dmabufd_snapshot_hooks_free(h);
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

DmabufdSnapshotHooks *dmabufd_snapshot_hooks_free(DmabufdSnapshotHooks *h) {
        if (!h)
                return NULL;
        dmabufd_runner_free(h->exec_runner);
        dmabufd_runner_free(h->push_runner);
        sd_event_source_disable_unref(h->retry_source);
        safe_close(h->spool_fd);
        strv_free(h->exec_argv);
        free(h->push_url);
        free(h->state_dir);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

/* "PROGRAM ARG...", split at blanks: conf.c has checked PROGRAM. */
static int split_words(const char *s, char ***ret) {
        _cleanup_(strv_freep) char **words = NULL;
        size_t n = 0;

        for (const char *p = s; *p;) {
                size_t len;
                char **grown;

                p += strspn(p, " \t");
                len = strcspn(p, " \t");
                if (len == 0)
                        break;
                grown = reallocarray(words, n + 2, sizeof(char *));
                if (!grown)
                        return -ENOMEM;
                words = grown;
                words[n] = strndup(p, len);
                if (!words[n])
                        return -ENOMEM;
                words[++n] = NULL;
                p += len;
        }
        *ret = TAKE_PTR(words);
        return 0;
}

static int open_spool(DmabufdSnapshotHooks *h) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/" SPOOL_DIR, h->state_dir);
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
                return log_error_errno(negative_errno(), "cannot create the push queue %s, nothing is pushed: %m", path);
        h->spool_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h->spool_fd < 0)
                return log_error_errno(negative_errno(), "cannot open the push queue %s, nothing is pushed: %m", path);
        return 0;
}

int dmabufd_snapshot_hooks_configure(DmabufdSnapshotHooks *h, const DmabufdConfig *c) {
        char **argv = NULL;
        char *url = NULL;

        if (c->snapshot_exec && split_words(c->snapshot_exec, &argv) < 0)
                return log_error_errno(-ENOMEM, "out of memory");
        if (c->snapshot_push && !(url = strdup(c->snapshot_push))) {
                strv_free(argv);
                return log_error_errno(-ENOMEM, "out of memory");
        }
        strv_free(h->exec_argv);
        h->exec_argv = argv;
        /* snapshot_exec removed: what waited for it will not run. */
        if (!argv)
                h->exec_queued = 0;
        h->exec_timeout_usec = (uint64_t) (c->snapshot_exec_timeout_sec * (double) USEC_PER_SEC);
        free(h->push_url);
        h->push_url = url;
        h->push_timeout_usec = (uint64_t) (c->snapshot_push_timeout_sec * (double) USEC_PER_SEC);
        h->push_queue_max = c->snapshot_push_queue_max;
        h->push_queue_max_bytes = c->snapshot_push_queue_max_bytes;

        if (h->push_url && h->spool_fd < 0) {
                if (!h->state_dir)
                        log_error("snapshot_push is set, but the state directory is not usable: nothing is pushed");
                else
                        (void) open_spool(h);
        }
        if (h->spool_fd >= 0) {
                /* What a restart left waiting goes first; a lower bound applies now. */
                spool_trim(h);
                push_next(h);
        }
        return 0;
}

void dmabufd_snapshot_hooks_snapshot_complete(DmabufdSnapshotHooks *h, const char *id, const char *kind, pid_t pid,
                                              const char *comm) {
        if (h->exec_argv)
                exec_enqueue(h, id, kind, pid, comm);
        if (h->push_url)
                push_enqueue(h, id);
}
