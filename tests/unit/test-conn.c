/* test-conn: accelerator choice on fake sysfs trees, URI choice, test driver. */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "error.h"

#include <glib/gstdio.h>
#include <string.h>

static char *
fake_root(const char *const *paths)
{
    g_autofree char *tmpl = g_build_filename(g_get_tmp_dir(), "airlock-test-sysroot-XXXXXX", NULL);
    char *root = g_mkdtemp(g_steal_pointer(&tmpl));

    g_assert_nonnull(root);
    for (; *paths; paths++) {
        g_autofree char *p = g_build_filename(root, *paths, NULL);
        g_autofree char *dir = g_path_get_dirname(p);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(p, "", 0, NULL));
    }
    return root;
}

static void
rm_rf(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
    g_assert_cmpint(system(cmd), ==, 0);
}

static void
check(const char *const *paths, VmmAccel expect, const char *reason_part)
{
    g_autofree char *root = fake_root(paths);
    g_autofree char *reason = NULL;
    g_autoptr(GError) err = NULL;
    VmmAccel accel = VMM_ACCEL_LAST;

    g_assert_true(vmm_accel_choose(NULL, root, &accel, &reason, &err));
    g_assert_no_error(err);
    g_assert_cmpint(accel, ==, expect);
    g_assert_nonnull(strstr(reason, reason_part));
    rm_rf(root);
}

static void
test_detect(void)
{
    const char *pvm[] = {"dev/kvm", "sys/module/kvm/x", "sys/module/kvm_pvm/x", NULL};
    const char *intel[] = {"dev/kvm", "sys/module/kvm_intel/x", NULL};
    const char *amd[] = {"dev/kvm", "sys/module/kvm_amd/x", NULL};
    const char *nokvm[] = {"sys/module/x", NULL};
    const char *both[] = {"dev/kvm", "sys/module/kvm_pvm/x", "sys/module/kvm_intel/x", NULL};

    g_unsetenv("AIRLOCK_ACCEL");
    check(pvm, VMM_ACCEL_TCG, "kvm_pvm");
    check(intel, VMM_ACCEL_KVM, "kvm_intel");
    check(amd, VMM_ACCEL_KVM, "kvm_amd");
    check(nokvm, VMM_ACCEL_TCG, "absent");
    check(both, VMM_ACCEL_KVM, "kvm_intel");
}

static void
test_override(void)
{
    const char *pvm[] = {"dev/kvm", "sys/module/kvm_pvm/x", NULL};
    g_autofree char *root = fake_root(pvm);
    g_autofree char *reason = NULL;
    g_autoptr(GError) err = NULL;
    VmmAccel accel;

    g_unsetenv("AIRLOCK_ACCEL");
    g_assert_true(vmm_accel_choose("kvm", root, &accel, &reason, NULL));
    g_assert_cmpint(accel, ==, VMM_ACCEL_KVM);
    g_clear_pointer(&reason, g_free);
    g_setenv("AIRLOCK_ACCEL", "kvm", TRUE);
    g_assert_true(vmm_accel_choose(NULL, root, &accel, &reason, NULL));
    g_assert_cmpint(accel, ==, VMM_ACCEL_KVM);
    g_assert_nonnull(strstr(reason, "AIRLOCK_ACCEL"));
    g_clear_pointer(&reason, g_free);
    g_assert_false(vmm_accel_choose("xen", root, &accel, &reason, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_unsetenv("AIRLOCK_ACCEL");
    g_assert_cmpstr(vmm_accel_domain_type(VMM_ACCEL_TCG), ==, "qemu");
    g_assert_cmpstr(vmm_accel_domain_type(VMM_ACCEL_KVM), ==, "kvm");
    rm_rf(root);
}

static void
test_uri(void)
{
    g_setenv("LIBVIRT_DEFAULT_URI", "test:///default", TRUE);
    g_assert_cmpstr(vmm_conn_default_uri(NULL), ==, "test:///default");
    g_assert_cmpstr(vmm_conn_default_uri("qemu:///session"), ==, "qemu:///session");
    g_unsetenv("LIBVIRT_DEFAULT_URI");
    g_assert_cmpstr(vmm_conn_default_uri(NULL), ==, "qemu:///system");
}

static void
test_open(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(virConnect) conn = vmm_conn_open("test:///default", &err);
    g_autoptr(virConnect) bad = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(conn);
    g_assert_true(vmm_conn_is_test(conn));
    bad = vmm_conn_open("qemu+unix:///system?socket=/nonexistent/sock", &err);
    g_assert_null(bad);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_CONNECT);
    g_assert_nonnull(strstr(err->message, "is libvirtd running?"));
    g_assert_null(strstr(err->message, "scripts/")); /* an installed airlock has no scripts/ */
    g_clear_error(&err);
    /* A URI no driver takes is bad input, not a daemon to start. */
    bad = vmm_conn_open("bogus://", &err);
    g_assert_null(bad);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "libvirt URI 'bogus://' is not usable"));
    g_assert_null(strstr(err->message, "libvirtd"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conn/detect", test_detect);
    g_test_add_func("/conn/override", test_override);
    g_test_add_func("/conn/uri", test_uri);
    g_test_add_func("/conn/open", test_open);
    return g_test_run();
}
