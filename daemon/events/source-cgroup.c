/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "pressure-parser.h"
#include "source-cgroup.h"
#include "strbuf.h"

#define CGROUP_MOUNT "sys/fs/cgroup"
#define MEMORY_EVENTS "memory.events"
#define MEMORY_EVENTS_MAX 4096

typedef struct CgroupWatch {
        char *name; /* "/system.slice/foo.service", as events and log lines name it */
        int dir_fd;
        int wd;
        uint64_t oom_kill; /* the last value seen */
        bool dirty;        /* notified since the last read */
        bool gone;         /* the kernel dropped the watch (IN_IGNORED) */
        bool warned;       /* a bad read was logged; quiet until a good one */
} CgroupWatch;

struct DmabufdSourceCgroup {
        DmabufdEventFunc cb;
        void *userdata;
        char mount[PATH_MAX + 64]; /* for log lines: <root>/sys/fs/cgroup */
        int inotify_fd;
        sd_event_source *io;
        CgroupWatch *cgroups;
        size_t n_cgroups;
        size_t n_watched;
        StrBuf scratch;
};

int dmabufd_cgroup_path_normalize(const char *path, char *buf, size_t size, char *err, size_t err_len) {
        size_t o = 0;

        if (size == 0)
                return -ENAMETOOLONG;
        for (const char *p = path; *p;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);

                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (err && err_len > 0)
                                snprintf(err, err_len, "cgroup \"%s\": \"..\" components are not allowed", path);
                        return -EINVAL;
                }
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (o + (o > 0) + n + 1 > size) {
                                if (err && err_len > 0)
                                        snprintf(err, err_len, "cgroup \"%s\": path too long", path);
                                return -ENAMETOOLONG;
                        }
                        if (o > 0)
                                buf[o++] = '/';
                        memcpy(buf + o, p, n);
                        o += n;
                }
                p += n + (slash ? 1 : 0);
        }
        buf[o] = '\0';
        return 0;
}

static void cgroup_drop(DmabufdSourceCgroup *s, CgroupWatch *c) {
        if (c->dir_fd < 0)
                return;
        /* After IN_IGNORED the kernel has removed the watch, and the number may
         * already name a new one. */
        if (!c->gone && c->wd >= 0)
                (void) inotify_rm_watch(s->inotify_fd, c->wd);
        c->wd = -1;
        c->dir_fd = safe_close(c->dir_fd);
        s->n_watched--;
        if (s->n_watched == 0)
                s->io = sd_event_source_disable_unref(s->io);
}

static const char *down_suffix(const DmabufdSourceCgroup *s) {
        return s->n_watched == 1 ? " (no cgroup left, the cgroup source is down)" : "";
}

/* Reads memory.events in dir_fd. Returns 0, -ENOENT/-ENODEV when the cgroup is gone,
 * or another -errno with err describing it. */
static int cgroup_read(DmabufdSourceCgroup *s, int dir_fd, DmabufMemoryEvents *ret, char *err, size_t err_len) {
        int r;

        r = read_file_at(dir_fd, MEMORY_EVENTS, MEMORY_EVENTS_MAX, &s->scratch);
        if (r < 0) {
                snprintf(err, err_len, "%s", strerror(-r));
                return r;
        }
        return dmabuf_memory_events_parse(s->scratch.buf, s->scratch.len, ret, err, err_len);
}

static void cgroup_check(DmabufdSourceCgroup *s, CgroupWatch *c) {
        DmabufMemoryEvents ev;
        char err[256];
        int r;

        c->dirty = false;
        r = cgroup_read(s, c->dir_fd, &ev, err, sizeof(err));
        if (r == -ENOENT || r == -ENODEV) {
                log_warning("cgroup: %s went away, dropping it%s", c->name, down_suffix(s));
                cgroup_drop(s, c);
                return;
        }
        if (r < 0) {
                if (!c->warned)
                        log_warning("cgroup: %s%s/" MEMORY_EVENTS ": %s, ignoring this change", s->mount, c->name,
                                    err);
                c->warned = true;
                return;
        }
        c->warned = false;
        if (ev.oom_kill > c->oom_kill) {
                DmabufdEvent e = {
                        .kind = DMABUFD_EVENT_CGROUP_OOM,
                        .cgroup = c->name,
                        .oom_kill = ev.oom_kill,
                        .oom_kill_increase = ev.oom_kill - c->oom_kill,
                };

                c->oom_kill = ev.oom_kill;
                s->cb(&e, s->userdata);
                return;
        }
        /* Counters only grow; a smaller one can only be a file we misread before. */
        c->oom_kill = ev.oom_kill;
}

static CgroupWatch *find_wd(DmabufdSourceCgroup *s, int wd) {
        for (size_t i = 0; i < s->n_cgroups; i++)
                if (s->cgroups[i].dir_fd >= 0 && s->cgroups[i].wd == wd)
                        return &s->cgroups[i];
        return NULL;
}

static int on_inotify(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        DmabufdSourceCgroup *s = userdata;
        union {
                struct inotify_event ev;
                char buf[4096];
        } u;

        (void) es;
        (void) revents;
        for (;;) {
                ssize_t n = read(fd, &u, sizeof(u));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                log_warning_errno(negative_errno(), "cgroup: reading inotify events: %m");
                        break;
                }
                for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t) n;) {
                        struct inotify_event ie;
                        CgroupWatch *c;

                        memcpy(&ie, u.buf + off, sizeof(ie));
                        off += sizeof(ie) + ie.len;
                        if (ie.mask & IN_Q_OVERFLOW) {
                                /* Lost events: read everything, the values say what happened. */
                                for (size_t i = 0; i < s->n_cgroups; i++)
                                        s->cgroups[i].dirty = true;
                                continue;
                        }
                        c = find_wd(s, ie.wd);
                        if (!c)
                                continue;
                        if (ie.mask & IN_MODIFY)
                                c->dirty = true;
                        if (ie.mask & IN_IGNORED)
                                c->gone = true;
                }
        }

        for (size_t i = 0; i < s->n_cgroups; i++) {
                CgroupWatch *c = &s->cgroups[i];

                if (c->dir_fd < 0)
                        continue;
                /* Read before dropping: an increase that came with the removal is
                 * still reported if the file can be read. */
                if (c->dirty)
                        cgroup_check(s, c);
                if (c->dir_fd >= 0 && c->gone) {
                        log_warning("cgroup: %s went away, dropping it%s", c->name, down_suffix(s));
                        cgroup_drop(s, c);
                }
        }
        return 0;
}

/* Sets c up: directory fd, watch, starting value. Returns 0, or -errno after
 * logging why the cgroup is dropped (-ENOMEM is only returned). */
static int cgroup_add(DmabufdSourceCgroup *s, CgroupWatch *c, int root_fd, const char *rel) {
        _cleanup_close_ int dir_fd = -EBADF;
        char path[PATH_MAX], watch_path[64], err[256];
        DmabufMemoryEvents ev;
        CgroupWatch *other;
        int wd, r;

        if (snprintf(path, sizeof(path), "%s%s%s", CGROUP_MOUNT, *rel ? "/" : "", rel) >= (int) sizeof(path))
                return log_warning_errno(-ENAMETOOLONG, "cgroup: %s: path too long, dropping it", c->name);
        dir_fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                r = negative_errno();
                if (r == -ENOMEM)
                        return r;
                return log_warning_errno(r, "cgroup: %s: cannot open %s%s: %m, dropping it", c->name, s->mount,
                                         *rel ? c->name : "");
        }

        /* inotify takes a path: the fd's /proc link pins the watch to the directory
         * opened above, wherever --root put it. */
        snprintf(watch_path, sizeof(watch_path), "/proc/self/fd/%d/" MEMORY_EVENTS, dir_fd);
        wd = inotify_add_watch(s->inotify_fd, watch_path, IN_MODIFY | IN_DELETE_SELF | IN_DONT_FOLLOW);
        if (wd < 0) {
                r = negative_errno();
                if (r == -ENOMEM)
                        return r;
                if (r == -ENOENT && !*rel)
                        return log_warning_errno(r,
                                                 "cgroup: %s: the root cgroup has no " MEMORY_EVENTS
                                                 " in cgroup v2; name a child such as system.slice instead, "
                                                 "dropping it",
                                                 c->name);
                if (r == -ENOENT)
                        return log_warning_errno(r,
                                                 "cgroup: %s: no %s%s/" MEMORY_EVENTS
                                                 " (memory controller not enabled in the parent's "
                                                 "cgroup.subtree_control?), dropping it",
                                                 c->name, s->mount, c->name);
                return log_warning_errno(r, "cgroup: %s: cannot watch %s%s/" MEMORY_EVENTS ": %m, dropping it",
                                         c->name, s->mount, *rel ? c->name : "");
        }
        other = find_wd(s, wd);
        if (other) {
                /* Same file as a cgroup already watched: leave its watch alone. */
                if (streq(other->name, c->name))
                        return log_warning_errno(-EEXIST, "cgroup: %s is listed twice, ignoring it", c->name);
                return log_warning_errno(-EEXIST, "cgroup: %s is the same cgroup as %s, ignoring it", c->name,
                                         other->name);
        }

        /* Watch first, then read: a kill in between is then seen by value at the
         * next notification instead of lost. */
        r = cgroup_read(s, dir_fd, &ev, err, sizeof(err));
        if (r < 0) {
                (void) inotify_rm_watch(s->inotify_fd, wd);
                if (r == -ENOMEM)
                        return r;
                return log_warning_errno(r, "cgroup: %s: %s%s/" MEMORY_EVENTS ": %s, dropping it", c->name,
                                         s->mount, *rel ? c->name : "", err);
        }
        c->wd = wd;
        c->oom_kill = ev.oom_kill;
        c->dir_fd = TAKE_FD(dir_fd);
        s->n_watched++;
        log_debug("cgroup: watching %s, oom_kill %" PRIu64, c->name, c->oom_kill);
        return 0;
}

int dmabufd_source_cgroup_new(sd_event *e, int root_fd, char *const *cgroups, DmabufdEventFunc cb, void *userdata,
                              DmabufdSourceCgroup **ret) {
        _cleanup_(dmabufd_source_cgroup_freep) DmabufdSourceCgroup *s = NULL;
        char root[PATH_MAX], names[256] = "";
        size_t n = 0, nlen = 0;
        int r;

        for (char *const *p = cgroups; p && *p; p++)
                n++;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cb = cb;
        s->userdata = userdata;
        s->inotify_fd = -EBADF;
        (void) fd_get_path(root_fd, root, sizeof(root));
        snprintf(s->mount, sizeof(s->mount), "%s/%s", streq(root, "/") ? "" : root, CGROUP_MOUNT);

        if (n == 0) {
                log_info("cgroup: no cgroups configured; the cgroup source is down");
                *ret = TAKE_PTR(s);
                return 0;
        }
        s->cgroups = calloc(n, sizeof(*s->cgroups));
        if (!s->cgroups)
                return -ENOMEM;
        s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->inotify_fd < 0) {
                r = negative_errno();
                if (r == -ENOMEM)
                        return r;
                log_warning_errno(r, "cgroup: inotify_init1: %m; the cgroup source is down");
                *ret = TAKE_PTR(s);
                return 0;
        }

        for (size_t i = 0; i < n; i++) {
                CgroupWatch *c = &s->cgroups[i];
                char rel[PATH_MAX], err[PATH_MAX + 64];

                c->dir_fd = -EBADF;
                c->wd = -1;
                s->n_cgroups++;
                if (dmabufd_cgroup_path_normalize(cgroups[i], rel, sizeof(rel), err, sizeof(err)) < 0) {
                        log_warning("cgroup: %s, dropping it", err);
                        continue;
                }
                if (asprintf(&c->name, "/%s", rel) < 0) {
                        c->name = NULL;
                        return -ENOMEM;
                }
                r = cgroup_add(s, c, root_fd, rel);
                if (r == -ENOMEM)
                        return r;
                if (r == 0 && nlen < sizeof(names))
                        nlen += (size_t) snprintf(names + nlen, sizeof(names) - nlen, "%s%s", nlen ? ", " : "",
                                                  c->name);
        }

        if (s->n_watched == 0) {
                log_warning("cgroup: no configured cgroup can be watched; the cgroup source is down");
                *ret = TAKE_PTR(s);
                return 0;
        }
        r = sd_event_add_io(e, &s->io, s->inotify_fd, EPOLLIN, on_inotify, s);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                log_warning_errno(r, "cgroup: cannot watch the inotify fd: %m; the cgroup source is down");
                for (size_t i = 0; i < s->n_cgroups; i++)
                        cgroup_drop(s, &s->cgroups[i]);
                *ret = TAKE_PTR(s);
                return 0;
        }
        (void) sd_event_source_set_description(s->io, "cgroup-memory-events");
        log_info("cgroup: watching memory.events oom_kill of %zu of %zu cgroups under %s: %s", s->n_watched, n,
                 s->mount, names);
        *ret = TAKE_PTR(s);
        return 0;
}

bool dmabufd_source_cgroup_is_up(const DmabufdSourceCgroup *s) {
        return s && s->n_watched > 0;
}

size_t dmabufd_source_cgroup_watched(const DmabufdSourceCgroup *s) {
        return s ? s->n_watched : 0;
}

DmabufdSourceCgroup *dmabufd_source_cgroup_free(DmabufdSourceCgroup *s) {
        if (!s)
                return NULL;
        s->io = sd_event_source_disable_unref(s->io);
        for (size_t i = 0; i < s->n_cgroups; i++) {
                cgroup_drop(s, &s->cgroups[i]);
                free(s->cgroups[i].name);
        }
        free(s->cgroups);
        safe_close(s->inotify_fd);
        strbuf_done(&s->scratch);
        free(s);
        return NULL;
}
