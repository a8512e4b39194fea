/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "fileio.h"
#include "json-scan.h"
#include "log.h"
#include "store.h"
#include "string-util.h"

/* Validation reads this much at a time: the daemon has to stay small at the
 * moment of an OOM, whatever the size of the files it reopens. */
#define READ_CHUNK (64U * 1024U)
/* Fewer write(2)s for multi-MiB snapshots. */
#define WRITE_BUFFER (256U * 1024U)

#define SUFFIX ".json"
#define TEMP_INFIX ".tmp-"
#define TEMP_RANDOM 6
#define TEMP_NAME_MAX (1 + DMABUFD_SNAPSHOT_ID_MAX + STRLEN(TEMP_INFIX) + TEMP_RANDOM)
#define FILE_NAME_MAX (DMABUFD_SNAPSHOT_ID_MAX + STRLEN(SUFFIX))
#define TAKEN_AT_MAX sizeof(((DmabufdSnapshotInfo *) NULL)->taken_at)

typedef struct Entry {
        DmabufdSnapshotInfo info;
        int64_t sec; /* taken_at, parsed for ordering */
        uint32_t nsec;
        /* The file that was validated: a file put in its place is not it, even
         * with the same size. */
        dev_t dev;
        ino_t ino;
} Entry;

struct DmabufdSnapshotStore {
        int dir_fd;
        char *path; /* for messages only: every access goes through dir_fd */

        /* Guards everything below. Held for index changes and copies only, never
         * across file writes or fsyncs: HTTP threads list and open concurrently. */
        pthread_mutex_t lock;
        DmabufdSnapshotLimits limits;
        Entry *entries; /* newest first */
        size_t n, cap;
        uint64_t bytes;
};

static bool id_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

bool dmabufd_snapshot_id_is_valid(const char *id) {
        size_t n;

        if (!id || id[0] == '\0' || id[0] == '.')
                return false;
        for (n = 0; id[n]; n++) {
                if (n + 1 >= DMABUFD_SNAPSHOT_ID_MAX || !id_char_ok(id[n]))
                        return false;
                if (id[n] == '.' && id[n + 1] == '.')
                        return false;
        }
        return true;
}

/* Copies s for a message: printable ASCII only, cut short, so a hostile value
 * can neither forge log lines nor flood them. */
static const char *printable(const void *p, size_t len, char *buf, size_t size) {
        const unsigned char *s = p;
        size_t o = 0;

        for (size_t i = 0; i < len && o + 4 < size; i++)
                buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char) s[i] : '?';
        if (o + 4 >= size && len > o) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

static int parse_digits(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned) (y - era * 400);
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

/* RFC3339 date-time: "YYYY-MM-DDTHH:MM:SS", optional fraction of up to 9 digits,
 * then "Z" or "+HH:MM"/"-HH:MM". Parsed rather than compared as text, so that
 * ".5Z" and "Z" order by time. */
static int parse_time(const char *s, int64_t *ret_sec, uint32_t *ret_nsec) {
        static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        unsigned year, mon, day, hour, min, sec, oh = 0, om = 0;
        uint32_t nsec = 0;
        int64_t t;
        size_t i;

        if (strlen(s) < 20 || strlen(s) >= TAKEN_AT_MAX)
                return -EINVAL;
        if (parse_digits(s, 4, &year) < 0 || s[4] != '-' || parse_digits(s + 5, 2, &mon) < 0 || s[7] != '-' ||
            parse_digits(s + 8, 2, &day) < 0 || (s[10] != 'T' && s[10] != 't') || parse_digits(s + 11, 2, &hour) < 0 ||
            s[13] != ':' || parse_digits(s + 14, 2, &min) < 0 || s[16] != ':' || parse_digits(s + 17, 2, &sec) < 0)
                return -EINVAL;
        if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] ||
            (mon == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) || hour > 23 ||
            min > 59 || sec > 60)
                return -EINVAL;
        i = 19;
        if (s[i] == '.') {
                size_t digits = 0;

                for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++)
                        if (digits < 9)
                                nsec = nsec * 10 + (uint32_t) (s[i] - '0');
                if (digits == 0 || digits > 9)
                        return -EINVAL;
                for (; digits < 9; digits++)
                        nsec *= 10;
        }
        t = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
        if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0')
                ;
        else if ((s[i] == '+' || s[i] == '-') && parse_digits(s + i + 1, 2, &oh) == 0 && s[i + 3] == ':' &&
                 parse_digits(s + i + 4, 2, &om) == 0 && s[i + 6] == '\0' && oh <= 23 && om <= 59)
                t += (s[i] == '+' ? -1 : 1) * (int64_t) (oh * 3600 + om * 60);
        else
                return -EINVAL;
        *ret_sec = t;
        *ret_nsec = nsec;
        return 0;
}

static bool kind_is_valid(const char *kind) {
        return dmabufd_event_kind_from_string(kind) >= 0;
}

/* ---- streaming validation ---- */

typedef enum Member {
        MEMBER_NONE,
        MEMBER_SCHEMA,
        MEMBER_ID,
        MEMBER_TAKEN_AT,
        MEMBER_TRIGGER,
        MEMBER_KIND,
        _MEMBER_MAX,
} Member;

static const char *const member_names[_MEMBER_MAX] = {
        [MEMBER_SCHEMA] = "schema", [MEMBER_ID] = "id", [MEMBER_TAKEN_AT] = "taken_at",
        [MEMBER_TRIGGER] = "trigger", [MEMBER_KIND] = "trigger.kind",
};

typedef struct Validation {
        JsonScanner *scanner;
        const char *expected_id;
        unsigned seen; /* 1 << Member */
        DmabufdSnapshotInfo info;
        char *err;
        size_t err_len;
} Validation;

_printf_(2, 3) static int fail(Validation *v, const char *fmt, ...) {
        va_list ap;
        size_t n;

        if (!v->err || v->err_len == 0)
                return -EBADMSG;
        va_start(ap, fmt);
        vsnprintf(v->err, v->err_len, fmt, ap);
        va_end(ap);
        n = strlen(v->err);
        snprintf(v->err + n, v->err_len - n, " (at byte %" PRIu64 ")", json_scan_offset(v->scanner));
        return -EBADMSG;
}

/* The members the store reads: schema, id, taken_at and trigger directly in the
 * top-level object, kind directly in trigger's. */
static Member member_of(const JsonScanValue *jv) {
        if (jv->depth == 1 && jv->path[0])
                for (Member m = MEMBER_SCHEMA; m <= MEMBER_TRIGGER; m++)
                        if (streq(jv->path[0], member_names[m]))
                                return m;
        if (jv->depth == 2 && jv->path[0] && streq(jv->path[0], "trigger") && jv->path[1] && streq(jv->path[1], "kind"))
                return MEMBER_KIND;
        return MEMBER_NONE;
}

static int on_value(const JsonScanValue *jv, void *userdata) {
        static const size_t sizes[_MEMBER_MAX] = {
                [MEMBER_ID] = sizeof(((DmabufdSnapshotInfo *) NULL)->id),
                [MEMBER_TAKEN_AT] = sizeof(((DmabufdSnapshotInfo *) NULL)->taken_at),
                [MEMBER_KIND] = sizeof(((DmabufdSnapshotInfo *) NULL)->kind),
                [MEMBER_SCHEMA] = SIZE_MAX, /* any other is "not" the schema */
        };
        Validation *v = userdata;
        Member m = member_of(jv);
        size_t shown = MIN(jv->len, JSON_SCAN_TEXT_MAX);
        char q[64];
        int64_t sec;
        uint32_t nsec;

        if (jv->depth == 0 && jv->type != JSON_SCAN_OBJECT)
                return fail(v, "the top-level value is not an object");
        if (m == MEMBER_NONE)
                return 0;
        /* With two ids, which one would a reader believe? */
        if (v->seen & (1U << m))
                return fail(v, "duplicate member \"%s\"", member_names[m]);
        v->seen |= 1U << m;
        if (m == MEMBER_TRIGGER)
                return jv->type == JSON_SCAN_OBJECT ? 0 : fail(v, "\"trigger\" is not an object");
        if (jv->type != JSON_SCAN_STRING)
                return fail(v, "\"%s\" is not a string", member_names[m]);
        if (jv->len >= sizes[m])
                return fail(v, "\"%s\" is too long: \"%s\"", member_names[m],
                            printable(jv->text, shown, q, sizeof(q)));
        if (memchr(jv->text, '\0', jv->len))
                return fail(v, "\"%s\" contains a NUL byte", member_names[m]);

        switch (m) {
        case MEMBER_SCHEMA:
                if (!streq(jv->text, DMABUFD_SNAPSHOT_SCHEMA))
                        return fail(v, "schema \"%s\" is not \"" DMABUFD_SNAPSHOT_SCHEMA "\"",
                                    printable(jv->text, shown, q, sizeof(q)));
                break;
        case MEMBER_ID:
                if (!dmabufd_snapshot_id_is_valid(jv->text))
                        return fail(v, "id \"%s\" is not a valid snapshot id", printable(jv->text, shown, q, sizeof(q)));
                if (v->expected_id && !streq(jv->text, v->expected_id))
                        return fail(v, "id \"%s\" does not match the file name", printable(jv->text, shown, q, sizeof(q)));
                strcpy(v->info.id, jv->text);
                break;
        case MEMBER_TAKEN_AT:
                if (parse_time(jv->text, &sec, &nsec) < 0)
                        return fail(v, "taken_at \"%s\" is not an RFC3339 time", printable(jv->text, shown, q, sizeof(q)));
                strcpy(v->info.taken_at, jv->text);
                break;
        case MEMBER_KIND:
                if (!kind_is_valid(jv->text))
                        return fail(v, "trigger.kind \"%s\" is not a known kind", printable(jv->text, shown, q, sizeof(q)));
                strcpy(v->info.kind, jv->text);
                break;
        default:
                break;
        }
        return 0;
}

static void json_scan_freep(JsonScanner **s) {
        json_scan_free(*s);
}

int dmabufd_snapshot_file_validate(int fd, const char *expected_id, DmabufdSnapshotInfo *ret, char *err,
                                   size_t err_len) {
        _cleanup_(json_scan_freep) JsonScanner *scanner = NULL;
        _cleanup_free_ unsigned char *buf = NULL;
        Validation v = { .expected_id = expected_id, .err = err, .err_len = err_len };
        uint64_t off = 0;
        struct stat st;
        int r;

        if (err && err_len > 0)
                err[0] = '\0';
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode)) {
                set_err(err, err_len, "not a regular file");
                return -EBADMSG;
        }
        if (st.st_size == 0) {
                set_err(err, err_len, "empty file");
                return -EBADMSG;
        }

        buf = malloc(READ_CHUNK);
        scanner = json_scan_new(on_value, &v);
        if (!buf || !scanner)
                return -ENOMEM;
        v.scanner = scanner;

        for (;;) {
                ssize_t n = pread(fd, buf, READ_CHUNK, (off_t) off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        set_err(err, err_len, "read error at byte %" PRIu64, off);
                        return negative_errno();
                }
                if (n == 0)
                        break;
                r = json_scan_feed(scanner, buf, (size_t) n);
                if (r < 0) {
                        /* on_value() has said what is wrong, or the scanner has. */
                        if (r == -EBADMSG && *json_scan_error(scanner))
                                set_err(err, err_len, "invalid JSON at byte %" PRIu64 ": %s",
                                        json_scan_offset(scanner), json_scan_error(scanner));
                        return r;
                }
                off += (uint64_t) n;
        }
        if (off != (uint64_t) st.st_size) {
                set_err(err, err_len, "file changed size while being read (%" PRIu64 " bytes, then %" PRIu64 ")",
                        (uint64_t) st.st_size, off);
                return -EBADMSG;
        }
        r = json_scan_finish(scanner);
        if (r < 0) {
                if (r == -EBADMSG && *json_scan_error(scanner))
                        set_err(err, err_len, "truncated JSON at byte %" PRIu64 ": %s", json_scan_offset(scanner),
                                json_scan_error(scanner));
                return r;
        }
        for (Member m = MEMBER_SCHEMA; m < _MEMBER_MAX; m++)
                if (!(v.seen & (1U << m))) {
                        set_err(err, err_len, "no \"%s\" member", member_names[m]);
                        return -EBADMSG;
                }

        v.info.bytes = off;
        *ret = v.info;
        return 0;
}

/* ---- the index ---- */

static int entry_compare_newest_first(const Entry *a, const Entry *b) {
        if (a->sec != b->sec)
                return a->sec > b->sec ? -1 : 1;
        if (a->nsec != b->nsec)
                return a->nsec > b->nsec ? -1 : 1;
        return -strcmp(a->info.id, b->info.id);
}

static int entry_qsort_compare(const void *a, const void *b) {
        return entry_compare_newest_first(a, b);
}

static int entry_from_info(const DmabufdSnapshotInfo *info, const struct stat *st, Entry *ret) {
        Entry e = { .info = *info, .dev = st->st_dev, .ino = st->st_ino };
        int r;

        r = parse_time(info->taken_at, &e.sec, &e.nsec);
        if (r < 0)
                return r;
        *ret = e;
        return 0;
}

/* Under the lock. */
static Entry *index_find(DmabufdSnapshotStore *s, const char *id) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->entries[i].info.id, id))
                        return &s->entries[i];
        return NULL;
}

/* Under the lock. */
static int index_reserve(DmabufdSnapshotStore *s, size_t extra) {
        size_t want = s->n + extra, cap;
        Entry *p;

        if (want <= s->cap)
                return 0;
        cap = MAX(want, MAX(s->cap * 2, (size_t) 16));
        p = reallocarray(s->entries, cap, sizeof(Entry));
        if (!p)
                return -ENOMEM;
        s->entries = p;
        s->cap = cap;
        return 0;
}

/* Under the lock, with room reserved. */
static void index_insert(DmabufdSnapshotStore *s, const Entry *e) {
        size_t i = 0;

        while (i < s->n && entry_compare_newest_first(&s->entries[i], e) < 0)
                i++;
        memmove(s->entries + i + 1, s->entries + i, (s->n - i) * sizeof(Entry));
        s->entries[i] = *e;
        s->n++;
        s->bytes += e->info.bytes;
}

/* Under the lock. */
static void index_remove(DmabufdSnapshotStore *s, Entry *e) {
        size_t i = (size_t) (e - s->entries);

        s->bytes -= e->info.bytes;
        memmove(e, e + 1, (s->n - i - 1) * sizeof(Entry));
        s->n--;
}

static bool over_limits(const DmabufdSnapshotStore *s) {
        return (s->limits.max_count > 0 && s->n > s->limits.max_count) ||
               (s->limits.max_bytes > 0 && s->bytes > s->limits.max_bytes);
}

/* Drops the oldest entries, never keep_id's, until the limits hold (or only
 * keep_id's is left), then unlinks their files outside the lock. Runs only after
 * a successful add, at open, and on new limits: never to make room before a
 * write, so a failed write cannot cost an old snapshot. */
static void apply_retention(DmabufdSnapshotStore *s, const char *keep_id) {
        _cleanup_free_ Entry *victims = NULL;
        bool oom = false;
        size_t nv = 0;

        pthread_mutex_lock(&s->lock);
        if (over_limits(s)) {
                victims = reallocarray(NULL, s->n, sizeof(Entry));
                oom = !victims;
                for (size_t i = s->n; victims && i > 0 && over_limits(s); i--) {
                        Entry *e = &s->entries[i - 1];

                        if (keep_id && streq(e->info.id, keep_id))
                                continue;
                        victims[nv++] = *e;
                        index_remove(s, e);
                }
        }
        pthread_mutex_unlock(&s->lock);

        if (oom) {
                log_warning("out of memory while applying the snapshot store's limits, trying again later");
                return;
        }
        for (size_t i = 0; i < nv; i++) {
                char name[FILE_NAME_MAX];

                snprintf(name, sizeof(name), "%s" SUFFIX, victims[i].info.id);
                if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(),
                                          "failed to remove old snapshot %s/%s, it is no longer listed: %m", s->path,
                                          name);
                else
                        log_debug("removed snapshot %s (taken %s, %" PRIu64 " bytes) to keep %s within its limits",
                                 victims[i].info.id, victims[i].info.taken_at, victims[i].info.bytes, s->path);
        }
}

/* ---- the directory ---- */

/* ".<id>.tmp-XXXXXX": a dot-name, so it can never be taken for "<id>.json". */
static bool is_temp_name(const char *name) {
        size_t n = strlen(name), id_len;
        char id[DMABUFD_SNAPSHOT_ID_MAX];
        const char *p;

        if (name[0] != '.' || n < 1 + STRLEN(TEMP_INFIX) + TEMP_RANDOM + 1)
                return false;
        p = name + n - TEMP_RANDOM - STRLEN(TEMP_INFIX);
        if (!strneq(p, TEMP_INFIX, STRLEN(TEMP_INFIX)))
                return false;
        for (size_t i = 0; i < TEMP_RANDOM; i++) {
                char c = p[STRLEN(TEMP_INFIX) + i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                        return false;
        }
        id_len = (size_t) (p - name) - 1;
        if (id_len >= sizeof(id))
                return false;
        memcpy(id, name + 1, id_len);
        id[id_len] = '\0';
        return dmabufd_snapshot_id_is_valid(id);
}

static int load_one(DmabufdSnapshotStore *s, const char *name, const char *id) {
        _cleanup_close_ int fd = -EBADF;
        DmabufdSnapshotInfo info;
        struct stat st;
        char err[256];
        Entry e;
        int r;

        /* O_NONBLOCK: a FIFO named like a snapshot must not hang start-up. */
        fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return 0;
                if (r == -ELOOP)
                        log_warning("ignoring snapshot %s/%s: it is a symbolic link", s->path, name);
                else
                        log_warning_errno(r, "ignoring snapshot %s/%s: %m", s->path, name);
                return 0;
        }
        r = dmabufd_snapshot_file_validate(fd, id, &info, err, sizeof(err));
        if (r == -EBADMSG) {
                log_warning("ignoring snapshot %s/%s: %s", s->path, name, err);
                return 0;
        }
        if (r < 0) {
                log_warning_errno(r, "ignoring snapshot %s/%s: %s%s%m", s->path, name, err, err[0] ? ": " : "");
                return 0;
        }
        if (fstat(fd, &st) < 0) {
                log_warning_errno(negative_errno(), "ignoring snapshot %s/%s: %m", s->path, name);
                return 0;
        }
        r = entry_from_info(&info, &st, &e);
        if (r < 0)
                return r; /* the validator accepted it: cannot happen */
        pthread_mutex_lock(&s->lock);
        r = index_reserve(s, 1);
        if (r >= 0) {
                s->entries[s->n++] = e;
                s->bytes += e.info.bytes;
        }
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int load_all(DmabufdSnapshotStore *s) {
        _cleanup_closedir_ DIR *d = NULL;
        int opened;

        opened = opendir_at(s->dir_fd, ".", &d);
        if (opened < 0)
                return opened;
        for (;;) {
                char id[DMABUFD_SNAPSHOT_ID_MAX];
                struct dirent *de;
                size_t len;
                int r;

                r = readdir_next(d, &de);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (is_temp_name(de->d_name)) {
                        if (unlinkat(s->dir_fd, de->d_name, 0) < 0 && errno != ENOENT)
                                log_warning_errno(negative_errno(), "failed to remove %s/%s, ignoring: %m", s->path,
                                                  de->d_name);
                        else
                                log_notice("removed %s/%s, left behind by an interrupted snapshot write", s->path,
                                           de->d_name);
                        continue;
                }
                len = strlen(de->d_name);
                if (de->d_name[0] == '.' || len <= STRLEN(SUFFIX) || !streq(de->d_name + len - STRLEN(SUFFIX), SUFFIX))
                        continue;
                len -= STRLEN(SUFFIX);
                if (len < sizeof(id)) {
                        memcpy(id, de->d_name, len);
                        id[len] = '\0';
                }
                if (len >= sizeof(id) || !dmabufd_snapshot_id_is_valid(id)) {
                        char q[96];
                        log_warning("ignoring %s/%s: not a snapshot file name",
                                    s->path, printable(de->d_name, strlen(de->d_name), q, sizeof(q)));
                        continue;
                }
                r = load_one(s, de->d_name, id);
                if (r < 0)
                        return r;
        }
        if (s->n > 1)
                qsort(s->entries, s->n, sizeof(Entry), entry_qsort_compare);
        return 0;
}

DmabufdSnapshotStore *dmabufd_snapshot_store_free(DmabufdSnapshotStore *s) {
        if (!s)
                return NULL;
        safe_close(s->dir_fd);
        pthread_mutex_destroy(&s->lock);
        free(s->entries);
        free(s->path);
        free(s);
        return NULL;
}

int dmabufd_snapshot_store_open(const char *dir, const DmabufdSnapshotLimits *limits, DmabufdSnapshotStore **ret) {
        _cleanup_(dmabufd_snapshot_store_freep) DmabufdSnapshotStore *s = NULL;
        int r;

        if (!dir || !*dir)
                return log_error_errno(-EINVAL, "no snapshot directory given");
        if (mkdir(dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(negative_errno(), "failed to create the snapshot directory %s: %m", dir);

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(-ENOMEM, "out of memory");
        s->dir_fd = -EBADF;
        pthread_mutex_init(&s->lock, NULL);
        if (limits)
                s->limits = *limits;
        s->path = strdup(dir);
        if (!s->path)
                return log_error_errno(-ENOMEM, "out of memory");
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return log_error_errno(negative_errno(), "failed to open the snapshot directory %s: %m", dir);

        r = load_all(s);
        if (r < 0)
                return log_error_errno(r, "failed to read the snapshot directory %s: %m", dir);
        log_debug("snapshot store %s: %zu snapshots, %" PRIu64 " bytes", dir, s->n, s->bytes);
        apply_retention(s, NULL);

        *ret = TAKE_PTR(s);
        return 0;
}

void dmabufd_snapshot_store_set_limits(DmabufdSnapshotStore *s, const DmabufdSnapshotLimits *limits) {
        pthread_mutex_lock(&s->lock);
        s->limits = *limits;
        pthread_mutex_unlock(&s->lock);
        apply_retention(s, NULL);
}

int dmabufd_snapshot_store_list(DmabufdSnapshotStore *s, DmabufdSnapshotInfo **ret, size_t *ret_n) {
        DmabufdSnapshotInfo *list = NULL;
        size_t n;

        pthread_mutex_lock(&s->lock);
        n = s->n;
        if (n > 0) {
                list = reallocarray(NULL, n, sizeof(DmabufdSnapshotInfo));
                for (size_t i = 0; list && i < n; i++)
                        list[i] = s->entries[i].info;
        }
        pthread_mutex_unlock(&s->lock);
        if (n > 0 && !list)
                return -ENOMEM;
        *ret = list;
        *ret_n = n;
        return 0;
}

/* The file behind a listed id is gone or replaced: stop listing it (so this is
 * said once), leave the file alone. */
static int drop_changed(DmabufdSnapshotStore *s, const char *id, const Entry *seen, const char *why) {
        bool was_listed = false;
        Entry *e;

        pthread_mutex_lock(&s->lock);
        e = index_find(s, id);
        /* Only the entry we looked at: the id may have been removed by retention
         * and stored anew, or completed, meanwhile. */
        if (e && e->dev == seen->dev && e->ino == seen->ino) {
                index_remove(s, e);
                was_listed = true;
        } else if (e) {
                pthread_mutex_unlock(&s->lock);
                return -EAGAIN; /* replaced by a newer file of ours: look again */
        }
        pthread_mutex_unlock(&s->lock);
        /* Not listed any more: retention removed it meanwhile, which is no news. */
        if (was_listed)
                log_warning("snapshot %s/%s" SUFFIX " changed behind our back (%s), no longer listing it", s->path, id,
                            why);
        return -ENOENT;
}

static int open_snapshot_once(DmabufdSnapshotStore *s, const char *id, int *ret_fd, uint64_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        char name[FILE_NAME_MAX], why[64];
        Entry seen = {};
        struct stat st;
        Entry *e;

        pthread_mutex_lock(&s->lock);
        e = index_find(s, id);
        if (e)
                seen = *e;
        pthread_mutex_unlock(&s->lock);
        if (!e)
                return -ENOENT;

        snprintf(name, sizeof(name), "%s" SUFFIX, id);
        fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                char buf[64];

                /* HTTP threads: strerror() is not theirs to share. */
                snprintf(why, sizeof(why), "open: %s", strerror_r(errno, buf, sizeof(buf)));
                return drop_changed(s, id, &seen, why);
        }
        if (fstat(fd, &st) < 0) {
                char buf[64];

                /* HTTP threads: strerror() is not theirs to share. */
                snprintf(why, sizeof(why), "fstat: %s", strerror_r(errno, buf, sizeof(buf)));
                return drop_changed(s, id, &seen, why);
        }
        if (!S_ISREG(st.st_mode))
                return drop_changed(s, id, &seen, "not a regular file");
        if ((uint64_t) st.st_size != seen.info.bytes) {
                snprintf(why, sizeof(why), "%" PRIu64 " bytes instead of %" PRIu64, (uint64_t) st.st_size,
                         seen.info.bytes);
                return drop_changed(s, id, &seen, why);
        }
        if (st.st_dev != seen.dev || st.st_ino != seen.ino)
                return drop_changed(s, id, &seen, "another file in its place");
        /* Only there so a FIFO could not block the open; readers expect a plain fd. */
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

        *ret_fd = TAKE_FD(fd);
        *ret_size = seen.info.bytes;
        return 0;
}

int dmabufd_snapshot_store_open_snapshot(DmabufdSnapshotStore *s, const char *id, int *ret_fd, uint64_t *ret_size) {
        int r = -EAGAIN;

        /* Before anything touches the file system. */
        if (!dmabufd_snapshot_id_is_valid(id))
                return -EINVAL;
        /* A snapshot completed while we looked has a new file; the index says so
         * by then, and a second look finds it. */
        for (unsigned attempt = 0; r == -EAGAIN && attempt < 3; attempt++)
                r = open_snapshot_once(s, id, ret_fd, ret_size);
        return r == -EAGAIN ? -ENOENT : r;
}

/* ---- writing ---- */

static uint32_t random_u32(void) {
        static uint32_t counter;
        uint32_t v;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == sizeof(v))
                return v;
        /* Uniqueness is what matters here, not unpredictability: O_EXCL does the rest. */
        return (uint32_t) getpid() * 2654435761U ^ (uint32_t) time(NULL) ^ ++counter * 40503U;
}

static int create_temp(DmabufdSnapshotStore *s, const char *id, char *name, size_t name_size) {
        static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

        for (unsigned attempt = 0; attempt < 16; attempt++) {
                char rnd[TEMP_RANDOM + 1];
                uint32_t v = random_u32() ^ random_u32() << 11;
                int fd;

                for (size_t i = 0; i < TEMP_RANDOM; i++, v /= (sizeof(chars) - 1))
                        rnd[i] = chars[v % (sizeof(chars) - 1)];
                rnd[TEMP_RANDOM] = '\0';
                snprintf(name, name_size, ".%s" TEMP_INFIX "%s", id, rnd);
                fd = openat(s->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
                if (fd >= 0)
                        return fd;
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* A snapshot written to a temp file, not yet renamed into place. */
typedef struct TempFile {
        char name[TEMP_NAME_MAX + 1]; /* "" until created */
        struct stat st;
        const char *step; /* what failed, for the message */
} TempFile;

/* Writes the temp file and makes it durable; the caller unlinks it on failure.
 * What write_func() streams is not read back: it is the daemon's own document,
 * written from json-c, and re-reading a multi-MiB file cost most of the time
 * from an event to its file on disk. Every write error still shows, in the
 * stream's state, fflush(), fsync() or fclose(). */
static int write_temp(DmabufdSnapshotStore *s, const char *id, DmabufdSnapshotWriteFunc write_func, void *userdata,
                      TempFile *t) {
        _cleanup_free_ char *buf = NULL; /* declared before f: freed after f is closed */
        _cleanup_fclose_ FILE *f = NULL;
        int fd, r;

        t->step = "create a temp file";
        fd = create_temp(s, id, t->name, sizeof(t->name));
        if (fd < 0) {
                t->name[0] = '\0';
                return fd;
        }
        f = fdopen(fd, "w");
        if (!f) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }
        buf = malloc(WRITE_BUFFER);
        if (buf)
                (void) setvbuf(f, buf, _IOFBF, WRITE_BUFFER);

        t->step = "write";
        errno = 0;
        r = write_func(f, userdata);
        if (r < 0)
                return r;
        errno = 0;
        if (fflush(f) != 0 || ferror(f))
                return errno > 0 ? -errno : -EIO;

        t->step = "fsync";
        if (fsync(fileno(f)) < 0 || fstat(fileno(f), &t->st) < 0)
                return negative_errno();

        t->step = "close";
        if (fclose(TAKE_PTR(f)) != 0)
                return negative_errno();
        return 0;
}

static DmabufdSnapshotInfo info_new(const char *id, const char *taken_at, const char *kind, const struct stat *st) {
        DmabufdSnapshotInfo info = { .bytes = (uint64_t) st->st_size };

        /* All three were checked against these sizes. */
        snprintf(info.id, sizeof(info.id), "%s", id);
        snprintf(info.taken_at, sizeof(info.taken_at), "%s", taken_at);
        snprintf(info.kind, sizeof(info.kind), "%s", kind);
        return info;
}

static int rename_noreplace(int dir_fd, const char *from, const char *to) {
        struct stat st;

        if (renameat2(dir_fd, from, dir_fd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return negative_errno();
        /* A file system without RENAME_NOREPLACE: only the main thread adds, so a
         * check first is enough against ourselves. */
        if (fstatat(dir_fd, to, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (errno != ENOENT)
                return negative_errno();
        if (renameat(dir_fd, from, dir_fd, to) < 0)
                return negative_errno();
        return 0;
}

int dmabufd_snapshot_store_add(DmabufdSnapshotStore *s, const char *id, const char *taken_at, const char *kind,
                               DmabufdSnapshotWriteFunc write_func, void *userdata, DmabufdSnapshotInfo *ret) {
        char name[FILE_NAME_MAX], q[96];
        TempFile t = {};
        struct stat st;
        bool listed;
        Entry e;
        int r;

        if (!dmabufd_snapshot_id_is_valid(id))
                return log_warning_errno(-EINVAL, "refusing to store a snapshot: invalid id \"%s\"",
                                         id ? printable(id, strlen(id), q, sizeof(q)) : "(null)");
        if (!taken_at || parse_time(taken_at, &e.sec, &e.nsec) < 0)
                return log_warning_errno(-EINVAL, "refusing to store snapshot %s: invalid time \"%s\"", id,
                                         taken_at ? printable(taken_at, strlen(taken_at), q, sizeof(q)) : "(null)");
        if (!kind || !kind_is_valid(kind))
                return log_warning_errno(-EINVAL, "refusing to store snapshot %s: invalid trigger kind \"%s\"", id,
                                         kind ? printable(kind, strlen(kind), q, sizeof(q)) : "(null)");
        if (!write_func)
                return log_warning_errno(-EINVAL, "refusing to store snapshot %s: nothing writes it", id);

        /* Room in the index first, so that once the file is in place nothing can
         * fail; open_snapshot and retention only ever shrink the index. */
        pthread_mutex_lock(&s->lock);
        listed = index_find(s, id) != NULL;
        r = listed ? -EEXIST : index_reserve(s, 1);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return log_warning_errno(r, "failed to store snapshot %s: %m", id);

        snprintf(name, sizeof(name), "%s" SUFFIX, id);
        /* Not listed but present: an invalid file, kept for inspection. */
        if (fstatat(s->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return log_warning_errno(-EEXIST, "failed to store snapshot %s: %s/%s exists: %m", id, s->path, name);
        if (errno != ENOENT)
                return log_warning_errno(negative_errno(), "failed to store snapshot %s: %s/%s: %m", id, s->path,
                                         name);

        r = write_temp(s, id, write_func, userdata, &t);
        if (r >= 0) {
                t.step = "rename";
                r = rename_noreplace(s->dir_fd, t.name, name);
        }
        if (r < 0) {
                if (t.name[0] && unlinkat(s->dir_fd, t.name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(), "failed to remove %s/%s: %m", s->path, t.name);
                return log_warning_errno(r, "failed to store snapshot %s in %s: %s: %m", id, s->path, t.step);
        }
        if (fsync(s->dir_fd) < 0) {
                /* Undo, so that a failure means nothing changed. Nobody has seen
                 * the file yet: it is not listed. */
                r = negative_errno();
                if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(), "failed to remove %s/%s: %m", s->path, name);
                return log_warning_errno(r, "failed to store snapshot %s: fsync of %s: %m", id, s->path);
        }

        e.info = info_new(id, taken_at, kind, &t.st);
        e.dev = t.st.st_dev; /* rename keeps the inode */
        e.ino = t.st.st_ino;
        pthread_mutex_lock(&s->lock);
        index_insert(s, &e);
        pthread_mutex_unlock(&s->lock);
        log_debug("stored snapshot %s (%s, %s, %" PRIu64 " bytes)", id, kind, taken_at, e.info.bytes);

        apply_retention(s, id);
        if (ret)
                *ret = e.info;
        return 0;
}

int dmabufd_snapshot_store_complete(DmabufdSnapshotStore *s, const char *id, DmabufdSnapshotWriteFunc write_func,
                                    void *userdata, DmabufdSnapshotInfo *ret) {
        char name[FILE_NAME_MAX];
        DmabufdSnapshotInfo info = {};
        TempFile t = {};
        Entry *e;
        int r;

        if (!dmabufd_snapshot_id_is_valid(id) || !write_func)
                return log_warning_errno(-EINVAL, "refusing to complete a snapshot: invalid arguments");
        pthread_mutex_lock(&s->lock);
        e = index_find(s, id);
        if (e)
                info = e->info;
        pthread_mutex_unlock(&s->lock);
        if (!e)
                return log_warning_errno(-ENOENT, "cannot complete snapshot %s: it is not stored", id);

        r = write_temp(s, id, write_func, userdata, &t);
        if (r >= 0) {
                /* Same id, time and kind: only the content is fuller. */
                info.bytes = (uint64_t) t.st.st_size;
                snprintf(name, sizeof(name), "%s" SUFFIX, id);
                /* The rename and the index change together, so a reader never
                 * sees the new file under the old entry and calls it tampered. */
                pthread_mutex_lock(&s->lock);
                e = index_find(s, id);
                if (!e)
                        r = -ENOENT;
                else if (renameat(s->dir_fd, t.name, s->dir_fd, name) < 0)
                        r = negative_errno();
                else {
                        s->bytes = s->bytes - e->info.bytes + info.bytes;
                        e->info = info;
                        e->dev = t.st.st_dev;
                        e->ino = t.st.st_ino;
                }
                pthread_mutex_unlock(&s->lock);
                t.step = "rename";
        }
        if (r < 0) {
                if (t.name[0] && unlinkat(s->dir_fd, t.name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(), "failed to remove %s/%s: %m", s->path, t.name);
                return log_warning_errno(r, "failed to complete snapshot %s in %s, the first part stays: %s: %m",
                                         id, s->path, t.step);
        }
        /* Either file is a valid snapshot, so a lost rename costs the second part
         * only; it is worth a warning, not an undo. */
        if (fsync(s->dir_fd) < 0)
                log_warning_errno(negative_errno(), "fsync of %s after completing snapshot %s failed: %m", s->path,
                                  id);
        apply_retention(s, id);
        if (ret)
                *ret = info;
        return 0;
}
