/* snapshot.c: clean snapshot, reset and named snapshots (saved memory + frozen disk layers). */
#include <config.h>

#include "snapshot.h"
#include "agent.h"
#include "autoptr.h"
#include "error.h"
#include "fixup.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "network.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AGENT_AFTER_RESTORE_MS 30000
#define DROP_CACHES_MS 60000
void
vmm_snapshot_info_free(VmmSnapshotInfo *info)
{
    if (!info)
        return;
    g_free(info->tag);
    g_free(info->created);
    g_free(info->parent);
    g_free(info);
}

static char *
sandbox_path(const char *state_dir, const char *name, const char *file)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);

    return g_build_filename(dir, file, NULL);
}

static char *
snap_path(const char *state_dir, const char *name, const char *tag, const char *file)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);

    return g_build_filename(dir, "snapshots", tag, file, NULL);
}

gboolean
vmm_snapshot_exists(const char *state_dir, const char *name, const char *tag)
{
    g_autofree char *mem = snap_path(state_dir, name, tag, "memory.save");
    g_autofree char *info = snap_path(state_dir, name, tag, "info.json");

    return g_file_test(mem, G_FILE_TEST_EXISTS) && g_file_test(info, G_FILE_TEST_EXISTS);
}

/* The tag whose disk the live overlay is backed by ("head"), or NULL. Caller frees. */
static char *
head_read(const char *state_dir, const char *name)
{
    g_autofree char *path = sandbox_path(state_dir, name, "head");
    char *tag = NULL;

    if (!g_file_get_contents(path, &tag, NULL, NULL))
        return NULL;
    g_strstrip(tag);
    return tag;
}

static gboolean
head_write(const char *state_dir, const char *name, const char *tag, GError **error)
{
    g_autofree char *path = sandbox_path(state_dir, name, "head");

    return g_file_set_contents_full(path, tag, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

/*
 * The saved XML lists the disk's backing chain as it was at save time; the
 * layers under the overlay have changed since, so let libvirt read the chain
 * from the qcow2 headers (formats recorded there explicitly) instead.
 */
static char *
restore_xml(virConnectPtr conn, const char *memory, GError **error)
{
    g_autofree char *xml = virDomainSaveImageGetXMLDesc(conn, memory, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) obj = NULL;
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    if (!xml) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read the saved state %s", memory);
        return NULL;
    }
    doc = xmlReadMemory(xml, strlen(xml), "saved.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (!doc) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "saved state %s has unreadable XML", memory);
        return NULL;
    }
    ctx = xmlXPathNewContext(doc);
    obj = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk/backingStore", ctx);
    for (int i = 0; obj && obj->nodesetval && i < obj->nodesetval->nodeNr; i++) {
        xmlNodePtr n = obj->nodesetval->nodeTab[i];
        xmlUnlinkNode(n);
        xmlFreeNode(n);
    }
    xmlDocDumpMemory(doc, &mem, &len);
    out = g_strndup((const char *)mem, len);
    xmlFree(mem);
    return out;
}

static gboolean
write_info(const char *path, const char *tag, const char *parent, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "tag");
    json_builder_add_string_value(b, tag);
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, created);
    json_builder_set_member_name(b, "parent");
    if (parent)
        json_builder_add_string_value(b, parent);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

static VmmSnapshotInfo *
read_info(const char *state_dir, const char *name, const char *tag)
{
    g_autofree char *path = snap_path(state_dir, name, tag, "info.json");
    g_autofree char *mem = snap_path(state_dir, name, tag, "memory.save");
    g_autofree char *disk = snap_path(state_dir, name, tag, "disk.qcow2");
    g_autoptr(JsonParser) parser = json_parser_new();
    VmmSnapshotInfo *info;
    JsonObject *o;
    struct stat st;

    if (!json_parser_load_from_file(parser, path, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        return NULL;
    o = json_node_get_object(json_parser_get_root(parser));
    info = g_new0(VmmSnapshotInfo, 1);
    info->tag = g_strdup(tag);
    info->created = g_strdup(json_object_get_string_member_with_default(o, "created", ""));
    if (json_object_has_member(o, "parent") && !json_object_get_null_member(o, "parent"))
        info->parent = g_strdup(json_object_get_string_member(o, "parent"));
    if (stat(mem, &st) == 0)
        info->memory_bytes = st.st_blocks * 512;
    if (stat(disk, &st) == 0)
        info->disk_bytes = st.st_blocks * 512;
    return info;
}

static void sweep_layers(const char *state_dir, const char *name);

/*
 * Restores @memory (with @xml) and leaves the guest running, its agent
 * answering, its clock and RNG fixed. Restored paused first, so the
 * helper's request is in before the guest runs (fixup.h). @t (may be NULL)
 * gets the restore, agent and fixup times and the fix's path.
 */
static gboolean
restore_and_fix(virConnectPtr conn, virDomainPtr dom, const char *memory, const char *xml,
                VmmResetTimings *t, GError **error)
{
    g_autoptr(VmmFixup) fx = NULL;
    gint64 a = g_get_monotonic_time(), b, c;
    const char *via = NULL;

    if (virDomainRestoreFlags(conn, memory, xml, VIR_DOMAIN_SAVE_PAUSED) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot restore %s", memory);
    fx = vmm_fixup_send(dom);
    if (virDomainResume(dom) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "restored, but cannot resume");
    b = g_get_monotonic_time();
    if (!vmm_agent_wait(dom, AGENT_AFTER_RESTORE_MS, error))
        return FALSE;
    c = g_get_monotonic_time();
    if (!vmm_fixup_finish(dom, fx, &via, error))
        return FALSE;
    if (t) {
        t->restore = (b - a) / 1e6;
        t->agent = (c - b) / 1e6;
        t->fixup = (g_get_monotonic_time() - c) / 1e6;
        t->fixup_via = via;
    }
    return TRUE;
}

gboolean
vmm_snapshot_take(VmmContext *ctx, const char *name, const char *tag, gboolean drop_caches,
                  GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *snaps = g_build_filename(sdir, "snapshots", NULL);
    g_autofree char *dir = g_build_filename(snaps, tag, NULL);
    g_autofree char *memory = g_build_filename(dir, "memory.save", NULL);
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *info = g_build_filename(dir, "info.json", NULL);
    g_autofree char *xml_path = g_build_filename(dir, "domain.xml", NULL);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *parent = head_read(ctx->state_dir, name);
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GError) err = NULL;

    if (!vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "sandbox '%s' already has a snapshot '%s' (airlock snapshots %s lists them)",
                    name, tag, name);
        return FALSE;
    }
    if (virDomainIsActive(dom) != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "sandbox '%s' is not running (airlock reset %s starts it)", name, name);
        return FALSE;
    }
    if (drop_caches) {
        /* Best effort: a smaller saved image restores faster; failure only costs time. */
        /* Drop the page cache; qemu saves a zero page as a few bytes. Free memory is zero
         * already under init_on_free=1 (VMM_KERNEL_ARGS: 512 MiB saves as 102 MB); older
         * sandboxes fill it with zeros once instead (226 -> 115 MB). */
        const char *argv[] = {
            "/bin/sh", "-c",
            "sync; echo 3 > /proc/sys/vm/drop_caches;"
            " grep -qw init_on_free=1 /proc/cmdline || exec perl -e \"$1\"",
            "sh",
            "open(my $m, '<', '/proc/meminfo') or exit 0;"
            "my ($a) = map { /MemAvailable:\\s+(\\d+)/ ? $1 : () } <$m>;"
            "my $n = ($a - 32768) * 1024; my $x = \"\\0\" x $n if $n > 0;",
            NULL};
        int code;
        g_autoptr(GError) ignored = NULL;
        if (!vmm_agent_run(dom, argv, DROP_CACHES_MS, &code, NULL, NULL, &ignored))
            g_debug("drop_caches failed: %s", ignored->message);
        else if (code != 0)
            g_debug("drop_caches/zeroing exited %d", code);
    }
    /* Every revert asks the helper for the clock and RNG fix: it must be in the saved state. */
    if (!vmm_fixup_prepare(dom, error))
        return FALSE;
    if (!vmm_sandbox_mkdir_private(ctx->conn, snaps, error) ||
        !vmm_sandbox_mkdir_private(ctx->conn, dir, error))
        return FALSE;
    if (virDomainSaveFlags(dom, memory, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot save the state of '%s'", name);
        vmm_sandbox_remove_tree(dir, NULL);
        return FALSE;
    }
    /* The domain is stopped now: freeze its disk as this snapshot's layer. */
    if (rename(overlay, disk) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot move %s: %s", overlay,
                    g_strerror(errno));
        return FALSE;
    }
    chmod(disk, 0400);
    vmm_journal_crash_point("snapshot-save"); /* stopped, state saved, no overlay */
    if (!vmm_image_create_overlay(disk, overlay, 0, error) ||
        !(xml = restore_xml(ctx->conn, memory, error)) ||
        !g_file_set_contents_full(xml_path, xml, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error) ||
        !write_info(info, tag, parent, error) || !head_write(ctx->state_dir, name, tag, error))
        return FALSE;
    if (!restore_and_fix(ctx->conn, dom, memory, xml, NULL, &err)) {
        g_set_error(error, VMM_ERROR, err->code,
                    "snapshot '%s' taken but '%s' did not resume (airlock reset %s --to %s): %s",
                    tag, name, name, tag, err->message);
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_snapshot_revert(VmmContext *ctx, const char *name, const char *tag, VmmResetTimings *t,
                    GError **error)
{
    g_autofree char *overlay = sandbox_path(ctx->state_dir, name, "overlay.qcow2");
    g_autofree char *memory = snap_path(ctx->state_dir, name, tag, "memory.save");
    g_autofree char *disk = snap_path(ctx->state_dir, name, tag, "disk.qcow2");
    g_autofree char *xml_path = snap_path(ctx->state_dir, name, tag, "domain.xml");
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    VmmResetTimings local = {0};
    gint64 start = g_get_monotonic_time(), mark = start;

#define LAP(field)                                                                                 \
    do {                                                                                           \
        gint64 now_ = g_get_monotonic_time();                                                      \
        t->field = (now_ - mark) / 1e6;                                                            \
        mark = now_;                                                                               \
    } while (0)

    if (!t)
        t = &local;
    if (!vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if (!vmm_snapshot_exists(ctx->state_dir, name, tag)) {
        if (strcmp(tag, VMM_SNAPSHOT_CLEAN) == 0)
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' has no clean state: it was created with --no-snapshot "
                        "(destroy and create it again without that option)",
                        name);
        else
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' has no snapshot '%s' (airlock snapshots %s lists them)",
                        name, tag, name);
        return FALSE;
    }
    if (!g_file_get_contents(xml_path, &xml, NULL, error))
        return FALSE;
    {
        /* The layers sit on the base image by path: a rebuilt image would corrupt them. */
        g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(dom, error);
        g_autoptr(VmmImage) image = md ? vmm_image_load(ctx->state_dir, md->image, error) : NULL;
        if (!image)
            return FALSE;
        if (g_strcmp0(image->digest, md->image_digest) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "image '%s' changed since sandbox '%s' was created (%.19s… now, %.19s… "
                        "then): its snapshots cannot be used (destroy and create it again)",
                        md->image, name, image->digest, md->image_digest);
            return FALSE;
        }
        /* Never let the guest run unfenced, e.g. after a host reboot dropped the tables. */
        if (!vmm_network_ensure_firewall(ctx->conn, ctx->state_dir, md, error))
            return FALSE;
    }
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop '%s'", name);
    LAP(stop);
    if (unlink(overlay) != 0 && errno != ENOENT) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot remove %s: %s", overlay,
                    g_strerror(errno));
        return FALSE;
    }
    vmm_journal_crash_point("reset"); /* stopped, overlay gone */
    if (!vmm_image_create_overlay(disk, overlay, 0, error) ||
        !head_write(ctx->state_dir, name, tag, error))
        return FALSE;
    sweep_layers(ctx->state_dir, name);
    LAP(overlay);
    if (!restore_and_fix(ctx->conn, dom, memory, xml, t, error))
        return FALSE;
    t->total = (g_get_monotonic_time() - start) / 1e6;
#undef LAP
    return TRUE;
}

static gint
info_cmp(gconstpointer a, gconstpointer b)
{
    const VmmSnapshotInfo *x = *(VmmSnapshotInfo *const *)a, *y = *(VmmSnapshotInfo *const *)b;
    int c = g_strcmp0(x->created, y->created);

    return c ? c : g_strcmp0(x->tag, y->tag);
}

GPtrArray *
vmm_snapshot_list(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(state_dir, name);
    g_autofree char *snaps = g_build_filename(sdir, "snapshots", NULL);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_snapshot_info_free);
    g_autoptr(GDir) d = g_dir_open(snaps, 0, NULL);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        VmmSnapshotInfo *info;
        if (!vmm_name_validate(ent, "tag", NULL) || !vmm_snapshot_exists(state_dir, name, ent))
            continue;
        if ((info = read_info(state_dir, name, ent)))
            g_ptr_array_add(out, info);
    }
    g_ptr_array_sort(out, info_cmp);
    return out;
}

/* A layer is needed while the live overlay or another layer sits on it. */
static gboolean
layer_needed(const char *state_dir, const char *name, const char *tag)
{
    g_autofree char *head = head_read(state_dir, name);
    g_autofree char *snaps = sandbox_path(state_dir, name, "snapshots");
    g_autoptr(GDir) d = g_dir_open(snaps, 0, NULL);
    const char *ent;

    if (g_strcmp0(head, tag) == 0)
        return TRUE;
    while (d && (ent = g_dir_read_name(d))) {
        for (int k = 0; k < 2; k++) {
            g_autofree char *path = snap_path(state_dir, name, ent, k ? "layer.json" : "info.json");
            g_autoptr(JsonParser) p = json_parser_new();
            JsonObject *o;
            if (!json_parser_load_from_file(p, path, NULL) ||
                !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
                continue;
            o = json_node_get_object(json_parser_get_root(p));
            if (g_strcmp0(json_object_get_string_member_with_default(o, "parent", ""), tag) == 0)
                return TRUE;
        }
    }
    return FALSE;
}

/* Removes kept layers nothing depends on any more, until none is left to remove. */
static void
sweep_layers(const char *state_dir, const char *name)
{
    g_autofree char *snaps = sandbox_path(state_dir, name, "snapshots");
    gboolean removed = TRUE;

    while (removed) {
        g_autoptr(GDir) d = g_dir_open(snaps, 0, NULL);
        const char *ent;
        removed = FALSE;
        while (d && (ent = g_dir_read_name(d))) {
            g_autofree char *kept = snap_path(state_dir, name, ent, "layer.json");
            g_autofree char *dir = snap_path(state_dir, name, ent, NULL);
            if (g_file_test(kept, G_FILE_TEST_EXISTS) && !layer_needed(state_dir, name, ent)) {
                vmm_sandbox_remove_tree(dir, NULL);
                removed = TRUE;
            }
        }
    }
}

gboolean
vmm_snapshot_delete(VmmContext *ctx, const char *name, const char *tag, GError **error)
{
    g_autofree char *memory = snap_path(ctx->state_dir, name, tag, "memory.save");
    g_autofree char *xml = snap_path(ctx->state_dir, name, tag, "domain.xml");
    g_autofree char *dir = snap_path(ctx->state_dir, name, tag, NULL);
    g_autoptr(virDomain) dom = NULL;

    if (!vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if (!vmm_snapshot_exists(ctx->state_dir, name, tag)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' has no snapshot '%s' (airlock snapshots %s lists them)", name,
                    tag, name);
        return FALSE;
    }
    unlink(memory);
    unlink(xml);
    /* Keep info.json (renamed) while the disk layer is still needed, for its parent link. */
    if (!layer_needed(ctx->state_dir, name, tag)) {
        vmm_sandbox_remove_tree(dir, NULL);
    } else {
        g_autofree char *info = snap_path(ctx->state_dir, name, tag, "info.json");
        g_autofree char *kept = snap_path(ctx->state_dir, name, tag, "layer.json");
        rename(info, kept);
    }
    sweep_layers(ctx->state_dir, name);
    return TRUE;
}
