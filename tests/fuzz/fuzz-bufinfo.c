/* SPDX-License-Identifier: MIT */
/* /sys/kernel/debug/dma_buf/bufinfo: buffer names and exporter names raw, one
 * row per buffer, then attached devices; fed into a builder as the debugfs
 * source does, so that the model sees hostile rows too. */

#include "debugfs.h"
#include "fuzz.h"
#include "model.h"

/* As debugfs.c's own callbacks. */
static int on_row(const DmabufBufferInfo *info, void *userdata) {
        int r = dmabuf_builder_add_buffer(userdata, DMABUF_SOURCE_DEBUGFS, info);

        if (r < 0)
                return r;
        return dmabuf_builder_attachments_known(userdata, DMABUF_SOURCE_DEBUGFS, info->inode);
}

static int on_device(uint64_t inode, const char *device, void *userdata) {
        return dmabuf_builder_add_attachment(userdata, DMABUF_SOURCE_DEBUGFS, inode, device, DMABUF_UNKNOWN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const DmabufBufinfoCallbacks callbacks = { .row = on_row, .device = on_device };
        char *buf = fuzz_memdup(data, size);
        DmabufBufinfoSummary summary;
        DmabufState *state = NULL;
        DmabufBuilder *b;

        if (!buf)
                return 0;
        b = dmabuf_builder_new();
        if (b) {
                if (dmabuf_bufinfo_parse(buf, size, &callbacks, b, &summary) >= 0) {
                        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_DEBUGFS, true);
                        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_DEBUGFS, true);
                }
                (void) dmabuf_builder_finish(b, 0, 0, &state);
                dmabuf_state_unref(state);
                dmabuf_builder_free(b);
        }
        free(buf);
        return 0;
}
