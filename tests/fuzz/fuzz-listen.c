/* SPDX-License-Identifier: MIT */
/* A listen address, from the config file or --listen: "HOST:PORT", "[V6]:PORT",
 * ":PORT". */

#include "fuzz.h"
#include "listen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_strndup(data, size);
        DmabufdListenAddress a;

        if (!s)
                return 0;
        if (dmabufd_listen_parse(s, &a) == 0 && strnlen(a.host, sizeof(a.host)) == sizeof(a.host))
                abort();
        free(s);
        return 0;
}
