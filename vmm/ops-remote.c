/*
 * ops-remote.c: the operations through airlockd (docs/api.md) on its unix
 * socket, for users who are not root. A VmmOpsBackend: the CLI calls the same
 * vmm_ops_* and prints the same output; airlockd identifies the caller by
 * SO_PEERCRED, checks, acts and writes the audit record. Synchronous libsoup;
 * every answer is read with a bound.
 */
#include <config.h>

#include "ops-remote.h"
#include "error.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define REMOTE_JSON_MAX (16 * 1024 * 1024) /* a list of many sandboxes */
#define REMOTE_ERROR_MAX (64 * 1024)
#define REMOTE_FRAME_MAX (16 * 1024 * 1024) /* one exec frame: base64 of one output chunk */
#define REMOTE_PROBE_TIMEOUT_S 5

typedef struct {
    SoupSession *session;
    char *socket_path;
    char *user; /* as airlockd knows us */
    char *role;
} Remote;

/* The JSON document @data, or NULL. */
static JsonNode *
parse_json(const char *data, gsize len)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();

    if (!data || !json_parser_load_from_data(p, data, (gssize)len, NULL) ||
        !json_parser_get_root(p))
        return NULL;
    return json_node_ref(json_parser_get_root(p));
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static SoupSession *
session_new(const char *socket_path, guint timeout_s)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);

    return soup_session_new_with_options("remote-connectable", addr, "timeout", timeout_s,
                                         "user-agent", "airlock/" PACKAGE_VERSION, NULL);
}

/* All of @in, at most @max bytes (then FAILED: an answer that big is not airlockd's). */
static GBytes *
read_all(GInputStream *in, gsize max, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GError) local = NULL;
    guint8 chunk[16384];
    gssize n;

    while ((n = g_input_stream_read(in, chunk, sizeof chunk, NULL, &local)) > 0) {
        if (buf->len + (gsize)n > max) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "airlockd's answer is larger than %" G_GSIZE_FORMAT " bytes", max);
            return NULL;
        }
        g_byte_array_append(buf, chunk, n);
    }
    if (n < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT, "reading airlockd's answer: %s",
                    local->message);
        return NULL;
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

/*
 * Sends @method @path with @body (may be NULL; @body_stream instead for a
 * file of @stream_len bytes). Returns the answer's body stream when the
 * status is 2xx, else the daemon's error.
 */
static GInputStream *
send_request(Remote *r, const char *method, const char *path, const char *type, GBytes *body,
             GInputStream *body_stream, goffset stream_len, GError **error)
{
    g_autofree char *uri = g_strconcat("http://airlockd", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GError) local = NULL;
    guint status;

    if (!msg) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot make a request for '%s'", path);
        return NULL;
    }
    if (body)
        soup_message_set_request_body_from_bytes(msg, type, body);
    else if (body_stream)
        soup_message_set_request_body(msg, type, body_stream, stream_len);
    if (!(in = soup_session_send(r->session, msg, NULL, &local))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT,
                    "cannot talk to airlockd on %s: %s (start it: airlockd, as root)",
                    r->socket_path, local->message);
        return NULL;
    }
    status = soup_message_get_status(msg);
    if (status < 200 || status > 299) {
        g_autoptr(GBytes) answer = read_all(in, REMOTE_ERROR_MAX, NULL);
        gsize n = 0;
        const char *data = answer ? g_bytes_get_data(answer, &n) : NULL;
        g_propagate_error(error, vmm_remote_error_from_body(status, data, n));
        return NULL;
    }
    return g_steal_pointer(&in);
}

/* A JSON request and its JSON answer. @body (may be NULL) is wiped once sent. Caller frees. */
static JsonNode *
call(Remote *r, const char *method, const char *path, char *body, gsize len, GError **error)
{
    g_autoptr(GBytes) bytes = body ? g_bytes_new_static(body, len) : NULL;
    g_autoptr(GInputStream) in =
        send_request(r, method, path, "application/json", bytes, NULL, 0, error);
    g_autoptr(GBytes) answer = NULL;
    gsize n = 0;
    const char *data;
    JsonNode *root;

    if (body)
        explicit_bzero(body, len);
    if (!in || !(answer = read_all(in, REMOTE_JSON_MAX, error)))
        return NULL;
    data = g_bytes_get_data(answer, &n);
    if (!(root = parse_json(data, n)))
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "airlockd's answer to %s %s is not JSON (same version?)", method, path);
    return root;
}

/* "/v1/sandboxes/NAME" + @rest, @name checked as the direct path checks it. Caller frees. */
static char *
sandbox_path(const char *name, const char *rest, GError **error)
{
    if (!vmm_name_validate(name, "sandbox name", error))
        return NULL;
    return g_strconcat("/v1/sandboxes/", name, rest, NULL);
}

static const char *
member_str(JsonNode *node, const char *key)
{
    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_object_get_string_member_with_default(json_node_get_object(node), key, NULL);
}

static JsonNode *
member(JsonNode *node, const char *key)
{
    if (!node || !JSON_NODE_HOLDS_OBJECT(node))
        return NULL;
    return json_object_get_member(json_node_get_object(node), key);
}

/* ---- the operations ------------------------------------------------------------------------ */

static gboolean
remote_create(VmmOps *ops, const VmmCreateRequest *req, VmmCreateTimings *t, GError **error)
{
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *body = NULL;
    const char *accel;
    gsize len = 0;

    if (!vmm_name_validate(req->name, "sandbox name", error) ||
        !vmm_spec_validate(req->spec, error) ||
        !(body = vmm_remote_create_body(req, &len, error)) ||
        !(answer = call(ops->backend_data, "POST", "/v1/sandboxes", body, len, error)))
        return FALSE;
    if (t) {
        vmm_create_timings_from_json(member(answer, "timings_s"), t);
        if (JSON_NODE_HOLDS_OBJECT(answer))
            vmm_create_source_from_json(json_node_get_object(answer), t);
    }
    /* The front end reports the accelerator the sandbox got: airlockd's host chose it. */
    if ((accel = member_str(answer, "accel")))
        vmm_accel_from_string(accel, &ops->ctx.accel, NULL);
    return TRUE;
}

static gboolean
remote_destroy(VmmOps *ops, const char *name, VmmDestroyFlags flags, char **archive_id,
               GError **error)
{
    g_autofree char *path =
        sandbox_path(name, flags & VMM_DESTROY_NO_EVIDENCE ? "?evidence=false" : "", error);
    g_autoptr(JsonNode) answer = NULL;
    GError *err = NULL;

    if (!path)
        return FALSE;
    if (!(answer = call(ops->backend_data, "DELETE", path, NULL, 0, &err))) {
        if ((flags & VMM_DESTROY_FORCE) && g_error_matches(err, VMM_ERROR, VMM_ERROR_NOT_FOUND)) {
            g_error_free(err);
            return TRUE;
        }
        g_propagate_error(error, err);
        return FALSE;
    }
    if (archive_id)
        *archive_id = g_strdup(member_str(answer, "archive"));
    return TRUE;
}

static gboolean
remote_reset(VmmOps *ops, const char *name, const char *tag, VmmResetTimings *t, GError **error)
{
    g_autofree char *path = sandbox_path(name, "/reset", error);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *body = NULL;

    if (!path || (tag && !vmm_name_validate(tag, "snapshot tag", error)))
        return FALSE;
    body = tag ? g_strdup_printf("{\"tag\":\"%s\"}", tag) : g_strdup("{}"); /* a valid tag */
    if (!(answer = call(ops->backend_data, "POST", path, body, strlen(body), error)))
        return FALSE;
    if (t)
        vmm_reset_timings_from_json(member(answer, "timings_s"), t);
    return TRUE;
}

static gboolean
remote_pause(VmmOps *ops, const char *name, VmmPauseTimings *t, GError **error)
{
    g_autofree char *path = sandbox_path(name, "/pause", error);
    g_autoptr(JsonNode) answer = NULL;

    if (!path || !(answer = call(ops->backend_data, "POST", path, "{}", 2, error)))
        return FALSE;
    if (t) {
        JsonNode *m = member(answer, "memory_bytes");
        vmm_pause_timings_from_json(member(answer, "timings_s"), t);
        t->memory_bytes =
            m && JSON_NODE_HOLDS_VALUE(m) && json_node_get_value_type(m) == G_TYPE_INT64
                ? (guint64)MAX(json_node_get_int(m), 0)
                : 0;
    }
    return TRUE;
}

static gboolean
remote_resume(VmmOps *ops, const char *name, VmmResetTimings *t, GError **error)
{
    g_autofree char *path = sandbox_path(name, "/resume", error);
    g_autoptr(JsonNode) answer = NULL;

    if (!path || !(answer = call(ops->backend_data, "POST", path, "{}", 2, error)))
        return FALSE;
    if (t)
        vmm_reset_timings_from_json(member(answer, "timings_s"), t);
    return TRUE;
}

static gboolean
remote_ttl(VmmOps *ops, const char *name, VmmTtlChange change, gint64 seconds, gint64 *ttl_s,
           GError **error)
{
    g_autofree char *path = sandbox_path(name, "/ttl", error);
    g_autoptr(JsonNode) answer = NULL;
    g_autofree char *body = NULL;
    JsonNode *m;

    if (!path)
        return FALSE;
    /* Digits and a sign only: nothing of the caller's text reaches the body. */
    body = change == VMM_TTL_NONE ? g_strdup("{\"ttl\":\"none\"}")
                                  : g_strdup_printf("{\"ttl\":\"%s%" G_GINT64_FORMAT "s\"}",
                                                    change == VMM_TTL_EXTEND ? "+" : "", seconds);
    if (!(answer = call(ops->backend_data, "POST", path, body, strlen(body), error)))
        return FALSE;
    m = member(answer, "ttl_s");
    if (ttl_s)
        *ttl_s = m && JSON_NODE_HOLDS_VALUE(m) && json_node_get_value_type(m) == G_TYPE_INT64
                     ? json_node_get_int(m)
                     : 0;
    return TRUE;
}

static gboolean
remote_snapshot(VmmOps *ops, const char *name, const char *tag, gboolean remove, GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *body = NULL;
    g_autoptr(JsonNode) answer = NULL;

    if (!vmm_name_validate(name, "sandbox name", error) ||
        !vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (remove && g_str_equal(tag, VMM_SNAPSHOT_CLEAN)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the clean state of '%s' cannot be deleted (destroy the sandbox)", name);
        return FALSE;
    }
    if (remove) {
        path = g_strdup_printf("/v1/sandboxes/%s/snapshots/%s", name, tag);
        answer = call(ops->backend_data, "DELETE", path, NULL, 0, error);
    } else {
        path = g_strdup_printf("/v1/sandboxes/%s/snapshots", name);
        body = g_strdup_printf("{\"tag\":\"%s\"}", tag);
        answer = call(ops->backend_data, "POST", path, body, strlen(body), error);
    }
    return answer != NULL;
}

/* Each element of the array @answer through @from (NULL: a bad answer). */
static GPtrArray *
array_of(JsonNode *answer, gpointer (*from)(JsonNode *, GError **), GDestroyNotify free_fn,
         GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(free_fn);
    JsonArray *a;

    if (!answer || !JSON_NODE_HOLDS_ARRAY(answer)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "airlockd answered with something other than a list (same version?)");
        return NULL;
    }
    a = json_node_get_array(answer);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        gpointer item = from(json_array_get_element(a, i), error);
        if (!item)
            return NULL;
        g_ptr_array_add(out, item);
    }
    return g_steal_pointer(&out);
}

static GPtrArray *
remote_snapshots(VmmOps *ops, const char *name, GError **error)
{
    g_autofree char *path = sandbox_path(name, "/snapshots", error);
    g_autoptr(JsonNode) answer = path ? call(ops->backend_data, "GET", path, NULL, 0, error) : NULL;

    if (!answer)
        return NULL;
    return array_of(answer, (gpointer)vmm_snapshot_info_from_json,
                    (GDestroyNotify)vmm_snapshot_info_free, error);
}

static GPtrArray *
remote_list(VmmOps *ops, GError **error)
{
    g_autoptr(JsonNode) answer =
        call(ops->backend_data, "GET", "/v1/sandboxes?network=1", NULL, 0, error);

    if (!answer)
        return NULL;
    return array_of(answer, (gpointer)vmm_sandbox_view_from_json,
                    (GDestroyNotify)vmm_sandbox_view_free, error);
}

static VmmSandboxView *
remote_inspect(VmmOps *ops, const char *name, GError **error)
{
    g_autofree char *path = sandbox_path(name, "", error);
    g_autoptr(JsonNode) answer = path ? call(ops->backend_data, "GET", path, NULL, 0, error) : NULL;

    return answer ? vmm_sandbox_view_from_json(answer, error) : NULL;
}

static GPtrArray *
remote_stats(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) views = NULL;

    if (!name) {
        /* No route lists everyone's figures: the caller's sandboxes, one by one. */
        if (!(views = remote_list(ops, error)))
            return NULL;
        for (guint i = 0; i < views->len; i++) {
            VmmSandboxView *v = g_ptr_array_index(views, i);
            g_autoptr(GError) gone = NULL;
            g_autoptr(GPtrArray) one = remote_stats(ops, v->md->name, &gone);
            if (one && one->len)
                g_ptr_array_add(out, g_ptr_array_steal_index(one, 0));
            else if (!g_error_matches(gone, VMM_ERROR, VMM_ERROR_NOT_FOUND)) {
                g_propagate_error(error, g_steal_pointer(&gone));
                return NULL;
            }
        }
    } else {
        g_autofree char *path = sandbox_path(name, "/stats", error);
        g_autoptr(JsonNode) answer =
            path ? call(ops->backend_data, "GET", path, NULL, 0, error) : NULL;
        VmmStats *s = answer ? vmm_stats_from_json(answer, error) : NULL;
        if (!s)
            return NULL;
        g_ptr_array_add(out, s);
    }
    return g_steal_pointer(&out);
}

/* Reads the NDJSON frames of an exec answer until its last one. */
static gboolean
read_frames(GInputStream *in, const VmmAgentExec *spec, int *exit_code, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autofree guint8 *chunk = g_malloc(65536);
    gboolean done = FALSE;

    for (;;) {
        g_autoptr(GError) local = NULL;
        gssize n = g_input_stream_read(in, chunk, 65536, NULL, &local);
        gsize start = 0;
        guint8 *nl;

        if (n < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT,
                        "the connection to airlockd broke while the command ran: %s",
                        local->message);
            return FALSE;
        }
        if (n == 0)
            break;
        g_byte_array_append(buf, chunk, n);
        while (!done && (nl = memchr(buf->data + start, '\n', buf->len - start))) {
            gsize len = nl - (buf->data + start);
            if (len && !vmm_remote_exec_frame((const char *)buf->data + start, len, spec, &done,
                                              exit_code, error))
                return FALSE;
            start += len + 1;
        }
        g_byte_array_remove_range(buf, 0, done ? buf->len : start);
        if (buf->len > REMOTE_FRAME_MAX) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "airlockd sent an exec frame over %d bytes", REMOTE_FRAME_MAX);
            return FALSE;
        }
    }
    if (!done) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "airlockd ended the command's stream without its exit status (its log says "
                    "why)");
        return FALSE;
    }
    return TRUE;
}

/* ---- exec over the websocket: stdin streamed, signals and a terminal ---------------------- */

typedef struct {
    const VmmAgentExec *spec;
    GMainLoop *loop;
    SoupWebsocketConnection *ws;
    GError *error;
    int exit_code;
    gboolean done;
    guint in_watch, sig_watch;
} WsRun;

/* A watch of @fd on the context this exec runs (the thread's default, not the global one). */
static guint
watch_fd(int fd, GIOCondition cond, GUnixFDSourceFunc fn, gpointer data)
{
    g_autoptr(GSource) src = g_unix_fd_source_new(fd, cond);

    g_source_set_callback(src, (GSourceFunc)(void (*)(void))fn, data, NULL);
    return g_source_attach(src, g_main_context_get_thread_default());
}

static void
unwatch(guint *id)
{
    GSource *src =
        *id ? g_main_context_find_source_by_id(g_main_context_get_thread_default(), *id) : NULL;

    if (src)
        g_source_destroy(src);
    *id = 0;
}

static void
ws_send_json(WsRun *w, const char *json)
{
    if (w->ws && soup_websocket_connection_get_state(w->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text(w->ws, json);
}

static gboolean
ws_stdin(int fd, GIOCondition cond, gpointer data)
{
    WsRun *w = data;
    guint8 buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return G_SOURCE_CONTINUE;
    if (n > 0) {
        soup_websocket_connection_send_binary(w->ws, buf, n);
        return G_SOURCE_CONTINUE;
    }
    /* End of input (or EIO: the terminal is gone). */
    ws_send_json(w, "{\"eof\":true}");
    w->in_watch = 0;
    return G_SOURCE_REMOVE;
}

static gboolean
ws_signal(int fd, GIOCondition cond, gpointer data)
{
    WsRun *w = data;
    guint8 sigs[64];
    ssize_t n = read(fd, sigs, sizeof sigs);

    for (ssize_t i = 0; i < n; i++) {
        g_autofree char *json = NULL;
        struct winsize size = {0};
        if (sigs[i] == SIGWINCH) {
            if (!w->spec->tty || ioctl(w->spec->stdin_fd, TIOCGWINSZ, &size) < 0 || !size.ws_col ||
                !size.ws_row || size.ws_col > 1000 || size.ws_row > 1000)
                continue;
            json =
                g_strdup_printf("{\"resize\":{\"cols\":%u,\"rows\":%u}}", size.ws_col, size.ws_row);
        } else {
            json = g_strdup_printf("{\"signal\":%u}", sigs[i]);
        }
        ws_send_json(w, json);
    }
    return G_SOURCE_CONTINUE;
}

static void
ws_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
    WsRun *w = data;
    gsize len;
    const guint8 *p = g_bytes_get_data(message, &len);

    if (w->done)
        return;
    if (type == SOUP_WEBSOCKET_DATA_BINARY && len >= 1 && (p[0] == 1 || p[0] == 2)) {
        VmmAgentOutputFunc fn = p[0] == 1 ? w->spec->on_stdout : w->spec->on_stderr;
        if (fn && len > 1)
            fn((const char *)p + 1, len - 1, w->spec->user_data);
        return;
    }
    if (type != SOUP_WEBSOCKET_DATA_TEXT ||
        !vmm_remote_exec_frame((const char *)p, len, w->spec, &w->done, &w->exit_code, &w->error)) {
        if (!w->error)
            g_set_error(&w->error, VMM_ERROR, VMM_ERROR_FAILED,
                        "airlockd sent an exec message this airlock does not understand (same "
                        "version?)");
        w->done = TRUE;
    }
}

static void
ws_closed(SoupWebsocketConnection *ws, gpointer data)
{
    WsRun *w = data;

    if (!w->done && !w->error)
        g_set_error(&w->error, VMM_ERROR, VMM_ERROR_CONNECT,
                    "airlockd closed the exec before it ended (is airlockd still running?)");
    g_main_loop_quit(w->loop);
}

static void
ws_connected(GObject *source, GAsyncResult *result, gpointer data)
{
    WsRun *w = data;
    g_autoptr(GError) local = NULL;
    g_autofree char *body = NULL;
    gsize len;

    w->ws = soup_session_websocket_connect_finish(SOUP_SESSION(source), result, &local);
    if (!w->ws) {
        g_set_error(&w->error, VMM_ERROR, VMM_ERROR_CONNECT, "airlockd's websocket exec: %s",
                    local->message);
        g_main_loop_quit(w->loop);
        return;
    }
    soup_websocket_connection_set_max_incoming_payload_size(w->ws, REMOTE_FRAME_MAX);
    g_signal_connect(w->ws, "message", G_CALLBACK(ws_message), w);
    g_signal_connect(w->ws, "closed", G_CALLBACK(ws_closed), w);
    body = vmm_remote_exec_body(w->spec, TRUE, &len);
    soup_websocket_connection_send_text(w->ws, body);
    explicit_bzero(body, len); /* env values */
    if (w->spec->stdin_stream)
        w->in_watch = watch_fd(w->spec->stdin_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, ws_stdin, w);
    else
        ws_send_json(w, "{\"eof\":true}");
    if (w->spec->signals)
        w->sig_watch = watch_fd(w->spec->signal_fd, G_IO_IN, ws_signal, w);
}

static gboolean
remote_exec_ws(Remote *r, const char *path, const VmmAgentExec *spec, int *exit_code,
               GError **error)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(SoupSession) session = NULL;
    g_autoptr(SoupMessage) msg = NULL;
    g_autofree char *uri = g_strconcat("http://airlockd", path, NULL);
    char *protocols[] = {(char *)"airlock.exec.v1", NULL};
    WsRun w = {.spec = spec, .exit_code = -1};

    g_main_context_push_thread_default(ctx);
    session = session_new(r->socket_path, 0); /* an interactive exec may idle for hours */
    msg = soup_message_new("GET", uri);
    w.loop = g_main_loop_new(ctx, FALSE);
    soup_session_websocket_connect_async(session, msg, NULL, protocols, G_PRIORITY_DEFAULT, NULL,
                                         ws_connected, &w);
    g_main_loop_run(w.loop);
    unwatch(&w.in_watch);
    unwatch(&w.sig_watch);
    g_clear_object(&w.ws);
    g_main_loop_unref(w.loop);
    g_clear_object(&session);
    g_main_context_pop_thread_default(ctx);
    if (w.error) {
        g_propagate_error(error, w.error);
        return FALSE;
    }
    *exit_code = w.exit_code;
    return TRUE;
}

static gboolean
remote_exec(VmmOps *ops, const char *name, const VmmAgentExec *spec, int *exit_code, GError **error)
{
    g_autofree char *path = sandbox_path(name, "/exec", error);
    g_autofree char *body = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GInputStream) in = NULL;
    gsize len = 0;
    gboolean ok;

    if (!path)
        return FALSE;
    /* Streamed stdin, a terminal or forwarded signals: the websocket, both ways. */
    if (spec->stdin_stream || spec->tty || spec->signals)
        return remote_exec_ws(ops->backend_data, path, spec, exit_code, error);
    body = vmm_remote_exec_body(spec, FALSE, &len);
    bytes = g_bytes_new_static(body, len);
    in = send_request(ops->backend_data, "POST", path, "application/json", bytes, NULL, 0, error);
    explicit_bzero(body, len); /* env values and stdin */
    if (!in)
        return FALSE;
    ok = read_frames(in, spec, exit_code, error);
    return ok;
}

/* The files route's path for @guest_path (escaped) and @suffix. Caller frees. */
static char *
files_path(const char *name, const char *guest_path, const char *suffix, GError **error)
{
    g_autofree char *q = g_uri_escape_string(guest_path, NULL, FALSE);
    g_autofree char *rest = g_strconcat("/files?path=", q, suffix, NULL);

    return sandbox_path(name, rest, error);
}

static gboolean
copy_in(Remote *r, const char *name, const char *local, const char *guest_path,
        const VmmAgentCopyOpts *opts, GError **error)
{
    int fd = open(local, O_RDONLY | O_CLOEXEC | (opts && opts->dereference ? 0 : O_NOFOLLOW));
    g_autoptr(GInputStream) body = NULL;
    g_autoptr(GInputStream) in = NULL;
    g_autofree char *mode = NULL;
    g_autofree char *path = NULL;
    struct stat st;

    if (fd < 0 && errno == ELOOP) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "'%s' is a symbolic link (name its target, or add -L to follow it)", local);
        return FALSE;
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "'%s' is not a readable file", local);
        return FALSE;
    }
    body = g_unix_input_stream_new(fd, TRUE);
    mode = g_strdup_printf("&mode=%04o", (guint)(st.st_mode & 0777));
    if (!(path = files_path(name, guest_path, mode, error)))
        return FALSE;
    in = send_request(r, "PUT", path, "application/octet-stream", NULL, body, st.st_size, error);
    return in && read_all(in, REMOTE_JSON_MAX, error) != NULL;
}

static gboolean
copy_out(Remote *r, const char *name, const char *local, const char *guest_path,
         const VmmAgentCopyOpts *opts, GError **error)
{
    guint64 max = opts && opts->max_bytes ? opts->max_bytes : VMM_AGENT_COPY_MAX_DEFAULT;
    guint timeout_ms =
        opts && opts->timeout_ms ? opts->timeout_ms : VMM_AGENT_COPY_TIMEOUT_DEFAULT_S * 1000;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autofree char *path = files_path(name, guest_path, "", error);
    g_autofree char *dir = g_path_get_dirname(local);
    g_autofree char *tmp = g_build_filename(dir, ".airlock-cp-XXXXXX", NULL);
    g_autofree guint8 *chunk = g_malloc(65536);
    g_autoptr(GInputStream) in = NULL;
    guint64 total = 0;
    gboolean ok = FALSE;
    gssize n;
    int fd;

    if (!path || !(in = send_request(r, "GET", path, NULL, NULL, NULL, 0, error)))
        return FALSE;
    /* The guest chooses neither the mode (0666 less the umask) nor the size. */
    if ((fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0666)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write in %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    for (;;) {
        g_autoptr(GError) local_err = NULL;
        n = g_input_stream_read(in, chunk, 65536, NULL, &local_err);
        if (n < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT, "reading '%s' from airlockd: %s",
                        guest_path, local_err->message);
            break;
        }
        if (n == 0) {
            ok = TRUE;
            break;
        }
        total += n;
        if (total > max) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "'%s' in the guest is larger than the %" G_GUINT64_FORMAT
                        " bytes limit (raise --max-size)",
                        guest_path, max);
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "copying '%s' out of '%s' took longer than %u s", guest_path, name,
                        timeout_ms / 1000);
            break;
        }
        if (write(fd, chunk, n) != n) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write %s: %s", local,
                        g_strerror(errno));
            break;
        }
    }
    if (close(fd) != 0 && ok) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write %s: %s", local,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (ok && rename(tmp, local) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", local,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (!ok)
        g_unlink(tmp);
    return ok;
}

static gboolean
remote_cp(VmmOps *ops, const char *name, gboolean into_guest, const char *host_path,
          const char *guest_path, const VmmAgentCopyOpts *opts, GError **error)
{
    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    return into_guest ? copy_in(ops->backend_data, name, host_path, guest_path, opts, error)
                      : copy_out(ops->backend_data, name, host_path, guest_path, opts, error);
}

static char *
remote_describe(VmmOps *ops)
{
    Remote *r = ops->backend_data;

    return g_strdup_printf("through airlockd on %s, as %s (%s)", r->socket_path, r->user, r->role);
}

static void
remote_close(gpointer data)
{
    Remote *r = data;

    if (!r)
        return;
    g_clear_object(&r->session);
    g_free(r->socket_path);
    g_free(r->user);
    g_free(r->role);
    g_free(r);
}

static const VmmOpsBackend remote_backend = {
    .name = "airlockd",
    .create = remote_create,
    .destroy = remote_destroy,
    .reset = remote_reset,
    .snapshot = remote_snapshot,
    .snapshots = remote_snapshots,
    .pause = remote_pause,
    .resume = remote_resume,
    .ttl = remote_ttl,
    .list = remote_list,
    .inspect = remote_inspect,
    .exec = remote_exec,
    .cp = remote_cp,
    .stats = remote_stats,
    .describe = remote_describe,
    .close = remote_close,
};

VmmOps *
vmm_ops_open_remote(const char *socket_path, VmmCaller *caller, GError **error)
{
    g_autoptr(VmmOps) ops = g_new0(VmmOps, 1);
    g_autoptr(JsonNode) who = NULL;
    Remote *r = g_new0(Remote, 1);

    ops->owned_caller = caller;
    ops->caller = caller;
    ops->backend = &remote_backend;
    ops->backend_data = r;
    r->socket_path = g_strdup(socket_path);
    /* A daemon that accepts and never answers must not hang every command: a short probe. */
    r->session = session_new(socket_path, REMOTE_PROBE_TIMEOUT_S);
    if (!(who = call(r, "GET", "/v1/whoami", NULL, 0, error)))
        return NULL;
    r->user = g_strdup(member_str(who, "user") ? member_str(who, "user") : "?");
    r->role = g_strdup(member_str(who, "role") ? member_str(who, "role") : "?");
    /* Creates and commands run for minutes without a byte: no I/O timeout from here on. */
    g_clear_object(&r->session);
    r->session = session_new(socket_path, 0);
    return g_steal_pointer(&ops);
}
