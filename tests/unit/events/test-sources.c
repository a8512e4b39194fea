/* SPDX-License-Identifier: MIT */
/* The PSI and cgroup event sources on a real sd-event loop over temporary roots.
 * No test touches this machine's /proc/pressure or cgroups: a real PSI trigger
 * belongs to the QEMU harness. Every loop is bounded in turns and time. */
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "log.h"
#include "macro.h"
#include "source-cgroup.h"
#include "source-psi.h"
#include "test-util.h"

typedef struct Seen {
        unsigned n;
        DmabufdEventKind kind;
        char cgroup[256];
        char psi_trigger[64];
        uint64_t oom_kill, increase_sum, last_increase;
        int clear_fd; /* psi: read here after each event, as the kernel's poll clears */
} Seen;

static void on_event(const DmabufdEvent *e, void *userdata) {
        Seen *s = userdata;

        s->n++;
        s->kind = e->kind;
        if (e->cgroup)
                snprintf(s->cgroup, sizeof(s->cgroup), "%s", e->cgroup);
        if (e->psi_trigger)
                snprintf(s->psi_trigger, sizeof(s->psi_trigger), "%s", e->psi_trigger);
        s->oom_kill = e->oom_kill;
        s->last_increase = e->oom_kill_increase;
        s->increase_sum += e->oom_kill_increase;
        if (s->clear_fd >= 0) {
                char b[64];
                (void) read(s->clear_fd, b, sizeof(b));
        }
}

/* Runs the loop for up to turns * 20 ms, or until *n reaches want. */
static void run_loop(sd_event *e, const unsigned *n, unsigned want, unsigned turns) {
        for (unsigned i = 0; i < turns && *n < want; i++)
                ck_assert_int_ge(sd_event_run(e, 20 * 1000), 0);
}

/* stderr into a file for the span of a call, to check what was logged. */
typedef struct Capture {
        int saved;
        FILE *f;
} Capture;

static void capture_begin(Capture *c) {
        fflush(stderr);
        c->f = tmpfile();
        ck_assert_ptr_nonnull(c->f);
        c->saved = dup(STDERR_FILENO);
        ck_assert_int_ge(c->saved, 0);
        ck_assert_int_ge(dup2(fileno(c->f), STDERR_FILENO), 0);
}

static char *capture_end(Capture *c) {
        static char text[8192];
        size_t n;

        fflush(stderr);
        ck_assert_int_ge(dup2(c->saved, STDERR_FILENO), 0);
        close(c->saved);
        rewind(c->f);
        n = fread(text, 1, sizeof(text) - 1, c->f);
        text[n] = '\0';
        fclose(c->f);
        fputs(text, stderr); /* still shown in the test log */
        return text;
}

#define ck_assert_logged(text, needle) ck_assert_msg(strstr(text, needle), "log lacks \"%s\":\n%s", needle, text)

/* ---- cgroup ---- */

static const char *events(unsigned max, unsigned oom_kill) {
        static char buf[128];
        snprintf(buf, sizeof(buf), "low 0\nhigh 0\nmax %u\noom %u\noom_kill %u\noom_group_kill 0\n", max, oom_kill,
                 oom_kill);
        return buf;
}

START_TEST(test_cgroup_increase) {
        _cleanup_(dmabufd_source_cgroup_freep) DmabufdSourceCgroup *src = NULL;
        char *root = tu_mkdtemp(), *log;
        char *cgroups[] = { (char *) "a.slice", (char *) "/missing.slice/", NULL };
        Seen seen = { .clear_fd = -1 };
        sd_event *e = NULL;
        Capture cap;
        int root_fd;

        tu_write_str(root, "sys/fs/cgroup/a.slice/memory.events", events(10, 3));
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_cgroup_new(e, root_fd, cgroups, on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert(dmabufd_source_cgroup_is_up(src));
        ck_assert_uint_eq(dmabufd_source_cgroup_watched(src), 1);
        ck_assert_logged(log, "cgroup: /missing.slice: cannot open ");
        ck_assert_logged(log, "/sys/fs/cgroup/missing.slice: No such file or directory, dropping it");
        ck_assert_logged(log, "watching memory.events oom_kill of 1 of 2 cgroups");

        /* Old kills (3 at start) do not fire. */
        run_loop(e, &seen.n, 1, 5);
        ck_assert_uint_eq(seen.n, 0);

        /* Other keys change, oom_kill does not: no event. */
        tu_write_str(root, "sys/fs/cgroup/a.slice/memory.events", events(25, 3));
        run_loop(e, &seen.n, 1, 10);
        ck_assert_uint_eq(seen.n, 0);

        /* oom_kill 3 -> 5: exactly one event with increase 2. */
        tu_write_str(root, "sys/fs/cgroup/a.slice/memory.events", events(30, 5));
        run_loop(e, &seen.n, 1, 50);
        run_loop(e, &seen.n, 2, 5); /* and nothing more */
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_int_eq(seen.kind, DMABUFD_EVENT_CGROUP_OOM);
        ck_assert_str_eq(seen.cgroup, "/a.slice");
        ck_assert_uint_eq(seen.oom_kill, 5);
        ck_assert_uint_eq(seen.last_increase, 2);

        /* Two changes before the loop looks: the notifications coalesce, the
         * increase does not get lost. */
        tu_write_str(root, "sys/fs/cgroup/a.slice/memory.events", events(31, 6));
        tu_write_str(root, "sys/fs/cgroup/a.slice/memory.events", events(32, 9));
        run_loop(e, &seen.n, 2, 50);
        run_loop(e, &seen.n, 3, 5);
        ck_assert_uint_eq(seen.oom_kill, 9);
        ck_assert_uint_eq(seen.increase_sum, 2 + 4);

        /* The cgroup goes away: dropped with a warning, the source is down. */
        ck_assert_int_eq(unlinkat(root_fd, "sys/fs/cgroup/a.slice/memory.events", 0), 0);
        capture_begin(&cap);
        for (unsigned i = 0; i < 50 && dmabufd_source_cgroup_is_up(src); i++)
                ck_assert_int_ge(sd_event_run(e, 20 * 1000), 0);
        log = capture_end(&cap);
        ck_assert(!dmabufd_source_cgroup_is_up(src));
        ck_assert_logged(log, "cgroup: /a.slice went away, dropping it (no cgroup left, the cgroup source is down)");

        src = dmabufd_source_cgroup_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_cgroup_all_missing) {
        _cleanup_(dmabufd_source_cgroup_freep) DmabufdSourceCgroup *src = NULL;
        char *root = tu_mkdtemp(), *log;
        char *cgroups[] = { (char *) "/", (char *) "nope.slice", (char *) "a.slice/../../etc",
                            (char *) "nomem.slice", NULL };
        Seen seen = { .clear_fd = -1 };
        sd_event *e = NULL;
        Capture cap;
        int root_fd;

        tu_mkdirs(root, "sys/fs/cgroup/nomem.slice/");
        tu_write_str(root, "sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_cgroup_new(e, root_fd, cgroups, on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert_ptr_nonnull(src);
        ck_assert(!dmabufd_source_cgroup_is_up(src));
        ck_assert_uint_eq(dmabufd_source_cgroup_watched(src), 0);
        ck_assert_logged(log, "cgroup: /: the root cgroup has no memory.events in cgroup v2");
        ck_assert_logged(log, "cgroup: /nope.slice: cannot open");
        ck_assert_logged(log, "cgroup \"a.slice/../../etc\": \"..\" components are not allowed, dropping it");
        ck_assert_logged(log, "/sys/fs/cgroup/nomem.slice/memory.events (memory controller not enabled");
        ck_assert_logged(log, "no configured cgroup can be watched; the cgroup source is down");

        src = dmabufd_source_cgroup_free(src);
        /* Nothing configured: down, not an error. */
        ck_assert_int_eq(dmabufd_source_cgroup_new(e, root_fd, NULL, on_event, &seen, &src), 0);
        ck_assert(!dmabufd_source_cgroup_is_up(src));
        run_loop(e, &seen.n, 1, 3);
        ck_assert_uint_eq(seen.n, 0);

        src = dmabufd_source_cgroup_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_cgroup_bad_file_and_duplicate) {
        _cleanup_(dmabufd_source_cgroup_freep) DmabufdSourceCgroup *src = NULL;
        char *root = tu_mkdtemp(), *log;
        char *cgroups[] = { (char *) "b.slice", (char *) "./b.slice//", (char *) "bad.slice", NULL };
        Seen seen = { .clear_fd = -1 };
        sd_event *e = NULL;
        Capture cap;
        int root_fd;

        tu_write_str(root, "sys/fs/cgroup/b.slice/memory.events", events(0, 0));
        tu_write_str(root, "sys/fs/cgroup/bad.slice/memory.events", "low 0\noom 1\n");
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_cgroup_new(e, root_fd, cgroups, on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert_uint_eq(dmabufd_source_cgroup_watched(src), 1);
        ck_assert_logged(log, "cgroup: /b.slice is listed twice, ignoring it");
        ck_assert_logged(log, "cgroup: /bad.slice: ");
        ck_assert_logged(log, "/sys/fs/cgroup/bad.slice/memory.events: no oom_kill line, dropping it");

        /* A bad read later is logged once and changes nothing; the next good one counts. */
        capture_begin(&cap);
        tu_write_str(root, "sys/fs/cgroup/b.slice/memory.events", "garbage\n");
        run_loop(e, &seen.n, 1, 10);
        tu_write_str(root, "sys/fs/cgroup/b.slice/memory.events", "garbage again\n");
        run_loop(e, &seen.n, 1, 10);
        log = capture_end(&cap);
        ck_assert_uint_eq(seen.n, 0);
        ck_assert_logged(log, "/sys/fs/cgroup/b.slice/memory.events: line 1: expected \"key number\": \"garbage\", "
                              "ignoring this change");
        ck_assert_ptr_null(strstr(log, "garbage again"));
        tu_write_str(root, "sys/fs/cgroup/b.slice/memory.events", events(0, 1));
        run_loop(e, &seen.n, 1, 50);
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_uint_eq(seen.last_increase, 1);
        ck_assert(dmabufd_source_cgroup_is_up(src));

        src = dmabufd_source_cgroup_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

static const struct {
        const char *in, *out;
        int r;
} normalize[] = {
        { "system.slice", "system.slice", 0 },
        { "/system.slice/foo.service", "system.slice/foo.service", 0 },
        { "//system.slice/./foo.service/", "system.slice/foo.service", 0 },
        { "/", "", 0 },
        { "", "", 0 },
        { "..", NULL, -EINVAL },
        { "a/../b", NULL, -EINVAL },
        { "a/..", NULL, -EINVAL },
        { "a/..b", "a/..b", 0 },
};

START_TEST(test_cgroup_normalize) {
        char buf[64], err[128] = "";
        int r;

        r = dmabufd_cgroup_path_normalize(normalize[_i].in, buf, sizeof(buf), err, sizeof(err));
        ck_assert_int_eq(r, normalize[_i].r);
        if (r == 0)
                ck_assert_str_eq(buf, normalize[_i].out);
        else
                ck_assert_logged(err, "\"..\" components are not allowed");
        ck_assert_int_eq(dmabufd_cgroup_path_normalize("aaaa/bbbb", buf, 9, err, sizeof(err)), -ENAMETOOLONG);
        ck_assert_int_eq(dmabufd_cgroup_path_normalize("aaaa/bbbb", buf, 10, err, sizeof(err)), 0);
}
END_TEST

/* ---- psi ---- */

static DmabufPsiTrigger trigger(const char *s) {
        DmabufPsiTrigger t;
        char err[128];

        ck_assert_msg(dmabuf_psi_trigger_parse(s, &t, err, sizeof(err)) == 0, "%s", err);
        return t;
}

START_TEST(test_psi_regular_file) {
        _cleanup_(dmabufd_source_psi_freep) DmabufdSourcePsi *src = NULL;
        const char *content = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        DmabufPsiTrigger t[] = { trigger("some 150ms 1s"), trigger("full 100ms 1s") };
        char *root = tu_mkdtemp(), *log, path[PATH_MAX], back[256] = "";
        Seen seen = { .clear_fd = -1 };
        sd_event *e = NULL;
        Capture cap;
        FILE *f;
        int root_fd;

        tu_write_str(root, "proc/pressure/memory", content);
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_psi_new(e, root_fd, t, ELEMENTSOF(t), on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert_ptr_nonnull(src);
        ck_assert(!dmabufd_source_psi_is_up(src));
        ck_assert_uint_eq(dmabufd_source_psi_armed(src), 0);
        snprintf(path, sizeof(path), "psi: %s/proc/pressure/memory cannot be polled: Operation not permitted", root);
        ck_assert_logged(log, path);
        ck_assert_logged(log, "the psi source is down");
        /* One line, not one per trigger. */
        ck_assert_ptr_null(strstr(strstr(log, "psi:") + 1, "psi:"));

        /* The fixture was not written to. */
        snprintf(path, sizeof(path), "%s/proc/pressure/memory", root);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(back, 1, sizeof(back) - 1, f), strlen(content));
        fclose(f);
        ck_assert_str_eq(back, content);

        src = dmabufd_source_psi_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_psi_missing) {
        _cleanup_(dmabufd_source_psi_freep) DmabufdSourcePsi *src = NULL;
        DmabufPsiTrigger t[] = { trigger("full 100ms 1s") };
        char *root = tu_mkdtemp(), *log, want[PATH_MAX];
        Seen seen = { .clear_fd = -1 };
        sd_event *e = NULL;
        Capture cap;
        int root_fd;

        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_psi_new(e, root_fd, t, ELEMENTSOF(t), on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert(!dmabufd_source_psi_is_up(src));
        snprintf(want, sizeof(want), "psi: cannot open %s/proc/pressure/memory: No such file or directory", root);
        ck_assert_logged(log, want);
        ck_assert_logged(log, "boot with psi=1");
        src = dmabufd_source_psi_free(src);

        /* No triggers configured: down, said once. */
        capture_begin(&cap);
        ck_assert_int_eq(dmabufd_source_psi_new(e, root_fd, NULL, 0, on_event, &seen, &src), 0);
        log = capture_end(&cap);
        ck_assert(!dmabufd_source_psi_is_up(src));
        ck_assert_logged(log, "psi: no triggers configured; the psi source is down");

        src = dmabufd_source_psi_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

/* A pty stands in for the kernel's file: it can be opened by path, takes writes and
 * can be polled. Its slave reports EPOLLHUP when the master closes, as a PSI file
 * reports EPOLLERR when the kernel drops the trigger, and the master can read back
 * exactly what the source wrote, NUL included. */
START_TEST(test_psi_pty_write_and_error) {
        _cleanup_(dmabufd_source_psi_freep) DmabufdSourcePsi *src = NULL;
        DmabufPsiTrigger t[] = { trigger("some 150ms 1s") };
        char *root, *log, slave_name[64], got[64];
        Seen seen = { .clear_fd = -1 };
        int master, slave, root_fd;
        struct termios raw;
        sd_event *e = NULL;
        Capture cap;
        ssize_t n;

        root = tu_mkdtemp();
        ck_assert_int_eq(openpty(&master, &slave, slave_name, NULL, NULL), 0);
        /* Raw, so the pty hands the bytes over as written. */
        ck_assert_int_eq(tcgetattr(slave, &raw), 0);
        cfmakeraw(&raw);
        ck_assert_int_eq(tcsetattr(slave, TCSANOW, &raw), 0);
        close(slave);
        tu_symlink(root, "proc/pressure/memory", slave_name);
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);

        ck_assert_int_eq(dmabufd_source_psi_new(e, root_fd, t, ELEMENTSOF(t), on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_psi_is_up(src));
        ck_assert_uint_eq(dmabufd_source_psi_armed(src), 1);

        n = read(master, got, sizeof(got));
        ck_assert_int_eq(n, (ssize_t) sizeof("some 150000 1000000"));
        ck_assert_mem_eq(got, "some 150000 1000000", sizeof("some 150000 1000000"));

        run_loop(e, &seen.n, 1, 5);
        ck_assert_uint_eq(seen.n, 0);

        close(master);
        capture_begin(&cap);
        for (unsigned i = 0; i < 50 && dmabufd_source_psi_is_up(src); i++)
                ck_assert_int_ge(sd_event_run(e, 20 * 1000), 0);
        log = capture_end(&cap);
        ck_assert(!dmabufd_source_psi_is_up(src));
        ck_assert_uint_eq(seen.n, 0);
        ck_assert_logged(log, "psi: trigger \"some 150000 1000000\" on ");
        ck_assert_logged(log, "reported an error, the kernel dropped it; disarming it (no trigger left, the psi "
                              "source is down)");
        /* Said once: the fd is gone from the loop. */
        capture_begin(&cap);
        run_loop(e, &seen.n, 1, 5);
        log = capture_end(&cap);
        ck_assert_str_eq(log, "");

        src = dmabufd_source_psi_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

/* EPOLLPRI without the kernel's PSI: a pty master in packet mode reports it when
 * its slave's queue is flushed. The source opens /dev/ptmx itself (a new master);
 * the test finds that fd, turns packet mode on and flushes the slave. The handler
 * reads the status byte, as the kernel's poll clears a PSI event. */
START_TEST(test_psi_pty_pri) {
        _cleanup_(dmabufd_source_psi_freep) DmabufdSourcePsi *src = NULL;
        DmabufPsiTrigger t[] = { trigger("full 100ms 1s") };
        char *root;
        Seen seen = { .clear_fd = -1 };
        int root_fd, master = -1, slave, on = 1;
        sd_event *e = NULL;
        DIR *d;
        struct dirent *de;

        root = tu_mkdtemp();
        tu_symlink(root, "proc/pressure/memory", "/dev/ptmx");
        root_fd = tu_open_dir(root);
        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_psi_new(e, root_fd, t, ELEMENTSOF(t), on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_psi_is_up(src));

        d = opendir("/proc/self/fd");
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                char link[300], target[64];
                ssize_t n;

                snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
                n = readlink(link, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = '\0';
                if (strstr(target, "ptmx"))
                        master = atoi(de->d_name);
        }
        closedir(d);
        ck_assert_int_ge(master, 0);
        seen.clear_fd = master;

        ck_assert_int_eq(unlockpt(master), 0);
        ck_assert_int_eq(ioctl(master, TIOCPKT, &on), 0);
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        ck_assert_int_ge(slave, 0);
        ck_assert_int_eq(tcflush(slave, TCIFLUSH), 0);

        run_loop(e, &seen.n, 1, 50);
        run_loop(e, &seen.n, 2, 5);
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_int_eq(seen.kind, DMABUFD_EVENT_PSI);
        ck_assert_str_eq(seen.psi_trigger, "full 100000 1000000");
        ck_assert(dmabufd_source_psi_is_up(src));

        close(slave);
        src = dmabufd_source_psi_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

static Suite *sources_suite(void) {
        Suite *s = suite_create("sources");
        TCase *tc = tcase_create("cgroup");

        tcase_add_test(tc, test_cgroup_increase);
        tcase_add_test(tc, test_cgroup_all_missing);
        tcase_add_test(tc, test_cgroup_bad_file_and_duplicate);
        tcase_add_loop_test(tc, test_cgroup_normalize, 0, (int) ELEMENTSOF(normalize));
        tcase_set_timeout(tc, 20);
        suite_add_tcase(s, tc);

        tc = tcase_create("psi");
        tcase_add_test(tc, test_psi_regular_file);
        tcase_add_test(tc, test_psi_missing);
        /* Containers without a devpts have no ptys: those tests are skipped, and say so. */
        if (access("/dev/ptmx", R_OK | W_OK) == 0) {
                tcase_add_test(tc, test_psi_pty_write_and_error);
                tcase_add_test(tc, test_psi_pty_pri);
        } else {
                tu_skip("test_psi_pty_write_and_error", "no usable /dev/ptmx");
                tu_skip("test_psi_pty_pri", "no usable /dev/ptmx");
        }
        tcase_set_timeout(tc, 20);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        log_set_max_level(LOG_INFO);
        return tu_run(sources_suite());
}
