/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "debugfs.h"
#include "fileio.h"
#include "macro.h"
#include "string-util.h"

#define BUFINFO_PATH "kernel/debug/dma_buf/bufinfo"
#define BUFINFO_MAX ((size_t) 512 * 1024 * 1024)

typedef struct PendingRow {
        bool active;
        DmabufBufferInfo info;
        char exporter[128];
        StrBuf name; /* a name may span lines: it holds newlines raw */
} PendingRow;

typedef struct Parser {
        const DmabufBufinfoCallbacks *cb;
        void *userdata;
        DmabufBufinfoSummary sum;
        unsigned line_no;
        PendingRow row;
        bool row_open;       /* a row was seen and its "Total N devices" not yet */
        bool in_devices;
        bool skipping_row;   /* the row was malformed: its own lines are not errors too */
        uint64_t rows_seen;  /* malformed rows included, to check the closing total */
        bool after_row_line; /* the previous line was the row or its name's continuation */
        uint64_t inode;
        uint64_t devices;
} Parser;

static void malformed(Parser *p) {
        if (p->sum.malformed++ == 0)
                p->sum.first_malformed_line = p->line_no;
}

static int flush_row(Parser *p) {
        int r = 0;

        if (!p->row.active)
                return 0;
        p->row.active = false;
        p->row.info.name = p->row.name.buf ? p->row.name.buf : "";
        p->row.info.name_len = p->row.name.len;
        /* 6.x prints "<none>" and 5.10 an empty string for an unnamed buffer. */
        if (p->row.info.name_len == STRLEN("<none>") && memcmp(p->row.info.name, "<none>", STRLEN("<none>")) == 0)
                p->row.info.name_len = 0;
        p->row.info.has_name = true;
        if (strbuf_status(&p->row.name) < 0)
                return -ENOMEM;
        p->sum.rows++;
        if (p->cb->row)
                r = p->cb->row(&p->row.info, p->userdata);
        return r;
}

/* Splits the next tab-separated field off [*pos, len). */
static bool next_field(const char *s, size_t len, size_t *pos, const char **ret, size_t *ret_len) {
        const char *tab;

        if (*pos >= len)
                return false;
        tab = memchr(s + *pos, '\t', len - *pos);
        if (!tab)
                return false;
        *ret = s + *pos;
        *ret_len = (size_t) (tab - (s + *pos));
        *pos = (size_t) (tab - s) + 1;
        return true;
}

static int parse_row(Parser *p, const char *line, size_t len) {
        const char *f[6];
        size_t fl[6], pos = 0;
        uint64_t size, count, ino;

        for (size_t i = 0; i < 6; i++)
                if (!next_field(line, len, &pos, &f[i], &fl[i]))
                        return -EBADMSG;
        /* size, flags (hex), mode (hex), count, exp_name, ino; then the name. */
        if (safe_atou64_n(f[0], fl[0], &size) < 0 || safe_atou64_n(f[3], fl[3], &count) < 0 ||
            safe_atou64_n(f[5], fl[5], &ino) < 0 || fl[4] == 0 || fl[4] >= sizeof(p->row.exporter))
                return -EBADMSG;
        for (size_t i = 1; i <= 2; i++) {
                if (fl[i] == 0 || fl[i] > 16)
                        return -EBADMSG;
                for (size_t k = 0; k < fl[i]; k++)
                        if (!((f[i][k] >= '0' && f[i][k] <= '9') || (f[i][k] >= 'a' && f[i][k] <= 'f')))
                                return -EBADMSG;
        }

        p->row.active = true;
        memcpy(p->row.exporter, f[4], fl[4]);
        p->row.exporter[fl[4]] = '\0';
        p->row.info = (DmabufBufferInfo){
                .inode = ino,
                .size = size,
                .count = count,
                .exporter = p->row.exporter,
        };
        strbuf_reset(&p->row.name);
        strbuf_append(&p->row.name, line + pos, len - pos);
        p->inode = ino;
        return 0;
}

/* "Total %d devices attached" or "Total %d objects, %zu bytes" */
static bool parse_total(const char *line, size_t len, const char *what, uint64_t *a, uint64_t *b) {
        size_t i = STRLEN("Total "), start;

        if (!span_starts_with(line, len, "Total "))
                return false;
        start = i;
        while (i < len && line[i] >= '0' && line[i] <= '9')
                i++;
        if (safe_atou64_n(line + start, i - start, a) < 0)
                return false;
        if (!b)
                return len - i == strlen(what) && memcmp(line + i, what, len - i) == 0;
        if (!span_starts_with(line + i, len - i, " objects, "))
                return false;
        i += STRLEN(" objects, ");
        start = i;
        while (i < len && line[i] >= '0' && line[i] <= '9')
                i++;
        if (safe_atou64_n(line + start, i - start, b) < 0)
                return false;
        return len - i == STRLEN(" bytes") && memcmp(line + i, " bytes", STRLEN(" bytes")) == 0;
}

static int parse_line(Parser *p, const char *line, size_t len) {
        uint64_t a, b;
        int r;

        if (p->after_row_line && len > 0 && line[0] != '\t') {
                /* The kernel prints the name raw, so a name with a newline continues on
                 * the next line; nothing else may follow a row before its tab lines. */
                strbuf_putc(&p->row.name, '\n');
                strbuf_append(&p->row.name, line, len);
                return 0;
        }
        p->after_row_line = false;
        if (len == 0)
                return flush_row(p);

        if (line[0] == '\t') {
                r = flush_row(p);
                if (r < 0)
                        return r;
                if (!p->row_open) {
                        malformed(p);
                        return 0;
                }
                if (p->skipping_row)
                        return 0;
                if (len == STRLEN("\tAttached Devices:") && memcmp(line, "\tAttached Devices:", len) == 0) {
                        p->in_devices = true;
                        return 0;
                }
                if (p->in_devices) {
                        char dev[256];

                        if (len - 1 == 0 || len - 1 >= sizeof(dev)) {
                                malformed(p);
                                return 0;
                        }
                        memcpy(dev, line + 1, len - 1);
                        dev[len - 1] = '\0';
                        p->devices++;
                        return p->cb->device ? p->cb->device(p->inode, dev, p->userdata) : 0;
                }
                return 0; /* a fence line: "\twrite fence:..." or 5.10's "\tExclusive fence: ..." */
        }

        r = flush_row(p);
        if (r < 0)
                return r;

        if (line[0] >= '0' && line[0] <= '9') {
                if (p->row_open) /* the previous buffer never closed its device list */
                        malformed(p);
                p->in_devices = false;
                p->row_open = true;
                p->devices = 0;
                p->rows_seen++;
                p->skipping_row = parse_row(p, line, len) < 0;
                if (p->skipping_row) {
                        malformed(p);
                        return 0;
                }
                p->after_row_line = true;
                return 0;
        }
        if (parse_total(line, len, " devices attached", &a, NULL)) {
                if (!p->row_open || (!p->skipping_row && (!p->in_devices || a != p->devices)))
                        malformed(p);
                p->skipping_row = false;
                p->row_open = false;
                p->in_devices = false;
                return 0;
        }
        if (parse_total(line, len, NULL, &a, &b)) {
                p->sum.total_objects = a;
                p->sum.total_bytes = b;
                return 0;
        }
        if (span_starts_with(line, len, "size")) /* the column header */
                return 0;
        malformed(p);
        return 0;
}

int dmabuf_bufinfo_parse(const char *buf, size_t len, const DmabufBufinfoCallbacks *cb, void *userdata,
                         DmabufBufinfoSummary *ret) {
        Parser p = {
                .cb = cb,
                .userdata = userdata,
                .sum = { .total_objects = DMABUF_UNKNOWN, .total_bytes = DMABUF_UNKNOWN },
        };
        const char *line;
        size_t pos = 0, line_len;
        int r = 0;

        while (next_line(buf, len, &pos, &line, &line_len)) {
                p.line_no++;
                if (line_len == STRLEN("Dma-buf Objects:") && memcmp(line, "Dma-buf Objects:", line_len) == 0) {
                        r = flush_row(&p);
                        if (r < 0)
                                goto finish;
                        p.after_row_line = false;
                        continue;
                }
                r = parse_line(&p, line, line_len);
                if (r < 0)
                        goto finish;
        }
        r = flush_row(&p);
        if (r < 0)
                goto finish;
        if (p.row_open)
                malformed(&p);
        if (p.sum.total_objects == DMABUF_UNKNOWN || p.sum.total_objects != p.rows_seen) {
                /* Missing or disagreeing closing line: the file was cut short. */
                p.line_no++;
                malformed(&p);
        }
        if (ret)
                *ret = p.sum;
finish:
        strbuf_done(&p.row.name);
        return r;
}

typedef struct ScanContext {
        DmabufBuilder *builder;
} ScanContext;

static int on_row(const DmabufBufferInfo *info, void *userdata) {
        ScanContext *c = userdata;
        int r = dmabuf_builder_add_buffer(c->builder, DMABUF_SOURCE_DEBUGFS, info);

        if (r < 0)
                return r;
        /* debugfs always lists attachments, so "none listed" means none. */
        return dmabuf_builder_attachments_known(c->builder, DMABUF_SOURCE_DEBUGFS, info->inode);
}

static int on_device(uint64_t inode, const char *device, void *userdata) {
        ScanContext *c = userdata;
        return dmabuf_builder_add_attachment(c->builder, DMABUF_SOURCE_DEBUGFS, inode, device, DMABUF_UNKNOWN);
}

int dmabuf_debugfs_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch) {
        static const DmabufBufinfoCallbacks cb = { .row = on_row, .device = on_device };
        ScanContext c = { .builder = b };
        DmabufBufinfoSummary sum;
        int r;

        r = read_file_at(sys_fd, BUFINFO_PATH, BUFINFO_MAX, scratch);
        if (r < 0)
                return r;
        r = dmabuf_bufinfo_parse(scratch->buf, scratch->len, &cb, &c, &sum);
        if (r < 0)
                return r;
        if (sum.malformed > 0) {
                char what[96];

                snprintf(what, sizeof(what), "line %u: malformed (%u such lines)", sum.first_malformed_line,
                         sum.malformed);
                dmabuf_builder_parse_error(b, DMABUF_SOURCE_DEBUGFS, "/sys/" BUFINFO_PATH, what);
                dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_DEBUGFS] += sum.malformed - 1;
        }
        return 0;
}
