/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "event.h"
#include "macro.h"

static const char *const event_kind_table[_DMABUFD_EVENT_KIND_MAX] = {
        [DMABUFD_EVENT_OOM_KILL] = "oom_kill",
        [DMABUFD_EVENT_LMK_KILL] = "lmk_kill",
        [DMABUFD_EVENT_CGROUP_OOM] = "cgroup_oom",
        [DMABUFD_EVENT_PSI] = "psi",
        [DMABUFD_EVENT_JOURNAL] = "journal",
        [DMABUFD_EVENT_MANUAL] = "manual",
};

const char *dmabufd_event_kind_to_string(DmabufdEventKind k) {
        if (k < 0 || k >= _DMABUFD_EVENT_KIND_MAX)
                return NULL;
        return event_kind_table[k];
}

DmabufdEventKind dmabufd_event_kind_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(event_kind_table); i++)
                if (streq(s, event_kind_table[i]))
                        return (DmabufdEventKind) i;
        return _DMABUFD_EVENT_KIND_INVALID;
}

static const char *const event_source_table[_DMABUFD_EVENT_SOURCE_MAX] = {
        [DMABUFD_EVENT_SOURCE_KMSG] = "kmsg",
        [DMABUFD_EVENT_SOURCE_PSI] = "psi",
        [DMABUFD_EVENT_SOURCE_CGROUP] = "cgroup",
        [DMABUFD_EVENT_SOURCE_JOURNAL] = "journal",
};

const char *dmabufd_event_source_to_string(DmabufdEventSource s) {
        if (s < 0 || s >= _DMABUFD_EVENT_SOURCE_MAX)
                return NULL;
        return event_source_table[s];
}
