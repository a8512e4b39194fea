/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "procfs.h"
#include "reader.h"
#include "string-util.h"
#include "time-util.h"

/* Where in the document a fault is, as "state.buffers[3]", and the message. */
typedef struct ReadContext {
        char *err;
        size_t err_len;
        char path[128];
} ReadContext;

_printf_(3, 4) static int fail(ReadContext *c, const char *key, const char *fmt, ...) {
        char what[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        set_err(c->err, c->err_len, "%s%s%s: %s", c->path, key && c->path[0] ? "." : "", key ?: "", what);
        return -EBADMSG;
}

static size_t path_push(ReadContext *c, const char *fmt, ...) _printf_(2, 3);
static size_t path_push(ReadContext *c, const char *fmt, ...) {
        size_t mark = strlen(c->path);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->path + mark, sizeof(c->path) - mark, fmt, ap);
        va_end(ap);
        return mark;
}

static void path_pop(ReadContext *c, size_t mark) {
        c->path[mark] = '\0';
}

static const char *type_name(json_object *o) {
        return o ? json_type_to_name(json_object_get_type(o)) : "null";
}

/* The member key of o, of the given type; *ret is NULL for null when nullable.
 * A member that is missing is an error even when it may be null: a writer of
 * this schema always writes it. */
static int get_member(ReadContext *c, json_object *o, const char *key, json_type type, bool nullable,
                      json_object **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(c, NULL, "no \"%s\" member", key);
        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!v || json_object_get_type(v) != type)
                return fail(c, key, "expected %s%s, got %s", json_type_to_name(type), nullable ? " or null" : "",
                            type_name(v));
        *ret = v;
        return 0;
}

/* A whole number in [0, max]; null is DMABUF_UNKNOWN when nullable. UINT64_MAX
 * itself is never a figure: it would read back as unknown. */
static int value_u64(ReadContext *c, const char *key, json_object *v, bool nullable, uint64_t max, uint64_t *ret) {
        uint64_t u;

        if (!v && nullable) {
                *ret = DMABUF_UNKNOWN;
                return 0;
        }
        if (!v || json_object_get_type(v) != json_type_int)
                return fail(c, key, "expected a whole number%s, got %s", nullable ? " or null" : "", type_name(v));
        if (json_object_get_int64(v) < 0)
                return fail(c, key, "negative value %" PRId64, json_object_get_int64(v));
        errno = 0;
        u = json_object_get_uint64(v);
        if (errno != 0 || u > max || u == DMABUF_UNKNOWN)
                return fail(c, key, "value %s out of range (at most %" PRIu64 ")", json_object_to_json_string(v),
                            MIN(max, DMABUF_UNKNOWN - 1));
        *ret = u;
        return 0;
}

static int get_u64(ReadContext *c, json_object *o, const char *key, bool nullable, uint64_t max, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(c, NULL, "no \"%s\" member", key);
        return value_u64(c, key, v, nullable, max, ret);
}

static int value_string(ReadContext *c, const char *key, json_object *v, bool nullable, const char **ret) {
        if (!v && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!v || json_object_get_type(v) != json_type_string)
                return fail(c, key, "expected a string%s, got %s", nullable ? " or null" : "", type_name(v));
        /* The model's strings end at the first NUL: one inside would cut a name short. */
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return fail(c, key, "string contains a NUL byte");
        *ret = json_object_get_string(v);
        return 0;
}

static int get_string(ReadContext *c, json_object *o, const char *key, bool nullable, const char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(c, NULL, "no \"%s\" member", key);
        return value_string(c, key, v, nullable, ret);
}

/* One (pid, inode) reference of the file's holders, gathered from the buffers
 * and handed to the builder per process, which it wants them in. */
typedef struct HolderRef {
        pid_t pid;
        uint64_t inode;
        uint32_t fds, maps;
} HolderRef;

static int cmp_holder_ref(const void *a, const void *b) {
        const HolderRef *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static int read_attachments(ReadContext *c, DmabufBuilder *b, json_object *buf, uint64_t inode) {
        json_object *devices, *stats;
        size_t n;
        int r;

        r = get_member(c, buf, "attachments", json_type_array, true, &devices);
        if (r < 0)
                return r;
        if (!devices)
                return 0; /* no source reported attachments: unknown, not none */
        if (dmabuf_builder_attachments_known(b, DMABUF_SOURCE_SYSFS, inode) < 0)
                return -ENOMEM;
        n = json_object_array_length(devices);
        /* The map counters sit beside the contract's list of device names. */
        if (!json_object_object_get_ex(buf, "attachment_stats", &stats) || !stats)
                stats = NULL;
        else if (json_object_get_type(stats) != json_type_array || json_object_array_length(stats) != n)
                return fail(c, "attachment_stats", "expected an array as long as \"attachments\"");
        for (size_t i = 0; i < n; i++) {
                uint64_t map_counter = DMABUF_UNKNOWN;
                const char *device;
                size_t mark = path_push(c, ".attachments[%zu]", i);

                r = value_string(c, NULL, json_object_array_get_idx(devices, i), false, &device);
                path_pop(c, mark);
                if (r < 0)
                        return r;
                if (stats) {
                        json_object *st = json_object_array_get_idx(stats, i);
                        const char *stat_device;

                        mark = path_push(c, ".attachment_stats[%zu]", i);
                        if (json_object_get_type(st) != json_type_object)
                                r = fail(c, NULL, "expected an object, got %s", type_name(st));
                        if (r >= 0)
                                r = get_string(c, st, "device", false, &stat_device);
                        if (r >= 0 && !streq(stat_device, device))
                                r = fail(c, "device", "\"%.64s\" is not attachments[%zu]", stat_device, i);
                        if (r >= 0)
                                r = get_u64(c, st, "map_counter", true, UINT64_MAX, &map_counter);
                        path_pop(c, mark);
                        if (r < 0)
                                return r;
                }
                if (dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, inode, device, map_counter) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int read_holders(ReadContext *c, json_object *buf, uint64_t inode, HolderRef **refs, size_t *n_refs,
                        size_t *cap_refs) {
        json_object *holders;
        pid_t last_pid = 0;
        int r;

        r = get_member(c, buf, "holders", json_type_array, false, &holders);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(holders); i++) {
                json_object *h = json_object_array_get_idx(holders, i);
                uint64_t pid = 0, fds = 0, maps = 0;
                size_t mark = path_push(c, ".holders[%zu]", i);

                if (json_object_get_type(h) != json_type_object)
                        r = fail(c, NULL, "expected an object, got %s", type_name(h));
                if (r >= 0)
                        r = get_u64(c, h, "pid", false, INT32_MAX, &pid);
                if (r >= 0 && pid == 0)
                        r = fail(c, "pid", "0 is no process");
                if (r >= 0 && (pid_t) pid <= last_pid)
                        r = fail(c, "pid", "%" PRIu64 " is not above the previous holder's: holders are by pid, "
                                 "each once", pid);
                if (r >= 0)
                        r = get_u64(c, h, "fds", false, UINT32_MAX, &fds);
                if (r >= 0)
                        r = get_u64(c, h, "maps", false, UINT32_MAX, &maps);
                if (r >= 0 && fds == 0 && maps == 0)
                        r = fail(c, NULL, "a holder with neither fds nor maps");
                path_pop(c, mark);
                if (r < 0)
                        return r;
                last_pid = (pid_t) pid;
                if (*n_refs == *cap_refs) {
                        size_t cap = *cap_refs ? *cap_refs * 2 : 64;
                        HolderRef *p = reallocarray(*refs, cap, sizeof(HolderRef));

                        if (!p)
                                return -ENOMEM;
                        *refs = p;
                        *cap_refs = cap;
                }
                (*refs)[(*n_refs)++] = (HolderRef){
                        .pid = (pid_t) pid, .inode = inode, .fds = (uint32_t) fds, .maps = (uint32_t) maps
                };
        }
        return 0;
}

static int read_buffers(ReadContext *c, json_object *state, DmabufBuilder *b, HolderRef **refs, size_t *n_refs,
                        size_t *cap_refs) {
        json_object *buffers;
        uint64_t last_inode = 0;
        int r;

        r = get_member(c, state, "buffers", json_type_array, false, &buffers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(buffers); i++) {
                json_object *o = json_object_array_get_idx(buffers, i);
                DmabufBufferInfo info = {};
                const char *name = NULL;
                size_t mark = path_push(c, ".buffers[%zu]", i);

                if (json_object_get_type(o) != json_type_object)
                        r = fail(c, NULL, "expected an object, got %s", type_name(o));
                if (r >= 0)
                        r = get_u64(c, o, "inode", false, UINT64_MAX, &info.inode);
                /* Sorted by inode, each once, as a state is: a repeat would be merged
                 * silently by the builder. */
                if (r >= 0 && i > 0 && info.inode <= last_inode)
                        r = fail(c, "inode", "%" PRIu64 " is not above the previous buffer's %" PRIu64, info.inode,
                                 last_inode);
                if (r >= 0)
                        r = get_u64(c, o, "size", true, UINT64_MAX, &info.size);
                if (r >= 0)
                        r = get_u64(c, o, "count", true, UINT64_MAX, &info.count);
                if (r >= 0)
                        r = get_string(c, o, "exporter", true, &info.exporter);
                if (r >= 0)
                        r = get_string(c, o, "name", true, &name);
                if (r >= 0) {
                        info.name = name;
                        info.name_len = name ? strlen(name) : 0;
                        info.has_name = name != NULL;
                        if (dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &info) < 0)
                                r = -ENOMEM;
                }
                if (r >= 0)
                        r = read_attachments(c, b, o, info.inode);
                if (r >= 0)
                        r = read_holders(c, o, info.inode, refs, n_refs, cap_refs);
                path_pop(c, mark);
                if (r < 0)
                        return r;
                last_inode = info.inode;
        }
        return 0;
}

/* Names as the fdinfo parser takes them: not empty, within its bound. */
static int check_drm_name(ReadContext *c, const char *key, const char *name) {
        if (name && (name[0] == '\0' || strlen(name) > DMABUF_DRM_NAME_MAX))
                return fail(c, key, "\"%.64s\" is not a DRM name (1 to %d bytes)", name, DMABUF_DRM_NAME_MAX);
        return 0;
}

/* One region, {"total": 1, "resident": 2}: only the kinds the driver printed,
 * each once, in the order of drm-usage-stats.rst the writer keeps. */
static int read_drm_region(ReadContext *c, json_object *o, DmabufDrmRegion *region) {
        DmabufDrmKind next = 0;
        size_t n = 0;
        int r = 0;

        for (DmabufDrmKind k = 0; k < _DMABUF_DRM_KIND_MAX; k++)
                region->bytes[k] = DMABUF_UNKNOWN;
        if (json_object_get_type(o) != json_type_object)
                return fail(c, NULL, "expected an object, got %s", type_name(o));
        json_object_object_foreach(o, key, v) {
                DmabufDrmKind k;

                for (k = 0; k < _DMABUF_DRM_KIND_MAX; k++)
                        if (streq(key, dmabuf_drm_kind_to_string(k)))
                                break;
                if (k == _DMABUF_DRM_KIND_MAX)
                        return fail(c, NULL, "unknown kind \"%.64s\" (total, shared, resident, purgeable or active)",
                                    key);
                if (k < next)
                        return fail(c, key, "out of order: the kinds are total, shared, resident, purgeable, "
                                    "active");
                r = value_u64(c, key, v, false, UINT64_MAX, &region->bytes[k]);
                if (r < 0)
                        return r;
                next = k + 1;
                n++;
        }
        /* The parser makes a region of a figure: one without is not one it wrote. */
        if (n == 0)
                return fail(c, NULL, "a region with no figure");
        return 0;
}

static int cmp_drm_key(const DmabufDrmClientInfo *x, const DmabufDrmClientInfo *y) {
        int d = strcmp(x->driver, y->driver);

        if (d != 0)
                return d;
        if (!x->pdev != !y->pdev)
                return !x->pdev ? -1 : 1;
        if (x->pdev && (d = strcmp(x->pdev, y->pdev)) != 0)
                return d;
        return x->client_id < y->client_id ? -1 : x->client_id > y->client_id;
}

static int read_drm_client(ReadContext *c, DmabufBuilder *b, pid_t pid, json_object *o,
                           DmabufDrmClientInfo *prev, bool first) {
        DmabufDrmRegion regions[DMABUF_DRM_REGIONS_MAX];
        DmabufDrmClientInfo info = {};
        json_object *by_name;
        const char *last = NULL;
        uint64_t fds = 0;
        size_t n = 0;
        int r;

        if (json_object_get_type(o) != json_type_object)
                return fail(c, NULL, "expected an object, got %s", type_name(o));
        r = get_string(c, o, "driver", false, &info.driver);
        if (r >= 0)
                r = check_drm_name(c, "driver", info.driver);
        if (r >= 0)
                r = get_u64(c, o, "client_id", true, UINT64_MAX, &info.client_id);
        if (r >= 0)
                r = get_string(c, o, "pdev", true, &info.pdev);
        if (r >= 0)
                r = check_drm_name(c, "pdev", info.pdev);
        if (r >= 0)
                r = get_u64(c, o, "fds", false, UINT32_MAX, &fds);
        if (r >= 0 && fds == 0)
                r = fail(c, "fds", "a client with no fd");
        /* Without an id no two fds are known to share a client: the scan lists each alone. */
        if (r >= 0 && fds > 1 && info.client_id == DMABUF_UNKNOWN)
                r = fail(c, "fds", "%" PRIu64 " for a client without an id, which stands for one fd", fds);
        if (r < 0)
                return r;
        /* The builder would sort a misordered list and merge a repeated client
         * silently: either would be a state the file does not hold. */
        if (!first && cmp_drm_key(prev, &info) > 0)
                return fail(c, NULL, "not after the previous client: clients are by driver, pdev and client id");
        if (!first && cmp_drm_key(prev, &info) == 0 && info.client_id != DMABUF_UNKNOWN)
                return fail(c, "client_id", "%" PRIu64 " repeats the previous client's driver, pdev and id",
                            info.client_id);

        r = get_member(c, o, "regions", json_type_object, false, &by_name);
        if (r < 0)
                return r;
        json_object_object_foreach(by_name, name, v) {
                size_t mark;

                if (n == DMABUF_DRM_REGIONS_MAX)
                        return fail(c, "regions", "more than %d regions", DMABUF_DRM_REGIONS_MAX);
                r = check_drm_name(c, "regions", name);
                if (r >= 0 && last && strcmp(last, name) >= 0)
                        r = fail(c, "regions", "\"%.64s\" is not after \"%.64s\": regions are by name, each once",
                                 name, last);
                if (r < 0)
                        return r;
                mark = path_push(c, ".regions.%s", name);
                regions[n].name = name;
                r = read_drm_region(c, v, &regions[n]);
                path_pop(c, mark);
                if (r < 0)
                        return r;
                last = name;
                n++;
        }
        if (n == 0)
                return fail(c, "regions", "none: a client without memory statistics is not listed");
        info.regions = regions;
        info.n_regions = n;
        if (dmabuf_builder_add_drm_holder(b, pid, &info, (uint32_t) fds) < 0)
                return -ENOMEM;
        *prev = (DmabufDrmClientInfo){ .driver = info.driver, .pdev = info.pdev, .client_id = info.client_id };
        return 0;
}

/* "drm": {"clients": [...]}, left out when the process holds no DRM client with
 * memory statistics, and by a dmabufd older than DRM fdinfo. */
static int read_drm(ReadContext *c, DmabufBuilder *b, json_object *proc, pid_t pid, size_t *ret_n) {
        json_object *drm, *clients;
        DmabufDrmClientInfo prev = {};
        size_t mark, n;
        int r;

        *ret_n = 0;
        if (!json_object_object_get_ex(proc, "drm", &drm))
                return 0;
        if (json_object_get_type(drm) != json_type_object)
                return fail(c, "drm", "expected an object, got %s", type_name(drm));
        mark = path_push(c, ".drm");
        r = get_member(c, drm, "clients", json_type_array, false, &clients);
        n = r >= 0 ? json_object_array_length(clients) : 0;
        if (r >= 0 && n == 0)
                r = fail(c, "clients", "empty: a process without DRM clients has no \"drm\"");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                size_t cmark = path_push(c, ".clients[%zu]", i);

                r = read_drm_client(c, b, pid, json_object_array_get_idx(clients, i), &prev, i == 0);
                path_pop(c, cmark);
        }
        path_pop(c, mark);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}

static int read_processes(ReadContext *c, json_object *state, DmabufBuilder *b, HolderRef *refs, size_t n_refs) {
        json_object *processes;
        size_t next = 0;
        pid_t last_pid = 0;
        int r;

        r = get_member(c, state, "processes", json_type_array, false, &processes);
        if (r < 0)
                return r;
        qsort(refs, n_refs, sizeof(HolderRef), cmp_holder_ref);
        for (size_t i = 0; i < json_object_array_length(processes); i++) {
                json_object *o = json_object_array_get_idx(processes, i), *listed = NULL;
                const char *comm = NULL, *cgroup = NULL;
                uint64_t pid = 0, unidentified = 0;
                size_t mark = path_push(c, ".processes[%zu]", i), first = next, n_drm = 0;

                if (json_object_get_type(o) != json_type_object)
                        r = fail(c, NULL, "expected an object, got %s", type_name(o));
                if (r >= 0)
                        r = get_u64(c, o, "pid", false, INT32_MAX, &pid);
                if (r >= 0 && pid == 0)
                        r = fail(c, "pid", "0 is no process");
                if (r >= 0 && (pid_t) pid <= last_pid)
                        r = fail(c, "pid", "%" PRIu64 " is not above the previous process's: processes are by "
                                 "pid, each once", pid);
                if (r >= 0)
                        r = get_string(c, o, "comm", true, &comm);
                if (r >= 0)
                        r = get_string(c, o, "cgroup", true, &cgroup);
                if (r >= 0)
                        r = get_u64(c, o, "unidentified_fds", false, UINT32_MAX, &unidentified);
                if (r >= 0)
                        r = get_member(c, o, "buffers", json_type_array, false, &listed);
                if (r >= 0 && refs && next < n_refs && refs[next].pid < (pid_t) pid)
                        r = fail(c, NULL, "buffer %" PRIu64 " names holder pid %d, which is not a listed process",
                                 refs[next].inode, (int) refs[next].pid);
                if (r >= 0 && dmabuf_builder_add_process(b, (pid_t) pid, comm, cgroup, (uint32_t) unidentified) < 0)
                        r = -ENOMEM;
                for (; r >= 0 && next < n_refs && refs[next].pid == (pid_t) pid; next++)
                        if (dmabuf_builder_add_holder(b, (pid_t) pid, refs[next].inode, refs[next].fds,
                                                      refs[next].maps) < 0)
                                r = -ENOMEM;
                if (r >= 0)
                        r = read_drm(c, b, o, (pid_t) pid, &n_drm);
                /* The builder drops such a process: the state it makes would not list it. */
                if (r >= 0 && next == first && unidentified == 0 && n_drm == 0)
                        r = fail(c, NULL, "holds no buffer, no unidentified fd and no DRM client: a state does "
                                 "not list it");
                /* The process's own list must be what the holders say it holds. */
                if (r >= 0 && json_object_array_length(listed) != next - first)
                        r = fail(c, "buffers", "lists %zu buffers, the buffers' holders %zu",
                                 json_object_array_length(listed), next - first);
                for (size_t k = 0; r >= 0 && k < next - first; k++) {
                        uint64_t inode;
                        size_t kmark = path_push(c, ".buffers[%zu]", k);

                        r = value_u64(c, NULL, json_object_array_get_idx(listed, k), false, UINT64_MAX, &inode);
                        if (r >= 0 && inode != refs[first + k].inode)
                                r = fail(c, NULL, "%" PRIu64 ", where the buffers' holders give %" PRIu64, inode,
                                         refs[first + k].inode);
                        path_pop(c, kmark);
                }
                path_pop(c, mark);
                if (r < 0)
                        return r;
                last_pid = (pid_t) pid;
        }
        if (next < n_refs)
                return fail(c, "buffers", "buffer %" PRIu64 " names holder pid %d, which is not a listed process",
                            refs[next].inode, (int) refs[next].pid);
        return 0;
}

static int read_scan(ReadContext *c, json_object *state, DmabufBuilder *b, double *ret_duration) {
        DmabufScanStats *st = dmabuf_builder_scan_stats(b);
        json_object *scan, *parse_errors, *duration;
        const char *first_error;
        size_t mark;
        int r;

        r = get_member(c, state, "scan", json_type_object, false, &scan);
        if (r < 0)
                return r;
        mark = path_push(c, ".scan");
        /* Counters a later version adds are ignored, and one an earlier version
         * did not write stays 0: they describe the scan, not the memory. */
        for (DmabufScanCounter k = 0; r >= 0 && k < _DMABUF_SCAN_COUNTER_MAX; k++)
                if (json_object_object_get_ex(scan, dmabuf_scan_counter_to_string(k), NULL))
                        r = get_u64(c, scan, dmabuf_scan_counter_to_string(k), false, UINT64_MAX - 1,
                                    &st->counters[k]);
        if (r >= 0)
                r = get_member(c, scan, "parse_errors", json_type_object, false, &parse_errors);
        for (DmabufSource s = 0; r >= 0 && s < _DMABUF_SOURCE_MAX; s++)
                if (json_object_object_get_ex(parse_errors, dmabuf_source_to_string(s), NULL)) {
                        size_t pmark = path_push(c, ".parse_errors");

                        r = get_u64(c, parse_errors, dmabuf_source_to_string(s), false, UINT64_MAX - 1,
                                    &st->parse_errors[s]);
                        path_pop(c, pmark);
                }
        if (r >= 0)
                r = get_string(c, scan, "first_error", true, &first_error);
        if (r >= 0 && first_error)
                snprintf(st->first_error, sizeof(st->first_error), "%s", first_error);
        if (r >= 0 && !json_object_object_get_ex(scan, "duration_seconds", &duration))
                r = fail(c, NULL, "no \"duration_seconds\" member");
        if (r >= 0 && !json_object_is_type(duration, json_type_double) && !json_object_is_type(duration, json_type_int))
                r = fail(c, "duration_seconds", "expected a number, got %s", type_name(duration));
        if (r >= 0 && json_object_get_double(duration) < 0)
                r = fail(c, "duration_seconds", "negative duration");
        if (r >= 0)
                *ret_duration = json_object_get_double(duration);
        path_pop(c, mark);
        return r;
}

/* A figure the file states must be the one its buffers give: a file edited by
 * hand, or cut and pasted from two states, would show figures that are not. */
static int check_figure_from(ReadContext *c, json_object *o, const char *key, uint64_t derived, const char *from) {
        char a[24] = "null", d[24] = "null";
        uint64_t v;
        int r;

        r = get_u64(c, o, key, true, UINT64_MAX, &v);
        if (r < 0 || v == derived)
                return r;
        if (v != DMABUF_UNKNOWN)
                snprintf(a, sizeof(a), "%" PRIu64, v);
        if (derived != DMABUF_UNKNOWN)
                snprintf(d, sizeof(d), "%" PRIu64, derived);
        return fail(c, key, "%s, where %s give %s", a, from, d);
}

static int check_figure(ReadContext *c, json_object *o, const char *key, uint64_t derived) {
        return check_figure_from(c, o, key, derived, "the buffers");
}

/* Each process's rss, pss, fds and maps, and each exporter's figures, as the
 * buffers give them: like the totals, nothing derived may be stated otherwise. */
static int check_derived(ReadContext *c, json_object *state, const DmabufState *s) {
        json_object *processes, *exporters;
        int r;

        r = get_member(c, state, "processes", json_type_array, false, &processes);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(processes); i++) {
                json_object *o = json_object_array_get_idx(processes, i);
                const DmabufProcess *p;
                uint64_t pid;
                size_t mark = path_push(c, ".processes[%zu]", i);

                r = get_u64(c, o, "pid", false, INT32_MAX, &pid);
                /* With only_pid, the others were dropped after being counted. */
                p = r >= 0 ? dmabuf_state_find_process(s, (pid_t) pid) : NULL;
                if (p) {
                        r = check_figure(c, o, "rss_bytes", p->rss_bytes);
                        if (r >= 0)
                                r = check_figure(c, o, "pss_bytes", p->pss_bytes);
                        if (r >= 0)
                                r = check_figure(c, o, "fds", p->fds);
                        if (r >= 0)
                                r = check_figure(c, o, "maps", p->maps);
                }
                path_pop(c, mark);
        }
        if (r >= 0)
                r = get_member(c, state, "exporters", json_type_array, false, &exporters);
        if (r >= 0 && json_object_array_length(exporters) != dmabuf_state_n_exporters(s))
                r = fail(c, "exporters", "%zu listed, where the buffers name %zu", json_object_array_length(exporters),
                         dmabuf_state_n_exporters(s));
        for (size_t i = 0; r >= 0 && i < dmabuf_state_n_exporters(s); i++) {
                const DmabufExporter *e = &dmabuf_state_exporters(s)[i];
                json_object *o = json_object_array_get_idx(exporters, i);
                const char *name = NULL;
                size_t mark = path_push(c, ".exporters[%zu]", i);

                if (json_object_get_type(o) != json_type_object)
                        r = fail(c, NULL, "expected an object, got %s", type_name(o));
                if (r >= 0)
                        r = get_string(c, o, "name", false, &name);
                if (r >= 0 && !streq(name, e->name))
                        r = fail(c, "name", "\"%.64s\", where the buffers give \"%.64s\"", name, e->name);
                if (r >= 0)
                        r = check_figure(c, o, "buffers", e->buffers);
                if (r >= 0)
                        r = check_figure(c, o, "bytes", e->bytes);
                path_pop(c, mark);
        }
        return r;
}

/* The cgroups are derived from the processes, rolled up to the daemon's
 * cgroup_depth, which the state does not record. It is found again instead of
 * taking the stored array on trust: at depth d every stored path has at most d
 * components, and exactly d unless its processes' cgroups are all shallower,
 * which are then kept whole. So the most components of any stored path is a
 * depth that rolls the processes' cgroups up exactly as the writer did (any
 * larger one keeping them whole too), and check_cgroups() holds the stored
 * array to what the builder derives at it. A state from a dmabufd before
 * cgroups has none: the whole path then (depth 0), as the default. */
static int read_cgroup_depth(ReadContext *c, json_object *state, bool *ret_present, unsigned *ret_depth) {
        json_object *cgroups;
        unsigned depth = 0;
        int r;

        *ret_present = false;
        *ret_depth = 0;
        if (!json_object_object_get_ex(state, "cgroups", NULL))
                return 0;
        r = get_member(c, state, "cgroups", json_type_array, false, &cgroups);
        for (size_t i = 0; r >= 0 && i < json_object_array_length(cgroups); i++) {
                json_object *o = json_object_array_get_idx(cgroups, i);
                const char *path = NULL;
                size_t mark = path_push(c, ".cgroups[%zu]", i);
                unsigned n = 1;

                if (json_object_get_type(o) != json_type_object)
                        r = fail(c, NULL, "expected an object, got %s", type_name(o));
                if (r >= 0)
                        r = get_string(c, o, "path", true, &path);
                path_pop(c, mark);
                if (r < 0 || !path || !path[0])
                        continue;
                /* As the builder counts them: a component ends at each '/' after the
                 * first byte. A path is not otherwise judged here: one the processes
                 * do not give fails in check_cgroups(). */
                for (const char *p = path + 1; *p; p++)
                        if (*p == '/')
                                n++;
                depth = MAX(depth, n);
        }
        if (r < 0)
                return r;
        *ret_present = true;
        *ret_depth = depth;
        return 0;
}

static int check_string(ReadContext *c, json_object *o, const char *key, const char *derived) {
        const char *v;
        int r;

        r = get_string(c, o, key, true, &v);
        if (r < 0 || (!v && !derived) || (v && derived && streq(v, derived)))
                return r;
        return fail(c, key, "%s%.64s%s, where the processes give %s%.64s%s", v ? "\"" : "", v ?: "null",
                    v ? "\"" : "", derived ? "\"" : "", derived ?: "null", derived ? "\"" : "");
}

static int check_cgroups(ReadContext *c, json_object *state, const DmabufState *s) {
        json_object *cgroups;
        int r;

        r = get_member(c, state, "cgroups", json_type_array, false, &cgroups);
        if (r >= 0 && json_object_array_length(cgroups) != dmabuf_state_n_cgroups(s))
                r = fail(c, "cgroups", "%zu listed, where the processes give %zu", json_object_array_length(cgroups),
                         dmabuf_state_n_cgroups(s));
        for (size_t i = 0; r >= 0 && i < dmabuf_state_n_cgroups(s); i++) {
                const DmabufCgroup *g = &dmabuf_state_cgroups(s)[i];
                json_object *o = json_object_array_get_idx(cgroups, i);
                size_t mark = path_push(c, ".cgroups[%zu]", i);

                r = check_string(c, o, "path", g->path);
                if (r >= 0)
                        r = check_string(c, o, "unit", g->unit);
                if (r >= 0)
                        r = check_figure_from(c, o, "processes", g->processes, "the processes");
                if (r >= 0)
                        r = check_figure(c, o, "rss_bytes", g->rss_bytes);
                if (r >= 0)
                        r = check_figure(c, o, "pss_bytes", g->pss_bytes);
                path_pop(c, mark);
        }
        return r;
}

static int check_totals(ReadContext *c, json_object *state, const DmabufState *s) {
        const DmabufTotals *t = dmabuf_state_totals(s);
        json_object *totals;
        size_t mark;
        int r;

        r = get_member(c, state, "totals", json_type_object, false, &totals);
        if (r < 0)
                return r;
        mark = path_push(c, ".totals");
        r = check_figure(c, totals, "buffers", t->buffers);
        if (r >= 0)
                r = check_figure(c, totals, "bytes", t->bytes);
        if (r >= 0)
                r = check_figure(c, totals, "userspace_bytes", t->userspace_bytes);
        if (r >= 0)
                r = check_figure(c, totals, "kernel_only_bytes", t->kernel_only_bytes);
        path_pop(c, mark);
        return r;
}

int dmabuf_state_from_json(json_object *o, const char *where, pid_t only_pid, DmabufState **ret, char *err,
                           size_t err_len) {
        _cleanup_(dmabuf_builder_freep) DmabufBuilder *b = NULL;
        _cleanup_free_ HolderRef *refs = NULL;
        size_t n_refs = 0, cap_refs = 0;
        ReadContext c = { .err = err, .err_len = err_len };
        json_object *sources, *totals, *total_buffers = NULL;
        const char *collected_at, *kernel;
        uint64_t collected_at_usec;
        unsigned cgroup_depth;
        bool has_cgroups;
        double duration = 0;
        DmabufState *s;
        int r;

        snprintf(c.path, sizeof(c.path), "%s", where);
        if (json_object_get_type(o) != json_type_object)
                return fail(&c, NULL, "expected an object, got %s", type_name(o));
        b = dmabuf_builder_new();
        if (!b)
                return -ENOMEM;

        r = get_string(&c, o, "collected_at", false, &collected_at);
        if (r < 0)
                return r;
        if (parse_timestamp_utc(collected_at, &collected_at_usec) < 0)
                return fail(&c, "collected_at", "\"%.40s\" is not an RFC3339 UTC time", collected_at);
        r = get_string(&c, o, "kernel", true, &kernel);
        if (r < 0)
                return r;
        if (dmabuf_builder_set_kernel(b, kernel) < 0)
                return -ENOMEM;

        r = get_member(&c, o, "sources", json_type_object, false, &sources);
        if (r < 0)
                return r;
        for (DmabufSource src = 0; src < _DMABUF_SOURCE_MAX; src++) {
                json_object *up;
                size_t mark = path_push(&c, ".sources");

                r = get_member(&c, sources, dmabuf_source_to_string(src), json_type_boolean, false, &up);
                path_pop(&c, mark);
                if (r < 0)
                        return r;
                dmabuf_builder_set_source_up(b, src, json_object_get_boolean(up));
        }
        /* Which source listed every buffer is not stored; that one did is: the
         * total count is known exactly then. */
        r = get_member(&c, o, "totals", json_type_object, false, &totals);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(totals, "buffers", &total_buffers))
                return fail(&c, "totals", "no \"buffers\" member");
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, total_buffers != NULL);

        r = read_buffers(&c, o, b, &refs, &n_refs, &cap_refs);
        if (r < 0)
                return r;
        r = read_processes(&c, o, b, refs, n_refs);
        if (r < 0)
                return r;
        r = read_scan(&c, o, b, &duration);
        if (r < 0)
                return r;
        r = read_cgroup_depth(&c, o, &has_cgroups, &cgroup_depth);
        if (r < 0)
                return r;
        dmabuf_builder_set_cgroup_depth(b, cgroup_depth);

        dmabuf_builder_set_only_pid(b, only_pid);
        r = dmabuf_builder_finish(b, collected_at_usec, duration, &s);
        b = dmabuf_builder_free(b); /* finish leaves it good only for freeing */
        if (r < 0)
                return r;
        r = check_totals(&c, o, s);
        if (r >= 0)
                r = check_derived(&c, o, s);
        if (r >= 0 && has_cgroups)
                r = check_cgroups(&c, o, s);
        if (r < 0) {
                dmabuf_state_unref(s);
                return r;
        }
        *ret = s;
        return 0;
}

DmabufSnapshotFile *dmabuf_snapshot_file_free(DmabufSnapshotFile *f) {
        if (!f)
                return NULL;
        json_object_put(f->trigger);
        dmabuf_state_unref(f->before);
        dmabuf_state_unref(f->state);
        free(f);
        return NULL;
}

static void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static void json_object_putp(json_object **o) {
        json_object_put(*o);
}

static int read_whole(int fd, size_t size, char **ret, char *err, size_t err_len) {
        _cleanup_free_ char *buf = malloc(size + 1);
        size_t off = 0;

        if (!buf)
                return -ENOMEM;
        while (off < size) {
                ssize_t n = pread(fd, buf + off, size - off, (off_t) off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        set_err(err, err_len, "read error at byte %zu: %s", off, strerror(errno));
                        return negative_errno();
                }
                if (n == 0) {
                        set_err(err, err_len, "file shrank while being read (%zu bytes, then %zu)", size, off);
                        return -EBADMSG;
                }
                off += (size_t) n;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

int dmabuf_snapshot_file_read(int fd, pid_t only_pid, DmabufSnapshotFile **ret, char *err, size_t err_len) {
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_free_ char *text = NULL;
        ReadContext c = { .err = err, .err_len = err_len };
        json_object *trigger, *partial, *state;
        DmabufdSnapshotInfo info;
        int r;

        /* Syntax, truncation, schema, id, taken_at and trigger.kind, with the byte
         * at fault, in constant memory, before json-c is given the whole file. */
        r = dmabufd_snapshot_file_validate(fd, NULL, &info, err, err_len);
        if (r < 0)
                return r;
        if (info.bytes > DMABUF_SNAPSHOT_READ_MAX) {
                set_err(err, err_len, "%" PRIu64 " bytes, more than the %u MiB dump reads", info.bytes,
                        DMABUF_SNAPSHOT_READ_MAX / (1024 * 1024));
                return -EFBIG;
        }
        r = read_whole(fd, (size_t) info.bytes, &text, err, err_len);
        if (r < 0)
                return r;
        /* As deep as json-scan allows: whatever it accepted, json-c must parse. */
        tok = json_tokener_new_ex(64);
        if (!tok)
                return -ENOMEM;
        root = json_tokener_parse_ex(tok, text, (int) info.bytes);
        if (!root || json_tokener_get_error(tok) != json_tokener_success) {
                set_err(err, err_len, "invalid JSON at byte %zu: %s", json_tokener_get_parse_end(tok),
                        json_tokener_error_desc(json_tokener_get_error(tok)));
                return -EBADMSG;
        }

        f = calloc(1, sizeof(DmabufSnapshotFile));
        if (!f)
                return -ENOMEM;
        f->info = info;
        r = get_member(&c, root, "trigger", json_type_object, false, &trigger);
        if (r < 0)
                return r;
        f->trigger = json_object_get(trigger);
        if (json_object_object_get_ex(root, "partial", &partial)) {
                if (!json_object_is_type(partial, json_type_boolean))
                        return fail(&c, "partial", "expected a boolean, got %s", type_name(partial));
                f->partial = json_object_get_boolean(partial);
        }
        r = get_member(&c, root, "before", json_type_object, true, &state);
        if (r >= 0 && state)
                r = dmabuf_state_from_json(state, "before", only_pid, &f->before, err, err_len);
        if (r < 0)
                return r;
        r = get_member(&c, root, "state", json_type_object, true, &state);
        if (r >= 0 && state)
                r = dmabuf_state_from_json(state, "state", only_pid, &f->state, err, err_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

/* As the dump tables: a terminal must not be steered by a comm or a kernel line. */
static void put_printable(StrBuf *sb, const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        strbuf_printf(sb, "\\x%02x", *p);
                else
                        strbuf_putc(sb, (char) *p);
}

static const char *trigger_string(const DmabufSnapshotFile *f, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(f->trigger, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static void put_trigger_kb(StrBuf *sb, const DmabufSnapshotFile *f, const char *key) {
        json_object *v;

        if (json_object_object_get_ex(f->trigger, key, &v) && json_object_is_type(v, json_type_int) &&
            json_object_get_int64(v) >= 0)
                strbuf_printf(sb, "%" PRIu64 " kB", json_object_get_uint64(v) / 1024);
        else
                strbuf_puts(sb, "? kB");
}

int dmabuf_snapshot_file_summary(StrBuf *sb, const DmabufSnapshotFile *f, bool before) {
        static const char *const details[] = { "cgroup", "psi_trigger", "identifier", "origin" };
        json_object *pid, *in_before, *buffers;
        const char *s;

        strbuf_printf(sb, "snapshot %s taken at %s%s\n", f->info.id, f->info.taken_at,
                      f->partial ? " (partial: written before its fresh collection)" : "");
        strbuf_printf(sb, "trigger: %s", f->info.kind);
        s = trigger_string(f, "at");
        if (s) {
                strbuf_puts(sb, " at ");
                put_printable(sb, s);
        }
        strbuf_puts(sb, "\n");
        if (json_object_object_get_ex(f->trigger, "pid", &pid) && json_object_is_type(pid, json_type_int)) {
                strbuf_printf(sb, "victim: pid %" PRId64 " (", json_object_get_int64(pid));
                put_printable(sb, trigger_string(f, "comm") ?: "?");
                strbuf_puts(sb, ")");
                if (json_object_object_get_ex(f->trigger, "in_before", &in_before) &&
                    !json_object_get_boolean(in_before))
                        strbuf_puts(sb, ", holding nothing in `before`\n");
                else {
                        strbuf_puts(sb, " held by `before`: rss ");
                        put_trigger_kb(sb, f, "rss_bytes");
                        strbuf_puts(sb, ", pss ");
                        put_trigger_kb(sb, f, "pss_bytes");
                        if (json_object_object_get_ex(f->trigger, "buffers", &buffers) &&
                            json_object_is_type(buffers, json_type_array))
                                strbuf_printf(sb, " in %zu buffers", json_object_array_length(buffers));
                        strbuf_puts(sb, "\n");
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(details); i++) {
                s = trigger_string(f, details[i]);
                if (!s)
                        continue;
                strbuf_printf(sb, "%s: ", details[i]);
                put_printable(sb, s);
                strbuf_puts(sb, "\n");
        }
        /* A kill's report is two kernel lines (oom-kill: and Killed process):
         * one under the other, each escaped. */
        s = trigger_string(f, "line");
        for (const char *l = s, *nl; l; l = nl ? nl + 1 : NULL) {
                _cleanup_free_ char *one = NULL;

                nl = strchr(l, '\n');
                one = strndup(l, nl ? (size_t) (nl - l) : strlen(l));
                if (!one)
                        return -ENOMEM;
                strbuf_puts(sb, l == s ? "line: " : "      ");
                put_printable(sb, one);
                strbuf_puts(sb, "\n");
        }
        strbuf_puts(sb, before ? "showing: before (the last collection before the event)\n"
                               : "showing: state (the collection after the event)\n");
        return strbuf_status(sb);
}
