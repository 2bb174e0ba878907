/* events-record.c: what goes into an audit record, bounded and valid UTF-8 whatever the caller
 * passed. */
#include <config.h>

#include "json-text.h"
#include "events.h"

#include <string.h>
#include <unistd.h>

#define DEPTH_MAX 4
#define MEMBERS_MAX 64
/* String cap for the second try when a record is still over VMM_EVENTS_RECORD_MAX. */
#define FIELD_MAX_SHORT 256

/* Members every record has; a caller's field of the same name is ignored. */
static const char *const reserved[] = {"time", "event", "sandbox", "user", "uid", "prev", NULL};

/* @s as valid UTF-8 of at most @cap bytes; a cut one ends in a marker saying how much went. */
static char *
bounded_text(const char *s, gsize cap)
{
    g_autofree char *valid = g_utf8_make_valid(s, -1);
    gsize len = strlen(valid);
    const char *end;

    if (len <= cap)
        return g_steal_pointer(&valid);
    end = valid + cap - 40; /* room for the marker */
    while (end > valid && ((guchar)*end & 0xc0) == 0x80)
        end--;
    return g_strdup_printf("%.*s...[truncated %" G_GSIZE_FORMAT " bytes]", (int)(end - valid),
                           valid, len - (gsize)(end - valid));
}

static JsonNode *
text_node(const char *s)
{
    JsonNode *n = json_node_new(JSON_NODE_VALUE);

    json_node_set_string(n, s);
    return n;
}

/* A copy of @node whose strings, nesting and member counts are bounded. */
static JsonNode *
bounded_node(JsonNode *node, gsize cap, guint depth)
{
    JsonNodeType type = JSON_NODE_TYPE(node);

    if (type == JSON_NODE_VALUE && json_node_get_value_type(node) == G_TYPE_STRING) {
        g_autofree char *s = bounded_text(json_node_get_string(node), cap);
        return text_node(s);
    }
    if (type != JSON_NODE_OBJECT && type != JSON_NODE_ARRAY)
        return json_node_copy(node);
    if (depth >= DEPTH_MAX)
        return text_node("[truncated: nested too deep]");
    if (type == JSON_NODE_ARRAY) {
        JsonArray *in = json_node_get_array(node);
        g_autoptr(JsonArray) out = json_array_new();
        guint n = json_array_get_length(in);
        for (guint i = 0; i < n && i < MEMBERS_MAX; i++)
            json_array_add_element(out,
                                   bounded_node(json_array_get_element(in, i), cap, depth + 1));
        if (n > MEMBERS_MAX)
            json_array_add_string_element(out, "[truncated: more elements]");
        return json_node_init_array(json_node_alloc(), out);
    } else {
        JsonObject *in = json_node_get_object(node);
        g_autoptr(JsonObject) out = json_object_new();
        g_autoptr(GList) members = json_object_get_members(in);
        guint i = 0;
        for (GList *l = members; l && i < MEMBERS_MAX; l = l->next, i++) {
            g_autofree char *key = bounded_text(l->data, 64);
            json_object_set_member(
                out, key, bounded_node(json_object_get_member(in, l->data), cap, depth + 1));
        }
        if (g_list_length(members) > MEMBERS_MAX)
            json_object_set_string_member(out, "truncated", "more members");
        return json_node_init_object(json_node_alloc(), out);
    }
}

char *
vmm_events_record_line(JsonObject *rec, gsize *len)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

    json_node_set_object(node, rec);
    return vmm_json_text(node, FALSE, len);
}

/* The record without prev, with strings of at most @cap bytes and, when @fields is NULL, none. */
static JsonObject *
record_new(const char *time, const char *event, const char *name, const VmmEventsActor *actor,
           JsonObject *fields, gsize cap)
{
    JsonObject *rec = json_object_new();
    g_autofree char *ev = bounded_text(event, cap);
    g_autofree char *user = bounded_text(actor ? actor->user : g_get_user_name(), cap);

    json_object_set_string_member(rec, "time", time);
    json_object_set_string_member(rec, "event", ev);
    if (name)
        json_object_set_string_member(rec, "sandbox", name);
    else
        json_object_set_null_member(rec, "sandbox");
    json_object_set_string_member(rec, "user", user);
    json_object_set_int_member(rec, "uid", actor ? actor->uid : (gint64)getuid());
    if (fields) {
        g_autoptr(JsonNode) in = json_node_init_object(json_node_alloc(), fields);
        g_autoptr(JsonNode) out = bounded_node(in, cap, 1);
        JsonObject *o = json_node_get_object(out);
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next)
            if (!g_strv_contains(reserved, l->data))
                json_object_set_member(rec, l->data,
                                       json_node_copy(json_object_get_member(o, l->data)));
    }
    return rec;
}

/* Within VMM_EVENTS_RECORD_MAX: shorter strings first, then no details at all. */
JsonObject *
vmm_events_record_new(const char *time, const char *event, const char *name, JsonObject *fields)
{
    return vmm_events_record_new_as(time, event, name, NULL, fields);
}

JsonObject *
vmm_events_record_new_as(const char *time, const char *event, const char *name,
                         const VmmEventsActor *actor, JsonObject *fields)
{
    const gsize caps[] = {VMM_EVENTS_FIELD_MAX, FIELD_MAX_SHORT};
    gsize len = 0;

    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        JsonObject *rec = record_new(time, event, name, actor, fields, caps[i]);
        g_autofree char *line = NULL;
        json_object_set_string_member(rec, "prev", VMM_EVENTS_GENESIS);
        line = vmm_events_record_line(rec, &len);
        json_object_remove_member(rec, "prev");
        if (len <= VMM_EVENTS_RECORD_MAX)
            return rec;
        json_object_unref(rec);
    }
    {
        JsonObject *rec = record_new(time, event, name, actor, NULL, FIELD_MAX_SHORT);
        g_autofree char *why = g_strdup_printf("details dropped: the record was %" G_GSIZE_FORMAT
                                               " bytes, the limit is %d",
                                               len, VMM_EVENTS_RECORD_MAX);
        json_object_set_string_member(rec, "truncated", why);
        return rec;
    }
}
