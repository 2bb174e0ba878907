/* test-agent-copy: cp in and out against a fake, hostile guest agent: modes, sizes, time,
 * links and the bytes of its messages. */
#include <config.h>

#include "agent.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the fake guest does. */
typedef struct {
    const char *stat_out; /* reply of the stat helper (its stdout) */
    const char *stat_err;
    int stat_code;
    const char *mktemp_out; /* NULL: the name asked for, with XXXXXX filled in */
    const char *open_error; /* guest-file-open fails with this desc */
    guint64 file_size;      /* bytes guest-file-read hands out; G_MAXUINT64: endless */
    gulong read_delay_us;
    /* filled by the fake */
    guint64 served;
    GHashTable *exec; /* pid -> reply JSON of its guest-exec-status */
    gint64 next_pid;
    GString *written; /* guest-file-write data */
} Fake;

static char *
reply(JsonNode *ret)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);

    json_object_set_member(o, "return", ret);
    json_node_set_object(root, o);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static char *
exec_status_reply(int code, const char *out, const char *err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *o64 = g_base64_encode((const guchar *)out, strlen(out));
    g_autofree char *e64 = g_base64_encode((const guchar *)err, strlen(err));

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "exited");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "exitcode");
    json_builder_add_int_value(b, code);
    json_builder_set_member_name(b, "out-data");
    json_builder_add_string_value(b, o64);
    json_builder_set_member_name(b, "err-data");
    json_builder_add_string_value(b, e64);
    json_builder_end_object(b);
    return reply(json_builder_get_root(b));
}

static char *
fake_transport(virDomainPtr dom, const char *cmd, int timeout_s, gpointer data)
{
    Fake *f = data;
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o, *args;
    const char *ex;

    (void)dom;
    g_assert_cmpint(timeout_s, >, 0);
    g_assert_true(json_parser_load_from_data(p, cmd, -1, NULL));
    o = json_node_get_object(json_parser_get_root(p));
    ex = json_object_get_string_member(o, "execute");
    args = json_object_has_member(o, "arguments") ? json_object_get_object_member(o, "arguments")
                                                  : NULL;
    if (!strcmp(ex, "guest-ping") || !strcmp(ex, "guest-file-close"))
        return g_strdup("{\"return\": {}}");
    if (!strcmp(ex, "guest-exec")) {
        JsonArray *a = json_object_get_array_member(args, "arg");
        const char *script =
            json_array_get_length(a) > 1 ? json_array_get_string_element(a, 1) : "";
        gint64 pid = ++f->next_pid;
        char *st;

        if (strstr(script, "stat -L")) {
            st = exec_status_reply(f->stat_code, f->stat_out, f->stat_err ? f->stat_err : "");
        } else if (strstr(script, "mktemp")) {
            g_autofree char *name = NULL;
            if (f->mktemp_out)
                name = g_strdup(f->mktemp_out);
            else
                name = g_strdup_printf("%s.airlock-AbC123\n", json_array_get_string_element(a, 3));
            st = exec_status_reply(0, name, "");
        } else {
            st = exec_status_reply(0, "", "");
        }
        g_hash_table_insert(f->exec, g_memdup2(&pid, sizeof(pid)), st);
        return g_strdup_printf("{\"return\": {\"pid\": %" G_GINT64_FORMAT "}}", pid);
    }
    if (!strcmp(ex, "guest-exec-status")) {
        gint64 pid = json_object_get_int_member(args, "pid");
        const char *st = g_hash_table_lookup(f->exec, &pid);
        g_assert_nonnull(st);
        return g_strdup(st);
    }
    if (!strcmp(ex, "guest-file-open")) {
        if (f->open_error) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            g_autoptr(JsonGenerator) gen = json_generator_new();
            g_autoptr(JsonNode) root = NULL;
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "error");
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "desc");
            json_builder_add_string_value(b, f->open_error);
            json_builder_end_object(b);
            json_builder_end_object(b);
            root = json_builder_get_root(b);
            json_generator_set_root(gen, root);
            return json_generator_to_data(gen, NULL);
        }
        return g_strdup("{\"return\": 7}");
    }
    if (!strcmp(ex, "guest-file-read")) {
        gint64 count = json_object_get_int_member(args, "count");
        guint64 left = f->file_size == G_MAXUINT64 ? G_MAXUINT64 : f->file_size - f->served;
        gsize n = (gsize)MIN((guint64)count, left);
        g_autofree guchar *buf = g_malloc(MAX(n, 1));
        g_autofree char *b64 = NULL;

        if (f->read_delay_us)
            g_usleep(f->read_delay_us);
        memset(buf, 'A', n);
        b64 = g_base64_encode(buf, n);
        f->served += n;
        return g_strdup_printf("{\"return\": {\"count\": %zu, \"buf-b64\": \"%s\", \"eof\": %s}}",
                               n, b64, n < (gsize)count ? "true" : "false");
    }
    if (!strcmp(ex, "guest-file-write")) {
        gsize len = 0;
        g_autofree guchar *d =
            g_base64_decode(json_object_get_string_member(args, "buf-b64"), &len);
        g_string_append_len(f->written, (const char *)d, len);
        return g_strdup_printf("{\"return\": {\"count\": %zu, \"eof\": false}}", len);
    }
    g_error("fake agent: unexpected command %s", ex);
    return NULL;
}

static void
fake_setup(Fake *f)
{
    memset(f, 0, sizeof(*f));
    f->exec = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    f->written = g_string_new(NULL);
    f->stat_out = "5 regular file\n";
    f->file_size = 5;
    vmm_agent_set_transport(fake_transport, f);
}

static void
fake_teardown(Fake *f)
{
    vmm_agent_set_transport(NULL, NULL);
    g_hash_table_unref(f->exec);
    g_string_free(f->written, TRUE);
}

/* Names in @dir (caller frees). */
static char **
list_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    const char *n;

    while ((n = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(n));
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static void
rm_rf(const char *dir)
{
    g_auto(GStrv) names = list_dir(dir);

    for (char **n = names; *n; n++) {
        g_autofree char *p = g_build_filename(dir, *n, NULL);
        g_assert_cmpint(unlink(p), ==, 0);
    }
    g_assert_cmpint(rmdir(dir), ==, 0);
}

/* The guest's mode never reaches the host: 0666 less the umask, whatever stat says. */
static void
test_copy_out_mode(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *dst = g_build_filename(dir, "out", NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    struct stat sb;
    mode_t old = umask(027);

    fake_setup(&f);
    /* A guest that would love the host file to be setuid and world-writable. */
    f.stat_out = "5 regular file\n";
    g_assert_true(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(lstat(dst, &sb), ==, 0);
    g_assert_true(S_ISREG(sb.st_mode));
    g_assert_cmpint(sb.st_mode & 07777, ==, 0640);
    g_assert_true(g_file_get_contents(dst, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "AAAAA");

    umask(0);
    g_assert_cmpint(unlink(dst), ==, 0);
    g_assert_true(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
    g_assert_cmpint(lstat(dst, &sb), ==, 0);
    g_assert_cmpint(sb.st_mode & 07777, ==, 0666);
    umask(old);
    fake_teardown(&f);
    rm_rf(dir);
}

/* More bytes than the cap: refused, and nothing is left behind, even when stat lied. */
static void
test_copy_out_cap(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *dst = g_build_filename(dir, "big", NULL);
    VmmAgentCopyOpts opts = {.max_bytes = 3 << 20};
    g_auto(GStrv) left = NULL;

    fake_setup(&f);
    f.stat_out = "100 regular file\n"; /* a lie: it sends 10 MiB */
    f.file_size = 10 << 20;
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/big", dst, &opts, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
        g_assert_nonnull(strstr(err->message, "larger than the 3M limit"));
        g_assert_cmpuint(f.served, <=, (guint64)4 << 20);
    }
    left = list_dir(dir);
    g_assert_cmpuint(g_strv_length(left), ==, 0);

    /* An honest size over the cap is refused before a byte moves. */
    f.stat_out = "10485760 regular file\n";
    f.served = 0;
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/big", dst, &opts, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
        g_assert_cmpuint(f.served, ==, 0);
    }
    /* Exactly the cap is fine. */
    f.stat_out = "3145728 regular file\n";
    f.file_size = 3 << 20;
    {
        g_autoptr(GError) err = NULL;
        struct stat sb;
        g_assert_true(vmm_agent_copy_out(NULL, "/tmp/big", dst, &opts, &err));
        g_assert_no_error(err);
        g_assert_cmpint(stat(dst, &sb), ==, 0);
        g_assert_cmpint(sb.st_size, ==, 3 << 20);
    }
    fake_teardown(&f);
    rm_rf(dir);
}

/* A guest that trickles bytes forever is cut off at the timeout. */
static void
test_copy_out_timeout(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *dst = g_build_filename(dir, "slow", NULL);
    VmmAgentCopyOpts opts = {.max_bytes = 64 << 20, .timeout_ms = 300};
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) left = NULL;
    gint64 t0 = g_get_monotonic_time();

    fake_setup(&f);
    f.file_size = G_MAXUINT64;
    f.read_delay_us = 20000;
    g_assert_false(vmm_agent_copy_out(NULL, "/tmp/slow", dst, &opts, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    left = list_dir(dir);
    g_assert_cmpuint(g_strv_length(left), ==, 0);
    fake_teardown(&f);
    rm_rf(dir);
}

/* The destination name is replaced, never followed; the temporary file is not a link either. */
static void
test_copy_out_link(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *dst = g_build_filename(dir, "out", NULL);
    g_autofree char *victim = g_build_filename(dir, "victim", NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    struct stat sb;

    fake_setup(&f);
    g_assert_true(g_file_set_contents(victim, "keep", -1, NULL));
    g_assert_cmpint(symlink(victim, dst), ==, 0);
    g_assert_true(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
    g_assert_cmpint(lstat(dst, &sb), ==, 0);
    g_assert_true(S_ISREG(sb.st_mode));
    g_assert_true(g_file_get_contents(victim, &data, NULL, NULL));
    g_assert_cmpstr(data, ==, "keep");
    fake_teardown(&f);
    rm_rf(dir);
}

static void
assert_one_safe_line(const char *msg)
{
    g_test_message("%s", msg);
    for (const char *p = msg; *p; p++)
        g_assert_true((guchar)*p >= 0x20 && *p != 0x7f);
    g_assert_null(strstr(msg, "\nairlock:"));
}

/* The guest's words in an error are escaped: no terminal sequence, no forged line. */
static void
test_guest_text_escaped(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *dst = g_build_filename(dir, "out", NULL);

    fake_setup(&f);
    f.stat_code = 1;
    f.stat_err = "\x1b[2J\x1b]0;owned\x07stat: oops\nairlock: copied 1 file\n";
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
        assert_one_safe_line(err->message);
        g_assert_nonnull(strstr(err->message, "\\x1b[2J"));
    }
    f.stat_code = 0;
    f.stat_out = "5 \x1b[31mregular\nairlock: file\n";
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
        assert_one_safe_line(err->message);
    }
    f.stat_out = "\x9b"
                 "31m\n";
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
        assert_one_safe_line(err->message);
        g_assert_nonnull(strstr(err->message, "\\x9b"));
    }
    f.stat_out = "5 regular file\n";
    f.open_error = "denied\x1b[1A\r\nairlock: ok";
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_out(NULL, "/tmp/x", dst, NULL, &err));
        assert_one_safe_line(err->message);
    }
    fake_teardown(&f);
    rm_rf(dir);
}

/* cp in follows a host symlink only when asked (-L), like cp(1). */
static void
test_copy_in_link(void)
{
    Fake f;
    g_autofree char *dir = g_dir_make_tmp("airlock-cp-XXXXXX", NULL);
    g_autofree char *secret = g_build_filename(dir, "id_rsa", NULL);
    g_autofree char *link = g_build_filename(dir, "notes.txt", NULL);
    VmmAgentCopyOpts deref = {.dereference = TRUE};

    fake_setup(&f);
    g_assert_true(g_file_set_contents(secret, "PRIVATE", -1, NULL));
    g_assert_cmpint(symlink(secret, link), ==, 0);
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_in(NULL, link, "/tmp/notes.txt", NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, "-L"));
        g_assert_cmpuint(f.written->len, ==, 0);
    }
    {
        g_autoptr(GError) err = NULL;
        g_assert_true(vmm_agent_copy_in(NULL, link, "/tmp/notes.txt", &deref, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(f.written->str, ==, "PRIVATE");
    }
    /* The temporary name comes back from the guest: another one is refused. */
    f.mktemp_out = "/etc/shadow\n";
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_copy_in(NULL, secret, "/tmp/notes.txt", NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    }
    fake_teardown(&f);
    rm_rf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent-copy/out/mode", test_copy_out_mode);
    g_test_add_func("/agent-copy/out/cap", test_copy_out_cap);
    g_test_add_func("/agent-copy/out/timeout", test_copy_out_timeout);
    g_test_add_func("/agent-copy/out/link", test_copy_out_link);
    g_test_add_func("/agent-copy/guest-text-escaped", test_guest_text_escaped);
    g_test_add_func("/agent-copy/in/link", test_copy_in_link);
    return g_test_run();
}
