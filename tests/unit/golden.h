/* golden.h: compare text with a golden file under tests/data; VMM_TEST_REGENERATE=1 rewrites it. */
#pragma once

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* TRUE when VMM_TEST_REGENERATE is exactly "1": any other value ("0", "yes") compares. */
static inline gboolean
golden_regenerate(void)
{
    const char *v = g_getenv("VMM_TEST_REGENERATE");

    if (v && strcmp(v, "1") != 0)
        g_test_message("VMM_TEST_REGENERATE='%s' ignored: only 1 rewrites golden files", v);
    return g_strcmp0(v, "1") == 0;
}

/* Compares @actual with tests/data/@subdir/@file. With VMM_TEST_REGENERATE=1 it rewrites the
 * file instead; nothing was compared then, so the test is a skip that names the file. */
static inline void
golden_check(const char *actual, const char *subdir, const char *file)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", subdir, file, NULL);
    g_autofree char *expected = NULL;

    if (golden_regenerate()) {
        g_autofree char *why = g_strdup_printf("regenerated %s: review it with git diff", path);

        g_assert_true(g_file_set_contents(path, actual, -1, NULL));
        g_test_skip(why);
        return;
    }
    if (!g_file_get_contents(path, &expected, NULL, NULL))
        g_error("golden file %s missing (run with VMM_TEST_REGENERATE=1 and review it)", path);
    g_assert_cmpstr(actual, ==, expected);
}

/* Validates @xml against libvirt's schema for @kind ("domain", "network") with the
 * virt-xml-validate that configure found ($VIRT_XML_VALIDATE); a skip when there is none. */
static inline void
golden_validate(const char *xml, const char *kind)
{
    const char *tool = g_getenv("VIRT_XML_VALIDATE");
    g_autofree char *tmp = NULL;
    g_autofree char *cmd = NULL;
    int fd, status;

    if (!tool || !*tool) {
        g_autofree char *why = g_strdup_printf("libvirt's schema check of the %s XML did not run: "
                                               "virt-xml-validate not found (libvirt-clients)",
                                               kind);
        g_test_skip(why);
        return;
    }
    fd = g_file_open_tmp("airlock-test-XXXXXX.xml", &tmp, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_true(g_file_set_contents(tmp, xml, -1, NULL));
    cmd = g_strdup_printf("%s %s %s >/dev/null 2>&1", tool, tmp, kind);
    status = system(cmd);
    unlink(tmp);
    g_assert_cmpint(status, ==, 0);
}
