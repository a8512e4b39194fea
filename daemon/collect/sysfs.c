/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "sysfs.h"

#define BUFFERS_DIR "kernel/dmabuf/buffers"
#define ATTR_MAX ((size_t) 4096)

static void parse_error(DmabufBuilder *b, const char *ino, const char *file, const char *what, const StrBuf *v) {
        char path[128], msg[160];

        snprintf(path, sizeof(path), "/sys/" BUFFERS_DIR "/%s/%s", ino, file);
        if (v)
                snprintf(msg, sizeof(msg), "%s '%.*s'", what, (int) MIN(strip_newline(v->buf, v->len), (size_t) 40),
                         v->buf);
        else
                snprintf(msg, sizeof(msg), "%s", what);
        dmabuf_builder_parse_error(b, DMABUF_SOURCE_SYSFS, path, msg);
}

static int scan_attachments(int buffers_fd, const char *ino_str, uint64_t inode, DmabufBuilder *b,
                            StrBuf *scratch) {
        _cleanup_closedir_ DIR *d = NULL;
        char path[96];
        struct dirent *de;
        int r;

        snprintf(path, sizeof(path), "%s/attachments", ino_str);
        r = opendir_at(buffers_fd, path, &d);
        if (r < 0)
                return r == -ENOENT ? 0 : r; /* mainline: no attachment stats */
        r = dmabuf_builder_attachments_known(b, DMABUF_SOURCE_SYSFS, inode);
        if (r < 0)
                return r;

        for (;;) {
                char target[4096], file[300];
                const char *device;
                uint64_t map_counter = DMABUF_UNKNOWN;
                ssize_t n;

                r = readdir_next(d, &de);
                if (r <= 0)
                        return r;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(file, sizeof(file), "%s/device", de->d_name);
                n = readlinkat(dirfd(d), file, target, sizeof(target) - 1);
                if (n < 0) {
                        if (errno != ENOENT)
                                parse_error(b, ino_str, "attachments", "attachment without a device link", NULL);
                        continue; /* detached while we looked */
                }
                target[n] = '\0';
                device = strrchr(target, '/');
                device = device ? device + 1 : target;
                if (!*device) {
                        parse_error(b, ino_str, "attachments", "empty device link", NULL);
                        continue;
                }
                snprintf(file, sizeof(file), "%s/map_counter", de->d_name);
                r = read_file_at(dirfd(d), file, ATTR_MAX, scratch);
                if (r >= 0 && safe_atou64_n(scratch->buf, strip_newline(scratch->buf, scratch->len), &map_counter) < 0) {
                        parse_error(b, ino_str, "map_counter", "invalid value", scratch);
                        map_counter = DMABUF_UNKNOWN;
                }
                r = dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, inode, device, map_counter);
                if (r < 0)
                        return r;
        }
}

static int scan_buffer(int buffers_fd, const char *ino_str, DmabufBuilder *b, StrBuf *scratch) {
        char path[96], exporter[256];
        DmabufBufferInfo info = {
                .size = DMABUF_UNKNOWN,
                .count = DMABUF_UNKNOWN,
        };
        size_t len;
        int r;

        if (safe_atou64(ino_str, &info.inode) < 0)
                return 0; /* not a buffer directory */

        snprintf(path, sizeof(path), "%s/size", ino_str);
        r = read_file_at(buffers_fd, path, ATTR_MAX, scratch);
        if (r == -ENOENT) {
                dmabuf_builder_count(b, DMABUF_SCAN_BUFFERS_VANISHED);
                return 0;
        }
        if (r < 0) {
                parse_error(b, ino_str, "size", "unreadable", NULL);
                return 0;
        }
        if (safe_atou64_n(scratch->buf, strip_newline(scratch->buf, scratch->len), &info.size) < 0) {
                parse_error(b, ino_str, "size", "invalid value", scratch);
                return 0;
        }

        snprintf(path, sizeof(path), "%s/exporter_name", ino_str);
        r = read_file_at(buffers_fd, path, ATTR_MAX, scratch);
        if (r == -ENOENT) {
                dmabuf_builder_count(b, DMABUF_SCAN_BUFFERS_VANISHED);
                return 0;
        }
        len = r < 0 ? 0 : strip_newline(scratch->buf, scratch->len);
        if (len == 0 || len >= sizeof(exporter) || memchr(scratch->buf, '\0', len)) {
                parse_error(b, ino_str, "exporter_name", "empty or invalid exporter name", NULL);
                return 0;
        }
        memcpy(exporter, scratch->buf, len);
        exporter[len] = '\0';
        info.exporter = exporter;

        r = dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &info);
        if (r < 0)
                return r;
        return scan_attachments(buffers_fd, ino_str, info.inode, b, scratch);
}

int dmabuf_sysfs_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        r = opendir_at(sys_fd, BUFFERS_DIR, &d);
        if (r < 0)
                return r;

        while ((r = readdir_next(d, &de)) > 0) {
                if (de->d_name[0] == '.')
                        continue;
                if (scan_buffer(dirfd(d), de->d_name, b, scratch) == -ENOMEM)
                        return -ENOMEM;
        }
        return r;
}
