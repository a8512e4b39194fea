/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

int read_file_at(int dir_fd, const char *name, size_t max, StrBuf *sb) {
        _cleanup_close_ int fd = -EBADF;

        strbuf_reset(sb);
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();

        for (;;) {
                ssize_t n;
                size_t want;

                if (strbuf_reserve(sb, 4096) < 0)
                        return -ENOMEM;
                want = sb->cap - sb->len - 1;
                n = read(fd, sb->buf + sb->len, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                sb->len += (size_t) n;
                if (sb->len > max)
                        return -EFBIG;
        }
        sb->buf[sb->len] = '\0';
        return 0;
}

int opendir_at(int dir_fd, const char *name, DIR **ret) {
        int fd;
        DIR *d;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        *ret = d;
        return 0;
}

int readdir_next(DIR *d, struct dirent **ret) {
        struct dirent *de;

        errno = 0;
        de = readdir(d);
        if (!de)
                return errno != 0 ? negative_errno() : 0;
        *ret = de;
        return 1;
}

int safe_atou64_n(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        return safe_atou64_n(s, strlen(s), ret);
}

size_t strip_newline(const char *s, size_t n) {
        if (n > 0 && s[n - 1] == '\n')
                n--;
        return n;
}

int fd_get_path(int fd, char *buf, size_t size) {
        char link[64];
        ssize_t n;

        if (size == 0)
                return -EINVAL;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, buf, size - 1);
        if (n < 0) {
                int r = negative_errno();
                snprintf(buf, size, "?");
                return r;
        }
        buf[n] = '\0';
        return 0;
}
