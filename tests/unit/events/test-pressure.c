/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "macro.h"
#include "pressure-parser.h"
#include "test-util.h"

#define PRESSURE_DIR FIXTURES_DIR "/pressure"

static char *load(const char *name, size_t *ret_len) {
        char path[PATH_MAX];
        FILE *f;
        long size;
        char *data;

        snprintf(path, sizeof(path), "%s/%s", PRESSURE_DIR, name);
        f = fopen(path, "re");
        ck_assert_msg(f, "%s: %s", path, strerror(errno));
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        rewind(f);
        data = calloc(1, (size_t) size + 1);
        ck_assert_uint_eq(fread(data, 1, (size_t) size, f), (size_t) size);
        fclose(f);
        *ret_len = (size_t) size;
        return data;
}

#define ck_assert_double_near(a, b) ck_assert_msg(fabs((a) - (b)) < 1e-9, "%f != %f", (double) (a), (double) (b))

START_TEST(test_psi_fixtures) {
        DmabufPsi psi;
        char err[256] = "", *buf;
        size_t len;

        buf = load("pressure-memory-idle.txt", &len);
        ck_assert_int_eq(dmabuf_psi_parse(buf, len, &psi, err, sizeof(err)), 0);
        ck_assert(psi.has_some && psi.has_full);
        ck_assert_double_near(psi.some.avg10, 0);
        free(buf);

        buf = load("pressure-memory-busy.txt", &len);
        ck_assert_int_eq(dmabuf_psi_parse(buf, len, &psi, err, sizeof(err)), 0);
        ck_assert(psi.has_some && psi.has_full);
        ck_assert_double_near(psi.some.avg10, 12.48);
        ck_assert_double_near(psi.some.avg60, 4.07);
        ck_assert_double_near(psi.some.avg300, 0.91);
        ck_assert_uint_eq(psi.some.total_us, 28641337);
        ck_assert_double_near(psi.full.avg10, 7.02);
        ck_assert_double_near(psi.full.avg300, 0.47);
        ck_assert_uint_eq(psi.full.total_us, 15502818);
        free(buf);

        buf = load("pressure-cpu-5.10.txt", &len);
        ck_assert_int_eq(dmabuf_psi_parse(buf, len, &psi, err, sizeof(err)), 0);
        ck_assert(psi.has_some && !psi.has_full);
        ck_assert_uint_eq(psi.some.total_us, 812);
        free(buf);

        /* A field a later kernel might add is skipped; no trailing newline is fine. */
        buf = strdup("some avg10=1.5 avg60=0.00 avg300=0.00 total=7 future=3");
        ck_assert_int_eq(dmabuf_psi_parse(buf, strlen(buf), &psi, err, sizeof(err)), 0);
        ck_assert_double_near(psi.some.avg10, 1.5);
        ck_assert_uint_eq(psi.some.total_us, 7);
        free(buf);
}
END_TEST

static const struct {
        const char *file, *text, *err;
} psi_bad[] = {
        { "pressure-bad-comma.txt", NULL, "line 2: an average is not a decimal number: \"full avg10=0,00" },
        { "pressure-bad-missing.txt", NULL, "line 1: avg10, avg60, avg300 or total is missing" },
        { "pressure-bad-kind.txt", NULL, "line 1: expected a \"some\" or \"full\" line: \"half avg10" },
        { NULL, "", "no \"some\" line" },
        { NULL, "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", "no \"some\" line" },
        { NULL, "some avg10=0.00 avg60=0.00 avg300=0.00 total=x\n", "line 1: total is not a number" },
        { NULL, "some avg10=0.00 avg10=0.00 avg60=0.00 avg300=0.00 total=1\n", "line 1: a field appears twice" },
        { NULL, "some avg10=1. avg60=0.00 avg300=0.00 total=1\n", "line 1: an average is not a decimal" },
        { NULL, "some avg10 avg60=0.00 avg300=0.00 total=1\n", "line 1: a field is not key=value" },
        { NULL, "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=1\n",
          "line 2: a second line of this kind" },
        { NULL, "some avg10=\x01.00 avg60=0.00 avg300=0.00 total=1\n", "\"some avg10=?.00" },
};

START_TEST(test_psi_bad) {
        const char *text = psi_bad[_i].text;
        char err[256] = "", *buf = NULL;
        DmabufPsi psi;
        size_t len;

        if (psi_bad[_i].file)
                text = buf = load(psi_bad[_i].file, &len);
        else
                len = strlen(text);
        ck_assert_int_eq(dmabuf_psi_parse(text, len, &psi, err, sizeof(err)), -EBADMSG);
        ck_assert_msg(strstr(err, psi_bad[_i].err), "case %d: \"%s\" lacks \"%s\"", _i, err, psi_bad[_i].err);
        free(buf);
}
END_TEST

START_TEST(test_meminfo_fixture) {
        DmabufMeminfo m = { 0 };
        const DmabufMeminfoEntry *e;
        char err[256] = "", *buf;
        size_t len;

        buf = load("meminfo-6.1.txt", &len);
        ck_assert_int_eq(dmabuf_meminfo_parse(buf, len, &m, err, sizeof(err)), 0);
        ck_assert_str_eq(err, "");
        ck_assert_uint_eq(m.n_entries, 54);
        ck_assert_uint_eq(m.n_bad, 0);
        ck_assert_uint_eq(m.first_bad_line, 0);
        /* The kernel's order is kept. */
        ck_assert_str_eq(m.entries[0].key, "MemTotal");
        ck_assert_str_eq(m.entries[1].key, "MemFree");
        ck_assert_str_eq(m.entries[53].key, "DirectMap1G");
        ck_assert(m.entries[0].in_kb);
        ck_assert_uint_eq(m.entries[0].value, 24684084);
        ck_assert_uint_eq(dmabuf_meminfo_entry_bytes(&m.entries[0]), UINT64_C(24684084) * 1024);

        e = dmabuf_meminfo_find(&m, "Active(anon)");
        ck_assert_ptr_nonnull(e);
        ck_assert(e->in_kb);
        e = dmabuf_meminfo_find(&m, "HugePages_Total");
        ck_assert_ptr_nonnull(e);
        ck_assert(!e->in_kb);
        ck_assert_uint_eq(dmabuf_meminfo_entry_bytes(e), 0);
        e = dmabuf_meminfo_find(&m, "VmallocTotal");
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(e->value, UINT64_C(34359738367));
        ck_assert_ptr_null(dmabuf_meminfo_find(&m, "Balloon"));
        dmabuf_meminfo_done(&m);
        free(buf);
}
END_TEST

static void meminfo_one(const char *text, int want_r, const char *want_err) {
        DmabufMeminfo m = { 0 };
        char err[256] = "";

        ck_assert_int_eq(dmabuf_meminfo_parse(text, strlen(text), &m, err, sizeof(err)), want_r);
        if (want_err)
                ck_assert_msg(strstr(err, want_err), "%s: \"%s\"", text, err);
        else
                ck_assert_str_eq(err, "");
        dmabuf_meminfo_done(&m);
}

START_TEST(test_meminfo_bad) {
        DmabufMeminfo m = { 0 };
        char err[256] = "", *buf;
        size_t len;

        /* Two bad lines among good ones: skipped, counted, the first one named. */
        buf = load("meminfo-bad-lines.txt", &len);
        ck_assert_int_eq(dmabuf_meminfo_parse(buf, len, &m, err, sizeof(err)), 2);
        ck_assert_uint_eq(m.n_entries, 52);
        ck_assert_uint_eq(m.n_bad, 2);
        ck_assert_uint_eq(m.first_bad_line, 3);
        ck_assert_str_eq(err, "line 3: value is not a number: \"MemAvailable:   lots kB\"");
        ck_assert_ptr_null(dmabuf_meminfo_find(&m, "MemAvailable"));
        ck_assert_ptr_nonnull(dmabuf_meminfo_find(&m, "Buffers"));
        ck_assert_str_eq(m.entries[5].key, "Inactive"); /* order kept across the gap */
        dmabuf_meminfo_done(&m);
        free(buf);

        /* Nothing parses: an error, *ret untouched. */
        m.n_entries = 77;
        ck_assert_int_eq(dmabuf_meminfo_parse("", 0, &m, err, sizeof(err)), -EBADMSG);
        ck_assert_str_eq(err, "no lines");
        ck_assert_int_eq(dmabuf_meminfo_parse("garbage\n", 8, &m, err, sizeof(err)), -EBADMSG);
        ck_assert_str_eq(err, "line 1: no colon: \"garbage\"");
        ck_assert_uint_eq(m.n_entries, 77);

        /* One line at a time: what is bad and what is not. */
        meminfo_one("A: 1 kB\nB: 2 MB\n", 1, "line 2: trailing text after the value");
        meminfo_one("A: 1 kB\n: 2 kB\n", 1, "line 2: key empty or too long");
        meminfo_one("A: 1 kB\nB C: 2 kB\n", 1, "line 2: key holds a blank");
        meminfo_one("A: 1 kB\nB: 18014398509481984 kB\n", 1, "line 2: value too large");
        meminfo_one("A: 1 kB\nB: 18446744073709551616\n", 1, "line 2: value is not a number");
        meminfo_one("A: 1 kB\nB:\n", 1, "line 2: value is not a number");
        meminfo_one("A: 1 kB\n\nB: 2\n", 0, NULL);
        meminfo_one("A:1kB\n", -EBADMSG, "trailing text");
}
END_TEST

START_TEST(test_memory_events) {
        DmabufMemoryEvents ev;
        char err[256] = "", *buf;
        size_t len;

        buf = load("memory.events-6.1.txt", &len);
        ck_assert_int_eq(dmabuf_memory_events_parse(buf, len, &ev, err, sizeof(err)), 0);
        ck_assert_uint_eq(ev.max, 1532);
        ck_assert_uint_eq(ev.oom, 3);
        ck_assert_uint_eq(ev.oom_kill, 3);
        ck_assert(ev.has_oom_group_kill);
        ck_assert_uint_eq(ev.oom_group_kill, 0);
        free(buf);

        buf = load("memory.events-5.10.txt", &len);
        ck_assert_int_eq(dmabuf_memory_events_parse(buf, len, &ev, err, sizeof(err)), 0);
        ck_assert_uint_eq(ev.oom_kill, 1);
        ck_assert(!ev.has_oom_group_kill);
        free(buf);

        /* Keys a later kernel may add are ignored. */
        ck_assert_int_eq(dmabuf_memory_events_parse("sock_throttled 4\noom_kill 9\n", 28, &ev, err, sizeof(err)), 0);
        ck_assert_uint_eq(ev.oom_kill, 9);

        buf = load("memory.events-bad-no-oom-kill.txt", &len);
        ck_assert_int_eq(dmabuf_memory_events_parse(buf, len, &ev, err, sizeof(err)), -EBADMSG);
        ck_assert_str_eq(err, "no oom_kill line");
        free(buf);

        buf = load("memory.events-bad-value.txt", &len);
        ck_assert_int_eq(dmabuf_memory_events_parse(buf, len, &ev, err, sizeof(err)), -EBADMSG);
        ck_assert_str_eq(err, "line 5: expected \"key number\": \"oom_kill -1\"");
        free(buf);

        ck_assert_int_eq(dmabuf_memory_events_parse("oom_kill\n", 9, &ev, err, sizeof(err)), -EBADMSG);
        ck_assert_str_eq(err, "line 1: expected \"key number\": \"oom_kill\"");
        ck_assert_int_eq(dmabuf_memory_events_parse("", 0, &ev, NULL, 0), -EBADMSG);
}
END_TEST

static const struct {
        const char *in, *kernel;
        bool full;
        uint64_t threshold_us, window_us;
} trigger_good[] = {
        { "full 100ms 1s", "full 100000 1000000", true, 100000, 1000000 },
        { "some 150000 1000000", "some 150000 1000000", false, 150000, 1000000 },
        { "  some\t70ms   1s ", "some 70000 1000000", false, 70000, 1000000 },
        { "some 1us 500ms", "some 1 500000", false, 1, 500000 },
        { "full 10s 10s", "full 10000000 10000000", true, 10000000, 10000000 },
        { "full 500000us 2s", "full 500000 2000000", true, 500000, 2000000 },
};

START_TEST(test_trigger_good) {
        DmabufPsiTrigger t;
        char err[256] = "", kernel[DMABUF_PSI_TRIGGER_STRING_MAX];

        ck_assert_msg(dmabuf_psi_trigger_parse(trigger_good[_i].in, &t, err, sizeof(err)) == 0, "%s: %s",
                      trigger_good[_i].in, err);
        ck_assert(t.full == trigger_good[_i].full);
        ck_assert_uint_eq(t.threshold_us, trigger_good[_i].threshold_us);
        ck_assert_uint_eq(t.window_us, trigger_good[_i].window_us);
        ck_assert_int_eq(dmabuf_psi_trigger_format(&t, kernel, sizeof(kernel)),
                         (int) strlen(trigger_good[_i].kernel));
        ck_assert_str_eq(kernel, trigger_good[_i].kernel);
}
END_TEST

static const struct {
        const char *in, *err;
} trigger_bad[] = {
        { "", "psi trigger \"\": expected \"some|full THRESHOLD WINDOW\"" },
        { "full 100ms", "psi trigger \"full 100ms\": expected \"some|full THRESHOLD WINDOW\"" },
        { "full 100ms 1s 2s", "psi trigger \"full 100ms 1s 2s\": expected \"some|full THRESHOLD WINDOW\"" },
        { "half 100ms 1s", "psi trigger \"half 100ms 1s\": \"half\" is neither some nor full" },
        { "full 1.5ms 1s",
          "psi trigger \"full 1.5ms 1s\": threshold \"1.5ms\" is not a duration (an integer with an optional unit "
          "us, ms or s)" },
        { "full 100ms 1min",
          "psi trigger \"full 100ms 1min\": window \"1min\" is not a duration (an integer with an optional unit "
          "us, ms or s)" },
        { "full ms 1s", "threshold \"ms\" is not a duration" },
        { "full -1 1s", "threshold \"-1\" is not a duration" },
        { "full 100ms 499999us",
          "psi trigger \"full 100ms 499999us\": window \"499999us\" is not between 500ms and 10s" },
        { "full 100ms 11s", "window \"11s\" is not between 500ms and 10s" },
        { "full 100ms 99999999999999999999", "window \"99999999999999999999\" is not between 500ms and 10s" },
        { "full 100ms 18446744073709551615s", "window \"18446744073709551615s\" is not between 500ms and 10s" },
        { "some 0ms 1s", "psi trigger \"some 0ms 1s\": threshold \"0ms\" must be greater than 0" },
        { "some 2s 1s", "psi trigger \"some 2s 1s\": threshold \"2s\" is longer than the window \"1s\"" },
};

START_TEST(test_trigger_bad) {
        DmabufPsiTrigger t = { .threshold_us = 42 };
        char err[256] = "";

        ck_assert_int_eq(dmabuf_psi_trigger_parse(trigger_bad[_i].in, &t, err, sizeof(err)), -EINVAL);
        ck_assert_msg(strstr(err, trigger_bad[_i].err), "%s: \"%s\" lacks \"%s\"", trigger_bad[_i].in, err,
                      trigger_bad[_i].err);
        ck_assert_uint_eq(t.threshold_us, 42); /* untouched on failure */
        /* The error buffer may be absent. */
        ck_assert_int_eq(dmabuf_psi_trigger_parse(trigger_bad[_i].in, &t, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(test_trigger_format_limits) {
        char kernel[DMABUF_PSI_TRIGGER_STRING_MAX];
        DmabufPsiTrigger t = { .full = false, .threshold_us = 1, .window_us = 100000 };

        ck_assert_int_eq(dmabuf_psi_trigger_format(&t, kernel, sizeof(kernel)), -EINVAL);
        t.window_us = 1000000;
        t.threshold_us = 0;
        ck_assert_int_eq(dmabuf_psi_trigger_format(&t, kernel, sizeof(kernel)), -EINVAL);
        t.threshold_us = 1000001;
        ck_assert_int_eq(dmabuf_psi_trigger_format(&t, kernel, sizeof(kernel)), -EINVAL);
        /* The longest string fits the kernel's 32-byte buffer with its NUL. */
        t = (DmabufPsiTrigger){ .full = true, .threshold_us = 10000000, .window_us = 10000000 };
        ck_assert_int_lt(dmabuf_psi_trigger_format(&t, kernel, sizeof(kernel)), DMABUF_PSI_TRIGGER_STRING_MAX);
        ck_assert_int_eq(dmabuf_psi_trigger_format(&t, kernel, 8), -EINVAL);
}
END_TEST

static Suite *pressure_suite(void) {
        Suite *s = suite_create("pressure");
        TCase *tc = tcase_create("psi");

        tcase_add_test(tc, test_psi_fixtures);
        tcase_add_loop_test(tc, test_psi_bad, 0, (int) ELEMENTSOF(psi_bad));
        suite_add_tcase(s, tc);

        tc = tcase_create("meminfo");
        tcase_add_test(tc, test_meminfo_fixture);
        tcase_add_test(tc, test_meminfo_bad);
        suite_add_tcase(s, tc);

        tc = tcase_create("memory.events");
        tcase_add_test(tc, test_memory_events);
        suite_add_tcase(s, tc);

        tc = tcase_create("trigger");
        tcase_add_loop_test(tc, test_trigger_good, 0, (int) ELEMENTSOF(trigger_good));
        tcase_add_loop_test(tc, test_trigger_bad, 0, (int) ELEMENTSOF(trigger_bad));
        tcase_add_test(tc, test_trigger_format_limits);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run(pressure_suite());
}
