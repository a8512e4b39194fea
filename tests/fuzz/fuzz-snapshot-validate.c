/* SPDX-License-Identifier: MIT */
/* A snapshot file as the store finds it on disk at start-up and before serving
 * it, validated from a memfd written with the input. */

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int fd = -1;
        DmabufdSnapshotInfo info;
        char err[512];

        if (fd < 0) {
                fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
                if (fd < 0)
                        abort();
        }
        if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size))
                abort();
        if (dmabufd_snapshot_file_validate(fd, NULL, &info, err, sizeof(err)) == 0) {
                /* What a valid file names is used as a file name and served. */
                if (!dmabufd_snapshot_id_is_valid(info.id) || info.bytes != size)
                        abort();
                (void) dmabufd_snapshot_file_validate(fd, info.id, &info, err, sizeof(err));
        }
        return 0;
}
