/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-scan.h"
#include "macro.h"

/* One byte at a time, so a chunk may end anywhere: in a string, an escape, a
 * UTF-8 sequence or a number. */
typedef enum State {
        STATE_VALUE,          /* a value must come */
        STATE_VALUE_OR_CLOSE, /* after '[': a value or ']' */
        STATE_NAME,           /* after ',' in an object: a member name */
        STATE_NAME_OR_CLOSE,  /* after '{': a member name or '}' */
        STATE_COLON,          /* after a member name */
        STATE_NEXT,           /* after a value in a container: ',' or its closer */
        STATE_DONE,           /* after the top-level value: white space only */
        STATE_STRING,
        STATE_ESCAPE,        /* after a backslash */
        STATE_HEX,           /* in the four digits of \uXXXX */
        STATE_LOW_BACKSLASH, /* after a high surrogate: its low one's "\" ... */
        STATE_LOW_U,         /* ... and "u" */
        STATE_UTF8,          /* in a multi-byte sequence */
        STATE_NUMBER,
        STATE_LITERAL,
} State;

/* Where a number is in RFC 8259's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
typedef enum NumberState {
        NUMBER_MINUS,
        NUMBER_ZERO,
        NUMBER_INT,
        NUMBER_POINT,
        NUMBER_FRACTION,
        NUMBER_E,
        NUMBER_E_SIGN,
        NUMBER_EXPONENT,
} NumberState;

struct JsonScanner {
        JsonScanFunc func;
        void *userdata;
        uint64_t offset;
        int result; /* the first failure, returned again from then on */
        char error[128];

        State state;
        unsigned depth;
        char open[JSON_SCAN_DEPTH_MAX]; /* '{' or '[' for each container open */
        char path[JSON_SCAN_PATH_MAX][JSON_SCAN_TEXT_MAX + 1];
        bool path_ok[JSON_SCAN_PATH_MAX];

        /* the string being scanned */
        bool is_name, keep;
        char text[JSON_SCAN_TEXT_MAX + 1];
        size_t len;
        unsigned utf8_left;             /* continuation bytes still to come */
        unsigned char utf8_lo, utf8_hi; /* the range of the next one */
        unsigned hex_digits;
        uint32_t hex, high_surrogate;

        NumberState number;
        const char *literal; /* "true", "false" or "null", and how far in */
        size_t literal_pos;
};

JsonScanner *json_scan_new(JsonScanFunc func, void *userdata) {
        JsonScanner *s = calloc(1, sizeof(JsonScanner));

        if (!s)
                return NULL;
        s->func = func;
        s->userdata = userdata;
        return s;
}

JsonScanner *json_scan_free(JsonScanner *s) {
        free(s);
        return NULL;
}

uint64_t json_scan_offset(const JsonScanner *s) {
        return s->offset;
}

const char *json_scan_error(const JsonScanner *s) {
        return s->error;
}

_printf_(2, 3) static int fail(JsonScanner *s, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(s->error, sizeof(s->error), fmt, ap);
        va_end(ap);
        return s->result = -EBADMSG;
}

/* "'x'", or "byte 0x0a" for what would not print. */
static const char *describe(unsigned char c, char buf[static 16]) {
        if (c >= 0x20 && c < 0x7f)
                snprintf(buf, 16, "'%c'", c);
        else
                snprintf(buf, 16, "byte 0x%02x", c);
        return buf;
}

static bool is_space(unsigned char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int report(JsonScanner *s, JsonScanType type) {
        JsonScanValue v = { .type = type, .depth = s->depth };
        int r;

        if (!s->func || s->depth > JSON_SCAN_PATH_MAX)
                return 0;
        for (unsigned i = 0; i < s->depth; i++)
                v.path[i] = s->path_ok[i] ? s->path[i] : NULL;
        if (type == JSON_SCAN_STRING) {
                v.text = s->text;
                v.len = s->len;
        }
        r = s->func(&v, s->userdata);
        if (r < 0)
                s->result = r;
        return r;
}

static void value_end(JsonScanner *s) {
        s->state = s->depth == 0 ? STATE_DONE : STATE_NEXT;
}

static int scalar_end(JsonScanner *s, JsonScanType type) {
        int r = report(s, type);

        if (r < 0)
                return r;
        value_end(s);
        return 0;
}

/* Decoded bytes are kept only for strings that are reported and for names. */
static void append(JsonScanner *s, const void *p, size_t n) {
        if (!s->keep)
                return;
        if (s->len < JSON_SCAN_TEXT_MAX)
                memcpy(s->text + s->len, p, MIN(n, JSON_SCAN_TEXT_MAX - s->len));
        s->len += n;
}

static void append_code_point(JsonScanner *s, uint32_t cp) {
        unsigned char b[4];
        size_t n;

        if (cp < 0x80) {
                b[0] = (unsigned char) cp;
                n = 1;
        } else if (cp < 0x800) {
                b[0] = (unsigned char) (0xc0 | cp >> 6);
                b[1] = (unsigned char) (0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                b[0] = (unsigned char) (0xe0 | cp >> 12);
                b[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
                b[2] = (unsigned char) (0x80 | (cp & 0x3f));
                n = 3;
        } else {
                b[0] = (unsigned char) (0xf0 | cp >> 18);
                b[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
                b[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
                b[3] = (unsigned char) (0x80 | (cp & 0x3f));
                n = 4;
        }
        append(s, b, n);
}

static void string_begin(JsonScanner *s, bool is_name) {
        s->state = STATE_STRING;
        s->is_name = is_name;
        s->keep = s->func && s->depth <= JSON_SCAN_PATH_MAX;
        s->len = 0;
}

static int string_end(JsonScanner *s) {
        s->text[MIN(s->len, JSON_SCAN_TEXT_MAX)] = '\0';
        if (!s->is_name)
                return scalar_end(s, JSON_SCAN_STRING);
        if (s->keep) {
                unsigned i = s->depth - 1;

                s->path_ok[i] = s->len <= JSON_SCAN_TEXT_MAX && !memchr(s->text, '\0', s->len);
                memcpy(s->path[i], s->text, sizeof(s->path[i]));
        }
        s->state = STATE_COLON;
        return 0;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_begin(JsonScanner *s, unsigned char c) {
        s->utf8_lo = 0x80;
        s->utf8_hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
                s->utf8_left = 1;
        else if (c >= 0xe0 && c <= 0xef) {
                s->utf8_left = 2;
                if (c == 0xe0)
                        s->utf8_lo = 0xa0;
                else if (c == 0xed)
                        s->utf8_hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                s->utf8_left = 3;
                if (c == 0xf0)
                        s->utf8_lo = 0x90;
                else if (c == 0xf4)
                        s->utf8_hi = 0x8f;
        } else
                return fail(s, "invalid UTF-8 in a string: byte 0x%02x", c);
        append(s, &c, 1);
        s->state = STATE_UTF8;
        return 0;
}

static int string_byte(JsonScanner *s, unsigned char c) {
        char d[16];

        switch (s->state) {
        case STATE_STRING:
                if (c == '"')
                        return string_end(s);
                if (c == '\\')
                        s->state = STATE_ESCAPE;
                else if (c < 0x20)
                        return fail(s, "%s in a string: control characters must be escaped", describe(c, d));
                else if (c >= 0x80)
                        return utf8_begin(s, c);
                else
                        append(s, &c, 1);
                return 0;

        case STATE_UTF8:
                if (c < s->utf8_lo || c > s->utf8_hi)
                        return fail(s, "invalid UTF-8 in a string: byte 0x%02x", c);
                append(s, &c, 1);
                s->utf8_lo = 0x80;
                s->utf8_hi = 0xbf;
                if (--s->utf8_left == 0)
                        s->state = STATE_STRING;
                return 0;

        case STATE_ESCAPE: {
                static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
                const char *p = c ? strchr(from, c) : NULL;

                if (c == 'u') {
                        s->state = STATE_HEX;
                        s->hex_digits = 0;
                        s->hex = 0;
                } else if (p) {
                        append(s, &to[p - from], 1);
                        s->state = STATE_STRING;
                } else
                        return fail(s, "invalid escape in a string: %s after a backslash", describe(c, d));
                return 0;
        }

        case STATE_HEX: {
                uint32_t v;

                if (c >= '0' && c <= '9')
                        v = c - '0';
                else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                        v = (c | 0x20) - 'a' + 10;
                else
                        return fail(s, "invalid \\u escape in a string: %s is not a hex digit", describe(c, d));
                s->hex = s->hex << 4 | v;
                if (++s->hex_digits < 4)
                        return 0;
                if (s->high_surrogate) {
                        if (s->hex < 0xdc00 || s->hex > 0xdfff)
                                return fail(s, "unpaired surrogate \\u%04X in a string", s->high_surrogate);
                        append_code_point(s, 0x10000 + ((s->high_surrogate - 0xd800) << 10) + (s->hex - 0xdc00));
                        s->high_surrogate = 0;
                } else if (s->hex >= 0xd800 && s->hex <= 0xdbff) {
                        s->high_surrogate = s->hex;
                        s->state = STATE_LOW_BACKSLASH;
                        return 0;
                } else if (s->hex >= 0xdc00 && s->hex <= 0xdfff)
                        return fail(s, "unpaired surrogate \\u%04X in a string", s->hex);
                else
                        append_code_point(s, s->hex);
                s->state = STATE_STRING;
                return 0;
        }

        case STATE_LOW_BACKSLASH:
        case STATE_LOW_U:
                if (c != (s->state == STATE_LOW_BACKSLASH ? '\\' : 'u'))
                        return fail(s, "unpaired surrogate \\u%04X in a string", s->high_surrogate);
                s->state = s->state == STATE_LOW_BACKSLASH ? STATE_LOW_U : STATE_HEX;
                s->hex_digits = 0;
                s->hex = 0;
                return 0;

        default:
                return -EINVAL; /* not reached */
        }
}

static bool number_is_complete(NumberState n) {
        return n == NUMBER_ZERO || n == NUMBER_INT || n == NUMBER_FRACTION || n == NUMBER_EXPONENT;
}

/* Returns 1 when c ended the number and must be scanned again as what follows it. */
static int number_byte(JsonScanner *s, unsigned char c) {
        NumberState n = s->number, next;
        char d[16];

        if (c >= '0' && c <= '9') {
                if (n == NUMBER_ZERO)
                        return fail(s, "invalid number: a digit after a leading 0");
                next = n == NUMBER_MINUS                       ? (c == '0' ? NUMBER_ZERO : NUMBER_INT)
                       : n == NUMBER_POINT                     ? NUMBER_FRACTION
                       : n == NUMBER_E || n == NUMBER_E_SIGN ? NUMBER_EXPONENT
                                                               : n;
        } else if (c == '.' && (n == NUMBER_ZERO || n == NUMBER_INT))
                next = NUMBER_POINT;
        else if ((c == 'e' || c == 'E') && (n == NUMBER_ZERO || n == NUMBER_INT || n == NUMBER_FRACTION))
                next = NUMBER_E;
        else if ((c == '+' || c == '-') && n == NUMBER_E)
                next = NUMBER_E_SIGN;
        else if (memchr(".eE+-", c, 5))
                return fail(s, "invalid number: unexpected %s", describe(c, d));
        else if (!number_is_complete(n))
                return fail(s, "invalid number: expected a digit, found %s", describe(c, d));
        else {
                int r = scalar_end(s, JSON_SCAN_NUMBER);
                return r < 0 ? r : 1;
        }
        s->number = next;
        return 0;
}

static int container_open(JsonScanner *s, char c) {
        int r = report(s, c == '{' ? JSON_SCAN_OBJECT : JSON_SCAN_ARRAY);

        if (r < 0)
                return r;
        if (s->depth >= JSON_SCAN_DEPTH_MAX)
                return fail(s, "nested deeper than %u levels", JSON_SCAN_DEPTH_MAX);
        s->open[s->depth++] = c;
        s->state = c == '{' ? STATE_NAME_OR_CLOSE : STATE_VALUE_OR_CLOSE;
        return 0;
}

static void container_close(JsonScanner *s) {
        s->depth--;
        value_end(s);
}

static int value_begin(JsonScanner *s, unsigned char c) {
        static const char *const literals[] = { "true", "false", "null" };
        char d[16];

        /* An element has no name. */
        if (s->depth >= 1 && s->depth <= JSON_SCAN_PATH_MAX && s->open[s->depth - 1] == '[')
                s->path_ok[s->depth - 1] = false;
        if (c == '{' || c == '[')
                return container_open(s, (char) c);
        if (c == '"') {
                string_begin(s, false);
                return 0;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
                s->state = STATE_NUMBER;
                s->number = c == '-' ? NUMBER_MINUS : c == '0' ? NUMBER_ZERO : NUMBER_INT;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(literals); i++)
                if (c == literals[i][0]) {
                        s->state = STATE_LITERAL;
                        s->literal = literals[i];
                        s->literal_pos = 1;
                        return 0;
                }
        return fail(s, "expected a value, found %s", describe(c, d));
}

/* Returns 0 when c was consumed, 1 when it must be scanned again, or -errno. */
static int scan_byte(JsonScanner *s, unsigned char c) {
        char d[16];

        switch (s->state) {
        case STATE_VALUE_OR_CLOSE:
        case STATE_VALUE:
                if (is_space(c))
                        return 0;
                if (c == ']' && s->state == STATE_VALUE_OR_CLOSE) {
                        container_close(s);
                        return 0;
                }
                return value_begin(s, c);

        case STATE_NAME_OR_CLOSE:
        case STATE_NAME:
                if (is_space(c))
                        return 0;
                if (c == '}' && s->state == STATE_NAME_OR_CLOSE) {
                        container_close(s);
                        return 0;
                }
                if (c != '"')
                        return fail(s, "expected a member name in quotes, found %s", describe(c, d));
                string_begin(s, true);
                return 0;

        case STATE_COLON:
                if (is_space(c))
                        return 0;
                if (c != ':')
                        return fail(s, "expected ':' after a member name, found %s", describe(c, d));
                s->state = STATE_VALUE;
                return 0;

        case STATE_NEXT: {
                char closer = s->open[s->depth - 1] == '{' ? '}' : ']';

                if (is_space(c))
                        return 0;
                if (c == ',')
                        s->state = closer == '}' ? STATE_NAME : STATE_VALUE;
                else if (c == closer)
                        container_close(s);
                else
                        return fail(s, "expected ',' or '%c', found %s", closer, describe(c, d));
                return 0;
        }

        case STATE_DONE:
                if (is_space(c))
                        return 0;
                return fail(s, "trailing data after the top-level value: %s", describe(c, d));

        case STATE_STRING:
        case STATE_ESCAPE:
        case STATE_HEX:
        case STATE_LOW_BACKSLASH:
        case STATE_LOW_U:
        case STATE_UTF8:
                return string_byte(s, c);

        case STATE_NUMBER:
                return number_byte(s, c);

        case STATE_LITERAL:
                if (c != (unsigned char) s->literal[s->literal_pos])
                        return fail(s, "expected \"%s\", found %s", s->literal, describe(c, d));
                if (s->literal[++s->literal_pos] != '\0')
                        return 0;
                return scalar_end(s, s->literal[0] == 'n' ? JSON_SCAN_NULL : JSON_SCAN_BOOLEAN);
        }
        return -EINVAL; /* not reached */
}

int json_scan_feed(JsonScanner *s, const void *buf, size_t n) {
        const unsigned char *p = buf;
        size_t i = 0;

        while (s->result >= 0 && i < n) {
                int r;

                /* The bulk of a snapshot: plain bytes in strings nobody keeps. */
                if (s->state == STATE_STRING && !s->keep) {
                        size_t start = i;

                        while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
                                i++;
                        s->offset += i - start;
                        if (i == n)
                                break;
                }
                r = scan_byte(s, p[i]);
                if (r < 0)
                        return s->result = r;
                if (r == 0) {
                        i++;
                        s->offset++;
                }
        }
        return s->result;
}

int json_scan_finish(JsonScanner *s) {
        if (s->result < 0)
                return s->result;
        if (s->state == STATE_NUMBER && s->depth == 0 && number_is_complete(s->number) &&
            scalar_end(s, JSON_SCAN_NUMBER) < 0)
                return s->result;
        switch (s->state) {
        case STATE_DONE:
                return 0;
        case STATE_VALUE:
                if (s->depth == 0)
                        return fail(s, "no value, the input is empty or white space");
                break;
        case STATE_STRING:
        case STATE_ESCAPE:
        case STATE_HEX:
        case STATE_LOW_BACKSLASH:
        case STATE_LOW_U:
        case STATE_UTF8:
                return fail(s, "the input ends inside a string");
        case STATE_NUMBER:
                return fail(s, "the input ends inside a number");
        case STATE_LITERAL:
                return fail(s, "the input ends inside \"%s\"", s->literal);
        default:
                break;
        }
        return fail(s, "the input ends with %u object%s or array%s open", s->depth, s->depth == 1 ? "" : "s",
                    s->depth == 1 ? "" : "s");
}
