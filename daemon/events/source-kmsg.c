/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kmsg-parser.h"
#include "log.h"
#include "macro.h"
#include "ratelimit.h"
#include "source-kmsg.h"
#include "time-util.h"

#define KMSG_PATH "dev/kmsg"
/* A flood of kernel messages must not starve the loop: after this many reads
 * the source yields, and the level-triggered fd brings it back. */
#define READS_PER_WAKE 256
#define WARNING_INTERVAL_USEC (600 * USEC_PER_SEC)

struct DmabufdSourceKmsg {
        sd_event_source *io;
        int fd;
        int fifo_writer_fd;
        DmabufdEventFunc cb;
        void *userdata;
        DmabufKmsgSplitter splitter;
        DmabufKillTracker tracker;
        uint64_t last_seq;
        bool have_seq;
        uint64_t lost, malformed, overlong_reported;
        RateLimit warnings;
        char message[DMABUF_KMSG_RECORD_MAX];
};

static bool warning_due(DmabufdSourceKmsg *s) {
        return ratelimit_below(&s->warnings, now_usec(CLOCK_MONOTONIC));
}

static void emit_kill(DmabufdSourceKmsg *s, const DmabufKill *k) {
        DmabufdEvent e = {
                .kind = k->kind == DMABUF_KILL_LMK ? DMABUFD_EVENT_LMK_KILL : DMABUFD_EVENT_OOM_KILL,
                .pid = k->pid,
                .comm = k->comm,
                .line = k->line,
                .kill = k,
        };

        /* The manager logs the kill, once, for every source that reports one. */
        s->cb(&e, s->userdata);
}

static void on_record(const char *record, size_t len, void *userdata) {
        DmabufdSourceKmsg *s = userdata;
        DmabufKmsgRecord rec;
        DmabufKill kill;
        size_t n;
        int r;

        r = dmabuf_kmsg_record_parse(record, len, &rec);
        if (r < 0) {
                s->malformed++;
                if (warning_due(s))
                        log_warning("/dev/kmsg: not a kernel log record, skipped: '%.*s' (%" PRIu64
                                    " such records so far)",
                                    (int) MIN(strcspn(record, "\n"), (size_t) 120), record, s->malformed);
                return;
        }
        if (s->have_seq && rec.seq > s->last_seq + 1)
                s->lost += rec.seq - s->last_seq - 1;
        s->last_seq = rec.seq;
        s->have_seq = true;

        /* Anything with root can write to /dev/kmsg, but only the kernel's own
         * records carry facility 0: a forged kill line must not take a snapshot
         * that blames a process the kernel never killed. */
        if (rec.facility != 0)
                return;

        n = dmabuf_kmsg_unescape(rec.message, rec.message_len, s->message, sizeof(s->message));
        r = dmabuf_kill_tracker_feed(&s->tracker, s->message, n, &kill);
        if (r == -EBADMSG) {
                s->malformed++;
                if (warning_due(s))
                        log_warning("/dev/kmsg: record %" PRIu64 " looks like a kill report but does not parse: '%.*s'",
                                    rec.seq, (int) MIN(n, (size_t) 200), s->message);
                return;
        }
        if (r > 0)
                emit_kill(s, &kill);
}

static void report_losses(DmabufdSourceKmsg *s) {
        if (s->splitter.overlong > s->overlong_reported) {
                s->malformed += s->splitter.overlong - s->overlong_reported;
                s->overlong_reported = s->splitter.overlong;
                if (warning_due(s))
                        log_warning("/dev/kmsg: a line longer than %d bytes was dropped", DMABUF_KMSG_RECORD_MAX);
        }
        if (s->lost > 0) {
                /* Kills among them are missed; the cgroup and journal sources and
                 * the next PSI trigger still see the pressure. */
                log_warning("/dev/kmsg: %" PRIu64 " kernel log records were overwritten before they could be read",
                            s->lost);
                s->lost = 0;
        }
}

static void source_down(DmabufdSourceKmsg *s, int error) {
        log_error_errno(error, "/dev/kmsg: read failed, kernel-log events are off until restart: %m");
        s->io = sd_event_source_disable_unref(s->io);
        s->fd = safe_close(s->fd);
}

static int on_readable(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        DmabufdSourceKmsg *s = userdata;
        char buf[DMABUF_KMSG_RECORD_MAX];

        for (unsigned i = 0; i < READS_PER_WAKE; i++) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n > 0) {
                        dmabuf_kmsg_splitter_feed(&s->splitter, buf, (size_t) n, on_record, s);
                        continue;
                }
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EPIPE) {
                        /* The ring buffer wrapped past our position; the kernel has
                         * moved us to the oldest record left, so reading on resyncs.
                         * The sequence gap tells how many were lost. */
                        continue;
                }
                if (n < 0 && errno == EAGAIN)
                        break;
                /* EOF cannot happen on /dev/kmsg, nor on a FIFO we hold a writer for. */
                source_down(s, n < 0 ? -errno : -EIO);
                return 0;
        }
        dmabuf_kmsg_splitter_flush(&s->splitter, on_record, s);
        report_losses(s);
        return 0;
}

int dmabufd_source_kmsg_new(sd_event *e, int root_fd, DmabufdEventFunc cb, void *userdata,
                            DmabufdSourceKmsg **ret) {
        DmabufdSourceKmsg *s;
        struct stat st;
        int r;

        s = calloc(1, sizeof(DmabufdSourceKmsg));
        if (!s)
                return -ENOMEM;
        s->fd = s->fifo_writer_fd = -EBADF;
        s->warnings = RATELIMIT_INIT(WARNING_INTERVAL_USEC);
        s->cb = cb;
        s->userdata = userdata;
        *ret = s;

        s->fd = openat(root_fd, KMSG_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (s->fd < 0) {
                log_warning_errno(-errno, "cannot open /dev/kmsg under the root, kernel-log events are off: %m");
                return 0;
        }
        if (fstat(s->fd, &st) < 0) {
                log_warning_errno(-errno, "cannot stat /dev/kmsg, kernel-log events are off: %m");
                s->fd = safe_close(s->fd);
                return 0;
        }
        if (S_ISFIFO(st.st_mode)) {
                /* Holding a writer ourselves means the FIFO never reads as EOF
                 * (and never polls as hung up) when its feeder closes it. */
                s->fifo_writer_fd = openat(root_fd, KMSG_PATH, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (s->fifo_writer_fd < 0) {
                        log_warning_errno(-errno, "cannot hold the /dev/kmsg FIFO open, kernel-log events are off: %m");
                        s->fd = safe_close(s->fd);
                        return 0;
                }
        } else if (lseek(s->fd, 0, SEEK_END) < 0) {
                /* Without it every kill still in the ring buffer would fire now. */
                log_warning_errno(-errno, "cannot seek to the end of /dev/kmsg, kernel-log events are off: %m");
                s->fd = safe_close(s->fd);
                return 0;
        }

        r = sd_event_add_io(e, &s->io, s->fd, EPOLLIN, on_readable, s);
        if (r < 0) {
                log_warning_errno(r, "cannot watch /dev/kmsg, kernel-log events are off: %m");
                s->fd = safe_close(s->fd);
                s->fifo_writer_fd = safe_close(s->fifo_writer_fd);
                return 0;
        }
        (void) sd_event_source_set_description(s->io, "kmsg");
        return 0;
}

bool dmabufd_source_kmsg_is_up(const DmabufdSourceKmsg *s) {
        return s && s->io;
}

DmabufdSourceKmsg *dmabufd_source_kmsg_free(DmabufdSourceKmsg *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->io);
        safe_close(s->fd);
        safe_close(s->fifo_writer_fd);
        free(s);
        return NULL;
}
