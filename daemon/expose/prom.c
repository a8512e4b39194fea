/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "prom.h"
#include "utf8.h"

#ifndef DMABUFD_VERSION
#define DMABUFD_VERSION "unknown"
#endif

const char *dmabuf_prom_content_type(DmabufPromFormat f) {
        return f == DMABUF_PROM_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                            : "text/plain; version=0.0.4; charset=utf-8";
}

static void trim(const char **s, size_t *len) {
        while (*len > 0 && (**s == ' ' || **s == '\t')) {
                (*s)++;
                (*len)--;
        }
        while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
                (*len)--;
}

static bool token_eq(const char *s, size_t len, const char *t) {
        return strlen(t) == len && strncasecmp(s, t, len) == 0;
}

/* q-value in thousandths, per RFC 9110: "q=0.5" -> 500; malformed -> -1. */
static int parse_q(const char *v, size_t len) {
        int q = 0, digits = 0;
        size_t i = 0;

        if (len == 0 || (v[0] != '0' && v[0] != '1'))
                return -1;
        q = (v[0] - '0') * 1000;
        i = 1;
        if (i < len && v[i] == '.') {
                for (i++; i < len && digits < 3; i++, digits++) {
                        if (v[i] < '0' || v[i] > '9')
                                return -1;
                        q += (v[i] - '0') * (digits == 0 ? 100 : digits == 1 ? 10 : 1);
                }
        }
        if (i != len || q > 1000)
                return -1;
        return q;
}

DmabufPromFormat dmabuf_prom_negotiate(const char *accept) {
        int om_q = -1, text_q = -1;
        const char *p = accept;

        if (!accept)
                return DMABUF_PROM_TEXT;
        while (*p) {
                const char *end = strchr(p, ','), *semi, *type;
                size_t len = end ? (size_t) (end - p) : strlen(p), type_len;
                bool is_om, is_text, version_ok = true;
                int q = 1000;

                semi = memchr(p, ';', len);
                type = p;
                type_len = semi ? (size_t) (semi - p) : len;
                trim(&type, &type_len);
                is_om = token_eq(type, type_len, "application/openmetrics-text");
                is_text = token_eq(type, type_len, "text/plain") || token_eq(type, type_len, "text/*") ||
                          token_eq(type, type_len, "*/*");

                while (semi) {
                        const char *param = semi + 1, *eq, *next;
                        size_t plen, klen, vlen;
                        const char *k, *v;

                        next = memchr(param, ';', (size_t) (p + len - param));
                        plen = next ? (size_t) (next - param) : (size_t) (p + len - param);
                        eq = memchr(param, '=', plen);
                        if (eq) {
                                k = param;
                                klen = (size_t) (eq - param);
                                v = eq + 1;
                                vlen = plen - klen - 1;
                                trim(&k, &klen);
                                trim(&v, &vlen);
                                if (token_eq(k, klen, "q"))
                                        q = parse_q(v, vlen);
                                else if (token_eq(k, klen, "version") && is_om)
                                        version_ok = token_eq(v, vlen, "1.0.0");
                        }
                        semi = next;
                }
                if (q >= 0) {
                        if (is_om && version_ok)
                                om_q = MAX(om_q, q);
                        if (is_text)
                                text_q = MAX(text_q, q);
                }
                if (!end)
                        break;
                p = end + 1;
        }
        return om_q > 0 && om_q >= text_q ? DMABUF_PROM_OPENMETRICS : DMABUF_PROM_TEXT;
}

int dmabuf_prom_append_label_value(StrBuf *sb, const char *v, size_t len) {
        const unsigned char *p = (const unsigned char *) v;

        while (len > 0) {
                size_t n = utf8_sequence_length(p, len);

                if (n == 0) {
                        strbuf_append(sb, "\xef\xbf\xbd", 3);
                        n = 1;
                } else if (*p == '\\')
                        strbuf_append(sb, "\\\\", 2);
                else if (*p == '"')
                        strbuf_append(sb, "\\\"", 2);
                else if (*p == '\n')
                        strbuf_append(sb, "\\n", 2);
                else
                        strbuf_append(sb, (const char *) p, n);
                p += n;
                len -= n;
        }
        return strbuf_status(sb);
}

typedef struct Writer {
        StrBuf *sb;
        DmabufPromFormat format;
} Writer;

/* HELP and TYPE once per family. OpenMetrics names a counter family without the
 * _total its samples carry; text format names it with. */
static void family(Writer *w, const char *name, const char *type, const char *help) {
        size_t n = strlen(name);

        if (w->format == DMABUF_PROM_OPENMETRICS && streq(type, "counter") && n > 6 &&
            streq(name + n - 6, "_total"))
                n -= 6;
        strbuf_printf(w->sb, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int) n, name, help, (int) n, name, type);
}

static void label(Writer *w, bool first, const char *key, const char *v, size_t len) {
        strbuf_printf(w->sb, "%s%s=\"", first ? "{" : ",", key);
        dmabuf_prom_append_label_value(w->sb, v, len);
        strbuf_putc(w->sb, '"');
}

static void label_str(Writer *w, bool first, const char *key, const char *v) {
        label(w, first, key, v ? v : "", v ? strlen(v) : 0);
}

static void sample_u64(Writer *w, const char *name, uint64_t v) {
        strbuf_printf(w->sb, "%s %" PRIu64 "\n", name, v);
}

static void gauge_u64(Writer *w, const char *name, const char *help, uint64_t v) {
        if (v == DMABUF_UNKNOWN)
                return; /* unknown is an absent series, never 0 */
        family(w, name, "gauge", help);
        sample_u64(w, name, v);
}

typedef struct NameBytes {
        const char *name;
        uint64_t bytes;
} NameBytes;

static int cmp_name(const void *a, const void *b) {
        return strcmp(((const NameBytes *) a)->name, ((const NameBytes *) b)->name);
}

static int cmp_bytes_desc(const void *a, const void *b) {
        const NameBytes *x = a, *y = b;
        if (x->bytes != y->bytes)
                return x->bytes > y->bytes ? -1 : 1;
        return strcmp(x->name, y->name);
}

static int write_names(Writer *w, const DmabufState *s, unsigned top) {
        size_t nb = dmabuf_state_n_buffers(s), n = 0, k = 0;
        const DmabufBuffer *bufs = dmabuf_state_buffers(s);
        _cleanup_free_ NameBytes *v = NULL;

        if (top == 0)
                return 0;
        v = malloc(MAX(nb, (size_t) 1) * sizeof(NameBytes));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < nb; i++)
                if (bufs[i].name && bufs[i].size != DMABUF_UNKNOWN)
                        v[n++] = (NameBytes){ bufs[i].name, bufs[i].size };
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(NameBytes), cmp_name);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && streq(v[k - 1].name, v[i].name))
                        v[k - 1].bytes += v[i].bytes;
                else
                        v[k++] = v[i];
        }
        qsort(v, k, sizeof(NameBytes), cmp_bytes_desc);
        family(w, "dmabuf_name_bytes", "gauge",
               "Bytes of buffers by the name userspace gave them (DMA_BUF_SET_NAME), top names by bytes.");
        for (size_t i = 0; i < MIN(k, (size_t) top); i++) {
                strbuf_puts(w->sb, "dmabuf_name_bytes");
                label_str(w, true, "name", v[i].name);
                strbuf_printf(w->sb, "} %" PRIu64 "\n", v[i].bytes);
        }
        return 0;
}

typedef struct ProcRank {
        const DmabufProcess *p;
} ProcRank;

static int cmp_rss_desc(const void *a, const void *b) {
        const DmabufProcess *x = ((const ProcRank *) a)->p, *y = ((const ProcRank *) b)->p;
        /* Unknown rss sorts last: it cannot be ranked and is not shown. */
        if (x->rss_bytes != y->rss_bytes) {
                if (x->rss_bytes == DMABUF_UNKNOWN)
                        return 1;
                if (y->rss_bytes == DMABUF_UNKNOWN)
                        return -1;
                return x->rss_bytes > y->rss_bytes ? -1 : 1;
        }
        return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int write_processes(Writer *w, const DmabufState *s, unsigned top) {
        size_t np = dmabuf_state_n_processes(s), n;
        const DmabufProcess *procs = dmabuf_state_processes(s);
        _cleanup_free_ ProcRank *rank = NULL;
        static const struct {
                const char *name, *help;
                bool pss;
        } metrics[] = {
                { "dmabuf_process_rss_bytes",
                  "Bytes of distinct buffers a process holds by fd or mapping, top processes by rss.", false },
                { "dmabuf_process_pss_bytes",
                  "Proportional share of the buffers a process holds: size divided by holders.", true },
        };

        if (top == 0 || np == 0)
                return 0;
        rank = malloc(np * sizeof(ProcRank));
        if (!rank)
                return -ENOMEM;
        for (size_t i = 0; i < np; i++)
                rank[i].p = &procs[i];
        qsort(rank, np, sizeof(ProcRank), cmp_rss_desc);
        for (n = 0; n < MIN(np, (size_t) top) && rank[n].p->rss_bytes != DMABUF_UNKNOWN; n++)
                ;
        if (n == 0)
                return 0;
        for (size_t m = 0; m < ELEMENTSOF(metrics); m++) {
                family(w, metrics[m].name, "gauge", metrics[m].help);
                for (size_t i = 0; i < n; i++) {
                        char pid[16];
                        snprintf(pid, sizeof(pid), "%d", (int) rank[i].p->pid);
                        strbuf_puts(w->sb, metrics[m].name);
                        label_str(w, true, "pid", pid);
                        label_str(w, false, "comm", rank[i].p->comm);
                        strbuf_printf(w->sb, "} %" PRIu64 "\n",
                                      metrics[m].pss ? rank[i].p->pss_bytes : rank[i].p->rss_bytes);
                }
        }
        return 0;
}

/* Top cgroups by pss: the state lists them largest first, unknown last. */
static void write_cgroups(Writer *w, const DmabufState *s, unsigned top) {
        size_t n = MIN(dmabuf_state_n_cgroups(s), (size_t) top);
        const DmabufCgroup *cg = dmabuf_state_cgroups(s);
        static const struct {
                const char *name, *help;
                bool pss;
        } metrics[] = {
                { "dmabuf_cgroup_rss_bytes",
                  "Bytes of distinct buffers the processes of a cgroup hold, each buffer once, top cgroups by pss.",
                  false },
                { "dmabuf_cgroup_pss_bytes",
                  "Sum of the pss of a cgroup's processes: the cgroups add up to the userspace pss.", true },
        };

        for (size_t m = 0; m < ELEMENTSOF(metrics); m++) {
                bool any = false;

                for (size_t i = 0; i < n; i++) {
                        uint64_t v = metrics[m].pss ? cg[i].pss_bytes : cg[i].rss_bytes;

                        if (v == DMABUF_UNKNOWN)
                                continue;
                        if (!any)
                                family(w, metrics[m].name, "gauge", metrics[m].help);
                        any = true;
                        strbuf_puts(w->sb, metrics[m].name);
                        /* "" for the processes whose cgroup is unknown, as for a missing unit. */
                        label_str(w, true, "cgroup", cg[i].path);
                        label_str(w, false, "unit", cg[i].unit);
                        strbuf_printf(w->sb, "} %" PRIu64 "\n", v);
                }
        }
}

/* What a process's DRM clients hold, summed per driver, region and kind: two
 * clients of one driver (two opens of a render node, or two GPUs) would
 * otherwise give two samples with one label set. */
typedef struct DrmSample {
        const char *driver, *region;
        DmabufDrmKind kind;
        uint64_t bytes;
} DrmSample;

static int cmp_drm_sample(const void *a, const void *b) {
        const DrmSample *x = a, *y = b;
        int c = strcmp(x->driver, y->driver);

        if (c == 0)
                c = strcmp(x->region, y->region);
        return c != 0 ? c : (int) x->kind - (int) y->kind;
}

/* The figure processes are ranked by: each region's total, or its resident
 * memory where the driver prints no total. */
static uint64_t drm_rank_bytes(const DmabufProcess *p) {
        uint64_t sum = 0;

        for (size_t c = 0; c < p->n_drm_clients; c++)
                for (size_t r = 0; r < p->drm_clients[c].n_regions; r++) {
                        const uint64_t *b = p->drm_clients[c].regions[r].bytes;
                        uint64_t v = b[DMABUF_DRM_TOTAL];

                        if (v == DMABUF_UNKNOWN)
                                v = b[DMABUF_DRM_RESIDENT];

                        if (v != DMABUF_UNKNOWN)
                                sum = v > UINT64_MAX - 1 - sum ? UINT64_MAX - 1 : sum + v;
                }
        return sum;
}

typedef struct DrmRank {
        const DmabufProcess *p;
        uint64_t bytes;
} DrmRank;

static int cmp_drm_rank(const void *a, const void *b) {
        const DrmRank *x = a, *y = b;

        if (x->bytes != y->bytes)
                return x->bytes > y->bytes ? -1 : 1;
        return x->p->pid < y->p->pid ? -1 : x->p->pid > y->p->pid;
}

static int write_drm(Writer *w, const DmabufState *s, unsigned top) {
        size_t np = dmabuf_state_n_processes(s), n = 0;
        const DmabufProcess *procs = dmabuf_state_processes(s);
        _cleanup_free_ DrmRank *rank = NULL;
        bool any = false;

        if (top == 0)
                return 0;
        for (size_t i = 0; i < np; i++)
                n += procs[i].n_drm_clients > 0;
        if (n == 0)
                return 0;
        rank = malloc(n * sizeof(DrmRank));
        if (!rank)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < np; i++)
                if (procs[i].n_drm_clients > 0)
                        rank[n++] = (DrmRank){ &procs[i], drm_rank_bytes(&procs[i]) };
        qsort(rank, n, sizeof(DrmRank), cmp_drm_rank);

        for (size_t i = 0; i < MIN(n, (size_t) top); i++) {
                const DmabufProcess *p = rank[i].p;
                _cleanup_free_ DrmSample *v = NULL;
                size_t nv = 0, k = 0;
                char pid[16];

                for (size_t c = 0; c < p->n_drm_clients; c++)
                        nv += p->drm_clients[c].n_regions * _DMABUF_DRM_KIND_MAX;
                v = malloc(MAX(nv, (size_t) 1) * sizeof(DrmSample));
                if (!v)
                        return -ENOMEM;
                nv = 0;
                for (size_t c = 0; c < p->n_drm_clients; c++)
                        for (size_t r = 0; r < p->drm_clients[c].n_regions; r++)
                                for (DmabufDrmKind kind = 0; kind < _DMABUF_DRM_KIND_MAX; kind++) {
                                        uint64_t b = p->drm_clients[c].regions[r].bytes[kind];

                                        if (b != DMABUF_UNKNOWN)
                                                v[nv++] = (DrmSample){ p->drm_clients[c].driver,
                                                                       p->drm_clients[c].regions[r].name, kind, b };
                                }
                if (nv == 0)
                        continue;
                qsort(v, nv, sizeof(DrmSample), cmp_drm_sample);
                for (size_t j = 0; j < nv; j++) {
                        if (k > 0 && cmp_drm_sample(&v[k - 1], &v[j]) == 0)
                                v[k - 1].bytes = v[j].bytes > UINT64_MAX - 1 - v[k - 1].bytes
                                                         ? UINT64_MAX - 1
                                                         : v[k - 1].bytes + v[j].bytes;
                        else
                                v[k++] = v[j];
                }
                if (!any)
                        family(w, "dmabuf_drm_client_bytes", "gauge",
                               "Memory DRM clients hold by their fdinfo (drm-usage-stats), per process, driver, region "
                               "and kind; a GEM object exported as a dma-buf also counts in the dma-buf figures.");
                any = true;
                snprintf(pid, sizeof(pid), "%d", (int) p->pid);
                for (size_t j = 0; j < k; j++) {
                        strbuf_puts(w->sb, "dmabuf_drm_client_bytes");
                        label_str(w, true, "pid", pid);
                        label_str(w, false, "comm", p->comm);
                        label_str(w, false, "driver", v[j].driver);
                        label_str(w, false, "region", v[j].region);
                        label_str(w, false, "kind", dmabuf_drm_kind_to_string(v[j].kind));
                        strbuf_printf(w->sb, "} %" PRIu64 "\n", v[j].bytes);
                }
        }
        return 0;
}

typedef struct AttachGroup {
        const char *exporter, *device;
        uint64_t map_counter; /* DMABUF_UNKNOWN without sysfs attachment statistics */
} AttachGroup;

static int cmp_attach_group(const void *a, const void *b) {
        const AttachGroup *x = a, *y = b;
        int c = strcmp(x->exporter, y->exporter);
        return c ? c : strcmp(x->device, y->device);
}

static int write_attachments(Writer *w, const DmabufState *s) {
        size_t nb = dmabuf_state_n_buffers(s), total = 0, n = 0;
        const DmabufBuffer *bufs = dmabuf_state_buffers(s);
        _cleanup_free_ AttachGroup *g = NULL;
        bool mappings_family = false;

        for (size_t i = 0; i < nb; i++)
                total += bufs[i].n_attachments;
        if (total == 0)
                return 0;
        g = malloc(total * sizeof(AttachGroup));
        if (!g)
                return -ENOMEM;
        for (size_t i = 0; i < nb; i++) {
                const DmabufAttachment *attachments = dmabuf_state_buffer_attachments(s, &bufs[i]);
                const char *exporter = dmabuf_state_buffer_exporter(s, &bufs[i]);

                for (size_t j = 0; j < bufs[i].n_attachments; j++)
                        g[n++] = (AttachGroup){ exporter ? exporter : "", attachments[j].device,
                                                attachments[j].map_counter };
        }
        qsort(g, n, sizeof(AttachGroup), cmp_attach_group);
        family(w, "dmabuf_attachments", "gauge", "Device attachments of buffers, by exporter and importing device.");
        for (size_t i = 0; i < n;) {
                size_t j = i;
                while (j < n && cmp_attach_group(&g[i], &g[j]) == 0)
                        j++;
                strbuf_puts(w->sb, "dmabuf_attachments");
                label_str(w, true, "exporter", g[i].exporter);
                label_str(w, false, "device", g[i].device);
                strbuf_printf(w->sb, "} %zu\n", j - i);
                i = j;
        }

        /* Only the sysfs attachment statistics (kernel-patches/) count mappings; a group
         * none of whose attachments has a counter gets no sample rather than a 0. */
        for (size_t i = 0; i < n;) {
                uint64_t maps = 0;
                bool known = false;
                size_t j = i;

                for (; j < n && cmp_attach_group(&g[i], &g[j]) == 0; j++)
                        if (g[j].map_counter != DMABUF_UNKNOWN) {
                                maps += g[j].map_counter;
                                known = true;
                        }
                if (known) {
                        if (!mappings_family)
                                family(w, "dmabuf_attachment_mappings", "gauge",
                                       "Current device mappings of attachments (sysfs map_counter), by exporter and importing device.");
                        mappings_family = true;
                        strbuf_puts(w->sb, "dmabuf_attachment_mappings");
                        label_str(w, true, "exporter", g[i].exporter);
                        label_str(w, false, "device", g[i].device);
                        strbuf_printf(w->sb, "} %" PRIu64 "\n", maps);
                }
                i = j;
        }
        return 0;
}

/* One per-exporter family. A figure is unknown when no source listed every buffer
 * (a sum over held buffers only would pass for the total): its sample is left
 * out, and a family with no known sample is left out whole, as gauge_u64 does. */
static void write_exporter_family(Writer *w, const DmabufExporter *exp, size_t n_exp, bool bytes,
                                  const char *name, const char *help) {
        bool any = false;

        for (size_t i = 0; i < n_exp; i++) {
                uint64_t v = bytes ? exp[i].bytes : exp[i].buffers;

                if (v == DMABUF_UNKNOWN)
                        continue;
                if (!any)
                        family(w, name, "gauge", help);
                any = true;
                strbuf_puts(w->sb, name);
                label_str(w, true, "exporter", exp[i].name);
                strbuf_printf(w->sb, "} %" PRIu64 "\n", v);
        }
}

int dmabuf_prom_write_collection(StrBuf *sb, const DmabufState *s, const DmabufPromOptions *opts,
                                 DmabufPromFormat f) {
        const DmabufCounters *counters = dmabuf_state_counters(s);
        Writer w = { .sb = sb, .format = f };
        const DmabufTotals *t = dmabuf_state_totals(s);
        const DmabufExporter *exp = dmabuf_state_exporters(s);
        size_t n_exp = dmabuf_state_n_exporters(s);
        int r;

        gauge_u64(&w, "dmabuf_buffers", "Number of DMA-BUF buffers in the system.", t->buffers);
        gauge_u64(&w, "dmabuf_bytes", "Bytes of all DMA-BUF buffers in the system.", t->bytes);
        gauge_u64(&w, "dmabuf_userspace_bytes", "Bytes of distinct buffers referenced by any process.",
                  t->userspace_bytes);
        gauge_u64(&w, "dmabuf_kernel_only_bytes",
                  "Bytes of buffers no process references: held by drivers only. Growth is the classic leak.",
                  t->kernel_only_bytes);

        write_exporter_family(&w, exp, n_exp, false, "dmabuf_exporter_buffers",
                              "Number of buffers by exporting driver.");
        write_exporter_family(&w, exp, n_exp, true, "dmabuf_exporter_bytes",
                              "Bytes of buffers by exporting driver.");

        r = write_processes(&w, s, opts->top_processes);
        if (r < 0)
                return r;
        write_cgroups(&w, s, opts->top_cgroups);
        r = write_drm(&w, s, opts->top_processes);
        if (r < 0)
                return r;
        r = write_names(&w, s, opts->top_names);
        if (r < 0)
                return r;
        r = write_attachments(&w, s);
        if (r < 0)
                return r;

        family(&w, "dmabufd_collection_duration_seconds", "gauge", "Wall time of the last collection.");
        strbuf_printf(sb, "dmabufd_collection_duration_seconds %.6f\n", dmabuf_state_duration_sec(s));
        family(&w, "dmabufd_collection_timestamp_seconds", "gauge", "When the last collection started, Unix time.");
        strbuf_printf(sb, "dmabufd_collection_timestamp_seconds %" PRIu64 ".%03" PRIu64 "\n",
                      dmabuf_state_collected_at_usec(s) / 1000000, dmabuf_state_collected_at_usec(s) / 1000 % 1000);

        {
                family(&w, "dmabufd_collections_total", "counter", "Collections completed.");
                sample_u64(&w, "dmabufd_collections_total", counters->collections);
                family(&w, "dmabufd_scan_skipped_total", "counter",
                       "Items skipped during collections: processes or fds that vanished mid-scan, buffers freed "
                       "while read, files without permission, map-only buffers left unsized for lack of "
                       "map_files access.");
                for (DmabufScanCounter c = 0; c < _DMABUF_SCAN_COUNTER_MAX; c++) {
                        strbuf_puts(sb, "dmabufd_scan_skipped_total");
                        label_str(&w, true, "reason", dmabuf_scan_counter_to_string(c));
                        strbuf_printf(sb, "} %" PRIu64 "\n", counters->scan[c]);
                }
                family(&w, "dmabufd_parse_errors_total", "counter", "Malformed kernel files or lines, by source.");
                for (DmabufSource src = 0; src < _DMABUF_SOURCE_MAX; src++) {
                        strbuf_puts(sb, "dmabufd_parse_errors_total");
                        label_str(&w, true, "source", dmabuf_source_to_string(src));
                        strbuf_printf(sb, "} %" PRIu64 "\n", counters->parse_errors[src]);
                }
        }

        family(&w, "dmabufd_build_info", "gauge", "dmabufd version; the value is always 1.");
        strbuf_puts(sb, "dmabufd_build_info");
        label_str(&w, true, "version", DMABUFD_VERSION);
        strbuf_puts(sb, "} 1\n");
        return strbuf_status(sb);
}

int dmabuf_prom_write_cgroups(StrBuf *sb, const DmabufState *s, unsigned top, DmabufPromFormat f) {
        Writer w = { .sb = sb, .format = f };

        write_cgroups(&w, s, top);
        if (f == DMABUF_PROM_OPENMETRICS)
                strbuf_puts(sb, "# EOF\n");
        return strbuf_status(sb);
}

int dmabuf_prom_write_daemon(StrBuf *sb, const DmabufState *s, const DmabufPromLive *live, DmabufPromFormat f) {
        Writer w = { .sb = sb, .format = f };

        family(&w, "dmabufd_source_up", "gauge",
               "Whether a data source works: kernel data sources as of the last collection, event sources now.");
        for (DmabufSource src = 0; src < _DMABUF_SOURCE_MAX; src++) {
                strbuf_puts(sb, "dmabufd_source_up");
                label_str(&w, true, "source", dmabuf_source_to_string(src));
                strbuf_printf(sb, "} %d\n", dmabuf_state_source_up(s, src) ? 1 : 0);
        }
        for (DmabufdEventSource src = 0; live && src < _DMABUFD_EVENT_SOURCE_MAX; src++) {
                strbuf_puts(sb, "dmabufd_source_up");
                label_str(&w, true, "source", dmabufd_event_source_to_string(src));
                strbuf_printf(sb, "} %d\n", live->source_up[src] ? 1 : 0);
        }

        if (live) {
                family(&w, "dmabufd_events_total", "counter",
                       "Events that ask for a snapshot, by kind, including those a cooldown suppressed.");
                for (DmabufdEventKind k = 0; k < _DMABUFD_EVENT_KIND_MAX; k++) {
                        strbuf_puts(sb, "dmabufd_events_total");
                        label_str(&w, true, "kind", dmabufd_event_kind_to_string(k));
                        strbuf_printf(sb, "} %" PRIu64 "\n", live->events[k]);
                }
                family(&w, "dmabufd_snapshots_total", "counter", "Snapshots written to the state directory.");
                sample_u64(&w, "dmabufd_snapshots_total", live->snapshots);
                family(&w, "dmabufd_snapshot_failures_total", "counter",
                       "Snapshots that could not be written (disk full, I/O error, no state directory).");
                sample_u64(&w, "dmabufd_snapshot_failures_total", live->snapshot_failures);
                family(&w, "dmabufd_snapshot_exec_failures_total", "counter",
                       "snapshot_exec runs that failed, timed out or could not start, and snapshots not run for.");
                sample_u64(&w, "dmabufd_snapshot_exec_failures_total", live->snapshot_exec_failures);
                family(&w, "dmabufd_snapshot_pushes_total", "counter", "Snapshots pushed to snapshot_push.");
                sample_u64(&w, "dmabufd_snapshot_pushes_total", live->snapshot_pushes);
                family(&w, "dmabufd_snapshot_push_failures_total", "counter",
                       "Pushes that failed or timed out (each is retried).");
                sample_u64(&w, "dmabufd_snapshot_push_failures_total", live->snapshot_push_failures);
                family(&w, "dmabufd_snapshot_push_dropped_total", "counter",
                       "Snapshots dropped unpushed from the push queue: the oldest, beyond its bounds.");
                sample_u64(&w, "dmabufd_snapshot_push_dropped_total", live->snapshot_push_dropped);
                family(&w, "dmabufd_snapshot_push_queue", "gauge", "Snapshots waiting to be pushed.");
                sample_u64(&w, "dmabufd_snapshot_push_queue", live->snapshot_push_queue);
        }

        if (f == DMABUF_PROM_OPENMETRICS)
                strbuf_puts(sb, "# EOF\n");
        return strbuf_status(sb);
}

int dmabuf_prom_write(StrBuf *sb, const DmabufState *s, const DmabufPromOptions *opts, DmabufPromFormat f) {
        int r = dmabuf_prom_write_collection(sb, s, opts, f);

        return r < 0 ? r : dmabuf_prom_write_daemon(sb, s, NULL, f);
}
