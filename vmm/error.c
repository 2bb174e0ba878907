/* error.c: VMM_ERROR and the one place libvirt errors become GErrors. */
#include <config.h>

#include "error.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

G_DEFINE_QUARK(vmm-error-quark, vmm_error)

static void
silent_error_handler(void *user_data, virErrorPtr err)
{
    /* The library returns errors; only the CLI prints them. */
}

void
vmm_libvirt_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        virInitialize();
        virSetErrorFunc(NULL, silent_error_handler);
        g_once_init_leave(&once, 1);
    }
}

int
vmm_error_libvirt_last_code(void)
{
    virErrorPtr err = virGetLastError();

    return err ? err->code : 0;
}

gboolean
vmm_error_libvirt(GError **error, VmmErrorCode code, const char *fmt, ...)
{
    virErrorPtr err = virGetLastError();
    g_autofree char *prefix = NULL;
    va_list ap;

    va_start(ap, fmt);
    prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (err) {
        switch (err->code) {
        case VIR_ERR_NO_DOMAIN:
        case VIR_ERR_NO_NETWORK:
        case VIR_ERR_NO_DOMAIN_SNAPSHOT:
        case VIR_ERR_NO_NWFILTER:
        case VIR_ERR_NO_STORAGE_VOL:
            code = VMM_ERROR_NOT_FOUND;
            break;
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
            code = VMM_ERROR_CONNECT;
            break;
        case VIR_ERR_AGENT_UNRESPONSIVE:
        case VIR_ERR_AGENT_UNSYNCED:
            code = VMM_ERROR_AGENT;
            break;
        default:
            break;
        }
        if (err->domain == VIR_FROM_RPC || code == VMM_ERROR_CONNECT) {
            /* The daemon went away mid-operation: say so, and what still holds. */
            g_set_error(error, VMM_ERROR, VMM_ERROR_CONNECT,
                        "%s: lost the connection to libvirtd (%s); sandboxes keep running, "
                        "restart it with scripts/start-libvirt",
                        prefix, err->message ? err->message : "no message");
            return FALSE;
        }
        g_set_error(error, VMM_ERROR, code, "%s: %s", prefix,
                    err->message ? err->message : "unknown libvirt error");
    } else {
        g_set_error(error, VMM_ERROR, code, "%s", prefix);
    }
    return FALSE;
}

static const char *const code_names[VMM_ERROR_LAST] = {
    [VMM_ERROR_FAILED] = "failed",       [VMM_ERROR_INVALID] = "invalid",
    [VMM_ERROR_NOT_FOUND] = "not-found", [VMM_ERROR_EXISTS] = "exists",
    [VMM_ERROR_CONNECT] = "connect",     [VMM_ERROR_LIBVIRT] = "libvirt",
    [VMM_ERROR_IMAGE] = "image",         [VMM_ERROR_TIMEOUT] = "timeout",
    [VMM_ERROR_AGENT] = "agent",         [VMM_ERROR_HOST] = "host",
};

const char *
vmm_error_code_to_string(const GError *error)
{
    if (!error || error->domain != VMM_ERROR || error->code < 0 || error->code >= VMM_ERROR_LAST)
        return "failed";
    return code_names[error->code];
}

VmmErrorCode
vmm_error_code_from_string(const char *code)
{
    for (int i = 0; code && i < VMM_ERROR_LAST; i++)
        if (g_str_equal(code, code_names[i]))
            return (VmmErrorCode)i;
    return VMM_ERROR_LAST;
}
