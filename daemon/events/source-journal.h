/* SPDX-License-Identifier: MIT */
#pragma once

/* This module provides the journal event source: it follows the journal (the
 * host's, or <root>/var/log/journal under --root) and hands the manager one
 * DMABUFD_EVENT_JOURNAL event for each new entry whose SYSLOG_IDENTIFIER and
 * MESSAGE match a configured pattern, which by default are the kill messages of
 * the userspace killers systemd-oomd and earlyoom. The source is optional: when
 * the journal cannot be opened it stays down and says so once. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "event.h"
#include "strbuf.h"

/* A match is written "IDENTIFIER REGEX": the entry's SYSLOG_IDENTIFIER, compared
 * exactly, then whitespace, then a POSIX extended regular expression run against
 * the entry's MESSAGE. Victim extraction: if the regex has capture groups, group 1
 * names the victim's pid when what it matched is all decimal digits (anything
 * else, or a pid out of range, leaves the event without a pid), and group 2 names
 * the victim's comm. Further groups are free for alternations. POSIX EREs have no
 * non-capturing groups, so a pattern that needs a group but captures no pid puts
 * non-digit text in group 1. */
typedef struct DmabufdJournalMatch DmabufdJournalMatch;

#define DMABUFD_JOURNAL_IDENTIFIER_MAX 255 /* bytes of a match's identifier */
#define DMABUFD_JOURNAL_PATTERN_MAX 1024   /* bytes of a match's regex */
#define DMABUFD_JOURNAL_MATCHES_MAX 64     /* matches per source */
#define DMABUFD_JOURNAL_LINE_MAX 2048      /* bytes of MESSAGE kept, before sanitizing */
#define DMABUFD_JOURNAL_COMM_MAX 64        /* bytes of a captured comm, with the NUL */

/* The built-in matches, NULL-terminated: used when no journal_match is configured. */
extern const char *const dmabufd_journal_default_matches[];

/* Parses and compiles one "IDENTIFIER REGEX" spec. Returns 0, -ENOMEM, or -EINVAL
 * with a description naming the spec (and regerror's words for a bad regex) in
 * err. Does not log: config validation calls it. */
int dmabufd_journal_match_parse(const char *spec, DmabufdJournalMatch **ret, char *err, size_t err_len);
DmabufdJournalMatch *dmabufd_journal_match_free(DmabufdJournalMatch *m);
const char *dmabufd_journal_match_identifier(const DmabufdJournalMatch *m);

static inline void dmabufd_journal_match_freep(DmabufdJournalMatch **m) {
        if (*m)
                dmabufd_journal_match_free(*m);
}

typedef struct DmabufdJournalHit {
        pid_t pid;                          /* 0 when the match captured none */
        char comm[DMABUFD_JOURNAL_COMM_MAX]; /* "" when the match captured none */
} DmabufdJournalHit;

/* Runs one match against an entry. message must be NUL-terminated (as
 * dmabufd_journal_message_sanitize makes it). Returns 1 and fills *ret on a match,
 * 0 when the identifier differs or the regex does not match. */
int dmabufd_journal_match_exec(const DmabufdJournalMatch *m, const char *identifier, const char *message,
                               DmabufdJournalHit *ret);

/* Turns a journal field's value (bytes, possibly binary) into text fit for events,
 * JSON and logs: at most DMABUFD_JOURNAL_LINE_MAX bytes of input are kept, cut at a
 * character boundary; trailing newlines go; NUL bytes and sequences that are not
 * valid UTF-8 become U+FFFD. Replaces sb's contents. Returns 0 or -ENOMEM. */
int dmabufd_journal_message_sanitize(const void *data, size_t len, StrBuf *sb);

typedef struct DmabufdSourceJournal DmabufdSourceJournal;

/* Starts following the journal on e. root NULL, "" or "/" reads the host's journal
 * (sd_journal_open, local system journals); anything else reads
 * <root>/var/log/journal, flat or with machine-id subdirectories
 * (sd_journal_open_directory). match_specs is a NULL-terminated list of
 * "IDENTIFIER REGEX" specs, or NULL for dmabufd_journal_default_matches. Only
 * entries that arrive after the start are considered.
 *
 * Returns 0 with *ret set even when the journal cannot be opened: the source is
 * then down (see _is_up), which is logged once with the path and error. Returns
 * -EINVAL for an invalid or empty spec list (logged; config validation should
 * have caught it) and -ENOMEM. cb receives events with borrowed pointers. */
int dmabufd_source_journal_new(sd_event *e, const char *root, const char *const *match_specs, DmabufdEventFunc cb,
                               void *userdata, DmabufdSourceJournal **ret);
/* For dmabufd_source_up{source="journal"}. */
bool dmabufd_source_journal_is_up(const DmabufdSourceJournal *s);
DmabufdSourceJournal *dmabufd_source_journal_free(DmabufdSourceJournal *s);

static inline void dmabufd_source_journal_freep(DmabufdSourceJournal **s) {
        if (*s)
                dmabufd_source_journal_free(*s);
}
