/* snapshot.c: `airlock reset|snapshot|snapshots`. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "conn.h"
#include "error.h"
#include "names.h"
#include "sandbox.h"
#include "snapshot.h"

#include <stdio.h>

static gboolean
context(VmmCli *cli, VmmContext *vctx, GError **error)
{
    g_autofree char *reason = NULL;

    vctx->state_dir = cli->state_dir;
    if (!vmm_accel_choose(cli->accel, "/", &vctx->accel, &reason, error))
        return FALSE;
    vctx->conn = vmm_cli_conn(cli, error);
    return vctx->conn != NULL;
}

int
vmm_cmd_reset(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *to = NULL;
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"to", 0, 0, G_OPTION_ARG_STRING, &to, "Snapshot to go back to (default: clean)", "TAG"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the timings as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - put a sandbox back to its clean state (or a snapshot), running");
    g_autoptr(GError) err = NULL;
    VmmResetTimings t = {0};
    VmmContext vctx = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) ||
        (to && !vmm_name_validate(to, "snapshot tag", &err)) || !context(cli, &vctx, &err))
        return vmm_cli_fail(err);
    {
        gboolean ok = vmm_snapshot_revert(&vctx, argv[1], to ? to : VMM_SNAPSHOT_CLEAN, &t, &err);
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_string_member(ev, "to", to ? to : VMM_SNAPSHOT_CLEAN);
        if (ok)
            json_object_set_double_member(ev, "duration_s", t.total);
        else
            json_object_set_string_member(ev, "error", err->message);
        vmm_cli_event(cli, argv[1], ok ? "reset" : "reset-failed", ev);
        if (!ok)
            return vmm_cli_fail(err);
    }
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        const struct {
            const char *k;
            gdouble v;
        } rows[] = {{"stop", t.stop},   {"overlay", t.overlay}, {"restore", t.restore},
                    {"agent", t.agent}, {"fixup", t.fixup},     {"total", t.total}};
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "to");
        json_builder_add_string_value(b, to ? to : VMM_SNAPSHOT_CLEAN);
        json_builder_set_member_name(b, "timings_s");
        json_builder_begin_object(b);
        for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
            json_builder_set_member_name(b, rows[i].k);
            json_builder_add_double_value(b, rows[i].v);
        }
        json_builder_end_object(b);
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
    GOptionEntry entries[] = {
        {"delete", 'd', 0, G_OPTION_ARG_STRING, &del, "Delete snapshot TAG instead", "TAG"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME [TAG] - capture a running sandbox (memory and disk) as TAG");
    g_autoptr(GError) err = NULL;
    VmmContext vctx = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if ((del && argc != 2) || (!del && argc != 3))
        return vmm_cli_usage(argv[0], "expects NAME TAG, or NAME --delete TAG");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) ||
        !vmm_name_validate(del ? del : argv[2], "snapshot tag", &err) ||
        !context(cli, &vctx, &err))
        return vmm_cli_fail(err);
    if (del) {
        if (g_strcmp0(del, VMM_SNAPSHOT_CLEAN) == 0)
            return vmm_cli_usage(argv[0], "the clean state cannot be deleted (destroy the sandbox)");
        g_autoptr(JsonObject) ev = json_object_new();
        if (!vmm_snapshot_delete(&vctx, argv[1], del, &err))
            return vmm_cli_fail(err);
        json_object_set_string_member(ev, "tag", del);
        vmm_cli_event(cli, argv[1], "snapshot-deleted", ev);
        return AIRLOCK_EXIT_OK;
    }
    if (!vmm_snapshot_take(&vctx, argv[1], argv[2], FALSE, &err))
        return vmm_cli_fail(err);
    {
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_string_member(ev, "tag", argv[2]);
        vmm_cli_event(cli, argv[1], "snapshot", ev);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_snapshots(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - list a sandbox's snapshots");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(virDomain) dom = NULL;
    virConnectPtr conn;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) || !(conn = vmm_cli_conn(cli, &err)) ||
        !(dom = vmm_sandbox_lookup(conn, argv[1], &err)) ||
        !(list = vmm_snapshot_list(cli->state_dir, argv[1], &err)))
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_array(b);
        for (guint i = 0; i < list->len; i++) {
            VmmSnapshotInfo *s = g_ptr_array_index(list, i);
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "tag");
            json_builder_add_string_value(b, s->tag);
            json_builder_set_member_name(b, "created");
            json_builder_add_string_value(b, s->created);
            json_builder_set_member_name(b, "parent");
            if (s->parent)
                json_builder_add_string_value(b, s->parent);
            else
                json_builder_add_null_value(b);
            json_builder_set_member_name(b, "memory_bytes");
            json_builder_add_int_value(b, s->memory_bytes);
            json_builder_set_member_name(b, "disk_bytes");
            json_builder_add_int_value(b, s->disk_bytes);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        vmm_cli_print_json(json_builder_get_root(b));
        return AIRLOCK_EXIT_OK;
    }
    printf("%-20s %-22s %10s %10s\n", "TAG", "CREATED", "MEMORY", "DISK");
    for (guint i = 0; i < list->len; i++) {
        VmmSnapshotInfo *s = g_ptr_array_index(list, i);
        printf("%-20s %-22s %9.1fM %9.1fM\n", s->tag, s->created, s->memory_bytes / 1048576.0,
               s->disk_bytes / 1048576.0);
    }
    return AIRLOCK_EXIT_OK;
}
