/*
 * ops-json.c: the JSON forms of what the operations return (--json, airlockd's
 * answers) and back (airlockd's answers read by the CLI through ops-remote.c).
 */
#include <config.h>

#include "ops.h"
#include "error.h"
#include "json-builder.h"
#include "names.h"
#include "nft.h"

#include <string.h>

/* ---- to JSON --------------------------------------------------------------------------------- */

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
        vmm_json_add_int(b, "ip_packets", ip);
        vmm_json_add_int(b, "l2_frames", l2);
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    dns_log = g_build_filename(dir, "dns.log", NULL);
    vmm_json_add_str(b, "dns_log", dns_log);
}

/* The network status airlockd reported, member for member. */
static void
add_reported_status(JsonBuilder *b, JsonObject *status)
{
    static const char *const keys[] = {"allow", "drops", "dns_log"};

    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        JsonNode *n = json_object_get_member(status, keys[i]);
        if (!n)
            continue;
        json_builder_set_member_name(b, keys[i]);
        json_builder_add_value(b, json_node_copy(n));
    }
}

JsonNode *
vmm_sandbox_view_to_json(const VmmSandboxView *view, gboolean with_network)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const VmmMetadata *md = view->md;
    g_autofree char *expires = expires_at(md);
    g_autofree char *obj = vmm_name_object(md->name);
    json_builder_begin_object(b);
    vmm_json_add_str(b, "name", md->name);
    vmm_json_add_str(b, "state", view->state);
    if (view->exec_channel)
        vmm_json_add_str(b, "exec_channel", view->exec_channel);
    vmm_json_add_str(b, "domain", obj);
    vmm_json_add_str(b, "image", md->image);
    vmm_json_add_str(b, "image_digest", md->image_digest);
    vmm_json_add_str(b, "spec_hash", md->spec_hash);
    vmm_json_add_str(b, "accel", md->accel);
    vmm_json_add_int(b, "cpus", md->cpus);
    vmm_json_add_int(b, "memory_mib", md->memory_mib);
    vmm_json_add_int(b, "disk_gib", md->disk_gib);
    json_builder_set_member_name(b, "network");
    json_builder_begin_object(b);
    vmm_json_add_str(b, "mode", md->net_mode);
    vmm_json_add_str(b, "address", md->address);
    vmm_json_add_str(b, "host_address", md->host_address);
    vmm_json_add_str(b, "bridge", md->bridge);
    vmm_json_add_str(b, "mac", md->mac);
    if (with_network && view->net_status)
        add_reported_status(b, view->net_status);
    else if (with_network)
        add_network_status(b, md, view->dir);
    json_builder_end_object(b);
    vmm_json_add_str(b, "owner", md->owner);
    vmm_json_add_str(b, "created", md->created);
    vmm_json_add_int(b, "ttl_s", md->ttl_s);
    vmm_json_add_str(b, "expires", expires);
    json_builder_set_member_name(b, "labels");
    json_builder_begin_object(b);
    for (guint i = 0; md->labels && i < md->labels->len; i++) {
        const char *kv = g_ptr_array_index(md->labels, i);
        const char *eq = strchr(kv, '=');
        g_autofree char *k = g_strndup(kv, eq ? (gsize)(eq - kv) : strlen(kv));
        vmm_json_add_str(b, k, eq ? eq + 1 : "");
    }
    json_builder_end_object(b);
    vmm_json_add_strv(b, "secrets", md->secret_names);
    vmm_json_add_strv(b, "env", md->env_names);
    vmm_json_add_str(b, "dir", view->dir);
    vmm_json_add_str(b, "console_log", view->console);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *
vmm_snapshot_info_to_json(const VmmSnapshotInfo *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    vmm_json_add_str(b, "tag", s->tag);
    vmm_json_add_str(b, "created", s->created);
    vmm_json_add_str(b, "parent", s->parent);
    vmm_json_add_int(b, "memory_bytes", s->memory_bytes);
    vmm_json_add_int(b, "disk_bytes", s->disk_bytes);
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
    const char *names[] = {"overlay", "network", "seed",     "define",   "boot", "cloud_init",
                           "finish",  "restore", "identity", "snapshot", "total"};
    const gdouble values[] = {t->overlay,  t->network,    t->seed,   t->define,
                              t->boot,     t->cloud_init, t->finish, t->restore,
                              t->identity, t->snapshot,   t->total};

    return timings_to_json(names, values, G_N_ELEMENTS(names));
}

void
vmm_create_source_to_json(const VmmCreateTimings *t, JsonObject *o)
{
    json_object_set_string_member(o, "create", t->warm ? "warm" : "cold");
    if (t->warm) {
        json_object_set_string_member(o, "pool", t->pool);
        json_object_set_string_member(o, "identity_via", t->identity_via);
    } else {
        json_object_set_null_member(o, "pool");
    }
    if (t->cold_reason[0])
        json_object_set_string_member(o, "cold_reason", t->cold_reason);
    else
        json_object_set_null_member(o, "cold_reason");
}

void
vmm_create_source_from_json(JsonObject *o, VmmCreateTimings *t)
{
    const char *pool = o ? json_object_get_string_member_with_default(o, "pool", NULL) : NULL;
    const char *why = o ? json_object_get_string_member_with_default(o, "cold_reason", NULL) : NULL;

    t->warm =
        o && g_strcmp0(json_object_get_string_member_with_default(o, "create", ""), "warm") == 0;
    g_strlcpy(t->pool, pool ? pool : "", sizeof(t->pool));
    g_strlcpy(t->identity_via,
              o ? json_object_get_string_member_with_default(o, "identity_via", "") : "",
              sizeof(t->identity_via));
    g_strlcpy(t->cold_reason, why ? why : "", sizeof(t->cold_reason));
}

JsonNode *
vmm_reset_timings_to_json(const VmmResetTimings *t)
{
    const char *names[] = {"stop", "overlay", "restore", "agent", "fixup", "total"};
    const gdouble values[] = {t->stop, t->overlay, t->restore, t->agent, t->fixup, t->total};

    return timings_to_json(names, values, G_N_ELEMENTS(names));
}

JsonNode *
vmm_pause_timings_to_json(const VmmPauseTimings *t)
{
    const char *names[] = {"save", "total"};
    const gdouble values[] = {t->save, t->total};

    return timings_to_json(names, values, G_N_ELEMENTS(names));
}

JsonNode *
vmm_stats_to_json(const VmmStats *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const struct {
        const char *k;
        guint64 v;
    } rows[] = {{"cpu_ns", s->cpu_ns},
                {"rss_kib", s->rss_kib},
                {"block_wr_bytes", s->block_wr_bytes},
                {"net_rx_bytes", s->net_rx_bytes},
                {"net_tx_bytes", s->net_tx_bytes}};

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, s->name);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, s->state);
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        json_builder_set_member_name(b, rows[i].k);
        json_builder_add_int_value(b, (gint64)rows[i].v);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ---- back from JSON (airlockd's answers) ----------------------------------------------------- */

static gboolean
bad_member(const char *key, const char *what, GError **error)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                "airlockd answered with a bad '%s' (%s expected): is it the same version?", key,
                what);
    return FALSE;
}

/* @key of @o as a string copy in *@out: absent or null is NULL. */
static gboolean
read_str(JsonObject *o, const char *key, char **out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);

    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return bad_member(key, "a string", error);
    *out = g_strdup(json_node_get_string(n));
    return TRUE;
}

/* @key of @o as a whole number in 0..@max: absent or null is 0. */
static gboolean
read_uint(JsonObject *o, const char *key, guint64 max, guint64 *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);

    *out = 0;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || (guint64)json_node_get_int(n) > max)
        return bad_member(key, "a whole number", error);
    *out = (guint64)json_node_get_int(n);
    return TRUE;
}

/* @key of @o as a list of strings: absent, null or empty is NULL. */
static gboolean
read_strv(JsonObject *o, const char *key, char ***out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);
    g_autoptr(GPtrArray) list = NULL;
    JsonArray *a;

    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n))
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        return bad_member(key, "a list of strings", error);
    a = json_node_get_array(n);
    if (json_array_get_length(a) == 0)
        return TRUE;
    list = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
            return bad_member(key, "a list of strings", error);
        g_ptr_array_add(list, g_strdup(json_node_get_string(e)));
    }
    g_ptr_array_add(list, NULL);
    g_ptr_array_set_free_func(list, NULL);
    *out = (char **)g_ptr_array_free(g_steal_pointer(&list), FALSE);
    return TRUE;
}

static JsonObject *
as_object(JsonNode *node, const char *what, GError **error)
{
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        bad_member(what, "an object", error);
        return NULL;
    }
    return json_node_get_object(node);
}

VmmSandboxView *
vmm_sandbox_view_from_json(JsonNode *node, GError **error)
{
    static const char *const status_keys[] = {"allow", "drops", "dns_log"};
    g_autoptr(VmmSandboxView) v = g_new0(VmmSandboxView, 1);
    JsonObject *o = as_object(node, "sandbox", error);
    JsonObject *net, *labels;
    VmmMetadata *md;
    guint64 cpus, memory, disk, ttl;

    if (!o)
        return NULL;
    v->md = md = vmm_metadata_new();
    if (!read_str(o, "name", &md->name, error) || !read_str(o, "state", &v->state, error) ||
        !read_str(o, "image", &md->image, error) ||
        !read_str(o, "image_digest", &md->image_digest, error) ||
        !read_str(o, "spec_hash", &md->spec_hash, error) ||
        !read_str(o, "accel", &md->accel, error) || !read_str(o, "owner", &md->owner, error) ||
        !read_str(o, "created", &md->created, error) || !read_str(o, "dir", &v->dir, error) ||
        !read_str(o, "console_log", &v->console, error) ||
        !read_uint(o, "cpus", G_MAXUINT, &cpus, error) ||
        !read_uint(o, "memory_mib", G_MAXUINT, &memory, error) ||
        !read_uint(o, "disk_gib", G_MAXUINT, &disk, error) ||
        !read_uint(o, "ttl_s", G_MAXINT64, &ttl, error) ||
        !read_strv(o, "secrets", &md->secret_names, error) ||
        !read_strv(o, "env", &md->env_names, error))
        return NULL;
    if (!md->name || !vmm_name_validate(md->name, "sandbox name", NULL)) {
        bad_member("name", "a sandbox name", error);
        return NULL;
    }
    md->cpus = cpus;
    md->memory_mib = memory;
    md->disk_gib = disk;
    md->ttl_s = (gint64)ttl;
    if (!(net = as_object(json_object_get_member(o, "network"), "network", error)) ||
        !read_str(net, "mode", &md->net_mode, error) ||
        !read_str(net, "address", &md->address, error) ||
        !read_str(net, "host_address", &md->host_address, error) ||
        !read_str(net, "bridge", &md->bridge, error) || !read_str(net, "mac", &md->mac, error))
        return NULL;
    for (gsize i = 0; i < G_N_ELEMENTS(status_keys); i++) {
        JsonNode *n = json_object_get_member(net, status_keys[i]);
        if (!n)
            continue;
        if (!v->net_status)
            v->net_status = json_object_new();
        json_object_set_member(v->net_status, status_keys[i], json_node_copy(n));
    }
    if (!(labels = as_object(json_object_get_member(o, "labels"), "labels", error)))
        return NULL;
    {
        g_autoptr(GList) keys = json_object_get_members(labels);
        for (GList *l = keys; l; l = l->next) {
            g_autofree char *value = NULL;
            if (!read_str(labels, l->data, &value, error))
                return NULL;
            g_ptr_array_add(md->labels,
                            g_strdup_printf("%s=%s", (char *)l->data, value ? value : ""));
        }
    }
    return g_steal_pointer(&v);
}

VmmSnapshotInfo *
vmm_snapshot_info_from_json(JsonNode *node, GError **error)
{
    g_autoptr(VmmSnapshotInfo) s = g_new0(VmmSnapshotInfo, 1);
    JsonObject *o = as_object(node, "snapshot", error);

    if (!o || !read_str(o, "tag", &s->tag, error) || !read_str(o, "created", &s->created, error) ||
        !read_str(o, "parent", &s->parent, error) ||
        !read_uint(o, "memory_bytes", G_MAXINT64, &s->memory_bytes, error) ||
        !read_uint(o, "disk_bytes", G_MAXINT64, &s->disk_bytes, error))
        return NULL;
    if (!s->tag) {
        bad_member("tag", "a string", error);
        return NULL;
    }
    return g_steal_pointer(&s);
}

VmmStats *
vmm_stats_from_json(JsonNode *node, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *state = NULL;
    JsonObject *o = as_object(node, "stats", error);
    guint64 v[5];
    VmmStats *s;

    if (!o || !read_str(o, "name", &name, error) || !read_str(o, "state", &state, error) ||
        !read_uint(o, "cpu_ns", G_MAXINT64, &v[0], error) ||
        !read_uint(o, "rss_kib", G_MAXINT64, &v[1], error) ||
        !read_uint(o, "block_wr_bytes", G_MAXINT64, &v[2], error) ||
        !read_uint(o, "net_rx_bytes", G_MAXINT64, &v[3], error) ||
        !read_uint(o, "net_tx_bytes", G_MAXINT64, &v[4], error))
        return NULL;
    if (!name || !state) {
        bad_member(name ? "state" : "name", "a string", error);
        return NULL;
    }
    /* One allocation, as vmm_ops_stats makes them: name and state follow the struct. */
    s = g_malloc0(sizeof(VmmStats) + strlen(name) + 1 + strlen(state) + 1);
    s->name = (char *)(s + 1);
    strcpy(s->name, name);
    s->state = s->name + strlen(name) + 1;
    strcpy((char *)s->state, state);
    s->cpu_ns = v[0];
    s->rss_kib = v[1];
    s->block_wr_bytes = v[2];
    s->net_rx_bytes = v[3];
    s->net_tx_bytes = v[4];
    return s;
}

/* Each of @names from the object @node as a number into @values (absent: 0). */
static void
timings_from_json(JsonNode *node, const char *const *names, gdouble *const *values, gsize n)
{
    JsonObject *o = node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;

    for (gsize i = 0; i < n; i++) {
        JsonNode *m = o ? json_object_get_member(o, names[i]) : NULL;
        GType t = m && JSON_NODE_HOLDS_VALUE(m) ? json_node_get_value_type(m) : G_TYPE_INVALID;
        *values[i] = t == G_TYPE_DOUBLE || t == G_TYPE_INT64 ? json_node_get_double(m) : 0;
    }
}

void
vmm_create_timings_from_json(JsonNode *node, VmmCreateTimings *t)
{
    const char *names[] = {"overlay", "network", "seed",     "define",   "boot", "cloud_init",
                           "finish",  "restore", "identity", "snapshot", "total"};
    gdouble *const values[] = {&t->overlay,  &t->network,    &t->seed,   &t->define,
                               &t->boot,     &t->cloud_init, &t->finish, &t->restore,
                               &t->identity, &t->snapshot,   &t->total};

    timings_from_json(node, names, values, G_N_ELEMENTS(names));
}

void
vmm_reset_timings_from_json(JsonNode *node, VmmResetTimings *t)
{
    const char *names[] = {"stop", "overlay", "restore", "agent", "fixup", "total"};
    gdouble *const values[] = {&t->stop, &t->overlay, &t->restore, &t->agent, &t->fixup, &t->total};

    timings_from_json(node, names, values, G_N_ELEMENTS(names));
}

void
vmm_pause_timings_from_json(JsonNode *node, VmmPauseTimings *t)
{
    const char *names[] = {"save", "total"};
    gdouble *const values[] = {&t->save, &t->total};

    timings_from_json(node, names, values, G_N_ELEMENTS(names));
}

JsonNode *
vmm_pool_to_json(const VmmPool *p)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pool");
    json_builder_add_string_value(b, p->id);
    json_builder_set_member_name(b, "image");
    json_builder_add_string_value(b, p->image);
    json_builder_set_member_name(b, "cpus");
    json_builder_add_int_value(b, p->cpus);
    json_builder_set_member_name(b, "memory_mib");
    json_builder_add_int_value(b, p->memory_mib);
    json_builder_set_member_name(b, "disk_gib");
    if (p->disk_gib)
        json_builder_add_int_value(b, p->disk_gib);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "network");
    json_builder_add_string_value(b, vmm_net_mode_to_string(p->net_mode));
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, p->size);
    json_builder_set_member_name(b, "ready");
    json_builder_add_int_value(b, p->ready);
    json_builder_set_member_name(b, "stale");
    json_builder_add_int_value(b, p->stale);
    json_builder_set_member_name(b, "filling");
    json_builder_add_int_value(b, p->filling);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
