/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the daemon's configuration: defaults, the ini file (read
 * with inih) and validation of every value, shared by the file and the command
 * line so both reject the same things with the same words. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define DMABUFD_DEFAULT_CONFIG SYSCONFDIR "/dmabufd/dmabufd.conf"
#define DMABUFD_DEFAULT_LISTEN "localhost:10040"
#define DMABUFD_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/dmabufd"
#define DMABUFD_DEFAULT_INTERVAL 10.0
#define DMABUFD_DEFAULT_TOP 20
#define DMABUFD_DEFAULT_SNAPSHOT_MAX_COUNT 50
#define DMABUFD_DEFAULT_SNAPSHOT_MAX_BYTES (256ULL << 20)

typedef struct DmabufdConfig {
        char **listen; /* NULL-terminated */
        char *root;
        char *state_dir;
        double interval_sec;
        int log_level;
        unsigned top_processes;
        unsigned top_names;

        uint64_t snapshot_max_count;
        uint64_t snapshot_max_bytes;
        double cooldown_sec[_DMABUFD_EVENT_KIND_MAX];
        bool snapshot_post_any; /* POST /api/v1/snapshots from any address, not only loopback */
        bool bpf;               /* bpf = auto: load the BPF programs where the kernel allows */

        /* Event sources. A list left NULL means the source's defaults; an empty
         * list (a bare "key =" line) turns the source off. */
        bool kmsg;
        char **psi_triggers;
        char **cgroups;
        char **journal_matches;
} DmabufdConfig;

void dmabufd_config_init(DmabufdConfig *c);
void dmabufd_config_done(DmabufdConfig *c);
/* A deep copy. Returns 0 or -ENOMEM. */
int dmabufd_config_copy(DmabufdConfig *dst, const DmabufdConfig *src);

/* Sets one option by its config-file key, validating the value. On failure
 * returns -EINVAL (bad value) or -ENOENT (unknown key) and writes a description
 * naming the value into err. */
int dmabufd_config_set(DmabufdConfig *c, const char *key, const char *value, char *err, size_t err_len);
/* Replaces the listen list with one address, or appends with append=true. */
int dmabufd_config_add_listen(DmabufdConfig *c, const char *addr, bool append, char *err, size_t err_len);

/* Loads path over c. Returns 0; -ENOENT if the file does not exist; -EINVAL with
 * "path:line: what" in err for a bad line; other -errno if unreadable. */
int dmabufd_config_load(DmabufdConfig *c, const char *path, char *err, size_t err_len);
