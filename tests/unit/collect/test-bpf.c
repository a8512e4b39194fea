/* SPDX-License-Identifier: MIT */
/* The BPF source's record reader: streams written here byte by byte stand for
 * what the programs write, good ones and every kind of broken one, and a
 * collection over a fixture tree with recorded streams shows the fallback. */
#include "bpf-loader.h"
#include "bpf-record.h"
#include "bpf-source.h"
#include "collect.h"
#include "state-json.h"
#include "test-collect-json.h"
#include "test-util.h"

typedef struct dmabuf_bpf_record Record;

static Record rec(uint16_t kind, uint32_t tgid, uint64_t inode, uint64_t size, const char *exporter,
                  const char *name, size_t name_len) {
        Record r = {
                .magic = DMABUF_BPF_RECORD_MAGIC,
                .kind = kind,
                .record_size = sizeof(Record),
                .tgid = tgid,
                .inode = inode,
                .size = size,
                .count = kind == DMABUF_BPF_RECORD_VMA ? -1 : 1,
                .name_len = DMABUF_BPF_LEN_NONE,
                .exporter_len = DMABUF_BPF_LEN_UNREADABLE,
        };

        if (exporter) {
                r.exporter_len = (int16_t) strlen(exporter);
                memcpy(r.exporter, exporter, strlen(exporter));
        }
        if (name) {
                r.name_len = (int16_t) name_len;
                memcpy(r.name, name, name_len);
        }
        if (tgid)
                snprintf(r.comm, sizeof(r.comm), "proc%u", tgid);
        return r;
}

static int check(const Record *r, size_t n, uint16_t kind, char *err, size_t err_size) {
        return dmabuf_bpf_records_check(r, n * sizeof(Record), kind, err, err_size);
}

START_TEST(test_check_good_and_empty) {
        Record r[2] = { rec(DMABUF_BPF_RECORD_BUFFER, 0, 7, 4096, "system", "a", 1),
                        rec(DMABUF_BPF_RECORD_BUFFER, 0, 8, 8192, "udmabuf", NULL, 0) };
        char err[256] = "";

        ck_assert_int_eq(check(r, 2, DMABUF_BPF_RECORD_BUFFER, err, sizeof(err)), 2);
        ck_assert_int_eq(check(r, 0, DMABUF_BPF_RECORD_BUFFER, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_check_truncated) {
        Record r[2] = { rec(DMABUF_BPF_RECORD_FD, 10, 7, 4096, "system", NULL, 0),
                        rec(DMABUF_BPF_RECORD_FD, 10, 8, 4096, "system", NULL, 0) };
        char err[256] = "";

        ck_assert_int_eq(dmabuf_bpf_records_check(r, sizeof(r) - 5, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "not a whole number"), "err: %s", err);
        ck_assert_int_eq(dmabuf_bpf_records_check(r, 3, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
}
END_TEST

/* Each fault is found, and the message names the record. */
START_TEST(test_check_malformed) {
        Record r = rec(DMABUF_BPF_RECORD_FD, 10, 7, 4096, "system", "n", 1), bad;
        char err[256];

        bad = r;
        bad.magic = 0x12345678;
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "fd record 0: magic 0x12345678"), "err: %s", err);

        bad = r;
        bad.record_size = sizeof(Record) - 8; /* a program from another version */
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "another version"), "err: %s", err);

        ck_assert_int_eq(check(&r, 1, DMABUF_BPF_RECORD_VMA, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "kind 2"), "err: %s", err);

        bad = r;
        bad.name_len = DMABUF_BPF_NAME_MAX; /* no room for the NUL the kernel keeps */
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, "inode 7") && strstr(err, "name length 32"), "err: %s", err);

        bad = r;
        bad.exporter_len = -3;
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);

        bad = r;
        memset(bad.comm, 'x', sizeof(bad.comm));
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);

        bad = r;
        bad.tgid = 0;
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
        bad.tgid = UINT32_MAX;
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);

        bad = r;
        bad.inode = 0;
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);

        /* The second record is the bad one, and is named so. */
        {
                Record two[2] = { r, r };
                two[1].kind = DMABUF_BPF_RECORD_BUFFER;
                ck_assert_int_eq(check(two, 2, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG);
                ck_assert_msg(strstr(err, "fd record 1"), "err: %s", err);
        }
}
END_TEST

static DmabufState *finish(DmabufBuilder *b) {
        DmabufState *s = NULL;

        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

/* Names are bytes: whatever the kernel held comes through, and an unnamed buffer
 * stays unnamed. */
START_TEST(test_buffers) {
        static const char hostile[] = "a\nb\"c\\\x01<img>";
        Record r[3] = {
                rec(DMABUF_BPF_RECORD_BUFFER, 0, 300, 65536, "system", hostile, sizeof(hostile) - 1),
                rec(DMABUF_BPF_RECORD_BUFFER, 0, 100, 4096, "system", NULL, 0),
                rec(DMABUF_BPF_RECORD_BUFFER, 0, 200, 8192, NULL, "", 0),
        };
        DmabufBuilder *b = dmabuf_builder_new();
        const DmabufBuffer *buf;
        DmabufState *s;

        r[1].count = 3;
        ck_assert_int_eq(dmabuf_bpf_add_buffers(b, r, sizeof(r)), 0);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_BPF, true);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_BPF, true);
        s = finish(b);

        ck_assert_uint_eq(dmabuf_state_totals(s)->buffers, 3);
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, 65536 + 4096 + 8192);
        ck_assert_uint_eq(dmabuf_state_totals(s)->kernel_only_bytes, 65536 + 4096 + 8192);
        buf = dmabuf_state_find_buffer(s, 300);
        ck_assert_ptr_nonnull(buf);
        ck_assert_str_eq(buf->name, hostile);
        ck_assert_str_eq(dmabuf_state_buffer_exporter(s, buf), "system");
        buf = dmabuf_state_find_buffer(s, 100);
        ck_assert_ptr_null(buf->name);
        ck_assert_uint_eq(buf->count, 3);
        buf = dmabuf_state_find_buffer(s, 200);
        ck_assert_ptr_null(dmabuf_state_buffer_exporter(s, buf)); /* unreadable: unknown, not "" */
        dmabuf_state_unref(s);
}
END_TEST

static void sort_by_tgid(Record *r, size_t n) {
        /* Insertion sort: stable, as the kernel's walk keeps a process's rows in order. */
        for (size_t i = 1; i < n; i++)
                for (size_t k = i; k > 0 && r[k - 1].tgid > r[k].tgid; k--) {
                        Record t = r[k];
                        r[k] = r[k - 1];
                        r[k - 1] = t;
                }
}

/* Rows of the two streams come interleaved with each other; the processes and
 * their references must come out as procfs would give them. Loop 0 feeds streams
 * out of PID order (a PID that wrapped mid-walk), which are sorted whole; loop 1
 * feeds them in the kernel's usual PID order, which are merged. */
START_TEST(test_holders) {
        Record fds[3] = {
                rec(DMABUF_BPF_RECORD_FD, 20, 100, 4096, "system", NULL, 0),
                rec(DMABUF_BPF_RECORD_FD, 10, 100, 4096, "system", NULL, 0),
                rec(DMABUF_BPF_RECORD_FD, 10, 200, 8192, "udmabuf", "cam", 3),
        };
        Record vmas[3] = {
                rec(DMABUF_BPF_RECORD_VMA, 30, 300, 65536, "system", "map-only", 8),
                rec(DMABUF_BPF_RECORD_VMA, 10, 100, 4096, "system", NULL, 0),
                rec(DMABUF_BPF_RECORD_VMA, 40, 300, 65536, "system", "map-only", 8),
        };
        char *root = tu_mkdtemp(), path[PATH_MAX];
        DmabufBuilder *b = dmabuf_builder_new();
        const DmabufProcess *p;
        const DmabufBuffer *buf;
        StrBuf scratch = STRBUF_INIT;
        DmabufState *s;
        int proc_fd;

        fds[1].cgroup_id = fds[2].cgroup_id = vmas[1].cgroup_id = 77;
        fds[0].cgroup_id = 88;
        vmas[0].cgroup_id = 77; /* 30 shares 10's cgroup: its path is read once, for 10 */
        vmas[2].cgroup_id = 99;
        if (_i == 1) {
                sort_by_tgid(fds, 3);
                sort_by_tgid(vmas, 3);
                ck_assert_int_eq(fds[2].tgid, 20);
        }
        tu_write_str(root, "proc/10/cgroup", "0::/system.slice/compositor.service\n");
        tu_write_str(root, "proc/20/cgroup", "0::/user.slice\n");
        /* 30 exited after the iterators ran: it still held its mapping then, and
         * its cgroup is known by id. 40 exited too, in a cgroup seen nowhere else. */
        snprintf(path, sizeof(path), "%s/proc", root);
        proc_fd = tu_open_dir(path);

        ck_assert_int_eq(dmabuf_bpf_add_holders(b, proc_fd, fds, sizeof(fds), vmas, sizeof(vmas), &scratch), 0);
        s = finish(b);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), 4);
        ck_assert_ptr_null(dmabuf_state_find_process(s, 40)->cgroup);
        p = dmabuf_state_find_process(s, 10);
        ck_assert_str_eq(p->comm, "proc10");
        ck_assert_str_eq(p->cgroup, "/system.slice/compositor.service");
        ck_assert_uint_eq(p->fds, 2);
        ck_assert_uint_eq(p->maps, 1);
        ck_assert_uint_eq(p->rss_bytes, 4096 + 8192);
        ck_assert_uint_eq(p->pss_bytes, 4096 / 2 + 8192);
        p = dmabuf_state_find_process(s, 20);
        ck_assert_str_eq(p->cgroup, "/user.slice");
        ck_assert_uint_eq(p->rss_bytes, 4096);
        p = dmabuf_state_find_process(s, 30);
        ck_assert_str_eq(p->cgroup, "/system.slice/compositor.service");
        ck_assert_uint_eq(p->maps, 1);
        ck_assert_uint_eq(p->rss_bytes, 65536); /* a mapping's row gives its size */

        buf = dmabuf_state_find_buffer(s, 100);
        ck_assert_uint_eq(buf->n_holders, 2);
        ck_assert_int_eq(dmabuf_state_buffer_holders(s, buf)[0].pid, 10);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, buf)[0].fds, 1);
        ck_assert_uint_eq(dmabuf_state_buffer_holders(s, buf)[0].maps, 1);
        ck_assert_int_eq(dmabuf_state_buffer_holders(s, buf)[1].pid, 20);
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 300)->name, "map-only");
        ck_assert_str_eq(dmabuf_state_find_buffer(s, 200)->name, "cam");
        /* Holders alone do not list every buffer. */
        ck_assert_uint_eq(dmabuf_state_totals(s)->bytes, DMABUF_UNKNOWN);
        ck_assert_uint_eq(dmabuf_state_totals(s)->userspace_bytes, 4096 + 8192 + 65536);
        ck_assert_uint_eq(dmabuf_state_find_buffer(s, 300)->n_holders, 2);

        dmabuf_state_unref(s);
        strbuf_done(&scratch);
        close(proc_fd);
        tu_rm_rf(root);
}
END_TEST

static Record drm_rec(uint32_t tgid, uint32_t fd, uint64_t inode) {
        Record r = rec(DMABUF_BPF_RECORD_DRM_FD, tgid, inode, 0, NULL, NULL, 0);

        r.fd = fd;
        r.count = 0;
        r.exporter_len = DMABUF_BPF_LEN_NONE;
        return r;
}

/* The fd walks report DRM fds in the fd stream; no other stream may carry them. */
START_TEST(test_check_drm_fd) {
        Record r[2] = { rec(DMABUF_BPF_RECORD_FD, 10, 7, 4096, "system", NULL, 0), drm_rec(10, 5, 413) };
        Record bad = drm_rec(0, 5, 413);
        char err[256] = "";

        ck_assert_int_eq(check(r, 2, DMABUF_BPF_RECORD_FD, err, sizeof(err)), 2);
        ck_assert_int_eq(check(&r[1], 1, DMABUF_BPF_RECORD_VMA, err, sizeof(err)), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(err, "kind 4"));
        ck_assert_int_eq(check(&r[1], 1, DMABUF_BPF_RECORD_BUFFER, err, sizeof(err)), -EBADMSG);
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG); /* no pid */
        bad = drm_rec(10, 5, 0);
        ck_assert_int_eq(check(&bad, 1, DMABUF_BPF_RECORD_FD, err, sizeof(err)), -EBADMSG); /* no inode */
}
END_TEST

/* A DRM fd row makes the reader parse that fd's fdinfo and nothing else: the
 * client joins the process (with its dma-buf references, if any), two fds of one
 * client are one, a DRM process with no memory statistics is dropped, a vanished
 * fd is counted, and a malformed line is a procfs parse error. */
START_TEST(test_holders_drm) {
        static const char i915[] = "pos:\t0\nflags:\t02100002\nmnt_id:\t23\nino:\t413\n"
                                   "drm-driver:\ti915\ndrm-client-id:\t13\ndrm-pdev:\t0000:00:02.0\n"
                                   "drm-total-system0:\t193448 KiB\ndrm-shared-system0:\t8100 KiB\n"
                                   "drm-resident-system0:\t160 MiB\ndrm-engine-render:\t5 ns\n";
        Record fds[6] = {
                drm_rec(10, 4, 413),
                rec(DMABUF_BPF_RECORD_FD, 10, 100, 4096, "system", NULL, 0),
                drm_rec(10, 5, 413),
                drm_rec(20, 3, 413), /* engines only: not listed */
                drm_rec(30, 9, 414), /* closed since the walk */
                drm_rec(40, 3, 415),
        };
        char *root = tu_mkdtemp(), path[PATH_MAX];
        DmabufBuilder *b = dmabuf_builder_new();
        StrBuf scratch = STRBUF_INIT;
        const DmabufProcess *p;
        DmabufState *s;
        int proc_fd;

        tu_write_str(root, "proc/10/fdinfo/4", i915);
        tu_write_str(root, "proc/10/fdinfo/5", i915);
        tu_write_str(root, "proc/10/cgroup", "0::/system.slice/compositor.service\n");
        tu_write_str(root, "proc/20/fdinfo/3", "pos:\t0\ndrm-driver:\ti915\ndrm-engine-render:\t4100 ns\n");
        tu_write_str(root, "proc/30/cgroup", "0::/user.slice\n");
        tu_write_str(root, "proc/40/fdinfo/3", "drm-driver:\tmsm\ndrm-client-id:\t3\ndrm-total-memory:\t9 XiB\n"
                                               "drm-resident-memory:\t18 MiB\n");
        snprintf(path, sizeof(path), "%s/proc", root);
        proc_fd = tu_open_dir(path);

        ck_assert_int_eq(dmabuf_bpf_add_holders(b, proc_fd, fds, sizeof(fds), NULL, 0, &scratch), 0);
        s = finish(b);

        ck_assert_uint_eq(dmabuf_state_n_processes(s), 2);
        ck_assert_ptr_null(dmabuf_state_find_process(s, 20));
        ck_assert_ptr_null(dmabuf_state_find_process(s, 30));
        p = dmabuf_state_find_process(s, 10);
        ck_assert_uint_eq(p->rss_bytes, 4096);
        ck_assert_uint_eq(p->n_drm_clients, 1);
        ck_assert_str_eq(p->drm_clients[0].driver, "i915");
        ck_assert_uint_eq(p->drm_clients[0].client_id, 13);
        ck_assert_uint_eq(p->drm_clients[0].fds, 2);
        ck_assert_uint_eq(p->drm_clients[0].regions[0].bytes[DMABUF_DRM_TOTAL], 193448 * 1024ull);
        ck_assert_uint_eq(p->drm_clients[0].regions[0].bytes[DMABUF_DRM_RESIDENT], 160ull << 20);
        p = dmabuf_state_find_process(s, 40);
        ck_assert_uint_eq(p->drm_clients[0].regions[0].bytes[DMABUF_DRM_TOTAL], DMABUF_UNKNOWN);
        ck_assert_uint_eq(p->drm_clients[0].regions[0].bytes[DMABUF_DRM_RESIDENT], 18ull << 20);
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->counters[DMABUF_SCAN_FDS_VANISHED], 1);
        ck_assert_uint_eq(dmabuf_state_scan_stats(s)->parse_errors[DMABUF_SOURCE_PROCFS], 1);
        ck_assert_str_eq(dmabuf_state_scan_stats(s)->first_error,
                         "/proc/40/fdinfo/3: malformed DRM fdinfo line \"drm-total-memory:\t9 XiB\", skipped");

        dmabuf_state_unref(s);
        strbuf_done(&scratch);
        close(proc_fd);
        tu_rm_rf(root);
}
END_TEST

static json_object *collect_json(const char *tree, DmabufBpf *bpf) {
        return tu_collect_json(tree, &(DmabufCollectOptions){ .bpf = bpf });
}

static DmabufBpf *recorded(const char *dir) {
        DmabufBpf *bpf = NULL;
        int fd = tu_open_dir(dir);

        ck_assert_int_eq(dmabuf_bpf_open_recorded(fd, &bpf), 0);
        close(fd);
        return bpf;
}

static json_object *get(json_object *o, const char *path) {
        char key[64];
        const char *dot;

        while ((dot = strchr(path, '.'))) {
                snprintf(key, sizeof(key), "%.*s", (int) (dot - path), path);
                ck_assert_msg(json_object_object_get_ex(o, key, &o), "no %s", key);
                path = dot + 1;
        }
        ck_assert_msg(json_object_object_get_ex(o, path, &o), "no %s", path);
        return o;
}

/* On the 7.2 tree without debugfs nothing lists the buffers; recorded streams
 * stand in for the programs. A broken holders stream falls back to procfs, whose
 * processes are then exactly those of a collection without BPF, while the good
 * buffer stream still gives the totals. */
START_TEST(test_collect_fallback) {
        char tree[PATH_MAX], *dir = tu_mkdtemp();
        Record buffers[2] = { rec(DMABUF_BPF_RECORD_BUFFER, 0, 900001, 1048576, "system", NULL, 0),
                              rec(DMABUF_BPF_RECORD_BUFFER, 0, 900002, 4096, "udmabuf", "k", 1) };
        Record fd = rec(DMABUF_BPF_RECORD_FD, 4242, 900001, 1048576, "system", NULL, 0);
        json_object *plain, *with_bpf;
        DmabufBpf *bpf;

        tu_fixture_tree(tree, sizeof(tree), "linux-7.2-nodebugfs");
        tu_write(dir, "dmabuf.bin", (const char *) buffers, sizeof(buffers));
        tu_write(dir, "task_file.bin", (const char *) &fd, sizeof(fd) - 1); /* truncated */
        tu_write(dir, "task_vma.bin", "", 0);
        bpf = recorded(dir);

        plain = collect_json(tree, NULL);
        with_bpf = collect_json(tree, bpf);
        ck_assert_int_eq(json_object_get_boolean(get(with_bpf, "sources.bpf")), 1);
        ck_assert_int_eq(json_object_get_int(get(with_bpf, "scan.parse_errors.bpf")), 1);
        ck_assert_msg(strstr(json_object_get_string(get(with_bpf, "scan.first_error")), "iter/task_file"),
                      "first_error: %s", json_object_get_string(get(with_bpf, "scan.first_error")));
        ck_assert_msg(json_object_equal(get(plain, "processes"), get(with_bpf, "processes")),
                      "processes differ from the procfs collection");
        ck_assert_int_eq(json_object_get_int(get(plain, "scan.parse_errors.bpf")), 0);
        /* A buffer list makes the count known (the bytes stay unknown here: the
         * tree's map-only buffers are not in this made-up list, so their sizes are
         * not known). */
        ck_assert_int_eq(json_object_get_type(get(plain, "totals.buffers")), json_type_null);
        ck_assert_int_eq(json_object_get_type(get(with_bpf, "totals.buffers")), json_type_int);
        json_object_put(with_bpf);
        dmabuf_bpf_free(bpf);

        /* Now the buffer stream is the broken one: no list of every buffer, so the
         * totals are unknown again, and the holders come from the good stream. */
        {
                char longer[sizeof(buffers) + 3] = "";

                memcpy(longer, buffers, sizeof(buffers));
                tu_write(dir, "dmabuf.bin", longer, sizeof(longer));
        }
        tu_write(dir, "task_file.bin", (const char *) &fd, sizeof(fd));
        bpf = recorded(dir);
        with_bpf = collect_json(tree, bpf);
        ck_assert_int_eq(json_object_get_int(get(with_bpf, "scan.parse_errors.bpf")), 1);
        ck_assert_int_eq(json_object_get_type(get(with_bpf, "totals.buffers")), json_type_null);
        ck_assert_int_eq(json_object_get_boolean(get(with_bpf, "sources.bpf")), 1);
        ck_assert_int_eq(json_object_array_length(get(with_bpf, "processes")), 1);
        ck_assert_int_eq(json_object_get_int(get(json_object_array_get_idx(get(with_bpf, "processes"), 0), "pid")),
                         4242);
        json_object_put(with_bpf);
        dmabuf_bpf_free(bpf);

        json_object_put(plain);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(test_load_refuses_a_root_tree) {
        char tree[PATH_MAX], reason[512] = "";
        DmabufBpf *bpf = NULL;
        int fd;

        tu_fixture_tree(tree, sizeof(tree), "linux-7.2-nodebugfs");
        fd = tu_open_dir(tree);
        ck_assert_int_lt(dmabuf_bpf_load(fd, &bpf, reason, sizeof(reason)), 0);
        ck_assert_ptr_null(bpf);
        ck_assert_msg(strstr(reason, dmabuf_bpf_built() ? "--root is not /" : "built without BPF"), "reason: %s",
                      reason);
        close(fd);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bpf");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_check_good_and_empty);
        tcase_add_test(tc, test_check_truncated);
        tcase_add_test(tc, test_check_malformed);
        tcase_add_test(tc, test_buffers);
        tcase_add_loop_test(tc, test_holders, 0, 2);
        tcase_add_test(tc, test_check_drm_fd);
        tcase_add_test(tc, test_holders_drm);
        tcase_add_test(tc, test_collect_fallback);
        tcase_add_test(tc, test_load_refuses_a_root_tree);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
