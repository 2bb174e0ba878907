/* test-guest-proto: the airlock-guest frame codec (guest-proto.h), pure. */
#include <config.h>

#include "error.h"
#include "guest-proto.h"
#include "seed.h"

#include <string.h>

static const guint8 nonce[AG_NONCE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void
test_frame_roundtrip(void)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    VmmGuestFrame f;
    g_autoptr(GError) err = NULL;
    gssize n;

    vmm_guest_frame_append(out, AG_STDOUT, 7, "hello", 5);
    vmm_guest_frame_append(out, AG_END, 8, NULL, 0);
    g_assert_cmpuint(out->len, ==, 2 * AG_HEADER_LEN + 5);
    /* little endian, flags zero */
    g_assert_cmpuint(out->data[0], ==, 5);
    g_assert_cmpuint(out->data[4], ==, AG_STDOUT);
    g_assert_cmpuint(out->data[8], ==, 7);

    /* every prefix shorter than the frame asks for more */
    for (gsize i = 0; i < AG_HEADER_LEN + 5; i++)
        g_assert_cmpint(vmm_guest_frame_parse(out->data, i, &f, &err), ==, 0);
    n = vmm_guest_frame_parse(out->data, out->len, &f, &err);
    g_assert_no_error(err);
    g_assert_cmpint(n, ==, AG_HEADER_LEN + 5);
    g_assert_cmpuint(f.type, ==, AG_STDOUT);
    g_assert_cmpuint(f.sid, ==, 7);
    g_assert_cmpuint(f.len, ==, 5);
    g_assert_cmpmem(f.data, f.len, "hello", 5);
    n = vmm_guest_frame_parse(out->data + n, out->len - n, &f, &err);
    g_assert_cmpint(n, ==, AG_HEADER_LEN);
    g_assert_cmpuint(f.type, ==, AG_END);
    g_assert_cmpuint(f.len, ==, 0);
}

static void
test_frame_bounds(void)
{
    guint8 h[AG_HEADER_LEN];
    VmmGuestFrame f;

    /* a length over the bound is refused from the header alone: nothing is buffered for it */
    ag_header(h, AG_STDOUT, 1, AG_FRAME_MAX + 1);
    {
        g_autoptr(GError) err = NULL;
        g_assert_cmpint(vmm_guest_frame_parse(h, sizeof(h), &f, &err), ==, -1);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    ag_header(h, AG_STDOUT, 1, G_MAXUINT32);
    {
        g_autoptr(GError) err = NULL;
        g_assert_cmpint(vmm_guest_frame_parse(h, sizeof(h), &f, &err), ==, -1);
    }
    /* flags must be zero */
    ag_header(h, AG_STDOUT, 1, 0);
    h[6] = 1;
    {
        g_autoptr(GError) err = NULL;
        g_assert_cmpint(vmm_guest_frame_parse(h, sizeof(h), &f, &err), ==, -1);
    }
    /* the bound itself is a frame (header complete, payload pending) */
    ag_header(h, AG_STDOUT, 1, AG_FRAME_MAX);
    g_assert_cmpint(vmm_guest_frame_parse(h, sizeof(h), &f, NULL), ==, 0);
}

/* Builds the guest's HELLO answer. */
static void
guest_hello(GByteArray *out, const guint8 *n, guint16 version, const char *name)
{
    guint8 p[AG_MAGIC_LEN + 8 + AG_NONCE_LEN];
    g_autoptr(GByteArray) pl = g_byte_array_new();

    memcpy(p, AG_MAGIC, AG_MAGIC_LEN);
    ag_put16(p + 8, version);
    ag_put16(p + 10, 0);
    ag_put32(p + 12, 0);
    memcpy(p + 16, n, AG_NONCE_LEN);
    g_byte_array_append(pl, p, sizeof(p));
    g_byte_array_append(pl, (const guint8 *)name, strlen(name));
    vmm_guest_frame_append(out, AG_HELLO, 0, pl->data, pl->len);
}

static void
test_hello(void)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    guint8 other[AG_NONCE_LEN] = {0};
    VmmGuestFrame f;
    guint version = 0;

    vmm_guest_hello_append(out, nonce);
    g_assert_cmpint(vmm_guest_frame_parse(out->data, out->len, &f, NULL), >, 0);
    g_assert_cmpuint(f.type, ==, AG_HELLO);
    g_assert_cmpmem(f.data, AG_MAGIC_LEN, AG_MAGIC, AG_MAGIC_LEN);
    g_assert_cmpuint(ag_get16(f.data + 8), ==, AG_VERSION_MIN);
    g_assert_cmpuint(ag_get16(f.data + 10), ==, AG_VERSION_MAX);

    g_byte_array_set_size(out, 0);
    guest_hello(out, nonce, 1, "airlock-guest 1\x1b[2J");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    {
        g_autofree char *name = NULL;
        g_autoptr(GError) err = NULL;
        g_assert_true(vmm_guest_hello_check(&f, nonce, &version, &name, &err));
        g_assert_cmpuint(version, ==, 1);
        g_assert_null(strchr(name, '\x1b')); /* the guest's name is escaped */
    }
    /* an answer to another connection's HELLO, a version we do not speak */
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_guest_hello_check(&f, other, &version, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    g_byte_array_set_size(out, 0);
    guest_hello(out, nonce, 2, "x");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_guest_hello_check(&f, nonce, &version, NULL, &err));
        g_assert_nonnull(strstr(err->message, "version 2"));
    }
}

static void
test_exec(void)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    const char *argv[] = {"sh", "-c", "echo ü", NULL}, *env[] = {"A=1", NULL};
    VmmGuestExecRequest req = {argv, env, "sub", "alice", NULL, AG_EXEC_PTY, 5000, 24, 80};
    VmmGuestFrame f;
    const guint8 *p;
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_guest_exec_append(out, 3, &req, &err));
    g_assert_cmpint(vmm_guest_frame_parse(out->data, out->len, &f, NULL), ==, (gssize)out->len);
    g_assert_cmpuint(f.type, ==, AG_EXEC);
    g_assert_cmpuint(ag_get32(f.data), ==, AG_EXEC_PTY);
    g_assert_cmpuint(ag_get32(f.data + 4), ==, 5000);
    g_assert_cmpuint(ag_get16(f.data + 8), ==, 24);
    g_assert_cmpuint(ag_get16(f.data + 10), ==, 80);
    p = f.data + 12;
    g_assert_cmpuint(p[0], ==, AG_F_ARG);
    g_assert_cmpuint(ag_get32(p + 1), ==, 2);
    g_assert_cmpmem(p + 5, 2, "sh", 2);
    p += 5 + 2 + 5 + 2;
    g_assert_cmpuint(p[0], ==, AG_F_ARG);
    g_assert_cmpuint(ag_get32(p + 1), ==, strlen("echo ü"));
    p += 5 + strlen("echo ü");
    g_assert_cmpuint(p[0], ==, AG_F_ENV);
    p += 5 + 3;
    g_assert_cmpuint(p[0], ==, AG_F_CWD);
    p += 5 + 3;
    g_assert_cmpuint(p[0], ==, AG_F_USER);
    p += 5 + 5;
    g_assert_true(p == f.data + f.len);

    /* a command line over a frame is refused before anything is sent */
    {
        g_autofree char *huge = g_strnfill(AG_FRAME_MAX, 'x');
        const char *big[] = {"echo", huge, NULL};
        VmmGuestExecRequest r2 = {big};
        g_autoptr(GError) e2 = NULL;
        g_byte_array_set_size(out, 0);
        g_assert_false(vmm_guest_exec_append(out, 4, &r2, &e2));
        g_assert_error(e2, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_cmpuint(out->len, ==, 0);
    }
}

static void
test_exit_error_done(void)
{
    guint8 b[12];
    VmmGuestFrame f = {AG_EXIT, 1, b, 8};
    int status;
    gboolean timed_out;
    guint32 code;

    ag_put32(b, 143);
    ag_put32(b + 4, 0);
    g_assert_true(vmm_guest_exit_parse(&f, &status, &timed_out, NULL));
    g_assert_cmpint(status, ==, 143);
    g_assert_false(timed_out);
    ag_put32(b + 4, AG_EXIT_TIMEOUT);
    g_assert_true(vmm_guest_exit_parse(&f, &status, &timed_out, NULL));
    g_assert_true(timed_out);
    ag_put32(b, 256); /* not a status */
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_guest_exit_parse(&f, &status, &timed_out, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    f.len = 7;
    g_assert_false(vmm_guest_exit_parse(&f, &status, &timed_out, NULL));

    {
        guint8 e[8 + 12];
        VmmGuestFrame ef = {AG_ERROR, 1, e, sizeof(e)};
        g_autofree char *msg = NULL;
        ag_put32(e, AG_E_NOTFOUND);
        ag_put32(e + 4, 2);
        memcpy(e + 8, "gone\n\x07\xff here", 12);
        msg = vmm_guest_error_parse(&ef, &code);
        g_assert_cmpuint(code, ==, AG_E_NOTFOUND);
        for (const char *c = msg; *c; c++)
            g_assert_cmpint((guchar)*c, >=, 0x20);
        ag_put32(e, 9999);
        g_free(vmm_guest_error_parse(&ef, &code));
        g_assert_cmpuint(code, ==, AG_E_INTERNAL);
        ef.len = 3;
        g_free(vmm_guest_error_parse(&ef, &code));
        g_assert_cmpuint(code, ==, AG_E_PROTOCOL);
    }
    {
        guint64 bytes;
        guint32 entries;
        VmmGuestFrame df = {AG_DONE, 1, b, 12};
        ag_put64(b, 52428800);
        ag_put32(b + 8, 3);
        g_assert_true(vmm_guest_done_parse(&df, &bytes, &entries, NULL));
        g_assert_cmpuint(bytes, ==, 52428800);
        g_assert_cmpuint(entries, ==, 3);
        df.len = 11;
        g_assert_false(vmm_guest_done_parse(&df, &bytes, &entries, NULL));
    }
}

static void
test_names(void)
{
    const char *good[] = {"", "a", "a/b", "a/b/c.txt", "..a", "a..", ".hidden", "a/.b"};
    const char *bad[] = {"/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b", "a/../b"};

    for (guint i = 0; i < G_N_ELEMENTS(good); i++)
        g_assert_true(vmm_guest_name_valid(good[i], strlen(good[i])));
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_false(vmm_guest_name_valid(bad[i], strlen(bad[i])));
    g_assert_false(vmm_guest_name_valid("a\0b", 3));
}

static void
test_entry(void)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    VmmGuestFrame f;
    VmmGuestEntry e;

    vmm_guest_entry_append(out, 5, AG_KIND_SYMLINK, 0120777, 0, "dir/link", "../../etc/passwd");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    g_assert_true(vmm_guest_entry_parse(&f, &e, NULL));
    g_assert_cmpuint(e.kind, ==, AG_KIND_SYMLINK);
    g_assert_cmpuint(e.mode, ==, 0777); /* permission bits only */
    g_assert_cmpstr(e.name, ==, "dir/link");
    g_assert_cmpstr(e.target, ==, "../../etc/passwd"); /* kept: a symlink is never followed */
    vmm_guest_entry_clear(&e);

    g_byte_array_set_size(out, 0);
    vmm_guest_entry_append(out, 5, AG_KIND_FILE, 04755, 12, "a/b", "");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    g_assert_true(vmm_guest_entry_parse(&f, &e, NULL));
    g_assert_cmpuint(e.mode, ==, 0755); /* no setuid from the guest */
    g_assert_cmpuint(e.size, ==, 12);
    vmm_guest_entry_clear(&e);

    /* names that would leave the tree, a target on a file, an unknown kind, a short frame */
    {
        const char *names[] = {"../x", "/etc/passwd", "a/../../x", "a//b"};
        for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
            g_autoptr(GError) err = NULL;
            g_byte_array_set_size(out, 0);
            vmm_guest_entry_append(out, 5, AG_KIND_FILE, 0644, 0, names[i], "");
            vmm_guest_frame_parse(out->data, out->len, &f, NULL);
            g_assert_false(vmm_guest_entry_parse(&f, &e, &err));
            g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        }
    }
    g_byte_array_set_size(out, 0);
    vmm_guest_entry_append(out, 5, AG_KIND_FILE, 0644, 0, "a", "target");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    g_assert_false(vmm_guest_entry_parse(&f, &e, NULL));
    g_byte_array_set_size(out, 0);
    vmm_guest_entry_append(out, 5, 9, 0644, 0, "a", "");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    g_assert_false(vmm_guest_entry_parse(&f, &e, NULL));
    /* a name length beyond the payload */
    g_byte_array_set_size(out, 0);
    vmm_guest_entry_append(out, 5, AG_KIND_FILE, 0644, 0, "abc", "");
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    ag_put16((guint8 *)f.data + 16, 4);
    g_assert_false(vmm_guest_entry_parse(&f, &e, NULL));
    f.len = AG_ENTRY_FIXED - 1;
    g_assert_false(vmm_guest_entry_parse(&f, &e, NULL));
}

static void
test_path(void)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    VmmGuestFrame f;

    g_assert_true(vmm_guest_path_append(out, AG_GET, 2, AG_GET_TREE, "/srv/x", NULL));
    vmm_guest_frame_parse(out->data, out->len, &f, NULL);
    g_assert_cmpuint(f.type, ==, AG_GET);
    g_assert_cmpuint(ag_get32(f.data), ==, AG_GET_TREE);
    g_assert_cmpmem(f.data + 4, f.len - 4, "/srv/x", 6);
    g_assert_false(vmm_guest_path_append(out, AG_PUT, 2, 0, "relative", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

/* The helper reads the files the seed writes. */
static void
test_paths(void)
{
    g_assert_cmpstr(AG_ENV_FILE, ==, VMM_SEED_ENV_PATH);
    g_assert_cmpstr(AG_SECRETS_FILE, ==, VMM_SEED_SECRETS_PATH);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-proto/frame-roundtrip", test_frame_roundtrip);
    g_test_add_func("/guest-proto/frame-bounds", test_frame_bounds);
    g_test_add_func("/guest-proto/hello", test_hello);
    g_test_add_func("/guest-proto/exec", test_exec);
    g_test_add_func("/guest-proto/exit-error-done", test_exit_error_done);
    g_test_add_func("/guest-proto/names", test_names);
    g_test_add_func("/guest-proto/entry", test_entry);
    g_test_add_func("/guest-proto/path", test_path);
    g_test_add_func("/guest-proto/seed-paths", test_paths);
    return g_test_run();
}
