/* SPDX-License-Identifier: MIT */
/* dmabufd-push FILE: POSTs FILE, gzipped, to $DMABUFD_PUSH_URL within
 * $DMABUFD_PUSH_TIMEOUT_MS, with Content-Type: application/json,
 * Content-Encoding: gzip and X-Dmabufd-Snapshot-Id. Exits 0 when the server
 * answered 2xx, 1 otherwise, 2 on bad usage; one line on stderr says why.
 *
 * dmabufd runs it for snapshot_push, one at a time, and logs what it writes: a
 * process of its own keeps libcurl, zlib and the TLS stack out of the daemon's
 * memory, and a slow or hostile server can only make it time out. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Snapshots are a few MiB; this is far above any, and bounds what is read. */
#define FILE_MAX (1024L * 1024 * 1024)

static int gzip_file(const char *path, unsigned char **ret, size_t *ret_len) {
        unsigned char in[65536];
        unsigned char *out = NULL;
        size_t cap = 0, len = 0;
        z_stream z = {};
        struct stat st;
        int fd, flush, rc = -1;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
                fprintf(stderr, "%s: not a regular file of at most %ld bytes\n", path, FILE_MAX);
                close(fd);
                return -1;
        }
        /* gzip, not zlib: windowBits + 16. */
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                fprintf(stderr, "zlib: cannot start compressing\n");
                close(fd);
                return -1;
        }
        cap = deflateBound(&z, (uLong) st.st_size) + 64;
        out = malloc(cap);
        if (!out) {
                fprintf(stderr, "out of memory\n");
                goto finish;
        }
        do {
                ssize_t n = read(fd, in, sizeof(in));

                if (n < 0) {
                        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
                        goto finish;
                }
                flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
                z.next_in = in;
                z.avail_in = (uInt) n;
                do {
                        int zr;

                        if (len == cap) {
                                unsigned char *grown = realloc(out, cap * 2);

                                if (!grown) {
                                        fprintf(stderr, "out of memory\n");
                                        goto finish;
                                }
                                out = grown;
                                cap *= 2;
                        }
                        z.next_out = out + len;
                        z.avail_out = (uInt) (cap - len);
                        zr = deflate(&z, flush);
                        if (zr == Z_STREAM_ERROR) {
                                fprintf(stderr, "zlib: compression failed\n");
                                goto finish;
                        }
                        len = cap - z.avail_out;
                } while (z.avail_out == 0);
        } while (flush != Z_FINISH);
        *ret = out;
        *ret_len = len;
        out = NULL;
        rc = 0;
finish:
        deflateEnd(&z);
        free(out);
        close(fd);
        return rc;
}

/* The answer is not used; reading it (bounded) lets the connection end cleanly. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata) {
        size_t *total = userdata;

        (void) ptr;
        *total += size * nmemb;
        return *total > (1 << 20) ? 0 : size * nmemb;
}

int main(int argc, char **argv) {
        const char *url = getenv("DMABUFD_PUSH_URL"), *timeout_text = getenv("DMABUFD_PUSH_TIMEOUT_MS");
        char id_header[PATH_MAX + 64], errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = NULL;
        unsigned char *body = NULL;
        size_t body_len = 0, answered = 0;
        const char *base, *dot;
        long timeout_ms = 30000, status = 0;
        CURL *curl;
        CURLcode cr;
        int rc = 1;

        if (argc != 2 || !url || !*url) {
                fprintf(stderr, "usage: DMABUFD_PUSH_URL=URL [DMABUFD_PUSH_TIMEOUT_MS=N] %s FILE\n", argv[0]);
                return 2;
        }
        if (timeout_text) {
                char *end;

                errno = 0;
                timeout_ms = strtol(timeout_text, &end, 10);
                if (errno != 0 || end == timeout_text || *end || timeout_ms <= 0) {
                        fprintf(stderr, "invalid DMABUFD_PUSH_TIMEOUT_MS '%s'\n", timeout_text);
                        return 2;
                }
        }
        if (gzip_file(argv[1], &body, &body_len) < 0)
                return 1;

        base = strrchr(argv[1], '/');
        base = base ? base + 1 : argv[1];
        dot = strrchr(base, '.');
        snprintf(id_header, sizeof(id_header), "X-Dmabufd-Snapshot-Id: %.*s", (int) (dot ? dot - base : (long) strlen(base)),
                 base);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(curl = curl_easy_init())) {
                fprintf(stderr, "cannot start libcurl\n");
                free(body);
                return 1;
        }
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Content-Encoding: gzip");
        headers = curl_slist_append(headers, id_header);
        /* No "Expect: 100-continue" round trip: servers that do not know it stall it. */
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "dmabufd-push/" DMABUFD_VERSION);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answered);

        cr = curl_easy_perform(curl);
        if (cr != CURLE_OK)
                fprintf(stderr, "POST of %zu bytes failed: %s\n", body_len, *errbuf ? errbuf : curl_easy_strerror(cr));
        else {
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
                if (status >= 200 && status < 300)
                        rc = 0;
                else
                        fprintf(stderr, "POST of %zu bytes: the server answered %ld\n", body_len, status);
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
        free(body);
        return rc;
}
