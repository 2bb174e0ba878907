/* json-text.h: JSON text as airlock prints and records it. */
#pragma once

#include <json-glib/json-glib.h>

/*
 * @node as JSON text with its fractional numbers written as people write
 * them: at most 6 decimals, no trailing zeros (json-glib writes doubles with
 * 17 digits: 0.035609000000000002). @len may be NULL. Caller frees.
 */
char *vmm_json_text(JsonNode *node, gboolean pretty, gsize *len);

/* The number rewriting of vmm_json_text on text already generated. Caller frees. */
char *vmm_json_tidy_numbers(const char *text);
