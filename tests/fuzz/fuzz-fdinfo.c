/* SPDX-License-Identifier: MIT */
/* /proc/<pid>/fdinfo/<fd> of a dma-buf, and the fd's link target: the buffer's
 * name in both is chosen by any process with DMA_BUF_SET_NAME. The same input as
 * a DRM fd's fdinfo, whose text its driver prints. */

#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = fuzz_memdup(data, size);
        DmabufFdinfo info;
        DmabufDrmFdinfo drm;
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
#define INSIDE(p, n) ((p) >= buf && (n) <= size && (p) + (n) <= buf + size)
        if (dmabuf_drm_fdinfo_parse(buf, size, &drm) == 0 && (!INSIDE(drm.driver, drm.driver_len) ||
                                                              drm.driver_len > DMABUF_DRM_NAME_MAX))
                abort();
        if (drm.pdev && !INSIDE(drm.pdev, drm.pdev_len))
                abort();
        if (drm.n_regions > DMABUF_DRM_REGIONS_MAX || (drm.malformed > 0 && !INSIDE(drm.first_malformed,
                                                                                     drm.first_malformed_len)))
                abort();
        for (size_t i = 0; i < drm.n_regions; i++)
                if (!INSIDE(drm.regions[i].name, drm.regions[i].name_len) || drm.regions[i].name_len == 0 ||
                    drm.regions[i].name_len > DMABUF_DRM_NAME_MAX)
                        abort();
#undef INSIDE
        if (dmabuf_fd_link_classify(buf, size, &name, &name_len) == DMABUF_LINK_NAMED &&
            (name < buf || name + name_len > buf + size))
                abort();
        free(buf);
        return 0;
}
