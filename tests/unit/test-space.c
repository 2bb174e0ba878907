/* test-space.c: disk promises (space.c): qcow2 headers read safely, the arithmetic of the check. */
#include <config.h>

#include "error.h"
#include "space.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *
make_qcow2(const char *dir, const char *name, const char *size)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s %s", path, size);
    int status = -1;

    if (!g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL) || status != 0) {
        g_free(path);
        return NULL;
    }
    return path;
}

static void
test_qcow2_virtual(void)
{
    g_autofree char *dir = g_dir_make_tmp("airlock-space-XXXXXX", NULL);
    g_autofree char *img = NULL;
    g_autofree char *link = g_build_filename(dir, "link.qcow2", NULL);
    g_autofree char *junk = g_build_filename(dir, "junk", NULL);
    g_autoptr(GError) err = NULL;

    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");

    if (!qemu_img) {
        g_test_skip("qemu-img is not installed (Debian package qemu-utils)");
        return;
    }
    img = make_qcow2(dir, "a.qcow2", "3G");
    g_assert_nonnull(img);
    g_assert_cmpuint(vmm_space_qcow2_virtual(img, &err), ==, G_GUINT64_CONSTANT(3) << 30);
    g_assert_no_error(err);

    /* A link is not followed (the qemu user could plant one in its directory). */
    g_assert_cmpint(symlink(img, link), ==, 0);
    g_assert_cmpuint(vmm_space_qcow2_virtual(link, &err), ==, 0);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_clear_error(&err);

    /* Not a qcow2, or an implausible size: an error, not a number. */
    g_assert_true(g_file_set_contents(junk, "QFI\xfb", 4, NULL));
    g_assert_cmpuint(vmm_space_qcow2_virtual(junk, &err), ==, 0);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_clear_error(&err);
    {
        guint8 hdr[32] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
        memset(hdr + 24, 0xff, 8);
        g_assert_true(g_file_set_contents(junk, (const char *)hdr, sizeof hdr, NULL));
        g_assert_cmpuint(vmm_space_qcow2_virtual(junk, &err), ==, 0);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
        g_clear_error(&err);
    }
    g_unlink(link);
    g_unlink(junk);
    g_unlink(img);
    g_rmdir(dir);
}

static void
test_promised(void)
{
    g_autofree char *dir = g_dir_make_tmp("airlock-space-XXXXXX", NULL);
    g_autofree char *sb = g_build_filename(dir, "sandboxes", NULL);
    g_autofree char *one = g_build_filename(sb, "one", NULL);
    g_autofree char *bad = g_build_filename(sb, "Not_A_Name", NULL);
    g_autofree char *img = NULL, *img2 = NULL;
    guint64 p;

    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");

    if (!qemu_img) {
        g_test_skip("qemu-img is not installed (Debian package qemu-utils)");
        return;
    }
    g_assert_cmpint(g_mkdir_with_parents(one, 0700), ==, 0);
    g_assert_cmpint(g_mkdir_with_parents(bad, 0700), ==, 0);
    img = make_qcow2(one, "overlay.qcow2", "1G");
    img2 = make_qcow2(bad, "overlay.qcow2", "5G"); /* not a sandbox name: not counted */
    g_assert_nonnull(img);
    g_assert_nonnull(img2);
    p = vmm_space_promised(dir);
    /* An empty 1 GiB overlay may still grow by (almost) 1 GiB. */
    g_assert_cmpuint(p, <=, G_GUINT64_CONSTANT(1) << 30);
    g_assert_cmpuint(p, >, (G_GUINT64_CONSTANT(1) << 30) - (G_GUINT64_CONSTANT(1) << 20));
    g_unlink(img);
    g_unlink(img2);
    g_rmdir(one);
    g_rmdir(bad);
    g_rmdir(sb);
    g_rmdir(dir);
}

static void
test_fits(void)
{
    g_autoptr(GError) err = NULL;
    const guint64 M = G_GUINT64_CONSTANT(1) << 20;

    g_assert_true(vmm_space_fits(4096 * M, 1024 * M, 2048 * M, 512 * M, &err));
    g_assert_no_error(err);
    g_assert_false(vmm_space_fits(3000 * M, 1024 * M, 2048 * M, 512 * M, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_nonnull(strstr(err->message, "3000 MiB free"));
    g_assert_nonnull(strstr(err->message, "1024 MiB"));
    g_assert_nonnull(strstr(err->message, "2048 MiB"));
    g_assert_null(strchr(err->message, '\n'));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/space/qcow2-virtual", test_qcow2_virtual);
    g_test_add_func("/space/promised", test_promised);
    g_test_add_func("/space/fits", test_fits);
    return g_test_run();
}
