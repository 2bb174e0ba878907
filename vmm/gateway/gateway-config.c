/* gateway-config.c: the gateway's configuration (root-only: it holds the keys) and registry. */
#include <config.h>

#include "gateway.h"
#include "agent-json.h"
#include "error.h"
#include "fsutil.h"
#include "names.h"
#include "spec.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REGISTRY_MAX (16 * 1024)
#define CONFIG_MAX (64 * 1024)
#define MODEL_NAMES_MAX 64

static const char *const kind_names[] = {"openai", "anthropic"};

void
vmm_gateway_limits_clear(VmmGatewayLimits *l)
{
    g_strfreev(l->models);
    memset(l, 0, sizeof *l);
}

static void
provider_free(gpointer p)
{
    VmmGatewayProvider *pv = p;

    g_free(pv->name);
    g_free(pv->upstream);
    g_free(pv->env_prefix);
    if (pv->key) {
        explicit_bzero(pv->key, strlen(pv->key));
        g_free(pv->key);
    }
    g_free(pv);
}

void
vmm_gateway_config_free(VmmGatewayConfig *cfg)
{
    if (!cfg)
        return;
    vmm_gateway_limits_clear(&cfg->limits);
    if (cfg->providers)
        g_ptr_array_unref(cfg->providers);
    g_free(cfg);
}

char *
vmm_gateway_config_path(const char *state_dir)
{
    return g_build_filename(state_dir, "gateway.conf", NULL);
}

gboolean
vmm_gateway_model_valid(const char *m)
{
    gsize n = m ? strlen(m) : 0;

    return n > 0 && n <= 200 &&
           strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/@-") == n;
}

/* "a;b;c" into a list of model names, each checked; empty: NULL (any). */
static gboolean
parse_models(const char *s, char ***out, const char *where, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(s ? s : "", ";", -1);
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);

    for (char **p = parts; *p; p++) {
        g_strstrip(*p);
        if (!**p)
            continue;
        if (!vmm_gateway_model_valid(*p) || list->len >= MODEL_NAMES_MAX) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: models: '%.40s' is not a model name (letters, digits, ._:/@-; at "
                        "most %d names)",
                        where, *p, MODEL_NAMES_MAX);
            return FALSE;
        }
        g_ptr_array_add(list, g_strdup(*p));
    }
    *out = NULL;
    if (list->len) {
        g_ptr_array_add(list, NULL);
        *out = (char **)g_ptr_array_free(g_steal_pointer(&list), FALSE);
    }
    return TRUE;
}

static gboolean
get_u64(GKeyFile *kf, const char *group, const char *key, gboolean size, guint64 max, guint64 *out,
        const char *path, GError **error)
{
    g_autofree char *s = g_key_file_get_value(kf, group, key, NULL);
    guint64 v = 0;

    if (!s)
        return TRUE;
    g_strstrip(s);
    if (size ? !vmm_spec_parse_size(s, &v, NULL)
             : !g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] %s: '%.40s' is not %s", path,
                    group, key, s, size ? "a size (e.g. 4M)" : "a whole number");
        return FALSE;
    }
    if (v > max) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] %s: at most %" G_GUINT64_FORMAT,
                    path, group, key, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

/* http(s)://HOST[:PORT][/PATH] with nothing else; plain http only to the loopback. */
static gboolean
check_upstream(const char *url, const char *where, GError **error)
{
    g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
    const char *scheme = uri ? g_uri_get_scheme(uri) : NULL;
    const char *host = uri ? g_uri_get_host(uri) : NULL;
    gboolean loopback = host && (g_str_equal(host, "127.0.0.1") || g_str_equal(host, "::1") ||
                                 g_str_equal(host, "localhost"));

    if (!uri || !host || !*host || g_uri_get_userinfo(uri) || g_uri_get_query(uri) ||
        g_uri_get_fragment(uri) || !scheme ||
        !(g_str_equal(scheme, "https") || (g_str_equal(scheme, "http") && loopback)) ||
        g_str_has_suffix(url, "/")) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: upstream: '%.80s' must be https://HOST[:PORT][/PATH] without a trailing "
                    "/ (http only to 127.0.0.1)",
                    where, url);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_provider(GKeyFile *kf, const char *group, const char *path, VmmGatewayConfig *cfg,
               GError **error)
{
    static const char *const keys[] = {"kind", "upstream", "key", "env-prefix", NULL};
    g_autofree char *where = g_strdup_printf("%s: [%s]", path, group);
    g_auto(GStrv) have = g_key_file_get_keys(kf, group, NULL, NULL);
    VmmGatewayProvider *pv = g_new0(VmmGatewayProvider, 1);
    g_autofree char *kind = NULL;

    g_ptr_array_add(cfg->providers, pv);
    pv->name = g_strdup(group + strlen("provider "));
    if (!vmm_name_validate(pv->name, "provider name", error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    for (char **k = have; k && *k; k++)
        if (!g_strv_contains(keys, *k)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: unknown key '%s' (allowed: kind, upstream, key, env-prefix)", where,
                        *k);
            return FALSE;
        }
    kind = g_key_file_get_value(kf, group, "kind", NULL);
    if (!kind)
        kind = g_strdup(pv->name);
    g_strstrip(kind);
    for (pv->kind = 0; pv->kind < VMM_GATEWAY_KIND_LAST; pv->kind++)
        if (g_str_equal(kind, kind_names[pv->kind]))
            break;
    if (pv->kind == VMM_GATEWAY_KIND_LAST) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: kind: '%.40s' is not openai or anthropic", where, kind);
        return FALSE;
    }
    pv->upstream = g_key_file_get_value(kf, group, "upstream", NULL);
    pv->key = g_key_file_get_value(kf, group, "key", NULL);
    pv->env_prefix = g_key_file_get_value(kf, group, "env-prefix", NULL);
    if (!pv->upstream || !check_upstream(g_strstrip(pv->upstream), where, error)) {
        if (!pv->upstream)
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: upstream is missing", where);
        return FALSE;
    }
    /* The key becomes a header value: printable ASCII, no spaces (never quoted back). */
    if (!pv->key || !*g_strstrip(pv->key) || strlen(pv->key) > 1024 ||
        strspn(pv->key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=:") !=
            strlen(pv->key)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: key is missing or has characters a header cannot carry", where);
        return FALSE;
    }
    if (!pv->env_prefix)
        pv->env_prefix = g_ascii_strup(kind_names[pv->kind], -1);
    g_strstrip(pv->env_prefix);
    if (!g_regex_match_simple("^[A-Z][A-Z0-9_]{0,31}$", pv->env_prefix, G_REGEX_DOLLAR_ENDONLY,
                              0)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: env-prefix: '%.40s' is not an upper-case variable name", where,
                    pv->env_prefix);
        return FALSE;
    }
    for (guint i = 0; i + 1 < cfg->providers->len; i++) {
        VmmGatewayProvider *o = g_ptr_array_index(cfg->providers, i);
        if (g_str_equal(o->env_prefix, pv->env_prefix)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: env-prefix '%s' is [provider %s]'s too (give one env-prefix=)", where,
                        pv->env_prefix, o->name);
            return FALSE;
        }
    }
    return TRUE;
}

VmmGatewayConfig *
vmm_gateway_config_parse(const char *text, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(VmmGatewayConfig) cfg = g_new0(VmmGatewayConfig, 1);
    g_auto(GStrv) groups = NULL;
    g_autoptr(GError) local = NULL;
    guint64 port = VMM_GATEWAY_DEFAULT_PORT, timeout = 120, conc = 0;
    g_autofree char *models = NULL;

    cfg->providers = g_ptr_array_new_with_free_func(provider_free);
    cfg->max_body = 4 << 20;
    cfg->max_evidence = 256 << 10;
    if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, &local)) {
        /* GKeyFile's message may quote a line: a key could be on it. */
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: not a key file ([gateway], [limits], [provider NAME] groups)", path);
        return NULL;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (g_str_has_prefix(*g, "provider ")) {
            if (!parse_provider(kf, *g, path, cfg, error))
                return NULL;
        } else if (!g_str_equal(*g, "gateway") && !g_str_equal(*g, "limits")) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: unknown group [%.40s] (allowed: gateway, limits, provider NAME)", path,
                        *g);
            return NULL;
        }
    }
    if (!get_u64(kf, "gateway", "port", FALSE, 65535, &port, path, error) ||
        !get_u64(kf, "gateway", "max-body", TRUE, 64 << 20, &cfg->max_body, path, error) ||
        !get_u64(kf, "gateway", "evidence-max", TRUE, 16 << 20, &cfg->max_evidence, path, error) ||
        !get_u64(kf, "gateway", "timeout", FALSE, 3600, &timeout, path, error) ||
        !get_u64(kf, "limits", "max-calls", FALSE, G_MAXINT64, &cfg->limits.max_calls, path,
                 error) ||
        !get_u64(kf, "limits", "max-tokens", FALSE, G_MAXINT64, &cfg->limits.max_tokens, path,
                 error) ||
        !get_u64(kf, "limits", "max-concurrent", FALSE, 10000, &conc, path, error))
        return NULL;
    models = g_key_file_get_value(kf, "limits", "models", NULL);
    if (!parse_models(models, &cfg->limits.models, path, error))
        return NULL;
    if (cfg->providers->len == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: no [provider NAME] group: the gateway has nowhere to forward", path);
        return NULL;
    }
    cfg->port = (guint)port;
    cfg->timeout_s = timeout ? (guint)timeout : 120;
    cfg->limits.max_concurrent = (guint)conc;
    return g_steal_pointer(&cfg);
}

VmmGatewayConfig *
vmm_gateway_config_load(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    gssize n;
    VmmGatewayConfig *cfg;

    if (fd < 0) {
        g_set_error(error, VMM_ERROR, errno == ENOENT ? VMM_ERROR_NOT_FOUND : VMM_ERROR_HOST,
                    "cannot read the model gateway's configuration %s: %s (docs/gateway.md)", path,
                    g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) || st.st_size > CONFIG_MAX) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "%s holds provider keys: it must be a regular file of this user, mode 0600, "
                    "under 64 KiB (chmod 600 %s)",
                    path, path);
        return NULL;
    }
    text = g_malloc0(st.st_size + 1);
    n = read(fd, text, st.st_size);
    close(fd);
    if (n != st.st_size) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read %s", path);
        return NULL;
    }
    cfg = vmm_gateway_config_parse(text, path, error);
    explicit_bzero(text, st.st_size);
    return cfg;
}

char **
vmm_gateway_guest_env(const VmmGatewayConfig *cfg, const char *host_ip)
{
    GPtrArray *env = g_ptr_array_new();

    for (guint i = 0; i < cfg->providers->len; i++) {
        const VmmGatewayProvider *pv = g_ptr_array_index(cfg->providers, i);
        g_ptr_array_add(env, g_strdup_printf("%s_BASE_URL=http://%s:%u/%s%s", pv->env_prefix,
                                             host_ip, cfg->port, pv->name,
                                             pv->kind == VMM_GATEWAY_KIND_OPENAI ? "/v1" : ""));
    }
    g_ptr_array_add(env, NULL);
    return (char **)g_ptr_array_free(env, FALSE);
}

char **
vmm_gateway_key_names(const VmmGatewayConfig *cfg)
{
    GPtrArray *names = g_ptr_array_new();

    for (guint i = 0; i < cfg->providers->len; i++) {
        const VmmGatewayProvider *pv = g_ptr_array_index(cfg->providers, i);
        g_ptr_array_add(names, g_strdup_printf("%s_API_KEY", pv->env_prefix));
    }
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char *
vmm_gateway_token_new(void)
{
    guint8 raw[32];
    GString *s = g_string_new("airlock-gw-");
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    /* GLib's g_random is not meant for secrets: the kernel's generator is. */
    if (fd < 0 || read(fd, raw, sizeof raw) != sizeof raw)
        g_error("cannot read /dev/urandom");
    close(fd);
    for (gsize i = 0; i < sizeof raw; i++)
        g_string_append_printf(s, "%02x", raw[i]);
    explicit_bzero(raw, sizeof raw);
    return g_string_free(s, FALSE);
}

char *
vmm_gateway_token_hash(const char *token)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

void
vmm_gateway_sandbox_free(VmmGatewaySandbox *sb)
{
    if (!sb)
        return;
    g_free(sb->name);
    g_free(sb->host_ip);
    g_free(sb->guest_ip);
    g_free(sb->token_sha256);
    vmm_gateway_limits_clear(&sb->limits);
    g_free(sb);
}

char *
vmm_gateway_sandbox_to_json(const VmmGatewaySandbox *sb)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "sandbox");
    json_builder_add_string_value(b, sb->name);
    json_builder_set_member_name(b, "host_ip");
    json_builder_add_string_value(b, sb->host_ip);
    json_builder_set_member_name(b, "guest_ip");
    json_builder_add_string_value(b, sb->guest_ip);
    json_builder_set_member_name(b, "token_sha256");
    json_builder_add_string_value(b, sb->token_sha256);
    json_builder_set_member_name(b, "max_calls");
    json_builder_add_int_value(b, (gint64)sb->limits.max_calls);
    json_builder_set_member_name(b, "max_tokens");
    json_builder_add_int_value(b, (gint64)sb->limits.max_tokens);
    json_builder_set_member_name(b, "max_concurrent");
    json_builder_add_int_value(b, sb->limits.max_concurrent);
    json_builder_set_member_name(b, "models");
    json_builder_begin_array(b);
    for (char **m = sb->limits.models; m && *m; m++)
        json_builder_add_string_value(b, *m);
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    return json_to_string(root, FALSE);
}

static gboolean
valid_ipv4(const char *s)
{
    g_autoptr(GInetAddress) a = s ? g_inet_address_new_from_string(s) : NULL;

    return a && g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4 &&
           strspn(s, "0123456789.") == strlen(s);
}

/* A string member's value, "" for anything else (json-glib's getters assert on other types). */
static const char *
member_str(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return "";
    return json_node_get_string(n);
}

static gint64
member_uint(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return -1;
    return json_node_get_int(n);
}

VmmGatewaySandbox *
vmm_gateway_sandbox_parse(const char *text, gsize len, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(VmmGatewaySandbox) sb = g_new0(VmmGatewaySandbox, 1);
    g_autofree char *copy = NULL;
    JsonObject *o;
    JsonArray *models;
    gint64 calls, tokens, conc;

    /* @text need not end in a NUL (found by fuzz-gateway): the check reads a C string. */
    if (len > REGISTRY_MAX || memchr(text, 0, len) ||
        !vmm_json_is_one_object((copy = g_strndup(text, len))) ||
        !json_parser_load_from_data(p, copy, len, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "gateway registry: not one JSON object");
        return NULL;
    }
    o = json_node_get_object(json_parser_get_root(p));
    sb->name = g_strdup(member_str(o, "sandbox"));
    sb->host_ip = g_strdup(member_str(o, "host_ip"));
    sb->guest_ip = g_strdup(member_str(o, "guest_ip"));
    sb->token_sha256 = g_strdup(member_str(o, "token_sha256"));
    calls = member_uint(o, "max_calls");
    tokens = member_uint(o, "max_tokens");
    conc = member_uint(o, "max_concurrent");
    {
        JsonNode *m = json_object_get_member(o, "models");
        models = m && JSON_NODE_HOLDS_ARRAY(m) ? json_node_get_array(m) : NULL;
    }
    if (!vmm_name_validate(sb->name, "sandbox name", NULL) || !valid_ipv4(sb->host_ip) ||
        !valid_ipv4(sb->guest_ip) || strlen(sb->token_sha256) != 64 ||
        strspn(sb->token_sha256, "0123456789abcdef") != 64 || calls < 0 || tokens < 0 || conc < 0 ||
        conc > 10000 || !models || json_array_get_length(models) > MODEL_NAMES_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "gateway registry: a field is missing or malformed");
        return NULL;
    }
    sb->limits.max_calls = calls;
    sb->limits.max_tokens = tokens;
    sb->limits.max_concurrent = conc;
    if (json_array_get_length(models)) {
        GPtrArray *list = g_ptr_array_new();
        for (guint i = 0; i < json_array_get_length(models); i++) {
            JsonNode *n = json_array_get_element(models, i);
            const char *m = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                                ? json_node_get_string(n)
                                : NULL;
            if (!vmm_gateway_model_valid(m)) {
                g_ptr_array_free(list, TRUE);
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "gateway registry: bad model");
                return NULL;
            }
            g_ptr_array_add(list, g_strdup(m));
        }
        g_ptr_array_add(list, NULL);
        sb->limits.models = (char **)g_ptr_array_free(list, FALSE);
    }
    return g_steal_pointer(&sb);
}

gboolean
vmm_gateway_register(const char *state_dir, const VmmGatewaySandbox *sb, GError **error)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, sb->name);
    g_autofree char *json = vmm_gateway_sandbox_to_json(sb);
    int fd = vmm_fs_open_own_dir(dir, error);
    gboolean ok;

    if (fd < 0)
        return FALSE;
    ok = vmm_fs_write_at(fd, VMM_GATEWAY_REGISTRY, json, -1, 0600, error);
    close(fd);
    return ok;
}

static guint64
stricter(guint64 a, guint64 b)
{
    return a == 0 ? b : b == 0 ? a : MIN(a, b);
}

void
vmm_gateway_limits_merge(const VmmGatewayLimits *cfg, const VmmGatewayLimits *spec,
                         VmmGatewayLimits *out)
{
    GPtrArray *models = g_ptr_array_new();

    out->max_calls = stricter(cfg->max_calls, spec->max_calls);
    out->max_tokens = stricter(cfg->max_tokens, spec->max_tokens);
    out->max_concurrent = (guint)stricter(cfg->max_concurrent, spec->max_concurrent);
    out->models = NULL;
    if (!cfg->models && !spec->models) {
        g_ptr_array_free(models, TRUE);
        return;
    }
    /* Both lists: what both allow (possibly nothing: then every model is refused). */
    for (char **m = spec->models ? spec->models : cfg->models; *m; m++)
        if (!cfg->models || !spec->models || g_strv_contains((const char *const *)cfg->models, *m))
            g_ptr_array_add(models, g_strdup(*m));
    g_ptr_array_add(models, NULL);
    out->models = (char **)g_ptr_array_free(models, FALSE);
}
