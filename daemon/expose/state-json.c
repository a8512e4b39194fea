/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "macro.h"
#include "state-json.h"
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

static void dmabuf_json_cursor_freep(DmabufJsonCursor **c) {
        dmabuf_json_cursor_free(*c);
}

/* Buffers and processes, tens of thousands of them in a snapshot's `before`,
 * are written straight into the text rather than built as json-c objects and
 * serialised: allocating and freeing those objects was most of the time from an
 * event to its snapshot file on disk. The text is byte for byte what json-c
 * writes with JSON_FLAGS (test-json checks it against json-c): the same member
 * order, the same escapes, null for what is unknown. */

static void put_escaped(StrBuf *sb, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t start = 0;

        strbuf_putc(sb, '"');
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char u[7];

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                strbuf_append(sb, s + start, i - start);
                start = i + 1;
                switch (c) {
                case '"':
                        strbuf_puts(sb, "\\\"");
                        break;
                case '\\':
                        strbuf_puts(sb, "\\\\");
                        break;
                case '\b':
                        strbuf_puts(sb, "\\b");
                        break;
                case '\f':
                        strbuf_puts(sb, "\\f");
                        break;
                case '\n':
                        strbuf_puts(sb, "\\n");
                        break;
                case '\r':
                        strbuf_puts(sb, "\\r");
                        break;
                case '\t':
                        strbuf_puts(sb, "\\t");
                        break;
                default:
                        memcpy(u, "\\u00", 4);
                        u[4] = hex[c >> 4];
                        u[5] = hex[c & 0xf];
                        strbuf_append(sb, u, 6);
                }
        }
        strbuf_append(sb, s + start, len - start);
        strbuf_putc(sb, '"');
}

/* As dmabuf_json_string(): invalid UTF-8 becomes U+FFFD; NULL is null. */
static void put_string(StrBuf *sb, const char *s) {
        _cleanup_strbuf_ StrBuf clean = STRBUF_INIT;
        size_t len;

        if (!s) {
                strbuf_puts(sb, "null");
                return;
        }
        len = strlen(s);
        if (utf8_is_valid(s, len)) {
                put_escaped(sb, s, len);
                return;
        }
        if (utf8_append_sanitized(&clean, s, len) < 0) {
                sb->failed = true; /* as an append that failed: it sticks */
                return;
        }
        put_escaped(sb, clean.buf, clean.len);
}

static void put_u64(StrBuf *sb, uint64_t v) {
        char buf[20];
        size_t i = sizeof(buf);

        do {
                buf[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        strbuf_append(sb, buf + i, sizeof(buf) - i);
}

static void put_int(StrBuf *sb, int64_t v) {
        if (v < 0) {
                strbuf_putc(sb, '-');
                put_u64(sb, -(uint64_t) v);
        } else
                put_u64(sb, (uint64_t) v);
}

/* A number, or null for DMABUF_UNKNOWN, as dmabuf_json_u64(). */
static void put_known(StrBuf *sb, uint64_t v) {
        if (v == DMABUF_UNKNOWN)
                strbuf_puts(sb, "null");
        else
                put_u64(sb, v);
}

static void put_buffer(StrBuf *sb, const DmabufState *s, const DmabufBuffer *b) {
        const DmabufHolder *holders = dmabuf_state_buffer_holders(s, b);
        const DmabufAttachment *attachments = dmabuf_state_buffer_attachments(s, b);

        strbuf_puts(sb, "{\"inode\":");
        put_u64(sb, b->inode);
        strbuf_puts(sb, ",\"size\":");
        put_known(sb, b->size);
        strbuf_puts(sb, ",\"exporter\":");
        put_string(sb, dmabuf_state_buffer_exporter(s, b));
        strbuf_puts(sb, ",\"name\":");
        put_string(sb, b->name);
        strbuf_puts(sb, ",\"count\":");
        put_known(sb, b->count);
        strbuf_puts(sb, ",\"holders\":[");
        for (size_t i = 0; i < b->n_holders; i++) {
                strbuf_puts(sb, i > 0 ? ",{\"pid\":" : "{\"pid\":");
                put_int(sb, holders[i].pid);
                strbuf_puts(sb, ",\"fds\":");
                put_u64(sb, holders[i].fds);
                strbuf_puts(sb, ",\"maps\":");
                put_u64(sb, holders[i].maps);
                strbuf_putc(sb, '}');
        }
        /* "attachments" keeps the contract's shape (device names); the map counters,
         * which only the sysfs attachment statistics carry, sit beside it. */
        strbuf_puts(sb, "],\"attachments\":");
        if (!b->attachments_known) {
                strbuf_puts(sb, "null,\"attachment_stats\":null}");
                return;
        }
        strbuf_putc(sb, '[');
        for (size_t i = 0; i < b->n_attachments; i++) {
                if (i > 0)
                        strbuf_putc(sb, ',');
                put_string(sb, attachments[i].device);
        }
        strbuf_puts(sb, "],\"attachment_stats\":[");
        for (size_t i = 0; i < b->n_attachments; i++) {
                strbuf_puts(sb, i > 0 ? ",{\"device\":" : "{\"device\":");
                put_string(sb, attachments[i].device);
                strbuf_puts(sb, ",\"map_counter\":");
                put_known(sb, attachments[i].map_counter);
                strbuf_putc(sb, '}');
        }
        strbuf_puts(sb, "]}");
}

/* "drm": {"clients": [...]}, each region an object of only the kinds its driver
 * printed. */
static void put_drm(StrBuf *sb, const DmabufProcess *p) {
        strbuf_puts(sb, ",\"drm\":{\"clients\":[");
        for (size_t i = 0; i < p->n_drm_clients; i++) {
                const DmabufDrmClient *c = &p->drm_clients[i];

                strbuf_puts(sb, i > 0 ? ",{\"driver\":" : "{\"driver\":");
                put_string(sb, c->driver);
                strbuf_puts(sb, ",\"client_id\":");
                put_known(sb, c->client_id);
                strbuf_puts(sb, ",\"pdev\":");
                put_string(sb, c->pdev);
                strbuf_puts(sb, ",\"fds\":");
                put_u64(sb, c->fds);
                strbuf_puts(sb, ",\"regions\":{");
                for (size_t r = 0; r < c->n_regions; r++) {
                        bool first = true;

                        if (r > 0)
                                strbuf_putc(sb, ',');
                        put_string(sb, c->regions[r].name);
                        strbuf_puts(sb, ":{");
                        for (DmabufDrmKind k = 0; k < _DMABUF_DRM_KIND_MAX; k++) {
                                if (c->regions[r].bytes[k] == DMABUF_UNKNOWN)
                                        continue;
                                if (!first)
                                        strbuf_putc(sb, ',');
                                first = false;
                                strbuf_printf(sb, "\"%s\":", dmabuf_drm_kind_to_string(k));
                                put_u64(sb, c->regions[r].bytes[k]);
                        }
                        strbuf_putc(sb, '}');
                }
                strbuf_puts(sb, "}}");
        }
        strbuf_puts(sb, "]}");
}

static void put_process(StrBuf *sb, const DmabufState *s, const DmabufProcess *p) {
        strbuf_puts(sb, "{\"pid\":");
        put_int(sb, p->pid);
        strbuf_puts(sb, ",\"comm\":");
        put_string(sb, p->comm);
        strbuf_puts(sb, ",\"cgroup\":");
        put_string(sb, p->cgroup);
        strbuf_puts(sb, ",\"rss_bytes\":");
        put_known(sb, p->rss_bytes);
        strbuf_puts(sb, ",\"pss_bytes\":");
        put_known(sb, p->pss_bytes);
        strbuf_puts(sb, ",\"fds\":");
        put_u64(sb, p->fds);
        strbuf_puts(sb, ",\"maps\":");
        put_u64(sb, p->maps);
        strbuf_puts(sb, ",\"unidentified_fds\":");
        put_u64(sb, p->unidentified_fds);
        strbuf_puts(sb, ",\"buffers\":[");
        for (size_t i = 0; i < p->n_buffers; i++) {
                if (i > 0)
                        strbuf_putc(sb, ',');
                put_u64(sb, dmabuf_state_buffers(s)[p->buffer_index[i]].inode);
        }
        strbuf_putc(sb, ']');
        /* Only where a DRM fd gave memory statistics: most processes have none. */
        if (p->n_drm_clients > 0)
                put_drm(sb, p);
        strbuf_putc(sb, '}');
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

json_object *dmabuf_json_cgroups(const DmabufState *s) {
        json_object *o = json_object_new_array();

        for (size_t i = 0; o && i < dmabuf_state_n_cgroups(s); i++) {
                const DmabufCgroup *g = &dmabuf_state_cgroups(s)[i];
                json_object *go = json_object_new_object();

                json_object_object_add(go, "path", json_str0(g->path));
                json_object_object_add(go, "unit", json_str0(g->unit));
                json_object_object_add(go, "processes", json_object_new_uint64(g->processes));
                json_object_object_add(go, "rss_bytes", dmabuf_json_u64(g->rss_bytes));
                json_object_object_add(go, "pss_bytes", dmabuf_json_u64(g->pss_bytes));
                json_object_array_add(o, go);
        }
        return o;
}

static void write_tail(StrBuf *sb, const DmabufState *s) {
        const DmabufScanStats *st = dmabuf_state_scan_stats(s);
        json_object *o, *pe;
        char d[32];

        strbuf_puts(sb, "]");
        put_member(sb, "cgroups", dmabuf_json_cgroups(s), true);

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
                        if (c->index > 0)
                                strbuf_putc(&c->pending, ',');
                        put_buffer(&c->pending, s, &dmabuf_state_buffers(s)[c->index]);
                }
                if (c->index == dmabuf_state_n_buffers(s)) {
                        strbuf_puts(&c->pending, "],\"processes\":[");
                        c->phase = PHASE_PROCESSES;
                        c->index = 0;
                }
                break;
        case PHASE_PROCESSES:
                for (size_t k = 0; k < CURSOR_BATCH && c->index < dmabuf_state_n_processes(s); k++, c->index++) {
                        if (c->index > 0)
                                strbuf_putc(&c->pending, ',');
                        put_process(&c->pending, s, &dmabuf_state_processes(s)[c->index]);
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
