/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the accounting model: a builder that the sources feed with
 * what they saw, and the immutable, reference-counted DmabufState that one
 * collection produces. Everything here is pure logic: no file is read and nothing
 * is printed, so tests drive it with literal values. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A figure no source could give. Exposition turns it into JSON null or leaves the
 * sample out; it is never shown as 0. */
#define DMABUF_UNKNOWN UINT64_MAX

typedef enum DmabufSource {
        DMABUF_SOURCE_SYSFS,
        DMABUF_SOURCE_PROCFS,
        DMABUF_SOURCE_DEBUGFS,
        DMABUF_SOURCE_BPF,
        _DMABUF_SOURCE_MAX,
} DmabufSource;

const char *dmabuf_source_to_string(DmabufSource s);

typedef struct DmabufHolder {
        pid_t pid;
        uint32_t fds;  /* open fds on the buffer */
        uint32_t maps; /* mappings (VMAs) of the buffer */
} DmabufHolder;

typedef struct DmabufAttachment {
        const char *device;
        uint64_t map_counter; /* DMABUF_UNKNOWN unless sysfs attachment stats exist */
} DmabufAttachment;

/* An exporter index of a buffer no source named the exporter of. */
#define DMABUF_NO_EXPORTER UINT32_MAX

/* A state holds one of these per buffer, tens of thousands, so its holders,
 * attachments and exporter are 32-bit indices into the state's arrays rather than
 * pointers: read them through the dmabuf_state_buffer_*() accessors below. */
typedef struct DmabufBuffer {
        uint64_t inode;
        uint64_t size;     /* bytes, or DMABUF_UNKNOWN */
        uint64_t count;    /* file refcount from bufinfo or fdinfo, or DMABUF_UNKNOWN */
        const char *name;  /* NULL: unnamed, or no source could tell */
        /* No buffer has 4 billion holders or attachments, nor does a state. */
        uint32_t first_holder; /* of the state's holders, sorted by pid */
        uint32_t n_holders;
        uint32_t first_attachment; /* of the state's attachments, sorted by device */
        uint32_t n_attachments;
        uint32_t exporter_index; /* into dmabuf_state_exporters(), or DMABUF_NO_EXPORTER */
        uint8_t seen_by;       /* bitmask of 1u << DmabufSource */
        bool attachments_known;
} DmabufBuffer;

/* With pointers for those three it was 72 bytes: on a tree of 21,000 buffers the
 * 16 saved are 336 KB of steady RSS, twice that while a collection holds two
 * states. Growing it back should be a choice, not an accident. */
_Static_assert(sizeof(DmabufBuffer) <= 56, "DmabufBuffer grew past 56 bytes");

/* The kinds of memory drm-usage-stats.rst defines per region. */
typedef enum DmabufDrmKind {
        DMABUF_DRM_TOTAL,
        DMABUF_DRM_SHARED,
        DMABUF_DRM_RESIDENT,
        DMABUF_DRM_PURGEABLE,
        DMABUF_DRM_ACTIVE,
        _DMABUF_DRM_KIND_MAX,
} DmabufDrmKind;

const char *dmabuf_drm_kind_to_string(DmabufDrmKind k);

typedef struct DmabufDrmRegion {
        const char *name;                     /* as the driver names it: "vram", "system0" */
        uint64_t bytes[_DMABUF_DRM_KIND_MAX]; /* DMABUF_UNKNOWN: the driver did not print it */
} DmabufDrmRegion;

/* One DRM client (a struct drm_file) a process holds through one or more fds. */
typedef struct DmabufDrmClient {
        const char *driver;
        const char *pdev;   /* NULL: not printed */
        uint64_t client_id; /* DMABUF_UNKNOWN: not printed, so never merged with another fd's */
        uint32_t fds;
        uint32_t n_regions;
        const DmabufDrmRegion *regions; /* sorted by name */
} DmabufDrmClient;

typedef struct DmabufProcess {
        pid_t pid;
        const char *comm;   /* NULL: unreadable */
        const char *cgroup; /* cgroup v2 path, NULL: none or unreadable */
        uint64_t rss_bytes; /* DMABUF_UNKNOWN if a held buffer's size is unknown */
        uint64_t pss_bytes;
        uint32_t fds;       /* dma-buf fds */
        uint32_t maps;      /* dma-buf mappings */
        uint32_t unidentified_fds; /* anon_inode:dmabuf fds (kernels before 5.3) */
        uint32_t n_drm_clients;
        size_t n_buffers;
        /* Indices into dmabuf_state_buffers(), ascending, so in inode order: half
         * the size of the inodes, in a state that lists tens of thousands. */
        const uint32_t *buffer_index;
        /* DRM clients with memory stats in their fdinfo, sorted by driver, pdev and
         * client id. These figures are the driver's, beside the dma-buf ones: a GEM
         * object exported as a dma-buf is in both, so they are never added up. */
        const DmabufDrmClient *drm_clients;
} DmabufProcess;

/* The processes of one cgroup, rolled up to the configured depth. pss is the sum
 * of its processes' pss, so that the cgroups add up to the userspace pss; rss
 * counts each distinct buffer its processes hold once. */
typedef struct DmabufCgroup {
        const char *path; /* NULL: the processes whose cgroup is unknown (v1 only, unreadable) */
        const char *unit; /* the last ".service" or ".scope" component of path, NULL: none */
        uint32_t processes;
        uint64_t rss_bytes; /* DMABUF_UNKNOWN if a held buffer's size is unknown */
        uint64_t pss_bytes;
} DmabufCgroup;

/* Per-exporter figures are only totals when some source listed every buffer.
 * Without one they would sum only what processes hold and look like totals, so
 * both are DMABUF_UNKNOWN then; the exporter is still listed by name. */
typedef struct DmabufExporter {
        const char *name;
        uint64_t buffers; /* DMABUF_UNKNOWN if no source listed every buffer */
        uint64_t bytes;   /* DMABUF_UNKNOWN if so, or if a buffer's size is unknown */
} DmabufExporter;

typedef struct DmabufTotals {
        uint64_t buffers;           /* every buffer, if a source listed them all; else unknown */
        uint64_t bytes;
        uint64_t userspace_bytes;   /* distinct buffers any process references */
        uint64_t kernel_only_bytes; /* bytes - userspace_bytes */
} DmabufTotals;

typedef enum DmabufScanCounter {
        DMABUF_SCAN_PIDS_VANISHED,  /* a process exited between listing and reading */
        DMABUF_SCAN_FDS_VANISHED,   /* an fd closed between listing and reading */
        DMABUF_SCAN_BUFFERS_VANISHED, /* a sysfs buffer freed while being read */
        DMABUF_SCAN_UNREADABLE,     /* permission denied on a process's files */
        DMABUF_SCAN_MAP_FILES_DENIED, /* a map-only buffer left unsized: map_files needs
                                       * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN */
        _DMABUF_SCAN_COUNTER_MAX,
} DmabufScanCounter;

const char *dmabuf_scan_counter_to_string(DmabufScanCounter c);

typedef struct DmabufScanStats {
        uint64_t counters[_DMABUF_SCAN_COUNTER_MAX];
        uint64_t parse_errors[_DMABUF_SOURCE_MAX]; /* malformed files or lines */
        char first_error[512]; /* names the file and what was wrong; "" if none */
} DmabufScanStats;

/* Daemon-lifetime counters, summed over every collection so far. */
typedef struct DmabufCounters {
        uint64_t collections;
        uint64_t scan[_DMABUF_SCAN_COUNTER_MAX];
        uint64_t parse_errors[_DMABUF_SOURCE_MAX];
} DmabufCounters;

typedef struct DmabufState DmabufState;

/* Accessors. The state is immutable once built: any thread holding a reference may
 * read it without locks. Arrays are sorted: buffers by inode, processes by pid,
 * exporters by name. */
DmabufState *dmabuf_state_ref(DmabufState *s);
DmabufState *dmabuf_state_unref(DmabufState *s);
void dmabuf_state_unrefp(DmabufState **s);
#define _cleanup_state_ __attribute__((cleanup(dmabuf_state_unrefp)))

uint64_t dmabuf_state_collected_at_usec(const DmabufState *s); /* CLOCK_REALTIME */
double dmabuf_state_duration_sec(const DmabufState *s);
const char *dmabuf_state_kernel(const DmabufState *s); /* NULL: unknown */
bool dmabuf_state_source_up(const DmabufState *s, DmabufSource src);
const DmabufTotals *dmabuf_state_totals(const DmabufState *s);
const DmabufScanStats *dmabuf_state_scan_stats(const DmabufState *s);
/* Counters default to this collection's own (collections = 1). The daemon sets the
 * running sums before it publishes the state, which is the last time it changes. */
const DmabufCounters *dmabuf_state_counters(const DmabufState *s);
void dmabuf_state_set_counters(DmabufState *s, const DmabufCounters *c);
size_t dmabuf_state_n_buffers(const DmabufState *s);
const DmabufBuffer *dmabuf_state_buffers(const DmabufState *s);
size_t dmabuf_state_n_processes(const DmabufState *s);
const DmabufProcess *dmabuf_state_processes(const DmabufState *s);
size_t dmabuf_state_n_exporters(const DmabufState *s);
const DmabufExporter *dmabuf_state_exporters(const DmabufState *s);
/* Sorted by pss, largest first (unknown last), then by path. */
size_t dmabuf_state_n_cgroups(const DmabufState *s);
const DmabufCgroup *dmabuf_state_cgroups(const DmabufState *s);
const DmabufBuffer *dmabuf_state_find_buffer(const DmabufState *s, uint64_t inode);
/* A buffer's parts, b being one of s's buffers: n_holders holders, n_attachments
 * attachments, and the exporter's name (NULL: unknown). */
const DmabufHolder *dmabuf_state_buffer_holders(const DmabufState *s, const DmabufBuffer *b);
const DmabufAttachment *dmabuf_state_buffer_attachments(const DmabufState *s, const DmabufBuffer *b);
const char *dmabuf_state_buffer_exporter(const DmabufState *s, const DmabufBuffer *b);
const DmabufProcess *dmabuf_state_find_process(const DmabufState *s, pid_t pid);

/* Per-state cache of rendered metrics. A state never changes, so what was rendered
 * from it once can be served again; the first reader renders, later ones reuse it.
 * (The JSON is streamed instead: it is a thousand times larger and read rarely.)
 * Returns 0 and a borrowed pointer valid while the caller holds its reference. */
typedef enum DmabufRenderKind {
        DMABUF_RENDER_PROM_TEXT,
        DMABUF_RENDER_PROM_OPENMETRICS,
        _DMABUF_RENDER_MAX,
} DmabufRenderKind;
typedef int (*DmabufRenderFunc)(const DmabufState *s, DmabufRenderKind kind, char **ret, size_t *ret_len,
                                void *userdata);
int dmabuf_state_render_cached(DmabufState *s, DmabufRenderKind kind, DmabufRenderFunc render, void *userdata,
                               const char **ret, size_t *ret_len);

/* ---- Builder ---- */

typedef struct DmabufBuilder DmabufBuilder;

DmabufBuilder *dmabuf_builder_new(void);
DmabufBuilder *dmabuf_builder_free(DmabufBuilder *b);
void dmabuf_builder_freep(DmabufBuilder **b);

void dmabuf_builder_set_source_up(DmabufBuilder *b, DmabufSource src, bool up);
/* Marks that src listed every buffer in the system in this collection (sysfs or
 * debugfs whose scan succeeded, BPF's iter/dmabuf, Android's pinned iterator).
 * Being up is not enough: BPF can be up on 6.1 while giving only holders. Totals,
 * kernel-only bytes and per-exporter figures are known only if some source did. */
void dmabuf_builder_set_lists_all(DmabufBuilder *b, DmabufSource src, bool lists_all);
int dmabuf_builder_set_kernel(DmabufBuilder *b, const char *release);
DmabufScanStats *dmabuf_builder_scan_stats(DmabufBuilder *b);
/* Counts a malformed file or line against src and remembers the first one seen. */
void dmabuf_builder_parse_error(DmabufBuilder *b, DmabufSource src, const char *path, const char *what);
void dmabuf_builder_count(DmabufBuilder *b, DmabufScanCounter c);

/* What one source knows of one buffer. Fields it cannot give are DMABUF_UNKNOWN or
 * NULL. Every buffer added is part of the totals once some source is marked as
 * listing all of them (dmabuf_builder_set_lists_all); procfs only adds what
 * processes reference. */
typedef struct DmabufBufferInfo {
        uint64_t inode;
        uint64_t size;
        uint64_t count;
        const char *exporter;
        const char *name;
        size_t name_len;
        bool has_name; /* name was given, possibly empty = unnamed */
} DmabufBufferInfo;

int dmabuf_builder_add_buffer(DmabufBuilder *b, DmabufSource src, const DmabufBufferInfo *info);
/* Marks that src reports attachments for the buffer, even if there are none. The
 * first source to do so owns the buffer's list: sysfs and debugfs would otherwise
 * each add the same attachment, and only sysfs carries map counters. */
int dmabuf_builder_attachments_known(DmabufBuilder *b, DmabufSource src, uint64_t inode);
int dmabuf_builder_add_attachment(DmabufBuilder *b, DmabufSource src, uint64_t inode, const char *device,
                                  uint64_t map_counter);

int dmabuf_builder_add_process(DmabufBuilder *b, pid_t pid, const char *comm, const char *cgroup,
                               uint32_t unidentified_fds);
/* Fills in the details of the process added last, once its references showed it is
 * worth reading them: most processes hold no dma-buf and are dropped at finish. */
int dmabuf_builder_update_process(DmabufBuilder *b, pid_t pid, const char *comm, const char *cgroup,
                                  uint32_t unidentified_fds);
/* What the fdinfo of one DRM fd said; strings are the caller's and are copied. */
typedef struct DmabufDrmClientInfo {
        const char *driver;
        const char *pdev; /* NULL: not printed */
        uint64_t client_id; /* DMABUF_UNKNOWN: not printed */
        size_t n_regions;
        const DmabufDrmRegion *regions; /* distinct names */
} DmabufDrmClientInfo;

/* Adds a DRM fd of process pid (added last). An fd of a client the process
 * already holds (same driver, pdev and client id) only counts as one more fd of
 * it: the figures are the client's, not the fd's. */
int dmabuf_builder_add_drm_client(DmabufBuilder *b, pid_t pid, const DmabufDrmClientInfo *info);
/* What a stored state says process pid (added last) held of one DRM client:
 * fds of its fds, at least one (-EINVAL otherwise). The snapshot reader
 * rebuilds a state with it; a scan adds the fds one by one. */
int dmabuf_builder_add_drm_holder(DmabufBuilder *b, pid_t pid, const DmabufDrmClientInfo *info, uint32_t fds);

/* Rolls cgroups up to their first depth path components (0: the whole path). */
void dmabuf_builder_set_cgroup_depth(DmabufBuilder *b, unsigned depth);

/* Whether some source already gave inode's size in this collection: lets a costly
 * way of finding it (a stat of map_files) skip what is known. */
bool dmabuf_builder_has_size(const DmabufBuilder *b, uint64_t inode);

/* A reference from process pid (added before) to a buffer, by fd or by mapping.
 * info->inode is required; the rest fills in what the global sources lacked. */
int dmabuf_builder_add_fd_ref(DmabufBuilder *b, pid_t pid, const DmabufBufferInfo *info);
int dmabuf_builder_add_map_ref(DmabufBuilder *b, pid_t pid, const DmabufBufferInfo *info);

/* What a stored state says process pid (added last) held of a buffer: fds open
 * and maps mapped, at least one of them non-zero (-EINVAL otherwise). The
 * snapshot reader rebuilds a state with it; a scan adds references one by one. */
int dmabuf_builder_add_holder(DmabufBuilder *b, pid_t pid, uint64_t inode, uint32_t fds, uint32_t maps);

/* Lists only process pid in the finished state (0: all). Holders and pss still
 * count every process, so the one listed shows its true share. */
void dmabuf_builder_set_only_pid(DmabufBuilder *b, pid_t pid);

/* Derives holders, rss, pss, exporters and totals, and freezes the result.
 * duration and the timestamp are set by the caller before publishing. The state
 * is made out of the builder's own arrays: afterwards, whether finish succeeded
 * or not, the builder is only good for freeing. */
int dmabuf_builder_finish(DmabufBuilder *b, uint64_t collected_at_usec, double duration_sec,
                          DmabufState **ret);
