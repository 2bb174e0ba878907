/* image-store.h: adding images to the store (import) and taking them out (rm). */
#pragma once

#include <glib.h>

/* What a qcow2 header says about the files it would open besides itself. */
typedef struct {
    char *backing;      /* the backing file's name as written, or NULL */
    gboolean data_file; /* the external-data-file incompatible feature is set */
} VmmQcow2Refs;

/*
 * Reads the qcow2 header of @fd: INVALID when it is not a qcow2 (version 2
 * or 3). Fills @refs (caller frees refs->backing). Pure apart from pread.
 */
gboolean vmm_image_qcow2_refs(int fd, VmmQcow2Refs *refs, GError **error);

/*
 * Imports @source into <state>/images/NAME: a directory with disk.qcow2,
 * vmlinuz, initrd.img and a manifest.json naming their sha256 (NAME: @name,
 * else the manifest's, else the directory's), or a qcow2 file (NAME: @name,
 * required) whose kernel, initrd and command line are those of the installed
 * image @kernel_from. Files are copied and hashed into a private directory;
 * a copy that does not match its manifest, a disk that is no qcow2 or has a
 * backing file or an external data file (its header and qemu-img info) is
 * refused. The manifest is written again (name, sizes, "imported": source and
 * time) and the directory renamed into place. EXISTS when NAME is taken.
 * *@out_name (may be NULL) gets NAME.
 */
gboolean vmm_image_import(const char *state_dir, const char *source, const char *name,
                          const char *kernel_from, char **out_name, GError **error);

/*
 * What uses image @name: "sandbox 'x'" or "snapshot 'TAG' of sandbox 'x'"
 * for every disk under <state>/sandboxes backed by a file of the image.
 * Caller frees.
 */
GPtrArray *vmm_image_users(const char *state_dir, const char *name);

/*
 * Removes image @name, refused (FAILED, naming the first user) while a
 * sandbox or a snapshot is backed by it or a build of it runs. The
 * directory is renamed away, checked again (a create that raced), then
 * deleted. NOT_FOUND when there is no such image.
 */
gboolean vmm_image_remove(const char *state_dir, const char *name, GError **error);
