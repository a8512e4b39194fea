/* SPDX-License-Identifier: MIT */
/* The guest's HTTP client. busybox-static's wget crashes in a bare initramfs
 * (static glibc reaching for NSS modules that are not there), so the guest
 * fetches with this instead: HTTP/1.0 GET from 127.0.0.1 only.
 *
 *   guest-get PORT PATH OUTFILE
 *
 * Exits 0 when the answer is 200 and the body is in OUTFILE; 1 otherwise, with
 * the reason on stderr. Gives up after 15 s. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_sec = 15 };
        static char buf[1 << 16];
        char req[1024];
        size_t len = 0, cap = 1 << 20;
        char *all = malloc(cap), *body;
        FILE *out;
        ssize_t n;
        int fd;

        if (argc != 4 || atoi(argv[1]) <= 0 || argv[2][0] != '/' || !all) {
                fprintf(stderr, "usage: guest-get PORT /PATH OUTFILE\n");
                return 2;
        }
        sa.sin_port = htons((unsigned short) atoi(argv[1]));
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "guest-get: 127.0.0.1:%s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", argv[2]);
        if (write(fd, req, strlen(req)) != (ssize_t) strlen(req)) {
                fprintf(stderr, "guest-get: sending the request: %s\n", strerror(errno));
                return 1;
        }
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                if (len + (size_t) n + 1 > cap) {
                        char *bigger = realloc(all, cap * 2 + (size_t) n);
                        if (!bigger) {
                                fprintf(stderr, "guest-get: out of memory\n");
                                return 1;
                        }
                        all = bigger;
                        cap = cap * 2 + (size_t) n;
                }
                memcpy(all + len, buf, (size_t) n);
                len += (size_t) n;
        }
        if (n < 0) {
                fprintf(stderr, "guest-get: reading the answer: %s\n", strerror(errno));
                return 1;
        }
        all[len] = '\0';
        if (strncmp(all, "HTTP/1.", 7) != 0 || strncmp(all + 8, " 200 ", 5) != 0) {
                fprintf(stderr, "guest-get: %s: %.60s\n", argv[2], all);
                return 1;
        }
        body = strstr(all, "\r\n\r\n");
        if (!body) {
                fprintf(stderr, "guest-get: %s: no end of headers\n", argv[2]);
                return 1;
        }
        body += 4;
        out = fopen(argv[3], "we");
        if (!out || fwrite(body, 1, len - (size_t) (body - all), out) != len - (size_t) (body - all) || fclose(out) != 0) {
                fprintf(stderr, "guest-get: %s: %s\n", argv[3], strerror(errno));
                return 1;
        }
        return 0;
}
