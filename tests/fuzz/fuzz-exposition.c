/* SPDX-License-Identifier: MIT */
/* The exposition round trip: buffer names (DMA_BUF_SET_NAME: any process picks
 * them), exporters, comms, cgroups and attachment devices made of arbitrary
 * bytes, rendered as Prometheus text and OpenMetrics, then read back by a strict
 * parser. A name that escaped its label would show up as a broken line or as a
 * sample outside its family; either aborts. Both formats must carry the same
 * number of samples.
 *
 * Input: a list of strings, each a length byte and that many bytes. */

#include <stdbool.h>
#include <stdio.h>

#include "fuzz.h"
#include "model.h"
#include "prom.h"
#include "strbuf.h"
#include "utf8.h"

#define FIELD_MAX 256

typedef struct Input {
        const uint8_t *data;
        size_t size, pos;
        char field[FIELD_MAX];
} Input;

/* The next string, NUL-terminated (an embedded NUL ends it, as for a C string). */
static const char *next_string(Input *in) {
        size_t n;

        if (in->pos >= in->size)
                return "";
        n = in->data[in->pos++];
        n = n < in->size - in->pos ? n : in->size - in->pos;
        memcpy(in->field, in->data + in->pos, n);
        in->field[n] = 0;
        in->pos += n;
        return in->field;
}

static bool is_name_char(char c, bool first, bool colon) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
               (!first && c >= '0' && c <= '9');
}

/* One sample line: name{label="value",...} value. Returns the length of its
 * metric name, 0 when the line is not a well-formed sample. */
static size_t parse_sample(const char *l, size_t n) {
        size_t i = 0, name_len;

        while (i < n && is_name_char(l[i], i == 0, true))
                i++;
        name_len = i;
        if (name_len == 0)
                return 0;
        if (i < n && l[i] == '{') {
                i++;
                for (bool first = true; i < n && l[i] != '}'; first = false) {
                        size_t v;

                        if (!first && l[i++] != ',')
                                return 0;
                        for (v = i; i < n && is_name_char(l[i], i == v, false); i++)
                                ;
                        if (i == v || i + 1 >= n || l[i] != '=' || l[i + 1] != '"')
                                return 0;
                        i += 2;
                        v = i;
                        for (; i < n && l[i] != '"'; i++)
                                if (l[i] == '\\') {
                                        if (i + 1 >= n || (l[i + 1] != '\\' && l[i + 1] != '"' && l[i + 1] != 'n'))
                                                return 0;
                                        i++;
                                }
                        if (i >= n || !utf8_is_valid(l + v, i - v))
                                return 0;
                        i++; /* the closing quote */
                }
                if (i >= n)
                        return 0;
                i++; /* the closing brace */
        }
        if (i >= n || l[i++] != ' ' || i >= n)
                return 0;
        /* The value: digits, a sign, a point, an exponent, or NaN/+Inf/-Inf. */
        for (; i < n; i++)
                if (l[i] == 0 || !strchr("0123456789.eE+-NaInf", l[i]))
                        return 0;
        return name_len;
}

/* Parses the whole text strictly; returns the number of samples. */
static size_t parse_exposition(const char *text, size_t len, bool openmetrics) {
        char family[128] = "";
        size_t pos = 0, samples = 0;
        bool eof = false;

        while (pos < len) {
                const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
                size_t n, name_len;

                if (!nl || eof)
                        abort(); /* every line ends in a newline; nothing after # EOF */
                n = (size_t) (nl - l);
                pos += n + 1;
                if (n == 0)
                        abort();
                if (openmetrics && n == 5 && memcmp(l, "# EOF", 5) == 0) {
                        eof = true;
                        continue;
                }
                if (n > 7 && memcmp(l, "# TYPE ", 7) == 0) {
                        const char *sp = memchr(l + 7, ' ', n - 7);

                        if (!sp || (size_t) (sp - l - 7) >= sizeof(family))
                                abort();
                        memcpy(family, l + 7, (size_t) (sp - l - 7));
                        family[sp - l - 7] = 0;
                        continue;
                }
                if ((n > 7 && memcmp(l, "# HELP ", 7) == 0) || (n > 7 && memcmp(l, "# UNIT ", 7) == 0))
                        continue;
                name_len = parse_sample(l, n);
                /* A sample belongs to the family declared last: its name is the
                 * family's or the family's with a suffix (_total, _info ...). */
                if (name_len == 0 || !family[0] || name_len < strlen(family) ||
                    memcmp(l, family, strlen(family)) != 0)
                        abort();
                samples++;
        }
        if (openmetrics != eof)
                abort();
        return samples;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Input in = { .data = data, .size = size };
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufPromOptions opts = { .top_processes = 5, .top_names = 5 };
        DmabufState *s = NULL;
        StrBuf text = STRBUF_INIT, om = STRBUF_INIT;
        char kernel[FIELD_MAX];

        if (!b)
                return 0;
        snprintf(kernel, sizeof(kernel), "%s", next_string(&in));
        (void) dmabuf_builder_set_kernel(b, kernel);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        /* Up to eight buffers: exporter, name, attachment device; then a process
         * with a comm and a cgroup holding each of them. */
        for (uint64_t ino = 1; ino <= 8 && in.pos < in.size; ino++) {
                char exporter[FIELD_MAX], name[FIELD_MAX];
                DmabufBufferInfo info = { .inode = ino, .size = 4096 * ino, .count = 1, .has_name = true };

                snprintf(exporter, sizeof(exporter), "%s", next_string(&in));
                snprintf(name, sizeof(name), "%s", next_string(&in));
                info.exporter = exporter;
                info.name = name;
                info.name_len = strlen(name);
                if (dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &info) < 0 ||
                    dmabuf_builder_attachments_known(b, DMABUF_SOURCE_SYSFS, ino) < 0 ||
                    dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, ino, next_string(&in), ino) < 0)
                        goto finish;
        }
        for (pid_t pid = 100; pid < 104 && in.pos < in.size; pid++) {
                char comm[FIELD_MAX];

                snprintf(comm, sizeof(comm), "%s", next_string(&in));
                if (dmabuf_builder_add_process(b, pid, comm, next_string(&in), 0) < 0)
                        goto finish;
                for (uint64_t ino = 1; ino <= 8; ino++)
                        if (dmabuf_builder_add_fd_ref(b, pid, &(DmabufBufferInfo){ .inode = ino }) < 0)
                                goto finish;
        }
        if (dmabuf_builder_finish(b, 0, 0.0, &s) < 0)
                goto finish;
        if (dmabuf_prom_write(&text, s, &opts, DMABUF_PROM_TEXT) < 0 ||
            dmabuf_prom_write(&om, s, &opts, DMABUF_PROM_OPENMETRICS) < 0)
                goto finish;
        if (parse_exposition(text.buf, text.len, false) != parse_exposition(om.buf, om.len, true))
                abort();
finish:
        strbuf_done(&text);
        strbuf_done(&om);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
        return 0;
}
