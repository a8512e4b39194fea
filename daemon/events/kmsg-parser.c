/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "kmsg-parser.h"
#include "macro.h"
#include "string-util.h"

static bool take_number(const char *s, size_t len, size_t *pos, uint64_t *ret) {
        size_t start = *pos;

        while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9')
                (*pos)++;
        return safe_atou64_n(s + start, *pos - start, ret) >= 0;
}

int dmabuf_kmsg_record_parse(const char *buf, size_t len, DmabufKmsgRecord *ret) {
        DmabufKmsgRecord r = { 0 };
        const char *semi, *nl;
        uint64_t pri;
        size_t pos = 0;

        semi = memchr(buf, ';', len);
        if (!semi)
                return -EBADMSG;
        /* PRI encodes facility * 8 + level; SEQ and TS are decimal. */
        if (!take_number(buf, len, &pos, &pri) || pri > 1023 || pos >= len || buf[pos++] != ',')
                return -EBADMSG;
        if (!take_number(buf, len, &pos, &r.seq) || pos >= len || buf[pos++] != ',')
                return -EBADMSG;
        if (!take_number(buf, len, &pos, &r.ts_usec) || pos >= len || buf[pos++] != ',')
                return -EBADMSG;
        if (buf + pos >= semi)
                return -EBADMSG;
        r.flag = buf[pos];
        r.level = (int) (pri & 7);
        r.facility = (int) (pri >> 3);
        r.message = semi + 1;
        /* The message ends at the first newline; what follows are " KEY=value"
         * continuation lines with device properties. */
        nl = memchr(r.message, '\n', len - (size_t) (r.message - buf));
        r.message_len = nl ? (size_t) (nl - r.message) : len - (size_t) (r.message - buf);
        *ret = r;
        return 0;
}

static void splitter_line(DmabufKmsgSplitter *s, const char *line, size_t len, DmabufKmsgRecordFunc f,
                           void *userdata) {
        if (line[0] == ' ') {
                /* Device properties of the pending record; without one, or past
                 * the record's room, they are dropped: nothing here reads them. */
                if (s->record_len > 0 && s->record_len + len <= sizeof(s->record)) {
                        memcpy(s->record + s->record_len, line, len);
                        s->record_len += len;
                }
                return;
        }
        dmabuf_kmsg_splitter_flush(s, f, userdata);
        memcpy(s->record, line, len);
        s->record_len = len;
}

void dmabuf_kmsg_splitter_feed(DmabufKmsgSplitter *s, const char *data, size_t len, DmabufKmsgRecordFunc f,
                               void *userdata) {
        while (len > 0) {
                const char *nl = memchr(data, '\n', len);
                size_t n = nl ? (size_t) (nl - data) + 1 : len;

                if (s->discarding) {
                        if (nl)
                                s->discarding = false;
                } else if (s->partial_len + n > sizeof(s->partial)) {
                        s->overlong++;
                        s->partial_len = 0;
                        s->discarding = !nl;
                } else if (!nl) {
                        memcpy(s->partial + s->partial_len, data, n);
                        s->partial_len += n;
                } else if (s->partial_len > 0) {
                        memcpy(s->partial + s->partial_len, data, n);
                        splitter_line(s, s->partial, s->partial_len + n, f, userdata);
                        s->partial_len = 0;
                } else
                        splitter_line(s, data, n, f, userdata);
                data += n;
                len -= n;
        }
}

void dmabuf_kmsg_splitter_flush(DmabufKmsgSplitter *s, DmabufKmsgRecordFunc f, void *userdata) {
        if (s->record_len == 0)
                return;
        f(s->record, s->record_len, userdata);
        s->record_len = 0;
}

size_t dmabuf_kmsg_unescape(const char *s, size_t len, char *out, size_t out_size) {
        size_t o = 0;

        if (out_size == 0)
                return 0;
        for (size_t i = 0; i < len && o + 1 < out_size; i++) {
                int hi, lo;

                if (s[i] == '\\' && i + 3 < len && s[i + 1] == 'x' && (hi = unhexchar(s[i + 2])) >= 0 &&
                    (lo = unhexchar(s[i + 3])) >= 0) {
                        out[o++] = (char) (hi << 4 | lo);
                        i += 3;
                } else
                        out[o++] = s[i];
        }
        out[o] = '\0';
        return o;
}

static const char *find(const char *s, size_t len, const char *needle) {
        return memmem(s, len, needle, strlen(needle));
}

static void copy_field(char *dst, size_t dst_size, const char *src, size_t len) {
        snprintf(dst, dst_size, "%.*s", (int) MIN(len, dst_size - 1), src);
}

/* "oom-kill:constraint=C,nodemask=N[,cpuset=..,mems_allowed=..],global_oom|oom_memcg=M,
 *  task_memcg=T,task=COMM,pid=P,uid=U". The comm may hold commas, so the tail
 * (task, pid, uid) is taken from the end. */
static int parse_summary(const char *msg, size_t len, DmabufKill *k) {
        const char *body = msg + STRLEN("oom-kill:"), *end = msg + len, *task, *pid, *uid;
        size_t pos;
        uint64_t v;

        pid = NULL;
        for (const char *p = body; (p = find(p, (size_t) (end - p), ",pid=")); p++)
                pid = p;
        uid = pid ? find(pid, (size_t) (end - pid), ",uid=") : NULL;
        task = NULL;
        for (const char *p = body; pid && (p = find(p, (size_t) (pid - p), ",task=")); p++)
                task = p;
        if (!pid || !uid || !task)
                return -EBADMSG;

        pos = 0;
        if (!take_number(pid + 5, (size_t) (uid - pid - 5), &pos, &v) || pos != (size_t) (uid - pid - 5) ||
            v > INT32_MAX)
                return -EBADMSG;
        k->pid = (pid_t) v;
        pos = 0;
        if (!take_number(uid + 5, (size_t) (end - uid - 5), &pos, &k->uid))
                return -EBADMSG;
        copy_field(k->comm, sizeof(k->comm), task + 6, (size_t) (pid - task - 6));

        /* The head is plain comma-separated key=value and flags. */
        for (const char *p = body; p < task;) {
                const char *comma = memchr(p, ',', (size_t) (task - p)), *eq;
                size_t n = comma ? (size_t) (comma - p) : (size_t) (task - p);

                eq = memchr(p, '=', n);
                if (!eq) {
                        if (n == STRLEN("global_oom") && memcmp(p, "global_oom", n) == 0)
                                k->global_oom = true;
                } else {
                        size_t klen = (size_t) (eq - p), vlen = n - klen - 1;
#define IS(key) (klen == STRLEN(key) && memcmp(p, key, klen) == 0)
                        if (IS("constraint"))
                                copy_field(k->constraint, sizeof(k->constraint), eq + 1, vlen);
                        else if (IS("task_memcg"))
                                copy_field(k->task_memcg, sizeof(k->task_memcg), eq + 1, vlen);
                        else if (IS("oom_memcg"))
                                copy_field(k->oom_memcg, sizeof(k->oom_memcg), eq + 1, vlen);
#undef IS
                }
                p += n + 1;
        }
        return 0;
}

/* "... Killed process PID (COMM) total-vm:NkB, anon-rss:NkB, file-rss:NkB,
 *  shmem-rss:NkB, UID:N pgtables:NkB oom_score_adj:N"; older kernels stop earlier. */
static int parse_killed(const char *msg, size_t len, DmabufKill *k) {
        const char *p = find(msg, len, "Killed process "), *end = msg + len, *close;
        size_t pos = 0;
        uint64_t v;

        if (!p)
                return -ENOMSG;
        p += STRLEN("Killed process ");
        if (!take_number(p, (size_t) (end - p), &pos, &v) || v > INT32_MAX || (size_t) (end - p) < pos + 2 ||
            p[pos] != ' ' || p[pos + 1] != '(')
                return -EBADMSG;
        k->pid = (pid_t) v;
        p += pos + 2;
        close = find(p, (size_t) (end - p), ") total-vm:");
        if (!close) {
                /* the shortest form: "Killed process PID (COMM)" */
                close = end > p && end[-1] == ')' ? end - 1 : NULL;
                if (!close)
                        return -EBADMSG;
        }
        copy_field(k->comm, sizeof(k->comm), p, (size_t) (close - p));
        p = close + 1;

        while (p < end) {
                const char *colon, *tok_end;
                uint64_t *field = NULL;
                bool is_adj;
                size_t klen;

                while (p < end && (*p == ' ' || *p == ','))
                        p++;
                colon = memchr(p, ':', (size_t) (end - p));
                if (!colon)
                        break;
                klen = (size_t) (colon - p);
#define IS(key) (klen == STRLEN(key) && memcmp(p, key, klen) == 0)
                if (IS("total-vm"))
                        field = &k->total_vm_kb;
                else if (IS("anon-rss"))
                        field = &k->anon_rss_kb;
                else if (IS("file-rss"))
                        field = &k->file_rss_kb;
                else if (IS("shmem-rss"))
                        field = &k->shmem_rss_kb;
                else if (IS("pgtables"))
                        field = &k->pgtables_kb;
                else if (IS("UID"))
                        field = &k->uid;
                is_adj = IS("oom_score_adj");
                p = colon + 1;
                if (is_adj) {
                        bool neg = p < end && *p == '-';
                        pos = 0;
                        if (neg)
                                p++;
                        if (!take_number(p, (size_t) (end - p), &pos, &v) || v > 1000)
                                return -EBADMSG;
                        k->oom_score_adj = neg ? -(int) v : (int) v;
                        k->has_oom_score_adj = true;
                        p += pos;
                        continue;
                }
#undef IS
                pos = 0;
                if (!take_number(p, (size_t) (end - p), &pos, &v))
                        return -EBADMSG;
                if (field)
                        *field = v;
                p += pos;
                tok_end = p;
                if ((size_t) (end - tok_end) >= 2 && memcmp(tok_end, "kB", 2) == 0)
                        p += 2;
        }
        return 0;
}

/* "lowmemorykiller: Killing 'COMM' (PID)[ (tgid T)], adj N,..." */
static int parse_lmk(const char *msg, size_t len, DmabufKill *k) {
        const char *p = find(msg, len, "Killing '"), *end = msg + len, *q;
        size_t pos = 0;
        uint64_t v;
        bool neg;

        if (!p)
                return -EBADMSG;
        p += STRLEN("Killing '");
        q = find(p, (size_t) (end - p), "' (");
        if (!q)
                return -EBADMSG;
        copy_field(k->comm, sizeof(k->comm), p, (size_t) (q - p));
        p = q + 3;
        if (!take_number(p, (size_t) (end - p), &pos, &v) || v > INT32_MAX || p + pos >= end || p[pos] != ')')
                return -EBADMSG;
        k->pid = (pid_t) v;
        p += pos + 1;
        q = find(p, (size_t) (end - p), "adj ");
        if (!q)
                return -EBADMSG;
        p = q + 4;
        neg = p < end && *p == '-';
        if (neg)
                p++;
        pos = 0;
        if (!take_number(p, (size_t) (end - p), &pos, &v) || v > 1000)
                return -EBADMSG;
        k->oom_score_adj = neg ? -(int) v : (int) v;
        k->has_oom_score_adj = true;
        return 0;
}

static void kill_init(DmabufKill *k, DmabufKillKind kind) {
        *k = (DmabufKill){
                .kind = kind,
                .uid = DMABUF_KILL_UNKNOWN,
                .total_vm_kb = DMABUF_KILL_UNKNOWN,
                .anon_rss_kb = DMABUF_KILL_UNKNOWN,
                .file_rss_kb = DMABUF_KILL_UNKNOWN,
                .shmem_rss_kb = DMABUF_KILL_UNKNOWN,
                .pgtables_kb = DMABUF_KILL_UNKNOWN,
        };
}

int dmabuf_kill_tracker_feed(DmabufKillTracker *t, const char *msg, size_t len, DmabufKill *ret) {
        DmabufKill k;
        int r;

        if (span_starts_with(msg, len, "oom-kill:")) {
                kill_init(&t->summary, DMABUF_KILL_OOM);
                r = parse_summary(msg, len, &t->summary);
                t->have_summary = r >= 0;
                if (r >= 0)
                        copy_field(t->summary.line, sizeof(t->summary.line), msg, len);
                return r < 0 ? r : 0;
        }
        if (span_starts_with(msg, len, "lowmemorykiller: ")) {
                if (!find(msg, len, "Killing '"))
                        return 0; /* its other messages */
                kill_init(&k, DMABUF_KILL_LMK);
                r = parse_lmk(msg, len, &k);
                if (r < 0)
                        return r;
                copy_field(k.line, sizeof(k.line), msg, len);
                *ret = k;
                return 1;
        }
        /* "Out of memory: Killed process", "Memory cgroup out of memory: Killed
         * process", "Out of memory (oom_kill_allocating_task): ..." and, before
         * 5.x, a line of its own starting "Killed process". */
        if (!find(msg, len, "Killed process ") ||
            !(span_starts_with(msg, len, "Out of memory") || span_starts_with(msg, len, "Memory cgroup out of memory") ||
              span_starts_with(msg, len, "Killed process ")))
                return 0;
        kill_init(&k, span_starts_with(msg, len, "Memory cgroup out of memory") ? DMABUF_KILL_MEMCG_OOM : DMABUF_KILL_OOM);
        r = parse_killed(msg, len, &k);
        if (r < 0)
                return r == -ENOMSG ? 0 : r;
        if (t->have_summary && t->summary.pid == k.pid) {
                memcpy(k.constraint, t->summary.constraint, sizeof(k.constraint));
                memcpy(k.task_memcg, t->summary.task_memcg, sizeof(k.task_memcg));
                memcpy(k.oom_memcg, t->summary.oom_memcg, sizeof(k.oom_memcg));
                k.global_oom = t->summary.global_oom;
                if (k.uid == DMABUF_KILL_UNKNOWN)
                        k.uid = t->summary.uid;
                if (streq(k.constraint, "CONSTRAINT_MEMCG"))
                        k.kind = DMABUF_KILL_MEMCG_OOM;
                {
                        size_t used = strlen(t->summary.line);

                        memcpy(k.line, t->summary.line, used + 1);
                        if (used + 1 < sizeof(k.line) - 1) {
                                k.line[used] = '\n';
                                copy_field(k.line + used + 1, sizeof(k.line) - used - 1, msg, len);
                        }
                }
        } else
                copy_field(k.line, sizeof(k.line), msg, len);
        t->have_summary = false;
        *ret = k;
        return 1;
}
