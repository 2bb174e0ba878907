/* table.c: one printer for every list the CLI prints, as aligned text or as a JSON array. */
#include <config.h>

#include "table.h"

#include <stdio.h>
#include <string.h>

/* Member @key of @o, following dots into nested objects ("network.address"). */
static JsonNode *
lookup(JsonObject *o, const char *key)
{
    const char *dot = strchr(key, '.');

    if (!dot)
        return o && json_object_has_member(o, key) ? json_object_get_member(o, key) : NULL;
    {
        g_autofree char *head = g_strndup(key, dot - key);
        JsonNode *n = o && json_object_has_member(o, head) ? json_object_get_member(o, head) : NULL;
        return n && JSON_NODE_HOLDS_OBJECT(n) ? lookup(json_node_get_object(n), dot + 1) : NULL;
    }
}

static char *
cell(const VmmCliColumn *col, JsonNode *n)
{
    if (!n || JSON_NODE_HOLDS_NULL(n) || !JSON_NODE_HOLDS_VALUE(n))
        return g_strdup("-");
    switch (col->format) {
    case VMM_CLI_CELL_MIB:
        return g_strdup_printf("%.1fM", json_node_get_int(n) / 1048576.0);
    case VMM_CLI_CELL_NS_AS_S:
        return g_strdup_printf("%.2f", json_node_get_int(n) / 1e9);
    case VMM_CLI_CELL_SHORT_DIGEST:
        return g_strdup_printf("%.19s…", json_node_get_string(n));
    case VMM_CLI_CELL_TEXT:
    default:
        if (json_node_get_value_type(n) == G_TYPE_STRING)
            return g_strdup(json_node_get_string(n));
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    }
}

/* One cell, padded to its column (the last one is not padded, and ends the line). */
static void
put(const VmmCliColumn *c, const char *text)
{
    gboolean last = c[1].header == NULL;

    if (last && c->width >= 0)
        printf("%s\n", text);
    else
        printf(c->width < 0 ? "%*s%s" : "%-*s%s", ABS(c->width), text, last ? "\n" : " ");
}

void
vmm_cli_print_table(const VmmCliColumn *cols, JsonArray *rows, gboolean as_json)
{
    guint n = json_array_get_length(rows);

    if (as_json) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
        g_autofree char *text = NULL;

        json_node_set_array(root, rows);
        json_generator_set_pretty(gen, TRUE);
        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
        return;
    }
    for (const VmmCliColumn *c = cols; c->header; c++)
        put(c, c->header);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(rows, i);
        for (const VmmCliColumn *c = cols; c->header; c++) {
            g_autofree char *text = cell(c, lookup(o, c->key));
            put(c, text);
        }
    }
}
