/* SPDX-License-Identifier: MIT */
/* /dev/kmsg as a byte stream: split into records, each parsed, its message
 * unescaped and fed to the OOM / lowmemorykiller kill tracker, as the kmsg
 * source does. Any root process can write to /dev/kmsg. */

#include "fuzz.h"
#include "kmsg-parser.h"

typedef struct Context {
        DmabufKillTracker tracker;
        char message[DMABUF_KMSG_RECORD_MAX];
} Context;

static void on_record(const char *record, size_t len, void *userdata) {
        Context *c = userdata;
        DmabufKmsgRecord rec;
        DmabufKill kill;
        size_t n;

        if (dmabuf_kmsg_record_parse(record, len, &rec) < 0)
                return;
        n = dmabuf_kmsg_unescape(rec.message, rec.message_len, c->message, sizeof(c->message));
        if (n >= sizeof(c->message) || c->message[n] != 0)
                abort();
        (void) dmabuf_kill_tracker_feed(&c->tracker, c->message, n, &kill);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static DmabufKmsgSplitter splitter;
        static Context context;
        char *buf = fuzz_memdup(data, size);
        size_t half = size / 2;

        if (!buf)
                return 0;
        splitter = (DmabufKmsgSplitter) {};
        context.tracker = (DmabufKillTracker) {};
        /* Two reads, so that a record may straddle them. */
        dmabuf_kmsg_splitter_feed(&splitter, buf, half, on_record, &context);
        dmabuf_kmsg_splitter_feed(&splitter, buf + half, size - half, on_record, &context);
        dmabuf_kmsg_splitter_flush(&splitter, on_record, &context);
        free(buf);
        return 0;
}
