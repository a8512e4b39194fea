/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "macro.h"
#include "utf8.h"

/* Tables are for terminals: control bytes in names are shown escaped so a hostile
 * name cannot move the cursor or break a row. */
static void put_printable(StrBuf *sb, const char *s, size_t width) {
        size_t out = 0;

        if (!s)
                s = "<none>";
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p < 0x20 || *p == 0x7f) {
                        strbuf_printf(sb, "\\x%02x", *p);
                        out += 4;
                } else {
                        strbuf_putc(sb, (char) *p);
                        out++;
                }
        }
        for (; out < width; out++)
                strbuf_putc(sb, ' ');
}

static void put_right(StrBuf *sb, const char *s, size_t width) {
        size_t len = strlen(s);

        for (; len < width; len++)
                strbuf_putc(sb, ' ');
        put_printable(sb, s, 0);
}

static void put_kb(StrBuf *sb, uint64_t bytes, size_t width) {
        char buf[32];

        if (bytes == DMABUF_UNKNOWN)
                snprintf(buf, sizeof(buf), "? kB");
        else
                snprintf(buf, sizeof(buf), "%" PRIu64 " kB", bytes / 1024);
        put_right(sb, buf, width);
}

static void put_u64(StrBuf *sb, uint64_t v, size_t width) {
        char buf[32];

        if (v == DMABUF_UNKNOWN)
                snprintf(buf, sizeof(buf), "?");
        else
                snprintf(buf, sizeof(buf), "%" PRIu64, v);
        put_right(sb, buf, width);
}

static void put_summary(StrBuf *sb, const DmabufState *s) {
        const DmabufTotals *t = dmabuf_state_totals(s);
        uint64_t pss = 0;

        /* Summed over buffers, not listed processes, so that `dump PID` still shows
         * the system's figure: every holder's rounded-down share, added up. */
        for (size_t i = 0; i < dmabuf_state_n_buffers(s); i++) {
                const DmabufBuffer *b = &dmabuf_state_buffers(s)[i];

                if (b->n_holders == 0)
                        continue;
                pss = b->size == DMABUF_UNKNOWN || pss == DMABUF_UNKNOWN
                              ? DMABUF_UNKNOWN
                              : pss + b->size / b->n_holders * b->n_holders;
        }
        strbuf_puts(sb, "----------------------\ndmabuf total: ");
        put_kb(sb, t->bytes, 0);
        strbuf_puts(sb, " kernel_rss: ");
        put_kb(sb, t->kernel_only_bytes, 0);
        strbuf_puts(sb, " userspace_rss: ");
        put_kb(sb, t->userspace_bytes, 0);
        strbuf_puts(sb, " userspace_pss: ");
        put_kb(sb, pss, 0);
        strbuf_puts(sb, "\n");
}

/* The DRM clients of a process, one row per region; "-" for a kind its driver
 * does not print. These are the driver's figures, not part of the totals above. */
static void put_drm_clients(StrBuf *sb, const DmabufProcess *p) {
        for (size_t c = 0; c < p->n_drm_clients; c++) {
                const DmabufDrmClient *cl = &p->drm_clients[c];

                strbuf_puts(sb, "  DRM ");
                put_printable(sb, cl->driver, 0);
                if (cl->client_id != DMABUF_UNKNOWN)
                        strbuf_printf(sb, " client %" PRIu64, cl->client_id);
                if (cl->pdev) {
                        strbuf_puts(sb, " on ");
                        put_printable(sb, cl->pdev, 0);
                }
                strbuf_printf(sb, ", %" PRIu32 " fd%s\n", cl->fds, cl->fds == 1 ? "" : "s");
                strbuf_puts(sb, "                Region            Total           Shared         Resident"
                                "        Purgeable           Active\n");
                for (size_t r = 0; r < cl->n_regions; r++) {
                        StrBuf name = STRBUF_INIT;

                        put_printable(&name, cl->regions[r].name, 0);
                        put_right(sb, name.buf ? name.buf : "", 22);
                        strbuf_done(&name);
                        for (DmabufDrmKind k = 0; k < _DMABUF_DRM_KIND_MAX; k++) {
                                if (cl->regions[r].bytes[k] == DMABUF_UNKNOWN)
                                        put_right(sb, "-", 17);
                                else
                                        put_kb(sb, cl->regions[r].bytes[k], 17);
                        }
                        strbuf_puts(sb, "\n");
                }
        }
}

int dmabuf_dump_processes(StrBuf *sb, const DmabufState *s, pid_t only_pid) {
        for (size_t i = 0; i < dmabuf_state_n_processes(s); i++) {
                const DmabufProcess *p = &dmabuf_state_processes(s)[i];

                if (only_pid > 0 && p->pid != only_pid)
                        continue;
                put_printable(sb, p->comm ? p->comm : "?", 0);
                strbuf_printf(sb, ":%d\n", (int) p->pid);
                strbuf_puts(sb, "                  Name              Rss              Pss         nr_procs            Inode\n");
                for (size_t k = 0; k < p->n_buffers; k++) {
                        const DmabufBuffer *b = &dmabuf_state_buffers(s)[p->buffer_index[k]];
                        char nr[16];

                        strbuf_puts(sb, "  ");
                        /* Names are at most 31 bytes; pad to the column like dmabuf_dump. */
                        {
                                StrBuf tmp = STRBUF_INIT;
                                put_printable(&tmp, b->name, 0);
                                put_right(sb, tmp.buf ? tmp.buf : "", 20);
                                strbuf_done(&tmp);
                        }
                        put_kb(sb, b->size, 17);
                        put_kb(sb, b->size == DMABUF_UNKNOWN ? DMABUF_UNKNOWN : b->size / b->n_holders, 17);
                        snprintf(nr, sizeof(nr), "%" PRIu32, b->n_holders);
                        put_right(sb, nr, 17);
                        put_u64(sb, b->inode, 17);
                        strbuf_puts(sb, "\n");
                }
                strbuf_puts(sb, "         PROCESS TOTAL");
                put_kb(sb, p->rss_bytes, 17);
                put_kb(sb, p->pss_bytes, 17);
                strbuf_puts(sb, "\n");
                if (p->unidentified_fds > 0)
                        strbuf_printf(sb, "  (%u dma-buf fds without identity: kernel before 5.3)\n", p->unidentified_fds);
                put_drm_clients(sb, p);
                strbuf_puts(sb, "\n");
        }
        put_summary(sb, s);
        return strbuf_status(sb);
}

int dmabuf_dump_buffer_table(StrBuf *sb, const DmabufState *s, pid_t only_pid) {
        const DmabufProcess *procs = dmabuf_state_processes(s);
        size_t np = dmabuf_state_n_processes(s);

        strbuf_puts(sb, "    Dmabuf Inode |            Size |   Fd Ref Counts |  Map Ref Counts |");
        for (size_t i = 0; i < np; i++) {
                char col[64];
                if (only_pid > 0 && procs[i].pid != only_pid)
                        continue;
                snprintf(col, sizeof(col), "%.*s:%d", 10, procs[i].comm ? procs[i].comm : "?", (int) procs[i].pid);
                put_right(sb, col, 17);
                strbuf_puts(sb, " |");
        }
        strbuf_puts(sb, "\n");

        for (size_t b = 0; b < dmabuf_state_n_buffers(s); b++) {
                const DmabufBuffer *buf = &dmabuf_state_buffers(s)[b];
                const DmabufHolder *holders = dmabuf_state_buffer_holders(s, buf);
                uint64_t fds = 0, maps = 0;

                for (size_t h = 0; h < buf->n_holders; h++) {
                        fds += holders[h].fds;
                        maps += holders[h].maps;
                }
                put_u64(sb, buf->inode, 16);
                strbuf_puts(sb, " |");
                put_u64(sb, buf->size, 16);
                strbuf_puts(sb, " |");
                put_u64(sb, fds, 16);
                strbuf_puts(sb, " |");
                put_u64(sb, maps, 16);
                strbuf_puts(sb, " |");
                for (size_t i = 0; i < np; i++) {
                        char cell[32] = "";
                        if (only_pid > 0 && procs[i].pid != only_pid)
                                continue;
                        for (size_t h = 0; h < buf->n_holders; h++)
                                if (holders[h].pid == procs[i].pid)
                                        snprintf(cell, sizeof(cell), "%u(%u)", holders[h].fds, holders[h].maps);
                        put_right(sb, cell, 17);
                        strbuf_puts(sb, " |");
                }
                strbuf_puts(sb, "\n");
        }
        strbuf_puts(sb, "(cells: fds(maps) per process)\n");
        put_summary(sb, s);
        return strbuf_status(sb);
}

/* Which device holds which buffer, and (with the sysfs attachment statistics) how
 * often it has it mapped: dmabuf_dump has no such table, so it comes after its own. */
static void put_attachments(StrBuf *sb, const DmabufState *s) {
        bool any = false;

        for (size_t b = 0; b < dmabuf_state_n_buffers(s); b++) {
                const DmabufBuffer *buf = &dmabuf_state_buffers(s)[b];
                const DmabufAttachment *attachments = dmabuf_state_buffer_attachments(s, buf);

                for (size_t a = 0; a < buf->n_attachments; a++) {
                        if (!any)
                                strbuf_puts(sb, "\n    Dmabuf Inode |  Attached Device                 | Map Count\n");
                        any = true;
                        put_u64(sb, buf->inode, 16);
                        strbuf_puts(sb, " |  ");
                        put_printable(sb, attachments[a].device, 32);
                        strbuf_puts(sb, "|");
                        put_u64(sb, attachments[a].map_counter, 10);
                        strbuf_puts(sb, "\n");
                }
        }
}

int dmabuf_dump_buffer_totals(StrBuf *sb, const DmabufState *s) {
        const DmabufTotals *t = dmabuf_state_totals(s);

        strbuf_puts(sb, "    Dmabuf Inode |     Size(bytes) |  Exporter Name                  | Name\n");
        for (size_t b = 0; b < dmabuf_state_n_buffers(s); b++) {
                const DmabufBuffer *buf = &dmabuf_state_buffers(s)[b];
                const char *exporter = dmabuf_state_buffer_exporter(s, buf);

                put_u64(sb, buf->inode, 16);
                strbuf_puts(sb, " |");
                put_u64(sb, buf->size, 16);
                strbuf_puts(sb, " |  ");
                put_printable(sb, exporter ? exporter : "?", 31);
                strbuf_puts(sb, "| ");
                put_printable(sb, buf->name, 0);
                strbuf_puts(sb, "\n");
        }
        put_attachments(sb, s);
        strbuf_puts(sb, "\n      Exporter Name              | Total Count |     Total Size(bytes)   |\n");
        for (size_t i = 0; i < dmabuf_state_n_exporters(s); i++) {
                const DmabufExporter *e = &dmabuf_state_exporters(s)[i];

                strbuf_puts(sb, "   ");
                put_printable(sb, e->name, 29);
                strbuf_puts(sb, "|");
                put_u64(sb, e->buffers, 12);
                strbuf_puts(sb, " |");
                put_u64(sb, e->bytes, 24);
                strbuf_puts(sb, " |\n");
        }
        strbuf_puts(sb, "\ndmabuf total: ");
        put_u64(sb, t->buffers, 0);
        strbuf_puts(sb, " buffers, ");
        put_u64(sb, t->bytes, 0);
        strbuf_puts(sb, " bytes (userspace ");
        put_u64(sb, t->userspace_bytes, 0);
        strbuf_puts(sb, ", kernel-only ");
        put_u64(sb, t->kernel_only_bytes, 0);
        strbuf_puts(sb, ")\n");
        return strbuf_status(sb);
}

/* RFC 4180: every string quoted, a quote doubled; what is inside stays as the
 * kernel gave it, newlines included, except that invalid UTF-8 becomes U+FFFD
 * as in the JSON (a strict reader would refuse the whole file). NULL (unknown,
 * unnamed) is an empty field. */
static void csv_string(StrBuf *sb, const char *s) {
        _cleanup_strbuf_ StrBuf clean = STRBUF_INIT;

        if (!s)
                return;
        if (!utf8_is_valid(s, strlen(s))) {
                if (utf8_append_sanitized(&clean, s, strlen(s)) < 0) {
                        sb->failed = true; /* as an append that failed: it sticks */
                        return;
                }
                s = clean.buf;
        }
        strbuf_putc(sb, '"');
        for (; *s; s++) {
                if (*s == '"')
                        strbuf_putc(sb, '"');
                strbuf_putc(sb, *s);
        }
        strbuf_putc(sb, '"');
}

static void csv_u64(StrBuf *sb, uint64_t v) {
        if (v != DMABUF_UNKNOWN)
                strbuf_printf(sb, "%" PRIu64, v);
}

static void csv_sep(StrBuf *sb) {
        strbuf_putc(sb, ',');
}

static void csv_end(StrBuf *sb) {
        strbuf_puts(sb, "\r\n");
}

int dmabuf_dump_processes_csv(StrBuf *sb, const DmabufState *s, pid_t only_pid) {
        strbuf_puts(sb, "pid,comm,inode,name,exporter,size_bytes,pss_bytes,nr_procs,fds,maps");
        csv_end(sb);
        for (size_t i = 0; i < dmabuf_state_n_processes(s); i++) {
                const DmabufProcess *p = &dmabuf_state_processes(s)[i];

                if (only_pid > 0 && p->pid != only_pid)
                        continue;
                for (size_t k = 0; k < p->n_buffers; k++) {
                        const DmabufBuffer *b = &dmabuf_state_buffers(s)[p->buffer_index[k]];
                        const DmabufHolder *holders = dmabuf_state_buffer_holders(s, b), *h = NULL;

                        for (size_t j = 0; j < b->n_holders; j++)
                                if (holders[j].pid == p->pid)
                                        h = &holders[j];
                        strbuf_printf(sb, "%d,", (int) p->pid);
                        csv_string(sb, p->comm);
                        strbuf_printf(sb, ",%" PRIu64 ",", b->inode);
                        csv_string(sb, b->name);
                        csv_sep(sb);
                        csv_string(sb, dmabuf_state_buffer_exporter(s, b));
                        csv_sep(sb);
                        csv_u64(sb, b->size);
                        csv_sep(sb);
                        csv_u64(sb, b->size == DMABUF_UNKNOWN ? DMABUF_UNKNOWN : b->size / b->n_holders);
                        strbuf_printf(sb, ",%" PRIu32 ",%" PRIu32 ",%" PRIu32, b->n_holders, h ? h->fds : 0,
                                      h ? h->maps : 0);
                        csv_end(sb);
                }
        }
        return strbuf_status(sb);
}

int dmabuf_dump_buffer_table_csv(StrBuf *sb, const DmabufState *s, pid_t only_pid) {
        strbuf_puts(sb, "inode,size_bytes,exporter,name,count,fd_refs,map_refs,pid,comm,fds,maps");
        csv_end(sb);
        for (size_t i = 0; i < dmabuf_state_n_buffers(s); i++) {
                const DmabufBuffer *b = &dmabuf_state_buffers(s)[i];
                const DmabufHolder *holders = dmabuf_state_buffer_holders(s, b);
                uint64_t fds = 0, maps = 0;

                for (size_t h = 0; h < b->n_holders; h++) {
                        fds += holders[h].fds;
                        maps += holders[h].maps;
                }
                /* As the table: with a PID, only the rows of that process. */
                for (size_t h = 0; h < MAX(b->n_holders, (uint32_t) 1); h++) {
                        const DmabufHolder *holder = h < b->n_holders ? &holders[h] : NULL;
                        const DmabufProcess *p;

                        if (only_pid > 0 && (!holder || holder->pid != only_pid))
                                continue;
                        strbuf_printf(sb, "%" PRIu64 ",", b->inode);
                        csv_u64(sb, b->size);
                        csv_sep(sb);
                        csv_string(sb, dmabuf_state_buffer_exporter(s, b));
                        csv_sep(sb);
                        csv_string(sb, b->name);
                        csv_sep(sb);
                        csv_u64(sb, b->count);
                        strbuf_printf(sb, ",%" PRIu64 ",%" PRIu64 ",", fds, maps);
                        if (holder) {
                                p = dmabuf_state_find_process(s, holder->pid);
                                strbuf_printf(sb, "%d,", (int) holder->pid);
                                csv_string(sb, p ? p->comm : NULL);
                                strbuf_printf(sb, ",%" PRIu32 ",%" PRIu32, holder->fds, holder->maps);
                        } else
                                strbuf_puts(sb, ",,,");
                        csv_end(sb);
                }
        }
        return strbuf_status(sb);
}

int dmabuf_dump_exporters_csv(StrBuf *sb, const DmabufState *s) {
        strbuf_puts(sb, "exporter,buffers,bytes");
        csv_end(sb);
        for (size_t i = 0; i < dmabuf_state_n_exporters(s); i++) {
                const DmabufExporter *e = &dmabuf_state_exporters(s)[i];

                csv_string(sb, e->name);
                csv_sep(sb);
                csv_u64(sb, e->buffers);
                csv_sep(sb);
                csv_u64(sb, e->bytes);
                csv_end(sb);
        }
        return strbuf_status(sb);
}

int dmabuf_dump_cgroups(StrBuf *sb, const DmabufState *s) {
        strbuf_puts(sb, "             Rss              Pss    Procs  Unit                            Cgroup\n");
        for (size_t i = 0; i < dmabuf_state_n_cgroups(s); i++) {
                const DmabufCgroup *g = &dmabuf_state_cgroups(s)[i];
                char procs[16];

                put_kb(sb, g->rss_bytes, 16);
                put_kb(sb, g->pss_bytes, 17);
                snprintf(procs, sizeof(procs), "%" PRIu32, g->processes);
                put_right(sb, procs, 9);
                strbuf_puts(sb, "  ");
                put_printable(sb, g->unit ? g->unit : "-", 31);
                strbuf_puts(sb, " ");
                put_printable(sb, g->path ? g->path : "(unknown)", 0);
                strbuf_puts(sb, "\n");
        }
        put_summary(sb, s);
        return strbuf_status(sb);
}

static void put_mib(StrBuf *sb, uint64_t bytes) {
        if (bytes == DMABUF_UNKNOWN)
                strbuf_puts(sb, "? MiB");
        else
                strbuf_printf(sb, "%.1f MiB", (double) bytes / (1024.0 * 1024.0));
}

int dmabuf_dump_status_line(StrBuf *sb, const DmabufState *s, uint64_t snapshots) {
        const DmabufTotals *t = dmabuf_state_totals(s);

        if (t->buffers == DMABUF_UNKNOWN) {
                /* Without a source that lists every buffer, what is known is what
                 * processes hold: say so rather than pass it off as the total. */
                size_t held = 0;

                for (size_t i = 0; i < dmabuf_state_n_buffers(s); i++)
                        held += dmabuf_state_buffers(s)[i].n_holders > 0;
                strbuf_printf(sb, "total unknown (no source lists every buffer); %zu buffers, ", held);
                put_mib(sb, t->userspace_bytes);
                strbuf_puts(sb, " held by processes");
        } else {
                /* Every buffer listed, a size unknown: "? MiB" rather than a sum
                 * of the known ones passed off as the total. */
                strbuf_printf(sb, "%" PRIu64 " buffers, ", t->buffers);
                put_mib(sb, t->bytes);
                strbuf_puts(sb, " (");
                put_mib(sb, t->kernel_only_bytes);
                strbuf_puts(sb, " kernel-only)");
        }
        strbuf_printf(sb, " in %zu processes; %" PRIu64 " snapshots", dmabuf_state_n_processes(s), snapshots);
        return strbuf_status(sb);
}
