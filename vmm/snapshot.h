/* snapshot.h: clean state, reset and named snapshots (saved memory + frozen disk layers). */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "lookup.h"

/*
 * The mechanism, chosen by measurement (see docs/architecture.md): a
 * snapshot TAG is sandboxes/NAME/snapshots/TAG/ holding memory.save (libvirt's
 * saved domain state), disk.qcow2 (the overlay as it was, frozen) and
 * domain.xml (the XML to restore with). The running sandbox always writes to
 * a fresh overlay.qcow2 on top of the latest layer. Reverting = destroy, new
 * empty overlay over TAG's disk, restore TAG's memory: about a second here,
 * where libvirt's internal snapshot revert takes 4-5 s.
 */
#define VMM_SNAPSHOT_CLEAN "clean"

typedef struct {
    char *tag;
    char *created; /* ISO 8601 */
    guint64 memory_bytes;
    guint64 disk_bytes;
    char *parent; /* tag whose disk this one's disk is backed by, or NULL (the image) */
} VmmSnapshotInfo;

void vmm_snapshot_info_free(VmmSnapshotInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSnapshotInfo, vmm_snapshot_info_free)

/* Durations of one revert in seconds, and how the clock and RNG were fixed (fixup.h). */
typedef struct {
    gdouble stop, overlay, restore, agent, fixup, total;
    const char *fixup_via; /* "helper" or "exec" (static) */
} VmmResetTimings;

/*
 * Captures the running sandbox as @tag (memory and disk) and leaves it
 * running. With @drop_caches, the guest's page cache is dropped first so
 * the saved image is smaller and restores faster. EXISTS when @tag exists.
 */
/* vmm_snapshot_take for a caller that already holds @name's lock (create). */
gboolean vmm_snapshot_take_locked(VmmContext *ctx, const char *name, const char *tag,
                                  gboolean drop_caches, GError **error);

gboolean vmm_snapshot_take(VmmContext *ctx, const char *name, const char *tag, gboolean drop_caches,
                           GError **error);

/*
 * Puts sandbox @name back to @tag, running, whatever its state (running,
 * stopped, crashed): memory, disk, processes. Then steps the guest clock and
 * reseeds its RNG so two reverts never replay one random stream.
 * NOT_FOUND when @tag does not exist.
 */
gboolean vmm_snapshot_revert(VmmContext *ctx, const char *name, const char *tag,
                             VmmResetTimings *timings, GError **error);

/* Snapshots of @name, oldest first. Caller frees the array. */
GPtrArray *vmm_snapshot_list(const char *state_dir, const char *name, GError **error);

/*
 * Deletes @tag. Its memory image goes at once; its disk layer stays (hidden)
 * while another layer or the live overlay is backed by it.
 */
gboolean vmm_snapshot_delete(VmmContext *ctx, const char *name, const char *tag, GError **error);

/*
 * The XML to restore a saved state with: @saved_xml with every disk's stale
 * <backingStore> dropped, and the disk on @overlay given the explicit chain
 * @chain (top first, NULL-terminated, each layer qcow2) ended by an empty
 * <backingStore/>, so libvirt and qemu never take the chain from qcow2
 * headers the qemu user can write. Caller frees.
 */
char *vmm_snapshot_restore_xml(const char *saved_xml, const char *overlay, const char *const *chain,
                               GError **error);

/*
 * The disks under @name's live overlay, top first, ending with the image's
 * disk @base: from the parent links root keeps, never from qcow2 headers.
 * Caller frees.
 */
GPtrArray *vmm_snapshot_overlay_chain(const char *state_dir, const char *name, const char *base,
                                      GError **error);

/*
 * Restores @memory (with @xml) onto the defined domain @dom and leaves the
 * guest running, its tap fenced, its agent answering, its clock and RNG
 * fixed. Restored paused first, so the helper's request is in before the
 * guest runs (fixup.h). @t (may be NULL) gets the restore, agent and fixup
 * times and the fix's path.
 */
gboolean vmm_snapshot_restore_fixed(VmmContext *ctx, virDomainPtr dom, const VmmMetadata *md,
                                    const char *memory, const char *xml, VmmResetTimings *t,
                                    GError **error);

/*
 * Opens sandboxes/@name after checking the state directory (vmm_fs_open_own_dir:
 * root's, nobody else can write it); -1 with an error naming the sandbox. Caller closes.
 */
int vmm_sandbox_open_dir(const char *state_dir, const char *name, GError **error);

/* TRUE when @name has snapshot @tag. */
gboolean vmm_snapshot_exists(const char *state_dir, const char *name, const char *tag);
