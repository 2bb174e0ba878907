/* snapshot.c: clean snapshot, reset and named snapshots (saved memory + frozen disk layers). */
#include <config.h>

#include "snapshot.h"
#include "agent.h"
#include "autoptr.h"
#include "error.h"
#include "fixup.h"
#include "fsutil.h"
#include "host.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "network.h"
#include "pause.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libvirt/virterror.h>
#include <stdio.h>
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

#define SMALL_FILE_MAX (64 * 1024)
#define XML_FILE_MAX (1024 * 1024)
#define CHAIN_MAX 64

/*
 * Everything root reads back (head, info.json, domain.xml, memory.save)
 * lives in directories only root can write: sandboxes/NAME and its
 * snapshots/TAG are root's, 0710 with qemu's group (sandbox.h). Each is
 * opened without following a link and its owner checked before a name in it
 * is used; a directory that belongs to the qemu user (an older airlock made
 * it so) is refused.
 */
int
vmm_sandbox_open_dir(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(state_dir, name);
    int fd;

    if (!vmm_fs_check_state_dir(state_dir, error))
        return -1;
    fd = vmm_fs_open_own_dir(sdir, error);
    if (fd < 0)
        g_prefix_error(error, "sandbox '%s': ", name);
    return fd;
}

/* snapshots/@tag in the sandbox directory @sfd (NOT_FOUND when missing). Caller closes. */
static int
open_tag_dir(int sfd, const char *tag, GError **error)
{
    int snaps = vmm_fs_open_own_dir_at(sfd, "snapshots", error);
    int fd;

    if (snaps < 0)
        return -1;
    fd = vmm_fs_open_own_dir_at(snaps, tag, error);
    close(snaps);
    return fd;
}

static gboolean
regular_at(int dirfd, const char *file, struct stat *st)
{
    struct stat local;

    if (!st)
        st = &local;
    return fstatat(dirfd, file, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode);
}

static gboolean
exists_at(int sfd, const char *tag)
{
    int fd = open_tag_dir(sfd, tag, NULL);
    gboolean ok =
        fd >= 0 && regular_at(fd, "memory.save", NULL) && regular_at(fd, "info.json", NULL);

    if (fd >= 0)
        close(fd);
    return ok;
}

gboolean
vmm_snapshot_exists(const char *state_dir, const char *name, const char *tag)
{
    int sfd = vmm_sandbox_open_dir(state_dir, name, NULL);
    gboolean ok = sfd >= 0 && exists_at(sfd, tag);

    if (sfd >= 0)
        close(sfd);
    return ok;
}

/* The tag whose disk the live overlay is backed by ("head"), or NULL. Caller frees. */
static char *
head_read(int sfd)
{
    g_autofree char *tag = vmm_fs_read_at(sfd, "head", SMALL_FILE_MAX, NULL, NULL);

    if (!tag)
        return NULL;
    g_strstrip(tag);
    return vmm_name_validate(tag, "tag", NULL) ? g_steal_pointer(&tag) : NULL;
}

static gboolean
head_write(int sfd, const char *tag, GError **error)
{
    return vmm_fs_write_at(sfd, "head", tag, -1, 0600, error);
}

/* The "parent" a layer's info.json (or layer.json, once deleted) records, or NULL. */
static char *
layer_parent(int sfd, const char *tag, gboolean *found)
{
    int fd = open_tag_dir(sfd, tag, NULL);
    char *parent = NULL;

    *found = FALSE;
    for (int k = 0; fd >= 0 && k < 2 && !*found; k++) {
        g_autofree char *text =
            vmm_fs_read_at(fd, k ? "layer.json" : "info.json", SMALL_FILE_MAX, NULL, NULL);
        g_autoptr(JsonParser) p = json_parser_new();
        const char *v;

        if (!text || !json_parser_load_from_data(p, text, -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
            continue;
        *found = TRUE;
        v = json_object_get_string_member_with_default(
            json_node_get_object(json_parser_get_root(p)), "parent", NULL);
        if (v && vmm_name_validate(v, "tag", NULL))
            parent = g_strdup(v);
    }
    if (fd >= 0)
        close(fd);
    return parent;
}

/*
 * The disks under a new overlay over @tag, top first: @tag's layer, its
 * parents' layers, the image's disk @base. Read from the parent links root
 * keeps, never from the qcow2 headers (the qemu user can write those).
 */
static GPtrArray *
backing_chain(int sfd, const char *state_dir, const char *name, const char *tag, const char *base,
              GError **error)
{
    g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *sdir = vmm_path_sandbox_dir(state_dir, name);
    g_autofree char *t = g_strdup(tag);

    while (t) {
        gboolean found;
        char *parent = layer_parent(sfd, t, &found);

        if (!found || chain->len >= CHAIN_MAX) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "sandbox '%s': the layers under snapshot '%s' are incomplete (destroy and "
                        "create it again)",
                        name, tag);
            g_free(parent);
            return NULL;
        }
        g_ptr_array_add(chain, g_build_filename(sdir, "snapshots", t, "disk.qcow2", NULL));
        g_free(t);
        t = parent;
    }
    g_ptr_array_add(chain, g_strdup(base));
    return g_steal_pointer(&chain);
}

GPtrArray *
vmm_snapshot_overlay_chain(const char *state_dir, const char *name, const char *base,
                           GError **error)
{
    vmm_auto_fd int sfd = vmm_sandbox_open_dir(state_dir, name, error);
    g_autofree char *head = NULL;
    GPtrArray *chain;

    if (sfd < 0)
        return NULL;
    head = head_read(sfd);
    if (head)
        return backing_chain(sfd, state_dir, name, head, base, error);
    chain = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(chain, g_strdup(base));
    return chain;
}

/* The image disk the clean layer sits on, from the domain's metadata. Caller frees. */
static char *
base_disk(VmmContext *ctx, virDomainPtr dom, GError **error)
{
    g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(dom, error);
    g_autoptr(VmmImage) image = md ? vmm_image_load(ctx->state_dir, md->image, error) : NULL;

    return image ? vmm_image_file(image, "disk.qcow2") : NULL;
}

char *
vmm_snapshot_restore_xml(const char *saved_xml, const char *overlay, const char *const *chain,
                         GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) stores = NULL;
    g_autoptr(xmlXPathObject) disks = NULL;
    xmlNodePtr disk = NULL, at;
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    doc = xmlReadMemory(saved_xml, strlen(saved_xml), "saved.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "the saved domain XML is unreadable");
        return NULL;
    }
    ctx = xmlXPathNewContext(doc);
    /* The chain recorded at save time is stale: the layers under the overlay change. */
    stores = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk/backingStore", ctx);
    {
        /* Freed only once the node set that points at them is gone (it reads their type). */
        g_autoptr(GPtrArray) gone = g_ptr_array_new();
        for (int i = 0; stores && stores->nodesetval && i < stores->nodesetval->nodeNr; i++)
            g_ptr_array_add(gone, stores->nodesetval->nodeTab[i]);
        g_clear_pointer(&stores, xmlXPathFreeObject);
        for (guint i = 0; i < gone->len; i++) {
            xmlUnlinkNode(gone->pdata[i]);
            xmlFreeNode(gone->pdata[i]);
        }
    }
    disks = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk[@device='disk']", ctx);
    for (int i = 0; disks && disks->nodesetval && i < disks->nodesetval->nodeNr; i++) {
        xmlNodePtr d = disks->nodesetval->nodeTab[i];
        for (xmlNodePtr c = d->children; c; c = c->next) {
            xmlChar *file = c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "source")
                                ? xmlGetProp(c, BAD_CAST "file")
                                : NULL;
            if (file && strcmp((const char *)file, overlay) == 0)
                disk = d;
            xmlFree(file);
        }
    }
    if (!disk) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "the saved domain XML has no disk on %s",
                    overlay);
        return NULL;
    }
    /* Every layer named with its format; the empty element ends the chain: nothing probed. */
    at = disk;
    for (const char *const *p = chain; p && *p; p++) {
        xmlNodePtr store = xmlNewChild(at, NULL, BAD_CAST "backingStore", NULL);
        xmlNodePtr fmt = xmlNewChild(store, NULL, BAD_CAST "format", NULL);
        xmlNodePtr src = xmlNewChild(store, NULL, BAD_CAST "source", NULL);

        xmlNewProp(store, BAD_CAST "type", BAD_CAST "file");
        xmlNewProp(fmt, BAD_CAST "type", BAD_CAST "qcow2");
        xmlNewProp(src, BAD_CAST "file", BAD_CAST * p);
        at = store;
    }
    xmlNewChild(at, NULL, BAD_CAST "backingStore", NULL);
    xmlDocDumpMemory(doc, &mem, &len);
    out = g_strndup((const char *)mem, len);
    xmlFree(mem);
    return out;
}

/* The XML of the saved state @memory (in a root-only directory). Caller frees. */
static char *
saved_xml(virConnectPtr conn, const char *memory, GError **error)
{
    char *xml = virDomainSaveImageGetXMLDesc(conn, memory, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);

    if (!xml)
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read the saved state %s", memory);
    return xml;
}

static gboolean
write_info(int dirfd, const char *tag, const char *parent, GError **error)
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
    return vmm_fs_write_at(dirfd, "info.json", text, -1, 0600, error);
}

static VmmSnapshotInfo *
read_info(int sfd, const char *tag)
{
    int fd = open_tag_dir(sfd, tag, NULL);
    g_autofree char *text =
        fd >= 0 ? vmm_fs_read_at(fd, "info.json", SMALL_FILE_MAX, NULL, NULL) : NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    VmmSnapshotInfo *info = NULL;
    JsonObject *o;
    struct stat st;

    if (text && json_parser_load_from_data(parser, text, -1, NULL) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        const char *parent;
        o = json_node_get_object(json_parser_get_root(parser));
        parent = json_object_get_string_member_with_default(o, "parent", NULL);
        info = g_new0(VmmSnapshotInfo, 1);
        info->tag = g_strdup(tag);
        info->created = g_strdup(json_object_get_string_member_with_default(o, "created", ""));
        if (parent && vmm_name_validate(parent, "tag", NULL))
            info->parent = g_strdup(parent);
        if (regular_at(fd, "memory.save", &st))
            info->memory_bytes = st.st_blocks * 512;
        if (regular_at(fd, "disk.qcow2", &st))
            info->disk_bytes = st.st_blocks * 512;
    }
    if (fd >= 0)
        close(fd);
    return info;
}

static void sweep_layers(int sfd);

gboolean
vmm_snapshot_restore_fixed(VmmContext *ctx, virDomainPtr dom, const VmmMetadata *md,
                           const char *memory, const char *xml, VmmResetTimings *t, GError **error)
{
    g_autoptr(VmmFixup) fx = NULL;
    gint64 a = g_get_monotonic_time(), b, c;
    const char *via = NULL;

    if (virDomainRestoreFlags(ctx->conn, memory, xml, VIR_DOMAIN_SAVE_PAUSED) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot restore %s", memory);
    /* A new tap came with the restore: fence it before the guest runs. */
    if (!vmm_network_guard(ctx->conn, ctx->state_dir, md, error)) {
        virDomainDestroy(dom);
        return FALSE;
    }
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

/* Makes @file in the directory @dirfd read-only, on its fd: never through a link. */
static gboolean
freeze_at(int dirfd, const char *file, GError **error)
{
    vmm_auto_fd int fd = vmm_fs_open_regular_at(dirfd, file, error);

    if (fd < 0 || fchmod(fd, 0400) != 0) {
        if (fd >= 0)
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot freeze %s: %s", file,
                        g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The restore XML for @tag: the saved domain's, with the whole backing chain written out. */
static char *
xml_for(VmmContext *ctx, virDomainPtr dom, int sfd, const char *name, const char *tag,
        const char *memory, GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *base = base_disk(ctx, dom, error);
    g_autofree char *saved = base ? saved_xml(ctx->conn, memory, error) : NULL;
    g_autoptr(GPtrArray) chain =
        saved ? backing_chain(sfd, ctx->state_dir, name, tag, base, error) : NULL;

    if (!chain)
        return NULL;
    g_ptr_array_add(chain, NULL);
    return vmm_snapshot_restore_xml(saved, overlay, (const char *const *)chain->pdata, error);
}

gboolean
vmm_snapshot_take_locked(VmmContext *ctx, const char *name, const char *tag, gboolean drop_caches,
                         GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *snaps = g_build_filename(sdir, "snapshots", NULL);
    g_autofree char *dir = g_build_filename(snaps, tag, NULL);
    g_autofree char *memory = g_build_filename(dir, "memory.save", NULL);
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *parent = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(GError) err = NULL;
    vmm_auto_fd int sfd = -1;
    vmm_auto_fd int tfd = -1;
    struct stat st;

    if (!vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if ((sfd = vmm_sandbox_open_dir(ctx->state_dir, name, error)) < 0)
        return FALSE;
    parent = head_read(sfd);
    if (fstatat(sfd, "snapshots", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        vmm_auto_fd int snaps_fd = vmm_fs_open_own_dir_at(sfd, "snapshots", error);
        if (snaps_fd < 0)
            return FALSE;
        if (fstatat(snaps_fd, tag, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                        "sandbox '%s' already has a snapshot '%s' (airlock snapshots %s lists "
                        "them)",
                        name, tag, name);
            return FALSE;
        }
    }
    if (vmm_pause_is_paused(ctx->state_dir, name, dom)) {
        vmm_pause_refuse(error, name, "snapshot");
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
        const char *argv[] = {"/bin/sh",
                              "-c",
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
        !vmm_sandbox_mkdir_private(ctx->conn, dir, error) ||
        (tfd = open_tag_dir(sfd, tag, error)) < 0)
        return FALSE;
    if (virDomainSaveFlags(dom, memory, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot save the state of '%s'", name);
        vmm_fs_remove_tree(dir, NULL);
        return FALSE;
    }
    /* The domain is stopped now: freeze its disk as this snapshot's layer. */
    if (renameat(sfd, "overlay.qcow2", tfd, "disk.qcow2") != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot move %s: %s", overlay,
                    g_strerror(errno));
        return FALSE;
    }
    vmm_journal_crash_point("snapshot-save"); /* stopped, state saved, no overlay */
    /* domain.xml is a record: a revert builds its XML from the saved state and the links. */
    if (!freeze_at(tfd, "disk.qcow2", error) ||
        !vmm_image_create_overlay(disk, overlay, 0, error) ||
        !write_info(tfd, tag, parent, error) ||
        !(xml = xml_for(ctx, dom, sfd, name, tag, memory, error)) ||
        !vmm_fs_write_at(tfd, "domain.xml", xml, -1, 0600, error) || !head_write(sfd, tag, error))
        return FALSE;
    if (!(md = vmm_sandbox_metadata(dom, &err)) ||
        !vmm_snapshot_restore_fixed(ctx, dom, md, memory, xml, NULL, &err)) {
        g_set_error(error, VMM_ERROR, err->code,
                    "snapshot '%s' taken but '%s' did not resume (airlock reset %s --to %s): %s",
                    tag, name, name, tag, err->message);
        return FALSE;
    }
    return TRUE;
}

static gboolean
revert_locked(VmmContext *ctx, const char *name, const char *tag, VmmResetTimings *t,
              GError **error)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *overlay = g_build_filename(sdir, "overlay.qcow2", NULL);
    g_autofree char *memory = g_build_filename(sdir, "snapshots", tag, "memory.save", NULL);
    g_autofree char *disk = g_build_filename(sdir, "snapshots", tag, "disk.qcow2", NULL);
    g_autofree char *xml = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    VmmResetTimings local = {0};
    gint64 start = g_get_monotonic_time(), mark = start;
    vmm_auto_fd int sfd = -1;

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
    if ((sfd = vmm_sandbox_open_dir(ctx->state_dir, name, error)) < 0)
        return FALSE;
    if (!exists_at(sfd, tag)) {
        if (strcmp(tag, VMM_SNAPSHOT_CLEAN) == 0 && !vmm_host_for(ctx->conn)->has_guests)
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' has no clean state: this libvirt driver runs no guest, so "
                        "none was captured (reset needs a qemu:// connection)",
                        name);
        else if (strcmp(tag, VMM_SNAPSHOT_CLEAN) == 0)
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' has no clean state: it was created with --no-snapshot, or "
                        "%s/snapshots/%s was removed (destroy and create it again)",
                        name, sdir, VMM_SNAPSHOT_CLEAN);
        else
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' has no snapshot '%s' (airlock snapshots %s lists them)", name,
                        tag, name);
        return FALSE;
    }
    /* Read once: the image check below and the fencing after the restore both need it. */
    if (!(md = vmm_sandbox_metadata(dom, error)))
        return FALSE;
    {
        /* The layers sit on the base image by path: a rebuilt image would corrupt them. */
        g_autoptr(VmmImage) image = vmm_image_load(ctx->state_dir, md->image, error);
        if (!image)
            return FALSE;
        if (g_strcmp0(image->digest, md->image_digest) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                        "image '%s' changed since sandbox '%s' was created (%.19s… now, %.19s… "
                        "then): its snapshots cannot be used (destroy and create it again)",
                        md->image, name, image->digest, md->image_digest);
            return FALSE;
        }
    }
    if (!(xml = xml_for(ctx, dom, sfd, name, tag, memory, error)))
        return FALSE;
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop '%s'", name);
    LAP(stop);
    /* A paused state belongs to the overlay about to go: drop it first, never after. */
    if (!vmm_fs_remove_at(sfd, VMM_PAUSE_DIR, error))
        return FALSE;
    if (unlinkat(sfd, "overlay.qcow2", 0) != 0 && errno != ENOENT) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot remove %s: %s", overlay,
                    g_strerror(errno));
        return FALSE;
    }
    vmm_journal_crash_point("reset"); /* stopped, overlay gone */
    if (!vmm_image_create_overlay(disk, overlay, 0, error) || !head_write(sfd, tag, error))
        return FALSE;
    sweep_layers(sfd);
    LAP(overlay);
    if (!vmm_snapshot_restore_fixed(ctx, dom, md, memory, xml, t, error))
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

/* The valid tag names under snapshots/ (hidden layers included). Caller frees. */
static GPtrArray *
tags_at(int sfd)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    int fd = vmm_fs_open_own_dir_at(sfd, "snapshots", NULL);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *ent;

    if (!d && fd >= 0)
        close(fd);
    while (d && (ent = readdir(d)))
        if (vmm_name_validate(ent->d_name, "tag", NULL))
            g_ptr_array_add(out, g_strdup(ent->d_name));
    if (d)
        closedir(d);
    return out;
}

GPtrArray *
vmm_snapshot_list(const char *state_dir, const char *name, GError **error)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_snapshot_info_free);
    g_autoptr(GPtrArray) tags = NULL;
    vmm_auto_fd int sfd = vmm_sandbox_open_dir(state_dir, name, NULL);

    if (sfd < 0)
        return out;
    tags = tags_at(sfd);
    for (guint i = 0; i < tags->len; i++) {
        const char *tag = g_ptr_array_index(tags, i);
        VmmSnapshotInfo *info;
        if (exists_at(sfd, tag) && (info = read_info(sfd, tag)))
            g_ptr_array_add(out, info);
    }
    g_ptr_array_sort(out, info_cmp);
    return out;
}

/* A layer is needed while the live overlay or another layer sits on it. */
static gboolean
layer_needed(int sfd, const char *tag)
{
    g_autofree char *head = head_read(sfd);
    g_autoptr(GPtrArray) tags = NULL;

    if (g_strcmp0(head, tag) == 0)
        return TRUE;
    tags = tags_at(sfd);
    for (guint i = 0; i < tags->len; i++) {
        gboolean found;
        g_autofree char *parent = layer_parent(sfd, g_ptr_array_index(tags, i), &found);
        if (g_strcmp0(parent, tag) == 0)
            return TRUE;
    }
    return FALSE;
}

/* Removes kept layers nothing depends on any more, until none is left to remove. */
static void
sweep_layers(int sfd)
{
    gboolean removed = TRUE;

    while (removed) {
        g_autoptr(GPtrArray) tags = tags_at(sfd);
        vmm_auto_fd int snaps = vmm_fs_open_own_dir_at(sfd, "snapshots", NULL);
        removed = FALSE;
        for (guint i = 0; snaps >= 0 && i < tags->len; i++) {
            const char *tag = g_ptr_array_index(tags, i);
            vmm_auto_fd int tfd = vmm_fs_open_own_dir_at(snaps, tag, NULL);
            if (tfd >= 0 && regular_at(tfd, "layer.json", NULL) && !layer_needed(sfd, tag) &&
                vmm_fs_remove_at(snaps, tag, NULL))
                removed = TRUE;
        }
    }
}

static gboolean
delete_locked(VmmContext *ctx, const char *name, const char *tag, GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    vmm_auto_fd int sfd = -1;
    vmm_auto_fd int snaps = -1;
    vmm_auto_fd int tfd = -1;

    if (!vmm_name_validate(tag, "snapshot tag", error))
        return FALSE;
    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)))
        return FALSE;
    if ((sfd = vmm_sandbox_open_dir(ctx->state_dir, name, error)) < 0)
        return FALSE;
    if (!exists_at(sfd, tag) || (snaps = vmm_fs_open_own_dir_at(sfd, "snapshots", NULL)) < 0 ||
        (tfd = vmm_fs_open_own_dir_at(snaps, tag, NULL)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' has no snapshot '%s' (airlock snapshots %s lists them)", name,
                    tag, name);
        return FALSE;
    }
    unlinkat(tfd, "memory.save", 0);
    unlinkat(tfd, "domain.xml", 0);
    /* Keep info.json (renamed) while the disk layer is still needed, for its parent link. */
    if (!layer_needed(sfd, tag))
        vmm_fs_remove_at(snaps, tag, NULL);
    else
        renameat(tfd, "info.json", tfd, "layer.json");
    sweep_layers(sfd);
    return TRUE;
}

/* ---- the public entry points: one airlock command per sandbox at a time ---- */

gboolean
vmm_snapshot_take(VmmContext *ctx, const char *name, const char *tag, gboolean drop_caches,
                  GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    if (lock < 0)
        return FALSE;
    ok = vmm_snapshot_take_locked(ctx, name, tag, drop_caches, error);
    close(lock);
    return ok;
}

gboolean
vmm_snapshot_revert(VmmContext *ctx, const char *name, const char *tag, VmmResetTimings *t,
                    GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    /* A reset racing a destroy could bring the domain back: they exclude each other. */
    if (lock < 0)
        return FALSE;
    ok = revert_locked(ctx, name, tag, t, error);
    close(lock);
    return ok;
}

gboolean
vmm_snapshot_delete(VmmContext *ctx, const char *name, const char *tag, GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    if (lock < 0)
        return FALSE;
    ok = delete_locked(ctx, name, tag, error);
    close(lock);
    return ok;
}
