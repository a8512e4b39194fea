/* SPDX-License-Identifier: MIT */
/* One collection over each fixture tree must equal the tree's hand-computed oracle
 * (<case>.expected.json, written from the kernel formats, not from dmabufd). */
#include <dirent.h>

#include "collect.h"
#include "prom.h"
#include "state-json.h"
#include "strbuf.h"
#include "test-collect-json.h"
#include "test-util.h"

/* FIXTURES in the environment (set by make check) wins: from a release tarball
 * the trees are unpacked into the build tree. */
static char trees_dir[PATH_MAX / 2];
#define TREES trees_dir

static json_object *collect_json(const char *tree, pid_t only_pid) {
        return tu_collect_json(tree, &(DmabufCollectOptions){ .only_pid = only_pid });
}

/* One collection of the fixture tree NAME, which must succeed. */
static DmabufState *collect_tree(const char *name) {
        char tree[PATH_MAX];
        DmabufState *s = NULL;
        int root_fd;

        snprintf(tree, sizeof(tree), "%s/%s", TREES, name);
        root_fd = tu_open_dir(tree);
        ck_assert_int_eq(dmabuf_collect(root_fd, NULL, &s), 0);
        close(root_fd);
        return s;
}

static void check_case(const char *name) {
        char tree[PATH_MAX], expected_path[PATH_MAX];
        json_object *expected, *actual;

        snprintf(tree, sizeof(tree), "%s/%s", TREES, name);
        snprintf(expected_path, sizeof(expected_path), "%s/%s.expected.json", TREES, name);
        expected = json_object_from_file(expected_path);
        ck_assert_msg(expected, "cannot read %s", expected_path);
        actual = collect_json(tree, 0);
        tu_json_assert_subset(expected, actual, name);
        json_object_put(expected);
        json_object_put(actual);
}

static const char *const cases[] = {
        "linux-5.10",        "linux-6.1",   "linux-6.1-nodebugfs", "linux-7.2-debugfs",
        "linux-7.2-nodebugfs", "attach-stats", "hostile",           "malformed",
        "linux-7.2-pinned",  "linux-6.1-pinned-malformed", "drm-fdinfo",          "accel-fdinfo",
};

START_TEST(test_fixture_tree) {
        check_case(cases[_i]);
}
END_TEST

/* Every tree under trees/ has an oracle and is in the list above, so a new tree
 * cannot silently go unchecked. */
START_TEST(test_every_tree_checked) {
        DIR *d = opendir(TREES);
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                char path[PATH_MAX];
                struct stat st;
                bool listed = false;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", TREES, de->d_name);
                if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                        listed = listed || strcmp(cases[i], de->d_name) == 0;
                ck_assert_msg(listed, "fixture tree %s has no test", de->d_name);
                n++;
        }
        closedir(d);
        ck_assert_uint_eq(n, sizeof(cases) / sizeof(cases[0]));
}
END_TEST

/* Restricting to one pid keeps the global totals but lists only that process. */
START_TEST(test_only_pid) {
        char tree[PATH_MAX];
        json_object *all, *procs, *one, *p1;
        json_object *first, *pid, *totals_all, *totals_one;

        snprintf(tree, sizeof(tree), "%s/linux-6.1", TREES);
        all = collect_json(tree, 0);

        ck_assert(json_object_object_get_ex(all, "processes", &procs));
        ck_assert_uint_ge(json_object_array_length(procs), 2);
        first = json_object_array_get_idx(procs, 1);
        ck_assert(json_object_object_get_ex(first, "pid", &pid));

        one = collect_json(tree, json_object_get_int(pid));
        ck_assert(json_object_object_get_ex(one, "processes", &p1));
        ck_assert_uint_eq(json_object_array_length(p1), 1);
        tu_json_assert_subset(first, json_object_array_get_idx(p1, 0), "only_pid");
        ck_assert(json_object_object_get_ex(all, "totals", &totals_all));
        ck_assert(json_object_object_get_ex(one, "totals", &totals_one));
        ck_assert(json_object_object_get_ex(totals_all, "bytes", &totals_all));
        ck_assert(json_object_object_get_ex(totals_one, "bytes", &totals_one));
        ck_assert(json_object_equal(totals_all, totals_one));
        json_object_put(all);
        json_object_put(one);
}
END_TEST

/* `bpf = off` also keeps the pinned iterator unread: on the 7.2 tree with only
 * procfs left, the totals and exporter figures fall back to unknown. */
START_TEST(test_no_bpf) {
        DmabufCollectOptions opts = { .no_bpf = true };
        char tree[PATH_MAX];
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;
        int root_fd;

        snprintf(tree, sizeof(tree), "%s/linux-7.2-pinned", TREES);
        root_fd = tu_open_dir(tree);
        ck_assert_int_eq(dmabuf_collect(root_fd, &opts, &s), 0);
        close(root_fd);
        ck_assert(!dmabuf_state_source_up(s, DMABUF_SOURCE_BPF));
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_n_exporters(s), 2); /* amdgpu only came from the iterator */
        for (size_t i = 0; i < dmabuf_state_n_exporters(s); i++)
                ck_assert_uint_eq(dmabuf_state_exporters(s)[i].bytes, DMABUF_UNKNOWN);
        /* The map-only buffer has no size again. */
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, 3003)->size, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->parse_errors[DMABUF_SOURCE_BPF], 0);
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* A root without proc or sys is not an error: every source is simply down. */
START_TEST(test_empty_root) {
        char *root = tu_mkdtemp();
        json_object *o = collect_json(root, 0), *sources, *v;

        ck_assert(json_object_object_get_ex(o, "sources", &sources));
        json_object_object_foreach(sources, key, value) {
                (void) key;
                ck_assert(!json_object_get_boolean(value));
        }
        ck_assert(json_object_object_get_ex(o, "kernel", &v));
        ck_assert_ptr_null(v);
        json_object_put(o);
        tu_rm_rf(root);
}
END_TEST

/* What the oracle cannot say by subset: a process without DRM statistics has no
 * "drm" key, and one whose only DRM fd prints none (glxgears) is not listed. */
START_TEST(test_drm_absent) {
        char tree[PATH_MAX];
        json_object *o, *procs;

        snprintf(tree, sizeof(tree), "%s/drm-fdinfo", TREES);
        o = collect_json(tree, 0);
        ck_assert(json_object_object_get_ex(o, "processes", &procs));
        for (size_t i = 0; i < json_object_array_length(procs); i++) {
                json_object *p = json_object_array_get_idx(procs, i), *pid, *drm;
                int v;

                ck_assert(json_object_object_get_ex(p, "pid", &pid));
                v = json_object_get_int(pid);
                ck_assert_int_ne(v, 8600);
                ck_assert_int_eq(json_object_object_get_ex(p, "drm", &drm), v != 8110);
        }
        json_object_put(o);
}
END_TEST

/* cgroup_depth rolls cgroups up: a buffer two of the merged cgroups' processes
 * hold still counts once in rss, and pss stays the sum of the processes'. */
START_TEST(test_cgroup_depth) {
        static const struct {
                unsigned depth;
                const char *path, *unit;
                uint32_t processes;
                uint64_t rss, pss;
        } want[] = {
                { 1, "/user.slice", NULL, 4, 8294400, 8294400 },
                { 1, "/system.slice", NULL, 4, 0, 0 },
                { 3, "/user.slice/user-1000.slice/user@1000.service", "user@1000.service", 4, 8294400, 8294400 },
                { 2, "/system.slice/inference.service", "inference.service", 3, 0, 0 },
                { 64, "/system.slice/weston.service", "weston.service", 1, 0, 0 },
        };
        char tree[PATH_MAX];

        snprintf(tree, sizeof(tree), "%s/drm-fdinfo", TREES);
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                DmabufCollectOptions opts = { .cgroup_depth = want[i].depth };
                const DmabufCgroup *found = NULL;
                DmabufState *s = NULL;
                int root_fd = tu_open_dir(tree);

                ck_assert_int_eq(dmabuf_collect(root_fd, &opts, &s), 0);
                close(root_fd);
                for (size_t k = 0; k < dmabuf_state_n_cgroups(s); k++)
                        if (streq(dmabuf_state_cgroups(s)[k].path, want[i].path))
                                found = &dmabuf_state_cgroups(s)[k];
                ck_assert_msg(found, "depth %u: no cgroup %s", want[i].depth, want[i].path);
                if (want[i].unit)
                        ck_assert_str_eq(found->unit, want[i].unit);
                else
                        ck_assert_ptr_null(found->unit);
                ck_assert_uint_eq(found->processes, want[i].processes);
                ck_assert_uint_eq(found->rss_bytes, want[i].rss);
                ck_assert_uint_eq(found->pss_bytes, want[i].pss);
                if (want[i].depth == 1)
                        ck_assert_uint_eq(dmabuf_state_n_cgroups(s), 2);
                dmabuf_state_unref(s);
        }
}
END_TEST

/* The DRM series: per process, driver, region and kind, the two i915 clients of
 * gnome-shell summed; only the kinds a driver printed; none for Xwayland. */
START_TEST(test_drm_prom) {
        static const char *const want[] = {
                "dmabuf_drm_client_bytes{pid=\"8100\",comm=\"gnome-shell\",driver=\"i915\",region=\"system0\","
                "kind=\"total\"} 231645184\n",
                "dmabuf_drm_client_bytes{pid=\"8100\",comm=\"gnome-shell\",driver=\"i915\",region=\"system0\","
                "kind=\"resident\"} 201326592\n",
                "dmabuf_drm_client_bytes{pid=\"8300\",comm=\"steamwebhelper\",driver=\"amdgpu\",region=\"vram\","
                "kind=\"resident\"} 50331648\n",
                "dmabuf_drm_client_bytes{pid=\"8500\",comm=\"weston\",driver=\"msm\",region=\"memory\","
                "kind=\"shared\"} 6291456\n",
                "dmabuf_cgroup_pss_bytes{cgroup=\"/system.slice/weston.service\",unit=\"weston.service\"} 0\n",
        };
        DmabufPromOptions opts = { .top_processes = 20, .top_cgroups = 20 };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = collect_tree("drm-fdinfo");

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_msg(strstr(sb.buf, want[i]), "missing %s", want[i]);
        ck_assert_ptr_null(strstr(sb.buf, "dmabuf_drm_client_bytes{pid=\"8110\""));
        ck_assert_ptr_null(strstr(sb.buf, "region=\"vram\",kind=\"total\"} 0")); /* 8300 printed no total */
        ck_assert_ptr_null(strstr(sb.buf, "region=\"cycles-rcs\""));
        strbuf_reset(&sb);

        /* top_processes bounds the processes, top_cgroups the cgroups: one each. */
        opts = (DmabufPromOptions){ .top_processes = 1, .top_cgroups = 1 };
        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "dmabuf_drm_client_bytes{pid=\"8400\"")); /* the largest: 3.3 GiB vram0 */
        ck_assert_ptr_null(strstr(sb.buf, "dmabuf_drm_client_bytes{pid=\"8401\""));
        ck_assert_ptr_null(strstr(sb.buf, "dmabuf_drm_client_bytes{pid=\"8100\""));
        ck_assert_ptr_nonnull(strstr(sb.buf, "dmabuf_cgroup_pss_bytes{cgroup=\"/user.slice/user-1000.slice/user@1000.service/"
                                             "session.slice/org.gnome.Shell@wayland.service\""));
        ck_assert_ptr_null(strstr(sb.buf, "unit=\"app-steam-game-4242.scope\""));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* Compute accelerators' clients are DRM series under their driver's name, with
 * only the kinds the driver printed: amdxdna has no resident. */
START_TEST(test_accel_prom) {
        static const char *const want[] = {
                "dmabuf_drm_client_bytes{pid=\"9100\",comm=\"benchmark_app\",driver=\"intel_vpu\",region=\"memory\","
                "kind=\"total\"} 109056000\n",
                "dmabuf_drm_client_bytes{pid=\"9100\",comm=\"benchmark_app\",driver=\"intel_vpu\",region=\"memory\","
                "kind=\"resident\"} 75497472\n",
                "dmabuf_drm_client_bytes{pid=\"9100\",comm=\"benchmark_app\",driver=\"i915\",region=\"system0\","
                "kind=\"total\"} 12582912\n",
                "dmabuf_drm_client_bytes{pid=\"9200\",comm=\"llm-npu\",driver=\"amdxdna_accel_driver\","
                "region=\"memory\",kind=\"total\"} 293601280\n",
                "dmabuf_drm_client_bytes{pid=\"9200\",comm=\"llm-npu\",driver=\"amdxdna_accel_driver\","
                "region=\"memory\",kind=\"shared\"} 16777216\n",
        };
        DmabufPromOptions opts = { .top_processes = 20, .top_cgroups = 20 };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = collect_tree("accel-fdinfo");

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                ck_assert_msg(strstr(sb.buf, want[i]), "missing %s", want[i]);
        ck_assert_ptr_null(strstr(sb.buf, "driver=\"amdxdna_accel_driver\",region=\"memory\",kind=\"resident\""));
        ck_assert_ptr_null(strstr(sb.buf, "region=\"alloc\""));
        ck_assert_ptr_null(strstr(sb.buf, "pid=\"9300\""));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* The Prometheus form of every tree is produced without error and, for the hostile
 * tree, never carries a raw newline inside a sample. */
START_TEST(test_prom_of_trees) {
        DmabufPromOptions opts = { .top_processes = 20, .top_names = 20 };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = collect_tree(cases[_i]);

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        for (char *line = sb.buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                ck_assert_msg(line[0] == '#' || strncmp(line, "dmabuf", 6) == 0, "%s: stray line '%.60s'", cases[_i],
                              line);
        }
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("collect");

        tu_fixture_tree(trees_dir, sizeof(trees_dir), NULL);
        TCase *tc = tcase_create("fixtures");

        tcase_add_loop_test(tc, test_fixture_tree, 0, (int) (sizeof(cases) / sizeof(cases[0])));
        tcase_add_loop_test(tc, test_prom_of_trees, 0, (int) (sizeof(cases) / sizeof(cases[0])));
        tcase_add_test(tc, test_every_tree_checked);
        tcase_add_test(tc, test_only_pid);
        tcase_add_test(tc, test_empty_root);
        tcase_add_test(tc, test_no_bpf);
        tcase_add_test(tc, test_drm_absent);
        tcase_add_test(tc, test_cgroup_depth);
        tcase_add_test(tc, test_drm_prom);
        tcase_add_test(tc, test_accel_prom);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
