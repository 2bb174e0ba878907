/* tokens.c: airlockd's bearer tokens, stored as sha256 only (see tokens.h). */
#include <config.h>

#include "tokens.h"
#include "api.h"
#include "error.h"
#include "fsutil.h"

#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#define TOKENS_FILE "tokens.json"
#define TOKENS_MAX (1024 * 1024)
#define TOKEN_PREFIX "airlock_"

void
vmm_token_free(VmmToken *t)
{
    if (!t)
        return;
    g_free(t->id);
    g_free(t->sha256);
    g_free(t->user);
    g_free(t->created);
    g_free(t->expires);
    g_free(t->note);
    g_free(t);
}

char *
vmm_tokens_path(const char *state_dir)
{
    return g_build_filename(state_dir, TOKENS_FILE, NULL);
}

static gboolean
is_hex(const char *s, gsize n)
{
    return s && strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

GPtrArray *
vmm_tokens_parse(const char *text, gsize len, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_token_free);
    g_autoptr(JsonParser) p = json_parser_new();
    JsonArray *a;

    if (len == 0)
        return g_steal_pointer(&out);
    if (!json_parser_load_from_data(p, text, (gssize)len, NULL) ||
        !JSON_NODE_HOLDS_ARRAY(json_parser_get_root(p)))
        goto bad;
    a = json_node_get_array(json_parser_get_root(p));
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o;
        VmmToken *t;
        if (!JSON_NODE_HOLDS_OBJECT(n))
            goto bad;
        o = json_node_get_object(n);
        t = g_new0(VmmToken, 1);
        g_ptr_array_add(out, t);
        t->id = g_strdup(json_object_get_string_member_with_default(o, "id", NULL));
        t->sha256 = g_strdup(json_object_get_string_member_with_default(o, "sha256", NULL));
        t->uid = json_object_get_int_member_with_default(o, "uid", -1);
        t->user = g_strdup(json_object_get_string_member_with_default(o, "user", NULL));
        t->created = g_strdup(json_object_get_string_member_with_default(o, "created", NULL));
        t->expires = g_strdup(json_object_get_string_member_with_default(o, "expires", NULL));
        t->note = g_strdup(json_object_get_string_member_with_default(o, "note", NULL));
        if (!is_hex(t->id, 8) || !is_hex(t->sha256, 64) || t->uid < 0 || !t->user)
            goto bad;
    }
    return g_steal_pointer(&out);
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "the tokens file is damaged (airlock token list; remove it to revoke every token)");
    return NULL;
}

JsonNode *
vmm_token_to_json(const VmmToken *t)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, t->id);
    json_builder_set_member_name(b, "uid");
    json_builder_add_int_value(b, t->uid);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, t->user);
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, t->created);
    json_builder_set_member_name(b, "expires");
    if (t->expires)
        json_builder_add_string_value(b, t->expires);
    else
        json_builder_add_null_value(b);
    json_builder_set_member_name(b, "note");
    json_builder_add_string_value(b, t->note ? t->note : "");
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *
vmm_tokens_format(GPtrArray *tokens, gsize *len)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
    JsonArray *a = json_array_new();

    for (guint i = 0; i < tokens->len; i++) {
        const VmmToken *t = g_ptr_array_index(tokens, i);
        JsonNode *n = vmm_token_to_json(t);
        json_object_set_string_member(json_node_get_object(n), "sha256", t->sha256);
        json_array_add_element(a, n);
    }
    json_node_take_array(root, a);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, len);
}

static gboolean
equal_ct(const char *a, const char *b)
{
    gsize la = strlen(a), lb = strlen(b);
    guchar diff = la != lb;

    for (gsize i = 0; i < la && i < lb; i++)
        diff |= (guchar)(a[i] ^ b[i]);
    return diff == 0;
}

const VmmToken *
vmm_tokens_match(GPtrArray *tokens, const char *token, gint64 now, GError **error)
{
    g_autofree char *hash = NULL;
    g_autofree char *id = NULL;

    if (!token || !g_str_has_prefix(token, TOKEN_PREFIX) ||
        strlen(token) != strlen(TOKEN_PREFIX) + 8 + 1 + 64 ||
        token[strlen(TOKEN_PREFIX) + 8] != '_') {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED,
                    "not an airlock token (airlock token create makes one)");
        return NULL;
    }
    id = g_strndup(token + strlen(TOKEN_PREFIX), 8);
    hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
    for (guint i = 0; tokens && i < tokens->len; i++) {
        const VmmToken *t = g_ptr_array_index(tokens, i);
        if (!g_str_equal(t->id, id))
            continue;
        if (!equal_ct(t->sha256, hash))
            break;
        if (t->expires) {
            g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
            g_autoptr(GDateTime) exp = g_date_time_new_from_iso8601(t->expires, utc);
            if (!exp || g_date_time_to_unix(exp) <= now) {
                g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED,
                            "token %s expired at %s (airlock token create makes a new one)", t->id,
                            t->expires);
                return NULL;
            }
        }
        return t;
    }
    g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED,
                "unknown or revoked token %s (airlock token list shows the valid ones)", id);
    return NULL;
}

/* ---- the file ------------------------------------------------------------------------ */

/* The state directory, opened and checked, and locked for @exclusive use. */
static int
open_locked(const char *state_dir, gboolean exclusive, GError **error)
{
    int fd = vmm_fs_open_own_dir(state_dir, error);

    if (fd < 0)
        return -1;
    if (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot lock %s", state_dir);
        return -1;
    }
    return fd;
}

static GPtrArray *
load_at(int dirfd, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;

    text = vmm_fs_read_at(dirfd, TOKENS_FILE, TOKENS_MAX, &len, &local);
    if (!text) {
        if (g_error_matches(local, VMM_ERROR, VMM_ERROR_NOT_FOUND))
            return g_ptr_array_new_with_free_func((GDestroyNotify)vmm_token_free);
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    return vmm_tokens_parse(text, len, error);
}

GPtrArray *
vmm_tokens_load(const char *state_dir, GError **error)
{
    int fd = open_locked(state_dir, FALSE, error);
    GPtrArray *out;

    if (fd < 0)
        return NULL;
    out = load_at(fd, error);
    close(fd);
    return out;
}

static char *
now_plus(gint64 seconds)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autoptr(GDateTime) t = g_date_time_add_seconds(now, (gdouble)seconds);
    return g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
}

char *
vmm_tokens_create(const char *state_dir, uid_t uid, const char *user, gint64 ttl_s,
                  const char *note, char **id, GError **error)
{
    g_autoptr(GPtrArray) tokens = NULL;
    g_autofree char *data = NULL;
    g_autofree char *secret = NULL;
    guchar raw[36];
    VmmToken *t;
    char *token;
    gsize len;
    int fd;

    if (getrandom(raw, sizeof raw, 0) != sizeof raw) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "no random bytes for a token");
        return NULL;
    }
    if ((fd = open_locked(state_dir, TRUE, error)) < 0)
        return NULL;
    if (!(tokens = load_at(fd, error))) {
        close(fd);
        return NULL;
    }
    t = g_new0(VmmToken, 1);
    t->id = g_strdup_printf("%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
    secret = g_malloc(65);
    for (int i = 0; i < 32; i++)
        g_snprintf(secret + 2 * i, 3, "%02x", raw[4 + i]);
    token = g_strdup_printf(TOKEN_PREFIX "%s_%s", t->id, secret);
    explicit_bzero(raw, sizeof raw);
    explicit_bzero(secret, 64);
    t->sha256 = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
    t->uid = uid;
    t->user = g_strdup(user);
    t->created = now_plus(0);
    t->expires = ttl_s > 0 ? now_plus(ttl_s) : NULL;
    t->note = g_strdup(note);
    g_ptr_array_add(tokens, t);
    if (id)
        *id = g_strdup(t->id);
    data = vmm_tokens_format(tokens, &len);
    if (!vmm_fs_write_at(fd, TOKENS_FILE, data, (gssize)len, 0600, error)) {
        close(fd);
        explicit_bzero(token, strlen(token));
        g_free(token);
        return NULL;
    }
    close(fd);
    return token;
}

gboolean
vmm_tokens_revoke(const char *state_dir, const char *id, GError **error)
{
    g_autoptr(GPtrArray) tokens = NULL;
    g_autofree char *data = NULL;
    gboolean found = FALSE, ok;
    gsize len;
    int fd;

    if ((fd = open_locked(state_dir, TRUE, error)) < 0)
        return FALSE;
    if (!(tokens = load_at(fd, error))) {
        close(fd);
        return FALSE;
    }
    for (guint i = 0; i < tokens->len; i++)
        if (g_str_equal(((VmmToken *)tokens->pdata[i])->id, id)) {
            g_ptr_array_remove_index(tokens, i);
            found = TRUE;
            break;
        }
    if (!found) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "token '%s' not found (airlock token list shows them)", id);
        return FALSE;
    }
    data = vmm_tokens_format(tokens, &len);
    ok = vmm_fs_write_at(fd, TOKENS_FILE, data, (gssize)len, 0600, error);
    close(fd);
    return ok;
}
