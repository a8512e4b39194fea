/* SPDX-License-Identifier: MIT */
#pragma once

/* One collection of a tree, as the JSON the API would serve: shared by the tests
 * that compare collections. */

#include "collect.h"
#include "state-json.h"
#include "strbuf.h"
#include "test-util.h"

static inline json_object *tu_collect_json(const char *tree, const DmabufCollectOptions *opts) {
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;
        json_object *o;
        int root_fd = tu_open_dir(tree);

        ck_assert_int_eq(dmabuf_collect(root_fd, opts, &s), 0);
        close(root_fd);
        ck_assert_int_eq(dmabuf_json_write_state(&sb, s), 0);
        o = json_tokener_parse(sb.buf);
        ck_assert_msg(o, "collector JSON for %s does not parse", tree);
        strbuf_done(&sb);
        dmabuf_state_unref(s);
        return o;
}
