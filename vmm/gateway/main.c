/* main.c: airlock-gateway: the model gateway as its own process (airlockd starts it). */
#include <config.h>

#include "gateway.h"
#include "conn.h"
#include "events.h"
#include "names.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static gboolean
on_term(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static gboolean
on_tick(gpointer gw)
{
    vmm_gateway_rescan(gw);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    g_autofree char *config = NULL, *state = NULL, *uri = NULL;
    gint rescan_ms = 500;
    GOptionEntry entries[] = {
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &config,
         "Configuration with the provider keys (default STATE/gateway.conf, mode 0600)", "FILE"},
        {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state,
         "airlock's state directory (default: as airlock's, AIRLOCK_STATE_DIR)", "DIR"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri, "libvirt URI (chooses the state dir)",
         "URI"},
        {"rescan", 0, 0, G_OPTION_ARG_INT, &rescan_ms,
         "How often the sandboxes' registry is read (default 500)", "MS"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- the model gateway: sandboxes call model APIs without holding the keys");
    g_autoptr(GError) err = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    struct rlimit none = {0, 0};
    VmmGatewayConfig *cfg;
    VmmGateway *gw;

    setlocale(LC_ALL, "");
    /* The keys live in this process: never in a core file, never readable through ptrace. */
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc > 1 || rescan_ms < 50) {
        fprintf(stderr, "airlock-gateway: %s (--help lists the options)\n",
                err ? err->message : "bad arguments");
        return 2;
    }
    if (!state)
        state = vmm_state_dir(vmm_conn_default_uri(uri));
    if (!config)
        config = vmm_gateway_config_path(state);
    if (!(cfg = vmm_gateway_config_load(config, &err))) {
        fprintf(stderr, "airlock-gateway: %s\n", err->message);
        return 1;
    }
    loop = g_main_loop_new(NULL, FALSE);
    gw = vmm_gateway_new(state, cfg);
    g_message("airlock-gateway %s: state %s, port %u, %u sandbox(es)", PACKAGE_VERSION, state,
              cfg->port, vmm_gateway_rescan(gw));
    g_timeout_add(rescan_ms, on_tick, gw);
    g_unix_signal_add(SIGTERM, on_term, loop);
    g_unix_signal_add(SIGINT, on_term, loop);
    g_main_loop_run(loop);
    vmm_gateway_free(gw);
    return 0;
}
