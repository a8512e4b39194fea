/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "model.h"

/* ---- string arena and interning ----
 * A state holds tens of thousands of short strings. Carving them out of a few large
 * chunks keeps malloc overhead and fragmentation out of the daemon's RSS, and frees
 * the whole state in a handful of calls. */

typedef struct ArenaChunk {
        struct ArenaChunk *next;
        size_t used, size;
        char data[];
} ArenaChunk;

typedef struct Arena {
        ArenaChunk *head;
} Arena;

static void arena_done(Arena *a) {
        while (a->head) {
                ArenaChunk *next = a->head->next;
                free(a->head);
                a->head = next;
        }
}

static void *arena_alloc(Arena *a, size_t n) {
        ArenaChunk *c = a->head;

        n = (n + 7) & ~(size_t) 7;
        if (!c || c->size - c->used < n) {
                size_t size = MAX((size_t) 64 * 1024 - sizeof(ArenaChunk), n);
                c = malloc(sizeof(ArenaChunk) + size);
                if (!c)
                        return NULL;
                c->size = size;
                c->used = 0;
                c->next = a->head;
                a->head = c;
        }
        c->used += n;
        return c->data + c->used - n;
}

static char *arena_strndup(Arena *a, const char *s, size_t n) {
        char *p = arena_alloc(a, n + 1);
        if (!p)
                return NULL;
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

typedef struct InternTable {
        const char **slots;
        size_t n_slots, n_used;
} InternTable;

static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= 1099511628211ULL;
        }
        return h;
}

/* Few distinct exporters and devices exist, but each is named once per buffer:
 * interning stores each once and lets grouping compare pointers. */
static const char *intern(InternTable *t, Arena *a, const char *s, size_t n) {
        size_t i;

        if (t->n_used * 2 >= t->n_slots) {
                size_t new_n = t->n_slots ? t->n_slots * 2 : 64;
                const char **slots = calloc(new_n, sizeof(char *));
                if (!slots)
                        return NULL;
                for (size_t j = 0; j < t->n_slots; j++) {
                        const char *v = t->slots[j];
                        if (!v)
                                continue;
                        i = hash_bytes(v, strlen(v)) & (new_n - 1);
                        while (slots[i])
                                i = (i + 1) & (new_n - 1);
                        slots[i] = v;
                }
                free(t->slots);
                t->slots = slots;
                t->n_slots = new_n;
        }
        i = hash_bytes(s, n) & (t->n_slots - 1);
        while (t->slots[i]) {
                if (strlen(t->slots[i]) == n && memcmp(t->slots[i], s, n) == 0)
                        return t->slots[i];
                i = (i + 1) & (t->n_slots - 1);
        }
        t->slots[i] = arena_strndup(a, s, n);
        if (!t->slots[i])
                return NULL;
        t->n_used++;
        return t->slots[i];
}

/* ---- state ---- */

typedef struct RenderCache {
        char *data;
        size_t len;
} RenderCache;

struct DmabufState {
        unsigned refcount;
        uint64_t collected_at_usec;
        double duration_sec;
        const char *kernel;
        bool source_up[_DMABUF_SOURCE_MAX];
        DmabufTotals totals;
        DmabufScanStats stats;
        DmabufCounters counters;

        DmabufBuffer *buffers;
        size_t n_buffers;
        DmabufHolder *holders;
        DmabufAttachment *attachments;
        DmabufProcess *processes;
        size_t n_processes;
        uint32_t *process_buffers;
        DmabufExporter *exporters;
        size_t n_exporters;
        DmabufDrmClient *drm_clients;
        DmabufDrmRegion *drm_regions;
        DmabufCgroup *cgroups;
        size_t n_cgroups;
        Arena arena;

        pthread_mutex_t render_lock;
        RenderCache render[_DMABUF_RENDER_MAX];
};

static const char *const source_names[_DMABUF_SOURCE_MAX] = {
        [DMABUF_SOURCE_SYSFS] = "sysfs",
        [DMABUF_SOURCE_PROCFS] = "procfs",
        [DMABUF_SOURCE_DEBUGFS] = "debugfs",
        [DMABUF_SOURCE_BPF] = "bpf",
};

const char *dmabuf_source_to_string(DmabufSource s) {
        return s >= 0 && s < _DMABUF_SOURCE_MAX ? source_names[s] : NULL;
}

static const char *const scan_counter_names[_DMABUF_SCAN_COUNTER_MAX] = {
        [DMABUF_SCAN_PIDS_VANISHED] = "pids_vanished",
        [DMABUF_SCAN_FDS_VANISHED] = "fds_vanished",
        [DMABUF_SCAN_BUFFERS_VANISHED] = "buffers_vanished",
        [DMABUF_SCAN_UNREADABLE] = "unreadable",
        [DMABUF_SCAN_MAP_FILES_DENIED] = "map_files_denied",
};

const char *dmabuf_scan_counter_to_string(DmabufScanCounter c) {
        return c >= 0 && c < _DMABUF_SCAN_COUNTER_MAX ? scan_counter_names[c] : NULL;
}

static const char *const drm_kind_names[_DMABUF_DRM_KIND_MAX] = {
        [DMABUF_DRM_TOTAL] = "total",
        [DMABUF_DRM_SHARED] = "shared",
        [DMABUF_DRM_RESIDENT] = "resident",
        [DMABUF_DRM_PURGEABLE] = "purgeable",
        [DMABUF_DRM_ACTIVE] = "active",
};

const char *dmabuf_drm_kind_to_string(DmabufDrmKind k) {
        return k >= 0 && k < _DMABUF_DRM_KIND_MAX ? drm_kind_names[k] : NULL;
}

static DmabufState *state_free(DmabufState *s) {
        free(s->buffers);
        free(s->holders);
        free(s->attachments);
        free(s->processes);
        free(s->process_buffers);
        free(s->exporters);
        free(s->drm_clients);
        free(s->drm_regions);
        free(s->cgroups);
        for (size_t i = 0; i < _DMABUF_RENDER_MAX; i++)
                free(s->render[i].data);
        pthread_mutex_destroy(&s->render_lock);
        arena_done(&s->arena);
        free(s);
        return NULL;
}

/* Reference counts of every state, under one lock rather than atomics. The last
 * owner frees what other threads wrote (the render cache, the render lock), and a
 * mutex makes that order plain to every thread checker: helgrind and drd do not
 * model C11 atomics, and one uncontended lock per reference taken is nothing next
 * to the HTTP request that takes it. It is never destroyed. */
static pthread_mutex_t refcount_lock = PTHREAD_MUTEX_INITIALIZER;

DmabufState *dmabuf_state_ref(DmabufState *s) {
        if (s) {
                pthread_mutex_lock(&refcount_lock);
                s->refcount++;
                pthread_mutex_unlock(&refcount_lock);
        }
        return s;
}

DmabufState *dmabuf_state_unref(DmabufState *s) {
        unsigned left;

        if (!s)
                return NULL;
        pthread_mutex_lock(&refcount_lock);
        left = --s->refcount;
        pthread_mutex_unlock(&refcount_lock);
        if (left == 0)
                state_free(s);
        return NULL;
}

void dmabuf_state_unrefp(DmabufState **s) {
        dmabuf_state_unref(*s);
}

uint64_t dmabuf_state_collected_at_usec(const DmabufState *s) {
        return s->collected_at_usec;
}
double dmabuf_state_duration_sec(const DmabufState *s) {
        return s->duration_sec;
}
const char *dmabuf_state_kernel(const DmabufState *s) {
        return s->kernel;
}
bool dmabuf_state_source_up(const DmabufState *s, DmabufSource src) {
        return src >= 0 && src < _DMABUF_SOURCE_MAX && s->source_up[src];
}
const DmabufTotals *dmabuf_state_totals(const DmabufState *s) {
        return &s->totals;
}
const DmabufScanStats *dmabuf_state_scan_stats(const DmabufState *s) {
        return &s->stats;
}
const DmabufCounters *dmabuf_state_counters(const DmabufState *s) {
        return &s->counters;
}
void dmabuf_state_set_counters(DmabufState *s, const DmabufCounters *c) {
        s->counters = *c;
}
size_t dmabuf_state_n_buffers(const DmabufState *s) {
        return s->n_buffers;
}
const DmabufBuffer *dmabuf_state_buffers(const DmabufState *s) {
        return s->buffers;
}
size_t dmabuf_state_n_processes(const DmabufState *s) {
        return s->n_processes;
}
const DmabufProcess *dmabuf_state_processes(const DmabufState *s) {
        return s->processes;
}
size_t dmabuf_state_n_exporters(const DmabufState *s) {
        return s->n_exporters;
}
const DmabufExporter *dmabuf_state_exporters(const DmabufState *s) {
        return s->exporters;
}
size_t dmabuf_state_n_cgroups(const DmabufState *s) {
        return s->n_cgroups;
}
const DmabufCgroup *dmabuf_state_cgroups(const DmabufState *s) {
        return s->cgroups;
}

const DmabufBuffer *dmabuf_state_find_buffer(const DmabufState *s, uint64_t inode) {
        size_t lo = 0, hi = s->n_buffers;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->buffers[mid].inode == inode)
                        return &s->buffers[mid];
                if (s->buffers[mid].inode < inode)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

const DmabufHolder *dmabuf_state_buffer_holders(const DmabufState *s, const DmabufBuffer *b) {
        return s->holders + b->first_holder;
}

const DmabufAttachment *dmabuf_state_buffer_attachments(const DmabufState *s, const DmabufBuffer *b) {
        return s->attachments + b->first_attachment;
}

const char *dmabuf_state_buffer_exporter(const DmabufState *s, const DmabufBuffer *b) {
        return b->exporter_index == DMABUF_NO_EXPORTER ? NULL : s->exporters[b->exporter_index].name;
}

const DmabufProcess *dmabuf_state_find_process(const DmabufState *s, pid_t pid) {
        size_t lo = 0, hi = s->n_processes;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->processes[mid].pid == pid)
                        return &s->processes[mid];
                if (s->processes[mid].pid < pid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int dmabuf_state_render_cached(DmabufState *s, DmabufRenderKind kind, DmabufRenderFunc render, void *userdata,
                               const char **ret, size_t *ret_len) {
        int r = 0;

        if (kind < 0 || kind >= _DMABUF_RENDER_MAX)
                return -EINVAL;

        pthread_mutex_lock(&s->render_lock);
        if (!s->render[kind].data) {
                char *data = NULL;
                size_t len = 0;

                r = render(s, kind, &data, &len, userdata);
                if (r >= 0) {
                        s->render[kind].data = data;
                        s->render[kind].len = len;
                }
        }
        if (r >= 0) {
                *ret = s->render[kind].data;
                *ret_len = s->render[kind].len;
        }
        pthread_mutex_unlock(&s->render_lock);
        return r;
}

/* ---- builder ---- */

/* Which source wins when several describe the same field of a buffer. sysfs and
 * debugfs are the kernel's own lists; an fd link carries the exact name bytes,
 * while a maps path has newlines escaped; a maps line knows no size at all. */
enum {
        PRIO_NONE = 0,
        PRIO_MAP = 1,
        PRIO_FDINFO = 2,
        PRIO_DEBUGFS = 3,
        PRIO_SYSFS = 4,
        PRIO_BPF = 5,
        PRIO_FD_LINK = 6, /* names only */
};

/* The builder's arrays hold one item per buffer and per reference, tens of
 * thousands of each, alive next to the published state while a collection runs:
 * indices are 32 bits (grow() refuses more than that many items). */
typedef struct BBuffer {
        uint64_t inode, size, count;
        const char *exporter;
        const char *name;
        uint32_t n_holders;
        uint32_t last_proc; /* index of the last process that referenced it, +1 */
        uint32_t last_ref;
        uint8_t seen_by;
        uint8_t size_prio, count_prio, exporter_prio, name_prio;
        bool attachments_known;
        uint8_t attachments_src; /* source + 1 that owns the list, 0: none yet */
} BBuffer;

/* A process's references are contiguous (they arrive right after it was added),
 * so a reference need not name its process. */
typedef struct BRef {
        uint32_t buf;
        uint32_t fds, maps;
} BRef;

typedef struct BAttachment {
        uint32_t buf;
        const char *device;
        uint64_t map_counter;
} BAttachment;

typedef struct BProcess {
        pid_t pid;
        uint32_t unidentified_fds;
        uint32_t first_ref, n_refs; /* its references: refs[first_ref..+n_refs) */
        uint32_t first_drm, n_drm;  /* its DRM clients: drm[first_drm..+n_drm) */
        const char *comm, *cgroup;
} BProcess;

/* A DRM client while the process's fds are read; its regions are
 * drm_regions[first_region..+n_regions). */
typedef struct BDrmClient {
        const char *driver, *pdev;
        uint64_t client_id;
        uint32_t fds;
        uint32_t first_region, n_regions;
} BDrmClient;

struct DmabufBuilder {
        Arena arena;
        InternTable interned;
        const char *kernel;
        bool source_up[_DMABUF_SOURCE_MAX];
        bool lists_all[_DMABUF_SOURCE_MAX];
        DmabufScanStats stats;

        BBuffer *buffers;
        size_t n_buffers, cap_buffers;
        uint32_t *index; /* open addressing: inode -> buffer index + 1 */
        size_t n_index;

        BRef *refs;
        size_t n_refs, cap_refs;
        BAttachment *attachments;
        size_t n_attachments, cap_attachments;
        BProcess *processes;
        size_t n_processes, cap_processes;
        BDrmClient *drm;
        size_t n_drm, cap_drm;
        DmabufDrmRegion *drm_regions;
        size_t n_drm_regions, cap_drm_regions;
        pid_t only_pid;
        unsigned cgroup_depth;
};

static int grow(void **array, size_t *cap, size_t need, size_t elem) {
        size_t new_cap;
        void *p;

        if (need <= *cap)
                return 0;
        if (need >= UINT32_MAX)
                return -ENOMEM; /* indices are 32 bits */
        new_cap = MIN(MAX(need, *cap ? *cap * 2 : 64), (size_t) UINT32_MAX);
        if (new_cap > SIZE_MAX / elem)
                return -ENOMEM;
        p = realloc(*array, new_cap * elem);
        if (!p)
                return -ENOMEM;
        *array = p;
        *cap = new_cap;
        return 0;
}

DmabufBuilder *dmabuf_builder_new(void) {
        return calloc(1, sizeof(DmabufBuilder));
}

DmabufBuilder *dmabuf_builder_free(DmabufBuilder *b) {
        if (!b)
                return NULL;
        free(b->buffers);
        free(b->index);
        free(b->refs);
        free(b->attachments);
        free(b->processes);
        free(b->drm);
        free(b->drm_regions);
        free(b->interned.slots);
        arena_done(&b->arena);
        free(b);
        return NULL;
}

void dmabuf_builder_freep(DmabufBuilder **b) {
        dmabuf_builder_free(*b);
}

void dmabuf_builder_set_only_pid(DmabufBuilder *b, pid_t pid) {
        b->only_pid = pid;
}

void dmabuf_builder_set_cgroup_depth(DmabufBuilder *b, unsigned depth) {
        b->cgroup_depth = depth;
}

void dmabuf_builder_set_source_up(DmabufBuilder *b, DmabufSource src, bool up) {
        if (src >= 0 && src < _DMABUF_SOURCE_MAX)
                b->source_up[src] = up;
}

void dmabuf_builder_set_lists_all(DmabufBuilder *b, DmabufSource src, bool lists_all) {
        if (src >= 0 && src < _DMABUF_SOURCE_MAX)
                b->lists_all[src] = lists_all;
}

int dmabuf_builder_set_kernel(DmabufBuilder *b, const char *release) {
        b->kernel = release ? arena_strndup(&b->arena, release, strlen(release)) : NULL;
        return release && !b->kernel ? -ENOMEM : 0;
}

DmabufScanStats *dmabuf_builder_scan_stats(DmabufBuilder *b) {
        return &b->stats;
}

void dmabuf_builder_parse_error(DmabufBuilder *b, DmabufSource src, const char *path, const char *what) {
        if (src >= 0 && src < _DMABUF_SOURCE_MAX)
                b->stats.parse_errors[src]++;
        if (b->stats.first_error[0] == '\0')
                snprintf(b->stats.first_error, sizeof(b->stats.first_error), "%s: %s", path, what);
}

void dmabuf_builder_count(DmabufBuilder *b, DmabufScanCounter c) {
        if (c >= 0 && c < _DMABUF_SCAN_COUNTER_MAX)
                b->stats.counters[c]++;
}

static uint64_t hash_u64(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ULL;
        x ^= x >> 33;
        return x;
}

static int index_grow(DmabufBuilder *b) {
        size_t new_n = b->n_index ? b->n_index * 2 : 1024;
        uint32_t *idx = calloc(new_n, sizeof(uint32_t));

        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_buffers; i++) {
                size_t slot = hash_u64(b->buffers[i].inode) & (new_n - 1);
                while (idx[slot])
                        slot = (slot + 1) & (new_n - 1);
                idx[slot] = (uint32_t) (i + 1);
        }
        free(b->index);
        b->index = idx;
        b->n_index = new_n;
        return 0;
}

/* Dedup by inode is a hash lookup: the scan sees every buffer once per holder, and
 * a linear search (as dmabuf_dump does) is quadratic on a busy device. */
static int buffer_get(DmabufBuilder *b, uint64_t inode, size_t *ret) {
        size_t slot;
        BBuffer *nb;

        if ((b->n_buffers + 1) * 2 > b->n_index && index_grow(b) < 0)
                return -ENOMEM;
        slot = hash_u64(inode) & (b->n_index - 1);
        while (b->index[slot]) {
                if (b->buffers[b->index[slot] - 1].inode == inode) {
                        *ret = b->index[slot] - 1;
                        return 0;
                }
                slot = (slot + 1) & (b->n_index - 1);
        }
        if (grow((void **) &b->buffers, &b->cap_buffers, b->n_buffers + 1, sizeof(BBuffer)) < 0)
                return -ENOMEM;
        nb = &b->buffers[b->n_buffers];
        *nb = (BBuffer){
                .inode = inode,
                .size = DMABUF_UNKNOWN,
                .count = DMABUF_UNKNOWN,
        };
        b->index[slot] = (uint32_t) ++b->n_buffers;
        *ret = b->n_buffers - 1;
        return 0;
}

bool dmabuf_builder_has_size(const DmabufBuilder *b, uint64_t inode) {
        size_t slot;

        if (b->n_index == 0)
                return false;
        slot = hash_u64(inode) & (b->n_index - 1);
        while (b->index[slot]) {
                const BBuffer *buf = &b->buffers[b->index[slot] - 1];

                if (buf->inode == inode)
                        return buf->size != DMABUF_UNKNOWN;
                slot = (slot + 1) & (b->n_index - 1);
        }
        return false;
}

static int buffer_merge(DmabufBuilder *b, size_t idx, const DmabufBufferInfo *info, uint8_t prio,
                        uint8_t name_prio) {
        BBuffer *buf = &b->buffers[idx];

        if (info->size != DMABUF_UNKNOWN && prio > buf->size_prio) {
                buf->size = info->size;
                buf->size_prio = prio;
        }
        if (info->count != DMABUF_UNKNOWN && prio > buf->count_prio) {
                buf->count = info->count;
                buf->count_prio = prio;
        }
        if (info->exporter && prio > buf->exporter_prio) {
                buf->exporter = intern(&b->interned, &b->arena, info->exporter, strlen(info->exporter));
                if (!buf->exporter)
                        return -ENOMEM;
                buf->exporter_prio = prio;
        }
        if (info->has_name && name_prio > buf->name_prio) {
                if (info->name_len == 0)
                        buf->name = NULL;
                else if (buf->name && strlen(buf->name) == info->name_len &&
                         memcmp(buf->name, info->name, info->name_len) == 0)
                        ; /* the same bytes from a better source: keep the one copy */
                else {
                        buf->name = arena_strndup(&b->arena, info->name, info->name_len);
                        if (!buf->name)
                                return -ENOMEM;
                }
                buf->name_prio = name_prio;
        }
        return 0;
}

int dmabuf_builder_add_buffer(DmabufBuilder *b, DmabufSource src, const DmabufBufferInfo *info) {
        static const uint8_t prio[_DMABUF_SOURCE_MAX] = {
                [DMABUF_SOURCE_SYSFS] = PRIO_SYSFS,
                [DMABUF_SOURCE_DEBUGFS] = PRIO_DEBUGFS,
                [DMABUF_SOURCE_BPF] = PRIO_BPF,
                [DMABUF_SOURCE_PROCFS] = PRIO_FDINFO,
        };
        size_t idx;
        int r;

        if (src < 0 || src >= _DMABUF_SOURCE_MAX)
                return -EINVAL;
        r = buffer_get(b, info->inode, &idx);
        if (r < 0)
                return r;
        b->buffers[idx].seen_by |= 1u << src;
        return buffer_merge(b, idx, info, prio[src], prio[src]);
}

/* Returns 1 if src owns idx's attachment list (claiming it if free), else 0. */
static int claim_attachments(DmabufBuilder *b, DmabufSource src, size_t idx) {
        BBuffer *buf = &b->buffers[idx];

        if (buf->attachments_src == 0)
                buf->attachments_src = (uint8_t) (src + 1);
        buf->attachments_known = true;
        return buf->attachments_src == src + 1;
}

int dmabuf_builder_attachments_known(DmabufBuilder *b, DmabufSource src, uint64_t inode) {
        size_t idx;
        int r = buffer_get(b, inode, &idx);

        if (r < 0)
                return r;
        claim_attachments(b, src, idx);
        return 0;
}

int dmabuf_builder_add_attachment(DmabufBuilder *b, DmabufSource src, uint64_t inode, const char *device,
                                  uint64_t map_counter) {
        size_t idx;
        int r = buffer_get(b, inode, &idx);
        BAttachment *a;

        if (r < 0)
                return r;
        if (!claim_attachments(b, src, idx))
                return 0;
        if (grow((void **) &b->attachments, &b->cap_attachments, b->n_attachments + 1, sizeof(BAttachment)) < 0)
                return -ENOMEM;
        a = &b->attachments[b->n_attachments];
        a->buf = (uint32_t) idx;
        a->map_counter = map_counter;
        a->device = intern(&b->interned, &b->arena, device, strlen(device));
        if (!a->device)
                return -ENOMEM;
        b->n_attachments++;
        return 0;
}

int dmabuf_builder_add_process(DmabufBuilder *b, pid_t pid, const char *comm, const char *cgroup,
                               uint32_t unidentified_fds) {
        BProcess *p;

        if (grow((void **) &b->processes, &b->cap_processes, b->n_processes + 1, sizeof(BProcess)) < 0)
                return -ENOMEM;
        p = &b->processes[b->n_processes];
        *p = (BProcess){
                .pid = pid,
                .unidentified_fds = unidentified_fds,
                .first_ref = (uint32_t) b->n_refs,
                .first_drm = (uint32_t) b->n_drm,
        };
        if (comm && !(p->comm = arena_strndup(&b->arena, comm, strlen(comm))))
                return -ENOMEM;
        /* Processes of one service share a cgroup. */
        if (cgroup && !(p->cgroup = intern(&b->interned, &b->arena, cgroup, strlen(cgroup))))
                return -ENOMEM;
        b->n_processes++;
        return 0;
}

int dmabuf_builder_update_process(DmabufBuilder *b, pid_t pid, const char *comm, const char *cgroup,
                                  uint32_t unidentified_fds) {
        BProcess *p;

        if (b->n_processes == 0 || b->processes[b->n_processes - 1].pid != pid)
                return -ESRCH;
        p = &b->processes[b->n_processes - 1];
        p->unidentified_fds = unidentified_fds;
        if (comm && !(p->comm && streq(p->comm, comm)) && !(p->comm = arena_strndup(&b->arena, comm, strlen(comm))))
                return -ENOMEM;
        if (cgroup && !(p->cgroup = intern(&b->interned, &b->arena, cgroup, strlen(cgroup))))
                return -ENOMEM;
        return 0;
}

static uint32_t sat_add_u32(uint32_t a, uint32_t b) {
        return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static int add_ref(DmabufBuilder *b, pid_t pid, const DmabufBufferInfo *info, bool is_map, uint32_t n) {
        size_t idx;
        uint32_t proc;
        BBuffer *buf;
        int r;

        /* References arrive per process, right after that process was added. */
        if (b->n_processes == 0 || b->processes[b->n_processes - 1].pid != pid)
                return -ESRCH;
        proc = (uint32_t) (b->n_processes - 1);

        r = buffer_get(b, info->inode, &idx);
        if (r < 0)
                return r;
        r = buffer_merge(b, idx, info, is_map ? PRIO_MAP : PRIO_FDINFO, is_map ? PRIO_MAP : PRIO_FD_LINK);
        if (r < 0)
                return r;
        buf = &b->buffers[idx];
        buf->seen_by |= 1u << DMABUF_SOURCE_PROCFS;

        if (buf->last_proc != proc + 1) {
                if (grow((void **) &b->refs, &b->cap_refs, b->n_refs + 1, sizeof(BRef)) < 0)
                        return -ENOMEM;
                b->refs[b->n_refs] = (BRef){ .buf = (uint32_t) idx };
                buf->last_proc = proc + 1;
                buf->last_ref = (uint32_t) b->n_refs++;
                buf->n_holders++;
                b->processes[proc].n_refs++;
        }
        if (is_map)
                b->refs[buf->last_ref].maps = sat_add_u32(b->refs[buf->last_ref].maps, n);
        else
                b->refs[buf->last_ref].fds = sat_add_u32(b->refs[buf->last_ref].fds, n);
        return 0;
}

static int cmp_drm_region(const void *a, const void *b) {
        return strcmp(((const DmabufDrmRegion *) a)->name, ((const DmabufDrmRegion *) b)->name);
}

int dmabuf_builder_add_drm_client(DmabufBuilder *b, pid_t pid, const DmabufDrmClientInfo *info) {
        return dmabuf_builder_add_drm_holder(b, pid, info, 1);
}

int dmabuf_builder_add_drm_holder(DmabufBuilder *b, pid_t pid, const DmabufDrmClientInfo *info, uint32_t fds) {
        const char *driver, *pdev = NULL;
        BProcess *p;
        BDrmClient *c;

        if (fds == 0)
                return -EINVAL;
        if (b->n_processes == 0 || b->processes[b->n_processes - 1].pid != pid)
                return -ESRCH;
        p = &b->processes[b->n_processes - 1];
        /* A few drivers and devices per machine: interned, and compared as pointers. */
        driver = intern(&b->interned, &b->arena, info->driver, strlen(info->driver));
        if (!driver)
                return -ENOMEM;
        if (info->pdev && !(pdev = intern(&b->interned, &b->arena, info->pdev, strlen(info->pdev))))
                return -ENOMEM;

        /* Every fd of one drm_file prints the same client id: dup(), fork() and
         * SCM_RIGHTS share the client, and its memory once. Without an id there is
         * no telling, so each such fd stands alone. */
        if (info->client_id != DMABUF_UNKNOWN)
                for (size_t i = p->first_drm; i < (size_t) p->first_drm + p->n_drm; i++) {
                        c = &b->drm[i];
                        if (c->driver == driver && c->pdev == pdev && c->client_id == info->client_id) {
                                c->fds = sat_add_u32(c->fds, fds);
                                return 0;
                        }
                }

        if (grow((void **) &b->drm, &b->cap_drm, b->n_drm + 1, sizeof(BDrmClient)) < 0 ||
            grow((void **) &b->drm_regions, &b->cap_drm_regions, b->n_drm_regions + info->n_regions,
                 sizeof(DmabufDrmRegion)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < info->n_regions; i++) {
                DmabufDrmRegion *r = &b->drm_regions[b->n_drm_regions + i];

                *r = info->regions[i];
                r->name = intern(&b->interned, &b->arena, info->regions[i].name, strlen(info->regions[i].name));
                if (!r->name)
                        return -ENOMEM;
        }
        if (info->n_regions > 1)
                qsort(b->drm_regions + b->n_drm_regions, info->n_regions, sizeof(DmabufDrmRegion), cmp_drm_region);
        b->drm[b->n_drm++] = (BDrmClient){
                .driver = driver,
                .pdev = pdev,
                .client_id = info->client_id,
                .fds = fds,
                .first_region = (uint32_t) b->n_drm_regions,
                .n_regions = (uint32_t) info->n_regions,
        };
        b->n_drm_regions += info->n_regions;
        p->n_drm++;
        return 0;
}

int dmabuf_builder_add_fd_ref(DmabufBuilder *b, pid_t pid, const DmabufBufferInfo *info) {
        return add_ref(b, pid, info, false, 1);
}

int dmabuf_builder_add_map_ref(DmabufBuilder *b, pid_t pid, const DmabufBufferInfo *info) {
        return add_ref(b, pid, info, true, 1);
}

int dmabuf_builder_add_holder(DmabufBuilder *b, pid_t pid, uint64_t inode, uint32_t fds, uint32_t maps) {
        const DmabufBufferInfo info = { .inode = inode, .size = DMABUF_UNKNOWN, .count = DMABUF_UNKNOWN };
        int r = 0;

        if (fds == 0 && maps == 0)
                return -EINVAL;
        if (fds > 0)
                r = add_ref(b, pid, &info, false, fds);
        if (r >= 0 && maps > 0)
                r = add_ref(b, pid, &info, true, maps);
        return r;
}

static int cmp_buffer_index(const void *a, const void *b, void *userdata) {
        const BBuffer *buffers = userdata;
        uint64_t x = buffers[*(const uint32_t *) a].inode, y = buffers[*(const uint32_t *) b].inode;
        return x < y ? -1 : x > y;
}

static int cmp_process_index(const void *a, const void *b, void *userdata) {
        const BProcess *processes = userdata;
        pid_t x = processes[*(const uint32_t *) a].pid, y = processes[*(const uint32_t *) b].pid;
        return x < y ? -1 : x > y;
}

static int cmp_attachment(const void *a, const void *b) {
        const DmabufAttachment *x = a, *y = b;
        return strcmp(x->device, y->device);
}

static int cmp_exporter_index(const void *a, const void *b, void *userdata) {
        const DmabufExporter *exporters = userdata;
        return strcmp(exporters[*(const uint32_t *) a].name, exporters[*(const uint32_t *) b].name);
}

static uint64_t add_or_unknown(uint64_t sum, uint64_t v) {
        if (sum == DMABUF_UNKNOWN || v == DMABUF_UNKNOWN || v >= DMABUF_UNKNOWN - sum)
                return DMABUF_UNKNOWN;
        return sum + v;
}

/* Sorting permutation of n items: ret[new] = old. It sorts 4-byte indices, not
 * copies of the keys, which at finish would sit on top of the daemon's peak. */
static int sort_permutation(size_t n, int (*cmp)(const void *, const void *, void *), const void *items,
                            uint32_t **ret) {
        uint32_t *perm = malloc(MAX(n, (size_t) 1) * sizeof(uint32_t));

        if (!perm)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                perm[i] = (uint32_t) i;
        qsort_r(perm, n, sizeof(uint32_t), cmp, (void *) items);
        *ret = perm;
        return 0;
}

static void *mfree(void *p) {
        free(p);
        return NULL;
}

/* The buffers become the state's in place, so that the builder's array and the
 * state's are never alive at once: each element is rewritten front to back into
 * the smaller state's (element i, written, only covers elements i and before,
 * already read), the array shrinks, and is put in inode order by following the
 * cycles of perm (perm[new] = old), which it uses up. Exporters are numbered in
 * the order they are first met and listed, with no figures yet, in
 * *ret_exporters. */
static int buffers_to_state(DmabufBuilder *b, uint32_t *perm, DmabufBuffer **ret, DmabufExporter **ret_exporters,
                            size_t *ret_n_exporters) {
        size_t n = b->n_buffers, n_exp = 0, cap_exp = 0;
        _cleanup_free_ DmabufExporter *exporters = NULL;
        DmabufBuffer *out;

        _Static_assert(sizeof(DmabufBuffer) <= sizeof(BBuffer), "buffers are converted in place");
        out = (DmabufBuffer *) b->buffers;
        for (size_t i = 0; i < n; i++) {
                uint32_t e = DMABUF_NO_EXPORTER;
                BBuffer src;

                /* Copied out byte-wise: out[i] overlaps it, and the compiler may
                 * take the two types never to alias. */
                memcpy(&src, &b->buffers[i], sizeof(BBuffer));

                /* Exporters are few, so a linear probe over the interned pointers
                 * is cheaper than a table. */
                if (src.exporter) {
                        for (e = 0; e < n_exp; e++)
                                if (exporters[e].name == src.exporter)
                                        break;
                        if (e == n_exp) {
                                /* A failure leaves the builder's array half
                                 * rewritten, which is only good for freeing. */
                                if (grow((void **) &exporters, &cap_exp, n_exp + 1, sizeof(DmabufExporter)) < 0)
                                        return -ENOMEM;
                                exporters[n_exp++] = (DmabufExporter){ .name = src.exporter };
                        }
                }
                out[i] = (DmabufBuffer){
                        .inode = src.inode,
                        .size = src.size,
                        .count = src.count,
                        .name = src.name,
                        .exporter_index = e,
                        .seen_by = src.seen_by,
                        .attachments_known = src.attachments_known,
                };
        }
        if (n > 0) {
                DmabufBuffer *shrunk = realloc(out, n * sizeof(DmabufBuffer));
                if (shrunk)
                        out = shrunk;
        }
        b->buffers = NULL;
        b->n_buffers = b->cap_buffers = 0;

        for (size_t k = 0; k < n; k++) {
                DmabufBuffer first;
                size_t j = k;

                if (perm[k] == UINT32_MAX)
                        continue; /* moved with an earlier cycle */
                first = out[k];
                for (;;) {
                        size_t next = perm[j];

                        perm[j] = UINT32_MAX;
                        if (next == k) {
                                out[j] = first;
                                break;
                        }
                        out[j] = out[next];
                        j = next;
                }
        }
        if (!out) {
                /* No buffers: the state still has an array, as calloc would give. */
                out = malloc(sizeof(DmabufBuffer));
                if (!out)
                        return -ENOMEM;
        }
        *ret = out;
        *ret_exporters = TAKE_PTR(exporters);
        *ret_n_exporters = n_exp;
        return 0;
}

/* The references become the holders in place, as the buffers do: each is
 * rewritten as a holder (same size), then moved to its slot, found by
 * bucketing by buffer while visiting processes in pid order so that each
 * buffer's holders come out sorted by pid. Fills hstart (buffer i's holders are
 * hstart[i]..hstart[i + 1]), pstart (the same for processes, in pid order) and
 * each process's fd and mapping counts. */
static int refs_to_holders(DmabufBuilder *b, const uint32_t *pperm, size_t np, const uint32_t *bpos, size_t nb,
                           uint32_t *hstart, uint32_t *pstart, uint64_t *proc_fds, uint64_t *proc_maps,
                           DmabufHolder **ret) {
        size_t n = b->n_refs;
        _cleanup_free_ uint32_t *dest = malloc(MAX(n, (size_t) 1) * sizeof(uint32_t));
        DmabufHolder *holders, *shrunk;

        _Static_assert(sizeof(DmabufHolder) == sizeof(BRef), "references become holders in place");
        if (!dest)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                hstart[bpos[b->refs[i].buf] + 1]++;
        for (size_t i = 0; i < nb; i++)
                hstart[i + 1] += hstart[i];

        /* hstart[i] moves on to where buffer i's holders end while they are
         * placed, and back afterwards. */
        for (size_t pi = 0; pi < np; pi++) {
                const BProcess *p = &b->processes[pperm[pi]];

                pstart[pi + 1] = pstart[pi] + p->n_refs;
                for (size_t k = p->first_ref; k < (size_t) p->first_ref + p->n_refs; k++) {
                        BRef ref = b->refs[k];

                        dest[k] = hstart[bpos[ref.buf]]++;
                        ((DmabufHolder *) b->refs)[k] = (DmabufHolder){
                                .pid = p->pid,
                                .fds = ref.fds,
                                .maps = ref.maps,
                        };
                        proc_fds[pi] += ref.fds;
                        proc_maps[pi] += ref.maps;
                }
        }
        for (size_t i = nb; i > 0; i--)
                hstart[i] = hstart[i - 1];
        hstart[0] = 0;

        holders = (DmabufHolder *) b->refs;
        for (size_t k = 0; k < n; k++)
                while (dest[k] != k) {
                        uint32_t d = dest[k];
                        DmabufHolder h = holders[d];

                        holders[d] = holders[k];
                        holders[k] = h;
                        dest[k] = dest[d];
                        dest[d] = d;
                }
        /* The capacity beyond n goes back; should that fail, the larger block
         * serves as well. No reference at all gets one byte's worth, so that the
         * state's pointer is never NULL. */
        if (!holders)
                holders = malloc(sizeof(DmabufHolder));
        else if (n < b->cap_refs && n > 0) {
                shrunk = realloc(holders, n * sizeof(DmabufHolder));
                if (shrunk)
                        holders = shrunk;
        }
        if (!holders)
                return -ENOMEM;
        b->refs = NULL;
        b->n_refs = b->cap_refs = 0;
        *ret = holders;
        return 0;
}

/* The builder's arrays are dropped as soon as finish no longer needs them: the
 * published state, the builder and the state being made are alive at once, and
 * that is the daemon's peak. */
static void builder_drop_buffers(DmabufBuilder *b) {
        b->buffers = mfree(b->buffers);
        b->n_buffers = b->cap_buffers = 0;
        b->index = mfree(b->index);
        b->n_index = 0;
        b->attachments = mfree(b->attachments);
        b->n_attachments = b->cap_attachments = 0;
}

/* The entry of pid with room left for one more of its buffers (entry i has room
 * for pstart[i + 1] - pstart[i]). The sources give each pid once; were one added
 * twice, its entries would share its buffers rather than overflow each other. */
static DmabufProcess *process_with_room(DmabufState *s, const uint32_t *pstart, pid_t pid) {
        const DmabufProcess *found = dmabuf_state_find_process(s, pid);
        size_t i;

        if (!found)
                return NULL;
        i = (size_t) (found - s->processes);
        while (i > 0 && s->processes[i - 1].pid == pid)
                i--;
        for (; i < s->n_processes && s->processes[i].pid == pid; i++)
                if (s->processes[i].n_buffers < pstart[i + 1] - pstart[i])
                        return &s->processes[i];
        return NULL;
}

static int cmp_drm_client(const void *a, const void *b) {
        const DmabufDrmClient *x = a, *y = b;
        int c = strcmp(x->driver, y->driver);

        if (c != 0)
                return c;
        if (x->pdev != y->pdev)
                return !x->pdev ? -1 : !y->pdev ? 1 : strcmp(x->pdev, y->pdev);
        if (x->client_id != y->client_id)
                return x->client_id < y->client_id ? -1 : 1;
        /* Clients without an id tie: kept in the order they were added (their
         * regions' order), as qsort need not be stable, so that a stored state
         * read back in its order comes out the same. */
        return x->regions < y->regions ? -1 : x->regions > y->regions;
}

/* The DRM clients become the state's: one array, each process's clients a slice
 * of it (in the order the processes were added), their regions the builder's. */
static int drm_to_state(DmabufBuilder *b, DmabufState *s) {
        s->drm_clients = malloc(MAX(b->n_drm, (size_t) 1) * sizeof(DmabufDrmClient));
        if (!s->drm_clients)
                return -ENOMEM;
        s->drm_regions = TAKE_PTR(b->drm_regions);
        for (size_t i = 0; i < b->n_drm; i++) {
                const BDrmClient *c = &b->drm[i];

                s->drm_clients[i] = (DmabufDrmClient){
                        .driver = c->driver,
                        .pdev = c->pdev,
                        .client_id = c->client_id,
                        .fds = c->fds,
                        .n_regions = c->n_regions,
                        .regions = s->drm_regions ? s->drm_regions + c->first_region : NULL,
                };
        }
        b->drm = mfree(b->drm);
        return 0;
}

/* The first depth components of a cgroup path ("/a/b/c" at 2 is "/a/b"); all of
 * it at depth 0. */
static size_t cgroup_rollup_len(const char *path, unsigned depth) {
        size_t len = strlen(path);
        unsigned seen = 0;

        if (depth == 0)
                return len;
        for (size_t i = 1; i < len; i++)
                if (path[i] == '/' && ++seen == depth)
                        return i;
        return len;
}

static bool has_suffix(const char *s, size_t len, const char *suffix) {
        size_t n = strlen(suffix);
        return len > n && memcmp(s + len - n, suffix, n) == 0;
}

/* The systemd unit a cgroup belongs to: its last ".service" or ".scope"
 * component, as in /user.slice/user-1000.slice/user@1000.service/app.slice/x.scope. */
static bool cgroup_unit(const char *path, size_t len, const char **ret, size_t *ret_len) {
        size_t end = len;

        while (end > 0) {
                size_t start = end;

                while (start > 0 && path[start - 1] != '/')
                        start--;
                if (has_suffix(path + start, end - start, ".service") ||
                    has_suffix(path + start, end - start, ".scope")) {
                        *ret = path + start;
                        *ret_len = end - start;
                        return true;
                }
                if (start == 0)
                        break;
                end = start - 1;
        }
        return false;
}

typedef struct CgroupKey {
        const char *path; /* interned: equal paths are equal pointers */
        uint32_t process;
} CgroupKey;

static int cmp_cgroup_key(const void *a, const void *b) {
        const CgroupKey *x = a, *y = b;

        if (x->path == y->path)
                return x->process < y->process ? -1 : x->process > y->process;
        return !x->path ? 1 : !y->path ? -1 : strcmp(x->path, y->path);
}

/* Groups the state's processes by their cgroup rolled up to the builder's depth:
 * fills s->cgroups (unsorted, figures 0) and ret_group[i], process i's cgroup. */
static int cgroups_group(DmabufBuilder *b, DmabufState *s, uint32_t *ret_group) {
        size_t np = s->n_processes, n = 0;
        _cleanup_free_ CgroupKey *keys = malloc(MAX(np, (size_t) 1) * sizeof(CgroupKey));

        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; i < np; i++) {
                const char *path = s->processes[i].cgroup;

                if (path && b->cgroup_depth > 0) {
                        path = intern(&b->interned, &b->arena, path, cgroup_rollup_len(path, b->cgroup_depth));
                        if (!path)
                                return -ENOMEM;
                }
                keys[i] = (CgroupKey){ .path = path, .process = (uint32_t) i };
        }
        qsort(keys, np, sizeof(CgroupKey), cmp_cgroup_key);

        s->cgroups = calloc(MAX(np, (size_t) 1), sizeof(DmabufCgroup));
        if (!s->cgroups)
                return -ENOMEM;
        for (size_t i = 0; i < np; i++) {
                DmabufCgroup *g;

                if (n == 0 || s->cgroups[n - 1].path != keys[i].path) {
                        const char *unit;
                        size_t unit_len;

                        g = &s->cgroups[n++];
                        g->path = keys[i].path;
                        if (g->path && cgroup_unit(g->path, strlen(g->path), &unit, &unit_len) &&
                            !(g->unit = intern(&b->interned, &b->arena, unit, unit_len)))
                                return -ENOMEM;
                }
                g = &s->cgroups[n - 1];
                g->processes++;
                ret_group[keys[i].process] = (uint32_t) (n - 1);
        }
        s->n_cgroups = n;
        /* A few services hold most processes: the room for one cgroup per
         * process goes back (should that fail, the larger block serves). */
        if (n > 0 && n < np) {
                DmabufCgroup *shrunk = realloc(s->cgroups, n * sizeof(DmabufCgroup));
                if (shrunk)
                        s->cgroups = shrunk;
        }
        return 0;
}

static int cmp_cgroup(const void *a, const void *b) {
        const DmabufCgroup *x = a, *y = b;

        /* Unknown pss cannot be ranked: last, as in the process metrics. */
        if (x->pss_bytes != y->pss_bytes) {
                if (x->pss_bytes == DMABUF_UNKNOWN)
                        return 1;
                if (y->pss_bytes == DMABUF_UNKNOWN)
                        return -1;
                return x->pss_bytes > y->pss_bytes ? -1 : 1;
        }
        if (x->path == y->path)
                return 0;
        return !x->path ? 1 : !y->path ? -1 : strcmp(x->path, y->path);
}

int dmabuf_builder_finish(DmabufBuilder *b, uint64_t collected_at_usec, double duration_sec,
                          DmabufState **ret) {
        _cleanup_free_ uint32_t *bperm = NULL, *pperm = NULL, *bpos = NULL, *hstart = NULL, *pstart = NULL,
                                *astart = NULL, *eperm = NULL, *erank = NULL;
        _cleanup_free_ DmabufExporter *sorted_exporters = NULL;
        _cleanup_free_ uint64_t *proc_fds = NULL, *proc_maps = NULL;
        _cleanup_free_ uint32_t *proc_cgroup = NULL, *cgroup_last_buffer = NULL;
        DmabufState *s = NULL;
        size_t nb = b->n_buffers, np = 0, n_exp = 0, n_refs = b->n_refs;
        bool global_up;
        int r = -ENOMEM;

        s = calloc(1, sizeof(DmabufState));
        if (!s)
                return -ENOMEM;
        s->refcount = 1;
        pthread_mutex_init(&s->render_lock, NULL);
        s->collected_at_usec = collected_at_usec;
        s->duration_sec = duration_sec;
        memcpy(s->source_up, b->source_up, sizeof(s->source_up));
        s->stats = b->stats;
        s->counters.collections = 1;
        memcpy(s->counters.scan, b->stats.counters, sizeof(s->counters.scan));
        memcpy(s->counters.parse_errors, b->stats.parse_errors, sizeof(s->counters.parse_errors));

        /* Lookups by inode are over. */
        b->index = mfree(b->index);
        b->n_index = 0;

        /* Only processes that reference something are worth listing. */
        for (size_t i = 0; i < b->n_processes; i++) {
                const BProcess *p = &b->processes[i];

                if (p->n_refs > 0 || p->unidentified_fds > 0 || p->n_drm > 0)
                        b->processes[np++] = *p;
        }
        b->n_processes = np;

        if (sort_permutation(nb, cmp_buffer_index, b->buffers, &bperm) < 0 ||
            sort_permutation(np, cmp_process_index, b->processes, &pperm) < 0)
                goto fail;
        bpos = malloc(MAX(nb, (size_t) 1) * sizeof(uint32_t));
        if (!bpos)
                goto fail;
        for (size_t i = 0; i < nb; i++)
                bpos[bperm[i]] = (uint32_t) i;

        hstart = calloc(nb + 1, sizeof(uint32_t));
        pstart = calloc(np + 1, sizeof(uint32_t));
        proc_fds = calloc(np + 1, sizeof(uint64_t));
        proc_maps = calloc(np + 1, sizeof(uint64_t));
        if (!hstart || !pstart || !proc_fds || !proc_maps)
                goto fail;
        if (refs_to_holders(b, pperm, np, bpos, nb, hstart, pstart, proc_fds, proc_maps, &s->holders) < 0)
                goto fail;

        if (buffers_to_state(b, bperm, &s->buffers, &s->exporters, &n_exp) < 0)
                goto fail;
        bperm = mfree(bperm);

        /* Attachments, grouped by buffer and sorted by device within it. */
        s->attachments = calloc(MAX(b->n_attachments, (size_t) 1), sizeof(DmabufAttachment));
        astart = calloc(nb + 1, sizeof(uint32_t));
        if (!s->attachments || !astart)
                goto fail;
        for (size_t i = 0; i < b->n_attachments; i++)
                astart[bpos[b->attachments[i].buf] + 1]++;
        for (size_t i = 0; i < nb; i++)
                astart[i + 1] += astart[i];
        for (size_t i = 0; i < b->n_attachments; i++) {
                const BAttachment *a = &b->attachments[i];
                size_t bi = bpos[a->buf];

                s->attachments[astart[bi] + s->buffers[bi].n_attachments++] =
                        (DmabufAttachment){ .device = a->device, .map_counter = a->map_counter };
        }
        for (size_t i = 0; i < nb; i++) {
                s->buffers[i].first_attachment = astart[i];
                qsort(s->attachments + astart[i], s->buffers[i].n_attachments, sizeof(DmabufAttachment),
                      cmp_attachment);
        }
        astart = mfree(astart);
        bpos = mfree(bpos);

        /* The exporters in name order, and each buffer's index renumbered to it. */
        if (sort_permutation(n_exp, cmp_exporter_index, s->exporters, &eperm) < 0)
                goto fail;
        erank = malloc(MAX(n_exp, (size_t) 1) * sizeof(uint32_t));
        sorted_exporters = malloc(MAX(n_exp, (size_t) 1) * sizeof(DmabufExporter));
        if (!erank || !sorted_exporters)
                goto fail;
        for (size_t i = 0; i < n_exp; i++) {
                erank[eperm[i]] = (uint32_t) i;
                sorted_exporters[i] = s->exporters[eperm[i]];
        }
        free(s->exporters);
        s->exporters = TAKE_PTR(sorted_exporters);
        s->n_exporters = n_exp;

        /* Whether a source listed every buffer, not whether it is up: a source that
         * gives only holders would make these sums look like totals. */
        global_up = false;
        for (size_t i = 0; i < _DMABUF_SOURCE_MAX; i++)
                global_up = global_up || b->lists_all[i];
        s->totals = (DmabufTotals){
                .buffers = global_up ? nb : DMABUF_UNKNOWN,
                .bytes = global_up ? 0 : DMABUF_UNKNOWN,
                .userspace_bytes = 0,
        };
        for (size_t e = 0; e < n_exp; e++) {
                s->exporters[e].buffers = global_up ? 0 : DMABUF_UNKNOWN;
                s->exporters[e].bytes = global_up ? 0 : DMABUF_UNKNOWN;
        }

        for (size_t i = 0; i < nb; i++) {
                DmabufBuffer *dst = &s->buffers[i];

                dst->first_holder = hstart[i];
                dst->n_holders = hstart[i + 1] - hstart[i];

                if (global_up)
                        s->totals.bytes = add_or_unknown(s->totals.bytes, dst->size);
                if (dst->n_holders > 0)
                        s->totals.userspace_bytes = add_or_unknown(s->totals.userspace_bytes, dst->size);

                if (dst->exporter_index != DMABUF_NO_EXPORTER) {
                        DmabufExporter *e;

                        dst->exporter_index = erank[dst->exporter_index];
                        e = &s->exporters[dst->exporter_index];
                        if (global_up) {
                                e->buffers++;
                                e->bytes = add_or_unknown(e->bytes, dst->size);
                        }
                }
        }
        builder_drop_buffers(b);
        hstart = mfree(hstart);
        s->totals.kernel_only_bytes =
                s->totals.bytes == DMABUF_UNKNOWN || s->totals.userspace_bytes == DMABUF_UNKNOWN
                        ? DMABUF_UNKNOWN
                        : s->totals.bytes - s->totals.userspace_bytes;
        s->n_buffers = nb;

        s->processes = calloc(MAX(np, (size_t) 1), sizeof(DmabufProcess));
        if (!s->processes || drm_to_state(b, s) < 0)
                goto fail;
        for (size_t i = 0; i < np; i++) {
                const BProcess *src = &b->processes[pperm[i]];

                s->processes[i] = (DmabufProcess){
                        .pid = src->pid,
                        .comm = src->comm,
                        .cgroup = src->cgroup,
                        .unidentified_fds = src->unidentified_fds,
                        .fds = (uint32_t) MIN(proc_fds[i], (uint64_t) UINT32_MAX),
                        .maps = (uint32_t) MIN(proc_maps[i], (uint64_t) UINT32_MAX),
                        .buffer_index = NULL,
                        .n_buffers = 0,
                        .n_drm_clients = src->n_drm,
                        .drm_clients = s->drm_clients + src->first_drm,
                };
                if (src->n_drm > 1)
                        qsort((void *) s->processes[i].drm_clients, src->n_drm, sizeof(DmabufDrmClient),
                              cmp_drm_client);
        }
        s->n_processes = np;

        proc_cgroup = malloc(MAX(np, (size_t) 1) * sizeof(uint32_t));
        if (!proc_cgroup || cgroups_group(b, s, proc_cgroup) < 0)
                goto fail;
        /* Which buffer each cgroup's rss counted last: a buffer's holders are
         * visited together, so a buffer two of its processes hold counts once. */
        cgroup_last_buffer = calloc(MAX(s->n_cgroups, (size_t) 1), sizeof(uint32_t));
        if (!cgroup_last_buffer)
                goto fail;

        /* Each process's buffers, made from the holders now that the references
         * are gone: visiting buffers in inode order lists each process's sorted. */
        s->process_buffers = calloc(MAX(n_refs, (size_t) 1), sizeof(uint32_t));
        if (!s->process_buffers)
                goto fail;
        for (size_t i = 0; i < np; i++)
                s->processes[i].buffer_index = s->process_buffers + pstart[i];
        for (size_t i = 0; i < nb; i++) {
                const DmabufBuffer *buf = &s->buffers[i];

                for (size_t h = 0; h < buf->n_holders; h++) {
                        DmabufProcess *p = process_with_room(s, pstart, s->holders[buf->first_holder + h].pid);

                        DmabufCgroup *g;

                        if (!p)
                                continue; /* cannot happen: each holder came from one reference */
                        ((uint32_t *) p->buffer_index)[p->n_buffers++] = (uint32_t) i;
                        g = &s->cgroups[proc_cgroup[p - s->processes]];
                        if (cgroup_last_buffer[g - s->cgroups] != i + 1) {
                                cgroup_last_buffer[g - s->cgroups] = (uint32_t) (i + 1);
                                g->rss_bytes = add_or_unknown(g->rss_bytes, buf->size);
                        }
                        p->rss_bytes = add_or_unknown(p->rss_bytes, buf->size);
                        /* pss as dmabuf_dump computes it: each holder gets an equal,
                         * rounded-down share. */
                        p->pss_bytes = add_or_unknown(
                                p->pss_bytes, buf->size == DMABUF_UNKNOWN ? DMABUF_UNKNOWN : buf->size / buf->n_holders);
                }
        }
        /* A cgroup's pss is its processes' own, rounded-down shares included, so
         * that the cgroups sum to the userspace pss `dump` shows. */
        for (size_t i = 0; i < np; i++) {
                DmabufCgroup *g = &s->cgroups[proc_cgroup[i]];
                g->pss_bytes = add_or_unknown(g->pss_bytes, s->processes[i].pss_bytes);
        }
        qsort(s->cgroups, s->n_cgroups, sizeof(DmabufCgroup), cmp_cgroup);

        if (b->only_pid > 0) {
                size_t kept = 0;
                for (size_t i = 0; i < np; i++)
                        if (s->processes[i].pid == b->only_pid)
                                s->processes[kept++] = s->processes[i];
                s->n_processes = kept;
        }

        /* The strings now belong to the state. */
        s->arena = b->arena;
        b->arena = (Arena){ 0 };
        s->kernel = b->kernel;
        free(b->interned.slots);
        b->interned = (InternTable){ 0 };

        *ret = s;
        return 0;
fail:
        state_free(s);
        return r;
}
