/* SPDX-License-Identifier: MIT */
/* Snapshot files read back into the model: states the daemon wrote come back
 * byte for byte, null figures stay unknown, and a truncated, corrupt or
 * unknown-schema file is refused with one message naming the fault. */
#include <sys/mman.h>

#include "reader.h"
#include "state-json.h"
#include "test-unknown.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define OOM_SNAPSHOT "oom-linux-7.2-nodebugfs.json"
#define MANUAL_SNAPSHOT "manual-linux-6.1.json"
/* Written by a dmabufd with cgroups and DRM fdinfo, the second at cgroup_depth = 1. */
#define DRM_SNAPSHOT "manual-drm-fdinfo.json"
#define DEPTH_SNAPSHOT "manual-linux-6.1-cgroup-depth-1.json"

/* The snapshots are plain files of the source tree: $FIXTURES may point at the
 * build tree, where a release tarball's build unpacks only the captured trees. */
static void fixture_path(char *buf, size_t len, const char *name) {
        snprintf(buf, len, "%s/snapshots/%s", FIXTURES_DIR, name);
}

static int open_fixture(const char *name) {
        char path[PATH_MAX];
        int fd;

        fixture_path(path, sizeof(path), name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        return fd;
}

static char *fixture_text(const char *name, size_t *ret_len) {
        int fd = open_fixture(name);
        struct stat st;
        char *buf;

        ck_assert_int_eq(fstat(fd, &st), 0);
        buf = malloc((size_t) st.st_size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(read(fd, buf, (size_t) st.st_size), st.st_size);
        buf[st.st_size] = '\0';
        close(fd);
        *ret_len = (size_t) st.st_size;
        return buf;
}

/* A memfd holding text, as the file the reader is given. */
static int memfd_with(const char *text, size_t len) {
        int fd = memfd_create("snapshot", MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        return fd;
}

static int read_text(const char *text, size_t len, pid_t only_pid, DmabufSnapshotFile **ret, char *err,
                     size_t err_len) {
        int fd = memfd_with(text, len), r;

        r = dmabuf_snapshot_file_read(fd, only_pid, ret, err, err_len);
        close(fd);
        return r;
}

static char *state_json(const DmabufState *s) {
        StrBuf sb = STRBUF_INIT;

        ck_assert_int_eq(dmabuf_json_write_state(&sb, s), 0);
        return sb.buf;
}

/* Each state, written again, is what the file holds. A file from a dmabufd
 * before cgroups (older) lacks the derived "cgroups" the state now has: with
 * that member taken out, the rest is what the file holds. */
static void assert_round_trip(const char *name, bool older) {
        _cleanup_free_ char *text = NULL;
        DmabufSnapshotFile *f = NULL;
        json_object *root, *o;
        char err[512] = "";
        size_t len;

        text = fixture_text(name, &len);
        ck_assert_msg(read_text(text, len, 0, &f, err, sizeof(err)) == 0, "%s: %s", name, err);
        root = json_tokener_parse(text);
        ck_assert_ptr_nonnull(root);
        for (int i = 0; i < 2; i++) {
                const DmabufState *s = i == 0 ? f->state : f->before;
                _cleanup_free_ char *again = NULL;

                ck_assert_ptr_nonnull(s);
                ck_assert(json_object_object_get_ex(root, i == 0 ? "state" : "before", &o));
                again = state_json(s);
                ck_assert_msg(json_object_object_get_ex(o, "cgroups", NULL) == !older, "%s: cgroups", name);
                if (older) {
                        json_object *rebuilt = json_tokener_parse(again);

                        ck_assert_ptr_nonnull(rebuilt);
                        ck_assert_msg(json_object_object_get_ex(rebuilt, "cgroups", NULL), "%s: no cgroups", name);
                        json_object_object_del(rebuilt, "cgroups");
                        free(again);
                        again = strdup(json_object_to_json_string_ext(rebuilt, JSON_FLAGS));
                        json_object_put(rebuilt);
                }
                ck_assert_str_eq(again, json_object_to_json_string_ext(o, JSON_FLAGS));
        }
        ck_assert(json_object_object_get_ex(root, "id", &o));
        ck_assert_str_eq(f->info.id, json_object_get_string(o));
        json_object_put(root);
        dmabuf_snapshot_file_free(f);
}

START_TEST(test_round_trip) {
        assert_round_trip(OOM_SNAPSHOT, true);
        assert_round_trip(MANUAL_SNAPSHOT, true);
        assert_round_trip(DRM_SNAPSHOT, false);
        assert_round_trip(DEPTH_SNAPSHOT, false);
}
END_TEST

START_TEST(test_drm_and_cgroups) {
        _cleanup_close_ int fd = open_fixture(DRM_SNAPSHOT), fd2 = open_fixture(DEPTH_SNAPSHOT);
        DmabufSnapshotFile *f = NULL;
        const DmabufProcess *p;
        const DmabufCgroup *g;
        char err[512] = "";

        ck_assert_msg(dmabuf_snapshot_file_read(fd, 0, &f, err, sizeof(err)) == 0, "%s", err);
        /* Two fds of client 13 are one client with fds 2, as the scan made it. */
        p = dmabuf_state_find_process(f->state, 8100);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->n_drm_clients, 2);
        ck_assert_uint_eq(p->drm_clients[1].client_id, 13);
        ck_assert_uint_eq(p->drm_clients[1].fds, 2);
        ck_assert_str_eq(p->drm_clients[1].regions[1].name, "system0");
        ck_assert_uint_eq(p->drm_clients[1].regions[1].bytes[DMABUF_DRM_ACTIVE], 2097152);
        /* A kind the driver did not print stays unknown; msm prints no pdev. */
        p = dmabuf_state_find_process(f->state, 8300);
        ck_assert_uint_eq(p->drm_clients[0].regions[0].bytes[DMABUF_DRM_TOTAL], DMABUF_UNKNOWN);
        p = dmabuf_state_find_process(f->state, 8500);
        ck_assert_ptr_null(p->drm_clients[0].pdev);
        ck_assert_uint_eq(p->n_buffers, 0);
        dmabuf_snapshot_file_free(f);

        /* Rolled up to /user.slice by the writer's cgroup_depth = 1, found again. */
        f = NULL;
        ck_assert_msg(dmabuf_snapshot_file_read(fd2, 0, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(dmabuf_state_n_cgroups(f->state), 1);
        g = dmabuf_state_cgroups(f->state);
        ck_assert_str_eq(g->path, "/user.slice");
        ck_assert_ptr_null(g->unit);
        ck_assert_uint_eq(g->processes, 4);
        dmabuf_snapshot_file_free(f);
}
END_TEST

START_TEST(test_unknown_stays_unknown) {
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_close_ int fd = open_fixture(OOM_SNAPSHOT);
        const DmabufBuffer *b;
        const DmabufProcess *p;
        char err[512] = "";

        ck_assert_msg(dmabuf_snapshot_file_read(fd, 0, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(f->info.kind, "oom_kill");
        ck_assert(dmabuf_state_totals(f->state)->buffers == DMABUF_UNKNOWN);
        ck_assert(dmabuf_state_totals(f->state)->bytes == DMABUF_UNKNOWN);
        ck_assert(dmabuf_state_totals(f->state)->kernel_only_bytes == DMABUF_UNKNOWN);
        ck_assert(dmabuf_state_totals(f->before)->userspace_bytes == DMABUF_UNKNOWN);
        for (size_t i = 0; i < dmabuf_state_n_exporters(f->state); i++) {
                ck_assert(dmabuf_state_exporters(f->state)[i].buffers == DMABUF_UNKNOWN);
                ck_assert(dmabuf_state_exporters(f->state)[i].bytes == DMABUF_UNKNOWN);
        }
        b = dmabuf_state_find_buffer(f->state, 2003);
        ck_assert_ptr_nonnull(b);
        ck_assert(b->size == DMABUF_UNKNOWN);
        ck_assert_ptr_null(dmabuf_state_buffer_exporter(f->state, b));
        ck_assert(!b->attachments_known);
        p = dmabuf_state_find_process(f->before, 4300);
        ck_assert_ptr_nonnull(p);
        ck_assert(p->rss_bytes == DMABUF_UNKNOWN && p->pss_bytes == DMABUF_UNKNOWN);
        /* Known figures stay what they were. */
        p = dmabuf_state_find_process(f->state, 4100);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->rss_bytes, 5308416);
}
END_TEST

START_TEST(test_only_pid) {
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_close_ int fd = open_fixture(MANUAL_SNAPSHOT);
        char err[512] = "";

        ck_assert_msg(dmabuf_snapshot_file_read(fd, 2410, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(dmabuf_state_n_processes(f->state), 1);
        ck_assert_int_eq(dmabuf_state_processes(f->state)[0].pid, 2410);
        /* Its share of buffers the others hold too, as a live `dump PID`. */
        ck_assert_uint_eq(dmabuf_state_processes(f->state)[0].pss_bytes, 1559210);
        ck_assert_uint_eq(dmabuf_state_n_buffers(f->state), 7);
}
END_TEST

START_TEST(test_summary) {
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_close_ int fd = open_fixture(OOM_SNAPSHOT);
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        char err[512] = "";

        ck_assert_msg(dmabuf_snapshot_file_read(fd, 0, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(dmabuf_snapshot_file_summary(&sb, f, true), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "\ntrigger: oom_kill at "));
        ck_assert_ptr_nonnull(
                strstr(sb.buf, "\nvictim: pid 4300 (orphan-mapper) held by `before`: rss ? kB, pss ? kB in 2 buffers\n"));
        ck_assert_ptr_nonnull(strstr(sb.buf, "\nline: oom-kill:constraint=CONSTRAINT_NONE,"));
        ck_assert_ptr_nonnull(strstr(sb.buf, "\n      Out of memory: Killed process 4300 (orphan-mapper)"));
        ck_assert_ptr_nonnull(strstr(sb.buf, "\nshowing: before "));
        tu_assert_no_unknown_number(sb.buf, "summary");
}
END_TEST

/* A name that would steer a terminal is escaped in the summary. */
START_TEST(test_summary_escapes) {
        static const char doc[] =
                "{\"schema\":\"dmabufd.snapshot/1\",\"id\":\"x\",\"taken_at\":\"2026-01-01T00:00:00.000Z\","
                "\"trigger\":{\"kind\":\"lmk_kill\",\"pid\":7,\"comm\":\"a\\u001b[2Jb\",\"in_before\":false,"
                "\"line\":\"l\\u0007\"},\"before\":null,\"state\":null}";
        _cleanup_(dmabuf_snapshot_file_freep) DmabufSnapshotFile *f = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        char err[512] = "";

        ck_assert_msg(read_text(doc, strlen(doc), 0, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_ptr_null(f->state);
        ck_assert_ptr_null(f->before);
        ck_assert_int_eq(dmabuf_snapshot_file_summary(&sb, f, false), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "victim: pid 7 (a\\x1b[2Jb), holding nothing in `before`\n"));
        ck_assert_ptr_nonnull(strstr(sb.buf, "line: l\\x07\n"));
        ck_assert_ptr_null(strchr(sb.buf, '\x1b'));
}
END_TEST

/* Every prefix of a valid file is refused with a message, never a crash. */
START_TEST(test_every_truncation) {
        _cleanup_free_ char *text = NULL;
        size_t len;

        text = fixture_text(OOM_SNAPSHOT, &len);
        for (size_t n = 0; n < len - 1; n++) {
                DmabufSnapshotFile *f = NULL;
                char err[512] = "";
                int r = read_text(text, n, 0, &f, err, sizeof(err));

                ck_assert_msg(r == -EBADMSG, "prefix of %zu bytes: %d", n, r);
                ck_assert_msg(err[0], "prefix of %zu bytes: no message", n);
                ck_assert_ptr_null(f);
        }
}
END_TEST

static void assert_refused(const char *text, size_t len, const char *needle) {
        DmabufSnapshotFile *f = NULL;
        char err[512] = "";
        int r = read_text(text, len, 0, &f, err, sizeof(err));

        ck_assert_msg(r == -EBADMSG, "expected -EBADMSG for \"%s\", got %d (%s)", needle, r, err);
        ck_assert_ptr_null(f);
        ck_assert_msg(strstr(err, needle), "\"%s\" not in: %s", needle, err);
        ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(test_fixtures_refused) {
        static const struct {
                const char *file, *needle;
        } cases[] = {
                { "truncated.json", "truncated JSON at byte 2000" },
                { "unknown-schema.json", "schema \"dmabufd.snapshot/2\" is not \"dmabufd.snapshot/1\"" },
                { "corrupt.json", "state.buffers[1].holders[0].fds: expected a whole number, got string" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                size_t len;

                text = fixture_text(cases[i].file, &len);
                assert_refused(text, len, cases[i].needle);
        }
}
END_TEST

/* The fixture with one member changed by a jq-like edit: path is a list of
 * keys and indices, value the JSON put there (NULL: the member removed). */
static void assert_edit_refused(const char *file, const char *const *path, size_t n, const char *value,
                                const char *needle) {
        _cleanup_free_ char *text = NULL;
        json_object *root, *o;
        const char *out;
        size_t len;

        text = fixture_text(file, &len);
        root = json_tokener_parse(text);
        ck_assert_ptr_nonnull(root);
        o = root;
        for (size_t i = 0; i + 1 < n; i++) {
                char *end;
                long idx = strtol(path[i], &end, 10);

                o = *end == '\0' ? json_object_array_get_idx(o, (size_t) idx)
                                 : json_object_object_get(o, path[i]);
                ck_assert_ptr_nonnull(o);
        }
        if (!value && json_object_is_type(o, json_type_array))
                json_object_array_del_idx(o, (size_t) atoi(path[n - 1]), 1);
        else if (!value)
                json_object_object_del(o, path[n - 1]);
        else if (json_object_is_type(o, json_type_array))
                json_object_array_put_idx(o, (size_t) atoi(path[n - 1]), json_tokener_parse(value));
        else
                json_object_object_add(o, path[n - 1], json_tokener_parse(value));
        out = json_object_to_json_string_ext(root, JSON_FLAGS);
        assert_refused(out, strlen(out), needle);
        json_object_put(root);
}

#define EDIT_IN(file, value, needle, ...)                                                              \
        do {                                                                                           \
                const char *const p[] = { __VA_ARGS__ };                                               \
                assert_edit_refused(file, p, ELEMENTSOF(p), value, needle);                            \
        } while (0)
#define EDIT(value, needle, ...) EDIT_IN(MANUAL_SNAPSHOT, value, needle, __VA_ARGS__)
#define EDIT_DRM(value, needle, ...) EDIT_IN(DRM_SNAPSHOT, value, needle, __VA_ARGS__)
#define CLIENT0 "state", "processes", "0", "drm", "clients", "0"

START_TEST(test_edits_refused) {
        EDIT("\"big\"", "state.buffers[0].size: expected a whole number or null, got string", "state", "buffers", "0",
             "size");
        EDIT("-5", "state.buffers[0].size: negative value -5", "state", "buffers", "0", "size");
        EDIT("18446744073709551615", "state.buffers[0].count: value 18446744073709551615 out of range", "state",
             "buffers", "0", "count");
        EDIT(NULL, "before: no \"processes\" member", "before", "processes");
        EDIT(NULL, "state.buffers[2]: no \"holders\" member", "state", "buffers", "2", "holders");
        EDIT("3", "state.buffers[1].inode: 3 is not above the previous buffer's 3", "state", "buffers", "1",
             "inode");
        EDIT(NULL, "names holder pid 2410, which is not a listed process", "state", "processes", "3");
        EDIT("0", "state.buffers[4].holders[0]: a holder with neither fds nor maps", "state", "buffers", "4",
             "holders", "0", "fds");
        EDIT("\"a\\u0000b\"", "state.buffers[1].name: string contains a NUL byte", "state", "buffers", "1", "name");
        EDIT("\"yesterday\"", "state.collected_at: \"yesterday\" is not an RFC3339 UTC time", "state",
             "collected_at");
        EDIT("1", "state.totals.bytes: 1, where the buffers give 14643200", "state", "totals", "bytes");
        /* Without a count of every buffer, no total can be known. */
        EDIT("null", "state.totals.bytes: 14643200, where the buffers give null", "state", "totals", "buffers");
        EDIT("[3,14]", "state.processes[0].buffers: lists 2 buffers, the buffers' holders 3", "state", "processes",
             "0", "buffers");
        EDIT("[\"x\",\"y\"]", "state.buffers[0].attachment_stats: expected an array as long as \"attachments\"", "state",
             "buffers", "0", "attachments");
        EDIT("5", "state.processes[1].pss_bytes: 5, where the buffers give 4149930", "state", "processes", "1",
             "pss_bytes");
        EDIT("null", "before.processes[0].rss_bytes: null, where the buffers give 10399744", "before", "processes",
             "0", "rss_bytes");
        EDIT("9", "state.processes[2].fds: 9, where the buffers give 3", "state", "processes", "2", "fds");
        EDIT("3", "state.exporters[0].buffers: 3, where the buffers give 2", "state", "exporters", "0", "buffers");
        EDIT("\"amdgpu\"", "state.exporters[0].name: \"amdgpu\", where the buffers give \"i915\"", "state",
             "exporters", "0", "name");
        EDIT(NULL, "state.exporters: 2 listed, where the buffers name 3", "state", "exporters", "2");
        EDIT("0", "state.processes[0].pid: 0 is no process", "state", "processes", "0", "pid");
        EDIT("\"yes\"", "state.sources.sysfs: expected boolean, got string", "state", "sources", "sysfs");
        EDIT("[]", "before: expected object or null, got array", "before");
        EDIT("\"no\"", "partial: expected a boolean, got string", "partial");
}
END_TEST

START_TEST(test_drm_edits_refused) {
        EDIT_DRM("\"x\"", "state.processes[0].drm.clients[0].regions.system0.total: expected a whole number, got "
                 "string", CLIENT0, "regions", "system0", "total");
        EDIT_DRM("-1", "state.processes[0].drm.clients[0].regions.system0.active: negative value -1", CLIENT0,
                 "regions", "system0", "active");
        EDIT_DRM("null", "state.processes[0].drm.clients[0].regions.system0.shared: expected a whole number, got "
                 "null", CLIENT0, "regions", "system0", "shared");
        EDIT_DRM("1", "state.processes[0].drm.clients[0].regions.system0: unknown kind \"bogus\"", CLIENT0,
                 "regions", "system0", "bogus");
        EDIT_DRM("{}", "state.processes[0].drm.clients[0].regions.system0: a region with no figure", CLIENT0,
                 "regions", "system0");
        EDIT_DRM("{}", "state.processes[0].drm.clients[0].regions: none", CLIENT0, "regions");
        EDIT_DRM("{\"total\":1}", "state.processes[0].drm.clients[0].regions: \"a\" is not after \"system0\"",
                 CLIENT0, "regions", "a");
        EDIT_DRM("0", "state.processes[0].drm.clients[0].fds: a client with no fd", CLIENT0, "fds");
        EDIT_DRM("4294967296", "state.processes[0].drm.clients[0].fds: value 4294967296 out of range", CLIENT0,
                 "fds");
        EDIT_DRM("\"\"", "state.processes[0].drm.clients[0].driver: \"\" is not a DRM name", CLIENT0, "driver");
        EDIT_DRM("null", "state.processes[0].drm.clients[1].fds: 2 for a client without an id", "state",
                 "processes", "0", "drm", "clients", "1", "client_id");
        EDIT_DRM("13", "state.processes[0].drm.clients[1].client_id: 13 repeats the previous client's", CLIENT0,
                 "client_id");
        EDIT_DRM("14", "state.processes[0].drm.clients[1]: not after the previous client", CLIENT0, "client_id");
        EDIT_DRM("[]", "state.processes[0].drm.clients: empty", "state", "processes", "0", "drm", "clients");
        EDIT_DRM("null", "state.processes[0].drm: expected an object, got null", "state", "processes", "0", "drm");
        /* Without its one client, weston holds nothing a state lists. */
        EDIT_DRM(NULL, "state.processes[6]: holds no buffer, no unidentified fd and no DRM client", "state",
                 "processes", "6", "drm");
}
END_TEST

/* Clients without an id are one fd each and tie in the sort: three of them, in
 * no order of their figures, come back in the file's order. */
START_TEST(test_drm_clients_without_id) {
        _cleanup_free_ char *text = NULL, *again = NULL;
        DmabufSnapshotFile *f = NULL;
        json_object *root, *state, *clients;
        const char *out;
        char err[512] = "";
        size_t len;

        text = fixture_text(DRM_SNAPSHOT, &len);
        root = json_tokener_parse(text);
        ck_assert_ptr_nonnull(root);
        state = json_object_object_get(root, "state");
        clients = json_object_object_get(
                json_object_object_get(json_object_array_get_idx(json_object_object_get(state, "processes"), 6), "drm"),
                "clients");
        ck_assert_ptr_nonnull(clients);
        json_object_array_del_idx(clients, 0, 1);
        for (int i = 0; i < 3; i++) {
                char c[160];

                snprintf(c, sizeof(c), "{\"driver\":\"msm\",\"client_id\":null,\"pdev\":null,\"fds\":1,"
                         "\"regions\":{\"memory\":{\"total\":%d}}}", (i * 7 + 3) % 5);
                json_object_array_add(clients, json_tokener_parse(c));
        }
        out = json_object_to_json_string_ext(root, JSON_FLAGS);
        ck_assert_msg(read_text(out, strlen(out), 0, &f, err, sizeof(err)) == 0, "%s", err);
        ck_assert_uint_eq(dmabuf_state_find_process(f->state, 8500)->n_drm_clients, 3);
        again = state_json(f->state);
        ck_assert_str_eq(again, json_object_to_json_string_ext(state, JSON_FLAGS));
        dmabuf_snapshot_file_free(f);
        json_object_put(root);
}
END_TEST

START_TEST(test_cgroup_edits_refused) {
        EDIT_DRM("1", "state.cgroups[0].pss_bytes: 1, where the buffers give 5529600", "state", "cgroups", "0",
                 "pss_bytes");
        EDIT_DRM("3", "state.cgroups[0].processes: 3, where the processes give 2", "state", "cgroups", "0",
                 "processes");
        EDIT_DRM("\"/system.slice/x.service\"", "state.cgroups[0].path: \"/system.slice/x.service\", where the "
                 "processes give \"/user.slice/", "state", "cgroups", "0", "path");
        EDIT_DRM("null", "state.cgroups[0].unit: null, where the processes give \"org.gnome.Shell@wayland.service\"",
                 "state", "cgroups", "0", "unit");
        EDIT_DRM(NULL, "state.cgroups: 4 listed, where the processes give 5", "state", "cgroups", "1");
        EDIT_DRM("{}", "state.cgroups: expected array, got object", "state", "cgroups");
        EDIT_DRM("7", "state.cgroups[3].path: expected a string or null, got int", "state", "cgroups", "3", "path");
        /* A path the writer's depth (1) cannot have made from these processes. */
        EDIT_IN(DEPTH_SNAPSHOT, "\"/system.slice\"", "state.cgroups[0].path: \"/system.slice\", where the processes "
                "give \"/user.slice\"", "state", "cgroups", "0", "path");
}
END_TEST

START_TEST(test_too_deep_for_json_c) {
        /* 60 levels pass the streaming check (64) and must not trip json-c. */
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        DmabufSnapshotFile *f = NULL;
        char err[512] = "";

        strbuf_puts(&sb, "{\"schema\":\"dmabufd.snapshot/1\",\"id\":\"x\",\"taken_at\":\"2026-01-01T00:00:00Z\","
                         "\"trigger\":{\"kind\":\"manual\",\"deep\":");
        for (int i = 0; i < 60; i++)
                strbuf_putc(&sb, '[');
        for (int i = 0; i < 60; i++)
                strbuf_putc(&sb, ']');
        strbuf_puts(&sb, "},\"before\":null,\"state\":null}");
        ck_assert_msg(read_text(sb.buf, sb.len, 0, &f, err, sizeof(err)) == 0, "%s", err);
        dmabuf_snapshot_file_free(f);
}
END_TEST

int main(void) {
        Suite *s = suite_create("reader");
        TCase *tc = tcase_create("reader");

        tcase_add_test(tc, test_round_trip);
        tcase_add_test(tc, test_unknown_stays_unknown);
        tcase_add_test(tc, test_only_pid);
        tcase_add_test(tc, test_summary);
        tcase_add_test(tc, test_summary_escapes);
        tcase_add_test(tc, test_every_truncation);
        tcase_add_test(tc, test_fixtures_refused);
        tcase_add_test(tc, test_edits_refused);
        tcase_add_test(tc, test_drm_edits_refused);
        tcase_add_test(tc, test_cgroup_edits_refused);
        tcase_add_test(tc, test_drm_and_cgroups);
        tcase_add_test(tc, test_drm_clients_without_id);
        tcase_add_test(tc, test_too_deep_for_json_c);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
