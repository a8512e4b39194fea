/* SPDX-License-Identifier: MIT */
/* A snapshot file as `dmabufd dump --snapshot` reads it, from a memfd written
 * with the input: a file that reads is summarised, and each of its states,
 * written as JSON and read back, is written again byte for byte. */

#include <json-c/json.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "reader.h"
#include "state-json.h"

static void check_round_trip(const DmabufState *s) {
        StrBuf first = STRBUF_INIT, second = STRBUF_INIT;
        DmabufState *again = NULL;
        json_object *o;
        char err[512];

        if (dmabuf_json_write_state(&first, s) < 0) {
                strbuf_done(&first);
                return; /* out of memory */
        }
        o = json_tokener_parse(first.buf);
        if (!o)
                abort(); /* what the state writer wrote must parse */
        if (dmabuf_state_from_json(o, "state", 0, &again, err, sizeof(err)) < 0)
                abort(); /* and read back */
        json_object_put(o);
        if (dmabuf_json_write_state(&second, again) >= 0 && !streq(first.buf, second.buf))
                abort();
        dmabuf_state_unref(again);
        strbuf_done(&first);
        strbuf_done(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int fd = -1;
        DmabufSnapshotFile *f = NULL;
        StrBuf summary = STRBUF_INIT;
        char err[512];

        if (fd < 0) {
                fd = memfd_create("fuzz-snapshot-read", MFD_CLOEXEC);
                if (fd < 0)
                        abort();
        }
        if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size))
                abort();
        if (dmabuf_snapshot_file_read(fd, 0, &f, err, sizeof(err)) < 0) {
                if (!err[0])
                        abort(); /* a refusal always says why */
                return 0;
        }
        (void) dmabuf_snapshot_file_summary(&summary, f, false);
        strbuf_done(&summary);
        if (f->state)
                check_round_trip(f->state);
        if (f->before)
                check_round_trip(f->before);
        dmabuf_snapshot_file_free(f);
        return 0;
}
