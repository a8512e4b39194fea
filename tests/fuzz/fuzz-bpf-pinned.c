/* SPDX-License-Identifier: MIT */
/* The text of Android's pinned dmabuf iterator: buffer names printed raw. */

#include "bpf-pinned.h"
#include "fuzz.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *buf = fuzz_memdup(data, size);
        DmabufState *state = NULL;
        DmabufBuilder *b = dmabuf_builder_new();

        if (buf && b && dmabuf_bpf_pinned_parse(buf, size, b) == 0) {
                dmabuf_builder_set_source_up(b, DMABUF_SOURCE_BPF, true);
                dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_BPF, true);
                (void) dmabuf_builder_finish(b, 0, 0, &state);
                dmabuf_state_unref(state);
        }
        dmabuf_builder_free(b);
        free(buf);
        return 0;
}
