/* image-store.c: image import (copy, hash, check the qcow2's references) and removal. */
#include <config.h>

#include "image-store.h"
#include "command.h"
#include "error.h"
#include "fsutil.h"
#include "image.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAX (4u << 20)
#define QCOW2_BACKING_MAX 1023 /* qemu's own limit */
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)

static const char *const image_files[] = {"disk.qcow2", "vmlinuz", "initrd.img", NULL};

/* Big-endian fields of the qcow2 header. */
static guint64
field64(const guint8 *p)
{
    guint64 v;

    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_BE(v);
}

static guint32
field32(const guint8 *p)
{
    guint32 v;

    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_BE(v);
}

gboolean
vmm_image_qcow2_refs(int fd, VmmQcow2Refs *refs, GError **error)
{
    guint8 h[104] = {0};
    ssize_t n = pread(fd, h, sizeof(h), 0);
    guint32 version;
    guint64 off;
    guint32 len;

    memset(refs, 0, sizeof(*refs));
    if (n < 72 || memcmp(h, "QFI\xfb", 4) != 0 ||
        ((version = field32(h + 4)) != 2 && version != 3)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "not a qcow2 image (qemu-img convert -O qcow2 makes one)");
        return FALSE;
    }
    off = field64(h + 8);
    len = field32(h + 16);
    if (version == 3 && n >= 80 && (field64(h + 72) & QCOW2_INCOMPAT_DATA_FILE))
        refs->data_file = TRUE;
    if (off) {
        g_autofree char *name = g_malloc0((gsize)MIN(len, QCOW2_BACKING_MAX) + 1);
        gssize got = len ? pread(fd, name, MIN(len, QCOW2_BACKING_MAX), (off_t)off) : 0;
        /* A name that cannot be read still means a backing file. */
        refs->backing = got > 0 ? g_strescape(name, NULL) : g_strdup("?");
    }
    return TRUE;
}

/* INVALID when the qcow2 at @path would open another file (header, then qemu-img info). */
static gboolean
check_standalone(const char *path, GError **error)
{
    vmm_auto_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    VmmQcow2Refs refs;
    g_autoptr(VmmCommand) cmd = vmm_command_new("qemu-img");
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *info, *specific;
    const char *args[] = {"info", "--output=json", "-f", "qcow2", path, NULL};

    if (fd < 0 || !vmm_image_qcow2_refs(fd, &refs, error)) {
        if (fd < 0)
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read %s: %s", path,
                        g_strerror(errno));
        return FALSE;
    }
    if (refs.backing || refs.data_file) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the disk %s (%s): an image must stand alone (qemu-img convert -O qcow2 "
                    "makes a copy that does)",
                    refs.backing ? "has a backing file" : "uses an external data file",
                    refs.backing ? refs.backing : "data-file");
        g_free(refs.backing);
        return FALSE;
    }
    /* Belt and braces: what qemu itself reads from the header. */
    vmm_command_add_argv(cmd, args);
    if (!vmm_command_run(cmd, NULL, error) ||
        !json_parser_load_from_data(parser, vmm_command_get_stdout(cmd), -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        if (error && !*error)
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "qemu-img info of %s is unreadable",
                        path);
        return FALSE;
    }
    info = json_node_get_object(json_parser_get_root(parser));
    specific = json_object_has_member(info, "format-specific")
                   ? json_object_get_object_member(info, "format-specific")
                   : NULL;
    if (specific && json_object_has_member(specific, "data"))
        specific = json_object_get_object_member(specific, "data");
    if (g_strcmp0(json_object_get_string_member_with_default(info, "format", ""), "qcow2") != 0 ||
        json_object_has_member(info, "backing-filename") ||
        (specific && json_object_has_member(specific, "data-file"))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the disk is not a standalone qcow2 (qemu-img info names a backing or data "
                    "file): qemu-img convert -O qcow2 makes a copy that is");
        return FALSE;
    }
    return TRUE;
}

static char *
now_iso8601(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

static gboolean
sha256_valid(const char *s)
{
    if (!s || strlen(s) != 64)
        return FALSE;
    for (const char *c = s; *c; c++)
        if (!g_ascii_isxdigit(*c) || g_ascii_isupper(*c))
            return FALSE;
    return TRUE;
}

/*
 * Copies @src in @src_dirfd to @dst in @stagefd (and into @files), refusing a
 * copy whose sha256 is not @want (when given).
 */
static gboolean
copy_checked(int src_dirfd, const char *src, const char *shown_src, int stagefd, const char *dst,
             const char *want, JsonObject *files, GError **error)
{
    g_autofree char *sha = NULL;
    guint64 size = 0;
    JsonObject *entry;

    if (!vmm_fs_copy_at(src_dirfd, src, stagefd, dst, strcmp(dst, "disk.qcow2") == 0 ? 0444 : 0644,
                        &sha, &size, error)) {
        g_prefix_error(error, "%s: ", shown_src);
        return FALSE;
    }
    if (want && strcmp(sha, want) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "%s does not match its manifest (sha256 %.12s…, the manifest says %.12s…)",
                    shown_src, sha, want);
        return FALSE;
    }
    entry = json_object_new();
    json_object_set_string_member(entry, "sha256", sha);
    json_object_set_int_member(entry, "size", (gint64)size);
    json_object_set_object_member(files, dst, entry);
    return TRUE;
}

/* A directory import: the manifest read and checked, each file copied against it. */
static JsonObject *
import_dir(const char *source, int stagefd, char **name, GError **error)
{
    vmm_auto_fd int srcfd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *text = NULL;
    g_autoptr(JsonObject) files = json_object_new();
    JsonObject *root, *listed;
    g_autoptr(GList) members = NULL;
    gsize len;

    if (srcfd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "cannot open %s: %s", source,
                    g_strerror(errno));
        return NULL;
    }
    if (!(text = vmm_fs_read_at(srcfd, "manifest.json", MANIFEST_MAX, &len, error))) {
        g_prefix_error(error, "%s/manifest.json: ", source);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, text, len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)) ||
        !JSON_NODE_HOLDS_OBJECT(
            json_object_get_member(json_node_get_object(json_parser_get_root(parser)), "files")) ||
        !json_object_get_string_member_with_default(
            json_node_get_object(json_parser_get_root(parser)), "kernel_cmdline", NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "%s/manifest.json is not an image manifest (a JSON object with files and "
                    "kernel_cmdline)",
                    source);
        return NULL;
    }
    root = json_node_get_object(json_parser_get_root(parser));
    listed = json_object_get_object_member(root, "files");
    members = json_object_get_members(listed);
    for (GList *l = members; l; l = l->next)
        if (!g_strv_contains(image_files, l->data)) {
            g_autofree char *shown = g_strescape(l->data, NULL);
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "%s/manifest.json lists '%.40s': an image holds disk.qcow2, vmlinuz and "
                        "initrd.img only",
                        source, shown);
            return NULL;
        }
    for (const char *const *f = image_files; *f; f++) {
        JsonNode *n = json_object_get_member(listed, *f);
        const char *want = n && JSON_NODE_HOLDS_OBJECT(n)
                               ? json_object_get_string_member_with_default(json_node_get_object(n),
                                                                            "sha256", NULL)
                               : NULL;
        g_autofree char *shown = g_build_filename(source, *f, NULL);

        if (!sha256_valid(want)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "%s/manifest.json gives no sha256 (64 hex digits) for %s", source, *f);
            return NULL;
        }
        if (!copy_checked(srcfd, *f, shown, stagefd, *f, want, files, error))
            return NULL;
    }
    if (!*name) {
        const char *m = json_object_get_string_member_with_default(root, "name", NULL);
        *name = m ? g_strdup(m) : g_path_get_basename(source);
    }
    json_object_set_object_member(root, "files", g_steal_pointer(&files));
    return json_object_ref(root);
}

/* A file import: the disk, and the kernel, initrd and command line of image @kernel_from. */
static JsonObject *
import_file(const char *state_dir, const char *source, const char *kernel_from, int stagefd,
            GError **error)
{
    g_autoptr(VmmImage) from = vmm_image_load(state_dir, kernel_from, error);
    g_autoptr(JsonObject) files = json_object_new();
    g_autoptr(JsonObject) root = json_object_new();
    g_autoptr(JsonObject) kf = json_object_new();
    g_autofree char *real = realpath(source, NULL);
    g_autofree char *created = now_iso8601();
    vmm_auto_fd int fromfd = -1;

    if (!from || !vmm_image_verify(from, TRUE, error)) {
        g_prefix_error(error, "the kernel comes from an installed image (--kernel-from): ");
        return NULL;
    }
    if (!real) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "%s: %s", source, g_strerror(errno));
        return NULL;
    }
    if (!copy_checked(AT_FDCWD, real, source, stagefd, "disk.qcow2", NULL, files, error))
        return NULL;
    if ((fromfd = open(from->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot open %s: %s", from->dir,
                    g_strerror(errno));
        return NULL;
    }
    for (guint i = 0; i < from->files->len; i++) {
        VmmImageFile *f = g_ptr_array_index(from->files, i);
        if (strcmp(f->name, "disk.qcow2") != 0 &&
            !copy_checked(fromfd, f->name, f->path, stagefd, f->name, f->sha256, files, error))
            return NULL;
    }
    json_object_set_string_member(root, "created", created);
    json_object_set_string_member(root, "kernel_cmdline", from->kernel_cmdline);
    json_object_set_string_member(root, "root_device", "/dev/vda");
    json_object_set_string_member(root, "disk_format", "qcow2");
    json_object_set_string_member(kf, "name", from->name);
    json_object_set_string_member(kf, "digest", from->digest);
    json_object_set_object_member(root, "kernel_from", g_steal_pointer(&kf));
    json_object_set_object_member(root, "files", g_steal_pointer(&files));
    json_object_set_array_member(root, "packages", json_array_new());
    return g_steal_pointer(&root);
}

static gboolean
write_manifest(int stagefd, JsonObject *root, GError **error)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;
    g_autofree char *with_nl = NULL;

    json_node_set_object(node, root);
    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    with_nl = g_strconcat(text, "\n", NULL);
    return vmm_fs_write_at(stagefd, "manifest.json", with_nl, -1, 0644, error);
}

gboolean
vmm_image_import(const char *state_dir, const char *source, const char *name,
                 const char *kernel_from, char **out_name, GError **error)
{
    g_autofree char *store = g_build_filename(state_dir, "images", NULL);
    g_autofree char *stage = NULL;
    g_autofree char *final_name = g_strdup(name);
    g_autofree char *dest = NULL;
    g_autofree char *disk = NULL;
    g_autofree char *abs = g_canonicalize_filename(source, NULL);
    g_autofree char *at = now_iso8601();
    g_autoptr(JsonObject) root = NULL;
    g_autoptr(JsonObject) imported = json_object_new();
    vmm_auto_fd int stagefd = -1;
    struct stat st;
    gboolean ok = FALSE;

    if (stat(source, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "%s is neither an image directory nor a qcow2 file", source);
        return FALSE;
    }
    if (S_ISREG(st.st_mode) && !name) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "importing a disk file needs --name NAME for the image");
        return FALSE;
    }
    if (name && !vmm_name_validate(name, "image name", error))
        return FALSE;
    if (g_mkdir_with_parents(store, 0755) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", store,
                    g_strerror(errno));
        return FALSE;
    }
    stage = g_build_filename(store, ".import.XXXXXX", NULL);
    if (!g_mkdtemp_full(stage, 0700) ||
        (stagefd = open(stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", stage,
                    g_strerror(errno));
        return FALSE;
    }
    root = S_ISDIR(st.st_mode) ? import_dir(source, stagefd, &final_name, error)
                               : import_file(state_dir, source, kernel_from, stagefd, error);
    if (!root || !vmm_name_validate(final_name, "image name (give --name)", error))
        goto out;
    dest = vmm_path_image_dir(state_dir, final_name);
    if (g_file_test(dest, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "image '%s' exists (airlock image rm %s first, or import with --name)",
                    final_name, final_name);
        goto out;
    }
    disk = g_build_filename(stage, "disk.qcow2", NULL);
    if (!check_standalone(disk, error))
        goto out;
    json_object_set_string_member(root, "name", final_name);
    json_object_set_string_member(imported, "from", abs);
    json_object_set_string_member(imported, "at", at);
    json_object_set_object_member(root, "imported", g_steal_pointer(&imported));
    if (!write_manifest(stagefd, root, error))
        goto out;
    if (fchmod(stagefd, 0755) != 0 || rename(stage, dest) != 0) {
        int e = errno;
        g_set_error(error, VMM_ERROR,
                    e == EEXIST || e == ENOTEMPTY ? VMM_ERROR_EXISTS : VMM_ERROR_FAILED,
                    "cannot install %s: %s", dest, g_strerror(e));
        goto out;
    }
    ok = TRUE;
    if (out_name)
        *out_name = g_steal_pointer(&final_name);
out:
    if (!ok)
        vmm_fs_remove_tree(stage, NULL);
    return ok;
}

/* TRUE when the qcow2 at @path has a backing file inside @image_dir (canonical). */
static gboolean
backed_by(const char *path, const char *image_dir)
{
    vmm_auto_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    VmmQcow2Refs refs;
    g_autofree char *backing = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *real_dir = NULL;
    g_autofree char *compressed = NULL;

    if (fd < 0 || !vmm_image_qcow2_refs(fd, &refs, NULL) || !refs.backing)
        return FALSE;
    /* The name was escaped for display; airlock writes plain absolute paths. */
    compressed = g_strcompress(refs.backing);
    g_free(refs.backing);
    if (g_path_is_absolute(compressed)) {
        backing = g_canonicalize_filename(compressed, NULL);
    } else {
        g_autofree char *here = g_path_get_dirname(path);
        backing = g_canonicalize_filename(compressed, here);
    }
    dir = g_path_get_dirname(backing);
    real_dir = realpath(dir, NULL);
    return g_strcmp0(real_dir ? real_dir : dir, image_dir) == 0;
}

/* One disk backed by the image: the sandbox it belongs to and what it is. */
typedef struct {
    char *sandbox;
    char *what; /* "sandbox 'x'" or "snapshot 'TAG' of sandbox 'x'" */
} ImageUser;

static void
image_user_free(ImageUser *u)
{
    g_free(u->sandbox);
    g_free(u->what);
    g_free(u);
}

static void
add_user(GPtrArray *out, const char *sandbox, char *what)
{
    ImageUser *u = g_new0(ImageUser, 1);

    u->sandbox = g_strdup(sandbox);
    u->what = what;
    g_ptr_array_add(out, u);
}

/* Adds the users under sandbox directory @sdir (overlay, snapshot layers) to @out. */
static void
scan_sandbox(const char *sdir, const char *sandbox, const char *image_dir, GPtrArray *out)
{
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *snaps = g_build_filename(sdir, "snapshots", NULL);
    g_autoptr(GDir) d = g_dir_open(snaps, 0, NULL);
    const char *tag;

    if (backed_by(overlay, image_dir))
        add_user(out, sandbox, g_strdup_printf("sandbox '%s'", sandbox));
    while (d && (tag = g_dir_read_name(d))) {
        g_autofree char *disk = g_build_filename(snaps, tag, "disk.qcow2", NULL);
        if (backed_by(disk, image_dir))
            add_user(out, sandbox,
                     g_strdup_printf("snapshot '%s' of sandbox '%s'", tag[0] == '.' ? tag + 1 : tag,
                                     sandbox));
    }
}

/* The ImageUser list of the image directory @real_dir (canonical), whatever it is called now. */
static GPtrArray *
users_of_dir(const char *state_dir, const char *real_dir)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)image_user_free);
    g_autofree char *sandboxes = g_build_filename(state_dir, "sandboxes", NULL);
    g_autoptr(GDir) d = g_dir_open(sandboxes, 0, NULL);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        g_autofree char *sdir = g_build_filename(sandboxes, ent, NULL);
        if (vmm_name_validate(ent, "sandbox name", NULL))
            scan_sandbox(sdir, ent, real_dir, out);
    }
    return out;
}

/* The canonical path of image @name's directory (realpath when it exists). */
static char *
image_real_dir(const char *state_dir, const char *name)
{
    g_autofree char *dir = vmm_path_image_dir(state_dir, name);
    g_autofree char *real = realpath(dir, NULL);

    return real ? g_steal_pointer(&real) : g_canonicalize_filename(dir, NULL);
}

GPtrArray *
vmm_image_users(const char *state_dir, const char *name)
{
    g_autofree char *real = image_real_dir(state_dir, name);
    g_autoptr(GPtrArray) users = users_of_dir(state_dir, real);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < users->len; i++)
        g_ptr_array_add(out, g_strdup(((ImageUser *)g_ptr_array_index(users, i))->what));
    return out;
}

/* FAILED naming the first of @users (non-empty). */
static gboolean
in_use(const char *name, GPtrArray *users, GError **error)
{
    const ImageUser *first = g_ptr_array_index(users, 0);

    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                "image '%s' is in use by %s%s (airlock destroy %s first)", name, first->what,
                users->len > 1 ? " and more" : "", first->sandbox);
    return FALSE;
}

gboolean
vmm_image_remove(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *real = NULL;
    g_autofree char *lock = NULL;
    g_autofree char *away = NULL;
    g_autoptr(GPtrArray) users = NULL;
    vmm_auto_fd int lockfd = -1;

    if (!vmm_name_validate(name, "image name", error))
        return FALSE;
    dir = vmm_path_image_dir(state_dir, name);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "image '%s' not found (airlock image list shows what exists)", name);
        return FALSE;
    }
    /* images/build holds this lock while it builds the image. */
    lock = g_strdup_printf("%s/images/.%s.lock", state_dir, name);
    lockfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (lockfd >= 0 && flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "image '%s' is being built (wait for airlock image build to finish)", name);
        return FALSE;
    }
    real = image_real_dir(state_dir, name);
    users = users_of_dir(state_dir, real);
    if (users->len)
        return in_use(name, users, error);
    /* A create that loaded the image before the rename fails to make its overlay after it. */
    away = g_strdup_printf("%s/images/.rm-%s.%d", state_dir, name, (int)getpid());
    if (rename(dir, away) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot remove %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    g_ptr_array_unref(users);
    users = users_of_dir(state_dir, real);
    if (users->len) {
        if (rename(away, dir) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "image '%s' is in use but could not be put back from %s: %s", name, away,
                        g_strerror(errno));
            return FALSE;
        }
        return in_use(name, users, error);
    }
    if (!vmm_fs_remove_tree(away, error))
        return FALSE;
    unlink(lock);
    return TRUE;
}
