/* secrets.c: test-secret env files: load, validate, redact, wipe on free. Pure: no libvirt. */
#include <config.h>

#include "secrets.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A secrets file is a handful of lines; anything bigger is a mistake. */
#define SECRETS_FILE_MAX (1024 * 1024)
#define KEY_MAX 64

struct _VmmSecrets {
    GPtrArray *keys;   /* char *, g_free */
    GPtrArray *values; /* char *, wiped then g_free; same index as keys */
    GArray *lines;     /* guint: line in @path (0: added by code); same index */
    char *path;        /* the file loaded, or NULL */
};

static void
wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        g_free(s);
    }
}

VmmSecrets *
vmm_secrets_new(void)
{
    VmmSecrets *s = g_new0(VmmSecrets, 1);

    s->keys = g_ptr_array_new_with_free_func(g_free);
    s->values = g_ptr_array_new();
    s->lines = g_array_new(FALSE, TRUE, sizeof(guint));
    return s;
}

void
vmm_secrets_free(VmmSecrets *secrets)
{
    if (!secrets)
        return;
    for (guint i = 0; i < secrets->values->len; i++)
        wipe_free(g_ptr_array_index(secrets->values, i));
    g_ptr_array_free(secrets->values, TRUE);
    g_ptr_array_free(secrets->keys, TRUE);
    g_array_free(secrets->lines, TRUE);
    g_free(secrets->path);
    g_free(secrets);
}

/* Same rule as a key in a line, but on a counted byte range (no copy needed). */
static gboolean
valid_key_len(const char *key, size_t len)
{
    if (len == 0 || len > KEY_MAX)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        gboolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                      (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return FALSE;
    }
    return TRUE;
}

gboolean
vmm_secrets_valid_key(const char *key)
{
    return key && valid_key_len(key, strlen(key));
}

static gint
find_key(const VmmSecrets *secrets, const char *key)
{
    for (guint i = 0; i < secrets->keys->len; i++)
        if (strcmp(g_ptr_array_index(secrets->keys, i), key) == 0)
            return (gint)i;
    return -1;
}

/* Takes ownership of @value (wiped on every path). */
static gboolean
secrets_add_take(VmmSecrets *secrets, const char *key, char *value, guint line, GError **error)
{
    gint i;

    if (!vmm_secrets_valid_key(key)) {
        wipe_free(value);
        /* The key is not shown: a malformed "key" may well be a pasted value. */
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "invalid secret name (use 1-64 of A-Z, a-z, 0-9 and _, not starting with a "
                    "digit)");
        return FALSE;
    }
    i = find_key(secrets, key);
    if (i >= 0) {
        wipe_free(g_ptr_array_index(secrets->values, i));
        g_ptr_array_index(secrets->values, i) = value;
        g_array_index(secrets->lines, guint, i) = line;
        return TRUE;
    }
    g_ptr_array_add(secrets->keys, g_strdup(key));
    g_ptr_array_add(secrets->values, value);
    g_array_append_val(secrets->lines, line);
    return TRUE;
}

gboolean
vmm_secrets_add(VmmSecrets *secrets, const char *key, const char *value, GError **error)
{
    g_return_val_if_fail(secrets != NULL && value != NULL, FALSE);
    return secrets_add_take(secrets, key, g_strdup(value), 0, error);
}

guint
vmm_secrets_count(const VmmSecrets *secrets)
{
    return secrets ? secrets->keys->len : 0;
}

const char *
vmm_secrets_key(const VmmSecrets *secrets, guint i)
{
    g_return_val_if_fail(secrets != NULL && i < secrets->keys->len, NULL);
    return g_ptr_array_index(secrets->keys, i);
}

const char *
vmm_secrets_value(const VmmSecrets *secrets, guint i)
{
    g_return_val_if_fail(secrets != NULL && i < secrets->values->len, NULL);
    return g_ptr_array_index(secrets->values, i);
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
vmm_secrets_names(const VmmSecrets *secrets)
{
    guint n = vmm_secrets_count(secrets);
    char **names = g_new0(char *, n + 1);

    for (guint i = 0; i < n; i++)
        names[i] = g_strdup(g_ptr_array_index(secrets->keys, i));
    qsort(names, n, sizeof(char *), cmp_str);
    return names;
}

static gint
cmp_len_desc(gconstpointer a, gconstpointer b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

    return la < lb ? 1 : la > lb ? -1 : 0;
}

char *
vmm_secrets_redact(const VmmSecrets *secrets, const char *text)
{
    g_autoptr(GPtrArray) vals = NULL;
    GString *out;

    if (!text)
        return NULL;
    if (vmm_secrets_count(secrets) == 0)
        return g_strdup(text);
    /* Longest first, so a value that contains another is hidden whole. */
    vals = g_ptr_array_new();
    for (guint i = 0; i < secrets->values->len; i++) {
        const char *v = g_ptr_array_index(secrets->values, i);
        if (strlen(v) >= 4)
            g_ptr_array_add(vals, (gpointer)v);
    }
    g_ptr_array_sort(vals, cmp_len_desc);
    out = g_string_new(text);
    for (guint i = 0; i < vals->len; i++)
        g_string_replace(out, g_ptr_array_index(vals, i), "***", 0);
    return g_string_free(out, FALSE);
}

/* Reads the whole of @fd (at most @size + 1 bytes expected) into a buffer the caller wipes. */
static char *
read_all(int fd, size_t size, size_t *len_out, const char *path, GError **error)
{
    /* One allocation of the final size: a growing buffer would leave unwiped copies behind. */
    char *buf = g_malloc(size + 1);
    size_t len = 0;

    for (;;) {
        ssize_t n = read(fd, buf + len, size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            explicit_bzero(buf, size + 1);
            g_free(buf);
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot read secrets file '%s': %s",
                        path, g_strerror(saved));
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > size) {
            explicit_bzero(buf, size + 1);
            g_free(buf);
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "secrets file '%s' changed while being read (try again)", path);
            return NULL;
        }
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

static gboolean
is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return FALSE;
    return TRUE;
}

/* Parses @buf (@len bytes) into @secrets. Errors name lines and keys, never values. */
static gboolean
parse_buffer(VmmSecrets *secrets, const char *buf, size_t len, const char *path, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    size_t pos = 0;
    guint lineno = 0;

    while (pos < len) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        const char *eq, *first;
        size_t key_len;
        g_autofree char *key = NULL;
        gpointer prev;

        pos += line_len + (nl ? 1 : 0);
        lineno++;
        if (memchr(line, '\0', line_len)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s:%u: contains a NUL byte", path,
                        lineno);
            return FALSE;
        }
        if (is_blank(line, line_len))
            continue;
        first = line;
        while (first < line + line_len && (*first == ' ' || *first == '\t'))
            first++;
        if (*first == '#')
            continue;
        eq = memchr(line, '=', line_len);
        key_len = eq ? (size_t)(eq - line) : 0;
        if (!eq || !valid_key_len(line, key_len)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: expected KEY=VALUE with KEY of A-Z, a-z, 0-9, _", path, lineno);
            return FALSE;
        }
        key = g_strndup(line, key_len);
        if (g_hash_table_lookup_extended(seen, key, NULL, &prev)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: secret '%s' is already set on line %u (give each name once)", path,
                        lineno, key, GPOINTER_TO_UINT(prev));
            return FALSE;
        }
        g_hash_table_insert(seen, g_strdup(key), GUINT_TO_POINTER(lineno));
        if (!secrets_add_take(secrets, key, g_strndup(eq + 1, line_len - key_len - 1), lineno,
                              error))
            return FALSE;
    }
    return TRUE;
}

VmmSecrets *
vmm_secrets_load(const char *path, GError **error)
{
    g_autoptr(VmmSecrets) secrets = NULL;
    struct stat st;
    char *buf;
    size_t len = 0;
    gboolean ok;
    int fd;

    /* O_NONBLOCK: a FIFO planted at @path must not hang us before fstat() rejects it. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;
        if (saved == ENOENT)
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "secrets file '%s' not found (create it with KEY=VALUE lines, mode 0600)",
                        path);
        else if (saved == ELOOP)
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "secrets file '%s' is a symlink (give the path of the file itself)", path);
        else
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot open secrets file '%s': %s",
                        path, g_strerror(saved));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot stat secrets file '%s': %s", path,
                    g_strerror(saved));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "secrets file '%s' is not a regular file",
                    path);
        return NULL;
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "secrets file '%s' is owned by uid %u, not by you (chown %u %s)", path,
                    (unsigned)st.st_uid, (unsigned)geteuid(), path);
        return NULL;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "secrets file '%s' is readable by group or others (chmod 600 %s)", path, path);
        return NULL;
    }
    if (st.st_size > SECRETS_FILE_MAX) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "secrets file '%s' is larger than %d bytes", path, SECRETS_FILE_MAX);
        return NULL;
    }
    buf = read_all(fd, (size_t)st.st_size, &len, path, error);
    close(fd);
    if (!buf)
        return NULL;

    secrets = vmm_secrets_new();
    ok = parse_buffer(secrets, buf, len, path, error);
    explicit_bzero(buf, len);
    g_free(buf);
    if (!ok)
        return NULL;
    secrets->path = g_strdup(path);
    return g_steal_pointer(&secrets);
}

/* ---- deny list and leak checks ---- */

static const char *const default_deny[] = {
    "AKIA[0-9A-Z]{16}",                               /* AWS access key id */
    "ASIA[0-9A-Z]{16}",                               /* AWS temporary access key id */
    "gh[pousr]_[A-Za-z0-9]{36}",                      /* GitHub tokens */
    "github_pat_[A-Za-z0-9_]{22,}",                   /* GitHub fine-grained tokens */
    "glpat-[A-Za-z0-9_-]{20}",                        /* GitLab personal access tokens */
    "xox[baprs]-[A-Za-z0-9-]{10,}",                   /* Slack tokens */
    "sk-[A-Za-z0-9]{20,}",                            /* OpenAI-style API keys */
    "sk-(proj|svcacct|admin|ant)-[A-Za-z0-9_-]{20,}", /* project/service/Anthropic keys */
    "AIza[0-9A-Za-z_-]{35}",                          /* Google API keys */
    "-----BEGIN .*PRIVATE KEY-----",                  /* PEM private keys */
    NULL};

const char *const *
vmm_secrets_default_deny(void)
{
    return default_deny;
}

static GRegex *
deny_compile(const char *pattern, GError **error)
{
    g_autoptr(GError) local = NULL;
    /* Byte mode: a value need not be UTF-8, and a match must never depend on it. */
    GRegex *re = g_regex_new(pattern, G_REGEX_RAW, 0, &local);

    if (!re) {
        g_autofree char *shown = g_strescape(pattern, NULL);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "deny pattern '%s' is not a valid regular expression (%s)", shown,
                    local->message);
    }
    return re;
}

gboolean
vmm_secrets_deny_valid(const char *pattern, GError **error)
{
    g_autoptr(GRegex) re = deny_compile(pattern, error);

    return re != NULL;
}

static void
where(const VmmSecrets *secrets, guint i, char *buf, size_t size)
{
    guint line = g_array_index(secrets->lines, guint, i);

    if (secrets->path && line)
        g_snprintf(buf, size, "%s:%u: ", secrets->path, line);
    else
        buf[0] = '\0';
}

gboolean
vmm_secrets_check_deny(const VmmSecrets *secrets, const char *const *deny, GError **error)
{
    if (!deny)
        deny = default_deny;
    for (const char *const *d = deny; *d; d++) {
        g_autoptr(GRegex) re = deny_compile(*d, error);
        if (!re)
            return FALSE;
        for (guint i = 0; i < vmm_secrets_count(secrets); i++) {
            if (g_regex_match(re, g_ptr_array_index(secrets->values, i), 0, NULL)) {
                char at[512];
                where(secrets, i, at, sizeof(at));
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%ssecret '%s' looks like a real credential (it matches a deny "
                            "pattern): use a test value, or change [secrets] deny= in the spec",
                            at, vmm_secrets_key(secrets, i));
                return FALSE;
            }
        }
    }
    return TRUE;
}

gboolean
vmm_secrets_check_absent(const VmmSecrets *secrets, const char *text, const char *what,
                         GError **error)
{
    for (guint i = 0; text && i < vmm_secrets_count(secrets); i++) {
        const char *v = g_ptr_array_index(secrets->values, i);
        const char *hit = strlen(v) >= 4 ? strstr(text, v) : NULL;
        if (hit) {
            guint line = 1;
            for (const char *p = text; p < hit; p++)
                line += *p == '\n';
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: holds the value of secret '%s' (secrets reach the guest only in "
                        "%s: read them there)",
                        what, line, vmm_secrets_key(secrets, i), "/run/airlock/secrets.env");
            return FALSE;
        }
    }
    return TRUE;
}
