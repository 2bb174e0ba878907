/* json-text.c: JSON text with numbers as people write them. Pure. */
#include <config.h>

#include "json-text.h"

#include <stdio.h>
#include <string.h>

/* Appends the number [start, end) to @out, rounded to 6 decimals when it has a fraction. */
static void
append_number(GString *out, const char *start, const char *end)
{
    g_autofree char *tok = g_strndup(start, (gsize)(end - start));
    char buf[G_ASCII_DTOSTR_BUF_SIZE + 32];
    gsize n;
    double v;

    if (!strpbrk(tok, ".eE")) {
        g_string_append(out, tok); /* an integer stays as it is, whatever its size */
        return;
    }
    v = g_ascii_strtod(tok, NULL);
    if (v > 1e15 || v < -1e15) {
        g_string_append(out, tok);
        return;
    }
    g_ascii_formatd(buf, sizeof buf, "%.6f", v);
    n = strlen(buf);
    while (n > 0 && buf[n - 1] == '0' && buf[n - 2] != '.')
        buf[--n] = '\0';
    if (strcmp(buf, "-0.0") == 0)
        strcpy(buf, "0.0");
    g_string_append(out, buf);
}

char *
vmm_json_tidy_numbers(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    gboolean in_string = FALSE;

    for (const char *p = text; *p;) {
        if (in_string) {
            if (*p == '\\' && p[1]) {
                g_string_append_len(out, p, 2);
                p += 2;
                continue;
            }
            if (*p == '"')
                in_string = FALSE;
            g_string_append_c(out, *p++);
        } else if (*p == '"') {
            in_string = TRUE;
            g_string_append_c(out, *p++);
        } else if (*p == '-' || g_ascii_isdigit(*p)) {
            const char *end = p + 1;
            while (*end && (g_ascii_isdigit(*end) || strchr(".eE+-", *end)))
                end++;
            append_number(out, p, end);
            p = end;
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

char *
vmm_json_text(JsonNode *node, gboolean pretty, gsize *len)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *raw = NULL;
    char *text;

    json_generator_set_pretty(gen, pretty);
    json_generator_set_root(gen, node);
    raw = json_generator_to_data(gen, NULL);
    text = vmm_json_tidy_numbers(raw);
    if (len)
        *len = strlen(text);
    return text;
}
