/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "macro.h"
#include "state-json.h"
#include "strbuf.h"
#include "string-util.h"

struct DmabufdHttp {
        struct MHD_Daemon **daemons;
        size_t n_daemons;
        const DmabufdHttpOps *ops;
        void *userdata;
        DmabufdSnapshotStore *store;
        pthread_mutex_t settings_lock; /* the daemon thread may change them on reload */
        DmabufdHttpSettings settings;
};

#define SNAPSHOTS_PATH "/api/v1/snapshots"
/* No endpoint reads a request body; a small one is read and dropped, so that a
 * client sending "{}" with its POST still works, and a larger one refused. */
#define BODY_MAX 4096
#define CONNECTION_MEMORY (16 * 1024)

/* The page's own files only: no inline script or style, nothing from another
 * origin, no framing, no forms. A buffer name that became markup somewhere
 * would still run nothing. */
#define PAGE_CSP                                                                                                   \
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "            \
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp,
                             const char *content_type) {
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_copy(struct MHD_Connection *c, unsigned status, const char *content_type,
                                    const char *body, size_t len) {
        return queue(c, status, MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY),
                     content_type);
}

_printf_(5, 0) static enum MHD_Result respond_error_va(struct MHD_Connection *c, unsigned status,
                                                       const char *header, const char *value, const char *fmt,
                                                       va_list ap) {
        char msg[512];
        json_object *o;
        enum MHD_Result ret;
        struct MHD_Response *resp;
        const char *body;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        o = json_object_new_object();
        json_object_object_add(o, "error", dmabuf_json_string(msg, strlen(msg)));
        body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        resp = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
        json_object_put(o);
        if (!resp)
                return MHD_NO;
        if (header)
                MHD_add_response_header(resp, header, value);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* allow: the Allow header of a 405, else NULL. */
_printf_(4, 5) static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *allow,
                                                    const char *fmt, ...) {
        enum MHD_Result ret;
        va_list ap;

        va_start(ap, fmt);
        ret = respond_error_va(c, status, allow ? MHD_HTTP_HEADER_ALLOW : NULL, allow, fmt, ap);
        va_end(ap);
        return ret;
}

_printf_(5, 6) static enum MHD_Result respond_error_header(struct MHD_Connection *c, unsigned status,
                                                           const char *header, const char *value,
                                                           const char *fmt, ...) {
        enum MHD_Result ret;
        va_list ap;

        va_start(ap, fmt);
        ret = respond_error_va(c, status, header, value, fmt, ap);
        va_end(ap);
        return ret;
}

static int render(const DmabufState *s, DmabufRenderKind kind, char **ret, size_t *ret_len, void *userdata) {
        DmabufdHttp *h = userdata;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        DmabufPromOptions opts;
        int r;

        pthread_mutex_lock(&h->settings_lock);
        opts = h->settings.prom;
        pthread_mutex_unlock(&h->settings_lock);

        r = dmabuf_prom_write_collection(&sb, s, &opts,
                                         kind == DMABUF_RENDER_PROM_OPENMETRICS ? DMABUF_PROM_OPENMETRICS
                                                                                : DMABUF_PROM_TEXT);
        if (r < 0)
                return r;
        return strbuf_steal(&sb, ret, ret_len);
}

/* The collection's families come from the state's cache; the source states and
 * event counters after them are rendered now, since they change in between. */
static enum MHD_Result respond_metrics(DmabufdHttp *h, struct MHD_Connection *c, DmabufPromFormat f) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_state_ DmabufState *s = h->ops->get_state(h->userdata);
        DmabufPromLive live;
        const char *data;
        char *body;
        size_t len, body_len;
        int r;

        if (!s)
                return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "no collection has completed yet");
        r = dmabuf_state_render_cached(s,
                                       f == DMABUF_PROM_OPENMETRICS ? DMABUF_RENDER_PROM_OPENMETRICS
                                                                    : DMABUF_RENDER_PROM_TEXT,
                                       render, h, &data, &len);
        if (r < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "rendering failed: %s", strerror(-r));
        h->ops->get_live(h->userdata, &live);
        strbuf_reserve(&sb, len + 4096);
        strbuf_append(&sb, data, len);
        r = dmabuf_prom_write_daemon(&sb, s, &live, f);
        if (r >= 0)
                r = strbuf_steal(&sb, &body, &body_len);
        if (r < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "rendering failed: %s", strerror(-r));
        return queue(c, MHD_HTTP_OK, MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_MUST_FREE),
                     dmabuf_prom_content_type(f));
}

typedef struct JsonStream {
        DmabufState *state;
        DmabufJsonCursor *cursor;
} JsonStream;

static ssize_t json_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        JsonStream *js = cls;
        ssize_t n = dmabuf_json_cursor_read(js->cursor, buf, max);

        if (n < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
        return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void json_stream_free(void *cls) {
        JsonStream *js = cls;

        dmabuf_json_cursor_free(js->cursor);
        dmabuf_state_unref(js->state);
        free(js);
}

/* The state's JSON is written as the client reads it, one batch of elements at a
 * time, holding a reference to the state until the response is done. */
static enum MHD_Result respond_json_state(DmabufdHttp *h, struct MHD_Connection *c) {
        JsonStream *js;
        struct MHD_Response *resp;

        js = calloc(1, sizeof(JsonStream));
        if (!js)
                return MHD_NO;
        js->state = h->ops->get_state(h->userdata);
        if (!js->state) {
                free(js);
                return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "no collection has completed yet");
        }
        js->cursor = dmabuf_json_cursor_new(js->state);
        if (!js->cursor) {
                json_stream_free(js);
                return MHD_NO;
        }
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, json_stream_read, js, json_stream_free);
        if (!resp) {
                json_stream_free(js);
                return MHD_NO;
        }
        return queue(c, MHD_HTTP_OK, resp, "application/json");
}

typedef struct HistoryArgs {
        DmabufHistoryQuery query;
        bool seen_points, seen_since;
        char error[256]; /* the first bad parameter, "" if none */
} HistoryArgs;

static enum MHD_Result on_history_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        HistoryArgs *a = cls;
        bool *seen = streq(key, "points") ? &a->seen_points : streq(key, "since") ? &a->seen_since : NULL;

        if (seen && *seen) {
                snprintf(a->error, sizeof(a->error), "parameter %s given twice", key);
                return MHD_NO;
        }
        if (dmabuf_history_query_parse(&a->query, key, value, a->error, sizeof(a->error)) < 0)
                return MHD_NO;
        *seen = true;
        return MHD_YES;
}

static enum MHD_Result respond_history(DmabufdHttp *h, struct MHD_Connection *c) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        HistoryArgs args = {};
        char *body;
        size_t len;
        int r;

        (void) MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_history_arg, &args);
        if (args.error[0])
                return respond_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s", args.error);
        r = h->ops->write_history(h->userdata, &args.query, &sb);
        if (r >= 0)
                r = strbuf_steal(&sb, &body, &len);
        if (r < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "rendering failed: %s", strerror(-r));
        return queue(c, MHD_HTTP_OK, MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE),
                     "application/json");
}

static const DmabufdAsset *asset_find(const char *url) {
        for (const DmabufdAsset *a = dmabufd_assets; a->url; a++)
                if (streq(a->url, url))
                        return a;
        return NULL;
}

static enum MHD_Result respond_asset(struct MHD_Connection *c, const char *url) {
        const DmabufdAsset *a = asset_find(url);
        struct MHD_Response *resp;

        if (!a)
                return respond_error(c, MHD_HTTP_NOT_FOUND, NULL, "not found: %s", url);
        /* Built into the binary: served in place, never copied. */
        resp = MHD_create_response_from_buffer(a->size, (void *) a->data, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        return queue(c, MHD_HTTP_OK, resp, a->content_type);
}

static json_object *snapshot_summary(const DmabufdSnapshotInfo *info) {
        json_object *o = json_object_new_object(), *trigger = json_object_new_object();

        json_object_object_add(o, "id", json_object_new_string(info->id));
        json_object_object_add(o, "taken_at", json_object_new_string(info->taken_at));
        json_object_object_add(trigger, "kind", json_object_new_string(info->kind));
        json_object_object_add(o, "trigger", trigger);
        json_object_object_add(o, "bytes", json_object_new_uint64(info->bytes));
        return o;
}

static enum MHD_Result respond_json_object(struct MHD_Connection *c, unsigned status, json_object *o,
                                           const char *location) {
        const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);

        json_object_put(o);
        if (resp && location)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
        return queue(c, status, resp, "application/json");
}

static enum MHD_Result respond_snapshot_list(DmabufdHttp *h, struct MHD_Connection *c) {
        _cleanup_free_ DmabufdSnapshotInfo *list = NULL;
        json_object *a;
        size_t n = 0;
        int r;

        if (h->store) {
                r = dmabufd_snapshot_store_list(h->store, &list, &n);
                if (r < 0)
                        return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot list snapshots: %s",
                                             strerror(-r));
        }
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, snapshot_summary(&list[i]));
        return respond_json_object(c, MHD_HTTP_OK, a, NULL);
}

/* The id is checked before anything touches the file system: "..", "/" (which
 * "%2f" decodes to) and anything else outside the id alphabet never reach it. */
static enum MHD_Result respond_snapshot(DmabufdHttp *h, struct MHD_Connection *c, const char *id) {
        struct MHD_Response *resp;
        uint64_t size;
        int fd, r;

        if (!dmabufd_snapshot_id_is_valid(id))
                return respond_error(c, MHD_HTTP_BAD_REQUEST, NULL, "invalid snapshot id");
        if (!h->store)
                return respond_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such snapshot: %s", id);
        r = dmabufd_snapshot_store_open_snapshot(h->store, id, &fd, &size);
        if (r == -EINVAL)
                return respond_error(c, MHD_HTTP_BAD_REQUEST, NULL, "invalid snapshot id");
        if (r == -ENOENT)
                return respond_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such snapshot: %s", id);
        if (r < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot open snapshot %s: %s", id,
                                     strerror(-r));
        resp = MHD_create_response_from_fd64(size, fd);
        if (!resp) {
                safe_close(fd);
                return MHD_NO;
        }
        return queue(c, MHD_HTTP_OK, resp, "application/json");
}

static bool is_loopback(const struct sockaddr *sa) {
        if (!sa)
                return false;
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) (const void *) sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr;
                return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        }
        return false;
}

static void format_address(const struct sockaddr *sa, char *buf, size_t len) {
        if (sa && sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, buf, (socklen_t) len);
        else if (sa && sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr, buf,
                          (socklen_t) len);
        else
                snprintf(buf, len, "unknown");
}

/* Taking a snapshot means a fresh collection and several MiB written and
 * fsynced: the daemon thread does it while this connection is suspended, and
 * the HTTP thread goes on serving everyone else. */
static enum MHD_Result start_snapshot(DmabufdHttp *h, struct MHD_Connection *c, void **req_cls) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        DmabufdSnapshotRequest *req;
        char addr[INET6_ADDRSTRLEN];
        bool any;
        int r;

        pthread_mutex_lock(&h->settings_lock);
        any = h->settings.snapshot_post_any;
        pthread_mutex_unlock(&h->settings_lock);
        format_address(sa, addr, sizeof(addr));
        if (!any && !is_loopback(sa))
                return respond_error(c, MHD_HTTP_FORBIDDEN, NULL,
                                     "snapshots may be requested from loopback only (snapshot_post = any allows %s)",
                                     addr);

        req = calloc(1, sizeof(DmabufdSnapshotRequest));
        if (!req)
                return MHD_NO;
        snprintf(req->origin, sizeof(req->origin), "http %s", addr);
        req->connection = c;
        *req_cls = req; /* freed when the request completes */
        /* Suspended before it is handed over, so the daemon thread can never
         * resume a connection that is not suspended yet. */
        MHD_suspend_connection(c);
        r = h->ops->request_snapshot(h->userdata, req);
        if (r < 0) {
                req->result = r;
                dmabufd_http_snapshot_done(req);
        }
        return MHD_YES;
}

static enum MHD_Result finish_snapshot(struct MHD_Connection *c, const DmabufdSnapshotRequest *req) {
        char location[sizeof(SNAPSHOTS_PATH) + DMABUFD_SNAPSHOT_ID_MAX + 1];
        char seconds[32];

        if (req->result == -EBUSY) {
                snprintf(seconds, sizeof(seconds), "%" PRIu64, req->retry_after_sec);
                return respond_error_header(c, MHD_HTTP_TOO_MANY_REQUESTS, MHD_HTTP_HEADER_RETRY_AFTER, seconds,
                                            "a manual snapshot was taken moments ago; retry in %" PRIu64 " s",
                                            req->retry_after_sec);
        }
        if (req->result == -ESHUTDOWN)
                return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "dmabufd is shutting down");
        if (req->result < 0)
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "the snapshot failed: %s",
                                     strerror(-req->result));
        snprintf(location, sizeof(location), SNAPSHOTS_PATH "/%s", req->info.id);
        return respond_json_object(c, MHD_HTTP_CREATED, snapshot_summary(&req->info), location);
}

void dmabufd_http_snapshot_done(DmabufdSnapshotRequest *req) {
        req->done = true;
        MHD_resume_connection(req->connection);
}

typedef enum Route {
        ROUTE_ASSET, /* "/" and the page's files under /assets/ */
        ROUTE_METRICS,
        ROUTE_STATE,
        ROUTE_HISTORY,
        ROUTE_HEALTHZ,
        ROUTE_SNAPSHOTS,
        ROUTE_SNAPSHOT, /* SNAPSHOTS_PATH "/<id>" */
        _ROUTE_MAX,
} Route;

static const char *const route_paths[_ROUTE_MAX] = {
        [ROUTE_METRICS] = "/metrics",
        [ROUTE_STATE] = "/api/v1/state",
        [ROUTE_HISTORY] = "/api/v1/history",
        [ROUTE_HEALTHZ] = "/healthz",
        [ROUTE_SNAPSHOTS] = SNAPSHOTS_PATH,
};

static Route route_of(const char *url) {
        for (Route r = 0; r < _ROUTE_MAX; r++)
                if (route_paths[r] && streq(url, route_paths[r]))
                        return r;
        if (strneq(url, SNAPSHOTS_PATH "/", STRLEN(SNAPSHOTS_PATH "/")))
                return ROUTE_SNAPSHOT;
        if (asset_find(url))
                return ROUTE_ASSET;
        return _ROUTE_MAX;
}

static int first_call_marker;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        DmabufdHttp *h = cls;
        bool get, post;
        Route route;

        if (!*req_cls) {
                const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
                uint64_t n;

                /* Headers only so far: a body announced too large is refused
                 * before it is read, else the answer waits for the whole request. */
                *req_cls = &first_call_marker;
                /* RFC 9112 3.2. libmicrohttpd 0.9.75 checks it only when strict,
                 * and then sends its answer's headers twice. */
                if (streq(version, MHD_HTTP_VERSION_1_1) &&
                    !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
                        return respond_error(c, MHD_HTTP_BAD_REQUEST, NULL, "an HTTP/1.1 request needs a Host header");
                /* A chunked body has no length to refuse up front. */
                if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
                        return respond_error(c, MHD_HTTP_LENGTH_REQUIRED, NULL,
                                             "request bodies need a Content-Length (of at most %d bytes)",
                                             BODY_MAX);
                if (length && (safe_atou64(length, &n) < 0 || n > BODY_MAX))
                        return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                                             "request body of %s bytes refused: no endpoint takes more than %d",
                                             length, BODY_MAX);
                return MHD_YES;
        }
        if (*req_cls != &first_call_marker) {
                /* A snapshot request, back from the daemon thread. */
                DmabufdSnapshotRequest *req = *req_cls;
                return req->done ? finish_snapshot(c, req) : MHD_YES;
        }
        if (*upload_data_size > 0) {
                *upload_data_size = 0; /* at most BODY_MAX, by the check above */
                return MHD_YES;
        }

        route = route_of(url);
        if (route == _ROUTE_MAX)
                return respond_error(c, MHD_HTTP_NOT_FOUND, NULL, "not found: %s", url);
        get = streq(method, MHD_HTTP_METHOD_GET) || streq(method, MHD_HTTP_METHOD_HEAD);
        post = streq(method, MHD_HTTP_METHOD_POST);
        if (route == ROUTE_SNAPSHOTS && post)
                return start_snapshot(h, c, req_cls);
        if (!get)
                return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, route == ROUTE_SNAPSHOTS ? "GET, HEAD, POST" : "GET, HEAD",
                                     "method %s not allowed on %s", method, url);

        switch (route) {
        case ROUTE_ASSET:
                return respond_asset(c, url);
        case ROUTE_METRICS: {
                const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
                return respond_metrics(h, c, dmabuf_prom_negotiate(accept));
        }
        case ROUTE_STATE:
                return respond_json_state(h, c);
        case ROUTE_HISTORY:
                return respond_history(h, c);
        case ROUTE_HEALTHZ:
                if (!h->ops->alive(h->userdata))
                        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                                             "the collection loop has not completed a collection recently");
                return respond_copy(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
        case ROUTE_SNAPSHOTS:
                return respond_snapshot_list(h, c);
        case ROUTE_SNAPSHOT:
                return respond_snapshot(h, c, url + STRLEN(SNAPSHOTS_PATH "/"));
        case _ROUTE_MAX:
                break;
        }
        return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
        if (*req_cls && *req_cls != &first_call_marker)
                free(*req_cls);
        *req_cls = NULL;
}

/* libmicrohttpd's own decoding, but for "%00": decoded, it would cut the path
 * short ("/api/v1/snapshots/ID%00/../x" would name ID), so it stays as it is
 * and the path matches nothing. */
static size_t unescape_url(void *cls, struct MHD_Connection *c, char *s) {
        char *w = s;

        for (const char *r = s; *r;) {
                int hi, lo;

                if (r[0] == '%' && (hi = unhexchar(r[1])) >= 0 && (lo = unhexchar(r[2])) >= 0 && (hi | lo) != 0) {
                        *w++ = (char) (hi << 4 | lo);
                        r += 3;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
        return (size_t) (w - s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char msg[512];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
        msg[strcspn(msg, "\n")] = '\0';
        log_debug("libmicrohttpd: %s", msg);
}

int dmabufd_http_start(const int *fds, size_t n_fds, const DmabufdHttpOps *ops, void *userdata,
                       DmabufdSnapshotStore *store, const DmabufdHttpSettings *settings,
                       const DmabufdHttpLimits *limits, DmabufdHttp **ret) {
        DmabufdHttp *h = calloc(1, sizeof(DmabufdHttp));

        if (!h)
                return -ENOMEM;
        h->ops = ops;
        h->userdata = userdata;
        h->store = store;
        h->settings = *settings;
        pthread_mutex_init(&h->settings_lock, NULL);
        h->daemons = calloc(MAX(n_fds, (size_t) 1), sizeof(struct MHD_Daemon *));
        if (!h->daemons) {
                dmabufd_http_stop(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_fds; i++) {
                h->daemons[i] = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                                MHD_ALLOW_SUSPEND_RESUME,
                        0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, fds[i],
                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                        MHD_OPTION_CONNECTION_LIMIT, limits->max_connections,
                        MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits->max_connections_per_address,
                        MHD_OPTION_CONNECTION_TIMEOUT, limits->timeout_sec,
                        /* No endpoint takes long headers or a long query (history's
                         * two parameters are short): a request is a few hundred
                         * bytes, and the pool also bounds what one connection
                         * costs. More than fits gets 414 or 431. */
                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
                        MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
                        MHD_OPTION_END);
                if (!h->daemons[i]) {
                        dmabufd_http_stop(h);
                        return -EIO;
                }
                h->n_daemons++;
        }
        *ret = h;
        return 0;
}

void dmabufd_http_set_settings(DmabufdHttp *h, const DmabufdHttpSettings *settings) {
        pthread_mutex_lock(&h->settings_lock);
        h->settings = *settings;
        pthread_mutex_unlock(&h->settings_lock);
}

DmabufdHttp *dmabufd_http_stop(DmabufdHttp *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_daemons; i++)
                MHD_stop_daemon(h->daemons[i]);
        free(h->daemons);
        pthread_mutex_destroy(&h->settings_lock);
        free(h);
        return NULL;
}
