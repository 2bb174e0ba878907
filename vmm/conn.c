/* conn.c: connection, URI, accelerator (kvm / tcg) detection. */
#include <config.h>

#include "conn.h"
#include "enum.h"
#include "error.h"
#include "settings.h"

#include <libvirt/virterror.h>

#include <string.h>
#include <unistd.h>

VMM_ENUM_IMPL(accel, VmmAccel, VMM_ACCEL_LAST, "kvm", "tcg")

const char *
vmm_accel_to_string(VmmAccel accel)
{
    return accel_name(accel);
}

gboolean
vmm_accel_from_string(const char *str, VmmAccel *accel, GError **error)
{
    g_autofree char *all = NULL;

    if (accel_lookup(str, accel))
        return TRUE;
    all = accel_names(" or ");
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "accelerator '%s' is unknown (use %s)",
                str ? str : "", all);
    return FALSE;
}

const char *
vmm_accel_domain_type(VmmAccel accel)
{
    return accel == VMM_ACCEL_KVM ? "kvm" : "qemu";
}

static gboolean
sys_exists(const char *sysroot, const char *path)
{
    g_autofree char *full = g_build_filename(sysroot, path, NULL);

    return g_file_test(full, G_FILE_TEST_EXISTS);
}

gboolean
vmm_accel_choose(const char *override, const char *sysroot, VmmAccel *accel, char **reason,
                 GError **error)
{
    const char *env = vmm_config_get()->accel;
    g_autofree char *dev = NULL;
    gboolean vendor;

    if (override && *override) {
        if (!vmm_accel_from_string(override, accel, error))
            return FALSE;
        *reason = g_strdup("chosen explicitly");
        return TRUE;
    }
    if (env && *env) {
        if (!vmm_accel_from_string(env, accel, error))
            return FALSE;
        *reason = g_strdup("chosen with AIRLOCK_ACCEL");
        return TRUE;
    }

    dev = g_build_filename(sysroot, "dev/kvm", NULL);
    vendor =
        sys_exists(sysroot, "sys/module/kvm_intel") || sys_exists(sysroot, "sys/module/kvm_amd");
    *accel = VMM_ACCEL_TCG;
    if (!g_file_test(dev, G_FILE_TEST_EXISTS)) {
        *reason = g_strdup("/dev/kvm is absent: software emulation (TCG), slow");
    } else if (sys_exists(sysroot, "sys/module/kvm_pvm") && !vendor) {
        *reason = g_strdup("/dev/kvm is backed by kvm_pvm, which cannot boot a stock guest kernel: "
                           "software emulation (TCG), slow");
    } else if (!vendor) {
        *reason = g_strdup("/dev/kvm has neither kvm_intel nor kvm_amd behind it: "
                           "software emulation (TCG), slow");
    } else if (strcmp(sysroot, "/") == 0 && access(dev, R_OK | W_OK) != 0) {
        *reason = g_strdup("/dev/kvm is not accessible to this user (chgrp kvm /dev/kvm; chmod "
                           "660 /dev/kvm): software emulation (TCG), slow");
    } else {
        *accel = VMM_ACCEL_KVM;
        *reason =
            g_strdup_printf("/dev/kvm is usable (%s)",
                            sys_exists(sysroot, "sys/module/kvm_intel") ? "kvm_intel" : "kvm_amd");
    }
    return TRUE;
}

const char *
vmm_conn_default_uri(const char *uri)
{
    const char *env = vmm_config_get()->uri;

    if (uri && *uri)
        return uri;
    if (env && *env)
        return env;
    return "qemu:///system";
}

virConnectPtr
vmm_conn_open(const char *uri, GError **error)
{
    const char *target = vmm_conn_default_uri(uri);
    virConnectPtr conn;

    vmm_libvirt_init();
    conn = virConnectOpen(target);
    if (!conn) {
        g_autofree char *detail = NULL;
        virErrorPtr err = virGetLastError();

        if (err && err->message)
            detail = g_strdup(err->message);
        if (err && (err->code == VIR_ERR_NO_CONNECT || err->domain == VIR_FROM_URI)) {
            /* Not a daemon that is down: a URI no libvirt driver takes. */
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "libvirt URI '%s' is not usable (%s); use e.g. qemu:///system with -c "
                        "or LIBVIRT_DEFAULT_URI",
                        target, detail ? detail : "unknown error");
            return NULL;
        }
        g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT,
                    "cannot connect to libvirt at '%s' (is libvirtd running? start it, e.g. "
                    "systemctl start libvirtd): %s",
                    target, detail ? detail : "unknown error");
        return NULL;
    }
    return conn;
}

gboolean
vmm_conn_is_test(virConnectPtr conn)
{
    g_autofree char *uri = virConnectGetURI(conn);

    return uri && g_str_has_prefix(uri, "test:");
}

gboolean
vmm_conn_is_local(virConnectPtr conn)
{
    g_autofree char *uri = virConnectGetURI(conn);
    g_autoptr(GUri) parsed = uri ? g_uri_parse(uri, G_URI_FLAGS_NON_DNS, NULL) : NULL;
    const char *host = parsed ? g_uri_get_host(parsed) : NULL;

    /* qemu:///system, qemu+unix:///system: no host part. Anything else may be elsewhere. */
    return parsed && (!host || !*host);
}
