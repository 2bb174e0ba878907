/* archive.c: evidence kept at teardown, listed, shown, removed and pruned. */
#include <config.h>

#include "archive.h"
#include "agent.h"
#include "autoptr.h"
#include "error.h"
#include "events.h"
#include "fsutil.h"
#include "image.h"
#include "names.h"
#include "settings.h"
#include "snapshot.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libvirt/virterror.h>
#include <stdio.h>
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

/* Bytes one evidence archive may hold: AIRLOCK_ARCHIVE_MAX_MIB, default 4096. */
static guint64
archive_cap(void)
{
    return vmm_config_get()->archive_max_mib << 20;
}

/*
 * A guest decides how much it writes: a file of @size that does not fit the
 * archive's remaining *@budget is left out, and the manifest says so.
 */
static gboolean
over_cap(JsonBuilder *b, const char *file, guint64 size, const guint64 *budget)
{
    g_autofree char *why = NULL;

    if (size <= *budget)
        return FALSE;
    why = g_strdup_printf("%" G_GUINT64_FORMAT " MiB, over the archive cap "
                          "(AIRLOCK_ARCHIVE_MAX_MIB, %" G_GUINT64_FORMAT " MiB left): not kept",
                          size >> 20, *budget >> 20);
    json_builder_set_member_name(b, file);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "skipped");
    json_builder_add_string_value(b, why);
    json_builder_end_object(b);
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

static void
add_file(JsonBuilder *b, const char *file, const char *sha256, guint64 size)
{
    json_builder_set_member_name(b, file);
    json_builder_begin_object(b);
    add_md(b, "sha256", sha256);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, size);
    json_builder_end_object(b);
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
    g_autofree char *base = NULL;
    g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(dom, NULL);
    g_autoptr(VmmImage) image = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *manifest = NULL;
    g_autofree char *partial = g_strdup_printf("%s.partial", id);
    const char *logs[] = {"console.log", "events.jsonl", "dns.log", "model-calls.jsonl"};
    guint64 budget = archive_cap();
    g_autofree char *events = vmm_events_sandbox_path(ctx->state_dir, name);
    g_autofree char *events_dir = g_path_get_dirname(events);
    g_autofree char *events_name = g_path_get_basename(events);
    vmm_auto_fd int rfd = -1;
    vmm_auto_fd int tfd = -1;
    vmm_auto_fd int sfd = -1;
    vmm_auto_fd int efd = -1;
    struct stat st;

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
    if (!vmm_fs_check_state_dir(ctx->state_dir, error) ||
        (rfd = vmm_fs_mkdir(root, 0700, (uid_t)-1, (gid_t)-1, error)) < 0)
        return FALSE;
    if (mkdirat(rfd, partial, 0700) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", tmp,
                    g_strerror(errno));
        return FALSE;
    }
    if ((tfd = vmm_fs_open_own_dir_at(rfd, partial, error)) < 0)
        return FALSE;
    /* The logs are read through this fd with O_NOFOLLOW: never a name swapped under us. */
    sfd = open(sdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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

    if (sfd >= 0 && fstatat(sfd, "overlay.qcow2", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !over_cap(b, "disk.qcow2", (guint64)st.st_blocks * 512, &budget)) {
        g_autofree char *out = g_build_filename(tmp, "disk.qcow2", NULL);
        g_autofree char *sum = NULL;
        g_autoptr(GPtrArray) chain = NULL;
        guint64 size = 0;
        vmm_auto_fd int ofd = vmm_fs_open_regular_at(sfd, "overlay.qcow2", error);
        int fd;
        if (ofd < 0)
            goto fail;
        if (!base) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "the image of '%s' is gone: its disk cannot be read", name);
            goto fail;
        }
        if (!(chain = vmm_snapshot_overlay_chain(ctx->state_dir, name, base, error)) ||
            !vmm_image_export_overlay(ofd, chain, base, out, error))
            goto fail;
        /* Hash and freeze the file written here, on its fd. */
        fd = vmm_fs_open_regular_at(tfd, "disk.qcow2", error);
        if (fd < 0)
            goto fail;
        sum = vmm_fs_sha256_fd(fd, &size, error);
        if (!sum || fchmod(fd, 0400) != 0) {
            if (sum)
                g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot chmod %s: %s", out,
                            g_strerror(errno));
            close(fd);
            goto fail;
        }
        close(fd);
        if (size > budget) {
            /* The export came out bigger than the overlay's blocks said: still capped. */
            unlinkat(tfd, "disk.qcow2", 0);
            over_cap(b, "disk.qcow2", size, &budget);
        } else {
            budget -= size;
            add_file(b, "disk.qcow2", sum, size);
        }
    }
    /* The audit log lives where only root writes, not in the sandbox's directory. */
    efd = vmm_fs_open_own_dir(events_dir, NULL);
    for (size_t i = 0; sfd >= 0 && i < G_N_ELEMENTS(logs); i++) {
        g_autofree char *sum = NULL;
        g_autoptr(GError) local = NULL;
        guint64 size = 0;
        gboolean audit = g_str_equal(logs[i], "events.jsonl");
        if (audit && efd < 0)
            continue;
        if (fstatat(audit ? efd : sfd, audit ? events_name : logs[i], &st, AT_SYMLINK_NOFOLLOW) ==
                0 &&
            S_ISREG(st.st_mode) && over_cap(b, logs[i], (guint64)st.st_size, &budget))
            continue;
        if (vmm_fs_copy_at(audit ? efd : sfd, audit ? events_name : logs[i], tfd, logs[i], 0400,
                           &sum, &size, &local)) {
            add_file(b, logs[i], sum, size);
            budget -= MIN(size, budget);
        } else if (local->code == VMM_ERROR_INVALID) {
            /* A symlink or a device where a log belongs: evidence of tampering, not a file. */
            json_builder_set_member_name(b, logs[i]);
            json_builder_begin_object(b);
            add_md(b, "skipped", "not a regular file (a symlink?): not followed");
            json_builder_end_object(b);
        } else if (local->code != VMM_ERROR_NOT_FOUND) {
            g_propagate_error(error, g_steal_pointer(&local));
            goto fail;
        }
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    json_generator_set_root(gen, node);
    json_generator_set_pretty(gen, TRUE);
    manifest = json_generator_to_data(gen, NULL);
    if (!vmm_fs_write_at(tfd, "manifest.json", manifest, -1, 0400, error))
        goto fail;
    if (renameat(rfd, partial, rfd, id) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot rename %s: %s", tmp,
                    g_strerror(errno));
        goto fail;
    }
    if (id_out)
        *id_out = g_steal_pointer(&id);
    return vmm_archive_prune_default(ctx->state_dir, error);

fail:
    vmm_fs_remove_at(rfd, partial, NULL);
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

    if (!json_parser_load_from_file(p, path, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
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
    GPtrArray *out = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(GDir) d = g_dir_open(root, 0, &local);
    const char *ent;

    if (!d && !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        /* Nothing listed must mean no archives, never "could not look". */
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot list the archives: %s%s",
                    local->message,
                    g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_ACCES)
                        ? " (the archives are root's: run this as root)"
                        : "");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_archive_info_free);

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
    return vmm_fs_remove_tree(dir, error);
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
        gboolean too_old =
            max_age_s > 0 && when && g_date_time_difference(now, when) / G_USEC_PER_SEC > max_age_s;
        if ((too_many || too_old) && !vmm_archive_remove(state_dir, a->id, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
vmm_archive_prune_default(const char *state_dir, GError **error)
{
    const VmmConfig *c = vmm_config_get();

    return vmm_archive_prune(state_dir, c->archive_keep, c->archive_max_age_s, error);
}

JsonNode *
vmm_archive_info_to_json(const VmmArchiveInfo *a)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, a->id);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, a->name);
    json_builder_set_member_name(b, "archived");
    json_builder_add_string_value(b, a->archived);
    json_builder_set_member_name(b, "bytes");
    json_builder_add_int_value(b, (gint64)a->bytes);
    json_builder_set_member_name(b, "dir");
    json_builder_add_string_value(b, a->dir);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}
