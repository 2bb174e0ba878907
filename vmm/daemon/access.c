/* access.c: roles, visibility, quotas and airlockd.conf (pure). */
#include <config.h>

#include "access.h"
#include "api.h"
#include "error.h"
#include "names.h"

#include <string.h>

const char *
vmm_role_to_string(VmmRole role)
{
    switch (role) {
    case VMM_ROLE_ADMIN:
        return "admin";
    case VMM_ROLE_USER:
        return "user";
    default:
        return "none";
    }
}

VmmRole
vmm_access_role(const VmmPeer *peer, const VmmAccessGroups *groups)
{
    gboolean user = FALSE;

    if (peer->uid == 0)
        return VMM_ROLE_ADMIN;
    for (guint i = 0; i < peer->n_gids; i++) {
        if (groups->admin_gid != (gid_t)-1 && peer->gids[i] == groups->admin_gid)
            return VMM_ROLE_ADMIN;
        if (groups->user_gid != (gid_t)-1 && peer->gids[i] == groups->user_gid)
            user = TRUE;
    }
    return user ? VMM_ROLE_USER : VMM_ROLE_NONE;
}

gboolean
vmm_access_sees(VmmRole role, const char *user, const char *owner)
{
    if (role == VMM_ROLE_ADMIN)
        return TRUE;
    return role == VMM_ROLE_USER && user && owner && g_str_equal(user, owner);
}

gboolean
vmm_quota_check(const VmmQuota *q, const char *user, const VmmUsage *used, guint cpus,
                guint memory_mib, GError **error)
{
    if (q->sandboxes && used->sandboxes + 1 > q->sandboxes) {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_QUOTA,
                    "quota exceeded for '%s': %u of %u sandboxes in use (destroy one first)", user,
                    used->sandboxes, q->sandboxes);
        return FALSE;
    }
    if (q->memory_mib && (guint64)used->memory_mib + memory_mib > q->memory_mib) {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_QUOTA,
                    "quota exceeded for '%s': %u MiB in use + %u MiB asked > %u MiB of memory "
                    "(ask for less or destroy a sandbox)",
                    user, used->memory_mib, memory_mib, q->memory_mib);
        return FALSE;
    }
    if (q->cpus && (guint64)used->cpus + cpus > q->cpus) {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_QUOTA,
                    "quota exceeded for '%s': %u vCPUs in use + %u asked > %u vCPUs (ask for "
                    "fewer or destroy a sandbox)",
                    user, used->cpus, cpus, q->cpus);
        return FALSE;
    }
    return TRUE;
}

VmmDaemonConfig *
vmm_daemon_config_new(void)
{
    VmmDaemonConfig *c = g_new0(VmmDaemonConfig, 1);

    c->quota.sandboxes = VMM_QUOTA_DEFAULT_SANDBOXES;
    c->quota.memory_mib = VMM_QUOTA_DEFAULT_MEMORY_MIB;
    c->quota.cpus = VMM_QUOTA_DEFAULT_CPUS;
    c->admin_group = g_strdup("airlock-admin");
    c->user_group = g_strdup("airlock");
    return c;
}

void
vmm_daemon_config_free(VmmDaemonConfig *c)
{
    if (!c)
        return;
    g_free(c->admin_group);
    g_free(c->user_group);
    g_free(c);
}

static gboolean
read_uint(GKeyFile *kf, const char *path, const char *key, guint *out, GError **error)
{
    g_autofree char *v = g_key_file_get_value(kf, "quota", key, NULL);
    guint64 n;

    if (!v)
        return TRUE;
    if (!g_ascii_string_to_unsigned(g_strstrip(v), 10, 0, G_MAXINT32, &n, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: [quota] %s must be a whole number (0: no limit)", path, key);
        return FALSE;
    }
    *out = (guint)n;
    return TRUE;
}

static gboolean
read_group(GKeyFile *kf, const char *path, const char *key, char **out, GError **error)
{
    g_autofree char *v = g_key_file_get_value(kf, "access", key, NULL);

    if (!v)
        return TRUE;
    g_strstrip(v);
    if (!*v || strlen(v) > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(v)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [access] %s must be a group name",
                    path, key);
        return FALSE;
    }
    g_free(*out);
    *out = g_steal_pointer(&v);
    return TRUE;
}

gboolean
vmm_daemon_config_parse(VmmDaemonConfig *c, const char *text, const char *path, GError **error)
{
    static const char *const quota_keys[] = {"sandboxes", "memory", "cpus", NULL};
    static const char *const access_keys[] = {"admin-group", "user-group", NULL};
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) groups = NULL;

    if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: %s", path, local->message);
        return FALSE;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        const char *const *known = g_str_equal(*g, "quota")    ? quota_keys
                                   : g_str_equal(*g, "access") ? access_keys
                                                               : NULL;
        g_auto(GStrv) keys = NULL;
        if (!known) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: unknown group [%s] (known: [quota], [access])", path, *g);
            return FALSE;
        }
        keys = g_key_file_get_keys(kf, *g, NULL, NULL);
        for (char **k = keys; k && *k; k++)
            if (!g_strv_contains(known, *k)) {
                g_autofree char *list = g_strjoinv(", ", (char **)known);
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s: unknown key '%s' in [%s] (known: %s)", path, *k, *g, list);
                return FALSE;
            }
    }
    return read_uint(kf, path, "sandboxes", &c->quota.sandboxes, error) &&
           read_uint(kf, path, "memory", &c->quota.memory_mib, error) &&
           read_uint(kf, path, "cpus", &c->quota.cpus, error) &&
           read_group(kf, path, "admin-group", &c->admin_group, error) &&
           read_group(kf, path, "user-group", &c->user_group, error);
}
