/*
 * test-fsutil: root never follows a name another user can change. Real
 * temporary directories with planted symlinks; as root, directories are
 * handed to another uid to play the qemu user.
 */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "fsutil.h"
#include "metadata.h"
#include "names.h"
#include "sandbox.h"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OTHER_UID 54321 /* plays the qemu user */

typedef struct {
    char *tmp;
} Fixture;

static void
setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->tmp = g_dir_make_tmp("airlock-fsutil-XXXXXX", &err);
    g_assert_no_error(err);
}

static void
teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->tmp);

    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->tmp);
}

static char *
path(Fixture *f, const char *rel)
{
    return g_build_filename(f->tmp, rel, NULL);
}

static void
write_file(const char *p, const char *text)
{
    g_autoptr(GError) err = NULL;

    g_file_set_contents(p, text, -1, &err);
    g_assert_no_error(err);
}

static guint
mode_of(const char *p)
{
    struct stat st;

    g_assert_cmpint(lstat(p, &st), ==, 0);
    return st.st_mode & 07777;
}

static gboolean
need_root(void)
{
    if (geteuid() == 0)
        return TRUE;
    g_test_skip("needs root (chown to another uid plays the qemu user)");
    return FALSE;
}

/* Finding 1: an existing symlink where the private dir goes must not hand its target over. */
static void
test_mkdir_symlink(Fixture *f, gconstpointer data)
{
    g_autofree char *victim = path(f, "etc");
    g_autofree char *qemu_dir = path(f, "sandbox");
    g_autofree char *link = path(f, "sandbox/snapshots");
    g_autoptr(GError) err = NULL;
    virConnectPtr conn = vmm_conn_open("test:///default", &err);
    struct stat st;

    g_assert_no_error(err);
    g_assert_cmpint(g_mkdir(victim, 0755), ==, 0);
    g_assert_cmpint(chmod(victim, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(qemu_dir, 0700), ==, 0);
    g_assert_cmpint(symlink(victim, link), ==, 0);
    if (geteuid() == 0)
        g_assert_cmpint(lchown(link, OTHER_UID, OTHER_UID), ==, 0);

    g_assert_false(vmm_sandbox_mkdir_private(conn, link, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "symlink"));
    g_assert_cmpuint(mode_of(victim), ==, 0755);
    g_assert_cmpint(stat(victim, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, geteuid());
    /* A file there is refused the same way. */
    g_clear_error(&err);
    g_assert_cmpint(unlink(link), ==, 0);
    write_file(link, "x");
    g_assert_false(vmm_sandbox_mkdir_private(conn, link, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    virConnectClose(conn);
}

static void
test_mkdir_fresh(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = path(f, "new");
    g_autoptr(GError) err = NULL;
    int fd;

    fd = vmm_fs_mkdir(dir, 0710, (uid_t)-1, (gid_t)-1, &err);
    g_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_cmpuint(mode_of(dir), ==, 0710);
    /* Ours already: taken, mode set again. */
    g_assert_cmpint(chmod(dir, 0777), ==, 0);
    fd = vmm_fs_mkdir(dir, 0710, (uid_t)-1, (gid_t)-1, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_cmpuint(mode_of(dir), ==, 0710);
}

/* A directory the qemu user made (or an older airlock gave it) is not taken over. */
static void
test_mkdir_not_ours(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = path(f, "theirs");
    g_autoptr(GError) err = NULL;

    if (!need_root())
        return;
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_assert_cmpint(chown(dir, OTHER_UID, OTHER_UID), ==, 0);
    g_assert_cmpint(vmm_fs_mkdir(dir, 0710, (uid_t)-1, (gid_t)-1, &err), ==, -1);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_cmpuint(mode_of(dir), ==, 0700);
}

static void
make_victim(const char *victim, guint n)
{
    g_mkdir(victim, 0755);
    for (guint i = 0; i < n; i++) {
        g_autofree char *p = g_strdup_printf("%s/f%u", victim, i);
        write_file(p, "keep");
    }
}

static guint
count_victim(const char *victim, guint n)
{
    guint left = 0;

    for (guint i = 0; i < n; i++) {
        g_autofree char *p = g_strdup_printf("%s/f%u", victim, i);
        left += g_file_test(p, G_FILE_TEST_EXISTS);
    }
    return left;
}

static void
test_remove_symlink(Fixture *f, gconstpointer data)
{
    g_autofree char *victim = path(f, "victim");
    g_autofree char *tree = path(f, "tree");
    g_autofree char *sub = path(f, "tree/sub");
    g_autofree char *link = path(f, "tree/sub/link");
    g_autofree char *flink = path(f, "tree/file-link");
    g_autoptr(GError) err = NULL;

    make_victim(victim, 3);
    g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
    g_assert_cmpint(symlink(victim, link), ==, 0);
    g_assert_cmpint(symlink("victim/f0", flink), ==, 0);
    g_assert_true(vmm_sandbox_remove_tree(tree, &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(tree, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(count_victim(victim, 3), ==, 3);
    /* Missing is success. */
    g_assert_true(vmm_sandbox_remove_tree(tree, &err));
}

typedef struct {
    char *dir;    /* tree/d */
    char *real;   /* tree/d.real */
    char *victim; /* what a swapped-in link points at */
    volatile gint stop;
} Swapper;

/* The qemu user's side: swap tree/d for a link to the victim, back and forth. */
static gpointer
swap_loop(gpointer data)
{
    Swapper *s = data;

    while (!g_atomic_int_get(&s->stop)) {
        if (rename(s->dir, s->real) != 0)
            continue;
        if (symlink(s->victim, s->dir) == 0) {
            g_thread_yield();
            unlink(s->dir);
        }
        rename(s->real, s->dir);
    }
    return NULL;
}

/* Finding 2: check-then-open lets a directory be swapped for a link mid-way. */
static void
test_remove_race(Fixture *f, gconstpointer data)
{
    const guint n = 40;
    Swapper s = {0};
    g_autofree char *tree = path(f, "tree");
    gint64 until = g_get_monotonic_time() + 1500 * 1000;
    guint rounds = 0, left = n;

    s.dir = path(f, "tree/d");
    s.real = path(f, "tree/d.real");
    s.victim = path(f, "victim");
    while (left == n && g_get_monotonic_time() < until) {
        GThread *th;
        make_victim(s.victim, n);
        g_mkdir_with_parents(s.dir, 0700);
        for (guint i = 0; i < n; i++) {
            g_autofree char *p = g_strdup_printf("%s/f%u", s.dir, i);
            write_file(p, "sandbox");
        }
        g_atomic_int_set(&s.stop, 0);
        th = g_thread_new("swap", swap_loop, &s);
        vmm_sandbox_remove_tree(tree, NULL); /* may fail: the tree changes under it */
        g_atomic_int_set(&s.stop, 1);
        g_thread_join(th);
        vmm_fs_remove_tree(tree, NULL);
        left = count_victim(s.victim, n);
        rounds++;
    }
    g_test_message("%u rounds, %u of %u victim files left", rounds, left, n);
    g_assert_cmpuint(left, ==, n);
    g_free(s.dir);
    g_free(s.real);
    g_free(s.victim);
}

/* Finding 3: a log that is a symlink is neither copied, hashed nor chmodded. */
static void
test_copy_refuses_links(Fixture *f, gconstpointer data)
{
    g_autofree char *src = path(f, "src");
    g_autofree char *dst = path(f, "dst");
    g_autofree char *secret = path(f, "host-secret");
    g_autofree char *link = path(f, "src/console.log");
    g_autofree char *fifo = path(f, "src/dns.log");
    g_autofree char *good = path(f, "src/events.jsonl");
    g_autofree char *copied = path(f, "dst/events.jsonl");
    g_autofree char *sum = NULL;
    g_autoptr(GError) err = NULL;
    guint64 size = 0;
    int sfd, dfd;

    g_assert_cmpint(g_mkdir(src, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(dst, 0700), ==, 0);
    write_file(secret, "root:x:0:0\n");
    g_assert_cmpint(chmod(secret, 0644), ==, 0);
    g_assert_cmpint(symlink(secret, link), ==, 0);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    write_file(good, "abc");
    sfd = open(src, O_RDONLY | O_DIRECTORY);
    dfd = open(dst, O_RDONLY | O_DIRECTORY);

    g_assert_false(vmm_fs_copy_at(sfd, "console.log", dfd, "console.log", 0400, &sum, &size, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(vmm_fs_copy_at(sfd, "dns.log", dfd, "dns.log", 0400, &sum, &size, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_cmpuint(mode_of(secret), ==, 0644);

    g_assert_true(
        vmm_fs_copy_at(sfd, "events.jsonl", dfd, "events.jsonl", 0400, &sum, &size, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(size, ==, 3);
    g_assert_cmpstr(sum, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    g_assert_cmpuint(mode_of(copied), ==, 0400);
    /* Never over an existing name (a planted link in the destination). */
    g_assert_false(
        vmm_fs_copy_at(sfd, "events.jsonl", dfd, "events.jsonl", 0400, NULL, NULL, &err));
    close(sfd);
    close(dfd);
}

static void
test_read_write_at(Fixture *f, gconstpointer data)
{
    g_autofree char *secret = path(f, "secret");
    g_autofree char *link = path(f, "head");
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    int dfd = open(f->tmp, O_RDONLY | O_DIRECTORY);

    write_file(secret, "do not touch");
    g_assert_cmpint(symlink(secret, link), ==, 0);
    g_assert_null(vmm_fs_read_at(dfd, "head", 64, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    /* Writing replaces the link, the target keeps its bytes. */
    g_assert_true(vmm_fs_write_at(dfd, "head", "clean", -1, 0600, &err));
    g_assert_no_error(err);
    text = vmm_fs_read_at(dfd, "head", 64, NULL, &err);
    g_assert_cmpstr(text, ==, "clean");
    g_assert_cmpuint(mode_of(link), ==, 0600);
    g_free(text);
    g_assert_true(g_file_get_contents(secret, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "do not touch");
    g_assert_null(vmm_fs_read_at(dfd, "secret", 4, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    close(dfd);
}

static void
check_state(const char *p, gboolean ok, const char *needle)
{
    g_autoptr(GError) err = NULL;
    gboolean res = vmm_fs_check_state_dir(p, &err);

    if (ok) {
        g_assert_no_error(err);
        g_assert_true(res);
        return;
    }
    if (res)
        g_error("state directory %s accepted", p);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_null(strchr(err->message, '\n'));
    if (needle && !strstr(err->message, needle))
        g_error("'%s' not in '%s'", needle, err->message);
}

/* Finding 5: a state directory someone else can change is refused. */
static void
test_state_dir(Fixture *f, gconstpointer data)
{
    g_autofree char *good = path(f, "good");
    g_autofree char *deep = path(f, "made/by/us");
    g_autofree char *gw = path(f, "group-writable");
    g_autofree char *open_parent = path(f, "open");
    g_autofree char *under_open = path(f, "open/state");
    g_autofree char *sticky = path(f, "sticky");
    g_autofree char *under_sticky = path(f, "sticky/state");
    g_autofree char *sticky_link = path(f, "sticky/link");
    g_autofree char *safe_link = path(f, "safe-link");

    g_assert_cmpint(g_mkdir(good, 0755), ==, 0);
    check_state(good, TRUE, NULL);
    /* Missing parts are made, then checked like the rest; searchable whatever the umask. */
    {
        mode_t old = umask(077);
        check_state(deep, TRUE, NULL);
        umask(old);
    }
    g_assert_cmpuint(mode_of(deep), ==, 0755);

    g_assert_cmpint(g_mkdir(gw, 0700), ==, 0);
    g_assert_cmpint(chmod(gw, 0770), ==, 0);
    check_state(gw, FALSE, "writable by group or others");

    /* A world-writable parent without the sticky bit: anyone can swap the child. */
    g_assert_cmpint(g_mkdir(open_parent, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(under_open, 0755), ==, 0);
    g_assert_cmpint(chmod(open_parent, 0777), ==, 0);
    check_state(under_open, FALSE, "writable by group or others");

    /* A sticky one (/var/tmp): fine for our own child, never for a link in it. */
    g_assert_cmpint(g_mkdir(sticky, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(under_sticky, 0755), ==, 0);
    g_assert_cmpint(chmod(sticky, 01777), ==, 0);
    check_state(under_sticky, TRUE, NULL);
    check_state(sticky, FALSE, "writable by group or others");
    g_assert_cmpint(symlink(good, sticky_link), ==, 0);
    check_state(sticky_link, FALSE, "symlink");

    /* A link in a directory only we can write is followed, and its target checked. */
    g_assert_cmpint(symlink(gw, safe_link), ==, 0);
    check_state(safe_link, FALSE, "group-writable");
    g_assert_cmpint(unlink(safe_link), ==, 0);
    g_assert_cmpint(symlink("good", safe_link), ==, 0);
    check_state(safe_link, TRUE, NULL);

    if (geteuid() == 0) {
        /* /var/tmp/airlock-test-state pre-created by a local user. */
        g_autofree char *theirs = path(f, "sticky/theirs");
        g_autofree char *theirs_link = path(f, "sticky/theirs-link");
        g_assert_cmpint(g_mkdir(theirs, 0755), ==, 0);
        g_assert_cmpint(chown(theirs, OTHER_UID, OTHER_UID), ==, 0);
        check_state(theirs, FALSE, "owned by uid 54321");
        g_assert_cmpint(chown(good, OTHER_UID, OTHER_UID), ==, 0);
        check_state(safe_link, FALSE, "owned by uid 54321");
        g_assert_cmpint(symlink(under_sticky, theirs_link), ==, 0);
        g_assert_cmpint(lchown(theirs_link, OTHER_UID, OTHER_UID), ==, 0);
        check_state(theirs_link, FALSE, "symlink");
    }
}

/* Finding 4: what root reads back is never taken from a directory the qemu user owns. */
static void
test_snapshot_dir_not_ours(Fixture *f, gconstpointer data)
{
    g_autofree char *sdir = vmm_path_sandbox_dir(f->tmp, "box");
    g_autofree char *tdir = g_build_filename(sdir, "snapshots", "clean", NULL);
    g_autofree char *mem = g_build_filename(tdir, "memory.save", NULL);
    g_autofree char *info = g_build_filename(tdir, "info.json", NULL);
    g_autoptr(GPtrArray) list = NULL;

    g_assert_cmpint(g_mkdir_with_parents(tdir, 0700), ==, 0);
    g_assert_cmpint(chmod(f->tmp, 0755), ==, 0);
    write_file(mem, "x");
    write_file(info, "{\"tag\":\"clean\",\"created\":\"2026-01-01T00:00:00Z\",\"parent\":null}");
    /* Ours: listed. */
    list = vmm_snapshot_list(f->tmp, "box", NULL);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_true(vmm_snapshot_exists(f->tmp, "box", "clean"));
    g_clear_pointer(&list, g_ptr_array_unref);

    /* info.json swapped for a link: not read. */
    g_assert_cmpint(unlink(info), ==, 0);
    {
        g_autofree char *elsewhere = path(f, "info-elsewhere");
        write_file(elsewhere, "{\"tag\":\"clean\",\"created\":\"x\",\"parent\":\"evil\"}");
        g_assert_cmpint(symlink(elsewhere, info), ==, 0);
    }
    list = vmm_snapshot_list(f->tmp, "box", NULL);
    g_assert_cmpuint(list->len, ==, 0);
    g_assert_false(vmm_snapshot_exists(f->tmp, "box", "clean"));
    g_clear_pointer(&list, g_ptr_array_unref);
    g_assert_cmpint(unlink(info), ==, 0);
    write_file(info, "{\"tag\":\"clean\",\"created\":\"2026-01-01T00:00:00Z\",\"parent\":null}");

    if (!need_root())
        return;
    /* The sandbox directory handed to the qemu user: refused whole. */
    g_assert_cmpint(chown(sdir, OTHER_UID, OTHER_UID), ==, 0);
    list = vmm_snapshot_list(f->tmp, "box", NULL);
    g_assert_cmpuint(list->len, ==, 0);
    g_assert_false(vmm_snapshot_exists(f->tmp, "box", "clean"));
}

static const char SAVED_XML[] =
    "<domain type='qemu'><name>airlock-box</name><devices>"
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
    "<source file='/s/sandboxes/box/overlay.qcow2'/>"
    "<backingStore type='file'><format type='qcow2'/><source file='/etc/shadow'/>"
    "<backingStore/></backingStore><target dev='vda' bus='virtio'/></disk>"
    "<disk type='file' device='cdrom'><source file='/s/other.iso'/><target dev='sda'/></disk>"
    "</devices></domain>";

/* Finding 4: the restore XML names every layer with its format and ends the chain. */
static void
test_restore_xml_chain(Fixture *f, gconstpointer data)
{
    const char *chain[] = {"/s/sandboxes/box/snapshots/t1/disk.qcow2",
                           "/s/sandboxes/box/snapshots/clean/disk.qcow2",
                           "/s/images/img/disk.qcow2", NULL};
    g_autoptr(GError) err = NULL;
    g_autofree char *xml =
        vmm_snapshot_restore_xml(SAVED_XML, "/s/sandboxes/box/overlay.qcow2", chain, &err);
    g_autofree char *layers = NULL;
    g_autofree char *formats = NULL;
    g_autofree char *end = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(xml);
    g_assert_null(strstr(xml, "/etc/shadow"));
    layers = vmm_xml_xpath_string(
        xml, "concat(/domain/devices/disk[1]/backingStore/source/@file, '|',"
             " /domain/devices/disk[1]/backingStore/backingStore/source/@file, '|',"
             " /domain/devices/disk[1]/backingStore/backingStore/backingStore/source/@file)");
    g_assert_cmpstr(layers, ==,
                    "/s/sandboxes/box/snapshots/t1/disk.qcow2|/s/sandboxes/box/snapshots/clean/"
                    "disk.qcow2|/s/images/img/disk.qcow2");
    formats = vmm_xml_xpath_string(xml, "string(count(/domain/devices/disk[1]//backingStore/"
                                        "format[@type='qcow2']))");
    g_assert_cmpstr(formats, ==, "3");
    /* The base has nothing below it: an empty element, so nothing is probed. */
    end = vmm_xml_xpath_string(xml, "string(count(/domain/devices/disk[1]/backingStore/"
                                    "backingStore/backingStore/backingStore[not(*)]))");
    g_assert_cmpstr(end, ==, "1");
    g_free(end);
    end = vmm_xml_xpath_string(xml, "string(count(/domain/devices/disk[2]/backingStore))");
    g_assert_cmpstr(end, ==, "0");

    g_assert_null(vmm_snapshot_restore_xml(SAVED_XML, "/elsewhere.qcow2", chain, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, setup, fn, teardown)
    ADD("/fsutil/mkdir/symlink-refused", test_mkdir_symlink);
    ADD("/fsutil/mkdir/fresh", test_mkdir_fresh);
    ADD("/fsutil/mkdir/not-ours", test_mkdir_not_ours);
    ADD("/fsutil/remove/symlink", test_remove_symlink);
    ADD("/fsutil/remove/race", test_remove_race);
    ADD("/fsutil/copy/refuses-links", test_copy_refuses_links);
    ADD("/fsutil/read-write-at", test_read_write_at);
    ADD("/fsutil/state-dir", test_state_dir);
    ADD("/fsutil/snapshot/dir-not-ours", test_snapshot_dir_not_ours);
    ADD("/fsutil/snapshot/restore-xml-chain", test_restore_xml_chain);
#undef ADD
    return g_test_run();
}
