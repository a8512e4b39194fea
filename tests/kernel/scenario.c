/* SPDX-License-Identifier: MIT */
/*
 * scenario: builds a known DMA-BUF world on a real kernel and writes down its truth.
 *
 * It runs inside a QEMU guest (busybox initramfs, as root), where it is the only user
 * of DMA-BUFs, so that a test can compare what dmabufd reports against what this
 * program did. Every figure in the truth is computed from what the program asked for
 * and arranged (sizes, names the kernel accepted, which process holds what), never
 * from /proc, /sys or debugfs; the one exception, "observed_exporter", is read from
 * fdinfo for diagnosis only and says so.
 *
 *   scenario setup OUTFILE        build the world, write the truth, print SCENARIO READY
 *   scenario teardown             SIGTERM the holders listed in /tmp/scenario.pids
 *   scenario oomhog [--wait-file PATH] [MIB_HOLD]
 *   scenario pressure SECONDS [MIB]
 *   scenario attach OUTFILE GO_FILE1 GO_FILE2
 *   scenario drm OUTFILE GO_FILE   the DRM probe: vgem clients with GEM objects of known sizes
 *   scenario bench N
 *   scenario world PROCS FDS DMABUFS MAPPERS BUFFERS   the benchmark's world
 *   scenario world-down
 *   scenario floor ROUNDS          time the procfs path's bare syscalls
 *
 * Build: gcc -static -O2 -Wall -Wextra -Werror -o scenario scenario.c
 * See scenario.md beside this file for the world, the JSON and the limits.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

/* Debian 12's linux-libc-dev has <linux/dma-buf.h> (with the name ioctl), but keep
 * the build working on older header sets too. */
#ifndef DMA_BUF_NAME_LEN
#define DMA_BUF_NAME_LEN 32
#endif
#ifndef DMA_BUF_SET_NAME
#define DMA_BUF_SET_NAME _IOW('b', 1, const char *)
#endif

/*
 * DRM: Debian 12's linux-libc-dev does not ship <drm/drm.h> (libdrm-dev has it as
 * <libdrm/drm.h>). These three structs and ioctl numbers are copied from the kernel's
 * include/uapi/drm/drm.h, where they have been stable since 2.6; the ioctl numbers
 * encode sizeof(struct), so the same layout gives the same numbers.
 */
struct scn_drm_version {
        int version_major;
        int version_minor;
        int version_patchlevel;
        size_t name_len;
        char *name;
        size_t date_len;
        char *date;
        size_t desc_len;
        char *desc;
};
struct scn_drm_prime_handle {
        uint32_t handle;
        uint32_t flags;
        int32_t fd;
};
#define SCN_DRM_IOCTL_VERSION _IOWR('d', 0x00, struct scn_drm_version)
struct scn_drm_gem_close {
        uint32_t handle;
        uint32_t pad;
};
#define SCN_DRM_IOCTL_PRIME_FD_TO_HANDLE _IOWR('d', 0x2e, struct scn_drm_prime_handle)
#define SCN_DRM_IOCTL_GEM_CLOSE _IOW('d', 0x09, struct scn_drm_gem_close)
/* Dumb buffers (include/uapi/drm/drm_mode.h), for the DRM probe. */
struct scn_drm_mode_create_dumb {
        uint32_t height;
        uint32_t width;
        uint32_t bpp;
        uint32_t flags;
        uint32_t handle;
        uint32_t pitch;
        uint64_t size;
};
struct scn_drm_mode_map_dumb {
        uint32_t handle;
        uint32_t pad;
        uint64_t offset;
};
#define SCN_DRM_IOCTL_PRIME_HANDLE_TO_FD _IOWR('d', 0x2d, struct scn_drm_prime_handle)
#define SCN_DRM_IOCTL_MODE_CREATE_DUMB _IOWR('d', 0xB2, struct scn_drm_mode_create_dumb)
#define SCN_DRM_IOCTL_MODE_MAP_DUMB _IOWR('d', 0xB3, struct scn_drm_mode_map_dumb)

#define HEAP_PATH "/dev/dma_heap/system"
#define UDMABUF_PATH "/dev/udmabuf"
#define PIDS_PATH "/tmp/scenario.pids"
#define LOG_PATH "/tmp/scenario.log"

#define KIB ((uint64_t)1024)
#define MIB ((uint64_t)1024 * 1024)

/* How long holders live at most without a SIGTERM (seconds); SCENARIO_MAX_SECONDS overrides. */
#define DEFAULT_MAX_LIFETIME 3600
/* How long the owner waits for a holder to answer one command (ms). */
#define REPLY_TIMEOUT_MS 20000
/* How long `setup` waits for the world to be ready (ms). */
#define SETUP_TIMEOUT_MS 120000

/* ------------------------------------------------------------------------------ */
/* Small utilities                                                                 */

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        if (!s || !*s || *s == '-' || *s == '+')
                return -1;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *ret = v;
        return 0;
}

static void set_comm(const char *comm)
{
        prctl(PR_SET_NAME, (unsigned long)comm, 0UL, 0UL, 0UL);
}

/* Writes the whole buffer, retrying on EINTR and short writes. */
static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Makes this process the OOM killer's first choice, so that a kill never hits a holder. */
static void prefer_oom_victim(void)
{
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write_all(fd, "1000", 4) < 0)
                fprintf(stderr, "scenario: /proc/self/oom_score_adj: %s, ignoring\n", strerror(errno));
        if (fd >= 0)
                close(fd);
}

/* Kernel release "M.m..." as M * 1000 + m, or 0 when it does not parse. */
static int kernel_version(const char *release)
{
        int major = 0, minor = 0;

        if (sscanf(release, "%d.%d", &major, &minor) != 2)
                return 0;
        return major * 1000 + minor;
}

/*
 * The exporter name the system heap gives its buffers, by kernel line. This is what
 * the allocation path promises, not what fdinfo says:
 *  - up to 5.10 the system heap exported through heap-helpers.c, whose
 *    DEFINE_DMA_BUF_EXPORT_INFO takes KBUILD_MODNAME: "heap_helpers";
 *  - 5.11 removed heap-helpers ("dma-buf: heaps: Remove heap-helpers code"); the
 *    reworked system_heap.c still used the module name: "system_heap";
 *  - 5.13 set exp_name to the heap's name ("dma-buf: heaps: Fix the name used when
 *    exporting dmabufs to be the actual heap name"): "system".
 * The middle range is from the commit history only; no kernel tested here is in it.
 */
static const char *expected_system_exporter(int version)
{
        if (version < 5011)
                return "heap_helpers";
        if (version < 5013)
                return "system_heap";
        return "system";
}

/* ------------------------------------------------------------------------------ */
/* Allocation                                                                      */

/* Each returns a dma-buf fd, or -1 with errno set. */
static int heap_alloc(int heap_fd, uint64_t size)
{
        struct dma_heap_allocation_data data;

        memset(&data, 0, sizeof(data));
        data.len = size;
        data.fd_flags = O_RDWR | O_CLOEXEC;
        if (ioctl(heap_fd, DMA_HEAP_IOCTL_ALLOC, &data) < 0)
                return -1;
        return (int)data.fd;
}

static int udmabuf_alloc(int dev_fd, uint64_t size)
{
        struct udmabuf_create create;
        int memfd, fd, saved;

        memfd = memfd_create("scenario-udmabuf", MFD_ALLOW_SEALING | MFD_CLOEXEC);
        if (memfd < 0)
                return -1;
        if (ftruncate(memfd, (off_t)size) < 0 || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
                saved = errno;
                close(memfd);
                errno = saved;
                return -1;
        }
        memset(&create, 0, sizeof(create));
        create.memfd = (uint32_t)memfd;
        create.flags = UDMABUF_FLAGS_CLOEXEC;
        create.offset = 0;
        create.size = size;
        fd = ioctl(dev_fd, UDMABUF_CREATE, &create);
        saved = errno;
        /* udmabuf holds the pages itself; the memfd is not needed any more. */
        close(memfd);
        errno = saved;
        return fd;
}

/* DMA_BUF_SET_NAME: 0 when the kernel accepted the name, else the errno it gave. */
static int set_name(int fd, const char *name)
{
        if (ioctl(fd, DMA_BUF_SET_NAME, name) < 0)
                return errno ? errno : EIO;
        return 0;
}

/* The value of the "KEY:" line of /proc/self/fdinfo/<fd>, without blanks around it;
 * out is "" when there is no such line. */
static void fdinfo_value(int fd, const char *key, char *out, size_t outlen)
{
        char path[64], line[256];
        size_t klen = strlen(key);
        FILE *f;

        out[0] = '\0';
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *v, *end;

                if (strncmp(line, key, klen) != 0 || line[klen] != ':')
                        continue;
                v = line + klen + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                end = v + strlen(v);
                while (end > v && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                        *--end = '\0';
                snprintf(out, outlen, "%s", v);
                break;
        }
        fclose(f);
}

/* Diagnosis only: what fdinfo says after "exp_name:". */
static void observe_exporter(int fd, char *out, size_t outlen)
{
        fdinfo_value(fd, "exp_name", out, outlen);
}

/* Finds a vgem card among /dev/dri/card0..7: its fd, or -1 (and why in why). */
static int open_vgem(char *why, size_t whylen, char *path_out, size_t pathlen)
{
        int i, seen = 0;

        snprintf(why, whylen, "no /dev/dri/card0..7 (CONFIG_DRM_VGEM, devtmpfs)");
        for (i = 0; i < 8; i++) {
                struct scn_drm_version v;
                char path[32], name[64], date[64], desc[128];
                int fd;

                snprintf(path, sizeof(path), "/dev/dri/card%d", i);
                fd = open(path, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        continue;
                seen++;
                memset(&v, 0, sizeof(v));
                memset(name, 0, sizeof(name));
                v.name = name;
                v.name_len = sizeof(name) - 1;
                v.date = date;
                v.date_len = sizeof(date) - 1;
                v.desc = desc;
                v.desc_len = sizeof(desc) - 1;
                if (ioctl(fd, SCN_DRM_IOCTL_VERSION, &v) == 0 && v.name_len < sizeof(name) &&
                    strncmp(name, "vgem", v.name_len) == 0 && v.name_len == 4) {
                        snprintf(path_out, pathlen, "%s", path);
                        return fd;
                }
                close(fd);
        }
        if (seen)
                snprintf(why, whylen, "none of the %d DRM cards in /dev/dri/card0..7 is vgem", seen);
        return -1;
}

/* ------------------------------------------------------------------------------ */
/* The world                                                                       */

enum { P_OWNER, P_PEER, P_MAPPER, P_DUPPER, P_FORKED, P_MAX };
static const char *const proc_comm[P_MAX] = {
        [P_OWNER] = "sc-owner",   [P_PEER] = "sc-peer",     [P_MAPPER] = "sc-mapper",
        [P_DUPPER] = "sc-dupper", [P_FORKED] = "sc-forked",
};

enum { K_SYSTEM, K_UDMABUF };

enum {
        B_UNNAMED, /* system 4 KiB, no name; owner fd */
        B_LONG,    /* system 64 KiB, 31-char name (32 refused); owner, peer (SCM), forked (fork) */
        B_QUOTE,   /* system 1 MiB, name with " and \; owner, peer (SCM) */
        B_UTF8,    /* udmabuf 2 MiB, UTF-8 name; mapper by mapping only */
        B_CTL,     /* udmabuf 12 KiB, name with \x01; owner map only, forked map (fork), peer fd */
        B_DUP,     /* system 256 KiB; dupper 2 fds + map, mapper fd */
        B_KONLY,   /* system 512 KiB; imported into vgem, no process holds it */
        B_THREE,   /* udmabuf 8 KiB; owner fd, mapper fd + map, forked fd */
        NBUF
};

#define NAME31 "0123456789abcdefghijklmnopqrstu"
#define NAME32 "0123456789abcdefghijklmnopqrstuv"

struct plan_buf {
        const char *key;        /* used in messages */
        int kind;
        uint64_t size;
        const char *probe_name; /* tried first; expected to be refused */
        const char *name;       /* then this one */
};

static const struct plan_buf plan[NBUF] = {
        [B_UNNAMED] = { "unnamed", K_SYSTEM, 4 * KIB, NULL, NULL },
        [B_LONG] = { "long-name", K_SYSTEM, 64 * KIB, NAME32, NAME31 },
        [B_QUOTE] = { "quote", K_SYSTEM, 1 * MIB, NULL, "say \"cheese\" C:\\dcim\\" },
        [B_UTF8] = { "utf8", K_UDMABUF, 2 * MIB, NULL, "cam\xc3\xa9ra-\xe9\xa2\x84\xe8\xa7\x88" },
        [B_CTL] = { "control-byte", K_UDMABUF, 12 * KIB, NULL, "ctl\x01" "byte" },
        [B_DUP] = { "dup", K_SYSTEM, 256 * KIB, NULL, "dup+map" },
        [B_KONLY] = { "kernel-only", K_SYSTEM, 512 * KIB, NULL, "kernel-only" },
        [B_THREE] = { "three-way", K_UDMABUF, 8 * KIB, NULL, "three-way" },
};

struct buf_state {
        int present;            /* created and part of the truth */
        int fd;                 /* the owner's fd, -1 once closed */
        void *owner_map;        /* the owner's mapping, if any */
        unsigned long long ino;
        const char *name;       /* the name the kernel accepted last, or NULL */
        char observed_exporter[64];
        int vgem;               /* imported into vgem */
        int fds[P_MAX];         /* fds each process holds */
        int maps[P_MAX];        /* mappings each process holds */
};

struct refused {
        const char *name;
        int err;
};

static struct world {
        char release[128];
        int version;
        pid_t pid[P_MAX];
        int sock[P_MAX];        /* owner's end of each holder's command socket */
        struct buf_state b[NBUF];
        struct refused refused[NBUF * 2];
        int nrefused;
        int vgem_fd;
        int vgem;
        char vgem_why[160];
        char vgem_path[32];
        int status_fd;          /* write end of the pipe to the `setup` parent */
} W;

static char errbuf[512];

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
        va_end(ap);
        return -1;
}

/* ------------------------------------------------------------------------------ */
/* Holder processes                                                                */

/*
 * A holder obeys commands sent over a SOCK_SEQPACKET socketpair. A command may carry
 * a dma-buf fd (SCM_RIGHTS). Each command gets one int32 reply: 0 or an errno.
 */
enum { OP_KEEP = 1, OP_MAP, OP_MAPKEEP, OP_DUP };

struct msg {
        int32_t op;
        int32_t buf;
        uint64_t size;
};

#define MAXFD 4

struct holder {
        int fd[NBUF][MAXFD];
        int nfd[NBUF];
        void *map[NBUF];
};

static volatile sig_atomic_t terminate;

static void on_term(int sig)
{
        (void)sig;
        terminate = 1;
}

/* SIGTERM and SIGINT are blocked except inside wait_for_events(), so no race is lost. */
static void setup_signals(void)
{
        struct sigaction sa;
        sigset_t set;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_term;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
}

static int wait_for_events(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
        struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
        sigset_t none;

        sigemptyset(&none);
        return ppoll(pfd, n, &ts, &none);
}

static int64_t max_lifetime_ms(void)
{
        const char *s = getenv("SCENARIO_MAX_SECONDS");
        unsigned long v;

        if (s && parse_ulong(s, 1, 7 * 24 * 3600, &v) == 0)
                return (int64_t)v * 1000;
        return (int64_t)DEFAULT_MAX_LIFETIME * 1000;
}

/* Closes every fd from 3 up except those listed. */
static void close_all_but(const int *keep, int nkeep)
{
        long max = sysconf(_SC_OPEN_MAX);
        int fd, i;

        if (max < 0 || max > 4096)
                max = 4096;
        for (fd = 3; fd < max; fd++) {
                for (i = 0; i < nkeep; i++)
                        if (keep[i] == fd)
                                break;
                if (i == nkeep)
                        close(fd);
        }
}

static int send_fd_msg(int sock, const void *data, size_t len, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = { (void *)data, len };
        struct msghdr mh;
        ssize_t n;

        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (fd >= 0) {
                struct cmsghdr *c;

                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -1;
        if ((size_t)n != len) {
                errno = EMSGSIZE;
                return -1;
        }
        return 0;
}

/* Receives one message and at most one fd (-1 if none). 0 on EOF, -1 on error, else bytes. */
static ssize_t recv_fd_msg(int sock, void *data, size_t len, int *ret_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int) * 4)];
                struct cmsghdr align;
        } u;
        struct iovec iov = { data, len };
        struct msghdr mh;
        struct cmsghdr *c;
        ssize_t n;

        *ret_fd = -1;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return n;
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        size_t i;
                        int fds[4];

                        memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
                        for (i = 0; i < nfds; i++) {
                                if (*ret_fd < 0)
                                        *ret_fd = fds[i];
                                else
                                        close(fds[i]);
                        }
                }
        }
        return n;
}

static int holder_do(struct holder *h, const struct msg *m, int fd)
{
        int b = m->buf;
        int err = 0;

        if (b < 0 || b >= NBUF) {
                err = EINVAL;
                goto out;
        }
        switch (m->op) {
        case OP_KEEP:
        case OP_MAP:
        case OP_MAPKEEP:
                if (fd < 0) {
                        err = EBADF;
                        break;
                }
                if (m->op != OP_KEEP) {
                        void *p;

                        if (h->map[b]) {
                                err = EEXIST;
                                break;
                        }
                        p = mmap(NULL, (size_t)m->size, PROT_READ, MAP_SHARED, fd, 0);
                        if (p == MAP_FAILED) {
                                err = errno;
                                break;
                        }
                        h->map[b] = p;
                }
                if (m->op == OP_MAP)
                        break; /* the fd is closed below: the buffer is held by mapping only */
                if (h->nfd[b] >= MAXFD) {
                        err = EMFILE;
                        break;
                }
                h->fd[b][h->nfd[b]++] = fd;
                fd = -1;
                break;
        case OP_DUP: {
                int d;

                if (h->nfd[b] < 1 || h->nfd[b] >= MAXFD) {
                        err = EBADF;
                        break;
                }
                d = fcntl(h->fd[b][0], F_DUPFD_CLOEXEC, 3);
                if (d < 0) {
                        err = errno;
                        break;
                }
                h->fd[b][h->nfd[b]++] = d;
                break;
        }
        default:
                err = EINVAL;
        }
out:
        if (fd >= 0)
                close(fd);
        return err;
}

/* The holder's life: obey commands until SIGTERM, the owner's end closing, or the lifetime bound. */
static void __attribute__((noreturn)) holder_run(int sock, struct holder *h)
{
        int64_t deadline = now_ms() + max_lifetime_ms();

        while (!terminate && now_ms() < deadline) {
                struct pollfd pfd = { sock, POLLIN, 0 };
                struct msg m;
                int32_t reply;
                ssize_t n;
                int fd;

                if (wait_for_events(&pfd, 1, 1000) <= 0)
                        continue;
                n = recv_fd_msg(sock, &m, sizeof(m), &fd);
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        break; /* the owner is gone: so is the world */
                if (n != (ssize_t)sizeof(m)) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                reply = holder_do(h, &m, fd);
                if (send_fd_msg(sock, &reply, sizeof(reply), -1) < 0)
                        break;
        }
        _exit(0);
}

/* Forks a holder that exists before any buffer does; it gets everything by SCM_RIGHTS. */
static int spawn_holder(int p)
{
        int sv[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return fail("socketpair for %s: %s", proc_comm[p], strerror(errno));
        pid = fork();
        if (pid < 0)
                return fail("fork %s: %s", proc_comm[p], strerror(errno));
        if (pid == 0) {
                static struct holder h;
                int keep[1] = { sv[1] };

                set_comm(proc_comm[p]);
                close_all_but(keep, 1);
                memset(&h, 0, sizeof(h));
                holder_run(sv[1], &h);
        }
        close(sv[1]);
        W.pid[p] = pid;
        W.sock[p] = sv[0];
        return 0;
}

/* Waits for one int32 reply from holder p: the errno it reports, or -1 (errbuf set). */
static int read_reply(int p, const char *what)
{
        struct pollfd pfd = { W.sock[p], POLLIN, 0 };
        int32_t reply;
        ssize_t n;
        int fd, r;

        do
                r = poll(&pfd, 1, REPLY_TIMEOUT_MS);
        while (r < 0 && errno == EINTR);
        if (r == 0)
                return fail("%s: %s did not answer within %d s", what, proc_comm[p], REPLY_TIMEOUT_MS / 1000);
        if (r < 0)
                return fail("%s: poll: %s", what, strerror(errno));
        n = recv_fd_msg(W.sock[p], &reply, sizeof(reply), &fd);
        if (fd >= 0)
                close(fd);
        if (n != (ssize_t)sizeof(reply))
                return fail("%s: %s died or sent garbage", what, proc_comm[p]);
        return reply;
}

/* Sends buffer b (the owner's fd) to holder p with the given op, and records the result. */
static int give(int p, int op, int b)
{
        struct msg m = { op, b, plan[b].size };
        char what[96];
        int r;

        snprintf(what, sizeof(what), "giving buffer %s to %s", plan[b].key, proc_comm[p]);
        if (send_fd_msg(W.sock[p], &m, sizeof(m), op == OP_DUP ? -1 : W.b[b].fd) < 0)
                return fail("%s: sendmsg: %s", what, strerror(errno));
        r = read_reply(p, what);
        if (r < 0)
                return -1;
        if (r > 0)
                return fail("%s (op %d): %s", what, op, strerror(r));
        switch (op) {
        case OP_KEEP:
                W.b[b].fds[p]++;
                break;
        case OP_MAP:
                W.b[b].maps[p]++;
                break;
        case OP_MAPKEEP:
                W.b[b].fds[p]++;
                W.b[b].maps[p]++;
                break;
        case OP_DUP:
                W.b[b].fds[p]++;
                break;
        }
        return 0;
}

static void owner_close(int b)
{
        if (W.b[b].fd >= 0) {
                close(W.b[b].fd);
                W.b[b].fd = -1;
                W.b[b].fds[P_OWNER]--;
        }
}

static int owner_map(int b)
{
        void *p = mmap(NULL, (size_t)plan[b].size, PROT_READ, MAP_SHARED, W.b[b].fd, 0);

        if (p == MAP_FAILED)
                return fail("mmap of buffer %s (%s) in %s: %s", plan[b].key,
                            plan[b].kind == K_SYSTEM ? HEAP_PATH : UDMABUF_PATH, proc_comm[P_OWNER],
                            strerror(errno));
        W.b[b].owner_map = p;
        W.b[b].maps[P_OWNER]++;
        return 0;
}

/*
 * Forks sc-forked from the owner: it inherits every fd and mapping the owner has, then
 * drops the fds it is not meant to hold. It keeps every inherited mapping.
 */
static int spawn_forked(const int *keep_bufs, int nkeep)
{
        int sv[2], i, b;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return fail("socketpair for %s: %s", proc_comm[P_FORKED], strerror(errno));
        pid = fork();
        if (pid < 0)
                return fail("fork %s: %s", proc_comm[P_FORKED], strerror(errno));
        if (pid == 0) {
                static struct holder h;
                int keep[NBUF + 1], n = 0;
                int32_t ok = 0;

                set_comm(proc_comm[P_FORKED]);
                memset(&h, 0, sizeof(h));
                keep[n++] = sv[1];
                for (i = 0; i < nkeep; i++) {
                        b = keep_bufs[i];
                        keep[n++] = W.b[b].fd;
                        h.fd[b][h.nfd[b]++] = W.b[b].fd;
                }
                for (b = 0; b < NBUF; b++)
                        h.map[b] = W.b[b].owner_map;
                close_all_but(keep, n);
                if (send_fd_msg(sv[1], &ok, sizeof(ok), -1) < 0)
                        _exit(1);
                holder_run(sv[1], &h);
        }
        close(sv[1]);
        W.pid[P_FORKED] = pid;
        W.sock[P_FORKED] = sv[0];
        if (read_reply(P_FORKED, "starting sc-forked") != 0)
                return -1;
        for (i = 0; i < nkeep; i++)
                W.b[keep_bufs[i]].fds[P_FORKED]++;
        for (b = 0; b < NBUF; b++)
                if (W.b[b].owner_map)
                        W.b[b].maps[P_FORKED]++;
        return 0;
}

static int create_buffers(void)
{
        int heap_fd, udma_fd, b;

        heap_fd = open(HEAP_PATH, O_RDWR | O_CLOEXEC);
        if (heap_fd < 0)
                return fail("cannot open %s: %s (needs CONFIG_DMABUF_HEAPS_SYSTEM and devtmpfs)", HEAP_PATH,
                            strerror(errno));
        udma_fd = open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
        if (udma_fd < 0) {
                int e = errno;

                close(heap_fd);
                return fail("cannot open %s: %s (needs CONFIG_UDMABUF and devtmpfs)", UDMABUF_PATH, strerror(e));
        }
        for (b = 0; b < NBUF; b++) {
                struct buf_state *s = &W.b[b];
                const struct plan_buf *pl = &plan[b];
                struct stat st;
                int fd, r;

                if (pl->kind == K_SYSTEM)
                        fd = heap_alloc(heap_fd, pl->size);
                else
                        fd = udmabuf_alloc(udma_fd, pl->size);
                if (fd < 0) {
                        int e = errno;

                        close(heap_fd);
                        close(udma_fd);
                        return fail("allocating %" PRIu64 " bytes (buffer %s) from %s: %s", pl->size, pl->key,
                                    pl->kind == K_SYSTEM ? HEAP_PATH : UDMABUF_PATH, strerror(e));
                }
                s->present = 1;
                s->fd = fd;
                s->fds[P_OWNER] = 1;
                if (fstat(fd, &st) < 0)
                        return fail("fstat of buffer %s: %s", pl->key, strerror(errno));
                s->ino = (unsigned long long)st.st_ino;
                observe_exporter(fd, s->observed_exporter, sizeof(s->observed_exporter));
                if (pl->probe_name) {
                        r = set_name(fd, pl->probe_name);
                        if (r) {
                                W.refused[W.nrefused].name = pl->probe_name;
                                W.refused[W.nrefused++].err = r;
                        } else {
                                s->name = pl->probe_name;
                                fprintf(stderr, "scenario: the kernel accepted the %zu-byte name \"%s\"\n",
                                        strlen(pl->probe_name), pl->probe_name);
                        }
                }
                if (pl->name) {
                        r = set_name(fd, pl->name);
                        if (r) {
                                W.refused[W.nrefused].name = pl->name;
                                W.refused[W.nrefused++].err = r;
                        } else {
                                s->name = pl->name;
                        }
                }
        }
        close(heap_fd);
        close(udma_fd);
        return 0;
}

/* Imports the kernel-only buffer into vgem and closes the owner's fd: only the kernel holds it. */
static int make_kernel_only(void)
{
        struct scn_drm_prime_handle ph;
        int b = B_KONLY;

        W.vgem_fd = open_vgem(W.vgem_why, sizeof(W.vgem_why), W.vgem_path, sizeof(W.vgem_path));
        if (W.vgem_fd >= 0) {
                memset(&ph, 0, sizeof(ph));
                ph.fd = W.b[b].fd;
                if (ioctl(W.vgem_fd, SCN_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph) == 0) {
                        W.vgem = 1;
                        W.b[b].vgem = 1;
                        W.vgem_why[0] = '\0';
                } else {
                        snprintf(W.vgem_why, sizeof(W.vgem_why), "DRM_IOCTL_PRIME_FD_TO_HANDLE on %s: %s",
                                 W.vgem_path, strerror(errno));
                        close(W.vgem_fd);
                        W.vgem_fd = -1;
                }
        }
        if (!W.vgem) {
                /* Without vgem, closing the fd frees the buffer: it leaves the truth. */
                fprintf(stderr, "scenario: no kernel-only buffer: %s\n", W.vgem_why);
                W.b[b].present = 0;
        }
        owner_close(b);
        return 0;
}

static int build_world(void)
{
        static const int forked_keeps[] = { B_LONG, B_THREE };
        int p;

        W.vgem_fd = -1;
        for (p = 0; p < P_MAX; p++)
                W.sock[p] = -1;
        /* The holders that get buffers by SCM_RIGHTS exist before any buffer does. */
        if (spawn_holder(P_PEER) < 0 || spawn_holder(P_MAPPER) < 0 || spawn_holder(P_DUPPER) < 0)
                return -1;
        if (create_buffers() < 0)
                return -1;

        if (give(P_PEER, OP_KEEP, B_LONG) < 0 || give(P_PEER, OP_KEEP, B_QUOTE) < 0 ||
            give(P_PEER, OP_KEEP, B_CTL) < 0 || give(P_MAPPER, OP_MAP, B_UTF8) < 0 ||
            give(P_MAPPER, OP_MAPKEEP, B_THREE) < 0 || give(P_MAPPER, OP_KEEP, B_DUP) < 0 ||
            give(P_DUPPER, OP_MAPKEEP, B_DUP) < 0 || give(P_DUPPER, OP_DUP, B_DUP) < 0)
                return -1;

        /* The owner holds the control-byte buffer by mapping only. */
        if (owner_map(B_CTL) < 0)
                return -1;
        owner_close(B_CTL);
        owner_close(B_UTF8);
        owner_close(B_DUP);

        if (make_kernel_only() < 0)
                return -1;

        /* Owner now: fds unnamed, long-name, quote, three-way; mapping control-byte. */
        return spawn_forked(forked_keeps, (int)(sizeof(forked_keeps) / sizeof(forked_keeps[0])));
}

static void kill_holders(int sig)
{
        int p;

        for (p = 1; p < P_MAX; p++)
                if (W.pid[p] > 0)
                        kill(W.pid[p], sig);
}

/* Reaps the holders (the owner's children), waiting at most timeout_ms. */
static void reap_holders(int timeout_ms)
{
        int64_t deadline = now_ms() + timeout_ms;
        int p, left;

        do {
                left = 0;
                for (p = 1; p < P_MAX; p++) {
                        if (W.pid[p] <= 0)
                                continue;
                        if (waitpid(W.pid[p], NULL, WNOHANG) == 0)
                                left++;
                        else
                                W.pid[p] = 0;
                }
                if (left)
                        sleep_ms(20);
        } while (left && now_ms() < deadline);
        if (left) {
                kill_holders(SIGKILL);
                for (p = 1; p < P_MAX; p++)
                        if (W.pid[p] > 0)
                                waitpid(W.pid[p], NULL, 0);
        }
}

/* ------------------------------------------------------------------------------ */
/* The truth                                                                       */

static void json_str(FILE *f, const char *s)
{
        const unsigned char *p;

        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f); /* UTF-8 passes through */
        }
        fputc('"', f);
}

static const char *exporter_of(int b)
{
        return plan[b].kind == K_UDMABUF ? "udmabuf" : expected_system_exporter(W.version);
}

static int holders_of(int b)
{
        int p, n = 0;

        for (p = 0; p < P_MAX; p++)
                if (W.b[b].fds[p] > 0 || W.b[b].maps[p] > 0)
                        n++;
        return n;
}

static int holds(int p, int b)
{
        return W.b[b].present && (W.b[b].fds[p] > 0 || W.b[b].maps[p] > 0);
}

static int cmp_ull(const void *a, const void *b)
{
        unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

        return x < y ? -1 : x > y;
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;

        return x < y ? -1 : x > y;
}

/* Process indices sorted by pid, so that every "holders" list comes out sorted. */
static void procs_by_pid(int order[P_MAX])
{
        int i, j;

        for (i = 0; i < P_MAX; i++)
                order[i] = i;
        for (i = 1; i < P_MAX; i++)
                for (j = i; j > 0 && W.pid[order[j - 1]] > W.pid[order[j]]; j--) {
                        int t = order[j];

                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
}

static void write_truth_to(FILE *f)
{
        uint64_t total = 0, user = 0;
        int order[P_MAX], nbuf = 0, b, i, p, first, firstbuf = 1;

        procs_by_pid(order);
        fputs("{\"kernel\":", f);
        json_str(f, W.release);
        fprintf(f, ",\n \"vgem\":%s,\n \"vgem_error\":", W.vgem ? "true" : "false");
        json_str(f, W.vgem ? NULL : W.vgem_why);
        fputs(",\n \"buffers\":[", f);
        for (b = 0; b < NBUF; b++) {
                struct buf_state *s = &W.b[b];
                int n = holders_of(b);

                if (!s->present)
                        continue;
                nbuf++;
                total += plan[b].size;
                if (n > 0)
                        user += plan[b].size;
                fprintf(f, "%s\n  {\"inode\":%llu,\"size\":%" PRIu64 ",\"exporter\":", firstbuf ? "" : ",", s->ino,
                        plan[b].size);
                json_str(f, exporter_of(b));
                fputs(",\"observed_exporter\":", f);
                json_str(f, s->observed_exporter[0] ? s->observed_exporter : NULL);
                fputs(",\"name\":", f);
                json_str(f, s->name);
                fputs(",\"holders\":[", f);
                for (i = 0, first = 1; i < P_MAX; i++) {
                        p = order[i];
                        if (holds(p, b)) {
                                fprintf(f, "%s%d", first ? "" : ",", (int)W.pid[p]);
                                first = 0;
                        }
                }
                fprintf(f, "],\"kernel_only\":%s,\"attached\":[%s],\"refs\":[", n == 0 ? "true" : "false",
                        s->vgem ? "\"vgem\"" : "");
                for (i = 0, first = 1; i < P_MAX; i++) {
                        p = order[i];
                        if (holds(p, b)) {
                                fprintf(f, "%s{\"pid\":%d,\"comm\":\"%s\",\"fds\":%d,\"maps\":%d}", first ? "" : ",",
                                        (int)W.pid[p], proc_comm[p], s->fds[p], s->maps[p]);
                                first = 0;
                        }
                }
                fputs("]}", f);
                firstbuf = 0;
        }
        fputs("],\n \"processes\":[", f);
        for (i = 0, first = 1; i < P_MAX; i++) {
                unsigned long long inos[NBUF];
                uint64_t rss = 0, pss = 0;
                int k = 0, j;

                p = order[i];
                for (b = 0; b < NBUF; b++) {
                        if (!holds(p, b))
                                continue;
                        inos[k++] = W.b[b].ino;
                        rss += plan[b].size;
                        pss += plan[b].size / (uint64_t)holders_of(b);
                }
                qsort(inos, (size_t)k, sizeof(inos[0]), cmp_ull);
                fprintf(f, "%s\n  {\"pid\":%d,\"comm\":\"%s\",\"rss_bytes\":%" PRIu64 ",\"pss_bytes\":%" PRIu64
                        ",\"buffers\":[",
                        first ? "" : ",", (int)W.pid[p], proc_comm[p], rss, pss);
                for (j = 0; j < k; j++)
                        fprintf(f, "%s%llu", j ? "," : "", inos[j]);
                fputs("]}", f);
                first = 0;
        }
        fprintf(f,
                "],\n \"totals\":{\"buffers\":%d,\"bytes\":%" PRIu64 ",\"userspace_bytes\":%" PRIu64
                ",\"kernel_only_bytes\":%" PRIu64 "},\n \"names_refused\":[",
                nbuf, total, user, total - user);
        for (i = 0; i < W.nrefused; i++) {
                fputs(i ? ",{\"name\":" : "{\"name\":", f);
                json_str(f, W.refused[i].name);
                fprintf(f, ",\"errno\":%d}", W.refused[i].err);
        }
        fputs("]}\n", f);
}

static int write_truth(const char *path)
{
        char tmp[PATH_MAX];
        FILE *f;
        int fd;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
                return fail("%s: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
                if (fd >= 0)
                        close(fd);
                return fail("%s: %s", tmp, strerror(errno));
        }
        write_truth_to(f);
        if (ferror(f) | fclose(f))
                return fail("%s: write error", tmp);
        if (rename(tmp, path) < 0)
                return fail("%s: %s", path, strerror(errno));
        return 0;
}

static int write_pids(void)
{
        FILE *f = fopen(PIDS_PATH, "we");
        int p;

        if (!f)
                return fail("%s: %s", PIDS_PATH, strerror(errno));
        for (p = 0; p < P_MAX; p++)
                fprintf(f, "%d\n", (int)W.pid[p]);
        if (ferror(f) | fclose(f))
                return fail("%s: write error", PIDS_PATH);
        return 0;
}

/* ------------------------------------------------------------------------------ */
/* Commands                                                                        */

/* Stdio of the background world: nothing of the caller's, so `$(scenario setup X)` returns. */
static void detach_stdio(void)
{
        int in = open("/dev/null", O_RDWR | O_CLOEXEC);
        int log = open(LOG_PATH, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

        if (in < 0)
                in = log;
        if (log < 0)
                log = in;
        if (in >= 0) {
                dup2(in, 0);
                dup2(in, 1);
        }
        if (log >= 0)
                dup2(log, 2);
        if (in > 2)
                close(in);
        if (log > 2 && log != in)
                close(log);
}

static void __attribute__((noreturn)) owner_main(const char *outfile)
{
        int64_t deadline;
        struct utsname u;
        char status = 'R';

        int keep[1] = { W.status_fd };

        setsid();
        set_comm(proc_comm[P_OWNER]);
        /* Whatever the caller left open is none of the world's business. */
        close_all_but(keep, 1);
        detach_stdio();
        setup_signals();
        W.pid[P_OWNER] = getpid();
        if (uname(&u) == 0)
                snprintf(W.release, sizeof(W.release), "%s", u.release);
        W.version = kernel_version(W.release);

        if (build_world() < 0 || write_pids() < 0 || write_truth(outfile) < 0) {
                char msg[sizeof(errbuf) + 1];
                int n = snprintf(msg, sizeof(msg), "E%s", errbuf);

                fprintf(stderr, "scenario: setup failed: %s\n", errbuf);
                write_all(W.status_fd, msg, (size_t)n);
                kill_holders(SIGKILL);
                reap_holders(2000);
                unlink(PIDS_PATH);
                _exit(1);
        }
        write_all(W.status_fd, &status, 1);
        close(W.status_fd);
        W.status_fd = -1;

        deadline = now_ms() + max_lifetime_ms();
        while (!terminate && now_ms() < deadline)
                wait_for_events(NULL, 0, 1000);
        kill_holders(SIGTERM);
        reap_holders(5000);
        _exit(0);
}

/* A holder is gone when it no longer exists or is a zombie. */
static int pid_gone(pid_t pid)
{
        char path[64], buf[512], *p;
        ssize_t n;
        int fd;

        if (kill(pid, 0) < 0 && errno == ESRCH)
                return 1;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        return p && (p[2] == 'Z' || p[2] == 'X');
}

/* Only signal a pid that still is one of ours (comm "sc-..."): pids get reused. */
static int is_ours(pid_t pid)
{
        char path[64], comm[32];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, comm, sizeof(comm) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        comm[n] = '\0';
        return strncmp(comm, "sc-", 3) == 0;
}

/* Reads the pids file: how many pids, or -1 with errno set. */
static int read_pids(pid_t *pids, int max)
{
        char line[64];
        int n = 0;
        FILE *f = fopen(PIDS_PATH, "re");

        if (!f)
                return -1;
        while (n < max && fgets(line, sizeof(line), f)) {
                unsigned long v;

                line[strcspn(line, "\n")] = '\0';
                if (parse_ulong(line, 2, INT_MAX, &v) == 0)
                        pids[n++] = (pid_t)v;
        }
        fclose(f);
        return n;
}

static int check_device(const char *path, const char *config)
{
        int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "scenario: cannot open %s: %s (needs %s and devtmpfs mounted on /dev)\n", path,
                        strerror(errno), config);
                return -1;
        }
        close(fd);
        return 0;
}

static int cmd_setup(const char *outfile)
{
        char msg[600];
        struct pollfd pfd;
        size_t got = 0;
        int64_t deadline;
        int pfds[2], status, n, i;
        pid_t pid, old[64];

        /* A world that is still up would make this one's truth wrong. */
        n = read_pids(old, (int)(sizeof(old) / sizeof(old[0])));
        for (i = 0; i < n; i++) {
                if (!pid_gone(old[i]) && is_ours(old[i])) {
                        fprintf(stderr, "scenario: setup: a world is still up (pid %d in %s): run scenario teardown\n",
                                (int)old[i], PIDS_PATH);
                        return 1;
                }
        }
        if (check_device(HEAP_PATH, "CONFIG_DMABUF_HEAPS_SYSTEM") < 0 ||
            check_device(UDMABUF_PATH, "CONFIG_UDMABUF") < 0)
                return 1;
        if (pipe2(pfds, O_CLOEXEC) < 0) {
                fprintf(stderr, "scenario: pipe: %s\n", strerror(errno));
                return 1;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "scenario: fork: %s\n", strerror(errno));
                return 1;
        }
        if (pid == 0) {
                close(pfds[0]);
                W.status_fd = pfds[1];
                owner_main(outfile);
        }
        close(pfds[1]);

        /* Wait for 'R' (ready) or 'E<message>' from the owner, or its death, bounded. */
        deadline = now_ms() + SETUP_TIMEOUT_MS;
        pfd.fd = pfds[0];
        pfd.events = POLLIN;
        while (got < sizeof(msg) - 1) {
                int64_t left = deadline - now_ms();
                ssize_t n;
                int r;

                if (left <= 0)
                        break;
                r = poll(&pfd, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                n = read(pfds[0], msg + got, sizeof(msg) - 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
                if (msg[0] == 'R')
                        break;
        }
        msg[got] = '\0';
        close(pfds[0]);
        if (got > 0 && msg[0] == 'R') {
                printf("SCENARIO READY\n");
                fflush(stdout);
                return 0;
        }
        if (got > 0 && msg[0] == 'E') {
                fprintf(stderr, "scenario: setup: %s\n", msg + 1);
        } else {
                fprintf(stderr, "scenario: setup: the world did not get ready within %d s (see %s)\n",
                        SETUP_TIMEOUT_MS / 1000, LOG_PATH);
                kill(-pid, SIGKILL); /* the owner's session: the owner and its holders */
                kill(pid, SIGKILL);
        }
        /* The owner exits right after reporting an error; do not wait forever anyway. */
        for (deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(20))
                if (waitpid(pid, &status, WNOHANG) != 0)
                        break;
        return 1;
}

static int cmd_teardown(void)
{
        pid_t pids[64];
        int n, i, left;
        int64_t deadline;

        n = read_pids(pids, (int)(sizeof(pids) / sizeof(pids[0])));
        if (n < 0) {
                if (errno == ENOENT) {
                        fprintf(stderr, "scenario: teardown: no %s, nothing to tear down\n", PIDS_PATH);
                        return 0;
                }
                fprintf(stderr, "scenario: teardown: %s: %s\n", PIDS_PATH, strerror(errno));
                return 1;
        }
        qsort(pids, (size_t)n, sizeof(pids[0]), cmp_int);
        for (i = 0; i < n; i++) {
                if (!pid_gone(pids[i]) && is_ours(pids[i]))
                        kill(pids[i], SIGTERM);
                else
                        pids[i] = 0;
        }
        deadline = now_ms() + 10000;
        do {
                left = 0;
                for (i = 0; i < n; i++) {
                        if (pids[i] && pid_gone(pids[i]))
                                pids[i] = 0;
                        if (pids[i])
                                left++;
                }
                if (left)
                        sleep_ms(50);
        } while (left && now_ms() < deadline);
        if (left) {
                for (i = 0; i < n; i++)
                        if (pids[i]) {
                                fprintf(stderr, "scenario: teardown: pid %d ignored SIGTERM for 10 s, killing\n",
                                        (int)pids[i]);
                                kill(pids[i], SIGKILL);
                        }
                return 1;
        }
        unlink(PIDS_PATH);
        printf("SCENARIO DOWN\n");
        return 0;
}

static int cmd_oomhog(int argc, char **argv)
{
        const char *wait_file = NULL;
        unsigned long hold_mib = 1, step;
        unsigned long long ino;
        struct stat st;
        int i, heap_fd, fd, r, fails = 0;

        for (i = 0; i < argc; i++) {
                if (strcmp(argv[i], "--wait-file") == 0 && i + 1 < argc)
                        wait_file = argv[++i];
                else if (parse_ulong(argv[i], 1, 1024, &hold_mib) < 0) {
                        fprintf(stderr, "scenario: oomhog: bad argument '%s' (MIB_HOLD is 1..1024)\n", argv[i]);
                        return 2;
                }
        }
        set_comm("oomhog");
        heap_fd = open(HEAP_PATH, O_RDWR | O_CLOEXEC);
        if (heap_fd < 0) {
                fprintf(stderr, "scenario: oomhog: cannot open %s: %s (needs CONFIG_DMABUF_HEAPS_SYSTEM)\n",
                        HEAP_PATH, strerror(errno));
                return 1;
        }
        fd = heap_alloc(heap_fd, hold_mib * MIB);
        if (fd < 0) {
                fprintf(stderr, "scenario: oomhog: allocating %lu MiB from %s: %s\n", hold_mib, HEAP_PATH,
                        strerror(errno));
                return 1;
        }
        close(heap_fd);
        r = set_name(fd, "oom-victim");
        if (r) {
                fprintf(stderr, "scenario: oomhog: DMA_BUF_SET_NAME \"oom-victim\": %s\n", strerror(r));
                return 1;
        }
        if (fstat(fd, &st) < 0) {
                fprintf(stderr, "scenario: oomhog: fstat: %s\n", strerror(errno));
                return 1;
        }
        ino = (unsigned long long)st.st_ino;
        prefer_oom_victim();
        printf("OOMHOG READY pid=%d inode=%llu\n", (int)getpid(), ino);
        fflush(stdout);

        if (wait_file) {
                for (i = 0; i < 600 && access(wait_file, F_OK) < 0; i++)
                        sleep_ms(100);
                if (access(wait_file, F_OK) < 0) {
                        fprintf(stderr, "scenario: oomhog: %s did not appear within 60 s, not eating memory\n",
                                wait_file);
                        return 1;
                }
        }
        /* Eat anonymous memory 1 MiB at a time until the kernel kills us (bounded: 1 TiB). */
        for (step = 0; step < 1024UL * 1024UL && fails < 1000;) {
                char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                size_t off;

                if (p == MAP_FAILED) {
                        fails++;
                        sleep_ms(10);
                        continue;
                }
                for (off = 0; off < MIB; off += 4096)
                        p[off] = 1;
                step++;
        }
        fprintf(stderr, "scenario: oomhog: still alive after %lu MiB (%d mmap failures)\n", step, fails);
        return 1;
}

/* Reads "Key:  N kB" from /proc/meminfo, in bytes; 0 when absent. */
static uint64_t meminfo(const char *key)
{
        char line[128];
        size_t klen = strlen(key);
        uint64_t v = 0;
        FILE *f = fopen("/proc/meminfo", "re");

        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long kb;

                if (strncmp(line, key, klen) == 0 && line[klen] == ':' &&
                    sscanf(line + klen + 1, "%llu", &kb) == 1) {
                        v = (uint64_t)kb * 1024;
                        break;
                }
        }
        fclose(f);
        return v;
}

#define CGROUP_ROOT "/sys/fs/cgroup"
#define OWN_CGROUP CGROUP_ROOT "/sc-pressure"

/* Our cgroup v2 directory under CGROUP_ROOT ("" for the root group); -1 when unknown. */
static int own_cgroup(char *out, size_t outlen)
{
        char line[512];
        int r = -1;
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "0::", 3) == 0) {
                        line[strcspn(line, "\n")] = '\0';
                        snprintf(out, outlen, "%s", strcmp(line + 3, "/") == 0 ? "" : line + 3);
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

/* A cgroup limit file of our own group: 0 when "max", absent or unknown. */
static uint64_t cgroup_limit(const char *file)
{
        char dir[512], path[700], val[64];
        unsigned long long n;
        uint64_t v = 0;
        FILE *f;

        if (own_cgroup(dir, sizeof(dir)) < 0)
                return 0;
        snprintf(path, sizeof(path), CGROUP_ROOT "%s/%s", dir, file);
        f = fopen(path, "re");
        if (!f)
                return 0;
        if (fgets(val, sizeof(val), f) && sscanf(val, "%llu", &n) == 1)
                v = n;
        fclose(f);
        return v;
}

static int write_str(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -1;
        r = write_all(fd, s, strlen(s));
        close(fd);
        return r;
}

/*
 * When we sit in the root group of a cgroup v2 hierarchy with the memory controller,
 * make our own child group with memory.high and move into it: 0 when done.
 */
static int enter_own_cgroup(uint64_t high)
{
        char dir[512], buf[256], num[32];
        ssize_t n;
        int fd;

        if (own_cgroup(dir, sizeof(dir)) < 0 || dir[0])
                return -1;
        fd = open(CGROUP_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        if (!strstr(buf, "memory"))
                return -1;
        write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
        if (mkdir(OWN_CGROUP, 0755) < 0 && errno != EEXIST)
                return -1;
        snprintf(num, sizeof(num), "%" PRIu64, high);
        if (write_str(OWN_CGROUP "/memory.high", num) < 0 || write_str(OWN_CGROUP "/cgroup.procs", "0") < 0) {
                rmdir(OWN_CGROUP);
                return -1;
        }
        return 0;
}

static void leave_own_cgroup(void)
{
        write_str(CGROUP_ROOT "/cgroup.procs", "0");
        rmdir(OWN_CGROUP);
}

static int map_chunk(char **slot)
{
        char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        size_t off;

        if (p == MAP_FAILED)
                return -1;
        for (off = 0; off < MIB; off += 4096)
                p[off] = (char)(off >> 12);
        *slot = p;
        return 0;
}

#define MAX_CHUNKS 65536

static int cmd_pressure(int argc, char **argv)
{
        static char *chunks[MAX_CHUNKS];
        unsigned long seconds, mib = 0;
        uint64_t high, max, total, floor_bytes = 0, target;
        unsigned long n = 0, peak = 0, churned = 0, next = 0;
        const char *mode;
        int64_t deadline;
        int own = 0;

        if (argc < 1 || argc > 2 || parse_ulong(argv[0], 1, 3600, &seconds) < 0 ||
            (argc == 2 && parse_ulong(argv[1], 1, MAX_CHUNKS - 1, &mib) < 0)) {
                fprintf(stderr, "scenario: pressure: usage: scenario pressure SECONDS(1..3600) [MIB]\n");
                return 2;
        }
        set_comm("sc-pressure");
        /* If the sizing is wrong, let the OOM killer take us and not the holders. */
        prefer_oom_victim();
        total = meminfo("MemTotal");
        high = cgroup_limit("memory.high");
        if (!mib && !high) {
                uint64_t want = meminfo("MemAvailable") / 4;

                want = want < 16 * MIB ? 16 * MIB : want > 64 * MIB ? 64 * MIB : want;
                if (enter_own_cgroup(want) == 0) {
                        own = 1;
                        high = cgroup_limit("memory.high");
                }
        }
        max = cgroup_limit("memory.max");
        if (mib) {
                mode = "fixed";
                target = mib * MIB;
        } else if (high) {
                /* Past memory.high the kernel reclaims and throttles us (PSI rises) but never OOM-kills. */
                mode = own ? "own-cgroup" : "cgroup";
                target = high + (high / 4 > 4 * MIB ? high / 4 : 4 * MIB);
                if (max && target + 4 * MIB > max)
                        target = max > high + 8 * MIB ? max - 4 * MIB : high + MIB;
        } else {
                /*
                 * Without swap, anonymous memory past MemAvailable cannot be reclaimed: the
                 * kernel would OOM-kill. So fill up to a floor above the watermarks and then
                 * churn (free and refault 1 MiB at a time). Best effort: little PSI.
                 */
                mode = "global";
                floor_bytes = total / 16 > 8 * MIB ? total / 16 : 8 * MIB;
                target = (uint64_t)MAX_CHUNKS * MIB;
        }
        if (floor_bytes)
                printf("PRESSURE START mode=%s floor_mib=%" PRIu64 " seconds=%lu\n", mode, floor_bytes / MIB,
                       seconds);
        else {
                char maxs[32] = "max";

                if (max)
                        snprintf(maxs, sizeof(maxs), "%" PRIu64, max);
                printf("PRESSURE START mode=%s target_mib=%" PRIu64 " seconds=%lu memory.high=%" PRIu64
                       " memory.max=%s\n",
                       mode, target / MIB, seconds, high, maxs);
        }
        fflush(stdout);

        deadline = now_ms() + (int64_t)seconds * 1000;
        while (now_ms() < deadline) {
                int grow = (uint64_t)n * MIB < target && n < MAX_CHUNKS;

                if (floor_bytes) {
                        uint64_t avail = meminfo("MemAvailable");

                        if (avail < floor_bytes / 2 && n > 0) {
                                munmap(chunks[--n], MIB);
                                continue;
                        }
                        grow = grow && avail > floor_bytes;
                }
                if (grow) {
                        if (map_chunk(&chunks[n]) == 0)
                                n++;
                        else
                                sleep_ms(10);
                        if (n > peak)
                                peak = n;
                        continue;
                }
                if (n == 0) {
                        sleep_ms(10);
                        continue;
                }
                /* At the target: free one chunk and fault a fresh one in, round robin. */
                next %= n;
                munmap(chunks[next], MIB);
                if (map_chunk(&chunks[next]) < 0) {
                        chunks[next] = chunks[--n];
                        sleep_ms(10);
                }
                next++;
                churned++;
        }
        while (n > 0)
                munmap(chunks[--n], MIB);
        if (own)
                leave_own_cgroup();
        printf("PRESSURE DONE seconds=%lu peak_mib=%lu churned_mib=%lu\n", seconds, peak, churned);
        fflush(stdout);
        return 0;
}

/* ------------------------------------------------------------------------------ */
/* attach: the attachment probe                                                     */

#define SYSFS_BUFFERS "/sys/kernel/dmabuf/buffers"
#define PROBE_SIZE (64 * KIB)
#define PROBE_NAME "attach-probe"
/* How long the probe waits for the harness to look, and for the kernel to tidy up. */
#define PROBE_WAIT_MS 60000
#define PROBE_SETTLE_MS 2000

/* Reads a small sysfs/procfs file without its trailing newline; -1 if it cannot. */
static int read_small(const char *path, char *out, size_t outlen)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = read(fd, out, outlen - 1);
        close(fd);
        if (n < 0)
                return -1;
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\0'))
                n--;
        out[n] = '\0';
        return 0;
}

/* The "ino:" line of our own fdinfo: the inode, or -1 when the kernel prints none (before 5.14). */
static long long fdinfo_ino(int fd)
{
        char v[32], *end;
        long long ino;

        fdinfo_value(fd, "ino", v, sizeof(v));
        errno = 0;
        ino = strtoll(v, &end, 10);
        return v[0] && !*end && !errno && ino >= 0 ? ino : -1;
}

/* The number of entries of the buffer's attachments/ directory, -1 if there is none. */
static int count_attachments(unsigned long long ino)
{
        char path[128];
        struct dirent *de;
        int n = 0;
        DIR *d;

        snprintf(path, sizeof(path), SYSFS_BUFFERS "/%llu/attachments", ino);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/*
 * What the kernel shows for the buffer in sysfs, as one JSON object: whether its
 * directory exists, exporter_name, size, and each attachment with the basename of its
 * device link and its map_counter. This is the observation the harness checks; the
 * expectations are written by compare.sh, not here.
 */
static void observe_sysfs(FILE *f, unsigned long long ino)
{
        char dir[128], path[512], val[256], target[PATH_MAX];
        struct dirent *de;
        struct stat st;
        int first = 1;
        DIR *d;

        snprintf(dir, sizeof(dir), SYSFS_BUFFERS "/%llu", ino);
        if (stat(dir, &st) < 0) {
                fprintf(f, "{\"buffer_dir\": false}");
                return;
        }
        fprintf(f, "{\"buffer_dir\": true, \"exporter_name\": ");
        snprintf(path, sizeof(path), "%s/exporter_name", dir);
        if (read_small(path, val, sizeof(val)) == 0)
                json_str(f, val);
        else
                fputs("null", f);
        fputs(", \"size\": ", f);
        snprintf(path, sizeof(path), "%s/size", dir);
        if (read_small(path, val, sizeof(val)) == 0 && val[0] >= '0' && val[0] <= '9')
                fprintf(f, "%s", val);
        else
                fputs("null", f);
        snprintf(path, sizeof(path), "%s/attachments", dir);
        d = opendir(path);
        if (!d) {
                fputs(", \"attachments_dir\": false}", f);
                return;
        }
        fputs(", \"attachments_dir\": true, \"attachments\": [", f);
        while ((de = readdir(d))) {
                const char *base;
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                fprintf(f, "%s{\"uid\": ", first ? "" : ", ");
                first = 0;
                json_str(f, de->d_name);
                snprintf(path, sizeof(path), "%s/attachments/%s/device", dir, de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                fputs(", \"device\": ", f);
                if (n > 0) {
                        target[n] = '\0';
                        base = strrchr(target, '/');
                        json_str(f, base ? base + 1 : target);
                } else
                        fputs("null", f);
                snprintf(path, sizeof(path), "%s/attachments/%s/map_counter", dir, de->d_name);
                fputs(", \"map_counter\": ", f);
                if (read_small(path, val, sizeof(val)) == 0 && val[0] >= '0' && val[0] <= '9')
                        fprintf(f, "%s}", val);
                else
                        fputs("null}", f);
        }
        closedir(d);
        fputs("]}", f);
}

/* Waits until PATH exists; 0, or -1 after timeout_ms. */
static int wait_for_file(const char *path, int timeout_ms)
{
        int64_t deadline = now_ms() + timeout_ms;

        while (access(path, F_OK) < 0) {
                if (now_ms() >= deadline)
                        return -1;
                sleep_ms(100);
        }
        return 0;
}

/* Waits (bounded) until the attachment count is want, or the buffer directory is gone
 * when want < -1: the kernel removes entries synchronously, so this normally returns at
 * once; the wait only keeps a slow release from reading as a missing one. */
static void settle(unsigned long long ino, int want)
{
        int64_t deadline = now_ms() + PROBE_SETTLE_MS;
        char dir[128];
        struct stat st;

        snprintf(dir, sizeof(dir), SYSFS_BUFFERS "/%llu", ino);
        while (now_ms() < deadline) {
                if (want < -1 ? stat(dir, &st) < 0 : count_attachments(ino) == want)
                        return;
                sleep_ms(50);
        }
}

/*
 * One system-heap buffer through an attachment's life: exported; imported into vgem
 * (DRM_IOCTL_PRIME_FD_TO_HANDLE attaches and maps); the GEM handle closed (detach);
 * the dma-buf fd closed (release). The sysfs view is recorded at each step. After the
 * import and after the GEM close it prints a line and waits for GO_FILE1 / GO_FILE2, so
 * that the harness can fetch what dmabufd serves at those moments.
 */
static int cmd_attach(int argc, char **argv)
{
        char why[256], vgem_path[64], tmp[PATH_MAX + 8];
        struct scn_drm_prime_handle ph;
        struct scn_drm_gem_close gc;
        const char *outfile, *go1, *go2;
        unsigned long long ino;
        struct utsname u;
        struct stat st;
        int heap_fd, fd, vgem_fd, version, r;
        long long fdino;
        FILE *f;

        if (argc != 3) {
                fprintf(stderr, "scenario: attach: usage: scenario attach OUTFILE GO_FILE1 GO_FILE2\n");
                return 2;
        }
        outfile = argv[0];
        go1 = argv[1];
        go2 = argv[2];
        set_comm("sc-attach");
        version = uname(&u) == 0 ? kernel_version(u.release) : 0;

        heap_fd = open(HEAP_PATH, O_RDWR | O_CLOEXEC);
        if (heap_fd < 0) {
                fprintf(stderr, "scenario: attach: cannot open %s: %s\n", HEAP_PATH, strerror(errno));
                return 1;
        }
        fd = heap_alloc(heap_fd, PROBE_SIZE);
        close(heap_fd);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "scenario: attach: allocating from %s: %s\n", HEAP_PATH, strerror(errno));
                return 1;
        }
        ino = (unsigned long long)st.st_ino;
        r = set_name(fd, PROBE_NAME);
        if (r) {
                fprintf(stderr, "scenario: attach: DMA_BUF_SET_NAME: %s\n", strerror(r));
                return 1;
        }
        vgem_fd = open_vgem(why, sizeof(why), vgem_path, sizeof(vgem_path));
        if (vgem_fd < 0) {
                fprintf(stderr, "scenario: attach: %s\n", why);
                return 1;
        }

        snprintf(tmp, sizeof(tmp), "%s.tmp", outfile);
        f = fopen(tmp, "we");
        if (!f) {
                fprintf(stderr, "scenario: attach: %s: %s\n", tmp, strerror(errno));
                return 1;
        }
        fdino = fdinfo_ino(fd);
        fprintf(f, "{\"kernel\": ");
        json_str(f, u.release);
        fprintf(f, ", \"inode\": %llu, \"size\": %llu, \"exporter\": ", ino, (unsigned long long)PROBE_SIZE);
        json_str(f, expected_system_exporter(version));
        fprintf(f, ", \"name\": \"" PROBE_NAME "\", \"vgem\": ");
        json_str(f, vgem_path);
        if (fdino >= 0)
                fprintf(f, ", \"fdinfo_ino\": %lld", fdino);
        else
                fputs(", \"fdinfo_ino\": null", f);
        fputs(", \"phases\": {\"exported\": ", f);
        observe_sysfs(f, ino);

        memset(&ph, 0, sizeof(ph));
        ph.fd = fd;
        if (ioctl(vgem_fd, SCN_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph) < 0) {
                fprintf(stderr, "scenario: attach: DRM_IOCTL_PRIME_FD_TO_HANDLE on %s: %s\n", vgem_path,
                        strerror(errno));
                fclose(f);
                unlink(tmp);
                return 1;
        }
        fputs(", \"imported\": ", f);
        observe_sysfs(f, ino);
        printf("ATTACH IMPORTED inode=%llu handle=%u\n", ino, ph.handle);
        fflush(stdout);
        if (wait_for_file(go1, PROBE_WAIT_MS) < 0)
                fprintf(stderr, "scenario: attach: %s did not appear within %d s, going on\n", go1,
                        PROBE_WAIT_MS / 1000);

        memset(&gc, 0, sizeof(gc));
        gc.handle = ph.handle;
        if (ioctl(vgem_fd, SCN_DRM_IOCTL_GEM_CLOSE, &gc) < 0)
                fprintf(stderr, "scenario: attach: DRM_IOCTL_GEM_CLOSE: %s\n", strerror(errno));
        settle(ino, 0);
        fputs(", \"closed\": ", f);
        observe_sysfs(f, ino);
        printf("ATTACH CLOSED\n");
        fflush(stdout);
        if (wait_for_file(go2, PROBE_WAIT_MS) < 0)
                fprintf(stderr, "scenario: attach: %s did not appear within %d s, going on\n", go2,
                        PROBE_WAIT_MS / 1000);

        close(vgem_fd);
        close(fd);
        settle(ino, -2);
        fputs(", \"released\": ", f);
        observe_sysfs(f, ino);
        fputs("}}\n", f);
        if (fclose(f) != 0 || rename(tmp, outfile) < 0) {
                fprintf(stderr, "scenario: attach: writing %s: %s\n", outfile, strerror(errno));
                return 1;
        }
        printf("ATTACH DONE\n");
        fflush(stdout);
        return 0;
}


/* ------------------------------------------------------------------------------ */
/* drm: the DRM probe                                                               */

#define DRM_CLIENTS 2
#define DRM_CLIENT_FDS 3
#define DRM_CLIENT_OBJS 3
#define DRM_PAGE 4096

struct drm_obj {
        uint64_t size;
        uint32_t handle;
        int shared;   /* a second handle, or exported or imported as a dma-buf */
        int resident; /* has pages: mapped by this program */
};

struct drm_client {
        int fds[DRM_CLIENT_FDS];
        int nfds;
        struct drm_obj objs[DRM_CLIENT_OBJS];
        int nobjs;
};

static int drm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int drm_fail(const char *fmt, ...)
{
        va_list ap;

        fputs("scenario: drm: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

/* A dumb buffer of pages * 4 KiB: 1024 pixels of 32 bits make a 4096-byte row, so the
 * kernel's size (pitch * height, page-aligned) is exact. */
static int drm_dumb(int fd, unsigned pages, struct drm_obj *o)
{
        struct scn_drm_mode_create_dumb c;

        memset(&c, 0, sizeof(c));
        c.width = DRM_PAGE / 4;
        c.height = pages;
        c.bpp = 32;
        if (ioctl(fd, SCN_DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0)
                return drm_fail("DRM_IOCTL_MODE_CREATE_DUMB (%u pages): %s", pages, strerror(errno));
        if (c.size != (uint64_t)pages * DRM_PAGE)
                return drm_fail("DRM_IOCTL_MODE_CREATE_DUMB: %u pages gave %" PRIu64 " bytes", pages, c.size);
        memset(o, 0, sizeof(*o));
        o->size = c.size;
        o->handle = c.handle;
        return 0;
}

static void drm_client_json(FILE *f, const struct drm_client *c)
{
        uint64_t total = 0, shared = 0, resident = 0;
        int i, any_resident = 0;

        fputs("{\"fds\": [", f);
        for (i = 0; i < c->nfds; i++)
                fprintf(f, "%s%d", i ? ", " : "", c->fds[i]);
        fputs("], \"objects\": [", f);
        for (i = 0; i < c->nobjs; i++) {
                const struct drm_obj *o = &c->objs[i];

                fprintf(f, "%s{\"size\": %" PRIu64 ", \"shared\": %s, \"resident\": %s}", i ? ", " : "", o->size,
                        o->shared ? "true" : "false", o->resident ? "true" : "false");
                total += o->size;
                if (o->shared)
                        shared += o->size;
                if (o->resident) {
                        resident += o->size;
                        any_resident = 1;
                }
        }
        /* drm_show_memory_stats() prints resident only when some object of the file
         * reports the status; active only with an unsignalled fence (there is none). */
        fprintf(f, "], \"total\": %" PRIu64 ", \"shared\": %" PRIu64 ", \"resident\": ", total, shared);
        if (any_resident)
                fprintf(f, "%" PRIu64 "}", resident);
        else
                fputs("null}", f);
}

/*
 * Two vgem clients (two opens of the card) with GEM objects of known sizes, held until
 * GO_FILE appears, so that the harness can read the kernel's fdinfo and what dmabufd
 * serves meanwhile. Client 0 has three fds (the open and two dups: one client), a
 * 64 KiB object, a 128 KiB object mapped and written (its pages exist: resident) and a
 * 256 KiB object exported as a dma-buf (shared); client 1 has one fd, a 32 KiB object
 * and the exported one imported by its dma-buf fd (a second handle: shared). The truth
 * (OUTFILE) is what the program did; the sums are what drm_show_memory_stats() must
 * print for it. Prints "DRM READY pid=N" once OUTFILE is written, "DRM DONE" at the end.
 */
static int cmd_drm(int argc, char **argv)
{
        struct drm_client cl[DRM_CLIENTS];
        struct scn_drm_prime_handle ph;
        struct scn_drm_mode_map_dumb md;
        char why[256], vgem_path[64], tmp[PATH_MAX + 8];
        const char *outfile, *go;
        struct utsname u;
        struct stat st;
        void *map;
        int i, dmabuf_fd;
        FILE *f;

        if (argc != 2) {
                fprintf(stderr, "scenario: drm: usage: scenario drm OUTFILE GO_FILE\n");
                return 2;
        }
        outfile = argv[0];
        go = argv[1];
        set_comm("sc-drm");
        memset(cl, 0, sizeof(cl));

        for (i = 0; i < DRM_CLIENTS; i++) {
                cl[i].fds[0] = open_vgem(why, sizeof(why), vgem_path, sizeof(vgem_path));
                if (cl[i].fds[0] < 0) {
                        fprintf(stderr, "scenario: drm: %s\n", why);
                        return 1;
                }
                cl[i].nfds = 1;
        }
        for (i = 1; i < DRM_CLIENT_FDS; i++) {
                cl[0].fds[i] = fcntl(cl[0].fds[0], F_DUPFD_CLOEXEC, 0);
                if (cl[0].fds[i] < 0)
                        return drm_fail("dup: %s", strerror(errno));
                cl[0].nfds++;
        }

        /* Client 0: 64 KiB; 128 KiB, mapped and written; 256 KiB, exported. */
        if (drm_dumb(cl[0].fds[0], 16, &cl[0].objs[0]) || drm_dumb(cl[0].fds[0], 32, &cl[0].objs[1]) ||
            drm_dumb(cl[0].fds[0], 64, &cl[0].objs[2]))
                return 1;
        cl[0].nobjs = 3;
        memset(&md, 0, sizeof(md));
        md.handle = cl[0].objs[1].handle;
        if (ioctl(cl[0].fds[0], SCN_DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
                return drm_fail("DRM_IOCTL_MODE_MAP_DUMB: %s", strerror(errno));
        map = mmap(NULL, cl[0].objs[1].size, PROT_READ | PROT_WRITE, MAP_SHARED, cl[0].fds[0], (off_t)md.offset);
        if (map == MAP_FAILED)
                return drm_fail("mmap of the dumb buffer: %s", strerror(errno));
        memset(map, 0x5a, cl[0].objs[1].size);
        cl[0].objs[1].resident = 1;
        memset(&ph, 0, sizeof(ph));
        ph.handle = cl[0].objs[2].handle;
        ph.flags = O_CLOEXEC | O_RDWR;
        if (ioctl(cl[0].fds[0], SCN_DRM_IOCTL_PRIME_HANDLE_TO_FD, &ph) < 0)
                return drm_fail("DRM_IOCTL_PRIME_HANDLE_TO_FD: %s", strerror(errno));
        dmabuf_fd = ph.fd;
        if (fstat(dmabuf_fd, &st) < 0)
                return drm_fail("fstat of the exported dma-buf: %s", strerror(errno));
        cl[0].objs[2].shared = 1;

        /* Client 1: 32 KiB; the exported object, imported. */
        if (drm_dumb(cl[1].fds[0], 8, &cl[1].objs[0]))
                return 1;
        memset(&ph, 0, sizeof(ph));
        ph.fd = dmabuf_fd;
        if (ioctl(cl[1].fds[0], SCN_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph) < 0)
                return drm_fail("DRM_IOCTL_PRIME_FD_TO_HANDLE: %s", strerror(errno));
        cl[1].objs[1] = cl[0].objs[2];
        cl[1].objs[1].handle = ph.handle;
        cl[1].objs[1].resident = 0;
        cl[1].nobjs = 2;

        snprintf(tmp, sizeof(tmp), "%s.tmp", outfile);
        f = fopen(tmp, "we");
        if (!f)
                return drm_fail("%s: %s", tmp, strerror(errno));
        fprintf(f, "{\"kernel\": ");
        json_str(f, uname(&u) == 0 ? u.release : "?");
        fprintf(f, ", \"pid\": %d, \"comm\": \"sc-drm\", \"card\": ", (int)getpid());
        json_str(f, vgem_path);
        fprintf(f, ", \"dmabuf\": {\"fd\": %d, \"inode\": %llu, \"size\": %" PRIu64 "}, \"clients\": [", dmabuf_fd,
                (unsigned long long)st.st_ino, cl[0].objs[2].size);
        for (i = 0; i < DRM_CLIENTS; i++) {
                fputs(i ? ", " : "", f);
                drm_client_json(f, &cl[i]);
        }
        fputs("]}\n", f);
        if (fclose(f) != 0 || rename(tmp, outfile) < 0)
                return drm_fail("writing %s: %s", outfile, strerror(errno));
        printf("DRM READY pid=%d\n", (int)getpid());
        fflush(stdout);
        if (wait_for_file(go, PROBE_WAIT_MS) < 0)
                fprintf(stderr, "scenario: drm: %s did not appear within %d s, going on\n", go, PROBE_WAIT_MS / 1000);

        munmap(map, cl[0].objs[1].size);
        close(dmabuf_fd);
        for (i = 0; i < DRM_CLIENTS; i++) {
                int j;

                for (j = 0; j < cl[i].nfds; j++)
                        close(cl[i].fds[j]);
        }
        printf("DRM DONE\n");
        fflush(stdout);
        return 0;
}

/* ------------------------------------------------------------------------------ */
/* bench: what a buffer and an attachment cost the kernel                           */

#define BENCH_MAX 20000
#define BENCH_ROUNDS 3

struct bench_round {
        double export_us, release_us, slab_per_buffer, attach_detach_us; /* attach_detach_us < 0: not measured */
};

/* One round: N buffers exported and held, then closed; then one buffer imported
 * into vgem and its GEM handle closed N times. 0, or -1 with the reason printed. */
static int bench_round(int heap_fd, int *fds, unsigned long n, struct bench_round *r)
{
        char why[256], vgem_path[64];
        uint64_t slab0, slab1;
        int64_t t0, t1, t2;
        unsigned long i;
        int vgem_fd;

        slab0 = meminfo("Slab");
        t0 = now_us();
        for (i = 0; i < n; i++) {
                fds[i] = heap_alloc(heap_fd, 4 * KIB);
                if (fds[i] < 0) {
                        fprintf(stderr, "scenario: bench: allocation %lu: %s\n", i, strerror(errno));
                        while (i > 0)
                                close(fds[--i]);
                        return -1;
                }
        }
        t1 = now_us();
        slab1 = meminfo("Slab");
        for (i = 0; i < n; i++)
                close(fds[i]);
        t2 = now_us();
        r->export_us = (double)(t1 - t0) / (double)n;
        r->release_us = (double)(t2 - t1) / (double)n;
        r->slab_per_buffer = ((double)slab1 - (double)slab0) / (double)n;
        r->attach_detach_us = -1;

        vgem_fd = open_vgem(why, sizeof(why), vgem_path, sizeof(vgem_path));
        if (vgem_fd >= 0) {
                int fd = heap_alloc(heap_fd, 4 * KIB);
                int64_t t3 = now_us();

                for (i = 0; fd >= 0 && i < n; i++) {
                        struct scn_drm_prime_handle ph = { .fd = fd };
                        struct scn_drm_gem_close gc = { 0 };

                        if (ioctl(vgem_fd, SCN_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph) < 0)
                                break;
                        gc.handle = ph.handle;
                        if (ioctl(vgem_fd, SCN_DRM_IOCTL_GEM_CLOSE, &gc) < 0)
                                break;
                }
                if (i == n)
                        r->attach_detach_us = (double)(now_us() - t3) / (double)n;
                else
                        fprintf(stderr, "scenario: bench: vgem import or GEM_CLOSE failed: %s\n", strerror(errno));
                if (fd >= 0)
                        close(fd);
                close(vgem_fd);
        } else
                fprintf(stderr, "scenario: bench: no attachment figure: %s\n", why);
        return 0;
}

static double min_d(double a, double b)
{
        return a < b ? a : b;
}

/*
 * Prints, over BENCH_ROUNDS rounds, the least mean wall time of each step (the
 * least is the figure the machine's noise disturbs least) and the least growth of
 * Slab per held buffer, which is where a kobject, its kernfs nodes and its attribute
 * files land. Figures under TCG are slow in absolute terms; compare lines, and a
 * line patched against unpatched, within one run.
 */
static int cmd_bench(int argc, char **argv)
{
        static int fds[BENCH_MAX];
        struct bench_round best = { 0 }, r;
        unsigned long n;
        int heap_fd, k;

        if (argc != 1 || parse_ulong(argv[0], 1, BENCH_MAX, &n) < 0) {
                fprintf(stderr, "scenario: bench: usage: scenario bench N(1..%d)\n", BENCH_MAX);
                return 2;
        }
        set_comm("sc-bench");
        {
                /* Every buffer is held by an fd at once: past the default 1024. */
                struct rlimit rl = { n + 64, n + 64 };

                if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                        fprintf(stderr, "scenario: bench: RLIMIT_NOFILE %lu: %s\n", n + 64, strerror(errno));
                        return 1;
                }
        }
        heap_fd = open(HEAP_PATH, O_RDWR | O_CLOEXEC);
        if (heap_fd < 0) {
                fprintf(stderr, "scenario: bench: cannot open %s: %s\n", HEAP_PATH, strerror(errno));
                return 1;
        }
        for (k = 0; k < BENCH_ROUNDS; k++) {
                if (bench_round(heap_fd, fds, n, &r) < 0) {
                        close(heap_fd);
                        return 1;
                }
                if (k == 0)
                        best = r;
                best.export_us = min_d(best.export_us, r.export_us);
                best.release_us = min_d(best.release_us, r.release_us);
                best.slab_per_buffer = min_d(best.slab_per_buffer, r.slab_per_buffer);
                if (r.attach_detach_us >= 0)
                        best.attach_detach_us = best.attach_detach_us < 0 ? r.attach_detach_us
                                                                          : min_d(best.attach_detach_us, r.attach_detach_us);
        }
        close(heap_fd);
        printf("BENCH n=%lu rounds=%d export_us=%.1f release_us=%.1f slab_bytes_per_buffer=%.0f", n, BENCH_ROUNDS,
               best.export_us, best.release_us, best.slab_per_buffer);
        if (best.attach_detach_us >= 0)
                printf(" attach_detach_us=%.1f\n", best.attach_detach_us);
        else
                printf(" attach_detach_us=none\n");
        return 0;
}

/* ------------------------------------------------------------------------------ */
/* world and floor: the performance benchmark's world, and the procfs floor        */
/* ------------------------------------------------------------------------------ */

#define WORLD_PIDS_PATH "/tmp/world.pids"
#define WORLD_MAX_PROCS 4000
#define WORLD_MAX_FDS 1000
#define WORLD_MAX_BUFFERS 4000
#define WORLD_SIZE (4 * KIB)
/* Where a child parks the fds it keeps while it closes the rest. */
#define WORLD_PARK_FD 2000

struct world_cfg {
        unsigned long procs, fds, dmabufs, mappers, buffers;
};

/*
 * One member of the benchmark world: holds `dmabufs` distinct buffers by fd, maps one
 * (if it is a mapper), fills its table up to `fds` fds with /dev/null, then waits for
 * the owner's end of `life` to close (or SIGKILL by PDEATHSIG, or the lifetime).
 */
static void __attribute__((noreturn)) world_member(const struct world_cfg *c, unsigned long i, const int *bufs,
                                                   int life)
{
        unsigned long k;
        int n, fd, devnull;
        struct pollfd pfd;
        int64_t deadline = now_ms() + max_lifetime_ms();

        set_comm("sc-w");
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
        /* Park what is kept above everything else, close the rest, move it down. */
        for (k = 0; k < c->dmabufs; k++)
                if (dup2(bufs[(i * c->dmabufs + k) % c->buffers], WORLD_PARK_FD + (int)k) < 0)
                        _exit(1);
        if (dup2(life, WORLD_PARK_FD + (int)k) < 0)
                _exit(1);
        if (close_range(3, WORLD_PARK_FD - 1, 0) < 0)
                _exit(1);
        for (k = 0; k <= c->dmabufs; k++)
                if (dup2(WORLD_PARK_FD + (int)k, 3 + (int)k) < 0)
                        _exit(1);
        close_range(WORLD_PARK_FD, ~0U, 0);
        life = 3 + (int)c->dmabufs;
        if (i < c->mappers && mmap(NULL, WORLD_SIZE, PROT_READ, MAP_SHARED, 3, 0) == MAP_FAILED)
                _exit(1);
        /* 0-2, the buffers and `life` are open: fill up to `fds` with /dev/null. */
        n = 3 + (int)c->dmabufs + 1;
        devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0)
                _exit(1);
        for (n++; n < (int)c->fds; n++)
                if (dup(devnull) < 0)
                        _exit(1);
        pfd.fd = life;
        pfd.events = POLLIN;
        for (;;) {
                int64_t left = deadline - now_ms();

                if (left <= 0)
                        _exit(0);
                fd = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
                if (fd > 0)
                        _exit(0); /* EOF: the owner is gone */
        }
}

static void world_down_children(pid_t *pids, unsigned long n)
{
        unsigned long i;

        for (i = 0; i < n; i++)
                if (pids[i] > 0)
                        kill(pids[i], SIGKILL);
        for (i = 0; i < n; i++)
                if (pids[i] > 0)
                        waitpid(pids[i], NULL, 0);
}

/* The owner: allocates the buffers, forks the members, reports, waits for SIGTERM. */
static void __attribute__((noreturn)) world_owner(const struct world_cfg *c, int ready)
{
        static int bufs[WORLD_MAX_BUFFERS];
        static pid_t pids[WORLD_MAX_PROCS];
        int life[2], heap_fd;
        unsigned long i, total_fds;
        struct rlimit rl = { 8192, 8192 }; /* past WORLD_PARK_FD + WORLD_MAX_FDS and WORLD_MAX_BUFFERS */
        int64_t deadline = now_ms() + max_lifetime_ms();
        FILE *f;
        char line[256];

        setsid();
        set_comm("sc-world");
        detach_stdio();
        setup_signals();
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                dprintf(ready, "WORLD FAILED RLIMIT_NOFILE: %s\n", strerror(errno));
                _exit(1);
        }
        heap_fd = open(HEAP_PATH, O_RDWR | O_CLOEXEC);
        if (heap_fd < 0) {
                dprintf(ready, "WORLD FAILED cannot open %s: %s\n", HEAP_PATH, strerror(errno));
                _exit(1);
        }
        for (i = 0; i < c->buffers; i++) {
                char name[DMA_BUF_NAME_LEN];

                bufs[i] = heap_alloc(heap_fd, WORLD_SIZE);
                if (bufs[i] < 0) {
                        dprintf(ready, "WORLD FAILED allocation %lu: %s\n", i, strerror(errno));
                        _exit(1);
                }
                snprintf(name, sizeof(name), "world-%lu", i);
                set_name(bufs[i], name);
        }
        close(heap_fd);
        if (pipe(life) < 0) {
                dprintf(ready, "WORLD FAILED pipe: %s\n", strerror(errno));
                _exit(1);
        }
        for (i = 0; i < c->procs; i++) {
                pids[i] = fork();
                if (pids[i] < 0) {
                        dprintf(ready, "WORLD FAILED fork %lu: %s\n", i, strerror(errno));
                        world_down_children(pids, i);
                        _exit(1);
                }
                if (pids[i] == 0) {
                        close(life[1]);
                        close(ready);
                        world_member(c, i, bufs, life[0]);
                }
        }
        close(life[0]);
        /* The members hold the buffers now; the owner keeps none. */
        for (i = 0; i < c->buffers; i++)
                close(bufs[i]);
        f = fopen(WORLD_PIDS_PATH ".tmp", "w");
        if (f) {
                fprintf(f, "%d\n", (int)getpid());
                for (i = 0; i < c->procs; i++)
                        fprintf(f, "%d\n", (int)pids[i]);
                if (fclose(f) == 0)
                        rename(WORLD_PIDS_PATH ".tmp", WORLD_PIDS_PATH);
        }
        /* Every member has its table filled once it shows `fds` entries: wait for it,
         * so that the first collection sees the whole world. */
        total_fds = 0;
        for (i = 0; i < c->procs; i++) {
                char path[64];
                int64_t until = now_ms() + 30000;
                unsigned long n = 0;

                snprintf(path, sizeof(path), "/proc/%d/fd", (int)pids[i]);
                while (now_ms() < until) {
                        DIR *d = opendir(path);
                        struct dirent *de;

                        n = 0;
                        if (d) {
                                while ((de = readdir(d)))
                                        n += de->d_name[0] != '.';
                                closedir(d);
                        }
                        if (n >= c->fds)
                                break;
                        sleep_ms(10);
                }
                if (n < c->fds) {
                        dprintf(ready, "WORLD FAILED member %lu (pid %d) has %lu fds, not %lu\n", i, (int)pids[i],
                                n, c->fds);
                        world_down_children(pids, c->procs);
                        _exit(1);
                }
                total_fds += n;
        }
        snprintf(line, sizeof(line),
                 "WORLD READY owner=%d procs=%lu fds=%lu dmabuf_fds=%lu maps=%lu buffers=%lu buffer_bytes=%" PRIu64 "\n",
                 (int)getpid(), c->procs, total_fds, c->procs * c->dmabufs, c->mappers, c->buffers,
                 (uint64_t)c->buffers * WORLD_SIZE);
        write_all(ready, line, strlen(line));
        close(ready);
        while (!terminate && now_ms() < deadline)
                sleep_ms(200);
        world_down_children(pids, c->procs);
        unlink(WORLD_PIDS_PATH);
        _exit(0);
}

/*
 * scenario world PROCS FDS DMABUFS MAPPERS BUFFERS: PROCS processes (comm sc-w) with
 * FDS fds each, DMABUFS of them dma-bufs (distinct buffers, round robin over BUFFERS
 * system-heap buffers of 4 KiB), the first MAPPERS of them also mapping one buffer.
 * Returns once every member is ready, printing "WORLD READY ...".
 */
static int cmd_world(int argc, char **argv)
{
        struct world_cfg c;
        int ready[2];
        pid_t owner;
        char buf[512];
        size_t len = 0;
        struct pollfd pfd;
        int64_t until = now_ms() + SETUP_TIMEOUT_MS;

        if (argc != 5 || parse_ulong(argv[0], 1, WORLD_MAX_PROCS, &c.procs) < 0 ||
            parse_ulong(argv[1], 8, WORLD_MAX_FDS, &c.fds) < 0 || parse_ulong(argv[4], 1, WORLD_MAX_BUFFERS, &c.buffers) < 0 ||
            parse_ulong(argv[2], 1, c.buffers < c.fds - 5 ? c.buffers : c.fds - 5, &c.dmabufs) < 0 ||
            parse_ulong(argv[3], 0, c.procs, &c.mappers) < 0) {
                fprintf(stderr, "scenario: world: usage: scenario world PROCS(1..%d) FDS(8..%d) DMABUFS(1..min(BUFFERS,FDS-5)) "
                                "MAPPERS(0..PROCS) BUFFERS(1..%d)\n",
                        WORLD_MAX_PROCS, WORLD_MAX_FDS, WORLD_MAX_BUFFERS);
                return 2;
        }
        if (pipe2(ready, O_CLOEXEC) < 0) {
                fprintf(stderr, "scenario: world: pipe: %s\n", strerror(errno));
                return 1;
        }
        owner = fork();
        if (owner < 0) {
                fprintf(stderr, "scenario: world: fork: %s\n", strerror(errno));
                return 1;
        }
        if (owner == 0) {
                close(ready[0]);
                world_owner(&c, ready[1]);
        }
        close(ready[1]);
        pfd.fd = ready[0];
        pfd.events = POLLIN;
        while (len < sizeof(buf) - 1) {
                int64_t left = until - now_ms();
                ssize_t n;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                n = read(ready[0], buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        if (strncmp(buf, "WORLD READY", 11) != 0) {
                fprintf(stderr, "scenario: world: %s\n", len ? buf : "the owner said nothing within the timeout");
                kill(owner, SIGKILL);
                return 1;
        }
        fputs(buf, stdout);
        return 0;
}

/* scenario world-down: SIGTERM the world's owner, which SIGKILLs and reaps its members. */
static int cmd_world_down(void)
{
        FILE *f = fopen(WORLD_PIDS_PATH, "r");
        int pid = 0, i;

        if (!f) {
                puts("WORLD DOWN (no world)");
                return 0;
        }
        if (fscanf(f, "%d", &pid) != 1 || pid <= 1) {
                fclose(f);
                fprintf(stderr, "scenario: world-down: %s holds no owner pid\n", WORLD_PIDS_PATH);
                return 1;
        }
        fclose(f);
        kill(pid, SIGTERM);
        for (i = 0; i < 200 && kill(pid, 0) == 0 && !pid_gone(pid); i++)
                sleep_ms(50);
        if (kill(pid, 0) == 0 && !pid_gone(pid)) {
                kill(pid, SIGKILL);
                fprintf(stderr, "scenario: world-down: the owner %d had to be SIGKILLed\n", pid);
                return 1;
        }
        puts("WORLD DOWN");
        return 0;
}

struct floor_count {
        unsigned long procs, fds, dmabuf_fds, maps_lines, dmabuf_maps;
        uint64_t bytes_read;
};

/* Reads a file at dirfd/name whole; returns its length or -1. */
static ssize_t floor_read(int dirfd, const char *name, char *buf, size_t size, struct floor_count *fc)
{
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        size_t len = 0;
        ssize_t n;

        if (fd < 0)
                return -1;
        /* Past `size`, read on into the same buffer: the cost is the syscalls. */
        while ((n = read(fd, buf + len, size - len)) > 0) {
                len += (size_t)n;
                fc->bytes_read += (uint64_t)n;
                if (len == size)
                        len = 0;
        }
        close(fd);
        return (ssize_t)len;
}

/*
 * The procfs path's bare syscalls, as dmabufd's procfs reader makes them: readdir of
 * /proc; per process, readdir of fd/ and readlink of each fd; fdinfo of each dma-buf
 * fd; maps, read whole. Nothing is parsed but what tells a dma-buf link and counts.
 */
static void floor_walk(struct floor_count *fc)
{
        static char buf[1 << 16];
        DIR *proc = opendir("/proc");
        struct dirent *pe;

        if (!proc)
                return;
        while ((pe = readdir(proc))) {
                int pid_fd, fd_fd, fdinfo_fd = -1;
                DIR *fdd;
                struct dirent *de;
                ssize_t len;
                char *p;

                if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
                        continue;
                pid_fd = openat(dirfd(proc), pe->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0)
                        continue;
                fc->procs++;
                fd_fd = openat(pid_fd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                fdd = fd_fd >= 0 ? fdopendir(fd_fd) : NULL;
                if (fdd) {
                        while ((de = readdir(fdd))) {
                                char target[256];
                                ssize_t n;

                                if (de->d_name[0] == '.')
                                        continue;
                                fc->fds++;
                                n = readlinkat(dirfd(fdd), de->d_name, target, sizeof(target) - 1);
                                if (n < 0)
                                        continue;
                                target[n] = '\0';
                                if (strncmp(target, "/dmabuf:", 8) != 0 && strcmp(target, "anon_inode:dmabuf") != 0)
                                        continue;
                                fc->dmabuf_fds++;
                                if (fdinfo_fd < 0)
                                        fdinfo_fd = openat(pid_fd, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                if (fdinfo_fd >= 0)
                                        floor_read(fdinfo_fd, de->d_name, buf, sizeof(buf), fc);
                        }
                        closedir(fdd);
                } else if (fd_fd >= 0) {
                        close(fd_fd);
                }
                if (fdinfo_fd >= 0)
                        close(fdinfo_fd);
                len = floor_read(pid_fd, "maps", buf, sizeof(buf), fc);
                for (p = buf; len > 0 && p < buf + len; p++) {
                        char *nl = memchr(p, '\n', (size_t)(buf + len - p));

                        if (!nl)
                                break;
                        fc->maps_lines++;
                        if (memmem(p, (size_t)(nl - p), "/dmabuf:", 8))
                                fc->dmabuf_maps++;
                        p = nl;
                }
                close(pid_fd);
        }
        closedir(proc);
}

/*
 * What a collection that has its holders from BPF still reads per process: comm and
 * cgroup (dmabufd reads them for processes that hold a buffer; here, for every one).
 * Timed apart from the floor, so that the two can be told apart in a BPF collection.
 */
static unsigned long details_walk(void)
{
        static char buf[4096];
        struct floor_count fc = { 0 };
        DIR *proc = opendir("/proc");
        struct dirent *pe;
        unsigned long n = 0;

        if (!proc)
                return 0;
        while ((pe = readdir(proc))) {
                int pid_fd;

                if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
                        continue;
                pid_fd = openat(dirfd(proc), pe->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0)
                        continue;
                floor_read(pid_fd, "comm", buf, sizeof(buf), &fc);
                floor_read(pid_fd, "cgroup", buf, sizeof(buf), &fc);
                close(pid_fd);
                n++;
        }
        closedir(proc);
        return n;
}

static int64_t cpu_us_self(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* scenario floor ROUNDS: one line per round, "FLOOR round=N wall_us=... cpu_us=... ...";
 * details_us is the comm and cgroup read of every process, timed after the floor. */
static int cmd_floor(int argc, char **argv)
{
        unsigned long rounds, r;

        if (argc != 1 || parse_ulong(argv[0], 1, 1000, &rounds) < 0) {
                fprintf(stderr, "scenario: floor: usage: scenario floor ROUNDS(1..1000)\n");
                return 2;
        }
        set_comm("sc-floor");
        for (r = 1; r <= rounds; r++) {
                struct floor_count fc = { 0 };
                int64_t t0 = now_us(), c0 = cpu_us_self(), t1, c1;

                int64_t t2;
                unsigned long nd;

                floor_walk(&fc);
                t1 = now_us();
                c1 = cpu_us_self();
                nd = details_walk();
                t2 = now_us();
                printf("FLOOR round=%lu wall_us=%" PRId64 " cpu_us=%" PRId64 " procs=%lu fds=%lu dmabuf_fds=%lu "
                       "maps_lines=%lu dmabuf_maps=%lu bytes_read=%" PRIu64 " details_us=%" PRId64
                       " details_procs=%lu\n",
                       r, t1 - t0, c1 - c0, fc.procs, fc.fds, fc.dmabuf_fds, fc.maps_lines, fc.dmabuf_maps,
                       fc.bytes_read, t2 - t1, nd);
                fflush(stdout);
        }
        return 0;
}

static void usage(FILE *f)
{
        fputs("usage: scenario setup OUTFILE\n"
              "       scenario teardown\n"
              "       scenario oomhog [--wait-file PATH] [MIB_HOLD]\n"
              "       scenario pressure SECONDS [MIB]\n"
              "       scenario attach OUTFILE GO_FILE1 GO_FILE2\n"
              "       scenario drm OUTFILE GO_FILE\n"
              "       scenario bench N\n"
              "       scenario world PROCS FDS DMABUFS MAPPERS BUFFERS\n"
              "       scenario world-down\n"
              "       scenario floor ROUNDS\n",
              f);
}

int main(int argc, char **argv)
{
        if (argc >= 2 && strcmp(argv[1], "setup") == 0 && argc == 3)
                return cmd_setup(argv[2]);
        if (argc == 2 && strcmp(argv[1], "teardown") == 0)
                return cmd_teardown();
        if (argc >= 2 && strcmp(argv[1], "oomhog") == 0)
                return cmd_oomhog(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "pressure") == 0)
                return cmd_pressure(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "attach") == 0)
                return cmd_attach(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "drm") == 0)
                return cmd_drm(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "bench") == 0)
                return cmd_bench(argc - 2, argv + 2);
        if (argc >= 2 && strcmp(argv[1], "world") == 0)
                return cmd_world(argc - 2, argv + 2);
        if (argc == 2 && strcmp(argv[1], "world-down") == 0)
                return cmd_world_down();
        if (argc >= 2 && strcmp(argv[1], "floor") == 0)
                return cmd_floor(argc - 2, argv + 2);
        if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                usage(stdout);
                return 0;
        }
        usage(stderr);
        return 2;
}
