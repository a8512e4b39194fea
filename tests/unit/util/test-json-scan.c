/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdbool.h>

#include "json-scan.h"
#include "macro.h"
#include "test-util.h"

/* Scans text whole, or one byte per call when split: a chunk may end anywhere,
 * so both must give the same answer. Returns what feed or finish returned. */
static int scan(const char *text, size_t len, bool split, JsonScanFunc func, void *userdata, char *err,
                size_t err_len, uint64_t *ret_offset) {
        JsonScanner *s = json_scan_new(func, userdata);
        int r = 0;

        ck_assert_ptr_nonnull(s);
        if (split)
                for (size_t i = 0; i < len && r >= 0; i++)
                        r = json_scan_feed(s, text + i, 1);
        else
                r = json_scan_feed(s, text, len);
        if (r >= 0)
                r = json_scan_finish(s);
        snprintf(err, err_len, "%s", json_scan_error(s));
        *ret_offset = json_scan_offset(s);
        json_scan_free(s);
        return r;
}

static const char *const good[] = {
        "{}",
        "[]",
        " \t\r\n{ \"a\" : [ 1 , -0 , 0.5 , -12.25e+3 , 1E-2 , 10e5 , true , false , null ] , \"b\" : {} } \n",
        "\"\"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"",
        "\"plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
        "0",
        "-0.0e0",
        "123456789012345678901234567890",
        "true",
        "null",
        "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
        "{\"\":\"\",\"a\\u0000b\":[{},[],\"x\"]}",
};

START_TEST(test_good) {
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                for (int split = 0; split <= 1; split++) {
                        char err[128];
                        uint64_t off;
                        int r = scan(good[i], strlen(good[i]), split, NULL, NULL, err, sizeof(err), &off);

                        ck_assert_msg(r == 0, "%s (split %d): %d %s at %" PRIu64, good[i], split, r, err, off);
                        ck_assert_uint_eq(off, strlen(good[i]));
                }
}
END_TEST

typedef struct BadCase {
        const char *text;
        const char *err;
        uint64_t offset;
} BadCase;

static const BadCase bad[] = {
        /* syntax */
        { "", "no value", 0 },
        { "  \n", "no value", 3 },
        { "{\"a\":1,}", "expected a member name in quotes, found '}'", 7 },
        { "[1,]", "expected a value, found ']'", 3 },
        { "[1 2]", "expected ',' or ']', found '2'", 3 },
        { "{\"a\" 1}", "expected ':' after a member name, found '1'", 5 },
        { "{\"a\":1]", "expected ',' or '}', found ']'", 6 },
        { "{a:1}", "expected a member name in quotes, found 'a'", 1 },
        { "{\"a\":1} x", "trailing data after the top-level value: 'x'", 8 },
        { "{}{}", "trailing data", 2 },
        { "{} \x01", "trailing data after the top-level value: byte 0x01", 3 },
        { "/* c */ {}", "expected a value, found '/'", 0 },
        { "[tru]", "expected \"true\", found ']'", 4 },
        { "nul", "the input ends inside \"null\"", 3 },
        { "[NaN]", "expected a value, found 'N'", 1 },
        /* numbers */
        { "[01]", "invalid number: a digit after a leading 0", 2 },
        { "[-]", "invalid number: expected a digit, found ']'", 2 },
        { "[1.]", "invalid number: expected a digit, found ']'", 3 },
        { "[.5]", "expected a value, found '.'", 1 },
        { "[+1]", "expected a value, found '+'", 1 },
        { "[1e]", "invalid number: expected a digit, found ']'", 3 },
        { "[1e+]", "invalid number: expected a digit, found ']'", 4 },
        { "[1.5.2]", "invalid number: unexpected '.'", 4 },
        { "[1e5e2]", "invalid number: unexpected 'e'", 4 },
        { "[--1]", "invalid number: unexpected '-'", 2 },
        { "[0x10]", "expected ',' or ']', found 'x'", 2 },
        /* strings */
        { "[\"a\\x\"]", "invalid escape in a string: 'x' after a backslash", 4 },
        { "[\"\\u12g4\"]", "invalid \\u escape in a string: 'g' is not a hex digit", 6 },
        { "[\"\\ud83d\"]", "unpaired surrogate \\uD83D in a string", 8 },
        { "[\"\\ud83d\\u0041\"]", "unpaired surrogate \\uD83D in a string", 13 },
        { "[\"\\ude00\"]", "unpaired surrogate \\uDE00 in a string", 7 },
        { "[\"a\nb\"]", "byte 0x0a in a string: control characters must be escaped", 3 },
        { "[\"\xff\"]", "invalid UTF-8 in a string: byte 0xff", 2 },
        { "[\"\xc0\xaf\"]", "invalid UTF-8 in a string: byte 0xc0", 2 },   /* overlong '/' */
        { "[\"\xe0\x80\xaf\"]", "invalid UTF-8 in a string: byte 0x80", 3 }, /* overlong */
        { "[\"\xed\xa0\x80\"]", "invalid UTF-8 in a string: byte 0xa0", 3 }, /* a surrogate */
        { "[\"\xf4\x90\x80\x80\"]", "invalid UTF-8 in a string: byte 0x90", 3 }, /* > U+10FFFF */
        { "[\"\xc3\"]", "invalid UTF-8 in a string: byte 0x22", 3 },       /* cut short */
        /* truncated */
        { "{\"a\":\"abc", "the input ends inside a string", 9 },
        { "{\"a\":\"abc\\", "the input ends inside a string", 10 },
        { "{\"a\":\"\\u00", "the input ends inside a string", 10 },
        { "{\"a\":\"\xc3", "the input ends inside a string", 7 },
        { "[12", "the input ends inside a number", 3 },
        { "-", "the input ends inside a number", 1 },
        { "1e", "the input ends inside a number", 2 },
        { "{\"a\":[{\"b\":1}", "the input ends with 2 objects or arrays open", 13 },
        { "{\"a\"", "the input ends with 1 object or array open", 4 },
};

START_TEST(test_bad) {
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                for (int split = 0; split <= 1; split++) {
                        const BadCase *c = &bad[i];
                        char err[128];
                        uint64_t off;
                        int r = scan(c->text, strlen(c->text), split, NULL, NULL, err, sizeof(err), &off);

                        ck_assert_msg(r == -EBADMSG, "%s (split %d): %d", c->text, split, r);
                        ck_assert_msg(strstr(err, c->err), "%s (split %d): \"%s\" lacks \"%s\"", c->text, split, err,
                                      c->err);
                        ck_assert_msg(off == c->offset, "%s (split %d): at %" PRIu64 ", expected %" PRIu64, c->text,
                                      split, off, c->offset);
                }
}
END_TEST

/* Every prefix of a document is refused at its end, never accepted. */
START_TEST(test_truncated_everywhere) {
        const char *doc = "{\"schema\":\"s\",\"a\":[1,-2.5e3,true,null,{\"k\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\"}],\"b\":{}}";
        size_t len = strlen(doc);

        for (size_t n = 0; n < len; n++) {
                char err[128];
                uint64_t off;

                ck_assert_msg(scan(doc, n, false, NULL, NULL, err, sizeof(err), &off) == -EBADMSG, "prefix %zu", n);
                ck_assert_uint_eq(off, n);
        }
}
END_TEST

START_TEST(test_depth) {
        char text[2 * JSON_SCAN_DEPTH_MAX + 3], err[128];
        uint64_t off;

        /* JSON_SCAN_DEPTH_MAX open at once is fine, one more is not. */
        memset(text, '[', JSON_SCAN_DEPTH_MAX);
        memset(text + JSON_SCAN_DEPTH_MAX, ']', JSON_SCAN_DEPTH_MAX);
        ck_assert_int_eq(scan(text, 2 * JSON_SCAN_DEPTH_MAX, false, NULL, NULL, err, sizeof(err), &off), 0);
        memset(text, '[', JSON_SCAN_DEPTH_MAX + 1);
        memset(text + JSON_SCAN_DEPTH_MAX + 1, ']', JSON_SCAN_DEPTH_MAX + 1);
        ck_assert_int_eq(scan(text, 2 * JSON_SCAN_DEPTH_MAX + 2, false, NULL, NULL, err, sizeof(err), &off),
                         -EBADMSG);
        ck_assert_str_eq(err, "nested deeper than 64 levels");
        ck_assert_uint_eq(off, JSON_SCAN_DEPTH_MAX);
}
END_TEST

/* What a callback sees, one line per value. */
typedef struct Record {
        char log[2048];
        int fail_at; /* return -ECANCELED on this call (1-based), 0: never */
        int calls;
} Record;

static int record(const JsonScanValue *v, void *userdata) {
        static const char *const types[] = { "null", "boolean", "number", "string", "object", "array" };
        Record *rec = userdata;
        size_t n = strlen(rec->log);

        n += (size_t) snprintf(rec->log + n, sizeof(rec->log) - n, "%u %s", v->depth, types[v->type]);
        for (unsigned i = 0; i < v->depth; i++)
                n += (size_t) snprintf(rec->log + n, sizeof(rec->log) - n, " %s", v->path[i] ? v->path[i] : "-");
        if (v->type == JSON_SCAN_STRING) {
                ck_assert_uint_eq(strlen(v->text), MIN(v->len, JSON_SCAN_TEXT_MAX));
                n += (size_t) snprintf(rec->log + n, sizeof(rec->log) - n, " =%s (%zu)", v->text, v->len);
        }
        snprintf(rec->log + n, sizeof(rec->log) - n, "\n");
        return ++rec->calls == rec->fail_at ? -ECANCELED : 0;
}

START_TEST(test_reported) {
        static const char doc[] =
                "{\"schema\":\"a\\u00e9\\ud83d\\ude00\\n\",\"n\":-1.5,\"t\":{\"kind\":\"psi\",\"deep\":{\"x\":\"no\"},"
                "\"l\":[\"no\"]},\"arr\":[\"e\",{\"in\":1}],"
                "\"0123456789012345678901234567890123456789012345678901234567890123\":\"long name\","
                "\"nul\\u0000\":null,\"long\":\"0123456789012345678901234567890123456789012345678901234567890123456789\","
                "\"b\":false}";
        static const char want[] =
                "0 object\n"
                "1 string schema =a\xc3\xa9\xf0\x9f\x98\x80\n (8)\n"
                "1 number n\n"
                "1 object t\n"
                "2 string t kind =psi (3)\n"
                "2 object t deep\n"
                "2 array t l\n"
                "1 array arr\n"
                "2 string arr - =e (1)\n"
                "2 object arr -\n"
                "1 string - =long name (9)\n"
                "1 null -\n"
                "1 string long =012345678901234567890123456789012345678901234567890123456789012 (70)\n"
                "1 boolean b\n";

        for (int split = 0; split <= 1; split++) {
                Record rec = {};
                char err[128];
                uint64_t off;

                ck_assert_int_eq(scan(doc, strlen(doc), split, record, &rec, err, sizeof(err), &off), 0);
                ck_assert_str_eq(rec.log, want);
        }
}
END_TEST

/* A callback's error stops the scan where it was and sticks. */
START_TEST(test_callback_stops) {
        static const char doc[] = "{\"a\":1,\"b\":\"x\",\"c\":oops";
        Record rec = { .fail_at = 3 };
        JsonScanner *s = json_scan_new(record, &rec);

        ck_assert_int_eq(json_scan_feed(s, doc, strlen(doc)), -ECANCELED);
        ck_assert_int_eq(rec.calls, 3);
        ck_assert_uint_eq(json_scan_offset(s), 13); /* the closing quote of "x" */
        ck_assert_str_eq(json_scan_error(s), "");
        ck_assert_int_eq(json_scan_feed(s, "}", 1), -ECANCELED);
        ck_assert_int_eq(json_scan_finish(s), -ECANCELED);
        ck_assert_int_eq(rec.calls, 3);
        json_scan_free(s);
}
END_TEST

/* Agrees with json-c on what the daemon writes: json-c's output, with every
 * byte value in a string, scans. */
START_TEST(test_json_c_output) {
        json_object *o = json_object_new_object(), *a = json_object_new_array();
        char all[256];
        const char *text;
        char err[128];
        uint64_t off;

        for (int i = 1; i < 128; i++)
                all[i - 1] = (char) i;
        json_object_object_add(o, "ascii", json_object_new_string_len(all, 127));
        json_object_object_add(o, "utf8", json_object_new_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
        json_object_array_add(a, json_object_new_double(-1.25e-300));
        json_object_array_add(a, json_object_new_int64(INT64_MIN));
        json_object_array_add(a, json_object_new_uint64(UINT64_MAX));
        json_object_array_add(a, NULL);
        json_object_object_add(o, "numbers", a);
        for (int flags = 0; flags <= 1; flags++) {
                text = json_object_to_json_string_ext(o, flags ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN);
                ck_assert_msg(scan(text, strlen(text), false, NULL, NULL, err, sizeof(err), &off) == 0, "%s: %s", text,
                              err);
        }
        json_object_put(o);
}
END_TEST

int main(void) {
        Suite *s = suite_create("json-scan");
        TCase *tc = tcase_create("scan");

        tcase_add_test(tc, test_good);
        tcase_add_test(tc, test_bad);
        tcase_add_test(tc, test_truncated_everywhere);
        tcase_add_test(tc, test_depth);
        tcase_add_test(tc, test_reported);
        tcase_add_test(tc, test_callback_stops);
        tcase_add_test(tc, test_json_c_output);
        suite_add_tcase(s, tc);
        return tu_run(s);
}
