/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "history.h"
#include "macro.h"
#include "state-json.h"
#include "time-util.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct DmabufHistory {
        DmabufHistoryEntry **ring;
        size_t capacity;
        size_t start; /* index of the oldest entry */
        size_t size;
        size_t entries_allocated; /* sum of the entries' own allocations */
};

int dmabuf_history_new(size_t capacity, DmabufHistory **ret) {
        DmabufHistory *h;

        if (capacity > DMABUF_HISTORY_CAPACITY_MAX)
                return -EINVAL;
        h = calloc(1, sizeof(DmabufHistory));
        if (!h)
                return -ENOMEM;
        if (capacity > 0) {
                h->ring = calloc(capacity, sizeof(DmabufHistoryEntry *));
                if (!h->ring) {
                        free(h);
                        return -ENOMEM;
                }
        }
        h->capacity = capacity;
        *ret = h;
        return 0;
}

DmabufHistory *dmabuf_history_free(DmabufHistory *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->size; i++)
                dmabuf_history_entry_free(h->ring[(h->start + i) % h->capacity]);
        free(h->ring);
        free(h);
        return NULL;
}

int dmabuf_history_set_capacity(DmabufHistory *h, size_t capacity) {
        DmabufHistoryEntry **ring = NULL;
        size_t keep = MIN(h->size, capacity), drop = h->size - keep;

        if (capacity > DMABUF_HISTORY_CAPACITY_MAX)
                return -EINVAL;
        if (capacity == h->capacity)
                return 0;
        if (capacity > 0) {
                ring = calloc(capacity, sizeof(DmabufHistoryEntry *));
                if (!ring)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < drop; i++) {
                DmabufHistoryEntry *e = h->ring[(h->start + i) % h->capacity];

                h->entries_allocated -= e->allocated;
                dmabuf_history_entry_free(e);
        }
        for (size_t i = 0; i < keep; i++)
                ring[i] = h->ring[(h->start + drop + i) % h->capacity];
        free(h->ring);
        h->ring = ring;
        h->capacity = capacity;
        h->start = 0;
        h->size = keep;
        return 0;
}

size_t dmabuf_history_capacity(const DmabufHistory *h) {
        return h->capacity;
}

size_t dmabuf_history_size(const DmabufHistory *h) {
        return h->size;
}

/* i < h->size */
static const DmabufHistoryEntry *entry_at(const DmabufHistory *h, size_t i) {
        return h->ring[(h->start + i) % h->capacity];
}

const DmabufHistoryEntry *dmabuf_history_get(const DmabufHistory *h, size_t i) {
        if (i >= h->size)
                return NULL;
        return entry_at(h, i);
}

size_t dmabuf_history_memory_bytes(const DmabufHistory *h) {
        return sizeof(DmabufHistory) + h->capacity * sizeof(DmabufHistoryEntry *) + h->entries_allocated;
}

/* The length kept of s: at most DMABUF_HISTORY_NAME_MAX bytes, not cutting a
 * UTF-8 sequence in two. */
static size_t kept_length(const char *s) {
        size_t n;

        if (!s)
                return 0;
        n = strnlen(s, DMABUF_HISTORY_NAME_MAX + 1);
        if (n <= DMABUF_HISTORY_NAME_MAX)
                return n;
        n = DMABUF_HISTORY_NAME_MAX;
        while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                n--;
        return n;
}

/* Copies s into the entry's string area at *pos; NULL stays NULL. */
static const char *copy_name(const char *s, char **pos) {
        size_t n;
        char *d = *pos;

        if (!s)
                return NULL;
        n = kept_length(s);
        memcpy(d, s, n);
        d[n] = '\0';
        *pos = d + n + 1;
        return d;
}

/* Largest pss first; an unknown pss after every known one; then by pid, so the
 * order is the same for the same state. */
static int compare_pss(const void *a, const void *b) {
        const DmabufProcess *x = *(const DmabufProcess *const *) a, *y = *(const DmabufProcess *const *) b;
        bool xu = x->pss_bytes == DMABUF_UNKNOWN, yu = y->pss_bytes == DMABUF_UNKNOWN;

        if (xu != yu)
                return xu ? 1 : -1;
        if (x->pss_bytes != y->pss_bytes)
                return x->pss_bytes > y->pss_bytes ? -1 : 1;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Largest bytes first, unknown last, then by name: which exporters are kept
 * when there are too many. */
static int compare_exporter_bytes(const void *a, const void *b) {
        const DmabufExporter *x = *(const DmabufExporter *const *) a, *y = *(const DmabufExporter *const *) b;
        bool xu = x->bytes == DMABUF_UNKNOWN, yu = y->bytes == DMABUF_UNKNOWN;

        if (xu != yu)
                return xu ? 1 : -1;
        if (x->bytes != y->bytes)
                return x->bytes > y->bytes ? -1 : 1;
        return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

/* Back to the state's order (by name) once the largest are chosen. */
static int compare_exporter_position(const void *a, const void *b) {
        const DmabufExporter *x = *(const DmabufExporter *const *) a, *y = *(const DmabufExporter *const *) b;

        return (x > y) - (x < y);
}

int dmabuf_history_entry_new(const DmabufState *s, DmabufHistoryEntry **ret) {
        const DmabufProcess *procs = dmabuf_state_processes(s);
        const DmabufExporter *exps = dmabuf_state_exporters(s);
        size_t n_procs = dmabuf_state_n_processes(s), n_exps = dmabuf_state_n_exporters(s);
        size_t n_top = MIN(n_procs, (size_t) DMABUF_HISTORY_TOP_PROCESSES);
        size_t n_kept = MIN(n_exps, (size_t) DMABUF_HISTORY_EXPORTERS_MAX);
        _cleanup_free_ const DmabufProcess **by_pss = NULL;
        _cleanup_free_ const DmabufExporter **by_bytes = NULL;
        DmabufHistoryEntry *e;
        size_t strings = 0, allocated;
        char *pos;

        by_pss = malloc(MAX(n_procs, (size_t) 1) * sizeof(*by_pss));
        by_bytes = malloc(MAX(n_exps, (size_t) 1) * sizeof(*by_bytes));
        if (!by_pss || !by_bytes)
                return -ENOMEM;
        for (size_t i = 0; i < n_procs; i++)
                by_pss[i] = &procs[i];
        qsort(by_pss, n_procs, sizeof(*by_pss), compare_pss);
        for (size_t i = 0; i < n_exps; i++)
                by_bytes[i] = &exps[i];
        if (n_exps > n_kept)
                qsort(by_bytes, n_exps, sizeof(*by_bytes), compare_exporter_bytes);
        qsort(by_bytes, n_kept, sizeof(*by_bytes), compare_exporter_position);

        for (size_t i = 0; i < n_top; i++)
                strings += by_pss[i]->comm ? kept_length(by_pss[i]->comm) + 1 : 0;
        for (size_t i = 0; i < n_kept; i++)
                strings += by_bytes[i]->name ? kept_length(by_bytes[i]->name) + 1 : 0;

        /* One allocation: the entry, its two arrays, then the strings. */
        static_assert(sizeof(DmabufHistoryEntry) % alignof(DmabufHistoryExporter) == 0, "alignment");
        static_assert(sizeof(DmabufHistoryExporter) % alignof(DmabufHistoryProcess) == 0, "alignment");
        allocated = sizeof(DmabufHistoryEntry) + n_kept * sizeof(DmabufHistoryExporter) +
                    n_top * sizeof(DmabufHistoryProcess) + strings;
        e = calloc(1, allocated);
        if (!e)
                return -ENOMEM;
        e->allocated = allocated;
        e->collected_at_usec = dmabuf_state_collected_at_usec(s);
        e->totals = *dmabuf_state_totals(s);
        e->n_exporters = (uint32_t) n_kept;
        e->exporters_omitted = (uint32_t) (n_exps - n_kept);
        e->n_processes = (uint32_t) n_top;
        e->exporters = (DmabufHistoryExporter *) (void *) (e + 1);
        e->processes = (DmabufHistoryProcess *) (void *) (e->exporters + n_kept);
        pos = (char *) (e->processes + n_top);
        for (size_t i = 0; i < n_kept; i++)
                e->exporters[i] = (DmabufHistoryExporter){
                        .name = copy_name(by_bytes[i]->name, &pos),
                        .buffers = by_bytes[i]->buffers,
                        .bytes = by_bytes[i]->bytes,
                };
        for (size_t i = 0; i < n_top; i++)
                e->processes[i] = (DmabufHistoryProcess){
                        .pid = by_pss[i]->pid,
                        .comm = copy_name(by_pss[i]->comm, &pos),
                        .rss_bytes = by_pss[i]->rss_bytes,
                        .pss_bytes = by_pss[i]->pss_bytes,
                };
        *ret = e;
        return 0;
}

DmabufHistoryEntry *dmabuf_history_entry_free(DmabufHistoryEntry *e) {
        free(e);
        return NULL;
}

void dmabuf_history_push(DmabufHistory *h, DmabufHistoryEntry *e) {
        if (h->capacity == 0) {
                dmabuf_history_entry_free(e);
                return;
        }
        if (h->size == h->capacity) {
                DmabufHistoryEntry *oldest = h->ring[h->start];

                h->entries_allocated -= oldest->allocated;
                dmabuf_history_entry_free(oldest);
                h->ring[h->start] = e;
                h->start = (h->start + 1) % h->capacity;
        } else
                h->ring[(h->start + h->size++) % h->capacity] = e;
        h->entries_allocated += e->allocated;
}

int dmabuf_history_query_parse(DmabufHistoryQuery *q, const char *key, const char *value, char *err,
                               size_t err_len) {
        uint64_t n;

        if (!streq(key, "points") && !streq(key, "since")) {
                snprintf(err, err_len, "unknown parameter \"%.64s\": history takes points=N and since=TIME", key);
                return -EINVAL;
        }
        if (!value || !*value) {
                snprintf(err, err_len, "parameter %s needs a value", key);
                return -EINVAL;
        }
        if (streq(key, "points")) {
                if (safe_atou64(value, &n) < 0 || n < 1 || n > DMABUF_HISTORY_CAPACITY_MAX) {
                        snprintf(err, err_len, "parameter points=\"%.64s\": not a whole number from 1 to %d",
                                 value, DMABUF_HISTORY_CAPACITY_MAX);
                        return -EINVAL;
                }
                q->points = (size_t) n;
                return 0;
        }
        /* Seconds since the epoch: a whole number, at most year 9999. */
        if (safe_atou64(value, &n) >= 0 && n <= 253402300799ULL) {
                q->since_usec = n * 1000000;
                return 0;
        }
        if (parse_timestamp_utc(value, &q->since_usec) < 0) {
                snprintf(err, err_len,
                         "parameter since=\"%.64s\": not an RFC 3339 UTC time (2026-01-02T03:04:05.678Z) or "
                         "seconds since the epoch",
                         value);
                return -EINVAL;
        }
        return 0;
}

static json_object *entry_to_json(const DmabufHistoryEntry *e) {
        json_object *o = json_object_new_object(), *totals = json_object_new_object(),
                    *exporters = json_object_new_array(), *processes = json_object_new_array();
        char ts[32];

        dmabuf_json_format_time(e->collected_at_usec, ts);
        json_object_object_add(o, "collected_at", json_object_new_string(ts));
        json_object_object_add(totals, "buffers", dmabuf_json_u64(e->totals.buffers));
        json_object_object_add(totals, "bytes", dmabuf_json_u64(e->totals.bytes));
        json_object_object_add(totals, "userspace_bytes", dmabuf_json_u64(e->totals.userspace_bytes));
        json_object_object_add(totals, "kernel_only_bytes", dmabuf_json_u64(e->totals.kernel_only_bytes));
        json_object_object_add(o, "totals", totals);
        for (size_t i = 0; i < e->n_exporters; i++) {
                const DmabufHistoryExporter *x = &e->exporters[i];
                json_object *xo = json_object_new_object();

                json_object_object_add(xo, "name", x->name ? dmabuf_json_string(x->name, strlen(x->name)) : NULL);
                json_object_object_add(xo, "buffers", dmabuf_json_u64(x->buffers));
                json_object_object_add(xo, "bytes", dmabuf_json_u64(x->bytes));
                json_object_array_add(exporters, xo);
        }
        json_object_object_add(o, "exporters", exporters);
        json_object_object_add(o, "exporters_omitted", json_object_new_uint64(e->exporters_omitted));
        for (size_t i = 0; i < e->n_processes; i++) {
                const DmabufHistoryProcess *p = &e->processes[i];
                json_object *po = json_object_new_object();

                json_object_object_add(po, "pid", json_object_new_int64(p->pid));
                json_object_object_add(po, "comm", p->comm ? dmabuf_json_string(p->comm, strlen(p->comm)) : NULL);
                json_object_object_add(po, "rss_bytes", dmabuf_json_u64(p->rss_bytes));
                json_object_object_add(po, "pss_bytes", dmabuf_json_u64(p->pss_bytes));
                json_object_array_add(processes, po);
        }
        json_object_object_add(o, "top_processes", processes);
        return o;
}

int dmabuf_history_write_json(StrBuf *sb, const DmabufHistory *h, const DmabufHistoryQuery *q) {
        size_t first = 0;
        bool comma = false;

        /* Entries are in collection order, and the wall clock only steps back
         * rarely: entries after `since` are found from the newest backwards.
         * Compared as written, in milliseconds, so that since= a point's own
         * collected_at leaves that point out. */
        if (q->since_usec > 0) {
                first = h->size;
                while (first > 0 && entry_at(h, first - 1)->collected_at_usec / 1000 * 1000 > q->since_usec)
                        first--;
        }
        if (q->points > 0 && h->size - first > q->points)
                first = h->size - q->points;

        strbuf_printf(sb, "{\"capacity\":%zu,\"top_processes_max\":%d,\"points\":[", h->capacity,
                      DMABUF_HISTORY_TOP_PROCESSES);
        for (size_t i = first; i < h->size; i++) {
                json_object *o = entry_to_json(entry_at(h, i));

                if (!o)
                        return -ENOMEM;
                if (comma)
                        strbuf_putc(sb, ',');
                strbuf_puts(sb, json_object_to_json_string_ext(o, JSON_FLAGS));
                json_object_put(o);
                comma = true;
        }
        strbuf_puts(sb, "]}");
        return strbuf_status(sb);
}
