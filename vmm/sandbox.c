/* sandbox.c: orchestration of a sandbox's life: create, destroy, lookup, list. */
#include <config.h>

#include "sandbox.h"
#include "agent.h"
#include "archive.h"
#include "autoptr.h"
#include "domain-xml.h"
#include "error.h"
#include "escape.h"
#include "events.h"
#include "fsutil.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "network.h"
#include "seed.h"
#include "snapshot.h"
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define CONSOLE_TAIL_LINES 4

char *
vmm_sandbox_console_path(const char *state_dir, const char *name)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);

    return g_build_filename(dir, "console.log", NULL);
}

char *
vmm_sandbox_console_tail(const char *path, guint n)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    guint count;

    if (!g_file_get_contents(path, &data, &len, NULL))
        return g_strdup("");
    /* NUL would end the lines early; the rest is escaped line by line below. */
    for (gsize i = 0; i < len; i++)
        if (data[i] == '\0')
            data[i] = ' ';
    lines = g_strsplit(data, "\n", -1);
    count = g_strv_length(lines);
    for (guint i = count; i > 0 && keep->len < n; i--) {
        char *l = g_strstrip(lines[i - 1]);
        if (*l)
            g_ptr_array_insert(keep, 0, vmm_escape(l, -1, 200));
    }
    g_ptr_array_add(keep, NULL);
    return g_strjoinv(" | ", (char **)keep->pdata);
}

virDomainPtr
vmm_sandbox_lookup(virConnectPtr conn, const char *name, GError **error)
{
    g_autofree char *obj = NULL;
    virDomainPtr dom;

    if (!vmm_name_validate(name, "sandbox name", error))
        return NULL;
    obj = vmm_name_object(name);
    dom = virDomainLookupByName(conn, obj);
    if (!dom) {
        if (vmm_error_libvirt_last_code() == VIR_ERR_NO_DOMAIN)
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' not found (airlock list shows what exists)", name);
        else
            vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up sandbox '%s'", name);
    }
    return dom;
}

VmmMetadata *
vmm_sandbox_metadata(virDomainPtr dom, GError **error)
{
    g_autofree char *xml =
        virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VMM_METADATA_NS, 0);

    if (!xml) {
        vmm_error_libvirt(error, VMM_ERROR_FAILED, "domain '%s' has no airlock metadata",
                          virDomainGetName(dom));
        return NULL;
    }
    return vmm_metadata_parse(xml, error);
}

const char *
vmm_sandbox_state(virDomainPtr dom)
{
    int state = 0, reason = 0;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return "unknown";
    switch (state) {
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_BLOCKED:
        return "running";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "stopping";
    case VIR_DOMAIN_SHUTOFF:
        return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? "crashed" : "stopped";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
        return "suspended";
    default:
        return "unknown";
    }
}

static gint
dom_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(virDomainGetName(*(virDomainPtr *)a), virDomainGetName(*(virDomainPtr *)b));
}

GPtrArray *
vmm_sandbox_list(virConnectPtr conn, const char *state_dir, GError **error)
{
    virDomainPtr *doms = NULL;
    GPtrArray *out;
    int n = virConnectListAllDomains(conn, &doms, 0);

    if (n < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot list domains");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_virDomainFree);
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virDomainGetName(doms[i]));
        g_autofree char *xml =
            name ? virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, VMM_METADATA_NS, 0)
                 : NULL;
        g_autoptr(VmmMetadata) md = xml ? vmm_metadata_parse(xml, NULL) : NULL;
        if (md && (!state_dir || !md->state_dir || g_strcmp0(md->state_dir, state_dir) == 0))
            g_ptr_array_add(out, doms[i]);
        else
            virDomainFree(doms[i]);
    }
    free(doms);
    g_ptr_array_sort(out, dom_cmp);
    return out;
}

/* ---- locking: one airlock command per sandbox at a time ---- */

int
vmm_sandbox_lock(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "locks", NULL);
    g_autofree char *file = g_strdup_printf("%s.lock", name);
    int dfd, fd;

    if (!vmm_fs_check_state_dir(state_dir, error))
        return -1;
    dfd = vmm_fs_mkdir(dir, 0700, (uid_t)-1, (gid_t)-1, error);
    if (dfd < 0)
        return -1;
    fd = openat(dfd, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    close(dfd);
    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open %s/%s: %s", dir, file,
                    g_strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "sandbox '%s' is busy: another airlock command is working on it (retry when "
                    "it finishes)",
                    name);
        return -1;
    }
    return fd;
}

/* ---- files ---- */

gboolean
vmm_sandbox_remove_tree(const char *path, GError **error)
{
    return vmm_fs_remove_tree(path, error);
}

/*
 * qemu runs as the DAC base label of the connection (e.g. libvirt-qemu:kvm
 * for qemu:///system): it must be able to reach its files by path.
 */
static gboolean
qemu_group(virConnectPtr conn, gid_t *gid)
{
    g_autofree char *caps = virConnectGetCapabilities(conn);
    g_autofree char *label = vmm_xml_xpath_string(
        caps, "string(/capabilities/host/secmodel[model='dac']/baselabel[@type='qemu'])");
    unsigned int u, g;

    if (!label || sscanf(label, "+%u:+%u", &u, &g) != 2)
        return FALSE;
    *gid = g;
    return TRUE;
}

gboolean
vmm_sandbox_mkdir_private(virConnectPtr conn, const char *dir, GError **error)
{
    gid_t gid = (gid_t)-1;
    int fd;

    /* Root's, searchable by qemu's group: qemu opens what libvirt labelled for it, but
     * cannot add, rename or replace a name root will use (docs/security.md). */
    if (geteuid() == 0 && !qemu_group(conn, &gid))
        gid = (gid_t)-1;
    fd = vmm_fs_mkdir(dir, 0710, (uid_t)-1, gid, error);
    if (fd < 0)
        return FALSE;
    close(fd);
    return TRUE;
}

static gboolean
make_sandbox_dir(virConnectPtr conn, const char *dir, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(dir);
    int fd;

    /* The parent only needs to be traversable by qemu: names are no secret. */
    fd = vmm_fs_mkdir(parent, 0711, (uid_t)-1, (gid_t)-1, error);
    if (fd < 0)
        return FALSE;
    close(fd);
    return vmm_sandbox_mkdir_private(conn, dir, error);
}

/* ---- destroy ---- */

static gboolean
remove_domain(virConnectPtr conn, const char *name, gboolean *existed, GError **error)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, obj);
    unsigned int flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                         VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;

    *existed = dom != NULL;
    if (!dom) {
        if (vmm_error_libvirt_last_code() == VIR_ERR_NO_DOMAIN)
            return TRUE;
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up sandbox '%s'", name);
    }
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN &&
        vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop sandbox '%s'", name);
    if (virDomainUndefineFlags(dom, flags) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN) {
        /* Drivers without NVRAM/checkpoint support reject those flags: retry plainly. */
        if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0 &&
            vmm_error_libvirt_last_code() != VIR_ERR_NO_DOMAIN)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot undefine sandbox '%s'",
                                     name);
    }
    return TRUE;
}

static gboolean destroy_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error);

gboolean
vmm_sandbox_remove_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error)
{
    gboolean any = FALSE;

    if (!destroy_locked(ctx, name, &any, error))
        return FALSE;
    vmm_journal_end(ctx->state_dir, name);
    if (found)
        *found = any;
    return TRUE;
}

/* Removes everything named after @name; the caller holds the sandbox lock. */
static gboolean
destroy_locked(VmmContext *ctx, const char *name, gboolean *found, GError **error)
{
    g_autofree char *dir = vmm_path_sandbox_dir(ctx->state_dir, name);
    gboolean had_dom = FALSE, had_net = FALSE, had_dir;

    had_dir = g_file_test(dir, G_FILE_TEST_EXISTS);
    if (!remove_domain(ctx->conn, name, &had_dom, error))
        return FALSE;
    vmm_journal_crash_point("destroy"); /* domain gone, network and files left */
    if (!vmm_network_remove(ctx->conn, name, &had_net, error))
        return FALSE;
    if (!vmm_sandbox_remove_tree(dir, error) ||
        !vmm_events_sandbox_remove(ctx->state_dir, name, error))
        return FALSE;
    *found = had_dom || had_net || had_dir;
    return TRUE;
}

gboolean
vmm_sandbox_destroy(VmmContext *ctx, const char *name, VmmDestroyFlags flags, char **archive_id,
                    GError **error)
{
    gboolean found = FALSE;
    int lock;
    gboolean ok = TRUE;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    if (lock < 0)
        return FALSE;
    if (!(flags & VMM_DESTROY_NO_EVIDENCE)) {
        g_autofree char *obj = vmm_name_object(name);
        g_autoptr(virDomain) dom = virDomainLookupByName(ctx->conn, obj);
        g_autoptr(GError) local = NULL;
        if (dom && !vmm_archive_capture(ctx, dom, name, archive_id, &local)) {
            g_set_error(error, VMM_ERROR, local->code,
                        "cannot keep the evidence of '%s', nothing removed (airlock destroy "
                        "--no-evidence %s skips it): %s",
                        name, name, local->message);
            ok = FALSE;
        }
    }
    if (ok)
        ok = vmm_journal_begin(ctx->state_dir, name, "destroy", error) &&
             destroy_locked(ctx, name, &found, error);
    if (ok)
        vmm_journal_end(ctx->state_dir, name);
    close(lock);
    if (ok && !found && !(flags & VMM_DESTROY_FORCE)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' not found (airlock list shows what exists; --force ignores "
                    "this)",
                    name);
        return FALSE;
    }
    return ok;
}

/* ---- create ---- */

typedef struct {
    VmmContext *ctx;
    gint64 start;
    gint64 stage_start;
    gdouble *slot;
} Stages;

static void
stage(Stages *st, const char *name, gdouble *slot)
{
    gint64 now = g_get_monotonic_time();

    if (st->slot)
        *st->slot = (now - st->stage_start) / 1e6;
    st->slot = slot;
    st->stage_start = now;
    if (name && st->ctx->progress)
        st->ctx->progress(name, (now - st->start) / 1e6, st->ctx->progress_data);
}

static char *
random_mac(void)
{
    guint32 r = g_random_int();

    return g_strdup_printf("52:54:00:%02x:%02x:%02x", (r >> 16) & 0xff, (r >> 8) & 0xff, r & 0xff);
}

static char *
now_iso8601(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();

    return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

static gboolean
check_host_resources(virConnectPtr conn, const VmmSpec *spec, GError **error)
{
    virNodeInfo info;

    if (virNodeGetInfo(conn, &info) < 0)
        return TRUE; /* drivers that cannot tell: libvirt will refuse if it must */
    if ((guint64)spec->memory_mib * 1024 > info.memory) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--memory %u MiB is more than this host has (%lu MiB)", spec->memory_mib,
                    info.memory / 1024);
        return FALSE;
    }
    if (spec->cpus > info.cpus) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--cpus %u is more than this host has (%u)", spec->cpus, info.cpus);
        return FALSE;
    }
    return TRUE;
}

/*
 * The disk can hold what this sandbox may write (its overlay up to its
 * virtual size, and a saved memory image for its clean state) on top of
 * what the others may still write.
 */
static gboolean
check_space(const char *state_dir, VmmImage *image, const VmmSpec *spec, GError **error)
{
    g_autofree char *base = vmm_image_file(image, "disk.qcow2");
    guint64 disk = spec->disk_gib ? (guint64)spec->disk_gib << 30
                                  : vmm_space_qcow2_virtual(base, error);

    if (!disk)
        return FALSE;
    return vmm_space_check(state_dir, disk + ((guint64)spec->memory_mib << 20), error);
}

/* Waits for the agent, then for cloud-init to finish. */
static gboolean
wait_ready(Stages *st, VmmCreateTimings *t, virDomainPtr dom, const char *name, const char *console,
           gint64 deadline, GError **error)
{
    g_autoptr(GError) local = NULL;
    const char *status_argv[] = {"cloud-init", "status", "--wait", "--long", NULL};
    g_autofree char *out = NULL;
    g_autofree char *err_out = NULL;
    int code = -1;
    gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;

    if (left_ms <= 0 || !vmm_agent_wait(dom, left_ms, &local))
        goto fail;
    stage(st, "cloud-init", &t->cloud_init);
    left_ms = (deadline - g_get_monotonic_time()) / 1000;
    if (left_ms <= 0 || !vmm_agent_run(dom, status_argv, left_ms, &code, &out, &err_out, &local))
        goto fail;
    if (code != 0 || !out || !strstr(out, "status: done")) {
        g_autofree char *raw = g_strdup(out ? out : "");
        g_autofree char *first = NULL;
        char *nl;
        g_strstrip(raw);
        /* One line: status and the first error cloud-init lists (the guest's words: escaped). */
        while ((nl = strchr(raw, '\n')))
            *nl = ' ';
        first = vmm_escape(raw, -1, 300);
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "sandbox '%s': cloud-init did not finish cleanly (%s); console in %s", name,
                    first, console);
        return FALSE;
    }
    return TRUE;

fail : {
    g_autofree char *tail = vmm_sandbox_console_tail(console, CONSOLE_TAIL_LINES);
    const char *state = vmm_sandbox_state(dom);
    if (strcmp(state, "running") != 0)
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "sandbox '%s' %s while booting; console: %s", name, state,
                    *tail ? tail : "(empty)");
    else if (local && local->code != VMM_ERROR_TIMEOUT)
        g_set_error(error, VMM_ERROR, local->code, "sandbox '%s' not ready: %s; console: %s", name,
                    local->message, *tail ? tail : "(empty)");
    else
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                    "sandbox '%s' not ready in time (raise --timeout); console: %s", name,
                    *tail ? tail : "(empty)");
    return FALSE;
}
}

/* Hot-unplug completes when the guest acknowledges it: wait, a saved state must not hold it. */
static gboolean
wait_detached(virDomainPtr dom, const char *target, GError **error)
{
    g_autofree char *needle = g_strdup_printf("<target dev='%s'", target);
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
        if (!xml)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read domain XML");
        if (!strstr(xml, needle))
            return TRUE;
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "the guest did not release its seed disk within 20 s");
            return FALSE;
        }
        g_usleep(50 * 1000);
    }
}

static gboolean
create_locked(VmmContext *ctx, const char *name, const VmmSpec *spec, const VmmSecrets *secrets,
              guint timeout_s, VmmCreateFlags flags, VmmCreateTimings *t, GError **error)
{
    g_autofree char *dir = vmm_path_sandbox_dir(ctx->state_dir, name);
    g_autofree char *overlay = g_build_filename(dir, "overlay.qcow2", NULL);
    g_autofree char *seed_path = g_build_filename(dir, "seed.iso", NULL);
    g_autofree char *console = g_build_filename(dir, "console.log", NULL);
    g_autofree char *obj = vmm_name_object(name);
    g_autofree char *kernel = NULL, *initrd = NULL, *base = NULL, *xml = NULL;
    g_autofree char *instance_id = NULL, *seed_disk = NULL;
    g_autoptr(VmmImage) image = NULL;
    g_autoptr(VmmMetadata) md = vmm_metadata_new();
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GPtrArray) env_names = g_ptr_array_new_with_free_func(g_free);
    gboolean had = FALSE;
    char uuid_str[37];
    uuid_t uuid;
    Stages st = {.ctx = ctx, .start = g_get_monotonic_time()};
    gint64 deadline;
    GBytes *iso;
    gboolean ok;

    st.stage_start = st.start;
    if (!vmm_spec_validate(spec, error) || !check_host_resources(ctx->conn, spec, error))
        return FALSE;
    dom = virDomainLookupByName(ctx->conn, obj);
    if (dom) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "sandbox '%s' already exists (airlock destroy %s, or choose another name)",
                    name, name);
        return FALSE;
    }
    image = vmm_image_load(ctx->state_dir, spec->image, error);
    if (!image)
        return FALSE;
    /* issue 6: a pinned digest must be the installed image's; deny-listed secrets, leaky parts */
    if (spec->image_digest && g_strcmp0(spec->image_digest, image->digest) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s' is %.19s…, the spec pins %.19s… (rebuild or import the pinned "
                    "image, or update the pin)",
                    image->name, image->digest ? image->digest : "sha256:?", spec->image_digest);
        return FALSE;
    }
    if (!vmm_image_verify(image, TRUE, error) ||
        !vmm_secrets_check_deny(secrets, (const char *const *)spec->deny, error) ||
        !vmm_seed_check_parts(spec->parts, secrets, error))
        return FALSE;
    if (!vmm_conn_is_test(ctx->conn) && !check_space(ctx->state_dir, image, spec, error))
        return FALSE;
    /* Leftovers of a create that died half-way carry our name and nobody owns them. */
    if (!destroy_locked(ctx, name, &had, error))
        return FALSE;
    if (!vmm_journal_begin(ctx->state_dir, name, "create", error))
        return FALSE;
    if (had)
        g_debug("removed leftovers of an earlier create of '%s'", name);

    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, uuid_str);
    instance_id = g_strdup_printf("airlock-%s", uuid_str);
    md->name = g_strdup(name);
    md->owner = g_strdup(g_get_user_name());
    md->created = now_iso8601();
    md->image = g_strdup(image->name);
    md->image_digest = g_strdup(image->digest);
    md->secret_names = secrets ? vmm_secrets_names(secrets) : NULL;
    md->spec_hash = vmm_spec_hash_full(spec, (const char *const *)md->secret_names);
    md->ttl_s = spec->ttl_s;
    md->net_mode = g_strdup(vmm_net_mode_to_string(spec->net_mode));
    md->accel = g_strdup(vmm_accel_to_string(ctx->accel));
    md->state_dir = g_strdup(ctx->state_dir);
    md->allow = spec->allow ? g_strdupv(spec->allow) : NULL;
    md->cpus = spec->cpus;
    md->memory_mib = spec->memory_mib;
    md->disk_gib = spec->disk_gib;
    for (guint i = 0; i < spec->labels->len; i++)
        g_ptr_array_add(md->labels, g_strdup(g_ptr_array_index(spec->labels, i)));
    for (guint i = 0; i < spec->env->len; i++) {
        const char *kv = g_ptr_array_index(spec->env, i);
        g_ptr_array_add(env_names, g_strndup(kv, strchr(kv, '=') - kv));
    }
    g_ptr_array_add(env_names, NULL);
    md->env_names = g_strdupv((char **)env_names->pdata);

    stage(&st, "overlay", &t->overlay);
    base = vmm_image_file(image, "disk.qcow2");
    kernel = vmm_image_file(image, "vmlinuz");
    initrd = vmm_image_file(image, "initrd.img");
    if (!make_sandbox_dir(ctx->conn, dir, error) ||
        !vmm_image_create_overlay(base, overlay, spec->disk_gib, error))
        goto fail;
    vmm_journal_crash_point("overlay");

    if (spec->net_mode != VMM_NET_MODE_NONE) {
        stage(&st, "network", &t->network);
        md->mac = random_mac();
        /* network isolation (issue 5): the filter's allow list, DNS questions into dns.log */
        g_autofree char *dns_log = g_build_filename(dir, "dns.log", NULL);
        VmmNetworkPolicy policy = {.allow = (const char *const *)spec->allow, .dns_log = dns_log};
        if (!vmm_network_create(ctx->conn, name, md, &policy, error))
            goto fail;
        vmm_journal_crash_point("network");
    }

    stage(&st, "seed", &t->seed);
    {
        g_autoptr(GPtrArray) env = g_ptr_array_new();
        VmmSeedConfig sc = {.instance_id = instance_id,
                            .hostname = name,
                            .mac = md->mac,
                            .address = md->address,
                            .nameserver = md->host_address, /* the DNS recorder (security.md) */
                            .secrets = secrets,
                            .parts = spec->parts}; /* issue 6: [cloud-init] parts */
        /* An image without airlock-guest gets it through the seed (guest-channel.h). */
        if (!image->guest_agent || !*image->guest_agent)
            sc.guest_helper = vmm_seed_guest_helper(&sc.guest_helper_len);
        for (guint i = 0; i < spec->env->len; i++)
            g_ptr_array_add(env, g_ptr_array_index(spec->env, i));
        g_ptr_array_add(env, NULL);
        sc.env = (const char *const *)env->pdata;
        iso = vmm_seed_build(&sc, error);
        if (!iso)
            goto fail;
        ok = vmm_seed_write(seed_path, iso, error);
        vmm_seed_bytes_wipe_free(iso);
        if (!ok)
            goto fail;
        vmm_journal_crash_point("seed");
    }

    stage(&st, "define", &t->define);
    VmmDomainConfig dc = {.name = name,
                          .uuid = uuid_str,
                          .virt_type = vmm_accel_domain_type(ctx->accel),
                          .cpus = spec->cpus,
                          .memory_mib = spec->memory_mib,
                          .kernel = kernel,
                          .initrd = initrd,
                          .cmdline = image->kernel_cmdline,
                          .overlay = overlay,
                          .seed = seed_path,
                          .network = spec->net_mode != VMM_NET_MODE_NONE ? obj : NULL,
                          .mac = md->mac,
                          .console_log = console,
                          .metadata = md};
    xml = vmm_domain_xml_build(&dc, error);
    if (!xml)
        goto fail;
    dom = virDomainDefineXML(ctx->conn, xml);
    if (!dom) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot define sandbox '%s'", name);
        goto fail;
    }
    vmm_journal_crash_point("define");

    stage(&st, "boot", &t->boot);
    /* Paused until its tap is fenced (vmm_network_guard): not one frame goes out unfiltered. */
    if (vmm_conn_is_test(ctx->conn) ? virDomainCreate(dom) < 0
                                    : virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot start sandbox '%s'", name);
        goto fail;
    }
    if (!vmm_network_guard(ctx->conn, ctx->state_dir, md, error))
        goto fail;
    if (!vmm_conn_is_test(ctx->conn) && virDomainResume(dom) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot start sandbox '%s'", name);
        goto fail;
    }
    vmm_journal_crash_point("boot");
    if (vmm_conn_is_test(ctx->conn)) {
        /* The test driver has no guest: there is no agent to wait for. */
        stage(&st, "cloud-init", &t->cloud_init);
    } else {
        deadline = st.start + (gint64)timeout_s * G_USEC_PER_SEC;
        if (!wait_ready(&st, t, dom, name, console, deadline, error))
            goto fail;
    }
    vmm_journal_crash_point("ready"); /* booted, seed.iso still on disk */

    stage(&st, "finish", &t->finish);
    if (!vmm_conn_is_test(ctx->conn) && vmm_secrets_count(secrets) > 0) {
        /* issue 6: cloud-init's on-disk copies of the user-data hold the secrets (base64) */
        const char *scrub_argv[] = {VMM_SEED_SCRUB, NULL};
        g_autofree char *so = NULL, *se = NULL;
        int code = -1;
        if (!vmm_agent_run(dom, scrub_argv, 120 * 1000, &code, &so, &se, error))
            goto fail;
        if (code != 0) {
            g_autofree char *shown = vmm_escape(se ? g_strstrip(se) : "", -1, 200);
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "sandbox '%s': %s exited %d (%s)",
                        name, VMM_SEED_SCRUB, code, shown);
            goto fail;
        }
    }
    seed_disk = vmm_domain_xml_seed_disk(seed_path);
    if (virDomainDetachDeviceFlags(dom, seed_disk,
                                   VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) < 0) {
        g_autofree char *noseed = NULL;
        g_autoptr(virDomain) redefined = NULL;

        if (vmm_error_libvirt_last_code() != VIR_ERR_NO_SUPPORT) {
            vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot detach the seed of '%s'", name);
            goto fail;
        }
        /* Drivers without hot-unplug (test:///): at least drop it from the definition. */
        dc.seed = NULL;
        noseed = vmm_domain_xml_build(&dc, error);
        if (!noseed || !(redefined = virDomainDefineXML(ctx->conn, noseed))) {
            if (noseed)
                vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot redefine '%s'", name);
            goto fail;
        }
    }
    if (unlink(seed_path) != 0 && errno != ENOENT) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot delete %s: %s", seed_path,
                    g_strerror(errno));
        goto fail;
    }
    if (!vmm_conn_is_test(ctx->conn) && !(flags & VMM_CREATE_NO_SNAPSHOT)) {
        stage(&st, "snapshot", &t->snapshot);
        if (!wait_detached(dom, VMM_SEED_TARGET, error) ||
            !vmm_snapshot_take_locked(ctx, name, VMM_SNAPSHOT_CLEAN, TRUE, error))
            goto fail;
        vmm_journal_crash_point("snapshot");
    }
    stage(&st, NULL, NULL);
    t->total = (g_get_monotonic_time() - st.start) / 1e6;
    vmm_journal_end(ctx->state_dir, name);
    return TRUE;

fail : {
    g_autoptr(GError) cleanup_err = NULL;
    gboolean found;
    if (!destroy_locked(ctx, name, &found, &cleanup_err))
        g_prefix_error(error, "(cleanup also failed: %s; airlock gc retries it) ",
                       cleanup_err->message);
    else
        vmm_journal_end(ctx->state_dir, name);
    return FALSE;
}
}

gboolean
vmm_sandbox_create(VmmContext *ctx, const char *name, const VmmSpec *spec,
                   const VmmSecrets *secrets, guint timeout_s, VmmCreateFlags flags,
                   VmmCreateTimings *timings, GError **error)
{
    VmmCreateTimings local = {0};
    int lock;
    gboolean ok;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    if (lock < 0)
        return FALSE;
    ok = create_locked(ctx, name, spec, secrets, timeout_s, flags, timings ? timings : &local,
                       error);
    close(lock);
    return ok;
}
