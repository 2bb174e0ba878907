/*
 * fsutil.h: file operations for root that never follow a name another user
 * can change: directory fds, openat/mkdirat/unlinkat, O_NOFOLLOW, and
 * fchown/fchmod on the fd that was checked.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Closes *@fd unless it is -1: `vmm_auto_fd int fd = -1;` closes at scope end. */
void vmm_fs_close_fdp(int *fd);
#define vmm_auto_fd __attribute__((cleanup(vmm_fs_close_fdp)))

/*
 * Checks that @path and every directory above it can be changed by nobody
 * but root (or the caller's own uid when not root): each component owned by
 * root or the caller, no directory writable by group or others unless it is
 * sticky (like /tmp) and not @path itself, symlinks on the way owned by root
 * or the caller. Missing components are created (0755), so nobody can
 * pre-create them after the check. One-line INVALID error naming the
 * offending component.
 */
gboolean vmm_fs_check_state_dir(const char *path, GError **error);

/*
 * Opens the directory @path (O_DIRECTORY|O_NOFOLLOW: its last component is
 * never a symlink) and checks that it belongs to the caller and nobody else
 * can write it. Returns the fd (caller closes) or -1 with an error. A missing
 * directory is NOT_FOUND.
 */
int vmm_fs_open_own_dir(const char *path, GError **error);
/* vmm_fs_open_own_dir() for @name in @dirfd. */
int vmm_fs_open_own_dir_at(int dirfd, const char *name, GError **error);

/*
 * Creates directory @name in @dirfd (or takes the one there when it belongs
 * to the caller), then sets @mode and, when @uid is not (uid_t)-1, the owner
 * @uid:@gid on its fd. Refuses a symlink, a non-directory, or a directory
 * owned by someone else. Returns the directory's fd (caller closes) or -1.
 */
int vmm_fs_mkdir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid, GError **error);

/* vmm_fs_mkdir_at() for an absolute or relative @path, its parent opened without following it. */
int vmm_fs_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid, GError **error);

/*
 * Removes @name in @dirfd and, when it is a directory, everything below it,
 * through directory fds: a symlink is removed itself, never followed, and a
 * directory swapped for a link while we work is not entered. A missing
 * @name is success.
 */
gboolean vmm_fs_remove_at(int dirfd, const char *name, GError **error);

/* vmm_fs_remove_at() for @path. */
gboolean vmm_fs_remove_tree(const char *path, GError **error);

/*
 * Opens regular file @name in @dirfd for reading, never through a symlink
 * (NOT_FOUND when missing, INVALID for a link or anything but a regular
 * file). Returns the fd (caller closes) or -1.
 */
int vmm_fs_open_regular_at(int dirfd, const char *name, GError **error);

/*
 * Reads regular file @name in @dirfd (vmm_fs_open_regular_at()), at most
 * @max bytes (INVALID when larger). Returns NUL-terminated contents (caller
 * frees) or NULL.
 */
char *vmm_fs_read_at(int dirfd, const char *name, gsize max, gsize *len, GError **error);

/*
 * Writes @data to @name in @dirfd atomically: a new temporary file
 * (O_EXCL|O_NOFOLLOW, @mode), fsync, renameat over @name. The rename
 * replaces a planted link instead of following it.
 */
gboolean vmm_fs_write_at(int dirfd, const char *name, const char *data, gssize len, mode_t mode,
                         GError **error);

/*
 * Copies regular file @name in @src_dirfd to a new file @dst_name in
 * @dst_dirfd (O_EXCL|O_NOFOLLOW), hashing what it writes; the copy ends
 * with @mode, set on its fd. A symlink or non-regular source is INVALID and
 * nothing is created. *@sha256 (caller frees) and *@size get the copy's.
 */
gboolean vmm_fs_copy_at(int src_dirfd, const char *name, int dst_dirfd, const char *dst_name,
                        mode_t mode, char **sha256, guint64 *size, GError **error);

/* sha256 (hex, caller frees) and size of what @fd holds, read from its start. */
char *vmm_fs_sha256_fd(int fd, guint64 *size, GError **error);
