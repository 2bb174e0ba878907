/* table.h: one printer for the CLI's lists (text columns, or --json). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef enum {
    VMM_CLI_CELL_TEXT,         /* a string, or an integer as it is */
    VMM_CLI_CELL_MIB,          /* bytes shown as "12.3M" */
    VMM_CLI_CELL_NS_AS_S,      /* nanoseconds shown as seconds, "1.25" */
    VMM_CLI_CELL_SHORT_DIGEST, /* "sha256:0123456789ab…" */
} VmmCliCellFormat;

/* One column: its header, the row member it shows (dots reach into objects), its width
 * (negative: right-aligned) and format. A table ends with a column whose header is NULL. */
typedef struct {
    const char *header;
    const char *key;
    int width;
    VmmCliCellFormat format;
} VmmCliColumn;

/*
 * Prints @rows (JSON objects, each from a type's *_to_json) as a JSON array
 * with @as_json, else as aligned text columns under a header line. Missing
 * or null members show as "-".
 */
void vmm_cli_print_table(const VmmCliColumn *cols, JsonArray *rows, gboolean as_json);
