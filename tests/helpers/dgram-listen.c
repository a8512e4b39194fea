/* SPDX-License-Identifier: MIT */
/* Stands in for the service manager's NOTIFY_SOCKET or journald's native socket
 * in tests: binds an AF_UNIX datagram socket at PATH and prints each datagram
 * received as one line, "MILLISECONDS FIELD|FIELD|...", milliseconds counted
 * from start-up, newlines inside the datagram shown as '|'. Exits after
 * SECONDS, or on SIGTERM.
 *
 *   dgram-listen PATH SECONDS */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        long long start, deadline;
        static char buf[256 * 1024];
        int fd, one = 1;

        if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path) || atoi(argv[2]) <= 0) {
                fprintf(stderr, "usage: dgram-listen PATH SECONDS (PATH shorter than %zu bytes)\n",
                        sizeof(sa.sun_path));
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "dgram-listen: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        /* sd_notify sends credentials; accepting them keeps its sendmsg happy. */
        (void) setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
        start = now_ms();
        deadline = start + 1000LL * atoi(argv[2]);
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - now_ms();
                ssize_t n;

                if (left <= 0)
                        return 0;
                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        continue;
                while (n > 0 && buf[n - 1] == '\n')
                        n--;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == '\n' || buf[i] == '\0')
                                buf[i] = '|';
                buf[n] = '\0';
                printf("%lld %s\n", now_ms() - start, buf);
        }
}
