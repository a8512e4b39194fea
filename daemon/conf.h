/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the daemon's configuration: defaults, the ini file (read
 * with inih) and validation of every value, shared by the file and the command
 * line so both reject the same things with the same words. One table of keys
 * (dmabufd_config_keys) drives all of it, and --help and the shipped
 * etc/dmabufd.conf are written from the same table, so a key is added once. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "event.h"

#define DMABUFD_DEFAULT_CONFIG SYSCONFDIR "/dmabufd/dmabufd.conf"
#define DMABUFD_DEFAULT_LISTEN "localhost:10040"
#define DMABUFD_DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/dmabufd"

typedef struct DmabufdConfig {
        char **listen; /* NULL-terminated */
        char *root;
        char *state_dir;
        double interval_sec;
        int log_level;
        unsigned top_processes;
        unsigned top_names;
        unsigned top_cgroups;
        unsigned cgroup_depth; /* 0: the whole path */

        uint64_t snapshot_max_count;
        uint64_t snapshot_max_bytes;
        double cooldown_sec[_DMABUFD_EVENT_KIND_MAX];
        bool snapshot_post_any; /* POST /api/v1/snapshots from any address, not only loopback */
        bool bpf;               /* bpf = auto: load the BPF programs where the kernel allows */

        /* libmicrohttpd's limits, per listening address. */
        unsigned http_max_connections;
        unsigned http_max_connections_per_address;
        unsigned http_timeout_sec; /* an idle connection is closed after it */

        /* Event sources. A list left NULL means the source's defaults; an empty
         * list (a bare "key =" line) turns the source off. */
        bool kmsg;
        char **psi_triggers;
        char **cgroups;
        char **journal_matches;
} DmabufdConfig;

/* How a key's value is read and where it goes. */
typedef enum DmabufdConfigType {
        DMABUFD_CONFIG_STRING,    /* char *, not empty; NULL until set */
        DMABUFD_CONFIG_SECONDS,   /* double, decimal seconds within [min, max] */
        DMABUFD_CONFIG_UINT,      /* unsigned or uint64_t, whole number within [min, max] */
        DMABUFD_CONFIG_SIZE,      /* uint64_t, bytes with K, M, G or T, at least min */
        DMABUFD_CONFIG_BOOL,      /* bool, yes or no */
        DMABUFD_CONFIG_CHOICE,    /* bool, one of two words */
        DMABUFD_CONFIG_LOG_LEVEL, /* int, a syslog level */
        DMABUFD_CONFIG_LIST,      /* char **, repeatable; NULL until set */
} DmabufdConfigType;

typedef struct DmabufdConfigKey {
        const char *section; /* the ini section it belongs to */
        const char *name;
        DmabufdConfigType type;
        size_t offset, size; /* the DmabufdConfig field it sets */
        double min, max;     /* bounds of SECONDS, UINT and SIZE */
        /* CHOICE: the two words, as listed in messages; the field is true for
         * words[0] when words0_is_true, else for words[1]. */
        const char *words[2];
        bool words0_is_true;
        /* LIST: checks one value against the list so far, writing what is wrong
         * into err. The value is then appended. */
        int (*check)(const DmabufdConfig *c, const char *value, char *err, size_t err_len);
        bool empty_means_none; /* LIST: "key =" leaves the list empty */
        /* The defaults as text, NULL-terminated: more than one for a list. A
         * STRING or LIST field stays NULL, and these say what NULL means; the
         * others are set by dmabufd_config_init() from this text. */
        const char *const *defaults;
        /* What the shipped file shows instead, when the default depends on the
         * build: the file is the same for every build. */
        const char *shipped_default;
        /* The command-line option that sets the same thing, if any, and its line
         * in --help. */
        const char *option;
        char short_option;
        const char *metavar;
        const char *help;
        /* The shipped file: a heading before the key, and the comment above it
         * ("\n" between lines); NULL when it shares the previous key's comment. */
        const char *heading;
        const char *doc;
} DmabufdConfigKey;

extern const DmabufdConfigKey dmabufd_config_keys[];
extern const size_t dmabufd_config_n_keys;

/* The key called name, or NULL. */
const DmabufdConfigKey *dmabufd_config_key_find(const char *name);

/* Writes the shipped configuration file, every key commented out at its
 * default, to f. Returns 0 or -errno. */
int dmabufd_config_write_example(FILE *f);

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
