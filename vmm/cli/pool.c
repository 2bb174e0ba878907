/* pool.c: `airlock pool set|list|fill` (pools of pre-booted guests for warm create). */
#include <config.h>

#include "cli.h"
#include "table.h"
#include "error.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

int
vmm_cmd_pool_set(VmmCli *cli, int argc, char **argv)
{
    gint size = G_MININT;
    g_auto(VmmCliShape) shape = VMM_CLI_SHAPE_INIT;
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"size", 0, 0, G_OPTION_ARG_INT, &size, "Guests to keep ready (0 empties the pool)", "N"},
        {"cpus", 0, 0, G_OPTION_ARG_INT, &shape.cpus, "Virtual CPUs (default 1, or the spec's)",
         "N"},
        {"memory", 0, 0, G_OPTION_ARG_INT, &shape.memory,
         "Memory in MiB (default 512, or the spec's)", "MiB"},
        {"disk-size", 0, 0, G_OPTION_ARG_INT, &shape.disk,
         "Disk size in GiB (default: the image's)", "GiB"},
        {"network", 0, 0, G_OPTION_ARG_STRING, &shape.network, "isolated (default), allow or none",
         "MODE"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the pool as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "IMAGE|SPEC - keep N guests of this shape booted and saved, for warm create");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmPool) pool = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one IMAGE name or SPEC file (see --help)");
    if (size == G_MININT)
        return vmm_cli_usage(argv[0], "--size N is required (0 empties the pool)");
    if (size < 0 || size > 64)
        return vmm_cli_usage(argv[0], "--size %d: expects a whole number from 0 to 64", size);
    if ((rc = vmm_cli_shape_check(argv[0], &shape)) != 0)
        return rc;
    /* A path names a spec (only its shape counts); anything else an image. */
    if (strchr(argv[1], '/') || g_file_test(argv[1], G_FILE_TEST_IS_REGULAR)) {
        if (!vmm_spec_load_file(spec, argv[1], &err))
            return vmm_cli_fail(err);
    } else if (!vmm_spec_set_image(spec, argv[1], &err)) {
        return vmm_cli_fail(err);
    }
    if (!vmm_cli_shape_apply(&shape, spec, &err))
        return vmm_cli_fail(err);
    if (!vmm_cli_ops_direct(cli, &err) || !(pool = vmm_ops_pool_set(cli->ops, spec, size, &err)))
        return vmm_cli_fail(err);
    if (as_json)
        vmm_cli_print_json(vmm_pool_to_json(pool));
    else
        printf("pool %s: size %u (airlock pool fill boots them; airlockd keeps it filled)\n",
               pool->id, pool->size);
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_pool_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- list pools and their ready guests");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(JsonArray) rows = json_array_new();
    static const VmmCliColumn cols[] = {{"POOL", "pool", 36},
                                        {"SIZE", "size", -5},
                                        {"READY", "ready", -6},
                                        {"STALE", "stale", -6},
                                        {"FILLING", "filling", -8},
                                        {"IMAGE", "image", 12},
                                        {NULL}};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (!vmm_cli_ops_direct(cli, &err) || !(pools = vmm_ops_pool_list(cli->ops, &err)))
        return vmm_cli_fail(err);
    if (pools->len == 0 && !as_json) {
        printf("no pools (airlock pool set IMAGE --size N makes one)\n");
        return AIRLOCK_EXIT_OK;
    }
    for (guint i = 0; i < pools->len; i++)
        json_array_add_element(rows, vmm_pool_to_json(g_ptr_array_index(pools, i)));
    vmm_cli_print_table(cols, rows, as_json);
    return AIRLOCK_EXIT_OK;
}

typedef struct {
    JsonBuilder *json;
    gboolean quiet;
} FillRun;

static void
fill_report(const char *pool, const char *slot, gdouble seconds, const GError *err, gpointer data)
{
    FillRun *run = data;

    if (run->json) {
        json_builder_begin_object(run->json);
        json_builder_set_member_name(run->json, "pool");
        json_builder_add_string_value(run->json, pool);
        json_builder_set_member_name(run->json, "slot");
        json_builder_add_string_value(run->json, slot);
        json_builder_set_member_name(run->json, "seconds");
        json_builder_add_double_value(run->json, seconds);
        json_builder_set_member_name(run->json, "result");
        json_builder_add_string_value(run->json, err ? "failed" : "ok");
        json_builder_end_object(run->json);
    } else if (!run->quiet && !err) {
        printf("pool %s: %s ready in %.1f s\n", pool, slot, seconds);
        fflush(stdout);
    }
}

int
vmm_cmd_pool_fill(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE, quiet = FALSE;
    gint max = 0;
    GOptionEntry entries[] = {
        {"max", 0, 0, G_OPTION_ARG_INT, &max, "Boot at most N guests (default: all missing)", "N"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing but errors", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print each guest booted as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[POOL] - boot the guests pools are missing, once");
    g_autoptr(GError) err = NULL;
    FillRun run = {.quiet = quiet};
    guint booted = 0;
    gboolean ok;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[2]);
    if (max < 0)
        return vmm_cli_usage(argv[0], "--max %d: expects a whole number of at least 0", max);
    run.quiet = quiet;
    if (!vmm_cli_ops_direct(cli, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        run.json = json_builder_new();
        json_builder_begin_array(run.json);
    }
    ok = vmm_ops_pool_fill(cli->ops, argc == 2 ? argv[1] : NULL, (guint)max, fill_report, &run,
                           &booted, &err);
    if (as_json) {
        json_builder_end_array(run.json);
        vmm_cli_print_json(json_builder_get_root(run.json));
        g_object_unref(run.json);
    } else if (ok && !quiet && booted == 0) {
        printf("every pool is full\n");
    }
    return ok ? AIRLOCK_EXIT_OK : vmm_cli_fail(err);
}
