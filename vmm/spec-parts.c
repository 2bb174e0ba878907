/* spec-parts.c: [cloud-init] parts of a spec, extra #cloud-config documents, checked. Pure. */
#include <config.h>

#include "spec.h"
#include "error.h"
#include "names.h"
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- [cloud-init] parts: extra #cloud-config documents ---- */

void
vmm_cloud_part_free(VmmCloudPart *part)
{
    if (!part)
        return;
    g_free(part->path);
    g_free(part->text);
    g_free(part->sha256);
    g_free(part);
}

/* Keys airlock sets itself or that would undo the network's DNS guarantee. */
static const char *const part_reserved_keys[] = {
    "merge_how",         "merge_type",         "hostname",    "fqdn",
    "preserve_hostname", "manage_resolv_conf", "resolv_conf", NULL};

/* Where secrets and the environment go in the guest (seed.h), and DNS. */
static const char *const part_reserved_paths[] = {"/run/airlock",
                                                  "/etc/profile.d/airlock.sh",
                                                  "/usr/local/sbin/airlock-with-env",
                                                  "/usr/local/sbin/airlock-scrub-seed",
                                                  "/etc/resolv.conf",
                                                  "/run/systemd/resolve",
                                                  NULL};

/* "/a//b/./c/../d" -> "/a/b/d"; relative paths are taken from "/"; /var/run is /run. */
static char *
normalize_guest_path(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, "/", -1);
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    GString *s = g_string_new(NULL);

    for (char **p = parts; *p; p++) {
        if (!**p || strcmp(*p, ".") == 0)
            continue;
        if (strcmp(*p, "..") == 0) {
            if (out->len)
                g_ptr_array_remove_index(out, out->len - 1);
            continue;
        }
        g_ptr_array_add(out, *p);
    }
    if (out->len >= 2 && !strcmp(g_ptr_array_index(out, 0), "var") &&
        !strcmp(g_ptr_array_index(out, 1), "run"))
        g_ptr_array_remove_index(out, 0);
    for (guint i = 0; i < out->len; i++)
        g_string_append_printf(s, "/%s", (char *)g_ptr_array_index(out, i));
    if (!s->len)
        g_string_append_c(s, '/');
    return g_string_free(s, FALSE);
}

static const char *
reserved_path(const char *norm)
{
    for (const char *const *r = part_reserved_paths; *r; r++) {
        size_t rl = strlen(*r), nl = strlen(norm);
        if (strcmp(norm, *r) == 0 || (nl > rl && !strncmp(norm, *r, rl) && norm[rl] == '/') ||
            (rl > nl && !strncmp(*r, norm, nl) && ((*r)[nl] == '/' || nl == 1)))
            return *r;
    }
    return NULL;
}

static GRegex *
part_regex(int which)
{
    static GRegex *re[3];
    static gsize once;

    if (g_once_init_enter(&once)) {
        /* a `path:` key (plain or quoted), block or flow style; the value follows the match */
        re[0] = g_regex_new("(?:^|[\\s{,\\[-])[\"']?path[\"']?\\s*:\\s*", G_REGEX_RAW, 0, NULL);
        /* an anchor, alias or tag where a node starts; an explicit key "? " */
        re[1] = g_regex_new("(?::\\s+|^\\s*(?:-\\s+)+|^\\s*|[\\[{,]\\s*)(?:[&*!]\\S|\\?(?:\\s|$))",
                            G_REGEX_RAW, 0, NULL);
        /* a top-level key */
        re[2] = g_regex_new("^([A-Za-z_][A-Za-z0-9_-]*)\\s*:(?:\\s|$)", G_REGEX_RAW, 0, NULL);
        g_once_init_leave(&once, 1);
    }
    return re[which];
}

/* Checks the value after `path:` on @line (@v points into it). */
static gboolean
check_path_value(const char *v, const char *path, guint lineno, GError **error)
{
    g_autofree char *value = NULL, *norm = NULL;
    const char *r;

    if (*v == '"' || *v == '\'') {
        const char *end = strchr(v + 1, *v);
        if (*v == '"' && strchr(v, '\\')) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: a write_files path may not use escapes (write it plainly)", path,
                        lineno);
            return FALSE;
        }
        if (!end) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: a write_files path must be on one line", path, lineno);
            return FALSE;
        }
        value = g_strndup(v + 1, (gsize)(end - v - 1));
    } else {
        size_t n = strcspn(v, ",}]#");
        value = g_strstrip(g_strndup(v, n));
    }
    if (!*value)
        return TRUE; /* `path:` opening a nested block, or an empty one cloud-init rejects */
    norm = normalize_guest_path(value);
    if ((r = reserved_path(norm))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s:%u: path '%s' is reserved for airlock (%s holds secrets, environment or "
                    "DNS: write elsewhere)",
                    path, lineno, norm, r);
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_cloud_part_check(const char *path, const char *text, gsize len, GError **error)
{
    const char *end = text + len, *p = text;
    guint lineno = 0;
    gint block_col = -1; /* inside a block scalar opened by a key at this column */
    gboolean seen_key = FALSE;

    if (len > VMM_SPEC_PART_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: is larger than %d bytes (split it, or install files in the image)", path,
                    VMM_SPEC_PART_MAX);
        return FALSE;
    }
    if (memchr(text, '\0', len)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: contains a NUL byte", path);
        return FALSE;
    }
    if (!g_utf8_validate(text, (gssize)len, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: is not UTF-8", path);
        return FALSE;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        g_autofree char *line = g_strndup(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
        g_autoptr(GMatchInfo) m = NULL;
        size_t indent = strspn(line, " ");
        const char *body = line + indent;
        gint key_col;

        p = nl ? nl + 1 : end;
        lineno++;
        g_strchomp(line);
        if (lineno == 1) {
            if (strcmp(line, "#cloud-config") != 0) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:1: must start with the line #cloud-config (only cloud-config "
                            "documents are merged)",
                            path);
                return FALSE;
            }
            continue;
        }
        if (!*body)
            continue;
        if (block_col >= 0 && (gint)indent > block_col)
            continue; /* text of a block scalar: a string, never structure */
        block_col = -1;
        if (*body == '\t' || strchr(line, '\t') == line + indent) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: tab in indentation (YAML indents with spaces)", path, lineno);
            return FALSE;
        }
        if (*body == '#')
            continue;
        if (indent == 0 && seen_key && (body[0] == '-' && (body[1] == ' ' || !body[1]))) {
            /* a sequence under the previous key, at its indentation: valid YAML */
        } else if (indent == 0) {
            g_autofree char *key = NULL;
            if (!g_regex_match(part_regex(2), line, 0, &m)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:%u: expected a top-level 'key: value' (one YAML mapping, no "
                            "---, directives or flow style at the top)",
                            path, lineno);
                return FALSE;
            }
            key = g_match_info_fetch(m, 1);
            seen_key = TRUE;
            if (g_strv_contains(part_reserved_keys, key)) {
                g_autofree char *list = g_strjoinv(", ", (char **)part_reserved_keys);
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:%u: key '%s' is set by airlock (not allowed in parts: %s)", path,
                            lineno, key, list);
                return FALSE;
            }
            g_clear_pointer(&m, g_match_info_free);
        }
        if (g_regex_match(part_regex(1), line, 0, NULL)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: YAML anchors, aliases, tags and '? ' keys are not allowed in "
                        "parts (quote a value that starts with &, * or !)",
                        path, lineno);
            return FALSE;
        }
        if (strstr(line, "\\x") || strstr(line, "\\u") || strstr(line, "\\U")) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s:%u: \\x, \\u and \\U escapes are not allowed in parts", path, lineno);
            return FALSE;
        }
        /* Every `path:` on the line: a flow sequence may hold several. */
        for (g_regex_match(part_regex(0), line, 0, &m); g_match_info_matches(m);
             g_match_info_next(m, NULL)) {
            gint start, stop;
            g_match_info_fetch_pos(m, 0, &start, &stop);
            if (!check_path_value(line + stop, path, lineno, error))
                return FALSE;
        }
        /* A block scalar (| or >, with modifiers) starts after this line's last key. */
        {
            const char *colon = strrchr(line, ':');
            g_autofree char *val = colon ? g_strstrip(g_strdup(colon + 1)) : NULL;
            char *hash = val ? strstr(val, " #") : NULL;
            if (hash)
                *hash = '\0';
            if (val && (val[0] == '|' || val[0] == '>') &&
                strspn(g_strchomp(val) + 1, "-+0123456789") == strlen(val) - 1) {
                key_col = (gint)indent;
                for (const char *k = body; *k == '-' && (k[1] == ' ');) {
                    k += 1 + strspn(k + 1, " ");
                    key_col = (gint)(k - line);
                }
                block_col = key_col;
            }
        }
    }
    if (lineno == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s:1: must start with the line #cloud-config", path);
        return FALSE;
    }
    return TRUE;
}

VmmCloudPart *
vmm_cloud_part_load(const char *path, GError **error)
{
    g_autoptr(VmmCloudPart) part = g_new0(VmmCloudPart, 1);
    g_autoptr(GError) local = NULL;
    struct stat st;
    gsize len = 0;

    if (stat(path, &st) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cloud-init part '%s': %s", path,
                    g_strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > VMM_SPEC_PART_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "cloud-init part '%s' is not a regular file of at most %d bytes", path,
                    VMM_SPEC_PART_MAX);
        return NULL;
    }
    if (!g_file_get_contents(path, &part->text, &len, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cloud-init part '%s': %s", path,
                    local->message);
        return NULL;
    }
    if (!vmm_cloud_part_check(path, part->text, len, error))
        return NULL;
    part->path = g_strdup(path);
    part->sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)part->text, len);
    return g_steal_pointer(&part);
}
