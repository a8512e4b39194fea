/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides listen addresses: parsing "HOST:PORT", "[V6]:PORT" and
 * ":PORT", and opening the listening sockets for them. */

#include <stddef.h>
#include <stdint.h>

typedef struct DmabufdListenAddress {
        char host[256]; /* "" = every address */
        uint16_t port;
} DmabufdListenAddress;

/* Returns 0 or -EINVAL. */
int dmabufd_listen_parse(const char *s, DmabufdListenAddress *ret);

typedef struct DmabufdListener {
        int fd;
        char name[80]; /* "127.0.0.1:10040" or "[::1]:10040", with the bound port */
} DmabufdListener;

/* Resolves and binds every address of spec, appending to *listeners. Addresses a
 * name resolves to but the host cannot bind (no IPv6) are skipped as long as one
 * binds. Returns 0; -EINVAL if spec is malformed or does not resolve; the bind or
 * listen -errno otherwise, with a description naming the address in err. */
int dmabufd_listen_open(const char *spec, DmabufdListener **listeners, size_t *n_listeners, char *err,
                        size_t err_len);

/* Takes the sockets systemd passed (socket activation, LISTEN_FDS) in place of
 * the configured addresses. Each must be a listening TCP socket. Returns the
 * number of sockets taken (0: not socket-activated), or -EINVAL with the fd at
 * fault named in err; the caller owns what was appended either way. */
int dmabufd_listen_from_systemd(DmabufdListener **listeners, size_t *n_listeners, char *err, size_t err_len);
