/*
 * image-build.h: what `airlock image build` runs: the installed builder
 * (images/build) for a base recipe, or for a derived image (a base recipe plus
 * Debian packages, files and commands, staged in a directory images/derive reads).
 */
#pragma once

#include <glib.h>

typedef struct {
    char *src;  /* absolute path of the file on this host */
    char *dest; /* absolute path in the image */
} VmmImageAddFile;

typedef struct {
    char *name;          /* the image to build */
    char *from;          /* the base recipe of a derived image, or NULL for a base image */
    GPtrArray *packages; /* char*: Debian package names */
    GPtrArray *files;    /* VmmImageAddFile* */
    GPtrArray *run;      /* char*: shell commands, one line each */
} VmmImageRecipe;

/* An empty recipe for image @name (not validated yet). Caller frees. */
VmmImageRecipe *vmm_image_recipe_new(const char *name);
void vmm_image_recipe_free(VmmImageRecipe *recipe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmImageRecipe, vmm_image_recipe_free)

/* Sets the base; INVALID when another one was set already or @from is no image name. */
gboolean vmm_image_recipe_set_from(VmmImageRecipe *recipe, const char *from, GError **error);

/* Adds the Debian packages in @list (separated by commas or white space). INVALID for a bad name.
 */
gboolean vmm_image_recipe_add_packages(VmmImageRecipe *recipe, const char *list, GError **error);

/*
 * Adds "SRC:DEST": the regular file SRC (relative to @base_dir, or to the
 * working directory when NULL) installed as DEST in the image. INVALID when
 * DEST is not a plain absolute path, NOT_FOUND when SRC is no regular file.
 */
gboolean vmm_image_recipe_add_file(VmmImageRecipe *recipe, const char *spec, const char *base_dir,
                                   GError **error);

/* Adds a shell command (one line, run as root in the image at build time). */
gboolean vmm_image_recipe_add_run(VmmImageRecipe *recipe, const char *command, GError **error);

/*
 * Reads a recipe file: one [image] group with from, packages, files (white-space
 * separated SRC:DEST, SRC relative to the file's directory) and run (one shell
 * command line, taken as written: chain several with && or ;). Unknown or
 * repeated keys are errors that say FILE:LINE.
 */
gboolean vmm_image_recipe_load(VmmImageRecipe *recipe, const char *path, GError **error);

/* TRUE when the recipe derives from a base (--from, packages, files or commands). */
gboolean vmm_image_recipe_is_derived(const VmmImageRecipe *recipe);

/*
 * The directory holding the builder and its recipes: $AIRLOCK_IMAGES_DIR,
 * else images/ next to this executable (a build tree), else the installed
 * one under the data directory. NOT_FOUND when none has a builder. Caller frees.
 */
char *vmm_image_builder_dir(GError **error);

/*
 * Checks @recipe against @images_dir (a base build needs a recipe named like
 * the image; a derived one needs --from naming a recipe and a name that is
 * not one) and writes what it adds into a new directory under
 * <state>/images (the layout images/derive reads). Returns that directory
 * (caller removes it with vmm_fs_remove_tree and frees the string), or NULL
 * with an error; a base build returns "" (nothing to stage).
 */
char *vmm_image_recipe_stage(const VmmImageRecipe *recipe, const char *images_dir,
                             const char *state_dir, GError **error);

/* The builder's argv for @recipe staged at @derive_dir ("" for a base image). Caller frees. */
GStrv vmm_image_build_argv(const VmmImageRecipe *recipe, const char *images_dir,
                           const char *state_dir, const char *derive_dir, gboolean force);
