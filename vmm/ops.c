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

/*
 * pool-XXXXXXXX (8 hex digits) names the sandboxes a pool fill boots; a fill
 * that finds one nobody keeps removes it, so a user's sandbox may not take
 * such a name.
 */
static gboolean
not_slot_name(const char *name, GError **error)
{
    if (!vmm_pool_is_slot_name(name))
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "sandbox name '%s' is kept for warm pool slots (pick a name other than pool- and "
                "8 hex digits)",
                name);
    return FALSE;
}

gboolean
vmm_ops_create(VmmOps *ops, const VmmCreateRequest *req, VmmCreateTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_auto(GStrv) secret_names = req->secrets ? vmm_secrets_names(req->secrets) : NULL;
    g_autofree char *hash = NULL;
    VmmCreateTimings local = {0};
    VmmContext ctx = ops->ctx;
    guint timeout = req->timeout_s ? req->timeout_s : (ops->ctx.accel == VMM_ACCEL_TCG ? 600 : 180);
    GError *err = NULL;
    gboolean ok;

    if (ops->backend)
        return ops->backend->create(ops, req, t, error);

    if (!t)
        t = &local;
    /* The sandbox is the caller's: its metadata names them as the owner. */
    ctx.owner = ops->caller ? ops->caller->user : NULL;
    ok = vmm_name_validate(req->name, "sandbox name", &err) && not_slot_name(req->name, &err) &&
         vmm_spec_validate(req->spec, &err) &&
         vmm_sandbox_create(&ctx, req->name, req->spec, req->secrets, timeout,
                            (req->no_snapshot ? VMM_CREATE_NO_SNAPSHOT : 0) |
                                (req->cold ? VMM_CREATE_COLD : 0),
                            t, &err);
    /* The secret NAMES are part of what ran; their values never reach the record. */
    hash = vmm_spec_hash_full(req->spec, (const char *const *)secret_names);
    json_object_set_string_member(rec, "spec_hash", hash);
    json_object_set_string_member(rec, "image", req->spec->image);
    json_object_set_string_member(rec, "accel", vmm_accel_to_string(ops->ctx.accel));
    if (ok) {
        json_object_set_member(rec, "timings_s", vmm_create_timings_to_json(t));
        vmm_create_source_to_json(t, rec);
    }
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

    if (ops->backend)
        return ops->backend->destroy(ops, name, flags, archive_id, error);

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

/* ---- gc ------------------------------------------------------------------------------- */

typedef struct {
    VmmOps *ops;
    gboolean dry_run;
    VmmGcReport report;
    gpointer data;
} GcRun;

static void
gc_audit(const char *name, const char *action, const char *detail, gpointer data)
{
    GcRun *run = data;

    if (!run->dry_run && !g_str_equal(action, "skipped")) {
        g_autoptr(JsonObject) rec = json_object_new();
        g_autoptr(GError) err = NULL;
        json_object_set_string_member(rec, "target", name);
        json_object_set_string_member(rec, "action", action);
        json_object_set_string_member(rec, "detail", detail);
        if (g_str_equal(action, "error"))
            err = g_error_new_literal(VMM_ERROR, VMM_ERROR_FAILED, detail);
        /* A sandbox that lives on (re-fenced) keeps the record in its own log too. */
        audit(run->ops, g_str_equal(action, "refenced") ? audit_name(name) : NULL, "gc", rec, err);
    }
    if (run->report)
        run->report(name, action, detail, run->data);
}

gboolean
vmm_ops_gc(VmmOps *ops, gboolean dry_run, VmmGcReport report, gpointer data, GError **error)
{
    GcRun run = {.ops = ops, .dry_run = dry_run, .report = report, .data = data};

    if (ops->backend) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "gc works on this host's state as root (airlockd runs it itself)");
        return FALSE;
    }
    return vmm_gc_run(&ops->ctx, dry_run, gc_audit, &run, error);
}

gboolean
vmm_ops_reset(VmmOps *ops, const char *name, const char *tag, VmmResetTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    VmmResetTimings local = {0};
    const char *to = tag ? tag : VMM_SNAPSHOT_CLEAN;
    GError *err = NULL;
    gboolean ok;

    if (ops->backend)
        return ops->backend->reset(ops, name, tag, t, error);

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
vmm_ops_snapshot(VmmOps *ops, const char *name, const char *tag, gboolean remove, GError **error)
{
    g_autoptr(JsonObject) rec = NULL;
    GError *err = NULL;
    gboolean ok;

    if (ops->backend)
        return ops->backend->snapshot(ops, name, tag, remove, error);
    rec = json_object_new();
    ok = vmm_name_validate(name, "sandbox name", &err) &&
         vmm_name_validate(tag, "snapshot tag", &err);
    if (ok && remove && g_str_equal(tag, VMM_SNAPSHOT_CLEAN)) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_INVALID,
                    "the clean state of '%s' cannot be deleted (destroy the sandbox)", name);
        ok = FALSE;
    }
    if (ok)
        ok = remove ? vmm_snapshot_delete(&ops->ctx, name, tag, &err)
                    : vmm_snapshot_take(&ops->ctx, name, tag, FALSE, &err);
    json_object_set_string_member(rec, "tag", tag ? tag : "");
    audit(ops, audit_name(name), remove ? "snapshot-delete" : "snapshot", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

/* ---- pause / resume / ttl --------------------------------------------------------------- */

gboolean
vmm_ops_pause(VmmOps *ops, const char *name, VmmPauseTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    VmmPauseTimings local = {0};
    GError *err = NULL;
    gboolean ok;

    if (ops->backend)
        return ops->backend->pause(ops, name, t, error);
    if (!t)
        t = &local;
    ok = vmm_name_validate(name, "sandbox name", &err) && vmm_pause(&ops->ctx, name, t, &err);
    if (ok) {
        json_object_set_double_member(rec, "duration_s", t->total);
        json_object_set_int_member(rec, "memory_bytes", (gint64)t->memory_bytes);
    }
    audit(ops, audit_name(name), "pause", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

gboolean
vmm_ops_resume(VmmOps *ops, const char *name, VmmResetTimings *t, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    VmmResetTimings local = {0};
    GError *err = NULL;
    gboolean ok;

    if (ops->backend)
        return ops->backend->resume(ops, name, t, error);
    if (!t)
        t = &local;
    ok =
        vmm_name_validate(name, "sandbox name", &err) && vmm_pause_resume(&ops->ctx, name, t, &err);
    if (ok) {
        json_object_set_double_member(rec, "duration_s", t->total);
        json_object_set_string_member(rec, "fixup_via", t->fixup_via ? t->fixup_via : "");
    }
    audit(ops, audit_name(name), "resume", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

gboolean
vmm_ops_ttl(VmmOps *ops, const char *name, VmmTtlChange change, gint64 seconds, gint64 *ttl_s,
            GError **error)
{
    static const char *const changes[] = {"set", "extend", "none"};
    g_autoptr(JsonObject) rec = json_object_new();
    GError *err = NULL;
    gint64 v = 0;
    gboolean ok;

    if (ops->backend)
        return ops->backend->ttl(ops, name, change, seconds, ttl_s, error);
    ok = vmm_name_validate(name, "sandbox name", &err) &&
         vmm_ttl_set(&ops->ctx, name, change, seconds, &v, &err);
    json_object_set_string_member(rec, "change", changes[change]);
    json_object_set_int_member(rec, "seconds", seconds);
    if (ok)
        json_object_set_int_member(rec, "ttl_s", v);
    audit(ops, audit_name(name), "ttl", rec, err);
    if (!ok) {
        g_propagate_error(error, err);
        return FALSE;
    }
    if (ttl_s)
        *ttl_s = v;
    return TRUE;
}

GPtrArray *
vmm_ops_snapshots(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (ops->backend)
        return ops->backend->snapshots(ops, name, error);

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
    if (view->net_status)
        json_object_unref(view->net_status);
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
    /* Saved to disk by pause: libvirt sees a shut-off domain, the user a paused sandbox. */
    v->state = g_strdup(vmm_pause_is_paused(ops->ctx.state_dir, v->md->name, dom)
                            ? "paused"
                            : vmm_sandbox_state(dom));
    v->dir = vmm_path_sandbox_dir(ops->ctx.state_dir, v->md->name);
    v->console = vmm_sandbox_console_path(ops->ctx.state_dir, v->md->name);
    note_crash(ops, v->md->name, v->state);
    return g_steal_pointer(&v);
}

GPtrArray *
vmm_ops_list(VmmOps *ops, GError **error)
{
    g_autoptr(GPtrArray) doms = NULL;
    GPtrArray *out;

    if (ops->backend)
        return ops->backend->list(ops, error);
    if (!(doms = vmm_sandbox_list(ops->ctx.conn, ops->ctx.state_dir, error)))
        return NULL;
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_sandbox_view_free);
    for (guint i = 0; i < doms->len; i++) {
        virDomainPtr dom = g_ptr_array_index(doms, i);
        g_autofree char *name = vmm_name_from_object(virDomainGetName(dom));
        VmmSandboxView *v;

        /* A fill's guest on its way into a pool is nobody's sandbox (pool list counts it). */
        if (vmm_pool_is_slot_name(name))
            continue;
        if ((v = view_new(ops, dom, NULL)))
            g_ptr_array_add(out, v);
    }
    return out;
}

VmmSandboxView *
vmm_ops_inspect(VmmOps *ops, const char *name, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (ops->backend)
        return ops->backend->inspect(ops, name, error);

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

/*
 * The running sandbox @name's domain for @what; NOT_FOUND, INVALID when it is
 * paused (vmm_pause_refuse), or FAILED when it is not running.
 */
static virDomainPtr
lookup_running(VmmOps *ops, const char *name, const char *what, GError **error)
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
    if (vmm_pause_is_paused(ops->ctx.state_dir, name, dom)) {
        vmm_pause_refuse(error, name, what);
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

    if (ops->backend)
        return ops->backend->exec(ops, name, spec, exit_code, error);

    ok = (dom = lookup_running(ops, name, "exec", &err)) != NULL &&
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

    if (ops->backend)
        return ops->backend->cp(ops, name, into_guest, host_path, guest_path, opts, error);

    ok = (dom = lookup_running(ops, name, "cp", &err)) != NULL &&
         (into_guest ? vmm_agent_copy_in(dom, host_path, guest_path, opts, &err)
                     : vmm_agent_copy_out(dom, guest_path, host_path, opts, &err));
    json_object_set_string_member(rec, "direction", into_guest ? "in" : "out");
    json_object_set_string_member(rec, "guest_path", guest_path);
    audit(ops, audit_name(name), "cp", rec, err);
    if (!ok)
        g_propagate_error(error, err);
    return ok;
}

/* ---- pools ------------------------------------------------------------------------------ */

static gboolean
pools_here(VmmOps *ops, GError **error)
{
    if (!ops->backend)
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                "pools are kept by root on the sandbox host (run airlock pool there as root)");
    return FALSE;
}

VmmPool *
vmm_ops_pool_set(VmmOps *ops, const VmmSpec *spec, guint size, GError **error)
{
    g_autoptr(JsonObject) rec = json_object_new();
    g_autofree char *id = vmm_pool_id(spec);
    GError *err = NULL;
    VmmPool *pool;

    if (!pools_here(ops, error))
        return NULL;
    pool = vmm_pool_set(ops->ctx.state_dir, spec, size, &err);
    json_object_set_string_member(rec, "pool", id);
    json_object_set_int_member(rec, "size", size);
    audit(ops, NULL, "pool-set", rec, err);
    if (err)
        g_propagate_error(error, err);
    return pool;
}

GPtrArray *
vmm_ops_pool_list(VmmOps *ops, GError **error)
{
    return pools_here(ops, error) ? vmm_pool_list(&ops->ctx, error) : NULL;
}

typedef struct {
    VmmOps *ops;
    VmmPoolFillFunc fn;
    gpointer data;
} PoolFill;

static void
pool_fill_audit(const char *pool, const char *slot, gdouble seconds, const GError *err,
                gpointer data)
{
    PoolFill *f = data;
    g_autoptr(JsonObject) rec = json_object_new();

    json_object_set_string_member(rec, "pool", pool);
    json_object_set_string_member(rec, "slot", slot);
    json_object_set_double_member(rec, "seconds", seconds);
    audit(f->ops, NULL, "pool-fill", rec, err);
    if (f->fn)
        f->fn(pool, slot, seconds, err, f->data);
}

gboolean
vmm_ops_pool_fill(VmmOps *ops, const char *id, guint max, VmmPoolFillFunc fn, gpointer data,
                  guint *booted, GError **error)
{
    PoolFill f = {.ops = ops, .fn = fn, .data = data};
    guint timeout = ops->ctx.accel == VMM_ACCEL_TCG ? 600 : 180;

    return pools_here(ops, error) &&
           vmm_pool_fill(&ops->ctx, id, max, timeout, pool_fill_audit, &f, booted, error);
}
