/*
 * test-gateway: the model gateway against a fake upstream on the loopback (a
 * model provider cannot exist here): the real key reaches the upstream and
 * nothing else, the guest's token never does; unknown paths, bad tokens,
 * other addresses, oversized, chunked and malformed bodies, limits, dead,
 * slow and redirecting upstreams are refused or answered without forwarding
 * what must not be; streams pass through with their usage; every call is one
 * record in the sandbox's chain and one evidence line, never with the key.
 */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "gateway.h"
#include "names.h"
#include "sandbox.h"
#include "spec.h"

#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>

#include "unit/fake-image.h"

#define KEY_OPENAI "sk-REAL-canary-openai-0123456789"
#define KEY_ANTHROPIC "sk-ant-REAL-canary-9876543210"
#define TOKEN_A "airlock-gw-token-of-sandbox-a"
#define TOKEN_B "airlock-gw-token-of-sandbox-b"

/* ---- the fake upstream: speaks both APIs, remembers what it was sent ---- */

typedef struct {
    SoupServer *server;
    guint port;
    guint hits;        /* requests that reached it */
    guint evil_hits;   /* requests to where a redirect pointed */
    GString *seen;     /* every header and body it got, for the canary checks */
    GPtrArray *paused; /* messages it never answers (the slow upstream) */
} Fake;

static Fake fake;

static void
fake_record(SoupServerMessage *msg)
{
    SoupMessageHeadersIter it;
    const char *n, *v;
    SoupMessageBody *b = soup_server_message_get_request_body(msg);
    g_autoptr(GBytes) body = soup_message_body_flatten(b);

    soup_message_headers_iter_init(&it, soup_server_message_get_request_headers(msg));
    while (soup_message_headers_iter_next(&it, &n, &v))
        g_string_append_printf(fake.seen, "%s: %s\n", n, v);
    g_string_append_len(fake.seen, g_bytes_get_data(body, NULL), g_bytes_get_size(body));
    g_string_append_c(fake.seen, '\n');
}

static void
fake_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
             gpointer data)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    SoupMessageBody *rb = soup_server_message_get_response_body(msg);
    g_autoptr(GBytes) body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    gboolean stream = g_strstr_len(g_bytes_get_data(body, NULL), g_bytes_get_size(body),
                                   "\"stream\":true") != NULL;
    const char *auth = soup_message_headers_get_one(h, "Authorization");
    const char *xkey = soup_message_headers_get_one(h, "x-api-key");

    (void)server, (void)query, (void)data;
    fake_record(msg);
    if (g_str_has_prefix(path, "/evil")) {
        fake.evil_hits++;
        soup_server_message_set_status(msg, 200, NULL);
        return;
    }
    fake.hits++;
    if (g_str_has_prefix(path, "/slow/")) {
        g_ptr_array_add(fake.paused, g_object_ref(msg));
        soup_server_message_pause(msg);
        return;
    }
    if (g_str_has_prefix(path, "/redir/")) {
        g_autofree char *to = g_strdup_printf("http://127.0.0.1:%u/evil", fake.port);
        soup_server_message_set_redirect(msg, 302, to);
        return;
    }
    if (g_str_equal(path, "/v1/messages")) {
        if (g_strcmp0(xkey, KEY_ANTHROPIC) != 0 || auth) {
            soup_server_message_set_status(msg, 401, NULL);
            return;
        }
        if (stream) {
            soup_server_message_set_status(msg, 200, NULL);
            soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                         "Content-Type", "text/event-stream");
            static const char sse[] =
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":"
                "{\"input_tokens\":13,\"output_tokens\":1}}}\n\n"
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":"
                "{\"type\":\"text_delta\",\"text\":\"hello from fake\"}}\n\n"
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":"
                "{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}"
                "\n\n";
            soup_message_body_append(rb, SOUP_MEMORY_STATIC, sse, strlen(sse));
            return;
        }
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(
            msg, "application/json", SOUP_MEMORY_STATIC,
            "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hello from fake\"}],"
            "\"usage\":{\"input_tokens\":13,\"output_tokens\":5}}",
            strlen("{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hello from "
                   "fake\"}],\"usage\":{\"input_tokens\":13,\"output_tokens\":5}}"));
        return;
    }
    if (g_strcmp0(auth, "Bearer " KEY_OPENAI) != 0 || xkey) {
        soup_server_message_set_status(msg, 401, NULL);
        return;
    }
    if (g_str_equal(path, "/v1/models")) {
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                         "{\"data\":[{\"id\":\"fake-1\"}]}", 26);
        soup_server_message_set_status(msg, 200, NULL);
        return;
    }
    if (stream) {
        static const char sse[] =
            "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n"
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n"
            "data: [DONE]\n\n";
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "text/event-stream", SOUP_MEMORY_STATIC, sse,
                                         strlen(sse));
        return;
    }
    {
        static const char json[] = "{\"choices\":[{\"message\":{\"content\":\"hello from "
                                   "fake\"}}],\"usage\":{\"prompt_tokens\":11,"
                                   "\"completion_tokens\":7}}";
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, json,
                                         strlen(json));
    }
}

static void
fake_start(void)
{
    g_autoptr(GError) err = NULL;
    GSList *uris;

    fake.server = soup_server_new(NULL, NULL);
    fake.seen = g_string_new(NULL);
    fake.paused = g_ptr_array_new_with_free_func(g_object_unref);
    soup_server_add_handler(fake.server, NULL, fake_handler, NULL, NULL);
    g_assert_true(soup_server_listen_local(fake.server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &err));
    g_assert_no_error(err);
    uris = soup_server_get_uris(fake.server);
    fake.port = g_uri_get_port(uris->data);
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
}

/* ---- the gateway under test, on a temporary state directory ---- */

static char *state;
static VmmGateway *gw;

static VmmGatewayConfig *
config_for_fake(const char *limits)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_strdup_printf(
        "[gateway]\nport=0\nmax-body=4K\ntimeout=1\nevidence-max=1K\n[limits]\n%s\n"
        "[provider openai]\nupstream=http://127.0.0.1:%u\nkey=" KEY_OPENAI "\n"
        "[provider anthropic]\nupstream=http://127.0.0.1:%u\nkey=" KEY_ANTHROPIC "\n"
        "[provider slow]\nkind=openai\nenv-prefix=SLOW\nupstream=http://127.0.0.1:%u/slow\n"
        "key=" KEY_OPENAI "\n"
        "[provider redir]\nkind=openai\nenv-prefix=REDIR\nupstream=http://127.0.0.1:%u/redir\n"
        "key=" KEY_OPENAI "\n"
        "[provider dead]\nkind=openai\nenv-prefix=DEAD\nupstream=http://127.0.0.1:1\n"
        "key=" KEY_OPENAI "\n",
        limits ? limits : "", fake.port, fake.port, fake.port, fake.port);
    VmmGatewayConfig *cfg = vmm_gateway_config_parse(text, "test.conf", &err);

    g_assert_no_error(err);
    return cfg;
}

static void
add_sandbox(const char *name, const char *host_ip, const char *guest_ip, const char *token,
            guint64 max_calls, guint max_conc, const char *model)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_build_filename(state, "sandboxes", name, NULL);
    char *models[] = {(char *)model, NULL};
    VmmGatewaySandbox sb = {.name = (char *)name,
                            .host_ip = (char *)host_ip,
                            .guest_ip = (char *)guest_ip,
                            .token_sha256 = vmm_gateway_token_hash(token),
                            .limits = {.max_calls = max_calls,
                                       .max_concurrent = max_conc,
                                       .models = model ? models : NULL}};

    g_mkdir_with_parents(dir, 0700);
    g_assert_true(vmm_gateway_add(gw, &sb, &err));
    g_assert_no_error(err);
    g_free(sb.token_sha256);
}

static void
gateway_start(const char *limits)
{
    g_autoptr(GError) err = NULL;

    state = g_dir_make_tmp("airlock-test-gateway-XXXXXX", &err);
    g_assert_no_error(err);
    gw = vmm_gateway_new(state, config_for_fake(limits));
    add_sandbox("sb-a", "127.0.0.1", "127.0.0.1", TOKEN_A, 0, 0, NULL);
    g_string_truncate(fake.seen, 0);
    fake.hits = fake.evil_hits = 0;
}

static void
gateway_stop(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", state);

    vmm_gateway_free(gw);
    gw = NULL;
    for (int i = 0; i < 20; i++)
        g_main_context_iteration(NULL, FALSE);
    g_ptr_array_set_size(fake.paused, 0);
    g_assert_cmpint(system(cmd), ==, 0);
    g_clear_pointer(&state, g_free);
}

/* ---- a client: raw HTTP over a socket, so every byte is the test's choice ---- */

typedef struct {
    GString *out;
    gboolean done;
    guint stop_after; /* close once this many bytes came (0: read to the end) */
} Raw;

static void raw_read(GObject *src, GAsyncResult *res, gpointer data);

static void
raw_next(GSocketConnection *conn, Raw *r)
{
    static char buf[4096];
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf, sizeof buf,
                              G_PRIORITY_DEFAULT, NULL, raw_read, r);
    g_object_set_data(G_OBJECT(g_io_stream_get_input_stream(G_IO_STREAM(conn))), "buf", buf);
}

static void
raw_read(GObject *src, GAsyncResult *res, gpointer data)
{
    Raw *r = data;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);
    const char *buf = g_object_get_data(src, "buf");

    if (n <= 0) {
        r->done = TRUE;
        return;
    }
    g_string_append_len(r->out, buf, n);
    if (r->stop_after && r->out->len >= r->stop_after) {
        r->done = TRUE;
        return;
    }
    g_input_stream_read_async(G_INPUT_STREAM(src), (char *)buf, 4096, G_PRIORITY_DEFAULT, NULL,
                              raw_read, r);
}

/* Sends @request to @ip:@port, returns everything the server sent until it closed. */
static char *
raw_full(const char *ip, guint port, const char *request, guint stop_after)
{
    g_autoptr(GSocketClient) cl = g_socket_client_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    Raw r = {.out = g_string_new(NULL), .stop_after = stop_after};
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    conn = g_socket_client_connect_to_host(cl, ip, port, NULL, &err);
    g_assert_no_error(err);
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), request,
                              strlen(request), NULL, NULL, &err);
    g_assert_no_error(err);
    raw_next(conn, &r);
    while (!r.done && g_get_monotonic_time() < deadline)
        g_main_context_iteration(NULL, TRUE);
    g_assert_true(r.done);
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    for (int i = 0; i < 20; i++)
        g_main_context_iteration(NULL, FALSE);
    return g_string_free(r.out, FALSE);
}

static char *
request(const char *method, const char *path, const char *auth, const char *body)
{
    return g_strdup_printf("%s %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n%s%s"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           method, path, auth ? auth : "", auth ? "\r\n" : "",
                           body ? strlen(body) : 0, body ? body : "");
}

static char *
call_at(const char *ip, const char *name, const char *method, const char *path, const char *auth,
        const char *body)
{
    g_autofree char *req = request(method, path, auth, body);
    return raw_full(ip, vmm_gateway_port(gw, name), req, 0);
}

static char *
call(const char *method, const char *path, const char *auth, const char *body)
{
    return call_at("127.0.0.1", "sb-a", method, path, auth, body);
}

static guint
status_of(const char *resp)
{
    return resp && g_str_has_prefix(resp, "HTTP/1.1 ") ? (guint)atoi(resp + 9) : 0;
}

#define CHAT "{\"model\":\"gpt-fake\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
#define CHAT_STREAM                                                                                \
    "{\"model\":\"gpt-fake\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}" \
    "]}"
#define MSG "{\"model\":\"claude-fake\",\"max_tokens\":10,\"messages\":[]}"
#define MSG_STREAM "{\"model\":\"claude-fake\",\"stream\":true,\"max_tokens\":10,\"messages\":[]}"
#define BEARER_A "Authorization: Bearer " TOKEN_A
#define XKEY_A "x-api-key: " TOKEN_A

/* The sandbox's records of kind model-call, oldest first. */
static GPtrArray *
model_events(const char *name)
{
    vmm_gateway_flush(gw);
    g_autofree char *path = vmm_events_sandbox_path(state, name);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return out;
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonNode) n = *l[0] ? json_from_string(*l, NULL) : NULL;
        JsonObject *o = n ? json_node_get_object(n) : NULL;
        if (o && g_str_equal(json_object_get_string_member(o, "event"), VMM_GATEWAY_EVENT))
            g_ptr_array_add(out, json_object_ref(o));
    }
    return out;
}

static JsonObject *
last_event(const char *name)
{
    g_autoptr(GPtrArray) ev = model_events(name);

    g_assert_cmpuint(ev->len, >, 0);
    return json_object_ref(g_ptr_array_index(ev, ev->len - 1));
}

static void
assert_no_key_in_state(void)
{
    vmm_gateway_flush(gw);
    g_autofree char *cmd =
        g_strdup_printf("grep -rq -e '%s' -e '%s' '%s'", "REAL-canary", KEY_ANTHROPIC, state);
    /* grep exits 1 when nothing matches. */
    g_assert_cmpint(system(cmd), !=, 0);
}

/* ---- pure parts ---- */

static void
test_config(void)
{
    static const char *const bad[] = {
        "[provider x]\nkind=openai\nupstream=http://api.example.com\nkey=k\n", /* plain http */
        "[provider x]\nkind=openai\nupstream=https://u:p@api.example.com\nkey=k\n",
        "[provider x]\nkind=openai\nupstream=https://api.example.com/?q=1\nkey=k\n",
        "[provider x]\nkind=openai\nupstream=https://api.example.com\n", /* no key */
        "[provider x]\nkind=gemini\nupstream=https://api.example.com\nkey=k\n",
        "[provider X]\nkind=openai\nupstream=https://api.example.com\nkey=k\n", /* name */
        "[provider x]\nupstream=https://a.example\nkey=sk secret\n",            /* header */
        "[gateway]\nport=70000\n[provider openai]\nupstream=https://a.example\nkey=k\n",
        "[proxy]\nport=1\n",
        "[gateway]\nport=1\n", /* no provider */
        "[provider openai]\nupstream=https://a.example\nkey=k\n"
        "[provider o2]\nkind=openai\nupstream=https://b.example\nkey=k\n", /* same env */
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmGatewayConfig) cfg = vmm_gateway_config_parse(
        "[gateway]\nport=9000\n[limits]\nmax-calls=5\nmodels=a;b\n"
        "[provider openai]\nupstream=https://api.openai.com\nkey=sk-secret-1\n"
        "[provider anthropic]\nupstream=https://api.anthropic.com\nkey=sk-secret-2\n",
        "t.conf", &err);
    g_auto(GStrv) env = NULL;
    g_auto(GStrv) keys = NULL;

    g_assert_no_error(err);
    g_assert_cmpuint(cfg->port, ==, 9000);
    g_assert_cmpuint(cfg->limits.max_calls, ==, 5);
    g_assert_cmpstr(cfg->limits.models[1], ==, "b");
    env = vmm_gateway_guest_env(cfg, "10.213.4.1");
    g_assert_cmpstr(env[0], ==, "OPENAI_BASE_URL=http://10.213.4.1:9000/openai/v1");
    g_assert_cmpstr(env[1], ==, "ANTHROPIC_BASE_URL=http://10.213.4.1:9000/anthropic");
    keys = vmm_gateway_key_names(cfg);
    g_assert_cmpstr(keys[1], ==, "ANTHROPIC_API_KEY");
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_assert_null(vmm_gateway_config_parse(bad[i], "t.conf", &e));
        g_assert_error(e, VMM_ERROR, VMM_ERROR_INVALID);
        /* An error never quotes a key. */
        g_assert_null(strstr(e->message, "secret"));
    }
}

static void
test_registry(void)
{
    char *models[] = {"m1", NULL};
    VmmGatewaySandbox sb = {.name = "eval-1",
                            .host_ip = "10.213.4.1",
                            .guest_ip = "10.213.4.2",
                            .token_sha256 = vmm_gateway_token_hash("t"),
                            .limits = {.max_calls = 3, .models = models}};
    g_autofree char *json = vmm_gateway_sandbox_to_json(&sb);
    g_autoptr(VmmGatewaySandbox) back = vmm_gateway_sandbox_parse(json, strlen(json), NULL);
    static const char *const bad[] = {
        "{\"sandbox\":\"../x\",\"host_ip\":\"10.0.0.1\",\"guest_ip\":\"10.0.0.2\"}",
        "{\"sandbox\":\"a\",\"host_ip\":\"10.0.0.1 \",\"guest_ip\":\"10.0.0.2\"}",
        "not json",
        "{\"sandbox\":\"a\"",
        "[]",
        /* Members of another type (json-glib's getters asserted on them; found by fuzzing). */
        "{\"sandbox\":{},\"host_ip\":[1],\"guest_ip\":null,\"token_sha256\":true}",
        "{\"sandbox\":\"a\",\"host_ip\":\"10.0.0.1\",\"guest_ip\":\"10.0.0.2\",\"models\":{}}",
    };
    g_autofree char *t1 = vmm_gateway_token_new();
    g_autofree char *t2 = vmm_gateway_token_new();
    VmmGatewayLimits cfgl = {.max_calls = 10, .max_concurrent = 0, .models = models};
    char *spec_models[] = {"m1", "m2", NULL};
    VmmGatewayLimits specl = {.max_calls = 20, .max_concurrent = 2, .models = spec_models};
    VmmGatewayLimits out;

    g_assert_nonnull(back);
    g_assert_cmpstr(back->guest_ip, ==, "10.213.4.2");
    g_assert_cmpuint(back->limits.max_calls, ==, 3);
    g_assert_cmpstr(back->limits.models[0], ==, "m1");
    g_assert_null(strstr(json, "\"t\""));
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_null(vmm_gateway_sandbox_parse(bad[i], strlen(bad[i]), NULL));
    g_assert_cmpstr(t1, !=, t2);
    g_assert_cmpuint(strlen(t1), ==, strlen("airlock-gw-") + 64);
    /* The spec can only tighten what the host's configuration allows. */
    vmm_gateway_limits_merge(&cfgl, &specl, &out);
    g_assert_cmpuint(out.max_calls, ==, 10);
    g_assert_cmpuint(out.max_concurrent, ==, 2);
    g_assert_cmpstr(out.models[0], ==, "m1");
    g_assert_null(out.models[1]);
    vmm_gateway_limits_clear(&out);
    g_free(sb.token_sha256);
}

static void
test_proto(void)
{
    static const char *const bad_bodies[] = {
        "",
        "[]",
        "{\"model\":1}",
        "{\"model\":\"\"}",
        "{\"model\":\"a b\"}",
        "{\"model\":\"m\",\"stream\":\"yes\"}",
        "{\"model\":\"m\"} {}",
        "{\"model\":\"m\"",
        "{\"model\":\"\\u0000\"}",
    };
    g_autoptr(VmmGatewayConfig) cfg =
        vmm_gateway_config_parse("[provider openai]\nupstream=https://a.example\nkey=k\n"
                                 "[provider anthropic]\nupstream=https://b.example\nkey=k\n",
                                 "t", NULL);
    const VmmGatewayProvider *pv = NULL;
    const VmmGatewayRoute *rt = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *model = NULL;
    gboolean stream = FALSE;
    VmmGatewayUsage u = {-1, -1};
    VmmGatewaySse sse;
    const char *events = "event: x\r\ndata: {\"message\":{\"usage\":{\"input_tokens\":4}}}\r\n\r\n"
                         "data: {\"usage\":{\"output_tokens\":2}}\n\ndata: {\"usage\":{\"output_"
                         "tokens\":9}}\n\ndata: [DONE]\n\n";

    g_assert_true(vmm_gateway_route(cfg, "POST", "/openai/v1/chat/completions", &pv, &rt, NULL));
    g_assert_cmpstr(pv->name, ==, "openai");
    g_assert_cmpstr(rt->path, ==, "/v1/chat/completions");
    g_assert_true(vmm_gateway_route(cfg, "GET", "/openai/v1/models", &pv, &rt, NULL));
    g_assert_true(vmm_gateway_route(cfg, "POST", "/anthropic/v1/messages", &pv, &rt, NULL));
    g_assert_false(
        vmm_gateway_route(cfg, "POST", "/anthropic/v1/chat/completions", &pv, &rt, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    g_assert_false(vmm_gateway_route(cfg, "GET", "/openai/v1/chat/completions", &pv, &rt, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(vmm_gateway_route(cfg, "POST", "/openai/v1/chat/completions/", &pv, &rt, NULL));
    g_assert_false(vmm_gateway_route(cfg, "POST", "/openai/../v1/messages", &pv, &rt, NULL));
    g_assert_false(vmm_gateway_route(cfg, "POST", "/gemini/v1/messages", &pv, &rt, NULL));
    g_assert_false(vmm_gateway_route(cfg, "CONNECT", "/openai/v1/models", &pv, &rt, NULL));
    g_assert_false(vmm_gateway_route(cfg, "POST", "", &pv, &rt, NULL));
    g_assert_false(vmm_gateway_route(cfg, "POST", "/openai", &pv, &rt, NULL));

    g_assert_true(
        vmm_gateway_check_request(CHAT_STREAM, strlen(CHAT_STREAM), &model, &stream, NULL));
    g_assert_cmpstr(model, ==, "gpt-fake");
    g_assert_true(stream);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_bodies); i++) {
        g_autofree char *m = NULL;
        g_assert_false(
            vmm_gateway_check_request(bad_bodies[i], strlen(bad_bodies[i]), &m, &stream, NULL));
    }
    {
        g_autofree char *m = NULL;
        g_assert_false(vmm_gateway_check_request("{\"model\":\"m\"}\0x", 15, &m, &stream, NULL));
    }

    {
        const char *r = "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
        vmm_gateway_usage_scan(&u, r, strlen(r));
    }
    g_assert_cmpint(u.input_tokens, ==, 3);
    g_assert_cmpint(u.output_tokens, ==, 4);
    vmm_gateway_sse_init(&sse);
    /* Byte by byte: a line split anywhere is still read whole. */
    for (const char *p = events; *p; p++)
        vmm_gateway_sse_feed(&sse, p, 1);
    g_assert_cmpint(sse.usage.input_tokens, ==, 4);
    g_assert_cmpint(sse.usage.output_tokens, ==, 9);
    vmm_gateway_sse_clear(&sse);
}

/* ---- the proxy ---- */

static void
test_forward_openai(void)
{
    g_autofree char *resp = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autoptr(GError) err = NULL;

    gateway_start(NULL);
    resp = call("POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(resp), ==, 200);
    g_assert_nonnull(strstr(resp, "hello from fake"));
    g_assert_cmpuint(fake.hits, ==, 1);
    /* The upstream got the real key, the body as sent, and never the guest's token. */
    g_assert_nonnull(strstr(fake.seen->str, "Bearer " KEY_OPENAI));
    g_assert_nonnull(strstr(fake.seen->str, CHAT));
    g_assert_null(strstr(fake.seen->str, TOKEN_A));
    g_assert_null(strstr(resp, KEY_OPENAI));
    ev = last_event("sb-a");
    g_assert_cmpstr(json_object_get_string_member(ev, "provider"), ==, "openai");
    g_assert_cmpstr(json_object_get_string_member(ev, "model"), ==, "gpt-fake");
    g_assert_cmpstr(json_object_get_string_member(ev, "endpoint"), ==, "/v1/chat/completions");
    g_assert_cmpint(json_object_get_int_member(ev, "status"), ==, 200);
    g_assert_cmpint(json_object_get_int_member(ev, "input_tokens"), ==, 11);
    g_assert_cmpint(json_object_get_int_member(ev, "output_tokens"), ==, 7);
    g_assert_cmpstr(json_object_get_string_member(ev, "result"), ==, "ok");
    {
        g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, CHAT, -1);
        g_assert_cmpstr(json_object_get_string_member(ev, "request_sha256"), ==, h);
    }
    vmm_gateway_flush(gw);
    g_assert_true(vmm_events_verify(state, "sb-a", NULL, &err));
    g_assert_no_error(err);

    /* Headers go by name: the guest's other credentials and cookies stay behind. */
    g_free(resp);
    g_string_truncate(fake.seen, 0);
    resp = call("POST", "/openai/v1/chat/completions",
                BEARER_A "\r\nx-api-key: " TOKEN_A "\r\nCookie: guest-cookie\r\n"
                         "Proxy-Authorization: Basic Z3Vlc3Q=\r\nX-Forwarded-Host: evil.example",
                CHAT);
    g_assert_cmpuint(status_of(resp), ==, 200);
    g_assert_null(strstr(fake.seen->str, TOKEN_A));
    g_assert_null(strstr(fake.seen->str, "guest-cookie"));
    g_assert_null(strstr(fake.seen->str, "Z3Vlc3Q="));
    g_assert_null(strstr(fake.seen->str, "evil.example"));
    g_free(resp);
    resp = call("GET", "/openai/v1/models", BEARER_A, NULL);
    g_assert_cmpuint(status_of(resp), ==, 200);
    g_assert_nonnull(strstr(resp, "fake-1"));
    assert_no_key_in_state();
    gateway_stop();
}

static void
test_stream_anthropic(void)
{
    g_autofree char *resp = NULL;
    g_autoptr(JsonObject) ev = NULL;
    g_autofree char *evidence_path = NULL;
    g_autofree char *evidence = NULL;

    gateway_start(NULL);
    resp = call("POST", "/anthropic/v1/messages", XKEY_A, MSG_STREAM);
    g_assert_cmpuint(status_of(resp), ==, 200);
    g_assert_nonnull(strstr(resp, "text/event-stream"));
    g_assert_nonnull(strstr(resp, "Transfer-Encoding: chunked"));
    g_assert_nonnull(strstr(resp, "hello from fake"));
    g_assert_nonnull(strstr(resp, "message_stop"));
    g_assert_nonnull(strstr(fake.seen->str, "x-api-key: " KEY_ANTHROPIC));
    g_assert_nonnull(strstr(fake.seen->str, "anthropic-version: 2023-06-01"));
    g_assert_null(strstr(fake.seen->str, TOKEN_A));
    ev = last_event("sb-a");
    g_assert_true(json_object_get_boolean_member(ev, "stream"));
    g_assert_cmpint(json_object_get_int_member(ev, "input_tokens"), ==, 13);
    g_assert_cmpint(json_object_get_int_member(ev, "output_tokens"), ==, 5);
    /* The evidence keeps the bodies (capped at 1K here, and marked so). */
    vmm_gateway_flush(gw);
    evidence_path = g_build_filename(state, "sandboxes", "sb-a", VMM_GATEWAY_EVIDENCE, NULL);
    g_assert_true(g_file_get_contents(evidence_path, &evidence, NULL, NULL));
    g_assert_nonnull(strstr(evidence, "claude-fake"));
    g_assert_nonnull(strstr(evidence, "message_start"));
    g_free(resp);
    /* The same call with OpenAI's header works too; streamed OpenAI usage is read as well. */
    resp = call("POST", "/openai/v1/chat/completions", BEARER_A, CHAT_STREAM);
    g_assert_cmpuint(status_of(resp), ==, 200);
    g_assert_nonnull(strstr(resp, "[DONE]"));
    g_clear_pointer(&ev, json_object_unref);
    ev = last_event("sb-a");
    g_assert_cmpint(json_object_get_int_member(ev, "input_tokens"), ==, 11);
    assert_no_key_in_state();
    gateway_stop();
}

static void
test_refusals(void)
{
    static const struct {
        const char *method, *path, *auth, *body;
        guint status;
    } cases[] = {
        {"POST", "/openai/v1/chat/completions", NULL, CHAT, 401},
        {"POST", "/openai/v1/chat/completions", "Authorization: Bearer " TOKEN_B, CHAT, 401},
        {"POST", "/openai/v1/chat/completions", "Authorization: Bearer " KEY_OPENAI, CHAT, 401},
        {"POST", "/openai/v1/completions", BEARER_A, CHAT, 404},
        {"POST", "/gemini/v1/models", BEARER_A, CHAT, 404},
        {"POST", "/openai/v1/chat/completions?x=1", BEARER_A, CHAT, 404},
        {"GET", "/openai/v1/chat/completions", BEARER_A, NULL, 405},
        {"DELETE", "/openai/v1/models", BEARER_A, NULL, 405},
        {"POST", "http://evil.example/v1/chat/completions", BEARER_A, CHAT, 404},
        {"POST", "/openai/v1/chat/completions", BEARER_A, "{\"model\":", 400},
        {"POST", "/openai/v1/chat/completions", BEARER_A, "{\"messages\":[]}", 400},
    };
    guint n_events;

    gateway_start(NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *resp = call(cases[i].method, cases[i].path, cases[i].auth, cases[i].body);
        if (status_of(resp) != cases[i].status)
            g_error("case %zu: %s %s: got %.60s", i, cases[i].method, cases[i].path, resp);
        g_assert_nonnull(strstr(resp, "\"error\""));
    }
    /* Too large: refused from its headers, before the body is read. */
    {
        g_autofree char *big = g_strnfill(5000, 'x');
        g_autofree char *resp = call("POST", "/openai/v1/chat/completions", BEARER_A, big);
        g_assert_cmpuint(status_of(resp), ==, 413);
    }
    /* Chunked: no length to check up front. */
    {
        g_autofree char *resp =
            raw_full("127.0.0.1", vmm_gateway_port(gw, "sb-a"),
                     "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: gw\r\n" BEARER_A
                     "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                     0);
        g_assert_cmpuint(status_of(resp), ==, 411);
    }
    /* CONNECT: the gateway is no proxy. */
    {
        g_autofree char *resp = raw_full(
            "127.0.0.1", vmm_gateway_port(gw, "sb-a"),
            "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n" BEARER_A "\r\n\r\n", 0);
        g_assert_cmpuint(status_of(resp), >=, 400);
    }
    g_assert_cmpuint(fake.hits, ==, 0);
    g_assert_cmpuint(strlen(fake.seen->str), ==, 0);
    /* Each refusal is a record, not forwarded. */
    {
        g_autoptr(GPtrArray) ev = model_events("sb-a");
        n_events = ev->len;
        g_assert_cmpuint(n_events, >=, G_N_ELEMENTS(cases) + 2);
        for (guint i = 0; i < ev->len; i++) {
            JsonObject *o = g_ptr_array_index(ev, i);
            g_assert_false(json_object_get_boolean_member(o, "forwarded"));
            g_assert_cmpstr(json_object_get_string_member(o, "result"), ==, "failed");
        }
    }
    assert_no_key_in_state();
    gateway_stop();
}

static void
test_other_sandboxes(void)
{
    g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL;

    gateway_start(NULL);
    /* b listens elsewhere and has its own token: a's is useless there. */
    add_sandbox("sb-b", "127.0.0.2", "127.0.0.1", TOKEN_B, 0, 0, NULL);
    /* c accepts calls from its guest's address only. */
    add_sandbox("sb-c", "127.0.0.3", "127.0.0.9", TOKEN_A, 0, 0, NULL);
    r1 = call_at("127.0.0.2", "sb-b", "POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(r1), ==, 401);
    r2 = call_at("127.0.0.3", "sb-c", "POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(r2), ==, 403);
    g_assert_cmpuint(fake.hits, ==, 0);
    r3 = call_at("127.0.0.2", "sb-b", "POST", "/openai/v1/chat/completions",
                 "Authorization: Bearer " TOKEN_B, CHAT);
    g_assert_cmpuint(status_of(r3), ==, 200);
    {
        g_autoptr(GPtrArray) a = model_events("sb-a");
        g_autoptr(GPtrArray) b = model_events("sb-b");
        g_assert_cmpuint(a->len, ==, 0);
        g_assert_cmpuint(b->len, ==, 2);
    }
    /* Removed: nothing listens any more. */
    {
        guint port = vmm_gateway_port(gw, "sb-b");
        g_autoptr(GSocketClient) cl = g_socket_client_new();
        g_autoptr(GSocketConnection) conn = NULL;
        vmm_gateway_remove(gw, "sb-b");
        conn = g_socket_client_connect_to_host(cl, "127.0.0.2", port, NULL, NULL);
        g_assert_null(conn);
    }
    gateway_stop();
}

static void
test_upstream_faults(void)
{
    g_autofree char *dead = NULL, *redir = NULL, *slow = NULL;
    g_autoptr(JsonObject) ev = NULL;
    gint64 t0;

    gateway_start(NULL);
    dead = call("POST", "/dead/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(dead), ==, 502);
    ev = last_event("sb-a");
    g_assert_cmpstr(json_object_get_string_member(ev, "code"), ==, "upstream-unreachable");
    redir = call("POST", "/redir/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(redir), ==, 502);
    g_assert_cmpuint(fake.evil_hits, ==, 0);
    t0 = g_get_monotonic_time();
    slow = call("POST", "/slow/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(slow), ==, 504);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    g_clear_pointer(&ev, json_object_unref);
    ev = last_event("sb-a");
    g_assert_cmpstr(json_object_get_string_member(ev, "code"), ==, "upstream-timeout");
    g_assert_true(json_object_get_boolean_member(ev, "forwarded"));
    gateway_stop();
}

static void
test_limits(void)
{
    g_autofree char *r = NULL;
    guint hits;

    gateway_start("max-calls=2\nmodels=gpt-fake;claude-fake\n");
    r = call("POST", "/openai/v1/chat/completions", BEARER_A,
             "{\"model\":\"gpt-expensive\",\"messages\":[]}");
    g_assert_cmpuint(status_of(r), ==, 429);
    g_assert_cmpuint(fake.hits, ==, 0);
    for (int i = 0; i < 2; i++) {
        g_free(r);
        r = call("POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
        g_assert_cmpuint(status_of(r), ==, 200);
    }
    g_free(r);
    r = call("POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
    g_assert_cmpuint(status_of(r), ==, 429);
    g_assert_nonnull(strstr(r, "\"limit\""));
    g_assert_cmpuint(fake.hits, ==, 2);
    gateway_stop();

    /* One call in flight at most: the second is refused while the first waits. */
    gateway_start(NULL);
    add_sandbox("sb-d", "127.0.0.4", "127.0.0.1", TOKEN_A, 0, 1, NULL);
    {
        g_autoptr(GSocketClient) cl = g_socket_client_new();
        g_autofree char *req = request("POST", "/slow/v1/chat/completions", BEARER_A, CHAT);
        g_autoptr(GSocketConnection) held = g_socket_client_connect_to_host(
            cl, "127.0.0.4", vmm_gateway_port(gw, "sb-d"), NULL, NULL);
        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(held)), req,
                                  strlen(req), NULL, NULL, NULL);
        while (fake.paused->len == 0)
            g_main_context_iteration(NULL, TRUE);
        hits = fake.hits;
        g_free(r);
        r = call_at("127.0.0.4", "sb-d", "POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
        g_assert_cmpuint(status_of(r), ==, 429);
        g_assert_cmpuint(fake.hits, ==, hits);
        /* Another sandbox is not held up by it. */
        g_free(r);
        r = call("POST", "/openai/v1/chat/completions", BEARER_A, CHAT);
        g_assert_cmpuint(status_of(r), ==, 200);
    }
    gateway_stop();
}

/* The guest hangs up in the middle of a stream: the call is recorded as such. */
static void
test_client_gone(void)
{
    g_autofree char *req = NULL;
    g_autoptr(GSocketClient) cl = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(JsonObject) ev = NULL;
    gint64 deadline;

    gateway_start(NULL);
    req = request("POST", "/slow/v1/chat/completions", BEARER_A, CHAT);
    conn =
        g_socket_client_connect_to_host(cl, "127.0.0.1", vmm_gateway_port(gw, "sb-a"), NULL, NULL);
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), req, strlen(req),
                              NULL, NULL, NULL);
    while (fake.paused->len == 0)
        g_main_context_iteration(NULL, TRUE);
    g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GPtrArray) e = model_events("sb-a");
        if (e->len)
            break;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    ev = last_event("sb-a");
    g_assert_cmpstr(json_object_get_string_member(ev, "result"), ==, "failed");
    gateway_stop();
}

/* create with [model-gateway] on test:///default: registry, port, token; never the key. */
static void
test_create(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *st = g_dir_make_tmp("airlock-test-gateway-create-XXXXXX", &err);
    g_autofree char *conf = NULL, *reg = NULL, *text = NULL, *xml = NULL, *cmd = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(VmmGatewaySandbox) sb = NULL;
    g_autoptr(VmmGatewaySetup) setup = NULL;
    virConnectPtr conn;
    VmmContext ctx = {0};
    VmmGatewayLimits none = {0};

    g_assert_no_error(err);
    make_image(st);
    conf = g_build_filename(st, "gateway.conf", NULL);
    g_assert_true(g_file_set_contents(conf,
                                      "[gateway]\nport=8471\n[provider openai]\nupstream=https://"
                                      "api.example.com\nkey=" KEY_OPENAI "\n",
                                      -1, NULL));
    /* A key file others can read is refused. */
    g_assert_cmpint(chmod(conf, 0644), ==, 0);
    g_assert_null(vmm_gateway_setup_new(st, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_clear_error(&err);
    g_assert_cmpint(chmod(conf, 0600), ==, 0);
    /* What create holds has no key left in it. */
    setup = vmm_gateway_setup_new(st, &err);
    g_assert_no_error(err);
    g_assert_null(((VmmGatewayProvider *)g_ptr_array_index(setup->cfg->providers, 0))->key);
    g_assert_true(vmm_secrets_add(secrets, "OPENAI_API_KEY", "mine", NULL));
    g_assert_false(vmm_gateway_setup_register(setup, st, "gw-x", "10.1.2.1", "10.1.2.2/24", &none,
                                              secrets, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);

    /* The spec's [model-gateway]: present means on; limits and models are checked. */
    {
        g_autofree char *sp = g_build_filename(st, "s.spec", NULL);
        g_autoptr(VmmSpec) s1 = vmm_spec_new();
        g_autoptr(VmmSpec) s2 = vmm_spec_new();
        g_autoptr(VmmSpec) s3 = vmm_spec_new();
        g_autofree char *h1 = NULL, *h0 = vmm_spec_hash(s2);
        g_assert_true(g_file_set_contents(
            sp, "[model-gateway]\nmax-calls=3\nmodels=gpt-4o;claude-x\n", -1, NULL));
        g_assert_true(vmm_spec_load_file(s1, sp, &err));
        g_assert_no_error(err);
        g_assert_true(s1->gateway.enabled);
        g_assert_cmpuint(s1->gateway.max_calls, ==, 3);
        g_assert_cmpstr(s1->gateway.models[1], ==, "claude-x");
        h1 = vmm_spec_hash(s1);
        g_assert_cmpstr(h1, !=, h0);
        g_assert_true(g_file_set_contents(sp, "[model-gateway]\nmodels=a b\n", -1, NULL));
        g_assert_false(vmm_spec_load_file(s2, sp, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
        g_assert_true(g_file_set_contents(sp, "[network]\nmode=none\n[model-gateway]\n", -1, NULL));
        g_assert_true(vmm_spec_load_file(s3, sp, &err));
        g_assert_false(vmm_spec_validate(s3, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
    }
    conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    ctx.conn = conn;
    ctx.state_dir = st;
    ctx.accel = VMM_ACCEL_TCG;
    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->gateway.enabled = TRUE;
    spec->gateway.max_calls = 7;
    g_assert_true(vmm_sandbox_create(&ctx, "gw-one", spec, NULL, 10, 0, NULL, &err));
    g_assert_no_error(err);
    dom = vmm_sandbox_lookup(conn, "gw-one", &err);
    md = vmm_sandbox_metadata(dom, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(md->gateway_port, ==, 8471);
    reg = g_build_filename(st, "sandboxes", "gw-one", VMM_GATEWAY_REGISTRY, NULL);
    g_assert_true(g_file_get_contents(reg, &text, NULL, NULL));
    sb = vmm_gateway_sandbox_parse(text, strlen(text), &err);
    g_assert_no_error(err);
    g_assert_cmpstr(sb->host_ip, ==, md->host_address);
    g_assert_true(g_str_has_prefix(md->address, sb->guest_ip));
    g_assert_cmpuint(sb->limits.max_calls, ==, 7);
    xml = virDomainGetXMLDesc(dom, 0);
    g_assert_null(strstr(xml, KEY_OPENAI));
    g_assert_nonnull(strstr(xml, "model-gateway port=\"8471\""));
    /* The key is in gateway.conf and nowhere else under the state directory. */
    cmd = g_strdup_printf("test \"$(grep -rl '%s' '%s')\" = '%s'", KEY_OPENAI, st, conf);
    g_assert_cmpint(system(cmd), ==, 0);
    g_assert_true(vmm_sandbox_destroy(&ctx, "gw-one", 0, NULL, &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(reg, G_FILE_TEST_EXISTS));
    virConnectClose(conn);
    g_free(cmd);
    cmd = g_strdup_printf("rm -rf '%s'", st);
    g_assert_cmpint(system(cmd), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    fake_start();
    g_test_add_func("/gateway/config", test_config);
    g_test_add_func("/gateway/registry", test_registry);
    g_test_add_func("/gateway/proto", test_proto);
    g_test_add_func("/gateway/forward-openai", test_forward_openai);
    g_test_add_func("/gateway/stream-anthropic", test_stream_anthropic);
    g_test_add_func("/gateway/refusals", test_refusals);
    g_test_add_func("/gateway/other-sandboxes", test_other_sandboxes);
    g_test_add_func("/gateway/upstream-faults", test_upstream_faults);
    g_test_add_func("/gateway/limits", test_limits);
    g_test_add_func("/gateway/client-gone", test_client_gone);
    g_test_add_func("/gateway/create", test_create);
    return g_test_run();
}
