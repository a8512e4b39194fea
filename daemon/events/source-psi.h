/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the PSI event source: memory pressure triggers on
 * <root>/proc/pressure/memory, one fd per trigger (the kernel allows one trigger per
 * open file), each waited on with EPOLLPRI in the sd-event loop. A firing trigger is
 * handed to the manager as a DMABUFD_EVENT_PSI event; the manager rate-limits the
 * snapshots it takes per kind.
 *
 * Default triggers, DMABUFD_PSI_TRIGGERS_DEFAULT: "some 150ms 1s" and "full 100ms 1s".
 * - The goal is a record of who held DMA-BUF memory while memory was getting
 *   tight, taken before a killer removes the evidence; so the triggers should fire
 *   on real pressure, early, and rarely otherwise.
 * - 1 s windows: Android's lmkd uses 1 s windows too, and kills follow thrashing
 *   within seconds, so a longer window would fire after the kill. The kernel
 *   reports a trigger at most once per window and samples at window/10 (100 ms), so
 *   1 s costs little. Windows are capped at 10 s by the kernel, which rules out
 *   systemd-oomd's 20 s average; oomd wants sustained pressure because it kills,
 *   dmabufd only records.
 * - "some 150ms": some task stalled on memory for 15% of the last second. Above
 *   lmkd's "medium" level (some 100ms), so that routine reclaim on a busy machine,
 *   which would buy a full collection for nothing, does not fire it.
 * - "full 100ms": every non-idle task stalled for 10% of the last second, which is
 *   thrashing (lmkd's "critical" is full 70ms). Full stall time never exceeds some
 *   stall time, so this one fires first only when nearly all the stall is full
 *   stall: a machine that went from calm to thrashing at once. Both triggers share
 *   the psi kind's cooldown in the manager, so together they never take more
 *   snapshots than one would.
 * Windows shorter than 500 ms are refused for every kernel (5.2..6.3 refuse them).
 * Unprivileged triggers need windows that are multiples of 2 s on Linux 6.4+ and
 * are refused before that; the daemon runs as root.
 *
 * The source is "up" while at least one trigger is armed. A trigger whose file
 * reports EPOLLERR (the kernel dropped it) is closed with one warning. A file that
 * is missing, cannot be polled (a regular file under a --root fixture) or refuses
 * the trigger leaves the source down with one log line naming the path and the
 * reason; never fatal. */

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "event.h"
#include "pressure-parser.h"

#define DMABUFD_PSI_TRIGGERS_DEFAULT "some 150ms 1s", "full 100ms 1s"

typedef struct DmabufdSourcePsi DmabufdSourcePsi;

/* Arms each of triggers (already checked by dmabuf_psi_trigger_parse()) on
 * root_fd/proc/pressure/memory. root_fd is borrowed and must stay open while the
 * source lives. The event carries the trigger as written to the kernel; the handler
 * must not free the source. Returns 0 also when the source ends up down (logged here); -ENOMEM
 * (or another -errno of sd-event) only when the source cannot be built at all. */
int dmabufd_source_psi_new(sd_event *e, int root_fd, const DmabufPsiTrigger *triggers, size_t n_triggers,
                           DmabufdEventFunc cb, void *userdata, DmabufdSourcePsi **ret);
bool dmabufd_source_psi_is_up(const DmabufdSourcePsi *s);
/* How many triggers are armed now. */
size_t dmabufd_source_psi_armed(const DmabufdSourcePsi *s);
DmabufdSourcePsi *dmabufd_source_psi_free(DmabufdSourcePsi *s);

static inline void dmabufd_source_psi_freep(DmabufdSourcePsi **s) {
        dmabufd_source_psi_free(*s);
}
