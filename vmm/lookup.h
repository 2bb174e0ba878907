/* lookup.h: the context every module works in, and finding a sandbox and what it records. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "conn.h"
#include "metadata.h"

/* Called at the start of each create stage ("overlay", "seed", ...). */
typedef void (*VmmProgressFunc)(const char *stage, gdouble elapsed_s, gpointer user_data);

typedef struct {
    virConnectPtr conn;
    const char *state_dir;
    VmmAccel accel;
    VmmProgressFunc progress; /* or NULL */
    gpointer progress_data;
    const char *owner; /* recorded as a new sandbox's owner; NULL: this process's user */
} VmmContext;

/*
 * Takes @name's lock (flock on <state>/locks/<name>.lock) without waiting:
 * EXISTS error ("busy") when another airlock command holds it. Returns the
 * fd to close to release it, or -1.
 */
int vmm_sandbox_lock(const char *state_dir, const char *name, GError **error);

/*
 * Releases a lock from vmm_sandbox_lock (fd < 0: nothing); with @remove, first
 * removes STATE/locks/NAME.lock (the sandbox is gone: nothing to lock any more).
 */
void vmm_sandbox_unlock(const char *state_dir, const char *name, int fd, gboolean remove);

/* Looks up the domain of sandbox @name: NOT_FOUND error with a hint. Caller frees. */
virDomainPtr vmm_sandbox_lookup(virConnectPtr conn, const char *name, GError **error);

/* Reads airlock's metadata from @dom. Caller frees. */
VmmMetadata *vmm_sandbox_metadata(virDomainPtr dom, GError **error);

/* "running", "stopped", "paused", "crashed", ... */
const char *vmm_sandbox_state(virDomainPtr dom);

/*
 * Every airlock domain (one with airlock metadata) of @state_dir (NULL: of
 * any), sorted by name. Caller frees the array.
 */
GPtrArray *vmm_sandbox_list(virConnectPtr conn, const char *state_dir, GError **error);

/*
 * Creates @dir (parent must exist), or takes it when it is already ours:
 * mode 0710, owned by the caller, group the one qemu runs as on @conn, so
 * qemu can open the disks libvirt labels for it but cannot add, rename or
 * replace a name inside. A symlink, a non-directory or a directory owned by
 * someone else is refused, and the owner and mode are set on the opened fd.
 */
gboolean vmm_sandbox_mkdir_private(virConnectPtr conn, const char *dir, GError **error);

/*
 * Removes @path and, for a directory, everything below it, through
 * directory fds (vmm_fs_remove_tree): symlinks are removed, never followed,
 * not even when swapped in while it runs. Missing is success.
 */
gboolean vmm_sandbox_remove_tree(const char *path, GError **error);

/* The sandbox's console log path. Caller frees. */
char *vmm_sandbox_console_path(const char *state_dir, const char *name);

/*
 * The last @n lines of @path with control characters removed, joined with
 * " | " on one line; empty string when unreadable. Caller frees.
 */
char *vmm_sandbox_console_tail(const char *path, guint n);
