/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "procfs.h"
#include "string-util.h"

#define DMABUF_LINK_PREFIX "/dmabuf:"
#define DMABUF_ANON_LINK "anon_inode:dmabuf"
#define DRM_LINK_PREFIX "/dev/dri/"
#define ACCEL_LINK_PREFIX "/dev/accel/"
/* A maps file of a process at the kernel's default map limit is about 6 MiB. */
#define MAPS_MAX ((size_t) 64 * 1024 * 1024)
#define SMALL_FILE_MAX ((size_t) 64 * 1024)

/* A compute accelerator (drivers/accel, /dev/accel/accel<n>) is a DRM device on a
 * major of its own: its file is a drm_file and its fdinfo is drm_show_fdinfo()'s,
 * with the same drm- keys, so its clients are read and counted as DRM ones. */
static bool is_drm_link(const char *target, size_t len) {
        /* Longer than the prefix: a node in the directory, not the directory. */
        return (len > STRLEN(DRM_LINK_PREFIX) && span_starts_with(target, len, DRM_LINK_PREFIX)) ||
               (len > STRLEN(ACCEL_LINK_PREFIX) && span_starts_with(target, len, ACCEL_LINK_PREFIX));
}

DmabufLinkKind dmabuf_fd_link_classify(const char *target, size_t len, const char **ret_name,
                                       size_t *ret_name_len) {
        if (span_starts_with(target, len, DMABUF_LINK_PREFIX)) {
                if (ret_name)
                        *ret_name = target + STRLEN(DMABUF_LINK_PREFIX);
                if (ret_name_len)
                        *ret_name_len = len - STRLEN(DMABUF_LINK_PREFIX);
                return DMABUF_LINK_NAMED;
        }
        if (len == STRLEN(DMABUF_ANON_LINK) && memcmp(target, DMABUF_ANON_LINK, len) == 0)
                return DMABUF_LINK_ANON;
        if (is_drm_link(target, len))
                return DMABUF_LINK_DRM;
        return DMABUF_LINK_OTHER;
}

/* Value of a "key:\tvalue" line: whitespace after the colon is skipped. */
static void split_value(const char *line, size_t len, size_t colon, const char **ret, size_t *ret_len) {
        size_t i = colon + 1;

        while (i < len && (line[i] == '\t' || line[i] == ' '))
                i++;
        *ret = line + i;
        *ret_len = len - i;
}

int dmabuf_fdinfo_parse(const char *buf, size_t len, DmabufFdinfo *ret) {
        DmabufFdinfo fi = {
                .ino = DMABUF_UNKNOWN,
                .size = DMABUF_UNKNOWN,
                .count = DMABUF_UNKNOWN,
        };
        const char *line;
        size_t pos = 0, line_len;
        bool seen_any = false;

        while (next_line(buf, len, &pos, &line, &line_len)) {
                const char *colon, *v;
                size_t vlen;
                uint64_t *num = NULL;

                colon = memchr(line, ':', line_len);
                if (!colon)
                        continue;
                split_value(line, line_len, (size_t) (colon - line), &v, &vlen);

#define KEY(k) ((size_t) (colon - line) == STRLEN(k) && memcmp(line, k, STRLEN(k)) == 0)
                if (KEY("name")) {
                        /* The name is printed last and raw: it may hold newlines, so
                         * it runs to the end of the file. */
                        size_t end = len;
                        if (end > 0 && buf[end - 1] == '\n')
                                end--;
                        fi.name = v;
                        fi.name_len = end >= (size_t) (v - buf) ? end - (size_t) (v - buf) : 0;
                        fi.has_name = true;
                        seen_any = true;
                        break;
                }
                if (KEY("exp_name")) {
                        if (vlen == 0)
                                return -EBADMSG;
                        fi.exp_name = v;
                        fi.exp_name_len = vlen;
                        seen_any = true;
                        continue;
                }
                if (KEY("ino"))
                        num = &fi.ino;
                else if (KEY("size")) {
                        num = &fi.size;
                        seen_any = true;
                } else if (KEY("count")) {
                        num = &fi.count;
                        seen_any = true;
                }
#undef KEY
                if (num && safe_atou64_n(v, vlen, num) < 0)
                        return -EBADMSG;
        }

        if (!seen_any)
                return -ENOMSG; /* not a dma-buf's fdinfo: the fd was reused */
        if (fi.size == DMABUF_UNKNOWN || !fi.exp_name)
                return -EBADMSG;
        *ret = fi;
        return 0;
}

/* "<uint>[ KiB| MiB| GiB]" in bytes; false if malformed or beyond 64 bits. */
static bool drm_size_parse(const char *v, size_t len, uint64_t *ret) {
        static const struct {
                const char *unit;
                unsigned shift;
        } units[] = { { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 } };
        size_t digits = 0, i;
        uint64_t n;

        while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
        while (digits < len && v[digits] >= '0' && v[digits] <= '9')
                digits++;
        if (digits == 0 || safe_atou64_n(v, digits, &n) < 0 || n == UINT64_MAX)
                return false; /* UINT64_MAX is DMABUF_UNKNOWN */
        if (digits == len) {
                *ret = n;
                return true;
        }
        for (i = digits; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
                ;
        for (size_t u = 0; u < ELEMENTSOF(units); u++)
                if (len - i == strlen(units[u].unit) && memcmp(v + i, units[u].unit, len - i) == 0) {
                        if (n > (UINT64_MAX - 1) >> units[u].shift)
                                return false; /* UINT64_MAX is DMABUF_UNKNOWN */
                        *ret = n << units[u].shift;
                        return true;
                }
        return false;
}

/* The memory keys of drm-usage-stats.rst; drm-memory- is the deprecated alias
 * of drm-resident-, kept apart so that a driver printing both is not undone. */
#define DRM_KIND_MEMORY _DMABUF_DRM_KIND_MAX
static const char *const drm_key_prefix[_DMABUF_DRM_KIND_MAX + 1] = {
        [DMABUF_DRM_TOTAL] = "drm-total-",
        [DMABUF_DRM_SHARED] = "drm-shared-",
        [DMABUF_DRM_RESIDENT] = "drm-resident-",
        [DMABUF_DRM_PURGEABLE] = "drm-purgeable-",
        [DMABUF_DRM_ACTIVE] = "drm-active-",
        [DRM_KIND_MEMORY] = "drm-memory-",
};

/* Parses one drm- line; false if it is malformed. */
static bool drm_line_parse(const char *line, size_t line_len, DmabufDrmFdinfo *fi,
                           uint64_t memory[static DMABUF_DRM_REGIONS_MAX]) {
        const char *colon = memchr(line, ':', line_len), *v;
        size_t key_len, vlen;

        if (!colon)
                return false;
        key_len = (size_t) (colon - line);
        split_value(line, line_len, key_len, &v, &vlen);
        for (size_t k = 0; k < key_len; k++)
                if (line[k] == ' ' || line[k] == '\t')
                        return false; /* keys hold no whitespace */

#define KEY(k) (key_len == STRLEN(k) && memcmp(line, k, STRLEN(k)) == 0)
        if (KEY("drm-driver")) {
                if (vlen == 0 || vlen > DMABUF_DRM_NAME_MAX || memchr(v, '\0', vlen))
                        return false;
                fi->driver = v;
                fi->driver_len = vlen;
                return true;
        }
        if (KEY("drm-pdev")) {
                if (vlen == 0 || vlen > DMABUF_DRM_NAME_MAX || memchr(v, '\0', vlen))
                        return false;
                fi->pdev = v;
                fi->pdev_len = vlen;
                return true;
        }
        if (KEY("drm-client-id"))
                return safe_atou64_n(v, vlen, &fi->client_id) >= 0 && fi->client_id != DMABUF_UNKNOWN;
#undef KEY

        /* drm-total-cycles-<engine> is utilisation (xe prints it), not a region. */
#define TOTAL_CYCLES "drm-total-cycles-"
        if (key_len > STRLEN(TOTAL_CYCLES) && memcmp(line, TOTAL_CYCLES, STRLEN(TOTAL_CYCLES)) == 0)
                return true;
#undef TOTAL_CYCLES
        for (size_t kind = 0; kind <= DRM_KIND_MEMORY; kind++) {
                size_t plen = strlen(drm_key_prefix[kind]), name_len, r;
                const char *name;
                uint64_t bytes;

                if (key_len < plen || memcmp(line, drm_key_prefix[kind], plen) != 0)
                        continue;
                if (key_len == plen)
                        return false; /* no region named */
                name = line + plen;
                name_len = key_len - plen;
                if (name_len > DMABUF_DRM_NAME_MAX || memchr(name, '\0', name_len) ||
                    !drm_size_parse(v, vlen, &bytes))
                        return false;
                for (r = 0; r < fi->n_regions; r++)
                        if (fi->regions[r].name_len == name_len && memcmp(fi->regions[r].name, name, name_len) == 0)
                                break;
                if (r == fi->n_regions) {
                        if (r == DMABUF_DRM_REGIONS_MAX)
                                return false;
                        fi->regions[r] = (DmabufDrmFdinfoRegion){ .name = name, .name_len = name_len };
                        for (size_t k = 0; k < _DMABUF_DRM_KIND_MAX; k++)
                                fi->regions[r].bytes[k] = DMABUF_UNKNOWN;
                        memory[r] = DMABUF_UNKNOWN;
                        fi->n_regions++;
                }
                if (kind == DRM_KIND_MEMORY)
                        memory[r] = bytes;
                else
                        fi->regions[r].bytes[kind] = bytes;
                return true;
        }
        return true; /* drm-engine-*, drm-cycles-* and the like: not ours */
}

int dmabuf_drm_fdinfo_parse(const char *buf, size_t len, DmabufDrmFdinfo *ret) {
        uint64_t memory[DMABUF_DRM_REGIONS_MAX];
        const char *line;
        size_t pos = 0, line_len;

        *ret = (DmabufDrmFdinfo){ .client_id = DMABUF_UNKNOWN };
        while (next_line(buf, len, &pos, &line, &line_len)) {
                if (line_len < 4 || memcmp(line, "drm-", 4) != 0)
                        continue; /* pos:, flags:, and driver-specific keys (amd-*) */
                if (drm_line_parse(line, line_len, ret, memory))
                        continue;
                if (ret->malformed++ == 0) {
                        ret->first_malformed = line;
                        ret->first_malformed_len = line_len;
                }
        }
        for (size_t r = 0; r < ret->n_regions; r++)
                if (ret->regions[r].bytes[DMABUF_DRM_RESIDENT] == DMABUF_UNKNOWN)
                        ret->regions[r].bytes[DMABUF_DRM_RESIDENT] = memory[r];
        return ret->driver ? 0 : -ENOMSG;
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Advances *i over one or more characters accepted by pred; false if none. */
static bool skip_run(const char *s, size_t len, size_t *i, bool (*pred)(char)) {
        size_t start = *i;

        while (*i < len && pred(s[*i]))
                (*i)++;
        return *i > start;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_perm(char c) {
        return c == 'r' || c == 'w' || c == 'x' || c == 'p' || c == 's' || c == '-';
}

static bool expect(const char *s, size_t len, size_t *i, char c) {
        if (*i >= len || s[*i] != c)
                return false;
        (*i)++;
        return true;
}

/* A hex run already checked by skip_run(); false if it does not fit 64 bits. */
static bool hex_value(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                unsigned d = c <= '9' ? (unsigned) (c - '0') : (unsigned) ((c | 0x20) - 'a' + 10);

                if (v > UINT64_MAX >> 4)
                        return false;
                v = v << 4 | d;
        }
        *ret = v;
        return true;
}

/* Checks one maps line: "start-end perms offset major:minor inode [path]". */
static bool maps_line_parse(const char *s, size_t len, uint64_t *ret_start, uint64_t *ret_end, uint64_t *ret_inode,
                            size_t *ret_path) {
        size_t i = 0, inode_start, end_start;

        if (!skip_run(s, len, &i, is_hex) || !hex_value(s, i, ret_start) || !expect(s, len, &i, '-'))
                return false;
        end_start = i;
        if (!skip_run(s, len, &i, is_hex) || !hex_value(s + end_start, i - end_start, ret_end) ||
            !expect(s, len, &i, ' '))
                return false;
        inode_start = i;
        if (!skip_run(s, len, &i, is_perm) || i - inode_start != 4 || !expect(s, len, &i, ' '))
                return false;
        if (!skip_run(s, len, &i, is_hex) || !expect(s, len, &i, ' '))
                return false;
        if (!skip_run(s, len, &i, is_hex) || !expect(s, len, &i, ':') || !skip_run(s, len, &i, is_hex) ||
            !expect(s, len, &i, ' '))
                return false;
        inode_start = i;
        if (!skip_run(s, len, &i, is_digit))
                return false;
        if (safe_atou64_n(s + inode_start, i - inode_start, ret_inode) < 0)
                return false;
        if (i < len && s[i] != ' ')
                return false;
        while (i < len && s[i] == ' ')
                i++;
        *ret_path = i;
        return true;
}

int dmabuf_maps_parse(const char *buf, size_t len, DmabufMapsFunc cb, void *userdata, unsigned *ret_malformed) {
        unsigned malformed = 0;
        const char *line;
        size_t pos = 0, line_len;

        while (next_line(buf, len, &pos, &line, &line_len)) {
                size_t path;
                uint64_t start, end, inode;

                if (line_len == 0)
                        continue;
                if (!maps_line_parse(line, line_len, &start, &end, &inode, &path)) {
                        malformed++;
                        continue;
                }
                if (line_len - path >= STRLEN(DMABUF_LINK_PREFIX) &&
                    memcmp(line + path, DMABUF_LINK_PREFIX, STRLEN(DMABUF_LINK_PREFIX)) == 0) {
                        DmabufMapsEntry e = {
                                .start = start,
                                .end = end,
                                .inode = inode,
                                .name = line + path + STRLEN(DMABUF_LINK_PREFIX),
                                .name_len = line_len - path - STRLEN(DMABUF_LINK_PREFIX),
                        };
                        int r = cb(&e, userdata);
                        if (r < 0)
                                return r;
                }
        }
        if (ret_malformed)
                *ret_malformed = malformed;
        return 0;
}

size_t dmabuf_maps_unescape(char *s, size_t len) {
        size_t o = 0;

        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        s[o++] = (char) (((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
                        i += 3;
                } else
                        s[o++] = s[i];
        }
        return o;
}

int dmabuf_cgroup_parse(const char *buf, size_t len, const char **ret, size_t *ret_len) {
        const char *line;
        size_t pos = 0, line_len;

        while (next_line(buf, len, &pos, &line, &line_len)) {
                if (line_len >= 3 && memcmp(line, "0::", 3) == 0) {
                        *ret = line + 3;
                        *ret_len = line_len - 3;
                        return 0;
                }
        }
        return -ENOENT;
}

/* ---- the scan ---- */

typedef struct ProcessScan {
        DmabufBuilder *builder;
        StrBuf *scratch;
        int pid_fd;
        int fd_dir_fd;
        int fdinfo_fd;
        pid_t pid;
        char pid_str[16];
        uint32_t refs;
        uint32_t unidentified;
        uint32_t drm_fds; /* DRM fds with memory statistics */
        /* map_files refused: EPERM (no capability) holds for the whole scan, while
         * EACCES (ptrace access) is this process's own. */
        bool *map_files_eperm;
        bool map_files_eacces;
} ProcessScan;

static bool is_gone(int r) {
        return r == -ENOENT || r == -ESRCH;
}

static void parse_error(ProcessScan *ps, const char *file, const char *fd_name, const char *what) {
        char path[384];

        if (fd_name)
                snprintf(path, sizeof(path), "/proc/%s/%s/%s", ps->pid_str, file, fd_name);
        else
                snprintf(path, sizeof(path), "/proc/%s/%s", ps->pid_str, file);
        dmabuf_builder_parse_error(ps->builder, DMABUF_SOURCE_PROCFS, path, what);
}

static int read_fdinfo(ProcessScan *ps, const char *fd_name) {
        if (ps->fdinfo_fd < 0) {
                ps->fdinfo_fd = openat(ps->pid_fd, "fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (ps->fdinfo_fd < 0)
                        return negative_errno();
        }
        return read_file_at(ps->fdinfo_fd, fd_name, SMALL_FILE_MAX, ps->scratch);
}

static int scan_fd(ProcessScan *ps, const char *fd_name, const char *link_name, size_t link_name_len) {
        DmabufFdinfo fi;
        char exporter[128];
        DmabufBufferInfo info;
        int r;

        r = read_fdinfo(ps, fd_name);
        if (r < 0)
                return r;
        r = dmabuf_fdinfo_parse(ps->scratch->buf, ps->scratch->len, &fi);
        if (r == -ENOMSG)
                return -ENOENT; /* the fd number now names another file */
        if (r < 0) {
                parse_error(ps, "fdinfo", fd_name, "malformed dma-buf fdinfo (bad number or missing size/exp_name)");
                return 0;
        }
        if (fi.ino == DMABUF_UNKNOWN) {
                /* Before 5.14 fdinfo has no ino:, but stat through the magic link
                 * reaches the buffer's own inode. */
                struct stat st;

                if (fstatat(ps->fd_dir_fd, fd_name, &st, 0) < 0)
                        return negative_errno();
                fi.ino = (uint64_t) st.st_ino;
        }
        snprintf(exporter, sizeof(exporter), "%.*s", (int) MIN(fi.exp_name_len, sizeof(exporter) - 1), fi.exp_name);

        info = (DmabufBufferInfo){
                .inode = fi.ino,
                .size = fi.size,
                .count = fi.count,
                .exporter = exporter,
                /* The link holds the name's exact bytes; fdinfo may have been cut
                 * or renamed since, so the link wins. */
                .name = link_name,
                .name_len = link_name_len,
                .has_name = true,
        };
        r = dmabuf_builder_add_fd_ref(ps->builder, ps->pid, &info);
        if (r < 0)
                return r;
        ps->refs++;
        return 0;
}

/* A DRM fd's client statistics. Most processes that hold one (every GL or Vulkan
 * user) hold no dma-buf fd, so this is read for DRM links only, in the same walk. */
static int scan_drm_fd(ProcessScan *ps, const char *fd_name) {
        DmabufDrmFdinfo fi;
        DmabufDrmRegion regions[DMABUF_DRM_REGIONS_MAX];
        char driver[DMABUF_DRM_NAME_MAX + 1], pdev[DMABUF_DRM_NAME_MAX + 1];
        char names[DMABUF_DRM_REGIONS_MAX][DMABUF_DRM_NAME_MAX + 1];
        int r;

        r = read_fdinfo(ps, fd_name);
        if (r < 0)
                return r;
        r = dmabuf_drm_fdinfo_parse(ps->scratch->buf, ps->scratch->len, &fi);
        if (fi.malformed > 0) {
                char what[160], line[96];
                size_t n = MIN(fi.first_malformed_len, sizeof(line) - 1);

                /* The line goes into logs and stderr: control bytes are shown as '?'. */
                for (size_t i = 0; i < n; i++) {
                        unsigned char c = (unsigned char) fi.first_malformed[i];
                        line[i] = c < 0x20 && c != '\t' ? '?' : c == 0x7f ? '?' : (char) c;
                }
                line[n] = '\0';
                snprintf(what, sizeof(what), "malformed DRM fdinfo line \"%s\", skipped", line);
                parse_error(ps, "fdinfo", fd_name, what);
                dmabuf_builder_scan_stats(ps->builder)->parse_errors[DMABUF_SOURCE_PROCFS] += fi.malformed - 1;
        }
        if (r == -ENOMSG || fi.n_regions == 0)
                return 0; /* no memory statistics from this driver, or no longer a DRM fd */

        snprintf(driver, sizeof(driver), "%.*s", (int) fi.driver_len, fi.driver);
        if (fi.pdev)
                snprintf(pdev, sizeof(pdev), "%.*s", (int) fi.pdev_len, fi.pdev);
        for (size_t i = 0; i < fi.n_regions; i++) {
                snprintf(names[i], sizeof(names[i]), "%.*s", (int) fi.regions[i].name_len, fi.regions[i].name);
                regions[i].name = names[i];
                memcpy(regions[i].bytes, fi.regions[i].bytes, sizeof(regions[i].bytes));
        }
        r = dmabuf_builder_add_drm_client(ps->builder, ps->pid,
                                          &(DmabufDrmClientInfo){
                                                  .driver = driver,
                                                  .pdev = fi.pdev ? pdev : NULL,
                                                  .client_id = fi.client_id,
                                                  .n_regions = fi.n_regions,
                                                  .regions = regions,
                                          });
        if (r < 0)
                return r;
        ps->drm_fds++;
        return 0;
}

/* One fd's scan result, counted: an fd closed meanwhile or unreadable is a
 * skip, not a failure; only -ENOMEM stops the walk. */
static int count_fd_result(ProcessScan *ps, int r) {
        if (r == -ENOMEM)
                return r;
        if (is_gone(r))
                dmabuf_builder_count(ps->builder, DMABUF_SCAN_FDS_VANISHED);
        else if (r < 0)
                dmabuf_builder_count(ps->builder, DMABUF_SCAN_UNREADABLE);
        return 0;
}

static int scan_fds(ProcessScan *ps) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_at(ps->pid_fd, "fd", &d);
        if (r < 0)
                return r;
        ps->fd_dir_fd = dirfd(d);

        for (;;) {
                char target[256];
                const char *name;
                size_t name_len;
                ssize_t n;

                r = readdir_next(d, &de);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (de->d_name[0] == '.')
                        continue;

                n = readlinkat(ps->fd_dir_fd, de->d_name, target, sizeof(target));
                if (n < 0) {
                        r = negative_errno();
                        if (!is_gone(r))
                                return r; /* no access to this process: one skip, not one per fd */
                        dmabuf_builder_count(ps->builder, DMABUF_SCAN_FDS_VANISHED);
                        continue;
                }
                switch (dmabuf_fd_link_classify(target, (size_t) n, &name, &name_len)) {
                case DMABUF_LINK_NAMED:
                        r = count_fd_result(ps, scan_fd(ps, de->d_name, name, name_len));
                        if (r < 0)
                                return r;
                        break;
                case DMABUF_LINK_ANON:
                        ps->unidentified++;
                        break;
                case DMABUF_LINK_DRM:
                        r = count_fd_result(ps, scan_drm_fd(ps, de->d_name));
                        if (r < 0)
                                return r;
                        break;
                case DMABUF_LINK_OTHER:
                        break;
                }
        }
        ps->fd_dir_fd = -EBADF;
        return 0;
}

/* The size of a mapped buffer that no fd, fdinfo or global list gave: stat() of
 * /proc/<pid>/map_files/<start>-<end> follows the link to the buffer's own inode,
 * whose i_size is the buffer's size (the seed posting's method). The kernel allows
 * following those links only with CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN; without
 * them the size stays unknown, as it would anyway. */
static uint64_t map_files_size(ProcessScan *ps, const DmabufMapsEntry *e) {
        char path[64];
        struct stat st;

        if (*ps->map_files_eperm || ps->map_files_eacces) {
                dmabuf_builder_count(ps->builder, DMABUF_SCAN_MAP_FILES_DENIED);
                return DMABUF_UNKNOWN;
        }
        /* The kernel names entries "%lx-%lx" and refuses leading zeros, while maps
         * pads addresses to 8 digits: print them afresh. */
        snprintf(path, sizeof(path), "map_files/%" PRIx64 "-%" PRIx64, e->start, e->end);
        if (fstatat(ps->pid_fd, path, &st, 0) < 0) {
                if (errno == EPERM || errno == EACCES) {
                        if (errno == EPERM)
                                *ps->map_files_eperm = true;
                        else
                                ps->map_files_eacces = true;
                        dmabuf_builder_count(ps->builder, DMABUF_SCAN_MAP_FILES_DENIED);
                }
                return DMABUF_UNKNOWN; /* ENOENT: unmapped since maps was read */
        }
        /* Another inode means the range was remapped since maps was read. */
        if ((uint64_t) st.st_ino != e->inode || st.st_size < 0)
                return DMABUF_UNKNOWN;
        return (uint64_t) st.st_size;
}

static int on_map(const DmabufMapsEntry *e, void *userdata) {
        ProcessScan *ps = userdata;
        char name[256];
        size_t name_len = MIN(e->name_len, sizeof(name));
        DmabufBufferInfo info;
        int r;

        memcpy(name, e->name, name_len);
        name_len = dmabuf_maps_unescape(name, name_len);
        info = (DmabufBufferInfo){
                .inode = e->inode,
                /* Usually an fd or a global list sized it already: one hash probe. */
                .size = dmabuf_builder_has_size(ps->builder, e->inode) ? DMABUF_UNKNOWN : map_files_size(ps, e),
                .count = DMABUF_UNKNOWN,
                .name = name,
                .name_len = name_len,
                .has_name = true,
        };
        r = dmabuf_builder_add_map_ref(ps->builder, ps->pid, &info);
        if (r < 0)
                return r;
        ps->refs++;
        return 0;
}

static int scan_maps(ProcessScan *ps) {
        unsigned malformed = 0;
        int r;

        r = read_file_at(ps->pid_fd, "maps", MAPS_MAX, ps->scratch);
        if (r < 0)
                return r;
        r = dmabuf_maps_parse(ps->scratch->buf, ps->scratch->len, on_map, ps, &malformed);
        if (r < 0)
                return r;
        if (malformed > 0) {
                DmabufScanStats *st = dmabuf_builder_scan_stats(ps->builder);
                parse_error(ps, "maps", NULL, "malformed line");
                st->parse_errors[DMABUF_SOURCE_PROCFS] += malformed - 1;
        }
        return 0;
}

static int scan_details(ProcessScan *ps) {
        char comm[64], cgroup_path[4096];
        const char *comm_p = NULL, *cgroup_p = NULL, *v;
        size_t vlen;

        if (read_file_at(ps->pid_fd, "comm", SMALL_FILE_MAX, ps->scratch) >= 0) {
                vlen = strip_newline(ps->scratch->buf, ps->scratch->len);
                /* comm is bytes a process chose; a NUL ends it like the kernel's own
                 * string would. */
                snprintf(comm, sizeof(comm), "%.*s", (int) MIN(vlen, sizeof(comm) - 1), ps->scratch->buf);
                comm_p = comm;
        }
        if (read_file_at(ps->pid_fd, "cgroup", SMALL_FILE_MAX, ps->scratch) >= 0 &&
            dmabuf_cgroup_parse(ps->scratch->buf, ps->scratch->len, &v, &vlen) >= 0) {
                snprintf(cgroup_path, sizeof(cgroup_path), "%.*s", (int) MIN(vlen, sizeof(cgroup_path) - 1), v);
                cgroup_p = cgroup_path;
        }
        return dmabuf_builder_update_process(ps->builder, ps->pid, comm_p, cgroup_p, ps->unidentified);
}

static int scan_process(int proc_fd, const char *pid_str, pid_t pid, DmabufBuilder *b, StrBuf *scratch,
                        bool *map_files_eperm) {
        _cleanup_close_ int pid_fd = -EBADF, fdinfo_fd = -EBADF;
        ProcessScan ps = {
                .builder = b,
                .scratch = scratch,
                .pid = pid,
                .fd_dir_fd = -EBADF,
                .fdinfo_fd = -EBADF,
                .map_files_eperm = map_files_eperm,
        };
        int r;

        snprintf(ps.pid_str, sizeof(ps.pid_str), "%.15s", pid_str);
        pid_fd = openat(proc_fd, pid_str, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0) {
                r = negative_errno();
                goto skip;
        }
        ps.pid_fd = pid_fd;

        r = dmabuf_builder_add_process(b, pid, NULL, NULL, 0);
        if (r < 0)
                return r;

        r = scan_fds(&ps);
        fdinfo_fd = ps.fdinfo_fd;
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                goto skip;

        r = scan_maps(&ps);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && ps.refs == 0 && ps.drm_fds == 0)
                goto skip;
        /* A process that exits after its fds were read still held them then. */

        if (ps.refs > 0 || ps.unidentified > 0 || ps.drm_fds > 0)
                return scan_details(&ps);
        return 0;

skip:
        if (is_gone(r))
                dmabuf_builder_count(b, DMABUF_SCAN_PIDS_VANISHED);
        else
                dmabuf_builder_count(b, DMABUF_SCAN_UNREADABLE);
        return 0;
}

static bool parse_pid(const char *s, pid_t *ret) {
        uint64_t v;

        if (s[0] < '1' || s[0] > '9' || safe_atou64(s, &v) < 0 || v > INT32_MAX)
                return false;
        *ret = (pid_t) v;
        return true;
}

int dmabuf_procfs_scan(int proc_fd, DmabufBuilder *b, StrBuf *scratch) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        bool map_files_eperm = false;
        int r;

        r = opendir_at(proc_fd, ".", &d);
        if (r < 0)
                return r;

        for (;;) {
                pid_t pid;

                r = readdir_next(d, &de);
                if (r <= 0)
                        return r;
                if (!parse_pid(de->d_name, &pid))
                        continue;
                r = scan_process(proc_fd, de->d_name, pid, b, scratch, &map_files_eperm);
                if (r < 0)
                        return r;
        }
}

int dmabuf_procfs_scan_drm_fd(int proc_fd, pid_t pid, int fd, DmabufBuilder *b, StrBuf *scratch) {
        _cleanup_close_ int pid_fd = -EBADF, fdinfo_fd = -EBADF;
        ProcessScan ps = {
                .builder = b,
                .scratch = scratch,
                .pid = pid,
                .fd_dir_fd = -EBADF,
                .fdinfo_fd = -EBADF,
        };
        char fd_name[16];
        int r;

        snprintf(ps.pid_str, sizeof(ps.pid_str), "%d", (int) pid);
        snprintf(fd_name, sizeof(fd_name), "%d", fd);
        pid_fd = openat(proc_fd, ps.pid_str, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pid_fd < 0)
                return negative_errno();
        ps.pid_fd = pid_fd;
        r = scan_drm_fd(&ps, fd_name);
        fdinfo_fd = ps.fdinfo_fd;
        return r;
}

int dmabuf_procfs_read_cgroup(int proc_fd, pid_t pid, StrBuf *scratch, char *buf, size_t size) {
        char path[32];
        const char *v;
        size_t vlen;
        int r;

        snprintf(path, sizeof(path), "%d/cgroup", (int) pid);
        r = read_file_at(proc_fd, path, SMALL_FILE_MAX, scratch);
        if (r < 0)
                return r;
        r = dmabuf_cgroup_parse(scratch->buf, scratch->len, &v, &vlen);
        if (r < 0)
                return r;
        snprintf(buf, size, "%.*s", (int) MIN(vlen, size - 1), v);
        return 0;
}
