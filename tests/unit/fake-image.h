/* fake-image.h: a tiny but real image (qcow2 disk, stand-in kernel/initrd, manifest) for
 * the test:///default tier, whose files match their manifest. */
#pragma once

#include <glib.h>
#include <stdlib.h>

static inline char *
fake_image_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
}

/* Installs image "test-img" with a disk of @size (qemu-img's "64M") under @state/images. */
static inline void
make_image_with_size(const char *state, const char *size)
{
    g_autofree char *dir = g_build_filename(state, "images", "test-img", NULL);
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *kernel = g_build_filename(dir, "vmlinuz", NULL);
    g_autofree char *initrd = g_build_filename(dir, "initrd.img", NULL);
    g_autofree char *manifest = g_build_filename(dir, "manifest.json", NULL);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s %s", disk, size);
    g_autofree char *hd = NULL, *hk = NULL, *hi = NULL, *json = NULL;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_assert_cmpint(system(cmd), ==, 0);
    g_assert_true(g_file_set_contents(kernel, "kernel", -1, NULL));
    g_assert_true(g_file_set_contents(initrd, "initrd", -1, NULL));
    hd = fake_image_sha256(disk);
    hk = fake_image_sha256(kernel);
    hi = fake_image_sha256(initrd);
    json = g_strdup_printf("{\"name\":\"test-img\",\"created\":\"2026-11-26T00:00:00Z\","
                           "\"recipe_sha256\":\"x\",\"kernel_cmdline\":\"console=ttyS0\","
                           "\"files\":{\"disk.qcow2\":{\"sha256\":\"%s\"},"
                           "\"vmlinuz\":{\"sha256\":\"%s\"},\"initrd.img\":{\"sha256\":\"%s\"}},"
                           "\"packages\":[]}",
                           hd, hk, hi);
    g_assert_true(g_file_set_contents(manifest, json, -1, NULL));
}

/* Installs image "test-img" under @state/images. */
static inline void
make_image(const char *state)
{
    make_image_with_size(state, "64M");
}
