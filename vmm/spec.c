/* spec.c: sandbox spec file (GKeyFile) parse + validate. Pure. */
#include <config.h>

#include "spec.h"
#include "error.h"
#include "names.h"
#include "secrets.h"

#include <stdio.h>
#include <string.h>

static const char *const net_modes[VMM_NET_MODE_LAST] = {
    [VMM_NET_MODE_NONE] = "none",
    [VMM_NET_MODE_ISOLATED] = "isolated",
    [VMM_NET_MODE_ALLOW] = "allow",
};

const char *
vmm_net_mode_to_string(VmmNetMode mode)
{
    return mode < VMM_NET_MODE_LAST ? net_modes[mode] : "unknown";
}

gboolean
vmm_net_mode_from_string(const char *str, VmmNetMode *mode, GError **error)
{
    for (int i = 0; i < VMM_NET_MODE_LAST; i++) {
        if (g_strcmp0(str, net_modes[i]) == 0) {
            *mode = i;
            return TRUE;
        }
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "network mode '%s' is unknown (use isolated, none or allow)", str ? str : "");
    return FALSE;
}

VmmSpec *
vmm_spec_new(void)
{
    VmmSpec *spec = g_new0(VmmSpec, 1);

    spec->image = g_strdup(VMM_SPEC_DEFAULT_IMAGE);
    spec->cpus = VMM_SPEC_DEFAULT_CPUS;
    spec->memory_mib = VMM_SPEC_DEFAULT_MEMORY;
    spec->net_mode = VMM_NET_MODE_ISOLATED;
    spec->labels = g_ptr_array_new_with_free_func(g_free);
    spec->env = g_ptr_array_new_with_free_func(g_free);
    return spec;
}

void
vmm_spec_free(VmmSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->image);
    g_free(spec->secrets_file);
    g_ptr_array_unref(spec->labels);
    g_ptr_array_unref(spec->env);
    g_strfreev(spec->allow);
    g_free(spec);
}

gboolean
vmm_spec_parse_duration(const char *str, gint64 *seconds, GError **error)
{
    char *end = NULL;
    guint64 v;
    gint64 mult = 1;

    if (!str || !g_ascii_isdigit(*str))
        goto bad;
    v = g_ascii_strtoull(str, &end, 10);
    if (*end == 's')
        mult = 1, end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (*end != '\0' || v > G_MAXINT32)
        goto bad;
    *seconds = (gint64)v * mult;
    return TRUE;
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "duration '%s' is invalid (use e.g. 90s, 30m, 2h or 1d)", str ? str : "");
    return FALSE;
}

static gboolean
valid_label_key(const char *key)
{
    if (!*key || strlen(key) > 63)
        return FALSE;
    for (const char *p = key; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
    return TRUE;
}

gboolean
vmm_spec_add_kv(GPtrArray *list, const char *kv, const char *what, GError **error)
{
    const char *eq = strchr(kv, '=');
    g_autofree char *key = eq ? g_strndup(kv, eq - kv) : NULL;
    gboolean ok;

    if (!key) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s '%s' is not KEY=VALUE", what, kv);
        return FALSE;
    }
    ok = strcmp(what, "env") == 0 ? vmm_secrets_valid_key(key) : valid_label_key(key);
    if (!ok || strchr(eq + 1, '\n') || strlen(eq + 1) > 1024) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s key '%s' is invalid (use letters, digits and _%s, value on one line)", what,
                    key, strcmp(what, "env") == 0 ? "" : " - .");
        return FALSE;
    }
    /* A later definition of the same key replaces the earlier one (CLI overrides file). */
    for (guint i = 0; i < list->len; i++) {
        const char *old = g_ptr_array_index(list, i);
        if (strncmp(old, kv, strlen(key) + 1) == 0) {
            g_ptr_array_remove_index(list, i);
            break;
        }
    }
    g_ptr_array_add(list, g_strdup(kv));
    return TRUE;
}

gboolean
vmm_spec_parse_allow(const char *entry, char **host, guint *port, GError **error)
{
    const char *colon = entry ? strrchr(entry, ':') : NULL;
    g_autofree char *h = colon ? g_strndup(entry, colon - entry) : NULL;
    char *end = NULL;
    guint64 p = 0;
    guint a, b, c, d;
    char tail;

    if (colon && g_ascii_isdigit(colon[1]))
        p = g_ascii_strtoull(colon + 1, &end, 10);
    if (!h || !end || *end || p < 1 || p > 65535)
        goto bad;
    /* Strict dotted quad: no hostnames (nothing to resolve them safely at create). */
    if (strcmp(h, "host") != 0 &&
        (sscanf(h, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 ||
         c > 255 || d > 255 || a == 0 || strspn(h, "0123456789.") != strlen(h)))
        goto bad;
    if (host)
        *host = g_steal_pointer(&h);
    if (port)
        *port = p;
    return TRUE;
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "allow entry '%s' is invalid (use host:PORT or IPV4:PORT, e.g. host:8080)",
                entry ? entry : "");
    return FALSE;
}

gboolean
vmm_spec_add_allow(VmmSpec *spec, const char *entry, GError **error)
{
    guint n = spec->allow ? g_strv_length(spec->allow) : 0;

    if (!vmm_spec_parse_allow(entry, NULL, NULL, error))
        return FALSE;
    if (spec->allow && g_strv_contains((const char *const *)spec->allow, entry))
        return TRUE;
    spec->allow = g_renew(char *, spec->allow, n + 2);
    spec->allow[n] = g_strdup(entry);
    spec->allow[n + 1] = NULL;
    return TRUE;
}

static gboolean
get_uint(GKeyFile *kf, const char *path, const char *group, const char *key, guint *out,
         GError **error)
{
    g_autofree char *s = g_key_file_get_string(kf, group, key, NULL);
    char *end = NULL;
    guint64 v;

    if (!s)
        return TRUE;
    v = g_ascii_strtoull(g_strstrip(s), &end, 10);
    if (!*s || *end || v > G_MAXUINT32) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: [%s] %s = '%s' is not a whole number", path, group, key, s);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean
vmm_spec_load_file(VmmSpec *spec, const char *path, GError **error)
{
    static const char *const sandbox_keys[] = {"image", "cpus", "memory", "disk", "ttl", "labels", NULL};
    static const char *const network_keys[] = {"mode", "allow", NULL};
    static const char *const secrets_keys[] = {"file", NULL};
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) groups = NULL;
    g_autofree char *s = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "spec '%s': %s", path, local->message);
        return FALSE;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        const char *const *allowed = NULL;
        g_auto(GStrv) keys = g_key_file_get_keys(kf, *g, NULL, NULL);

        if (!strcmp(*g, "sandbox"))
            allowed = sandbox_keys;
        else if (!strcmp(*g, "network"))
            allowed = network_keys;
        else if (!strcmp(*g, "secrets"))
            allowed = secrets_keys;
        else if (strcmp(*g, "env") != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: unknown group [%s] (allowed: sandbox, network, secrets, env)", path, *g);
            return FALSE;
        }
        for (char **k = keys; allowed && k && *k; k++) {
            if (!g_strv_contains(allowed, *k)) {
                g_autofree char *list = g_strjoinv(", ", (char **)allowed);
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s: unknown key '%s' in [%s] (allowed: %s)", path, *k, *g, list);
                return FALSE;
            }
        }
        if (!strcmp(*g, "env")) {
            for (char **k = keys; k && *k; k++) {
                g_autofree char *v = g_key_file_get_string(kf, *g, *k, NULL);
                g_autofree char *kv = g_strdup_printf("%s=%s", *k, v ? v : "");
                if (!vmm_spec_add_kv(spec->env, kv, "env", error))
                    return FALSE;
            }
        }
    }

    if ((s = g_key_file_get_string(kf, "sandbox", "image", NULL))) {
        g_free(spec->image);
        spec->image = g_strdup(g_strstrip(s));
        g_clear_pointer(&s, g_free);
    }
    if (!get_uint(kf, path, "sandbox", "cpus", &spec->cpus, error) ||
        !get_uint(kf, path, "sandbox", "memory", &spec->memory_mib, error) ||
        !get_uint(kf, path, "sandbox", "disk", &spec->disk_gib, error))
        return FALSE;
    if ((s = g_key_file_get_string(kf, "sandbox", "ttl", NULL))) {
        if (!vmm_spec_parse_duration(g_strstrip(s), &spec->ttl_s, error)) {
            g_prefix_error(error, "%s: [sandbox] ttl: ", path);
            return FALSE;
        }
        g_clear_pointer(&s, g_free);
    }
    {
        g_auto(GStrv) labels = g_key_file_get_string_list(kf, "sandbox", "labels", NULL, NULL);
        for (char **l = labels; l && *l; l++)
            if (!vmm_spec_add_kv(spec->labels, g_strstrip(*l), "label", error))
                return FALSE;
    }
    if ((s = g_key_file_get_string(kf, "network", "mode", NULL))) {
        if (!vmm_net_mode_from_string(g_strstrip(s), &spec->net_mode, error)) {
            g_prefix_error(error, "%s: [network] mode: ", path);
            return FALSE;
        }
        g_clear_pointer(&s, g_free);
    }
    {
        /* [network] allow = HOST:PORT;...  (implies mode=allow unless mode says otherwise) */
        g_auto(GStrv) allow = g_key_file_get_string_list(kf, "network", "allow", NULL, NULL);
        for (char **a = allow; a && *a; a++) {
            if (!*g_strstrip(*a))
                continue;
            if (!vmm_spec_add_allow(spec, *a, error)) {
                g_prefix_error(error, "%s: [network] allow: ", path);
                return FALSE;
            }
        }
        if (spec->allow && !g_key_file_has_key(kf, "network", "mode", NULL))
            spec->net_mode = VMM_NET_MODE_ALLOW;
    }
    if ((s = g_key_file_get_string(kf, "secrets", "file", NULL))) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_free(spec->secrets_file);
        spec->secrets_file = g_path_is_absolute(g_strstrip(s)) ? g_strdup(s)
                                                               : g_build_filename(dir, s, NULL);
    }
    return TRUE;
}

gboolean
vmm_spec_validate(const VmmSpec *spec, GError **error)
{
    if (!vmm_name_validate(spec->image, "image name", error))
        return FALSE;
    if (spec->cpus < 1 || spec->cpus > 64) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "--cpus %u is out of range (use 1-64)",
                    spec->cpus);
        return FALSE;
    }
    if (spec->memory_mib < VMM_SPEC_MIN_MEMORY) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--memory %u MiB is too small (use at least %d)", spec->memory_mib,
                    VMM_SPEC_MIN_MEMORY);
        return FALSE;
    }
    if (spec->disk_gib > 1024) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--disk-size %u GiB is out of range (use 1-1024)", spec->disk_gib);
        return FALSE;
    }
    if (spec->net_mode == VMM_NET_MODE_ALLOW && !(spec->allow && spec->allow[0])) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "network mode 'allow' needs at least one --allow HOST:PORT");
        return FALSE;
    }
    if (spec->net_mode != VMM_NET_MODE_ALLOW && spec->allow && spec->allow[0]) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--allow '%s' needs network mode 'allow', not '%s'", spec->allow[0],
                    vmm_net_mode_to_string(spec->net_mode));
        return FALSE;
    }
    return TRUE;
}

static gpointer
copy_str(gconstpointer src, gpointer data)
{
    return g_strdup(src);
}

static gint
cmp_strp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
vmm_spec_hash(const VmmSpec *spec)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GPtrArray) labels = g_ptr_array_copy(spec->labels, copy_str, NULL);
    g_autoptr(GPtrArray) env = g_ptr_array_copy(spec->env, copy_str, NULL);

    g_ptr_array_set_free_func(labels, g_free);
    g_ptr_array_set_free_func(env, g_free);
    g_ptr_array_sort(labels, cmp_strp);
    g_ptr_array_sort(env, cmp_strp);
    g_string_append_printf(s, "image=%s\ncpus=%u\nmemory=%u\ndisk=%u\nnetwork=%s\nttl=%" G_GINT64_FORMAT "\n",
                           spec->image, spec->cpus, spec->memory_mib, spec->disk_gib,
                           vmm_net_mode_to_string(spec->net_mode), spec->ttl_s);
    for (guint i = 0; i < labels->len; i++)
        g_string_append_printf(s, "label=%s\n", (char *)g_ptr_array_index(labels, i));
    for (guint i = 0; i < env->len; i++)
        g_string_append_printf(s, "env=%s\n", (char *)g_ptr_array_index(env, i));
    for (char **a = spec->allow; a && *a; a++)
        g_string_append_printf(s, "allow=%s\n", *a);
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, s->str, s->len);
}
