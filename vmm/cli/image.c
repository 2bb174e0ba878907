/* image.c: `airlock image list|verify`. */
#include <config.h>

#include "cli.h"
#include "table.h"
#include "error.h"
#include "image.h"

#include <stdio.h>

int
vmm_cmd_image_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- list base images");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) images = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    images = vmm_image_list(cli->state_dir, &err);
    if (!images)
        return vmm_cli_fail(err);

    if (images->len == 0 && !as_json) {
        printf("no images in %s/images (make one with airlock image build debian-12)\n",
               cli->state_dir);
        return AIRLOCK_EXIT_OK;
    }
    {
        static const VmmCliColumn cols[] = {{"NAME", "name", 16},
                                            {"CREATED", "created", 22},
                                            {"DIGEST", "digest", 0, VMM_CLI_CELL_SHORT_DIGEST},
                                            {NULL}};
        g_autoptr(JsonArray) rows = json_array_new();
        for (guint i = 0; i < images->len; i++)
            json_array_add_element(rows, vmm_image_to_json(g_ptr_array_index(images, i)));
        vmm_cli_print_table(cols, rows, as_json);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_image_verify(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json,
                               "Print the result and each file's digest as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - check every file of an image against its manifest");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmImage) img = NULL;
    gboolean ok;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one image NAME (airlock image list shows them)");
    img = vmm_image_load(cli->state_dir, argv[1], &err);
    ok = img && vmm_image_verify(img, FALSE, &err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "valid");
        json_builder_add_boolean_value(b, ok);
        json_builder_set_member_name(b, ok ? "digest" : "error");
        json_builder_add_string_value(b, ok ? (img->digest ? img->digest : "") : err->message);
        if (ok) {
            json_builder_set_member_name(b, "files");
            json_builder_begin_array(b);
            for (guint i = 0; i < img->files->len; i++) {
                VmmImageFile *f = g_ptr_array_index(img->files, i);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "name");
                json_builder_add_string_value(b, f->name);
                json_builder_set_member_name(b, "sha256");
                json_builder_add_string_value(b, f->sha256);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
        return ok ? AIRLOCK_EXIT_OK : vmm_cli_exit_code(err);
    }
    if (!ok)
        return vmm_cli_fail(err);
    for (guint i = 0; i < img->files->len; i++) {
        VmmImageFile *f = g_ptr_array_index(img->files, i);
        printf("ok  %-12s sha256:%s\n", f->name, f->sha256);
    }
    printf("image '%s' matches its manifest\n", img->name);
    return AIRLOCK_EXIT_OK;
}
