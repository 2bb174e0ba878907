/*
 * pause.h: a running sandbox saved to disk so its qemu exits and its RAM is
 * freed, and brought back exactly as it was (processes, files, network).
 *
 * The saved memory is sandboxes/NAME/paused/memory.save, in a root-owned
 * 0710 directory like a snapshot's (docs/security.md, "Host paths"). The
 * live overlay stays where it is: nothing is frozen, so pause adds no layer
 * and resume needs none. The domain stays defined (shut off). A sandbox is
 * paused while that file exists and its domain does not run the guest.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "lookup.h"
#include "snapshot.h"

#define VMM_PAUSE_DIR "paused"

/* Durations of one pause, in seconds, and the size of what was saved. */
typedef struct {
    gdouble save, total;
    guint64 memory_bytes;
} VmmPauseTimings;

/*
 * TRUE when sandbox @name (domain @dom) is paused: its saved memory is there
 * and the domain is shut off, or restored but not yet running (a resume that
 * died half-way: resume redoes it).
 */
gboolean vmm_pause_is_paused(const char *state_dir, const char *name, virDomainPtr dom);

/* Sets @error (INVALID) for an operation that needs @name running and finds it paused. */
void vmm_pause_refuse(GError **error, const char *name, const char *what);

/*
 * Saves running sandbox @name to disk; its qemu exits. INVALID when it is
 * paused already or not running. A failed save leaves it running. @t may be
 * NULL.
 */
gboolean vmm_pause(VmmContext *ctx, const char *name, VmmPauseTimings *t, GError **error);

/*
 * Brings paused sandbox @name back as it was (vmm_snapshot_restore_fixed:
 * fenced before it runs, clock and RNG fixed, agent answering), then drops
 * the saved memory. INVALID when it is not paused. @t may be NULL.
 */
gboolean vmm_pause_resume(VmmContext *ctx, const char *name, VmmResetTimings *t, GError **error);
