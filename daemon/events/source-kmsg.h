/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the kernel-log event source: it follows <root>/dev/kmsg
 * from its end and reports the kills of the OOM killer (global and memcg) and
 * of the staging lowmemorykiller. A FIFO at <root>/dev/kmsg works too, which is
 * how tests and demos feed it. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "event.h"

typedef struct DmabufdSourceKmsg DmabufdSourceKmsg;

/* Returns 0 also when the log cannot be opened or watched (the source is then
 * down, which is logged once); -ENOMEM otherwise. */
int dmabufd_source_kmsg_new(sd_event *e, int root_fd, DmabufdEventFunc cb, void *userdata,
                            DmabufdSourceKmsg **ret);
bool dmabufd_source_kmsg_is_up(const DmabufdSourceKmsg *s);
DmabufdSourceKmsg *dmabufd_source_kmsg_free(DmabufdSourceKmsg *s);
