/* SPDX-License-Identifier: MIT */
/* The format, as checked against its sources (see also tests/fixtures/trees/README.md):
 *  - the program: AOSP system/bpfprogs/dmabufIter.c (r.android.com/c/platform/system/bpfprogs/+/3616123),
 *    which the kernel carries verbatim as its selftest tools/testing/selftests/bpf/progs/dmabuf_iter.c
 *    ("Use the BPF program we'll use in production for selftest", v3 of "bpf: Add dmabuf iterator",
 *    May 2025): BPF_SEQ_PRINTF(seq, "%lu\n%llu\n%s\n%s\n", inode, size, name, exporter), where name
 *    is a zeroed char[DMA_BUF_NAME_LEN] left empty for an unnamed buffer and otherwise read from
 *    dmabuf->name with every '\n' turned into ' ' (sanitize_string()); no header, nothing else.
 *  - the reader: AOSP system/memory/libmeminfo/libdmabufinfo/dmabuf_bpf_stats.cpp,
 *    GetDmabufBPFStats(): std::getline over the file, field = line index % 4 in the order inode,
 *    size, name, exporter; from_chars on inode and size; an empty exporter is an error ("a kernel
 *    bug"); any error fails the whole read, and the caller falls back to sysfs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bpf-pinned.h"
#include "fileio.h"
#include "macro.h"

/* About 100 bytes a buffer: room for over half a million buffers. */
#define PINNED_MAX ((size_t) 64 * 1024 * 1024)
/* The kernel keeps names to DMA_BUF_NAME_LEN - 1 = 31 bytes and exporter names are
 * short driver strings. Longer lines are not this format; the bound also keeps
 * the exporter copy on the stack. */
#define NAME_MAX_LEN 255
#define EXPORTER_MAX_LEN 255

typedef enum Field {
        FIELD_INODE,
        FIELD_SIZE,
        FIELD_NAME,
        FIELD_EXPORTER,
        _FIELD_MAX,
} Field;

static const char *const field_names[_FIELD_MAX] = {
        [FIELD_INODE] = "inode",
        [FIELD_SIZE] = "size",
        [FIELD_NAME] = "name",
        [FIELD_EXPORTER] = "exporter",
};

typedef struct Record {
        uint64_t inode, size;
        const char *name, *exporter; /* point into the stream */
        size_t name_len, exporter_len;
} Record;

typedef struct Fault {
        Field field;
        const char *what;
        const char *line; /* the offending line, NULL if there is none */
        size_t line_len;
} Fault;

/* Reads the record at *pos. Returns 1 with *rec set, 0 at the end of the stream,
 * or -EBADMSG with *fault saying which line is wrong and how. */
static int next_record(const char *buf, size_t len, size_t *pos, Record *rec, Fault *fault) {
        const char *line[_FIELD_MAX];
        size_t line_len[_FIELD_MAX];

        if (*pos >= len)
                return 0;
        for (Field f = 0; f < _FIELD_MAX; f++) {
                const char *start = buf + *pos, *nl;

                *fault = (Fault){ .field = f };
                if (*pos >= len) {
                        fault->what = "the stream ends before this line (truncated record)";
                        return -EBADMSG;
                }
                nl = memchr(start, '\n', len - *pos);
                if (!nl) {
                        fault->what = "the line has no newline (truncated stream)";
                        fault->line = start;
                        fault->line_len = len - *pos;
                        return -EBADMSG;
                }
                line[f] = start;
                line_len[f] = (size_t) (nl - start);
                *pos += line_len[f] + 1;
                fault->line = line[f];
                fault->line_len = line_len[f];
                /* %s cannot print a NUL: this is not the program's output. */
                if (memchr(start, '\0', line_len[f])) {
                        fault->what = "NUL byte in the line";
                        return -EBADMSG;
                }
        }

        *fault = (Fault){ .field = FIELD_INODE, .line = line[FIELD_INODE], .line_len = line_len[FIELD_INODE] };
        if (safe_atou64_n(line[FIELD_INODE], line_len[FIELD_INODE], &rec->inode) < 0) {
                fault->what = "not a decimal number";
                return -EBADMSG;
        }
        *fault = (Fault){ .field = FIELD_SIZE, .line = line[FIELD_SIZE], .line_len = line_len[FIELD_SIZE] };
        if (safe_atou64_n(line[FIELD_SIZE], line_len[FIELD_SIZE], &rec->size) < 0 || rec->size == DMABUF_UNKNOWN) {
                fault->what = "not a decimal number";
                return -EBADMSG;
        }
        *fault = (Fault){ .field = FIELD_NAME, .line = line[FIELD_NAME], .line_len = line_len[FIELD_NAME] };
        if (line_len[FIELD_NAME] > NAME_MAX_LEN) {
                fault->what = "longer than any buffer name";
                return -EBADMSG;
        }
        *fault = (Fault){ .field = FIELD_EXPORTER, .line = line[FIELD_EXPORTER],
                          .line_len = line_len[FIELD_EXPORTER] };
        /* Android treats an empty exporter as a kernel bug too. Here it is more
         * often the sign of a name that held a raw newline and shifted the lines. */
        if (line_len[FIELD_EXPORTER] == 0) {
                fault->what = "empty exporter";
                return -EBADMSG;
        }
        if (line_len[FIELD_EXPORTER] > EXPORTER_MAX_LEN) {
                fault->what = "longer than any exporter name";
                return -EBADMSG;
        }

        rec->name = line[FIELD_NAME];
        rec->name_len = line_len[FIELD_NAME];
        rec->exporter = line[FIELD_EXPORTER];
        rec->exporter_len = line_len[FIELD_EXPORTER];
        return 1;
}

/* Names the file, record and line. The line is quoted with only printable ASCII
 * kept: the message is logged, and a name may hold any byte. */
static void report(DmabufBuilder *b, size_t record, const Fault *fault) {
        char quoted[40], msg[192];
        size_t n = 0;

        if (fault->line) {
                for (size_t i = 0; i < fault->line_len && n < sizeof(quoted) - 4; i++) {
                        unsigned char c = (unsigned char) fault->line[i];
                        quoted[n++] = c >= 0x20 && c < 0x7f ? (char) c : '?';
                }
                if (fault->line_len > n)
                        quoted[n++] = '.', quoted[n++] = '.', quoted[n++] = '.';
        }
        quoted[n] = '\0';
        snprintf(msg, sizeof(msg), "record %zu, line %zu (%s): %s%s%s%s", record,
                 (record - 1) * _FIELD_MAX + (size_t) fault->field + 1, field_names[fault->field], fault->what,
                 fault->line ? " '" : "", fault->line ? quoted : "", fault->line ? "'" : "");
        dmabuf_builder_parse_error(b, DMABUF_SOURCE_BPF, DMABUF_BPF_PINNED_PATH, msg);
}

int dmabuf_bpf_pinned_parse(const char *buf, size_t len, DmabufBuilder *b) {
        size_t pos = 0, n = 0;
        Record rec;
        Fault fault;
        int r;

        /* Check everything first: a stream cut or shifted halfway must not leave
         * half a list behind that the totals would count. */
        while ((r = next_record(buf, len, &pos, &rec, &fault)) > 0)
                n++;
        if (r < 0) {
                report(b, n + 1, &fault);
                return r;
        }

        pos = 0;
        while (next_record(buf, len, &pos, &rec, &fault) > 0) {
                char exporter[EXPORTER_MAX_LEN + 1];
                DmabufBufferInfo info = {
                        .inode = rec.inode,
                        .size = rec.size,
                        .count = DMABUF_UNKNOWN, /* the program does not print the refcount */
                        .exporter = exporter,
                        .name = rec.name,
                        .name_len = rec.name_len,
                        .has_name = true, /* an empty line is an unnamed buffer */
                };

                memcpy(exporter, rec.exporter, rec.exporter_len);
                exporter[rec.exporter_len] = '\0';
                r = dmabuf_builder_add_buffer(b, DMABUF_SOURCE_BPF, &info);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dmabuf_bpf_pinned_scan(int sys_fd, DmabufBuilder *b, StrBuf *scratch) {
        int r;

        r = read_file_at(sys_fd, DMABUF_BPF_PINNED_FILE, PINNED_MAX, scratch);
        if (r == -EFBIG) {
                dmabuf_builder_parse_error(b, DMABUF_SOURCE_BPF, DMABUF_BPF_PINNED_PATH,
                                           "larger than 64 MiB, not read");
                return r;
        }
        if (r < 0)
                return r;
        return dmabuf_bpf_pinned_parse(scratch->buf, scratch->len, b);
}
