/* gc.c: `airlock gc`. */
#include <config.h>

#include "cli.h"
#include "conn.h"
#include "error.h"
#include "gc.h"

#include <stdio.h>

typedef struct {
    VmmCli *cli;
    JsonBuilder *json;
    gboolean dry_run;
    guint errors;
} GcRun;

static void
gc_report(const char *name, const char *action, const char *detail, gpointer data)
{
    GcRun *run = data;

    if (g_str_equal(action, "error"))
        run->errors++;
    if (!run->dry_run && !g_str_equal(action, "skipped")) {
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_string_member(ev, "target", name);
        json_object_set_string_member(ev, "action", action);
        json_object_set_string_member(ev, "detail", detail);
        /* The global record names the sandbox; one that lives on keeps it in its own log too
         * (a removed one has no log left to write to). */
        vmm_cli_event(run->cli, name, "gc", ev);
    }
    if (run->json) {
        json_builder_begin_object(run->json);
        json_builder_set_member_name(run->json, "sandbox");
        json_builder_add_string_value(run->json, name);
        json_builder_set_member_name(run->json, "action");
        json_builder_add_string_value(run->json, action);
        json_builder_set_member_name(run->json, "detail");
        json_builder_add_string_value(run->json, detail);
        json_builder_end_object(run->json);
    } else {
        printf("%s%-20s %-12s %s\n", run->dry_run ? "(dry run) " : "", name, action, detail);
    }
}

int
vmm_cmd_gc(VmmCli *cli, int argc, char **argv)
{
    gboolean dry_run = FALSE, as_json = FALSE;
    GOptionEntry entries[] = {{"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
                               "Say what would be done, do nothing", NULL},
                              {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "- destroy expired sandboxes, roll back interrupted operations, remove orphans");
    g_autoptr(GError) err = NULL;
    GcRun run = {.cli = cli, .dry_run = dry_run};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    run.dry_run = dry_run;
    if (!vmm_cli_ops_direct(cli, &err)) /* gc works on this host: root's */
        return vmm_cli_fail(err);
    if (as_json) {
        run.json = json_builder_new();
        json_builder_begin_array(run.json);
    }
    if (!vmm_gc_run(&cli->ops->ctx, dry_run, gc_report, &run, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        json_builder_end_array(run.json);
        vmm_cli_print_json(json_builder_get_root(run.json));
        g_object_unref(run.json);
    }
    return run.errors ? AIRLOCK_EXIT_FAILED : AIRLOCK_EXIT_OK;
}
