/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "source-journal.h"
#include "utf8.h"

/* A flood of matching entries (a killer looping, a process forging its messages)
 * must not starve the loop: this many entries per dispatch, then a defer source
 * continues after everything else pending has run. */
#define JOURNAL_ENTRIES_PER_DISPATCH 64U

/* The kill messages, as their sources print them (format strings read in the
 * projects' own sources; the exact release each wording first shipped in was not
 * checked against tags):
 *
 * earlyoom (rfjakob/earlyoom kill.c, kill_process(), several revisions read;
 * SYSLOG_IDENTIFIER "earlyoom", the name journald gives the stderr stream of its
 * service). The line starts
 * "sending %s to process %d uid %d \"%s\": " (signal name, pid, uid, comm) and
 * goes on with "badness %d, VmRSS %lld MiB" (the form of v1.7, Debian 12's) or,
 * in later revisions, "oom_score %d, ..., cmdline \"%s\"". The signal is SIGTERM, then
 * SIGKILL if the victim lingers; "0 (no-op signal)" is the start-up self-test,
 * logged only with -d, and must not match. Matching through the word after the
 * comm keeps a comm that contains '": ' whole without letting a cmdline extend
 * it. "process %d exited after %.3f seconds" and "escalating to SIGKILL" follow a
 * kill and are not matched: one kill, one event. Releases before the "uid" field
 * are not matched.
 *
 * systemd-oomd (systemd/systemd src/oom/oomd-manager.c, read at 0377c44b;
 * SYSLOG_IDENTIFIER "systemd-oomd", its program name): log_notice("Killed %s due
 * to memory used (%"PRIu64") / total ... being more than %s") after a swap kill
 * and "Killed %s due to memory pressure for %s being %lu.%02lu%% > ..." after a
 * pressure kill, %s being cgroup paths; an older revision said "due to swap used
 * (". oomd kills a whole cgroup, so no pid or comm is captured: the cgroup stays
 * in the line. Group 1 holds the alternation and is never digits. */
const char *const dmabufd_journal_default_matches[] = {
        "earlyoom ^sending SIG[A-Z]+ to process ([0-9]+) uid -?[0-9]+ \"(.*)\": (badness|oom_score) -?[0-9]+",
        "systemd-oomd ^Killed /[^ ]* due to (memory used \\(|swap used \\(|memory pressure for /)",
        NULL,
};

struct DmabufdJournalMatch {
        char *identifier;
        char *pattern;
        regex_t regex;
};

DmabufdJournalMatch *dmabufd_journal_match_free(DmabufdJournalMatch *m) {
        if (!m)
                return NULL;
        regfree(&m->regex);
        free(m->identifier);
        free(m->pattern);
        free(m);
        return NULL;
}

const char *dmabufd_journal_match_identifier(const DmabufdJournalMatch *m) {
        return m->identifier;
}

/* glibc's regcomp expands each repetition by copying what it repeats (a+ is
 * aa*, a{2,5} is five copies of a), so stacked and nested repetitions multiply:
 * "a" followed by a hundred "+", or "((a{99}){99}){99}", takes gigabytes to
 * compile. A pattern whose atoms and * ? nodes would be copied more than this
 * many times in all is refused before regcomp sees it. */
#define REGEX_COPIES_MAX 256U
#define REGEX_NEST_MAX 32U

static uint64_t add_sat(uint64_t a, uint64_t b) {
        return MIN(a + b, (uint64_t) REGEX_COPIES_MAX + 1);
}

static uint64_t mul_sat(uint64_t a, uint64_t b) {
        return b != 0 && a > ((uint64_t) REGEX_COPIES_MAX + 1) / b ? (uint64_t) REGEX_COPIES_MAX + 1 : a * b;
}

/* The copies one repetition operator at p makes of what it follows (1 for * and
 * ?, which wrap one copy in a node of their own), and its length in *len; 0
 * when p holds none. */
static uint64_t repetition_at(const char *p, size_t *len) {
        uint64_t lo = 0, hi = 0;
        const char *q = p + 1;

        *len = 1;
        if (*p == '*' || *p == '?')
                return 1;
        if (*p == '+')
                return 2;
        if (*p != '{')
                return 0;
        for (; *q >= '0' && *q <= '9'; q++)
                lo = mul_sat(lo, 10) + (uint64_t) (*q - '0');
        if (*q == ',') {
                const char *digits = ++q;

                for (; *q >= '0' && *q <= '9'; q++)
                        hi = mul_sat(hi, 10) + (uint64_t) (*q - '0');
                if (q == digits)
                        hi = lo + 1; /* {m,}: m copies and a starred one */
        }
        if (*q != '}' || q == p + 1)
                return 0; /* a literal brace; regcomp judges it */
        *len = (size_t) (q - p) + 1;
        return MAX(MAX(lo, hi), (uint64_t) 1);
}

/* How many copies of its atoms regcomp would make of pattern (an extended
 * regex), saturating at REGEX_COPIES_MAX + 1; *ret_stacked says whether one
 * repetition operator follows another ("a??", "a+*"). */
static uint64_t regex_copies(const char *p, bool *ret_stacked) {
        uint64_t sum[REGEX_NEST_MAX + 1] = { 0 }, last[REGEX_NEST_MAX + 1] = { 0 };
        unsigned depth = 0;
        bool after_repetition = false;

        *ret_stacked = false;
        while (*p) {
                size_t len;
                uint64_t k = repetition_at(p, &len);

                if (k > 0 && after_repetition)
                        *ret_stacked = true;
                after_repetition = k > 0;
                if (k == 1) {
                        /* * and ? copy nothing but wrap what they follow in one
                         * more node, and a later + or {m,n} copies the wrapped
                         * whole: "a", 120 "?" and "++++" made regcomp's epsilon
                         * closure run for longer than the fuzzer's 10 s. */
                        sum[depth] = add_sat(sum[depth], 1);
                        last[depth] = add_sat(last[depth], 1);
                        p += len;
                        continue;
                }
                if (k > 1) {
                        /* What the operator follows is copied k times in all. */
                        sum[depth] = add_sat(sum[depth], mul_sat(last[depth], k - 1));
                        last[depth] = mul_sat(last[depth], k);
                        p += len;
                        continue;
                }
                if (*p == '(') {
                        if (depth == REGEX_NEST_MAX)
                                return (uint64_t) REGEX_COPIES_MAX + 1;
                        depth++;
                        sum[depth] = last[depth] = 0;
                        p++;
                        continue;
                }
                if (*p == ')' && depth > 0) {
                        uint64_t group = MAX(sum[depth], (uint64_t) 1);

                        depth--;
                        sum[depth] = add_sat(sum[depth], group);
                        last[depth] = group;
                        p++;
                        continue;
                }
                if (*p == '|') {
                        last[depth] = 0;
                        p++;
                        continue;
                }
                /* One atom: a character, an escaped one, or a bracket expression. */
                if (*p == '\\' && p[1])
                        p += 2;
                else if (*p == '[') {
                        p++;
                        if (*p == '^')
                                p++;
                        if (*p == ']')
                                p++;
                        while (*p && *p != ']')
                                p++;
                        if (*p)
                                p++;
                } else
                        p++;
                sum[depth] = add_sat(sum[depth], 1);
                last[depth] = 1;
        }
        /* A group left open still costs: regcomp copies as it parses and finds
         * the missing ")" only at the end. */
        for (; depth > 0; depth--)
                sum[depth - 1] = add_sat(sum[depth - 1], sum[depth]);
        return sum[0];
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

int dmabufd_journal_match_parse(const char *spec, DmabufdJournalMatch **ret, char *err, size_t err_len) {
        _cleanup_free_ char *identifier = NULL, *pattern = NULL;
        DmabufdJournalMatch *m;
        const char *p = spec, *id_start;
        bool stacked;
        size_t id_len;
        int r;

        while (is_blank(*p))
                p++;
        id_start = p;
        while (*p && !is_blank(*p))
                p++;
        id_len = (size_t) (p - id_start);
        while (is_blank(*p))
                p++;

        if (id_len == 0 || *p == '\0') {
                snprintf(err, err_len, "invalid journal_match '%s': expected IDENTIFIER REGEX", spec);
                return -EINVAL;
        }
        if (id_len > DMABUFD_JOURNAL_IDENTIFIER_MAX) {
                snprintf(err, err_len, "invalid journal_match '%s': identifier longer than %d bytes", spec,
                         DMABUFD_JOURNAL_IDENTIFIER_MAX);
                return -EINVAL;
        }
        for (size_t i = 0; i < id_len; i++)
                if ((unsigned char) id_start[i] < 0x20 || id_start[i] == 0x7f) {
                        snprintf(err, err_len, "invalid journal_match '%s': control character in the identifier",
                                 spec);
                        return -EINVAL;
                }
        if (strlen(p) > DMABUFD_JOURNAL_PATTERN_MAX) {
                snprintf(err, err_len, "invalid journal_match '%s': regex longer than %d bytes", spec,
                         DMABUFD_JOURNAL_PATTERN_MAX);
                return -EINVAL;
        }

        if (regex_copies(p, &stacked) > REGEX_COPIES_MAX) {
                snprintf(err, err_len,
                         "invalid journal_match '%s': the regex's repetitions expand to more than %u copies "
                         "(stacked or nested + * ? {m,n}), which would take the regex compiler gigabytes",
                         spec, REGEX_COPIES_MAX);
                return -EINVAL;
        }
        /* POSIX leaves a repetition of a repetition undefined, and glibc nests
         * one node per operator: a run of them next to other optional atoms
         * kept its epsilon closure busy for seconds though few copies were made
         * (a fuzzer's find). No real pattern needs one: "a??" is "a?". */
        if (stacked) {
                snprintf(err, err_len,
                         "invalid journal_match '%s': stacked repetition operators (such as \"??\" or \"+*\"), "
                         "which POSIX leaves undefined; write one operator per atom or group",
                         spec);
                return -EINVAL;
        }

        identifier = strndup(id_start, id_len);
        pattern = strdup(p);
        m = calloc(1, sizeof(*m));
        if (!identifier || !pattern || !m) {
                free(m);
                return -ENOMEM;
        }
        r = regcomp(&m->regex, pattern, REG_EXTENDED);
        if (r != 0) {
                char why[256];

                regerror(r, &m->regex, why, sizeof(why));
                free(m);
                if (r == REG_ESPACE)
                        return -ENOMEM;
                snprintf(err, err_len, "invalid journal_match '%s': bad regex '%s': %s", spec, pattern, why);
                return -EINVAL;
        }
        m->identifier = TAKE_PTR(identifier);
        m->pattern = TAKE_PTR(pattern);
        *ret = m;
        return 0;
}

/* Backs n off so that s[0..n) does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const unsigned char *s, size_t len, size_t n) {
        if (n >= len)
                return len;
        for (unsigned i = 0; i < 3 && n > 0 && (s[n] & 0xc0) == 0x80; i++)
                n--;
        return n;
}

int dmabufd_journal_match_exec(const DmabufdJournalMatch *m, const char *identifier, const char *message,
                               DmabufdJournalHit *ret) {
        DmabufdJournalHit hit = { 0 };
        regmatch_t pm[3];
        size_t n_pm = MIN(m->regex.re_nsub + 1, ELEMENTSOF(pm));

        if (!identifier || !message || !streq(identifier, m->identifier))
                return 0;
        if (regexec(&m->regex, message, n_pm, pm, 0) != 0)
                return 0;

        if (n_pm > 1 && pm[1].rm_so >= 0 && pm[1].rm_eo > pm[1].rm_so) {
                size_t len = (size_t) (pm[1].rm_eo - pm[1].rm_so);
                uint64_t v;

                if (safe_atou64_n(message + pm[1].rm_so, len, &v) >= 0 && v > 0 && v <= INT_MAX)
                        hit.pid = (pid_t) v;
        }
        if (n_pm > 2 && pm[2].rm_so >= 0 && pm[2].rm_eo > pm[2].rm_so) {
                const unsigned char *c = (const unsigned char *) message + pm[2].rm_so;
                size_t len = (size_t) (pm[2].rm_eo - pm[2].rm_so);

                len = utf8_cut(c, len, MIN(len, sizeof(hit.comm) - 1));
                memcpy(hit.comm, c, len);
                hit.comm[len] = '\0';
        }
        *ret = hit;
        return 1;
}

int dmabufd_journal_message_sanitize(const void *data, size_t len, StrBuf *sb) {
        const unsigned char *p = data;

        strbuf_reset(sb);
        strbuf_append(sb, "", 0);
        len = utf8_cut(p, len, MIN(len, (size_t) DMABUFD_JOURNAL_LINE_MAX));
        while (len > 0 && p[len - 1] == '\n')
                len--;
        /* A NUL would end the line early for regexec and for every reader, so
         * it becomes U+FFFD like any byte that is not UTF-8. */
        while (len > 0) {
                const unsigned char *nul = memchr(p, '\0', len);
                size_t n = nul ? (size_t) (nul - p) : len;

                utf8_append_sanitized(sb, (const char *) p, n);
                if (nul) {
                        strbuf_append(sb, "\xef\xbf\xbd", 3);
                        n++;
                }
                p += n;
                len -= n;
        }
        return strbuf_status(sb);
}

struct DmabufdSourceJournal {
        sd_event *event;
        sd_journal *journal;
        sd_event_source *io;    /* the journal's inotify fd */
        sd_event_source *timer; /* sd_journal_get_timeout, for files inotify cannot watch */
        sd_event_source *defer; /* the rest of a batch cut at JOURNAL_ENTRIES_PER_DISPATCH */
        DmabufdJournalMatch **matches;
        size_t n_matches;
        DmabufdEventFunc cb;
        void *userdata;
        char *path; /* NULL: the host's journal */
        StrBuf message;
        bool up;
};

static const char *source_path(const DmabufdSourceJournal *s) {
        return s->path ? s->path : "the system journal";
}

static sd_event_source *event_source_disable_unref(sd_event_source *es) {
        if (es) {
                (void) sd_event_source_set_enabled(es, SD_EVENT_OFF);
                sd_event_source_unref(es);
        }
        return NULL;
}

static void source_stop(DmabufdSourceJournal *s) {
        s->io = event_source_disable_unref(s->io);
        s->timer = event_source_disable_unref(s->timer);
        s->defer = event_source_disable_unref(s->defer);
        if (s->journal) {
                sd_journal_close(s->journal);
                s->journal = NULL;
        }
        s->up = false;
}

/* A journal that fails while running stays off until the source is made again
 * (on reload): retrying the same error would only repeat the log line. */
static int source_fail(DmabufdSourceJournal *s, int error, const char *what) {
        log_warning_errno(error, "journal: %s in %s failed, journal events are off: %m", what, source_path(s));
        source_stop(s);
        return 0;
}

/* Points *ret at the current entry's field value, past its "NAME=" prefix.
 * Returns 0 or -errno (-ENOENT when the entry has no such field). */
static int get_field(sd_journal *j, const char *field, const void **ret, size_t *ret_len) {
        size_t prefix = strlen(field) + 1;
        const void *data;
        size_t len;
        int r;

        r = sd_journal_get_data(j, field, &data, &len);
        if (r < 0)
                return r;
        if (len < prefix)
                return -EBADMSG;
        *ret = (const char *) data + prefix;
        *ret_len = len - prefix;
        return 0;
}

static void handle_entry(DmabufdSourceJournal *s) {
        char identifier[DMABUFD_JOURNAL_IDENTIFIER_MAX + 1];
        const void *data;
        size_t len;
        int r;

        /* The data pointer lives until the next get_data call: copy it first. */
        r = get_field(s->journal, "SYSLOG_IDENTIFIER", &data, &len);
        if (r < 0 || len > DMABUFD_JOURNAL_IDENTIFIER_MAX || memchr(data, '\0', len))
                return;
        memcpy(identifier, data, len);
        identifier[len] = '\0';

        r = get_field(s->journal, "MESSAGE", &data, &len);
        if (r < 0)
                return;
        if (dmabufd_journal_message_sanitize(data, len, &s->message) < 0) {
                log_debug("journal: out of memory for a %s message, skipped", identifier);
                return;
        }

        for (size_t i = 0; i < s->n_matches; i++) {
                DmabufdJournalHit hit;

                if (dmabufd_journal_match_exec(s->matches[i], identifier, s->message.buf, &hit) <= 0)
                        continue;
                log_debug("journal: %s message matched '%s'", identifier, s->matches[i]->pattern);
                s->cb(&(const DmabufdEvent){
                              .kind = DMABUFD_EVENT_JOURNAL,
                              .pid = hit.pid,
                              .comm = hit.comm[0] ? hit.comm : NULL,
                              .line = s->message.buf,
                              .identifier = identifier,
                      },
                      s->userdata);
                return;
        }
}

static int arm_timer(DmabufdSourceJournal *s);

/* Handles at most JOURNAL_ENTRIES_PER_DISPATCH entries, then leaves the rest to
 * the defer source, so other sources run in between. */
static int drain(DmabufdSourceJournal *s) {
        int r;

        for (unsigned i = 0; i < JOURNAL_ENTRIES_PER_DISPATCH; i++) {
                r = sd_journal_next(s->journal);
                if (r < 0)
                        return source_fail(s, r, "reading the next entry");
                if (r == 0) {
                        (void) sd_event_source_set_enabled(s->defer, SD_EVENT_OFF);
                        return 0;
                }
                handle_entry(s);
        }
        r = sd_event_source_set_enabled(s->defer, SD_EVENT_ONESHOT);
        if (r < 0)
                return source_fail(s, r, "scheduling the rest of a batch");
        return 0;
}

static int process_and_drain(DmabufdSourceJournal *s) {
        int r;

        r = sd_journal_process(s->journal);
        if (r < 0)
                return source_fail(s, r, "processing changes");
        (void) drain(s);
        if (!s->journal)
                return 0;
        r = arm_timer(s);
        if (r < 0)
                return source_fail(s, r, "arming the recheck timer");
        return 0;
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        (void) es;
        (void) fd;
        (void) revents;
        return process_and_drain(userdata);
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        (void) es;
        (void) usec;
        return process_and_drain(userdata);
}

static int on_defer(sd_event_source *es, void *userdata) {
        (void) es;
        return drain(userdata);
}

/* sd_journal_get_timeout asks for a wake-up when inotify cannot watch every file
 * (network file systems); otherwise it says "never". */
static int arm_timer(DmabufdSourceJournal *s) {
        uint64_t t;
        int r;

        r = sd_journal_get_timeout(s->journal, &t);
        if (r < 0)
                return r;
        if (t == UINT64_MAX)
                return s->timer ? sd_event_source_set_enabled(s->timer, SD_EVENT_OFF) : 0;
        if (!s->timer) {
                r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, t, 100 * 1000, on_timer, s);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(s->timer, "journal-recheck");
                return 0;
        }
        r = sd_event_source_set_time(s->timer, t);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static int source_start(DmabufdSourceJournal *s) {
        int fd, events, r;

        if (s->path)
                r = sd_journal_open_directory(&s->journal, s->path, 0);
        else
                /* The killers are system services, and unprivileged users' messages go
                 * to their own journal files: leaving those out means `logger -t
                 * earlyoom` from a user cannot take a snapshot. */
                r = sd_journal_open(&s->journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;

        /* Enough of MESSAGE to keep what sanitizing keeps, without decompressing more. */
        r = sd_journal_set_data_threshold(s->journal, DMABUFD_JOURNAL_LINE_MAX + STRLEN("MESSAGE="));
        if (r < 0)
                return r;

        for (size_t i = 0; i < s->n_matches; i++) {
                _cleanup_free_ char *field = NULL;

                if (asprintf(&field, "SYSLOG_IDENTIFIER=%s", s->matches[i]->identifier) < 0)
                        return -ENOMEM;
                /* Matches on one field are ORed; repeating a value is harmless. */
                r = sd_journal_add_match(s->journal, field, 0);
                if (r < 0)
                        return r;
        }

        /* The inotify watches start here; do it before seeking so that nothing
         * written from now on is missed. */
        fd = sd_journal_get_fd(s->journal);
        if (fd < 0)
                return fd;

        /* Only what comes after the start counts. Straight from the tail,
         * sd_journal_next() returns the last old entry again (libsystemd 252 does;
         * the unit test catches it); stepping back onto that entry first makes the
         * next sd_journal_next() return the first new one. With no matching entry
         * there is nothing to step back onto, and the head is the same place. */
        r = sd_journal_seek_tail(s->journal);
        if (r < 0)
                return r;
        r = sd_journal_previous(s->journal);
        if (r < 0)
                return r;
        if (r == 0) {
                r = sd_journal_seek_head(s->journal);
                if (r < 0)
                        return r;
        }

        events = sd_journal_get_events(s->journal);
        if (events < 0)
                return events;
        r = sd_event_add_io(s->event, &s->io, fd, (uint32_t) events, on_io, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->io, "journal");
        r = sd_event_add_defer(s->event, &s->defer, on_defer, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(s->defer, "journal-batch");
        r = sd_event_source_set_enabled(s->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = arm_timer(s);
        if (r < 0)
                return r;

        s->up = true;
        return 0;
}

int dmabufd_source_journal_new(sd_event *e, const char *root, const char *const *match_specs, DmabufdEventFunc cb,
                               void *userdata, DmabufdSourceJournal **ret) {
        _cleanup_(dmabufd_source_journal_freep) DmabufdSourceJournal *s = NULL;
        const char *const *specs = match_specs ? match_specs : dmabufd_journal_default_matches;
        size_t n = 0;
        int r;

        if (!e || !cb || !ret)
                return -EINVAL;
        while (specs[n])
                n++;
        if (n == 0 || n > DMABUFD_JOURNAL_MATCHES_MAX) {
                log_error("journal: %zu journal_match patterns given, expected 1 to %d", n,
                          DMABUFD_JOURNAL_MATCHES_MAX);
                return -EINVAL;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->cb = cb;
        s->userdata = userdata;
        s->matches = calloc(n, sizeof(*s->matches));
        if (!s->matches)
                return -ENOMEM;
        for (; s->n_matches < n; s->n_matches++) {
                char err[512];

                r = dmabufd_journal_match_parse(specs[s->n_matches], &s->matches[s->n_matches], err, sizeof(err));
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_error("journal: %s", err);
                        return r;
                }
        }

        if (root && !streq(root, "/") && !streq(root, "") && asprintf(&s->path, "%s/var/log/journal", root) < 0) {
                s->path = NULL;
                return -ENOMEM;
        }

        r = source_start(s);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning_errno(r, "journal: cannot follow %s, journal events are off: %m", source_path(s));
                source_stop(s);
        } else
                log_debug("journal: following %s for %zu patterns", source_path(s), s->n_matches);

        *ret = TAKE_PTR(s);
        return 0;
}

bool dmabufd_source_journal_is_up(const DmabufdSourceJournal *s) {
        return s && s->up;
}

DmabufdSourceJournal *dmabufd_source_journal_free(DmabufdSourceJournal *s) {
        if (!s)
                return NULL;
        source_stop(s);
        for (size_t i = 0; i < s->n_matches; i++)
                dmabufd_journal_match_free(s->matches[i]);
        free(s->matches);
        free(s->path);
        strbuf_done(&s->message);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
