/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* dmabufd-bench: how close one collection comes to the cost of the syscalls that any
 * collector must make. It generates a large synthetic root tree (bench-tree.c), then
 * times, interleaved, a "floor" loop that makes only those syscalls and
 * dmabuf_collect() on the same tree, and prints medians, the ratio, CPU time, the
 * peak RSS of one collection and the cost per fd at three sizes. It prints figures;
 * it passes or fails nothing except a collector that gets the totals wrong. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-tree.h"
#include "collect.h"
#include "model.h"

#define MAX_RUNS 1000U
#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)

static const char *const scale_dirs[] = { "scale-1of4", "scale-1of2" };
static const unsigned scale_div[] = { 4, 2 };

/* ---- time ---- */

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu_sec(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec / 1e6;
}

static double user_sec(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned n) {
        double tmp[MAX_RUNS];
        if (n == 0)
                return 0;
        memcpy(tmp, v, n * sizeof *v);
        qsort(tmp, n, sizeof *tmp, cmp_double);
        return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double minimum(const double *v, unsigned n) {
        double m = n ? v[0] : 0;
        for (unsigned i = 1; i < n; i++)
                if (v[i] < m)
                        m = v[i];
        return m;
}

/* ---- the floor: only the syscalls a collector cannot avoid ---- */

typedef struct FloorCounts {
        uint64_t pids;
        uint64_t fds;
        uint64_t dmabuf_fds;
        uint64_t buffers;
        uint64_t syscalls;
        uint64_t bytes_read;
} FloorCounts;

typedef struct Scratch {
        char dents[65536];
        char dents2[65536];
        char data[65536];
} Scratch;

static long getdents(int fd, char *buf, size_t size) {
        return syscall(SYS_getdents64, fd, buf, size);
}

/* struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name */
static unsigned short dent_reclen(const char *p) {
        unsigned short r;
        memcpy(&r, p + 16, sizeof r);
        return r;
}
#define DENT_NAME(p) ((p) + 19)

static int slurp_at(int dir_fd, const char *name, Scratch *s, FloorCounts *c) {
        int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        c->syscalls++;
        if (fd < 0)
                return -errno;
        for (unsigned i = 0; i < 1u << 20; i++) {
                ssize_t n = read(fd, s->data, sizeof s->data);
                c->syscalls++;
                if (n <= 0)
                        break;
                c->bytes_read += (uint64_t) n;
        }
        close(fd);
        c->syscalls++;
        return 0;
}

static void floor_pid(int proc_fd, const char *pid, Scratch *s, FloorCounts *c) {
        char link[PATH_MAX];
        int pid_fd = openat(proc_fd, pid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        c->syscalls++;
        if (pid_fd < 0)
                return;
        c->pids++;
        bool any = false;
        int fd_fd = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        c->syscalls++;
        if (fd_fd >= 0) {
                int fdinfo_fd = -1;
                for (unsigned round = 0; round < 1u << 20; round++) {
                        long n = getdents(fd_fd, s->dents2, sizeof s->dents2);
                        c->syscalls++;
                        if (n <= 0)
                                break;
                        for (long off = 0; off < n; off += dent_reclen(s->dents2 + off)) {
                                const char *name = DENT_NAME(s->dents2 + off);
                                if (name[0] == '.')
                                        continue;
                                c->fds++;
                                ssize_t l = readlinkat(fd_fd, name, link, sizeof link - 1);
                                c->syscalls++;
                                /* A DRM fd's fdinfo has its client's memory statistics,
                                 * which the collector reads too. */
                                bool drm = l > 9 && memcmp(link, "/dev/dri/", 9) == 0;
                                if (!drm && (l < 8 || memcmp(link, "/dmabuf:", 8) != 0))
                                        continue;
                                if (!drm) {
                                        c->dmabuf_fds++;
                                        any = true;
                                }
                                if (fdinfo_fd < 0) {
                                        fdinfo_fd = openat(pid_fd, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                        c->syscalls++;
                                }
                                if (fdinfo_fd >= 0)
                                        slurp_at(fdinfo_fd, name, s, c);
                        }
                }
                if (fdinfo_fd >= 0) {
                        close(fdinfo_fd);
                        c->syscalls++;
                }
                close(fd_fd);
                c->syscalls++;
        }
        /* maps must be read to find mappings whether or not fds were found. "any"
         * counts fds only: spotting map-only holders would take parsing, and in the
         * generated tree every process that maps a dma-buf also holds one by fd. */
        slurp_at(pid_fd, "maps", s, c);
        if (any) {
                slurp_at(pid_fd, "comm", s, c);
                slurp_at(pid_fd, "cgroup", s, c);
        }
        close(pid_fd);
        c->syscalls++;
}

static int run_floor(int root_fd, Scratch *s, FloorCounts *ret) {
        FloorCounts c = { 0 };
        int proc_fd = openat(root_fd, "proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        c.syscalls++;
        if (proc_fd < 0)
                return -errno;
        slurp_at(proc_fd, "sys/kernel/osrelease", s, &c);
        for (unsigned round = 0; round < 1u << 20; round++) {
                long n = getdents(proc_fd, s->dents, sizeof s->dents);
                c.syscalls++;
                if (n <= 0)
                        break;
                for (long off = 0; off < n; off += dent_reclen(s->dents + off)) {
                        const char *name = DENT_NAME(s->dents + off);
                        if (name[0] < '1' || name[0] > '9')
                                continue;
                        floor_pid(proc_fd, name, s, &c);
                }
        }
        close(proc_fd);
        c.syscalls++;

        int bufs_fd = openat(root_fd, "sys/kernel/dmabuf/buffers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        c.syscalls++;
        if (bufs_fd >= 0) {
                char path[NAME_MAX + 32];
                for (unsigned round = 0; round < 1u << 20; round++) {
                        long n = getdents(bufs_fd, s->dents, sizeof s->dents);
                        c.syscalls++;
                        if (n <= 0)
                                break;
                        for (long off = 0; off < n; off += dent_reclen(s->dents + off)) {
                                const char *name = DENT_NAME(s->dents + off);
                                if (name[0] == '.')
                                        continue;
                                c.buffers++;
                                snprintf(path, sizeof path, "%s/exporter_name", name);
                                slurp_at(bufs_fd, path, s, &c);
                                snprintf(path, sizeof path, "%s/size", name);
                                slurp_at(bufs_fd, path, s, &c);
                        }
                }
                close(bufs_fd);
                c.syscalls++;
        }
        if (ret)
                *ret = c;
        return 0;
}

/* ---- the collector ---- */

typedef struct CollectFigures {
        uint64_t buffers, bytes, userspace_bytes, kernel_only_bytes;
        uint64_t n_buffers, n_processes, fds, maps, shared;
        uint64_t parse_errors, vanished;
        char first_error[512];
} CollectFigures;

static int run_collect_with(int root_fd, DmabufBpf *bpf, CollectFigures *ret) {
        DmabufState *s = NULL;
        DmabufCollectOptions o = { .only_pid = 0, .bpf = bpf };
        int r = dmabuf_collect(root_fd, &o, &s);
        if (r < 0)
                return r;
        if (ret) {
                const DmabufTotals *t = dmabuf_state_totals(s);
                const DmabufScanStats *ss = dmabuf_state_scan_stats(s);
                const DmabufProcess *p = dmabuf_state_processes(s);
                const DmabufBuffer *b = dmabuf_state_buffers(s);
                *ret = (CollectFigures){
                        .buffers = t->buffers,
                        .bytes = t->bytes,
                        .userspace_bytes = t->userspace_bytes,
                        .kernel_only_bytes = t->kernel_only_bytes,
                        .n_buffers = dmabuf_state_n_buffers(s),
                        .n_processes = dmabuf_state_n_processes(s),
                };
                for (size_t i = 0; i < ret->n_processes; i++) {
                        ret->fds += p[i].fds;
                        ret->maps += p[i].maps;
                }
                for (size_t i = 0; i < ret->n_buffers; i++)
                        if (b[i].n_holders >= 2)
                                ret->shared++;
                for (unsigned i = 0; i < _DMABUF_SOURCE_MAX; i++)
                        ret->parse_errors += ss->parse_errors[i];
                for (unsigned i = 0; i < _DMABUF_SCAN_COUNTER_MAX; i++)
                        ret->vanished += ss->counters[i];
                snprintf(ret->first_error, sizeof ret->first_error, "%s", ss->first_error);
        }
        dmabuf_state_unref(s);
        return 0;
}

static int run_collect(int root_fd, CollectFigures *ret) {
        return run_collect_with(root_fd, NULL, ret);
}

/* Compares what the collector found with what the generator wrote. */
static unsigned check_figures(const CollectFigures *f, const BenchTreeStats *st) {
        unsigned bad = 0;
#define CHECK(what, got, want)                                                                          \
        do {                                                                                            \
                if ((uint64_t) (got) != (uint64_t) (want)) {                                            \
                        printf("  MISMATCH %-28s collector %" PRIu64 ", tree %" PRIu64 "\n", what,      \
                               (uint64_t) (got), (uint64_t) (want));                                    \
                        bad++;                                                                          \
                }                                                                                       \
        } while (0)
        CHECK("totals.buffers", f->buffers, st->buffers);
        CHECK("totals.bytes", f->bytes, st->bytes);
        CHECK("totals.userspace_bytes", f->userspace_bytes, st->userspace_bytes);
        CHECK("totals.kernel_only_bytes", f->kernel_only_bytes, st->bytes - st->userspace_bytes);
        CHECK("buffers listed", f->n_buffers, st->buffers);
        CHECK("dma-buf fds (sum over procs)", f->fds, st->dmabuf_fds);
        CHECK("dma-buf maps (sum over procs)", f->maps, st->dmabuf_maps);
        CHECK("buffers with 2+ holders", f->shared, st->shared_buffers);
#undef CHECK
        if (f->n_processes != st->procs_with_dmabuf && f->n_processes != st->procs) {
                printf("  MISMATCH %-28s collector %" PRIu64 ", tree %" PRIu64 " (or %" PRIu64 ")\n", "processes",
                       f->n_processes, st->procs_with_dmabuf, st->procs);
                bad++;
        }
        if (f->parse_errors || f->vanished) {
                printf("  NOTE collector counted %" PRIu64 " parse errors, %" PRIu64 " scan skips; first: %s\n",
                       f->parse_errors, f->vanished, f->first_error[0] ? f->first_error : "-");
        }
        return bad;
}

/* ---- peak RSS of one collection, in a fresh process ---- */

static long status_kib(const char *key) {
        char line[256];
        size_t klen = strlen(key);
        long v = -1;
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        for (unsigned i = 0; i < 256 && fgets(line, sizeof line, f); i++)
                if (!strncmp(line, key, klen) && line[klen] == ':') {
                        v = strtol(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

static int rss_child(const char *dir) {
        int root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                fprintf(stderr, "dmabufd-bench: %s: %s\n", dir, strerror(errno));
                return 1;
        }
        long base_hwm = status_kib("VmHWM"), base_rss = status_kib("VmRSS");
        DmabufState *s = NULL;
        DmabufCollectOptions o = { .only_pid = 0 };
        int r = dmabuf_collect(root_fd, &o, &s);
        if (r < 0) {
                fprintf(stderr, "dmabufd-bench: collect: %s\n", strerror(-r));
                return 1;
        }
        long hwm = status_kib("VmHWM"), held = status_kib("VmRSS");
        dmabuf_state_unref(s);
        long after = status_kib("VmRSS");
        printf("%ld %ld %ld %ld %ld\n", base_hwm, base_rss, hwm, held, after);
        return 0;
}

typedef struct RssFigures {
        long base_hwm, base_rss, hwm, held, after;
} RssFigures;

static int measure_rss(const char *dir, RssFigures *ret) {
        int pfd[2];
        char buf[256];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                close(pfd[0]);
                close(pfd[1]);
                return -errno;
        }
        if (pid == 0) {
                dup2(pfd[1], STDOUT_FILENO);
                char *const argv[] = { (char *) "dmabufd-bench", (char *) "--rss-child", (char *) dir, NULL };
                execv("/proc/self/exe", argv);
                _exit(127);
        }
        close(pfd[1]);
        size_t len = 0;
        for (unsigned i = 0; i < 64 && len + 1 < sizeof buf; i++) {
                ssize_t n = read(pfd[0], buf + len, sizeof buf - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = 0;
        close(pfd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -ECHILD;
        if (sscanf(buf, "%ld %ld %ld %ld %ld", &ret->base_hwm, &ret->base_rss, &ret->hwm, &ret->held, &ret->after) != 5)
                return -EBADMSG;
        return 0;
}

/* ---- trees ---- */

static bool dir_is_empty(int fd) {
        char buf[4096];
        int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0)
                return false;
        long n = getdents(d, buf, sizeof buf);
        bool empty = true;
        for (long off = 0; n > 0 && off < n; off += dent_reclen(buf + off)) {
                const char *name = DENT_NAME(buf + off);
                if (strcmp(name, ".") && strcmp(name, ".."))
                        empty = false;
        }
        close(d);
        return empty;
}

/* Reuses the tree in dir_fd if it is complete (returns 0), or generates it into an
 * empty directory (returns 1). */
static int ensure_tree(int dir_fd, const char *label, BenchTreeParams *p, BenchTreeStats *st) {
        BenchTreeParams have;
        int r = bench_tree_read_marker(dir_fd, &have, st);
        if (r == 0) {
                if (have.procs != p->procs || have.fds_per_proc != p->fds_per_proc)
                        printf("note: %s: reusing a tree of %u processes x %u fds (not %u x %u)\n", label,
                               have.procs, have.fds_per_proc, p->procs, p->fds_per_proc);
                *p = have;
                printf("tree %-12s reused: %" PRIu64 " files\n", label, st->files);
                return 0;
        }
        if (r != -ENOENT)
                return r;
        if (!dir_is_empty(dir_fd)) {
                fprintf(stderr, "dmabufd-bench: %s: not empty and not a complete benchmark tree\n", label);
                return -ENOTEMPTY;
        }
        printf("tree %-12s generating %u processes x %u fds ...", label, p->procs, p->fds_per_proc);
        fflush(stdout);
        double t0 = now_sec();
        r = bench_tree_generate(dir_fd, p, st);
        if (r < 0) {
                printf("\n");
                return r;
        }
        double dt = now_sec() - t0;
        printf(" %" PRIu64 " files in %.1f s (%.0f files/s)\n", st->files, dt, (double) st->files / dt);
        return 1;
}

/* ---- measurement ---- */

typedef struct Series {
        unsigned n;
        double floor_wall[MAX_RUNS], floor_cpu[MAX_RUNS], floor_user[MAX_RUNS];
        double coll_wall[MAX_RUNS], coll_cpu[MAX_RUNS], coll_user[MAX_RUNS];
} Series;

static int measure(int root_fd, unsigned runs, Scratch *s, Series *out) {
        int r;
        out->n = 0;
        for (unsigned i = 0; i < runs; i++) {
                /* alternate which goes first so that drift hits both alike */
                for (unsigned k = 0; k < 2; k++) {
                        bool floor_now = (k == 0) == (i % 2 == 0);
                        double u0 = user_sec(), c0 = cpu_sec(), t0 = now_sec();
                        r = floor_now ? run_floor(root_fd, s, NULL) : run_collect(root_fd, NULL);
                        double t1 = now_sec(), c1 = cpu_sec(), u1 = user_sec();
                        if (r < 0)
                                return r;
                        if (floor_now) {
                                out->floor_wall[i] = t1 - t0;
                                out->floor_cpu[i] = c1 - c0;
                                out->floor_user[i] = u1 - u0;
                        } else {
                                out->coll_wall[i] = t1 - t0;
                                out->coll_cpu[i] = c1 - c0;
                                out->coll_user[i] = u1 - u0;
                        }
                }
                out->n++;
        }
        return 0;
}

static int warm(int root_fd, Scratch *s, const BenchTreeStats *st, bool check) {
        FloorCounts fc;
        CollectFigures cf;
        int r = run_floor(root_fd, s, &fc);
        if (r < 0)
                return r;
        if (fc.fds != st->fds || fc.dmabuf_fds != st->dmabuf_fds || fc.buffers != st->buffers)
                printf("  MISMATCH floor saw %" PRIu64 " fds, %" PRIu64 " dma-buf fds, %" PRIu64
                       " buffers; tree has %" PRIu64 ", %" PRIu64 ", %" PRIu64 "\n",
                       fc.fds, fc.dmabuf_fds, fc.buffers, st->fds, st->dmabuf_fds, st->buffers);
        r = run_collect(root_fd, &cf);
        if (r < 0)
                return r;
        if (check) {
                printf("floor makes %" PRIu64 " syscalls per pass (%.2f per fd), reads %.1f MiB\n", fc.syscalls,
                       (double) fc.syscalls / (double) (fc.fds ? fc.fds : 1), (double) fc.bytes_read / MIB);
                unsigned bad = check_figures(&cf, st);
                printf("check: collector found %" PRIu64 " buffers, %.2f GiB, userspace %.2f GiB, %" PRIu64
                       " processes, %" PRIu64 " fds, %" PRIu64 " maps: %s\n",
                       cf.n_buffers, (double) cf.bytes / GIB, (double) cf.userspace_bytes / GIB, cf.n_processes,
                       cf.fds, cf.maps, bad ? "MISMATCH (see above)" : "matches the tree");
        }
        return 0;
}

/* ---- --live: the running kernel, three ways ---- */

static double min_of(const double *v, unsigned n) {
        double m = v[0];
        for (unsigned i = 1; i < n; i++)
                m = v[i] < m ? v[i] : m;
        return m;
}

/* On "/" of a machine (a test guest): one collection with the BPF programs, one
 * without (procfs), and the floor of the procfs path, interleaved in rotating
 * order so that drift hits all three alike. Prints the least and the median of
 * each, CPU time per collection and the ratios; fails only if the BPF and procfs
 * collections disagree on who holds what, or BPF cannot be loaded. */
static int run_live(unsigned runs) {
        static double wall[3][MAX_RUNS], cpu[3][MAX_RUNS];
        static const char *const what[3] = { "bpf", "procfs", "floor" };
        CollectFigures with, without;
        FloorCounts fc;
        DmabufBpf *bpf = NULL;
        char reason[512];
        Scratch *s;
        int root_fd, r, ret = 1;

        root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        s = malloc(sizeof *s);
        if (root_fd < 0 || !s)
                return 1;
        r = dmabuf_bpf_load(root_fd, &bpf, reason, sizeof reason);
        if (r < 0) {
                printf("dmabufd-bench --live: bpf source down: %s\n", reason);
                goto out;
        }
        /* Warm the caches, and hold the two collections to each other. */
        if (run_floor(root_fd, s, &fc) < 0 || run_collect_with(root_fd, bpf, &with) < 0 ||
            run_collect_with(root_fd, NULL, &without) < 0)
                goto out;
        printf("world: %" PRIu64 " processes, %" PRIu64 " fds, %" PRIu64 " dma-buf fds; %" PRIu64
               " processes hold %" PRIu64 " buffers by %" PRIu64 " fds and %" PRIu64 " maps\n",
               fc.pids, fc.fds, fc.dmabuf_fds, with.n_processes, with.n_buffers, with.fds, with.maps);
        printf("floor makes %" PRIu64 " syscalls per pass, reads %.1f MiB\n", fc.syscalls,
               (double) fc.bytes_read / MIB);
        if (with.n_processes != without.n_processes || with.fds != without.fds || with.maps != without.maps ||
            with.userspace_bytes != without.userspace_bytes) {
                printf("MISMATCH bpf: %" PRIu64 " processes, %" PRIu64 " fds, %" PRIu64 " maps, %" PRIu64
                       " userspace bytes; procfs: %" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 "\n",
                       with.n_processes, with.fds, with.maps, with.userspace_bytes, without.n_processes,
                       without.fds, without.maps, without.userspace_bytes);
                goto out;
        }
        for (unsigned i = 0; i < runs; i++)
                for (unsigned k = 0; k < 3; k++) {
                        unsigned w = (i + k) % 3;
                        double c0 = cpu_sec(), t0 = now_sec();
                        r = w == 0 ? run_collect_with(root_fd, bpf, NULL)
                          : w == 1 ? run_collect_with(root_fd, NULL, NULL)
                                   : run_floor(root_fd, s, NULL);
                        wall[w][i] = now_sec() - t0;
                        cpu[w][i] = cpu_sec() - c0;
                        if (r < 0)
                                goto out;
                }
        printf("%u runs of each, interleaved:\n", runs);
        for (unsigned w = 0; w < 3; w++)
                printf("  %-7s least %9.3f ms  median %9.3f ms  cpu least %9.3f ms\n", what[w],
                       min_of(wall[w], runs) * 1e3, median(wall[w], runs) * 1e3, min_of(cpu[w], runs) * 1e3);
        printf("bpf is %.1fx faster than the procfs floor, %.1fx faster than the procfs collection (least wall)\n",
               min_of(wall[2], runs) / min_of(wall[0], runs), min_of(wall[1], runs) / min_of(wall[0], runs));
        printf("bpf cpu per collection %.3f ms, %.1fx less than the floor's\n", min_of(cpu[0], runs) * 1e3,
               min_of(cpu[2], runs) / (min_of(cpu[0], runs) > 0 ? min_of(cpu[0], runs) : 1e-9));
        ret = 0;
out:
        dmabuf_bpf_free(bpf);
        free(s);
        close(root_fd);
        return ret;
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: dmabufd-bench [--tree DIR] [--keep] [--procs N] [--fds N] [--runs N]\n"
                "       dmabufd-bench --live [--runs N]\n"
                "  --live      time the BPF source, the procfs path and its floor on this machine's /\n"
                "  --tree DIR  use DIR (reused if it holds a complete tree, else generated into it)\n"
                "  --keep      keep a generated tree (default: remove it)\n"
                "  --procs N   processes (default 2000)\n"
                "  --fds N     fds per process (default 200)\n"
                "  --runs N    timed runs of each of floor and collector (default 7)\n");
}

static int parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v < lo || v > hi) {
                fprintf(stderr, "dmabufd-bench: %s: invalid value '%s' (%u..%u)\n", opt, s, lo, hi);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "tree", required_argument, NULL, 't' },  { "keep", no_argument, NULL, 'k' },
                { "procs", required_argument, NULL, 'p' }, { "fds", required_argument, NULL, 'f' },
                { "runs", required_argument, NULL, 'r' },  { "rss-child", required_argument, NULL, 'R' },
                { "help", no_argument, NULL, 'h' },        { "live", no_argument, NULL, 'L' },
                {},
        };
        bool live = false;
        const char *tree = NULL;
        bool keep = false;
        unsigned runs = 7;
        BenchTreeParams params;
        int c;

        bench_tree_params_default(&params);
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 't':
                        tree = optarg;
                        break;
                case 'k':
                        keep = true;
                        break;
                case 'p':
                        if (parse_uint("--procs", optarg, 1, 1000000, &params.procs) < 0)
                                return 2;
                        break;
                case 'f':
                        if (parse_uint("--fds", optarg, 4, 100000, &params.fds_per_proc) < 0)
                                return 2;
                        break;
                case 'r':
                        if (parse_uint("--runs", optarg, 1, MAX_RUNS, &runs) < 0)
                                return 2;
                        break;
                case 'R':
                        return rss_child(optarg);
                case 'L':
                        live = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "dmabufd-bench: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (live)
                return run_live(runs);

        char tmpl[PATH_MAX];
        bool ours = false; /* made by mkdtemp or generated into by this run: ours to remove */
        int sfd[2] = { -1, -1 };
        if (!tree) {
                const char *tmp = getenv("TMPDIR");
                snprintf(tmpl, sizeof tmpl, "%s/dmabufd-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
                if (!mkdtemp(tmpl)) {
                        fprintf(stderr, "dmabufd-bench: mkdtemp %s: %s\n", tmpl, strerror(errno));
                        return 1;
                }
                tree = tmpl;
                ours = true;
        } else if (mkdir(tree, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "dmabufd-bench: %s: %s\n", tree, strerror(errno));
                return 1;
        }
        int root_fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                fprintf(stderr, "dmabufd-bench: %s: %s\n", tree, strerror(errno));
                return 1;
        }
        Scratch *scratch = malloc(sizeof *scratch);
        if (!scratch)
                return 1;

        int ret = 1, r;
        BenchTreeStats st;
        printf("dmabufd-bench: tree %s\n", tree);
        r = ensure_tree(root_fd, "full", &params, &st);
        if (r > 0)
                ours = true;
        if (r < 0) {
                fprintf(stderr, "dmabufd-bench: %s: %s\n", tree, strerror(-r));
                goto out;
        }
        printf("  %" PRIu64 " processes (%" PRIu64 " hold dma-bufs), %" PRIu64 " fds, %" PRIu64
               " dma-buf fds, %" PRIu64 " dma-buf mappings (%" PRIu64 " map-only refs)\n",
               st.procs, st.procs_with_dmabuf, st.fds, st.dmabuf_fds, st.dmabuf_maps, st.map_only_refs);
        printf("  %" PRIu64 " buffers in sysfs, %.2f GiB; %" PRIu64 " referenced by processes (%.2f GiB), %" PRIu64
               " shared by 2+ processes, %" PRIu64 " kernel-only\n",
               st.buffers, (double) st.bytes / GIB, st.userspace_buffers, (double) st.userspace_bytes / GIB,
               st.shared_buffers, st.buffers - st.userspace_buffers);

        /* smaller trees for linearity: same processes, fewer fds each */
        BenchTreeParams sp[2];
        BenchTreeStats sst[2];
        for (unsigned i = 0; i < 2; i++) {
                sp[i] = params;
                sp[i].fds_per_proc = params.fds_per_proc / scale_div[i];
                if (sp[i].fds_per_proc < 4)
                        sp[i].fds_per_proc = 4;
                if (mkdirat(root_fd, scale_dirs[i], 0755) < 0 && errno != EEXIST) {
                        fprintf(stderr, "dmabufd-bench: %s/%s: %s\n", tree, scale_dirs[i], strerror(errno));
                        goto out;
                }
                sfd[i] = openat(root_fd, scale_dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (sfd[i] < 0) {
                        fprintf(stderr, "dmabufd-bench: %s/%s: %s\n", tree, scale_dirs[i], strerror(errno));
                        goto out;
                }
                r = ensure_tree(sfd[i], scale_dirs[i], &sp[i], &sst[i]);
                if (r < 0) {
                        fprintf(stderr, "dmabufd-bench: %s/%s: %s\n", tree, scale_dirs[i], strerror(-r));
                        goto out;
                }
        }

        /* warm the page cache and dentries, and check the collector's figures */
        printf("\nwarming up (one floor and one collection on each tree)\n");
        r = warm(root_fd, scratch, &st, true);
        if (r < 0) {
                fprintf(stderr, "dmabufd-bench: warm-up: %s\n", strerror(-r));
                goto out;
        }

        RssFigures rss = { 0 };
        r = measure_rss(tree, &rss);
        if (r < 0)
                fprintf(stderr, "dmabufd-bench: peak RSS measurement failed: %s\n", strerror(-r));

        static Series full, part[2];
        printf("timing %u interleaved runs each of floor and collector ...\n", runs);
        fflush(stdout);
        r = measure(root_fd, runs, scratch, &full);
        if (r < 0) {
                fprintf(stderr, "dmabufd-bench: %s\n", strerror(-r));
                goto out;
        }
        for (unsigned i = 0; i < 2; i++) {
                r = warm(sfd[i], scratch, &sst[i], false);
                if (r >= 0)
                        r = measure(sfd[i], runs, scratch, &part[i]);
                if (r < 0) {
                        fprintf(stderr, "dmabufd-bench: %s: %s\n", scale_dirs[i], strerror(-r));
                        goto out;
                }
        }

        double fm = median(full.floor_wall, full.n), cm = median(full.coll_wall, full.n);
        double fmin = minimum(full.floor_wall, full.n), cmin = minimum(full.coll_wall, full.n);
        double fcpu = median(full.floor_cpu, full.n), ccpu = median(full.coll_cpu, full.n);
        double fusr = median(full.floor_user, full.n), cusr = median(full.coll_user, full.n);
        printf("\n== one pass over %" PRIu64 " processes, %" PRIu64 " fds, %" PRIu64 " buffers (%u runs each) ==\n",
               st.procs, st.fds, st.buffers, full.n);
        printf("%-22s %12s %12s %16s %13s\n", "", "wall median", "wall min", "cpu u+s median", "user median");
        printf("%-22s %9.1f ms %9.1f ms %13.1f ms %10.1f ms\n", "floor (syscalls only)", fm * 1e3, fmin * 1e3,
               fcpu * 1e3, fusr * 1e3);
        printf("%-22s %9.1f ms %9.1f ms %13.1f ms %10.1f ms\n", "collector", cm * 1e3, cmin * 1e3, ccpu * 1e3,
               cusr * 1e3);
        printf("%-22s %12.2f %12.2f %16.2f %13s   (target <= 1.50 on wall median: %s)\n", "ratio collector/floor",
               cm / fm, cmin / fmin, ccpu / (fcpu > 0 ? fcpu : 1e-9), "", cm / fm <= 1.5 ? "met" : "MISSED");

        printf("\n== peak RSS of one collection (fresh process) ==\n");
        if (rss.hwm > 0) {
                printf("VmHWM before collecting %8.1f MiB (VmRSS %.1f MiB)\n", rss.base_hwm / 1024.0,
                       rss.base_rss / 1024.0);
                printf("VmHWM after collecting  %8.1f MiB (growth %.1f MiB)\n", rss.hwm / 1024.0,
                       (rss.hwm - rss.base_hwm) / 1024.0);
                printf("VmRSS holding the state %8.1f MiB, after unref %.1f MiB\n", rss.held / 1024.0,
                       rss.after / 1024.0);
        } else
                printf("not measured\n");

        printf("\n== linearity: %" PRIu64 " processes, fds per process varied (medians) ==\n", st.procs);
        printf("%9s %10s %10s %10s %12s %12s %7s\n", "fds/proc", "total fds", "floor ms", "coll ms", "floor ns/fd",
               "coll ns/fd", "ratio");
        for (unsigned i = 0; i < 3; i++) {
                const Series *se = i < 2 ? &part[i] : &full;
                const BenchTreeParams *pp = i < 2 ? &sp[i] : &params;
                const BenchTreeStats *ss = i < 2 ? &sst[i] : &st;
                double f = median(se->floor_wall, se->n), co = median(se->coll_wall, se->n);
                double nfd = (double) (ss->fds ? ss->fds : 1);
                printf("%9u %10" PRIu64 " %10.1f %10.1f %12.0f %12.0f %7.2f\n", pp->fds_per_proc, ss->fds, f * 1e3,
                       co * 1e3, f * 1e9 / nfd, co * 1e9 / nfd, co / f);
        }
        ret = 0;
out:
        for (unsigned i = 0; i < 2; i++)
                if (sfd[i] >= 0)
                        close(sfd[i]);
        close(root_fd);
        free(scratch);
        if (ours && !keep) {
                r = bench_tree_remove(AT_FDCWD, tree);
                if (r < 0)
                        fprintf(stderr, "dmabufd-bench: removing %s: %s\n", tree, strerror(-r));
                else
                        printf("\nremoved %s\n", tree);
        } else
                printf("\nkept %s\n", tree);
        return ret;
}
