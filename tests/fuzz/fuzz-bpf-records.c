/* SPDX-License-Identifier: MIT */
/* The record streams the BPF iterators write (bpf-record.h): checked, and when
 * the check passes, fed to a builder. The first byte picks the record kind; the
 * holders' cgroups are read from an empty directory, as for processes that have
 * exited. */

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "bpf-record.h"
#include "bpf-source.h"
#include "fuzz.h"
#include "model.h"
#include "strbuf.h"

static int empty_dir_fd(void) {
        static int fd = -1;

        if (fd < 0) {
                char dir[] = "/tmp/fuzz-bpf-records.XXXXXX";
                if (!mkdtemp(dir))
                        abort();
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        abort();
                (void) rmdir(dir);
        }
        return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        StrBuf scratch = STRBUF_INIT;
        DmabufState *state = NULL;
        DmabufBuilder *b;
        uint16_t kind;
        char err[256];
        void *buf;

        if (size < 1)
                return 0;
        kind = (uint16_t) (data[0] % 3 + DMABUF_BPF_RECORD_BUFFER);
        buf = fuzz_memdup(data + 1, size - 1);
        b = dmabuf_builder_new();
        if (buf && b && dmabuf_bpf_records_check(buf, size - 1, kind, err, sizeof(err)) >= 0) {
                if (kind == DMABUF_BPF_RECORD_BUFFER)
                        (void) dmabuf_bpf_add_buffers(b, buf, size - 1);
                else if (kind == DMABUF_BPF_RECORD_FD)
                        (void) dmabuf_bpf_add_holders(b, empty_dir_fd(), buf, size - 1, NULL, 0, &scratch);
                else
                        (void) dmabuf_bpf_add_holders(b, empty_dir_fd(), NULL, 0, buf, size - 1, &scratch);
                (void) dmabuf_builder_finish(b, 0, 0, &state);
                dmabuf_state_unref(state);
        }
        dmabuf_builder_free(b);
        strbuf_done(&scratch);
        free(buf);
        return 0;
}
