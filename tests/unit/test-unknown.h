/* SPDX-License-Identifier: MIT */
#pragma once

/* A tree whose totals no source can give (a 7.x kernel without debugfs or BPF:
 * procfs only) and the check that no consumer prints DMABUF_UNKNOWN as a number. */

#include <ctype.h>
#include <limits.h>

#include "collect.h"
#include "test-util.h"

#define TU_UNKNOWN_TREE "linux-7.2-nodebugfs"

static inline DmabufState *tu_collect_tree(const char *name) {
        char tree[PATH_MAX];
        DmabufState *s = NULL;
        int root_fd;

        tu_fixture_tree(tree, sizeof(tree), name);
        root_fd = tu_open_dir(tree);
        ck_assert_int_eq(dmabuf_collect(root_fd, NULL, &s), 0);
        close(root_fd);
        return s;
}

/* UINT64_MAX in bytes, KiB and MiB, as a signed -1, or any run of 14 or more
 * digits: no figure of these trees comes near one. */
static inline void tu_assert_no_unknown_number(const char *text, const char *what) {
        static const char *const forms[] = { "18446744073709551615", "18014398509481983", "17592186044416",
                                             "-1\n", "-1,", "-1}", "1.8446744073709552e+19" };
        size_t digits = 0;

        ck_assert_ptr_nonnull(text);
        for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
                ck_assert_msg(!strstr(text, forms[i]), "%s shows an unknown figure as %s:\n%s", what, forms[i], text);
        for (const char *p = text; *p; p++) {
                digits = isdigit((unsigned char) *p) ? digits + 1 : 0;
                ck_assert_msg(digits < 14, "%s has a 14-digit number at byte %td:\n%s", what, p - text, text);
        }
}
