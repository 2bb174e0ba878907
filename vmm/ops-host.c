/* ops-host.c: opening the operations, and what front ends read from the host: stats, live events,
 * facts. */
#include <config.h>

#include "ops.h"
#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "names.h"
#include "host.h"
#include "nft.h"

#include <libvirt/virterror.h>
#include <string.h>

VmmOps *
vmm_ops_open(const char *uri, const char *state_dir, const char *accel, VmmCaller *caller,
             char **accel_reason, GError **error)
{
    g_autoptr(VmmOps) ops = g_new0(VmmOps, 1);
    g_autofree char *reason = NULL;

    ops->owned_state_dir = g_strdup(state_dir);
    ops->ctx.state_dir = ops->owned_state_dir;
    ops->owned_caller = caller;
    ops->caller = caller;
    if (!vmm_accel_choose(accel, "/", &ops->ctx.accel, &reason, error) ||
        !(ops->ctx.conn = vmm_conn_open(uri, error)))
        return NULL;
    ops->owns_conn = TRUE;
    if (accel_reason)
        *accel_reason = g_steal_pointer(&reason);
    return g_steal_pointer(&ops);
}

void
vmm_ops_free(VmmOps *ops)
{
    if (!ops)
        return;
    if (ops->backend && ops->backend->close)
        ops->backend->close(ops->backend_data);
    if (ops->ctx.conn && ops->owns_conn)
        virConnectClose(ops->ctx.conn);
    g_free(ops->owned_state_dir);
    vmm_caller_free(ops->owned_caller);
    g_free(ops);
}

/* ---- host facts ---------------------------------------------------------------------------- */

char *
vmm_ops_describe_connection(VmmOps *ops)
{
    g_autofree char *uri = NULL;
    unsigned long ver = 0;

    if (ops->backend)
        return ops->backend->describe(ops);
    uri = virConnectGetURI(ops->ctx.conn);
    virConnectGetLibVersion(ops->ctx.conn, &ver);
    return g_strdup_printf("connected to %s (libvirt %lu.%lu.%lu)", uri ? uri : "?", ver / 1000000,
                           ver / 1000 % 1000, ver % 1000);
}

char **
vmm_ops_unfenced(VmmOps *ops, guint *fenced)
{
    g_autoptr(GPtrArray) doms = NULL;
    GPtrArray *bare = g_ptr_array_new();
    const VmmHost *host;

    *fenced = 0;
    if (ops->backend) { /* the firewall is airlockd's host's: doctor as root checks it */
        g_ptr_array_add(bare, NULL);
        return (char **)g_ptr_array_free(bare, FALSE);
    }
    doms = vmm_sandbox_list(ops->ctx.conn, ops->ctx.state_dir, NULL);
    host = vmm_host_for(ops->ctx.conn);
    for (guint i = 0; doms && i < doms->len; i++) {
        g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(doms->pdata[i], NULL);
        gint64 ip = 0, l2 = 0;

        if (!md || !md->net_mode || g_str_equal(md->net_mode, "none") ||
            virDomainIsActive(doms->pdata[i]) != 1)
            continue;
        if (host->nft_drops(md->name, &ip, &l2, NULL))
            (*fenced)++;
        else
            g_ptr_array_add(bare, g_strdup(md->name));
    }
    g_ptr_array_add(bare, NULL);
    return (char **)g_ptr_array_free(bare, FALSE);
}

/* ---- stats --------------------------------------------------------------------------------- */

GPtrArray *
vmm_ops_stats(VmmOps *ops, const char *name, GError **error)
{
    const unsigned int types = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                               VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_BLOCK |
                               VIR_DOMAIN_STATS_INTERFACE;
    virDomainStatsRecordPtr *records = NULL;
    g_autoptr(virDomain) dom = NULL;
    GPtrArray *out;
    int n;

    if (ops->backend)
        return ops->backend->stats(ops, name, error);
    if (name) {
        virDomainPtr doms[2] = {NULL, NULL};
        if (!vmm_name_validate(name, "sandbox name", error) ||
            !(dom = vmm_sandbox_lookup(ops->ctx.conn, name, error)))
            return NULL;
        doms[0] = dom;
        n = virDomainListGetStats(doms, types, &records, 0);
    } else {
        n = virConnectGetAllDomainStats(ops->ctx.conn, types, &records, 0);
    }
    if (n < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read domain statistics");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < n; i++) {
        g_autofree char *sb = vmm_name_from_object(virDomainGetName(records[i]->dom));
        VmmStats *s;
        if (!sb)
            continue;
        s = g_malloc0(sizeof(VmmStats) + strlen(sb) + 1);
        s->name = (char *)(s + 1);
        strcpy(s->name, sb);
        s->state = vmm_sandbox_state(records[i]->dom);
        for (int j = 0; j < records[i]->nparams; j++) {
            virTypedParameterPtr p = &records[i]->params[j];
            guint64 v = p->type == VIR_TYPED_PARAM_ULLONG ? p->value.ul : 0;
            if (!strcmp(p->field, "cpu.time"))
                s->cpu_ns = v;
            else if (!strcmp(p->field, "balloon.rss"))
                s->rss_kib = v;
            else if (g_str_has_prefix(p->field, "block.") &&
                     g_str_has_suffix(p->field, ".wr.bytes"))
                s->block_wr_bytes += v;
            else if (g_str_has_prefix(p->field, "net.") && g_str_has_suffix(p->field, ".rx.bytes"))
                s->net_rx_bytes += v;
            else if (g_str_has_prefix(p->field, "net.") && g_str_has_suffix(p->field, ".tx.bytes"))
                s->net_tx_bytes += v;
        }
        g_ptr_array_add(out, s);
    }
    virDomainStatsRecordListFree(records);
    return out;
}

/* ---- live events ----------------------------------------------------------------------------- */

typedef struct {
    VmmLiveEventFunc fn;
    gpointer data;
} Follow;

static const char *
lifecycle_name(int event, int detail)
{
    switch (event) {
    case VIR_DOMAIN_EVENT_DEFINED:
        return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED:
        return "undefined";
    case VIR_DOMAIN_EVENT_STARTED:
        return detail == VIR_DOMAIN_EVENT_STARTED_RESTORED ? "restored" : "started";
    case VIR_DOMAIN_EVENT_SUSPENDED:
        return "paused";
    case VIR_DOMAIN_EVENT_RESUMED:
        return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED:
        switch (detail) {
        case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
            return "crashed";
        case VIR_DOMAIN_EVENT_STOPPED_FAILED:
            return "failed";
        case VIR_DOMAIN_EVENT_STOPPED_SAVED:
            return "saved";
        case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
            return "shutdown";
        default:
            return "stopped";
        }
    case VIR_DOMAIN_EVENT_SHUTDOWN:
        return "shutting-down";
    case VIR_DOMAIN_EVENT_CRASHED:
        return "crashed";
    default:
        return "other";
    }
}

static void
emit(Follow *f, virDomainPtr dom, const char *kind, const char *detail)
{
    g_autofree char *name = vmm_name_from_object(virDomainGetName(dom));

    if (name)
        f->fn(name, kind, detail, f->data);
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    emit(opaque, dom, "lifecycle", lifecycle_name(event, detail));
    return 0;
}

static void
on_io_error(virConnectPtr conn, virDomainPtr dom, const char *src, const char *dev, int action,
            const char *reason, void *opaque)
{
    g_autofree char *d = g_strdup_printf("%s %s", dev ? dev : "?", reason ? reason : "");
    emit(opaque, dom, "io-error", d);
}

static void
on_agent(virConnectPtr conn, virDomainPtr dom, int state, int reason, void *opaque)
{
    emit(opaque, dom, "agent",
         state == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED ? "connected"
                                                                           : "disconnected");
}

gboolean
vmm_ops_follow(VmmOps *ops, VmmLiveEventFunc fn, gpointer data, volatile int *stop, GError **error)
{
    Follow f = {fn, data};
    int ids[3];

    if (ops->backend) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "following live events is not available through airlockd yet (its "
                    "GET /v1/events streams them)");
        return FALSE;
    }
    /* libvirt's default event loop must exist before the connection that uses it. */
    if (!ops->ctx.conn || virConnectIsAlive(ops->ctx.conn) != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT, "not connected to libvirtd");
        return FALSE;
    }
    ids[0] = virConnectDomainEventRegisterAny(ops->ctx.conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &f, NULL);
    ids[1] =
        virConnectDomainEventRegisterAny(ops->ctx.conn, NULL, VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_io_error), &f, NULL);
    ids[2] =
        virConnectDomainEventRegisterAny(ops->ctx.conn, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_agent), &f, NULL);
    if (ids[0] < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot subscribe to libvirt events");
    virConnectSetKeepAlive(ops->ctx.conn, 5, 3);
    while (!*stop && virConnectIsAlive(ops->ctx.conn) == 1)
        if (virEventRunDefaultImpl() < 0)
            break;
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0)
            virConnectDomainEventDeregisterAny(ops->ctx.conn, ids[i]);
    if (!*stop) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT,
                    "lost the connection to libvirtd (restart it, e.g. systemctl restart "
                    "libvirtd; sandboxes keep running)");
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_ops_events_init(GError **error)
{
    if (virEventRegisterDefaultImpl() < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot start libvirt's event loop");
    return TRUE;
}
