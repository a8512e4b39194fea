/* SPDX-License-Identifier: MIT */
/* The pressure files: PSI (/proc/pressure/{cpu,memory,io}, memory.pressure), a
 * cgroup's memory.events, /proc/meminfo, and the psi_trigger setting of the
 * config file (parsed, then formatted back). The first byte picks the parser,
 * the rest is its input. */

#include "fuzz.h"
#include "pressure-parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[256], trigger[DMABUF_PSI_TRIGGER_STRING_MAX];
        DmabufMemoryEvents events;
        DmabufPsiTrigger t, back;
        DmabufMeminfo meminfo;
        DmabufPsi psi;
        char *buf;

        if (size < 1)
                return 0;
        buf = fuzz_strndup(data + 1, size - 1);
        if (!buf)
                return 0;
        switch (data[0] % 4) {
        case 0:
                (void) dmabuf_psi_parse(buf, size - 1, &psi, err, sizeof(err));
                break;
        case 1:
                (void) dmabuf_memory_events_parse(buf, size - 1, &events, err, sizeof(err));
                break;
        case 2:
                if (dmabuf_meminfo_parse(buf, size - 1, &meminfo, err, sizeof(err)) >= 0) {
                        (void) dmabuf_meminfo_find(&meminfo, "MemTotal");
                        dmabuf_meminfo_done(&meminfo);
                }
                break;
        case 3:
                /* A trigger that parses must format, and read back the same. */
                if (dmabuf_psi_trigger_parse(buf, &t, err, sizeof(err)) == 0) {
                        if (dmabuf_psi_trigger_format(&t, trigger, sizeof(trigger)) < 0)
                                abort();
                        if (dmabuf_psi_trigger_parse(trigger, &back, err, sizeof(err)) < 0 || back.full != t.full ||
                            back.threshold_us != t.threshold_us || back.window_us != t.window_us)
                                abort();
                }
                break;
        }
        free(buf);
        return 0;
}
