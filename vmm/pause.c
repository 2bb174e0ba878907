/* pause.c: pause (memory saved to disk, qemu gone) and resume of a sandbox. */
#include <config.h>

#include "pause.h"
#include "autoptr.h"
#include "error.h"
#include "fixup.h"
#include "fsutil.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "sandbox.h"
#include "ttl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMORY_FILE "memory.save"

/* Is the saved memory in the sandbox directory @sfd? Through its checked fds only. */
static gboolean
saved_at(int sfd, guint64 *bytes)
{
    vmm_auto_fd int pfd = vmm_fs_open_own_dir_at(sfd, VMM_PAUSE_DIR, NULL);
    struct stat st;

    if (pfd < 0 || fstatat(pfd, MEMORY_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        return FALSE;
    if (bytes)
        *bytes = st.st_blocks * 512;
    return TRUE;
}

/* Running the guest (not restored-and-held by a resume that died): 1, shut off: 0, held: 2. */
static int
run_state(virDomainPtr dom)
{
    int state = 0, reason = 0;

    if (virDomainIsActive(dom) != 1)
        return 0;
    if (virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED)
        return 2;
    return 1;
}

gboolean
vmm_pause_is_paused(const char *state_dir, const char *name, virDomainPtr dom)
{
    vmm_auto_fd int sfd = vmm_sandbox_open_dir(state_dir, name, NULL);

    return sfd >= 0 && saved_at(sfd, NULL) && run_state(dom) != 1;
}

void
vmm_pause_refuse(GError **error, const char *name, const char *what)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "sandbox '%s' is paused: %s needs it running (airlock resume %s brings it back)",
                name, what, name);
}

/* ---- pause ------------------------------------------------------------------------------ */

static gboolean
pause_locked(VmmContext *ctx, const char *name, VmmPauseTimings *t, GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *pdir = g_build_filename(sdir, VMM_PAUSE_DIR, NULL);
    g_autofree char *memory = g_build_filename(pdir, MEMORY_FILE, NULL);
    g_autoptr(virDomain) dom = NULL;
    vmm_auto_fd int sfd = -1;
    vmm_auto_fd int pfd = -1;
    gint64 start = g_get_monotonic_time(), saved;
    int running;

    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if ((sfd = vmm_sandbox_open_dir(ctx->state_dir, name, error)) < 0)
        return FALSE;
    running = run_state(dom);
    if (saved_at(sfd, NULL) && running != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "sandbox '%s' is paused already (airlock resume %s brings it back)", name,
                    name);
        return FALSE;
    }
    if (running != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "sandbox '%s' is not running (airlock reset %s starts it)", name, name);
        return FALSE;
    }
    /* A saved memory next to a running guest is a resume's leftover: it is stale. */
    if (!vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, error))
        return FALSE;
    /* The resume asks the guest's helper for the clock and RNG fix: it must be in the save. */
    if (!vmm_fixup_prepare(dom, error))
        return FALSE;
    if (!vmm_sandbox_mkdir_private(ctx->conn, pdir, error) ||
        (pfd = vmm_fs_open_own_dir_at(sfd, VMM_PAUSE_DIR, error)) < 0)
        return FALSE;
    /* No state flag: the resume restores it paused anyway (vmm_snapshot_restore_fixed). */
    if (virDomainSaveFlags(dom, memory, NULL, 0) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot pause '%s'", name);
        /* libvirt left the guest running; what it saved is not a paused state. */
        if (run_state(dom) == 1)
            vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, NULL);
        return FALSE;
    }
    saved = g_get_monotonic_time();
    /* Saved and shut off, nothing else recorded: vmm_pause_is_paused says paused, resume works. */
    vmm_journal_crash_point("pause");
    if (t) {
        saved_at(sfd, &t->memory_bytes);
        t->save = (saved - start) / 1e6;
        t->total = (g_get_monotonic_time() - start) / 1e6;
    }
    return TRUE;
}

gboolean
vmm_pause(VmmContext *ctx, const char *name, VmmPauseTimings *t, GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    /* Excludes reset, snapshot, destroy and gc: each would act on a half-saved guest. */
    if (lock < 0)
        return FALSE;
    ok = pause_locked(ctx, name, t, error);
    close(lock);
    return ok;
}

/* ---- resume ----------------------------------------------------------------------------- */

/* The restore XML: the saved domain's, with the overlay's chain written out from root's links. */
static char *
restore_xml(VmmContext *ctx, const char *name, const VmmMetadata *md, const char *memory,
            GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autoptr(VmmImage) image = vmm_image_load(ctx->state_dir, md->image, error);
    g_autofree char *base = NULL;
    g_autofree char *saved = NULL;
    g_autoptr(GPtrArray) chain = NULL;

    if (!image)
        return NULL;
    /* The overlay sits on the base image by path: a rebuilt image would corrupt it. */
    if (g_strcmp0(image->digest, md->image_digest) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s' changed since sandbox '%s' was created: it cannot be resumed "
                    "(destroy it)",
                    md->image, name);
        return NULL;
    }
    base = vmm_image_file(image, "disk.qcow2");
    if (!(saved =
              virDomainSaveImageGetXMLDesc(ctx->conn, memory, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE))) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read the paused state of '%s'", name);
        return NULL;
    }
    if (!(chain = vmm_snapshot_overlay_chain(ctx->state_dir, name, base, error)))
        return NULL;
    g_ptr_array_add(chain, NULL);
    return vmm_snapshot_restore_xml(saved, overlay, (const char *const *)chain->pdata, error);
}

static gboolean
resume_locked(VmmContext *ctx, const char *name, VmmResetTimings *t, GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *memory = g_build_filename(sdir, VMM_PAUSE_DIR, MEMORY_FILE, NULL);
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(GError) err = NULL;
    vmm_auto_fd int sfd = -1;
    gint64 start = g_get_monotonic_time();
    int running;

    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if ((sfd = vmm_sandbox_open_dir(ctx->state_dir, name, error)) < 0)
        return FALSE;
    running = run_state(dom);
    if (!saved_at(sfd, NULL) || running == 1) {
        /* Running with a saved memory left: a resume died before dropping it. */
        if (running == 1)
            vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, NULL);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    running == 1 ? "sandbox '%s' is running, not paused (airlock pause %s saves it)"
                                 : "sandbox '%s' is not paused (airlock reset %s starts it)",
                    name, name);
        return FALSE;
    }
    /* Read from the definition: it carries what changed while paused (a new TTL). */
    if (!(md = vmm_sandbox_metadata(dom, error)) ||
        !(xml = restore_xml(ctx, name, md, memory, error)))
        return FALSE;
    /* Restored by a resume that died before the guest ran: nothing ran, restore again. */
    if (running == 2 && virDomainDestroy(dom) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop '%s'", name);
    if (!vmm_snapshot_restore_fixed(ctx, dom, md, memory, xml, t, &err)) {
        /* Once the guest ran, its disk moved on: the saved memory must never be used again. */
        if (run_state(dom) == 1) {
            vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, NULL);
            g_set_error(error, VMM_ERROR, err->code,
                        "sandbox '%s' resumed but is not well (airlock reset %s): %s", name, name,
                        err->message);
        } else {
            g_set_error(error, VMM_ERROR, err->code,
                        "sandbox '%s' did not resume and is still paused: %s", name, err->message);
        }
        return FALSE;
    }
    vmm_journal_crash_point("resume"); /* running, saved memory still there */
    if (!vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, error))
        return FALSE;
    /* The saved image's XML had the metadata of pause time: give the live domain today's. */
    if (!vmm_sandbox_metadata_update(dom, md, VIR_DOMAIN_AFFECT_LIVE, error))
        return FALSE;
    if (t)
        t->total = (g_get_monotonic_time() - start) / 1e6;
    return TRUE;
}

gboolean
vmm_pause_resume(VmmContext *ctx, const char *name, VmmResetTimings *t, GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    if (lock < 0)
        return FALSE;
    ok = resume_locked(ctx, name, t, error);
    close(lock);
    return ok;
}
