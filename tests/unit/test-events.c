/*
 * test-events: the audit chain finds edited, removed, reordered and truncated
 * records, a missing or stale head, a log rewritten without the key; records
 * stay bounded whatever a caller (or a guest, through an error message) passes.
 */
#include <config.h>

#include "error.h"
#include "events.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
state_new(void)
{
    g_autoptr(GError) err = NULL;
    char *state = g_dir_make_tmp("airlock-test-events-XXXXXX", &err);

    g_assert_no_error(err);
    return state;
}

static void
append_n(const char *state, const char *name, guint from, guint n)
{
    for (guint i = from; i < from + n; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonObject) f = json_object_new();
        json_object_set_int_member(f, "i", i);
        g_assert_true(vmm_events_append(state, name, "test", f, &err));
        g_assert_no_error(err);
    }
}

static char *
setup_log(guint n)
{
    char *state = state_new();

    append_n(state, NULL, 0, n);
    return state;
}

static void
rm_rf(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert_cmpint(system(cmd), ==, 0);
}

static char *
in_state(const char *state, const char *rel)
{
    return g_build_filename(state, rel, NULL);
}

static GPtrArray *
read_lines(const char *path)
{
    g_autofree char *data = NULL;
    g_auto(GStrv) split = NULL;
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);

    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    split = g_strsplit(data, "\n", -1);
    for (char **l = split; *l; l++)
        if (**l)
            g_ptr_array_add(lines, g_strdup(*l));
    return lines;
}

static void
write_lines(const char *path, GPtrArray *lines)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (guint i = 0; i < lines->len; i++)
        g_string_append_printf(out, "%s\n", (char *)g_ptr_array_index(lines, i));
    g_assert_true(g_file_set_contents(path, out->str, out->len, NULL));
}

/* Rewrites the log with @edit applied to its lines (and keeps the head file). */
static void
rewrite(const char *path, void (*edit)(GPtrArray *lines))
{
    g_autoptr(GPtrArray) lines = read_lines(path);

    edit(lines);
    write_lines(path, lines);
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
drop_all(GPtrArray *lines)
{
    g_ptr_array_set_size(lines, 0);
}

/* verify of the global log fails, and its message holds @tag. */
static void
assert_broken(const char *state, const char *name, const char *tag)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(vmm_events_verify(state, name, NULL, &err));
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, tag));
}

static void
assert_intact(const char *state, const char *name, guint records)
{
    g_autoptr(GError) err = NULL;
    VmmEventsVerified v;

    g_assert_true(vmm_events_verify(state, name, &v, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(v.records, ==, records);
    g_assert_true(v.keyed);
}

static void
check(void (*edit)(GPtrArray *), const char *line_tag)
{
    g_autofree char *state = setup_log(6);
    g_autofree char *path = vmm_events_global_path(state);

    assert_intact(state, NULL, 6);
    rewrite(path, edit);
    assert_broken(state, NULL, line_tag);
    rm_rf(state);
}

/* The first record may create the state directory: 0755 under any umask, or qemu cannot
 * reach the images and sandboxes below it. */
static void
test_state_dir_mode(void)
{
    g_autofree char *state = state_new();
    g_autofree char *fresh = g_build_filename(state, "a", "state", NULL);
    g_autoptr(GError) err = NULL;
    struct stat st;
    mode_t old = umask(077);

    g_assert_true(vmm_events_append(fresh, NULL, "test", NULL, &err));
    umask(old);
    g_assert_no_error(err);
    g_assert_cmpint(stat(fresh, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0755);
    rm_rf(state);
}

static void
test_intact(void)
{
    g_autofree char *state = setup_log(3);
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *data = NULL;

    assert_intact(state, NULL, 3);
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
static void
test_emptied(void)
{
    check(drop_all, "empty");
}

/* ---- the head ---- */

static void
unlink_head(const char *state)
{
    g_autofree char *head = in_state(state, "audit/events.head");
    g_assert_cmpint(unlink(head), ==, 0);
}

/* Old code: a missing .head skipped the truncation check, so this passed. */
static void
test_head_missing(void)
{
    g_autofree char *state = setup_log(4);

    unlink_head(state);
    assert_broken(state, NULL, "head");
    rm_rf(state);
}

/* Dropping the last record and the head: passed on the old code. */
static void
test_drop_last_and_head(void)
{
    g_autofree char *state = setup_log(4);
    g_autofree char *path = vmm_events_global_path(state);

    rewrite(path, drop_last);
    unlink_head(state);
    assert_broken(state, NULL, "head");
    /* The next append must not paper over it: the gap keeps showing. */
    append_n(state, NULL, 10, 2);
    assert_broken(state, NULL, ":4:");
    rm_rf(state);
}

static void
test_emptied_no_head(void)
{
    g_autofree char *state = setup_log(4);
    g_autofree char *path = vmm_events_global_path(state);

    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    unlink_head(state);
    assert_broken(state, NULL, "empty");
    rm_rf(state);
}

static void
test_log_removed(void)
{
    g_autofree char *state = setup_log(2);
    g_autofree char *path = vmm_events_global_path(state);

    g_assert_cmpint(unlink(path), ==, 0);
    assert_broken(state, NULL, "gone");
    rm_rf(state);
}

/* Records dropped at the end, then an append: chains to the head, so the gap shows. */
static void
test_drop_then_append(void)
{
    g_autofree char *state = setup_log(4);
    g_autofree char *path = vmm_events_global_path(state);

    rewrite(path, drop_last);
    append_n(state, NULL, 10, 1);
    assert_broken(state, NULL, ":4:");
    rm_rf(state);
}

/* A writer that died between a record and its head: accepted, and the next append heals it. */
static void
test_head_lag(void)
{
    g_autofree char *state = setup_log(3);
    g_autofree char *head = in_state(state, "audit/events.head");
    g_autofree char *saved = NULL;
    g_autoptr(GError) err = NULL;
    VmmEventsVerified v;

    g_assert_true(g_file_get_contents(head, &saved, NULL, NULL));
    append_n(state, NULL, 3, 1);
    g_assert_true(g_file_set_contents(head, saved, -1, NULL));
    g_assert_true(vmm_events_verify(state, NULL, &v, &err));
    g_assert_no_error(err);
    g_assert_true(v.head_lag);
    append_n(state, NULL, 4, 1);
    g_assert_true(vmm_events_verify(state, NULL, &v, NULL));
    g_assert_false(v.head_lag);
    g_assert_cmpuint(v.records, ==, 5);
    rm_rf(state);
}

/* ---- the key ---- */

static GBytes *
read_key(const char *state)
{
    g_autofree char *path = in_state(state, "audit/key");
    g_autofree char *data = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 32);
    return g_bytes_new(data, len);
}

/* Recomputes every prev of @path with @key (NULL: plain sha256) and writes @head_rel to match. */
static void
rechain(const char *state, const char *path, GBytes *key, const char *head_rel)
{
    g_autoptr(GPtrArray) lines = read_lines(path);
    g_autofree char *prev = g_strdup(VMM_EVENTS_GENESIS);
    g_autofree char *head = in_state(state, head_rel);

    for (guint i = 0; i < lines->len; i++) {
        char *l = g_ptr_array_index(lines, i);
        char *p = strstr(l, "\"prev\":\"");
        g_assert_nonnull(p);
        memcpy(p + 8, prev, 64);
        g_free(prev);
        if (key) {
            g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, g_bytes_get_data(key, NULL), 32);
            g_hmac_update(h, (const guchar *)l, strlen(l));
            prev = g_strdup(g_hmac_get_string(h));
        } else {
            prev = g_compute_checksum_for_string(G_CHECKSUM_SHA256, l, -1);
        }
    }
    write_lines(path, lines);
    g_assert_true(g_file_set_contents(head, prev, -1, NULL));
}

/*
 * Anyone who can write the log (and even the head) but not read the key:
 * edits a record and recomputes the chain. The unkeyed sha256 chain of the
 * old code let this pass.
 */
static void
test_rewrite_without_key(void)
{
    g_autofree char *state = setup_log(4);
    g_autofree char *path = vmm_events_global_path(state);
    g_autoptr(GBytes) wrong = g_bytes_new("0123456789abcdef0123456789abcdef", 32);

    rewrite(path, edit_value);
    rechain(state, path, NULL, "audit/events.head");
    assert_broken(state, NULL, "audit key");
    rechain(state, path, wrong, "audit/events.head");
    assert_broken(state, NULL, ":2:");
    rm_rf(state);
}

/* The test's own HMAC chain is the one the code writes: the key is what matters above. */
static void
test_rewrite_with_key(void)
{
    g_autofree char *state = setup_log(4);
    g_autofree char *path = vmm_events_global_path(state);
    g_autoptr(GBytes) key = read_key(state);

    rewrite(path, edit_value);
    rechain(state, path, key, "audit/events.head");
    assert_intact(state, NULL, 4); /* root with the key: documented as not detected */
    rm_rf(state);
}

static void
test_key_file(void)
{
    g_autofree char *state = setup_log(1);
    g_autofree char *dir = in_state(state, "audit");
    g_autofree char *key = in_state(state, "audit/key");
    struct stat st;

    g_assert_cmpint(lstat(dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);
    g_assert_cmpint(lstat(key, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(st.st_size, ==, 32);
    g_assert_cmpint(st.st_uid, ==, geteuid());
    rm_rf(state);
}

static void
test_key_gone(void)
{
    g_autofree char *state = setup_log(3);
    g_autofree char *key = in_state(state, "audit/key");

    g_assert_cmpint(unlink(key), ==, 0);
    assert_broken(state, NULL, "audit key");
    rm_rf(state);
}

/* A key (or the audit directory) that is a symlink or open to others is refused, not used. */
static void
test_key_refused(void)
{
    g_autofree char *state = state_new();
    g_autofree char *dir = in_state(state, "audit");
    g_autofree char *key = in_state(state, "audit/key");
    g_autofree char *target = in_state(state, "elsewhere");
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(target, "0123456789abcdef0123456789abcdef", 32, NULL));
    g_assert_cmpint(chmod(target, 0600), ==, 0);
    g_assert_cmpint(symlink(target, key), ==, 0);
    g_assert_false(vmm_events_append(state, NULL, "test", NULL, &err));
    g_test_message("%s", err->message);
    g_clear_error(&err);
    g_assert_cmpint(unlink(key), ==, 0);
    g_assert_cmpint(chmod(dir, 0777), ==, 0);
    g_assert_false(vmm_events_append(state, NULL, "test", NULL, &err));
    g_assert_nonnull(strstr(err->message, "0700"));
    rm_rf(state);
}

/* A log from before audit keys still verifies, and the first keyed record pins it. */
static void
test_legacy(void)
{
    g_autofree char *state = setup_log(3);
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *dir = in_state(state, "audit");
    g_autofree char *legacy = g_strconcat(path, ".head", NULL);
    g_autoptr(GError) err = NULL;
    VmmEventsVerified v;

    /* What the old code left: a sha256 chain, its head next to the log, no audit/. */
    rechain(state, path, NULL, "events.jsonl.head");
    rm_rf(dir);
    g_assert_true(vmm_events_verify(state, NULL, &v, &err));
    g_assert_no_error(err);
    g_assert_false(v.keyed);
    g_assert_cmpuint(v.records, ==, 3);
    append_n(state, NULL, 3, 2);
    g_assert_false(g_file_test(legacy, G_FILE_TEST_EXISTS));
    g_assert_true(vmm_events_verify(state, NULL, &v, &err));
    g_assert_true(v.keyed);
    g_assert_cmpuint(v.records, ==, 5);
    g_assert_cmpuint(v.unkeyed, ==, 2);
    rewrite(path, edit_value); /* line 3 is the last unkeyed record */
    assert_broken(state, NULL, ":4:");
    rm_rf(state);
}

/* ---- bounds ---- */

static void
assert_lines_bounded(const char *path)
{
    g_autoptr(GPtrArray) lines = read_lines(path);

    for (guint i = 0; i < lines->len; i++) {
        const char *l = g_ptr_array_index(lines, i);
        g_assert_cmpuint(strlen(l), <=, VMM_EVENTS_RECORD_MAX);
        g_assert_true(g_utf8_validate(l, -1, NULL));
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

    for (guint i = 0; big->len < 100 * 1024; i++)
        g_string_append(big, i % 7 ? "guest says \xff\xfe\x01 no\n" : "\xc3\xa9t\xc3\xa9 ");
    json_object_set_string_member(f, "error", big->str);
    g_assert_true(vmm_events_append(state, NULL, "create-failed", f, &err));
    g_assert_no_error(err);
    append_n(state, NULL, 2, 2);
    assert_intact(state, NULL, 5);
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

    for (guint i = 0; i < 40; i++) {
        g_autofree char *k = g_strdup_printf("k%u", i);
        json_object_set_string_member(f, k, s);
    }
    for (guint i = 0; i < 1000; i++)
        json_array_add_int_element(deep, i);
    json_object_set_array_member(f, "many", json_array_ref(deep));
    json_object_set_string_member(f, "prev", "not the caller's to set");
    g_assert_true(vmm_events_append(state, NULL, "big", f, NULL));
    append_n(state, NULL, 1, 1);
    assert_intact(state, NULL, 3);
    assert_lines_bounded(path);
    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    g_assert_nonnull(strstr(data, "\"truncated\":\"details dropped"));
    g_assert_null(strstr(data, "not the caller's"));
    rm_rf(state);
}

/*
 * A last line of any length (here 200 KiB, chained correctly with the key)
 * is hashed whole, also when the head cannot stand in for it because the
 * writer died before updating it: the old reader looked at the last 64 KiB.
 */
static void
test_long_last_line(void)
{
    g_autofree char *state = setup_log(2);
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *head = in_state(state, "audit/events.head");
    g_autoptr(GBytes) key = read_key(state);
    g_autoptr(GPtrArray) lines = read_lines(path);
    g_autofree char *pad = g_strnfill(200 * 1024, 'y');
    g_autoptr(GError) err = NULL;
    const char *prev;
    VmmEventsVerified v;

    g_ptr_array_add(lines, g_strdup_printf("{\"event\":\"long\",\"pad\":\"%s\",\"prev\":\"%s\"}",
                                           pad, VMM_EVENTS_GENESIS));
    write_lines(path, lines);
    rechain(state, path, key, "audit/events.head");
    assert_intact(state, NULL, 3);
    /* The head still names line 2, as if the writer of line 3 had died before it. */
    g_ptr_array_unref(lines);
    lines = read_lines(path);
    prev = strstr(g_ptr_array_index(lines, 2), "\"prev\":\"") + 8;
    g_assert_true(g_file_set_contents(head, prev, 64, NULL));
    g_assert_true(vmm_events_verify(state, NULL, &v, &err));
    g_assert_no_error(err);
    g_assert_true(v.head_lag);
    append_n(state, NULL, 2, 2);
    assert_intact(state, NULL, 5);
    rm_rf(state);
}

/* ---- per-sandbox logs ---- */

static void
test_sandbox_log(void)
{
    g_autofree char *state = state_new();
    g_autofree char *sdir = in_state(state, "sandboxes/sb-1");
    g_autofree char *path = vmm_events_sandbox_path(state, "sb-1");
    g_autofree char *head = in_state(state, "audit/sandboxes/sb-1.head");
    g_autofree char *old = in_state(state, "sandboxes/sb-1/events.jsonl");
    g_autofree char *adir = in_state(state, "audit/sandboxes");
    g_autoptr(GError) err = NULL;
    struct stat st;

    g_assert_cmpint(g_mkdir_with_parents(sdir, 0700), ==, 0);
    append_n(state, "sb-1", 0, 3);
    /* Nothing of the audit trail where the qemu user can write. */
    g_assert_false(g_file_test(old, G_FILE_TEST_EXISTS));
    g_assert_true(g_str_has_prefix(path, state));
    g_assert_nonnull(strstr(path, "/audit/sandboxes/"));
    g_assert_cmpint(lstat(adir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);
    g_assert_cmpint(lstat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_true(g_file_test(head, G_FILE_TEST_IS_REGULAR));
    assert_intact(state, "sb-1", 3);
    assert_intact(state, NULL, 3);
    rewrite(path, drop_last);
    assert_broken(state, "sb-1", ":2:");

    g_assert_true(vmm_events_sandbox_remove(state, "sb-1", &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(head, G_FILE_TEST_EXISTS));
    g_assert_false(vmm_events_verify(state, "sb-1", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_assert_true(vmm_events_sandbox_remove(state, "sb-1", NULL)); /* twice: no error */
    /* A fresh incarnation starts a fresh chain. */
    append_n(state, "sb-1", 0, 1);
    assert_intact(state, "sb-1", 1);
    rm_rf(state);
}

/* A symlink planted where a log goes is refused, and its target untouched. */
static void
test_sandbox_log_symlink(void)
{
    g_autofree char *state = state_new();
    g_autofree char *sdir = in_state(state, "sandboxes/sb-2");
    g_autofree char *path = vmm_events_sandbox_path(state, "sb-2");
    g_autofree char *target = in_state(state, "victim");
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(g_mkdir_with_parents(sdir, 0700), ==, 0);
    append_n(state, "sb-2", 0, 1);
    g_assert_true(vmm_events_sandbox_remove(state, "sb-2", NULL));
    g_assert_true(g_file_set_contents(target, "keep\n", -1, NULL));
    g_assert_cmpint(symlink(target, path), ==, 0);
    g_assert_false(vmm_events_append(state, "sb-2", "test", NULL, &err));
    g_assert_true(g_file_get_contents(target, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "keep\n");
    rm_rf(state);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/events/intact", test_intact);
    g_test_add_func("/events/state-dir-mode", test_state_dir_mode);
    g_test_add_func("/events/edited", test_edit);
    g_test_add_func("/events/removed", test_remove);
    g_test_add_func("/events/reordered", test_reorder);
    g_test_add_func("/events/truncated", test_truncate);
    g_test_add_func("/events/emptied", test_emptied);
    g_test_add_func("/events/head/missing", test_head_missing);
    g_test_add_func("/events/head/drop-last-and-head", test_drop_last_and_head);
    g_test_add_func("/events/head/emptied-no-head", test_emptied_no_head);
    g_test_add_func("/events/head/log-removed", test_log_removed);
    g_test_add_func("/events/head/drop-then-append", test_drop_then_append);
    g_test_add_func("/events/head/lag", test_head_lag);
    g_test_add_func("/events/key/rewrite-without-key", test_rewrite_without_key);
    g_test_add_func("/events/key/rewrite-with-key", test_rewrite_with_key);
    g_test_add_func("/events/key/file", test_key_file);
    g_test_add_func("/events/key/gone", test_key_gone);
    g_test_add_func("/events/key/refused", test_key_refused);
    g_test_add_func("/events/key/legacy", test_legacy);
    g_test_add_func("/events/bounds/field", test_oversized_field);
    g_test_add_func("/events/bounds/record", test_oversized_record);
    g_test_add_func("/events/bounds/long-last-line", test_long_last_line);
    g_test_add_func("/events/sandbox/log", test_sandbox_log);
    g_test_add_func("/events/sandbox/symlink", test_sandbox_log_symlink);
    return g_test_run();
}
