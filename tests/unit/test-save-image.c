/* test-save-image: a save image's name and UUID rewritten in place, or refused whole. */
#include <config.h>

#include "error.h"
#include "save-image.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define OLD_XML                                                                                    \
    "<domain type='qemu'>\n  <name>airlock-pool-0a1b2c3d</name>\n"                                 \
    "  <uuid>11111111-2222-4333-8444-555555555555</uuid>\n"                                        \
    "  <metadata><x:y xmlns:x='urn:x'><x:name>pool-0a1b2c3d</x:name></x:y></metadata>\n"           \
    "  <devices><disk/></devices>\n</domain>\n"
#define COOKIE "<qemu-migration><cpu/></qemu-migration>\n"
#define NEW_NAME "airlock-a-much-longer-sandbox-name"
#define NEW_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define TAIL "QEVM\x00\x00\x00\x03guest memory follows"

typedef struct {
    char magic[16];
    guint32 version, data_len, was_running, compressed, cookie_offset;
    guint32 unused[14];
} Header;

/* A save image as libvirt 9.0 writes it: header, XML, cookie, zeros, then the memory. */
static int
make_image(const char *path, const char *magic, guint32 version, guint32 compressed,
           guint32 data_len, const char *xml, gboolean cookie_after)
{
    Header h = {
        .version = version, .data_len = data_len, .was_running = 1, .compressed = compressed};
    g_autofree char *data = g_malloc0(data_len);
    gsize xl = strlen(xml);
    int fd;

    memcpy(h.magic, magic, 16);
    if (xl < data_len)
        memcpy(data, xml, xl);
    if (cookie_after && xl + 1 + sizeof(COOKIE) <= data_len) {
        memcpy(data + xl + 1, COOKIE, strlen(COOKIE));
        h.cookie_offset = xl + 1;
    } else if (!cookie_after) {
        memcpy(data + xl + 9, COOKIE, strlen(COOKIE));
        h.cookie_offset = xl + 9;
    }
    fd = g_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, &h, sizeof(h)), ==, sizeof(h));
    g_assert_cmpint(write(fd, data, data_len), ==, data_len);
    g_assert_cmpint(write(fd, TAIL, sizeof(TAIL)), ==, sizeof(TAIL));
    return fd;
}

static char *
tmp_path(void)
{
    g_autofree char *dir = g_dir_make_tmp("save-image-XXXXXX", NULL);
    return g_build_filename(dir, "memory.save", NULL);
}

static void
test_rename(void)
{
    g_autofree char *path = tmp_path();
    g_autofree char *contents = NULL;
    g_autoptr(GError) err = NULL;
    gsize len;
    int fd = make_image(path, VMM_SAVE_IMAGE_MAGIC, 2, 0, 4096, OLD_XML, TRUE);
    const Header *h;
    const char *xml, *cookie;

    g_assert_true(vmm_save_image_rename(fd, NEW_NAME, NEW_UUID, &err));
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    h = (const Header *)contents;
    xml = contents + sizeof(Header);
    g_assert_cmpuint(h->data_len, ==, 4096); /* the memory stays where it was */
    g_assert_cmpuint(len, ==, sizeof(Header) + 4096 + sizeof(TAIL));
    g_assert_cmpmem(contents + sizeof(Header) + 4096, sizeof(TAIL), TAIL, sizeof(TAIL));
    g_assert_nonnull(strstr(xml, "<name>" NEW_NAME "</name>"));
    g_assert_nonnull(strstr(xml, "<uuid>" NEW_UUID "</uuid>"));
    g_assert_null(strstr(xml, "airlock-pool-0a1b2c3d"));
    g_assert_null(strstr(xml, "11111111-2222"));
    /* Only the domain's own name: the metadata's text is left alone. */
    g_assert_nonnull(strstr(xml, "<x:name>pool-0a1b2c3d</x:name>"));
    g_assert_cmpuint(h->cookie_offset, ==, strlen(xml) + 1);
    cookie = contents + sizeof(Header) + h->cookie_offset;
    g_assert_cmpstr(cookie, ==, COOKIE);
    /* Zeros after the cookie up to data_len: no trace of the old XML's tail. */
    for (gsize i = h->cookie_offset + strlen(COOKIE); i < 4096; i++)
        g_assert_cmpint(xml[i], ==, 0);
}

static void
expect_refused(const char *what, const char *magic, guint32 version, guint32 compressed,
               guint32 data_len, const char *xml, gboolean cookie_after)
{
    g_autofree char *path = tmp_path();
    g_autofree char *before = NULL, *after = NULL;
    g_autoptr(GError) err = NULL;
    gsize lb, la;
    int fd = make_image(path, magic, version, compressed, data_len, xml, cookie_after);

    g_test_message("refused: %s", what);
    g_assert_true(g_file_get_contents(path, &before, &lb, NULL));
    g_assert_false(vmm_save_image_rename(fd, NEW_NAME, NEW_UUID, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "save image"));
    close(fd);
    /* Refused means untouched. */
    g_assert_true(g_file_get_contents(path, &after, &la, NULL));
    g_assert_cmpmem(before, lb, after, la);
}

static void
test_refused(void)
{
    expect_refused("magic", "LibvirtQemudPart", 2, 0, 4096, OLD_XML, TRUE);
    expect_refused("version", VMM_SAVE_IMAGE_MAGIC, 3, 0, 4096, OLD_XML, TRUE);
    expect_refused("compressed", VMM_SAVE_IMAGE_MAGIC, 2, 1, 4096, OLD_XML, TRUE);
    expect_refused("no room", VMM_SAVE_IMAGE_MAGIC, 2, 0, sizeof(OLD_XML) + sizeof(COOKIE) + 2,
                   OLD_XML, TRUE);
    expect_refused("cookie elsewhere", VMM_SAVE_IMAGE_MAGIC, 2, 0, 4096, OLD_XML, FALSE);
    expect_refused("no name", VMM_SAVE_IMAGE_MAGIC, 2, 0, 4096,
                   "<domain><devices><name>x</name></devices></domain>", TRUE);
    expect_refused("name after devices", VMM_SAVE_IMAGE_MAGIC, 2, 0, 4096,
                   "<domain><uuid>u</uuid><devices/><name>x</name></domain>", TRUE);
}

static void
test_bad_arguments(void)
{
    g_autofree char *path = tmp_path();
    g_autoptr(GError) err = NULL;
    int fd = make_image(path, VMM_SAVE_IMAGE_MAGIC, 2, 0, 4096, OLD_XML, TRUE);

    /* Nothing that would need XML escaping reaches the header. */
    g_assert_false(vmm_save_image_rename(fd, "a</name><x>", NEW_UUID, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(vmm_save_image_rename(fd, NEW_NAME, "not-a-uuid", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    close(fd);
}

static void
test_libvirt_versions(void)
{
    g_assert_true(vmm_save_image_libvirt_known(9000000)); /* Debian 12's, checked here */
    g_assert_true(vmm_save_image_libvirt_known(7000000));
    g_assert_true(vmm_save_image_libvirt_known(11010000));
    g_assert_false(vmm_save_image_libvirt_known(6010000));
    g_assert_false(vmm_save_image_libvirt_known(12000000));
    g_assert_false(vmm_save_image_libvirt_known(0));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/save-image/rename", test_rename);
    g_test_add_func("/save-image/refused", test_refused);
    g_test_add_func("/save-image/bad-arguments", test_bad_arguments);
    g_test_add_func("/save-image/libvirt-versions", test_libvirt_versions);
    return g_test_run();
}
