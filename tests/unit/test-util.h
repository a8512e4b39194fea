/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the unit tests: per-test temporary trees and a JSON subset
 * comparison. Header-only so each test program stays one file. */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *tu_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *dir;

        ck_assert(asprintf(&dir, "%s/dmabufd-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        return dir;
}

static inline void tu_mkdirs(const char *root, const char *rel) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", root, rel);
        for (char *p = path + strlen(root) + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                ck_assert_msg(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
                *p = '/';
        }
}

static inline void tu_write(const char *root, const char *rel, const char *data, size_t len) {
        char path[PATH_MAX];
        FILE *f;

        tu_mkdirs(root, rel);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        f = fopen(path, "we");
        ck_assert_msg(f, "fopen %s: %s", path, strerror(errno));
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
}

static inline void tu_write_str(const char *root, const char *rel, const char *data) {
        tu_write(root, rel, data, strlen(data));
}

static inline void tu_symlink(const char *root, const char *rel, const char *target) {
        char path[PATH_MAX];

        tu_mkdirs(root, rel);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        ck_assert_msg(symlink(target, path) == 0, "symlink %s: %s", path, strerror(errno));
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static inline void tu_rm_rf(char *dir) {
        if (!dir)
                return;
        nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(dir);
}

/* tests/fixtures/trees/NAME (NULL: the trees' directory). make distcheck unpacks
 * the trees into the build tree and says where in $FIXTURES. */
static inline void tu_fixture_tree(char *buf, size_t len, const char *name) {
        const char *fixtures = getenv("FIXTURES");

        snprintf(buf, len, "%s/trees%s%s", fixtures && *fixtures ? fixtures : FIXTURES_DIR, name ? "/" : "",
                 name ? name : "");
}

static inline int tu_open_dir(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        return fd;
}

/* Every key of expected must equal actual's; arrays must match in length and
 * element by element. Reports the first difference with its JSON path. */
static inline void tu_json_assert_subset(json_object *expected, json_object *actual, const char *path) {
        enum json_type te = json_object_get_type(expected), ta = json_object_get_type(actual);
        char sub[512];

        if (te == json_type_object) {
                ck_assert_msg(ta == json_type_object, "%s: expected an object, got %s", path,
                              json_object_to_json_string(actual));
                json_object_object_foreach(expected, key, value) {
                        json_object *a = NULL;
                        ck_assert_msg(json_object_object_get_ex(actual, key, &a), "%s.%s: missing", path, key);
                        snprintf(sub, sizeof(sub), "%s.%s", path, key);
                        tu_json_assert_subset(value, a, sub);
                }
                return;
        }
        if (te == json_type_array) {
                ck_assert_msg(ta == json_type_array, "%s: expected an array, got %s", path,
                              json_object_to_json_string(actual));
                ck_assert_msg(json_object_array_length(expected) == json_object_array_length(actual),
                              "%s: expected %zu elements, got %zu: %s", path, json_object_array_length(expected),
                              json_object_array_length(actual), json_object_to_json_string(actual));
                for (size_t i = 0; i < json_object_array_length(expected); i++) {
                        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
                        tu_json_assert_subset(json_object_array_get_idx(expected, i),
                                              json_object_array_get_idx(actual, i), sub);
                }
                return;
        }
        ck_assert_msg(json_object_equal(expected, actual), "%s: expected %s, got %s", path,
                      json_object_to_json_string(expected), json_object_to_json_string(actual));
}

/* Set by tu_skip: a test of this binary could not run on this machine. */
static bool tu_skipped;

/* A test this machine cannot run, in place of tcase_add_test in main(): said on
 * stdout with the reason, and the binary then exits 77 (automake's SKIP) unless
 * another test failed. Check has no skip of its own, and a test that returns
 * early would pass without checking its claim. */
static inline void tu_skip(const char *test, const char *reason) {
        printf("SKIP: %s (%s)\n", test, reason);
        fflush(stdout);
        tu_skipped = true;
}

static inline int tu_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        if (failed > 0)
                return EXIT_FAILURE;
        return tu_skipped ? 77 : EXIT_SUCCESS;
}
