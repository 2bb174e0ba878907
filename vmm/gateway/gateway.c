/*
 * gateway.c: the model gateway's proxy. One SoupServer per sandbox, bound to
 * that sandbox's bridge address, so a call's sandbox is known by where it
 * arrived, then checked against its token and its source address. Requests
 * are bounded before their body is read; the upstream is only ever the
 * configured one, redirects are not followed, and responses stream through
 * as they arrive (one chunk in flight: a slow guest slows its own upstream).
 */
#include <config.h>

#include "gateway.h"
#include "gateway-private.h"
#include "error.h"
#include "names.h"

#include <libsoup/soup.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define READ_CHUNK (64 * 1024)
#define HEADER_VALUE_MAX 256

struct VmmGateway {
    char *state_dir;
    VmmGatewayConfig *cfg;
    SoupSession *session;
    GHashTable *sandboxes; /* name -> GwSandbox* */
    VmmGatewayRecorder *recorder;
};

static GwSandbox *
sandbox_ref(GwSandbox *sb)
{
    sb->refs++;
    return sb;
}

static void
sandbox_unref(GwSandbox *sb)
{
    if (!sb || --sb->refs > 0)
        return;
    vmm_gateway_sandbox_free(sb->sb);
    vmm_gateway_limits_clear(&sb->limits);
    g_free(sb->state_dir);
    g_free(sb);
}

/* ---- one call ---- */

static GwCall *
call_ref(GwCall *c)
{
    c->refs++;
    return c;
}

static void
call_unref(GwCall *c)
{
    if (--c->refs > 0)
        return;
    if (c->sig_finished)
        g_signal_handler_disconnect(c->msg, c->sig_finished);
    if (c->sig_chunk)
        g_signal_handler_disconnect(c->msg, c->sig_chunk);
    g_clear_object(&c->in);
    g_clear_object(&c->up);
    g_object_unref(c->msg);
    g_object_unref(c->cancel);
    g_free(c->model);
    g_free(c->error);
    g_checksum_free(c->req_sum);
    g_checksum_free(c->resp_sum);
    g_string_free(c->req_kept, TRUE);
    g_string_free(c->resp_kept, TRUE);
    g_string_free(c->body, TRUE);
    vmm_gateway_sse_clear(&c->sse);
    sandbox_unref(c->sb);
    g_free(c);
}

/* The call's one record: audit event and evidence, then it leaves the sandbox's count. */
static void
call_record(GwCall *c)
{
    GwSandbox *sb = c->sb;

    if (c->recorded)
        return;
    c->recorded = TRUE;
    if (c->counted) {
        sb->inflight--;
        c->counted = FALSE;
    }
    if (c->sse.usage.input_tokens > 0)
        sb->tokens += c->sse.usage.input_tokens;
    if (c->sse.usage.output_tokens > 0)
        sb->tokens += c->sse.usage.output_tokens;
    sb->live = g_list_remove(sb->live, c);
    if (sb->gw)
        vmm_gateway_record(sb->gw->recorder, sb->gw->cfg, c);
}

/* A JSON error both SDKs read: OpenAI's error.message/type/code, Anthropic's type + error. */
static void
reply_error(GwCall *c, guint status, const char *code, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "error");
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, code);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, code);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = json_to_string(root, FALSE);
    c->status = status;
    g_free(c->error);
    c->error = g_strdup(message);
    c->code = code;
    soup_server_message_set_status(c->msg, status, NULL);
    soup_server_message_set_response(c->msg, "application/json", SOUP_MEMORY_COPY, text,
                                     strlen(text));
    g_checksum_update(c->resp_sum, (const guchar *)text, strlen(text));
    c->resp_bytes = strlen(text);
    g_string_append(c->resp_kept, text);
}

static void
on_msg_finished(SoupServerMessage *msg, GwCall *c)
{
    (void)msg;
    /* Finished before the upstream was read to its end: the guest went away. */
    if (!c->recorded) {
        c->client_gone = TRUE;
        g_free(c->error);
        c->error = g_strdup("the guest closed the connection before the response ended");
        c->code = "client-closed";
        g_cancellable_cancel(c->cancel);
        call_record(c);
    }
    c->msg_done = TRUE;
}

static GwCall *
call_new(GwSandbox *sb, SoupServerMessage *msg)
{
    GwCall *c = g_new0(GwCall, 1);

    c->refs = 1;
    c->sb = sandbox_ref(sb);
    c->msg = g_object_ref(msg);
    c->cancel = g_cancellable_new();
    c->req_sum = g_checksum_new(G_CHECKSUM_SHA256);
    c->resp_sum = g_checksum_new(G_CHECKSUM_SHA256);
    c->req_kept = g_string_new(NULL);
    c->resp_kept = g_string_new(NULL);
    c->body = g_string_new(NULL);
    c->start = g_get_monotonic_time();
    vmm_gateway_sse_init(&c->sse);
    c->sig_finished = g_signal_connect(msg, "finished", G_CALLBACK(on_msg_finished), c);
    sb->live = g_list_prepend(sb->live, c);
    /* The server message holds the call until it is finished. */
    g_object_set_data_full(G_OBJECT(msg), "airlock-gateway-call", call_ref(c),
                           (GDestroyNotify)call_unref);
    return c;
}

/* ---- checks before the body is read ---- */

static gboolean
header_value_ok(const char *v)
{
    gsize n = v ? strlen(v) : 0;

    if (n == 0 || n > HEADER_VALUE_MAX)
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return FALSE;
    return TRUE;
}

/* The presented token: x-api-key (Anthropic) or "Authorization: Bearer" (OpenAI). */
static const char *
presented_token(SoupMessageHeaders *h)
{
    const char *k = soup_message_headers_get_one(h, "x-api-key");
    const char *a = soup_message_headers_get_one(h, "Authorization");

    if (k)
        return k;
    if (a && g_ascii_strncasecmp(a, "Bearer ", 7) == 0)
        return a + 7;
    return NULL;
}

static gboolean
token_matches(const GwSandbox *sb, const char *token)
{
    g_autofree char *hash = NULL;
    guint8 diff = 0;

    if (!header_value_ok(token))
        return FALSE;
    hash = vmm_gateway_token_hash(token);
    /* Constant time over the hash: nothing to learn from how long a refusal takes. */
    for (gsize i = 0; i < 64; i++)
        diff |= hash[i] ^ sb->sb->token_sha256[i];
    return diff == 0;
}

static gboolean
from_guest(const GwSandbox *sb, SoupServerMessage *msg)
{
    GSocketAddress *sa = soup_server_message_get_remote_address(msg);
    g_autofree char *ip = NULL;

    if (!G_IS_INET_SOCKET_ADDRESS(sa))
        return FALSE;
    ip = g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa)));
    return g_str_equal(ip, sb->sb->guest_ip);
}

static void
early_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer data)
{
    GwSandbox *sb = data;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    const char *method = soup_server_message_get_method(msg);
    g_autoptr(GError) err = NULL;
    GwCall *c;
    goffset len;

    (void)server;
    if (!sb->gw)
        return;
    c = call_new(sb, msg);
    c->endpoint = path;
    call_unref(c); /* the message's reference keeps it */
    if (!from_guest(sb, msg)) {
        reply_error(c, 403, "forbidden", "calls are accepted from this sandbox's guest only");
        goto refused;
    }
    if (!token_matches(sb, presented_token(h))) {
        reply_error(c, 401, "unauthorized",
                    "no or a wrong token: use the sandbox's own *_API_KEY from its environment");
        goto refused;
    }
    if (query || !vmm_gateway_route(sb->gw->cfg, method, path, &c->pv, &c->route, &err)) {
        gboolean method_err = err && err->code == VMM_ERROR_INVALID;
        reply_error(c, method_err ? 405 : 404, method_err ? "method-not-allowed" : "not-found",
                    err ? err->message : "the gateway forwards no query strings");
        goto refused;
    }
    c->endpoint = c->route->path;
    if (g_str_equal(method, "GET"))
        return;
    if (soup_message_headers_get_encoding(h) != SOUP_ENCODING_CONTENT_LENGTH) {
        reply_error(c, 411, "length-required", "send the request body with a Content-Length");
        goto refused;
    }
    len = soup_message_headers_get_content_length(h);
    if (len < 0 || (guint64)len > sb->gw->cfg->max_body) {
        g_autofree char *m =
            g_strdup_printf("request body over the gateway's limit of %" G_GUINT64_FORMAT " bytes",
                            sb->gw->cfg->max_body);
        reply_error(c, 413, "too-large", m);
        goto refused;
    }
    return;
refused:
    /* Whatever body follows is not read: the connection ends with the answer. */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                 "close");
    /* Nothing was forwarded; the refusal is a call of this sandbox all the same. */
    call_record(c);
}

/* ---- forwarding ---- */

static void read_next(GwCall *c);

static void
copy_header(SoupMessageHeaders *from, SoupMessageHeaders *to, const char *name)
{
    const char *v = soup_message_headers_get_one(from, name);

    if (header_value_ok(v))
        soup_message_headers_replace(to, name, v);
}

static void
resume(GwCall *c)
{
    if (!c->msg_done)
        soup_server_message_unpause(c->msg);
}

/* The upstream's answer ended (or broke): complete what the guest gets, record. */
static void
upstream_done(GwCall *c, const GError *err)
{
    if (err && !c->error) {
        c->error = g_strdup_printf("upstream stream broke: %s", err->message);
        c->code = "upstream-broken";
    }
    if (!c->stream)
        vmm_gateway_usage_scan(&c->sse.usage, c->body->str, c->body->len);
    if (!c->msg_done) {
        soup_message_body_complete(soup_server_message_get_response_body(c->msg));
        resume(c);
    }
    call_record(c);
}

static void
on_wrote_chunk(SoupServerMessage *msg, GwCall *c)
{
    (void)msg;
    if (c->wait_write) {
        c->wait_write = FALSE;
        read_next(c);
    }
}

static void
on_read(GObject *src, GAsyncResult *res, gpointer data)
{
    GwCall *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) b = g_input_stream_read_bytes_finish(G_INPUT_STREAM(src), res, &err);
    gsize n;
    const char *p;

    if (c->recorded || !c->sb->gw) {
        call_unref(c);
        return;
    }
    if (!b || g_bytes_get_size(b) == 0) {
        upstream_done(c, err);
        call_unref(c);
        return;
    }
    p = g_bytes_get_data(b, &n);
    g_checksum_update(c->resp_sum, (const guchar *)p, n);
    c->resp_bytes += n;
    vmm_gateway_keep(c->resp_kept, p, n, c->sb->gw->cfg->max_evidence);
    if (c->stream)
        vmm_gateway_sse_feed(&c->sse, p, n);
    else
        vmm_gateway_keep(c->body, p, n, 8 << 20);
    soup_message_body_append_bytes(soup_server_message_get_response_body(c->msg), b);
    /* The next read waits for this chunk to be written: the guest's pace is the upstream's. */
    c->wait_write = TRUE;
    resume(c);
    call_unref(c);
}

static void
read_next(GwCall *c)
{
    if (c->recorded)
        return;
    g_input_stream_read_bytes_async(c->in, READ_CHUNK, G_PRIORITY_DEFAULT, c->cancel, on_read,
                                    call_ref(c));
}

static void
on_sent(GObject *src, GAsyncResult *res, gpointer data)
{
    GwCall *c = data;
    g_autoptr(GError) err = NULL;
    SoupMessageHeaders *from, *to;
    guint st;

    c->in = soup_session_send_finish(SOUP_SESSION(src), res, &err);
    if (c->recorded || !c->sb->gw) {
        call_unref(c);
        return;
    }
    if (!c->in) {
        gboolean timeout = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        g_autofree char *m = g_strdup_printf(
            "upstream %s: %s", timeout ? "did not answer in time" : "unreachable", err->message);
        reply_error(c, timeout ? 504 : 502, timeout ? "upstream-timeout" : "upstream-unreachable",
                    m);
        resume(c);
        call_record(c);
        call_unref(c);
        return;
    }
    st = soup_message_get_status(c->up);
    if (st >= 300 && st < 400) {
        g_autofree char *m =
            g_strdup_printf("upstream answered %u, a redirect: the gateway does not follow it", st);
        g_input_stream_close(c->in, NULL, NULL);
        reply_error(c, 502, "upstream-redirect", m);
        resume(c);
        call_record(c);
        call_unref(c);
        return;
    }
    c->status = st;
    soup_server_message_set_status(c->msg, st, NULL);
    from = soup_message_get_response_headers(c->up);
    to = soup_server_message_get_response_headers(c->msg);
    copy_header(from, to, "Content-Type");
    copy_header(from, to, "Retry-After");
    copy_header(from, to, "x-request-id");
    copy_header(from, to, "request-id");
    soup_message_headers_set_encoding(to, SOUP_ENCODING_CHUNKED);
    /* Usage is in the stream's events when the upstream streams, whatever was asked. */
    if (g_str_has_prefix(soup_message_headers_get_one(from, "Content-Type") ?: "",
                         "text/event-stream"))
        c->stream = TRUE;
    if (!c->sig_chunk)
        c->sig_chunk = g_signal_connect(c->msg, "wrote-chunk", G_CALLBACK(on_wrote_chunk), c);
    resume(c);
    read_next(c);
    call_unref(c);
}

static gboolean
limit_refusal(GwCall *c)
{
    GwSandbox *sb = c->sb;
    const VmmGatewayLimits *l = &sb->limits;
    g_autofree char *m = NULL;

    if (c->model && l->models && !g_strv_contains((const char *const *)l->models, c->model))
        m = g_strdup_printf("model '%s' is not allowed in this sandbox", c->model);
    else if (l->max_calls && sb->calls >= l->max_calls)
        m = g_strdup_printf("this sandbox's %" G_GUINT64_FORMAT " calls are used up", l->max_calls);
    else if (l->max_tokens && sb->tokens >= l->max_tokens)
        m = g_strdup_printf("this sandbox's %" G_GUINT64_FORMAT " tokens are used up",
                            l->max_tokens);
    else if (l->max_concurrent && sb->inflight >= l->max_concurrent)
        m = g_strdup_printf("this sandbox already has %u calls in flight (its limit)",
                            l->max_concurrent);
    if (!m)
        return FALSE;
    reply_error(c, 429, "limit", m);
    return TRUE;
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer data)
{
    GwSandbox *sb = data;
    GwCall *c = g_object_get_data(G_OBJECT(msg), "airlock-gateway-call");
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *url = NULL;
    g_autoptr(GUri) uri = NULL;
    SoupMessageHeaders *gh, *uh;
    const char *p;
    gsize n = 0;

    (void)server, (void)path, (void)query;
    if (!c || c->recorded || !sb->gw)
        return;
    body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    p = g_bytes_get_data(body, &n);
    g_checksum_update(c->req_sum, (const guchar *)(p ? p : ""), n);
    c->req_bytes = n;
    vmm_gateway_keep(c->req_kept, p, n, sb->gw->cfg->max_evidence);
    if (g_str_equal(c->route->method, "POST") &&
        !vmm_gateway_check_request(p, n, &c->model, &c->stream, &err)) {
        reply_error(c, 400, "invalid-request", err->message);
        call_record(c);
        return;
    }
    if (limit_refusal(c)) {
        call_record(c);
        return;
    }
    url = g_strconcat(c->pv->upstream, c->route->path, NULL);
    uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
    c->up = soup_message_new_from_uri(c->route->method, uri);
    /* A redirect could lead anywhere: it is answered as an error, never followed. */
    soup_message_add_flags(c->up, SOUP_MESSAGE_NO_REDIRECT);
    gh = soup_server_message_get_request_headers(msg);
    uh = soup_message_get_request_headers(c->up);
    /* Headers by name: nothing else the guest sends (its token included) goes upstream. */
    copy_header(gh, uh, "Accept");
    copy_header(gh, uh, "anthropic-version");
    copy_header(gh, uh, "anthropic-beta");
    copy_header(gh, uh, "OpenAI-Beta");
    if (c->pv->kind == VMM_GATEWAY_KIND_ANTHROPIC) {
        soup_message_headers_replace(uh, "x-api-key", c->pv->key);
        if (!soup_message_headers_get_one(uh, "anthropic-version"))
            soup_message_headers_replace(uh, "anthropic-version", "2023-06-01");
    } else {
        g_autofree char *bearer = g_strconcat("Bearer ", c->pv->key, NULL);
        soup_message_headers_replace(uh, "Authorization", bearer);
        explicit_bzero(bearer, strlen(bearer));
    }
    if (g_str_equal(c->route->method, "POST"))
        soup_message_set_request_body_from_bytes(c->up, "application/json", body);
    sb->calls++;
    sb->inflight++;
    c->counted = TRUE;
    soup_server_message_pause(msg);
    soup_session_send_async(sb->gw->session, c->up, G_PRIORITY_DEFAULT, c->cancel, on_sent,
                            call_ref(c));
}

/* ---- sandboxes ---- */

/* A listening socket on @ip:@port that may be bound before the bridge has the address. */
static GSocket *
listen_socket(const char *ip, guint port, GError **error)
{
    g_autoptr(GSocket) s =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
    g_autoptr(GInetAddress) a = g_inet_address_new_from_string(ip);
    g_autoptr(GSocketAddress) sa = NULL;

    if (!s || !a)
        return NULL;
    sa = g_inet_socket_address_new(a, port);
    g_socket_set_option(s, SOL_IP, IP_FREEBIND, 1, NULL);
    /* GLib's default of 10 drops SYNs when a sandbox opens many calls at once. */
    g_socket_set_listen_backlog(s, 256);
    if (!g_socket_bind(s, sa, TRUE, error) || !g_socket_listen(s, error)) {
        g_prefix_error(error, "model gateway: cannot listen on %s:%u: ", ip, port);
        return NULL;
    }
    return g_steal_pointer(&s);
}

static void
sandbox_stop(GwSandbox *sb)
{
    /* Calls in flight end with the sandbox: recorded, their upstream cancelled. */
    while (sb->live) {
        GwCall *c = sb->live->data;
        if (!c->error) {
            c->error = g_strdup("the sandbox left the gateway during the call");
            c->code = "sandbox-gone";
        }
        g_cancellable_cancel(c->cancel);
        call_record(c);
    }
    if (sb->server) {
        soup_server_disconnect(sb->server);
        g_clear_object(&sb->server);
    }
    sb->gw = NULL;
    sandbox_unref(sb);
}

gboolean
vmm_gateway_add(VmmGateway *gw, const VmmGatewaySandbox *entry, GError **error)
{
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GSocketAddress) local = NULL;
    g_autofree char *json = vmm_gateway_sandbox_to_json(entry);
    GwSandbox *sb;

    /* The old entry's listener goes first: the new one takes its address and port. */
    vmm_gateway_remove(gw, entry->name);
    if (!(sock = listen_socket(entry->host_ip, gw->cfg->port, error)))
        return FALSE;
    sb = g_new0(GwSandbox, 1);
    sb->refs = 1;
    sb->gw = gw;
    sb->state_dir = g_strdup(gw->state_dir);
    sb->sb = vmm_gateway_sandbox_parse(json, strlen(json), NULL);
    vmm_gateway_limits_merge(&gw->cfg->limits, &entry->limits, &sb->limits);
    sb->server = soup_server_new("server-header", NULL, NULL);
    soup_server_add_early_handler(sb->server, NULL, early_handler, sb, NULL);
    soup_server_add_handler(sb->server, NULL, handler, sb, NULL);
    if (!soup_server_listen_socket(sb->server, sock, 0, error)) {
        sandbox_stop(sb);
        return FALSE;
    }
    local = g_socket_get_local_address(sock, NULL);
    sb->port = local ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)) : 0;
    g_hash_table_replace(gw->sandboxes, g_strdup(entry->name), sb);
    g_debug("model gateway: serving '%s' on %s:%u", entry->name, entry->host_ip, sb->port);
    return TRUE;
}

void
vmm_gateway_remove(VmmGateway *gw, const char *name)
{
    g_hash_table_remove(gw->sandboxes, name);
}

void
vmm_gateway_flush(VmmGateway *gw)
{
    vmm_gateway_recorder_flush(gw->recorder);
}

guint
vmm_gateway_port(VmmGateway *gw, const char *name)
{
    GwSandbox *sb = g_hash_table_lookup(gw->sandboxes, name);

    return sb ? sb->port : 0;
}

VmmGateway *
vmm_gateway_new(const char *state_dir, VmmGatewayConfig *cfg)
{
    VmmGateway *gw = g_new0(VmmGateway, 1);

    gw->state_dir = g_strdup(state_dir);
    gw->cfg = cfg;
    /* Direct connections only (no proxy from the environment), TLS checked against the system CAs.
     */
    gw->session = soup_session_new_with_options(
        "max-conns", 1024, "max-conns-per-host", 512, "timeout", cfg->timeout_s, "idle-timeout", 60,
        "proxy-resolver", NULL, "user-agent", "airlock-gateway/" PACKAGE_VERSION, NULL);
    gw->sandboxes =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)sandbox_stop);
    gw->recorder = vmm_gateway_recorder_new(state_dir);
    return gw;
}

void
vmm_gateway_free(VmmGateway *gw)
{
    if (!gw)
        return;
    g_hash_table_destroy(gw->sandboxes);
    vmm_gateway_recorder_free(gw->recorder);
    soup_session_abort(gw->session);
    g_object_unref(gw->session);
    vmm_gateway_config_free(gw->cfg);
    g_free(gw->state_dir);
    g_free(gw);
}

guint
vmm_gateway_rescan(VmmGateway *gw)
{
    g_autofree char *root = g_build_filename(gw->state_dir, "sandboxes", NULL);
    g_autoptr(GDir) dir = g_dir_open(root, 0, NULL);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer key, value;
    const char *n;

    while (dir && (n = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(root, n, VMM_GATEWAY_REGISTRY, NULL);
        g_autofree char *text = NULL;
        g_autoptr(VmmGatewaySandbox) entry = NULL;
        g_autoptr(GError) err = NULL;
        gsize len = 0;
        GwSandbox *cur;

        if (!vmm_name_validate(n, "sandbox name", NULL) ||
            !g_file_get_contents(path, &text, &len, NULL))
            continue;
        if (!(entry = vmm_gateway_sandbox_parse(text, len, &err)) || !g_str_equal(entry->name, n)) {
            g_debug("model gateway: %s ignored: %s", path, err ? err->message : "other name");
            continue;
        }
        g_hash_table_add(seen, g_strdup(n));
        cur = g_hash_table_lookup(gw->sandboxes, n);
        /* A new token or address (a sandbox made again under the same name) starts afresh. */
        if (cur && g_str_equal(cur->sb->token_sha256, entry->token_sha256) &&
            g_str_equal(cur->sb->host_ip, entry->host_ip))
            continue;
        if (!vmm_gateway_add(gw, entry, &err))
            g_warning("%s", err->message);
    }
    g_hash_table_iter_init(&it, gw->sandboxes);
    while (g_hash_table_iter_next(&it, &key, &value))
        if (!g_hash_table_contains(seen, key))
            g_hash_table_iter_remove(&it);
    return g_hash_table_size(gw->sandboxes);
}
