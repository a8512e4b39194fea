/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "bench-tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER_NAME ".dmabufd-bench-tree"
#define PAGE 4096ULL

/* ---- deterministic randomness (splitmix64) ---- */

typedef struct Rng {
        uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) {
        uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static unsigned rng_below(Rng *r, unsigned n) {
        return n ? (unsigned) (rng_next(r) % n) : 0;
}

void bench_tree_params_default(BenchTreeParams *p) {
        *p = (BenchTreeParams){
                .procs = 2000,
                .fds_per_proc = 200,
                .dmabuf_permille = 100,
                .buffers = 0,
                .kernel_only = UINT32_MAX,
                .dmabuf_maps = 4,
                .ordinary_maps = 30,
                .seed = 0x646d61627566ULL, /* "dmabuf" */
        };
}

/* ---- the plan: every buffer and every reference, decided before anything is written ---- */

typedef struct Buffer {
        uint64_t ino;
        uint64_t size;
        uint32_t fd_refs;    /* fds on it, every process */
        uint32_t map_refs;   /* mappings of it, every process */
        uint32_t holders;    /* distinct processes */
        uint32_t last_proc;  /* for counting holders: 1 + index of the last process seen */
        uint8_t exporter;
        bool kernel_ref;     /* a driver holds a reference too (shows in count:) */
        char name[32];       /* "" with has_name false: unnamed */
        bool has_name;
} Buffer;

static const char *const exporters[] = { "system", "system-uncached", "i915", "amdgpu" };

typedef struct Plan {
        unsigned n_pool;   /* buffers processes draw on */
        unsigned n_bufs;   /* n_pool + kernel-only */
        Buffer *bufs;
        unsigned n_procs;
        pid_t *pids;
        unsigned *dma_first; /* index into fd_buf of each process's first dma-buf fd */
        unsigned *dma_n;
        unsigned *fd_buf;    /* buffer index of each dma-buf fd, grouped by process */
        unsigned *map_buf;   /* buffer index of each dma-buf mapping, dmabuf_maps per process */
        unsigned *map_n;
} Plan;

static void plan_free(Plan *pl) {
        free(pl->bufs);
        free(pl->pids);
        free(pl->dma_first);
        free(pl->dma_n);
        free(pl->fd_buf);
        free(pl->map_buf);
        free(pl->map_n);
        *pl = (Plan){ 0 };
}

static void make_name(Rng *r, unsigned i, Buffer *b) {
        unsigned k = rng_below(r, 100);
        b->has_name = true;
        if (k < 25) {
                b->has_name = false;
                b->name[0] = 0;
        } else if (k < 50)
                snprintf(b->name, sizeof b->name, "gralloc:%u", i);
        else if (k < 70)
                snprintf(b->name, sizeof b->name, "wl-surface %u", i % 977);
        else if (k < 85)
                snprintf(b->name, sizeof b->name, "camera-preview-%u", i % 8);
        else if (k < 99)
                snprintf(b->name, sizeof b->name, "vaapi-surface-%u", i);
        else /* names are set by any process: quotes and backslashes happen */
                snprintf(b->name, sizeof b->name, "cam \"raw\" \\%u", i % 100);
}

static uint64_t pick_size(Rng *r) {
        unsigned k = rng_below(r, 100);
        if (k < 20)
                return PAGE;
        if (k < 40)
                return 16 * PAGE;
        if (k < 60)
                return 256 * PAGE;
        if (k < 70)
                return 512 * PAGE;
        if (k < 95)
                return 8294400; /* 1920x1080 RGBA, page aligned */
        return 33177600;        /* 3840x2160 RGBA */
}

static bool proc_holds_by_fd(const Plan *pl, unsigned proc, unsigned b) {
        for (unsigned j = 0; j < pl->dma_n[proc]; j++)
                if (pl->fd_buf[pl->dma_first[proc] + j] == b)
                        return true;
        return false;
}

static void note_holder(Plan *pl, unsigned proc, unsigned b, BenchTreeStats *st) {
        Buffer *buf = &pl->bufs[b];
        if (buf->last_proc != proc + 1) {
                buf->last_proc = proc + 1;
                buf->holders++;
                if (buf->holders == 1) {
                        st->userspace_buffers++;
                        st->userspace_bytes += buf->size;
                } else if (buf->holders == 2)
                        st->shared_buffers++;
        }
}

static int plan_make(const BenchTreeParams *p, Plan *pl, BenchTreeStats *st) {
        Rng r = { p->seed };
        unsigned fds = p->fds_per_proc;
        unsigned slots = fds > 3 ? fds - 3 : 0; /* 0, 1, 2 are never dma-bufs */
        uint64_t want = (uint64_t) p->procs * fds * p->dmabuf_permille / 1000;
        /* Every fourth process holds no dma-buf at all (daemons that never touch a
         * GPU); the others share the dma-buf fds evenly. */
        unsigned users = p->procs - p->procs / 4;

        *pl = (Plan){ 0 };
        *st = (BenchTreeStats){ 0 };

        if ((uint64_t) users * slots < want)
                want = (uint64_t) users * slots;
        pl->n_pool = p->buffers ? p->buffers : (unsigned) (want / 2 > 0 ? want / 2 : 1);
        unsigned n_ko = p->kernel_only == UINT32_MAX ? pl->n_pool / 20 : p->kernel_only;
        pl->n_bufs = pl->n_pool + n_ko;
        pl->n_procs = p->procs;

        pl->bufs = calloc(pl->n_bufs, sizeof *pl->bufs);
        pl->pids = calloc(p->procs ? p->procs : 1, sizeof *pl->pids);
        pl->dma_first = calloc(p->procs ? p->procs : 1, sizeof(unsigned));
        pl->dma_n = calloc(p->procs ? p->procs : 1, sizeof(unsigned));
        pl->fd_buf = calloc(want ? want : 1, sizeof(unsigned));
        pl->map_buf = calloc((size_t) p->procs * p->dmabuf_maps + 1, sizeof(unsigned));
        pl->map_n = calloc(p->procs ? p->procs : 1, sizeof(unsigned));
        if (!pl->bufs || !pl->pids || !pl->dma_first || !pl->dma_n || !pl->fd_buf || !pl->map_buf ||
            !pl->map_n) {
                plan_free(pl);
                return -ENOMEM;
        }

        /* Inodes: distinct, increasing with the index, then shuffled so that kernel-only
         * buffers interleave with the others in inode order as they do on a live system. */
        for (unsigned i = 0; i < pl->n_bufs; i++)
                pl->bufs[i].ino = 4000 + (uint64_t) i * 4 + rng_below(&r, 4);
        for (unsigned i = pl->n_bufs; i > 1; i--) {
                unsigned j = rng_below(&r, i);
                uint64_t t = pl->bufs[i - 1].ino;
                pl->bufs[i - 1].ino = pl->bufs[j].ino;
                pl->bufs[j].ino = t;
        }
        for (unsigned i = 0; i < pl->n_bufs; i++) {
                Buffer *b = &pl->bufs[i];
                unsigned e = rng_below(&r, 100);
                b->size = pick_size(&r);
                b->exporter = e < 70 ? 0 : e < 80 ? 1 : e < 95 ? 2 : 3;
                b->kernel_ref = i >= pl->n_pool || rng_below(&r, 3) == 0;
                make_name(&r, i, b);
                st->bytes += b->size;
        }

        unsigned hot = pl->n_pool / 100 ? pl->n_pool / 100 : 1;
        uint64_t given = 0;
        unsigned user_idx = 0;
        for (unsigned i = 0; i < p->procs; i++) {
                pl->pids[i] = (pid_t) (300 + i * 7 + rng_below(&r, 7));
                pl->dma_first[i] = (unsigned) given;
                if (i % 4 == 3 || users == 0)
                        continue;
                unsigned n = (unsigned) (want / users + (user_idx < want % users ? 1 : 0));
                user_idx++;
                pl->dma_n[i] = n;
                for (unsigned j = 0; j < n; j++) {
                        /* Mostly spread at random (so most buffers have 2+ holders), with
                         * a hot set shared by many, like a compositor's scanout buffers. */
                        unsigned b = rng_below(&r, 100) < 15 ? rng_below(&r, hot) : rng_below(&r, pl->n_pool);
                        pl->fd_buf[given + j] = b;
                        pl->bufs[b].fd_refs++;
                        note_holder(pl, i, b, st);
                }
                given += n;
                st->dmabuf_fds += n;

                for (unsigned m = 0; m < p->dmabuf_maps; m++) {
                        unsigned b;
                        if (m < (p->dmabuf_maps + 1) / 2 && n > 0)
                                /* a mapping of a buffer the process also has an fd on */
                                b = pl->fd_buf[pl->dma_first[i] + rng_below(&r, n)];
                        else {
                                /* map-only: the fd was closed after mmap() */
                                b = rng_below(&r, pl->n_pool);
                                for (unsigned t = 0; t < 16 && proc_holds_by_fd(pl, i, b); t++)
                                        b = rng_below(&r, pl->n_pool);
                        }
                        bool dup_map = false;
                        for (unsigned q = 0; q < pl->map_n[i]; q++)
                                if (pl->map_buf[(size_t) i * p->dmabuf_maps + q] == b)
                                        dup_map = true;
                        if (!dup_map && !proc_holds_by_fd(pl, i, b))
                                st->map_only_refs++;
                        pl->map_buf[(size_t) i * p->dmabuf_maps + pl->map_n[i]++] = b;
                        pl->bufs[b].map_refs++;
                        note_holder(pl, i, b, st);
                        st->dmabuf_maps++;
                }
                if (n > 0 || pl->map_n[i] > 0)
                        st->procs_with_dmabuf++;
        }
        st->procs = p->procs;
        st->fds = (uint64_t) p->procs * fds;
        st->buffers = pl->n_bufs;
        return 0;
}

/* ---- writing ---- */

static int write_at(int dir_fd, const char *name, const char *data, size_t len, BenchTreeStats *st) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                data += n;
                len -= (size_t) n;
        }
        st->files++;
        return close(fd) < 0 ? -errno : 0;
}

static int mkdir_open(int dir_fd, const char *name, BenchTreeStats *st) {
        if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        st->files++;
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

typedef struct MapsTemplate {
        const char *path; /* NULL: anonymous */
        const char *perms;
        const char *dev;
        unsigned ino;
        unsigned pages;
} MapsTemplate;

/* What a dynamically linked graphics client's maps look like, 30 lines. */
static const MapsTemplate maps_template[] = {
        { "/usr/bin/bench-app", "r--p", "fd:01", 1311234, 4 },
        { "/usr/bin/bench-app", "r-xp", "fd:01", 1311234, 40 },
        { "/usr/bin/bench-app", "r--p", "fd:01", 1311234, 12 },
        { "/usr/bin/bench-app", "r--p", "fd:01", 1311234, 1 },
        { "/usr/bin/bench-app", "rw-p", "fd:01", 1311234, 1 },
        { "[heap]", "rw-p", "00:00", 0, 132 },
        { NULL, "rw-p", "00:00", 0, 256 },
        { "/usr/lib/x86_64-linux-gnu/libc.so.6", "r--p", "fd:01", 1054871, 40 },
        { "/usr/lib/x86_64-linux-gnu/libc.so.6", "r-xp", "fd:01", 1054871, 372 },
        { "/usr/lib/x86_64-linux-gnu/libc.so.6", "r--p", "fd:01", 1054871, 84 },
        { "/usr/lib/x86_64-linux-gnu/libc.so.6", "r--p", "fd:01", 1054871, 4 },
        { "/usr/lib/x86_64-linux-gnu/libc.so.6", "rw-p", "fd:01", 1054871, 2 },
        { NULL, "rw-p", "00:00", 0, 13 },
        { "/usr/lib/x86_64-linux-gnu/libdrm.so.2.4.0", "r--p", "fd:01", 1058222, 3 },
        { "/usr/lib/x86_64-linux-gnu/libdrm.so.2.4.0", "r-xp", "fd:01", 1058222, 14 },
        { "/usr/lib/x86_64-linux-gnu/libdrm.so.2.4.0", "r--p", "fd:01", 1058222, 5 },
        { "/usr/lib/x86_64-linux-gnu/libdrm.so.2.4.0", "rw-p", "fd:01", 1058222, 1 },
        { "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0.0.0", "r--p", "fd:01", 1061003, 6 },
        { "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0.0.0", "r-xp", "fd:01", 1061003, 44 },
        { "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0.0.0", "r--p", "fd:01", 1061003, 12 },
        { "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0.0.0", "rw-p", "fd:01", 1061003, 2 },
        { "/memfd:wayland-shm (deleted)", "rw-s", "00:01", 2087, 1024 },
        { "/dev/dri/renderD128", "rw-s", "00:05", 412, 64 },
        { "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "r--p", "fd:01", 1054860, 1 },
        { "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "r-xp", "fd:01", 1054860, 37 },
        { "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "r--p", "fd:01", 1054860, 10 },
        { "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "rw-p", "fd:01", 1054860, 2 },
        { "[stack]", "rw-p", "00:00", 0, 33 },
        { "[vvar]", "r--p", "00:00", 0, 4 },
        { "[vdso]", "r-xp", "00:00", 0, 2 },
};
#define N_TEMPLATE (sizeof maps_template / sizeof maps_template[0])
/* dma-buf mappings go after the GPU render node, as a Mesa driver would place them */
#define DMABUF_MAPS_AFTER 23

/* One line as show_map_vma() prints it: the header, then, when there is a path,
 * spaces up to column 73 and the path. */
static size_t maps_line(char *out, size_t room, uint64_t start, uint64_t end, const char *perms,
                        uint64_t pgoff, const char *dev, uint64_t ino, const char *path) {
        int n = snprintf(out, room, "%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %s %" PRIu64 " ", start, end,
                         perms, pgoff, dev, ino);
        if (n < 0 || (size_t) n >= room)
                return 0;
        size_t len = (size_t) n;
        if (path) {
                while (len < 73 && len + 1 < room)
                        out[len++] = ' ';
                n = snprintf(out + len, room - len, "%s", path);
                if (n < 0 || (size_t) n >= room - len)
                        return 0;
                len += (size_t) n;
        }
        if (len + 1 >= room)
                return 0;
        out[len++] = '\n';
        return len;
}

static const char *const comms[] = {
        "gnome-shell", "Xwayland", "firefox", "Isolated Web Co", "chrome", "gst-launch-1.0", "mpv",
        "kwin_wayland", "plasmashell", "cameraserver", "surfaceflinger", "vulkan-bench", "code",
        "pipewire", "weston", "ffmpeg", "obs", "systemd-journal", "sshd", "bash",
};
static const char *const cgroups[] = {
        "/system.slice/display-manager.service",
        "/user.slice/user-1000.slice/session-2.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope",
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-mpv.scope",
        "/system.slice/pipewire.service",
        "/system.slice/x.service",
};

static int write_maps(int pid_fd, const BenchTreeParams *p, const Plan *pl, unsigned proc, Rng *r,
                      char *buf, size_t room, BenchTreeStats *st) {
        size_t len = 0;
        uint64_t addr = 0x7f0000000000ULL + ((uint64_t) rng_below(r, 0x8000) << 24);
        uint64_t exe = 0x550000000000ULL + ((uint64_t) rng_below(r, 0x10000) << 20);
        const char *prev_path = NULL;
        uint64_t off = 0;

        unsigned ins = p->ordinary_maps < DMABUF_MAPS_AFTER ? p->ordinary_maps : DMABUF_MAPS_AFTER;
        for (unsigned i = 0; i <= p->ordinary_maps; i++) {
                if (i == ins) {
                        for (unsigned m = 0; m < pl->map_n[proc]; m++) {
                                const Buffer *b = &pl->bufs[pl->map_buf[(size_t) proc * p->dmabuf_maps + m]];
                                char path[48];
                                uint64_t pages = (b->size + PAGE - 1) / PAGE;
                                snprintf(path, sizeof path, "/dmabuf:%s", b->name);
                                len += maps_line(buf + len, room - len, addr, addr + pages * PAGE, "rw-s", 0,
                                                 "00:0d", b->ino, path);
                                addr += (pages + 1) * PAGE;
                        }
                }
                if (i >= p->ordinary_maps)
                        break;
                const MapsTemplate *t = &maps_template[i % N_TEMPLATE];
                uint64_t *cur = i < 7 ? &exe : &addr; /* the executable and heap sit low */
                if (!t->path || !prev_path || strcmp(t->path, prev_path) != 0)
                        off = 0;
                len += maps_line(buf + len, room - len, *cur, *cur + t->pages * PAGE, t->perms,
                                 t->ino ? off : 0, t->dev, t->ino, t->path);
                off += t->pages * PAGE;
                *cur += (t->pages + (i % 3 == 0 ? rng_below(r, 16) : 0)) * PAGE;
                prev_path = t->path;
        }
        len += maps_line(buf + len, room - len, 0xffffffffff600000ULL, 0xffffffffff601000ULL, "--xp", 0, "00:00",
                         0, "[vsyscall]");
        return write_at(pid_fd, "maps", buf, len, st);
}

/* The fdinfo of an fd that is not a dma-buf says little, and 90% of fds are such:
 * they are hard links to a pool of files, one per inode number, which keeps the tree's
 * disk blocks (and the time to write and delete it) to a fraction. Their content is
 * what the kernel shows for such an fd, and the inode in the link (socket:[N]) matches. */
#define FDINFO_POOL 256
#define FDINFO_POOL_DIR ".fdinfo-pool"

static unsigned pool_ino(unsigned k) {
        return 20000 + k * 7919;
}

static int write_pool(int dir_fd, BenchTreeStats *st) {
        char name[16], info[128];
        int fd = mkdir_open(dir_fd, FDINFO_POOL_DIR, st);
        if (fd < 0)
                return fd;
        for (unsigned k = 0; k < FDINFO_POOL; k++) {
                snprintf(name, sizeof name, "%u", k);
                int n = snprintf(info, sizeof info, "pos:\t0\nflags:\t02\nmnt_id:\t20\nino:\t%u\n", pool_ino(k));
                int r = write_at(fd, name, info, (size_t) n, st);
                if (r < 0 && r != -EEXIST) {
                        close(fd);
                        return r;
                }
        }
        return fd;
}

static int write_proc(int proc_fd, int pool_fd, const BenchTreeParams *p, const Plan *pl, unsigned i, Rng *r,
                      char *mapsbuf, size_t maps_room, BenchTreeStats *st) {
        char name[32], target[128], info[256];
        int pid_fd = -1, fd_fd = -1, fdinfo_fd = -1, k;
        unsigned fds = p->fds_per_proc;

        snprintf(name, sizeof name, "%d", (int) pl->pids[i]);
        pid_fd = mkdir_open(proc_fd, name, st);
        if (pid_fd < 0)
                return pid_fd;
        k = mkdir_open(pid_fd, "fd", st);
        if (k < 0)
                goto fail;
        fd_fd = k;
        k = mkdir_open(pid_fd, "fdinfo", st);
        if (k < 0)
                goto fail;
        fdinfo_fd = k;

        const char *comm = comms[i % (sizeof comms / sizeof comms[0])];
        k = snprintf(info, sizeof info, "%s\n", comm);
        k = write_at(pid_fd, "comm", info, (size_t) k, st);
        if (k < 0)
                goto fail;
        k = snprintf(info, sizeof info, "0::%s\n", cgroups[i % (sizeof cgroups / sizeof cgroups[0])]);
        k = write_at(pid_fd, "cgroup", info, (size_t) k, st);
        if (k < 0)
                goto fail;
        k = write_maps(pid_fd, p, pl, i, r, mapsbuf, maps_room, st);
        if (k < 0)
                goto fail;

        /* Choose which fd numbers are dma-bufs: selection sampling over 3..fds-1, so
         * they are spread among the others and in ascending order. */
        unsigned need = pl->dma_n[i], left = fds > 3 ? fds - 3 : 0, j = 0;
        for (unsigned fd = 0; fd < fds; fd++) {
                bool is_dma = false;
                if (fd >= 3) {
                        if (need > 0 && rng_below(r, left) < need) {
                                is_dma = true;
                                need--;
                        }
                        left--;
                }
                snprintf(name, sizeof name, "%u", fd);
                int ilen;
                int pool_k = -1;
                if (is_dma) {
                        const Buffer *b = &pl->bufs[pl->fd_buf[pl->dma_first[i] + j++]];
                        snprintf(target, sizeof target, "/dmabuf:%s", b->name);
                        ilen = snprintf(info, sizeof info,
                                        "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t%" PRIu64
                                        "\nsize:\t%" PRIu64 "\ncount:\t%u\nexp_name:\t%s\n",
                                        b->ino, b->size, b->fd_refs + b->map_refs + (b->kernel_ref ? 1u : 0u),
                                        exporters[b->exporter]);
                        if (b->has_name)
                                ilen += snprintf(info + ilen, sizeof info - (size_t) ilen, "name:\t%s\n", b->name);
                } else {
                        unsigned kind = fd < 3 ? 10 : rng_below(r, 10);
                        pool_k = (int) rng_below(r, FDINFO_POOL);
                        unsigned ino = pool_ino((unsigned) pool_k);
                        switch (kind) {
                        case 0:
                        case 1:
                        case 2:
                                snprintf(target, sizeof target, "socket:[%u]", ino);
                                break;
                        case 3:
                        case 4:
                                snprintf(target, sizeof target, "pipe:[%u]", ino);
                                break;
                        case 5:
                                snprintf(target, sizeof target, "anon_inode:[eventfd]");
                                break;
                        case 6: /* GPU fences: the anon inode a naive match on "dma" might catch */
                                snprintf(target, sizeof target, "anon_inode:sync_file");
                                break;
                        case 7:
                                snprintf(target, sizeof target, "/dev/dri/renderD128");
                                break;
                        case 8:
                                snprintf(target, sizeof target, "/usr/lib/x86_64-linux-gnu/libEGL_mesa.so.0.0.0");
                                break;
                        case 9:
                                snprintf(target, sizeof target, "/memfd:wayland-shm (deleted)");
                                break;
                        default:
                                snprintf(target, sizeof target, "/dev/null");
                                break;
                        }
                        ilen = snprintf(info, sizeof info, "pos:\t0\nflags:\t02\nmnt_id:\t20\nino:\t%u\n", ino);
                }
                if (symlinkat(target, fd_fd, name) < 0) {
                        k = -errno;
                        goto fail;
                }
                st->files++;
                if (pool_k >= 0) {
                        char src[16];
                        snprintf(src, sizeof src, "%d", pool_k);
                        if (linkat(pool_fd, src, fdinfo_fd, name, 0) == 0) {
                                st->files++;
                                continue;
                        }
                        if (errno != EMLINK) { /* too many links: write a copy */
                                k = -errno;
                                goto fail;
                        }
                }
                k = write_at(fdinfo_fd, name, info, (size_t) ilen, st);
                if (k < 0)
                        goto fail;
        }
        close(fdinfo_fd);
        close(fd_fd);
        close(pid_fd);
        return 0;
fail:
        if (fdinfo_fd >= 0)
                close(fdinfo_fd);
        if (fd_fd >= 0)
                close(fd_fd);
        close(pid_fd);
        return k;
}

static int write_marker(int dir_fd, const BenchTreeParams *p, const BenchTreeStats *st) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf,
                         "procs %u\nfds_per_proc %u\ndmabuf_permille %u\nbuffers_param %u\nkernel_only_param %u\n"
                         "dmabuf_maps_param %u\nordinary_maps %u\nseed %" PRIu64 "\n"
                         "st_procs %" PRIu64 "\nst_procs_with_dmabuf %" PRIu64 "\nst_fds %" PRIu64
                         "\nst_dmabuf_fds %" PRIu64 "\nst_dmabuf_maps %" PRIu64 "\nst_map_only_refs %" PRIu64
                         "\nst_buffers %" PRIu64 "\nst_shared_buffers %" PRIu64 "\nst_userspace_buffers %" PRIu64
                         "\nst_bytes %" PRIu64 "\nst_userspace_bytes %" PRIu64 "\nst_files %" PRIu64 "\n",
                         p->procs, p->fds_per_proc, p->dmabuf_permille, p->buffers, p->kernel_only, p->dmabuf_maps,
                         p->ordinary_maps, p->seed, st->procs, st->procs_with_dmabuf, st->fds, st->dmabuf_fds,
                         st->dmabuf_maps, st->map_only_refs, st->buffers, st->shared_buffers, st->userspace_buffers,
                         st->bytes, st->userspace_bytes, st->files);
        BenchTreeStats dummy = { 0 };
        int r = write_at(dir_fd, MARKER_NAME ".tmp", buf, (size_t) n, &dummy);
        if (r < 0)
                return r;
        return renameat(dir_fd, MARKER_NAME ".tmp", dir_fd, MARKER_NAME) < 0 ? -errno : 0;
}

int bench_tree_generate(int dir_fd, const BenchTreeParams *p, BenchTreeStats *ret) {
        Plan pl;
        BenchTreeStats st;
        char name[32], buf[64];
        int r, proc_fd = -1, sys_fd = -1, bufs_fd = -1, t = -1, pool_fd = -1;
        char *mapsbuf = NULL;
        size_t maps_room = ((size_t) p->ordinary_maps + p->dmabuf_maps + 2) * 192;

        r = plan_make(p, &pl, &st);
        if (r < 0)
                return r;
        mapsbuf = malloc(maps_room);
        if (!mapsbuf) {
                r = -ENOMEM;
                goto out;
        }

        pool_fd = write_pool(dir_fd, &st);
        if (pool_fd < 0) {
                r = pool_fd;
                goto out;
        }

        /* proc/sys/kernel/osrelease: a 6.1 kernel (fdinfo has ino:, sysfs stats exist) */
        proc_fd = mkdir_open(dir_fd, "proc", &st);
        if (proc_fd < 0) {
                r = proc_fd;
                goto out;
        }
        r = t = mkdir_open(proc_fd, "sys", &st);
        if (r < 0)
                goto out;
        int k_fd = mkdir_open(t, "kernel", &st);
        close(t);
        t = -1;
        if (k_fd < 0) {
                r = k_fd;
                goto out;
        }
        r = write_at(k_fd, "osrelease", "6.1.0\n", 6, &st);
        close(k_fd);
        if (r < 0)
                goto out;

        /* Creating inodes is what takes the time, all of it in the kernel: share the
         * processes among a few forked writers. Each process's details come from its
         * own seed, so the tree is the same whatever the number of writers. */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned nw = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned) ncpu;
        pid_t workers[8];
        unsigned started = 0;
        fflush(NULL);
        for (unsigned w = 1; w < nw; w++) {
                pid_t pid = fork();
                if (pid < 0)
                        break;
                if (pid == 0) {
                        BenchTreeStats dummy = { 0 };
                        for (unsigned i = w; i < pl.n_procs; i += nw) {
                                Rng prng = { p->seed ^ ((uint64_t) pl.pids[i] << 20) ^ 0x70726f63ULL };
                                if (write_proc(proc_fd, pool_fd, p, &pl, i, &prng, mapsbuf, maps_room, &dummy) < 0)
                                        _exit(1);
                        }
                        _exit(0);
                }
                workers[started++] = pid;
        }
        /* this process writes its own share, and the share of writers that could not start */
        for (unsigned i = 0; i < pl.n_procs && r >= 0; i++) {
                if (i % nw != 0 && i % nw <= started)
                        continue;
                BenchTreeStats dummy = { 0 };
                Rng prng = { p->seed ^ ((uint64_t) pl.pids[i] << 20) ^ 0x70726f63ULL };
                r = write_proc(proc_fd, pool_fd, p, &pl, i, &prng, mapsbuf, maps_room, &dummy);
        }
        for (unsigned w = 0; w < started; w++) {
                int status = 0;
                while (waitpid(workers[w], &status, 0) < 0 && errno == EINTR)
                        ;
                if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && r >= 0)
                        r = -EIO;
        }
        if (r < 0)
                goto out;
        /* pid, fd and fdinfo directories, comm, cgroup, maps, and a link and an fdinfo per fd */
        st.files += (uint64_t) pl.n_procs * (6 + 2 * (uint64_t) p->fds_per_proc);
        if (pl.n_procs > 0) {
                /* /proc/self, as on a live system; a collector must not count it twice */
                snprintf(name, sizeof name, "%d", (int) pl.pids[0]);
                if (symlinkat(name, proc_fd, "self") < 0) {
                        r = -errno;
                        goto out;
                }
                st.files++;
        }

        sys_fd = mkdir_open(dir_fd, "sys", &st);
        if (sys_fd < 0) {
                r = sys_fd;
                goto out;
        }
        r = t = mkdir_open(sys_fd, "kernel", &st);
        if (r < 0)
                goto out;
        int d_fd = mkdir_open(t, "dmabuf", &st);
        close(t);
        t = -1;
        if (d_fd < 0) {
                r = d_fd;
                goto out;
        }
        bufs_fd = mkdir_open(d_fd, "buffers", &st);
        close(d_fd);
        if (bufs_fd < 0) {
                r = bufs_fd;
                goto out;
        }
        for (unsigned i = 0; i < pl.n_bufs; i++) {
                const Buffer *b = &pl.bufs[i];
                char path[64];
                snprintf(name, sizeof name, "%" PRIu64, b->ino);
                if (mkdirat(bufs_fd, name, 0755) < 0) {
                        r = -errno;
                        goto out;
                }
                st.files++;
                snprintf(path, sizeof path, "%s/exporter_name", name);
                int n = snprintf(buf, sizeof buf, "%s\n", exporters[b->exporter]);
                r = write_at(bufs_fd, path, buf, (size_t) n, &st);
                if (r < 0)
                        goto out;
                snprintf(path, sizeof path, "%s/size", name);
                n = snprintf(buf, sizeof buf, "%" PRIu64 "\n", b->size);
                r = write_at(bufs_fd, path, buf, (size_t) n, &st);
                if (r < 0)
                        goto out;
        }

        r = write_marker(dir_fd, p, &st);
        if (r >= 0 && ret)
                *ret = st;
out:
        if (t >= 0)
                close(t);
        if (pool_fd >= 0)
                close(pool_fd);
        if (bufs_fd >= 0)
                close(bufs_fd);
        if (sys_fd >= 0)
                close(sys_fd);
        if (proc_fd >= 0)
                close(proc_fd);
        free(mapsbuf);
        plan_free(&pl);
        return r < 0 ? r : 0;
}

int bench_tree_read_marker(int dir_fd, BenchTreeParams *ret_params, BenchTreeStats *ret_stats) {
        BenchTreeParams p;
        BenchTreeStats st = { 0 };
        char key[64];
        unsigned long long v;
        unsigned seen = 0;
        int fd = openat(dir_fd, MARKER_NAME, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        FILE *f = fdopen(fd, "r");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        bench_tree_params_default(&p);
        for (unsigned line = 0; line < 64 && fscanf(f, "%63s %llu", key, &v) == 2; line++) {
                seen++;
                if (!strcmp(key, "procs"))
                        p.procs = (unsigned) v;
                else if (!strcmp(key, "fds_per_proc"))
                        p.fds_per_proc = (unsigned) v;
                else if (!strcmp(key, "dmabuf_permille"))
                        p.dmabuf_permille = (unsigned) v;
                else if (!strcmp(key, "buffers_param"))
                        p.buffers = (unsigned) v;
                else if (!strcmp(key, "kernel_only_param"))
                        p.kernel_only = (unsigned) v;
                else if (!strcmp(key, "dmabuf_maps_param"))
                        p.dmabuf_maps = (unsigned) v;
                else if (!strcmp(key, "ordinary_maps"))
                        p.ordinary_maps = (unsigned) v;
                else if (!strcmp(key, "seed"))
                        p.seed = v;
                else if (!strcmp(key, "st_procs"))
                        st.procs = v;
                else if (!strcmp(key, "st_procs_with_dmabuf"))
                        st.procs_with_dmabuf = v;
                else if (!strcmp(key, "st_fds"))
                        st.fds = v;
                else if (!strcmp(key, "st_dmabuf_fds"))
                        st.dmabuf_fds = v;
                else if (!strcmp(key, "st_dmabuf_maps"))
                        st.dmabuf_maps = v;
                else if (!strcmp(key, "st_map_only_refs"))
                        st.map_only_refs = v;
                else if (!strcmp(key, "st_buffers"))
                        st.buffers = v;
                else if (!strcmp(key, "st_shared_buffers"))
                        st.shared_buffers = v;
                else if (!strcmp(key, "st_userspace_buffers"))
                        st.userspace_buffers = v;
                else if (!strcmp(key, "st_bytes"))
                        st.bytes = v;
                else if (!strcmp(key, "st_userspace_bytes"))
                        st.userspace_bytes = v;
                else if (!strcmp(key, "st_files"))
                        st.files = v;
        }
        fclose(f);
        if (seen < 20)
                return -EBADMSG;
        if (ret_params)
                *ret_params = p;
        if (ret_stats)
                *ret_stats = st;
        return 0;
}

static int remove_depth(int parent_fd, const char *name, unsigned depth) {
        if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        if (depth > 16)
                return -ELOOP;
        int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -ENOMEM;
        }
        int r = 0;
        /* Unlinking while reading may make readdir skip entries: go over it again
         * until it is empty, a bounded number of times. */
        for (unsigned pass = 0; pass < 8; pass++) {
                bool any = false;
                struct dirent *de;
                rewinddir(d);
                while ((de = readdir(d))) {
                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        any = true;
                        int q = de->d_type == DT_DIR ? remove_depth(dirfd(d), de->d_name, depth + 1)
                                                      : unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT
                                                                ? -errno
                                                                : 0;
                        if (q == -EISDIR)
                                q = remove_depth(dirfd(d), de->d_name, depth + 1);
                        if (q < 0 && r == 0)
                                r = q;
                }
                if (!any)
                        break;
        }
        closedir(d);
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}

int bench_tree_remove(int parent_fd, const char *name) {
        return remove_depth(parent_fd, name, 0);
}
