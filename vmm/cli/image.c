/* image.c: `airlock image list|verify|build|import|rm`. */
#include <config.h>

#include "cli.h"
#include "table.h"
#include "error.h"
#include "fsutil.h"
#include "image.h"
#include "image-build.h"
#include "image-store.h"
#include "spec.h"

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

/* Runs the builder with this terminal: its progress lines are the command's output. */
static int
run_builder(char **argv, const char *name)
{
    g_autoptr(GError) err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL, NULL,
                      &status, &err)) {
        fprintf(stderr, "airlock: cannot run %s: %s\n", argv[0], err->message);
        return AIRLOCK_EXIT_FAILED;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        fprintf(stderr, "airlock: image build of '%s' failed (the lines above say why)\n", name);
        return AIRLOCK_EXIT_FAILED;
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_image_build(VmmCli *cli, int argc, char **argv)
{
    gboolean force = FALSE;
    g_autofree char *from = NULL;
    g_autofree char *recipe_file = NULL;
    g_auto(GStrv) packages = NULL;
    g_auto(GStrv) files = NULL;
    g_auto(GStrv) run = NULL;
    GOptionEntry entries[] = {
        {"force", 0, 0, G_OPTION_ARG_NONE, &force, "Build even when the image is up to date", NULL},
        {"from", 0, 0, G_OPTION_ARG_STRING, &from, "Derive from this base image", "BASE"},
        {"packages", 0, 0, G_OPTION_ARG_STRING_ARRAY, &packages,
         "Debian packages to add (comma-separated; repeatable)", "LIST"},
        {"file", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
         "Install the file SRC as DEST in the image (repeatable)", "SRC:DEST"},
        {"run", 0, 0, G_OPTION_ARG_STRING_ARRAY, &run,
         "Run this shell command in the image at build time, as root (repeatable)", "CMD"},
        {"recipe", 0, 0, G_OPTION_ARG_FILENAME, &recipe_file,
         "Read from, packages, files and run from an INI recipe ([image] group)", "FILE"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - build a base image from its recipe, or derive one");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmImageRecipe) recipe = NULL;
    g_autofree char *images_dir = NULL;
    g_autofree char *stage = NULL;
    g_auto(GStrv) build_argv = NULL;
    int rc;

    g_option_context_set_description(
        ctx, "A base image (debian-12) is built from the recipe installed with airlock. With "
             "--from, the image is that\nrecipe plus the packages (from Debian), files and "
             "commands given, pinned to the base's digest.\nAn up-to-date image is not built "
             "again. Needs root. See airlock(1) and docs/images.md.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one image NAME (e.g. debian-12)");
    recipe = vmm_image_recipe_new(argv[1]);
    if (recipe_file && !vmm_image_recipe_load(recipe, recipe_file, &err))
        return vmm_cli_fail(err);
    if (from && !vmm_image_recipe_set_from(recipe, from, &err))
        return vmm_cli_fail(err);
    for (char **p = packages; p && *p; p++)
        if (!vmm_image_recipe_add_packages(recipe, *p, &err))
            return vmm_cli_fail(err);
    for (char **f = files; f && *f; f++)
        if (!vmm_image_recipe_add_file(recipe, *f, NULL, &err))
            return vmm_cli_fail(err);
    for (char **c = run; c && *c; c++)
        if (!vmm_image_recipe_add_run(recipe, *c, &err))
            return vmm_cli_fail(err);
    if (!(images_dir = vmm_image_builder_dir(&err)) ||
        !(stage = vmm_image_recipe_stage(recipe, images_dir, cli->state_dir, &err)))
        return vmm_cli_fail(err);
    build_argv = vmm_image_build_argv(recipe, images_dir, cli->state_dir, stage, force);
    rc = run_builder(build_argv, recipe->name);
    if (*stage)
        vmm_fs_remove_tree(stage, NULL);
    return rc;
}

int
vmm_cmd_image_import(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *name = NULL;
    g_autofree char *kernel_from = NULL;
    GOptionEntry entries[] = {
        {"name", 0, 0, G_OPTION_ARG_STRING, &name,
         "Name of the image (default: the manifest's; required for a disk file)", "NAME"},
        {"kernel-from", 0, 0, G_OPTION_ARG_STRING, &kernel_from,
         "For a disk file: the installed image whose kernel, initrd and command line it boots "
         "with (default debian-12)",
         "IMAGE"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "DIR|FILE - verify an image directory or a qcow2 disk and install it as an image");
    g_autoptr(GError) err = NULL;
    g_autofree char *installed = NULL;
    int rc;

    g_option_context_set_description(
        ctx, "DIR holds disk.qcow2, vmlinuz, initrd.img and a manifest.json with their sha256. "
             "The files are\ncopied and checked; a disk with a backing file or an external data "
             "file is refused.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one image DIR or qcow2 FILE (see --help)");
    if (!vmm_image_import(cli->state_dir, argv[1], name,
                          kernel_from ? kernel_from : VMM_SPEC_DEFAULT_IMAGE, &installed, &err))
        return vmm_cli_fail(err);
    printf("imported image '%s'\n", installed);
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_image_rm(VmmCli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = {{NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME… - remove images no sandbox or snapshot uses");
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc < 2)
        return vmm_cli_usage(argv[0], "expects image NAMEs (airlock image list shows them)");
    rc = AIRLOCK_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) err = NULL;
        if (!vmm_image_remove(cli->state_dir, argv[i], &err))
            rc = vmm_cli_fail(err);
        else
            printf("removed image '%s'\n", argv[i]);
    }
    return rc;
}
