/* api.c: routes, error bodies and strict request parsing for airlockd (pure). */
#include <config.h>

#include "api.h"
#include "agent-json.h"
#include "error.h"
#include "json-text.h"
#include "names.h"

#include <glib/gstdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(vmm - api - error - quark, vmm_api_error)

/* ---- errors -------------------------------------------------------------------------- */

const char *
vmm_api_error_code(const GError *error)
{
    static const char *const api[] = {"unauthorized", "forbidden", "quota",
                                      "too-large",    "not-found", "method-not-allowed",
                                      "unavailable"};

    if (error && error->domain == VMM_API_ERROR && error->code >= 0 &&
        (gsize)error->code < G_N_ELEMENTS(api))
        return api[error->code];
    return vmm_error_code_to_string(error);
}

guint
vmm_api_error_status(const GError *error)
{
    static const guint api[] = {401, 403, 403, 413, 404, 405, 503};

    if (!error)
        return 500;
    if (error->domain == VMM_API_ERROR)
        return error->code >= 0 && (gsize)error->code < G_N_ELEMENTS(api) ? api[error->code] : 500;
    if (error->domain != VMM_ERROR)
        return 500;
    switch ((VmmErrorCode)error->code) {
    case VMM_ERROR_INVALID:
        return 400;
    case VMM_ERROR_NOT_FOUND:
        return 404;
    case VMM_ERROR_EXISTS:
        return 409;
    case VMM_ERROR_CONNECT:
    case VMM_ERROR_HOST:
        return 503;
    case VMM_ERROR_LIBVIRT:
    case VMM_ERROR_AGENT:
        return 502;
    case VMM_ERROR_TIMEOUT:
        return 504;
    default:
        return 500;
    }
}

JsonNode *
vmm_api_error_body(const GError *error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "code");
    json_builder_add_string_value(b, vmm_api_error_code(error));
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, error ? error->message : "unknown error");
    json_builder_end_object(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *
vmm_api_to_data(JsonNode *node, gsize *len)
{
    /* Numbers as the CLI's --json writes them: 0.217, not 0.21703700000000001. */
    return vmm_json_text(node, FALSE, len);
}

/* ---- routes -------------------------------------------------------------------------- */

static const struct {
    const char *method;
    const char *path; /* segments; {name} a sandbox name, {tag} a snapshot tag, {kind} a log */
    VmmRoute route;
} routes[] = {
    {"GET", "/v1/sandboxes", VMM_ROUTE_SANDBOXES},
    {"POST", "/v1/sandboxes", VMM_ROUTE_SANDBOXES},
    {"GET", "/v1/sandboxes/{name}", VMM_ROUTE_SANDBOX},
    {"DELETE", "/v1/sandboxes/{name}", VMM_ROUTE_SANDBOX},
    {"POST", "/v1/sandboxes/{name}/reset", VMM_ROUTE_RESET},
    {"POST", "/v1/sandboxes/{name}/pause", VMM_ROUTE_PAUSE},
    {"POST", "/v1/sandboxes/{name}/resume", VMM_ROUTE_RESUME},
    {"POST", "/v1/sandboxes/{name}/ttl", VMM_ROUTE_TTL},
    {"GET", "/v1/sandboxes/{name}/snapshots", VMM_ROUTE_SNAPSHOTS},
    {"POST", "/v1/sandboxes/{name}/snapshots", VMM_ROUTE_SNAPSHOTS},
    {"DELETE", "/v1/sandboxes/{name}/snapshots/{tag}", VMM_ROUTE_SNAPSHOT},
    {"GET", "/v1/sandboxes/{name}/stats", VMM_ROUTE_STATS},
    {"POST", "/v1/sandboxes/{name}/exec", VMM_ROUTE_EXEC},
    {"GET", "/v1/sandboxes/{name}/exec", VMM_ROUTE_EXEC_WS},
    {"GET", "/v1/sandboxes/{name}/files", VMM_ROUTE_FILES},
    {"PUT", "/v1/sandboxes/{name}/files", VMM_ROUTE_FILES},
    {"GET", "/v1/sandboxes/{name}/logs/{kind}", VMM_ROUTE_LOG},
    {"GET", "/v1/events", VMM_ROUTE_EVENTS},
    {"GET", "/v1/images", VMM_ROUTE_IMAGES},
    {"GET", "/v1/audit/verify", VMM_ROUTE_AUDIT_VERIFY},
    {"GET", "/v1/whoami", VMM_ROUTE_WHOAMI},
    {"GET", "/v1/openapi.json", VMM_ROUTE_OPENAPI},
};

void
vmm_route_match_clear(VmmRouteMatch *m)
{
    g_clear_pointer(&m->name, g_free);
    g_clear_pointer(&m->tag, g_free);
    m->route = VMM_ROUTE_NONE;
}

/* Does @path's segments fit @tmpl? Fills name/tag; *@bad_param when a parameter is invalid. */
static gboolean
fits(const char *tmpl, char **segs, VmmRouteMatch *m, gboolean *bad_param)
{
    g_auto(GStrv) t = g_strsplit(tmpl, "/", -1);
    guint i;

    if (g_strv_length(t) != g_strv_length(segs))
        return FALSE;
    for (i = 0; t[i]; i++) {
        if (g_str_equal(t[i], "{name}")) {
            if (!vmm_name_validate(segs[i], "sandbox name", NULL))
                *bad_param = TRUE;
        } else if (g_str_equal(t[i], "{tag}")) {
            if (!vmm_name_validate(segs[i], "snapshot tag", NULL))
                *bad_param = TRUE;
        } else if (g_str_equal(t[i], "{kind}")) {
            if (!g_str_equal(segs[i], "console") && !g_str_equal(segs[i], "dns"))
                *bad_param = TRUE;
        } else if (!g_str_equal(t[i], segs[i])) {
            return FALSE;
        }
    }
    if (*bad_param)
        return TRUE;
    for (i = 0; t[i]; i++) {
        if (g_str_equal(t[i], "{name}"))
            m->name = g_strdup(segs[i]);
        else if (g_str_equal(t[i], "{tag}") || g_str_equal(t[i], "{kind}"))
            m->tag = g_strdup(segs[i]);
    }
    return TRUE;
}

gboolean
vmm_route_match(const char *method, const char *path, VmmRouteMatch *m, GError **error)
{
    g_auto(GStrv) segs = NULL;
    gboolean path_known = FALSE;

    vmm_route_match_clear(m);
    if (!path || strlen(path) > 1024 || !g_utf8_validate(path, -1, NULL)) {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE, "no such path");
        return FALSE;
    }
    segs = g_strsplit(path, "/", -1);
    for (gsize i = 0; i < G_N_ELEMENTS(routes); i++) {
        VmmRouteMatch tmp = {0};
        gboolean bad = FALSE;

        if (!fits(routes[i].path, segs, &tmp, &bad))
            continue;
        if (bad) {
            vmm_route_match_clear(&tmp);
            /* An invalid name can name nothing: the same answer as an unknown one. */
            g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE,
                        "no such path '%s' (a name is 1-63 of [a-z0-9-]; GET /v1/openapi.json "
                        "lists the routes)",
                        path);
            return FALSE;
        }
        path_known = TRUE;
        if (g_str_equal(routes[i].method, method)) {
            *m = tmp;
            m->route = routes[i].route;
            return TRUE;
        }
        vmm_route_match_clear(&tmp);
    }
    if (path_known)
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_METHOD, "%s is not allowed on %s", method,
                    path);
    else
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE,
                    "no such path '%s' (GET /v1/openapi.json lists the routes)", path);
    return FALSE;
}

const char *const *
vmm_route_templates(void)
{
    static char *all[G_N_ELEMENTS(routes) + 1];

    if (!all[0])
        for (gsize i = 0; i < G_N_ELEMENTS(routes); i++)
            all[i] = g_strdup_printf("%s %s", routes[i].method, routes[i].path);
    return (const char *const *)all;
}

/* ---- strict JSON --------------------------------------------------------------------- */

/* The body as an object; INVALID when it is not JSON or not an object. */
static JsonObject *
parse_object(const char *body, gsize len, JsonParser **parser, GError **error)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    g_autoptr(GError) local = NULL;
    JsonNode *root;

    if (!body || len == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the request body must be a JSON object");
        return NULL;
    }
    if (!g_utf8_validate(body, (gssize)len, NULL) || memchr(body, 0, len)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the request body is not UTF-8 JSON");
        return NULL;
    }
    {
        /* json-glib leaks on some malformed input: a client cannot make the daemon grow. */
        g_autofree char *text = g_strndup(body, len);
        if (!vmm_json_is_one_object(text)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "the request body must be exactly one JSON object");
            return NULL;
        }
    }
    if (!json_parser_load_from_data(p, body, (gssize)len, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the request body is not JSON: %s",
                    local->message);
        return NULL;
    }
    root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the request body must be a JSON object");
        return NULL;
    }
    *parser = g_steal_pointer(&p);
    return json_node_get_object(root);
}

/* Refuses a member not in @known (NULL-terminated). */
static gboolean
only_known(JsonObject *o, const char *const *known, const char *what, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next)
        if (!g_strv_contains(known, l->data)) {
            g_autofree char *list = g_strjoinv(", ", (char **)known);
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "unknown field '%s' in the %s request (known: %s)", (char *)l->data, what,
                        list);
            return FALSE;
        }
    return TRUE;
}

static gboolean
get_string(JsonObject *o, const char *key, const char **out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);

    *out = NULL;
    if (!n)
        return TRUE;
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        *out = json_node_get_string(n);
        return TRUE;
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field '%s' must be a string", key);
    return FALSE;
}

/* A non-negative integer no larger than @max; *@set tells whether it was given. */
static gboolean
get_uint(JsonObject *o, const char *key, guint max, guint *out, gboolean *set, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);
    gint64 v;

    if (set)
        *set = FALSE;
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        (v = json_node_get_int(n)) < 0 || v > max) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field '%s' must be an integer 0..%u", key,
                    max);
        return FALSE;
    }
    *out = (guint)v;
    if (set)
        *set = TRUE;
    return TRUE;
}

static gboolean
get_bool(JsonObject *o, const char *key, gboolean *out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field '%s' must be true or false", key);
        return FALSE;
    }
    *out = json_node_get_boolean(n);
    return TRUE;
}

/* Calls @fn(key, value) for each member of the object of strings @key. */
static gboolean
each_kv(JsonObject *o, const char *key,
        gboolean (*fn)(const char *k, const char *v, gpointer d, GError **error), gpointer data,
        GError **error)
{
    JsonNode *n = json_object_get_member(o, key);
    g_autoptr(GList) members = NULL;
    JsonObject *kv;

    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "field '%s' must be an object of strings {\"KEY\": \"VALUE\"}", key);
        return FALSE;
    }
    kv = json_node_get_object(n);
    members = json_object_get_members(kv);
    for (GList *l = members; l; l = l->next) {
        JsonNode *v = json_object_get_member(kv, l->data);
        if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s '%s' must be a string", key,
                        (char *)l->data);
            return FALSE;
        }
        if (!fn(l->data, json_node_get_string(v), data, error))
            return FALSE;
    }
    return TRUE;
}

/* A list of strings (NULL-terminated copy in *@out, NULL when absent). */
static gboolean
get_strv(JsonObject *o, const char *key, char ***out, GError **error)
{
    JsonNode *n = json_object_get_member(o, key);
    g_autoptr(GPtrArray) v = g_ptr_array_new_with_free_func(g_free);
    JsonArray *a;

    *out = NULL;
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(n))
        goto bad;
    a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
            goto bad;
        g_ptr_array_add(v, g_strdup(json_node_get_string(e)));
    }
    g_ptr_array_add(v, NULL);
    *out = (char **)g_ptr_array_free(g_steal_pointer(&v), FALSE);
    return TRUE;
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field '%s' must be a list of strings", key);
    return FALSE;
}

/* ---- create -------------------------------------------------------------------------- */

void
vmm_api_create_free(VmmApiCreate *c)
{
    if (!c)
        return;
    g_free(c->name);
    vmm_spec_free(c->spec);
    vmm_secrets_free(c->secrets);
    g_free(c);
}

static gboolean
add_label(const char *k, const char *v, gpointer data, GError **error)
{
    g_autofree char *kv = g_strdup_printf("%s=%s", k, v);
    return vmm_spec_add_kv(((VmmSpec *)data)->labels, kv, "label", error);
}

static gboolean
add_env(const char *k, const char *v, gpointer data, GError **error)
{
    g_autofree char *kv = g_strdup_printf("%s=%s", k, v);
    return vmm_spec_add_kv(((VmmSpec *)data)->env, kv, "env", error);
}

static gboolean
add_secret(const char *k, const char *v, gpointer data, GError **error)
{
    return vmm_secrets_add(data, k, v, error);
}

/*
 * The spec text, refused when it names a host file: the daemon runs as root
 * and reads nothing on a client's behalf.
 */
static gboolean
load_spec_text(VmmSpec *spec, const char *text, const char *tmp_dir, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *path = NULL;
    gboolean ok;
    int fd;

    if (!g_key_file_load_from_data(kf, text, -1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "spec: %s", local->message);
        return FALSE;
    }
    if (g_key_file_has_key(kf, "secrets", "file", NULL) || g_key_file_has_group(kf, "cloud-init")) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "spec: [secrets] file and [cloud-init] name host files, which the API does "
                    "not read (send secrets in the \"secrets\" field)");
        return FALSE;
    }
    path = g_build_filename(tmp_dir, "spec-XXXXXX", NULL);
    fd = g_mkstemp_full(path, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, strlen(text)) != (gssize)strlen(text)) {
        if (fd >= 0) {
            close(fd);
            g_unlink(path);
        }
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot stage the spec in %s", tmp_dir);
        return FALSE;
    }
    close(fd);
    ok = vmm_spec_load_file(spec, path, &local);
    g_unlink(path);
    if (!ok) {
        /* The staged file's name means nothing to the client: point at the spec instead. */
        const char *msg = local->message;
        if (g_str_has_prefix(msg, path))
            msg += strlen(path);
        g_set_error(error, VMM_ERROR, local->code, "spec%s", msg);
        return FALSE;
    }
    return TRUE;
}

VmmApiCreate *
vmm_api_parse_create(const char *body, gsize len, const char *tmp_dir, GError **error)
{
    static const char *const known[] = {
        "name", "spec", "image",  "cpus",    "memory_mib", "disk_gib",    "network", "allow",
        "ttl",  "env",  "labels", "secrets", "timeout_s",  "no_snapshot", "cold",    NULL};
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(VmmApiCreate) c = g_new0(VmmApiCreate, 1);
    g_auto(GStrv) allow = NULL;
    const char *name, *spec_text, *image, *network;
    guint cpus = 0, memory = 0, disk = 0;
    gboolean has_cpus, has_memory, has_disk;
    JsonObject *o = parse_object(body, len, &p, error);
    JsonNode *ttl;

    if (!o || !only_known(o, known, "create", error) || !get_string(o, "name", &name, error) ||
        !get_string(o, "spec", &spec_text, error) || !get_string(o, "image", &image, error) ||
        !get_string(o, "network", &network, error) ||
        !get_uint(o, "cpus", 1024, &cpus, &has_cpus, error) ||
        !get_uint(o, "memory_mib", 1024 * 1024, &memory, &has_memory, error) ||
        !get_uint(o, "disk_gib", 1024 * 1024, &disk, &has_disk, error) ||
        !get_uint(o, "timeout_s", 24 * 3600, &c->timeout_s, NULL, error) ||
        !get_bool(o, "no_snapshot", &c->no_snapshot, error) ||
        !get_bool(o, "cold", &c->cold, error) || !get_strv(o, "allow", &allow, error))
        return NULL;
    if (!name) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field 'name' is required");
        return NULL;
    }
    if (!vmm_name_validate(name, "sandbox name", error))
        return NULL;
    c->name = g_strdup(name);
    c->spec = vmm_spec_new();
    /* As on the command line: the spec first, then every field given overrides it. */
    if (spec_text && !load_spec_text(c->spec, spec_text, tmp_dir, error))
        return NULL;
    if (image && !vmm_spec_set_image(c->spec, image, error))
        return NULL;
    if (has_cpus)
        c->spec->cpus = cpus;
    if (has_memory)
        c->spec->memory_mib = memory;
    if (has_disk)
        c->spec->disk_gib = disk;
    if (network && !vmm_net_mode_from_string(network, &c->spec->net_mode, error))
        return NULL;
    for (char **a = allow; a && *a; a++)
        if (!vmm_spec_add_allow(c->spec, *a, error))
            return NULL;
    if (allow && *allow && !network)
        c->spec->net_mode = VMM_NET_MODE_ALLOW;
    if ((ttl = json_object_get_member(o, "ttl"))) {
        if (JSON_NODE_HOLDS_VALUE(ttl) && json_node_get_value_type(ttl) == G_TYPE_STRING) {
            if (!vmm_spec_parse_duration(json_node_get_string(ttl), &c->spec->ttl_s, error))
                return NULL;
        } else if (JSON_NODE_HOLDS_VALUE(ttl) && json_node_get_value_type(ttl) == G_TYPE_INT64 &&
                   json_node_get_int(ttl) >= 0) {
            c->spec->ttl_s = json_node_get_int(ttl);
        } else {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "field 'ttl' must be seconds or a duration like \"2h\"");
            return NULL;
        }
    }
    if (!each_kv(o, "env", add_env, c->spec, error) ||
        !each_kv(o, "labels", add_label, c->spec, error))
        return NULL;
    if (json_object_has_member(o, "secrets")) {
        c->secrets = vmm_secrets_new();
        if (!each_kv(o, "secrets", add_secret, c->secrets, error))
            return NULL;
    }
    if (!vmm_spec_validate(c->spec, error))
        return NULL;
    return g_steal_pointer(&c);
}

/* ---- exec, snapshot, reset ----------------------------------------------------------- */

void
vmm_api_exec_free(VmmApiExec *e)
{
    if (!e)
        return;
    g_strfreev(e->argv);
    g_strfreev(e->env);
    g_free(e->workdir);
    g_free(e->user);
    g_free(e->group);
    if (e->input)
        g_bytes_unref(e->input);
    g_free(e);
}

static gboolean
add_exec_env(const char *k, const char *v, gpointer data, GError **error)
{
    if (!vmm_secrets_valid_key(k)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "env name '%s' is not valid (letters, digits, _; not starting with a digit)",
                    k);
        return FALSE;
    }
    g_ptr_array_add(data, g_strdup_printf("%s=%s", k, v));
    return TRUE;
}

/* A user or group for the guest: a name or a number, as useradd allows (NULL: not given). */
static gboolean
account_name_valid(const char *v, const char *field, GError **error)
{
    if (!v)
        return TRUE;
    if (!*v || strlen(v) > 32 || v[0] == '-' ||
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
            strlen(v)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "field '%s' must be a user or group name or number (letters, digits, _ . -; "
                    "at most 32)",
                    field);
        return FALSE;
    }
    return TRUE;
}

VmmApiExec *
vmm_api_parse_exec(const char *body, gsize len, gboolean websocket, GError **error)
{
    static const char *const known[] = {
        "argv", "env",   "workdir", "stdin", "stdin_base64", "timeout_s", "sandbox_env",
        "user", "group", "tty",     "cols",  "rows",         NULL};
    g_autoptr(JsonParser) p = NULL;
    g_autoptr(VmmApiExec) e = g_new0(VmmApiExec, 1);
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    const char *workdir, *in, *in64, *user, *group;
    JsonObject *o = parse_object(body, len, &p, error);

    e->sandbox_env = TRUE;
    if (!o || !only_known(o, known, "exec", error) || !get_strv(o, "argv", &e->argv, error) ||
        !get_string(o, "user", &user, error) || !get_string(o, "group", &group, error) ||
        !get_bool(o, "tty", &e->tty, error) || !get_uint(o, "cols", 1000, &e->cols, NULL, error) ||
        !get_uint(o, "rows", 1000, &e->rows, NULL, error) ||
        !get_string(o, "workdir", &workdir, error) || !get_string(o, "stdin", &in, error) ||
        !get_string(o, "stdin_base64", &in64, error) ||
        !get_uint(o, "timeout_s", 24 * 3600, &e->timeout_s, NULL, error) ||
        !get_bool(o, "sandbox_env", &e->sandbox_env, error) ||
        !each_kv(o, "env", add_exec_env, env, error))
        return NULL;
    if (!e->argv || !e->argv[0] || !*e->argv[0]) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "field 'argv' is required: the program and its arguments");
        return NULL;
    }
    if (in && in64) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "give 'stdin' or 'stdin_base64', not both");
        return NULL;
    }
    if (websocket && (in || in64)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "over the websocket stdin is streamed: send it as binary messages");
        return NULL;
    }
    if (!websocket && (e->tty || e->cols || e->rows)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "'tty', 'cols' and 'rows' need the websocket exec (GET with Upgrade)");
        return NULL;
    }
    if (!account_name_valid(user, "user", error) || !account_name_valid(group, "group", error))
        return NULL;
    e->user = g_strdup(user);
    e->group = g_strdup(group);
    if (workdir && !vmm_api_guest_path_valid(workdir, error))
        return NULL;
    e->workdir = g_strdup(workdir);
    if (in) {
        e->input = g_bytes_new(in, strlen(in));
    } else if (in64) {
        gsize n = 0;
        guchar *raw;
        if (strspn(in64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
            strlen(in64)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field 'stdin_base64' is not base64");
            return NULL;
        }
        raw = g_base64_decode(in64, &n);
        e->input = g_bytes_new_take(raw, n);
    }
    if (env->len) {
        g_ptr_array_add(env, NULL);
        e->env = (char **)g_ptr_array_free(g_steal_pointer(&env), FALSE);
    }
    return g_steal_pointer(&e);
}

gboolean
vmm_api_parse_exec_control(const char *text, gsize len, gboolean *eof, int *signal, guint *cols,
                           guint *rows, GError **error)
{
    static const char *const known[] = {"eof", "signal", "resize", NULL};
    static const struct {
        const char *name;
        int number;
    } signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},  {"KILL", SIGKILL},
                   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},  {"CONT", SIGCONT},
                   {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}};
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = parse_object(text, len, &p, error);
    JsonNode *sig;

    *eof = FALSE;
    *signal = 0;
    *cols = *rows = 0;
    if (!o || !only_known(o, known, "exec control", error))
        return FALSE;
    if (json_object_get_size(o) != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "an exec control message has exactly one of 'eof', 'signal', 'resize'");
        return FALSE;
    }
    if (json_object_has_member(o, "eof"))
        return get_bool(o, "eof", eof, error);
    if ((sig = json_object_get_member(o, "signal"))) {
        if (JSON_NODE_HOLDS_VALUE(sig) && json_node_get_value_type(sig) == G_TYPE_STRING) {
            const char *name = json_node_get_string(sig);
            if (g_str_has_prefix(name, "SIG"))
                name += 3;
            for (gsize i = 0; i < G_N_ELEMENTS(signals); i++)
                if (g_str_equal(name, signals[i].name))
                    *signal = signals[i].number;
        } else if (JSON_NODE_HOLDS_VALUE(sig) && json_node_get_value_type(sig) == G_TYPE_INT64) {
            gint64 n = json_node_get_int(sig);
            for (gsize i = 0; i < G_N_ELEMENTS(signals); i++)
                if (n == signals[i].number)
                    *signal = signals[i].number;
        }
        if (!*signal) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "field 'signal' must be one of HUP INT QUIT KILL USR1 USR2 TERM CONT STOP "
                        "TSTP WINCH (or its number)");
            return FALSE;
        }
        return TRUE;
    }
    {
        JsonNode *rn = json_object_get_member(o, "resize");
        JsonObject *r = rn && JSON_NODE_HOLDS_OBJECT(rn) ? json_node_get_object(rn) : NULL;
        static const char *const dims[] = {"cols", "rows", NULL};
        gboolean c_set = FALSE, r_set = FALSE;
        if (!r) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "field 'resize' must be an object {\"cols\": C, \"rows\": R}");
            return FALSE;
        }
        if (!only_known(r, dims, "resize", error) ||
            !get_uint(r, "cols", 1000, cols, &c_set, error) ||
            !get_uint(r, "rows", 1000, rows, &r_set, error))
            return FALSE;
        if (!c_set || !r_set || !*cols || !*rows) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "field 'resize' needs 'cols' and 'rows', each from 1 to 1000");
            return FALSE;
        }
        return TRUE;
    }
}

char *
vmm_api_parse_snapshot(const char *body, gsize len, GError **error)
{
    static const char *const known[] = {"tag", NULL};
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = parse_object(body, len, &p, error);
    const char *tag;

    if (!o || !only_known(o, known, "snapshot", error) || !get_string(o, "tag", &tag, error))
        return NULL;
    if (!tag) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "field 'tag' is required");
        return NULL;
    }
    if (!vmm_name_validate(tag, "snapshot tag", error))
        return NULL;
    return g_strdup(tag);
}

gboolean
vmm_api_parse_reset(const char *body, gsize len, char **tag, GError **error)
{
    static const char *const known[] = {"tag", NULL};
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o;
    const char *t;

    *tag = NULL;
    if (!body || len == 0)
        return TRUE;
    if (!(o = parse_object(body, len, &p, error)) || !only_known(o, known, "reset", error) ||
        !get_string(o, "tag", &t, error))
        return FALSE;
    if (t && !vmm_name_validate(t, "snapshot tag", error))
        return FALSE;
    *tag = g_strdup(t);
    return TRUE;
}

gboolean
vmm_api_parse_ttl(const char *body, gsize len, VmmTtlChange *change, gint64 *seconds,
                  GError **error)
{
    static const char *const known[] = {"ttl", NULL};
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o;
    const char *t = NULL;

    if (!(o = parse_object(body, len, &p, error)) || !only_known(o, known, "ttl", error) ||
        !get_string(o, "ttl", &t, error))
        return FALSE;
    if (!t) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "field 'ttl' is required (\"2h\", \"+2h\" or \"none\")");
        return FALSE;
    }
    return vmm_ttl_parse(t, change, seconds, error);
}

/* ---- paths, labels, frames ----------------------------------------------------------- */

gboolean
vmm_api_guest_path_valid(const char *path, GError **error)
{
    g_auto(GStrv) parts = NULL;

    if (!path || path[0] != '/' || strlen(path) > 4096 || !g_utf8_validate(path, -1, NULL))
        goto bad;
    for (const char *c = path; *c; c++)
        if ((guchar)*c < 0x20 || *c == 0x7f)
            goto bad;
    if (strstr(path, "//"))
        goto bad;
    parts = g_strsplit(path + 1, "/", -1);
    for (char **s = parts; *s; s++)
        if (g_str_equal(*s, ".") || g_str_equal(*s, ".."))
            goto bad;
    return TRUE;
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "guest path must be absolute, without '.', '..', '//' or control characters "
                "(e.g. /tmp/input.txt)");
    return FALSE;
}

gboolean
vmm_api_labels_match(const char *filter, GPtrArray *labels)
{
    g_auto(GStrv) wants = NULL;

    if (!filter || !*filter)
        return TRUE;
    wants = g_strsplit(filter, ",", -1);
    for (char **w = wants; *w; w++) {
        gboolean found = FALSE;
        gsize klen = strchr(*w, '=') ? (gsize)(strchr(*w, '=') - *w) : strlen(*w);

        for (guint i = 0; labels && i < labels->len && !found; i++) {
            const char *kv = g_ptr_array_index(labels, i);
            if (strchr(*w, '='))
                found = g_str_equal(kv, *w);
            else
                found = strncmp(kv, *w, klen) == 0 && kv[klen] == '=';
        }
        if (!found)
            return FALSE;
    }
    return TRUE;
}

char *
vmm_api_exec_frame(const char *stream, const char *data, gsize len, gsize *out_len)
{
    g_autofree char *b64 = g_base64_encode((const guchar *)data, len);
    char *s = g_strdup_printf("{\"stream\":\"%s\",\"data\":\"%s\"}\n", stream, b64);

    *out_len = strlen(s);
    return s;
}

char *
vmm_api_exec_end_frame(int exit_code, const GError *error, gsize *out_len)
{
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *json = NULL;
    char *s;

    if (error) {
        node = vmm_api_error_body(error);
    } else {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "exit_code");
        json_builder_add_int_value(b, exit_code);
        json_builder_end_object(b);
        node = json_builder_get_root(b);
    }
    json = vmm_api_to_data(node, NULL);
    s = g_strdup_printf("%s\n", json);
    *out_len = strlen(s);
    return s;
}

char *
vmm_api_sse(const char *kind, const char *json)
{
    /* One line of JSON: a newline in it would end the data field early. */
    g_autofree char *line = g_strdup(json);
    g_strdelimit(line, "\r\n", ' ');
    return g_strdup_printf("event: %s\ndata: %s\n\n", kind, line);
}
