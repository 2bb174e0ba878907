/* pause.c: `airlock pause|resume|ttl`. */
#include <config.h>

#include "cli.h"
#include "error.h"

#include <stdio.h>

int
vmm_cmd_pause(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the timings as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "NAME - save a running sandbox to disk: its qemu exits and its memory is freed");
    g_autoptr(GError) err = NULL;
    VmmPauseTimings t = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !vmm_ops_pause(cli->ops, argv[1], &t, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "timings_s");
        json_builder_add_value(b, vmm_pause_timings_to_json(&t));
        json_builder_set_member_name(b, "memory_bytes");
        json_builder_add_int_value(b, (gint64)t.memory_bytes);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else if (cli->tty) {
        printf("sandbox '%s' paused in %.2f s (%.0f MiB on disk; airlock resume %s)\n", argv[1],
               t.total, t.memory_bytes / 1048576.0, argv[1]);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_resume(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the timings as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - bring a paused sandbox back as it was, running");
    g_autoptr(GError) err = NULL;
    VmmResetTimings t = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !vmm_ops_resume(cli->ops, argv[1], &t, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "timings_s");
        json_builder_add_value(b, vmm_reset_timings_to_json(&t));
        json_builder_set_member_name(b, "fixup_via");
        json_builder_add_string_value(b, t.fixup_via ? t.fixup_via : "");
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else if (cli->tty) {
        printf("sandbox '%s' resumed in %.2f s\n", argv[1], t.total);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_ttl(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the new TTL as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME DURATION - set a sandbox's TTL: 2h from now, +2h more, or none");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) view = NULL;
    g_autoptr(JsonNode) node = NULL;
    VmmTtlChange change;
    gint64 seconds, ttl_s = 0;
    const char *expires;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 3)
        return vmm_cli_usage(argv[0], "expects NAME DURATION (2h, +2h or none)");
    if (!vmm_ttl_parse(argv[2], &change, &seconds, &err))
        return vmm_cli_usage(argv[0], "%s", err->message);
    if (!vmm_cli_ops(cli, &err) || !vmm_ops_ttl(cli->ops, argv[1], change, seconds, &ttl_s, &err) ||
        !(view = vmm_ops_inspect(cli->ops, argv[1], &err)))
        return vmm_cli_fail(err);
    /* The expiry as inspect shows it: the same computation, from the same metadata. */
    node = vmm_sandbox_view_to_json(view, FALSE);
    expires =
        json_object_get_string_member_with_default(json_node_get_object(node), "expires", NULL);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "ttl_s");
        json_builder_add_int_value(b, ttl_s);
        json_builder_set_member_name(b, "expires");
        if (expires)
            json_builder_add_string_value(b, expires);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else if (expires) {
        printf("sandbox '%s' expires at %s\n", argv[1], expires);
    } else {
        printf("sandbox '%s' has no TTL\n", argv[1]);
    }
    return AIRLOCK_EXIT_OK;
}
