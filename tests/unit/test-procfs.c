/* SPDX-License-Identifier: MIT */
#include "dmabuf-procfs.h"
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
        char names[16][64];
        size_t n;
} Seen;

static int on_map(const DmabufMapsEntry *e, void *userdata) {
        Seen *s = userdata;

        ck_assert_uint_lt(s->n, 16);
        s->inodes[s->n] = e->inode;
        snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int) e->name_len, e->name);
        s->n++;
        return 0;
}

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
        ck_assert_uint_eq(s.inodes[1], 1234);
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
        ck_assert_str_eq(buf->exporter, "system");
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

int main(void) {
        Suite *s = suite_create("procfs");
        TCase *tc = tcase_create("parsers");
        TCase *scan = tcase_create("scan");

        tcase_add_test(tc, test_link_classify);
        tcase_add_test(tc, test_fdinfo_61);
        tcase_add_test(tc, test_fdinfo_unnamed_and_510);
        tcase_add_test(tc, test_fdinfo_name_with_newline);
        tcase_add_test(tc, test_fdinfo_malformed);
        tcase_add_test(tc, test_maps);
        tcase_add_test(tc, test_maps_unescape);
        tcase_add_test(tc, test_cgroup);
        tcase_add_test(scan, test_scan_tree);
        suite_add_tcase(s, tc);
        suite_add_tcase(s, scan);
        return tu_run(s);
}
