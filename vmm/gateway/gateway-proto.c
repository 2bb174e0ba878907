/* gateway-proto.c: what the gateway reads of requests and responses (pure; fuzzed). */
#include <config.h>

#include "gateway.h"
#include "agent-json.h"
#include "error.h"

#include <string.h>

/* One SSE line longer than this is not read for usage (it is still passed through). */
#define SSE_LINE_MAX (1024 * 1024)
/* A response body read for usage at most this long (larger: usage unknown). */
#define USAGE_BODY_MAX (8 * 1024 * 1024)

static const VmmGatewayRoute routes[] = {
    {VMM_GATEWAY_KIND_OPENAI, "POST", "/v1/chat/completions"},
    {VMM_GATEWAY_KIND_OPENAI, "POST", "/v1/responses"},
    {VMM_GATEWAY_KIND_OPENAI, "POST", "/v1/embeddings"},
    {VMM_GATEWAY_KIND_OPENAI, "GET", "/v1/models"},
    {VMM_GATEWAY_KIND_ANTHROPIC, "POST", "/v1/messages"},
};

gboolean
vmm_gateway_route(const VmmGatewayConfig *cfg, const char *method, const char *path,
                  const VmmGatewayProvider **prov, const VmmGatewayRoute **route, GError **error)
{
    const char *rest = path && path[0] == '/' ? strchr(path + 1, '/') : NULL;
    gsize plen = rest ? (gsize)(rest - path - 1) : 0;
    const VmmGatewayProvider *found = NULL;
    gboolean other_method = FALSE;

    for (guint i = 0; rest && i < cfg->providers->len; i++) {
        const VmmGatewayProvider *pv = g_ptr_array_index(cfg->providers, i);
        if (strlen(pv->name) == plen && !memcmp(pv->name, path + 1, plen))
            found = pv;
    }
    if (!found) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "no provider at this path (the gateway serves /PROVIDER/v1/...: see "
                    "*_BASE_URL in the environment)");
        return FALSE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
        if (routes[i].kind != found->kind || strcmp(routes[i].path, rest) != 0)
            continue;
        if (strcmp(routes[i].method, method) != 0) {
            other_method = TRUE;
            continue;
        }
        *prov = found;
        *route = &routes[i];
        return TRUE;
    }
    if (other_method)
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "method %s is not served on this path",
                    strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? method : "used");
    else
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "the gateway does not forward this path for provider '%s'", found->name);
    return FALSE;
}

gboolean
vmm_gateway_check_request(const char *body, gsize len, char **model, gboolean *stream,
                          GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autofree char *text = NULL;
    JsonObject *o;
    JsonNode *m, *s;
    const char *name;

    *model = NULL;
    *stream = FALSE;
    /* json-glib leaks on some malformed input: only a checked object reaches it. */
    if (!body || memchr(body, 0, len) || !(text = g_strndup(body, len)) ||
        !vmm_json_is_one_object(text) || !json_parser_load_from_data(p, text, len, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the request body is not one JSON object");
        return FALSE;
    }
    o = json_node_get_object(json_parser_get_root(p));
    m = json_object_get_member(o, "model");
    name = m && JSON_NODE_HOLDS_VALUE(m) && json_node_get_value_type(m) == G_TYPE_STRING
               ? json_node_get_string(m)
               : NULL;
    if (!vmm_gateway_model_valid(name)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "\"model\" must be a model name (letters, digits, ._:/@-, at most 200)");
        return FALSE;
    }
    s = json_object_get_member(o, "stream");
    if (s && !(JSON_NODE_HOLDS_NULL(s) ||
               (JSON_NODE_HOLDS_VALUE(s) && json_node_get_value_type(s) == G_TYPE_BOOLEAN))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "\"stream\" must be true or false");
        return FALSE;
    }
    *stream = s && JSON_NODE_HOLDS_VALUE(s) && json_node_get_boolean(s);
    *model = g_strdup(name);
    return TRUE;
}

static gint64
int_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return -1;
    return json_node_get_int(n);
}

static JsonObject *
obj_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static void
take_usage(VmmGatewayUsage *u, JsonObject *usage)
{
    gint64 in = int_member(usage, "input_tokens");
    gint64 out = int_member(usage, "output_tokens");

    if (in < 0)
        in = int_member(usage, "prompt_tokens");
    if (out < 0)
        out = int_member(usage, "completion_tokens");
    u->input_tokens = MAX(u->input_tokens, in);
    u->output_tokens = MAX(u->output_tokens, out);
}

void
vmm_gateway_usage_scan(VmmGatewayUsage *u, const char *text, gsize len)
{
    g_autoptr(JsonParser) p = NULL;
    g_autofree char *copy = NULL;
    JsonObject *o;

    if (!text || len == 0 || len > USAGE_BODY_MAX || memchr(text, 0, len))
        return;
    copy = g_strndup(text, len);
    if (!vmm_json_is_one_object(copy))
        return;
    p = json_parser_new();
    if (!json_parser_load_from_data(p, copy, len, NULL))
        return;
    o = json_node_get_object(json_parser_get_root(p));
    take_usage(u, obj_member(o, "usage"));
    take_usage(u, obj_member(obj_member(o, "message"), "usage"));
    take_usage(u, obj_member(obj_member(o, "response"), "usage"));
}

void
vmm_gateway_sse_init(VmmGatewaySse *s)
{
    s->line = g_string_new(NULL);
    s->skipping = FALSE;
    s->usage.input_tokens = s->usage.output_tokens = -1;
}

void
vmm_gateway_sse_clear(VmmGatewaySse *s)
{
    if (s->line)
        g_string_free(s->line, TRUE);
    s->line = NULL;
}

static void
sse_line(VmmGatewaySse *s)
{
    const char *l = s->line->str;
    gsize n = s->line->len;

    if (n && l[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(l, "data:", 5) != 0)
        return;
    l += 5, n -= 5;
    if (n && *l == ' ')
        l++, n--;
    vmm_gateway_usage_scan(&s->usage, l, n);
}

void
vmm_gateway_sse_feed(VmmGatewaySse *s, const char *data, gsize len)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        gsize take = nl ? (gsize)(nl - data) : len;

        if (!s->skipping) {
            if (s->line->len + take > SSE_LINE_MAX) {
                s->skipping = TRUE;
                g_string_truncate(s->line, 0);
            } else {
                g_string_append_len(s->line, data, take);
            }
        }
        if (!nl)
            return;
        if (!s->skipping)
            sse_line(s);
        s->skipping = FALSE;
        g_string_truncate(s->line, 0);
        data += take + 1;
        len -= take + 1;
    }
}
