/*
 * ops-remote-api.c: the pure half of the airlockd backend (ops-remote.h):
 * request bodies from the operations' types, errors and exec frames back.
 */
#include <config.h>

#include "ops-remote.h"
#include "error.h"

#include <string.h>
#include <sys/ioctl.h>

#define REMOTE_MESSAGE_MAX 1024

/* ---- errors ------------------------------------------------------------------------------ */

/* @text as one printable line of at most REMOTE_MESSAGE_MAX bytes. Caller frees. */
static char *
one_line(const char *text)
{
    g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
    GString *s = g_string_new(NULL);

    for (const char *p = valid; *p && s->len < REMOTE_MESSAGE_MAX; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
            g_string_append_c(s, '?');
        else
            g_string_append_unichar(s, c);
    }
    return g_string_free(s, FALSE);
}

static VmmErrorCode
code_for_status(guint status)
{
    switch (status) {
    case 400:
    case 413:
        return VMM_ERROR_INVALID;
    case 404:
        return VMM_ERROR_NOT_FOUND;
    case 409:
        return VMM_ERROR_EXISTS;
    case 401:
    case 403:
        return VMM_ERROR_HOST;
    case 503:
        return VMM_ERROR_CONNECT;
    case 504:
        return VMM_ERROR_TIMEOUT;
    default:
        return VMM_ERROR_FAILED;
    }
}

/* The error of an {"error":{...}} object, or NULL when @o is not one. */
static GError *
error_from_object(JsonObject *o, guint status)
{
    static const struct {
        const char *name;
        VmmErrorCode code;
    } daemon_codes[] = {{"quota", VMM_ERROR_HOST},
                        {"forbidden", VMM_ERROR_HOST},
                        {"unauthorized", VMM_ERROR_HOST},
                        {"too-large", VMM_ERROR_INVALID},
                        {"unavailable", VMM_ERROR_CONNECT}};
    JsonNode *e = o ? json_object_get_member(o, "error") : NULL;
    const char *code_s, *message;
    g_autofree char *line = NULL;
    VmmErrorCode code;

    if (!e || !JSON_NODE_HOLDS_OBJECT(e))
        return NULL;
    code_s = json_object_get_string_member_with_default(json_node_get_object(e), "code", NULL);
    message = json_object_get_string_member_with_default(json_node_get_object(e), "message", NULL);
    if (!code_s || !message)
        return NULL;
    code = vmm_error_code_from_string(code_s);
    for (gsize i = 0; code == VMM_ERROR_LAST && i < G_N_ELEMENTS(daemon_codes); i++)
        if (g_str_equal(code_s, daemon_codes[i].name))
            code = daemon_codes[i].code;
    if (code == VMM_ERROR_LAST)
        code = code_for_status(status);
    line = one_line(message);
    return g_error_new_literal(VMM_ERROR, code, line);
}

static JsonNode *
parse_json(const char *data, gsize len)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();

    if (!data || !json_parser_load_from_data(p, data, (gssize)len, NULL) ||
        !json_parser_get_root(p))
        return NULL;
    return json_node_ref(json_parser_get_root(p));
}

GError *
vmm_remote_error_from_body(guint status, const char *body, gsize len)
{
    g_autoptr(JsonNode) root = parse_json(body, len);
    GError *e = root && JSON_NODE_HOLDS_OBJECT(root)
                    ? error_from_object(json_node_get_object(root), status)
                    : NULL;

    if (e)
        return e;
    return g_error_new(VMM_ERROR, code_for_status(status),
                       "airlockd answered HTTP %u without an error body (its log says why)",
                       status);
}

/* ---- request bodies ------------------------------------------------------------------------ */

static char *
builder_to_data(JsonBuilder *b, gsize *len)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, len);
}

/* "K=V" strings as the object {K: V}. */
static void
add_kv_object(JsonBuilder *b, const char *key, const char *const *kvs, guint n)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_object(b);
    for (guint i = 0; i < n; i++) {
        const char *eq = strchr(kvs[i], '=');
        g_autofree char *k = g_strndup(kvs[i], eq ? (gsize)(eq - kvs[i]) : strlen(kvs[i]));
        json_builder_set_member_name(b, k);
        json_builder_add_string_value(b, eq ? eq + 1 : "");
    }
    json_builder_end_object(b);
}

/* A list item of a spec file: ';' separates items, "\;" is a literal one. */
static void
append_spec_item(GString *s, const char *item)
{
    for (const char *p = item; *p; p++) {
        if (*p == ';')
            g_string_append_c(s, '\\');
        g_string_append_c(s, *p);
    }
}

/* What the create fields do not carry, as spec text; NULL when nothing is left. */
static char *
spec_rest(const VmmSpec *spec)
{
    GString *s = g_string_new(NULL);

    if (spec->max_copy_bytes)
        g_string_append_printf(s, "[sandbox]\nmax-copy-size = %" G_GUINT64_FORMAT "\n",
                               spec->max_copy_bytes);
    if (spec->deny) {
        g_string_append(s, "[secrets]\ndeny =");
        for (char **d = spec->deny; *d; d++) {
            g_string_append(s, d == spec->deny ? " " : ";");
            append_spec_item(s, *d);
        }
        g_string_append_c(s, '\n');
    }
    if (spec->gateway.enabled) {
        g_string_append_printf(s,
                               "[model-gateway]\nmax-calls = %" G_GUINT64_FORMAT
                               "\nmax-tokens = %" G_GUINT64_FORMAT "\nmax-concurrent = %u\n",
                               spec->gateway.max_calls, spec->gateway.max_tokens,
                               spec->gateway.max_concurrent);
        if (spec->gateway.models) {
            g_string_append(s, "models =");
            for (char **m = spec->gateway.models; *m; m++)
                g_string_append_printf(s, "%s%s", m == spec->gateway.models ? " " : ";", *m);
            g_string_append_c(s, '\n');
        }
    }
    if (s->len == 0) {
        g_string_free(s, TRUE);
        return NULL;
    }
    return g_string_free(s, FALSE);
}

char *
vmm_remote_create_body(const VmmCreateRequest *req, gsize *len, GError **error)
{
    const VmmSpec *spec = req->spec;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *image = NULL;
    g_autofree char *rest = NULL;

    if (spec->parts && spec->parts->len > 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "[cloud-init] parts are host files, which airlockd does not read (create "
                    "this sandbox as root)");
        return NULL;
    }
    image = spec->image_digest ? g_strdup_printf("%s@%s", spec->image, spec->image_digest)
                               : g_strdup(spec->image);
    rest = spec_rest(spec);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, req->name);
    if (rest) {
        json_builder_set_member_name(b, "spec");
        json_builder_add_string_value(b, rest);
    }
    json_builder_set_member_name(b, "image");
    json_builder_add_string_value(b, image);
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, spec->cpus);
    json_builder_set_member_name(b, "memory_mib");
    json_builder_add_int_value(b, spec->memory_mib);
    json_builder_set_member_name(b, "disk_gib");
    json_builder_add_int_value(b, spec->disk_gib);
    json_builder_set_member_name(b, "network");
    json_builder_add_string_value(b, vmm_net_mode_to_string(spec->net_mode));
    if (spec->allow && *spec->allow) {
        json_builder_set_member_name(b, "allow");
        json_builder_begin_array(b);
        for (char **a = spec->allow; *a; a++)
            json_builder_add_string_value(b, *a);
        json_builder_end_array(b);
    }
    json_builder_set_member_name(b, "ttl");
    json_builder_add_int_value(b, spec->ttl_s);
    add_kv_object(b, "env", (const char *const *)spec->env->pdata, spec->env->len);
    add_kv_object(b, "labels", (const char *const *)spec->labels->pdata, spec->labels->len);
    if (req->secrets) {
        json_builder_set_member_name(b, "secrets");
        json_builder_begin_object(b);
        for (guint i = 0; i < vmm_secrets_count(req->secrets); i++) {
            json_builder_set_member_name(b, vmm_secrets_key(req->secrets, i));
            json_builder_add_string_value(b, vmm_secrets_value(req->secrets, i));
        }
        json_builder_end_object(b);
    }
    if (req->timeout_s) {
        json_builder_set_member_name(b, "timeout_s");
        json_builder_add_int_value(b, req->timeout_s);
    }
    json_builder_set_member_name(b, "no_snapshot");
    json_builder_add_boolean_value(b, req->no_snapshot);
    if (req->cold) {
        json_builder_set_member_name(b, "cold");
        json_builder_add_boolean_value(b, TRUE);
    }
    json_builder_end_object(b);
    /* json-glib's copies of the secret values are freed (not wiped) with the builder. */
    return builder_to_data(b, len);
}

char *
vmm_remote_exec_body(const VmmAgentExec *spec, gboolean websocket, gsize *len)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint n_env = spec->env ? g_strv_length((char **)spec->env) : 0;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "argv");
    json_builder_begin_array(b);
    for (const char *const *a = spec->argv; a && *a; a++)
        json_builder_add_string_value(b, *a);
    json_builder_end_array(b);
    if (n_env)
        add_kv_object(b, "env", spec->env, n_env);
    if (spec->workdir) {
        json_builder_set_member_name(b, "workdir");
        json_builder_add_string_value(b, spec->workdir);
    }
    if (spec->user) {
        json_builder_set_member_name(b, "user");
        json_builder_add_string_value(b, spec->user);
    }
    if (spec->group) {
        json_builder_set_member_name(b, "group");
        json_builder_add_string_value(b, spec->group);
    }
    if (websocket && spec->tty) {
        struct winsize ws = {0};
        json_builder_set_member_name(b, "tty");
        json_builder_add_boolean_value(b, TRUE);
        if (ioctl(spec->stdin_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row &&
            ws.ws_col <= 1000 && ws.ws_row <= 1000) {
            json_builder_set_member_name(b, "cols");
            json_builder_add_int_value(b, ws.ws_col);
            json_builder_set_member_name(b, "rows");
            json_builder_add_int_value(b, ws.ws_row);
        }
    }
    if (spec->input && !websocket) {
        gsize n = 0;
        const guchar *data = g_bytes_get_data(spec->input, &n);
        g_autofree char *b64 = g_base64_encode(data, n);
        json_builder_set_member_name(b, "stdin_base64");
        json_builder_add_string_value(b, b64);
    }
    if (spec->timeout_ms) {
        /* The API counts whole seconds: a shorter limit waits up to the next second. */
        json_builder_set_member_name(b, "timeout_s");
        json_builder_add_int_value(b, (spec->timeout_ms + 999) / 1000);
    }
    json_builder_set_member_name(b, "sandbox_env");
    json_builder_add_boolean_value(b, spec->with_sandbox_env);
    json_builder_end_object(b);
    return builder_to_data(b, len);
}

/* ---- exec frames --------------------------------------------------------------------------- */

static gboolean
bad_frame(GError **error)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                "airlockd sent an exec frame this airlock does not understand (same version?)");
    return FALSE;
}

gboolean
vmm_remote_exec_frame(const char *line, gsize len, const VmmAgentExec *spec, gboolean *done,
                      int *exit_code, GError **error)
{
    g_autoptr(JsonNode) root = parse_json(line, len);
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    const char *stream, *data;
    JsonNode *code;
    g_autofree guchar *raw = NULL;
    gsize n = 0;
    GError *e;

    if (!o)
        return bad_frame(error);
    if ((e = error_from_object(o, 500))) {
        *done = TRUE;
        g_propagate_error(error, e);
        return FALSE;
    }
    if ((code = json_object_get_member(o, "exit_code"))) {
        if (!JSON_NODE_HOLDS_VALUE(code) || json_node_get_value_type(code) != G_TYPE_INT64 ||
            json_node_get_int(code) < G_MININT || json_node_get_int(code) > G_MAXINT)
            return bad_frame(error);
        *exit_code = (int)json_node_get_int(code);
        *done = TRUE;
        return TRUE;
    }
    stream = json_object_get_string_member_with_default(o, "stream", NULL);
    data = json_object_get_string_member_with_default(o, "data", NULL);
    if (!stream || !data ||
        strspn(data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
            strlen(data))
        return bad_frame(error);
    raw = g_base64_decode(data, &n);
    if (g_str_equal(stream, "stdout")) {
        if (spec->on_stdout && n)
            spec->on_stdout((const char *)raw, n, spec->user_data);
    } else if (g_str_equal(stream, "stderr")) {
        if (spec->on_stderr && n)
            spec->on_stderr((const char *)raw, n, spec->user_data);
    } else {
        return bad_frame(error);
    }
    return TRUE;
}
