/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "runner.h"
#include "string-util.h"
#include "time-util.h"

extern char **environ;

struct DmabufdRunner {
        sd_event *event;
        char *label;
        DmabufdRunnerDone done;
        void *userdata;

        pid_t pid; /* > 0 while a run goes on */
        int out_fd;
        sd_event_source *out_source, *child_source, *timer_source;
        bool timed_out;
        uint64_t timeout_usec;
        char line[DMABUFD_RUNNER_LINE_MAX + 1];
        size_t line_len;
        unsigned lines_logged, lines_dropped;
};

/* Meant for the daemon alone: a program that finds NOTIFY_SOCKET would speak
 * for the service, and LISTEN_FDS names fds it does not have. */
static const char *const private_variables[] = {
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
        "JOURNAL_STREAM",
};

int dmabufd_runner_new(sd_event *event, const char *label, DmabufdRunnerDone done, void *userdata,
                       DmabufdRunner **ret) {
        DmabufdRunner *r = calloc(1, sizeof(DmabufdRunner));

        if (!r)
                return -ENOMEM;
        r->label = strdup(label);
        if (!r->label) {
                free(r);
                return -ENOMEM;
        }
        r->event = sd_event_ref(event);
        r->done = done;
        r->userdata = userdata;
        r->out_fd = -EBADF;
        *ret = r;
        return 0;
}

bool dmabufd_runner_busy(const DmabufdRunner *r) {
        return r->pid > 0;
}

static void log_line(DmabufdRunner *r) {
        if (r->line_len == 0)
                return;
        r->line[r->line_len] = '\0';
        if (r->lines_logged < DMABUFD_RUNNER_LINES_MAX) {
                r->lines_logged++;
                log_info("%s[%d]: %s", r->label, (int) r->pid, r->line);
        } else
                r->lines_dropped++;
        r->line_len = 0;
}

/* Splits what came into lines; a line longer than the buffer is logged in pieces. */
static void take_output(DmabufdRunner *r, const char *buf, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (buf[i] == '\n') {
                        log_line(r);
                        continue;
                }
                /* Escape sequences and other controls stay out of the log. */
                r->line[r->line_len++] = (unsigned char) buf[i] < ' ' && buf[i] != '\t' ? '?'
                                         : buf[i] == 0x7f                        ? '?'
                                                                                 : buf[i];
                if (r->line_len == DMABUFD_RUNNER_LINE_MAX)
                        log_line(r);
        }
}

/* Reads what is there now; returns true at end of file or on an error. Bounded,
 * so a grandchild that keeps the pipe and writes fast cannot hold the loop. */
static bool read_output(DmabufdRunner *r) {
        char buf[4096];

        for (unsigned i = 0; i < 16; i++) {
                ssize_t n = read(r->out_fd, buf, sizeof(buf));

                if (n > 0) {
                        take_output(r, buf, (size_t) n);
                        continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return false;
                return true;
        }
        return false;
}

static void close_output(DmabufdRunner *r) {
        log_line(r);
        r->out_source = sd_event_source_disable_unref(r->out_source);
        r->out_fd = safe_close(r->out_fd);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        DmabufdRunner *r = userdata;

        (void) s;
        (void) fd;
        (void) revents;
        if (read_output(r))
                close_output(r);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        DmabufdRunner *r = userdata;

        (void) s;
        (void) usec;
        /* The group: a shell's children too. The exit comes through the child source. */
        r->timed_out = true;
        (void) kill(-r->pid, SIGKILL);
        return 0;
}

static int on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        DmabufdRunner *r = userdata;
        pid_t pid = r->pid;
        int result;

        (void) s;
        /* What it wrote before exiting is in the pipe; a grandchild that keeps
         * the pipe open is not waited for. */
        if (r->out_fd >= 0) {
                (void) read_output(r);
                close_output(r);
        }
        if (r->lines_dropped > 0)
                log_warning("%s[%d]: %u more lines of output not logged", r->label, (int) pid, r->lines_dropped);
        if (r->timed_out) {
                /* The group may outlive its leader; it goes too. */
                (void) kill(-pid, SIGKILL);
                result = -ETIMEDOUT;
                log_warning("%s[%d]: killed after %.1f s (timeout)", r->label, (int) pid,
                            (double) r->timeout_usec / USEC_PER_SEC);
        } else if (si->si_code == CLD_EXITED) {
                result = si->si_status;
                if (result == 0)
                        log_debug("%s[%d]: done", r->label, (int) pid);
                else
                        log_warning("%s[%d]: exited with status %d", r->label, (int) pid, result);
        } else {
                result = 128 + si->si_status;
                log_warning("%s[%d]: killed by signal %d", r->label, (int) pid, si->si_status);
        }
        r->timer_source = sd_event_source_disable_unref(r->timer_source);
        r->child_source = sd_event_source_disable_unref(r->child_source);
        r->pid = 0;
        r->done(r, result, r->userdata);
        return 0;
}

/* The daemon's environment less the private variables, then env. */
static char **child_environment(char *const *env) {
        size_t n = 0, m = 0, k = 0;
        char **list;

        for (char **e = environ; e && *e; e++)
                n++;
        for (char *const *e = env; e && *e; e++)
                m++;
        list = calloc(n + m + 1, sizeof(char *));
        if (!list)
                return NULL;
        for (char **e = environ; e && *e; e++) {
                bool private = false;

                for (size_t i = 0; i < ELEMENTSOF(private_variables) && !private; i++) {
                        size_t len = strlen(private_variables[i]);

                        private = strneq(*e, private_variables[i], len) && (*e)[len] == '=';
                }
                if (!private)
                        list[k++] = *e;
        }
        for (char *const *e = env; e && *e; e++)
                list[k++] = *e;
        return list;
}

int dmabufd_runner_start(DmabufdRunner *r, char *const *argv, char *const *env, uint64_t timeout_usec) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int pipe_fds[2] = { -EBADF, -EBADF };
        _cleanup_free_ char **envp = NULL;
        pid_t pid;
        int rc;

        if (r->pid > 0)
                return -EBUSY;
        envp = child_environment(env);
        if (!envp)
                return log_error_errno(-ENOMEM, "%s: out of memory", r->label);
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return log_error_errno(negative_errno(), "%s: cannot make a pipe for %s: %m", r->label, argv[0]);

        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        /* Its own session, so that a timeout kills its children too; the signals
         * the daemon blocks for its loop unblocked and at their defaults. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
        posix_spawn_file_actions_addchdir_np(&actions, "/");
        rc = posix_spawn(&pid, argv[0], &actions, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        safe_close(pipe_fds[1]);
        if (rc != 0) {
                safe_close(pipe_fds[0]);
                return log_error_errno(-rc, "%s: cannot run %s: %m", r->label, argv[0]);
        }

        r->pid = pid;
        r->timed_out = false;
        r->timeout_usec = timeout_usec;
        r->line_len = 0;
        r->lines_logged = r->lines_dropped = 0;
        r->out_fd = pipe_fds[0];
        (void) fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
        rc = sd_event_add_child(r->event, &r->child_source, pid, WEXITED, on_child_exit, r);
        if (rc < 0) {
                /* Without the child source nothing would reap it: it goes now. */
                (void) kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                r->pid = 0;
                r->out_fd = safe_close(r->out_fd);
                return log_error_errno(rc, "%s: cannot watch %s (pid %d): %m", r->label, argv[0], (int) pid);
        }
        if (sd_event_add_io(r->event, &r->out_source, r->out_fd, EPOLLIN, on_output, r) < 0)
                /* Unlogged output is no reason to fail the run. */
                r->out_fd = safe_close(r->out_fd);
        rc = sd_event_add_time_relative(r->event, &r->timer_source, CLOCK_MONOTONIC, timeout_usec, 0, on_timeout, r);
        if (rc < 0)
                /* Never a run without its timeout. */
                (void) kill(-pid, SIGKILL);
        log_debug("%s[%d]: started %s", r->label, (int) pid, argv[0]);
        return 0;
}

DmabufdRunner *dmabufd_runner_free(DmabufdRunner *r) {
        if (!r)
                return NULL;
        if (r->pid > 0) {
                /* Stopping: a run cut short is one the caller retries, if it retries. */
                (void) kill(-r->pid, SIGKILL);
                (void) waitpid(r->pid, NULL, 0);
        }
        sd_event_source_disable_unref(r->child_source);
        sd_event_source_disable_unref(r->timer_source);
        sd_event_source_disable_unref(r->out_source);
        safe_close(r->out_fd);
        sd_event_unref(r->event);
        free(r->label);
        free(r);
        return NULL;
}
