/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "dmabuf-json.h"
#include "macro.h"
#include "utf8.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

json_object *dmabuf_json_string(const char *s, size_t len) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;

        if (!s)
                return NULL;
        if (utf8_is_valid(s, len))
                return json_object_new_string_len(s, (int) len);
        if (utf8_append_sanitized(&sb, s, len) < 0)
                return NULL;
        return json_object_new_string_len(sb.buf, (int) sb.len);
}

json_object *dmabuf_json_u64(uint64_t v) {
        return v == DMABUF_UNKNOWN ? NULL : json_object_new_uint64(v);
}

static json_object *json_str0(const char *s) {
        return s ? dmabuf_json_string(s, strlen(s)) : NULL;
}

void dmabuf_json_format_time(uint64_t usec, char buf[static 32]) {
        time_t sec = (time_t) (usec / 1000000);
        struct tm tm;

        char date[24];

        gmtime_r(&sec, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, 32, "%.20s.%03uZ", date, (unsigned) (usec / 1000 % 1000));
}

/* Serialises o after a key and frees it. */
static void put_member(StrBuf *sb, const char *key, json_object *o, bool comma) {
        if (comma)
                strbuf_putc(sb, ',');
        strbuf_printf(sb, "\"%s\":", key);
        strbuf_puts(sb, json_object_to_json_string_ext(o, JSON_FLAGS));
        json_object_put(o);
}

static void put_element(StrBuf *sb, json_object *o, bool comma) {
        if (comma)
                strbuf_putc(sb, ',');
        strbuf_puts(sb, o ? json_object_to_json_string_ext(o, JSON_FLAGS) : "null");
        json_object_put(o);
}

static void dmabuf_json_cursor_freep(DmabufJsonCursor **c) {
        dmabuf_json_cursor_free(*c);
}

static json_object *buffer_to_json(const DmabufBuffer *b) {
        json_object *o = json_object_new_object(), *holders = json_object_new_array(), *att = NULL, *stats = NULL;

        if (!o || !holders) {
                json_object_put(o);
                json_object_put(holders);
                return NULL;
        }
        json_object_object_add(o, "inode", json_object_new_uint64(b->inode));
        json_object_object_add(o, "size", dmabuf_json_u64(b->size));
        json_object_object_add(o, "exporter", json_str0(b->exporter));
        json_object_object_add(o, "name", json_str0(b->name));
        json_object_object_add(o, "count", dmabuf_json_u64(b->count));
        for (size_t i = 0; i < b->n_holders; i++) {
                json_object *h = json_object_new_object();
                json_object_object_add(h, "pid", json_object_new_int(b->holders[i].pid));
                json_object_object_add(h, "fds", json_object_new_int64(b->holders[i].fds));
                json_object_object_add(h, "maps", json_object_new_int64(b->holders[i].maps));
                json_object_array_add(holders, h);
        }
        json_object_object_add(o, "holders", holders);
        if (b->attachments_known) {
                att = json_object_new_array();
                stats = json_object_new_array();
                for (size_t i = 0; i < b->n_attachments; i++) {
                        json_object *a = json_object_new_object();

                        json_object_array_add(att, json_str0(b->attachments[i].device));
                        json_object_object_add(a, "device", json_str0(b->attachments[i].device));
                        json_object_object_add(a, "map_counter", dmabuf_json_u64(b->attachments[i].map_counter));
                        json_object_array_add(stats, a);
                }
        }
        json_object_object_add(o, "attachments", att);
        /* "attachments" keeps the contract's shape (device names); the map counters,
         * which only the sysfs attachment statistics carry, sit beside it. */
        json_object_object_add(o, "attachment_stats", stats);
        return o;
}

static json_object *process_to_json(const DmabufState *s, const DmabufProcess *p) {
        json_object *o = json_object_new_object(), *bufs = json_object_new_array();

        if (!o || !bufs) {
                json_object_put(o);
                json_object_put(bufs);
                return NULL;
        }
        json_object_object_add(o, "pid", json_object_new_int(p->pid));
        json_object_object_add(o, "comm", json_str0(p->comm));
        json_object_object_add(o, "cgroup", json_str0(p->cgroup));
        json_object_object_add(o, "rss_bytes", dmabuf_json_u64(p->rss_bytes));
        json_object_object_add(o, "pss_bytes", dmabuf_json_u64(p->pss_bytes));
        json_object_object_add(o, "fds", json_object_new_int64(p->fds));
        json_object_object_add(o, "maps", json_object_new_int64(p->maps));
        json_object_object_add(o, "unidentified_fds", json_object_new_int64(p->unidentified_fds));
        for (size_t i = 0; i < p->n_buffers; i++)
                json_object_array_add(bufs,
                                      json_object_new_uint64(dmabuf_state_buffers(s)[p->buffer_index[i]].inode));
        json_object_object_add(o, "buffers", bufs);
        return o;
}

static void write_head(StrBuf *sb, const DmabufState *s) {
        const DmabufTotals *t = dmabuf_state_totals(s);
        json_object *o;
        char ts[32];

        dmabuf_json_format_time(dmabuf_state_collected_at_usec(s), ts);
        strbuf_puts(sb, "{");
        put_member(sb, "collected_at", json_object_new_string(ts), false);
        put_member(sb, "kernel", json_str0(dmabuf_state_kernel(s)), true);

        o = json_object_new_object();
        for (DmabufSource src = 0; src < _DMABUF_SOURCE_MAX; src++)
                json_object_object_add(o, dmabuf_source_to_string(src),
                                       json_object_new_boolean(dmabuf_state_source_up(s, src)));
        put_member(sb, "sources", o, true);

        o = json_object_new_object();
        json_object_object_add(o, "buffers", dmabuf_json_u64(t->buffers));
        json_object_object_add(o, "bytes", dmabuf_json_u64(t->bytes));
        json_object_object_add(o, "userspace_bytes", dmabuf_json_u64(t->userspace_bytes));
        json_object_object_add(o, "kernel_only_bytes", dmabuf_json_u64(t->kernel_only_bytes));
        put_member(sb, "totals", o, true);

        o = json_object_new_array();
        for (size_t i = 0; i < dmabuf_state_n_exporters(s); i++) {
                const DmabufExporter *e = &dmabuf_state_exporters(s)[i];
                json_object *eo = json_object_new_object();
                json_object_object_add(eo, "name", json_str0(e->name));
                json_object_object_add(eo, "buffers", dmabuf_json_u64(e->buffers));
                json_object_object_add(eo, "bytes", dmabuf_json_u64(e->bytes));
                json_object_array_add(o, eo);
        }
        put_member(sb, "exporters", o, true);
        strbuf_puts(sb, ",\"buffers\":[");
}

static void write_tail(StrBuf *sb, const DmabufState *s) {
        const DmabufScanStats *st = dmabuf_state_scan_stats(s);
        json_object *o, *pe;
        char d[32];

        strbuf_puts(sb, "]");
        o = json_object_new_object();
        for (DmabufScanCounter c = 0; c < _DMABUF_SCAN_COUNTER_MAX; c++)
                json_object_object_add(o, dmabuf_scan_counter_to_string(c), json_object_new_uint64(st->counters[c]));
        pe = json_object_new_object();
        for (DmabufSource src = 0; src < _DMABUF_SOURCE_MAX; src++)
                json_object_object_add(pe, dmabuf_source_to_string(src), json_object_new_uint64(st->parse_errors[src]));
        json_object_object_add(o, "parse_errors", pe);
        json_object_object_add(o, "first_error", st->first_error[0] ? json_str0(st->first_error) : NULL);
        /* json-c prints doubles with %.17g; six decimals is what a clock gives. */
        snprintf(d, sizeof(d), "%.6f", dmabuf_state_duration_sec(s));
        json_object_object_add(o, "duration_seconds", json_object_new_double_s(dmabuf_state_duration_sec(s), d));
        put_member(sb, "scan", o, true);
        strbuf_puts(sb, "}");
}

typedef enum CursorPhase {
        PHASE_HEAD,
        PHASE_BUFFERS,
        PHASE_PROCESSES,
        PHASE_DONE,
} CursorPhase;

/* Elements serialised per refill: enough to amortise the call, few enough that
 * the pending text stays a few KiB. */
#define CURSOR_BATCH 32

struct DmabufJsonCursor {
        const DmabufState *state;
        CursorPhase phase;
        size_t index;
        StrBuf pending;
        size_t pos;
};

DmabufJsonCursor *dmabuf_json_cursor_new(const DmabufState *s) {
        DmabufJsonCursor *c = calloc(1, sizeof(DmabufJsonCursor));

        if (c)
                c->state = s;
        return c;
}

DmabufJsonCursor *dmabuf_json_cursor_free(DmabufJsonCursor *c) {
        if (c) {
                strbuf_done(&c->pending);
                free(c);
        }
        return NULL;
}

static int cursor_fill(DmabufJsonCursor *c) {
        const DmabufState *s = c->state;

        strbuf_reset(&c->pending);
        c->pos = 0;
        switch (c->phase) {
        case PHASE_HEAD:
                write_head(&c->pending, s);
                c->phase = PHASE_BUFFERS;
                c->index = 0;
                break;
        case PHASE_BUFFERS:
                for (size_t k = 0; k < CURSOR_BATCH && c->index < dmabuf_state_n_buffers(s); k++, c->index++) {
                        json_object *o = buffer_to_json(&dmabuf_state_buffers(s)[c->index]);
                        if (!o)
                                return -ENOMEM;
                        put_element(&c->pending, o, c->index > 0);
                }
                if (c->index == dmabuf_state_n_buffers(s)) {
                        strbuf_puts(&c->pending, "],\"processes\":[");
                        c->phase = PHASE_PROCESSES;
                        c->index = 0;
                }
                break;
        case PHASE_PROCESSES:
                for (size_t k = 0; k < CURSOR_BATCH && c->index < dmabuf_state_n_processes(s); k++, c->index++) {
                        json_object *o = process_to_json(s, &dmabuf_state_processes(s)[c->index]);
                        if (!o)
                                return -ENOMEM;
                        put_element(&c->pending, o, c->index > 0);
                }
                if (c->index == dmabuf_state_n_processes(s)) {
                        write_tail(&c->pending, s);
                        c->phase = PHASE_DONE;
                }
                break;
        case PHASE_DONE:
                break;
        }
        return strbuf_status(&c->pending);
}

ssize_t dmabuf_json_cursor_read(DmabufJsonCursor *c, char *buf, size_t max) {
        size_t n = 0;

        while (n < max) {
                size_t avail = c->pending.len - c->pos, take;

                if (avail == 0) {
                        int r;

                        if (c->phase == PHASE_DONE)
                                break;
                        r = cursor_fill(c);
                        if (r < 0)
                                return r;
                        continue;
                }
                take = MIN(avail, max - n);
                memcpy(buf + n, c->pending.buf + c->pos, take);
                c->pos += take;
                n += take;
        }
        return (ssize_t) n;
}

int dmabuf_json_write_state(StrBuf *sb, const DmabufState *s) {
        _cleanup_(dmabuf_json_cursor_freep) DmabufJsonCursor *c = dmabuf_json_cursor_new(s);
        ssize_t n;

        if (!c)
                return -ENOMEM;
        do {
                if (strbuf_reserve(sb, 16384) < 0)
                        return -ENOMEM;
                n = dmabuf_json_cursor_read(c, sb->buf + sb->len, sb->cap - sb->len - 1);
                if (n < 0)
                        return (int) n;
                sb->len += (size_t) n;
                sb->buf[sb->len] = '\0';
        } while (n > 0);
        return 0;
}
