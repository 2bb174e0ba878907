/* image.h: the base-image store: list, verify (sha256 manifest), overlays. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
    char *name;
    char *path;   /* full path in the image directory */
    char *sha256; /* hex */
    gint64 size;
} VmmImageFile;

typedef struct {
    char *name;    /* "debian-12" */
    char *dir;     /* <state>/images/<name> */
    char *created; /* ISO 8601 from the manifest */
    char *recipe_sha256;
    char *kernel_cmdline;
    char *digest;     /* "sha256:<hex of disk.qcow2>" */
    GPtrArray *files; /* VmmImageFile*, in manifest order */
    guint n_packages;
    char *guest_agent; /* "airlock-guest N" when the image has it (images/build), or NULL */
} VmmImage;

void vmm_image_free(VmmImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmImage, vmm_image_free)

/* Loads <state>/images/<name>/manifest.json. NOT_FOUND or IMAGE errors. Caller frees. */
VmmImage *vmm_image_load(const char *state_dir, const char *name, GError **error);

/* Every image under <state>/images with a readable manifest, sorted by name. */
GPtrArray *vmm_image_list(const char *state_dir, GError **error);

/*
 * Checks each file's sha256 against the manifest. With @use_cache, a file
 * whose size, mtime, ctime and inode match the last successful check is not
 * hashed again (create stays fast; `image verify` never uses the cache).
 * An IMAGE error names the first bad file and says how to rebuild.
 */
gboolean vmm_image_verify(VmmImage *image, gboolean use_cache, GError **error);

/* sha256 (hex) of the file at @path; *@size (may be NULL) gets its size. Caller frees. */
char *vmm_image_sha256_file(const char *path, guint64 *size, GError **error);

/* @image as JSON: name, digest, created, path, recipe_sha256, packages. Caller frees. */
JsonNode *vmm_image_to_json(const VmmImage *image);

/* Path of @file ("disk.qcow2", "vmlinuz", "initrd.img") in the image. Caller frees. */
char *vmm_image_file(VmmImage *image, const char *file);

/*
 * Creates a qcow2 overlay at @path over @backing (format given explicitly,
 * never probed), mode 0600. @size_gib 0 keeps the base's size.
 */
gboolean vmm_image_create_overlay(const char *backing, const char *path, guint size_gib,
                                  GError **error);

/*
 * Writes to @out a qcow2 that holds only the sandbox's own changes over
 * @base (`qemu-img convert -B`). The overlay is read through @overlay_fd
 * (opened without following a link; qemu-img gets it as fd 3) and its
 * chain is @chain (paths under it, top first, ending with @base), written
 * out: never the backing files its qemu-writable qcow2 header names.
 */
gboolean vmm_image_export_overlay(int overlay_fd, GPtrArray *chain, const char *base,
                                  const char *out, GError **error);
