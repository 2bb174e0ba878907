/* test-names: sandbox name rules and object names. */
#include <config.h>

#include "error.h"
#include "names.h"

#include <string.h>

static void
test_valid(void)
{
    const char *ok[] = {"a", "eval-3", "abc123", "a-b-c", "abcdefghijklmnopqrstuvwxyzabcdef"};

    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_true(vmm_name_validate(ok[i], "sandbox name", &err));
        g_assert_no_error(err);
    }
}

static void
test_invalid(void)
{
    g_autofree char *longname = g_strnfill(200, 'a');
    const char *bad[] = {
        "",       "UPPER", "../x", "a'/><disk", "1abc",
        "-a",     "a_b",   "a b",  "a.b",       "abcdefghijklmnopqrstuvwxyzabcdefg",
        longname, "é",     "a\n"};

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_name_validate(bad[i], "sandbox name", &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        /* One line, control bytes escaped. */
        g_assert_null(strchr(err->message, '\n'));
    }
    g_assert_false(vmm_name_validate(NULL, "tag", NULL));
}

static void
test_objects(void)
{
    g_autofree char *obj = vmm_name_object("eval-3");
    g_autofree char *back = vmm_name_from_object(obj);
    g_autofree char *br = vmm_name_bridge("eval-3");
    g_autofree char *br2 = vmm_name_bridge("eval-4");

    g_assert_cmpstr(obj, ==, "airlock-eval-3");
    g_assert_cmpstr(back, ==, "eval-3");
    g_assert_null(vmm_name_from_object("other-eval"));
    g_assert_null(vmm_name_from_object("airlock-BAD"));
    g_assert_cmpuint(strlen(br), ==, 10);
    g_assert_true(g_str_has_prefix(br, "al"));
    g_assert_cmpstr(br, !=, br2);
}

static void
test_state_dir(void)
{
    g_autofree char *sys = NULL, *sess = NULL, *over = NULL;

    g_unsetenv("AIRLOCK_STATE_DIR");
    sys = vmm_state_dir("qemu:///system");
    g_assert_cmpstr(sys, ==, "/var/lib/airlock");
    sess = vmm_state_dir("qemu:///session");
    g_assert_true(g_str_has_suffix(sess, "/airlock"));
    g_assert_cmpstr(sess, !=, sys);
    g_setenv("AIRLOCK_STATE_DIR", "/tmp/x", TRUE);
    over = vmm_state_dir("qemu:///system");
    g_assert_cmpstr(over, ==, "/tmp/x");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/names/valid", test_valid);
    g_test_add_func("/names/invalid", test_invalid);
    g_test_add_func("/names/objects", test_objects);
    g_test_add_func("/names/state-dir", test_state_dir);
    return g_test_run();
}
