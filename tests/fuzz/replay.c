/* SPDX-License-Identifier: MIT */
/* Replays a fuzz target's corpus without libFuzzer: with no arguments, every file
 * of FUZZ_CORPUS_DIR (tests/fuzz/corpus/<name>/, set by Makefile.am); otherwise
 * the files and directories named. Used by `make check` as a regression test of
 * the corpus and of the crashers kept in it; a crash is the failure. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_FILE_MAX (16U * 1024U * 1024U)

static int replay_file(int dir_fd, const char *name, const char *shown) {
        struct stat st;
        uint8_t *buf;
        size_t done = 0;
        int fd;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "replay: %s: %s\n", shown, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > REPLAY_FILE_MAX) {
                fprintf(stderr, "replay: %s: not a regular file of at most %u bytes\n", shown, REPLAY_FILE_MAX);
                close(fd);
                return -1;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                close(fd);
                return -1;
        }
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t) st.st_size - done);
                if (n <= 0) {
                        fprintf(stderr, "replay: %s: %s\n", shown, n < 0 ? strerror(errno) : "short read");
                        free(buf);
                        close(fd);
                        return -1;
                }
                done += (size_t) n;
        }
        close(fd);
        (void) LLVMFuzzerTestOneInput(buf, done);
        free(buf);
        return 0;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Replays the regular files of a directory in name order; returns how many, or -1. */
static int replay_dir(const char *path) {
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        int r = 0, count = 0;
        DIR *d;

        d = opendir(path);
        if (!d) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                char **grown;

                if (de->d_name[0] == '.')
                        continue;
                grown = realloc(names, (n + 1) * sizeof(char *));
                if (!grown) {
                        r = -1;
                        break;
                }
                names = grown;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -1;
                        break;
                }
                n++;
        }
        if (n > 0)
                qsort(names, n, sizeof(char *), name_compare);
        for (size_t i = 0; r == 0 && i < n; i++) {
                char shown[4096];

                snprintf(shown, sizeof(shown), "%s/%s", path, names[i]);
                if (replay_file(dirfd(d), names[i], shown) < 0)
                        r = -1;
                else
                        count++;
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return r < 0 ? -1 : count;
}

int main(int argc, char *argv[]) {
        int total = 0;

        if (argc < 2) {
                int k = replay_dir(FUZZ_CORPUS_DIR);
                if (k <= 0) {
                        fprintf(stderr, "replay: %s: %s\n", FUZZ_CORPUS_DIR, k == 0 ? "empty corpus" : "failed");
                        return EXIT_FAILURE;
                }
                printf("replayed %d inputs from %s\n", k, FUZZ_CORPUS_DIR);
                return EXIT_SUCCESS;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int k;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return EXIT_FAILURE;
                }
                k = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(AT_FDCWD, argv[i], argv[i]) == 0;
                if (k < 0)
                        return EXIT_FAILURE;
                total += k;
        }
        printf("replayed %d inputs\n", total);
        return EXIT_SUCCESS;
}
