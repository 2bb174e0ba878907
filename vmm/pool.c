/* pool.c: pools of pre-booted guests saved to disk (pool.h). */
#include <config.h>

#include "pool.h"
#include "agent.h"
#include "autoptr.h"
#include "error.h"
#include "fixup.h"
#include "fsutil.h"
#include "host.h"
#include "image.h"
#include "names.h"
#include "network.h"
#include "network-xml.h"
#include "sandbox.h"
#include "save-image.h"
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL_FILE_MAX (64 * 1024)
#define SLOT_PREFIX "pool-"
#define PARKING ".new-" /* a slot being saved: its subnet is held, it is not ready */

void
vmm_pool_free(VmmPool *pool)
{
    if (!pool)
        return;
    g_free(pool->id);
    g_free(pool->image);
    g_free(pool);
}

void
vmm_pool_slot_free(VmmPoolSlot *slot)
{
    if (!slot)
        return;
    g_free(slot->pool);
    g_free(slot->slot);
    g_free(slot->mac);
    g_free(slot->subnet_pool);
    g_free(slot->image_digest);
    g_free(slot);
}

char *
vmm_pool_id(const VmmSpec *spec)
{
    g_autofree char *disk =
        spec->disk_gib ? g_strdup_printf("%ug", spec->disk_gib) : g_strdup("image");

    return g_strdup_printf("%s-%ucpu-%um-%s-%s", spec->image, spec->cpus, spec->memory_mib, disk,
                           vmm_net_mode_to_string(spec->net_mode));
}

const char *
vmm_pool_unsuitable(const VmmSpec *spec)
{
    if (spec->parts && spec->parts->len > 0)
        return "the spec has cloud-init parts, which run at first boot";
    return NULL;
}

gboolean
vmm_pool_is_slot_name(const char *name)
{
    return name && g_str_has_prefix(name, SLOT_PREFIX) && strlen(name) == strlen(SLOT_PREFIX) + 8 &&
           strspn(name + strlen(SLOT_PREFIX), "0123456789abcdef") == 8;
}

static char *
subnet_prefix(void)
{
    const char *env = vmm_config_get()->subnet_pool;
    g_autofree char *parsed = env && *env ? vmm_network_pool_parse(env, NULL) : NULL;

    return parsed ? g_steal_pointer(&parsed) : g_strdup(VMM_NET_POOL_PREFIX);
}

/* ---- files ---- */

/* STATE/pool, root's and 0700 (made when @create). */
static int
open_root(const char *state_dir, gboolean create, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "pool", NULL);
    struct stat st;

    if (!vmm_fs_check_state_dir(state_dir, error))
        return -1;
    if (!create && lstat(dir, &st) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "no pools");
        return -1;
    }
    return vmm_fs_mkdir(dir, 0700, getuid(), getgid(), error);
}

static JsonObject *
read_json_at(int dirfd, const char *file)
{
    g_autofree char *text = vmm_fs_read_at(dirfd, file, SMALL_FILE_MAX, NULL, NULL);
    g_autoptr(JsonParser) p = json_parser_new();

    if (!text || !json_parser_load_from_data(p, text, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        return NULL;
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static gboolean
write_json_at(int dirfd, const char *file, JsonObject *o, GError **error)
{
    g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), o);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    return vmm_fs_write_at(dirfd, file, text, -1, 0600, error);
}

static VmmPool *
pool_from_json(const char *id, JsonObject *o)
{
    g_autoptr(VmmPool) p = g_new0(VmmPool, 1);
    const char *image = json_object_get_string_member_with_default(o, "image", NULL);
    const char *net = json_object_get_string_member_with_default(o, "network", "isolated");

    if (!image || !vmm_name_validate(image, "image", NULL) ||
        !vmm_net_mode_from_string(net, &p->net_mode, NULL))
        return NULL;
    p->id = g_strdup(id);
    p->image = g_strdup(image);
    p->cpus = json_object_get_int_member_with_default(o, "cpus", 1);
    p->memory_mib = json_object_get_int_member_with_default(o, "memory_mib", 512);
    p->disk_gib = json_object_get_int_member_with_default(o, "disk_gib", 0);
    p->size = json_object_get_int_member_with_default(o, "size", 0);
    return g_steal_pointer(&p);
}

/*
 * What a slot of @p boots as. A guest cannot tell an isolated network from an allow one
 * (the difference is the host's firewall, built for the sandbox when it takes the slot),
 * so an allow pool's slots boot isolated: no allow list is theirs to have.
 */
static VmmSpec *
pool_spec(const VmmPool *p)
{
    VmmSpec *spec = vmm_spec_new();

    vmm_spec_set_image(spec, p->image, NULL);
    spec->cpus = p->cpus;
    spec->memory_mib = p->memory_mib;
    spec->disk_gib = p->disk_gib;
    spec->net_mode = p->net_mode == VMM_NET_MODE_ALLOW ? VMM_NET_MODE_ISOLATED : p->net_mode;
    return spec;
}

VmmPool *
vmm_pool_set(const char *state_dir, const VmmSpec *spec, guint size, GError **error)
{
    g_autofree char *id = vmm_pool_id(spec);
    g_autoptr(JsonObject) o = json_object_new();
    const char *why = vmm_pool_unsuitable(spec);
    g_autoptr(VmmPool) as_pool = g_new0(VmmPool, 1);
    g_autoptr(VmmSpec) shape = NULL;
    vmm_auto_fd int root = -1;
    vmm_auto_fd int pfd = -1;

    if (why) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "a pool cannot hold this shape: %s (create such sandboxes cold)", why);
        return NULL;
    }
    /* The shape is checked as its slots boot (an allow pool needs no allow list). */
    as_pool->image = g_strdup(spec->image);
    as_pool->cpus = spec->cpus;
    as_pool->memory_mib = spec->memory_mib;
    as_pool->disk_gib = spec->disk_gib;
    as_pool->net_mode = spec->net_mode;
    shape = pool_spec(as_pool);
    if (!vmm_spec_validate(shape, error) || (root = open_root(state_dir, TRUE, error)) < 0 ||
        (pfd = vmm_fs_mkdir_at(root, id, 0700, getuid(), getgid(), error)) < 0)
        return NULL;
    json_object_set_string_member(o, "image", spec->image);
    json_object_set_int_member(o, "cpus", spec->cpus);
    json_object_set_int_member(o, "memory_mib", spec->memory_mib);
    json_object_set_int_member(o, "disk_gib", spec->disk_gib);
    json_object_set_string_member(o, "network", vmm_net_mode_to_string(spec->net_mode));
    json_object_set_int_member(o, "size", size);
    if (!write_json_at(pfd, "pool.json", o, error))
        return NULL;
    return pool_from_json(id, o);
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in @dirfd that pass @keep, sorted. */
static GPtrArray *
names_at(int dirfd, gboolean (*keep)(const char *))
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    int fd = dirfd >= 0 ? openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *ent;

    if (!d && fd >= 0)
        close(fd);
    while (d && (ent = readdir(d)))
        if (keep(ent->d_name))
            g_ptr_array_add(out, g_strdup(ent->d_name));
    if (d)
        closedir(d);
    g_ptr_array_sort(out, cmp_names);
    return out;
}

static gboolean
is_pool_id(const char *s)
{
    return s[0] != '.' && strlen(s) < 128 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s);
}

static gboolean
is_parking(const char *s)
{
    return g_str_has_prefix(s, PARKING) && vmm_pool_is_slot_name(s + strlen(PARKING));
}

static gboolean
is_slot_or_parking(const char *s)
{
    return vmm_pool_is_slot_name(s) || is_parking(s);
}

static VmmPoolSlot *
slot_read(int slots_fd, const char *name)
{
    vmm_auto_fd int sfd = vmm_fs_open_own_dir_at(slots_fd, name, NULL);
    g_autoptr(JsonObject) o = sfd >= 0 ? read_json_at(sfd, "slot.json") : NULL;
    g_autoptr(VmmPoolSlot) slot = NULL;
    const char *mac, *prefix, *digest;

    if (!o)
        return NULL;
    mac = json_object_get_string_member_with_default(o, "mac", "");
    prefix = json_object_get_string_member_with_default(o, "subnet_pool", "");
    digest = json_object_get_string_member_with_default(o, "image_digest", "");
    slot = g_new0(VmmPoolSlot, 1);
    slot->slot = g_strdup(json_object_get_string_member_with_default(o, "slot", ""));
    slot->mac = g_strdup(mac);
    slot->subnet = json_object_get_int_member_with_default(o, "subnet", 0);
    slot->subnet_pool = g_strdup(prefix);
    slot->image_digest = g_strdup(digest);
    /* Only what airlock wrote passes: these reach XML and the network's definition. */
    if (!vmm_pool_is_slot_name(slot->slot) || slot->subnet > VMM_NET_POOL_SIZE - 2 ||
        !g_str_has_prefix(digest, "sha256:"))
        return NULL;
    /* A slot with a network has its MAC and subnet; one without has neither. */
    if (*prefix ? strlen(mac) != 17 || strspn(mac, "0123456789abcdef:") != 17 ||
                      strspn(prefix, "0123456789.") != strlen(prefix) || !slot->subnet
                : *mac || slot->subnet)
        return NULL;
    return g_steal_pointer(&slot);
}

/* A slot is ready when it has its saved state and layer and was booted from @digest here. */
static gboolean
slot_ready(int slots_fd, const char *name, const VmmPoolSlot *slot, const char *digest,
           const char *prefix)
{
    vmm_auto_fd int sfd = vmm_fs_open_own_dir_at(slots_fd, name, NULL);
    struct stat st;

    /* A slot with a network must have been booted in today's subnet pool; one without has none. */
    return sfd >= 0 && slot && g_strcmp0(slot->image_digest, digest) == 0 &&
           (!*slot->subnet_pool || g_strcmp0(slot->subnet_pool, prefix) == 0) &&
           fstatat(sfd, "memory.save", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
           fstatat(sfd, "disk.qcow2", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

static char *
image_digest(const char *state_dir, const char *image)
{
    g_autoptr(VmmImage) img = vmm_image_load(state_dir, image, NULL);

    return img && img->digest ? g_strdup(img->digest) : NULL;
}

/* Counts @pool's slots; with @drop_stale, removes stale and surplus ones. */
/* A slot's held network (and anything else with its name) goes with it. */
static void
drop_slot(virConnectPtr conn, int slots, const char *dir_name, const char *slot)
{
    if (conn)
        vmm_network_remove(conn, slot, NULL, NULL);
    vmm_fs_remove_at(slots, dir_name, NULL);
}

static void
pool_scan(const char *state_dir, virConnectPtr conn, int pfd, VmmPool *pool, gboolean drop)
{
    g_autofree char *digest = image_digest(state_dir, pool->image);
    g_autofree char *prefix = subnet_prefix();
    vmm_auto_fd int slots = vmm_fs_open_own_dir_at(pfd, "slots", NULL);
    g_autoptr(GPtrArray) names = names_at(slots, vmm_pool_is_slot_name);
    g_autoptr(GPtrArray) parked = names_at(slots, is_parking);

    pool->ready = pool->stale = pool->filling = 0;
    /* A parking slot whose lock is held is a fill booting; one whose lock nobody holds was left
     * by a fill that died. */
    for (guint i = 0; i < parked->len; i++) {
        const char *n = g_ptr_array_index(parked, i);
        int lock = vmm_sandbox_lock(state_dir, n, NULL);
        if (lock < 0) {
            pool->filling++;
            continue;
        }
        if (drop)
            drop_slot(conn, slots, n, n + strlen(PARKING));
        vmm_sandbox_unlock(state_dir, n, lock, TRUE);
    }
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_autoptr(VmmPoolSlot) slot = slot_read(slots, n);
        gboolean ok = slot_ready(slots, n, slot, digest, prefix);

        if (drop && (!ok || pool->ready >= pool->size)) {
            drop_slot(conn, slots, n, n);
            continue;
        }
        if (ok)
            pool->ready++;
        else
            pool->stale++;
    }
}

static GPtrArray *
pools_load(const char *state_dir, virConnectPtr conn, gboolean drop, GError **error)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_pool_free);
    g_autoptr(GError) local = NULL;
    vmm_auto_fd int root = open_root(state_dir, FALSE, &local);
    g_autoptr(GPtrArray) ids = NULL;

    if (root < 0) {
        if (local->code != VMM_ERROR_NOT_FOUND) {
            g_propagate_error(error, g_steal_pointer(&local));
            g_ptr_array_unref(out);
            return NULL;
        }
        return out;
    }
    ids = names_at(root, is_pool_id);
    for (guint i = 0; i < ids->len; i++) {
        const char *id = g_ptr_array_index(ids, i);
        vmm_auto_fd int pfd = vmm_fs_open_own_dir_at(root, id, NULL);
        g_autoptr(JsonObject) o = pfd >= 0 ? read_json_at(pfd, "pool.json") : NULL;
        VmmPool *p = o ? pool_from_json(id, o) : NULL;

        if (!p)
            continue;
        pool_scan(state_dir, conn, pfd, p, drop);
        g_ptr_array_add(out, p);
    }
    return out;
}

GPtrArray *
vmm_pool_list(VmmContext *ctx, GError **error)
{
    return pools_load(ctx->state_dir, ctx->conn, FALSE, error);
}

/* Each pool's slots/ directory, opened (root's, never through a link). Caller frees. */
static GArray *
open_slot_dirs(const char *state_dir)
{
    g_autofree char *dir = g_build_filename(state_dir, "pool", NULL);
    vmm_auto_fd int root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    g_autoptr(GPtrArray) ids = names_at(root, is_pool_id);
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));

    g_array_set_clear_func(fds, (GDestroyNotify)vmm_fs_close_fdp);
    for (guint i = 0; i < ids->len; i++) {
        vmm_auto_fd int pfd = vmm_fs_open_own_dir_at(root, g_ptr_array_index(ids, i), NULL);
        int slots = pfd >= 0 ? vmm_fs_open_own_dir_at(pfd, "slots", NULL) : -1;
        if (slots >= 0)
            g_array_append_val(fds, slots);
    }
    return fds;
}

gboolean
vmm_pool_slot_exists(const char *state_dir, const char *name)
{
    g_autofree char *parking = g_strconcat(PARKING, name, NULL);
    g_autoptr(GArray) dirs = NULL;
    struct stat st;

    if (!vmm_pool_is_slot_name(name))
        return FALSE;
    dirs = open_slot_dirs(state_dir);
    for (guint i = 0; i < dirs->len; i++) {
        int slots = g_array_index(dirs, int, i);
        if (fstatat(slots, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
            fstatat(slots, parking, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return TRUE;
    }
    return FALSE;
}

void
vmm_pool_mark_reserved(const char *state_dir, const char *prefix, gboolean *used)
{
    g_autoptr(GArray) dirs = open_slot_dirs(state_dir);

    for (guint i = 0; i < dirs->len; i++) {
        int slots = g_array_index(dirs, int, i);
        g_autoptr(GPtrArray) names = names_at(slots, is_slot_or_parking);

        for (guint j = 0; j < names->len; j++) {
            g_autoptr(VmmPoolSlot) s = slot_read(slots, g_ptr_array_index(names, j));
            if (s && g_strcmp0(s->subnet_pool, prefix) == 0 && s->subnet < VMM_NET_POOL_SIZE)
                used[s->subnet] = TRUE;
        }
    }
}

/* ---- filling ---- */

/*
 * Saves the running slot sandbox @name into slots/.new-NAME (memory and its
 * overlay as the layer), removes the sandbox, then makes the slot ready.
 */
static gboolean
park(VmmContext *ctx, int slots, const char *slots_path, const char *name, GError **error)
{
    g_autofree char *parking = g_strconcat(PARKING, name, NULL);
    g_autofree char *memory = g_build_filename(slots_path, parking, "memory.save", NULL);
    g_autofree char *sdir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *created = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    const char *drop[] = {"/bin/sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches", NULL};
    vmm_auto_fd int nfd = -1;
    vmm_auto_fd int sfd = -1;
    guint a = 0, b = 0, c = 0, d = 0;
    int code;

    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)) ||
        !(md = vmm_sandbox_metadata(dom, error)))
        return FALSE;
    if (md->address && sscanf(md->address, "%u.%u.%u.%u", &a, &b, &c, &d) != 4) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "slot '%s' has no address", name);
        return FALSE;
    }
    /* A smaller saved state restores faster; the helper must wait for the fix in it. */
    if (vmm_host_for(ctx->conn)->has_guests &&
        (vmm_agent_run(dom, drop, 60000, &code, NULL, NULL, NULL), !vmm_fixup_prepare(dom, error)))
        return FALSE;
    if ((nfd = vmm_fs_mkdir_at(slots, parking, 0700, getuid(), getgid(), error)) < 0)
        return FALSE;
    json_object_set_string_member(o, "slot", name);
    json_object_set_string_member(o, "mac", md->mac ? md->mac : "");
    {
        g_autofree char *prefix = g_strdup_printf("%u.%u", a, b);
        json_object_set_string_member(o, "subnet_pool", md->address ? prefix : "");
    }
    json_object_set_int_member(o, "subnet", md->address ? c : 0);
    json_object_set_string_member(o, "image_digest", md->image_digest ? md->image_digest : "");
    json_object_set_string_member(o, "created", created);
    /* slot.json first: from here on the subnet stays held, even while the network goes away. */
    if (!write_json_at(nfd, "slot.json", o, error))
        return FALSE;
    /* Restored running or paused alike (warm create restores paused); test:/// takes no flag. */
    if (virDomainSaveFlags(dom, memory, NULL, 0) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot save slot '%s'", name);
    if ((sfd = vmm_fs_open_own_dir(sdir, error)) < 0)
        return FALSE;
    if (renameat(sfd, "overlay.qcow2", nfd, "disk.qcow2") != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot move the disk of slot '%s': %s",
                    name, g_strerror(errno));
        return FALSE;
    }
    {
        vmm_auto_fd int dfd = vmm_fs_open_regular_at(nfd, "disk.qcow2", error);
        if (dfd < 0 || fchmod(dfd, 0400) != 0)
            return FALSE;
    }
    {
        /* The network is defined again, stopped: its subnet stays held in libvirt, where every
         * airlock on this host looks (other state directories too) until a create takes it. */
        g_autofree char *obj = vmm_name_object(name);
        g_autoptr(virNetwork) net = virNetworkLookupByName(ctx->conn, obj);
        g_autofree char *net_xml = net ? virNetworkGetXMLDesc(net, 0) : NULL;
        if (!vmm_sandbox_remove_locked(ctx, name, NULL, error))
            return FALSE;
        if (net_xml) {
            g_autoptr(virNetwork) held = virNetworkDefineXML(ctx->conn, net_xml);
            if (!held)
                return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT,
                                         "cannot hold the subnet of slot '%s'", name);
            virNetworkSetAutostart(held, 0);
        }
    }
    if (renameat(slots, parking, slots, name) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot make slot '%s' ready: %s", name,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* Boots slot @name of @pool and parks it; the caller holds the parking directory's lock. */
static gboolean
boot_slot_locked(VmmContext *ctx, int pfd, const VmmPool *pool, const char *name,
                 const char *parking, guint timeout_s, GError **error)
{
    g_autoptr(VmmSpec) spec = pool_spec(pool);
    g_autofree char *slots_path = g_build_filename(ctx->state_dir, "pool", pool->id, "slots", NULL);
    vmm_auto_fd int slots = vmm_fs_mkdir_at(pfd, "slots", 0700, getuid(), getgid(), error);
    gboolean ok;
    int lock;
    int nfd;

    /* The parking directory first: while it exists, a fill elsewhere leaves the sandbox be. */
    if (slots < 0 || (nfd = vmm_fs_mkdir_at(slots, parking, 0700, getuid(), getgid(), error)) < 0)
        return FALSE;
    close(nfd);
    /* Cold: a slot made from another slot would share its RNG state and boot. */
    if (!vmm_sandbox_create(ctx, name, spec, NULL, timeout_s,
                            VMM_CREATE_NO_SNAPSHOT | VMM_CREATE_COLD, NULL, error)) {
        vmm_fs_remove_at(slots, parking, NULL);
        return FALSE;
    }
    lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    ok = lock >= 0 && park(ctx, slots, slots_path, name, error);
    if (!ok && lock >= 0) {
        vmm_sandbox_remove_locked(ctx, name, NULL, NULL);
        vmm_fs_remove_at(slots, parking, NULL);
    }
    vmm_sandbox_unlock(ctx->state_dir, name, lock, TRUE);
    return ok;
}

/*
 * Boots one slot of @pool and parks it. The parking directory's own lock is
 * held from before the directory exists until it is a slot or gone, so a
 * scan (pool list, another fill) that finds the directory with its lock free
 * knows the fill died, and one that finds it held counts a fill booting.
 */
static gboolean
boot_slot(VmmContext *ctx, int pfd, const VmmPool *pool, guint timeout_s, char **slot_name,
          GError **error)
{
    g_autofree char *name = g_strdup_printf(SLOT_PREFIX "%08x", g_random_int());
    g_autofree char *parking = g_strconcat(PARKING, name, NULL);
    int plock = vmm_sandbox_lock(ctx->state_dir, parking, error);
    gboolean ok;

    *slot_name = g_strdup(name);
    if (plock < 0)
        return FALSE;
    ok = boot_slot_locked(ctx, pfd, pool, name, parking, timeout_s, error);
    vmm_sandbox_unlock(ctx->state_dir, parking, plock, TRUE);
    return ok;
}

/*
 * A slot sandbox (pool-XXXXXXXX) of this state directory that no fill holds
 * and no pool keeps was left by a fill that died between its create and its
 * parking: nobody else will ever remove it.
 */
static void
remove_dead_slots(VmmContext *ctx)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(ctx->conn, &doms, 0);

    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virDomainGetName(doms[i]));
        g_autoptr(VmmMetadata) md =
            vmm_pool_is_slot_name(name) ? vmm_sandbox_metadata(doms[i], NULL) : NULL;
        int lock;

        virDomainFree(doms[i]);
        if (!md || g_strcmp0(md->state_dir, ctx->state_dir) != 0 ||
            vmm_pool_slot_exists(ctx->state_dir, name))
            continue;
        if ((lock = vmm_sandbox_lock(ctx->state_dir, name, NULL)) < 0)
            continue; /* a fill is booting it */
        g_debug("removing slot sandbox %s left by a fill that died", name);
        vmm_sandbox_remove_locked(ctx, name, NULL, NULL);
        vmm_sandbox_unlock(ctx->state_dir, name, lock, TRUE);
    }
    free(doms);
}

gboolean
vmm_pool_fill(VmmContext *ctx, const char *id, guint max, guint timeout_s, VmmPoolFillFunc fn,
              gpointer data, guint *booted, GError **error)
{
    g_autoptr(GPtrArray) pools = pools_load(ctx->state_dir, ctx->conn, TRUE, error);
    vmm_auto_fd int root = -1;
    gboolean found = id == NULL;

    if (booted)
        *booted = 0;
    if (!pools)
        return FALSE;
    {
        /* Slots another libvirt saved would only be booted to be thrown away (save-image.h). */
        unsigned long lib = 0;
        if (vmm_host_for(ctx->conn)->has_guests &&
            (virConnectGetLibVersion(ctx->conn, &lib) < 0 || !vmm_save_image_libvirt_known(lib))) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                        "libvirt %lu.%lu: warm create was not checked against its save format, "
                        "so pools are not filled (sandboxes are created cold)",
                        lib / 1000000, lib / 1000 % 1000);
            return FALSE;
        }
    }
    remove_dead_slots(ctx);
    root = open_root(ctx->state_dir, TRUE, error);
    if (root < 0)
        return FALSE;
    for (guint i = 0; i < pools->len; i++) {
        VmmPool *p = g_ptr_array_index(pools, i);
        vmm_auto_fd int pfd = -1;

        if (id && strcmp(id, p->id) != 0)
            continue;
        found = TRUE;
        if ((pfd = vmm_fs_open_own_dir_at(root, p->id, error)) < 0)
            return FALSE;
        while (p->ready < p->size && (!max || !booted || *booted < max)) {
            g_autofree char *slot = NULL;
            g_autoptr(GError) err = NULL;
            gint64 t0 = g_get_monotonic_time();
            gboolean ok = boot_slot(ctx, pfd, p, timeout_s, &slot, &err);

            if (fn)
                fn(p->id, slot, (g_get_monotonic_time() - t0) / 1e6, err, data);
            if (!ok) {
                g_propagate_prefixed_error(error, g_steal_pointer(&err), "pool %s: ", p->id);
                return FALSE;
            }
            p->ready++;
            if (booted)
                (*booted)++;
        }
    }
    if (!found) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "no pool '%s' (airlock pool list shows them)", id);
        return FALSE;
    }
    return TRUE;
}

/* ---- taking a slot ---- */

VmmPoolSlot *
vmm_pool_claim(const char *state_dir, const VmmSpec *spec, const char *image_digest, int dest_dirfd,
               const char *dest, GError **error)
{
    g_autofree char *id = vmm_pool_id(spec);
    g_autofree char *dir = g_build_filename(state_dir, "pool", id, "slots", NULL);
    g_autofree char *prefix = subnet_prefix();
    vmm_auto_fd int slots = -1;
    g_autoptr(GPtrArray) names = NULL;
    struct stat st;

    if (vmm_pool_unsuitable(spec) || lstat(dir, &st) != 0)
        return NULL;
    if ((slots = vmm_fs_open_own_dir(dir, error)) < 0)
        return NULL;
    names = names_at(slots, vmm_pool_is_slot_name);
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        g_autoptr(VmmPoolSlot) slot = slot_read(slots, n);

        if (!slot_ready(slots, n, slot, image_digest, prefix) || g_strcmp0(slot->slot, n) != 0)
            continue;
        /* The rename is the claim: of two creates, one gets it, the other ENOENT. */
        if (renameat(slots, n, dest_dirfd, dest) != 0) {
            if (errno == ENOENT)
                continue;
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot take slot %s of pool %s: %s", n,
                        id, g_strerror(errno));
            return NULL;
        }
        slot->pool = g_strdup(id);
        return g_steal_pointer(&slot);
    }
    return NULL;
}
