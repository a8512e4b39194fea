/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmabuf-json.h"
#include "dmabufd-http.h"
#include "log.h"
#include "macro.h"
#include "strbuf.h"

struct DmabufdHttp {
        struct MHD_Daemon **daemons;
        size_t n_daemons;
        const DmabufdHttpOps *ops;
        void *userdata;
        pthread_mutex_t options_lock; /* the daemon thread may change them on reload */
        DmabufPromOptions options;
};

static const char landing_page[] =
        "<!DOCTYPE html>\n"
        "<html><head><meta charset=\"utf-8\"><title>dmabufd</title></head>\n"
        "<body><h1>dmabufd</h1>\n"
        "<p>DMA-BUF accounting: every buffer, the processes that hold it, and what only drivers hold.</p>\n"
        "<ul>\n"
        "<li><a href=\"/metrics\">/metrics</a> Prometheus metrics (text 0.0.4 or OpenMetrics 1.0.0)</li>\n"
        "<li><a href=\"/api/v1/state\">/api/v1/state</a> the latest collection as JSON</li>\n"
        "<li><a href=\"/healthz\">/healthz</a> liveness of the collection loop</li>\n"
        "</ul></body></html>\n";

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

_printf_(4, 5) static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *allow,
                                                    const char *fmt, ...) {
        char msg[512];
        json_object *o;
        enum MHD_Result ret;
        struct MHD_Response *resp;
        const char *body;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        o = json_object_new_object();
        json_object_object_add(o, "error", dmabuf_json_string(msg, strlen(msg)));
        body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        resp = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
        json_object_put(o);
        if (!resp)
                return MHD_NO;
        if (allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static int render(const DmabufState *s, DmabufRenderKind kind, char **ret, size_t *ret_len, void *userdata) {
        DmabufdHttp *h = userdata;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        DmabufPromOptions opts;
        int r;

        pthread_mutex_lock(&h->options_lock);
        opts = h->options;
        pthread_mutex_unlock(&h->options_lock);

        r = dmabuf_prom_write(&sb, s, &opts,
                              kind == DMABUF_RENDER_PROM_OPENMETRICS ? DMABUF_PROM_OPENMETRICS : DMABUF_PROM_TEXT);
        if (r < 0)
                return r;
        return strbuf_steal(&sb, ret, ret_len);
}

static void unref_state(void *cls) {
        dmabuf_state_unref(cls);
}

/* The rendered bytes live in the state's cache; the response holds a reference so
 * they stay valid however long a slow client takes. */
static enum MHD_Result respond_rendered(DmabufdHttp *h, struct MHD_Connection *c, DmabufRenderKind kind,
                                        const char *content_type) {
        DmabufState *s = h->ops->get_state(h->userdata);
        struct MHD_Response *resp;
        const char *data;
        size_t len;
        int r;

        if (!s)
                return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "no collection has completed yet");
        r = dmabuf_state_render_cached(s, kind, render, h, &data, &len);
        if (r < 0) {
                dmabuf_state_unref(s);
                return respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "rendering failed: %s", strerror(-r));
        }
        resp = MHD_create_response_from_buffer_with_free_callback_cls(len, (void *) data, unref_state, s);
        if (!resp) {
                dmabuf_state_unref(s);
                return MHD_NO;
        }
        return queue(c, MHD_HTTP_OK, resp, content_type);
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

typedef enum Route {
        ROUTE_INDEX,
        ROUTE_METRICS,
        ROUTE_STATE,
        ROUTE_HEALTHZ,
        _ROUTE_MAX,
} Route;

static const char *const route_paths[_ROUTE_MAX] = {
        [ROUTE_INDEX] = "/",
        [ROUTE_METRICS] = "/metrics",
        [ROUTE_STATE] = "/api/v1/state",
        [ROUTE_HEALTHZ] = "/healthz",
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        static int first_call_marker;
        DmabufdHttp *h = cls;
        Route route;

        if (!*req_cls) {
                /* Headers only so far; answer once the request is complete. */
                *req_cls = &first_call_marker;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                *upload_data_size = 0; /* no endpoint here takes a body */
                return MHD_YES;
        }

        for (route = 0; route < _ROUTE_MAX; route++)
                if (streq(url, route_paths[route]))
                        break;
        if (route == _ROUTE_MAX)
                return respond_error(c, MHD_HTTP_NOT_FOUND, NULL, "not found: %s", url);
        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "method %s not allowed on %s",
                                     method, url);

        switch (route) {
        case ROUTE_INDEX:
                return respond_copy(c, MHD_HTTP_OK, "text/html; charset=utf-8", landing_page, strlen(landing_page));
        case ROUTE_METRICS: {
                const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
                DmabufPromFormat f = dmabuf_prom_negotiate(accept);
                return respond_rendered(h, c, f == DMABUF_PROM_OPENMETRICS ? DMABUF_RENDER_PROM_OPENMETRICS
                                                                           : DMABUF_RENDER_PROM_TEXT,
                                        dmabuf_prom_content_type(f));
        }
        case ROUTE_STATE:
                return respond_json_state(h, c);
        case ROUTE_HEALTHZ:
                if (!h->ops->alive(h->userdata))
                        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                                             "the collection loop has not completed a collection recently");
                return respond_copy(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3);
        case _ROUTE_MAX:
                break;
        }
        return MHD_NO;
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
                       const DmabufPromOptions *opts, DmabufdHttp **ret) {
        DmabufdHttp *h = calloc(1, sizeof(DmabufdHttp));

        if (!h)
                return -ENOMEM;
        h->ops = ops;
        h->userdata = userdata;
        h->options = *opts;
        pthread_mutex_init(&h->options_lock, NULL);
        h->daemons = calloc(MAX(n_fds, (size_t) 1), sizeof(struct MHD_Daemon *));
        if (!h->daemons) {
                dmabufd_http_stop(h);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_fds; i++) {
                h->daemons[i] = MHD_start_daemon(
                        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request,
                        h, MHD_OPTION_LISTEN_SOCKET, fds[i], MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                        MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 15,
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

void dmabufd_http_set_options(DmabufdHttp *h, const DmabufPromOptions *opts) {
        pthread_mutex_lock(&h->options_lock);
        h->options = *opts;
        pthread_mutex_unlock(&h->options_lock);
}

DmabufdHttp *dmabufd_http_stop(DmabufdHttp *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_daemons; i++)
                MHD_stop_daemon(h->daemons[i]);
        free(h->daemons);
        pthread_mutex_destroy(&h->options_lock);
        free(h);
        return NULL;
}
