/* ops.c: the operations every front end calls: check, act, write one audit record. */
#include <config.h>

#include "ops.h"
#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "nft.h"

#include <libvirt/virterror.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* ---- caller ---------------------------------------------------------------------------- */

VmmCaller *
vmm_caller_new(uid_t uid, const char *via)
{
    VmmCaller *c = g_new0(VmmCaller, 1);
    struct passwd pw, *found = NULL;
    char buf[4096];

    c->uid = uid;
    c->via = g_strdup(via ? via : "cli");
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
        c->user = g_strdup(found->pw_name);
    else
        c->user = g_strdup_printf("%u", (guint)uid);
    return c;
}

void
vmm_caller_free(VmmCaller *caller)
{
    if (!caller)
        return;
    g_free(caller->user);
    g_free(caller->via);
    g_free(caller);
}

/* ---- the audit record ------------------------------------------------------------------ */

/*
 * The one record of an operation on sandbox @name (NULL when the request
 * named none that is valid): @fields plus result, error, code and via, under
 * the caller's identity. Best effort: an operation does not fail for it.
 */
static void
audit(VmmOps *ops, const char *name, const char *event, JsonObject *fields, const GError *err)
{
    g_autoptr(JsonObject) rec = fields ? json_object_ref(fields) : json_object_new();
    g_autoptr(GError) local = NULL;
    VmmEventsActor actor = {0};

    if (name && !json_object_has_member(rec, "spec_hash") && ops->ctx.conn) {
        /* Every record of a sandbox names the spec it runs, when libvirt still knows it. */
        g_autofree char *obj = vmm_name_object(name);
        g_autoptr(virDomain) dom = virDomainLookupByName(ops->ctx.conn, obj);
        g_autoptr(VmmMetadata) md = dom ? vmm_sandbox_metadata(dom, NULL) : NULL;
        if (md && md->spec_hash)
            json_object_set_string_member(rec, "spec_hash", md->spec_hash);
    }
    json_object_set_string_member(rec, "result", err ? "failed" : "ok");
    if (err) {
        json_object_set_string_member(rec, "error", err->message);
        json_object_set_string_member(rec, "code", vmm_error_code_to_string(err));
    }
    if (ops->caller) {
        json_object_set_string_member(rec, "via", ops->caller->via);
        actor.user = ops->caller->user;
        actor.uid = ops->caller->uid;
    }
    if (!vmm_events_append_as(ops->ctx.state_dir, name, event, ops->caller ? &actor : NULL, rec,
                              &local))
        g_debug("audit record '%s' not written: %s", event, local->message);
}

/* A name fit for the record: only a valid one reaches it. */
static const char *
audit_name(const char *name)
{
    return name && vmm_name_validate(name, "sandbox name", NULL) ? name : NULL;
}

/* ---- create / destroy ------------------------------------------------------------------- */

gboolean
vmm_ops_create(VmmOps *ops, const VmmCreateRequest *req, VmmCreateTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_auto(GStrv) secret_names = req->secrets ? vmm_secrets_names(req->secrets) : NULL;
    g_autofree char *hash = NULL;
    VmmCreateTimings local = {0};
    guint timeout = req->timeout_s ? req->timeout_s
                                   : (ops->ctx.accel == VMM_ACCEL_TCG ? 600 : 180);
    GError *err = NULL;
    gboolean ok;

    if (!t)
        t = &local;
    ok = vmm_name_validate(req->name, "sandbox name", &err) &&
         vmm_spec_validate(req->spec, &err) &&
         vmm_sandbox_create(&ops->ctx, req->name, req->spec, req->secrets, timeout,
                            req->no_snapshot ? VMM_CREATE_NO_SNAPSHOT : 0, t, &err);
    /* The secret NAMES are part of what ran; their values never reach the record. */
    hash = vmm_spec_hash_full(req->spec, (const char *const *)secret_names);
    json_object_set_string_member(rec, "spec_hash", hash);
    json_object_set_string_member(rec, "image", req->spec->image);
    json_object_set_string_member(rec, "accel", vmm_accel_to_string(ops->ctx.accel));
    if (ok)
        json_object_set_member(rec, "timings_s", vmm_create_timings_to_json(t));
    audit(ops, audit_name(req->name), "create", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

gboolean
vmm_ops_destroy(VmmOps *ops, const char *name, VmmDestroyFlags flags, char **archive_id,
                GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_autofree char *archive = NULL;
    GError *err = NULL;
    gboolean ok;

    ok = vmm_name_validate(name, "sandbox name", &err) &&
         vmm_sandbox_destroy(&ops->ctx, name, flags, &archive, &err);
    json_object_set_boolean_member(rec, "evidence", !(flags & VMM_DESTROY_NO_EVIDENCE));
    if (archive)
        json_object_set_string_member(rec, "archive", archive);
    audit(ops, audit_name(name), "destroy", rec, err);
    if (!ok) {
        g_propagate_error(error, err);
        return FALSE;
    }
    if (archive_id)
        *archive_id = g_steal_pointer(&archive);
    return TRUE;
}

/* ---- reset / snapshots ----------------------------------------------------------------- */

gboolean
vmm_ops_reset(VmmOps *ops, const char *name, const char *tag, VmmResetTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    VmmResetTimings local = {0};
    const char *to = tag ? tag : VMM_SNAPSHOT_CLEAN;
    GError *err = NULL;
    gboolean ok;

    if (!t)
        t = &local;
    ok = vmm_name_validate(name, "sandbox name", &err) &&
         vmm_name_validate(to, "snapshot tag", &err) &&
         vmm_snapshot_revert(&ops->ctx, name, to, t, &err);
    json_object_set_string_member(rec, "to", to);
    if (ok) {
        json_object_set_double_member(rec, "duration_s", t->total);
        json_object_set_string_member(rec, "fixup_via", t->fixup_via ? t->fixup_via : "");
    }
    audit(ops, audit_name(name), "reset", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

gboolean
vmm_ops_snapshot(VmmOps *ops, const char *name, const char *tag, gboolean delete, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    GError *err = NULL;
    gboolean ok = vmm_name_validate(name, "sandbox name", &err) &&
                  vmm_name_validate(tag, "snapshot tag", &err);

    if (ok && delete && g_str_equal(tag, VMM_SNAPSHOT_CLEAN)) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_INVALID,
                    "the clean state of '%s' cannot be deleted (destroy the sandbox)", name);
        ok = FALSE;
    }
    if (ok)
        ok = delete ? vmm_snapshot_delete(&ops->ctx, name, tag, &err)
                    : vmm_snapshot_take(&ops->ctx, name, tag, FALSE, &err);
    json_object_set_string_member(rec, "tag", tag ? tag : "");
    audit(ops, audit_name(name), delete ? "snapshot-delete" : "snapshot", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

GPtrArray *
vmm_ops_snapshots(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!vmm_name_validate(name, "sandbox name", error) ||
        !(dom = vmm_sandbox_lookup(ops->ctx.conn, name, error)))
        return NULL;
    return vmm_snapshot_list(ops->ctx.state_dir, name, error);
}

/* ---- list / inspect ---------------------------------------------------------------------- */

void
vmm_sandbox_view_free(VmmSandboxView *view)
{
    if (!view)
        return;
    vmm_metadata_free(view->md);
    g_free(view->state);
    g_free(view->dir);
    g_free(view->console);
    g_free(view);
}

/*
 * Nothing watches sandboxes between commands: when one is seen crashed and
 * its audit trail does not say so yet, record it now.
 */
static void
note_crash(VmmOps *ops, const char *name, const char *state)
{
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    const char *last;

    if (g_strcmp0(state, "crashed") != 0)
        return;
    path = vmm_events_sandbox_path(ops->ctx.state_dir, name);
    if (g_file_get_contents(path, &data, NULL, NULL)) {
        g_strchomp(data);
        last = strrchr(data, '\n');
        if (strstr(last ? last : data, "\"event\":\"crashed\""))
            return;
    }
    audit(ops, name, "crashed", NULL, NULL);
}

static VmmSandboxView *
view_new(VmmOps *ops, virDomainPtr dom, GError **error)
{
    g_autoptr(VmmSandboxView) v = g_new0(VmmSandboxView, 1);

    if (!(v->md = vmm_sandbox_metadata(dom, error)))
        return NULL;
    v->state = g_strdup(vmm_sandbox_state(dom));
    v->dir = vmm_path_sandbox_dir(ops->ctx.state_dir, v->md->name);
    v->console = vmm_sandbox_console_path(ops->ctx.state_dir, v->md->name);
    note_crash(ops, v->md->name, v->state);
    return g_steal_pointer(&v);
}

GPtrArray *
vmm_ops_list(VmmOps *ops, GError **error)
{
    g_autoptr(GPtrArray) doms = vmm_sandbox_list(ops->ctx.conn, ops->ctx.state_dir, error);
    GPtrArray *out;

    if (!doms)
        return NULL;
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_sandbox_view_free);
    for (guint i = 0; i < doms->len; i++) {
        VmmSandboxView *v = view_new(ops, g_ptr_array_index(doms, i), NULL);
        if (v)
            g_ptr_array_add(out, v);
    }
    return out;
}

VmmSandboxView *
vmm_ops_inspect(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!vmm_name_validate(name, "sandbox name", error) ||
        !(dom = vmm_sandbox_lookup(ops->ctx.conn, name, error)))
        return NULL;
    {
        VmmSandboxView *v = view_new(ops, dom, error);
        if (v && virDomainIsActive(dom) == 1)
            v->exec_channel = vmm_agent_channel(dom); /* what exec and cp would take now */
        return v;
    }
}

/* ---- exec / cp --------------------------------------------------------------------------- */

/* The running sandbox @name's domain; NOT_FOUND, or FAILED when it is not running. */
static virDomainPtr
lookup_running(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    int active;

    if (!vmm_name_validate(name, "sandbox name", error) ||
        !(dom = vmm_sandbox_lookup(ops->ctx.conn, name, error)))
        return NULL;
    active = virDomainIsActive(dom);
    if (active < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot get the state of sandbox '%s'", name);
        return NULL;
    }
    if (active != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "sandbox '%s' is not running (airlock reset %s starts it from its clean state)",
                    name, name);
        return NULL;
    }
    return g_steal_pointer(&dom);
}

gboolean
vmm_ops_exec(VmmOps *ops, const char *name, const VmmAgentExec *spec, int *exit_code,
             GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *prog = NULL;
    gint64 start = g_get_monotonic_time();
    GError *err = NULL;
    int code = -1;
    gboolean ok;

    ok = (dom = lookup_running(ops, name, &err)) != NULL &&
         vmm_agent_exec(dom, spec, &code, &err);
    /* The program's name only: arguments and environment may carry what must not be kept. */
    prog = spec->argv && spec->argv[0] ? g_path_get_basename(spec->argv[0]) : g_strdup("");
    json_object_set_string_member(rec, "program", prog);
    if (ok)
        json_object_set_int_member(rec, "exit_code", code);
    json_object_set_double_member(rec, "duration_s",
                                  (g_get_monotonic_time() - start) / (gdouble)G_USEC_PER_SEC);
    audit(ops, audit_name(name), "exec", rec, err);
    if (!ok) {
        g_propagate_error(error, err);
        return FALSE;
    }
    *exit_code = code;
    return TRUE;
}

gboolean
vmm_ops_cp(VmmOps *ops, const char *name, gboolean into_guest, const char *host_path,
           const char *guest_path, const VmmAgentCopyOpts *opts, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_autoptr(virDomain) dom = NULL;
    GError *err = NULL;
    gboolean ok;

    ok = (dom = lookup_running(ops, name, &err)) != NULL &&
         (into_guest ? vmm_agent_copy_in(dom, host_path, guest_path, opts, &err)
                     : vmm_agent_copy_out(dom, guest_path, host_path, opts, &err));
    json_object_set_string_member(rec, "direction", into_guest ? "in" : "out");
    json_object_set_string_member(rec, "guest_path", guest_path);
    audit(ops, audit_name(name), "cp", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

/* ---- serialisers ------------------------------------------------------------------------- */

static void
add_str(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
add_int(JsonBuilder *b, const char *key, gint64 value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

static void
add_strv(JsonBuilder *b, const char *key, char **list)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (char **s = list; s && *s; s++)
        json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
}

static char *
expires_at(const VmmMetadata *md)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) created = NULL;
    g_autoptr(GDateTime) expires = NULL;

    if (md->ttl_s <= 0 || !md->created)
        return NULL;
    created = g_date_time_new_from_iso8601(md->created, utc);
    if (!created)
        return NULL;
    expires = g_date_time_add_seconds(created, md->ttl_s);
    return g_date_time_format(expires, "%Y-%m-%dT%H:%M:%SZ");
}

/* The allow list and drop counters the installed firewall enforces (root; else null). */
static void
add_network_status(JsonBuilder *b, const VmmMetadata *md, const char *dir)
{
    g_auto(GStrv) allow = NULL;
    g_autofree char *dns_log = NULL;
    gint64 ip = 0, l2 = 0;

    if (!md->address)
        return;
    allow = vmm_nft_allow_list(md->name, NULL);
    json_builder_set_member_name(b, "allow");
    if (allow) {
        json_builder_begin_array(b);
        for (char **a = allow; *a; a++)
            json_builder_add_string_value(b, *a);
        json_builder_end_array(b);
    } else {
        json_builder_add_null_value(b); /* no firewall readable: not root, or test:/// */
    }
    json_builder_set_member_name(b, "drops");
    if (vmm_nft_drops(md->name, &ip, &l2, NULL)) {
        json_builder_begin_object(b);
        add_int(b, "ip_packets", ip);
        add_int(b, "l2_frames", l2);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    dns_log = g_build_filename(dir, "dns.log", NULL);
    add_str(b, "dns_log", dns_log);
}

JsonNode *
vmm_sandbox_view_to_json(const VmmSandboxView *view, gboolean with_network)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const VmmMetadata *md = view->md;
    g_autofree char *expires = expires_at(md);
    g_autofree char *obj = vmm_name_object(md->name);
    json_builder_begin_object(b);
    add_str(b, "name", md->name);
    add_str(b, "state", view->state);
    if (view->exec_channel)
        add_str(b, "exec_channel", view->exec_channel);
    add_str(b, "domain", obj);
    add_str(b, "image", md->image);
    add_str(b, "image_digest", md->image_digest);
    add_str(b, "spec_hash", md->spec_hash);
    add_str(b, "accel", md->accel);
    add_int(b, "cpus", md->cpus);
    add_int(b, "memory_mib", md->memory_mib);
    add_int(b, "disk_gib", md->disk_gib);
    json_builder_set_member_name(b, "network");
    json_builder_begin_object(b);
    add_str(b, "mode", md->net_mode);
    add_str(b, "address", md->address);
    add_str(b, "host_address", md->host_address);
    add_str(b, "bridge", md->bridge);
    add_str(b, "mac", md->mac);
    if (with_network)
        add_network_status(b, md, view->dir);
    json_builder_end_object(b);
    add_str(b, "owner", md->owner);
    add_str(b, "created", md->created);
    add_int(b, "ttl_s", md->ttl_s);
    add_str(b, "expires", expires);
    json_builder_set_member_name(b, "labels");
    json_builder_begin_object(b);
    for (guint i = 0; md->labels && i < md->labels->len; i++) {
        const char *kv = g_ptr_array_index(md->labels, i);
        const char *eq = strchr(kv, '=');
        g_autofree char *k = g_strndup(kv, eq ? (gsize)(eq - kv) : strlen(kv));
        add_str(b, k, eq ? eq + 1 : "");
    }
    json_builder_end_object(b);
    add_strv(b, "secrets", md->secret_names);
    add_strv(b, "env", md->env_names);
    add_str(b, "dir", view->dir);
    add_str(b, "console_log", view->console);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
vmm_snapshot_info_to_json(const VmmSnapshotInfo *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    add_str(b, "tag", s->tag);
    add_str(b, "created", s->created);
    add_str(b, "parent", s->parent);
    add_int(b, "memory_bytes", s->memory_bytes);
    add_int(b, "disk_bytes", s->disk_bytes);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *
timings_to_json(const char *const *names, const gdouble *values, gsize n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    for (gsize i = 0; i < n; i++) {
        json_builder_set_member_name(b, names[i]);
        json_builder_add_double_value(b, values[i]);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
vmm_create_timings_to_json(const VmmCreateTimings *t)
{
    const char *names[] = {"overlay", "network", "seed", "define", "boot",
                           "cloud_init", "finish", "snapshot", "total"};
    const gdouble values[] = {t->overlay,    t->network, t->seed,     t->define, t->boot,
                              t->cloud_init, t->finish,  t->snapshot, t->total};

    return timings_to_json(names, values, G_N_ELEMENTS(names));
}

JsonNode *
vmm_reset_timings_to_json(const VmmResetTimings *t)
{
    const char *names[] = {"stop", "overlay", "restore", "agent", "fixup", "total"};
    const gdouble values[] = {t->stop, t->overlay, t->restore, t->agent, t->fixup, t->total};

    return timings_to_json(names, values, G_N_ELEMENTS(names));
}
