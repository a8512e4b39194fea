/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <inttypes.h>
#include <sys/wait.h>

#include "procfs.h"
#include "test-util.h"

START_TEST(test_link_classify) {
        const char *name = NULL;
        size_t len = 99;

        ck_assert_int_eq(dmabuf_fd_link_classify("/dmabuf:camera", 14, &name, &len), DMABUF_LINK_NAMED);
        ck_assert_uint_eq(len, 6);
        ck_assert(strncmp(name, "camera", 6) == 0);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dmabuf:", 8, &name, &len), DMABUF_LINK_NAMED);
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dmabuf:a\nb", 11, &name, &len), DMABUF_LINK_NAMED);
        ck_assert_uint_eq(len, 3);
        ck_assert_int_eq(dmabuf_fd_link_classify("anon_inode:dmabuf", 17, NULL, NULL), DMABUF_LINK_ANON);
        ck_assert_int_eq(dmabuf_fd_link_classify("anon_inode:[eventfd]", 20, NULL, NULL), DMABUF_LINK_OTHER);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dmabuf", 7, NULL, NULL), DMABUF_LINK_OTHER);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/console", 12, NULL, NULL), DMABUF_LINK_OTHER);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/dri/card0", 14, NULL, NULL), DMABUF_LINK_DRM);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/dri/renderD128", 19, NULL, NULL), DMABUF_LINK_DRM);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/dri/", 9, NULL, NULL), DMABUF_LINK_OTHER);
        /* Compute accelerators are DRM devices: their fdinfo is drm_show_fdinfo()'s. */
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/accel/accel0", 17, NULL, NULL), DMABUF_LINK_DRM);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/accel/", 11, NULL, NULL), DMABUF_LINK_OTHER);
        ck_assert_int_eq(dmabuf_fd_link_classify("/dev/accelerator", 16, NULL, NULL), DMABUF_LINK_OTHER);
        ck_assert_int_eq(dmabuf_fd_link_classify("socket:[1234]", 13, NULL, NULL), DMABUF_LINK_OTHER);
}
END_TEST

#define FDINFO_61 "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1234\nsize:\t4096\ncount:\t2\nexp_name:\tsystem\n"

START_TEST(test_fdinfo_61) {
        const char *in = FDINFO_61 "name:\tcamera\n";
        DmabufFdinfo fi;

        ck_assert_int_eq(dmabuf_fdinfo_parse(in, strlen(in), &fi), 0);
        ck_assert_uint_eq(fi.ino, 1234);
        ck_assert_uint_eq(fi.size, 4096);
        ck_assert_uint_eq(fi.count, 2);
        ck_assert_uint_eq(fi.exp_name_len, 6);
        ck_assert(strncmp(fi.exp_name, "system", 6) == 0);
        ck_assert(fi.has_name);
        ck_assert_uint_eq(fi.name_len, 6);
        ck_assert(strncmp(fi.name, "camera", 6) == 0);
}
END_TEST

START_TEST(test_fdinfo_unnamed_and_510) {
        const char *unnamed = FDINFO_61;
        const char *v510 = "pos:\t0\nflags:\t02000002\nmnt_id:\t13\nsize:\t8192\ncount:\t1\nexp_name:\theap_helpers\n";
        DmabufFdinfo fi;

        ck_assert_int_eq(dmabuf_fdinfo_parse(unnamed, strlen(unnamed), &fi), 0);
        ck_assert(!fi.has_name);
        ck_assert_int_eq(dmabuf_fdinfo_parse(v510, strlen(v510), &fi), 0);
        ck_assert_uint_eq(fi.ino, DMABUF_UNKNOWN); /* before 5.14: stat the fd */
        ck_assert_uint_eq(fi.size, 8192);
}
END_TEST

START_TEST(test_fdinfo_name_with_newline) {
        /* The kernel prints the name raw and last: it runs to the end of the file. */
        const char *in = FDINFO_61 "name:\ta\"b\\c\nsize:\t1\n";
        DmabufFdinfo fi;

        ck_assert_int_eq(dmabuf_fdinfo_parse(in, strlen(in), &fi), 0);
        ck_assert_uint_eq(fi.size, 4096);
        ck_assert_uint_eq(fi.name_len, strlen("a\"b\\c\nsize:\t1"));
        ck_assert(strncmp(fi.name, "a\"b\\c\nsize:\t1", fi.name_len) == 0);
}
END_TEST

START_TEST(test_fdinfo_malformed) {
        static const char *const bad[] = {
                "pos:\t0\nino:\t12\nsize:\tabc\ncount:\t1\nexp_name:\tsystem\n",  /* bad number */
                "pos:\t0\nino:\t12\nsize:\t-5\ncount:\t1\nexp_name:\tsystem\n",   /* sign */
                "pos:\t0\nino:\t12\nsize:\t4096\ncount:\t1\nexp_na",               /* truncated */
                "pos:\t0\nino:\t12\nsize:\t4096\ncount:\t99999999999999999999\nexp_name:\tx\n",
                "pos:\t0\nino:\t12\nsize:\t4096\ncount:\t1\nexp_name:\t\n",        /* empty exporter */
                "pos:\t0\nino:\tx\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\n",   /* bad ino */
        };
        DmabufFdinfo fi;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(dmabuf_fdinfo_parse(bad[i], strlen(bad[i]), &fi) == -EBADMSG, "case %zu", i);
        /* An fdinfo with none of the dma-buf fields: the fd now names another file. */
        ck_assert_int_eq(dmabuf_fdinfo_parse("pos:\t0\nflags:\t02\nmnt_id:\t20\nino:\t5\n", 36, &fi), -ENOMSG);
        ck_assert_int_eq(dmabuf_fdinfo_parse("", 0, &fi), -ENOMSG);
}
END_TEST

typedef struct Seen {
        uint64_t inodes[16];
        uint64_t start[16], end[16];
        char names[16][64];
        size_t n;
} Seen;

static int on_map(const DmabufMapsEntry *e, void *userdata) {
        Seen *s = userdata;

        ck_assert_uint_lt(s->n, 16);
        s->inodes[s->n] = e->inode;
        s->start[s->n] = e->start;
        s->end[s->n] = e->end;
        snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int) e->name_len, e->name);
        s->n++;
        return 0;
}

#define LIT(s) s, sizeof(s) - 1

static const DmabufDrmFdinfoRegion *drm_region(const DmabufDrmFdinfo *fi, const char *name) {
        for (size_t i = 0; i < fi->n_regions; i++)
                if (fi->regions[i].name_len == strlen(name) && memcmp(fi->regions[i].name, name, strlen(name)) == 0)
                        return &fi->regions[i];
        return NULL;
}

/* drm_print_memory_stats() output with units, an amdgpu with the legacy key and a
 * space before the tab, xe's drm-total-cycles- (not a region), keys not ours. */
START_TEST(test_drm_fdinfo) {
        DmabufDrmFdinfo fi;
        const DmabufDrmFdinfoRegion *r;

        ck_assert_int_eq(dmabuf_drm_fdinfo_parse(LIT("pos:\t0\nflags:\t02100002\nmnt_id:\t23\nino:\t413\n"
                                                     "drm-driver:\txe\n"
                                                     "drm-client-id:\t40\n"
                                                     "drm-pdev:\t0000:03:00.0\n"
                                                     "drm-client-name:\tvulkan\n"
                                                     "drm-total-vram0:\t3328 MiB\n"
                                                     "drm-shared-vram0:\t12 KiB\n"
                                                     "drm-resident-vram0:\t4097\n"
                                                     "drm-purgeable-vram0:\t0\n"
                                                     "drm-active-vram0:\t2 GiB\n"
                                                     "drm-memory-vram0:\t1 KiB\n"
                                                     "drm-memory-gtt: \t7 KiB\n"
                                                     "drm-cycles-rcs:\t981234\n"
                                                     "drm-total-cycles-rcs:\t1203330999\n"
                                                     "drm-engine-render:\t8150307120 ns\n"
                                                     "drm-engine-capacity-vcs:\t2\n"
                                                     "drm-maxfreq-gpu:\t900000000 Hz\n"
                                                     "drm-internal-vram0:\t5 KiB\n"
                                                     "amd-evicted-vram:\t12288 KiB\n"),
                                                 &fi),
                         0);
        ck_assert_uint_eq(fi.malformed, 0);
        ck_assert_uint_eq(fi.driver_len, 2);
        ck_assert(memcmp(fi.driver, "xe", 2) == 0);
        ck_assert_uint_eq(fi.pdev_len, 12);
        ck_assert(memcmp(fi.pdev, "0000:03:00.0", 12) == 0);
        ck_assert_uint_eq(fi.client_id, 40);
        ck_assert_uint_eq(fi.n_regions, 2);
        r = drm_region(&fi, "vram0");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_TOTAL], 3328ull << 20);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_SHARED], 12 * 1024);
        /* drm-resident- wins over its deprecated alias drm-memory-. */
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_RESIDENT], 4097);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_PURGEABLE], 0);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_ACTIVE], 2ull << 30);
        r = drm_region(&fi, "gtt");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_RESIDENT], 7 * 1024);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_TOTAL], DMABUF_UNKNOWN);
        ck_assert_ptr_null(drm_region(&fi, "cycles-rcs"));

        /* No drm-driver: no client statistics (or not a DRM fd any more). */
        ck_assert_int_eq(dmabuf_drm_fdinfo_parse(LIT("pos:\t0\nflags:\t02100002\nmnt_id:\t23\nino:\t413\n"), &fi),
                         -ENOMSG);
        /* A driver with engine statistics only: a client without regions. */
        ck_assert_int_eq(dmabuf_drm_fdinfo_parse(LIT("drm-driver:\ti915\ndrm-engine-render:\t5 ns\n"), &fi), 0);
        ck_assert_uint_eq(fi.n_regions, 0);
        ck_assert_uint_eq(fi.client_id, DMABUF_UNKNOWN);
        ck_assert_ptr_null(fi.pdev);
}
END_TEST

/* Each malformed drm- line is counted and skipped; the first is kept to be named. */
START_TEST(test_drm_fdinfo_malformed) {
        static const struct {
                const char *line;
        } bad[] = {
                { "drm-total-vram:\t12 XiB" },
                { "drm-total-vram:\tlots" },
                { "drm-total-vram:\t" },
                { "drm-total-vram:\t-1" },
                { "drm-total-vram:\t12KiBs" },
                { "drm-total-vram:\t99999999999999999999" },
                { "drm-total-vram:\t17592186044416 MiB" }, /* 2^64 bytes */
                { "drm-total-vram:\t18446744073709551615" }, /* UINT64_MAX is "unknown" */
                { "drm-total-:\t5" },
                { "drm-client-id:\tx" },
                { "drm-driver:\t" },
                { "drm-pdev:\t" },
                { "drm-total vram:\t5" },
                { "drm-no-colon" },
                { "drm-total-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:\t5" }, /* 64 bytes */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char buf[256];
                DmabufDrmFdinfo fi;
                int n = snprintf(buf, sizeof(buf), "drm-driver:\tamdgpu\n%s\ndrm-resident-gtt:\t4 KiB\n", bad[i].line);

                ck_assert_int_eq(dmabuf_drm_fdinfo_parse(buf, (size_t) n, &fi), 0);
                ck_assert_msg(fi.malformed == 1, "%s: %u malformed", bad[i].line, fi.malformed);
                ck_assert_uint_eq(fi.first_malformed_len, strlen(bad[i].line));
                ck_assert(memcmp(fi.first_malformed, bad[i].line, fi.first_malformed_len) == 0);
                ck_assert_ptr_nonnull(drm_region(&fi, "gtt"));
                ck_assert_uint_eq(drm_region(&fi, "gtt")->bytes[DMABUF_DRM_RESIDENT], 4096);
        }
}
END_TEST

/* More regions than DMABUF_DRM_REGIONS_MAX: the extra ones are malformed lines. */
START_TEST(test_drm_fdinfo_regions_max) {
        StrBuf sb = STRBUF_INIT;
        DmabufDrmFdinfo fi;

        strbuf_puts(&sb, "drm-driver:\tamdgpu\n");
        for (int i = 0; i < DMABUF_DRM_REGIONS_MAX + 3; i++)
                strbuf_printf(&sb, "drm-total-r%d:\t%d\ndrm-resident-r%d:\t1 KiB\n", i, i, i);
        ck_assert_int_eq(dmabuf_drm_fdinfo_parse(sb.buf, sb.len, &fi), 0);
        ck_assert_uint_eq(fi.n_regions, DMABUF_DRM_REGIONS_MAX);
        ck_assert_uint_eq(fi.malformed, 6);
        ck_assert_uint_eq(fi.regions[DMABUF_DRM_REGIONS_MAX - 1].bytes[DMABUF_DRM_TOTAL], DMABUF_DRM_REGIONS_MAX - 1);
        strbuf_done(&sb);
}
END_TEST

START_TEST(test_maps) {
        const char *in =
                "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n"
                "7f2c1a200000-7f2c1a201000 rw-s 00000000 00:0d 1234                       /dmabuf:camera\n"
                "7f2c1a300000-7f2c1a302000 rw-s 00001000 00:0d 1234                       /dmabuf:camera\n"
                "7f2c1a400000-7f2c1a401000 rw-s 00000000 00:0d 77                         /dmabuf:\n"
                "7f2c1a500000-7f2c1a501000 rw-s 00000000 00:0d 78                         /dmabuf:a\"b\\c\\012d\n"
                "7f2c1a600000-7f2c1a601000 rw-p 00000000 00:05 3                          /dev/console\n"
                "7f2c1a700000-7f2c1a701000 r--p 00000000 08:01 3                          /memfd:dmabuf (deleted)\n"
                "7ffd5e1f2000-7ffd5e213000 rw-p 00000000 00:00 0                          [stack]\n"
                "garbage line here\n"
                "7f2c1a800000-7f2c1a8";
        Seen s = { 0 };
        unsigned malformed = 0;
        char name[64];
        size_t len;

        ck_assert_int_eq(dmabuf_maps_parse(in, strlen(in), on_map, &s, &malformed), 0);
        ck_assert_uint_eq(malformed, 2);
        ck_assert_uint_eq(s.n, 4);
        ck_assert_uint_eq(s.inodes[0], 1234);
        ck_assert_uint_eq(s.start[0], 0x7f2c1a200000ULL);
        ck_assert_uint_eq(s.end[0], 0x7f2c1a201000ULL);
        ck_assert_uint_eq(s.inodes[1], 1234);
        ck_assert_uint_eq(s.start[1], 0x7f2c1a300000ULL);
        ck_assert_str_eq(s.names[0], "camera");
        ck_assert_uint_eq(s.inodes[2], 77);
        ck_assert_str_eq(s.names[2], "");
        ck_assert_uint_eq(s.inodes[3], 78);
        snprintf(name, sizeof(name), "%s", s.names[3]);
        len = dmabuf_maps_unescape(name, strlen(name));
        ck_assert_uint_eq(len, 7);
        ck_assert(memcmp(name, "a\"b\\c\nd", 7) == 0);
}
END_TEST

START_TEST(test_maps_unescape) {
        char a[] = "x\\012y", b[] = "trailing\\01", c[] = "\\134", d[] = "no escapes";

        ck_assert_uint_eq(dmabuf_maps_unescape(a, strlen(a)), 3);
        ck_assert(memcmp(a, "x\ny", 3) == 0);
        ck_assert_uint_eq(dmabuf_maps_unescape(b, strlen(b)), strlen("trailing\\01"));
        ck_assert_uint_eq(dmabuf_maps_unescape(c, strlen(c)), 1);
        ck_assert_int_eq(c[0], '\\');
        ck_assert_uint_eq(dmabuf_maps_unescape(d, strlen(d)), strlen("no escapes"));
}
END_TEST

START_TEST(test_cgroup) {
        const char *v2 = "0::/user.slice/user-1000.slice/session-2.scope\n";
        const char *hybrid = "12:pids:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice/app.service\n";
        const char *v1 = "9:name=systemd:/\n8:pids:/\n";
        const char *p;
        size_t len;

        ck_assert_int_eq(dmabuf_cgroup_parse(v2, strlen(v2), &p, &len), 0);
        ck_assert(strncmp(p, "/user.slice/user-1000.slice/session-2.scope", len) == 0);
        ck_assert_int_eq(dmabuf_cgroup_parse(hybrid, strlen(hybrid), &p, &len), 0);
        ck_assert(strncmp(p, "/user.slice/app.service", len) == 0 && len == strlen("/user.slice/app.service"));
        ck_assert_int_eq(dmabuf_cgroup_parse(v1, strlen(v1), &p, &len), -ENOENT);
}
END_TEST

/* A scan over a tree made here: refs, a vanished fd, a vanished pid, a process
 * with no dma-buf (dropped), and a pre-5.14 fdinfo whose inode cannot be had by
 * stat in a captured tree (counted as vanished, not guessed). */
START_TEST(test_scan_tree) {
        char *root = tu_mkdtemp();
        DmabufBuilder *b = dmabuf_builder_new();
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s = NULL;
        const DmabufProcess *p;
        const DmabufBuffer *buf;
        int proc_fd;

        tu_symlink(root, "proc/10/fd/3", "/dmabuf:cam");
        tu_write_str(root, "proc/10/fdinfo/3", FDINFO_61 "name:\tcam\n");
        tu_symlink(root, "proc/10/fd/4", "/dmabuf:gone");           /* fdinfo missing: vanished */
        tu_symlink(root, "proc/10/fd/5", "/dev/null");
        tu_symlink(root, "proc/10/fd/6", "anon_inode:dmabuf");
        tu_write_str(root, "proc/10/maps",
                     "7f2c1a200000-7f2c1a201000 rw-s 00000000 00:0d 1234                       /dmabuf:cam\n");
        tu_write_str(root, "proc/10/comm", "camera\n");
        tu_write_str(root, "proc/10/cgroup", "0::/system.slice/camera.service\n");
        tu_symlink(root, "proc/20/fd/0", "/dev/null");
        tu_write_str(root, "proc/20/maps", "");
        tu_write_str(root, "proc/20/comm", "idle\n");
        tu_mkdirs(root, "proc/30/x");                               /* no fd dir: vanished pid */
        tu_symlink(root, "proc/40/fd/7", "/dmabuf:old");
        tu_write_str(root, "proc/40/fdinfo/7", "pos:\t0\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\n");
        tu_write_str(root, "proc/40/maps", "");
        tu_mkdirs(root, "proc/self/x");

        {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/proc", root);
                proc_fd = tu_open_dir(path);
        }
        ck_assert_int_eq(dmabuf_procfs_scan(proc_fd, b, &scratch), 0);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->counters[DMABUF_SCAN_FDS_VANISHED], 2);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->counters[DMABUF_SCAN_PIDS_VANISHED], 1);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_PROCFS], 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), 1);
        p = dmabuf_state_find_process(s, 10);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p->comm, "camera");
        ck_assert_str_eq(p->cgroup, "/system.slice/camera.service");
        ck_assert_uint_eq(p->fds, 1);
        ck_assert_uint_eq(p->maps, 1);
        ck_assert_uint_eq(p->unidentified_fds, 1);
        ck_assert_uint_eq(p->rss_bytes, 4096);
        ck_assert_uint_eq(p->pss_bytes, 4096);
        buf = dmabuf_state_find_buffer(s, 1234);
        ck_assert_ptr_nonnull(buf);
        ck_assert_str_eq(buf->name, "cam");
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), "system");
        ck_assert_uint_eq(buf->count, 2);
        ck_assert_ptr_null(dmabuf_state_find_process(s, 20)); /* holds nothing */

        /* only_pid lists one process but keeps every buffer and holder */
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
        b = dmabuf_builder_new();
        dmabuf_builder_set_only_pid(b, 20);
        ck_assert_int_eq(dmabuf_procfs_scan(proc_fd, b, &scratch), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_uint_eq(dmabuf_state_n_processes(s), 0);
        ck_assert_uint_eq(dmabuf_state_n_buffers(s), 1);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, 1234)->n_holders, 1);

        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
        close(proc_fd);
        strbuf_done(&scratch);
        tu_rm_rf(root);
}
END_TEST

static const DmabufDrmRegion *client_region(const DmabufDrmClient *c, const char *name) {
        for (size_t i = 0; i < c->n_regions; i++)
                if (streq(c->regions[i].name, name))
                        return &c->regions[i];
        return NULL;
}

/* The accel-fdinfo tree: /dev/accel fds are DRM clients under their driver's name,
 * with the exact figures drm_show_memory_stats() printed (tests/fixtures/trees/
 * README.md), deduplicated like /dev/dri ones; one without memory statistics (qaic)
 * lists nothing. */
START_TEST(test_scan_accel_tree) {
        char tree[PATH_MAX];
        DmabufBuilder *b = dmabuf_builder_new();
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s = NULL;
        const DmabufProcess *p;
        const DmabufDrmClient *c;
        const DmabufDrmRegion *r;
        int proc_fd;

        tu_fixture_tree(tree, sizeof(tree), "accel-fdinfo/proc");
        proc_fd = tu_open_dir(tree);
        ck_assert_int_eq(dmabuf_procfs_scan(proc_fd, b, &scratch), 0);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_PROCFS], 0);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->counters[DMABUF_SCAN_FDS_VANISHED], 0);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->counters[DMABUF_SCAN_UNREADABLE], 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_uint_eq(dmabuf_state_n_processes(s), 2);
        ck_assert_ptr_null(dmabuf_state_find_process(s, 9300)); /* qaic: no show_fdinfo */

        /* benchmark_app: i915 on /dev/dri and intel_vpu (ivpu) on /dev/accel, sorted
         * by driver; the NPU client is one drm_file behind fds 3 and 4. */
        p = dmabuf_state_find_process(s, 9100);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->n_drm_clients, 2);
        c = &p->drm_clients[0];
        ck_assert_str_eq(c->driver, "i915");
        ck_assert_uint_eq(c->client_id, 6);
        c = &p->drm_clients[1];
        ck_assert_str_eq(c->driver, "intel_vpu");
        ck_assert_str_eq(c->pdev, "0000:00:0b.0");
        ck_assert_uint_eq(c->client_id, 5);
        ck_assert_uint_eq(c->fds, 2);
        ck_assert_uint_eq(c->n_regions, 1);
        r = client_region(c, "memory");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_TOTAL], 109056000); /* "106500 KiB" */
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_SHARED], 8388608);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_ACTIVE], 4194304);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_RESIDENT], 75497472);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_PURGEABLE], DMABUF_UNKNOWN);

        /* llm-npu: amdxdna prints total and shared only; its own
         * amdxdna_accel_driver-*-alloc keys are no region. */
        p = dmabuf_state_find_process(s, 9200);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->n_drm_clients, 1);
        c = &p->drm_clients[0];
        ck_assert_str_eq(c->driver, "amdxdna_accel_driver");
        ck_assert_str_eq(c->pdev, "0000:c5:00.1");
        ck_assert_uint_eq(c->client_id, 2);
        ck_assert_uint_eq(c->fds, 1);
        ck_assert_uint_eq(c->n_regions, 1);
        r = client_region(c, "memory");
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_TOTAL], 293601280); /* "280 MiB" */
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_SHARED], 16777216);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_RESIDENT], DMABUF_UNKNOWN);
        ck_assert_uint_eq(r->bytes[DMABUF_DRM_ACTIVE], DMABUF_UNKNOWN);

        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
        close(proc_fd);
        strbuf_done(&scratch);
}
END_TEST

/* ---- map-only sizes from map_files ----
 * Committed trees cannot choose inode numbers, so the tree is built here: a
 * regular file stands for /proc/<pid>/map_files/<start>-<end>, and its real
 * st_ino is written into the maps line. On a kernel the entry is a symlink that
 * stat() follows to the buffer's inode; one case here is a symlink too. */

static uint64_t write_blob(const char *root, const char *rel, size_t size) {
        char path[PATH_MAX];
        struct stat st;
        int fd;

        tu_mkdirs(root, rel);
        snprintf(path, sizeof(path), "%s/%s", root, rel);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, (off_t) size), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        close(fd);
        return (uint64_t) st.st_ino;
}

static void add_maps_line(StrBuf *maps, uint64_t start, uint64_t end, uint64_t ino, const char *name) {
        /* maps pads addresses to 8 digits; map_files names have no leading zeros */
        ck_assert_int_eq(strbuf_printf(maps, "%08" PRIx64 "-%08" PRIx64 " rw-s 00000000 00:0e %" PRIu64
                                             "                          /dmabuf:%s\n",
                                       start, end, ino, name),
                         0);
}

static DmabufState *scan_root(const char *root, DmabufBuilder *b) {
        char path[PATH_MAX];
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s = NULL;
        int proc_fd;

        snprintf(path, sizeof(path), "%s/proc", root);
        proc_fd = tu_open_dir(path);
        ck_assert_int_eq(dmabuf_procfs_scan(proc_fd, b, &scratch), 0);
        ck_assert_uint_eq(dmabuf_builder_scan_stats(b)->parse_errors[DMABUF_SOURCE_PROCFS], 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        close(proc_fd);
        strbuf_done(&scratch);
        return s;
}

START_TEST(test_map_files_size) {
        char *root = tu_mkdtemp();
        StrBuf maps = STRBUF_INIT;
        DmabufBuilder *b = dmabuf_builder_new();
        uint64_t ino_a, ino_b, ino_c, ino_e;
        const DmabufProcess *p;
        DmabufState *s;

        tu_symlink(root, "proc/50/fd/0", "/dev/null");
        tu_write_str(root, "proc/50/comm", "mapper\n");
        /* A: map-only, sized by its map_files entry (a plain file here). Mapped
         * twice: the second mapping finds the size known and is not stat()ed. */
        ino_a = write_blob(root, "proc/50/map_files/7f0000000000-7f0000010000", 65536);
        add_maps_line(&maps, 0x7f0000000000ULL, 0x7f0000010000ULL, ino_a, "a");
        add_maps_line(&maps, 0x7f0000100000ULL, 0x7f0000110000ULL, ino_a, "a");
        /* B: the entry is a symlink, as on a kernel, and stat() follows it. */
        ino_b = write_blob(root, "blobs/b", 8192);
        tu_symlink(root, "proc/50/map_files/7f0000200000-7f0000202000", "../../../blobs/b");
        add_maps_line(&maps, 0x7f0000200000ULL, 0x7f0000202000ULL, ino_b, "b");
        /* C: the range was remapped since maps was read: another inode, no size. */
        ino_c = write_blob(root, "proc/50/map_files/7f0000300000-7f0000301000", 4096);
        add_maps_line(&maps, 0x7f0000300000ULL, 0x7f0000301000ULL, ino_c + 1000003, "c");
        /* D: no map_files entry (unmapped meanwhile): no size, and no error. */
        add_maps_line(&maps, 0x7f0000400000ULL, 0x7f0000401000ULL, 999999, "d");
        /* E: a low address, padded in maps, unpadded in map_files. */
        ino_e = write_blob(root, "proc/50/map_files/400000-402000", 8192);
        add_maps_line(&maps, 0x400000ULL, 0x402000ULL, ino_e, "e");
        tu_write_str(root, "proc/50/maps", maps.buf);

        s = scan_root(root, b);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, ino_a)->size, 65536);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, dmabuf_state_find_buffer(s, ino_a))[0].maps, 2);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, ino_b)->size, 8192);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, ino_c + 1000003)->size, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, 999999)->size, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, ino_e)->size, 8192);
        /* stat has no exporter */
        ck_assert_ptr_null(dmabuf_state_buffer_exporter(s, dmabuf_state_find_buffer(s, ino_a)));
        p = dmabuf_state_find_process(s, 50);
        ck_assert_uint_eq(p->rss_bytes, DMABUF_UNKNOWN); /* C and D stay unknown */
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->counters[DMABUF_SCAN_MAP_FILES_DENIED], 0);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);

        /* Without C and D every size is known, so rss is too. */
        strbuf_reset(&maps);
        add_maps_line(&maps, 0x7f0000000000ULL, 0x7f0000010000ULL, ino_a, "a");
        add_maps_line(&maps, 0x7f0000200000ULL, 0x7f0000202000ULL, ino_b, "b");
        tu_write_str(root, "proc/50/maps", maps.buf);
        b = dmabuf_builder_new();
        s = scan_root(root, b);
        p = dmabuf_state_find_process(s, 50);
        ck_assert_uint_eq(p->rss_bytes, 65536 + 8192);
        ck_assert_uint_eq(dmabuf_state_totals(s)->userspace_bytes, 65536 + 8192);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);

        strbuf_done(&maps);
        tu_rm_rf(root);
}
END_TEST

/* A size some source already gave is never looked up again, and map_files is
 * then not consulted: the entry here would say otherwise (and fdinfo's size wins
 * over a mapping's in any case). */
START_TEST(test_map_files_not_needed) {
        char *root = tu_mkdtemp();
        StrBuf maps = STRBUF_INIT;
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo known = { .inode = 0, .size = 4096, .count = DMABUF_UNKNOWN, .exporter = "system" };
        uint64_t ino;
        DmabufState *s;

        ino = write_blob(root, "proc/60/map_files/7f0000000000-7f0000010000", 65536);
        tu_symlink(root, "proc/60/fd/3", "/dmabuf:x");
        tu_write_str(root, "proc/60/comm", "holder\n");
        {
                char info[256];
                snprintf(info, sizeof(info), "pos:\t0\nino:\t%" PRIu64 "\nsize:\t4096\ncount:\t2\nexp_name:\tsystem\n",
                         ino);
                tu_write_str(root, "proc/60/fdinfo/3", info);
        }
        add_maps_line(&maps, 0x7f0000000000ULL, 0x7f0000010000ULL, ino, "x");
        tu_write_str(root, "proc/60/maps", maps.buf);

        ck_assert(!dmabuf_builder_has_size(b, ino));
        known.inode = ino + 1;
        ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &known), 0);
        ck_assert(dmabuf_builder_has_size(b, ino + 1));
        ck_assert(!dmabuf_builder_has_size(b, ino));
        s = scan_root(root, b);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, ino)->size, 4096);
        ck_assert_uint_eq(dmabuf_state_find_process(s, 60)->rss_bytes, 4096);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
        strbuf_done(&maps);
        tu_rm_rf(root);
}
END_TEST

/* Refused access (the kernel's EPERM without CAP_CHECKPOINT_RESTORE, or EACCES)
 * leaves the size unknown as before: counted in map_files_denied, never a parse
 * error. Here a map_files dir without permissions gives EACCES; as root the scan
 * runs in a child that gave up root first. */
static int denied_scan(const char *root) {
        char path[PATH_MAX];
        StrBuf scratch = STRBUF_INIT;
        DmabufBuilder *b = dmabuf_builder_new();
        const DmabufScanStats *st;
        int proc_fd, bad = 0;

        snprintf(path, sizeof(path), "%s/proc", root);
        proc_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc_fd < 0 || dmabuf_procfs_scan(proc_fd, b, &scratch) < 0)
                return 10;
        st = dmabuf_builder_scan_stats(b);
        bad |= st->counters[DMABUF_SCAN_MAP_FILES_DENIED] != 2 ? 1 : 0; /* both mappings */
        bad |= st->parse_errors[DMABUF_SOURCE_PROCFS] != 0 ? 2 : 0;
        bad |= st->counters[DMABUF_SCAN_UNREADABLE] != 0 ? 4 : 0;
        bad |= dmabuf_builder_has_size(b, 4242) ? 8 : 0;
        close(proc_fd);
        strbuf_done(&scratch);
        dmabuf_builder_free(b);
        return bad;
}

START_TEST(test_map_files_denied) {
        char *root = tu_mkdtemp(), path[PATH_MAX];
        StrBuf maps = STRBUF_INIT;
        int status = 0;

        tu_symlink(root, "proc/70/fd/0", "/dev/null");
        tu_write_str(root, "proc/70/comm", "denied\n");
        write_blob(root, "proc/70/map_files/7f0000000000-7f0000010000", 65536);
        add_maps_line(&maps, 0x7f0000000000ULL, 0x7f0000010000ULL, 4242, "a");
        add_maps_line(&maps, 0x7f0000100000ULL, 0x7f0000110000ULL, 4243, "b");
        tu_write_str(root, "proc/70/maps", maps.buf);
        ck_assert_int_eq(chmod(root, 0755), 0);
        snprintf(path, sizeof(path), "%s/proc/70/map_files", root);
        ck_assert_int_eq(chmod(path, 0), 0);

        if (geteuid() == 0) {
                pid_t pid = fork();

                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                            setresuid(65534, 65534, 65534) < 0)
                                _exit(20);
                        _exit(denied_scan(root));
                }
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "denied scan: status %d", status);
        } else
                ck_assert_int_eq(denied_scan(root), 0);

        ck_assert_int_eq(chmod(path, 0755), 0);
        strbuf_done(&maps);
        tu_rm_rf(root);
}
END_TEST

int main(void) {
        Suite *s = suite_create("procfs");
        TCase *tc = tcase_create("parsers");
        TCase *scan = tcase_create("scan");

        tcase_add_test(tc, test_link_classify);
        tcase_add_test(tc, test_fdinfo_61);
        tcase_add_test(tc, test_fdinfo_unnamed_and_510);
        tcase_add_test(tc, test_fdinfo_name_with_newline);
        tcase_add_test(tc, test_fdinfo_malformed);
        tcase_add_test(tc, test_drm_fdinfo);
        tcase_add_test(tc, test_drm_fdinfo_malformed);
        tcase_add_test(tc, test_drm_fdinfo_regions_max);
        tcase_add_test(tc, test_maps);
        tcase_add_test(tc, test_maps_unescape);
        tcase_add_test(tc, test_cgroup);
        tcase_add_test(scan, test_scan_tree);
        tcase_add_test(scan, test_scan_accel_tree);
        tcase_add_test(scan, test_map_files_size);
        tcase_add_test(scan, test_map_files_not_needed);
        tcase_add_test(scan, test_map_files_denied);
        suite_add_tcase(s, tc);
        suite_add_tcase(s, scan);
        return tu_run(s);
}
