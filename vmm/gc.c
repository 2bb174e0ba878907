/* gc.c: destroys expired sandboxes and reconciles orphans. */
#include <config.h>

#include "gc.h"
#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "journal.h"
#include "metadata.h"
#include "names.h"
#include "host.h"
#include "network.h"
#include "pool.h"
#include "nft.h"

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

static gboolean
expired(const VmmMetadata *md)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) created = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    if (md->ttl_s <= 0 || !md->created)
        return FALSE;
    created = g_date_time_new_from_iso8601(md->created, utc);
    return created && g_date_time_difference(now, created) / G_USEC_PER_SEC >= md->ttl_s;
}

/* Every name airlock might have left something for, from every place it leaves things. */
static GHashTable *
known_names(VmmContext *ctx)
{
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *sdir = g_build_filename(ctx->state_dir, "sandboxes", NULL);
    g_autoptr(GDir) d = g_dir_open(sdir, 0, NULL);
    g_auto(GStrv) pending = vmm_journal_pending(ctx->state_dir);
    virDomainPtr *doms = NULL;
    virNetworkPtr *nets = NULL;
    virNWFilterPtr *filters = NULL;
    const char *ent;
    int n;

    while (d && (ent = g_dir_read_name(d)))
        if (vmm_name_validate(ent, "name", NULL))
            g_hash_table_add(names, g_strdup(ent));
    for (char **p = pending; p && *p; p++)
        g_hash_table_add(names, g_strdup(*p));
    /* Domains and networks count only when their metadata names this state directory:
     * another state directory's sandboxes (a user's, while tests run) are not ours. */
    n = virConnectListAllDomains(ctx->conn, &doms, 0);
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virDomainGetName(doms[i]));
        g_autoptr(VmmMetadata) md = name ? vmm_sandbox_metadata(doms[i], NULL) : NULL;
        if (md && g_strcmp0(md->state_dir, ctx->state_dir) == 0)
            g_hash_table_add(names, g_steal_pointer(&name));
        virDomainFree(doms[i]);
    }
    free(doms);
    n = virConnectListAllNetworks(ctx->conn, &nets, 0);
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virNetworkGetName(nets[i]));
        g_autofree char *xml = name ? virNetworkGetXMLDesc(nets[i], 0) : NULL;
        g_autofree char *mine =
            g_markup_printf_escaped("<airlock:state-dir>%s</airlock:state-dir>", ctx->state_dir);
        /* A pool slot's network is held on purpose while the slot waits (pool.h). */
        if (xml && strstr(xml, mine) && !vmm_pool_slot_exists(ctx->state_dir, name))
            g_hash_table_add(names, g_steal_pointer(&name));
        virNetworkFree(nets[i]);
    }
    free(nets);
    /* nftables tables airlock_<name> ('-' written '_') with neither domain nor network
     * fence nothing: a crash between installing them and defining the domain. */
    {
        g_auto(GStrv) tables = vmm_host_for(ctx->conn)->nft_sandboxes(NULL);
        for (char **t = tables; t && *t; t++) {
            g_autofree char *obj = vmm_name_object(*t);
            g_autoptr(virDomain) dom = virDomainLookupByName(ctx->conn, obj);
            g_autoptr(virNetwork) net = dom ? NULL : virNetworkLookupByName(ctx->conn, obj);
            if (!dom && !net)
                g_hash_table_add(names, g_strdup(*t));
        }
    }
    /* A filter named like a sandbox that has neither domain nor network is used by nothing. */
    n = virConnectListAllNWFilters(ctx->conn, &filters, 0);
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virNWFilterGetName(filters[i]));
        g_autofree char *obj = name ? vmm_name_object(name) : NULL;
        g_autoptr(virDomain) dom = obj ? virDomainLookupByName(ctx->conn, obj) : NULL;
        g_autoptr(virNetwork) net = obj && !dom ? virNetworkLookupByName(ctx->conn, obj) : NULL;
        if (name && !dom && !net)
            g_hash_table_add(names, g_steal_pointer(&name));
        virNWFilterFree(filters[i]);
    }
    free(filters);
    return names;
}

/* A sandbox is whole when its domain carries our metadata and its directory exists. */
static gboolean
whole(VmmContext *ctx, const char *name, VmmMetadata **md_out)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autofree char *dir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autoptr(virDomain) dom = virDomainLookupByName(ctx->conn, obj);
    g_autoptr(VmmMetadata) md = dom ? vmm_sandbox_metadata(dom, NULL) : NULL;

    if (!md || !g_file_test(dir, G_FILE_TEST_IS_DIR))
        return FALSE;
    *md_out = g_steal_pointer(&md);
    return TRUE;
}

/* Puts a running sandbox's firewall back (tables and the tap's settings). */
static gboolean
refence(VmmContext *ctx, const char *name, const VmmMetadata *md, GError **error)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virDomain) dom = virDomainLookupByName(ctx->conn, obj);

    if (dom && virDomainIsActive(dom) == 1)
        return vmm_network_guard(ctx->conn, ctx->state_dir, md, error);
    /* Stopped: its start or restore fences it again (vmm_network_guard). */
    return vmm_network_ensure_firewall(ctx->conn, ctx->state_dir, md, error);
}

/* Lock files of names nothing else is left of (older versions never removed them). */
static void
remove_stale_locks(VmmContext *ctx, GHashTable *names)
{
    g_autofree char *dir = g_build_filename(ctx->state_dir, "locks", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        g_autofree char *name =
            g_str_has_suffix(ent, ".lock") ? g_strndup(ent, strlen(ent) - strlen(".lock")) : NULL;
        if (name && vmm_name_validate(name, "name", NULL) && !g_hash_table_contains(names, name))
            g_ptr_array_add(stale, g_steal_pointer(&name));
    }
    for (guint i = 0; i < stale->len; i++) {
        const char *name = g_ptr_array_index(stale, i);
        int lock = vmm_sandbox_lock(ctx->state_dir, name, NULL); /* busy: a create is starting */
        vmm_sandbox_unlock(ctx->state_dir, name, lock, TRUE);
    }
}

gboolean
vmm_gc_run(VmmContext *ctx, gboolean dry_run, VmmGcReport report, gpointer user_data,
           GError **error)
{
    g_autoptr(GHashTable) names = known_names(ctx);
    g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(names), (GCompareFunc)strcmp);

    for (GList *l = keys; l; l = l->next) {
        const char *name = l->data;
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmMetadata) md = NULL;
        g_autofree char *op = NULL;
        gboolean found = FALSE, gone = FALSE;
        gint64 ip = 0, l2 = 0;
        int lock = vmm_sandbox_lock(ctx->state_dir, name, &err);

        if (lock < 0) {
            /* Busy: another airlock command owns it right now; next run will see. */
            report(name, "skipped", err->message, user_data);
            continue;
        }
        op = vmm_journal_op(ctx->state_dir, name);
        if (op) {
            /* Its process died mid-way (we hold the lock it held): roll back. */
            g_autofree char *what = g_strdup_printf("unfinished %s rolled back", op);
            if (!dry_run && !vmm_sandbox_remove_locked(ctx, name, &found, &err)) {
                report(name, "error", err->message, user_data);
            } else {
                report(name, "rolled-back", what, user_data);
                gone = !dry_run;
            }
        } else if (whole(ctx, name, &md)) {
            if (expired(md)) {
                close(lock);
                lock = -1;
                if (!dry_run && !vmm_sandbox_destroy(ctx, name, VMM_DESTROY_FORCE, NULL, &err))
                    report(name, "error", err->message, user_data);
                else
                    report(name, "expired", "TTL passed: destroyed, evidence kept", user_data);
            } else if (md->net_mode && !g_str_equal(md->net_mode, "none") &&
                       !vmm_host_for(ctx->conn)->nft_drops(name, &ip, &l2, NULL)) {
                /* `nft flush ruleset` or a firewall service took its tables while it runs. */
                if (!dry_run && !refence(ctx, name, md, &err))
                    report(name, "error", err->message, user_data);
                else
                    report(name, "refenced", "firewall tables were missing: reinstalled",
                           user_data);
            }
        } else {
            if (!dry_run && !vmm_sandbox_remove_locked(ctx, name, &found, &err)) {
                report(name, "error", err->message, user_data);
            } else {
                report(name, "orphan", "leftovers without a whole sandbox removed", user_data);
                gone = !dry_run;
            }
        }
        vmm_sandbox_unlock(ctx->state_dir, name, lock, gone);
    }
    if (!dry_run)
        remove_stale_locks(ctx, names);
    return TRUE;
}
