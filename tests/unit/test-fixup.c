/* test-fixup: the host side of the clock and RNG fix after a restore, against a
 * test:///default domain whose fixup channel is a socket this test listens on (the
 * helper's end): the request's layout, the answers it accepts, and what a hostile
 * or silent helper gets (the fallback, which test:/// cannot run: an error). */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "domain-xml.h"
#include "error.h"
#include "fixup.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REQUEST_LEN 96 /* id 16, seconds 8, nanoseconds 8, seed 64 */

extern const unsigned long vmm_fixup_helper_len;

typedef struct {
    char *dir;
    char *sock_path;
    int listen_fd;
    virConnectPtr conn;
    virDomainPtr dom;
} Fixture;

static void
define_domain(Fixture *f, const char *channel_path)
{
    g_autofree char *channel =
        channel_path
            ? g_markup_printf_escaped("<channel type='unix'><source mode='bind' path='%s'/>"
                                      "<target type='virtio' name='%s'/></channel>",
                                      channel_path, VMM_FIXUP_CHANNEL)
            : g_strdup("");
    g_autofree char *xml =
        g_strdup_printf("<domain type='test'><name>airlock-fixup-test</name><memory>65536</memory>"
                        "<os><type>hvm</type></os><devices>%s</devices></domain>",
                        channel);

    if (f->dom) {
        virDomainUndefine(f->dom);
        virDomainFree(f->dom);
    }
    f->dom = virDomainDefineXML(f->conn, xml);
    g_assert_nonnull(f->dom);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    f->dir = g_dir_make_tmp("airlock-fx-XXXXXX", &err);
    g_assert_no_error(err);
    f->sock_path = g_build_filename(f->dir, "fixup.sock", NULL);
    g_assert_cmpuint(strlen(f->sock_path), <, sizeof(addr.sun_path));
    g_strlcpy(addr.sun_path, f->sock_path, sizeof(addr.sun_path));
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(f->listen_fd, >=, 0);
    g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(f->listen_fd, 4), ==, 0);
    f->conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    define_domain(f, f->sock_path);
    g_unsetenv("AIRLOCK_FIXUP");
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    virDomainUndefine(f->dom);
    virDomainFree(f->dom);
    virConnectClose(f->conn);
    close(f->listen_fd);
    g_unlink(f->sock_path);
    g_rmdir(f->dir);
    g_free(f->sock_path);
    g_free(f->dir);
}

/* The helper's end: accepts the connection vmm_fixup_send made and reads its request. */
static int
helper_accept(Fixture *f, guchar req[REQUEST_LEN], char id_hex[33])
{
    int fd = accept(f->listen_fd, NULL, NULL);
    gsize got = 0;

    g_assert_cmpint(fd, >=, 0);
    while (got < REQUEST_LEN) {
        ssize_t n = read(fd, req + got, REQUEST_LEN - got);
        g_assert_cmpint(n, >, 0);
        got += n;
    }
    for (int i = 0; i < 16; i++)
        g_snprintf(id_hex + 2 * i, 3, "%02x", req[i]);
    return fd;
}

static void
helper_say(int fd, const char *text)
{
    g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t)strlen(text));
}

static void
test_request(Fixture *f, gconstpointer data)
{
    guchar a[REQUEST_LEN], b[REQUEST_LEN];
    char ida[33], idb[33];
    g_autoptr(VmmFixup) fa = vmm_fixup_send(f->dom);
    g_autoptr(VmmFixup) fb = NULL;
    gint64 s, ns, now_s = g_get_real_time() / G_USEC_PER_SEC;
    int fda, fdb, zeros = 0;
    guchar extra;

    g_assert_nonnull(fa);
    fda = helper_accept(f, a, ida);
    fb = vmm_fixup_send(f->dom);
    g_assert_nonnull(fb);
    fdb = helper_accept(f, b, idb);

    /* The host's time, little-endian seconds and nanoseconds. */
    memcpy(&s, a + 16, 8);
    memcpy(&ns, a + 24, 8);
    s = GINT64_FROM_LE(s);
    ns = GINT64_FROM_LE(ns);
    g_assert_cmpint(s, >=, now_s - 5);
    g_assert_cmpint(s, <=, now_s + 5);
    g_assert_cmpint(ns, >=, 0);
    g_assert_cmpint(ns, <, 1000000000);
    /* Fresh id and seed every time: two reverts must not replay one random stream. */
    g_assert_cmpint(memcmp(a, b, 16), !=, 0);
    g_assert_cmpint(memcmp(a + 32, b + 32, 64), !=, 0);
    for (int i = 32; i < REQUEST_LEN; i++)
        zeros += a[i] == 0;
    g_assert_cmpint(zeros, <, 16);
    /* Exactly one request, nothing after it. */
    g_assert_cmpint(recv(fda, &extra, 1, MSG_DONTWAIT), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
    close(fda);
    close(fdb);
}

typedef struct {
    int fd;
    const char *pieces[5];
} Pieces;

static gpointer
say_slowly(gpointer data)
{
    Pieces *p = data;

    for (int i = 0; p->pieces[i]; i++) {
        g_usleep(50 * 1000);
        helper_say(p->fd, p->pieces[i]);
    }
    return NULL;
}

/* Sends a request and answers it as the helper would: its id, then each of @after, 50 ms
 * apart from a thread while vmm_fixup_finish already waits. Returns what finish did. */
static gboolean
answer(Fixture *f, const char *const *after, const char **via, GError **error)
{
    g_autoptr(VmmFixup) fx = vmm_fixup_send(f->dom);
    guchar req[REQUEST_LEN];
    char id[33];
    Pieces p = {0};
    GThread *t;
    gboolean ok;

    g_assert_nonnull(fx);
    p.fd = helper_accept(f, req, id);
    p.pieces[0] = id;
    for (int i = 0; after[i] && i < 3; i++)
        p.pieces[i + 1] = after[i];
    t = g_thread_new("helper", say_slowly, &p);
    ok = vmm_fixup_finish(f->dom, fx, via, error);
    g_thread_join(t);
    close(p.fd);
    return ok;
}

static void
test_helper_ok(Fixture *f, gconstpointer data)
{
    const char *const whole[] = {" ok\n", NULL};
    const char *const split[] = {" o", "k\n", NULL}; /* a stream, not datagrams */
    g_autoptr(GError) err = NULL;
    const char *via = NULL;

    g_assert_true(answer(f, whole, &via, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(via, ==, "helper");
    via = NULL;
    g_assert_true(answer(f, split, &via, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(via, ==, "helper");
}

static void
test_helper_failed(Fixture *f, gconstpointer data)
{
    const char *const failed[] = {" clock_settime: EPERM\n", NULL};
    g_autoptr(GError) err = NULL;
    const char *via = NULL;

    /* The helper answered that it failed: an error, and no second try through the agent. */
    g_assert_false(answer(f, failed, &via, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_assert_nonnull(strstr(err->message, "(clock_settime: EPERM)"));
    g_assert_null(via);
}

/* A reply that is not the helper's answer to this request: the fallback runs (and fails on
 * test:///, which has no agent), reported as "exec". The reply is @before, the request's
 * id when @use_id, @after; @repeat times. */
static void
expect_fallback(Fixture *f, const char *before, gboolean use_id, const char *after, gsize repeat)
{
    g_autoptr(VmmFixup) fx = vmm_fixup_send(f->dom);
    g_autoptr(GError) err = NULL;
    guchar req[REQUEST_LEN];
    char id[33];
    const char *via = NULL;
    int fd;

    g_assert_nonnull(fx);
    fd = helper_accept(f, req, id);
    for (gsize i = 0; i < repeat; i++) {
        g_autofree char *reply = g_strconcat(before, use_id ? id : "", after, NULL);
        helper_say(fd, reply);
    }
    close(fd); /* then silence: end of stream */
    g_assert_false(vmm_fixup_finish(f->dom, fx, &via, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(via, ==, "exec");
    g_assert_null(strstr(err->message, id));
}

static void
test_hostile_replies(Fixture *f, gconstpointer data)
{
    g_autofree char *pad = g_strnfill(300, 'x');

    /* Another request's id (a stale answer), the right id glued to the text, the id alone. */
    expect_fallback(f, "00112233445566778899aabbccddeeff ok\n", FALSE, "", 1);
    expect_fallback(f, "", TRUE, "ok\n", 1);
    expect_fallback(f, "", TRUE, "\n", 1);
    /* Endless bytes without a newline: bounded, never an answer. */
    expect_fallback(f, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", FALSE,
                    "", 16);
    /* The right answer, but only after more than the reply bound. */
    expect_fallback(f, pad, TRUE, " ok\n", 1);
    /* Nothing at all: the helper died. */
    expect_fallback(f, "", FALSE, "", 0);
}

static void
test_no_channel(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *file = g_build_filename(f->dir, "not-a-socket", NULL);
    const char *via = NULL;

    /* No port in the domain: no request; finish takes the fallback. */
    define_domain(f, NULL);
    g_assert_null(vmm_fixup_send(f->dom));
    g_assert_false(vmm_fixup_finish(f->dom, NULL, &via, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(via, ==, "exec");

    /* A port whose path is not a socket on this host (a remote sandbox): same. */
    g_assert_true(g_file_set_contents(file, "", 0, NULL));
    define_domain(f, file);
    g_assert_null(vmm_fixup_send(f->dom));
    g_unlink(file);

    /* AIRLOCK_FIXUP=exec rules the helper out even when it could be reached. */
    define_domain(f, f->sock_path);
    g_setenv("AIRLOCK_FIXUP", "exec", TRUE);
    g_assert_null(vmm_fixup_send(f->dom));
    g_unsetenv("AIRLOCK_FIXUP");
}

static void
test_prepare_without_agent(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    /* test:/// has no agent: installing the helper fails, which only costs speed; the
     * library says so only in its debug log (it never prints: reset --json says fixup_via). */
    g_assert_true(vmm_fixup_prepare(f->dom, &err));
    g_assert_no_error(err);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/fixup/request", test_request);
    ADD("/fixup/helper-ok", test_helper_ok);
    ADD("/fixup/helper-failed", test_helper_failed);
    ADD("/fixup/hostile-replies", test_hostile_replies);
    ADD("/fixup/no-channel", test_no_channel);
    ADD("/fixup/prepare-without-agent", test_prepare_without_agent);
#undef ADD
    return g_test_run();
}
