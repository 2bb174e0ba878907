/*
 * test-guest-files: the host end of a copy out of a hostile guest (guest-files.c). A fake
 * guest on a socketpair sends what the real helper never would: an entry through a
 * symlink it sent before, names that climb out, a frame longer than the bound, a copy
 * over --max-size. The copy fails, nothing lands outside the destination, and the
 * process lives.
 */
#include <config.h>

#include "error.h"
#include "guest-channel-private.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int guest_fd;
    VmmGuestConn *conn;
    char *dir;    /* the destination's parent */
    char *victim; /* a directory outside it */
} Fixture;

static void
setup(Fixture *fx, gconstpointer data)
{
    int sv[2];

    (void)data;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    fx->guest_fd = sv[1];
    fx->conn = g_new0(VmmGuestConn, 1);
    fx->conn->fd = sv[0];
    fx->conn->lock_fd = -1;
    fx->conn->in = g_byte_array_new();
    fx->conn->next_sid = 1; /* the GET below is session 1 */
    fx->dir = g_dir_make_tmp("airlock-guest-files-XXXXXX", NULL);
    fx->victim = g_dir_make_tmp("airlock-guest-victim-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
}

static void
teardown(Fixture *fx, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s' '%s'", fx->dir, fx->victim);

    (void)data;
    g_assert_cmpint(system(cmd), ==, 0);
    close(fx->guest_fd);
    vmm_guest_conn_free(fx->conn);
    g_free(fx->dir);
    g_free(fx->victim);
}

/* What the fake guest says, queued before the host asks (the socket buffers it). */
static void
guest_says(Fixture *fx, GByteArray *frames)
{
    g_assert_cmpint(write(fx->guest_fd, frames->data, frames->len), ==, (gssize)frames->len);
}

static void
entry(GByteArray *out, guint8 kind, const char *name, const char *target)
{
    vmm_guest_entry_append(out, 1, kind, 0755, 0, name, target);
}

static void
file(GByteArray *out, const char *name, const char *content)
{
    vmm_guest_entry_append(out, 1, AG_KIND_FILE, 0644, strlen(content), name, "");
    vmm_guest_frame_append(out, AG_DATA, 1, content, strlen(content));
    vmm_guest_frame_append(out, AG_DATA, 1, NULL, 0);
}

static gboolean
get_tree(Fixture *fx, guint64 max_bytes, GError **error)
{
    int dfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    VmmAgentCopyOpts opts = {.max_bytes = max_bytes, .timeout_ms = 5000};
    gboolean ok = vmm_guest_get(fx->conn, "/src", dfd, "dest", 0777, TRUE, &opts, error);

    close(dfd);
    return ok;
}

static gboolean
exists(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void
test_tree_ok(Fixture *fx, gconstpointer data)
{
    g_autoptr(GByteArray) g = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *dest = NULL, *text = NULL, *link = NULL;

    (void)data;
    entry(g, AG_KIND_DIR, "", "");
    entry(g, AG_KIND_DIR, "a", "");
    file(g, "a/f", "hello");
    entry(g, AG_KIND_SYMLINK, "a/out", "/etc/passwd");
    vmm_guest_frame_append(g, AG_END, 1, NULL, 0);
    guest_says(fx, g);
    g_assert_true(get_tree(fx, 0, &err));
    g_assert_no_error(err);
    dest = g_build_filename(fx->dir, "dest", "a", "f", NULL);
    g_assert_true(g_file_get_contents(dest, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello");
    g_free(dest);
    dest = g_build_filename(fx->dir, "dest", "a", "out", NULL);
    link = g_file_read_link(dest, NULL);
    g_assert_cmpstr(link, ==, "/etc/passwd"); /* kept as a symlink, not followed */
}

/* A symlink the guest sent, then a file "through" it: never written outside. */
static void
test_through_symlink(Fixture *fx, gconstpointer data)
{
    g_autoptr(GByteArray) g = g_byte_array_new();
    g_autoptr(GError) err = NULL;

    (void)data;
    entry(g, AG_KIND_DIR, "", "");
    entry(g, AG_KIND_SYMLINK, "d", fx->victim);
    file(g, "d/planted", "owned");
    vmm_guest_frame_append(g, AG_END, 1, NULL, 0);
    guest_says(fx, g);
    g_assert_false(get_tree(fx, 0, &err));
    g_assert_nonnull(err);
    g_assert_false(exists(fx->victim, "planted"));
}

static void
test_climbing_names(Fixture *fx, gconstpointer data)
{
    const char *names[] = {"../planted", "a/../../planted", "/tmp/planted"};

    (void)data;
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(GByteArray) g = g_byte_array_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *drain = g_malloc(65536);

        entry(g, AG_KIND_DIR, "", "");
        entry(g, AG_KIND_DIR, "a", "");
        file(g, names[i], "owned");
        vmm_guest_frame_append(g, AG_END, 1, NULL, 0);
        guest_says(fx, g);
        g_assert_false(get_tree(fx, 0, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_false(exists(fx->dir, "planted"));
        /* a fresh connection state for the next round */
        g_byte_array_set_size(fx->conn->in, 0);
        fx->conn->consumed = 0;
        fx->conn->next_sid = 1;
        while (recv(fx->guest_fd, drain, 65536, MSG_DONTWAIT) > 0)
            ;
        while (recv(fx->conn->fd, drain, 65536, MSG_DONTWAIT) > 0)
            ;
    }
}

static void
test_oversized_frame(Fixture *fx, gconstpointer data)
{
    g_autoptr(GByteArray) g = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    guint8 h[AG_HEADER_LEN];

    (void)data;
    ag_header(h, AG_DATA, 1, G_MAXUINT32);
    g_byte_array_append(g, h, sizeof(h));
    guest_says(fx, g);
    g_assert_false(get_tree(fx, 0, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

static void
test_max_bytes(Fixture *fx, gconstpointer data)
{
    g_autoptr(GByteArray) g = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *big = g_strnfill(5000, 'x');

    (void)data;
    entry(g, AG_KIND_DIR, "", "");
    file(g, "f", big);
    vmm_guest_frame_append(g, AG_END, 1, NULL, 0);
    guest_says(fx, g);
    g_assert_false(get_tree(fx, 4096, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
    {
        g_autofree char *dest = g_build_filename(fx->dir, "dest", NULL);
        g_autoptr(GDir) d = g_dir_open(dest, 0, NULL);
        g_assert_nonnull(d);
        g_assert_null(g_dir_read_name(d)); /* no file, no temporary left behind */
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/guest-files/tree", Fixture, NULL, setup, test_tree_ok, teardown);
    g_test_add("/guest-files/through-symlink", Fixture, NULL, setup, test_through_symlink,
               teardown);
    g_test_add("/guest-files/climbing-names", Fixture, NULL, setup, test_climbing_names, teardown);
    g_test_add("/guest-files/oversized-frame", Fixture, NULL, setup, test_oversized_frame,
               teardown);
    g_test_add("/guest-files/max-bytes", Fixture, NULL, setup, test_max_bytes, teardown);
    return g_test_run();
}
