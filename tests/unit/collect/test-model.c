/* SPDX-License-Identifier: MIT */
#include "dump.h"
#include "model.h"
#include "test-util.h"

static DmabufBufferInfo info(uint64_t inode, uint64_t size, const char *exporter, const char *name) {
        return (DmabufBufferInfo){
                .inode = inode,
                .size = size,
                .count = DMABUF_UNKNOWN,
                .exporter = exporter,
                .name = name,
                .name_len = name ? strlen(name) : 0,
                .has_name = name != NULL,
        };
}

/* pid 100: fd on A, fd+map on B, two maps of C (map-only).
 * pid 200: fd on A, fd on B.   pid 300: map on B.   pid 400: holds nothing.
 * D is kernel-only.  Sizes: A 4096, B 8192 (3 holders), C 12288, D 1 MiB. */
static DmabufState *build_world(void) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i;
        DmabufState *s = NULL;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        ck_assert_int_eq(dmabuf_builder_set_kernel(b, "6.1.0-28-amd64"), 0);
        i = info(1, 4096, "system", NULL);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);
        i = info(2, 8192, "system", NULL);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);
        i = info(3, 12288, "udmabuf", NULL);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);
        i = info(4, 1048576, "i915", NULL);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);

        /* processes arrive out of pid order, as readdir may give them */
        ck_assert_int_eq(dmabuf_builder_add_process(b, 200, "compositor", "/system.slice/c.service", 0), 0);
        i = info(1, 4096, "system", "");
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 200, &i), 0);
        i = info(2, 8192, "system", "frame");
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 200, &i), 0);

        ck_assert_int_eq(dmabuf_builder_add_process(b, 100, "camera", NULL, 0), 0);
        i = info(1, 4096, "system", "");
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 100, &i), 0);
        i = info(2, 8192, "system", "frame");
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 100, &i), 0);
        i = info(2, DMABUF_UNKNOWN, NULL, "frame");
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 100, &i), 0);
        i = info(3, DMABUF_UNKNOWN, NULL, "mapped");
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 100, &i), 0);
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 100, &i), 0);

        ck_assert_int_eq(dmabuf_builder_add_process(b, 400, "idle", NULL, 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 300, "viewer", NULL, 0), 0);
        i = info(2, DMABUF_UNKNOWN, NULL, "frame");
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 300, &i), 0);

        /* a reference for a process that is not the current one is refused */
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 100, &i), -ESRCH);

        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000000000ULL, 0.25, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

START_TEST(test_world) {
        DmabufState *s = build_world();
        const DmabufTotals *t = dmabuf_state_totals(s);
        const DmabufProcess *p;
        const DmabufBuffer *b;

        ck_assert_str_eq(dmabuf_state_kernel(s), "6.1.0-28-amd64");
        ck_assert_uint_eq(t->buffers, 4);
        ck_assert_uint_eq(t->bytes, 4096 + 8192 + 12288 + 1048576);
        ck_assert_uint_eq(t->userspace_bytes, 4096 + 8192 + 12288);
        ck_assert_uint_eq(t->kernel_only_bytes, 1048576);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), 3); /* 400 holds nothing */
        ck_assert_int_eq(dmabuf_state_processes(s)[0].pid, 100);
        ck_assert_int_eq(dmabuf_state_processes(s)[2].pid, 300);

        p = dmabuf_state_find_process(s, 100);
        ck_assert_uint_eq(p->rss_bytes, 4096 + 8192 + 12288);
        ck_assert_uint_eq(p->pss_bytes, 4096 / 2 + 8192 / 3 + 12288);
        ck_assert_uint_eq(p->fds, 2);
        ck_assert_uint_eq(p->maps, 3);
        ck_assert_uint_eq(p->n_buffers, 3);
        ck_assert_uint_eq(dmabuf_state_buffers(s)[p->buffer_index[0]].inode, 1);
        ck_assert_uint_eq(dmabuf_state_buffers(s)[p->buffer_index[2]].inode, 3);
        ck_assert_ptr_null(p->cgroup);

        p = dmabuf_state_find_process(s, 300);
        ck_assert_uint_eq(p->rss_bytes, 8192);
        ck_assert_uint_eq(p->pss_bytes, 8192 / 3); /* floor, as dmabuf_dump */

        b = dmabuf_state_find_buffer(s, 2);
        ck_assert_uint_eq(b->n_holders, 3);
        ck_assert_int_eq(dmabuf_state_buffer_holders(s, b)[0].pid, 100);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, b)[0].fds, 1);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, b)[0].maps, 1);
        ck_assert_int_eq(dmabuf_state_buffer_holders(s, b)[1].pid, 200);
        ck_assert_int_eq(dmabuf_state_buffer_holders(s, b)[2].pid, 300);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, b)[2].fds, 0);
        ck_assert_str_eq(b->name, "frame");
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, b), "system");

        b = dmabuf_state_find_buffer(s, 3);
        ck_assert_uint_eq(b->n_holders, 1);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, b)[0].maps, 2);
        ck_assert_uint_eq(b->size, 12288);  /* sysfs, not the map */
        ck_assert_str_eq(b->name, "mapped"); /* sysfs has no names; the map does */

        b = dmabuf_state_find_buffer(s, 1);
        ck_assert_ptr_null(b->name); /* the link says unnamed */
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, 4)->n_holders, 0);
        ck_assert_ptr_null(dmabuf_state_find_buffer(s, 5));

        ck_assert_uint_eq(dmabuf_state_n_exporters(s), 3);
        ck_assert_str_eq(dmabuf_state_exporters(s)[0].name, "i915");
        ck_assert_str_eq(dmabuf_state_exporters(s)[1].name, "system");
        ck_assert_uint_eq(dmabuf_state_exporters(s)[1].buffers, 2);
        ck_assert_uint_eq(dmabuf_state_exporters(s)[1].bytes, 4096 + 8192);
        ck_assert_uint_eq(dmabuf_state_counters(s)->collections, 1);
        dmabuf_state_unref(s);
}
END_TEST

/* procfs alone cannot know the total or a map-only buffer's size: null, not 0. */
/* Cgroups of the world: 200 in c.service, 100 and 300 of unknown cgroup (400 holds
 * nothing and is not listed). rss counts B once for 100 and 300 together; pss is
 * the processes' own, so the cgroups add up to the userspace pss. */
START_TEST(test_cgroups) {
        DmabufState *s = build_world();
        const DmabufCgroup *cg = dmabuf_state_cgroups(s);
        uint64_t pss = 0;

        ck_assert_uint_eq(dmabuf_state_n_cgroups(s), 2);
        ck_assert_ptr_null(cg[0].path);
        ck_assert_ptr_null(cg[0].unit);
        ck_assert_uint_eq(cg[0].processes, 2);
        ck_assert_uint_eq(cg[0].rss_bytes, 4096 + 8192 + 12288);
        ck_assert_uint_eq(cg[0].pss_bytes, 2048 + 8192 / 3 + 12288 + 8192 / 3);
        ck_assert_str_eq(cg[1].path, "/system.slice/c.service");
        ck_assert_str_eq(cg[1].unit, "c.service");
        ck_assert_uint_eq(cg[1].processes, 1);
        ck_assert_uint_eq(cg[1].rss_bytes, 4096 + 8192);
        ck_assert_uint_eq(cg[1].pss_bytes, 2048 + 8192 / 3);
        for (size_t i = 0; i < dmabuf_state_n_buffers(s); i++) {
                const DmabufBuffer *b = &dmabuf_state_buffers(s)[i];
                if (b->n_holders > 0)
                        pss += b->size / b->n_holders * b->n_holders;
        }
        ck_assert_uint_eq(cg[0].pss_bytes + cg[1].pss_bytes, pss);
        dmabuf_state_unref(s);
}
END_TEST

/* The unit is the last .service or .scope component, at any depth of roll-up. */
START_TEST(test_cgroup_units) {
        static const struct {
                const char *path;
                unsigned depth;
                const char *want_path, *want_unit;
        } cases[] = {
                { "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope", 0,
                  "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope", "app-x.scope" },
                { "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope", 4,
                  "/user.slice/user-1000.slice/user@1000.service/app.slice", "user@1000.service" },
                { "/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope", 2,
                  "/user.slice/user-1000.slice", NULL },
                { "/system.slice/docker-0123abcd.scope/init", 0, "/system.slice/docker-0123abcd.scope/init",
                  "docker-0123abcd.scope" },
                { "/", 0, "/", NULL },
                { "/", 3, "/", NULL },
                { "/.service", 0, "/.service", NULL }, /* no name before the suffix */
                { "/kubepods/burstable/pod1/ctr", 9, "/kubepods/burstable/pod1/ctr", NULL },
                { "/a\"b\\c\nd.service", 0, "/a\"b\\c\nd.service", "a\"b\\c\nd.service" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                DmabufBuilder *b = dmabuf_builder_new();
                DmabufBufferInfo in = info(1, 4096, "system", NULL);
                DmabufState *s = NULL;

                dmabuf_builder_set_cgroup_depth(b, cases[i].depth);
                ck_assert_int_eq(dmabuf_builder_add_process(b, 10, "p", cases[i].path, 0), 0);
                ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 10, &in), 0);
                ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
                dmabuf_builder_free(b);
                ck_assert_uint_eq(dmabuf_state_n_cgroups(s), 1);
                ck_assert_str_eq(dmabuf_state_cgroups(s)[0].path, cases[i].want_path);
                if (cases[i].want_unit)
                        ck_assert_str_eq(dmabuf_state_cgroups(s)[0].unit, cases[i].want_unit);
                else
                        ck_assert_ptr_null(dmabuf_state_cgroups(s)[0].unit);
                dmabuf_state_unref(s);
        }
}
END_TEST

static int add_drm(DmabufBuilder *b, pid_t pid, const char *driver, const char *pdev, uint64_t id,
                   uint64_t resident) {
        DmabufDrmRegion regions[] = {
                { .name = "vram", .bytes = { 1, 2, resident, DMABUF_UNKNOWN, DMABUF_UNKNOWN } },
                { .name = "gtt", .bytes = { 3, 4, 5, 6, 7 } },
        };
        return dmabuf_builder_add_drm_client(b, pid,
                                             &(DmabufDrmClientInfo){ .driver = driver,
                                                                     .pdev = pdev,
                                                                     .client_id = id,
                                                                     .n_regions = ELEMENTSOF(regions),
                                                                     .regions = regions });
}

/* Fds of one client (driver, pdev, id) are one client; another device with the
 * same id is another; without an id nothing is merged. A process with DRM clients
 * only is listed; the clients come out sorted, their regions by name. */
START_TEST(test_drm_clients) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;
        const DmabufProcess *p;
        const DmabufDrmClient *c;

        ck_assert_int_eq(dmabuf_builder_add_process(b, 30, "nothing", NULL, 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 10, "game", "/app.scope", 0), 0);
        ck_assert_int_eq(add_drm(b, 10, "msm", NULL, DMABUF_UNKNOWN, 100), 0);
        ck_assert_int_eq(add_drm(b, 10, "amdgpu", "0000:0b:00.0", 5, 200), 0);
        ck_assert_int_eq(add_drm(b, 10, "amdgpu", "0000:03:00.0", 5, 300), 0);
        ck_assert_int_eq(add_drm(b, 10, "amdgpu", "0000:03:00.0", 5, 999), 0); /* same client: first figures stay */
        ck_assert_int_eq(add_drm(b, 10, "msm", NULL, DMABUF_UNKNOWN, 100), 0);
        ck_assert_int_eq(add_drm(b, 20, "i915", NULL, 1, 1), -ESRCH); /* not the process added last */
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), 1);
        p = dmabuf_state_find_process(s, 10);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->rss_bytes, 0);
        ck_assert_uint_eq(p->n_drm_clients, 4);
        c = p->drm_clients;
        ck_assert_str_eq(c[0].driver, "amdgpu");
        ck_assert_str_eq(c[0].pdev, "0000:03:00.0");
        ck_assert_uint_eq(c[0].fds, 2);
        ck_assert_uint_eq(c[0].regions[1].bytes[DMABUF_DRM_RESIDENT], 300);
        ck_assert_str_eq(c[1].pdev, "0000:0b:00.0");
        ck_assert_uint_eq(c[1].fds, 1);
        ck_assert_str_eq(c[2].driver, "msm");
        ck_assert_ptr_null(c[2].pdev);
        ck_assert_uint_eq(c[2].client_id, DMABUF_UNKNOWN);
        ck_assert_uint_eq(c[2].fds, 1);
        ck_assert_uint_eq(c[3].fds, 1);
        ck_assert_uint_eq(c[0].n_regions, 2);
        ck_assert_str_eq(c[0].regions[0].name, "gtt");
        ck_assert_str_eq(c[0].regions[1].name, "vram");
        ck_assert_uint_eq(c[0].regions[1].bytes[DMABUF_DRM_PURGEABLE], DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_n_cgroups(s), 1);
        ck_assert_uint_eq(dmabuf_state_cgroups(s)[0].rss_bytes, 0);
        dmabuf_state_unref(s);
}
END_TEST

START_TEST(test_unknowns) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i;
        DmabufState *s = NULL;
        const DmabufProcess *p;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 1, "a", NULL, 0), 0);
        i = info(10, 4096, "system", NULL);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 1, &i), 0);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 2, "b", NULL, 0), 0);
        i = info(11, DMABUF_UNKNOWN, NULL, "maponly");
        ck_assert_int_eq(dmabuf_builder_add_map_ref(b, 2, &i), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);

        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->userspace_bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, DMABUF_UNKNOWN);
        p = dmabuf_state_find_process(s, 1);
        ck_assert_uint_eq(p->rss_bytes, 4096);
        p = dmabuf_state_find_process(s, 2);
        ck_assert_uint_eq(p->rss_bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(p->pss_bytes, DMABUF_UNKNOWN);
        ck_assert_ptr_null(dmabuf_state_buffer_exporter(s, dmabuf_state_find_buffer(s, 11)));
        /* Listed by name, but a sum over held buffers only is not the exporter's total. */
        ck_assert_uint_eq(dmabuf_state_n_exporters(s), 1);
        ck_assert_str_eq(dmabuf_state_exporters(s)[0].name, "system");
        ck_assert_uint_eq(dmabuf_state_exporters(s)[0].buffers, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_exporters(s)[0].bytes, DMABUF_UNKNOWN);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* A source being up is not a source listing every buffer: BPF on 6.1 gives only
 * holders. Totals and exporter figures follow the lists_all bits alone, and a
 * bit set by any one source is enough. */
static DmabufState *build_lists_all(DmabufSource src, bool lists_all) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i;
        DmabufState *s = NULL;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        dmabuf_builder_set_source_up(b, src, true);
        dmabuf_builder_set_lists_all(b, src, lists_all);
        i = info(20, 65536, "system", NULL);
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, src, &i), 0); /* kernel-only */
        ck_assert_int_eq(dmabuf_builder_add_process(b, 1, "a", NULL, 0), 0);
        i = info(21, 4096, "system", "held");
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 1, &i), 0);
        i = info(22, 8192, "udmabuf", NULL);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 1, &i), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

START_TEST(test_lists_all) {
        static const DmabufSource srcs[] = { DMABUF_SOURCE_SYSFS, DMABUF_SOURCE_DEBUGFS, DMABUF_SOURCE_BPF };
        DmabufSource src = srcs[_i];
        DmabufState *s;
        const DmabufExporter *e;

        s = build_lists_all(src, false);
        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->userspace_bytes, 4096 + 8192);
        ck_assert_uint_eq(dmabuf_state_n_exporters(s), 2);
        for (size_t k = 0; k < 2; k++) {
                e = &dmabuf_state_exporters(s)[k];
                ck_assert_uint_eq(e->buffers, DMABUF_UNKNOWN);
                ck_assert_uint_eq(e->bytes, DMABUF_UNKNOWN);
        }
        ck_assert_str_eq(dmabuf_state_exporters(s)[0].name, "system");
        ck_assert_str_eq(dmabuf_state_exporters(s)[1].name, "udmabuf");
        ck_assert(dmabuf_state_source_up(s, src)); /* up all the same */
        dmabuf_state_unref(s);

        s = build_lists_all(src, true);
        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, 3);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, 65536 + 4096 + 8192);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, 65536);
        e = &dmabuf_state_exporters(s)[0];
        ck_assert_uint_eq(e->buffers, 2);
        ck_assert_uint_eq(e->bytes, 65536 + 4096);
        e = &dmabuf_state_exporters(s)[1];
        ck_assert_uint_eq(e->buffers, 1);
        ck_assert_uint_eq(e->bytes, 8192);
        dmabuf_state_unref(s);
}
END_TEST

/* STATUS= never shows an unknown as a number (UINT64_MAX bytes is 17592186044416 MiB). */
START_TEST(test_status_line) {
        DmabufState *s;
        StrBuf sb = STRBUF_INIT;

        s = build_lists_all(DMABUF_SOURCE_BPF, false);
        ck_assert_int_eq(dmabuf_dump_status_line(&sb, s, 2), 0);
        ck_assert_str_eq(sb.buf, "total unknown (no source lists every buffer); 2 buffers, 0.0 MiB held by processes "
                                 "in 1 processes; 2 snapshots");
        dmabuf_state_unref(s);
        strbuf_reset(&sb);

        s = build_lists_all(DMABUF_SOURCE_SYSFS, true);
        ck_assert_int_eq(dmabuf_dump_status_line(&sb, s, 0), 0);
        ck_assert_str_eq(sb.buf, "3 buffers, 0.1 MiB (0.1 MiB kernel-only) in 1 processes; 0 snapshots");
        dmabuf_state_unref(s);
        strbuf_done(&sb);
}
END_TEST

/* Which source wins each field. */
START_TEST(test_priorities) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i;
        DmabufState *s = NULL;
        const DmabufBuffer *buf;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_DEBUGFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_DEBUGFS, true);
        ck_assert_int_eq(dmabuf_builder_add_process(b, 1, "a", NULL, 0), 0);
        i = info(5, 4096, "from-fdinfo", "<none>");
        i.count = 2;
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 1, &i), 0);
        /* debugfs says "<none>" (unnamed) and count 3 after procfs said otherwise */
        i = info(5, 8192, "from-debugfs", "");
        i.count = 3;
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_DEBUGFS, &i), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_DEBUGFS, 5, "vgem", DMABUF_UNKNOWN), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        buf = dmabuf_state_find_buffer(s, 5);
        ck_assert_uint_eq(buf->size, 8192);
        ck_assert_uint_eq(buf->count, 3);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), "from-debugfs");
        ck_assert_str_eq(buf->name, "<none>"); /* the fd link's exact bytes win */
        ck_assert(buf->attachments_known);
        ck_assert_uint_eq(buf->n_attachments, 1);
        ck_assert_uint_eq(buf->seen_by, (1u << DMABUF_SOURCE_PROCFS) | (1u << DMABUF_SOURCE_DEBUGFS));
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

START_TEST(test_attachments_once) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;
        const DmabufBuffer *buf;

        ck_assert_int_eq(dmabuf_builder_attachments_known(b, DMABUF_SOURCE_SYSFS, 5), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, 5, "vgem", 2), 0);
        ck_assert_int_eq(dmabuf_builder_attachments_known(b, DMABUF_SOURCE_DEBUGFS, 5), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_DEBUGFS, 5, "vgem", DMABUF_UNKNOWN), 0);
        ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_DEBUGFS, 6, "vgem", DMABUF_UNKNOWN), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        buf = dmabuf_state_find_buffer(s, 5);
        ck_assert_uint_eq(buf->n_attachments, 1);
        ck_assert_uint_eq(dmabuf_state_buffer_attachments(s, buf)[0].map_counter, 2);
        buf = dmabuf_state_find_buffer(s, 6);
        ck_assert_uint_eq(buf->n_attachments, 1);
        ck_assert_uint_eq(buf->first_attachment, 1); /* after buffer 5's, in the one array */
        ck_assert_str_eq(dmabuf_state_buffer_attachments(s, buf)[0].device, "vgem");
        ck_assert_uint_eq(dmabuf_state_buffer_attachments(s, buf)[0].map_counter, DMABUF_UNKNOWN);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

static int render_calls;

static int render(const DmabufState *s, DmabufRenderKind kind, char **ret, size_t *ret_len, void *userdata) {
        render_calls++;
        *ret = strdup("rendered");
        *ret_len = 8;
        return 0;
}

START_TEST(test_refcount_and_cache) {
        DmabufState *s = build_world(), *ref;
        const char *data;
        size_t len;

        ref = dmabuf_state_ref(s);
        ck_assert_ptr_eq(ref, s);
        ck_assert_ptr_null(dmabuf_state_unref(ref));
        ck_assert_int_eq(dmabuf_state_render_cached(s, DMABUF_RENDER_PROM_TEXT, render, NULL, &data, &len), 0);
        ck_assert_int_eq(dmabuf_state_render_cached(s, DMABUF_RENDER_PROM_TEXT, render, NULL, &data, &len), 0);
        ck_assert_int_eq(render_calls, 1);
        ck_assert_str_eq(data, "rendered");
        ck_assert_int_eq(dmabuf_state_render_cached(s, _DMABUF_RENDER_MAX, render, NULL, &data, &len), -EINVAL);
        dmabuf_state_unref(s);
        ck_assert_ptr_null(dmabuf_state_ref(NULL));
        ck_assert_ptr_null(dmabuf_state_unref(NULL));
}
END_TEST

/* Many buffers and holders: dedup is by hash, and every holder is kept. */
START_TEST(test_scale) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;
        uint64_t userspace = 0;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        for (uint64_t ino = 1; ino <= 20000; ino++) {
                DmabufBufferInfo i = info(ino * 7919, 4096 * (ino % 5 + 1), ino % 3 ? "system" : "udmabuf", NULL);
                ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &i), 0);
        }
        for (pid_t pid = 1; pid <= 2000; pid++) {
                ck_assert_int_eq(dmabuf_builder_add_process(b, pid, "p", NULL, 0), 0);
                for (uint64_t k = 0; k < 20; k++) {
                        uint64_t ino = ((uint64_t) pid * 20 + k) % 20000 + 1;
                        DmabufBufferInfo i = info(ino * 7919, DMABUF_UNKNOWN, NULL, "n");
                        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, pid, &i), 0);
                }
        }
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 20000);
        ck_assert_uint_eq(dmabuf_state_n_processes(s), 2000);
        for (size_t i = 0; i < dmabuf_state_n_buffers(s); i++) {
                const DmabufBuffer *buf = &dmabuf_state_buffers(s)[i];
                ck_assert_uint_eq(buf->n_holders, 2);
                if (i > 0)
                        ck_assert_uint_gt(buf->inode, dmabuf_state_buffers(s)[i - 1].inode);
                userspace += buf->size;
        }
        ck_assert_uint_eq(dmabuf_state_totals(s)->userspace_bytes, userspace);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, 0);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* Buffers and processes arrive in scrambled order, so that finish's in-place
 * permutations move nearly every element: each buffer must keep its own fields,
 * its holders sorted by pid with their own counts, and each process's list must
 * name exactly the buffers it holds, in inode order. */
enum { ORDER_BUFFERS = 5000, ORDER_PROCS = 300, ORDER_REFS = 7 };

static uint64_t order_ref_inode(pid_t pid, uint64_t k) {
        return ((uint64_t) pid * 131 + k * 977) % ORDER_BUFFERS + 1;
}

START_TEST(test_in_place_order) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufState *s = NULL;
        size_t holders = 0;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, true);
        for (uint64_t i = 0; i < ORDER_BUFFERS; i++) {
                uint64_t ino = i * 7919 % ORDER_BUFFERS + 1; /* 7919 is prime: every inode once */
                DmabufBufferInfo in = info(ino, ino * 4096, ino % 2 ? "odd" : "even", NULL);
                ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &in), 0);
        }
        for (uint64_t j = 0; j < ORDER_PROCS; j++) {
                pid_t pid = (pid_t) (j * 37 % ORDER_PROCS + 1); /* 37 is prime to 300: every pid once */

                ck_assert_int_eq(dmabuf_builder_add_process(b, pid, "p", NULL, 0), 0);
                for (uint64_t k = 0; k < ORDER_REFS; k++) {
                        DmabufBufferInfo in = info(order_ref_inode(pid, k), DMABUF_UNKNOWN, NULL, NULL);
                        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, pid, &in), 0);
                        if (k % 3 == 0)
                                ck_assert_int_eq(dmabuf_builder_add_map_ref(b, pid, &in), 0);
                }
        }
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);

        ck_assert_uint_eq(dmabuf_state_n_buffers(s), ORDER_BUFFERS);
        for (size_t i = 0; i < ORDER_BUFFERS; i++) {
                const DmabufBuffer *buf = &dmabuf_state_buffers(s)[i];

                ck_assert_uint_eq(buf->inode, i + 1);
                ck_assert_uint_eq(buf->size, buf->inode * 4096);
                ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), buf->inode % 2 ? "odd" : "even");
                for (size_t h = 0; h < buf->n_holders; h++) {
                        const DmabufHolder *holder = &dmabuf_state_buffer_holders(s, buf)[h];
                        uint64_t k;

                        if (h > 0)
                                ck_assert_int_gt(holder->pid, dmabuf_state_buffer_holders(s, buf)[h - 1].pid);
                        for (k = 0; k < ORDER_REFS; k++)
                                if (order_ref_inode(holder->pid, k) == buf->inode)
                                        break;
                        ck_assert_uint_lt(k, ORDER_REFS);
                        ck_assert_uint_eq(holder->fds, 1);
                        ck_assert_uint_eq(holder->maps, k % 3 == 0);
                }
                holders += buf->n_holders;
        }
        ck_assert_uint_eq(holders, ORDER_PROCS * ORDER_REFS);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), ORDER_PROCS);
        for (size_t j = 0; j < ORDER_PROCS; j++) {
                const DmabufProcess *p = &dmabuf_state_processes(s)[j];

                ck_assert_int_eq(p->pid, (pid_t) j + 1);
                ck_assert_uint_eq(p->fds, ORDER_REFS);
                ck_assert_uint_eq(p->maps, 3);
                ck_assert_uint_eq(p->n_buffers, ORDER_REFS);
                for (size_t k = 0; k < p->n_buffers; k++) {
                        const DmabufBuffer *buf = &dmabuf_state_buffers(s)[p->buffer_index[k]];
                        bool listed = false;

                        if (k > 0)
                                ck_assert_uint_gt(p->buffer_index[k], p->buffer_index[k - 1]);
                        for (size_t h = 0; h < buf->n_holders; h++)
                                listed = listed || dmabuf_state_buffer_holders(s, buf)[h].pid == p->pid;
                        ck_assert(listed);
                }
        }
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("model");
        TCase *tc = tcase_create("builder");

        tcase_add_test(tc, test_world);
        tcase_add_test(tc, test_cgroups);
        tcase_add_test(tc, test_cgroup_units);
        tcase_add_test(tc, test_drm_clients);
        tcase_add_test(tc, test_unknowns);
        tcase_add_test(tc, test_priorities);
        tcase_add_loop_test(tc, test_lists_all, 0, 3);
        tcase_add_test(tc, test_status_line);
        tcase_add_test(tc, test_refcount_and_cache);
        tcase_add_test(tc, test_attachments_once);
        tcase_add_test(tc, test_scale);
        tcase_add_test(tc, test_in_place_order);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
