/*
 * test-image-store.c: image import (checked copies, no backing or data files),
 * image rm (refused while a sandbox or a snapshot uses the image, on
 * test:///default), and derived-image recipes (names, paths, recipe files, the
 * directory images/derive reads).
 */
#include <config.h>

#include "conn.h"
#include "error.h"
#include "fsutil.h"
#include "image-build.h"
#include "image-store.h"
#include "image.h"
#include "ops.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/fake-image.h"

typedef struct {
    char *state;
    char *tmp; /* sources outside the state directory */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->state = g_dir_make_tmp("airlock-test-image-XXXXXX", &err);
    g_assert_no_error(err);
    g_assert_cmpint(chmod(f->state, 0755), ==, 0);
    make_image(f->state);
    f->tmp = g_dir_make_tmp("airlock-test-image-src-XXXXXX", &err);
    g_assert_no_error(err);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_assert_true(vmm_fs_remove_tree(f->state, NULL));
    g_assert_true(vmm_fs_remove_tree(f->tmp, NULL));
    g_free(f->state);
    g_free(f->tmp);
}

static void run(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void
run(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_cmpint(system(cmd), ==, 0);
}

/* Names in <state>/images: nothing but images (no staging directory left behind). */
static char *
store_listing(const char *state)
{
    g_autofree char *dir = g_build_filename(state, "images", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *e;

    while (d && (e = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(e));
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(" ", (char **)names->pdata);
}

/* A copy of the installed test-img as a directory to import. */
static char *
copy_of_test_img(Fixture *f)
{
    char *src = g_build_filename(f->tmp, "export", NULL);

    run("cp -r '%s/images/test-img' '%s'", f->state, src);
    return src;
}

static void
test_import_dir(Fixture *f, gconstpointer data)
{
    g_autofree char *src = copy_of_test_img(f);
    g_autoptr(GError) err = NULL;
    g_autofree char *name = NULL;
    g_autoptr(VmmImage) img = NULL;
    g_autoptr(VmmImage) orig = vmm_image_load(f->state, "test-img", NULL);
    g_autofree char *listing = NULL;

    /* The manifest's name is taken: EXISTS, nothing copied. */
    g_assert_false(vmm_image_import(f->state, src, NULL, NULL, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);
    g_assert_true(vmm_image_import(f->state, src, "copy", NULL, &name, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(name, ==, "copy");
    img = vmm_image_load(f->state, "copy", &err);
    g_assert_no_error(err);
    g_assert_true(vmm_image_verify(img, FALSE, &err));
    g_assert_cmpstr(img->digest, ==, orig->digest);
    g_assert_cmpstr(img->kernel_cmdline, ==, "console=ttyS0");
    listing = store_listing(f->state);
    g_assert_cmpstr(listing, ==, "copy test-img");
}

/* A file that does not match the manifest, or a manifest that lists more: refused, nothing left. */
static void
test_import_tampered(Fixture *f, gconstpointer data)
{
    g_autofree char *src = copy_of_test_img(f);
    g_autofree char *kernel = g_build_filename(src, "vmlinuz", NULL);
    g_autofree char *manifest = g_build_filename(src, "manifest.json", NULL);
    g_autofree char *text = NULL;
    g_autofree char *listing = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents(kernel, "another kernel", -1, NULL));
    g_assert_false(vmm_image_import(f->state, src, "bad", NULL, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_IMAGE);
    g_assert_nonnull(strstr(err->message, "vmlinuz does not match its manifest"));
    g_clear_error(&err);

    g_assert_true(g_file_set_contents(kernel, "kernel", -1, NULL));
    g_assert_true(g_file_get_contents(manifest, &text, NULL, NULL));
    {
        char *at = strstr(text, "\"files\":{");
        g_autofree char *edited = NULL;
        g_assert_nonnull(at);
        at += strlen("\"files\":{");
        edited = g_strdup_printf("%.*s\"../../etc/x\":{\"sha256\":\"00\"},%s", (int)(at - text),
                                 text, at);
        g_assert_true(g_file_set_contents(manifest, edited, -1, NULL));
    }
    g_assert_false(vmm_image_import(f->state, src, "bad", NULL, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_IMAGE);
    g_clear_error(&err);
    listing = store_listing(f->state);
    g_assert_cmpstr(listing, ==, "test-img");
}

/* A disk that would open another file (backing, external data file) or is no qcow2: refused. */
static void
test_import_refs(Fixture *f, gconstpointer data)
{
    g_autofree char *src = copy_of_test_img(f);
    g_autofree char *disk = g_build_filename(src, "disk.qcow2", NULL);
    g_autofree char *listing = NULL;
    const char *kinds[] = {"backing", "data-file", "raw", NULL};

    for (const char *const *k = kinds; *k; k++) {
        g_autoptr(GError) err = NULL;

        g_unlink(disk);
        if (strcmp(*k, "backing") == 0)
            run("qemu-img create -q -f qcow2 -F qcow2 -b '%s/images/test-img/disk.qcow2' '%s'",
                f->state, disk);
        else if (strcmp(*k, "data-file") == 0)
            run("qemu-img create -q -f qcow2 -o data_file='%s/data.raw' '%s' 64M", f->tmp, disk);
        else
            run("qemu-img create -q -f raw '%s' 1M", disk);
        /* The manifest names the new disk: only the reference can be the reason. */
        {
            g_autofree char *sha = fake_image_sha256(disk);
            g_autofree char *cmd = g_strdup_printf(
                "sed -i "
                "'s/\"disk.qcow2\":{\"sha256\":\"[0-9a-f]*\"/\"disk.qcow2\":{\"sha256\":\"%s\"/' "
                "'%s/manifest.json'",
                sha, src);
            run("%s", cmd);
        }
        g_assert_false(vmm_image_import(f->state, src, "refs", NULL, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_test_message("%s: %s", *k, err->message);
        g_assert_nonnull(strstr(err->message, strcmp(*k, "backing") == 0     ? "backing file"
                                              : strcmp(*k, "data-file") == 0 ? "data file"
                                                                             : "not a qcow2"));
        /* The same disk as a file import. */
        g_clear_error(&err);
        g_assert_false(vmm_image_import(f->state, disk, "refs", "test-img", NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    listing = store_listing(f->state);
    g_assert_cmpstr(listing, ==, "test-img");
}

/* A standalone qcow2 file with a name boots with another image's kernel, recorded. */
static void
test_import_file(Fixture *f, gconstpointer data)
{
    g_autofree char *disk = g_build_filename(f->tmp, "flat.qcow2", NULL);
    g_autofree char *manifest = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmImage) img = NULL;

    run("qemu-img create -q -f qcow2 '%s' 32M", disk);
    g_assert_false(vmm_image_import(f->state, disk, NULL, "test-img", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID); /* a name is required */
    g_clear_error(&err);
    g_assert_true(vmm_image_import(f->state, disk, "flat", "test-img", NULL, &err));
    g_assert_no_error(err);
    img = vmm_image_load(f->state, "flat", &err);
    g_assert_no_error(err);
    g_assert_true(vmm_image_verify(img, FALSE, &err));
    g_assert_null(img->guest_agent); /* the seed carries it: this disk may not have it */
    manifest = g_build_filename(img->dir, "manifest.json", NULL);
    g_assert_true(g_file_get_contents(manifest, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "\"kernel_from\""));
    g_assert_nonnull(strstr(text, "\"imported\""));
}

/* The qcow2 header parser on bytes qemu-img wrote. */
static void
test_qcow2_refs(Fixture *f, gconstpointer data)
{
    g_autofree char *plain = g_build_filename(f->tmp, "p.qcow2", NULL);
    g_autofree char *over = g_build_filename(f->tmp, "o.qcow2", NULL);
    VmmQcow2Refs refs;
    int fd;

    run("qemu-img create -q -f qcow2 '%s' 1M", plain);
    run("qemu-img create -q -f qcow2 -F qcow2 -b '%s' '%s'", plain, over);
    fd = open(plain, O_RDONLY);
    g_assert_true(vmm_image_qcow2_refs(fd, &refs, NULL));
    g_assert_null(refs.backing);
    g_assert_false(refs.data_file);
    close(fd);
    fd = open(over, O_RDONLY);
    g_assert_true(vmm_image_qcow2_refs(fd, &refs, NULL));
    g_assert_cmpstr(refs.backing, ==, plain);
    g_free(refs.backing);
    close(fd);
}

static VmmSpec *
test_spec(void)
{
    VmmSpec *spec = vmm_spec_new();

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->net_mode = VMM_NET_MODE_NONE;
    return spec;
}

/* rm is refused while a sandbox's disk or one of its snapshots is backed by the image. */
static void
test_rm_in_use(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GPtrArray) users = NULL;
    VmmCreateRequest req = {.name = "uses-img", .spec = spec, .timeout_s = 10, .no_snapshot = TRUE};
    VmmOps ops = {0};
    VmmCaller *caller = vmm_caller_new(getuid(), "test");
    virConnectPtr conn = vmm_conn_open("test:///default", &err);
    g_autofree char *base = g_build_filename(f->state, "images", "test-img", "disk.qcow2", NULL);
    g_autofree char *snapdir =
        g_build_filename(f->state, "sandboxes", "snapped", "snapshots", "t1", NULL);
    g_autofree char *layer = g_build_filename(snapdir, "disk.qcow2", NULL);
    g_autofree char *listing = NULL;

    g_assert_no_error(err);
    ops.ctx.conn = conn;
    ops.ctx.state_dir = f->state;
    ops.ctx.accel = VMM_ACCEL_TCG;
    ops.caller = caller;
    g_assert_true(vmm_ops_create(&ops, &req, NULL, &err));
    g_assert_no_error(err);

    g_assert_false(vmm_image_remove(f->state, "test-img", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
    g_assert_cmpstr(err->message, ==,
                    "image 'test-img' is in use by sandbox 'uses-img' (airlock destroy uses-img "
                    "first)");
    g_clear_error(&err);
    g_assert_true(vmm_ops_destroy(&ops, "uses-img", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);

    /* Only a snapshot's frozen layer is left over the image (its overlay is elsewhere). */
    g_assert_cmpint(g_mkdir_with_parents(snapdir, 0700), ==, 0);
    g_assert_true(vmm_image_create_overlay(base, layer, 0, &err));
    users = vmm_image_users(f->state, "test-img");
    g_assert_cmpuint(users->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(users, 0), ==, "snapshot 't1' of sandbox 'snapped'");
    g_assert_false(vmm_image_remove(f->state, "test-img", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
    g_clear_error(&err);
    g_assert_true(g_file_test(base, G_FILE_TEST_EXISTS)); /* put back where it was */

    g_assert_cmpint(g_unlink(layer), ==, 0);
    g_assert_true(vmm_image_remove(f->state, "test-img", &err));
    g_assert_no_error(err);
    listing = store_listing(f->state);
    g_assert_cmpstr(listing, ==, "");
    g_assert_false(vmm_image_remove(f->state, "test-img", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    vmm_caller_free(caller);
    virConnectClose(conn);
}

static void
test_recipe_values(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmImageRecipe) r = vmm_image_recipe_new("my-eval");
    g_autofree char *tool = g_build_filename(f->tmp, "tool", NULL);
    g_autofree char *spec = g_strdup_printf("%s:/usr/local/bin/tool", tool);
    const char *bad_packages[] = {"-oAPT::x=1", "Foo",     "a", "pkg,--include",
                                  "x=1 2",      "p=$(id)", NULL};
    const char *bad_dests[] = {"relative/x", "/",     "/etc/../root/x", "/a b", "/x/./y",
                               "/a//b",      "/a\nb", "/a'b",           NULL};

    g_assert_true(g_file_set_contents(tool, "#!/bin/sh\necho tool\n", -1, NULL));
    g_assert_cmpint(chmod(tool, 0755), ==, 0);
    g_assert_true(
        vmm_image_recipe_add_packages(r, "python3-numpy, libc6=2.36-9+deb12u4 g++", NULL));
    g_assert_cmpuint(r->packages->len, ==, 3);
    for (const char *const *p = bad_packages; *p; p++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmImageRecipe) r2 = vmm_image_recipe_new("x");
        gboolean ok = vmm_image_recipe_add_packages(r2, *p, &err);
        g_test_message("package %s: %s", *p, ok ? "accepted" : err->message);
        /* "pkg,--include" splits at the comma: the second word is refused. */
        g_assert_false(ok);
    }
    for (const char *const *d = bad_dests; *d; d++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *s = g_strdup_printf("%s:%s", tool, *d);
        g_assert_false(vmm_image_recipe_add_file(r, s, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_image_recipe_add_file(r, "/nonexistent:/x", NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
        g_clear_error(&err);
        g_assert_false(vmm_image_recipe_add_file(r, "/etc:/x", NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
        g_clear_error(&err);
        g_assert_false(vmm_image_recipe_add_run(r, "echo a\necho b", &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    g_assert_true(vmm_image_recipe_add_file(r, spec, NULL, NULL));
    g_assert_true(vmm_image_recipe_add_run(r, "tool > /etc/tool.out; echo ok", NULL));
}

/* The directory images/derive reads, and the builder's argv. */
static void
test_recipe_stage(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmImageRecipe) r = vmm_image_recipe_new("my-eval");
    g_autofree char *images = g_build_filename(f->tmp, "images", NULL);
    g_autofree char *tool = g_build_filename(f->tmp, "tool", NULL);
    g_autofree char *recipe = g_build_filename(f->tmp, "eval.recipe", NULL);
    g_autofree char *stage = NULL;
    g_autofree char *text = NULL;
    g_autofree char *path = NULL;
    g_autofree char *argv_text = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) err = NULL;

    run("mkdir -p '%s/debian-12' && touch '%s/debian-12/recipe.conf' && printf '#!/bin/sh\\n' > "
        "'%s/build' && chmod 755 '%s/build'",
        images, images, images, images);
    g_assert_true(g_file_set_contents(tool, "tool\n", -1, NULL));
    g_assert_cmpint(chmod(tool, 0755), ==, 0);
    g_assert_true(g_file_set_contents(recipe,
                                      "# what the eval team needs\n[image]\nfrom = debian-12\n"
                                      "packages = python3-numpy jq  # two\nfiles = tool:/usr/local/"
                                      "bin/tool\nrun = tool --selftest && echo done\n",
                                      -1, NULL));
    g_assert_true(vmm_image_recipe_load(r, recipe, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(r->from, ==, "debian-12");
    g_assert_cmpuint(r->packages->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(r->run, 0), ==, "tool --selftest && echo done");

    stage = vmm_image_recipe_stage(r, images, f->state, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(stage, f->state));
    path = g_build_filename(stage, "packages", NULL);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "python3-numpy\njq\n");
    g_clear_pointer(&text, g_free);
    g_clear_pointer(&path, g_free);
    path = g_build_filename(stage, "files.list", NULL);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "0 /usr/local/bin/tool\n");
    g_clear_pointer(&path, g_free);
    path = g_build_filename(stage, "files", "0", NULL);
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_EXECUTABLE)); /* the exec bit is kept */

    argv = vmm_image_build_argv(r, images, f->state, stage, TRUE);
    argv_text = g_strjoinv(" ", argv);
    {
        g_autofree char *want =
            g_strdup_printf("%s/build --state-dir %s --force --name my-eval --derive %s debian-12",
                            images, f->state, stage);
        g_assert_cmpstr(argv_text, ==, want);
    }
    g_assert_true(vmm_fs_remove_tree(stage, NULL));

    /* A derived image needs a base with a recipe, and a name that is not a recipe's. */
    {
        g_autoptr(VmmImageRecipe) r2 = vmm_image_recipe_new("debian-12");
        g_autoptr(VmmImageRecipe) r3 = vmm_image_recipe_new("x");
        g_autoptr(VmmImageRecipe) r4 = vmm_image_recipe_new("nosuch");
        g_autoptr(VmmImageRecipe) r5 = vmm_image_recipe_new("debian-12");
        g_autofree char *s = NULL;

        g_assert_true(vmm_image_recipe_set_from(r2, "debian-12", NULL));
        g_assert_null(vmm_image_recipe_stage(r2, images, f->state, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
        g_assert_true(vmm_image_recipe_add_packages(r3, "jq", NULL));
        g_assert_null(vmm_image_recipe_stage(r3, images, f->state, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID); /* no --from */
        g_clear_error(&err);
        g_assert_null(vmm_image_recipe_stage(r4, images, f->state, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND); /* no recipe "nosuch" */
        g_assert_nonnull(strstr(err->message, "airlock image build debian-12"));
        g_clear_error(&err);
        s = vmm_image_recipe_stage(r5, images, f->state, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(s, ==, ""); /* a base build stages nothing */
    }
    {
        g_autofree char *listing = store_listing(f->state);
        g_assert_cmpstr(listing, ==, "test-img");
    }
}

/* Recipe files: one [image] group, known keys once each, errors with FILE:LINE. */
static void
test_recipe_file_errors(Fixture *f, gconstpointer data)
{
    const char *cases[][2] = {
        {"[image]\nfrom = debian-12\nfrom = debian-11\n", ":3:"},
        {"[image]\nfrom = debian-12\nbogus = 1\n", ":3: [image] bogus: unknown key"},
        {"[image]\npackages = ok Bad\n", ":2: [image] packages:"},
        {"[image]\nfiles = /nonexistent:/x\n", ":2: [image] files:"},
        {"[other]\nfrom = debian-12\n", "one [image] group"},
    };
    g_autofree char *path = g_build_filename(f->tmp, "r.recipe", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VmmImageRecipe) r = vmm_image_recipe_new("x");
        g_autoptr(GError) err = NULL;

        g_assert_true(g_file_set_contents(path, cases[i][0], -1, NULL));
        g_assert_false(vmm_image_recipe_load(r, path, &err));
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, cases[i][1]));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/image/import-dir", Fixture, NULL, fixture_setup, test_import_dir,
               fixture_teardown);
    g_test_add("/image/import-tampered", Fixture, NULL, fixture_setup, test_import_tampered,
               fixture_teardown);
    g_test_add("/image/import-refs", Fixture, NULL, fixture_setup, test_import_refs,
               fixture_teardown);
    g_test_add("/image/import-file", Fixture, NULL, fixture_setup, test_import_file,
               fixture_teardown);
    g_test_add("/image/qcow2-refs", Fixture, NULL, fixture_setup, test_qcow2_refs,
               fixture_teardown);
    g_test_add("/image/rm-in-use", Fixture, NULL, fixture_setup, test_rm_in_use, fixture_teardown);
    g_test_add("/image/recipe-values", Fixture, NULL, fixture_setup, test_recipe_values,
               fixture_teardown);
    g_test_add("/image/recipe-stage", Fixture, NULL, fixture_setup, test_recipe_stage,
               fixture_teardown);
    g_test_add("/image/recipe-file-errors", Fixture, NULL, fixture_setup, test_recipe_file_errors,
               fixture_teardown);
    return g_test_run();
}
