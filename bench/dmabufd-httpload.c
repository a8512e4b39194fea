/* SPDX-License-Identifier: MIT */
/* HTTP load on a running dmabufd: CLIENTS keep-alive connections, each sending
 * GET PATH and reading the whole answer before the next, until REQUESTS
 * requests have been made in all. Prints p50, p99 and the slowest latency
 * (request sent to last body byte read), requests per second, errors, and the
 * daemon's VmRSS and VmHWM before and after; the targets are p99 <= 5 ms and no
 * error.
 *
 *   dmabufd-httpload --port PORT [--clients 64] [--requests 20000]
 *                    [--path /metrics] [--daemon-pid PID]
 *
 * The clients come from 127.0.0.11 to 127.0.0.18 in turn, eight from each
 * address, as eight Prometheus servers would: one address alone may hold only
 * http_max_connections_per_address (16 by default). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOURCE_ADDRESSES 8
#define TIMEOUT_SEC 5

static unsigned port, n_clients = 64, n_requests = 20000;
static const char *path = "/metrics";
static atomic_uint next_request;
static atomic_uint n_errors, n_reconnects;
static double *latencies; /* seconds, one per request; < 0 for a failed one */

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int connect_from(unsigned client) {
        struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
        struct timeval tv = { .tv_sec = TIMEOUT_SEC };
        int one = 1, fd;

        from.sin_addr.s_addr = htonl(0x7f00000bu + client % SOURCE_ADDRESSES); /* 127.0.0.11 + */
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons((uint16_t) port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (bind(fd, (struct sockaddr *) &from, sizeof(from)) < 0 ||
            connect(fd, (struct sockaddr *) &to, sizeof(to)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

typedef struct Buffer {
        char *data;
        size_t len, size;
} Buffer;

static int read_more(int fd, Buffer *b) {
        ssize_t n;

        if (b->size - b->len < 65536) {
                char *p = realloc(b->data, b->size * 2);
                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->size *= 2;
        }
        n = recv(fd, b->data + b->len, b->size - b->len - 1, 0);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ECONNRESET;
        b->len += (size_t) n;
        b->data[b->len] = '\0';
        return 0;
}

/* One request and its whole answer on fd. Returns the status, or -errno. */
static int exchange(int fd, const char *request, size_t request_len, Buffer *b) {
        char *end, *cl;
        size_t head, body;
        int r, status;

        if (send(fd, request, request_len, MSG_NOSIGNAL) != (ssize_t) request_len)
                return -EIO;
        b->len = 0;
        while (!(end = memmem(b->data, b->len, "\r\n\r\n", 4)))
                if ((r = read_more(fd, b)) < 0)
                        return r;
        head = (size_t) (end - b->data) + 4;
        if (sscanf(b->data, "HTTP/1.%*d %d", &status) != 1)
                return -EPROTO;
        *end = '\0'; /* the headers alone, for strcasestr */
        cl = strcasestr(b->data, "\r\nContent-Length:");
        if (!cl)
                return -EPROTO; /* /metrics always has a length */
        body = strtoull(cl + 17, NULL, 10);
        while (b->len < head + body)
                if ((r = read_more(fd, b)) < 0)
                        return r;
        return status;
}

static void *client_main(void *arg) {
        unsigned client = (unsigned) (uintptr_t) arg;
        char request[512];
        int n = snprintf(request, sizeof(request),
                         "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: dmabufd-httpload\r\n"
                         "Accept: text/plain;version=0.0.4\r\n\r\n",
                         path, port);
        Buffer b = { .data = malloc(1 << 20), .size = 1 << 20 };
        int fd = -1;

        if (!b.data)
                return NULL;
        for (;;) {
                unsigned i = atomic_fetch_add(&next_request, 1);
                double t0;
                int status;

                if (i >= n_requests)
                        break;
                if (fd < 0) {
                        fd = connect_from(client);
                        if (fd < 0) {
                                latencies[i] = -1;
                                atomic_fetch_add(&n_errors, 1);
                                continue;
                        }
                }
                t0 = now_sec();
                status = exchange(fd, request, (size_t) n, &b);
                if (status == 200) {
                        latencies[i] = now_sec() - t0;
                        continue;
                }
                latencies[i] = -1;
                atomic_fetch_add(&n_errors, 1);
                if (status < 0) {
                        /* Closed, or out of step: a new connection for the next. */
                        close(fd);
                        fd = -1;
                        atomic_fetch_add(&n_reconnects, 1);
                }
        }
        if (fd >= 0)
                close(fd);
        free(b.data);
        return NULL;
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static void print_memory(const char *when, long pid) {
        char name[64], line[256];
        FILE *f;

        if (pid <= 0)
                return;
        snprintf(name, sizeof(name), "/proc/%ld/status", pid);
        f = fopen(name, "re");
        if (!f) {
                printf("%-22s cannot read %s: %s\n", when, name, strerror(errno));
                return;
        }
        printf("%-22s", when);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0 || strncmp(line, "VmHWM:", 6) == 0) {
                        line[strcspn(line, "\n")] = '\0';
                        printf(" %s", line);
                }
        printf("\n");
        fclose(f);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "port", required_argument, NULL, 'p' },     { "clients", required_argument, NULL, 'c' },
                { "requests", required_argument, NULL, 'n' }, { "path", required_argument, NULL, 'P' },
                { "daemon-pid", required_argument, NULL, 'd' }, {}
        };
        pthread_t *threads;
        double start, elapsed, *ok;
        size_t n_ok = 0;
        long daemon_pid = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'p': port = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'c': n_clients = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'n': n_requests = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'P': path = optarg; break;
                case 'd': daemon_pid = strtol(optarg, NULL, 10); break;
                default: return 2;
                }
        if (port == 0 || port > 65535 || n_clients == 0 || n_clients > 1024 || n_requests == 0) {
                fprintf(stderr, "usage: dmabufd-httpload --port PORT [--clients 1-1024] [--requests N] "
                                "[--path PATH] [--daemon-pid PID]\n");
                return 2;
        }
        latencies = calloc(n_requests, sizeof(double));
        ok = calloc(n_requests, sizeof(double));
        threads = calloc(n_clients, sizeof(pthread_t));
        if (!latencies || !ok || !threads)
                return 1;

        printf("%u keep-alive clients from %d addresses, %u requests of GET %s on 127.0.0.1:%u\n", n_clients,
               SOURCE_ADDRESSES, n_requests, path, port);
        print_memory("daemon before", daemon_pid);
        start = now_sec();
        for (unsigned i = 0; i < n_clients; i++)
                if (pthread_create(&threads[i], NULL, client_main, (void *) (uintptr_t) i) != 0) {
                        fprintf(stderr, "dmabufd-httpload: cannot start client %u\n", i);
                        return 1;
                }
        for (unsigned i = 0; i < n_clients; i++)
                pthread_join(threads[i], NULL);
        elapsed = now_sec() - start;
        print_memory("daemon after", daemon_pid);

        for (unsigned i = 0; i < n_requests; i++)
                if (latencies[i] >= 0)
                        ok[n_ok++] = latencies[i];
        qsort(ok, n_ok, sizeof(double), compare_double);
        if (n_ok > 0) {
                double p50 = ok[(n_ok - 1) / 2], p99 = ok[(size_t) ((double) (n_ok - 1) * 0.99)];

                printf("latency                p50 %.2f ms, p99 %.2f ms, slowest %.2f ms\n", p50 * 1e3, p99 * 1e3,
                       ok[n_ok - 1] * 1e3);
                printf("throughput             %.0f requests/s (%zu answered 200 in %.2f s)\n",
                       (double) n_ok / elapsed, n_ok, elapsed);
                printf("errors                 %u (%u connections lost)\n", atomic_load(&n_errors),
                       atomic_load(&n_reconnects));
                printf("target p99 <= 5 ms     %s\n", p99 <= 0.005 ? "met" : "MISSED");
        } else
                printf("errors                 %u: no request answered 200\n", atomic_load(&n_errors));
        printf("target 0 errors        %s\n", atomic_load(&n_errors) == 0 ? "met" : "MISSED");
        free(latencies);
        free(ok);
        free(threads);
        return 0;
}
