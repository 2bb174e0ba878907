/* archive.c: evidence kept at teardown, listed, shown, removed and pruned. */
#include <config.h>

#include "archive.h"
#include "agent.h"
#include "autoptr.h"
#include "error.h"
#include "events.h"
#include "image.h"
#include "names.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNC_TIMEOUT_MS 20000

void
vmm_archive_info_free(VmmArchiveInfo *info)
{
    if (!info)
        return;
    g_free(info->id);
    g_free(info->name);
    g_free(info->archived);
    g_free(info->dir);
    g_free(info);
}

static char *
archive_root(const char *state_dir)
{
    return g_build_filename(state_dir, "archive", NULL);
}

static gboolean
valid_id(const char *id)
{
    const char *dash = id ? strrchr(id, '-') : NULL;
    g_autofree char *name = dash ? g_strndup(id, dash - id) : NULL;

    /* <name>-<16 chars of timestamp>: nothing else reaches a path. */
    if (!dash || strlen(dash + 1) != 16 || !vmm_name_validate(name, "name", NULL))
        return FALSE;
    for (const char *p = dash + 1; *p; p++)
        if (!g_ascii_isalnum(*p))
            return FALSE;
    return TRUE;
}

static gboolean
copy_file(const char *src, const char *dst, GError **error)
{
    g_autoptr(GFile) s = g_file_new_for_path(src);
    g_autoptr(GFile) d = g_file_new_for_path(dst);

    return g_file_copy(s, d, G_FILE_COPY_NOFOLLOW_SYMLINKS, NULL, NULL, NULL, error);
}

/* The disk as the sandbox's own changes over its base image. */
static gboolean
export_disk(const char *overlay, const char *base, const char *out, GError **error)
{
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *err_out = NULL;
    const char *with_base[] = {"qemu-img", "convert", "-O", "qcow2", "-B", base, "-F", "qcow2",
                               overlay, out, NULL};
    const char *full[] = {"qemu-img", "convert", "-O", "qcow2", overlay, out, NULL};

    proc = g_subprocess_newv(base ? with_base : full,
                             G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             error);
    if (!proc || !g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err_out, error))
        return FALSE;
    if (!g_subprocess_get_successful(proc)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "qemu-img convert of %s failed: %s",
                    overlay, err_out ? g_strstrip(err_out) : "");
        return FALSE;
    }
    return TRUE;
}

static void
add_md(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

gboolean
vmm_archive_capture(VmmContext *ctx, virDomainPtr dom, const char *name, char **id_out,
                    GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *root = archive_root(ctx->state_dir);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    g_autofree char *archived = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    g_autofree char *id = g_strdup_printf("%s-%s", name, stamp);
    g_autofree char *dir = g_build_filename(root, id, NULL);
    g_autofree char *tmp = g_strdup_printf("%s.partial", dir);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *base = NULL;
    g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(dom, NULL);
    g_autoptr(VmmImage) image = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *manifest = NULL;
    g_autofree char *manifest_path = NULL;
    const char *logs[] = {"console.log", "events.jsonl", "dns.log"};
    g_autofree char *events = vmm_events_sandbox_path(ctx->state_dir, name);

    if (virDomainIsActive(dom) == 1) {
        const char *argv[] = {"sync", NULL};
        int code;
        g_autoptr(GError) ignored = NULL;
        /* What the agent left behind must be on the disk, not in the guest's cache. */
        if (!vmm_agent_run(dom, argv, SYNC_TIMEOUT_MS, &code, NULL, NULL, &ignored))
            g_debug("sync before archiving failed: %s", ignored->message);
        if (virDomainDestroy(dom) < 0 && vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop '%s'", name);
    }
    if (g_mkdir_with_parents(root, 0700) != 0 || g_mkdir(tmp, 0700) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", tmp,
                    g_strerror(errno));
        return FALSE;
    }
    if (md && md->image && (image = vmm_image_load(ctx->state_dir, md->image, NULL)))
        base = vmm_image_file(image, "disk.qcow2");

    json_builder_begin_object(b);
    add_md(b, "id", id);
    add_md(b, "name", name);
    add_md(b, "archived", archived);
    add_md(b, "image", md ? md->image : NULL);
    add_md(b, "image_digest", md ? md->image_digest : NULL);
    add_md(b, "spec_hash", md ? md->spec_hash : NULL);
    add_md(b, "created", md ? md->created : NULL);
    add_md(b, "owner", md ? md->owner : NULL);
    json_builder_set_member_name(b, "secrets");
    json_builder_begin_array(b);
    for (char **s = md ? md->secret_names : NULL; s && *s; s++)
        json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
    add_md(b, "disk_backing", base ? md->image_digest : NULL);
    json_builder_set_member_name(b, "files");
    json_builder_begin_object(b);

    if (g_file_test(overlay, G_FILE_TEST_EXISTS)) {
        g_autofree char *out = g_build_filename(tmp, "disk.qcow2", NULL);
        if (!export_disk(overlay, base, out, error))
            goto fail;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(logs); i++) {
        /* The audit log lives where only root writes, not in the sandbox's directory. */
        g_autofree char *src = g_str_equal(logs[i], "events.jsonl")
                                   ? g_strdup(events)
                                   : g_build_filename(sdir, logs[i], NULL);
        g_autofree char *dst = g_build_filename(tmp, logs[i], NULL);
        if (g_file_test(src, G_FILE_TEST_EXISTS) && !copy_file(src, dst, error))
            goto fail;
    }
    {
        g_autoptr(GDir) d = g_dir_open(tmp, 0, error);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *ent;
        if (!d)
            goto fail;
        while ((ent = g_dir_read_name(d)))
            g_ptr_array_add(names, g_strdup(ent));
        g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
        for (guint i = 0; i < names->len; i++) {
            const char *f = g_ptr_array_index(names, i);
            g_autofree char *p = g_build_filename(tmp, f, NULL);
            guint64 size;
            g_autofree char *sum = vmm_image_sha256_file(p, &size, error);
            if (!sum)
                goto fail;
            chmod(p, 0400);
            json_builder_set_member_name(b, f);
            json_builder_begin_object(b);
            add_md(b, "sha256", sum);
            json_builder_set_member_name(b, "size");
            json_builder_add_int_value(b, size);
            json_builder_end_object(b);
        }
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, TRUE);
    manifest = json_generator_to_data(gen, NULL);
    manifest_path = g_build_filename(tmp, "manifest.json", NULL);
    if (!g_file_set_contents_full(manifest_path, manifest, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0400,
                                  error))
        goto fail;
    if (rename(tmp, dir) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot rename %s: %s", tmp,
                    g_strerror(errno));
        goto fail;
    }
    if (id_out)
        *id_out = g_steal_pointer(&id);
    return vmm_archive_prune_default(ctx->state_dir, error);

fail:
    vmm_sandbox_remove_tree(tmp, NULL);
    return FALSE;
}

static VmmArchiveInfo *
read_archive(const char *root, const char *id)
{
    g_autofree char *dir = g_build_filename(root, id, NULL);
    g_autofree char *path = g_build_filename(dir, "manifest.json", NULL);
    g_autoptr(JsonParser) p = json_parser_new();
    VmmArchiveInfo *info;
    JsonObject *o;

    if (!json_parser_load_from_file(p, path, NULL) || !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        return NULL;
    o = json_node_get_object(json_parser_get_root(p));
    info = g_new0(VmmArchiveInfo, 1);
    info->id = g_strdup(id);
    info->dir = g_steal_pointer(&dir);
    info->name = g_strdup(json_object_get_string_member_with_default(o, "name", ""));
    info->archived = g_strdup(json_object_get_string_member_with_default(o, "archived", ""));
    if (json_object_has_member(o, "files")) {
        JsonObject *files = json_object_get_object_member(o, "files");
        g_autoptr(GList) members = json_object_get_members(files);
        for (GList *l = members; l; l = l->next) {
            JsonObject *f = json_object_get_object_member(files, l->data);
            info->bytes += json_object_get_int_member_with_default(f, "size", 0);
        }
    }
    return info;
}

static gint
archive_cmp(gconstpointer a, gconstpointer b)
{
    const VmmArchiveInfo *x = *(VmmArchiveInfo *const *)a, *y = *(VmmArchiveInfo *const *)b;
    int c = g_strcmp0(x->archived, y->archived);

    return c ? c : g_strcmp0(x->id, y->id);
}

GPtrArray *
vmm_archive_list(const char *state_dir, GError **error)
{
    g_autofree char *root = archive_root(state_dir);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_archive_info_free);
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        VmmArchiveInfo *info;
        if (valid_id(ent) && (info = read_archive(root, ent)))
            g_ptr_array_add(out, info);
    }
    g_ptr_array_sort(out, archive_cmp);
    return out;
}

char *
vmm_archive_manifest(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *root = archive_root(state_dir);
    g_autofree char *path = NULL;
    char *text = NULL;

    if (!valid_id(id)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "archive id '%s' is invalid (airlock archive list shows the ids)", id);
        return NULL;
    }
    path = g_build_filename(root, id, "manifest.json", NULL);
    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "archive '%s' not found (airlock archive list shows what exists)", id);
        return NULL;
    }
    return text;
}

gboolean
vmm_archive_remove(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *root = archive_root(state_dir);
    g_autofree char *dir = NULL;

    if (!valid_id(id)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "archive id '%s' is invalid (airlock archive list shows the ids)", id);
        return FALSE;
    }
    dir = g_build_filename(root, id, NULL);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "archive '%s' not found (airlock archive list shows what exists)", id);
        return FALSE;
    }
    return vmm_sandbox_remove_tree(dir, error);
}

gboolean
vmm_archive_prune(const char *state_dir, guint keep, gint64 max_age_s, GError **error)
{
    g_autoptr(GPtrArray) list = vmm_archive_list(state_dir, error);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();

    if (!list)
        return FALSE;
    for (guint i = 0; i < list->len; i++) {
        VmmArchiveInfo *a = g_ptr_array_index(list, i);
        g_autoptr(GDateTime) when = g_date_time_new_from_iso8601(a->archived, utc);
        gboolean too_many = keep > 0 && list->len - i > keep;
        gboolean too_old = max_age_s > 0 && when &&
                           g_date_time_difference(now, when) / G_USEC_PER_SEC > max_age_s;
        if ((too_many || too_old) && !vmm_archive_remove(state_dir, a->id, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
vmm_archive_prune_default(const char *state_dir, GError **error)
{
    const char *keep_s = g_getenv("AIRLOCK_ARCHIVE_KEEP");
    const char *age_s = g_getenv("AIRLOCK_ARCHIVE_MAX_AGE");
    guint keep = VMM_ARCHIVE_DEFAULT_KEEP;
    gint64 age = VMM_ARCHIVE_DEFAULT_MAX_AGE_S;

    if (keep_s && *keep_s)
        keep = (guint)g_ascii_strtoull(keep_s, NULL, 10);
    if (age_s && *age_s && !vmm_spec_parse_duration(age_s, &age, error)) {
        g_prefix_error(error, "AIRLOCK_ARCHIVE_MAX_AGE: ");
        return FALSE;
    }
    return vmm_archive_prune(state_dir, keep, age, error);
}
