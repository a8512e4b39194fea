/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides what every event source hands the manager: one event,
 * described by the source in its own terms. The manager decides whether it takes
 * a snapshot (cooldowns) and what the snapshot's trigger says. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kmsg-parser.h"

typedef enum DmabufdEventKind {
        DMABUFD_EVENT_OOM_KILL,   /* kernel OOM killer, global or memcg (kmsg) */
        DMABUFD_EVENT_LMK_KILL,   /* staging lowmemorykiller (kmsg) */
        DMABUFD_EVENT_CGROUP_OOM, /* memory.events oom_kill went up */
        DMABUFD_EVENT_PSI,        /* a PSI trigger fired */
        DMABUFD_EVENT_JOURNAL,    /* a userspace killer's journal message matched */
        DMABUFD_EVENT_MANUAL,     /* POST /api/v1/snapshots or SIGUSR1 */
        _DMABUFD_EVENT_KIND_MAX,
        _DMABUFD_EVENT_KIND_INVALID = -1,
} DmabufdEventKind;

/* "oom_kill", "lmk_kill", "cgroup_oom", "psi", "journal", "manual": the SPEC's
 * trigger kinds, also the label values of dmabufd_events_total. */
const char *dmabufd_event_kind_to_string(DmabufdEventKind k);
DmabufdEventKind dmabufd_event_kind_from_string(const char *s);

/* The sources of events, each reported in dmabufd_source_up. The manual source
 * (HTTP and SIGUSR1) is always there and is not listed. */
typedef enum DmabufdEventSource {
        DMABUFD_EVENT_SOURCE_KMSG,
        DMABUFD_EVENT_SOURCE_PSI,
        DMABUFD_EVENT_SOURCE_CGROUP,
        DMABUFD_EVENT_SOURCE_JOURNAL,
        _DMABUFD_EVENT_SOURCE_MAX,
} DmabufdEventSource;

const char *dmabufd_event_source_to_string(DmabufdEventSource s);

/* Every pointer is borrowed: valid while the handler runs, no longer. Fields a
 * kind does not use are 0 or NULL. */
typedef struct DmabufdEvent {
        DmabufdEventKind kind;
        pid_t pid;        /* the victim; 0 when the event names none */
        const char *comm; /* the victim's comm as the source names it */
        const char *line; /* the source's own words: kernel lines, journal MESSAGE */

        const DmabufKill *kill; /* oom_kill, lmk_kill: the parsed report */

        const char *cgroup; /* cgroup_oom: the cgroup, relative to the cgroup2 root */
        uint64_t oom_kill;  /* cgroup_oom: memory.events oom_kill now */
        uint64_t oom_kill_increase;

        const char *psi_trigger; /* psi: as written to the kernel, "full 100000 1000000" */

        const char *identifier; /* journal: SYSLOG_IDENTIFIER of the entry */

        const char *origin; /* manual: "http 127.0.0.1" or "SIGUSR1" */
} DmabufdEvent;

typedef void (*DmabufdEventFunc)(const DmabufdEvent *e, void *userdata);
