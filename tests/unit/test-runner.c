/* SPDX-License-Identifier: MIT */
/* The runner on a real sd-event loop with /bin/sh: exit statuses, a signal, a
 * timeout that takes the process group with it, a program that cannot start,
 * one run at a time, and the environment a program gets. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "test-util.h"
#include "time-util.h"

typedef struct Outcome {
        int result;
        bool done;
} Outcome;

static void on_done(DmabufdRunner *r, int result, void *userdata) {
        Outcome *o = userdata;

        (void) r;
        o->result = result;
        o->done = true;
}

/* Runs the loop until done (at most 10 s). */
static void run_until_done(sd_event *e, Outcome *o) {
        uint64_t until = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;

        while (!o->done && now_usec(CLOCK_MONOTONIC) < until)
                ck_assert_int_ge(sd_event_run(e, 100 * 1000), 0);
        ck_assert_msg(o->done, "the run did not end within 10 s");
}

static sd_event *new_loop(void) {
        sigset_t mask;
        sd_event *e = NULL;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &mask, NULL), 0);
        ck_assert_int_ge(sd_event_new(&e), 0);
        return e;
}

static int run_sh(const char *script, char *const *env, uint64_t timeout_usec) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) script, NULL };
        sd_event *e = new_loop();
        DmabufdRunner *r = NULL;
        Outcome o = {};

        ck_assert_int_eq(dmabufd_runner_new(e, "test", on_done, &o, &r), 0);
        ck_assert_int_eq(dmabufd_runner_start(r, argv, env, timeout_usec), 0);
        ck_assert(dmabufd_runner_busy(r));
        ck_assert_int_eq(dmabufd_runner_start(r, argv, env, timeout_usec), -EBUSY);
        run_until_done(e, &o);
        ck_assert(!dmabufd_runner_busy(r));
        dmabufd_runner_free(r);
        sd_event_unref(e);
        return o.result;
}

START_TEST(test_exit_status) {
        ck_assert_int_eq(run_sh("echo fine; exit 0", NULL, 10 * USEC_PER_SEC), 0);
        ck_assert_int_eq(run_sh("echo failing >&2; exit 3", NULL, 10 * USEC_PER_SEC), 3);
        ck_assert_int_eq(run_sh("kill -TERM $$", NULL, 10 * USEC_PER_SEC), 128 + SIGTERM);
        /* Lines longer than the buffer and many lines are logged in bounded pieces. */
        ck_assert_int_eq(run_sh("i=0; while [ $i -lt 300 ]; do printf '%0600d\\n' $i; i=$((i + 1)); done",
                                NULL, 10 * USEC_PER_SEC),
                         0);
}
END_TEST

static bool gone(pid_t pid) {
        char path[64], state = 0;
        FILE *f;
        int n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return true;
        n = fscanf(f, "%*d %*s %c", &state);
        fclose(f);
        return n == 1 && state == 'Z';
}

START_TEST(test_timeout_kills_the_group) {
        char pidfile[] = "/tmp/test-runner.XXXXXX", script[256], buf[32] = "";
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        FILE *f;
        int fd;
        pid_t child;

        fd = mkstemp(pidfile);
        ck_assert_int_ge(fd, 0);
        close(fd);
        /* A child in the background, then the leader hangs too. */
        snprintf(script, sizeof(script), "sleep 30 & echo $! >%s; sleep 30", pidfile);
        ck_assert_int_eq(run_sh(script, NULL, 300 * 1000), -ETIMEDOUT);
        ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - t0, 5 * USEC_PER_SEC);
        f = fopen(pidfile, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
        fclose(f);
        unlink(pidfile);
        child = (pid_t) atoi(buf);
        ck_assert_int_gt(child, 0);
        /* Killed with its group: gone, or a zombie until whoever adopted it reaps it. */
        for (int i = 0; i < 50 && !gone(child); i++)
                usleep(100 * 1000);
        ck_assert_msg(gone(child), "the group's child %d is still running", (int) child);
}
END_TEST

START_TEST(test_environment) {
        char *env[] = { (char *) "DMABUFD_SNAPSHOT_ID=x-1", NULL };

        ck_assert_int_eq(setenv("NOTIFY_SOCKET", "/run/nothing", 1), 0);
        ck_assert_int_eq(setenv("TEST_RUNNER_KEPT", "yes", 1), 0);
        ck_assert_int_eq(run_sh("test \"$DMABUFD_SNAPSHOT_ID\" = x-1 && test \"$TEST_RUNNER_KEPT\" = yes && "
                                "test -z \"${NOTIFY_SOCKET+set}\" && test \"$(pwd)\" = / && ! read line",
                                env, 10 * USEC_PER_SEC),
                         0);
        unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_cannot_start) {
        char *argv[] = { (char *) "/nonexistent/program", NULL };
        sd_event *e = new_loop();
        DmabufdRunner *r = NULL;
        Outcome o = {};

        ck_assert_int_eq(dmabufd_runner_new(e, "test", on_done, &o, &r), 0);
        ck_assert_int_eq(dmabufd_runner_start(r, argv, NULL, USEC_PER_SEC), -ENOENT);
        ck_assert(!dmabufd_runner_busy(r));
        ck_assert(!o.done);
        dmabufd_runner_free(r);
        sd_event_unref(e);
}
END_TEST

int main(void) {
        Suite *s = suite_create("runner");
        TCase *tc = tcase_create("runner");

        tcase_add_test(tc, test_exit_status);
        tcase_add_test(tc, test_timeout_kills_the_group);
        tcase_add_test(tc, test_environment);
        tcase_add_test(tc, test_cannot_start);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
