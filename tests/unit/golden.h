/* golden.h: compare text with a golden file under tests/data; VMM_TEST_REGENERATE=1 rewrites it. */
#pragma once

#include <glib.h>
#include <stdlib.h>

static inline void
golden_check(const char *actual, const char *subdir, const char *file)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", subdir, file, NULL);
    g_autofree char *expected = NULL;

    if (g_getenv("VMM_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(path, actual, -1, NULL));
        return;
    }
    if (!g_file_get_contents(path, &expected, NULL, NULL))
        g_error("golden file %s missing (run with VMM_TEST_REGENERATE=1 and review it)", path);
    g_assert_cmpstr(actual, ==, expected);
}

/* Validates @xml against libvirt's schema for @kind ("domain", "network") with virt-xml-validate. */
static inline void
golden_validate(const char *xml, const char *kind)
{
    const char *tool = g_getenv("VIRT_XML_VALIDATE");
    g_autofree char *tmp = NULL;
    g_autofree char *cmd = NULL;
    int fd, status;

    if (!tool || !*tool) {
        g_test_message("virt-xml-validate not found: schema check skipped");
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
