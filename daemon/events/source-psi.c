/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "source-psi.h"

#define PSI_MEMORY "proc/pressure/memory"

typedef struct PsiTrigger {
        DmabufdSourcePsi *source;
        char kernel[DMABUF_PSI_TRIGGER_STRING_MAX]; /* as written: "full 100000 1000000" */
        int fd;
        sd_event_source *io;
} PsiTrigger;

struct DmabufdSourcePsi {
        DmabufdEventFunc cb;
        void *userdata;
        char path[PATH_MAX + 64]; /* for log lines: the file under the root */
        PsiTrigger *triggers;
        size_t n_triggers;
        size_t n_armed;
};

static void trigger_disarm(PsiTrigger *t) {
        if (t->fd < 0)
                return;
        /* sd-event defers the free when this runs inside the source's own handler. */
        t->io = sd_event_source_disable_unref(t->io);
        t->fd = safe_close(t->fd);
        t->source->n_armed--;
}

static int on_trigger(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        PsiTrigger *t = userdata;
        DmabufdSourcePsi *s = t->source;

        (void) es;
        (void) fd;
        /* The kernel answers EPOLLERR|EPOLLPRI when the trigger is gone (its cgroup
         * removed, PSI switched off), so the error is looked at first. */
        if (revents & (EPOLLERR | EPOLLHUP)) {
                log_warning("psi: trigger \"%s\" on %s reported an error, the kernel dropped it; disarming it%s",
                            t->kernel, s->path, s->n_armed == 1 ? " (no trigger left, the psi source is down)" : "");
                trigger_disarm(t);
                return 0;
        }
        /* Polling consumed the event: the kernel clears it in its poll handler, so
         * there is nothing to read. */
        if (revents & EPOLLPRI) {
                DmabufdEvent ev = {
                        .kind = DMABUFD_EVENT_PSI,
                        .psi_trigger = t->kernel,
                };
                s->cb(&ev, s->userdata);
        }
        return 0;
}

/* A regular file (a --root fixture) takes any write, and then epoll refuses it with
 * EPERM. Asking a throwaway epoll first keeps the fixture from being overwritten.
 * A real PSI file with no trigger yet registers no wait queue, so this leaves
 * nothing behind. */
static int probe_pollable(int fd) {
        _cleanup_close_ int ep = -EBADF;
        struct epoll_event ev = { .events = EPOLLPRI };

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                return negative_errno();
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                return negative_errno();
        return 0;
}

static const char *open_hint(int r) {
        switch (r) {
        case -ENOENT:
                return " (kernel without CONFIG_PSI, or PSI disabled: boot with psi=1)";
        case -EACCES:
        case -EPERM:
                return " (creating PSI triggers takes root)";
        default:
                return "";
        }
}

static const char *write_hint(int r) {
        switch (r) {
        case -EINVAL:
                return " (unprivileged triggers need windows that are multiples of 2s, Linux 6.4+)";
        case -EOPNOTSUPP:
                return " (PSI is disabled: boot with psi=1)";
        default:
                return "";
        }
}

/* Returns 0 when armed; -errno with *file_level set when the file itself is
 * unusable (the same for every trigger), clear when only this trigger was refused. */
static int trigger_arm(DmabufdSourcePsi *s, PsiTrigger *t, sd_event *e, int root_fd, bool *file_level) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(t->kernel) + 1;
        ssize_t n;
        int r;

        *file_level = true;
        fd = openat(root_fd, PSI_MEMORY, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = negative_errno();
                return log_warning_errno(r, "psi: cannot open %s: %m%s; the psi source is down", s->path,
                                         open_hint(r));
        }
        r = probe_pollable(fd);
        if (r < 0)
                return log_warning_errno(r,
                                         "psi: %s cannot be polled: %m (not a kernel PSI file; a regular file "
                                         "under --root?); the psi source is down",
                                         s->path);

        *file_level = false;
        /* The kernel overwrites the last byte it copies with a NUL, so the NUL is sent
         * along or the window loses its last digit. */
        n = write(fd, t->kernel, len);
        if (n < 0) {
                r = negative_errno();
                return log_warning_errno(r, "psi: %s refused the trigger \"%s\": %m%s, ignoring it", s->path,
                                         t->kernel, write_hint(r));
        }
        if ((size_t) n != len)
                return log_warning_errno(-EIO, "psi: %s took a short write of the trigger \"%s\", ignoring it",
                                         s->path, t->kernel);

        r = sd_event_add_io(e, &t->io, fd, EPOLLPRI, on_trigger, t);
        if (r < 0) {
                *file_level = r != -ENOMEM;
                return log_warning_errno(r, "psi: cannot watch %s for the trigger \"%s\": %m%s", s->path, t->kernel,
                                         r == -ENOMEM ? "" : "; the psi source is down");
        }
        (void) sd_event_source_set_description(t->io, "psi-trigger");
        t->fd = TAKE_FD(fd);
        s->n_armed++;
        return 0;
}

int dmabufd_source_psi_new(sd_event *e, int root_fd, const DmabufPsiTrigger *triggers, size_t n_triggers,
                           DmabufdEventFunc cb, void *userdata, DmabufdSourcePsi **ret) {
        _cleanup_(dmabufd_source_psi_freep) DmabufdSourcePsi *s = NULL;
        char root[PATH_MAX], armed[256] = "";
        bool said_down = false;
        size_t alen = 0;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cb = cb;
        s->userdata = userdata;
        (void) fd_get_path(root_fd, root, sizeof(root));
        snprintf(s->path, sizeof(s->path), "%s/%s", streq(root, "/") ? "" : root, PSI_MEMORY);

        if (n_triggers > 0) {
                s->triggers = calloc(n_triggers, sizeof(*s->triggers));
                if (!s->triggers)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n_triggers; i++) {
                PsiTrigger *t = &s->triggers[i];

                t->source = s;
                t->fd = -EBADF;
                s->n_triggers++;
                if (dmabuf_psi_trigger_format(&triggers[i], t->kernel, sizeof(t->kernel)) < 0) {
                        /* The config parser checked it; still, never write junk to the kernel. */
                        log_warning("psi: trigger %zu is out of the kernel's limits, ignoring it", i);
                        continue;
                }
        }

        for (size_t i = 0; i < s->n_triggers; i++) {
                PsiTrigger *t = &s->triggers[i];
                bool file_level;
                int r;

                if (t->kernel[0] == '\0')
                        continue;
                r = trigger_arm(s, t, e, root_fd, &file_level);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && file_level) {
                        /* Every trigger would meet the same fate: one log line is enough. */
                        for (size_t j = 0; j < s->n_triggers; j++)
                                trigger_disarm(&s->triggers[j]);
                        said_down = true;
                        break;
                }
                if (r == 0 && alen < sizeof(armed))
                        alen += (size_t) snprintf(armed + alen, sizeof(armed) - alen, "%s\"%s\"",
                                                  alen ? ", " : "", t->kernel);
        }

        if (n_triggers == 0)
                log_info("psi: no triggers configured; the psi source is down");
        else if (s->n_armed > 0)
                log_info("psi: %zu of %zu triggers armed on %s: %s", s->n_armed, n_triggers, s->path, armed);
        else if (!said_down)
                log_warning("psi: no trigger armed on %s; the psi source is down", s->path);

        *ret = TAKE_PTR(s);
        return 0;
}

bool dmabufd_source_psi_is_up(const DmabufdSourcePsi *s) {
        return s && s->n_armed > 0;
}

size_t dmabufd_source_psi_armed(const DmabufdSourcePsi *s) {
        return s ? s->n_armed : 0;
}

DmabufdSourcePsi *dmabufd_source_psi_free(DmabufdSourcePsi *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_triggers; i++)
                trigger_disarm(&s->triggers[i]);
        free(s->triggers);
        free(s);
        return NULL;
}
