/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the parsers for the memory figures a snapshot carries and
 * the event sources watch: /proc/pressure/memory, /proc/meminfo, a cgroup v2
 * memory.events file, and PSI trigger settings ("full 100ms 1s") checked against
 * the kernel's own limits. Pure functions over buffers and strings: they do not
 * log, they return -errno and describe what is wrong in err (which may be NULL). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- /proc/pressure/<resource> ---- */

typedef struct DmabufPsiLine {
        double avg10, avg60, avg300; /* percent of wall time, as the kernel prints them */
        uint64_t total_us;           /* cumulative stall time */
} DmabufPsiLine;

typedef struct DmabufPsi {
        bool has_some, has_full; /* "full" is missing from /proc/pressure/cpu before 5.13 */
        DmabufPsiLine some, full;
} DmabufPsi;

/* Parses "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull ...\n". Each line
 * needs all four fields (keys the kernel may add later are ignored); a "some" line is
 * required. The averages are parsed without the C library so the locale cannot
 * change them. Returns 0, or -EBADMSG with err naming the line. */
int dmabuf_psi_parse(const char *buf, size_t len, DmabufPsi *ret, char *err, size_t err_len);

/* ---- /proc/meminfo ---- */

typedef struct DmabufMeminfoEntry {
        char key[48];   /* "MemTotal", "Active(anon)", "HugePages_Total" */
        uint64_t value; /* as printed: kB when in_kb, a bare count otherwise */
        bool in_kb;     /* when set, value * 1024 is checked not to overflow */
} DmabufMeminfoEntry;

typedef struct DmabufMeminfo {
        DmabufMeminfoEntry *entries; /* in the kernel's order */
        size_t n_entries;
        size_t n_bad;          /* lines skipped because they did not parse */
        unsigned first_bad_line; /* 1-based; 0 when every line parsed */
} DmabufMeminfo;

/* Parses "Key:   value kB" and "Key: value" lines. One odd line must not cost the
 * snapshot all of meminfo, so a line that does not parse is skipped and counted
 * (n_bad, and err names the first one with its line number); blank lines are
 * ignored. Returns the number of lines skipped (0 when all parsed), -EBADMSG when
 * not one line parsed, or -ENOMEM. *ret is set only on success and is released
 * with dmabuf_meminfo_done(). */
int dmabuf_meminfo_parse(const char *buf, size_t len, DmabufMeminfo *ret, char *err, size_t err_len);
void dmabuf_meminfo_done(DmabufMeminfo *m);
/* The entry named key, or NULL. */
const DmabufMeminfoEntry *dmabuf_meminfo_find(const DmabufMeminfo *m, const char *key);

static inline uint64_t dmabuf_meminfo_entry_bytes(const DmabufMeminfoEntry *e) {
        return e->in_kb ? e->value * 1024 : e->value;
}

/* ---- cgroup v2 memory.events ---- */

typedef struct DmabufMemoryEvents {
        uint64_t low, high, max, oom, oom_kill;
        bool has_oom_group_kill; /* since 5.17 */
        uint64_t oom_group_kill;
} DmabufMemoryEvents;

/* Parses "low N\nhigh N\nmax N\noom N\noom_kill N\n[oom_group_kill N\n]". Keys this
 * module does not know are ignored, but every line must be "key number". Missing
 * low/high/max/oom read as 0; a missing oom_kill is an error, since that is the
 * figure the caller watches. Returns 0 or -EBADMSG with err naming the line. */
int dmabuf_memory_events_parse(const char *buf, size_t len, DmabufMemoryEvents *ret, char *err, size_t err_len);

/* ---- PSI triggers ---- */

/* The kernel's limits (kernel/sched/psi.c, psi_trigger_create()). Linux 6.4 dropped
 * the 500 ms floor (and wants unprivileged windows to be multiples of 2 s), but
 * 5.2..6.3 refuse shorter windows, so the floor stays for every kernel. */
#define DMABUF_PSI_WINDOW_MIN_US UINT64_C(500000)
#define DMABUF_PSI_WINDOW_MAX_US UINT64_C(10000000)
/* The kernel copies at most 32 bytes of a trigger write, NUL included. */
#define DMABUF_PSI_TRIGGER_STRING_MAX 32

typedef struct DmabufPsiTrigger {
        bool full; /* "full": every non-idle task stalled; "some": at least one */
        uint64_t threshold_us;
        uint64_t window_us;
} DmabufPsiTrigger;

/* Parses "some|full THRESHOLD WINDOW", whitespace-separated. A duration is an integer
 * with an optional unit: "us" (the default, as the kernel takes it), "ms" or "s".
 * The window must lie in 500ms..10s, the threshold in 1us..window. Returns 0, or
 * -EINVAL with err naming the value at fault. */
int dmabuf_psi_trigger_parse(const char *s, DmabufPsiTrigger *ret, char *err, size_t err_len);

/* Writes the string the kernel takes, "full 100000 1000000", into buf (at least
 * DMABUF_PSI_TRIGGER_STRING_MAX bytes). Returns its length without the NUL, or
 * -EINVAL when t is out of the limits above. */
int dmabuf_psi_trigger_format(const DmabufPsiTrigger *t, char *buf, size_t size);
