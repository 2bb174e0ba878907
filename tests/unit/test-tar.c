/*
 * test-tar.c: directory trees over the API (vmm/daemon/tar.c). What airlock packs
 * unpacks to the same tree, GNU tar's ustar archives unpack, and a hostile archive
 * creates nothing outside its directory: absolute names, "..", a path through a
 * symbolic link, hard links and devices, a member given twice, a bad checksum, a
 * truncated archive.
 */
#include <config.h>

#include "error.h"
#include "tar.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One ustar header block (512 bytes) for @name, with its checksum. */
static void
add_member(GByteArray *a, const char *name, char type, const char *link, const char *data)
{
    guint8 h[512] = {0};
    gsize len = data ? strlen(data) : 0;
    guint sum = 0;

    memcpy(h, name, MIN(strlen(name), 100));
    g_snprintf((char *)h + 100, 8, "%07o", 0644);
    g_snprintf((char *)h + 108, 8, "%07o", 0);
    g_snprintf((char *)h + 116, 8, "%07o", 0);
    g_snprintf((char *)h + 124, 12, "%011o", (guint)len);
    g_snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (guint8)type;
    if (link)
        memcpy(h + 157, link, strlen(link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    g_snprintf((char *)h + 148, 7, "%06o", sum);
    g_byte_array_append(a, h, 512);
    if (len) {
        guint8 pad[512] = {0};
        g_byte_array_append(a, (const guint8 *)data, len);
        g_byte_array_append(a, pad, (512 - len % 512) % 512);
    }
}

static void
end(GByteArray *a)
{
    guint8 z[1024] = {0};
    g_byte_array_append(a, z, sizeof z);
}

static int
open_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

static gboolean
unpack(GByteArray *a, const char *dir, GError **error)
{
    int fd = open_dir(dir);
    gboolean ok = vmm_tar_unpack(a->data, a->len, fd, 1000, error);
    close(fd);
    return ok;
}

static void
test_roundtrip(void)
{
    g_autofree char *top = g_dir_make_tmp("airlock-tar-XXXXXX", NULL);
    g_autofree char *src = g_build_filename(top, "src", NULL);
    g_autofree char *dst = g_build_filename(top, "dst", NULL);
    g_autofree char *cmd = NULL;
    g_autofree char *out = NULL;
    g_autoptr(GBytes) packed = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *long_dir = g_strnfill(90, 'd');
    g_autofree char *mid_dir = g_strnfill(50, 'e');
    int fd, status = -1;

    /* A tree with a nested file, an empty directory, a symlink, modes and a long path. */
    cmd = g_strdup_printf("mkdir -p %s/a/b %s/empty %s/%s/%s && printf hello > %s/a/b/f && "
                          "printf x > %s/%s/%s/long-name-file && chmod 0750 %s/a/b/f && "
                          "ln -s b/f %s/a/link && mkdir %s",
                          src, src, src, long_dir, mid_dir, src, src, long_dir, mid_dir, src, src,
                          dst);
    {
        g_autofree char *sh = g_strdup_printf("sh -c '%s'", cmd);
        g_assert_true(g_spawn_command_line_sync(sh, NULL, NULL, &status, NULL));
    }
    g_assert_cmpint(status, ==, 0);
    fd = open_dir(src);
    packed = vmm_tar_pack(fd, 1 << 20, &err);
    close(fd);
    g_assert_no_error(err);
    fd = open_dir(dst);
    g_assert_true(
        vmm_tar_unpack(g_bytes_get_data(packed, NULL), g_bytes_get_size(packed), fd, 100, &err));
    close(fd);
    g_assert_no_error(err);
    g_free(cmd);
    cmd = g_strdup_printf("sh -c 'diff -r --no-dereference %s %s && stat -c %%a %s/a/b/f && "
                          "readlink %s/a/link'",
                          src, dst, dst, dst);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpstr(out, ==, "750\nb/f\n");
    /* GNU tar reads what airlock writes. */
    {
        g_autofree char *path = g_build_filename(top, "t.tar", NULL);
        g_autofree char *list = NULL;
        g_autofree char *c2 = g_strdup_printf("tar -tf %s", path);
        g_assert_true(g_file_set_contents(path, g_bytes_get_data(packed, NULL),
                                          g_bytes_get_size(packed), NULL));
        g_assert_true(g_spawn_command_line_sync(c2, &list, NULL, &status, NULL));
        g_assert_cmpint(status, ==, 0);
        g_assert_nonnull(strstr(list, "a/b/f\n"));
    }
    /* The bound is kept. */
    fd = open_dir(src);
    g_assert_null(vmm_tar_pack(fd, 600, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    close(fd);
    g_free(cmd);
    cmd = g_strdup_printf("rm -rf %s", top);
    g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
}

static void
test_gnu_tar(void)
{
    g_autofree char *top = g_dir_make_tmp("airlock-tar-XXXXXX", NULL);
    g_autofree char *cmd = g_strdup_printf(
        "sh -c 'cd %s && mkdir -p in/x out && echo data > in/x/y && ln -s y in/x/z && "
        "tar --format=ustar -C in -cf t.tar . '",
        top);
    g_autofree char *tarfile = g_build_filename(top, "t.tar", NULL);
    g_autofree char *out = g_build_filename(top, "out", NULL);
    g_autofree char *y = g_build_filename(top, "out", "x", "y", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    gchar *data = NULL;
    gsize len;
    int status = -1;

    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    g_assert_true(g_file_get_contents(tarfile, &data, &len, NULL));
    g_byte_array_append(a, (guint8 *)data, len);
    g_free(data);
    g_assert_true(unpack(a, out, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_get_contents(y, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "data\n");
    g_free(cmd);
    cmd = g_strdup_printf("rm -rf %s", top);
    g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
}

typedef struct {
    const char *why;
    void (*build)(GByteArray *a);
} Hostile;

static void
h_absolute(GByteArray *a)
{
    add_member(a, "/etc/airlock-tar-test", '0', NULL, "x");
}
static void
h_dotdot(GByteArray *a)
{
    add_member(a, "a/../../outside", '0', NULL, "x");
}
static void
h_link_then_file(GByteArray *a)
{
    add_member(a, "l", '2', NULL, NULL);
    memcpy(a->data + a->len - 512 + 157, "..", 2); /* l -> .. */
    {
        /* fix the checksum after the edit */
        guint sum = 0;
        guint8 *h = a->data + a->len - 512;
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
            sum += h[i];
        g_snprintf((char *)h + 148, 7, "%06o", sum);
    }
    add_member(a, "l/outside", '0', NULL, "x");
}
static void
h_hardlink(GByteArray *a)
{
    add_member(a, "h", '1', "/etc/shadow", NULL);
}
static void
h_device(GByteArray *a)
{
    add_member(a, "dev", '3', NULL, NULL);
}
static void
h_pax(GByteArray *a)
{
    add_member(a, "pax", 'x', NULL, "30 path=/etc/airlock-tar-test\n");
}
static void
h_twice(GByteArray *a)
{
    add_member(a, "f", '0', NULL, "one");
    add_member(a, "f", '0', NULL, "two");
}
static void
h_checksum(GByteArray *a)
{
    add_member(a, "f", '0', NULL, "x");
    a->data[0] = 'g';
}
static void
h_truncated(GByteArray *a)
{
    add_member(a, "f", '0', NULL, "x");
    g_byte_array_set_size(a, 600);
}
static void
h_control(GByteArray *a)
{
    add_member(a, "a\033[2Jb", '0', NULL, "x");
}

static void
test_hostile(void)
{
    static const Hostile cases[] = {
        {"absolute", h_absolute},  {"dotdot", h_dotdot},     {"link then file", h_link_then_file},
        {"hard link", h_hardlink}, {"device", h_device},     {"pax header", h_pax},
        {"twice", h_twice},        {"checksum", h_checksum}, {"truncated", h_truncated},
        {"control", h_control},
    };
    g_autofree char *top = g_dir_make_tmp("airlock-tar-XXXXXX", NULL);
    g_autofree char *in = g_build_filename(top, "in", NULL);
    g_autofree char *outside = g_build_filename(top, "outside", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) a = g_byte_array_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *rm = g_strdup_printf("rm -rf %s", in);
        g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
        g_assert_cmpint(g_mkdir(in, 0700), ==, 0);
        cases[i].build(a);
        if (cases[i].build != h_truncated)
            end(a);
        if (unpack(a, in, &err))
            g_error("accepted a hostile archive: %s", cases[i].why);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_null(strchr(err->message, '\033'));
        g_assert_false(g_file_test(outside, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test("/etc/airlock-tar-test", G_FILE_TEST_EXISTS));
    }
    {
        g_autofree char *rm = g_strdup_printf("rm -rf %s", top);
        g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tar/roundtrip", test_roundtrip);
    g_test_add_func("/tar/gnu-tar", test_gnu_tar);
    g_test_add_func("/tar/hostile", test_hostile);
    return g_test_run();
}
