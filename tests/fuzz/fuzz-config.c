/* SPDX-License-Identifier: MIT */
/* The config file, loaded the way the daemon loads it (dmabufd_config_load takes
 * a path), from a memfd written with the input. */

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char path[64];
        static int fd = -1;
        DmabufdConfig c;
        char err[1024];

        if (fd < 0) {
                fd = memfd_create("fuzz-config", MFD_CLOEXEC);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size))
                abort();
        dmabufd_config_init(&c);
        (void) dmabufd_config_load(&c, path, err, sizeof(err));
        dmabufd_config_done(&c);
        return 0;
}
