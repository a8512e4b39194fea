/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the procfs source: pure parsers for fd link targets,
 * fdinfo, maps and cgroup files, and the scan of every /proc/<pid> that feeds a
 * DmabufBuilder. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "strbuf.h"

typedef enum DmabufLinkKind {
        DMABUF_LINK_OTHER,
        DMABUF_LINK_NAMED, /* "/dmabuf:<name>", kernels 5.3 and later */
        DMABUF_LINK_ANON,  /* "anon_inode:dmabuf", before 5.3: no identity */
        DMABUF_LINK_DRM,   /* "/dev/dri/card0", "/dev/dri/renderD128", and a compute
                            * accelerator's "/dev/accel/accel0": a DRM client */
} DmabufLinkKind;

/* Classifies an fd's link target. For DMABUF_LINK_NAMED, ret_name points into
 * target at the (possibly empty) name. */
DmabufLinkKind dmabuf_fd_link_classify(const char *target, size_t len, const char **ret_name,
                                       size_t *ret_name_len);

typedef struct DmabufFdinfo {
        uint64_t ino;   /* DMABUF_UNKNOWN before 5.14 */
        uint64_t size;
        uint64_t count;
        const char *exp_name; /* points into the parsed buffer */
        size_t exp_name_len;
        const char *name;
        size_t name_len;
        bool has_name;
} DmabufFdinfo;

/* Parses a dma-buf fdinfo file. The name is the last field and may itself contain
 * newlines, so it runs to the end of the file. Returns 0; -EBADMSG when a number is
 * malformed or size/exp_name is missing (a truncated file). */
int dmabuf_fdinfo_parse(const char *buf, size_t len, DmabufFdinfo *ret);

/* Bounds on what one DRM fdinfo may hold; more is counted as malformed. */
#define DMABUF_DRM_REGIONS_MAX 16
#define DMABUF_DRM_NAME_MAX 63

typedef struct DmabufDrmFdinfoRegion {
        const char *name; /* points into the parsed buffer */
        size_t name_len;
        uint64_t bytes[_DMABUF_DRM_KIND_MAX]; /* DMABUF_UNKNOWN: not printed */
} DmabufDrmFdinfoRegion;

typedef struct DmabufDrmFdinfo {
        const char *driver; /* points into the parsed buffer */
        size_t driver_len;
        const char *pdev;   /* NULL: not printed */
        size_t pdev_len;
        uint64_t client_id; /* DMABUF_UNKNOWN: not printed */
        size_t n_regions;   /* regions in the order first printed */
        DmabufDrmFdinfoRegion regions[DMABUF_DRM_REGIONS_MAX];
        unsigned malformed; /* drm- lines skipped as malformed */
        const char *first_malformed; /* the first of them */
        size_t first_malformed_len;
} DmabufDrmFdinfo;

/* Parses the fdinfo of a DRM fd (Documentation/gpu/drm-usage-stats.rst): drm-driver,
 * drm-client-id, drm-pdev and drm-{total,shared,resident,purgeable,active}-<region>,
 * whose values may end in KiB, MiB or GiB and are returned in bytes. The deprecated
 * drm-memory-<region> is the documented alias of drm-resident-<region>, used when
 * that is absent. A drm- line that does not parse is skipped and counted in
 * ret->malformed; keys it does not know (drm-engine-*, amd-*) are ignored.
 * Returns 0, or -ENOMSG if there is no drm-driver line: no DRM client statistics
 * (a driver without them, or the fd number now names another file). */
int dmabuf_drm_fdinfo_parse(const char *buf, size_t len, DmabufDrmFdinfo *ret);

typedef struct DmabufMapsEntry {
        uint64_t start, end; /* the mapping's address range */
        uint64_t inode;
        const char *name; /* escaped as the kernel prints it: newline is "\012" */
        size_t name_len;
} DmabufMapsEntry;

typedef int (*DmabufMapsFunc)(const DmabufMapsEntry *e, void *userdata);

/* Calls cb for every mapping of a dma-buf in a maps file. Lines that do not have
 * the maps shape are skipped and counted in *ret_malformed. A negative return from
 * cb stops the parse and is returned. */
int dmabuf_maps_parse(const char *buf, size_t len, DmabufMapsFunc cb, void *userdata, unsigned *ret_malformed);

/* Undoes the kernel's octal escaping in a maps path ("\012" -> '\n') in place;
 * returns the new length. */
size_t dmabuf_maps_unescape(char *s, size_t len);

/* Finds the cgroup v2 line ("0::/path") in a /proc/<pid>/cgroup file. Returns 0
 * with a pointer into buf, or -ENOENT if there is none (cgroup v1 only). */
int dmabuf_cgroup_parse(const char *buf, size_t len, const char **ret, size_t *ret_len);

/* Scans every process under proc_fd (a directory fd for <root>/proc) and adds
 * processes and references to b. A mapped buffer whose size no source gave so far
 * is sized by stat() of /proc/<pid>/map_files/<start>-<end> where that is allowed
 * (CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN), if st_ino is the maps line's inode.
 * Returns 0 or -errno if proc_fd itself cannot be listed. */
int dmabuf_procfs_scan(int proc_fd, DmabufBuilder *b, StrBuf *scratch);

/* Reads /proc/<pid>/fdinfo/<fd> of a DRM fd (which a BPF walk found) and adds its
 * client to process pid, the process added last to b, as the procfs scan does:
 * a malformed line is a procfs parse error, an fd without memory statistics adds
 * nothing. Returns 0, -ENOENT/-ESRCH if the process or fd is gone, or -errno. */
int dmabuf_procfs_scan_drm_fd(int proc_fd, pid_t pid, int fd, DmabufBuilder *b, StrBuf *scratch);

/* Reads the cgroup v2 path of process pid under proc_fd into buf (cut to size),
 * for a source that learnt its references elsewhere (bpf). Returns 0, -ENOENT if
 * the process is gone or has no v2 line, or -errno. */
int dmabuf_procfs_read_cgroup(int proc_fd, pid_t pid, StrBuf *scratch, char *buf, size_t size);
