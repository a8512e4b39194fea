/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the cgroup v2 event source: the OOM kill counter (oom_kill)
 * in memory.events of each configured cgroup under <root>/sys/fs/cgroup. One
 * inotify fd watches every file for IN_MODIFY, the way systemd watches it: kernfs
 * notifies a change of memory.events through inotify. On a notification the file
 * is read again and an increase over the last value seen is handed to the manager
 * as a DMABUFD_EVENT_CGROUP_OOM event. The increase is computed from the values,
 * not counted from notifications, because the kernel and inotify both coalesce
 * them; the starting values are read at start-up so kills from before it never
 * fire.
 *
 * memory.events is hierarchical (unless cgroup2 is mounted with memory_localevents):
 * a kill anywhere below a watched cgroup counts in it, so a few top-level cgroups
 * cover a systemd machine. The default, DMABUFD_CGROUPS_DEFAULT, is "system.slice"
 * and "user.slice". The root cgroup has no memory.events in cgroup v2, so it cannot
 * be watched. A kill by the global OOM killer counts in the victim's cgroups too,
 * so it also arrives here, besides the kernel log's oom_kill event.
 *
 * The source is "up" while at least one cgroup is watched. A cgroup that is missing
 * at start, has no memory controller, or goes away later is dropped with one
 * warning naming it; never fatal. */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "event.h"

#define DMABUFD_CGROUPS_DEFAULT "system.slice", "user.slice"

/* Normalizes a cgroup path relative to the cgroup2 mount: "/system.slice//foo/"
 * and "system.slice/./foo" become "system.slice/foo"; "/" and "" become "" (the root
 * cgroup). ".." components are refused, so a configured path cannot leave the
 * mount. Writes into buf. Returns 0, or -EINVAL / -ENAMETOOLONG with err naming the
 * path. */
int dmabufd_cgroup_path_normalize(const char *path, char *buf, size_t size, char *err, size_t err_len);

typedef struct DmabufdSourceCgroup DmabufdSourceCgroup;

/* Watches each cgroup of the NULL-terminated list cgroups. root_fd is borrowed and
 * must stay open while the source lives. Events name the cgroup as
 * /proc/<pid>/cgroup does: "/system.slice/foo.service". The handler must not free
 * the source. Returns 0 also when the source ends up down (logged here); -ENOMEM
 * (or another -errno of sd-event) only when the source cannot be built at all. */
int dmabufd_source_cgroup_new(sd_event *e, int root_fd, char *const *cgroups, DmabufdEventFunc cb, void *userdata,
                              DmabufdSourceCgroup **ret);
bool dmabufd_source_cgroup_is_up(const DmabufdSourceCgroup *s);
/* How many cgroups are watched now. */
size_t dmabufd_source_cgroup_watched(const DmabufdSourceCgroup *s);
DmabufdSourceCgroup *dmabufd_source_cgroup_free(DmabufdSourceCgroup *s);

static inline void dmabufd_source_cgroup_freep(DmabufdSourceCgroup **s) {
        dmabufd_source_cgroup_free(*s);
}
