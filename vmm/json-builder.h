/* json-builder.h: the members every *_to_json adds, one line each (json-glib's builder). */
#pragma once

#include <json-glib/json-glib.h>

/* "@key": @value, or null when @value is NULL. */
static inline void
vmm_json_add_str(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static inline void
vmm_json_add_int(JsonBuilder *b, const char *key, gint64 value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

/* "@key": [the strings of @list], [] for NULL. */
static inline void
vmm_json_add_strv(JsonBuilder *b, const char *key, char **list)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (char **s = list; s && *s; s++)
        json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
}
