/* SPDX-License-Identifier: MIT */
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "kmsg-parser.h"
#include "macro.h"
#include "source-kmsg.h"
#include "test-util.h"

#define KMSG_DIR FIXTURES_DIR "/kmsg"

/* Splits a fixture file into records the way /dev/kmsg hands them out, one per
 * read: a record line plus the continuation lines (leading space) after it. */
typedef struct Records {
        char *data;
        size_t n;
        const char *start[32];
        size_t len[32];
} Records;

static void load(const char *name, Records *r) {
        char path[PATH_MAX];
        FILE *f;
        long size;
        char *p;

        memset(r, 0, sizeof(*r));
        /* Always the source tree's: only the fixture trees are unpacked elsewhere. */
        snprintf(path, sizeof(path), "%s/%s", KMSG_DIR, name);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        rewind(f);
        r->data = calloc(1, (size_t) size + 1);
        ck_assert_uint_eq(fread(r->data, 1, (size_t) size, f), (size_t) size);
        fclose(f);
        for (p = r->data; *p;) {
                char *nl = strchr(p, '\n');
                size_t line_len = nl ? (size_t) (nl - p) + 1 : strlen(p);

                if (*p == ' ' && r->n > 0)
                        r->len[r->n - 1] += line_len;
                else {
                        ck_assert_uint_lt(r->n, 32);
                        r->start[r->n] = p;
                        r->len[r->n++] = line_len;
                }
                p += line_len;
        }
}

/* Feeds every record of a file; returns the kills found. */
static size_t feed_all(const char *name, DmabufKill *kills, size_t max) {
        DmabufKillTracker t = { 0 };
        Records r;
        size_t n = 0;

        load(name, &r);
        for (size_t i = 0; i < r.n; i++) {
                DmabufKmsgRecord rec;
                char msg[2048];
                size_t len;
                int ret;

                ck_assert_int_eq(dmabuf_kmsg_record_parse(r.start[i], r.len[i], &rec), 0);
                len = dmabuf_kmsg_unescape(rec.message, rec.message_len, msg, sizeof(msg));
                ret = dmabuf_kill_tracker_feed(&t, msg, len, &kills[n]);
                ck_assert_int_ge(ret, 0);
                if (ret == 1) {
                        ck_assert_uint_lt(n, max);
                        n++;
                }
        }
        free(r.data);
        return n;
}

START_TEST(test_record) {
        const char *in = "6,1561,4131230,-;vgem vgem: hello \\x0a world\\x5c\n SUBSYSTEM=platform\n DEVICE=+platform:vgem\n";
        DmabufKmsgRecord rec;
        char msg[128];
        size_t len;

        ck_assert_int_eq(dmabuf_kmsg_record_parse(in, strlen(in), &rec), 0);
        ck_assert_int_eq(rec.level, 6);
        ck_assert_int_eq(rec.facility, 0);
        ck_assert_uint_eq(rec.seq, 1561);
        ck_assert_uint_eq(rec.ts_usec, 4131230);
        ck_assert_int_eq(rec.flag, '-');
        len = dmabuf_kmsg_unescape(rec.message, rec.message_len, msg, sizeof(msg));
        ck_assert_uint_eq(len, strlen("vgem vgem: hello \n world\\"));
        ck_assert_str_eq(msg, "vgem vgem: hello \n world\\");

        /* facility 3 (daemon), level 4: PRI 28; extra fields before ';' are allowed */
        ck_assert_int_eq(dmabuf_kmsg_record_parse("28,5,6,c,caller=T1;x", 20, &rec), 0);
        ck_assert_int_eq(rec.facility, 3);
        ck_assert_int_eq(rec.level, 4);
        ck_assert_int_eq(rec.flag, 'c');
        ck_assert_uint_eq(rec.message_len, 1);
}
END_TEST

START_TEST(test_garbage) {
        Records r;

        load("garbage.txt", &r);
        ck_assert_uint_eq(r.n, 5);
        for (size_t i = 0; i < r.n; i++) {
                DmabufKmsgRecord rec;
                ck_assert_msg(dmabuf_kmsg_record_parse(r.start[i], r.len[i], &rec) == -EBADMSG, "line %zu", i);
        }
        free(r.data);
}
END_TEST

START_TEST(test_unescape_bounds) {
        char out[4];

        /* cut at the buffer, always terminated; a lone or short escape stays as is */
        ck_assert_uint_eq(dmabuf_kmsg_unescape("abcdef", 6, out, sizeof(out)), 3);
        ck_assert_str_eq(out, "abc");
        ck_assert_uint_eq(dmabuf_kmsg_unescape("\\x4", 3, out, sizeof(out)), 3);
        ck_assert_str_eq(out, "\\x4");
        ck_assert_uint_eq(dmabuf_kmsg_unescape("\\xzz", 4, out, sizeof(out)), 3);
}
END_TEST

START_TEST(test_global_oom) {
        DmabufKill k[4];

        ck_assert_uint_eq(feed_all("global-oom-6.1.txt", k, 4), 1);
        ck_assert_int_eq(k[0].kind, DMABUF_KILL_OOM);
        ck_assert_int_eq(k[0].pid, 36);
        ck_assert_str_eq(k[0].comm, "oomhog");
        ck_assert_uint_eq(k[0].total_vm_kb, 238776);
        ck_assert_uint_eq(k[0].anon_rss_kb, 237556);
        ck_assert_uint_eq(k[0].file_rss_kb, 4);
        ck_assert_uint_eq(k[0].shmem_rss_kb, 648);
        ck_assert_uint_eq(k[0].pgtables_kb, 500);
        ck_assert_uint_eq(k[0].uid, 0);
        ck_assert(k[0].has_oom_score_adj);
        ck_assert_int_eq(k[0].oom_score_adj, 0);
        ck_assert_str_eq(k[0].constraint, "CONSTRAINT_NONE");
        ck_assert_str_eq(k[0].task_memcg, "/");
        ck_assert_str_eq(k[0].oom_memcg, "");
        ck_assert(k[0].global_oom);
        ck_assert(strstr(k[0].line, "oom-kill:constraint=CONSTRAINT_NONE"));
        ck_assert(strstr(k[0].line, "\nOut of memory: Killed process 36 (oomhog)"));
}
END_TEST

START_TEST(test_memcg_oom) {
        DmabufKill k[4];

        ck_assert_uint_eq(feed_all("memcg-oom-6.1.txt", k, 4), 1);
        ck_assert_int_eq(k[0].kind, DMABUF_KILL_MEMCG_OOM);
        ck_assert_int_eq(k[0].pid, 40);
        ck_assert_str_eq(k[0].constraint, "CONSTRAINT_MEMCG");
        ck_assert_str_eq(k[0].oom_memcg, "/test");
        ck_assert_str_eq(k[0].task_memcg, "/test");
        ck_assert(!k[0].global_oom);
        ck_assert_uint_eq(k[0].anon_rss_kb, 32768);
}
END_TEST

START_TEST(test_cpuset_and_spaces) {
        DmabufKill k[4];

        ck_assert_uint_eq(feed_all("global-oom-cpuset.txt", k, 4), 1);
        ck_assert_int_eq(k[0].pid, 1234);
        ck_assert_str_eq(k[0].comm, "camera app");
        ck_assert_str_eq(k[0].task_memcg, "/user.slice/user-1000.slice/session-2.scope");
        ck_assert_uint_eq(k[0].uid, 1000);
        ck_assert_int_eq(k[0].oom_score_adj, 900);
        ck_assert(k[0].global_oom);
}
END_TEST

START_TEST(test_lowmemorykiller) {
        DmabufKill k[4];

        ck_assert_uint_eq(feed_all("lowmemorykiller-staging.txt", k, 4), 2);
        ck_assert_int_eq(k[0].kind, DMABUF_KILL_LMK);
        ck_assert_int_eq(k[0].pid, 2741);
        ck_assert_str_eq(k[0].comm, "com.example.cam");
        ck_assert_int_eq(k[0].oom_score_adj, 900);
        ck_assert(strstr(k[0].line, "\n   to free 81234kB"));
        ck_assert_int_eq(k[1].pid, 501); /* the "(tgid N)" variant */
        ck_assert_str_eq(k[1].comm, "surfaceflinger");
        ck_assert_int_eq(k[1].oom_score_adj, 0);
}
END_TEST

/* Kill reports that are cut or garbled are errors, never a kill with made-up
 * fields; other messages are simply not kills. */
START_TEST(test_malformed_reports) {
        static const char *const bad[] = {
                "Out of memory: Killed process abc (x) total-vm:1kB",
                "Out of memory: Killed process 12 (x) total-vm:zzkB",
                "Out of memory: Killed process 12 (x",
                "oom-kill:constraint=CONSTRAINT_NONE,task=x,pid=notanumber,uid=0",
                "oom-kill:constraint=CONSTRAINT_NONE",
                "lowmemorykiller: Killing 'x' (abc), adj 1,",
                "lowmemorykiller: Killing 'x' (12), adj 5000,",
                "Killed process somewhere in a message", /* kernel-origin, so a garbled report */
        };
        static const char *const not_kills[] = {
                "oomhog invoked oom-killer: gfp_mask=0x140dca, order=0, oom_score_adj=0",
                "lowmemorykiller: no killable task",
                "",
        };
        DmabufKillTracker t = { 0 };
        DmabufKill k;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(dmabuf_kill_tracker_feed(&t, bad[i], strlen(bad[i]), &k) == -EBADMSG, "bad %zu", i);
        for (size_t i = 0; i < sizeof(not_kills) / sizeof(not_kills[0]); i++)
                ck_assert_msg(dmabuf_kill_tracker_feed(&t, not_kills[i], strlen(not_kills[i]), &k) == 0, "not %zu", i);
}
END_TEST

/* A summary for another pid is not merged into the kill. */
START_TEST(test_summary_mismatch) {
        DmabufKillTracker t = { 0 };
        DmabufKill k;
        const char *summary = "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/a,task_memcg=/a,task=x,pid=7,uid=0";
        const char *killed = "Out of memory: Killed process 8 (y) total-vm:10kB, anon-rss:5kB, file-rss:0kB, shmem-rss:0kB";

        ck_assert_int_eq(dmabuf_kill_tracker_feed(&t, summary, strlen(summary), &k), 0);
        ck_assert_int_eq(dmabuf_kill_tracker_feed(&t, killed, strlen(killed), &k), 1);
        ck_assert_int_eq(k.pid, 8);
        ck_assert_str_eq(k.oom_memcg, "");
        ck_assert_int_eq(k.kind, DMABUF_KILL_OOM);
        ck_assert_uint_eq(k.uid, DMABUF_KILL_UNKNOWN);
        ck_assert(!k.has_oom_score_adj);
}
END_TEST

/* Collects what the splitter hands out. */
typedef struct Split {
        size_t n;
        char *rec[64];
        size_t len[64];
} Split;

static void on_split(const char *record, size_t len, void *userdata) {
        Split *sp = userdata;

        ck_assert_uint_lt(sp->n, 64);
        sp->rec[sp->n] = strndup(record, len);
        sp->len[sp->n++] = len;
}

static void split_free(Split *sp) {
        for (size_t i = 0; i < sp->n; i++)
                free(sp->rec[i]);
        sp->n = 0;
}

/* Whatever the chunking of a FIFO, the splitter cuts the same records as
 * /dev/kmsg's one-per-read, continuation lines included. */
START_TEST(test_splitter_chunks) {
        static const size_t chunks[] = { 1, 3, 7, 64, 4096, 1 << 20 };
        static DmabufKmsgSplitter s;
        Records r;

        load("lowmemorykiller-staging.txt", &r);
        for (size_t c = 0; c < ELEMENTSOF(chunks); c++) {
                size_t total = (size_t) (r.start[r.n - 1] + r.len[r.n - 1] - r.data);
                Split sp = { 0 };

                memset(&s, 0, sizeof(s));
                for (size_t off = 0; off < total; off += chunks[c])
                        dmabuf_kmsg_splitter_feed(&s, r.data + off, MIN(chunks[c], total - off), on_split, &sp);
                dmabuf_kmsg_splitter_flush(&s, on_split, &sp);
                ck_assert_uint_eq(sp.n, r.n);
                for (size_t i = 0; i < r.n; i++) {
                        ck_assert_uint_eq(sp.len[i], r.len[i]);
                        ck_assert(memcmp(sp.rec[i], r.start[i], r.len[i]) == 0);
                }
                ck_assert_uint_eq(s.overlong, 0);
                split_free(&sp);
        }
        free(r.data);
}
END_TEST

START_TEST(test_splitter_overlong) {
        static DmabufKmsgSplitter s;
        char path[PATH_MAX];
        Split sp = { 0 };
        char *data;
        size_t len;
        FILE *f;

        snprintf(path, sizeof(path), "%s/overlong.txt", KMSG_DIR);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        data = malloc(64 * 1024);
        len = fread(data, 1, 64 * 1024, f);
        fclose(f);
        ck_assert_uint_gt(len, 20000);

        memset(&s, 0, sizeof(s));
        for (size_t off = 0; off < len; off += 4096)
                dmabuf_kmsg_splitter_feed(&s, data + off, MIN((size_t) 4096, len - off), on_split, &sp);
        dmabuf_kmsg_splitter_flush(&s, on_split, &sp);
        ck_assert_uint_eq(s.overlong, 1);
        /* The four records after it are whole. */
        ck_assert_uint_eq(sp.n, 4);
        ck_assert(strstr(sp.rec[3], "Killed process 36 (oomhog)"));
        split_free(&sp);

        /* A continuation line with no record before it is dropped. */
        dmabuf_kmsg_splitter_feed(&s, " SUBSYSTEM=x\n6,1,1,-;hello\n", 27, on_split, &sp);
        dmabuf_kmsg_splitter_flush(&s, on_split, &sp);
        ck_assert_uint_eq(sp.n, 1);
        ck_assert_str_eq(sp.rec[0], "6,1,1,-;hello\n");
        split_free(&sp);
        free(data);
}
END_TEST

typedef struct Seen {
        size_t n;
        DmabufdEventKind kind[8];
        pid_t pid[8];
        char comm[8][64];
        char line[8][1024];
} Seen;

static void on_event(const DmabufdEvent *e, void *userdata) {
        Seen *seen = userdata;

        ck_assert_uint_lt(seen->n, 8);
        seen->kind[seen->n] = e->kind;
        seen->pid[seen->n] = e->pid;
        snprintf(seen->comm[seen->n], 64, "%s", e->comm);
        snprintf(seen->line[seen->n], 1024, "%s", e->line);
        seen->n++;
}

static void write_file_to(int fd, const char *name) {
        char path[PATH_MAX], buf[4096];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", KMSG_DIR, name);
        f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                ck_assert_int_eq(write(fd, buf, n), (ssize_t) n);
        fclose(f);
}

/* Runs the loop until want events arrived or 5 s passed. */
static void run_until(sd_event *e, Seen *seen, size_t want) {
        for (int i = 0; i < 100 && seen->n < want; i++)
                ck_assert_int_ge(sd_event_run(e, 50 * 1000), 0);
}

/* A FIFO at <root>/dev/kmsg, fed like the kernel would: real kill lines make
 * events; garbage, overlong lines and forged userspace records do not, and the
 * feeder closing its end does not end the source. */
START_TEST(test_source_fifo) {
        char *root = tu_mkdtemp(), path[PATH_MAX];
        DmabufdSourceKmsg *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };
        int root_fd, w;

        tu_mkdirs(root, "dev/x");
        snprintf(path, sizeof(path), "%s/dev/kmsg", root);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_kmsg_new(e, root_fd, on_event, &seen, &src), 0);
        ck_assert(dmabufd_source_kmsg_is_up(src));

        w = open(path, O_WRONLY | O_CLOEXEC);
        ck_assert_int_ge(w, 0);
        write_file_to(w, "garbage.txt");
        /* Facility 1 (user): what a root process writing to /dev/kmsg gets. */
        {
                const char *forged = "14,1600,4140000,-;Out of memory: Killed process 4242 (forged) total-vm:1kB\n";
                ck_assert_int_eq(write(w, forged, strlen(forged)), (ssize_t) strlen(forged));
        }
        write_file_to(w, "overlong.txt");
        close(w);
        run_until(e, &seen, 1);
        ck_assert_uint_eq(seen.n, 1);
        ck_assert_int_eq(seen.kind[0], DMABUFD_EVENT_OOM_KILL);
        ck_assert_int_eq(seen.pid[0], 36);
        ck_assert_str_eq(seen.comm[0], "oomhog");
        ck_assert(strstr(seen.line[0], "oom-kill:constraint=CONSTRAINT_NONE"));
        ck_assert(strstr(seen.line[0], "Killed process 36 (oomhog)"));

        /* A second feeder after the first closed: still read. */
        w = open(path, O_WRONLY | O_CLOEXEC);
        write_file_to(w, "lowmemorykiller-staging.txt");
        close(w);
        run_until(e, &seen, 2);
        ck_assert_uint_ge(seen.n, 2);
        ck_assert_int_eq(seen.kind[1], DMABUFD_EVENT_LMK_KILL);
        ck_assert(dmabufd_source_kmsg_is_up(src));

        dmabufd_source_kmsg_free(src);
        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

/* What is already in the log when the source starts is history: on a seekable
 * log it starts at the end. A regular file cannot be polled, so the source is
 * down, and says so, rather than spinning or crashing. */
START_TEST(test_source_down) {
        char *root = tu_mkdtemp();
        DmabufdSourceKmsg *src = NULL;
        sd_event *e = NULL;
        Seen seen = { 0 };
        int root_fd;

        root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(dmabufd_source_kmsg_new(e, root_fd, on_event, &seen, &src), 0);
        ck_assert(!dmabufd_source_kmsg_is_up(src));
        dmabufd_source_kmsg_free(src);

        tu_write_str(root, "dev/kmsg", "6,1,1,-;Out of memory: Killed process 36 (oomhog)\n");
        ck_assert_int_eq(dmabufd_source_kmsg_new(e, root_fd, on_event, &seen, &src), 0);
        ck_assert(!dmabufd_source_kmsg_is_up(src));
        ck_assert_int_ge(sd_event_run(e, 10 * 1000), 0);
        ck_assert_uint_eq(seen.n, 0);
        dmabufd_source_kmsg_free(src);

        sd_event_unref(e);
        close(root_fd);
        tu_rm_rf(root);
}
END_TEST

int main(void) {
        Suite *s = suite_create("kmsg");
        TCase *tc = tcase_create("kmsg");

        tcase_add_test(tc, test_record);
        tcase_add_test(tc, test_garbage);
        tcase_add_test(tc, test_unescape_bounds);
        tcase_add_test(tc, test_global_oom);
        tcase_add_test(tc, test_memcg_oom);
        tcase_add_test(tc, test_cpuset_and_spaces);
        tcase_add_test(tc, test_lowmemorykiller);
        tcase_add_test(tc, test_malformed_reports);
        tcase_add_test(tc, test_summary_mismatch);
        tcase_add_test(tc, test_splitter_chunks);
        tcase_add_test(tc, test_splitter_overlong);
        tcase_add_test(tc, test_source_fifo);
        tcase_add_test(tc, test_source_down);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
