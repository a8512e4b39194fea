/* SPDX-License-Identifier: MIT */
/* /proc/<pid>/maps (a dma-buf mapping's path carries the buffer's name, escaped
 * by the kernel), its unescaping, and /proc/<pid>/cgroup. */

#include <errno.h>

#include "fuzz.h"
#include "procfs.h"

static int on_mapping(const DmabufMapsEntry *e, void *userdata) {
        char *name;

        name = fuzz_memdup((const uint8_t *) e->name, e->name_len);
        if (!name)
                return -ENOMEM;
        if (dmabuf_maps_unescape(name, e->name_len) > e->name_len)
                abort();
        free(name);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = fuzz_memdup(data, size);
        const char *cgroup;
        size_t cgroup_len;
        unsigned malformed = 0;

        if (!buf)
                return 0;
        (void) dmabuf_maps_parse(buf, size, on_mapping, NULL, &malformed);
        if (dmabuf_cgroup_parse(buf, size, &cgroup, &cgroup_len) == 0 &&
            (cgroup < buf || cgroup + cgroup_len > buf + size))
                abort();
        free(buf);
        return 0;
}
