/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>

#include "state-json.h"
#include "document.h"
#include "store.h"
#include "test-util.h"

#define SCHEMA "\"schema\":\"dmabufd.snapshot/1\""

/* ---- helpers ---- */

/* A snapshot as the producer writes it, padded with bytes that depend on the id
 * so that a mix-up between files cannot go unnoticed. */
static char *make_json(const char *id, const char *taken_at, const char *kind, size_t pad, size_t *ret_len) {
        char *head, *json;
        size_t head_len, len;

        head_len = (size_t) asprintf(&head,
                                     "{" SCHEMA ",\"id\":\"%s\",\"taken_at\":\"%s\",\"trigger\":{\"pid\":42,"
                                     "\"detail\":{\"kind\":\"nested, not this one\"},\"kind\":\"%s\",\"line\":\"l\"},"
                                     "\"memory\":{\"meminfo\":{\"MemTotal\":123456789012345678901234567890}},"
                                     "\"before\":{\"buffers\":[1,2.5,-3e4,true,false,null]},\"state\":{\"pad\":\"",
                                     id, taken_at, kind);
        len = head_len + pad + 3;
        json = malloc(len + 1);
        ck_assert_ptr_nonnull(json);
        memcpy(json, head, head_len);
        for (size_t i = 0; i < pad; i++)
                json[head_len + i] = (char) ('a' + (i * 7 + (unsigned char) id[0] + strlen(id)) % 26);
        memcpy(json + head_len + pad, "\"}}", 3);
        json[len] = '\0';
        free(head);
        *ret_len = len;
        return json;
}

typedef enum PayloadMode {
        PAYLOAD_OK,
        PAYLOAD_FAIL_FIRST,      /* returns an error before writing anything */
        PAYLOAD_FAIL_AFTER,      /* writes everything, then returns an error */
        PAYLOAD_HALF_THEN_SLEEP, /* writes half, flushes, sleeps: to be killed */
} PayloadMode;

typedef struct Payload {
        const char *data;
        size_t len;
        PayloadMode mode;
} Payload;

static int payload_write(FILE *f, void *userdata) {
        const Payload *p = userdata;

        switch (p->mode) {
        case PAYLOAD_FAIL_FIRST:
                return -EIO;
        case PAYLOAD_HALF_THEN_SLEEP:
                fwrite(p->data, 1, p->len / 2, f);
                fflush(f);
                for (int i = 0; i < 3000; i++) /* 30 s at most: the parent kills us long before */
                        usleep(10 * 1000);
                return 0;
        case PAYLOAD_OK:
        case PAYLOAD_FAIL_AFTER:
                if (fwrite(p->data, 1, p->len, f) != p->len)
                        return errno > 0 ? -errno : -EIO;
                return p->mode == PAYLOAD_OK ? 0 : -EIO;
        }
        return -EINVAL;
}

static int add_snapshot(DmabufdSnapshotStore *s, const char *id, const char *taken_at, const char *kind, size_t pad,
                        DmabufdSnapshotInfo *ret) {
        Payload p = { .mode = PAYLOAD_OK };
        char *json;
        int r;

        json = make_json(id, taken_at, kind, pad, &p.len);
        p.data = json;
        r = dmabufd_snapshot_store_add(s, id, taken_at, kind, payload_write, &p, ret);
        free(json);
        return r;
}

static char *path_join(const char *a, const char *b) {
        char *p;

        ck_assert(asprintf(&p, "%s/%s", a, b) > 0);
        return p;
}

/* Temp files of ours: ".<id>.tmp-XXXXXX". */
static unsigned count_temp_files(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        ck_assert_msg(d, "opendir %s: %s", dir, strerror(errno));
        while ((de = readdir(d)))
                if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp-"))
                        n++;
        closedir(d);
        return n;
}

static bool file_exists(const char *dir, const char *name) {
        char *p = path_join(dir, name);
        struct stat st;
        bool r = lstat(p, &st) == 0;

        free(p);
        return r;
}

static char *read_fd(int fd, uint64_t size) {
        char *buf = malloc(size + 1);
        uint64_t off = 0;

        ck_assert_ptr_nonnull(buf);
        while (off < size) {
                ssize_t n = pread(fd, buf + off, size - off, (off_t) off);
                ck_assert_int_gt(n, 0);
                off += (uint64_t) n;
        }
        buf[size] = '\0';
        return buf;
}

/* Serves id and checks the bytes are exactly what the producer wrote. */
static void assert_serves(DmabufdSnapshotStore *s, const char *id, const char *taken_at, const char *kind, size_t pad) {
        uint64_t size = 0;
        size_t len;
        char *want, *got;
        int fd = -1;

        ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, id, &fd, &size), 0);
        ck_assert_int_ge(fd, 0);
        want = make_json(id, taken_at, kind, pad, &len);
        ck_assert_uint_eq(size, len);
        got = read_fd(fd, size);
        ck_assert_msg(memcmp(got, want, len) == 0, "%s: content differs", id);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
        ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        free(want);
        free(got);
}

static void assert_ids(DmabufdSnapshotStore *s, const char *const *ids, size_t n) {
        DmabufdSnapshotInfo *list = NULL;
        size_t got = 99;

        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &list, &got), 0);
        ck_assert_msg(got == n, "expected %zu snapshots, got %zu (first %s)", n, got, got > 0 ? list[0].id : "-");
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(list[i].id, ids[i]);
        free(list);
}

static DmabufdSnapshotStore *open_store(const char *dir, uint64_t max_count, uint64_t max_bytes) {
        DmabufdSnapshotLimits l = { .max_count = max_count, .max_bytes = max_bytes };
        DmabufdSnapshotStore *s = NULL;

        ck_assert_int_eq(dmabufd_snapshot_store_open(dir, &l, &s), 0);
        ck_assert_ptr_nonnull(s);
        return s;
}

/* stderr into a file, to check what was logged. */
typedef struct Capture {
        char path[PATH_MAX];
        int saved;
} Capture;

static void capture_start(Capture *c, const char *root) {
        int fd;

        snprintf(c->path, sizeof(c->path), "%s/stderr.log", root);
        fflush(stderr);
        c->saved = dup(STDERR_FILENO);
        fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
        close(fd);
}

static char *capture_stop(Capture *c) {
        struct stat st;
        char *buf;
        int fd;

        fflush(stderr);
        dup2(c->saved, STDERR_FILENO);
        close(c->saved);
        fd = open(c->path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = read_fd(fd, (uint64_t) st.st_size);
        close(fd);
        fputs(buf, stderr); /* still in the test log */
        return buf;
}

static unsigned count_substr(const char *hay, const char *needle) {
        unsigned n = 0;

        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* ---- ids ---- */

START_TEST(test_id_is_valid) {
        static const char *const good[] = {
                "a", "A", "0", "20261121T101500.123Z-oom_kill-1", "a.b", "a-b_c", "x.json",
                "123456789012345678901234567890123456789012345678901234567890123", /* 63 */
        };
        static const char *const bad[] = {
                "", ".", "..", "../x", "a/b", "/etc/passwd", ".hidden", "a..b", "%2f", "a%2fb", "a b", "a\nb",
                "a\\b", "ok\x80", "a:b",
                "1234567890123456789012345678901234567890123456789012345678901234", /* 64 */
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ck_assert_msg(dmabufd_snapshot_id_is_valid(good[i]), "%s should be valid", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(!dmabufd_snapshot_id_is_valid(bad[i]), "\"%s\" should be invalid", bad[i]);
        ck_assert(!dmabufd_snapshot_id_is_valid(NULL));
}
END_TEST

/* ---- the validator ---- */

static int validate_string(const char *root, const char *content, size_t len, const char *expected_id,
                           DmabufdSnapshotInfo *info, char *err, size_t err_len) {
        char *path = path_join(root, "v.json");
        int fd, r;

        tu_write(root, "v.json", content, len);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        r = dmabufd_snapshot_file_validate(fd, expected_id, info, err, err_len);
        close(fd);
        free(path);
        return r;
}

START_TEST(test_validate_good) {
        char *root = tu_mkdtemp(), err[256];
        DmabufdSnapshotInfo info;
        size_t len;
        char *json;
        const char *other_order = "  {\"before\":{\"trigger\":{\"kind\":\"bogus\"}},\"trigger\":{\"kind\":\"psi\","
                                  "\"kind_of\":[{\"kind\":1}]},\"taken_at\":\"2026-01-02T03:04:05+01:00\","
                                  "\"id\":\"x\",\"kind\":\"nope\"," SCHEMA ",\"state\":\"\\\"}\\\\\"}\n\n";

        /* Several chunks, with a multi-KiB string crossing chunk boundaries. */
        json = make_json("snap-1", "2026-11-21T10:15:00.123Z", "oom_kill", 300 * 1024, &len);
        ck_assert_int_eq(validate_string(root, json, len, "snap-1", &info, err, sizeof(err)), 0);
        ck_assert_str_eq(info.id, "snap-1");
        ck_assert_str_eq(info.taken_at, "2026-11-21T10:15:00.123Z");
        ck_assert_str_eq(info.kind, "oom_kill");
        ck_assert_uint_eq(info.bytes, len);
        /* no expected id: any valid one */
        ck_assert_int_eq(validate_string(root, json, len, NULL, &info, err, sizeof(err)), 0);
        free(json);

        /* Members in any order; "kind" counts only directly inside "trigger". */
        ck_assert_int_eq(validate_string(root, other_order, strlen(other_order), "x", &info, err, sizeof(err)), 0);
        ck_assert_str_eq(info.kind, "psi");
        ck_assert_str_eq(info.taken_at, "2026-01-02T03:04:05+01:00");
        tu_rm_rf(root);
}
END_TEST

typedef struct BadCase {
        const char *name;
        const char *content;
        const char *err; /* substring of the message */
} BadCase;

#define GOOD_TAIL ",\"trigger\":{\"kind\":\"manual\"},\"memory\":{},\"before\":{},\"state\":{}}"
#define GOOD_HEAD "{" SCHEMA ",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\""
#define GOOD GOOD_HEAD GOOD_TAIL
#define DEEP16 "[[[[[[[[[[[[[[[["
#define DEEP65 DEEP16 DEEP16 DEEP16 DEEP16 "["

static const BadCase bad_cases[] = {
        { "empty", "", "empty file" },
        { "whitespace", " \n", "truncated JSON at byte 2: no value" },
        { "truncated", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\"},\"state\":{\"buffers\":[1,2", "truncated JSON" },
        { "truncated-in-string", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\"},\"state\":\"abc",
          "truncated JSON at byte 114: the input ends inside a string" },
        { "garbage", "\x7f" "ELF\x02\x01\x01 garbage", "invalid JSON" },
        { "trailing-garbage", GOOD " x", "invalid JSON at byte 138: trailing data after the top-level value: 'x'" },
        { "two-values", GOOD GOOD, "invalid JSON" },
        { "array", "[" GOOD "]", "not an object" },
        { "string", "\"dmabufd.snapshot/1\"", "not an object" },
        { "number", "42", "not an object" },
        { "comment", "/* hi */" GOOD, "invalid JSON" },
        { "bad-utf8", "{" SCHEMA ",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\",\"t\":\"\xff\xfe\"" GOOD_TAIL,
          "invalid JSON" },
        { "no-schema", "{\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL, "no \"schema\"" },
        { "wrong-schema", "{\"schema\":\"dmabufd.snapshot/2\",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL,
          "schema \"dmabufd.snapshot/2\"" },
        { "schema-prefix", "{\"schema\":\"dmabufd.snapshot/10\",\"id\":\"x\"" GOOD_TAIL, "schema" },
        { "schema-number", "{\"schema\":1,\"id\":\"x\"" GOOD_TAIL, "\"schema\" is not a string" },
        { "nested-schema", "{\"before\":" GOOD ",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL,
          "no \"schema\"" },
        { "no-id", "{" SCHEMA ",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL, "no \"id\"" },
        { "id-mismatch", "{" SCHEMA ",\"id\":\"y\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL,
          "does not match the file name" },
        { "id-traversal", "{" SCHEMA ",\"id\":\"../x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL,
          "not a valid snapshot id" },
        { "id-nul", "{" SCHEMA ",\"id\":\"x\\u0000y\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL, "NUL" },
        { "duplicate-id", "{" SCHEMA ",\"id\":\"x\",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL,
          "duplicate member \"id\"" },
        { "no-taken-at", "{" SCHEMA ",\"id\":\"x\"" GOOD_TAIL, "no \"taken_at\"" },
        { "bad-taken-at", "{" SCHEMA ",\"id\":\"x\",\"taken_at\":\"2026-02-30T10:15:00Z\"" GOOD_TAIL,
          "not an RFC3339 time" },
        { "local-taken-at", "{" SCHEMA ",\"id\":\"x\",\"taken_at\":\"2026-11-21 10:15:00\"" GOOD_TAIL,
          "not an RFC3339 time" },
        { "no-trigger", GOOD_HEAD ",\"state\":{}}", "no \"trigger\"" },
        { "trigger-string", GOOD_HEAD ",\"trigger\":\"oom_kill\"}", "\"trigger\" is not an object" },
        { "no-kind", GOOD_HEAD ",\"trigger\":{\"pid\":1},\"kind\":\"psi\"}", "no \"trigger.kind\"" },
        { "kind-too-deep", GOOD_HEAD ",\"trigger\":{\"x\":{\"kind\":\"psi\"}}}", "no \"trigger.kind\"" },
        { "unknown-kind", GOOD_HEAD ",\"trigger\":{\"kind\":\"reboot\"}}", "\"reboot\" is not a known kind" },
        { "kind-case", GOOD_HEAD ",\"trigger\":{\"kind\":\"OOM_KILL\"}}", "not a known kind" },
        { "kind-null", GOOD_HEAD ",\"trigger\":{\"kind\":null}}", "\"trigger.kind\" is not a string" },
        { "kind-long", GOOD_HEAD ",\"trigger\":{\"kind\":\"oom_kill_oom_kill_oom_kill\"}}", "too long" },
        { "bad-escape", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",\"line\":\"a\\qb\"}}",
          "invalid escape in a string: 'q' after a backslash" },
        { "bad-surrogate", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",\"line\":\"\\udc00\"}}", "unpaired surrogate" },
        { "raw-newline", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",\"line\":\"a\nb\"}}", "control characters" },
        { "bad-number", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",\"pid\":012}}", "invalid number" },
        { "bad-literal", GOOD_HEAD ",\"partial\":True" GOOD_TAIL, "expected a value, found 'T'" },
        { "too-deep", GOOD_HEAD ",\"state\":" DEEP65 GOOD_TAIL, "nested deeper than 64 levels" },
        { "trailing-comma", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",}}", "expected a member name" },
        { "truncated-in-escape", GOOD_HEAD ",\"trigger\":{\"kind\":\"manual\",\"line\":\"\\u00", "inside a string" },
};

START_TEST(test_validate_bad) {
        char *root = tu_mkdtemp();

        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                const BadCase *c = &bad_cases[i];
                DmabufdSnapshotInfo info = { .bytes = 4242 };
                char err[256] = "";
                int r;

                r = validate_string(root, c->content, strlen(c->content), "x", &info, err, sizeof(err));
                ck_assert_msg(r == -EBADMSG, "%s: expected -EBADMSG, got %d (%s)", c->name, r, err);
                ck_assert_msg(strstr(err, c->err), "%s: message \"%s\" lacks \"%s\"", c->name, err, c->err);
                ck_assert_uint_eq(info.bytes, 4242); /* untouched */
        }
        /* The one good file the bad ones derive from, so they fail for their own reason. */
        {
                DmabufdSnapshotInfo info;
                char err[256] = "";

                ck_assert_int_eq(validate_string(root, GOOD, strlen(GOOD), "x", &info, err, sizeof(err)), 0);
        }
        tu_rm_rf(root);
}
END_TEST

/* Files built to make a naive parser's memory grow with them: the scanner keeps
 * nothing of a string or number it does not report, so a huge one is fine, and
 * nesting is bounded. */
START_TEST(test_validate_hostile) {
        char *root = tu_mkdtemp(), err[256];
        DmabufdSnapshotInfo info;
        size_t n = 2 * 1024 * 1024, head = strlen(GOOD_HEAD ",\"a\":");
        char *buf = malloc(n + 256);
        int r;

        ck_assert_ptr_nonnull(buf);
        /* deep nesting */
        memset(buf, '[', 100000);
        buf[0] = '{';
        memcpy(buf + 1, "\"a\":", 4);
        r = validate_string(root, buf, 100000, "x", &info, err, sizeof(err));
        ck_assert_int_eq(r, -EBADMSG);
        ck_assert_str_eq(err, "invalid JSON at byte 68: nested deeper than 64 levels");

        /* one huge string, one huge number, in an otherwise good snapshot */
        strcpy(buf, GOOD_HEAD ",\"a\":\"");
        memset(buf + head + 1, 'x', n);
        strcpy(buf + head + 1 + n, "\"" GOOD_TAIL);
        ck_assert_int_eq(validate_string(root, buf, strlen(buf), "x", &info, err, sizeof(err)), 0);
        ck_assert_uint_eq(info.bytes, strlen(buf));
        strcpy(buf, GOOD_HEAD ",\"a\":");
        memset(buf + head, '7', n);
        strcpy(buf + head + n, GOOD_TAIL);
        ck_assert_int_eq(validate_string(root, buf, strlen(buf), "x", &info, err, sizeof(err)), 0);
        /* ... and the same number cut short at the end of the file */
        ck_assert_int_eq(validate_string(root, buf, head + n, "x", &info, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "the input ends inside a number"), "%s", err);
        free(buf);

        /* not a regular file */
        {
                int fd = tu_open_dir(root);
                ck_assert_int_eq(dmabufd_snapshot_file_validate(fd, "x", &info, err, sizeof(err)), -EBADMSG);
                ck_assert_str_eq(err, "not a regular file");
                close(fd);
        }
        tu_rm_rf(root);
}
END_TEST

/* ---- the store ---- */

START_TEST(test_add_list_serve) {
        char *root = tu_mkdtemp(), *dir = path_join(root, "snapshots");
        DmabufdSnapshotStore *s = open_store(dir, 0, 0);
        DmabufdSnapshotInfo info = {}, *list = NULL;
        static const char *const order[] = { "c", "z", "b", "y", "a" };
        size_t n = 1;
        struct stat st;
        char *p;

        ck_assert_int_eq(stat(dir, &st), 0); /* created */
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &list, &n), 0);
        ck_assert_ptr_null(list);
        ck_assert_uint_eq(n, 0);

        /* Added out of order. "z" and "b" share a time, as do "y" and "a" (written
         * with an offset): the id decides, descending. "01.5Z" is later than
         * "01Z" although it sorts before it as text. */
        ck_assert_int_eq(add_snapshot(s, "b", "2026-11-21T10:15:01Z", "psi", 100, &info), 0);
        ck_assert_str_eq(info.id, "b");
        ck_assert_str_eq(info.kind, "psi");
        ck_assert_str_eq(info.taken_at, "2026-11-21T10:15:01Z");
        ck_assert_int_eq(add_snapshot(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 200 * 1024, &info), 0);
        ck_assert_uint_gt(info.bytes, 200 * 1024);
        ck_assert_int_eq(add_snapshot(s, "c", "2026-11-21T10:15:01.5Z", "manual", 0, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "z", "2026-11-21T10:15:01Z", "journal", 10, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "y", "2026-11-21T11:15:00+01:00", "lmk_kill", 10, NULL), 0);
        assert_ids(s, order, ELEMENTSOF(order));

        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &list, &n), 0);
        ck_assert_uint_eq(n, 5);
        ck_assert_str_eq(list[4].id, "a");
        ck_assert_str_eq(list[4].kind, "oom_kill");
        ck_assert_str_eq(list[4].taken_at, "2026-11-21T10:15:00Z");
        ck_assert_uint_eq(list[4].bytes, info.bytes);
        free(list);

        assert_serves(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 200 * 1024);
        assert_serves(s, "b", "2026-11-21T10:15:01Z", "psi", 100);
        assert_serves(s, "c", "2026-11-21T10:15:01.5Z", "manual", 0);
        ck_assert_uint_eq(count_temp_files(dir), 0);
        p = path_join(dir, "a.json");
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0640);
        free(p);

        dmabufd_snapshot_store_free(s);
        free(dir);
        tu_rm_rf(root);
}
END_TEST

static int complete_snapshot(DmabufdSnapshotStore *s, const char *id, const char *taken_at, const char *kind,
                             size_t pad, PayloadMode mode, DmabufdSnapshotInfo *ret) {
        Payload p = { .mode = mode };
        char *json;
        int r;

        json = make_json(id, taken_at, kind, pad, &p.len);
        p.data = json;
        r = dmabufd_snapshot_store_complete(s, id, payload_write, &p, ret);
        free(json);
        return r;
}

/* The first part is replaced by the complete snapshot: same id, time and kind,
 * new content, the index and byte count follow; a failed completion leaves the
 * first part as it was; a file that names another id is refused. */
START_TEST(test_complete) {
        char *root = tu_mkdtemp(), *dir = path_join(root, "snapshots");
        DmabufdSnapshotStore *s = open_store(dir, 0, 0);
        DmabufdSnapshotInfo info = {}, *list = NULL;
        size_t n = 0;

        ck_assert_int_eq(add_snapshot(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 10, &info), 0);
        ck_assert_int_eq(add_snapshot(s, "b", "2026-11-21T10:16:00Z", "psi", 10, NULL), 0);
        ck_assert_int_eq(complete_snapshot(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 50 * 1024, PAYLOAD_OK, &info), 0);
        ck_assert_uint_gt(info.bytes, 50 * 1024);
        assert_serves(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 50 * 1024);
        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &list, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(list[1].id, "a");
        ck_assert_uint_eq(list[1].bytes, info.bytes);
        free(list);

        ck_assert_int_eq(complete_snapshot(s, "b", "2026-11-21T10:16:00Z", "psi", 99, PAYLOAD_FAIL_AFTER, NULL), -EIO);
        assert_serves(s, "b", "2026-11-21T10:16:00Z", "psi", 10);
        ck_assert_int_eq(complete_snapshot(s, "b", "2026-11-21T10:16:00Z", "psi", 99, PAYLOAD_FAIL_FIRST, NULL), -EIO);
        assert_serves(s, "b", "2026-11-21T10:16:00Z", "psi", 10);
        ck_assert_int_eq(complete_snapshot(s, "nope", "2026-11-21T10:16:00Z", "psi", 1, PAYLOAD_OK, NULL), -ENOENT);
        ck_assert_uint_eq(count_temp_files(dir), 0);

        /* And it is what a restart finds. */
        dmabufd_snapshot_store_free(s);
        s = open_store(dir, 0, 0);
        assert_serves(s, "a", "2026-11-21T10:15:00Z", "oom_kill", 50 * 1024);
        dmabufd_snapshot_store_free(s);
        free(dir);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_retention_count) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 3, 0);
        static const char *const after3[] = { "s3", "s2", "s1" };
        static const char *const after5[] = { "s5", "s4", "s3" };
        char id[8], t[32];

        for (int i = 1; i <= 5; i++) {
                snprintf(id, sizeof(id), "s%d", i);
                snprintf(t, sizeof(t), "2026-11-21T10:00:%02dZ", i);
                ck_assert_int_eq(add_snapshot(s, id, t, "manual", 1000, NULL), 0);
                if (i == 3)
                        assert_ids(s, after3, 3);
        }
        assert_ids(s, after5, 3);
        ck_assert(!file_exists(root, "s1.json"));
        ck_assert(!file_exists(root, "s2.json"));
        ck_assert(file_exists(root, "s3.json"));

        /* SIGHUP with a lower limit */
        dmabufd_snapshot_store_set_limits(s, &(DmabufdSnapshotLimits) { .max_count = 1 });
        assert_ids(s, after5, 1);
        ck_assert(!file_exists(root, "s4.json"));
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_retention_bytes) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        static const char *const two[] = { "d", "c" };
        static const char *const big[] = { "big" };
        static const char *const old2[] = { "old" };
        DmabufdSnapshotInfo info;
        uint64_t size;

        ck_assert_int_eq(add_snapshot(s, "a", "2026-11-21T10:00:01Z", "manual", 10000, &info), 0);
        size = info.bytes;
        ck_assert_int_eq(add_snapshot(s, "b", "2026-11-21T10:00:02Z", "manual", 10000, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "c", "2026-11-21T10:00:03Z", "manual", 10000, NULL), 0);
        dmabufd_snapshot_store_set_limits(s, &(DmabufdSnapshotLimits) { .max_bytes = size * 5 / 2 });
        ck_assert(!file_exists(root, "a.json"));
        ck_assert_int_eq(add_snapshot(s, "d", "2026-11-21T10:00:04Z", "manual", 10000, NULL), 0);
        assert_ids(s, two, 2);

        /* Alone over the limit: kept, everything else goes. */
        ck_assert_int_eq(add_snapshot(s, "big", "2026-11-21T10:00:05Z", "manual", 60000, NULL), 0);
        assert_ids(s, big, 1);
        assert_serves(s, "big", "2026-11-21T10:00:05Z", "manual", 60000);

        /* The one just added is kept even when it is the oldest: a late event. */
        dmabufd_snapshot_store_set_limits(s, &(DmabufdSnapshotLimits) { .max_count = 1 });
        ck_assert_int_eq(add_snapshot(s, "old", "2026-11-21T09:00:00Z", "manual", 10, NULL), 0);
        assert_ids(s, old2, 1);
        ck_assert(!file_exists(root, "big.json"));

        /* 0 is no limit. */
        dmabufd_snapshot_store_set_limits(s, &(DmabufdSnapshotLimits) {});
        ck_assert_int_eq(add_snapshot(s, "big", "2026-11-21T10:00:05Z", "manual", 60000, NULL), 0);
        assert_ids(s, (const char *const[]) { "big", "old" }, 2);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_restart) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 10, 0);
        DmabufdSnapshotInfo *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;

        ck_assert_int_eq(add_snapshot(s, "r1", "2026-11-21T10:00:01Z", "oom_kill", 100, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "r3", "2026-11-21T10:00:03.000001Z", "psi", 70000, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "r2", "2026-11-21T10:00:03Z", "cgroup_oom", 5, NULL), 0);
        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &a, &na), 0);
        dmabufd_snapshot_store_free(s);

        s = open_store(root, 10, 0);
        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &b, &nb), 0);
        ck_assert_uint_eq(na, 3);
        ck_assert_uint_eq(nb, na);
        ck_assert(memcmp(a, b, na * sizeof(*a)) == 0);
        assert_serves(s, "r3", "2026-11-21T10:00:03.000001Z", "psi", 70000);
        dmabufd_snapshot_store_free(s);
        free(b);

        /* Lower limits while the daemon was down: applied on open. */
        s = open_store(root, 2, 0);
        assert_ids(s, (const char *const[]) { "r3", "r2" }, 2);
        ck_assert(!file_exists(root, "r1.json"));
        dmabufd_snapshot_store_free(s);
        free(a);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_corrupt_on_open) {
        char *root = tu_mkdtemp(), *dir = path_join(root, "store"), *log, *p;
        DmabufdSnapshotStore *s;
        Capture cap;
        uint64_t size;
        size_t len;
        char *json;
        int fd;

        ck_assert_int_eq(mkdir(dir, 0750), 0);
        json = make_json("good1", "2026-11-21T10:00:01Z", "oom_kill", 100, &len);
        tu_write(dir, "good1.json", json, len);
        free(json);
        json = make_json("good2", "2026-11-21T10:00:02Z", "psi", 100, &len);
        tu_write(dir, "good2.json", json, len);
        free(json);
        /* truncated: the first 200 bytes of a good one */
        json = make_json("trunc", "2026-11-21T10:00:03Z", "psi", 100, &len);
        tu_write(dir, "trunc.json", json, 200);
        free(json);
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                char name[64], *content = strdup(bad_cases[i].content), *p2;

                /* The cases say id "x": with the file's own id instead, each
                 * fails for its own fault, not for a name mismatch. */
                while ((p2 = strstr(content, "\"id\":\"x\""))) {
                        char *fixed;
                        p2[6] = '\0';
                        ck_assert(asprintf(&fixed, "%s%s%s", content, bad_cases[i].name, p2 + 7) > 0);
                        free(content);
                        content = fixed;
                }
                snprintf(name, sizeof(name), "%s.json", bad_cases[i].name);
                tu_write(dir, name, content, strlen(content));
                free(content);
        }
        tu_write_str(dir, "x.json", "{" SCHEMA ",\"id\":\"x\",\"taken_at\":\"2026-11-21T10:15:00Z\"" GOOD_TAIL " x");
        tu_symlink(dir, "link.json", "good1.json");
        p = path_join(dir, "fifo.json");
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        free(p);
        p = path_join(dir, "adir.json");
        ck_assert_int_eq(mkdir(p, 0700), 0);
        free(p);
        /* leftovers of an interrupted write, and things that are not ours */
        tu_write_str(dir, ".good3.tmp-Ab12Cd", "{\"schema\"");
        tu_write_str(dir, ".notes", "keep me");
        tu_write_str(dir, ".x.tmp-Ab12Cd.bak", "keep me");
        tu_write_str(dir, "README", "keep me");

        capture_start(&cap, root);
        s = open_store(dir, 0, 0);
        log = capture_stop(&cap);

        assert_ids(s, (const char *const[]) { "good2", "good1" }, 2);
        for (size_t i = 0; i < ELEMENTSOF(bad_cases) + 5; i++) {
                static const char *const extra[] = { "trunc", "x", "link", "fifo", "adir" };
                const char *id = i < ELEMENTSOF(bad_cases) ? bad_cases[i].name : extra[i - ELEMENTSOF(bad_cases)];
                char needle[PATH_MAX], name[64];

                snprintf(name, sizeof(name), "%s.json", id);
                ck_assert_msg(file_exists(dir, name), "%s was removed", name);
                snprintf(needle, sizeof(needle), "ignoring snapshot %s/%s: ", dir, name);
                ck_assert_msg(count_substr(log, needle) == 1, "expected one warning for %s in:\n%s", name, log);
                fd = 12345;
                ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, id, &fd, &size), -ENOENT);
                ck_assert_int_eq(fd, 12345);
        }
        ck_assert_msg(strstr(log, "truncated JSON"), "%s", log);
        ck_assert_msg(strstr(log, "trailing data"), "%s", log);
        ck_assert_msg(strstr(log, "\"reboot\" is not a known kind"), "%s", log);
        ck_assert(!file_exists(dir, ".good3.tmp-Ab12Cd"));
        ck_assert(file_exists(dir, ".notes"));
        ck_assert(file_exists(dir, ".x.tmp-Ab12Cd.bak"));
        ck_assert(file_exists(dir, "README"));

        /* An invalid file keeps its name: a new snapshot cannot take it over. */
        ck_assert_int_eq(add_snapshot(s, "trunc", "2026-11-21T10:00:03Z", "manual", 1, NULL), -EEXIST);
        assert_serves(s, "good1", "2026-11-21T10:00:01Z", "oom_kill", 100);
        free(log);
        dmabufd_snapshot_store_free(s);
        free(dir);
        tu_rm_rf(root);
}
END_TEST

/* Paths outside the store, or names that are not snapshots, each holding a file
 * a careless store would serve: none is opened, which inotify proves. */
START_TEST(test_bad_ids) {
        char *root = tu_mkdtemp(), *dir = path_join(root, "store"), *sub;
        static const char *const bad[] = {
                "..", "../x", "a/b", ".hidden", "", "%2f", "a%2fb", "..%2fx", "a..b", "a\\b", "/x", "x/",
                "1234567890123456789012345678901234567890123456789012345678901234",
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
        };
        static const char *const bad_files[] = {
                "..json", ".hidden.json", ".json", "%2f.json", "a%2fb.json", "..%2fx.json", "a..b.json", "a\\b.json",
                "1234567890123456789012345678901234567890123456789012345678901234.json",
        };
        DmabufdSnapshotStore *s;
        char events[4096];
        uint64_t size = 7;
        int ifd, fd = 12345;

        ck_assert_int_eq(mkdir(dir, 0750), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad_files); i++)
                tu_write_str(dir, bad_files[i], GOOD);
        tu_write_str(dir, "a/b.json", GOOD);
        tu_write_str(root, "x.json", GOOD);
        tu_write_str(root, "store/x.json", GOOD);

        s = open_store(dir, 0, 0);
        assert_ids(s, (const char *const[]) { "x" }, 1);

        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ifd, 0);
        ck_assert_int_ge(inotify_add_watch(ifd, root, IN_OPEN | IN_ACCESS | IN_ATTRIB), 0);
        ck_assert_int_ge(inotify_add_watch(ifd, dir, IN_OPEN | IN_ACCESS | IN_ATTRIB), 0);
        sub = path_join(dir, "a");
        ck_assert_int_ge(inotify_add_watch(ifd, sub, IN_OPEN | IN_ACCESS | IN_ATTRIB), 0);
        free(sub);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_msg(dmabufd_snapshot_store_open_snapshot(s, bad[i], &fd, &size) == -EINVAL, "%s", bad[i]);
                ck_assert_int_eq(add_snapshot(s, bad[i], "2026-11-21T10:00:01Z", "manual", 1, NULL), -EINVAL);
        }
        ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, NULL, &fd, &size), -EINVAL);
        ck_assert_int_eq(fd, 12345);
        ck_assert_uint_eq(size, 7);
        ck_assert_int_eq(read(ifd, events, sizeof(events)), -1);
        ck_assert_int_eq(errno, EAGAIN);

        /* The watch does see an open when there is one. */
        ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, "x", &fd, &size), 0);
        close(fd);
        ck_assert_int_gt(read(ifd, events, sizeof(events)), 0);
        close(ifd);

        assert_ids(s, (const char *const[]) { "x" }, 1);
        dmabufd_snapshot_store_free(s);
        free(dir);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_write_failures) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        static const char *const one[] = { "keep" };
        DmabufdSnapshotInfo info = { .bytes = 99 };
        Payload p = {};
        size_t len;
        char *json, *other;

        ck_assert_int_eq(add_snapshot(s, "keep", "2026-11-21T10:00:01Z", "manual", 100, NULL), 0);
        json = make_json("new", "2026-11-21T10:00:02Z", "psi", 100000, &len);
        p.data = json;
        p.len = len;

        p.mode = PAYLOAD_FAIL_FIRST;
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "2026-11-21T10:00:02Z", "psi", payload_write, &p, &info),
                         -EIO);
        p.mode = PAYLOAD_FAIL_AFTER;
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "2026-11-21T10:00:02Z", "psi", payload_write, &p, &info),
                         -EIO);
        ck_assert_uint_eq(info.bytes, 99);
        ck_assert_uint_eq(count_temp_files(root), 0);
        assert_ids(s, one, 1);

        ck_assert(!file_exists(root, "new.json"));
        p.mode = PAYLOAD_OK;

        /* Bad arguments: nothing written. */
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "yesterday", "psi", payload_write, &p, NULL), -EINVAL);
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "2026-11-21T10:00:02Z", "boom", payload_write, &p, NULL),
                         -EINVAL);
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", NULL, "psi", payload_write, &p, NULL), -EINVAL);
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "2026-11-21T10:00:02Z", "psi", NULL, &p, NULL), -EINVAL);

        /* An existing id is never replaced. */
        other = make_json("keep", "2026-11-21T10:00:09Z", "psi", 5, &len);
        p.data = other;
        p.len = len;
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "keep", "2026-11-21T10:00:09Z", "psi", payload_write, &p, NULL),
                         -EEXIST);
        assert_serves(s, "keep", "2026-11-21T10:00:01Z", "manual", 100);
        /* ... nor a file the index does not know about. */
        tu_write_str(root, "stray.json", "not mine");
        ck_assert_int_eq(add_snapshot(s, "stray", "2026-11-21T10:00:09Z", "psi", 5, NULL), -EEXIST);
        {
                char *stray = path_join(root, "stray.json");
                int fd = open(stray, O_RDONLY | O_CLOEXEC);
                char buf[16] = "";

                ck_assert_int_eq(read(fd, buf, sizeof(buf) - 1), 8);
                ck_assert_str_eq(buf, "not mine");
                close(fd);
                free(stray);
        }
        assert_ids(s, one, 1);
        ck_assert_uint_eq(count_temp_files(root), 0);

        /* And the store carries on. */
        p.data = json;
        p.len = strlen(json);
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "new", "2026-11-21T10:00:02Z", "psi", payload_write, &p, &info),
                         0);
        ck_assert_uint_eq(info.bytes, p.len);
        assert_ids(s, (const char *const[]) { "new", "keep" }, 2);
        free(json);
        free(other);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_changed_behind_back) {
        char *root = tu_mkdtemp(), *p;
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        uint64_t size;
        int fd = 12345;

        ck_assert_int_eq(add_snapshot(s, "a", "2026-11-21T10:00:01Z", "manual", 100, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "b", "2026-11-21T10:00:02Z", "manual", 100, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "c", "2026-11-21T10:00:03Z", "manual", 100, NULL), 0);
        ck_assert_int_eq(add_snapshot(s, "d", "2026-11-21T10:00:04Z", "manual", 100, NULL), 0);

        /* Same size, same bytes even, but not the file that was validated. */
        {
                char *d = path_join(root, "d.json"), *copy = path_join(root, "d.copy");
                size_t len;
                char *json = make_json("d", "2026-11-21T10:00:04Z", "manual", 100, &len);

                tu_write(root, "d.copy", json, len);
                ck_assert_int_eq(rename(copy, d), 0);
                ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, "d", &fd, &size), -ENOENT);
                free(json);
                free(d);
                free(copy);
        }

        p = path_join(root, "a.json");
        ck_assert_int_eq(truncate(p, 10), 0);
        free(p);
        ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, "a", &fd, &size), -ENOENT);
        ck_assert_int_eq(fd, 12345);

        p = path_join(root, "b.json");
        ck_assert_int_eq(unlink(p), 0);
        ck_assert_int_eq(symlink("c.json", p), 0);
        free(p);
        ck_assert_int_eq(dmabufd_snapshot_store_open_snapshot(s, "b", &fd, &size), -ENOENT);

        assert_ids(s, (const char *const[]) { "c" }, 1);
        assert_serves(s, "c", "2026-11-21T10:00:03Z", "manual", 100);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

START_TEST(test_kill_during_write) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        Payload p = { .mode = PAYLOAD_HALF_THEN_SLEEP };
        struct stat st;
        bool half = false;
        size_t len;
        char *json;
        int status;
        pid_t pid;

        ck_assert_int_eq(add_snapshot(s, "before", "2026-11-21T10:00:01Z", "manual", 100, NULL), 0);
        dmabufd_snapshot_store_free(s);

        json = make_json("killed", "2026-11-21T10:00:02Z", "oom_kill", 1024 * 1024, &len);
        p.data = json;
        p.len = len;
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                DmabufdSnapshotStore *c = NULL;

                if (dmabufd_snapshot_store_open(root, NULL, &c) < 0)
                        _exit(1);
                dmabufd_snapshot_store_add(c, "killed", "2026-11-21T10:00:02Z", "oom_kill", payload_write, &p, NULL);
                _exit(2);
        }

        /* Until half of it is on disk, 10 s at most. */
        for (int i = 0; i < 1000 && !half; i++) {
                DIR *d = opendir(root);
                struct dirent *de;

                ck_assert_ptr_nonnull(d);
                while ((de = readdir(d)))
                        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp-") &&
                            fstatat(dirfd(d), de->d_name, &st, 0) == 0 && (size_t) st.st_size >= len / 2)
                                half = true;
                closedir(d);
                if (!half)
                        usleep(10 * 1000);
        }
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(half);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_uint_eq(count_temp_files(root), 1);
        ck_assert(!file_exists(root, "killed.json"));

        s = open_store(root, 0, 0);
        assert_ids(s, (const char *const[]) { "before" }, 1);
        ck_assert_uint_eq(count_temp_files(root), 0);
        /* and the id is free again */
        p.mode = PAYLOAD_OK;
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, "killed", "2026-11-21T10:00:02Z", "oom_kill", payload_write, &p,
                                                    NULL),
                         0);
        assert_ids(s, (const char *const[]) { "killed", "before" }, 2);
        free(json);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

/* What write_func() writes is not read back (the daemon streams its own
 * documents): a writer that lies has its file listed as announced until a
 * restart validates it, and drops it with a warning, keeping the file. */
START_TEST(test_not_read_back) {
        char *root = tu_mkdtemp(), *log;
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        Payload p = { .mode = PAYLOAD_OK };
        DmabufdSnapshotInfo info;
        Capture cap;
        size_t len;
        char *json = make_json("other", "2026-11-21T10:00:02Z", "psi", 1000, &len);

        p.data = json;
        p.len = len - 1; /* names another id, and is cut short */
        ck_assert_int_eq(
                dmabufd_snapshot_store_add(s, "liar", "2026-11-21T10:00:03Z", "manual", payload_write, &p, &info), 0);
        ck_assert_str_eq(info.id, "liar");
        ck_assert_str_eq(info.taken_at, "2026-11-21T10:00:03Z");
        ck_assert_str_eq(info.kind, "manual");
        ck_assert_uint_eq(info.bytes, len - 1);
        ck_assert_int_eq(add_snapshot(s, "honest", "2026-11-21T10:00:04Z", "psi", 10, NULL), 0);
        assert_ids(s, (const char *const[]) { "honest", "liar" }, 2);
        dmabufd_snapshot_store_free(s);

        capture_start(&cap, root);
        s = open_store(root, 0, 0);
        log = capture_stop(&cap);
        assert_ids(s, (const char *const[]) { "honest" }, 1);
        ck_assert_msg(strstr(log, "liar.json: id \"other\" does not match the file name (at byte"), "%s", log);
        ck_assert(file_exists(root, "liar.json"));
        free(log);
        free(json);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

static int document_write(FILE *f, void *userdata) {
        return dmabuf_snapshot_write(f, userdata);
}

/* Since nothing is read back, the daemon's own writer is what guarantees that a
 * restart lists what was stored: both of a snapshot's files, with hostile
 * names and lines in them, pass the validation and json-c reads them back. */
START_TEST(test_document_round_trip) {
        char *root = tu_mkdtemp(), *path, taken_at[32], err[256];
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo bi = { .inode = 9, .size = 8192, .count = DMABUF_UNKNOWN, .exporter = "system",
                                .name = "\xff\"\\", .name_len = 3, .has_name = true };
        static const char meminfo[] = "MemTotal:       1000 kB\nHugePages_Total:       2\n";
        const DmabufdEvent e = { .kind = DMABUFD_EVENT_OOM_KILL, .pid = 7, .comm = "a\"b\\c\x01",
                                 .line = "Out of memory: Killed process 7 (a\"b) \xe2\x82\xac\xff\n\t" };
        DmabufdSnapshotInfo first, *list = NULL;
        DmabufdSnapshotStore *s = open_store(root, 0, 0);
        DmabufState *state = NULL;
        DmabufSnapshot snap;
        json_object *o, *v;
        size_t n = 0;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 7, "a\"b\\c", "/a", 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 7, &bi), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000000000ULL, 0.5, &state), 0);
        snap = (DmabufSnapshot) {
                .id = "20261121T101500.123Z-oom_kill",
                .taken_at_usec = 1700000000123000ULL,
                .trigger = dmabuf_snapshot_trigger_new(&e, 1700000000123000ULL, state),
                .memory = dmabuf_snapshot_memory_new(meminfo, strlen(meminfo), NULL, 0, err, sizeof(err)),
                .before = state,
                .partial = true,
        };
        dmabuf_json_format_time(snap.taken_at_usec, taken_at);
        ck_assert_int_eq(dmabufd_snapshot_store_add(s, snap.id, taken_at, "oom_kill", document_write, &snap, &first), 0);
        snap.state = state;
        snap.partial = false;
        ck_assert_int_eq(dmabufd_snapshot_store_complete(s, snap.id, document_write, &snap, NULL), 0);
        dmabufd_snapshot_store_free(s);

        s = open_store(root, 0, 0);
        ck_assert_int_eq(dmabufd_snapshot_store_list(s, &list, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(list[0].id, snap.id);
        ck_assert_str_eq(list[0].taken_at, first.taken_at);
        ck_assert_str_eq(list[0].kind, "oom_kill");
        ck_assert_uint_gt(list[0].bytes, first.bytes);
        path = path_join(root, "20261121T101500.123Z-oom_kill.json");
        o = json_object_from_file(path);
        ck_assert_ptr_nonnull(o);
        ck_assert(json_object_object_get_ex(o, "trigger", &v));
        ck_assert(json_object_object_get_ex(v, "comm", &v));
        ck_assert_str_eq(json_object_get_string(v), "a\"b\\c\x01");
        ck_assert(!json_object_object_get_ex(o, "partial", &v));

        json_object_put(o);
        free(path);
        free(list);
        json_object_put(snap.trigger);
        json_object_put(snap.memory);
        dmabuf_state_unref(state);
        dmabuf_builder_free(b);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

/* ---- a full disk: a real tiny tmpfs in a private mount namespace ---- */

#define CHILD_CHECK(c)                                                                            \
        do {                                                                                      \
                if (!(c)) {                                                                       \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
                        return 1;                                                                 \
                }                                                                                 \
        } while (0)

static bool child_serves(DmabufdSnapshotStore *s, const char *id, const char *taken_at, size_t pad) {
        uint64_t size;
        size_t len;
        char *want, *got;
        bool ok;
        int fd;

        if (dmabufd_snapshot_store_open_snapshot(s, id, &fd, &size) < 0)
                return false;
        want = make_json(id, taken_at, "manual", pad, &len);
        got = malloc(size + 1);
        ok = got && size == len && pread(fd, got, size, 0) == (ssize_t) size && memcmp(got, want, len) == 0;
        close(fd);
        free(want);
        free(got);
        return ok;
}

static int enospc_child(const char *mnt) {
        enum { PAD = 40 * 1024, MAX = 20 };
        DmabufdSnapshotLimits unlimited = {};
        DmabufdSnapshotStore *s = NULL;
        DmabufdSnapshotInfo *list = NULL;
        char ids[MAX][8], times[MAX][32], dir[PATH_MAX];
        int stored = 0, r = 0;
        size_t n = 0;

        if (unshare(CLONE_NEWNS) < 0) {
                fprintf(stderr, "test_enospc: unshare(CLONE_NEWNS): %s\n", strerror(errno));
                return 1;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                fprintf(stderr, "test_enospc: making mounts private: %s\n", strerror(errno));
                return 1;
        }
        if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k,mode=0700") < 0) {
                fprintf(stderr, "test_enospc: mounting a tmpfs: %s\n", strerror(errno));
                return 1;
        }
        snprintf(dir, sizeof(dir), "%s/store", mnt);
        CHILD_CHECK(dmabufd_snapshot_store_open(dir, &unlimited, &s) == 0);

        for (int i = 0; i < MAX; i++) {
                snprintf(ids[i], sizeof(ids[i]), "s%02d", i);
                snprintf(times[i], sizeof(times[i]), "2026-11-21T10:00:%02dZ", i);
                r = add_snapshot(s, ids[i], times[i], "manual", PAD, NULL);
                if (r < 0)
                        break;
                stored++;
        }
        fprintf(stderr, "stored %d snapshots of %d KiB before: %s\n", stored, PAD / 1024, strerror(-r));
        CHILD_CHECK(r == -ENOSPC);
        CHILD_CHECK(stored >= 2);
        /* Bigger than the stdio buffer: fails inside the write function. */
        CHILD_CHECK(add_snapshot(s, "huge", "2026-11-21T11:00:00Z", "manual", 1024 * 1024, NULL) == -ENOSPC);
        /* Smaller than the stdio buffer: fails when flushed. */
        CHILD_CHECK(add_snapshot(s, "mid", "2026-11-21T11:00:00Z", "manual", PAD, NULL) == -ENOSPC);

        CHILD_CHECK(dmabufd_snapshot_store_list(s, &list, &n) == 0);
        CHILD_CHECK(n == (size_t) stored);
        for (int i = 0; i < stored; i++) {
                CHILD_CHECK(streq(list[i].id, ids[stored - 1 - i]));
                CHILD_CHECK(child_serves(s, ids[i], times[i], PAD));
        }
        free(list);
        CHILD_CHECK(count_temp_files(dir) == 0);

        /* The same after a restart. */
        dmabufd_snapshot_store_free(s);
        CHILD_CHECK(dmabufd_snapshot_store_open(dir, &unlimited, &s) == 0);
        CHILD_CHECK(dmabufd_snapshot_store_list(s, &list, &n) == 0);
        CHILD_CHECK(n == (size_t) stored);
        free(list);
        for (int i = 0; i < stored; i++)
                CHILD_CHECK(child_serves(s, ids[i], times[i], PAD));

        /* Room made the only way the store makes room: by its limits. */
        dmabufd_snapshot_store_set_limits(s, &(DmabufdSnapshotLimits) { .max_count = 1 });
        CHILD_CHECK(add_snapshot(s, "after", "2026-11-21T12:00:00Z", "manual", PAD, NULL) == 0);
        CHILD_CHECK(dmabufd_snapshot_store_list(s, &list, &n) == 0);
        CHILD_CHECK(n == 1 && streq(list[0].id, "after"));
        free(list);
        dmabufd_snapshot_store_free(s);
        return 0;
}

START_TEST(test_enospc) {
        char *root, *mnt;
        int status;
        pid_t pid;

        root = tu_mkdtemp();
        mnt = path_join(root, "mnt");
        ck_assert_int_eq(mkdir(mnt, 0700), 0);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int r = enospc_child(mnt);
                fflush(stdout);
                _exit(r);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "child died");
        ck_assert_msg(WEXITSTATUS(status) == 0, "child failed (see the log)");
        free(mnt);
        tu_rm_rf(root);
}
END_TEST

/* ---- HTTP threads list and serve while the main thread adds ---- */

typedef struct Reader {
        DmabufdSnapshotStore *store;
        const bool *stop;
        unsigned served;
        bool failed;
} Reader;

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *reader_thread(void *userdata) {
        Reader *r = userdata;
        double deadline = now() + 30;

        while (!__atomic_load_n(r->stop, __ATOMIC_ACQUIRE) && now() < deadline) {
                DmabufdSnapshotInfo *list = NULL;
                size_t n = 0;

                if (dmabufd_snapshot_store_list(r->store, &list, &n) < 0) {
                        r->failed = true;
                        break;
                }
                for (size_t i = 0; i < n; i++) {
                        char head[32];
                        uint64_t size;
                        int fd, k;

                        k = dmabufd_snapshot_store_open_snapshot(r->store, list[i].id, &fd, &size);
                        if (k == -ENOENT) /* retention got there first */
                                continue;
                        if (k < 0 || size != list[i].bytes || pread(fd, head, 10, 0) != 10 ||
                            memcmp(head, "{\"schema\":", 10) != 0)
                                r->failed = true;
                        if (k == 0)
                                close(fd);
                        r->served++;
                }
                free(list);
        }
        return NULL;
}

START_TEST(test_concurrent_readers) {
        char *root = tu_mkdtemp();
        DmabufdSnapshotStore *s = open_store(root, 4, 0);
        Reader readers[2];
        pthread_t threads[2];
        bool stop = false;
        char id[16], t[32];
        unsigned served = 0;

        for (size_t i = 0; i < ELEMENTSOF(readers); i++) {
                readers[i] = (Reader) { .store = s, .stop = &stop };
                ck_assert_int_eq(pthread_create(&threads[i], NULL, reader_thread, &readers[i]), 0);
        }
        for (int i = 0; i < 40; i++) {
                snprintf(id, sizeof(id), "c%02d", i);
                snprintf(t, sizeof(t), "2026-11-21T10:%02d:00Z", i);
                ck_assert_int_eq(add_snapshot(s, id, t, "manual", 20000, NULL), 0);
        }
        __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
        for (size_t i = 0; i < ELEMENTSOF(readers); i++) {
                ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
                ck_assert(!readers[i].failed);
                served += readers[i].served;
        }
        ck_assert_uint_gt(served, 0);
        assert_ids(s, (const char *const[]) { "c39", "c38", "c37", "c36" }, 4);
        dmabufd_snapshot_store_free(s);
        tu_rm_rf(root);
}
END_TEST

int main(void) {
        Suite *s = suite_create("snapshot-store");
        TCase *tc = tcase_create("snapshot-store");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_id_is_valid);
        tcase_add_test(tc, test_validate_good);
        tcase_add_test(tc, test_validate_bad);
        tcase_add_test(tc, test_validate_hostile);
        tcase_add_test(tc, test_add_list_serve);
        tcase_add_test(tc, test_complete);
        tcase_add_test(tc, test_retention_count);
        tcase_add_test(tc, test_retention_bytes);
        tcase_add_test(tc, test_restart);
        tcase_add_test(tc, test_corrupt_on_open);
        tcase_add_test(tc, test_bad_ids);
        tcase_add_test(tc, test_write_failures);
        tcase_add_test(tc, test_changed_behind_back);
        tcase_add_test(tc, test_kill_during_write);
        tcase_add_test(tc, test_not_read_back);
        tcase_add_test(tc, test_document_round_trip);
        if (geteuid() == 0)
                tcase_add_test(tc, test_enospc);
        else
                tu_skip("test_enospc", "mounting a tmpfs needs root");
        tcase_add_test(tc, test_concurrent_readers);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
