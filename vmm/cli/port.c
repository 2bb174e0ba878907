/* port.c: `airlock port`, and the allow list + drop counters shown by inspect. */
#include <config.h>

#include "port.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

int
vmm_cmd_port(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "NAME PORT - print GUEST_IP:PORT, the address where the host reaches a guest port");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) view = NULL;
    const VmmMetadata *md;
    g_autofree char *ip = NULL;
    char *end = NULL;
    guint64 port;
    int rc;

    g_option_context_set_summary(ctx, "The guest cannot open connections; the host can open them "
                                      "to the guest (replies are let through).");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 3)
        return vmm_cli_usage(argv[0], "expects a sandbox NAME and a PORT");
    port = g_ascii_strtoull(argv[2], &end, 10);
    if (!g_ascii_isdigit(argv[2][0]) || *end || port < 1 || port > 65535)
        return vmm_cli_usage(argv[0], "port '%s' is invalid (use 1-65535)", argv[2]);
    if (!vmm_cli_ops(cli, &err) || !(view = vmm_ops_inspect(cli->ops, argv[1], &err)))
        return vmm_cli_fail(err);
    md = view->md;
    if (!md->address) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_INVALID,
                    "sandbox '%s' has no network (created with --network none)", argv[1]);
        return vmm_cli_fail(err);
    }
    ip = g_strndup(md->address, strcspn(md->address, "/"));
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *addr = g_strdup_printf("%s:%u", ip, (guint)port);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "address");
        json_builder_add_string_value(b, addr);
        json_builder_set_member_name(b, "ip");
        json_builder_add_string_value(b, ip);
        json_builder_set_member_name(b, "port");
        json_builder_add_int_value(b, port);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else {
        printf("%s:%u\n", ip, (guint)port);
    }
    return AIRLOCK_EXIT_OK;
}
