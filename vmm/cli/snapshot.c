/* snapshot.c: `airlock reset|snapshot|snapshots`. */
#include <config.h>

#include "cli.h"
#include "table.h"
#include "error.h"

#include <stdio.h>

int
vmm_cmd_reset(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *to = NULL;
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"to", 0, 0, G_OPTION_ARG_STRING, &to, "Snapshot to go back to (default: clean)", "TAG"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the timings as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "NAME - put a sandbox back to its clean state (or a snapshot), running");
    g_autoptr(GError) err = NULL;
    VmmResetTimings t = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !vmm_ops_reset(cli->ops, argv[1], to, &t, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "to");
        json_builder_add_string_value(b, to ? to : VMM_SNAPSHOT_CLEAN);
        json_builder_set_member_name(b, "timings_s");
        json_builder_add_value(b, vmm_reset_timings_to_json(&t));
        json_builder_set_member_name(b, "fixup_via");
        json_builder_add_string_value(b, t.fixup_via ? t.fixup_via : "");
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else if (cli->tty) {
        printf("sandbox '%s' reset to '%s' in %.2f s\n", argv[1], to ? to : VMM_SNAPSHOT_CLEAN,
               t.total);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_snapshot(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *del = NULL;
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"delete", 'd', 0, G_OPTION_ARG_STRING, &del, "Delete snapshot TAG instead", "TAG"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print what was done as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME [TAG] - capture a running sandbox (memory and disk) as TAG");
    g_autoptr(GError) err = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if ((del && argc != 2) || (!del && argc != 3))
        return vmm_cli_usage(argv[0], "expects NAME TAG, or NAME --delete TAG");
    if (!vmm_cli_ops(cli, &err) ||
        !vmm_ops_snapshot(cli->ops, argv[1], del ? del : argv[2], del != NULL, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "tag");
        json_builder_add_string_value(b, del ? del : argv[2]);
        json_builder_set_member_name(b, "action");
        json_builder_add_string_value(b, del ? "deleted" : "captured");
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_snapshots(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - list a sandbox's snapshots");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) list = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !(list = vmm_ops_snapshots(cli->ops, argv[1], &err)))
        return vmm_cli_fail(err);
    {
        static const VmmCliColumn cols[] = {{"TAG", "tag", 20},
                                            {"CREATED", "created", 22},
                                            {"MEMORY", "memory_bytes", -10, VMM_CLI_CELL_MIB},
                                            {"DISK", "disk_bytes", -10, VMM_CLI_CELL_MIB},
                                            {NULL}};
        g_autoptr(JsonArray) rows = json_array_new();
        for (guint i = 0; i < list->len; i++)
            json_array_add_element(rows, vmm_snapshot_info_to_json(g_ptr_array_index(list, i)));
        vmm_cli_print_table(cols, rows, as_json);
    }
    return AIRLOCK_EXIT_OK;
}
