/* audit.c: `airlock audit verify`, `airlock events`, `airlock logs`, `airlock stats`. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "sandbox.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
vmm_cli_event(VmmCli *cli, const char *name, const char *event, JsonObject *fields)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) all = fields ? json_object_ref(fields) : json_object_new();

    /* Every record of a sandbox names the spec it runs, when libvirt still knows it. */
    if (name && cli->conn && !json_object_has_member(all, "spec_hash")) {
        g_autofree char *obj = vmm_name_object(name);
        g_autoptr(virDomain) dom = virDomainLookupByName(cli->conn, obj);
        g_autoptr(VmmMetadata) md = dom ? vmm_sandbox_metadata(dom, NULL) : NULL;
        if (md && md->spec_hash)
            json_object_set_string_member(all, "spec_hash", md->spec_hash);
    }
    if (!vmm_events_append(cli->state_dir, name, event, all, &err))
        fprintf(stderr, "airlock: warning: audit log not written: %s\n", err->message);
}

int
vmm_cmd_audit_verify(VmmCli *cli, int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "[NAME] - check the audit log's keyed chain and head (global, or a sandbox's)");
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    const char *name;
    VmmEventsVerified v;
    int rc;

    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    name = argc == 2 ? argv[1] : NULL;
    if (name && !vmm_name_validate(name, "sandbox name", &err))
        return vmm_cli_fail(err);
    path = name ? vmm_events_sandbox_path(cli->state_dir, name)
                : vmm_events_global_path(cli->state_dir);
    if (!vmm_events_verify(cli->state_dir, name, &v, &err))
        return vmm_cli_fail(err);
    printf("%s: %u records, chain intact", path, v.records);
    if (!v.keyed)
        printf(" but unkeyed (written before audit keys: anyone who could write it could "
               "rewrite it)");
    else if (v.unkeyed)
        printf(" (the first %u records predate audit keys; the keyed ones after them pin them)",
               v.unkeyed + 1);
    if (v.head_lag)
        printf("; its head names the record before the last (a writer died between the two)");
    printf("\n");
    return AIRLOCK_EXIT_OK;
}

/* ---- events ---- */

static gboolean as_json_events;
static char *events_filter;
static volatile sig_atomic_t stop_following;

static void
on_signal(int sig)
{
    stop_following = 1;
}

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
print_live(const char *domain, const char *kind, const char *detail)
{
    g_autofree char *name = vmm_name_from_object(domain);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");

    if (!name || (events_filter && strcmp(events_filter, name) != 0))
        return;
    if (as_json_events)
        printf("{\"time\":\"%s\",\"source\":\"libvirt\",\"sandbox\":\"%s\",\"event\":\"%s\","
               "\"detail\":\"%s\"}\n",
               time, name, kind, detail);
    else
        printf("%s  %-20s %-16s %s\n", time, name, kind, detail);
    fflush(stdout);
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    print_live(virDomainGetName(dom), "lifecycle", lifecycle_name(event, detail));
    return 0;
}

static void
on_io_error(virConnectPtr conn, virDomainPtr dom, const char *src, const char *dev, int action,
            const char *reason, void *opaque)
{
    g_autofree char *d = g_strdup_printf("%s %s", dev ? dev : "?", reason ? reason : "");
    print_live(virDomainGetName(dom), "io-error", d);
}

static void
on_agent(virConnectPtr conn, virDomainPtr dom, int state, int reason, void *opaque)
{
    print_live(virDomainGetName(dom), "agent",
               state == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED ? "connected"
                                                                                 : "disconnected");
}

static void
print_recorded(const char *path)
{
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &data, NULL, NULL))
        return;
    lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        JsonObject *o;
        const char *sb;
        if (!**l || !json_parser_load_from_data(p, *l, -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
            continue;
        o = json_node_get_object(json_parser_get_root(p));
        sb = json_object_get_string_member_with_default(o, "sandbox", NULL);
        if (events_filter && g_strcmp0(sb, events_filter) != 0)
            continue;
        if (as_json_events) {
            printf("%s\n", *l);
        } else {
            g_autoptr(JsonGenerator) gen = json_generator_new();
            g_autoptr(JsonObject) rest = json_object_new();
            g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
            g_autofree char *text = NULL;
            g_autoptr(GList) members = json_object_get_members(o);
            for (GList *m = members; m; m = m->next) {
                const char *k = m->data;
                if (!strcmp(k, "time") || !strcmp(k, "event") || !strcmp(k, "sandbox") ||
                    !strcmp(k, "prev") || !strcmp(k, "uid"))
                    continue;
                json_object_set_member(rest, k, json_node_copy(json_object_get_member(o, k)));
            }
            json_node_set_object(node, rest);
            json_generator_set_root(gen, node);
            text = json_generator_to_data(gen, NULL);
            printf("%s  %-20s %-16s %s\n",
                   json_object_get_string_member_with_default(o, "time", ""), sb ? sb : "-",
                   json_object_get_string_member_with_default(o, "event", ""), text);
        }
    }
}

int
vmm_cmd_events(VmmCli *cli, int argc, char **argv)
{
    gboolean follow = FALSE;
    GOptionEntry entries[] = {
        {"follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
         "After the recorded events, print libvirt's live events (lifecycle, crash, I/O error, "
         "agent) until interrupted",
         NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json_events, "One JSON object per line", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[NAME] - show the audit trail and live events");
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    virConnectPtr conn;
    int ids[3], rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    if (argc == 2) {
        if (!vmm_name_validate(argv[1], "sandbox name", &err))
            return vmm_cli_fail(err);
        events_filter = argv[1];
    }
    path = vmm_events_global_path(cli->state_dir);
    print_recorded(path);
    fflush(stdout);
    if (!follow)
        return AIRLOCK_EXIT_OK;

    if (virEventRegisterDefaultImpl() < 0) {
        vmm_error_libvirt(&err, VMM_ERROR_LIBVIRT, "cannot start libvirt's event loop");
        return vmm_cli_fail(err);
    }
    if (!(conn = vmm_cli_conn(cli, &err)))
        return vmm_cli_fail(err);
    ids[0] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
    ids[1] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_io_error), NULL, NULL);
    ids[2] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_agent), NULL, NULL);
    if (ids[0] < 0) {
        vmm_error_libvirt(&err, VMM_ERROR_LIBVIRT, "cannot subscribe to libvirt events");
        return vmm_cli_fail(err);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    virConnectSetKeepAlive(conn, 5, 3);
    while (!stop_following && virConnectIsAlive(conn) == 1) {
        if (virEventRunDefaultImpl() < 0)
            break;
    }
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0)
            virConnectDomainEventDeregisterAny(conn, ids[i]);
    if (!stop_following) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_CONNECT,
                    "lost the connection to libvirtd (restart it with scripts/start-libvirt; "
                    "sandboxes keep running)");
        return vmm_cli_fail(err);
    }
    return AIRLOCK_EXIT_OK;
}

/* ---- logs ---- */

int
vmm_cmd_logs(VmmCli *cli, int argc, char **argv)
{
    gboolean console = FALSE, events = FALSE, dns = FALSE;
    GOptionEntry entries[] = {
        {"console", 0, 0, G_OPTION_ARG_NONE, &console, "The serial console (default)", NULL},
        {"events", 0, 0, G_OPTION_ARG_NONE, &events, "The sandbox's audit events", NULL},
        {"dns", 0, 0, G_OPTION_ARG_NONE, &dns, "The DNS questions the guest asked", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - print one of a sandbox's logs");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    gsize len = 0;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (console + events + dns > 1)
        return vmm_cli_usage(argv[0], "choose one of --console, --events, --dns");
    if (!vmm_name_validate(argv[1], "sandbox name", &err))
        return vmm_cli_fail(err);
    dir = vmm_path_sandbox_dir(cli->state_dir, argv[1]);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' not found (airlock list shows what exists; airlock archive list "
                    "shows destroyed ones)",
                    argv[1]);
        return vmm_cli_fail(err);
    }
    path = events ? vmm_events_sandbox_path(cli->state_dir, argv[1])
                  : g_build_filename(dir, dns ? "dns.log" : "console.log", NULL);
    if (g_file_get_contents(path, &data, &len, NULL))
        fwrite(data, 1, len, stdout);
    return AIRLOCK_EXIT_OK;
}

/* ---- stats ---- */

int
vmm_cmd_stats(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[NAME] - CPU, memory, block and network figures of sandboxes");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    virDomainStatsRecordPtr *records = NULL;
    virConnectPtr conn;
    unsigned int types = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                         VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_BLOCK |
                         VIR_DOMAIN_STATS_INTERFACE;
    int n, rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    if ((argc == 2 && !vmm_name_validate(argv[1], "sandbox name", &err)) ||
        !(conn = vmm_cli_conn(cli, &err)))
        return vmm_cli_fail(err);
    if (argc == 2) {
        g_autoptr(virDomain) dom = vmm_sandbox_lookup(conn, argv[1], &err);
        virDomainPtr doms[2] = {dom, NULL};
        if (!dom)
            return vmm_cli_fail(err);
        n = virDomainListGetStats(doms, types, &records, 0);
    } else {
        n = virConnectGetAllDomainStats(conn, types, &records, 0);
    }
    if (n < 0) {
        vmm_error_libvirt(&err, VMM_ERROR_LIBVIRT, "cannot read domain statistics");
        return vmm_cli_fail(err);
    }
    json_builder_begin_array(b);
    if (!as_json)
        printf("%-20s %-9s %12s %12s %12s %12s %12s\n", "NAME", "STATE", "CPU_S", "RSS_KIB",
               "BLK_WR_B", "NET_RX_B", "NET_TX_B");
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virDomainGetName(records[i]->dom));
        guint64 cpu = 0, rss = 0, wr = 0, rx = 0, tx = 0;
        if (!name)
            continue;
        for (int j = 0; j < records[i]->nparams; j++) {
            virTypedParameterPtr p = &records[i]->params[j];
            guint64 v = p->type == VIR_TYPED_PARAM_ULLONG ? p->value.ul : 0;
            if (!strcmp(p->field, "cpu.time"))
                cpu = v;
            else if (!strcmp(p->field, "balloon.rss"))
                rss = v;
            else if (g_str_has_prefix(p->field, "block.") &&
                     g_str_has_suffix(p->field, ".wr.bytes"))
                wr += v;
            else if (g_str_has_prefix(p->field, "net.") && g_str_has_suffix(p->field, ".rx.bytes"))
                rx += v;
            else if (g_str_has_prefix(p->field, "net.") && g_str_has_suffix(p->field, ".tx.bytes"))
                tx += v;
        }
        if (as_json) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, name);
            json_builder_set_member_name(b, "state");
            json_builder_add_string_value(b, vmm_sandbox_state(records[i]->dom));
            json_builder_set_member_name(b, "cpu_ns");
            json_builder_add_int_value(b, cpu);
            json_builder_set_member_name(b, "rss_kib");
            json_builder_add_int_value(b, rss);
            json_builder_set_member_name(b, "block_wr_bytes");
            json_builder_add_int_value(b, wr);
            json_builder_set_member_name(b, "net_rx_bytes");
            json_builder_add_int_value(b, rx);
            json_builder_set_member_name(b, "net_tx_bytes");
            json_builder_add_int_value(b, tx);
            json_builder_end_object(b);
        } else {
            printf("%-20s %-9s %12.2f %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                   " %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT "\n",
                   name, vmm_sandbox_state(records[i]->dom), cpu / 1e9, rss, wr, rx, tx);
        }
    }
    json_builder_end_array(b);
    virDomainStatsRecordListFree(records);
    if (as_json)
        vmm_cli_print_json(json_builder_get_root(b));
    return AIRLOCK_EXIT_OK;
}
