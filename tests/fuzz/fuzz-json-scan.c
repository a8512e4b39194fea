/* SPDX-License-Identifier: MIT */
/* The streaming JSON scanner that validates snapshot files, fed in chunks whose
 * size the first byte picks, so that every token may straddle two feeds. */

#include "fuzz.h"
#include "json-scan.h"

static int on_value(const JsonScanValue *v, void *userdata) {
        size_t *n = userdata;

        if (v->depth > JSON_SCAN_PATH_MAX)
                abort();
        if (v->type == JSON_SCAN_STRING && (!v->text || strnlen(v->text, JSON_SCAN_TEXT_MAX + 1) > JSON_SCAN_TEXT_MAX))
                abort();
        (*n)++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t chunk, values = 0;
        JsonScanner *s;
        int r = 0;

        if (size < 1)
                return 0;
        chunk = (size_t) data[0] + 1;
        data++;
        size--;
        s = json_scan_new(on_value, &values);
        if (!s)
                return 0;
        for (size_t at = 0; r == 0 && at < size; at += chunk) {
                size_t n = size - at < chunk ? size - at : chunk;
                uint8_t *piece = (uint8_t *) fuzz_memdup(data + at, n);
                if (!piece)
                        break;
                r = json_scan_feed(s, piece, n);
                free(piece);
        }
        if (json_scan_finish(s) < 0 && json_scan_error(s)[0] == 0)
                abort(); /* a rejection always says why */
        json_scan_free(s);
        return 0;
}
