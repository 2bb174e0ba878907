/*
 * handlers.c: each route as a call to the operations layer, run in a GTask
 * thread with the request's caller; the reply is written back on the main
 * loop. Parsing and printing only: the use cases are vmm_ops_*.
 */
#include <config.h>

#include "daemon.h"
#include "autoptr.h"
#include "error.h"
#include "escape.h"
#include "events.h"
#include "fsutil.h"
#include "image.h"
#include "names.h"
#include "tar.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_TAIL_BYTES (64 * 1024)

/* What a worker produced: JSON, raw bytes, or an error. */
typedef struct {
    guint status;
    JsonNode *node;
    GBytes *raw;
    const char *raw_type;
    GError *error;
} Result;

typedef void (*Worker)(VmmRequest *r, VmmOps *ops, Result *res);

/* ---- owners (for filtering events) --------------------------------------------------- */

void
vmm_daemon_note_owner(VmmDaemon *d, const char *name, const char *owner)
{
    g_mutex_lock(&d->owners_lock);
    g_hash_table_replace(d->owners, g_strdup(name), g_strdup(owner ? owner : ""));
    g_mutex_unlock(&d->owners_lock);
}

gboolean
vmm_daemon_sees_name(VmmDaemon *d, VmmRequest *r, const char *name)
{
    gboolean sees;

    if (r->role == VMM_ROLE_ADMIN)
        return TRUE;
    if (!name)
        return FALSE;
    g_mutex_lock(&d->owners_lock);
    sees = vmm_access_sees(r->role, r->caller->user, g_hash_table_lookup(d->owners, name));
    g_mutex_unlock(&d->owners_lock);
    return sees;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* What `airlock` says for a sandbox that does not exist: another user's must look the same. */
static void
not_found(const char *name, GError **error)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                "sandbox '%s' not found (airlock list shows what exists)", name);
}

/* The sandbox of the route, when the caller may see it; NOT_FOUND otherwise. */
VmmSandboxView *
vmm_daemon_visible(VmmRequest *r, VmmOps *ops, GError **error)
{
    g_autoptr(VmmSandboxView) v = vmm_ops_inspect(ops, r->match.name, error);

    if (!v)
        return NULL;
    vmm_daemon_note_owner(r->d, v->md->name, v->md->owner);
    if (!vmm_access_sees(r->role, r->caller->user, v->md->owner)) {
        not_found(r->match.name, error);
        return NULL;
    }
    return g_steal_pointer(&v);
}

gboolean
vmm_daemon_exec_ready(VmmRequest *r, VmmOps *ops, GError **error)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, error);

    if (!v)
        return FALSE;
    if (g_strcmp0(v->state, "paused") == 0) {
        vmm_pause_refuse(error, r->match.name, "exec");
        return FALSE;
    }
    if (g_strcmp0(v->state, "running") != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "sandbox '%s' is not running (airlock reset %s starts it from its clean state)",
                    r->match.name, r->match.name);
        return FALSE;
    }
    return TRUE;
}

void
vmm_daemon_exec_spec(const VmmApiExec *e, VmmAgentExec *spec)
{
    spec->argv = (const char *const *)e->argv;
    spec->env = (const char *const *)e->env;
    spec->workdir = e->workdir;
    spec->with_sandbox_env = e->sandbox_env;
    spec->input = e->input;
    spec->timeout_ms = e->timeout_s * 1000;
    spec->user = e->user;
    spec->group = e->group;
}

static const char *
body_data(VmmRequest *r, gsize *len)
{
    if (!r->body) {
        *len = 0;
        return NULL;
    }
    return g_bytes_get_data(r->body, len);
}

static JsonNode *
object1(const char *k1, const char *v1, const char *k2, JsonNode *v2)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, k1, v1);
    if (k2)
        json_object_set_member(o, k2, v2 ? v2 : json_node_new(JSON_NODE_NULL));
    json_node_take_object(n, o);
    return n;
}

/* ---- sandboxes ----------------------------------------------------------------------- */

static void
do_list(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(GPtrArray) all = vmm_ops_list(ops, &res->error);
    const char *labels = vmm_request_query(r, "label");
    gboolean net = g_strcmp0(vmm_request_query(r, "network"), "1") == 0;
    JsonArray *a;

    if (!all)
        return;
    a = json_array_new();
    for (guint i = 0; i < all->len; i++) {
        VmmSandboxView *v = g_ptr_array_index(all, i);
        vmm_daemon_note_owner(r->d, v->md->name, v->md->owner);
        if (vmm_access_sees(r->role, r->caller->user, v->md->owner) &&
            vmm_api_labels_match(labels, v->md->labels))
            json_array_add_element(a, vmm_sandbox_view_to_json(v, net));
    }
    res->node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(res->node, a);
}

/* The user's sandboxes now, plus creates in flight: quota_lock held. */
static gboolean
usage_of(VmmRequest *r, VmmOps *ops, VmmUsage *u, GError **error)
{
    g_autoptr(GPtrArray) all = vmm_ops_list(ops, error);
    VmmUsage *pending = g_hash_table_lookup(r->d->pending, r->caller->user);

    if (!all)
        return FALSE;
    memset(u, 0, sizeof *u);
    for (guint i = 0; i < all->len; i++) {
        VmmSandboxView *v = g_ptr_array_index(all, i);
        if (g_strcmp0(v->md->owner, r->caller->user) != 0)
            continue;
        u->sandboxes++;
        u->memory_mib += v->md->memory_mib;
        u->cpus += v->md->cpus;
    }
    if (pending) {
        u->sandboxes += pending->sandboxes;
        u->memory_mib += pending->memory_mib;
        u->cpus += pending->cpus;
    }
    return TRUE;
}

/* Adds (@sign 1) or removes (-1) one create in flight of @spec for the caller. */
static void
reserve(VmmRequest *r, const VmmSpec *spec, int sign)
{
    VmmUsage *p = g_hash_table_lookup(r->d->pending, r->caller->user);

    if (!p) {
        p = g_new0(VmmUsage, 1);
        g_hash_table_insert(r->d->pending, g_strdup(r->caller->user), p);
    }
    p->sandboxes += sign;
    p->memory_mib += sign * (int)spec->memory_mib;
    p->cpus += sign * (int)spec->cpus;
}

typedef struct {
    VmmRequest *r;
    const char *name;
} Progress;

static void
create_progress(const char *stage, gdouble elapsed_s, gpointer data)
{
    Progress *p = data;

    vmm_events_hub_progress(p->r->d->hub, p->name, p->r->caller->uid, stage, elapsed_s);
}

static void
do_create(VmmRequest *r, VmmOps *ops, Result *res)
{
    gsize len;
    const char *body = body_data(r, &len);
    g_autoptr(VmmApiCreate) c = vmm_api_parse_create(body, len, r->d->tmp_dir, &res->error);
    g_autoptr(VmmSandboxView) v = NULL;
    VmmCreateTimings t = {0};
    VmmCreateRequest req = {0};
    gboolean quota = r->role != VMM_ROLE_ADMIN;
    gboolean ok;
    JsonNode *node;

    /*
     * The body may carry secret values: wipe it now that they are in VmmSecrets (the
     * flattened body is the request's only copy soup keeps; json-glib's are freed).
     */
    if (body)
        explicit_bzero((gpointer)body, len);
    if (!c)
        return;
    if (quota) {
        VmmUsage used;
        g_mutex_lock(&r->d->quota_lock);
        ok = usage_of(r, ops, &used, &res->error) &&
             vmm_quota_check(&r->d->config->quota, r->caller->user, &used, c->spec->cpus,
                             c->spec->memory_mib, &res->error);
        if (ok)
            reserve(r, c->spec, 1);
        g_mutex_unlock(&r->d->quota_lock);
        if (!ok)
            return;
    }
    req.name = c->name;
    req.spec = c->spec;
    req.secrets = c->secrets;
    req.timeout_s = c->timeout_s;
    req.no_snapshot = c->no_snapshot;
    req.cold = c->cold;
    {
        /* A create takes minutes under TCG: its stages go out as live events meanwhile. */
        Progress p = {.r = r, .name = c->name};
        ops->ctx.progress = create_progress;
        ops->ctx.progress_data = &p;
        ok = vmm_ops_create(ops, &req, &t, &res->error);
        ops->ctx.progress = NULL;
    }
    g_clear_pointer(&c->secrets, vmm_secrets_free); /* wiped as soon as the seed is gone */
    if (quota) {
        g_mutex_lock(&r->d->quota_lock);
        reserve(r, c->spec, -1);
        g_mutex_unlock(&r->d->quota_lock);
    }
    if (!ok)
        return;
    vmm_daemon_note_owner(r->d, c->name, r->caller->user);
    v = vmm_ops_inspect(ops, c->name, &res->error);
    if (!v)
        return;
    node = vmm_sandbox_view_to_json(v, FALSE);
    json_object_set_member(json_node_get_object(node), "timings_s", vmm_create_timings_to_json(&t));
    vmm_create_source_to_json(&t, json_node_get_object(node));
    res->status = 201;
    res->node = node;
}

static void
do_inspect(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);

    if (v)
        res->node = vmm_sandbox_view_to_json(v, TRUE);
}

static void
do_destroy(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    g_autofree char *archive = NULL;
    VmmDestroyFlags flags = 0;

    if (!v)
        return;
    if (g_strcmp0(vmm_request_query(r, "evidence"), "false") == 0)
        flags |= VMM_DESTROY_NO_EVIDENCE;
    if (!vmm_ops_destroy(ops, r->match.name, flags, &archive, &res->error))
        return;
    res->node = object1("name", r->match.name, "archive",
                        archive ? json_node_init_string(json_node_alloc(), archive) : NULL);
}

static void
do_reset(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = NULL;
    g_autofree char *tag = NULL;
    VmmResetTimings t = {0};
    gsize len;
    const char *body = body_data(r, &len);

    if (!vmm_api_parse_reset(body, len, &tag, &res->error) ||
        !(v = vmm_daemon_visible(r, ops, &res->error)) ||
        !vmm_ops_reset(ops, r->match.name, tag, &t, &res->error))
        return;
    res->node = object1("name", r->match.name, "timings_s", vmm_reset_timings_to_json(&t));
    json_object_set_string_member(json_node_get_object(res->node), "to",
                                  tag ? tag : VMM_SNAPSHOT_CLEAN);
}

static void
do_pause(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    VmmPauseTimings t = {0};

    if (!v || !vmm_ops_pause(ops, r->match.name, &t, &res->error))
        return;
    res->node = object1("name", r->match.name, "timings_s", vmm_pause_timings_to_json(&t));
    json_object_set_int_member(json_node_get_object(res->node), "memory_bytes",
                               (gint64)t.memory_bytes);
}

static void
do_resume(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    VmmResetTimings t = {0};

    if (!v || !vmm_ops_resume(ops, r->match.name, &t, &res->error))
        return;
    res->node = object1("name", r->match.name, "timings_s", vmm_reset_timings_to_json(&t));
    json_object_set_string_member(json_node_get_object(res->node), "fixup_via",
                                  t.fixup_via ? t.fixup_via : "");
}

static void
do_ttl(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = NULL;
    VmmTtlChange change;
    gint64 seconds, ttl_s = 0;
    gsize len;
    const char *body = body_data(r, &len);

    if (!vmm_api_parse_ttl(body, len, &change, &seconds, &res->error) ||
        !(v = vmm_daemon_visible(r, ops, &res->error)) ||
        !vmm_ops_ttl(ops, r->match.name, change, seconds, &ttl_s, &res->error))
        return;
    res->node = object1("name", r->match.name, NULL, NULL);
    json_object_set_int_member(json_node_get_object(res->node), "ttl_s", ttl_s);
}

static void
do_snapshots(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    g_autoptr(GPtrArray) snaps = NULL;
    JsonArray *a;

    if (!v || !(snaps = vmm_ops_snapshots(ops, r->match.name, &res->error)))
        return;
    a = json_array_new();
    for (guint i = 0; i < snaps->len; i++)
        json_array_add_element(a, vmm_snapshot_info_to_json(g_ptr_array_index(snaps, i)));
    res->node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(res->node, a);
}

static void
do_snapshot_take(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = NULL;
    g_autofree char *tag = NULL;
    gsize len;
    const char *body = body_data(r, &len);

    if (!(tag = vmm_api_parse_snapshot(body, len, &res->error)) ||
        !(v = vmm_daemon_visible(r, ops, &res->error)) ||
        !vmm_ops_snapshot(ops, r->match.name, tag, FALSE, &res->error))
        return;
    res->status = 201;
    res->node =
        object1("name", r->match.name, "tag", json_node_init_string(json_node_alloc(), tag));
}

static void
do_snapshot_delete(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);

    if (!v || !vmm_ops_snapshot(ops, r->match.name, r->match.tag, TRUE, &res->error))
        return;
    res->node = object1("name", r->match.name, "deleted",
                        json_node_init_string(json_node_alloc(), r->match.tag));
}

static void
do_stats(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    g_autoptr(GPtrArray) stats = NULL;

    if (!v || !(stats = vmm_ops_stats(ops, r->match.name, &res->error)))
        return;
    if (stats->len == 0) {
        not_found(r->match.name, &res->error);
        return;
    }
    res->node = vmm_stats_to_json(g_ptr_array_index(stats, 0));
}

/* ---- files --------------------------------------------------------------------------- */

/* A private directory for one request's file (0700 in the daemon's tmp dir). Caller frees. */
static char *
scratch_dir(VmmDaemon *d, GError **error)
{
    g_autofree char *tmpl = g_build_filename(d->tmp_dir, "req-XXXXXX", NULL);

    if (!g_mkdtemp_full(tmpl, 0700)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot make a scratch directory in %s",
                    d->tmp_dir);
        return NULL;
    }
    return g_steal_pointer(&tmpl);
}

/* ?recursive=1 (or true): a directory tree as a ustar archive, both ways. */
static gboolean
recursive(VmmRequest *r)
{
    const char *v = vmm_request_query(r, "recursive");

    return v && (g_str_equal(v, "1") || g_str_equal(v, "true"));
}

static void
tree_get(VmmRequest *r, VmmOps *ops, Result *res, const char *guest, const char *dir)
{
    g_autofree char *local = g_build_filename(dir, "tree", NULL);
    VmmAgentCopyOpts opts = {.max_bytes = r->d->max_file, .recursive = TRUE};
    int fd;

    if (!vmm_ops_cp(ops, r->match.name, FALSE, local, guest, &opts, &res->error))
        return;
    fd = open(local, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(&res->error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the copied tree in %s",
                    dir);
        return;
    }
    res->raw = vmm_tar_pack(fd, r->d->max_file, &res->error);
    res->raw_type = "application/x-tar";
    close(fd);
}

static void
tree_put(VmmRequest *r, VmmOps *ops, Result *res, const char *guest, const char *dir)
{
    g_autofree char *local = g_build_filename(dir, "tree", NULL);
    VmmAgentCopyOpts opts = {.recursive = TRUE};
    gsize len;
    const guint8 *body = (const guint8 *)body_data(r, &len);
    int fd = -1;

    if (mkdir(local, 0755) < 0 ||
        (fd = open(local, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        g_set_error(&res->error, VMM_ERROR, VMM_ERROR_HOST, "cannot stage the tree in %s", dir);
    } else if (vmm_tar_unpack(body, len, fd, 100000, &res->error) &&
               vmm_ops_cp(ops, r->match.name, TRUE, local, guest, &opts, &res->error)) {
        res->node =
            object1("name", r->match.name, "path", json_node_init_string(json_node_alloc(), guest));
        json_object_set_int_member(json_node_get_object(res->node), "bytes", (gint64)len);
    }
    if (fd >= 0)
        close(fd);
}

static void
do_file_get(VmmRequest *r, VmmOps *ops, Result *res)
{
    const char *guest = vmm_request_query(r, "path");
    g_autoptr(VmmSandboxView) v = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *local = NULL;
    VmmAgentCopyOpts opts = {.max_bytes = r->d->max_file};
    char *data = NULL;
    gsize len = 0;

    if (!vmm_api_guest_path_valid(guest, &res->error) ||
        !(v = vmm_daemon_visible(r, ops, &res->error)) || !(dir = scratch_dir(r->d, &res->error)))
        return;
    if (recursive(r)) {
        tree_get(r, ops, res, guest, dir);
        vmm_fs_remove_tree(dir, NULL);
        return;
    }
    local = g_build_filename(dir, "data", NULL);
    if (vmm_ops_cp(ops, r->match.name, FALSE, local, guest, &opts, &res->error) &&
        g_file_get_contents(local, &data, &len, &res->error))
        res->raw = g_bytes_new_take(data, len);
    res->raw_type = "application/octet-stream";
    vmm_fs_remove_tree(dir, NULL);
}

static void
do_file_put(VmmRequest *r, VmmOps *ops, Result *res)
{
    const char *guest = vmm_request_query(r, "path");
    const char *mode_s = vmm_request_query(r, "mode");
    g_autoptr(VmmSandboxView) v = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *local = NULL;
    guint64 mode = 0644;
    gsize len;
    const char *body = body_data(r, &len);
    int fd;

    if (mode_s && !g_ascii_string_to_unsigned(mode_s, 8, 0, 0777, &mode, NULL)) {
        g_set_error(&res->error, VMM_ERROR, VMM_ERROR_INVALID,
                    "mode must be octal permission bits 0..0777 (e.g. 0644)");
        return;
    }
    if (!vmm_api_guest_path_valid(guest, &res->error) ||
        !(v = vmm_daemon_visible(r, ops, &res->error)) || !(dir = scratch_dir(r->d, &res->error)))
        return;
    if (recursive(r)) {
        tree_put(r, ops, res, guest, dir);
        vmm_fs_remove_tree(dir, NULL);
        return;
    }
    local = g_build_filename(dir, "data", NULL);
    fd = open(local, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write(fd, body, len) != (gssize)len) || fchmod(fd, (mode_t)mode) != 0) {
        g_set_error(&res->error, VMM_ERROR, VMM_ERROR_HOST, "cannot stage the file in %s", dir);
    } else if (vmm_ops_cp(ops, r->match.name, TRUE, local, guest, NULL, &res->error)) {
        res->node =
            object1("name", r->match.name, "path", json_node_init_string(json_node_alloc(), guest));
        json_object_set_int_member(json_node_get_object(res->node), "bytes", (gint64)len);
    }
    if (fd >= 0)
        close(fd);
    vmm_fs_remove_tree(dir, NULL);
}

/* The last LOG_TAIL_BYTES of the sandbox's console or DNS log, as valid text. */
static void
do_log(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(VmmSandboxView) v = vmm_daemon_visible(r, ops, &res->error);
    g_autofree char *path = NULL;
    g_autofree char *buf = NULL;
    g_autofree char *text = NULL;
    struct stat st;
    gssize n = 0;
    int fd;

    if (!v)
        return;
    path = g_str_equal(r->match.tag, "dns") ? g_build_filename(v->dir, "dns.log", NULL)
                                            : g_strdup(v->console);
    buf = g_malloc(LOG_TAIL_BYTES + 1);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size > LOG_TAIL_BYTES)
            lseek(fd, st.st_size - LOG_TAIL_BYTES, SEEK_SET);
        n = read(fd, buf, LOG_TAIL_BYTES);
    }
    if (fd >= 0)
        close(fd);
    if (n < 0)
        n = 0;
    /* Guest bytes: text safe for a page or a terminal (escape.h). */
    text = vmm_escape_text(buf, n);
    res->node =
        object1("name", r->match.name, "text", json_node_init_string(json_node_alloc(), text));
}

/* ---- host ---------------------------------------------------------------------------- */

static void
do_images(VmmRequest *r, VmmOps *ops, Result *res)
{
    g_autoptr(GPtrArray) images = vmm_image_list(r->d->state_dir, &res->error);
    JsonArray *a;

    if (!images)
        return;
    a = json_array_new();
    for (guint i = 0; i < images->len; i++)
        json_array_add_element(a, vmm_image_to_json(g_ptr_array_index(images, i)));
    res->node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(res->node, a);
}

static void
do_audit_verify(VmmRequest *r, VmmOps *ops, Result *res)
{
    VmmEventsVerified v = {0};
    g_autoptr(GError) err = NULL;
    JsonObject *o = json_object_new();

    res->node = json_node_new(JSON_NODE_OBJECT);
    json_object_set_boolean_member(o, "intact", vmm_events_verify(r->d->state_dir, NULL, &v, &err));
    json_object_set_int_member(o, "records", v.records);
    json_object_set_boolean_member(o, "keyed", v.keyed);
    json_object_set_boolean_member(o, "head_lag", v.head_lag);
    if (err)
        json_object_set_member(o, "error", vmm_api_error_body(err));
    json_node_take_object(res->node, o);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static Worker
worker_for(VmmRequest *r)
{
    const char *m = soup_server_message_get_method(r->msg);
    gboolean get = g_str_equal(m, "GET"), del = g_str_equal(m, "DELETE");

    switch (r->match.route) {
    case VMM_ROUTE_SANDBOXES:
        return get ? do_list : do_create;
    case VMM_ROUTE_SANDBOX:
        return del ? do_destroy : do_inspect;
    case VMM_ROUTE_RESET:
        return do_reset;
    case VMM_ROUTE_PAUSE:
        return do_pause;
    case VMM_ROUTE_RESUME:
        return do_resume;
    case VMM_ROUTE_TTL:
        return do_ttl;
    case VMM_ROUTE_SNAPSHOTS:
        return get ? do_snapshots : do_snapshot_take;
    case VMM_ROUTE_SNAPSHOT:
        return do_snapshot_delete;
    case VMM_ROUTE_STATS:
        return do_stats;
    case VMM_ROUTE_FILES:
        return get ? do_file_get : do_file_put;
    case VMM_ROUTE_LOG:
        return do_log;
    case VMM_ROUTE_IMAGES:
        return do_images;
    case VMM_ROUTE_AUDIT_VERIFY:
        return do_audit_verify;
    default:
        return NULL;
    }
}

static void
run_worker(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    VmmRequest *r = data;
    Result *res = g_new0(Result, 1);
    virConnectPtr conn = vmm_daemon_conn(r->d, &res->error);

    if (conn) {
        VmmOps ops = {0};
        ops.ctx.conn = conn;
        ops.ctx.state_dir = r->d->state_dir;
        ops.ctx.accel = r->d->accel;
        ops.caller = r->caller;
        worker_for(r)(r, &ops, res);
        virConnectClose(conn);
    }
    g_task_return_pointer(task, res, NULL);
}

static void
worker_done(GObject *source, GAsyncResult *result, gpointer data)
{
    VmmRequest *r = data;
    VmmDaemon *d = r->d;
    Result *res = g_task_propagate_pointer(G_TASK(result), NULL);

    if (res->error) {
        vmm_daemon_reply_error(r->msg, res->error);
    } else if (res->raw) {
        gsize len;
        gpointer p = g_bytes_unref_to_data(g_steal_pointer(&res->raw), &len);
        soup_server_message_set_status(r->msg, 200, NULL);
        soup_server_message_set_response(r->msg, res->raw_type, SOUP_MEMORY_TAKE, p, len);
    } else {
        vmm_daemon_reply_json(r->msg, res->status ? res->status : 200, g_steal_pointer(&res->node));
    }
    soup_server_message_unpause(r->msg);
    g_clear_error(&res->error);
    g_clear_pointer(&res->raw, g_bytes_unref);
    g_clear_pointer(&res->node, json_node_unref);
    g_free(res);
    vmm_request_free(r);
    d->inflight--;
}

static void
reply_now(VmmRequest *r, JsonNode *node)
{
    vmm_daemon_reply_json(r->msg, 200, node);
    vmm_request_free(r);
}

void
vmm_daemon_dispatch(VmmRequest *r)
{
    g_autoptr(GTask) task = NULL;
    Worker w;

    switch (r->match.route) {
    case VMM_ROUTE_WHOAMI: {
        JsonNode *n =
            object1("user", r->caller->user, "role",
                    json_node_init_string(json_node_alloc(), vmm_role_to_string(r->role)));
        json_object_set_int_member(json_node_get_object(n), "uid", r->caller->uid);
        reply_now(r, n);
        return;
    }
    case VMM_ROUTE_OPENAPI: {
        g_autofree char *path = g_build_filename(r->d->web_dir, "openapi.json", NULL);
        char *data = NULL;
        gsize len = 0;
        if (g_file_get_contents(path, &data, &len, NULL)) {
            soup_server_message_set_status(r->msg, 200, NULL);
            soup_server_message_set_response(r->msg, "application/json", SOUP_MEMORY_TAKE, data,
                                             len);
        } else {
            g_autoptr(GError) e = g_error_new(VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE,
                                              "openapi.json is not installed in %s", r->d->web_dir);
            vmm_daemon_reply_error(r->msg, e);
        }
        vmm_request_free(r);
        return;
    }
    case VMM_ROUTE_EVENTS:
        vmm_events_hub_subscribe(r->d->hub, r);
        return;
    case VMM_ROUTE_EXEC:
        vmm_daemon_exec_stream(r);
        return;
    case VMM_ROUTE_EXEC_WS:
        if (!vmm_daemon_is_websocket(r)) {
            g_autoptr(GError) e = g_error_new_literal(VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE,
                                                      "GET .../exec is the websocket exec (send "
                                                      "Upgrade: websocket); POST streams NDJSON");
            vmm_daemon_reply_error(r->msg, e);
            vmm_request_free(r);
            return;
        }
        vmm_daemon_exec_ws(r);
        return;
    default:
        break;
    }
    w = worker_for(r);
    g_assert(w);
    soup_server_message_pause(r->msg);
    r->d->inflight++;
    task = g_task_new(NULL, NULL, worker_done, r);
    g_task_set_task_data(task, r, NULL);
    g_task_run_in_thread(task, run_worker);
}
