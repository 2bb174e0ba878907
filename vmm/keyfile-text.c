/* keyfile-text.c: line numbers, duplicates and inline comments for GLib key files. Pure. */
#include <config.h>

#include "keyfile-text.h"
#include "error.h"

#include <string.h>

/* One line of @text: [start, end) without the newline or a trailing \r. */
typedef struct {
    const char *p;
    const char *start, *end;
    guint lineno;
} LineIter;

static gboolean
next_line(LineIter *it)
{
    const char *nl;

    if (!it->p || !*it->p)
        return FALSE;
    nl = strchr(it->p, '\n');
    it->start = it->p;
    it->end = nl ? nl : it->p + strlen(it->p);
    it->p = nl ? nl + 1 : it->end;
    if (it->end > it->start && it->end[-1] == '\r')
        it->end--;
    while (it->start < it->end && (*it->start == ' ' || *it->start == '\t'))
        it->start++;
    it->lineno++;
    return TRUE;
}

/* The group a "[name]" line opens (caller frees), or NULL when it is no header. */
static char *
header_of(const LineIter *it)
{
    const char *close;

    if (it->start >= it->end || *it->start != '[')
        return NULL;
    close = memchr(it->start, ']', (size_t)(it->end - it->start));
    return close ? g_strndup(it->start + 1, (gsize)(close - it->start - 1)) : NULL;
}

/* The key a "key = value" line sets (caller frees), or NULL (comment, blank, no '='). */
static char *
key_of(const LineIter *it)
{
    const char *eq;

    if (it->start >= it->end || *it->start == '#')
        return NULL;
    eq = memchr(it->start, '=', (size_t)(it->end - it->start));
    if (!eq)
        return NULL;
    return g_strchomp(g_strndup(it->start, (gsize)(eq - it->start)));
}

guint
vmm_keyfile_line(const char *text, const char *group, const char *key)
{
    LineIter it = {.p = text};
    gboolean in = FALSE;
    guint found = 0;

    while (next_line(&it)) {
        g_autofree char *h = header_of(&it);
        g_autofree char *k = NULL;
        if (h) {
            in = strcmp(h, group) == 0;
            if (in && !key && !found)
                found = it.lineno;
        } else if (in && key && (k = key_of(&it)) && strcmp(k, key) == 0) {
            found = it.lineno;
        }
    }
    return found;
}

gboolean
vmm_keyfile_check_unique(const char *text, const char *origin, GError **error)
{
    g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *group = NULL;
    LineIter it = {.p = text};

    while (next_line(&it)) {
        g_autofree char *h = header_of(&it);
        g_autofree char *k = NULL;
        gpointer first;
        if (h) {
            if (g_hash_table_lookup_extended(groups, h, NULL, &first)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:%u: [%s] appears twice (first on line %u; merge them or rename "
                            "one)",
                            origin, it.lineno, h, GPOINTER_TO_UINT(first));
                return FALSE;
            }
            g_hash_table_insert(groups, g_strdup(h), GUINT_TO_POINTER(it.lineno));
            g_hash_table_remove_all(keys);
            g_free(group);
            group = g_steal_pointer(&h);
        } else if ((k = key_of(&it))) {
            if (g_hash_table_lookup_extended(keys, k, NULL, &first)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s:%u: [%s] %s: given twice (first on line %u; keep one)", origin,
                            it.lineno, group ? group : "", k, GPOINTER_TO_UINT(first));
                return FALSE;
            }
            g_hash_table_insert(keys, g_steal_pointer(&k), GUINT_TO_POINTER(it.lineno));
        }
    }
    return TRUE;
}

/* Where the comment of a value starts in [v, end), or @end when there is none. */
static const char *
comment_start(const char *v, const char *end)
{
    gboolean after_space = FALSE; /* an unquoted, unescaped blank came just before */
    char quote = 0;

    for (const char *c = v; c < end; c++) {
        gboolean blank = FALSE;
        if (quote == '\'') {
            if (*c == '\'')
                quote = 0;
        } else if (*c == '\\') {
            if (c + 1 < end)
                c++;
        } else if (quote == '"') {
            if (*c == '"')
                quote = 0;
        } else if (*c == '\'' || *c == '"') {
            quote = *c;
        } else if (*c == '#' && after_space) {
            return c;
        } else {
            blank = *c == ' ' || *c == '\t';
        }
        after_space = blank;
    }
    return end;
}

char *
vmm_keyfile_strip_comments(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    LineIter it = {.p = text};
    const char *line = text;

    while (next_line(&it)) {
        const char *eq = memchr(it.start, '=', (size_t)(it.end - it.start));
        const char *cut = it.end;
        if (it.start < it.end && *it.start != '#' && *it.start != '[' && eq)
            cut = comment_start(eq + 1, it.end);
        if (cut < it.end) {
            while (cut > eq + 1 && (cut[-1] == ' ' || cut[-1] == '\t'))
                cut--;
            g_string_append_len(out, line, cut - line);
            g_string_append_c(out, '\n');
        } else {
            g_string_append_len(out, line, it.p - line);
        }
        line = it.p;
    }
    return g_string_free(out, FALSE);
}
