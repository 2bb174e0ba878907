/*
 * create-warm.c: a sandbox made from a pooled guest (pool.h) in about a
 * second: the slot's saved state is renamed (save-image.h) and restored as
 * the sandbox, on its own network, then handed its identity (hostname,
 * machine-id, environment, secrets) over the guest agent channel. Its clean
 * snapshot is the pool state plus that identity, so reset returns to it.
 * docs/architecture.md ("Warm create") has the measurements behind it.
 */
#include <config.h>

#include "create-private.h"
#include "agent.h"
#include "error.h"
#include "fsutil.h"
#include "guest-channel.h"
#include "journal.h"
#include "names.h"
#include "network-xml.h"
#include "save-image.h"
#include "seed.h"
#include "snapshot.h"
#include "xml.h"
#include "autoptr.h"
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_DIR "slot"   /* the claimed slot, inside the sandbox's directory (root's) */
#define POOL_LAYER "pool" /* the slot's disk: a hidden layer under the clean snapshot */
#define IDENTITY_TIMEOUT_MS 30000

/* ---- the layer ---- */

/* The slot's disk becomes the hidden layer snapshots/pool, the live overlay sits on it. */
static gboolean
warm_layer(Create *c, GError **error)
{
    g_autofree char *snaps = g_build_filename(c->dir, "snapshots", NULL);
    g_autofree char *layer_dir = g_build_filename(snaps, POOL_LAYER, NULL);
    g_autofree char *layer = g_build_filename(layer_dir, "disk.qcow2", NULL);
    vmm_auto_fd int sfd = -1;
    vmm_auto_fd int slot = -1;
    vmm_auto_fd int lfd = -1;

    if (!vmm_sandbox_mkdir_private(c->ctx->conn, snaps, error) ||
        !vmm_sandbox_mkdir_private(c->ctx->conn, layer_dir, error) ||
        (sfd = vmm_fs_open_own_dir(c->dir, error)) < 0 ||
        (slot = vmm_fs_open_own_dir_at(sfd, SLOT_DIR, error)) < 0 ||
        (lfd = vmm_fs_open_own_dir(layer_dir, error)) < 0)
        return FALSE;
    if (renameat(slot, "disk.qcow2", lfd, "disk.qcow2") != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot move the pooled disk: %s",
                    g_strerror(errno));
        return FALSE;
    }
    /* layer.json, not info.json: a layer, never a snapshot anyone can reset to. */
    return vmm_fs_write_at(lfd, "layer.json", "{\"tag\": \"" POOL_LAYER "\", \"parent\": null}\n",
                           -1, 0600, error) &&
           vmm_fs_write_at(sfd, "head", POOL_LAYER, -1, 0600, error) &&
           vmm_image_create_overlay(layer, c->overlay, 0, error);
}

/* ---- the domain ---- */

static void
set_prop(xmlXPathContextPtr ctx, const char *xpath, const char *prop, const char *value)
{
    g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST xpath, ctx);

    for (int i = 0; obj && obj->nodesetval && i < obj->nodesetval->nodeNr; i++)
        xmlSetProp(obj->nodesetval->nodeTab[i], BAD_CAST prop, BAD_CAST value);
}

/*
 * The slot's saved XML made the sandbox's: its metadata, its overlay and the
 * layers under it, its console, its network and tap. Nothing of the slot's
 * name may remain.
 */
static char *
warm_xml(Create *c, const char *saved, GError **error)
{
    g_autoptr(xmlDoc) doc =
        xmlReadMemory(saved, strlen(saved), "saved.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) meta = NULL;
    g_autofree char *tap = vmm_network_tap_name(c->name);
    g_autofree char *layer = g_build_filename(c->dir, "snapshots", POOL_LAYER, "disk.qcow2", NULL);
    g_autofree char *base = vmm_image_file(c->image, "disk.qcow2");
    g_autofree char *text = NULL;
    const char *chain[] = {layer, base, NULL};
    xmlNodePtr md_node;
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    if (!doc) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "the pooled guest's XML is unreadable");
        return NULL;
    }
    ctx = xmlXPathNewContext(doc);
    meta = xmlXPathEvalExpression(BAD_CAST "/domain/metadata", ctx);
    if (!meta || !meta->nodesetval || meta->nodesetval->nodeNr != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "the pooled guest's XML has no metadata");
        return NULL;
    }
    md_node = meta->nodesetval->nodeTab[0];
    for (xmlNodePtr n = md_node->children, next; n; n = next) {
        next = n->next;
        if (n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
            xmlStrEqual(n->ns->href, BAD_CAST VMM_METADATA_NS)) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
    }
    vmm_metadata_to_xml(c->md, md_node);
    set_prop(ctx, "/domain/devices/disk[@device='disk']/source", "file", c->overlay);
    set_prop(ctx, "/domain/devices/serial/source", "path", c->console);
    set_prop(ctx, "/domain/devices/console/source", "path", c->console);
    set_prop(ctx, "/domain/devices/interface/source", "network", c->obj);
    set_prop(ctx, "/domain/devices/interface/target", "dev", tap);
    xmlDocDumpMemory(doc, &mem, &len);
    text = g_strndup((const char *)mem, len);
    xmlFree(mem);
    out = vmm_snapshot_restore_xml(text, c->overlay, chain, error);
    if (out && strstr(out, c->slot->slot)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "the pooled guest's XML still names its slot %s", c->slot->slot);
        g_clear_pointer(&out, g_free);
    }
    return out;
}

/* The saved state renamed to the sandbox's domain and UUID, its XML made ours, defined. */
static gboolean
warm_define(Create *c, GError **error)
{
    g_autofree char *memory = g_build_filename(c->slot_dir, "memory.save", NULL);
    g_autofree char *saved = NULL;
    vmm_auto_fd int sfd = vmm_fs_open_own_dir(c->slot_dir, error);
    vmm_auto_fd int fd = -1;
    unsigned long lib = 0;
    struct stat st;

    if (sfd < 0)
        return FALSE;
    /* The header's layout is libvirt's, not an API: only versions it was checked against. */
    if (virConnectGetLibVersion(c->ctx->conn, &lib) < 0 || !vmm_save_image_libvirt_known(lib)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "libvirt %lu.%lu writes a save image format warm create was not checked "
                    "against",
                    lib / 1000000, lib / 1000 % 1000);
        return FALSE;
    }
    fd = openat(sfd, "memory.save", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "the pooled guest's state is unreadable");
        return FALSE;
    }
    if (!vmm_save_image_rename(fd, c->obj, c->uuid, error))
        return FALSE;
    if (!(saved =
              virDomainSaveImageGetXMLDesc(c->ctx->conn, memory, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)))
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "libvirt cannot read the renamed state");
    if (!(c->restore_xml = warm_xml(c, saved, error)))
        return FALSE;
    if (!(c->dom = virDomainDefineXML(c->ctx->conn, c->restore_xml)))
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot define sandbox '%s'", c->name);
    return TRUE;
}

/* Restored paused, fenced, clock and RNG fixed (fresh random bytes), running; the slot goes. */
static gboolean
warm_restore(Create *c, GError **error)
{
    g_autofree char *memory = g_build_filename(c->slot_dir, "memory.save", NULL);
    VmmResetTimings rt = {0};

    if (!vmm_snapshot_restore_fixed(c->ctx, c->dom, c->md, memory, c->restore_xml, &rt, error))
        return FALSE;
    return vmm_fs_remove_tree(c->slot_dir, error);
}

/* ---- the identity ---- */

/*
 * Read from stdin (never argv: the guest's process list and the QEMU agent's
 * log would show it): hostname, machine-id, the env file and the secrets
 * file (base64). The files land where a cold create's seed writes them, with
 * the same modes, replaced whole; printf is dash's builtin.
 */
#define IDENTITY_SH                                                                                \
    "set -e; read -r h; read -r m; read -r e; read -r s; old=$(hostname); "                        \
    "mkdir -p /run/airlock; umask 022; "                                                           \
    "printf %s \"$e\" | base64 -d > " VMM_SEED_ENV_PATH ".new; "                                   \
    "mv -f " VMM_SEED_ENV_PATH ".new " VMM_SEED_ENV_PATH "; umask 077; "                           \
    "printf %s \"$s\" | base64 -d > " VMM_SEED_SECRETS_PATH ".new; "                               \
    "mv -f " VMM_SEED_SECRETS_PATH ".new " VMM_SEED_SECRETS_PATH "; umask 022; "                   \
    "hostname \"$h\"; printf '%s\\n' \"$h\" > /etc/hostname; "                                     \
    "if [ -n \"$old\" ] && [ \"$old\" != \"$h\" ]; then "                                          \
    "sed -i \"s/\\b$old\\b/$h/g\" /etc/hosts; fi; "                                                \
    "printf '%s\\n' \"$m\" > /etc/machine-id"

/* The identity through airlock-guest's IDENTITY frame: one round trip, no process started. */
static gboolean
identity_frame(Create *c, const char *machine_id, const char *env_b64, const char *secrets_b64,
               GError **error)
{
    g_autoptr(VmmGuestConn) conn = vmm_guest_connect(c->dom, VMM_GUEST_HELLO_TIMEOUT_MS, error);
    gsize env_len = 0, secrets_len = 0;
    g_autofree guchar *env = NULL;
    guchar *secrets;
    VmmGuestIdentity id = {.hostname = c->name, .machine_id = machine_id};
    gboolean ok;

    if (!conn)
        return FALSE;
    env = g_base64_decode(env_b64, &env_len);
    secrets = g_base64_decode(secrets_b64, &secrets_len);
    id.env = env;
    id.env_len = env_len;
    id.secrets = secrets;
    id.secrets_len = secrets_len;
    ok = vmm_guest_identity(conn, &id, IDENTITY_TIMEOUT_MS, error);
    explicit_bzero(secrets, secrets_len);
    g_free(secrets);
    return ok;
}

/* The same through one agent exec (guests whose airlock-guest predates IDENTITY). */
static gboolean
identity_exec(Create *c, const char *machine_id, const char *env_b64, const char *secrets_b64,
              GError **error)
{
    const char *argv[] = {"/bin/sh", "-c", IDENTITY_SH, NULL};
    g_autofree char *out = NULL, *err = NULL;
    GString *payload = g_string_sized_new(256 + strlen(secrets_b64) + strlen(env_b64));
    g_autoptr(GBytes) input = NULL;
    gboolean ok;
    int code = -1;

    g_string_append_printf(payload, "%s\n%s\n%s\n", c->name, machine_id, env_b64);
    g_string_append(payload, secrets_b64);
    g_string_append_c(payload, '\n');
    input = g_bytes_new_with_free_func(payload->str, payload->len,
                                       (GDestroyNotify)vmm_seed_wipe_free, payload->str);
    g_string_free(payload, FALSE);
    ok = vmm_agent_run_input(c->dom, argv, input, IDENTITY_TIMEOUT_MS, &code, &out, &err, error);
    if (ok && code != 0) {
        g_autofree char *shown = vmm_escape(err ? g_strstrip(err) : "", -1, 200);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "sandbox '%s': handing the guest its identity failed (exit %d: %s)", c->name,
                    code, shown);
        return FALSE;
    }
    return ok;
}

static gboolean
warm_identity(Create *c, GError **error)
{
    g_autoptr(GPtrArray) env = vmm_create_seed_env(c);
    g_autofree char *env_b64 = vmm_seed_env_b64((const char *const *)env->pdata);
    char *secrets_b64 = vmm_seed_secrets_b64(vmm_create_seed_secrets(c));
    g_autofree char *machine_id = g_uuid_string_random();
    g_autoptr(GError) frame_err = NULL;
    gboolean ok;

    /* 32 hex digits, as systemd writes it. */
    for (char *r = machine_id, *w = machine_id;; r++) {
        if (*r != '-')
            *w++ = *r;
        if (!*r)
            break;
    }
    ok = identity_frame(c, machine_id, env_b64, secrets_b64, &frame_err);
    if (ok) {
        g_strlcpy(c->t->identity_via, "airlock-guest", sizeof(c->t->identity_via));
    } else if (frame_err->code == VMM_ERROR_NOT_FOUND) {
        /* No airlock-guest here, or one without IDENTITY: the agent does it. */
        g_debug("identity through the agent: %s", frame_err->message);
        ok = identity_exec(c, machine_id, env_b64, secrets_b64, error);
        g_strlcpy(c->t->identity_via, "exec", sizeof(c->t->identity_via));
    } else {
        g_propagate_prefixed_error(error, g_steal_pointer(&frame_err),
                                   "sandbox '%s': handing the guest its identity: ", c->name);
    }
    vmm_seed_wipe_free(secrets_b64);
    return ok;
}

#define SLOT(field) ((gssize)offsetof(VmmCreateTimings, field))

/* The warm procedure; crash points as the cold one's, where the state is alike. */
static const CreateStep warm_steps[] = {
    {"pool", "overlay", SLOT(overlay), NULL, warm_layer},
    {"network", "network", SLOT(network), vmm_create_want_network, vmm_create_step_network},
    {"gateway", NULL, SLOT(network), vmm_create_want_gateway, vmm_create_step_gateway},
    {"define", "define", SLOT(define), NULL, warm_define},
    {"restore", "boot", SLOT(restore), NULL, warm_restore},
    {"identity", "ready", SLOT(identity), NULL, warm_identity},
    {"snapshot", "snapshot", SLOT(snapshot), vmm_create_want_snapshot, vmm_create_step_snapshot},
};

gboolean
vmm_create_warm(Create *c, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(c->dir);
    g_autofree char *base = g_path_get_basename(c->dir);
    vmm_auto_fd int pfd = -1;
    vmm_auto_fd int sfd = -1;

    if (vmm_pool_unsuitable(c->spec))
        return FALSE;
    if (!vmm_create_make_dir(c, error) || (sfd = vmm_fs_open_own_dir(c->dir, error)) < 0)
        return FALSE;
    c->slot = vmm_pool_claim(c->ctx->state_dir, c->spec, c->image->digest, sfd, SLOT_DIR, error);
    if (!c->slot) {
        /* Nothing was taken: the empty directory goes, the cold create makes its own. */
        if ((pfd = vmm_fs_open_own_dir(parent, NULL)) >= 0)
            unlinkat(pfd, base, AT_REMOVEDIR);
        return FALSE;
    }
    c->slot_dir = g_build_filename(c->dir, SLOT_DIR, NULL);
    g_debug("'%s' from pool %s (slot %s)", c->name, c->slot->pool, c->slot->slot);
    return vmm_create_run_steps(c, warm_steps, G_N_ELEMENTS(warm_steps), error);
}
