/* archive.c: `airlock archive list|show|rm`. */
#include <config.h>

#include "archive.h"
#include "cli.h"
#include "table.h"
#include "error.h"

#include <stdio.h>

int
vmm_cmd_archive_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- list evidence archives");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) list = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (!(list = vmm_archive_list(cli->state_dir, &err)))
        return vmm_cli_fail(err);
    {
        static const VmmCliColumn cols[] = {{"ID", "id", 40},
                                            {"SANDBOX", "name", 20},
                                            {"ARCHIVED", "archived", 22},
                                            {"SIZE", "bytes", -10, VMM_CLI_CELL_MIB},
                                            {NULL}};
        g_autoptr(JsonArray) rows = json_array_new();
        for (guint i = 0; i < list->len; i++)
            json_array_add_element(rows, vmm_archive_info_to_json(g_ptr_array_index(list, i)));
        vmm_cli_print_table(cols, rows, as_json);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_archive_show(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json,
                               "Print the manifest as JSON (the default)", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("ID - show an archive's manifest");
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one archive ID (airlock archive list shows them)");
    if (!(text = vmm_archive_manifest(cli->state_dir, argv[1], &err)))
        return vmm_cli_fail(err);
    printf("%s\n", text);
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_archive_rm(VmmCli *cli, int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("ID... - remove evidence archives");
    int rc = AIRLOCK_EXIT_OK;

    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc < 2)
        return vmm_cli_usage(argv[0], "expects at least one archive ID");
    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) err = NULL;
        if (!vmm_archive_remove(cli->state_dir, argv[i], &err)) {
            int code = vmm_cli_fail(err);
            if (rc == AIRLOCK_EXIT_OK)
                rc = code;
        }
    }
    return rc;
}
