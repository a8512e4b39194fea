/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "document.h"
#include "macro.h"
#include "pressure-parser.h"
#include "state-json.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static json_object *str0(const char *s) {
        return s ? dmabuf_json_string(s, strlen(s)) : NULL;
}

static json_object *time_string(uint64_t usec) {
        char buf[32];

        dmabuf_json_format_time(usec, buf);
        return json_object_new_string(buf);
}

void dmabuf_suppressed_add(DmabufSuppressed *s, const DmabufdEvent *e, uint64_t at_usec, const DmabufState *before) {
        const DmabufProcess *p = e->pid > 0 && before ? dmabuf_state_find_process(before, e->pid) : NULL;
        DmabufSuppressedEvent *ev;

        if (e->kind < 0 || e->kind >= _DMABUFD_EVENT_KIND_MAX)
                return;
        s->count[e->kind]++;
        if (s->n_events >= DMABUF_SUPPRESSED_MAX)
                return;
        ev = &s->events[s->n_events++];
        *ev = (DmabufSuppressedEvent){
                .kind = e->kind,
                .at_usec = at_usec,
                .pid = e->pid,
                .rss_bytes = p ? p->rss_bytes : DMABUF_UNKNOWN,
                .pss_bytes = p ? p->pss_bytes : DMABUF_UNKNOWN,
        };
        snprintf(ev->comm, sizeof(ev->comm), "%s", e->comm ? e->comm : "");
        snprintf(ev->line, sizeof(ev->line), "%s", e->line ? e->line : "");
}

json_object *dmabuf_suppressed_to_json(const DmabufSuppressed *s) {
        json_object *o, *by_kind, *events;
        uint64_t total = 0;

        for (size_t k = 0; k < _DMABUFD_EVENT_KIND_MAX; k++)
                total += s->count[k];
        if (total == 0)
                return NULL;
        o = json_object_new_object();
        by_kind = json_object_new_object();
        events = json_object_new_array();
        json_object_object_add(o, "total", json_object_new_uint64(total));
        for (DmabufdEventKind k = 0; k < _DMABUFD_EVENT_KIND_MAX; k++)
                if (s->count[k] > 0)
                        json_object_object_add(by_kind, dmabufd_event_kind_to_string(k),
                                               json_object_new_uint64(s->count[k]));
        json_object_object_add(o, "by_kind", by_kind);
        for (size_t i = 0; i < s->n_events; i++) {
                const DmabufSuppressedEvent *ev = &s->events[i];
                json_object *e = json_object_new_object();

                json_object_object_add(e, "kind", json_object_new_string(dmabufd_event_kind_to_string(ev->kind)));
                json_object_object_add(e, "at", time_string(ev->at_usec));
                json_object_object_add(e, "pid", ev->pid > 0 ? json_object_new_int(ev->pid) : NULL);
                json_object_object_add(e, "comm", ev->comm[0] ? str0(ev->comm) : NULL);
                if (ev->pid > 0) {
                        json_object_object_add(e, "rss_bytes", dmabuf_json_u64(ev->rss_bytes));
                        json_object_object_add(e, "pss_bytes", dmabuf_json_u64(ev->pss_bytes));
                }
                json_object_object_add(e, "line", ev->line[0] ? str0(ev->line) : NULL);
                json_object_array_add(events, e);
        }
        json_object_object_add(o, "events", events);
        return o;
}

static json_object *kb_to_bytes(uint64_t kb) {
        return kb == DMABUF_KILL_UNKNOWN ? NULL : json_object_new_uint64(kb * 1024);
}

static json_object *kill_to_json(const DmabufKill *k) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "constraint", k->constraint[0] ? str0(k->constraint) : NULL);
        json_object_object_add(o, "global_oom", json_object_new_boolean(k->global_oom));
        json_object_object_add(o, "task_memcg", k->task_memcg[0] ? str0(k->task_memcg) : NULL);
        json_object_object_add(o, "oom_memcg", k->oom_memcg[0] ? str0(k->oom_memcg) : NULL);
        json_object_object_add(o, "uid", k->uid == DMABUF_KILL_UNKNOWN ? NULL : json_object_new_uint64(k->uid));
        json_object_object_add(o, "oom_score_adj", k->has_oom_score_adj ? json_object_new_int(k->oom_score_adj) : NULL);
        json_object_object_add(o, "total_vm_bytes", kb_to_bytes(k->total_vm_kb));
        json_object_object_add(o, "anon_rss_bytes", kb_to_bytes(k->anon_rss_kb));
        json_object_object_add(o, "file_rss_bytes", kb_to_bytes(k->file_rss_kb));
        json_object_object_add(o, "shmem_rss_bytes", kb_to_bytes(k->shmem_rss_kb));
        json_object_object_add(o, "pgtables_bytes", kb_to_bytes(k->pgtables_kb));
        return o;
}

/* What the victim held by the last collection: by the time the kill is logged
 * its fds are closed and the kernel may have freed its buffers. */
static void add_victim_holdings(json_object *t, pid_t pid, const DmabufState *before) {
        const DmabufProcess *p = before ? dmabuf_state_find_process(before, pid) : NULL;
        json_object *buffers = json_object_new_array();

        json_object_object_add(t, "in_before", json_object_new_boolean(p != NULL));
        json_object_object_add(t, "rss_bytes", p ? dmabuf_json_u64(p->rss_bytes) : NULL);
        json_object_object_add(t, "pss_bytes", p ? dmabuf_json_u64(p->pss_bytes) : NULL);
        for (size_t i = 0; p && i < p->n_buffers; i++) {
                const DmabufBuffer *b = &dmabuf_state_buffers(before)[p->buffer_index[i]];
                json_object *o = json_object_new_object();

                json_object_object_add(o, "inode", json_object_new_uint64(b->inode));
                json_object_object_add(o, "size", dmabuf_json_u64(b->size));
                json_object_object_add(o, "exporter", str0(dmabuf_state_buffer_exporter(before, b)));
                json_object_object_add(o, "name", str0(b->name));
                json_object_array_add(buffers, o);
        }
        json_object_object_add(t, "buffers", buffers);
}

json_object *dmabuf_snapshot_trigger_new(const DmabufdEvent *e, uint64_t at_usec, const DmabufState *before) {
        json_object *t = json_object_new_object();

        if (!t)
                return NULL;
        json_object_object_add(t, "kind", json_object_new_string(dmabufd_event_kind_to_string(e->kind)));
        json_object_object_add(t, "at", time_string(at_usec));
        if (e->pid > 0) {
                json_object_object_add(t, "pid", json_object_new_int(e->pid));
                json_object_object_add(t, "comm", str0(e->comm));
                add_victim_holdings(t, e->pid, before);
        }
        if (e->line)
                json_object_object_add(t, "line", str0(e->line));
        if (e->kill)
                json_object_object_add(t, "oom", kill_to_json(e->kill));
        if (e->kind == DMABUFD_EVENT_CGROUP_OOM) {
                json_object_object_add(t, "cgroup", str0(e->cgroup));
                json_object_object_add(t, "oom_kill", json_object_new_uint64(e->oom_kill));
                json_object_object_add(t, "oom_kill_increase", json_object_new_uint64(e->oom_kill_increase));
        }
        if (e->psi_trigger)
                json_object_object_add(t, "psi_trigger", str0(e->psi_trigger));
        if (e->identifier)
                json_object_object_add(t, "identifier", str0(e->identifier));
        if (e->origin)
                json_object_object_add(t, "origin", str0(e->origin));
        return t;
}

/* The failed write's errno survives until the next libc call, so a full disk
 * reaches the caller as -ENOSPC rather than a bare I/O error. */
static int stream_status(FILE *f) {
        if (!ferror(f))
                return 0;
        return errno > 0 ? -errno : -EIO;
}

static json_object *psi_line_to_json(const DmabufPsiLine *l) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "avg10", json_object_new_double(l->avg10));
        json_object_object_add(o, "avg60", json_object_new_double(l->avg60));
        json_object_object_add(o, "avg300", json_object_new_double(l->avg300));
        json_object_object_add(o, "total_us", json_object_new_uint64(l->total_us));
        return o;
}

json_object *dmabuf_snapshot_memory_new(const char *meminfo, size_t meminfo_len, const char *psi, size_t psi_len,
                                        char *err, size_t err_len) {
        json_object *o = json_object_new_object(), *mi = NULL, *po = NULL;
        DmabufMeminfo m;
        DmabufPsi p;

        if (!o)
                return NULL;
        if (err_len > 0)
                err[0] = '\0';
        /* Values in bytes where the kernel prints kB, so nothing downstream has
         * to know which of meminfo's keys are counts (HugePages_Total). */
        if (meminfo && dmabuf_meminfo_parse(meminfo, meminfo_len, &m, err, err_len) >= 0) {
                mi = json_object_new_object();
                for (size_t i = 0; i < m.n_entries; i++)
                        json_object_object_add(mi, m.entries[i].key,
                                               json_object_new_uint64(dmabuf_meminfo_entry_bytes(&m.entries[i])));
                dmabuf_meminfo_done(&m);
        }
        if (psi && dmabuf_psi_parse(psi, psi_len, &p, err, err_len) >= 0) {
                po = json_object_new_object();
                json_object_object_add(po, "some", p.has_some ? psi_line_to_json(&p.some) : NULL);
                json_object_object_add(po, "full", p.has_full ? psi_line_to_json(&p.full) : NULL);
        }
        json_object_object_add(o, "meminfo", mi);
        json_object_object_add(o, "psi", po);
        return o;
}

static int put_json(FILE *f, const char *key, json_object *o) {
        fprintf(f, ",\"%s\":", key);
        fputs(o ? json_object_to_json_string_ext(o, JSON_FLAGS) : "null", f);
        return stream_status(f);
}

static int put_state(FILE *f, const char *key, const DmabufState *s) {
        DmabufJsonCursor *c;
        char buf[64 * 1024];
        ssize_t n;
        int r;

        fprintf(f, ",\"%s\":", key);
        if (!s) {
                fputs("null", f);
                return stream_status(f);
        }
        c = dmabuf_json_cursor_new(s);
        if (!c)
                return -ENOMEM;
        while ((n = dmabuf_json_cursor_read(c, buf, sizeof(buf))) > 0)
                if (fwrite(buf, 1, (size_t) n, f) != (size_t) n)
                        break;
        r = stream_status(f);
        dmabuf_json_cursor_free(c);
        return n < 0 ? (int) n : r;
}

int dmabuf_snapshot_write(FILE *f, const DmabufSnapshot *snap) {
        char taken_at[32];
        json_object *id;
        int r;

        /* The store reads schema, id, taken_at and trigger.kind back from the
         * head of the file after a restart; they come first, in this order. */
        dmabuf_json_format_time(snap->taken_at_usec, taken_at);
        id = json_object_new_string(snap->id);
        fprintf(f, "{\"schema\":\"%s\",\"id\":%s,\"taken_at\":\"%s\"", DMABUFD_SNAPSHOT_SCHEMA,
                json_object_to_json_string_ext(id, JSON_FLAGS), taken_at);
        json_object_put(id);
        if (snap->partial)
                fputs(",\"partial\":true", f);
        r = put_json(f, "trigger", snap->trigger);
        if (r >= 0 && snap->suppressed)
                r = put_json(f, "suppressed", snap->suppressed);
        if (r >= 0)
                r = put_json(f, "memory", snap->memory);
        if (r >= 0)
                r = put_state(f, "before", snap->before);
        if (r >= 0)
                r = put_state(f, "state", snap->state);
        if (r < 0)
                return r;
        fputs("}\n", f);
        return stream_status(f);
}
