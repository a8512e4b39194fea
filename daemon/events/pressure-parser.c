/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "pressure-parser.h"
#include "string-util.h"

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* err gets "line N: WHY: "LINE"", the line cut short and made printable so that
 * whatever the file held cannot garble the log line it ends up in. */
static void describe(char *err, size_t err_len, unsigned lineno, const char *why, const char *line, size_t n) {
        char shown[81];
        size_t k = 0;

        if (!err || err_len == 0)
                return;
        for (size_t i = 0; i < n && k + 1 < sizeof(shown); i++)
                shown[k++] = line[i] >= 0x20 && line[i] < 0x7f && line[i] != '"' ? line[i] : '?';
        shown[k] = '\0';
        snprintf(err, err_len, "line %u: %s: \"%s%s\"", lineno, why, shown, n > k ? "..." : "");
}

/* "12.34": the kernel prints "%lu.%02lu". Parsed by hand because strtod follows
 * LC_NUMERIC. */
static int parse_decimal(const char *s, size_t n, double *ret) {
        const char *dot = memchr(s, '.', n);
        uint64_t ip, fp = 0;
        size_t ilen = dot ? (size_t) (dot - s) : n, flen = dot ? n - ilen - 1 : 0;
        double v, scale = 1;

        if (safe_atou64_n(s, ilen, &ip) < 0)
                return -EINVAL;
        if (dot) {
                if (flen == 0 || flen > 9 || safe_atou64_n(dot + 1, flen, &fp) < 0)
                        return -EINVAL;
                for (size_t i = 0; i < flen; i++)
                        scale *= 10;
        }
        v = (double) ip + (double) fp / scale;
        *ret = v;
        return 0;
}

enum {
        PSI_AVG10 = 1 << 0,
        PSI_AVG60 = 1 << 1,
        PSI_AVG300 = 1 << 2,
        PSI_TOTAL = 1 << 3,
        PSI_ALL = PSI_AVG10 | PSI_AVG60 | PSI_AVG300 | PSI_TOTAL,
};

static int parse_psi_fields(const char *p, size_t n, DmabufPsiLine *ret, const char **why) {
        DmabufPsiLine l = { 0 };
        unsigned seen = 0;
        size_t i = 0;

        while (i < n) {
                const char *tok, *eq;
                size_t tlen, klen;
                unsigned bit = 0;

                while (i < n && is_blank(p[i]))
                        i++;
                if (i >= n)
                        break;
                tok = p + i;
                while (i < n && !is_blank(p[i]))
                        i++;
                tlen = (size_t) (p + i - tok);
                eq = memchr(tok, '=', tlen);
                if (!eq) {
                        *why = "a field is not key=value";
                        return -EBADMSG;
                }
                klen = (size_t) (eq - tok);
#define IS(key) (klen == STRLEN(key) && memcmp(tok, key, klen) == 0)
                if (IS("avg10"))
                        bit = PSI_AVG10;
                else if (IS("avg60"))
                        bit = PSI_AVG60;
                else if (IS("avg300"))
                        bit = PSI_AVG300;
                else if (IS("total"))
                        bit = PSI_TOTAL;
#undef IS
                if (bit == 0)
                        continue; /* a field added by a later kernel */
                if (seen & bit) {
                        *why = "a field appears twice";
                        return -EBADMSG;
                }
                seen |= bit;
                if (bit == PSI_TOTAL) {
                        if (safe_atou64_n(eq + 1, tlen - klen - 1, &l.total_us) < 0) {
                                *why = "total is not a number";
                                return -EBADMSG;
                        }
                        continue;
                }
                if (parse_decimal(eq + 1, tlen - klen - 1,
                                  bit == PSI_AVG10 ? &l.avg10 : bit == PSI_AVG60 ? &l.avg60 : &l.avg300) < 0) {
                        *why = "an average is not a decimal number";
                        return -EBADMSG;
                }
        }
        if (seen != PSI_ALL) {
                *why = "avg10, avg60, avg300 or total is missing";
                return -EBADMSG;
        }
        *ret = l;
        return 0;
}

int dmabuf_psi_parse(const char *buf, size_t len, DmabufPsi *ret, char *err, size_t err_len) {
        DmabufPsi psi = { 0 };
        const char *line;
        size_t pos = 0, n;
        unsigned lineno = 0;

        while (next_line(buf, len, &pos, &line, &n)) {
                const char *why = NULL;
                DmabufPsiLine *target;
                bool *has;

                lineno++;
                if (n == 0)
                        continue;
                if (n > 5 && memcmp(line, "some ", 5) == 0) {
                        target = &psi.some;
                        has = &psi.has_some;
                } else if (n > 5 && memcmp(line, "full ", 5) == 0) {
                        target = &psi.full;
                        has = &psi.has_full;
                } else {
                        describe(err, err_len, lineno, "expected a \"some\" or \"full\" line", line, n);
                        return -EBADMSG;
                }
                if (*has) {
                        describe(err, err_len, lineno, "a second line of this kind", line, n);
                        return -EBADMSG;
                }
                if (parse_psi_fields(line + 5, n - 5, target, &why) < 0) {
                        describe(err, err_len, lineno, why, line, n);
                        return -EBADMSG;
                }
                *has = true;
        }
        if (!psi.has_some) {
                set_err(err, err_len, "no \"some\" line");
                return -EBADMSG;
        }
        *ret = psi;
        return 0;
}

static int parse_meminfo_line(const char *line, size_t n, DmabufMeminfoEntry *ret, const char **why) {
        const char *colon = memchr(line, ':', n), *num;
        size_t i, klen;

        if (!colon) {
                *why = "no colon";
                return -EBADMSG;
        }
        klen = (size_t) (colon - line);
        if (klen == 0 || klen >= sizeof(ret->key)) {
                *why = "key empty or too long";
                return -EBADMSG;
        }
        for (i = 0; i < klen; i++)
                if (line[i] <= 0x20 || line[i] >= 0x7f) {
                        *why = "key holds a blank or a non-printable byte";
                        return -EBADMSG;
                }

        i = klen + 1;
        while (i < n && is_blank(line[i]))
                i++;
        num = line + i;
        while (i < n && line[i] >= '0' && line[i] <= '9')
                i++;
        if (safe_atou64_n(num, (size_t) (line + i - num), &ret->value) < 0) {
                *why = "value is not a number";
                return -EBADMSG;
        }
        ret->in_kb = false;
        if (n - i >= 3 && memcmp(line + i, " kB", 3) == 0) {
                ret->in_kb = true;
                i += 3;
        }
        while (i < n && is_blank(line[i]))
                i++;
        if (i != n) {
                *why = "trailing text after the value";
                return -EBADMSG;
        }
        if (ret->in_kb && ret->value > UINT64_MAX / 1024) {
                *why = "value too large";
                return -EBADMSG;
        }
        memcpy(ret->key, line, klen);
        ret->key[klen] = '\0';
        return 0;
}

void dmabuf_meminfo_done(DmabufMeminfo *m) {
        if (!m)
                return;
        free(m->entries);
        *m = (DmabufMeminfo){ 0 };
}

int dmabuf_meminfo_parse(const char *buf, size_t len, DmabufMeminfo *ret, char *err, size_t err_len) {
        _cleanup_free_ DmabufMeminfoEntry *entries = NULL;
        size_t n_entries = 0, cap = 0, n_bad = 0, pos = 0, n;
        unsigned lineno = 0, first_bad = 0;
        const char *line;

        if (err && err_len > 0)
                err[0] = '\0';
        while (next_line(buf, len, &pos, &line, &n)) {
                DmabufMeminfoEntry e;
                const char *why = NULL;

                lineno++;
                if (n == 0)
                        continue;
                if (parse_meminfo_line(line, n, &e, &why) < 0) {
                        if (n_bad++ == 0) {
                                first_bad = lineno;
                                describe(err, err_len, lineno, why, line, n);
                        }
                        continue;
                }
                if (n_entries == cap) {
                        size_t new_cap = cap ? cap * 2 : 64;
                        DmabufMeminfoEntry *p = reallocarray(entries, new_cap, sizeof(*entries));

                        if (!p)
                                return -ENOMEM;
                        entries = p;
                        cap = new_cap;
                }
                entries[n_entries++] = e;
        }
        if (n_entries == 0) {
                if (n_bad == 0)
                        set_err(err, err_len, "no lines");
                return -EBADMSG;
        }
        *ret = (DmabufMeminfo){
                .entries = TAKE_PTR(entries),
                .n_entries = n_entries,
                .n_bad = n_bad,
                .first_bad_line = first_bad,
        };
        return (int) MIN(n_bad, (size_t) INT32_MAX);
}

const DmabufMeminfoEntry *dmabuf_meminfo_find(const DmabufMeminfo *m, const char *key) {
        for (size_t i = 0; i < m->n_entries; i++)
                if (streq(m->entries[i].key, key))
                        return &m->entries[i];
        return NULL;
}

int dmabuf_memory_events_parse(const char *buf, size_t len, DmabufMemoryEvents *ret, char *err, size_t err_len) {
        DmabufMemoryEvents ev = { 0 };
        bool have_oom_kill = false;
        size_t pos = 0, n;
        unsigned lineno = 0;
        const char *line;

        while (next_line(buf, len, &pos, &line, &n)) {
                const char *sp;
                size_t klen, i;
                uint64_t v, *field = NULL;

                lineno++;
                if (n == 0)
                        continue;
                sp = memchr(line, ' ', n);
                klen = sp ? (size_t) (sp - line) : n;
                for (i = klen; i < n && is_blank(line[i]); i++)
                        ;
                if (!sp || klen == 0 || safe_atou64_n(line + i, n - i, &v) < 0) {
                        describe(err, err_len, lineno, "expected \"key number\"", line, n);
                        return -EBADMSG;
                }
#define IS(key) (klen == STRLEN(key) && memcmp(line, key, klen) == 0)
                if (IS("low"))
                        field = &ev.low;
                else if (IS("high"))
                        field = &ev.high;
                else if (IS("max"))
                        field = &ev.max;
                else if (IS("oom"))
                        field = &ev.oom;
                else if (IS("oom_kill")) {
                        field = &ev.oom_kill;
                        have_oom_kill = true;
                } else if (IS("oom_group_kill")) {
                        field = &ev.oom_group_kill;
                        ev.has_oom_group_kill = true;
                }
#undef IS
                if (field)
                        *field = v;
        }
        if (!have_oom_kill) {
                set_err(err, err_len, "no oom_kill line");
                return -EBADMSG;
        }
        *ret = ev;
        return 0;
}

/* "150000", "150000us", "150ms", "1s". */
static int parse_duration_us(const char *s, size_t n, uint64_t *ret) {
        uint64_t v, mult = 1;
        size_t digits = 0;
        int r;

        while (digits < n && s[digits] >= '0' && s[digits] <= '9')
                digits++;
        if (n - digits == 0 || (n - digits == 2 && memcmp(s + digits, "us", 2) == 0))
                mult = 1;
        else if (n - digits == 2 && memcmp(s + digits, "ms", 2) == 0)
                mult = 1000;
        else if (n - digits == 1 && s[digits] == 's')
                mult = 1000000;
        else
                return -EINVAL;
        r = safe_atou64_n(s, digits, &v);
        if (r < 0)
                return r; /* -EINVAL, or -ERANGE: a number, just far too large */
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

int dmabuf_psi_trigger_parse(const char *s, DmabufPsiTrigger *ret, char *err, size_t err_len) {
        const char *tok[3];
        size_t tlen[3], ntok = 0, i = 0, n = strlen(s);
        DmabufPsiTrigger t = { 0 };
        int r;

        while (i < n) {
                size_t start;

                while (i < n && is_blank(s[i]))
                        i++;
                if (i >= n)
                        break;
                start = i;
                while (i < n && !is_blank(s[i]))
                        i++;
                if (ntok == ELEMENTSOF(tok)) {
                        ntok++;
                        break;
                }
                tok[ntok] = s + start;
                tlen[ntok++] = i - start;
        }
        if (ntok != 3) {
                set_err(err, err_len, "psi trigger \"%s\": expected \"some|full THRESHOLD WINDOW\"", s);
                return -EINVAL;
        }
        if (tlen[0] == 4 && memcmp(tok[0], "full", 4) == 0)
                t.full = true;
        else if (!(tlen[0] == 4 && memcmp(tok[0], "some", 4) == 0)) {
                set_err(err, err_len, "psi trigger \"%s\": \"%.*s\" is neither some nor full", s, (int) tlen[0],
                        tok[0]);
                return -EINVAL;
        }

        r = parse_duration_us(tok[1], tlen[1], &t.threshold_us);
        if (r == -EINVAL) {
                set_err(err, err_len,
                        "psi trigger \"%s\": threshold \"%.*s\" is not a duration (an integer with an "
                        "optional unit us, ms or s)",
                        s, (int) tlen[1], tok[1]);
                return -EINVAL;
        }
        if (r < 0)
                t.threshold_us = UINT64_MAX;
        r = parse_duration_us(tok[2], tlen[2], &t.window_us);
        if (r == -EINVAL) {
                set_err(err, err_len,
                        "psi trigger \"%s\": window \"%.*s\" is not a duration (an integer with an "
                        "optional unit us, ms or s)",
                        s, (int) tlen[2], tok[2]);
                return -EINVAL;
        }
        if (r < 0)
                t.window_us = UINT64_MAX;

        if (t.window_us < DMABUF_PSI_WINDOW_MIN_US || t.window_us > DMABUF_PSI_WINDOW_MAX_US) {
                set_err(err, err_len, "psi trigger \"%s\": window \"%.*s\" is not between 500ms and 10s", s,
                        (int) tlen[2], tok[2]);
                return -EINVAL;
        }
        if (t.threshold_us == 0) {
                set_err(err, err_len, "psi trigger \"%s\": threshold \"%.*s\" must be greater than 0", s,
                        (int) tlen[1], tok[1]);
                return -EINVAL;
        }
        if (t.threshold_us > t.window_us) {
                set_err(err, err_len, "psi trigger \"%s\": threshold \"%.*s\" is longer than the window \"%.*s\"",
                        s, (int) tlen[1], tok[1], (int) tlen[2], tok[2]);
                return -EINVAL;
        }
        *ret = t;
        return 0;
}

int dmabuf_psi_trigger_format(const DmabufPsiTrigger *t, char *buf, size_t size) {
        int n;

        if (t->window_us < DMABUF_PSI_WINDOW_MIN_US || t->window_us > DMABUF_PSI_WINDOW_MAX_US ||
            t->threshold_us == 0 || t->threshold_us > t->window_us)
                return -EINVAL;
        n = snprintf(buf, size, "%s %" PRIu64 " %" PRIu64, t->full ? "full" : "some", t->threshold_us,
                     t->window_us);
        if (n < 0 || (size_t) n >= size)
                return -EINVAL;
        return n;
}
