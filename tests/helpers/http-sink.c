/* SPDX-License-Identifier: MIT */
/* http-sink PORT_FILE DIR LIFETIME_SEC MODE...: an HTTP endpoint on 127.0.0.1
 * for snapshot_push's tests. It listens on a port the kernel picks and writes
 * it to PORT_FILE, then answers the Nth connection by the Nth MODE (the last
 * one for every connection after):
 *   500      reads the request, answers 500
 *   hang     reads the request, never answers (the connection stays open)
 *   garbage  reads the request, answers bytes that are not HTTP
 *   ok       reads the request, keeps it as DIR/N.headers and DIR/N.body, answers 200
 * Each connection is logged on stdout ("N MODE BYTES"). It exits after
 * LIFETIME_SEC, so that no test can leave it behind for long. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX (64 << 20)
#define HUNG_MAX 64

/* Reads headers and a Content-Length body. Returns the length or -1. */
static ssize_t read_request(int fd, char **ret, size_t *ret_header_len) {
        size_t cap = 65536, len = 0, header_len = 0, body_len = 0;
        char *buf = malloc(cap);

        if (!buf)
                return -1;
        for (;;) {
                ssize_t n;

                if (header_len > 0 && len >= header_len + body_len)
                        break;
                if (len == cap) {
                        char *grown;

                        if (cap >= REQUEST_MAX)
                                goto fail;
                        grown = realloc(buf, cap * 2);
                        if (!grown)
                                goto fail;
                        buf = grown;
                        cap *= 2;
                }
                n = read(fd, buf + len, cap - len);
                if (n <= 0)
                        goto fail;
                len += (size_t) n;
                if (header_len == 0) {
                        char *end = memmem(buf, len, "\r\n\r\n", 4);

                        if (end) {
                                const char *cl;

                                header_len = (size_t) (end - buf) + 4;
                                buf[header_len - 1] = '\0'; /* the headers end in \r\n\r\0 */
                                cl = strcasestr(buf, "\r\ncontent-length:");
                                body_len = cl ? strtoul(cl + strlen("\r\ncontent-length:"), NULL, 10) : 0;
                                if (body_len > REQUEST_MAX)
                                        goto fail;
                        }
                }
        }
        *ret = buf;
        *ret_header_len = header_len;
        return (ssize_t) (header_len + body_len);
fail:
        free(buf);
        return -1;
}

static int write_file(const char *path, const char *data, size_t len) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -1;
        if (fwrite(data, 1, len, f) != len) {
                fclose(f);
                return -1;
        }
        return fclose(f);
}

int main(int argc, char **argv) {
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t addr_len = sizeof(addr);
        int hung[HUNG_MAX], n_hung = 0, lfd, one = 1;
        struct timeval tv = { .tv_sec = 10 };
        time_t deadline;
        FILE *pf;

        if (argc < 5) {
                fprintf(stderr, "usage: %s PORT_FILE DIR LIFETIME_SEC MODE...\n", argv[0]);
                return 2;
        }
        deadline = time(NULL) + atoi(argv[3]);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(lfd, 16) < 0 ||
            getsockname(lfd, (struct sockaddr *) &addr, &addr_len) < 0) {
                perror("http-sink: listen");
                return 1;
        }
        pf = fopen(argv[1], "we");
        if (!pf || fprintf(pf, "%d\n", ntohs(addr.sin_port)) < 0 || fclose(pf) != 0) {
                perror("http-sink: port file");
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (unsigned conn = 0; time(NULL) < deadline; conn++) {
                struct pollfd p = { .fd = lfd, .events = POLLIN };
                const char *mode;
                char path[4096], *req = NULL;
                size_t header_len = 0;
                ssize_t len;
                int fd;

                if (poll(&p, 1, 1000) <= 0) {
                        conn--;
                        continue;
                }
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        conn--;
                        continue;
                }
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                mode = argv[4 + (conn < (unsigned) (argc - 5) ? conn : (unsigned) (argc - 5))];
                len = read_request(fd, &req, &header_len);
                printf("%u %s %zd\n", conn, mode, len);
                if (len < 0) {
                        close(fd);
                        continue;
                }
                if (strcmp(mode, "hang") == 0 && n_hung < HUNG_MAX) {
                        hung[n_hung++] = fd;
                        free(req);
                        continue;
                }
                if (strcmp(mode, "500") == 0)
                        dprintf(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfail\n");
                else if (strcmp(mode, "garbage") == 0)
                        dprintf(fd, "\x01\x02 this is not HTTP \xff\xfe\r\n\r\n");
                else {
                        snprintf(path, sizeof(path), "%s/%u.headers", argv[2], conn);
                        (void) write_file(path, req, header_len);
                        snprintf(path, sizeof(path), "%s/%u.body", argv[2], conn);
                        if (write_file(path, req + header_len, (size_t) len - header_len) < 0)
                                perror("http-sink: body");
                        dprintf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
                }
                free(req);
                close(fd);
        }
        for (int i = 0; i < n_hung; i++)
                close(hung[i]);
        return 0;
}
