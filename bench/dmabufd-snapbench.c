/* SPDX-License-Identifier: MIT */
/* The snapshot benchmark's driver: writes a kernel OOM report into the FIFO a
 * running dmabufd reads as <root>/dev/kmsg, and times until the snapshot file is
 * renamed into the state directory (inotify IN_MOVED_TO): first its first part
 * (trigger, before, memory figures), then the complete one that replaces it.
 * Repeats, sampling the daemon's VmRSS as the store turns over, and prints the
 * figures. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static long status_kib(int pid, const char *field) {
        char path[64], line[256];
        size_t n = strlen(field);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, n) == 0 && line[n] == ':') {
                        v = strtol(line + n + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* Waits for a "*.json" to be moved into the watched directory. */
static int wait_renamed(int ifd, int timeout_ms) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000;

        for (;;) {
                struct pollfd p = { .fd = ifd, .events = POLLIN };
                int64_t left = (int64_t) (deadline - now_usec()) / 1000;
                ssize_t n;

                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return -ETIMEDOUT;
                n = read(ifd, buf, sizeof(buf));
                if (n <= 0)
                        return -EIO;
                for (char *q = buf; q < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) (void *) q;
                        size_t l = ev->len ? strlen(ev->name) : 0;

                        if ((ev->mask & IN_MOVED_TO) && l > 5 && strcmp(ev->name + l - 5, ".json") == 0)
                                return 0;
                        q += sizeof(*ev) + ev->len;
                }
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "fifo", required_argument, NULL, 'f' },  { "state-dir", required_argument, NULL, 's' },
                { "pid", required_argument, NULL, 'p' },   { "comm", required_argument, NULL, 'c' },
                { "count", required_argument, NULL, 'n' }, { "daemon-pid", required_argument, NULL, 'd' },
                { "timed", required_argument, NULL, 't' }, {},
        };
        const char *fifo = NULL, *state = NULL, *comm = "victim";
        unsigned count = 1000, timed = 101;
        int victim = 0, dpid = 0, c, ifd, wfd;
        uint64_t *lat, *full;
        long rss_first = -1, rss_min = -1, rss_max = -1, rss_last = -1;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'f': fifo = optarg; break;
                case 's': state = optarg; break;
                case 'p': victim = atoi(optarg); break;
                case 'c': comm = optarg; break;
                case 'n': count = (unsigned) strtoul(optarg, NULL, 10); break;
                case 't': timed = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'd': dpid = atoi(optarg); break;
                default: return 2;
                }
        if (!fifo || !state || victim <= 0 || dpid <= 0 || count == 0) {
                fprintf(stderr, "usage: dmabufd-snapbench --fifo F --state-dir D --pid VICTIM --comm COMM "
                                "--daemon-pid P [--count N] [--timed N]\n");
                return 2;
        }
        if (timed > count)
                timed = count;
        lat = calloc(count, sizeof(uint64_t));
        full = calloc(count, sizeof(uint64_t));
        ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (!lat || !full || ifd < 0 || inotify_add_watch(ifd, state, IN_MOVED_TO) < 0) {
                fprintf(stderr, "dmabufd-snapbench: cannot watch %s: %s\n", state, strerror(errno));
                return 1;
        }
        wfd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (wfd < 0) {
                fprintf(stderr, "dmabufd-snapbench: %s: %s\n", fifo, strerror(errno));
                return 1;
        }

        printf("%-10s %12s %12s\n", "snapshots", "VmRSS KiB", "VmHWM KiB");
        for (unsigned i = 0; i < count; i++) {
                char rec[1024];
                uint64_t t0;
                int n;

                n = snprintf(rec, sizeof(rec),
                             "6,%u,1000,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,"
                             "task_memcg=/,task=%s,pid=%d,uid=0\n"
                             "3,%u,1001,-;Out of memory: Killed process %d (%s) total-vm:238776kB, "
                             "anon-rss:237556kB, file-rss:4kB, shmem-rss:648kB, UID:0 pgtables:500kB "
                             "oom_score_adj:0\n",
                             2 * i, comm, victim, 2 * i + 1, victim, comm);
                t0 = now_usec();
                if (write(wfd, rec, (size_t) n) != n) {
                        fprintf(stderr, "dmabufd-snapbench: write: %s\n", strerror(errno));
                        return 1;
                }
                if (wait_renamed(ifd, 30000) < 0) {
                        fprintf(stderr, "dmabufd-snapbench: snapshot %u did not appear within 30 s\n", i + 1);
                        return 1;
                }
                lat[i] = now_usec() - t0;
                /* The next event would otherwise wait for this one's collection. */
                if (wait_renamed(ifd, 60000) < 0) {
                        fprintf(stderr, "dmabufd-snapbench: snapshot %u was not completed within 60 s\n", i + 1);
                        return 1;
                }
                full[i] = now_usec() - t0;
                if ((i + 1) % 50 == 0 || i == 0) {
                        long rss = status_kib(dpid, "VmRSS"), hwm = status_kib(dpid, "VmHWM");

                        printf("%-10u %12ld %12ld\n", i + 1, rss, hwm);
                        fflush(stdout);
                        /* The store fills up to its bound at 50; from there on it
                         * only turns over, and RSS must stay where it is. */
                        if (i + 1 >= 100) {
                                if (rss_first < 0)
                                        rss_first = rss;
                                rss_min = rss_min < 0 || rss < rss_min ? rss : rss_min;
                                rss_max = rss > rss_max ? rss : rss_max;
                                rss_last = rss;
                        }
                }
        }
        qsort(lat, timed, sizeof(uint64_t), cmp_u64);
        qsort(full, timed, sizeof(uint64_t), cmp_u64);
        printf("\nkmsg OOM line -> snapshot renamed into place (trigger, before, memory), first %u snapshots:\n", timed);
        printf("  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   min %.1f ms   max %.1f ms\n", lat[timed / 2] / 1000.0,
               lat[timed * 9 / 10] / 1000.0, lat[timed * 99 / 100] / 1000.0, lat[0] / 1000.0,
               lat[timed - 1] / 1000.0);
        printf("  targets: p50 <= 50 ms: %s; p99 <= 250 ms: %s\n", lat[timed / 2] <= 50000 ? "met" : "MISSED",
               lat[timed * 99 / 100] <= 250000 ? "met" : "MISSED");
        printf("kmsg OOM line -> complete snapshot (its fresh collection included) renamed over it:\n");
        printf("  median %.1f ms   p90 %.1f ms   min %.1f ms   max %.1f ms\n", full[timed / 2] / 1000.0,
               full[timed * 9 / 10] / 1000.0, full[0] / 1000.0, full[timed - 1] / 1000.0);
        if (rss_first > 0)
                printf("VmRSS from snapshot 100 to %u: first %ld KiB, min %ld, max %ld, last %ld (last/first %.3f)\n",
                       count, rss_first, rss_min, rss_max, rss_last, (double) rss_last / (double) rss_first);
        close(wfd);
        free(lat);
        free(full);
        return 0;
}
