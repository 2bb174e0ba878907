/*
 * create.c: making a sandbox, as a list of named steps. Each step has its
 * progress name, its timing slot and its crash point (AIRLOCK_CRASH_AT, for
 * tests); the table is the procedure. One rollback undoes any prefix of it
 * (vmm_sandbox_remove_locked removes whatever carries the sandbox's name).
 */
#include <config.h>

#include "sandbox.h"
#include "agent.h"
#include "autoptr.h"
#include "domain-xml.h"
#include "error.h"
#include "escape.h"
#include "fsutil.h"
#include "gateway/gateway.h"
#include "host.h"
#include "image.h"
#include "journal.h"
#include "names.h"
#include "network.h"
#include "seed.h"
#include "snapshot.h"
#include "space.h"

#include <errno.h>
#include <libvirt/virterror.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define CONSOLE_TAIL_LINES 4

#include "create-private.h"

/* ---- checks before anything is made ---- */

static gboolean
check_host_resources(virConnectPtr conn, const VmmSpec *spec, GError **error)
{
    virNodeInfo info;

    if (virNodeGetInfo(conn, &info) < 0)
        return TRUE; /* drivers that cannot tell: libvirt will refuse if it must */
    if ((guint64)spec->memory_mib * 1024 > info.memory) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "memory: %u MiB is more than this host has (%lu MiB)", spec->memory_mib,
                    info.memory / 1024);
        return FALSE;
    }
    if (spec->cpus > info.cpus) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cpus: %u is more than this host has (%u)",
                    spec->cpus, info.cpus);
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
check_space(VmmContext *ctx, VmmImage *image, const VmmSpec *spec, GError **error)
{
    g_autofree char *base = vmm_image_file(image, "disk.qcow2");
    guint64 disk =
        spec->disk_gib ? (guint64)spec->disk_gib << 30 : vmm_space_qcow2_virtual(base, error);

    if (!disk)
        return FALSE;
    return vmm_host_for(ctx->conn)->space_check(ctx->state_dir,
                                                disk + ((guint64)spec->memory_mib << 20), error);
}

static gboolean
check(Create *c, GError **error)
{
    g_autoptr(virDomain) dom = NULL;

    if (!vmm_spec_validate(c->spec, error) || !check_host_resources(c->ctx->conn, c->spec, error))
        return FALSE;
    if ((dom = virDomainLookupByName(c->ctx->conn, c->obj))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "sandbox '%s' already exists (airlock destroy %s, or choose another name)",
                    c->name, c->name);
        return FALSE;
    }
    if (!(c->image = vmm_image_load(c->ctx->state_dir, c->spec->image, error)))
        return FALSE;
    /* A pinned digest must be the installed image's; deny-listed secrets, leaky parts. */
    if (c->spec->image_digest && g_strcmp0(c->spec->image_digest, c->image->digest) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_IMAGE,
                    "image '%s' is %.19s…, the spec pins %.19s… (airlock image import the "
                    "pinned image, or update the pin)",
                    c->image->name, c->image->digest ? c->image->digest : "sha256:?",
                    c->spec->image_digest);
        return FALSE;
    }
    if (c->spec->gateway.enabled && !(c->gw = vmm_gateway_setup_new(c->ctx->state_dir, error)))
        return FALSE;
    return vmm_image_verify(c->image, TRUE, error) &&
           vmm_secrets_check_deny(c->secrets, (const char *const *)c->spec->deny, error) &&
           vmm_seed_check_parts(c->spec->parts, c->secrets, error) &&
           check_space(c->ctx, c->image, c->spec, error);
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

/* The metadata every libvirt object of the sandbox carries (names, never secret values). */
static void
fill_metadata(Create *c)
{
    VmmMetadata *md = c->md;
    const VmmSpec *spec = c->spec;
    g_autoptr(GPtrArray) env_names = g_ptr_array_new_with_free_func(g_free);

    md->name = g_strdup(c->name);
    md->owner = g_strdup(c->ctx->owner ? c->ctx->owner : g_get_user_name());
    md->created = now_iso8601();
    md->image = g_strdup(c->image->name);
    md->image_digest = g_strdup(c->image->digest);
    md->secret_names = c->secrets ? vmm_secrets_names(c->secrets) : NULL;
    md->spec_hash = vmm_spec_hash_full(spec, (const char *const *)md->secret_names);
    md->ttl_s = spec->ttl_s;
    md->net_mode = g_strdup(vmm_net_mode_to_string(spec->net_mode));
    md->accel = g_strdup(vmm_accel_to_string(c->ctx->accel));
    md->state_dir = g_strdup(c->ctx->state_dir);
    md->allow = spec->allow ? g_strdupv(spec->allow) : NULL;
    md->gateway_port = c->gw ? c->gw->cfg->port : 0;
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
}

/* ---- the steps ---- */

gboolean
vmm_create_make_dir(Create *c, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(c->dir);
    int fd;

    /* The parent only needs to be traversable by qemu: names are no secret. */
    fd = vmm_fs_mkdir(parent, 0711, (uid_t)-1, (gid_t)-1, error);
    if (fd < 0)
        return FALSE;
    close(fd);
    return vmm_sandbox_mkdir_private(c->ctx->conn, c->dir, error);
}

static gboolean
step_overlay(Create *c, GError **error)
{
    g_autofree char *base = vmm_image_file(c->image, "disk.qcow2");

    return vmm_create_make_dir(c, error) &&
           vmm_image_create_overlay(base, c->overlay, c->spec->disk_gib, error);
}

gboolean
vmm_create_want_network(const Create *c)
{
    return c->spec->net_mode != VMM_NET_MODE_NONE;
}

gboolean
vmm_create_step_network(Create *c, GError **error)
{
    g_autofree char *dns_log = g_build_filename(c->dir, "dns.log", NULL);
    VmmNetworkPolicy policy = {.allow = (const char *const *)c->spec->allow,
                               .dns_log = dns_log,
                               .state_dir = c->ctx->state_dir,
                               .subnet = c->slot ? c->slot->subnet : 0};

    /* A pooled guest keeps its MAC (its saved device state has it) and its subnet, which
     * its slot's stopped network held until now. */
    if (c->slot && !vmm_network_remove(c->ctx->conn, c->slot->slot, NULL, error))
        return FALSE;
    c->md->mac = c->slot ? g_strdup(c->slot->mac) : random_mac();
    /* The firewall's allow list; DNS questions go to dns.log (docs/security.md). */
    return vmm_network_create(c->ctx->conn, c->name, c->md, &policy, error);
}

/* ---- the model gateway's part (docs/gateway.md) ---- */

gboolean
vmm_create_want_gateway(const Create *c)
{
    return c->gw != NULL;
}

/* The token and the registry entry, once the addresses are known; the seed carries the token. */
gboolean
vmm_create_step_gateway(Create *c, GError **error)
{
    VmmGatewayLimits limits = {.max_calls = c->spec->gateway.max_calls,
                               .max_tokens = c->spec->gateway.max_tokens,
                               .max_concurrent = c->spec->gateway.max_concurrent,
                               .models = c->spec->gateway.models};

    return vmm_gateway_setup_register(c->gw, c->ctx->state_dir, c->name, c->md->host_address,
                                      c->md->address, &limits, c->secrets, error);
}

/* The secrets the seed carries: the user's, and the gateway's token when there is one. */
const VmmSecrets *
vmm_create_seed_secrets(const Create *c)
{
    return c->gw ? c->gw->secrets : c->secrets;
}

GPtrArray *
vmm_create_seed_env(const Create *c)
{
    GPtrArray *env = g_ptr_array_new();

    for (guint i = 0; i < c->spec->env->len; i++)
        g_ptr_array_add(env, g_ptr_array_index(c->spec->env, i));
    for (char **e = c->gw ? c->gw->env : NULL; e && *e; e++)
        g_ptr_array_add(env, *e);
    g_ptr_array_add(env, NULL);
    return env;
}

/* ---- the steps, continued ---- */

static gboolean
step_seed(Create *c, GError **error)
{
    g_autoptr(GPtrArray) env = vmm_create_seed_env(c);
    g_autofree char *instance_id = g_strdup_printf("airlock-%s", c->uuid);
    VmmSeedConfig sc = {.instance_id = instance_id,
                        .hostname = c->name,
                        .mac = c->md->mac,
                        .address = c->md->address,
                        .nameserver = c->md->host_address, /* the DNS recorder */
                        .secrets = vmm_create_seed_secrets(c),
                        .parts = c->spec->parts};
    GBytes *iso;
    gboolean ok;

    /* An image without airlock-guest gets it through the seed (guest-channel.h). */
    if (!c->image->guest_agent || !*c->image->guest_agent)
        sc.guest_helper = vmm_seed_guest_helper(&sc.guest_helper_len);

    sc.env = (const char *const *)env->pdata;
    if (!(iso = vmm_seed_build(&sc, error)))
        return FALSE;
    ok = vmm_seed_write(c->seed_path, iso, error);
    vmm_seed_bytes_wipe_free(iso);
    return ok;
}

static gboolean
step_define(Create *c, GError **error)
{
    g_autofree char *xml = NULL;

    c->dc = (VmmDomainConfig){.name = c->name,
                              .uuid = c->uuid,
                              .virt_type = vmm_accel_domain_type(c->ctx->accel),
                              .cpus = c->spec->cpus,
                              .memory_mib = c->spec->memory_mib,
                              .kernel = vmm_image_file(c->image, "vmlinuz"),
                              .initrd = vmm_image_file(c->image, "initrd.img"),
                              .cmdline = c->image->kernel_cmdline,
                              .overlay = c->overlay,
                              .seed = c->seed_path,
                              .network = vmm_create_want_network(c) ? c->obj : NULL,
                              .mac = c->md->mac,
                              .console_log = c->console,
                              .metadata = c->md};
    if (!(xml = vmm_domain_xml_build(&c->dc, error)))
        return FALSE;
    if (!(c->dom = virDomainDefineXML(c->ctx->conn, xml)))
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot define sandbox '%s'", c->name);
    return TRUE;
}

static gboolean
step_boot(Create *c, GError **error)
{
    /* libvirt's test driver cannot start a domain paused (and has no tap to fence first). */
    gboolean test = !vmm_host_for(c->ctx->conn)->has_guests;

    /* Paused until its tap is fenced (vmm_network_guard): not one frame goes out unfiltered. */
    if (test ? virDomainCreate(c->dom) < 0
             : virDomainCreateWithFlags(c->dom, VIR_DOMAIN_START_PAUSED) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot start sandbox '%s'", c->name);
    if (!vmm_network_guard(c->ctx->conn, c->ctx->state_dir, c->md, error))
        return FALSE;
    if (!test && virDomainResume(c->dom) < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot start sandbox '%s'", c->name);
    return TRUE;
}

/* Why a guest is not ready, with the console's last lines (the guest's words: escaped). */
static void
not_ready(Create *c, const GError *local, GError **error)
{
    g_autofree char *tail = vmm_sandbox_console_tail(c->console, CONSOLE_TAIL_LINES);
    const char *state = vmm_sandbox_state(c->dom);

    if (strcmp(state, "running") != 0)
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "sandbox '%s' %s while booting; console: %s", c->name, state,
                    *tail ? tail : "(empty)");
    else if (local && local->code != VMM_ERROR_TIMEOUT)
        g_set_error(error, VMM_ERROR, local->code, "sandbox '%s' not ready: %s; console: %s",
                    c->name, local->message, *tail ? tail : "(empty)");
    else
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                    "sandbox '%s' not ready in time (raise the timeout); console: %s", c->name,
                    *tail ? tail : "(empty)");
}

static gboolean
want_guest(const Create *c)
{
    /* The test driver has no guest: there is no agent to wait for. */
    return vmm_host_for(c->ctx->conn)->has_guests;
}

static gboolean
step_agent(Create *c, GError **error)
{
    g_autoptr(GError) local = NULL;
    gint64 left_ms = (c->deadline - g_get_monotonic_time()) / 1000;

    if (left_ms > 0 && vmm_agent_wait(c->dom, left_ms, &local))
        return TRUE;
    not_ready(c, local, error);
    return FALSE;
}

/* Ready when cloud-init's last stage wrote result.json with no error in it or in status.json:
 * what `cloud-init status` calls done. Asked in sh (dash starts in ms) because cloud-init
 * status is python: 2-3 s of imports under TCG. Anything else (cloud-init disabled or not
 * installed, an error) asks cloud-init status itself for the verdict and its words. */
#define CLOUD_INIT_READY_SH                                                                        \
    "r=/run/cloud-init/result.json; s=/run/cloud-init/status.json; "                               \
    "if [ -e /run/cloud-init/enabled ] && [ -x /usr/bin/cloud-init ]; then "                       \
    "while [ ! -e $r ]; do sleep 0.25; done; "                                                     \
    "if ! grep -qs '\"errors\": \\[$' $r $s; then echo 'status: done'; exit 0; fi; "               \
    "fi; "                                                                                         \
    "exec cloud-init status --wait --long"

static gboolean
step_cloud_init(Create *c, GError **error)
{
    const char *status_argv[] = {"/bin/sh", "-c", CLOUD_INIT_READY_SH, NULL};
    g_autoptr(GError) local = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err_out = NULL;
    gint64 left_ms = (c->deadline - g_get_monotonic_time()) / 1000;
    int code = -1;

    if (!want_guest(c))
        return TRUE; /* test:/// has no cloud-init: the stage is there, and instant */
    if (left_ms <= 0 ||
        !vmm_agent_run(c->dom, status_argv, left_ms, &code, &out, &err_out, &local)) {
        not_ready(c, local, error);
        return FALSE;
    }
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
                    "sandbox '%s': cloud-init did not finish cleanly (%s); console in %s", c->name,
                    first, c->console);
        return FALSE;
    }
    return TRUE;
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

/* Scrubs cloud-init's copies of the secrets in the guest, detaches and deletes the seed. */
static gboolean
step_finish(Create *c, GError **error)
{
    g_autofree char *seed_disk = NULL;

    if (want_guest(c) && vmm_secrets_count(vmm_create_seed_secrets(c)) > 0) {
        /* cloud-init's on-disk copies of the user-data hold the secrets (base64). */
        const char *scrub_argv[] = {VMM_SEED_SCRUB, NULL};
        g_autofree char *so = NULL, *se = NULL;
        int code = -1;
        if (!vmm_agent_run(c->dom, scrub_argv, 120 * 1000, &code, &so, &se, error))
            return FALSE;
        if (code != 0) {
            g_autofree char *shown = vmm_escape(se ? g_strstrip(se) : "", -1, 200);
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "sandbox '%s': %s exited %d (%s)",
                        c->name, VMM_SEED_SCRUB, code, shown);
            return FALSE;
        }
    }
    seed_disk = vmm_domain_xml_seed_disk(c->seed_path);
    if (virDomainDetachDeviceFlags(c->dom, seed_disk,
                                   VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) < 0) {
        g_autofree char *noseed = NULL;
        g_autoptr(virDomain) redefined = NULL;

        if (vmm_error_libvirt_last_code() != VIR_ERR_NO_SUPPORT)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot detach the seed of '%s'",
                                     c->name);
        /* Drivers without hot-unplug (test:///): at least drop it from the definition. */
        c->dc.seed = NULL;
        noseed = vmm_domain_xml_build(&c->dc, error);
        if (!noseed)
            return FALSE;
        if (!(redefined = virDomainDefineXML(c->ctx->conn, noseed)))
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot redefine '%s'", c->name);
    }
    if (unlink(c->seed_path) != 0 && errno != ENOENT) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot delete %s: %s", c->seed_path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_create_want_snapshot(const Create *c)
{
    return want_guest(c) && !(c->flags & VMM_CREATE_NO_SNAPSHOT);
}

gboolean
vmm_create_step_snapshot(Create *c, GError **error)
{
    /* A pooled guest's caches were dropped before it was saved: nothing much to drop. */
    return wait_detached(c->dom, VMM_SEED_TARGET, error) &&
           vmm_snapshot_take_locked(c->ctx, c->name, VMM_SNAPSHOT_CLEAN, c->slot == NULL, error);
}

#define SLOT(field) ((gssize)offsetof(VmmCreateTimings, field))

/* The procedure. Crash points: tests/integration/crash.sh kills create at each. */
static const CreateStep steps[] = {
    {"overlay", "overlay", SLOT(overlay), NULL, step_overlay},
    {"network", "network", SLOT(network), vmm_create_want_network, vmm_create_step_network},
    {"gateway", NULL, SLOT(network), vmm_create_want_gateway, vmm_create_step_gateway},
    {"seed", "seed", SLOT(seed), NULL, step_seed},
    {"define", "define", SLOT(define), NULL, step_define},
    {"boot", "boot", SLOT(boot), NULL, step_boot},
    {NULL, NULL, SLOT(boot), want_guest, step_agent}, /* boot lasts until the agent answers */
    {"cloud-init", "ready", SLOT(cloud_init), NULL, step_cloud_init}, /* seed.iso still there */
    {"finish", NULL, SLOT(finish), NULL, step_finish},
    {"snapshot", "snapshot", SLOT(snapshot), vmm_create_want_snapshot, vmm_create_step_snapshot},
};

gboolean
vmm_create_run_steps(Create *c, const CreateStep *table, gsize n, GError **error)
{
    for (gsize i = 0; i < n; i++) {
        const CreateStep *s = &table[i];
        gint64 now = g_get_monotonic_time();
        gboolean ok;

        if (s->wanted && !s->wanted(c))
            continue;
        if (s->stage && c->ctx->progress)
            c->ctx->progress(s->stage, (now - c->start) / 1e6, c->ctx->progress_data);
        ok = s->run(c, error);
        if (s->timing >= 0)
            *(gdouble *)((char *)c->t + s->timing) += (g_get_monotonic_time() - now) / 1e6;
        if (!ok)
            return FALSE;
        if (s->crash)
            vmm_journal_crash_point(s->crash);
    }
    return TRUE;
}

static void
create_clear(Create *c)
{
    g_free(c->dir);
    g_free(c->overlay);
    g_free(c->seed_path);
    g_free(c->console);
    g_free(c->obj);
    g_free((char *)c->dc.kernel);
    g_free((char *)c->dc.initrd);
    vmm_image_free(c->image);
    vmm_metadata_free(c->md);
    vmm_gateway_setup_free(c->gw);
    vmm_pool_slot_free(c->slot);
    g_free(c->slot_dir);
    g_free(c->restore_xml);
    if (c->dom)
        virDomainFree(c->dom);
}

static gboolean
create_locked(Create *c, GError **error)
{
    gboolean had = FALSE;
    uuid_t uuid;

    if (!check(c, error))
        return FALSE;
    /* Leftovers of a create that died half-way carry our name and nobody owns them. */
    if (!vmm_sandbox_remove_locked(c->ctx, c->name, &had, error) ||
        !vmm_journal_begin(c->ctx->state_dir, c->name, "create", error))
        return FALSE;
    if (had)
        g_debug("removed leftovers of an earlier create of '%s'", c->name);
    uuid_generate_random(uuid);
    uuid_unparse_lower(uuid, c->uuid);
    fill_metadata(c);
    if (!(c->flags & VMM_CREATE_COLD) && vmm_host_for(c->ctx->conn)->has_guests) {
        g_autoptr(GError) warm_err = NULL;
        if (vmm_create_warm(c, &warm_err)) {
            c->t->warm = TRUE;
            g_strlcpy(c->t->pool, c->slot->pool, sizeof(c->t->pool));
            goto done;
        }
        if (warm_err) {
            /* The pooled guest is spent; the sandbox is still owed: roll back, boot it cold. */
            g_autoptr(GError) cleanup_err = NULL;
            g_autofree char *why = g_strdup_printf("warm create failed: %s", warm_err->message);
            if (!vmm_sandbox_remove_locked(c->ctx, c->name, NULL, &cleanup_err)) {
                g_propagate_prefixed_error(error, g_steal_pointer(&warm_err),
                                           "(cleanup also failed: %s; airlock gc retries it) ",
                                           cleanup_err->message);
                return FALSE;
            }
            /* The cold create starts from nothing: what the warm one left is gone. */
            g_clear_pointer(&c->slot, vmm_pool_slot_free);
            g_clear_pointer(&c->slot_dir, g_free);
            g_clear_pointer(&c->restore_xml, g_free);
            g_clear_pointer(&c->md->mac, g_free);
            if (c->dom)
                g_clear_pointer(&c->dom, virDomainFree);
            memset(c->t, 0, sizeof(*c->t));
            g_strlcpy(c->t->cold_reason, why, sizeof(c->t->cold_reason));
        }
    }
    if (!vmm_create_run_steps(c, steps, G_N_ELEMENTS(steps), error)) {
        /* One rollback for any prefix of the steps; a failed one leaves the intent for gc. */
        g_autoptr(GError) cleanup_err = NULL;
        if (!vmm_sandbox_remove_locked(c->ctx, c->name, NULL, &cleanup_err))
            g_prefix_error(error, "(cleanup also failed: %s; airlock gc retries it) ",
                           cleanup_err->message);
        return FALSE;
    }
done:
    c->t->total = (g_get_monotonic_time() - c->start) / 1e6;
    vmm_journal_end(c->ctx->state_dir, c->name);
    return TRUE;
}

gboolean
vmm_sandbox_create(VmmContext *ctx, const char *name, const VmmSpec *spec,
                   const VmmSecrets *secrets, guint timeout_s, VmmCreateFlags flags,
                   VmmCreateTimings *timings, GError **error)
{
    VmmCreateTimings local = {0};
    Create c = {.ctx = ctx, .name = name, .spec = spec, .secrets = secrets, .flags = flags};
    int lock;
    gboolean ok;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    c.t = timings ? timings : &local;
    memset(c.t, 0, sizeof(*c.t));
    c.start = g_get_monotonic_time();
    c.deadline = c.start + (gint64)timeout_s * G_USEC_PER_SEC;
    c.dir = vmm_path_sandbox_dir(ctx->state_dir, name);
    c.overlay = g_build_filename(c.dir, "overlay.qcow2", NULL);
    c.seed_path = g_build_filename(c.dir, "seed.iso", NULL);
    c.console = g_build_filename(c.dir, "console.log", NULL);
    c.obj = vmm_name_object(name);
    c.md = vmm_metadata_new();
    lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    ok = lock >= 0 && create_locked(&c, error);
    vmm_sandbox_unlock(ctx->state_dir, name, lock, !ok); /* rolled back: nothing to lock */
    create_clear(&c);
    return ok;
}
