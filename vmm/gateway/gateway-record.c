/* gateway-record.c: each call's audit record and evidence line. */
#include <config.h>

#include "gateway-private.h"
#include "events.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define REDACTED "[redacted]"

void
vmm_gateway_keep(GString *s, const char *p, gsize len, guint64 max)
{
    if (s->len < max && p)
        g_string_append_len(s, p, MIN(len, max - s->len));
}

/* @text as valid UTF-8 with every provider key replaced. Caller frees. */
static char *
redact(const VmmGatewayConfig *cfg, const GString *text)
{
    g_autofree char *valid = g_utf8_make_valid(text->str, text->len);
    GString *out = g_string_new(valid);

    for (guint i = 0; i < cfg->providers->len; i++) {
        const VmmGatewayProvider *pv = g_ptr_array_index(cfg->providers, i);
        g_string_replace(out, pv->key, REDACTED, 0);
    }
    return g_string_free(out, FALSE);
}

static void
add_str(JsonObject *o, const char *name, const char *value)
{
    if (value)
        json_object_set_string_member(o, name, value);
}

static void
add_tokens(JsonObject *o, const VmmGatewayUsage *u)
{
    if (u->input_tokens >= 0)
        json_object_set_int_member(o, "input_tokens", u->input_tokens);
    if (u->output_tokens >= 0)
        json_object_set_int_member(o, "output_tokens", u->output_tokens);
    if (u->input_tokens >= 0 && u->output_tokens >= 0)
        json_object_set_int_member(o, "total_tokens", u->input_tokens + u->output_tokens);
}

/* The members the event and the evidence line share: Inspect's ModelEvent names where they overlap.
 */
static JsonObject *
call_fields(const GwCall *c)
{
    JsonObject *o = json_object_new();
    g_autofree char *endpoint =
        c->route ? NULL
                 : g_utf8_make_valid(c->endpoint ? c->endpoint : "",
                                     MIN(strlen(c->endpoint ? c->endpoint : ""), 200));

    add_str(o, "provider", c->pv ? c->pv->name : NULL);
    add_str(o, "model", c->model);
    add_str(o, "endpoint", c->route ? c->route->path : endpoint);
    json_object_set_int_member(o, "status", c->status);
    json_object_set_boolean_member(o, "stream", c->stream);
    json_object_set_double_member(o, "working_time", (g_get_monotonic_time() - c->start) / 1e6);
    add_tokens(o, &c->sse.usage);
    add_str(o, "request_sha256", g_checksum_get_string(c->req_sum));
    add_str(o, "response_sha256", g_checksum_get_string(c->resp_sum));
    json_object_set_int_member(o, "request_bytes", c->req_bytes);
    json_object_set_int_member(o, "response_bytes", c->resp_bytes);
    json_object_set_boolean_member(o, "forwarded", c->up != NULL);
    json_object_set_string_member(o, "result", c->error ? "failed" : "ok");
    add_str(o, "error", c->error);
    add_str(o, "code", c->code);
    json_object_set_string_member(o, "via", "model-gateway");
    return o;
}

static void
write_evidence(const char *state_dir, const VmmGatewayConfig *cfg, const GwCall *c)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, c->sb->sb->name);
    g_autofree char *path = g_build_filename(dir, VMM_GATEWAY_EVIDENCE, NULL);
    g_autoptr(JsonObject) o = call_fields(c);
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *req = redact(cfg, c->req_kept);
    g_autofree char *resp = redact(cfg, c->resp_kept);
    g_autofree char *line = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format_iso8601(now);
    int fd;

    json_object_set_string_member(o, "time", time);
    json_object_set_string_member(o, "request", req);
    json_object_set_boolean_member(o, "request_truncated", c->req_kept->len < c->req_bytes);
    json_object_set_string_member(o, "response", resp);
    json_object_set_boolean_member(o, "response_truncated", c->resp_kept->len < c->resp_bytes);
    json_node_set_object(node, o);
    line = json_to_string(node, FALSE);
    /* Only where the sandbox's directory still is: a removed sandbox keeps no evidence here. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_debug("model gateway: no evidence for '%s': %s", c->sb->sb->name, g_strerror(errno));
        return;
    }
    if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0)
        g_debug("model gateway: evidence of '%s' not written", c->sb->sb->name);
    close(fd);
}

void
vmm_gateway_record(const char *state_dir, const VmmGatewayConfig *cfg, GwCall *c)
{
    g_autoptr(JsonObject) fields = call_fields(c);
    g_autoptr(GError) err = NULL;

    if (!vmm_events_append(state_dir, c->sb->sb->name, VMM_GATEWAY_EVENT, fields, &err))
        g_warning("model gateway: audit record of '%s' not written: %s", c->sb->sb->name,
                  err->message);
    write_evidence(state_dir, cfg, c);
}
