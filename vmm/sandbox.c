/* sandbox.c: orchestration of a sandbox's life: create, destroy, lookup, list. */
#include <config.h>

#include "sandbox.h"
#include "agent.h"
#include "archive.h"
#include "autoptr.h"
#include "domain-xml.h"
#include "error.h"
#include "escape.h"
#include "events.h"
#include "fsutil.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "network.h"
#include "seed.h"
#include "snapshot.h"
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

static gboolean
remove_domain(virConnectPtr conn, const char *name, gboolean *existed, GError **error)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, obj);
    unsigned int flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                         VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;

    *existed = dom != NULL;
    if (!dom) {
        if (vmm_error_libvirt_last_code() == VIR_ERR_NO_DOMAIN)
            return TRUE;
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up sandbox '%s'", name);
    }
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN &&
        vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop sandbox '%s'", name);
    if (virDomainUndefineFlags(dom, flags) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN) {
        /* Drivers without NVRAM/checkpoint support reject those flags: retry plainly. */
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0 &&
            vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot undefine sandbox '%s'",
                                     name);
    }
    return TRUE;
}

static gboolean destroy_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error);

gboolean
vmm_sandbox_remove_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error)
{
    gboolean any = FALSE;

    if (!destroy_locked(ctx, name, &any, error))
        return FALSE;
    vmm_journal_end(ctx->state_dir, name);
    if (found)
        *found = any;
    return TRUE;
}

/* Removes everything named after @name; the caller holds the sandbox lock. */
static gboolean
destroy_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error)
{
    g_autofree char *dir = vmm_path_sandbox_dir(ctx->state_dir, name);
    gboolean had_dom = FALSE, had_net = FALSE, had_dir;

    had_dir = g_file_test(dir, G_FILE_TEST_EXISTS);
    if (!remove_domain(ctx->conn, name, &had_dom, error))
        return FALSE;
    vmm_journal_crash_point("destroy"); /* domain gone, network and files left */
    if (!vmm_network_remove(ctx->conn, name, &had_net, error))
        return FALSE;
    if (!vmm_sandbox_remove_tree(dir, error) ||
        !vmm_events_sandbox_remove(ctx->state_dir, name, error))
        return FALSE;
    *found = had_dom || had_net || had_dir;
    return TRUE;
}

gboolean
vmm_sandbox_destroy(VmmContext *ctx, const char *name, VmmDestroyFlags flags, char **archive_id,
                    GError **error)
{
    gboolean found = FALSE;
    int lock;
    gboolean ok = TRUE;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    if (lock < 0)
        return FALSE;
    if (!(flags & VMM_DESTROY_NO_EVIDENCE)) {
        g_autofree char *obj = vmm_name_object(name);
        g_autoptr(virDomain) dom = virDomainLookupByName(ctx->conn, obj);
        g_autoptr(GError) local = NULL;
        if (dom && !vmm_archive_capture(ctx, dom, name, archive_id, &local)) {
            g_set_error(error, VMM_ERROR, local->code,
                        "cannot keep the evidence of '%s', nothing removed (airlock destroy "
                        "--no-evidence %s skips it): %s",
                        name, name, local->message);
            ok = FALSE;
        }
    }
    if (ok)
        ok = vmm_journal_begin(ctx->state_dir, name, "destroy", error) &&
             destroy_locked(ctx, name, &found, error);
    if (ok)
        vmm_journal_end(ctx->state_dir, name);
    vmm_sandbox_unlock(ctx->state_dir, name, lock, ok); /* gone: its lock file too */
    if (ok && !found && !(flags & VMM_DESTROY_FORCE)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' not found (airlock list shows what exists; --force ignores "
                    "this)",
                    name);
        return FALSE;
    }
    return ok;
}
