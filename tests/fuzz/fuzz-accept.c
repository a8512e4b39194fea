/* SPDX-License-Identifier: MIT */
/* The Accept header of a /metrics request, which any client sends. */

#include "fuzz.h"
#include "prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *accept = fuzz_strndup(data, size);
        DmabufPromFormat f;

        if (!accept)
                return 0;
        f = dmabuf_prom_negotiate(accept);
        if (f != DMABUF_PROM_TEXT && f != DMABUF_PROM_OPENMETRICS)
                abort();
        free(accept);
        return 0;
}
