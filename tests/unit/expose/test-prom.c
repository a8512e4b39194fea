/* SPDX-License-Identifier: MIT */
#include "prom.h"
#include "test-unknown.h"

START_TEST(test_escape) {
        static const struct {
                const char *in;
                size_t len;
                const char *want;
        } cases[] = {
                { "plain", 5, "plain" },
                { "a\"b\\c\nd", 7, "a\\\"b\\\\c\\nd" },
                { "ctl\x01name", 8, "ctl\x01name" },
                { "bad\xffname", 8, "bad\xef\xbf\xbdname" },
                { "\xe3\x82\xab\xe3\x83\xa1\xe3\x83\xa9", 9, "\xe3\x82\xab\xe3\x83\xa1\xe3\x83\xa9" },
                { "", 0, "" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                StrBuf sb = STRBUF_INIT;
                ck_assert_int_eq(dmabuf_prom_append_label_value(&sb, cases[i].in, cases[i].len), 0);
                ck_assert_msg(strcmp(sb.buf ? sb.buf : "", cases[i].want) == 0, "case %zu: got '%s'", i, sb.buf);
                strbuf_done(&sb);
        }
}
END_TEST

START_TEST(test_negotiate) {
        static const struct {
                const char *accept;
                DmabufPromFormat want;
        } cases[] = {
                { NULL, DMABUF_PROM_TEXT },
                { "", DMABUF_PROM_TEXT },
                { "*/*", DMABUF_PROM_TEXT },
                { "text/plain", DMABUF_PROM_TEXT },
                { "text/plain;version=0.0.4", DMABUF_PROM_TEXT },
                { "application/openmetrics-text", DMABUF_PROM_OPENMETRICS },
                { "application/openmetrics-text; version=1.0.0", DMABUF_PROM_OPENMETRICS },
                { "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                  DMABUF_PROM_OPENMETRICS }, /* Prometheus 2.x */
                { "application/openmetrics-text;version=0.0.1", DMABUF_PROM_TEXT }, /* a version we do not write */
                { "application/openmetrics-text;q=0.2,text/plain;q=0.9", DMABUF_PROM_TEXT },
                { "text/plain;q=0.2, application/openmetrics-text;q=0.9", DMABUF_PROM_OPENMETRICS },
                { "application/openmetrics-text;q=0", DMABUF_PROM_TEXT },
                { "APPLICATION/OpenMetrics-Text", DMABUF_PROM_OPENMETRICS },
                { "application/openmetrics-text;q=garbage", DMABUF_PROM_TEXT },
                { "application/json", DMABUF_PROM_TEXT },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ck_assert_msg(dmabuf_prom_negotiate(cases[i].accept) == cases[i].want, "case %zu: %s", i,
                              cases[i].accept ? cases[i].accept : "(null)");
        ck_assert(strstr(dmabuf_prom_content_type(DMABUF_PROM_TEXT), "version=0.0.4"));
        ck_assert(strstr(dmabuf_prom_content_type(DMABUF_PROM_OPENMETRICS), "version=1.0.0"));
}
END_TEST

static DmabufState *small_state(bool global) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo i = { .inode = 9, .size = 8192, .count = 1, .exporter = "system", .name = "a\"b\\c\nd",
                               .name_len = 7, .has_name = true };
        DmabufState *s = NULL;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_SYSFS, global);
        dmabuf_builder_set_lists_all(b, DMABUF_SOURCE_SYSFS, global);
        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        if (global) {
                DmabufBufferInfo k = { .inode = 10, .size = 4096, .count = DMABUF_UNKNOWN, .exporter = "system" };
                ck_assert_int_eq(dmabuf_builder_add_buffer(b, DMABUF_SOURCE_SYSFS, &k), 0);
                ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, 10, "vgem", 3), 0);
                ck_assert_int_eq(dmabuf_builder_add_attachment(b, DMABUF_SOURCE_SYSFS, 10, "0000:00:02.0",
                                                               DMABUF_UNKNOWN), 0);
        }
        ck_assert_int_eq(dmabuf_builder_add_process(b, 42, "ev\"il", NULL, 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 42, &i), 0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 1700000000123000ULL, 0.0015, &s), 0);
        dmabuf_builder_free(b);
        return s;
}

/* The whole text exposition of a small state, byte for byte. */
START_TEST(test_exact_text) {
        DmabufState *s = small_state(true);
        DmabufPromOptions opts = { .top_processes = 5, .top_names = 5 };
        StrBuf sb = STRBUF_INIT;
        const char *want =
                "# HELP dmabuf_buffers Number of DMA-BUF buffers in the system.\n"
                "# TYPE dmabuf_buffers gauge\n"
                "dmabuf_buffers 2\n"
                "# HELP dmabuf_bytes Bytes of all DMA-BUF buffers in the system.\n"
                "# TYPE dmabuf_bytes gauge\n"
                "dmabuf_bytes 12288\n"
                "# HELP dmabuf_userspace_bytes Bytes of distinct buffers referenced by any process.\n"
                "# TYPE dmabuf_userspace_bytes gauge\n"
                "dmabuf_userspace_bytes 8192\n"
                "# HELP dmabuf_kernel_only_bytes Bytes of buffers no process references: held by drivers only. "
                "Growth is the classic leak.\n"
                "# TYPE dmabuf_kernel_only_bytes gauge\n"
                "dmabuf_kernel_only_bytes 4096\n"
                "# HELP dmabuf_exporter_buffers Number of buffers by exporting driver.\n"
                "# TYPE dmabuf_exporter_buffers gauge\n"
                "dmabuf_exporter_buffers{exporter=\"system\"} 2\n"
                "# HELP dmabuf_exporter_bytes Bytes of buffers by exporting driver.\n"
                "# TYPE dmabuf_exporter_bytes gauge\n"
                "dmabuf_exporter_bytes{exporter=\"system\"} 12288\n"
                "# HELP dmabuf_process_rss_bytes Bytes of distinct buffers a process holds by fd or mapping, top "
                "processes by rss.\n"
                "# TYPE dmabuf_process_rss_bytes gauge\n"
                "dmabuf_process_rss_bytes{pid=\"42\",comm=\"ev\\\"il\"} 8192\n"
                "# HELP dmabuf_process_pss_bytes Proportional share of the buffers a process holds: size divided "
                "by holders.\n"
                "# TYPE dmabuf_process_pss_bytes gauge\n"
                "dmabuf_process_pss_bytes{pid=\"42\",comm=\"ev\\\"il\"} 8192\n"
                "# HELP dmabuf_name_bytes Bytes of buffers by the name userspace gave them (DMA_BUF_SET_NAME), "
                "top names by bytes.\n"
                "# TYPE dmabuf_name_bytes gauge\n"
                "dmabuf_name_bytes{name=\"a\\\"b\\\\c\\nd\"} 8192\n"
                "# HELP dmabuf_attachments Device attachments of buffers, by exporter and importing device.\n"
                "# TYPE dmabuf_attachments gauge\n"
                "dmabuf_attachments{exporter=\"system\",device=\"0000:00:02.0\"} 1\n"
                "dmabuf_attachments{exporter=\"system\",device=\"vgem\"} 1\n"
                "# HELP dmabuf_attachment_mappings Current device mappings of attachments (sysfs map_counter), by "
                "exporter and importing device.\n"
                "# TYPE dmabuf_attachment_mappings gauge\n"
                "dmabuf_attachment_mappings{exporter=\"system\",device=\"vgem\"} 3\n"
                "# HELP dmabufd_collection_duration_seconds Wall time of the last collection.\n"
                "# TYPE dmabufd_collection_duration_seconds gauge\n"
                "dmabufd_collection_duration_seconds 0.001500\n"
                "# HELP dmabufd_collection_timestamp_seconds When the last collection started, Unix time.\n"
                "# TYPE dmabufd_collection_timestamp_seconds gauge\n"
                "dmabufd_collection_timestamp_seconds 1700000000.123\n";
        const char *tail;

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        ck_assert_msg(strncmp(sb.buf, want, strlen(want)) == 0, "got:\n%s", sb.buf);
        tail = sb.buf + strlen(want);
        ck_assert(strstr(tail, "# TYPE dmabufd_collections_total counter\ndmabufd_collections_total 1\n"));
        ck_assert(strstr(tail, "dmabufd_scan_skipped_total{reason=\"fds_vanished\"} 0\n"));
        ck_assert(strstr(tail, "dmabufd_parse_errors_total{source=\"procfs\"} 0\n"));
        /* dmabufd dump has no event sources: their families are absent. */
        ck_assert(strstr(tail, "# TYPE dmabufd_source_up gauge\n"
                               "dmabufd_source_up{source=\"sysfs\"} 1\n"
                               "dmabufd_source_up{source=\"procfs\"} 1\n"
                               "dmabufd_source_up{source=\"debugfs\"} 0\n"
                               "dmabufd_source_up{source=\"bpf\"} 0\n"));
        ck_assert(!strstr(tail, "dmabufd_events_total"));
        ck_assert(strstr(tail, "# TYPE dmabufd_build_info gauge\ndmabufd_build_info{version=\"" DMABUFD_VERSION
                               "\"} 1\n"));
        ck_assert(!strstr(sb.buf, "# EOF"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

START_TEST(test_openmetrics) {
        DmabufState *s = small_state(true);
        DmabufPromOptions opts = { .top_processes = 5, .top_names = 5 };
        StrBuf sb = STRBUF_INIT;

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_OPENMETRICS), 0);
        /* counter families are named without _total; samples keep it */
        ck_assert(strstr(sb.buf, "# TYPE dmabufd_collections counter\ndmabufd_collections_total 1\n"));
        ck_assert(strstr(sb.buf, "# HELP dmabufd_parse_errors Malformed"));
        ck_assert(!strstr(sb.buf, "# TYPE dmabufd_collections_total"));
        ck_assert_uint_ge(sb.len, 6);
        ck_assert_str_eq(sb.buf + sb.len - 6, "# EOF\n");
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

/* Unknown figures are absent series, never 0; top N bounds the series. */
/* What the daemon appends for each scrape: event sources next to the kernel
 * sources in one family, the event and snapshot counters, then the end. */
START_TEST(test_live) {
        DmabufState *s = small_state(true);
        DmabufPromOptions opts = { .top_processes = 5, .top_names = 5 };
        DmabufPromLive live = { .snapshots = 3, .snapshot_failures = 1 };
        StrBuf sb = STRBUF_INIT;

        live.source_up[DMABUFD_EVENT_SOURCE_KMSG] = true;
        live.events[DMABUFD_EVENT_OOM_KILL] = 2;
        live.events[DMABUFD_EVENT_MANUAL] = 5;
        ck_assert_int_eq(dmabuf_prom_write_collection(&sb, s, &opts, DMABUF_PROM_OPENMETRICS), 0);
        ck_assert(!strstr(sb.buf, "dmabufd_source_up"));
        ck_assert(!strstr(sb.buf, "# EOF"));
        ck_assert_int_eq(dmabuf_prom_write_daemon(&sb, s, &live, DMABUF_PROM_OPENMETRICS), 0);
        ck_assert(strstr(sb.buf, "dmabufd_source_up{source=\"bpf\"} 0\n"
                                 "dmabufd_source_up{source=\"kmsg\"} 1\n"
                                 "dmabufd_source_up{source=\"psi\"} 0\n"
                                 "dmabufd_source_up{source=\"cgroup\"} 0\n"
                                 "dmabufd_source_up{source=\"journal\"} 0\n"));
        ck_assert(strstr(sb.buf, "# TYPE dmabufd_events counter\n"
                                 "dmabufd_events_total{kind=\"oom_kill\"} 2\n"
                                 "dmabufd_events_total{kind=\"lmk_kill\"} 0\n"));
        ck_assert(strstr(sb.buf, "dmabufd_events_total{kind=\"manual\"} 5\n"));
        ck_assert(strstr(sb.buf, "# TYPE dmabufd_snapshots counter\ndmabufd_snapshots_total 3\n"));
        ck_assert(strstr(sb.buf, "# TYPE dmabufd_snapshot_failures counter\ndmabufd_snapshot_failures_total 1\n"));
        ck_assert_str_eq(sb.buf + sb.len - 6, "# EOF\n");
        ck_assert_ptr_eq(strstr(sb.buf, "# EOF"), sb.buf + sb.len - 6);
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

START_TEST(test_unknown_and_top) {
        DmabufState *s = small_state(false);
        DmabufPromOptions none = { .top_processes = 0, .top_names = 0 };
        StrBuf sb = STRBUF_INIT;

        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &none, DMABUF_PROM_TEXT), 0);
        ck_assert(!strstr(sb.buf, "dmabuf_bytes"));
        ck_assert(!strstr(sb.buf, "dmabuf_buffers"));
        ck_assert(!strstr(sb.buf, "dmabuf_kernel_only_bytes"));
        /* Nothing listed every buffer: the exporter's figures are unknown, not the
         * sum of what processes hold, so neither family appears. */
        ck_assert(!strstr(sb.buf, "dmabuf_exporter_buffers"));
        ck_assert(!strstr(sb.buf, "dmabuf_exporter_bytes"));
        ck_assert(strstr(sb.buf, "dmabuf_userspace_bytes 8192\n"));
        ck_assert(!strstr(sb.buf, "dmabuf_process_rss_bytes"));
        ck_assert(!strstr(sb.buf, "dmabuf_name_bytes"));
        ck_assert(strstr(sb.buf, "dmabufd_source_up{source=\"sysfs\"} 0\n"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

START_TEST(test_top_order) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufPromOptions opts = { .top_processes = 2, .top_names = 2 };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;
        const char *p1, *p2;

        dmabuf_builder_set_source_up(b, DMABUF_SOURCE_PROCFS, true);
        for (pid_t pid = 1; pid <= 4; pid++) {
                char name[8];
                DmabufBufferInfo i = { .inode = (uint64_t) pid, .size = 4096 * (uint64_t) pid, .count = 1,
                                       .exporter = "system", .name = name, .has_name = true };
                snprintf(name, sizeof(name), "n%d", pid % 3);
                i.name_len = strlen(name);
                ck_assert_int_eq(dmabuf_builder_add_process(b, pid, "p", NULL, 0), 0);
                ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, pid, &i), 0);
        }
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        p1 = strstr(sb.buf, "dmabuf_process_rss_bytes{pid=\"4\"");
        p2 = strstr(sb.buf, "dmabuf_process_rss_bytes{pid=\"3\"");
        ck_assert(p1 && p2 && p1 < p2);
        ck_assert(!strstr(sb.buf, "dmabuf_process_rss_bytes{pid=\"2\""));
        /* names n1 = pids 1+4 (20480), n0 = pid 3 (12288), n2 = pid 2 (8192) */
        ck_assert(strstr(sb.buf, "dmabuf_name_bytes{name=\"n1\"} 20480\n"));
        ck_assert(strstr(sb.buf, "dmabuf_name_bytes{name=\"n0\"} 12288\n"));
        ck_assert(!strstr(sb.buf, "dmabuf_name_bytes{name=\"n2\"}"));
        strbuf_done(&sb);
        dmabuf_state_unref(s);
        dmabuf_builder_free(b);
}
END_TEST

/* The tree with unknown totals, in both formats: an unknown figure is an absent
 * sample (SPEC), never a number; the known ones stay. */
START_TEST(test_unknown_tree) {
        DmabufState *s = tu_collect_tree(TU_UNKNOWN_TREE);
        DmabufPromOptions opts = { .top_processes = 10, .top_names = 10 };
        static const char *const absent[] = {
                "dmabuf_buffers", "dmabuf_bytes", "dmabuf_userspace_bytes", "dmabuf_kernel_only_bytes",
                "dmabuf_exporter_buffers", "dmabuf_exporter_bytes", "pid=\"4300\"", "name=\"orphan-map\"",
                "dmabuf_attachment_mappings",
        };

        for (DmabufPromFormat f = DMABUF_PROM_TEXT; f <= DMABUF_PROM_OPENMETRICS; f++) {
                StrBuf sb = STRBUF_INIT;

                ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, f), 0);
                tu_assert_no_unknown_number(sb.buf, "metrics");
                for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
                        ck_assert_msg(!strstr(sb.buf, absent[i]), "format %d has %s:\n%s", f, absent[i], sb.buf);
                ck_assert(strstr(sb.buf, "dmabuf_process_rss_bytes{pid=\"4100\",comm=\"gst-launch-1.0\"} 5308416\n"));
                ck_assert(strstr(sb.buf, "dmabuf_name_bytes{name=\"gst-buffer\"} 4194304\n"));
                strbuf_done(&sb);
        }
        dmabuf_state_unref(s);
}
END_TEST

/* A cgroup or unit name holds any bytes a container runtime or a user's
 * `systemd-run --unit` gave it: escaped like every label, invalid UTF-8 replaced. */
START_TEST(test_cgroup_hostile) {
        DmabufBuilder *b = dmabuf_builder_new();
        DmabufBufferInfo in = { .inode = 1, .size = 4096, .count = DMABUF_UNKNOWN, .exporter = "system" };
        DmabufDrmRegion region = { .name = "v\"r\nam", .bytes = { 8192, DMABUF_UNKNOWN, DMABUF_UNKNOWN,
                                                                   DMABUF_UNKNOWN, DMABUF_UNKNOWN } };
        DmabufPromOptions opts = { .top_processes = 5, .top_cgroups = 5 };
        StrBuf sb = STRBUF_INIT;
        DmabufState *s = NULL;

        ck_assert_int_eq(dmabuf_builder_add_process(b, 7, "x\ny", "/system.slice/a\"b\\c\nd\xff}.service", 0), 0);
        ck_assert_int_eq(dmabuf_builder_add_fd_ref(b, 7, &in), 0);
        ck_assert_int_eq(dmabuf_builder_add_drm_client(b, 7,
                                                       &(DmabufDrmClientInfo){ .driver = "dr\\v",
                                                                               .client_id = 1,
                                                                               .n_regions = 1,
                                                                               .regions = &region }),
                         0);
        ck_assert_int_eq(dmabuf_builder_finish(b, 0, 0, &s), 0);
        dmabuf_builder_free(b);
        ck_assert_int_eq(dmabuf_prom_write(&sb, s, &opts, DMABUF_PROM_TEXT), 0);
        ck_assert_ptr_nonnull(strstr(sb.buf, "dmabuf_cgroup_rss_bytes{cgroup=\"/system.slice/a\\\"b\\\\c\\nd\xef\xbf\xbd}.service\","
                                             "unit=\"a\\\"b\\\\c\\nd\xef\xbf\xbd}.service\"} 4096\n"));
        ck_assert_ptr_nonnull(strstr(sb.buf, "dmabuf_drm_client_bytes{pid=\"7\",comm=\"x\\ny\",driver=\"dr\\\\v\","
                                             "region=\"v\\\"r\\nam\",kind=\"total\"} 8192\n"));
        /* No raw newline inside any sample. */
        for (char *line = sb.buf, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                ck_assert_ptr_nonnull(nl);
                ck_assert_msg(line[0] == '#' || strncmp(line, "dmabuf", 6) == 0, "stray line '%.60s'", line);
        }
        strbuf_done(&sb);
        dmabuf_state_unref(s);
}
END_TEST

int main(void) {
        Suite *s = suite_create("prom");
        TCase *tc = tcase_create("exposition");

        tcase_add_test(tc, test_escape);
        tcase_add_test(tc, test_negotiate);
        tcase_add_test(tc, test_exact_text);
        tcase_add_test(tc, test_openmetrics);
        tcase_add_test(tc, test_live);
        tcase_add_test(tc, test_unknown_and_top);
        tcase_add_test(tc, test_top_order);
        tcase_add_test(tc, test_unknown_tree);
        tcase_add_test(tc, test_cgroup_hostile);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
