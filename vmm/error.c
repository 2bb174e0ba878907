/* error.c: VMM_ERROR and the one place libvirt errors become GErrors. */
#include <config.h>

#include "error.h"
#include "enum.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

G_DEFINE_QUARK(vmm - error - quark, vmm_error)

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
        /* libxml2 2.9 must be set up once before threads use it (airlockd's workers do). */
        xmlInitParser();
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
                        "restart libvirtd (e.g. systemctl restart libvirtd)",
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

VMM_ENUM_IMPL(error_code, VmmErrorCode, VMM_ERROR_LAST, "failed", "invalid", "not-found", "exists",
              "connect", "libvirt", "image", "timeout", "agent", "host")

const char *
vmm_error_code_to_string(const GError *error)
{
    if (!error || error->domain != VMM_ERROR)
        return "failed";
    return error_code_name((VmmErrorCode)error->code);
}

VmmErrorCode
vmm_error_code_from_string(const char *code)
{
    VmmErrorCode c;

    return error_code_lookup(code, &c) ? c : VMM_ERROR_LAST;
}
