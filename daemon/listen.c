/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "fileio.h"
#include "listen.h"
#include "macro.h"

int dmabufd_listen_parse(const char *s, DmabufdListenAddress *ret) {
        DmabufdListenAddress a = { 0 };
        const char *colon, *host;
        size_t host_len;
        uint64_t port;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                struct in6_addr in6;

                if (!close || close[1] != ':')
                        return -EINVAL;
                host = s + 1;
                host_len = (size_t) (close - host);
                colon = close + 1;
                if (host_len == 0 || host_len >= sizeof(a.host))
                        return -EINVAL;
                memcpy(a.host, host, host_len);
                if (inet_pton(AF_INET6, a.host, &in6) != 1)
                        return -EINVAL;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                host_len = (size_t) (colon - s);
                if (host_len >= sizeof(a.host) || memchr(s, ':', host_len))
                        return -EINVAL; /* a bare IPv6 address needs brackets */
                memcpy(a.host, s, host_len);
        }
        if (safe_atou64(colon + 1, &port) < 0 || port > 65535)
                return -EINVAL;
        for (const char *p = a.host; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '-' || *p == ':' || *p == '%' || *p == '_'))
                        return -EINVAL;
        a.port = (uint16_t) port;
        *ret = a;
        return 0;
}

/* Copied out rather than cast: struct sockaddr only promises 2-byte alignment. */
static void sockaddr_name(const struct sockaddr *sa, char *buf, size_t len) {
        char host[INET6_ADDRSTRLEN] = "?";

        if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 in6;

                memcpy(&in6, sa, sizeof(in6));
                inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof(host));
                snprintf(buf, len, "[%s]:%u", host, ntohs(in6.sin6_port));
        } else {
                struct sockaddr_in in;

                memcpy(&in, sa, sizeof(in));
                inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
                snprintf(buf, len, "%s:%u", host, ntohs(in.sin_port));
        }
}

static int open_one(const struct addrinfo *ai, DmabufdListener *ret, char *err, size_t err_len) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_storage bound;
        socklen_t bound_len = sizeof(bound);
        char name[80];
        int one = 1;

        sockaddr_name(ai->ai_addr, name, sizeof(name));
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                goto fail;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                goto fail;
        /* Keep families apart so "[::]:P" and "0.0.0.0:P" can both be listed. */
        if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                goto fail;
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
                goto fail;
        /* A burst of connections (a scan, a slowloris) fills a short queue
         * faster than they are accepted and refused, and then the kernel drops
         * a scraper's SYN too, costing it a 1 s retransmission. SOMAXCONN is
         * what systemd's sockets get as well (Backlog=). */
        if (listen(fd, SOMAXCONN) < 0)
                goto fail;
        if (getsockname(fd, (struct sockaddr *) &bound, &bound_len) == 0)
                sockaddr_name((struct sockaddr *) &bound, ret->name, sizeof(ret->name));
        else
                snprintf(ret->name, sizeof(ret->name), "%s", name);
        ret->fd = TAKE_FD(fd);
        return 0;
fail:
        {
                int r = negative_errno();
                snprintf(err, err_len, "cannot listen on %s: %s", name, strerror(-r));
                return r;
        }
}

static int append_listener(DmabufdListener **listeners, size_t *n_listeners, const DmabufdListener *l) {
        DmabufdListener *v = realloc(*listeners, (*n_listeners + 1) * sizeof(DmabufdListener));

        if (!v)
                return -ENOMEM;
        v[(*n_listeners)++] = *l;
        *listeners = v;
        return 0;
}

int dmabufd_listen_open(const char *spec, DmabufdListener **listeners, size_t *n_listeners, char *err,
                        size_t err_len) {
        DmabufdListenAddress a;
        struct addrinfo hints = {
                .ai_family = AF_UNSPEC,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
        }, *res = NULL;
        char port[8], first_err[512] = "";
        size_t bound = 0;
        int r, first_r = 0;

        if (dmabufd_listen_parse(spec, &a) < 0) {
                snprintf(err, err_len, "invalid listen address '%s': expected HOST:PORT, [V6]:PORT or :PORT", spec);
                return -EINVAL;
        }
        snprintf(port, sizeof(port), "%u", a.port);
        r = getaddrinfo(a.host[0] ? a.host : NULL, port, &hints, &res);
        if (r != 0) {
                snprintf(err, err_len, "cannot resolve listen address '%s': %s", spec, gai_strerror(r));
                return -EINVAL;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                DmabufdListener l;
                char e[512];

                if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                        continue;
                r = open_one(ai, &l, e, sizeof(e));
                if (r < 0) {
                        if (first_r == 0) {
                                first_r = r;
                                snprintf(first_err, sizeof(first_err), "%s", e);
                        }
                        /* A name may resolve to a family the host cannot bind (no
                         * IPv6): fine if another address of it binds. Anything else,
                         * such as the port being taken, is fatal. */
                        if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
                                continue;
                        freeaddrinfo(res);
                        snprintf(err, err_len, "%s", e);
                        return r;
                }
                if (append_listener(listeners, n_listeners, &l) < 0) {
                        safe_close(l.fd);
                        freeaddrinfo(res);
                        return -ENOMEM;
                }
                bound++;
        }
        freeaddrinfo(res);
        if (bound == 0) {
                snprintf(err, err_len, "%s", first_err[0] ? first_err : "no address to listen on");
                return first_r < 0 ? first_r : -EADDRNOTAVAIL;
        }
        return 0;
}

int dmabufd_listen_from_systemd(DmabufdListener **listeners, size_t *n_listeners, char *err, size_t err_len) {
        int n, r;

        /* Unset, so that nothing this process starts believes the fds are its. */
        n = sd_listen_fds(true);
        if (n < 0) {
                snprintf(err, err_len, "socket activation: invalid LISTEN_FDS or LISTEN_PID: %s", strerror(-n));
                return n;
        }
        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
                DmabufdListener l = { .fd = fd };
                struct sockaddr_storage sa;
                socklen_t sa_len = sizeof(sa);
                int flags;

                r = sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0);
                if (r <= 0) {
                        snprintf(err, err_len,
                                 "socket activation: fd %d is not a listening TCP socket (ListenStream= takes "
                                 "HOST:PORT here)",
                                 fd);
                        return -EINVAL;
                }
                /* systemd hands sockets over blocking; one accept() must never
                 * stall the HTTP thread behind a connection that went away. */
                flags = fcntl(fd, F_GETFL);
                if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                        r = -errno;
                        snprintf(err, err_len, "socket activation: fd %d: %s", fd, strerror(-r));
                        return r;
                }
                if (getsockname(fd, (struct sockaddr *) &sa, &sa_len) == 0)
                        sockaddr_name((struct sockaddr *) &sa, l.name, sizeof(l.name));
                else
                        snprintf(l.name, sizeof(l.name), "fd %d", fd);
                r = append_listener(listeners, n_listeners, &l);
                if (r < 0) {
                        snprintf(err, err_len, "out of memory");
                        return r;
                }
        }
        return n;
}
