/* space.h: whether the state directory's filesystem can hold what sandboxes may still write. */
#pragma once

#include <glib.h>

/*
 * The virtual size in bytes from the qcow2 header at @path (opened without
 * following a link; the header is validated, never trusted beyond 1 PiB).
 * 0 with an error when it is not a readable qcow2.
 */
guint64 vmm_space_qcow2_virtual(const char *path, GError **error);

/*
 * Bytes the sandboxes under @state_dir may still write: for each
 * sandboxes/NAME/overlay.qcow2, its virtual size minus what it already
 * occupies (a guest that fills its disk grows its overlay to at most its
 * virtual size). Unreadable overlays count as nothing.
 */
guint64 vmm_space_promised(const char *state_dir);

/*
 * Checks that @state_dir's filesystem can hold @new_bytes more on top of
 * what existing sandboxes were promised, keeping AIRLOCK_RESERVE_MIB (512)
 * free. HOST error naming the figures otherwise.
 */
gboolean vmm_space_check(const char *state_dir, guint64 new_bytes, GError **error);

/* Pure part of vmm_space_check, for tests: @avail free bytes. */
gboolean vmm_space_fits(guint64 avail, guint64 promised, guint64 new_bytes, guint64 reserve,
                        GError **error);
