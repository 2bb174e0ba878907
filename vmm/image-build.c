/* image-build.c: a base or derived image recipe, staged for images/build (images/derive). */
#include <config.h>

#include "image-build.h"
#include "error.h"
#include "fsutil.h"
#include "keyfile-text.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_MAX 4096 /* bytes in one command line */

static void
add_file_free(VmmImageAddFile *f)
{
    if (!f)
        return;
    g_free(f->src);
    g_free(f->dest);
    g_free(f);
}

VmmImageRecipe *
vmm_image_recipe_new(const char *name)
{
    VmmImageRecipe *r = g_new0(VmmImageRecipe, 1);

    r->name = g_strdup(name);
    r->packages = g_ptr_array_new_with_free_func(g_free);
    r->files = g_ptr_array_new_with_free_func((GDestroyNotify)add_file_free);
    r->run = g_ptr_array_new_with_free_func(g_free);
    return r;
}

void
vmm_image_recipe_free(VmmImageRecipe *r)
{
    if (!r)
        return;
    g_free(r->name);
    g_free(r->from);
    g_ptr_array_unref(r->packages);
    g_ptr_array_unref(r->files);
    g_ptr_array_unref(r->run);
    g_free(r);
}

gboolean
vmm_image_recipe_set_from(VmmImageRecipe *r, const char *from, GError **error)
{
    if (!vmm_name_validate(from, "base image name", error))
        return FALSE;
    if (r->from && strcmp(r->from, from) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "two bases given ('%s' and '%s'): an image derives from one", r->from, from);
        return FALSE;
    }
    g_free(r->from);
    r->from = g_strdup(from);
    return TRUE;
}

/* A Debian package name, optionally =VERSION (what mmdebstrap --include takes). */
static gboolean
package_valid(const char *p)
{
    const char *eq = strchr(p, '=');
    gsize n = eq ? (gsize)(eq - p) : strlen(p);

    if (n < 2 || n > 100 || !(g_ascii_islower(p[0]) || g_ascii_isdigit(p[0])))
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (!(g_ascii_islower(p[i]) || g_ascii_isdigit(p[i]) || strchr("+.-", p[i])))
            return FALSE;
    if (!eq)
        return TRUE;
    if (!eq[1] || strlen(eq + 1) > 100)
        return FALSE;
    for (const char *c = eq + 1; *c; c++)
        if (!(g_ascii_isalnum(*c) || strchr(".+~:-", *c)))
            return FALSE;
    return TRUE;
}

gboolean
vmm_image_recipe_add_packages(VmmImageRecipe *r, const char *list, GError **error)
{
    g_auto(GStrv) words = g_strsplit_set(list, ", \t", -1);

    for (char **w = words; *w; w++) {
        if (!**w)
            continue;
        if (!package_valid(*w)) {
            g_autofree char *shown = g_strescape(*w, NULL);
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "package '%.60s' is not a Debian package name (a-z, 0-9, + . -; "
                        "optionally =VERSION)",
                        shown);
            return FALSE;
        }
        g_ptr_array_add(r->packages, g_strdup(*w));
    }
    return TRUE;
}

/* An absolute path of plain characters with no "." or ".." component (what images/derive takes). */
static gboolean
dest_valid(const char *dest)
{
    g_auto(GStrv) parts = NULL;

    if (dest[0] != '/' || strlen(dest) > 1024 || strcmp(dest, "/") == 0)
        return FALSE;
    for (const char *c = dest; *c; c++)
        if (!(g_ascii_isalnum(*c) || strchr("._+@/-", *c)))
            return FALSE;
    parts = g_strsplit(dest + 1, "/", -1);
    for (char **p = parts; *p; p++)
        if (!**p || strcmp(*p, ".") == 0 || strcmp(*p, "..") == 0)
            return FALSE;
    return TRUE;
}

gboolean
vmm_image_recipe_add_file(VmmImageRecipe *r, const char *spec, const char *base_dir, GError **error)
{
    const char *colon = strrchr(spec, ':');
    g_autofree char *src = NULL;
    g_autofree char *real = NULL;
    VmmImageAddFile *f;
    struct stat st;

    if (!colon || colon == spec || !dest_valid(colon + 1)) {
        g_autofree char *shown = g_strescape(spec, NULL);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "file '%.80s' is not SRC:DEST with DEST an absolute path in the image "
                    "(letters, digits, . _ + @ - and /; no . or .. parts)",
                    shown);
        return FALSE;
    }
    src = g_strndup(spec, colon - spec);
    if (!g_path_is_absolute(src) && base_dir) {
        g_autofree char *joined = g_build_filename(base_dir, src, NULL);
        g_free(src);
        src = g_steal_pointer(&joined);
    }
    real = realpath(src, NULL);
    if (!real || stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "file '%s' %s", src,
                    real ? "is not a regular file" : "does not exist");
        return FALSE;
    }
    f = g_new0(VmmImageAddFile, 1);
    f->src = g_steal_pointer(&real);
    f->dest = g_strdup(colon + 1);
    g_ptr_array_add(r->files, f);
    return TRUE;
}

gboolean
vmm_image_recipe_add_run(VmmImageRecipe *r, const char *command, GError **error)
{
    if (!*command || strlen(command) > RUN_MAX || strpbrk(command, "\n\r") ||
        !g_utf8_validate(command, -1, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "command must be one non-empty line of text (at most %d bytes)", RUN_MAX);
        return FALSE;
    }
    g_ptr_array_add(r->run, g_strdup(command));
    return TRUE;
}

static gboolean
recipe_fail(const char *path, const char *text, const char *key, GError **error)
{
    g_prefix_error(error, "%s:%u: [image] %s: ", path, vmm_keyfile_line(text, "image", key), key);
    return FALSE;
}

gboolean
vmm_image_recipe_load(VmmImageRecipe *r, const char *path, GError **error)
{
    static const char *const keys[] = {"from", "packages", "files", "run", NULL};
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *raw = NULL;
    g_autofree char *text = NULL;
    g_autofree char *dir = NULL;
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) present = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &raw, NULL, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "cannot read the recipe %s: %s", path,
                    local->message);
        return FALSE;
    }
    text = vmm_keyfile_strip_comments(raw);
    if (!vmm_keyfile_check_unique(text, path, error))
        return FALSE;
    if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: %s", path, local->message);
        return FALSE;
    }
    groups = g_key_file_get_groups(kf, NULL);
    if (!groups[0] || groups[1] || strcmp(groups[0], "image") != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: a recipe has one [image] group (with from, packages, files, run)", path);
        return FALSE;
    }
    present = g_key_file_get_keys(kf, "image", NULL, NULL);
    for (char **k = present; *k; k++)
        if (!g_strv_contains(keys, *k)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "unknown key (known: from, packages, files, run)");
            return recipe_fail(path, text, *k, error);
        }
    dir = g_path_get_dirname(path);
    for (const char *const *k = keys; *k; k++) {
        g_autofree char *v = g_key_file_get_value(kf, "image", *k, NULL);
        gboolean ok = TRUE;

        if (!v)
            continue;
        g_strstrip(v);
        if (strcmp(*k, "from") == 0)
            ok = vmm_image_recipe_set_from(r, v, error);
        else if (strcmp(*k, "packages") == 0)
            ok = vmm_image_recipe_add_packages(r, v, error);
        else if (strcmp(*k, "run") == 0)
            ok = vmm_image_recipe_add_run(r, v, error);
        else {
            g_auto(GStrv) specs = g_strsplit_set(v, " \t", -1);
            for (char **s = specs; ok && *s; s++)
                ok = !**s || vmm_image_recipe_add_file(r, *s, dir, error);
        }
        if (!ok)
            return recipe_fail(path, text, *k, error);
    }
    return TRUE;
}

gboolean
vmm_image_recipe_is_derived(const VmmImageRecipe *r)
{
    return r->from || r->packages->len || r->files->len || r->run->len;
}

static gboolean
has_builder(const char *dir)
{
    g_autofree char *build = g_build_filename(dir, "build", NULL);

    return g_file_test(build, G_FILE_TEST_IS_EXECUTABLE);
}

char *
vmm_image_builder_dir(GError **error)
{
    const char *env = g_getenv("AIRLOCK_IMAGES_DIR");
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *installed = g_build_filename(AIRLOCK_DATADIR, "images", NULL);

    if (env && *env) {
        if (has_builder(env))
            return g_strdup(env);
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "AIRLOCK_IMAGES_DIR=%s has no executable 'build' (unset it to use %s)", env,
                    installed);
        return NULL;
    }
    if (exe) {
        g_autofree char *bindir = g_path_get_dirname(exe);
        g_autofree char *tree = g_build_filename(bindir, "images", NULL);
        if (has_builder(tree))
            return g_steal_pointer(&tree);
    }
    if (has_builder(installed))
        return g_steal_pointer(&installed);
    g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                "no image builder in %s (make install puts it there; AIRLOCK_IMAGES_DIR names "
                "another directory)",
                installed);
    return NULL;
}

/* NOT_FOUND unless @images_dir has the recipe @name. */
static gboolean
check_recipe(const char *images_dir, const char *name, GError **error)
{
    g_autofree char *conf = g_build_filename(images_dir, name, "recipe.conf", NULL);

    if (g_file_test(conf, G_FILE_TEST_IS_REGULAR))
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                "no recipe '%s' in %s (a base image is built from a recipe there, e.g. airlock "
                "image build debian-12; derive others with --from)",
                name, images_dir);
    return FALSE;
}

static gboolean
write_lines(int dirfd, const char *name, GPtrArray *lines, GError **error)
{
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; i < lines->len; i++)
        g_string_append_printf(s, "%s\n", (const char *)g_ptr_array_index(lines, i));
    return vmm_fs_write_at(dirfd, name, s->str, s->len, 0600, error);
}

/* The derived image's additions into @dir: packages, files.list + files/N, run.sh. */
static gboolean
stage_into(const VmmImageRecipe *r, const char *dir, GError **error)
{
    vmm_auto_fd int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    vmm_auto_fd int filesfd = -1;
    g_autoptr(GString) list = g_string_new(NULL);

    if (dirfd < 0 || mkdirat(dirfd, "files", 0700) != 0 ||
        (filesfd = openat(dirfd, "files", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot stage the recipe in %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    if (!write_lines(dirfd, "packages", r->packages, error) ||
        !write_lines(dirfd, "run.sh", r->run, error))
        return FALSE;
    for (guint i = 0; i < r->files->len; i++) {
        const VmmImageAddFile *f = g_ptr_array_index(r->files, i);
        g_autofree char *n = g_strdup_printf("%u", i);
        g_autofree char *sha = NULL;
        struct stat st;
        guint64 size;

        if (stat(f->src, &st) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "file '%s': %s", f->src,
                        g_strerror(errno));
            return FALSE;
        }
        if (!vmm_fs_copy_at(AT_FDCWD, f->src, filesfd, n, (st.st_mode & S_IXUSR) ? 0755 : 0644,
                            &sha, &size, error))
            return FALSE;
        g_string_append_printf(list, "%s %s\n", n, f->dest);
    }
    return vmm_fs_write_at(dirfd, "files.list", list->str, list->len, 0600, error);
}

char *
vmm_image_recipe_stage(const VmmImageRecipe *r, const char *images_dir, const char *state_dir,
                       GError **error)
{
    g_autofree char *store = g_build_filename(state_dir, "images", NULL);
    g_autofree char *dir = NULL;

    if (!vmm_name_validate(r->name, "image name", error))
        return NULL;
    if (!vmm_image_recipe_is_derived(r))
        return check_recipe(images_dir, r->name, error) ? g_strdup("") : NULL;
    if (!r->from) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "packages, files and commands need a base: --from IMAGE (e.g. --from "
                    "debian-12)");
        return NULL;
    }
    if (!check_recipe(images_dir, r->from, error))
        return NULL;
    if (strcmp(r->name, r->from) == 0 || check_recipe(images_dir, r->name, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "'%s' is the name of a base recipe: give the derived image another name",
                    r->name);
        return NULL;
    }
    if (g_mkdir_with_parents(store, 0755) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", store,
                    g_strerror(errno));
        return NULL;
    }
    dir = g_strdup_printf("%s/.derive-%s.XXXXXX", store, r->name);
    if (!g_mkdtemp_full(dir, 0700)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return NULL;
    }
    if (!stage_into(r, dir, error)) {
        vmm_fs_remove_tree(dir, NULL);
        return NULL;
    }
    return g_steal_pointer(&dir);
}

GStrv
vmm_image_build_argv(const VmmImageRecipe *r, const char *images_dir, const char *state_dir,
                     const char *derive_dir, gboolean force)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_autofree char *build = g_build_filename(images_dir, "build", NULL);

    g_strv_builder_add_many(b, build, "--state-dir", state_dir, NULL);
    if (force)
        g_strv_builder_add(b, "--force");
    if (derive_dir && *derive_dir)
        g_strv_builder_add_many(b, "--name", r->name, "--derive", derive_dir, r->from, NULL);
    else
        g_strv_builder_add(b, r->name);
    return g_strv_builder_end(b);
}
