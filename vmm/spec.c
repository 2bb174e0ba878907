/* spec.c: sandbox spec file (GKeyFile) parse + validate. Pure. */
#include <config.h>

#include "spec.h"
#include "keyfile-text.h"
#include "enum.h"
#include "error.h"
#include "names.h"
#include "secrets.h"
#include "gateway/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

VMM_ENUM_IMPL(net_mode, VmmNetMode, VMM_NET_MODE_LAST, "none", "isolated", "allow")

const char *
vmm_net_mode_to_string(VmmNetMode mode)
{
    return net_mode_name(mode);
}

gboolean
vmm_net_mode_from_string(const char *str, VmmNetMode *mode, GError **error)
{
    if (net_mode_lookup(str, mode))
        return TRUE;
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
    spec->parts = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_cloud_part_free);
    return spec;
}

void
vmm_spec_free(VmmSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->image);
    g_free(spec->image_digest);
    g_free(spec->secrets_file);
    g_strfreev(spec->deny);
    g_ptr_array_unref(spec->parts);
    g_ptr_array_unref(spec->labels);
    g_ptr_array_unref(spec->env);
    g_strfreev(spec->allow);
    g_strfreev(spec->gateway.models);
    g_free(spec);
}

gboolean
vmm_spec_set_image(VmmSpec *spec, const char *image, GError **error)
{
    const char *at = image ? strchr(image, '@') : NULL;
    g_autofree char *name = at ? g_strndup(image, (gsize)(at - image)) : g_strdup(image);
    g_autofree char *digest = NULL;

    if (!vmm_name_validate(name, "image name", error))
        return FALSE;
    if (at) {
        const char *hex = at + 1 + strlen("sha256:");
        if (!g_str_has_prefix(at + 1, "sha256:") || strlen(hex) != 64 ||
            strspn(hex, "0123456789abcdefABCDEF") != 64) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "image pin after '@' is invalid (use NAME@sha256:<64 hex>, the digest "
                        "`airlock image list` shows)");
            return FALSE;
        }
        digest = g_ascii_strdown(at + 1, -1);
    }
    g_free(spec->image);
    g_free(spec->image_digest);
    spec->image = g_steal_pointer(&name);
    spec->image_digest = g_steal_pointer(&digest);
    return TRUE;
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

gboolean
vmm_spec_parse_size(const char *str, guint64 *bytes, GError **error)
{
    static const char units[] = "KMGT";
    char *end = NULL;
    guint64 v;
    const char *u;
    guint shift = 0;

    if (!str || !g_ascii_isdigit(*str))
        goto bad;
    v = g_ascii_strtoull(str, &end, 10);
    if (*end && (u = strchr(units, g_ascii_toupper(*end)))) {
        shift = 10 * (guint)(u - units + 1);
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
    }
    if (*end == 'B' && shift == 0)
        end++;
    if (*end != '\0' || v == 0 || v > (G_MAXUINT64 >> shift))
        goto bad;
    *bytes = v << shift;
    return TRUE;
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "size '%s' is invalid (use bytes or e.g. 512K, 100M, 1G, 2GiB; more than 0)",
                str ? str : "");
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

/* The spec file's text, for finding where a key is (GKeyFile keeps no line numbers). */
typedef struct {
    const char *path;
    const char *text;
    GKeyFile *kf;
} SpecSrc;

/* Line (1-based) of @key in [@group], or of the header when @key is NULL; 0 if not found. */
static guint
spec_line(const SpecSrc *src, const char *group, const char *key)
{
    return vmm_keyfile_line(src->text, group, key);
}

/* Prefixes @error with "PATH:LINE: [group] key: ". */
static gboolean
spec_fail(const SpecSrc *src, const char *group, const char *key, GError **error)
{
    guint line = spec_line(src, group, key);

    if (key)
        g_prefix_error(error, "%s:%u: [%s] %s: ", src->path, line, group, key);
    else
        g_prefix_error(error, "%s:%u: [%s]: ", src->path, line, group);
    return FALSE;
}

static gboolean spec_error(const SpecSrc *src, const char *group, const char *key, GError **error,
                           const char *fmt, ...) G_GNUC_PRINTF(5, 6);

static gboolean
spec_error(const SpecSrc *src, const char *group, const char *key, GError **error, const char *fmt,
           ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, VMM_ERROR, VMM_ERROR_INVALID, msg);
    return spec_fail(src, group, key, error);
}

/* The raw value (no GKeyFile escapes) of [group] key, stripped, or NULL. */
static char *
spec_raw(const SpecSrc *src, const char *group, const char *key)
{
    char *v = g_key_file_get_value(src->kf, group, key, NULL);

    return v ? g_strstrip(v) : NULL;
}

/* Splits a raw value at ';' ("\;" is a literal ';'); empty items dropped. */
static char **
split_list(const char *raw)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    GString *cur = g_string_new(NULL);

    for (const char *p = raw;; p++) {
        if (*p == '\\' && p[1] == ';') {
            g_string_append_c(cur, ';');
            p++;
        } else if (*p == ';' || !*p) {
            char *item = g_strstrip(g_strdup(cur->str));
            if (*item)
                g_ptr_array_add(out, item);
            else
                g_free(item);
            g_string_truncate(cur, 0);
            if (!*p)
                break;
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_string_free(cur, TRUE);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

static gboolean
get_uint(const SpecSrc *src, const char *group, const char *key, guint min, guint max, guint *out,
         GError **error)
{
    g_autofree char *s = spec_raw(src, group, key);
    char *end = NULL;
    guint64 v;

    if (!s)
        return TRUE;
    v = g_ascii_strtoull(s, &end, 10);
    if (!*s || !g_ascii_isdigit(*s) || *end || v < min || v > max)
        return spec_error(src, group, key, error, "'%s' is not a whole number in %u-%u", s, min,
                          max);
    *out = (guint)v;
    return TRUE;
}

static const char *const sandbox_keys[] = {"image", "cpus",   "memory",        "disk",
                                           "ttl",   "labels", "max-copy-size", NULL};
static const char *const network_keys[] = {"mode", "allow", NULL};
static const char *const secrets_keys[] = {"file", "deny", NULL};
static const char *const cloud_init_keys[] = {"parts", NULL};
static const char *const gateway_keys[] = {"enable",         "max-calls", "max-tokens",
                                           "max-concurrent", "models",    NULL};

static gboolean
check_keys(const SpecSrc *src, GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(src->kf, NULL);

    for (char **g = groups; *g; g++) {
        const char *const *allowed = NULL;
        g_auto(GStrv) keys = g_key_file_get_keys(src->kf, *g, NULL, NULL);

        if (!strcmp(*g, "sandbox"))
            allowed = sandbox_keys;
        else if (!strcmp(*g, "network"))
            allowed = network_keys;
        else if (!strcmp(*g, "secrets"))
            allowed = secrets_keys;
        else if (!strcmp(*g, "cloud-init"))
            allowed = cloud_init_keys;
        else if (!strcmp(*g, "model-gateway"))
            allowed = gateway_keys;
        else if (strcmp(*g, "env") != 0) {
            g_autofree char *shown = g_strescape(*g, NULL);
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: unknown group [%s] (allowed: sandbox, network, secrets, env, "
                        "cloud-init, model-gateway)",
                        src->path, spec_line(src, *g, NULL), shown);
            return FALSE;
        }
        for (char **k = keys; allowed && k && *k; k++) {
            if (!g_strv_contains(allowed, *k)) {
                g_autofree char *list = g_strjoinv(", ", (char **)allowed);
                g_autofree char *shown = g_strescape(*k, NULL);
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:%u: unknown key '%s' in [%s] (allowed: %s)", src->path,
                            spec_line(src, *g, *k), shown, *g, list);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* The first line GKeyFile cannot have liked, for its syntax errors (it names no line). */
static guint
bad_line(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        const char *l = lines[i] + strspn(lines[i], " \t");
        if (*l && *l != '#' && *l != '\r' && !strchr(l, '=') && !(*l == '[' && strchr(l, ']')))
            return i + 1;
    }
    return 1;
}

static gboolean
load_sandbox(VmmSpec *spec, const SpecSrc *src, GError **error)
{
    g_autofree char *s = NULL;

    if ((s = g_key_file_get_string(src->kf, "sandbox", "image", NULL))) {
        if (!vmm_spec_set_image(spec, g_strstrip(s), error))
            return spec_fail(src, "sandbox", "image", error);
        g_clear_pointer(&s, g_free);
    }
    if (!get_uint(src, "sandbox", "cpus", 1, 64, &spec->cpus, error) ||
        !get_uint(src, "sandbox", "memory", VMM_SPEC_MIN_MEMORY, 1024 * 1024, &spec->memory_mib,
                  error) ||
        !get_uint(src, "sandbox", "disk", 0, 1024, &spec->disk_gib, error))
        return FALSE;
    if ((s = spec_raw(src, "sandbox", "ttl"))) {
        if (!vmm_spec_parse_duration(s, &spec->ttl_s, error))
            return spec_fail(src, "sandbox", "ttl", error);
        g_clear_pointer(&s, g_free);
    }
    if ((s = spec_raw(src, "sandbox", "max-copy-size"))) {
        if (!vmm_spec_parse_size(s, &spec->max_copy_bytes, error))
            return spec_fail(src, "sandbox", "max-copy-size", error);
        g_clear_pointer(&s, g_free);
    }
    if ((s = spec_raw(src, "sandbox", "labels"))) {
        g_auto(GStrv) labels = split_list(s);
        for (char **l = labels; *l; l++)
            if (!vmm_spec_add_kv(spec->labels, *l, "label", error))
                return spec_fail(src, "sandbox", "labels", error);
    }
    return TRUE;
}

static gboolean
load_network(VmmSpec *spec, const SpecSrc *src, GError **error)
{
    g_autofree char *s = NULL;

    if ((s = spec_raw(src, "network", "mode"))) {
        if (!vmm_net_mode_from_string(s, &spec->net_mode, error))
            return spec_fail(src, "network", "mode", error);
        g_clear_pointer(&s, g_free);
    }
    /* allow = HOST:PORT;...  (implies mode=allow unless mode says otherwise) */
    if ((s = spec_raw(src, "network", "allow"))) {
        g_auto(GStrv) allow = split_list(s);
        for (char **a = allow; *a; a++)
            if (!vmm_spec_add_allow(spec, *a, error))
                return spec_fail(src, "network", "allow", error);
        if (spec->allow && !g_key_file_has_key(src->kf, "network", "mode", NULL))
            spec->net_mode = VMM_NET_MODE_ALLOW;
    }
    return TRUE;
}

/* [model-gateway]: present means enabled (enable=false turns it off); limits only tighten. */
static gboolean
load_gateway(VmmSpec *spec, const SpecSrc *src, GError **error)
{
    static const char *const g = "model-gateway";
    g_autofree char *s = NULL;
    guint calls = 0, tokens = 0;

    if (!g_key_file_has_group(src->kf, g))
        return TRUE;
    spec->gateway.enabled = TRUE;
    if ((s = spec_raw(src, g, "enable"))) {
        if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
            return spec_error(src, g, "enable", error, "'%s' is not true or false", s);
        spec->gateway.enabled = strcmp(s, "true") == 0;
        g_clear_pointer(&s, g_free);
    }
    if (!get_uint(src, g, "max-calls", 0, G_MAXUINT, &calls, error) ||
        !get_uint(src, g, "max-tokens", 0, G_MAXUINT, &tokens, error) ||
        !get_uint(src, g, "max-concurrent", 0, 10000, &spec->gateway.max_concurrent, error))
        return FALSE;
    spec->gateway.max_calls = calls;
    spec->gateway.max_tokens = tokens;
    if ((s = spec_raw(src, g, "models"))) {
        g_auto(GStrv) models = split_list(s);
        for (char **m = models; *m; m++)
            if (!vmm_gateway_model_valid(*m))
                return spec_error(src, g, "models", error,
                                  "'%s' is not a model name (letters, digits, ._:/@-)", *m);
        g_strfreev(spec->gateway.models);
        spec->gateway.models = *models ? g_steal_pointer(&models) : NULL;
    }
    return TRUE;
}

static gboolean
load_secrets_and_parts(VmmSpec *spec, const SpecSrc *src, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(src->path);
    g_autofree char *s = NULL;

    if ((s = spec_raw(src, "secrets", "file"))) {
        g_free(spec->secrets_file);
        spec->secrets_file = g_path_is_absolute(s) ? g_strdup(s) : g_build_filename(dir, s, NULL);
        if (!*s || !g_file_test(spec->secrets_file, G_FILE_TEST_EXISTS))
            return spec_error(src, "secrets", "file", error,
                              "secrets file '%s' not found (paths are relative to the spec's "
                              "directory)",
                              spec->secrets_file);
        g_clear_pointer(&s, g_free);
    }
    if ((s = spec_raw(src, "secrets", "deny"))) {
        g_auto(GStrv) deny = split_list(s);
        for (char **d = deny; *d; d++)
            if (!vmm_secrets_deny_valid(*d, error))
                return spec_fail(src, "secrets", "deny", error);
        g_strfreev(spec->deny);
        spec->deny = g_steal_pointer(&deny);
        g_clear_pointer(&s, g_free);
    }
    if ((s = spec_raw(src, "cloud-init", "parts"))) {
        g_auto(GStrv) parts = split_list(s);
        if (g_strv_length(parts) > VMM_SPEC_PARTS_MAX)
            return spec_error(src, "cloud-init", "parts", error, "more than %d parts",
                              VMM_SPEC_PARTS_MAX);
        for (char **p = parts; *p; p++) {
            g_autofree char *file =
                g_path_is_absolute(*p) ? g_strdup(*p) : g_build_filename(dir, *p, NULL);
            VmmCloudPart *part = vmm_cloud_part_load(file, error);
            if (!part)
                return spec_fail(src, "cloud-init", "parts", error);
            g_ptr_array_add(spec->parts, part);
        }
    }
    return TRUE;
}

gboolean
vmm_spec_load_file(VmmSpec *spec, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    SpecSrc src = {.path = path, .kf = kf};
    struct stat st;

    if (stat(path, &st) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "spec '%s': %s", path, g_strerror(errno));
        return FALSE;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > 1024 * 1024) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "spec '%s' is not a regular file of at most 1 MiB", path);
        return FALSE;
    }
    if (!g_file_get_contents(path, &text, &len, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "spec '%s': %s", path, local->message);
        return FALSE;
    }
    if (memchr(text, '\0', len) || !g_utf8_validate(text, (gssize)len, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: is not UTF-8 text", path);
        return FALSE;
    }
    src.text = text;
    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
        g_autofree char *msg = g_strdelimit(g_strdup(local->message), "\r\n", ' ');
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s:%u: %s", path, bad_line(text), msg);
        return FALSE;
    }
    if (!vmm_keyfile_check_unique(text, path, error) || !check_keys(&src, error))
        return FALSE;
    {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "env", NULL, NULL);
        for (char **k = keys; k && *k; k++) {
            g_autofree char *v = g_key_file_get_string(kf, "env", *k, NULL);
            g_autofree char *kv = g_strdup_printf("%s=%s", *k, v ? v : "");
            if (!vmm_spec_add_kv(spec->env, kv, "env", error))
                return spec_fail(&src, "env", *k, error);
        }
    }
    return load_sandbox(spec, &src, error) && load_network(spec, &src, error) &&
           load_gateway(spec, &src, error) && load_secrets_and_parts(spec, &src, error);
}

gboolean
vmm_spec_validate(const VmmSpec *spec, GError **error)
{
    if (!vmm_name_validate(spec->image, "image name", error))
        return FALSE;
    if (spec->cpus < 1 || spec->cpus > 64) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cpus: %u is out of range (use 1-64)",
                    spec->cpus);
        return FALSE;
    }
    if (spec->memory_mib < VMM_SPEC_MIN_MEMORY) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "memory: %u MiB is too small (use at least %d)", spec->memory_mib,
                    VMM_SPEC_MIN_MEMORY);
        return FALSE;
    }
    if (spec->disk_gib > 1024) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "disk: %u GiB is out of range (use 1-1024)", spec->disk_gib);
        return FALSE;
    }
    if (spec->net_mode == VMM_NET_MODE_ALLOW && !(spec->allow && spec->allow[0])) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "network: mode 'allow' needs at least one allow entry (HOST:PORT)");
        return FALSE;
    }
    if (spec->gateway.enabled && spec->net_mode == VMM_NET_MODE_NONE) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "model-gateway: the gateway is reached over the sandbox's network: not with "
                    "mode 'none'");
        return FALSE;
    }
    if (spec->net_mode != VMM_NET_MODE_ALLOW && spec->allow && spec->allow[0]) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "network: allow '%s' needs mode 'allow', not '%s'", spec->allow[0],
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
    return vmm_spec_hash_full(spec, NULL);
}

char *
vmm_spec_hash_full(const VmmSpec *spec, const char *const *secret_names)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GPtrArray) labels = g_ptr_array_copy(spec->labels, copy_str, NULL);
    g_autoptr(GPtrArray) env = g_ptr_array_copy(spec->env, copy_str, NULL);

    g_ptr_array_set_free_func(labels, g_free);
    g_ptr_array_set_free_func(env, g_free);
    g_ptr_array_sort(labels, cmp_strp);
    g_ptr_array_sort(env, cmp_strp);
    g_string_append_printf(
        s, "image=%s\ncpus=%u\nmemory=%u\ndisk=%u\nnetwork=%s\nttl=%" G_GINT64_FORMAT "\n",
        spec->image, spec->cpus, spec->memory_mib, spec->disk_gib,
        vmm_net_mode_to_string(spec->net_mode), spec->ttl_s);
    for (guint i = 0; i < labels->len; i++)
        g_string_append_printf(s, "label=%s\n", (char *)g_ptr_array_index(labels, i));
    for (guint i = 0; i < env->len; i++)
        g_string_append_printf(s, "env=%s\n", (char *)g_ptr_array_index(env, i));
    for (char **a = spec->allow; a && *a; a++)
        g_string_append_printf(s, "allow=%s\n", *a);
    /* Lines added later only appear when used: older specs keep their hash. */
    if (spec->image_digest)
        g_string_append_printf(s, "image_digest=%s\n", spec->image_digest);
    for (guint i = 0; spec->parts && i < spec->parts->len; i++)
        g_string_append_printf(s, "cloud_init_part=%s\n",
                               ((VmmCloudPart *)g_ptr_array_index(spec->parts, i))->sha256);
    if (spec->gateway.enabled) {
        g_string_append_printf(s,
                               "model_gateway=calls:%" G_GUINT64_FORMAT ",tokens:%" G_GUINT64_FORMAT
                               ",concurrent:%u\n",
                               spec->gateway.max_calls, spec->gateway.max_tokens,
                               spec->gateway.max_concurrent);
        for (char **m = spec->gateway.models; m && *m; m++)
            g_string_append_printf(s, "model_gateway_model=%s\n", *m);
    }
    {
        g_auto(GStrv) names = g_strdupv((char **)secret_names);
        if (names)
            qsort(names, g_strv_length(names), sizeof(char *), cmp_strp);
        for (char **n = names; n && *n; n++)
            g_string_append_printf(s, "secret=%s\n", *n);
    }
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, s->str, s->len);
}
