/*
 * test-events: the audit chain finds edited, removed, reordered and truncated
 * records; records stay bounded whatever a caller (or a guest, through an
 * error message) passes.
 */
#include <config.h>

#include "error.h"
#include "events.h"

#include <string.h>

static char *
setup_log(guint n)
{
    g_autoptr(GError) err = NULL;
    char *state = g_dir_make_tmp("airlock-test-events-XXXXXX", &err);

    g_assert_no_error(err);
    for (guint i = 0; i < n; i++) {
        g_autoptr(JsonObject) f = json_object_new();
        json_object_set_int_member(f, "i", i);
        g_assert_true(vmm_events_append(state, NULL, "test", f, &err));
        g_assert_no_error(err);
    }
    return state;
}

static void
rm_rf(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert_cmpint(system(cmd), ==, 0);
}

/* Rewrites the log with @edit applied to its lines (and keeps the head file). */
static void
rewrite(const char *path, void (*edit)(GPtrArray *lines))
{
    g_autofree char *data = NULL;
    g_auto(GStrv) split = NULL;
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) out = g_string_new(NULL);

    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    split = g_strsplit(data, "\n", -1);
    for (char **l = split; *l; l++)
        if (**l)
            g_ptr_array_add(lines, g_strdup(*l));
    edit(lines);
    for (guint i = 0; i < lines->len; i++)
        g_string_append_printf(out, "%s\n", (char *)g_ptr_array_index(lines, i));
    g_assert_true(g_file_set_contents(path, out->str, out->len, NULL));
}

static void
edit_value(GPtrArray *lines)
{
    char *l = g_ptr_array_index(lines, 2);
    char *p = strstr(l, "\"i\":2");
    g_assert_nonnull(p);
    p[4] = '7';
}
static void
remove_line(GPtrArray *lines)
{
    g_ptr_array_remove_index(lines, 3);
}
static void
swap_lines(GPtrArray *lines)
{
    gpointer t = lines->pdata[1];
    lines->pdata[1] = lines->pdata[2];
    lines->pdata[2] = t;
}
static void
drop_last(GPtrArray *lines)
{
    g_ptr_array_remove_index(lines, lines->len - 1);
}

static void
check(void (*edit)(GPtrArray *), const char *line_tag)
{
    g_autofree char *state = setup_log(6);
    g_autofree char *path = vmm_events_global_path(state);
    g_autoptr(GError) err = NULL;
    guint n = 0;

    g_assert_true(vmm_events_verify(path, &n, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(n, ==, 6);
    rewrite(path, edit);
    g_assert_false(vmm_events_verify(path, NULL, &err));
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, line_tag));
    rm_rf(state);
}

static void
test_intact(void)
{
    g_autofree char *state = setup_log(3);
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *data = NULL;
    guint n;

    g_assert_true(vmm_events_verify(path, &n, NULL));
    g_assert_cmpuint(n, ==, 3);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_nonnull(strstr(data, "\"prev\":\"" VMM_EVENTS_GENESIS "\""));
    g_assert_nonnull(strstr(data, "\"event\":\"test\""));
    g_assert_nonnull(strstr(data, "\"user\":"));
    rm_rf(state);
}

static void
test_edit(void)
{
    check(edit_value, ":4:"); /* the record after the edited one no longer chains */
}
static void
test_remove(void)
{
    check(remove_line, ":4:");
}
static void
test_reorder(void)
{
    check(swap_lines, ":2:");
}
static void
test_truncate(void)
{
    check(drop_last, ":5:");
}

/* ---- bounds ---- */

static void
assert_lines_bounded(const char *path)
{
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_assert_cmpuint(strlen(*l), <=, VMM_EVENTS_RECORD_MAX);
        g_assert_true(g_utf8_validate(*l, -1, NULL));
    }
}

/*
 * A guest's error message of 100 KiB, with invalid UTF-8 and control bytes:
 * the old code wrote it whole, then read the last hash from the last 64 KiB
 * (and json-glib wrote the invalid bytes raw), so verify failed forever.
 */
static void
test_oversized_field(void)
{
    g_autofree char *state = setup_log(2);
    g_autofree char *path = vmm_events_global_path(state);
    g_autoptr(GString) big = g_string_new(NULL);
    g_autoptr(JsonObject) f = json_object_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *data = NULL;
    guint n = 0;

    for (guint i = 0; big->len < 100 * 1024; i++)
        g_string_append(big, i % 7 ? "guest says \xff\xfe\x01 no\n" : "\xc3\xa9t\xc3\xa9 ");
    json_object_set_string_member(f, "error", big->str);
    g_assert_true(vmm_events_append(state, NULL, "create-failed", f, &err));
    g_assert_no_error(err);
    for (guint i = 0; i < 2; i++)
        g_assert_true(vmm_events_append(state, NULL, "test", NULL, NULL));
    g_assert_true(vmm_events_verify(path, &n, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(n, ==, 5);
    assert_lines_bounded(path);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_nonnull(strstr(data, "...[truncated "));
    rm_rf(state);
}

/* Many fields, each under the string cap, together over the record cap. */
static void
test_oversized_record(void)
{
    g_autofree char *state = setup_log(1);
    g_autofree char *path = vmm_events_global_path(state);
    g_autoptr(JsonObject) f = json_object_new();
    g_autoptr(JsonArray) deep = json_array_new();
    g_autofree char *s = g_strnfill(VMM_EVENTS_FIELD_MAX - 100, 'x');
    g_autofree char *data = NULL;
    guint n = 0;

    for (guint i = 0; i < 40; i++) {
        g_autofree char *k = g_strdup_printf("k%u", i);
        json_object_set_string_member(f, k, s);
    }
    for (guint i = 0; i < 1000; i++)
        json_array_add_int_element(deep, i);
    json_object_set_array_member(f, "many", json_array_ref(deep));
    json_object_set_string_member(f, "prev", "not the caller's to set");
    g_assert_true(vmm_events_append(state, NULL, "big", f, NULL));
    g_assert_true(vmm_events_append(state, NULL, "test", NULL, NULL));
    g_assert_true(vmm_events_verify(path, &n, NULL));
    g_assert_cmpuint(n, ==, 3);
    assert_lines_bounded(path);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_nonnull(strstr(data, "\"truncated\":\"details dropped"));
    g_assert_null(strstr(data, "not the caller's"));
    rm_rf(state);
}

/* A last line of any length (here 200 KiB) is hashed whole: the old reader looked at 64 KiB. */
static void
test_long_last_line(void)
{
    g_autofree char *state = setup_log(2);
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *head = g_strconcat(path, ".head", NULL);
    g_autofree char *data = NULL;
    g_autofree char *pad = g_strnfill(200 * 1024, 'y');
    g_autofree char *prev = NULL;
    g_autofree char *line = NULL;
    g_autofree char *all = NULL;
    g_auto(GStrv) lines = NULL;
    guint n = 0;

    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    lines = g_strsplit(data, "\n", -1);
    prev = g_compute_checksum_for_string(G_CHECKSUM_SHA256, lines[1], -1);
    line = g_strdup_printf("{\"event\":\"long\",\"pad\":\"%s\",\"prev\":\"%s\"}", pad, prev);
    all = g_strdup_printf("%s%s\n", data, line);
    g_assert_true(g_file_set_contents(path, all, -1, NULL));
    g_free(prev);
    prev = g_compute_checksum_for_string(G_CHECKSUM_SHA256, line, -1);
    g_assert_true(g_file_set_contents(head, prev, -1, NULL));
    g_assert_true(vmm_events_verify(path, &n, NULL));
    g_assert_true(vmm_events_append(state, NULL, "test", NULL, NULL));
    g_assert_true(vmm_events_verify(path, &n, NULL));
    g_assert_cmpuint(n, ==, 4);
    rm_rf(state);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/events/intact", test_intact);
    g_test_add_func("/events/edited", test_edit);
    g_test_add_func("/events/removed", test_remove);
    g_test_add_func("/events/reordered", test_reorder);
    g_test_add_func("/events/truncated", test_truncate);
    g_test_add_func("/events/bounds/field", test_oversized_field);
    g_test_add_func("/events/bounds/record", test_oversized_record);
    g_test_add_func("/events/bounds/long-last-line", test_long_last_line);
    return g_test_run();
}
