/* SPDX-License-Identifier: MIT */
/* /proc/<pid>/fdinfo/<fd> of a dma-buf, and the fd's link target: the buffer's
 * name in both is chosen by any process with DMA_BUF_SET_NAME. */

#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = fuzz_memdup(data, size);
        DmabufFdinfo info;
        const char *name;
        size_t name_len;

        if (!buf)
                return 0;
        if (dmabuf_fdinfo_parse(buf, size, &info) == 0) {
                /* The pointers it returns must lie inside the input. */
                if (info.exp_name && (info.exp_name < buf || info.exp_name + info.exp_name_len > buf + size))
                        abort();
                if (info.has_name && info.name_len > 0 && (info.name < buf || info.name + info.name_len > buf + size))
                        abort();
        }
        if (dmabuf_fd_link_classify(buf, size, &name, &name_len) == DMABUF_LINK_NAMED &&
            (name < buf || name + name_len > buf + size))
                abort();
        free(buf);
        return 0;
}
