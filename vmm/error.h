/* error.h: the VMM_ERROR domain and the single libvirt-error choke point. */
#pragma once

#include <glib.h>

#define VMM_ERROR (vmm_error_quark())

/* What went wrong, in terms a caller (and the CLI's exit status) can act on. */
typedef enum {
    VMM_ERROR_FAILED,    /* an operation failed; nothing more specific applies */
    VMM_ERROR_INVALID,   /* bad input: name, option, spec, secrets file */
    VMM_ERROR_NOT_FOUND, /* sandbox, image, snapshot or tag does not exist */
    VMM_ERROR_EXISTS,    /* name already in use */
    VMM_ERROR_CONNECT,   /* libvirtd unreachable */
    VMM_ERROR_LIBVIRT,   /* libvirt refused an operation */
    VMM_ERROR_IMAGE,     /* base image missing or not matching its manifest */
    VMM_ERROR_TIMEOUT,   /* a wait ran out of time */
    VMM_ERROR_AGENT,     /* the guest agent failed or did not answer */
    VMM_ERROR_HOST,      /* this host cannot do it (resources, permissions) */
    VMM_ERROR_LAST
} VmmErrorCode;

GQuark vmm_error_quark(void);

/*
 * A stable name for @error's code, for audit records and API error bodies:
 * "failed", "invalid", "not-found", "exists", "connect", "libvirt", "image",
 * "timeout", "agent", "host"; "failed" for an error of another domain.
 */
const char *vmm_error_code_to_string(const GError *error);

/* The code named @code by vmm_error_code_to_string; VMM_ERROR_LAST for another name. */
VmmErrorCode vmm_error_code_from_string(const char *code);

/* Turns off libvirt's own printing of errors to stderr; call once. */
void vmm_libvirt_init(void);

/*
 * Sets @error to "<message>: <libvirt's last error>" with @code, unless the
 * libvirt error says the object does not exist (code becomes NOT_FOUND) or
 * that the connection failed (CONNECT). Always returns FALSE.
 */
gboolean vmm_error_libvirt(GError **error, VmmErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* The libvirt error number of the last libvirt failure in this thread, or 0. */
int vmm_error_libvirt_last_code(void);
