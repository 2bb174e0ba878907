/* image.c: image store: manifest, sha256 verification, overlay creation. */
#include <config.h>

#include "image.h"
#include "command.h"
#include "error.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
image_file_free(VmmImageFile *f)
{
    if (!f)
        return;
    g_free(f->name);
    g_free(f->path);
    g_free(f->sha256);
    g_free(f);
}

void
vmm_image_free(VmmImage *image)
{
    if (!image)
        return;
    g_free(image->name);
    g_free(image->dir);
    g_free(image->created);
    g_free(image->recipe_sha256);
    g_free(image->guest_agent);
    g_free(image->kernel_cmdline);
    g_free(image->digest);
    if (image->files)
        g_ptr_array_unref(image->files);
    g_free(image);
}

static const char *
member_string(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

VmmImage *
vmm_image_load(const char *state_dir, const char *name, GError **error)
{
    g_autoptr(VmmImage) image = g_new0(VmmImage, 1);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *manifest = NULL;
    g_autoptr(GError) local = NULL;
    JsonObject *root, *files;
    JsonNode *pkgs;
    const char *disk_sha = NULL;

    if (!vmm_name_validate(name, "image name", error))
        return NULL;
    image->name = g_strdup(name);
    image->dir = vmm_path_image_dir(state_dir, name);
    image->files = g_ptr_array_new_with_free_func((GDestroyNotify)image_file_free);
    manifest = g_build_filename(image->dir, "manifest.json", NULL);

    if (!g_file_test(manifest, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "image '%s' not found in %s (airlock image build %s makes it; airlock image "
                    "list shows what exists)",
                    name, image->dir, name);
        return NULL;
    }
    if (!json_parser_load_from_file(parser, manifest, &local) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s': %s is unreadable (%s); airlock image build --force %s", name,
                    manifest, local ? local->message : "not a JSON object", name);
        return NULL;
    }
    root = json_node_get_object(json_parser_get_root(parser));
    image->created = g_strdup(member_string(root, "created"));
    image->recipe_sha256 = g_strdup(member_string(root, "recipe_sha256"));
    image->guest_agent = g_strdup(member_string(root, "guest_agent"));
    image->kernel_cmdline = g_strdup(member_string(root, "kernel_cmdline"));
    pkgs = json_object_get_member(root, "packages");
    if (pkgs && JSON_NODE_HOLDS_ARRAY(pkgs))
        image->n_packages = json_array_get_length(json_node_get_array(pkgs));

    if (!json_object_has_member(root, "files") ||
        !JSON_NODE_HOLDS_OBJECT(json_object_get_member(root, "files"))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s': manifest lists no files; airlock image build --force %s", name,
                    name);
        return NULL;
    }
    files = json_object_get_object_member(root, "files");
    g_autoptr(GList) members = json_object_get_members(files);
    for (GList *l = members; l; l = l->next) {
        const char *fname = l->data;
        JsonNode *fnode = json_object_get_member(files, fname);
        VmmImageFile *f;
        JsonObject *fobj;

        if (!JSON_NODE_HOLDS_OBJECT(fnode) || strchr(fname, '/') || fname[0] == '.')
            continue;
        fobj = json_node_get_object(fnode);
        f = g_new0(VmmImageFile, 1);
        f->name = g_strdup(fname);
        f->path = g_build_filename(image->dir, fname, NULL);
        f->sha256 = g_strdup(member_string(fobj, "sha256"));
        f->size =
            json_object_has_member(fobj, "size") ? json_object_get_int_member(fobj, "size") : -1;
        g_ptr_array_add(image->files, f);
        if (strcmp(fname, "disk.qcow2") == 0)
            disk_sha = f->sha256;
    }
    if (!disk_sha || !image->kernel_cmdline) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s': manifest lacks disk.qcow2 or kernel_cmdline; airlock image "
                    "build --force %s",
                    name, name);
        return NULL;
    }
    image->digest = g_strdup_printf("sha256:%s", disk_sha);
    return g_steal_pointer(&image);
}

static gint
image_cmp(gconstpointer a, gconstpointer b)
{
    const VmmImage *ia = *(VmmImage *const *)a, *ib = *(VmmImage *const *)b;

    return strcmp(ia->name, ib->name);
}

GPtrArray *
vmm_image_list(const char *state_dir, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "images", NULL);
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_image_free);
    g_autoptr(GDir) d = NULL;
    const char *ent;

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return g_steal_pointer(&out);
    d = g_dir_open(dir, 0, error);
    if (!d)
        return NULL;
    while ((ent = g_dir_read_name(d))) {
        VmmImage *img;

        if (!vmm_name_validate(ent, "image name", NULL))
            continue;
        img = vmm_image_load(state_dir, ent, NULL);
        if (img)
            g_ptr_array_add(out, img);
    }
    g_ptr_array_sort(out, image_cmp);
    return g_steal_pointer(&out);
}

char *
vmm_image_sha256_file(const char *path, guint64 *size, GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guchar *buf = g_malloc(1 << 20);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    guint64 total = 0;
    ssize_t n;

    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE, "cannot read %s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    while ((n = read(fd, buf, 1 << 20)) > 0) {
        g_checksum_update(sum, buf, n);
        total += n;
    }
    close(fd);
    if (n < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE, "cannot read %s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    if (size)
        *size = total;
    return g_strdup(g_checksum_get_string(sum));
}

static char *
stat_key(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return NULL;
    return g_strdup_printf("%lld %lld.%09ld %lld.%09ld %llu", (long long)st.st_size,
                           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                           (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
                           (unsigned long long)st.st_ino);
}

gboolean
vmm_image_verify(VmmImage *image, gboolean use_cache, GError **error)
{
    g_autofree char *cache_path = g_build_filename(image->dir, ".verified", NULL);
    g_autofree char *cached = NULL;
    g_autoptr(GString) keys = g_string_new(NULL);

    if (use_cache)
        g_file_get_contents(cache_path, &cached, NULL, NULL);

    for (guint i = 0; i < image->files->len; i++) {
        VmmImageFile *f = g_ptr_array_index(image->files, i);
        g_autofree char *key = stat_key(f->path);
        g_autofree char *line = NULL;
        g_autofree char *actual = NULL;

        if (!key) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "image '%s': %s is missing; airlock image build --force %s", image->name,
                        f->name, image->name);
            return FALSE;
        }
        line = g_strdup_printf("%s %s %s\n", f->name, f->sha256 ? f->sha256 : "-", key);
        g_string_append(keys, line);
        if (cached && strstr(cached, line))
            continue;
        actual = vmm_image_sha256_file(f->path, NULL, error);
        if (!actual)
            return FALSE;
        if (g_strcmp0(actual, f->sha256) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "image '%s': %s does not match its manifest (sha256 %.12s…, expected "
                        "%.12s…); airlock image build --force %s",
                        image->name, f->name, actual, f->sha256 ? f->sha256 : "none", image->name);
            unlink(cache_path);
            return FALSE;
        }
    }
    /* Best effort: a read-only store simply re-hashes next time. */
    g_file_set_contents(cache_path, keys->str, keys->len, NULL);
    return TRUE;
}

char *
vmm_image_file(VmmImage *image, const char *file)
{
    return g_build_filename(image->dir, file, NULL);
}

gboolean
vmm_image_create_overlay(const char *backing, const char *path, guint size_gib, GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("qemu-img");
    const char *args[] = {"create", "-q", "-f",    "qcow2", "-F",
                          "qcow2",  "-b", backing, "-o",    "cluster_size=65536,lazy_refcounts=on",
                          path,     NULL};

    vmm_command_add_argv(cmd, args);
    if (size_gib) {
        g_autofree char *size = g_strdup_printf("%uG", size_gib);
        vmm_command_add_arg(cmd, size);
    }
    if (!vmm_command_run(cmd, NULL, error)) {
        g_prefix_error(error, "cannot create the overlay %s: ", path);
        unlink(path);
        return FALSE;
    }
    if (chmod(path, 0600) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "chmod %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

JsonNode *
vmm_image_to_json(const VmmImage *img)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, img->name);
    json_builder_set_member_name(b, "digest");
    json_builder_add_string_value(b, img->digest);
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, img->created);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, img->dir);
    json_builder_set_member_name(b, "recipe_sha256");
    json_builder_add_string_value(b, img->recipe_sha256);
    json_builder_set_member_name(b, "packages");
    json_builder_add_int_value(b, img->n_packages);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* {"driver":"qcow2","file":{"driver":"file","filename":@file},"backing":@backing}; takes @backing.
 */
static JsonNode *
layer_node(const char *file, JsonNode *backing)
{
    JsonObject *o = json_object_new();
    JsonObject *f = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(f, "driver", "file");
    json_object_set_string_member(f, "filename", file);
    json_object_set_string_member(o, "driver", "qcow2");
    json_object_set_object_member(o, "file", f);
    json_object_set_member(o, "backing", backing);
    json_node_take_object(n, o);
    return n;
}

gboolean
vmm_image_export_overlay(int overlay_fd, GPtrArray *chain, const char *base, const char *out,
                         GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("qemu-img");
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) top = NULL;
    g_autofree char *text = NULL;
    g_autofree char *spec = NULL;
    JsonNode *below = json_node_new(JSON_NODE_NULL);

    for (guint i = chain->len; i > 0; i--)
        below = layer_node(g_ptr_array_index(chain, i - 1), below);
    top = layer_node("/dev/fd/3", below);
    json_generator_set_root(gen, top);
    text = json_generator_to_data(gen, NULL);
    spec = g_strconcat("json:", text, NULL);
    {
        const char *args[] = {"convert", "-O", "qcow2", "-B", base, "-F", "qcow2", spec, out, NULL};
        vmm_command_add_argv(cmd, args);
    }
    vmm_command_pass_fd(cmd, overlay_fd, 3);
    if (!vmm_command_run(cmd, NULL, error)) {
        g_prefix_error(error, "cannot export the disk (qemu-img convert of the overlay): ");
        return FALSE;
    }
    return TRUE;
}
