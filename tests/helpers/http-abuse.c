/* SPDX-License-Identifier: MIT */
/* Hostile HTTP clients for tests/integration/http-abuse.sh, each from a chosen
 * loopback source address:
 *
 *   http-abuse hold FROM HOST PORT COUNT SECONDS
 *       Opens COUNT connections, sends each a request line and one header, never
 *       the blank line that ends the request (slowloris), and keeps them: once a
 *       second it reopens those the server closed, for SECONDS. Prints
 *       "round N open X closed Y" each second.
 *   http-abuse churn FROM HOST PORT COUNT
 *       Opens and closes COUNT connections as fast as it can, every other one
 *       after sending a whole request. Prints "connected X failed Y".
 *   http-abuse send FROM HOST PORT
 *       Sends stdin as it is, and copies what comes back to stdout until the
 *       server closes, or is silent for a second after answering; exits 2 if
 *       it answered nothing and kept the connection open for 5 s.
 *
 * bash and curl cannot open thousands of sockets cheaply, nor send a request
 * that is not one. Every wait here is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const char partial_request[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
static const char whole_request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

static struct sockaddr_in from_addr, to_addr;

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int parse_addr(const char *host, const char *port, struct sockaddr_in *ret) {
        char *end;
        long p = port ? strtol(port, &end, 10) : 0;

        if (port && (*end || p < 0 || p > 65535)) {
                fprintf(stderr, "http-abuse: invalid port '%s'\n", port);
                return -EINVAL;
        }
        *ret = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t) p) };
        if (inet_pton(AF_INET, host, &ret->sin_addr) != 1) {
                fprintf(stderr, "http-abuse: invalid IPv4 address '%s'\n", host);
                return -EINVAL;
        }
        return 0;
}

/* A socket from from_addr, connecting to to_addr; nonblocking when asked.
 * Returns the fd, or -errno. */
static int open_connection(bool nonblocking) {
        int one = 1, fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
        if (fd < 0)
                return -errno;
        /* The port is picked at connect(), for the four-tuple: thousands of
         * connections to one server port need no more than that. */
        (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &from_addr, sizeof(from_addr)) < 0 ||
            (connect(fd, (struct sockaddr *) &to_addr, sizeof(to_addr)) < 0 && errno != EINPROGRESS)) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* Whether fd is still open at the server's end: nothing readable, or data. A
 * closed or reset connection reads 0 or fails. */
static bool still_open(int fd) {
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static int run_hold(unsigned count, unsigned seconds) {
        int *fds = calloc(count, sizeof(int));
        bool *sent = calloc(count, sizeof(bool));
        unsigned round = 0;
        double end = now_sec() + seconds;

        if (!fds || !sent)
                return 1;
        for (unsigned i = 0; i < count; i++)
                fds[i] = -1;
        for (;;) {
                unsigned open = 0, closed = 0, failed = 0;
                struct pollfd *pfds;
                double deadline;

                /* Reopen every connection the server closed. */
                for (unsigned i = 0; i < count; i++)
                        if (fds[i] < 0 && (fds[i] = open_connection(true)) < 0)
                                failed++;
                /* Wait (2 s at most) for the connects, then send the partial request. */
                pfds = calloc(count, sizeof(struct pollfd));
                if (!pfds)
                        return 1;
                deadline = now_sec() + 2;
                for (;;) {
                        unsigned pending = 0;
                        int left = (int) ((deadline - now_sec()) * 1000);

                        for (unsigned i = 0; i < count; i++)
                                pfds[i] = (struct pollfd){ .fd = fds[i], .events = POLLOUT };
                        if (left <= 0 || poll(pfds, count, left) <= 0)
                                break;
                        for (unsigned i = 0; i < count; i++)
                                if (fds[i] >= 0 && !(pfds[i].revents & (POLLOUT | POLLERR | POLLHUP)))
                                        pending++;
                        if (pending == 0)
                                break;
                        usleep(10000);
                }
                free(pfds);
                for (unsigned i = 0; i < count; i++) {
                        int err = 0;
                        socklen_t len = sizeof(err);

                        if (fds[i] < 0 || sent[i])
                                continue;
                        if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                                close(fds[i]);
                                fds[i] = -1;
                                failed++;
                                continue;
                        }
                        /* Once per connection; one still connecting gets it next round. */
                        sent[i] = send(fds[i], partial_request, strlen(partial_request),
                                       MSG_NOSIGNAL | MSG_DONTWAIT) > 0;
                }
                /* Give the server a moment to close what it will not keep. */
                usleep(300000);
                for (unsigned i = 0; i < count; i++) {
                        if (fds[i] < 0)
                                continue;
                        if (still_open(fds[i])) {
                                open++;
                        } else {
                                close(fds[i]);
                                fds[i] = -1;
                                sent[i] = false;
                                closed++;
                        }
                }
                printf("round %u open %u closed %u failed %u\n", ++round, open, closed, failed);
                fflush(stdout);
                if (now_sec() >= end)
                        break;
                usleep(700000);
        }
        for (unsigned i = 0; i < count; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(fds);
        free(sent);
        return 0;
}

static int run_churn(unsigned count) {
        unsigned connected = 0, failed = 0;
        double deadline = now_sec() + 120;

        for (unsigned i = 0; i < count && now_sec() < deadline; i++) {
                int fd = open_connection(false);

                if (fd < 0) {
                        failed++;
                        continue;
                }
                connected++;
                if (i % 2)
                        (void) send(fd, whole_request, strlen(whole_request), MSG_NOSIGNAL);
                close(fd);
        }
        printf("connected %u failed %u\n", connected, failed);
        return 0;
}

static int run_send(void) {
        char buf[65536];
        size_t received = 0;
        ssize_t n;
        int fd = open_connection(false);
        double start, last;

        if (fd < 0) {
                fprintf(stderr, "http-abuse: connect: %s\n", strerror(-fd));
                return 1;
        }
        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = send(fd, buf + off, (size_t) (n - off), MSG_NOSIGNAL);

                        if (w < 0) {
                                /* The server may answer and close before all is sent. */
                                fprintf(stderr, "http-abuse: send: %s\n", strerror(errno));
                                goto read_answer;
                        }
                        off += w;
                }
read_answer:
        start = last = now_sec();
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                double t = now_sec();

                if ((received > 0 && t - last > 1) || t - start > 5)
                        break;
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0) {
                        close(fd);
                        return 0; /* closed (or reset) by the server */
                }
                fwrite(buf, 1, (size_t) n, stdout);
                received += (size_t) n;
                last = now_sec();
        }
        close(fd);
        if (received == 0) {
                fprintf(stderr, "http-abuse: no answer and no close within 5 s\n");
                return 2;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        unsigned count = 0, seconds = 0;

        if (argc < 5) {
                fprintf(stderr, "usage: http-abuse hold|churn|send FROM HOST PORT [COUNT [SECONDS]]\n");
                return 1;
        }
        if (parse_addr(argv[2], NULL, &from_addr) < 0 || parse_addr(argv[3], argv[4], &to_addr) < 0)
                return 1;
        if (argc > 5)
                count = (unsigned) strtoul(argv[5], NULL, 10);
        if (argc > 6)
                seconds = (unsigned) strtoul(argv[6], NULL, 10);
        raise_nofile();
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (strcmp(argv[1], "hold") == 0 && count > 0 && seconds > 0 && seconds <= 600)
                return run_hold(count, seconds);
        if (strcmp(argv[1], "churn") == 0 && count > 0)
                return run_churn(count);
        if (strcmp(argv[1], "send") == 0)
                return run_send();
        fprintf(stderr, "http-abuse: bad arguments\n");
        return 1;
}
