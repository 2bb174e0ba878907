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

/* The evidence line of @c: the record's fields, the time and the bodies. Caller frees. */
static char *
evidence_line(const VmmGatewayConfig *cfg, const GwCall *c)
{
    g_autoptr(JsonObject) o = call_fields(c);
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *req = redact(cfg, c->req_kept);
    g_autofree char *resp = redact(cfg, c->resp_kept);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format_iso8601(now);

    json_object_set_string_member(o, "time", time);
    json_object_set_string_member(o, "request", req);
    json_object_set_boolean_member(o, "request_truncated", c->req_kept->len < c->req_bytes);
    json_object_set_string_member(o, "response", resp);
    json_object_set_boolean_member(o, "response_truncated", c->resp_kept->len < c->resp_bytes);
    json_node_set_object(node, o);
    return json_to_string(node, FALSE);
}

/* One call's writes, made on the recorder's thread. */
typedef struct {
    char *name;
    JsonObject *fields;
    char *evidence;
} Job;

struct VmmGatewayRecorder {
    char *state_dir;
    GThreadPool *pool; /* one thread: records keep the order of the calls' ends */
    GMutex lock;
    GCond idle;
    guint pending;
};

static void
write_evidence(const char *state_dir, const Job *j)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, j->name);
    g_autofree char *path = g_build_filename(dir, VMM_GATEWAY_EVIDENCE, NULL);
    int fd;

    /* Only where the sandbox's directory still is: a removed sandbox keeps no evidence here. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_debug("model gateway: no evidence for '%s': %s", j->name, g_strerror(errno));
        return;
    }
    if (write(fd, j->evidence, strlen(j->evidence)) < 0 || write(fd, "\n", 1) < 0)
        g_debug("model gateway: evidence of '%s' not written", j->name);
    close(fd);
}

static void
run_job(gpointer data, gpointer user)
{
    Job *j = data;
    VmmGatewayRecorder *r = user;
    g_autoptr(GError) err = NULL;

    if (!vmm_events_append(r->state_dir, j->name, VMM_GATEWAY_EVENT, j->fields, &err))
        g_warning("model gateway: audit record of '%s' not written: %s", j->name, err->message);
    write_evidence(r->state_dir, j);
    g_free(j->name);
    json_object_unref(j->fields);
    g_free(j->evidence);
    g_free(j);
    g_mutex_lock(&r->lock);
    if (--r->pending == 0)
        g_cond_broadcast(&r->idle);
    g_mutex_unlock(&r->lock);
}

VmmGatewayRecorder *
vmm_gateway_recorder_new(const char *state_dir)
{
    VmmGatewayRecorder *r = g_new0(VmmGatewayRecorder, 1);

    r->state_dir = g_strdup(state_dir);
    g_mutex_init(&r->lock);
    g_cond_init(&r->idle);
    r->pool = g_thread_pool_new(run_job, r, 1, FALSE, NULL);
    return r;
}

void
vmm_gateway_recorder_flush(VmmGatewayRecorder *r)
{
    g_mutex_lock(&r->lock);
    while (r->pending)
        g_cond_wait(&r->idle, &r->lock);
    g_mutex_unlock(&r->lock);
}

void
vmm_gateway_recorder_free(VmmGatewayRecorder *r)
{
    if (!r)
        return;
    g_thread_pool_free(r->pool, FALSE, TRUE); /* every record queued is written */
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->idle);
    g_free(r->state_dir);
    g_free(r);
}

void
vmm_gateway_record(VmmGatewayRecorder *r, const VmmGatewayConfig *cfg, GwCall *c)
{
    Job *j = g_new0(Job, 1);

    /* Built here, where the call lives; written off the main loop (fsyncs wait for disks). */
    j->name = g_strdup(c->sb->sb->name);
    j->fields = call_fields(c);
    j->evidence = evidence_line(cfg, c);
    g_mutex_lock(&r->lock);
    r->pending++;
    g_mutex_unlock(&r->lock);
    g_thread_pool_push(r->pool, j, NULL);
}
