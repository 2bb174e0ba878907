/* test-lifecycle: create / list / destroy against libvirt's test:///default driver. */
#include <config.h>

#include "archive.h"
#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "image.h"
#include "names.h"
#include "sandbox.h"
#include "snapshot.h"
#include "secrets.h"
#include "spec.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/fake-image.h"

#define CANARY "canary-5e1f0c2b-never-on-host"

typedef struct {
    char *state;
    virConnectPtr conn;
    VmmContext ctx;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->state = g_dir_make_tmp("airlock-test-state-XXXXXX", &err);
    g_assert_no_error(err);
    make_image(f->state);
    f->conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    f->ctx.conn = f->conn;
    f->ctx.state_dir = f->state;
    f->ctx.accel = VMM_ACCEL_TCG;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->state);

    g_assert_cmpint(system(cmd), ==, 0);
    virConnectClose(f->conn);
    g_free(f->state);
}

static VmmSpec *
test_spec(void)
{
    VmmSpec *spec = vmm_spec_new();

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    return spec;
}

/* Nothing named after @name is left: no domain, no network, no files. */
static void
assert_gone(Fixture *f, const char *name)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, name);
    virDomainPtr dom = virDomainLookupByName(f->conn, obj);
    virNetworkPtr net = virNetworkLookupByName(f->conn, obj);

    g_assert_null(dom);
    g_assert_null(net);
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

static void
test_create_destroy(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(GPtrArray) list = NULL;
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, "lc-one");
    g_autofree char *overlay = g_build_filename(dir, "overlay.qcow2", NULL);
    g_autofree char *seed = g_build_filename(dir, "seed.iso", NULL);
    g_autofree char *xml = NULL;
    g_autofree char *info = NULL;
    g_autofree char *cmd = NULL;
    VmmCreateTimings t = {0};
    struct stat st;

    g_assert_true(vmm_secrets_add(secrets, "API_KEY", CANARY, NULL));
    g_assert_true(vmm_spec_add_kv(spec->labels, "team=red", "label", NULL));
    g_assert_true(vmm_sandbox_create(&f->ctx, "lc-one", spec, secrets, 10, 0, &t, &err));
    g_assert_no_error(err);
    g_assert_cmpfloat(t.total, >, 0);

    dom = vmm_sandbox_lookup(f->conn, "lc-one", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(vmm_sandbox_state(dom), ==, "running");
    md = vmm_sandbox_metadata(dom, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(md->image, ==, "test-img");
    g_assert_true(g_str_has_prefix(md->image_digest, "sha256:"));
    g_assert_cmpstr(md->secret_names[0], ==, "API_KEY");
    g_assert_cmpstr(md->net_mode, ==, "isolated");
    g_assert_nonnull(md->address);

    /* The seed is gone once ready; the overlay names its backing format. */
    g_assert_false(g_file_test(seed, G_FILE_TEST_EXISTS));
    g_assert_cmpint(stat(dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0710); /* root's: qemu can search, not write */
    g_assert_cmpint(stat(overlay, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    cmd = g_strdup_printf("qemu-img info --output=json %s", overlay);
    g_assert_true(g_spawn_command_line_sync(cmd, &info, NULL, NULL, NULL));
    g_assert_nonnull(strstr(info, "\"backing-filename-format\": \"qcow2\""));

    /* No secret value reaches libvirt. */
    xml = virDomainGetXMLDesc(dom, 0);
    g_assert_null(strstr(xml, CANARY));
    g_free(xml);
    xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    g_assert_null(strstr(xml, CANARY));
    g_assert_null(strstr(xml, "seed.iso"));

    list = vmm_sandbox_list(f->conn, f->state, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(list->len, ==, 1);

    /* The name is taken. */
    g_assert_false(vmm_sandbox_create(&f->ctx, "lc-one", spec, NULL, 10, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);

    {
        g_autofree char *archive = NULL;
        g_autofree char *manifest = NULL;
        g_autoptr(GPtrArray) archives = NULL;
        g_autofree char *host = g_build_filename(f->state, "host-file", NULL);
        g_autofree char *log = g_build_filename(dir, "console.log", NULL);
        g_autofree char *kept = NULL;

        /* A log swapped for a link to a host file: not copied, hashed or chmodded. */
        g_assert_true(g_file_set_contents(host, "root:x:0:0", -1, NULL));
        g_assert_cmpint(chmod(host, 0644), ==, 0);
        g_assert_cmpint(symlink(host, log), ==, 0);
        g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-one", 0, &archive, &err));
        g_assert_no_error(err);
        assert_gone(f, "lc-one");
        /* Evidence kept: the disk's own changes and a manifest with sha256s, no secret value. */
        g_assert_true(g_str_has_prefix(archive, "lc-one-"));
        archives = vmm_archive_list(f->state, &err);
        g_assert_cmpuint(archives->len, ==, 1);
        manifest = vmm_archive_manifest(f->state, archive, &err);
        g_assert_no_error(err);
        g_assert_nonnull(strstr(manifest, "\"disk.qcow2\""));
        g_assert_nonnull(strstr(manifest, "\"sha256\""));
        g_assert_nonnull(strstr(manifest, "\"API_KEY\""));
        g_assert_null(strstr(manifest, CANARY));
        g_assert_cmpint(stat(host, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0644);
        g_assert_nonnull(strstr(manifest, "not a regular file"));
        kept = g_build_filename(f->state, "archive", archive, "console.log", NULL);
        g_assert_false(g_file_test(kept, G_FILE_TEST_EXISTS));
        g_assert_true(vmm_archive_prune(f->state, 0, 0, &err));
        g_assert_true(vmm_archive_remove(f->state, archive, &err));
        g_assert_false(vmm_archive_remove(f->state, archive, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
        g_clear_error(&err);
        g_assert_false(vmm_archive_remove(f->state, "../../etc", &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
    }
    g_assert_false(vmm_sandbox_destroy(&f->ctx, "lc-one", 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-one", VMM_DESTROY_FORCE, NULL, &err));
    g_assert_no_error(err);
}

static void
test_network_none(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *xml = NULL;

    spec->net_mode = VMM_NET_MODE_NONE;
    g_assert_true(vmm_sandbox_create(&f->ctx, "lc-nonet", spec, NULL, 10, 0, NULL, &err));
    g_assert_no_error(err);
    dom = vmm_sandbox_lookup(f->conn, "lc-nonet", &err);
    xml = virDomainGetXMLDesc(dom, 0);
    g_assert_null(strstr(xml, "<interface"));
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-nonet", 0, NULL, &err));
    assert_gone(f, "lc-nonet");
}

/*
 * reset, snapshot and destroy exclude each other (and any other command on
 * the sandbox): with the lock held elsewhere each refuses as busy and
 * changes nothing. A reset racing a destroy could bring the domain back.
 */
static void
test_busy(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    int lock;

    spec->net_mode = VMM_NET_MODE_NONE;
    g_assert_true(
        vmm_sandbox_create(&f->ctx, "lc-busy", spec, NULL, 10, VMM_CREATE_NO_SNAPSHOT, NULL, &err));
    g_assert_no_error(err);
    lock = vmm_sandbox_lock(f->state, "lc-busy", &err);
    g_assert_cmpint(lock, >=, 0);
    g_assert_false(vmm_snapshot_revert(&f->ctx, "lc-busy", VMM_SNAPSHOT_CLEAN, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_assert_nonnull(strstr(err->message, "busy"));
    g_clear_error(&err);
    g_assert_false(vmm_snapshot_take(&f->ctx, "lc-busy", "t1", FALSE, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);
    g_assert_false(vmm_snapshot_delete(&f->ctx, "lc-busy", "t1", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);
    g_assert_false(vmm_sandbox_destroy(&f->ctx, "lc-busy", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);
    close(lock);
    /* No clean state here because test:/// runs no guest: the error says that, not "--no-snapshot".
     */
    g_assert_false(vmm_snapshot_revert(&f->ctx, "lc-busy", VMM_SNAPSHOT_CLEAN, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(err->message, "runs no guest"));
    g_clear_error(&err);
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-busy", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    assert_gone(f, "lc-busy");
    {
        /* Destroyed: its lock file goes too. */
        g_autofree char *lockfile = g_build_filename(f->state, "locks", "lc-busy.lock", NULL);
        g_assert_false(g_file_test(lockfile, G_FILE_TEST_EXISTS));
    }
}

/* A guest decides how much it writes: the evidence archive has a cap, and says what it left out. */
static void
test_archive_cap(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autofree char *archive = NULL;
    g_autofree char *manifest = NULL;
    g_autofree char *disk = NULL;
    g_autofree char *log = NULL;
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, "lc-cap");
    g_autofree char *big = g_malloc0(2 << 20);

    spec->net_mode = VMM_NET_MODE_NONE;
    g_assert_true(
        vmm_sandbox_create(&f->ctx, "lc-cap", spec, NULL, 10, VMM_CREATE_NO_SNAPSHOT, NULL, &err));
    g_assert_no_error(err);
    log = g_build_filename(dir, "console.log", NULL);
    g_assert_true(g_file_set_contents(log, big, 2 << 20, NULL)); /* 2 MiB from the "guest" */
    g_setenv("AIRLOCK_ARCHIVE_MAX_MIB", "1", TRUE);
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-cap", 0, &archive, &err));
    g_unsetenv("AIRLOCK_ARCHIVE_MAX_MIB");
    g_assert_no_error(err);
    manifest = vmm_archive_manifest(f->state, archive, &err);
    g_assert_no_error(err);
    g_assert_nonnull(strstr(manifest, "over the archive cap"));
    g_free(log);
    log = g_build_filename(f->state, "archive", archive, "console.log", NULL);
    g_assert_false(g_file_test(log, G_FILE_TEST_EXISTS));
    disk = g_build_filename(f->state, "archive", archive, "disk.qcow2", NULL);
    g_assert_true(g_file_test(disk, G_FILE_TEST_EXISTS)); /* the small disk still fits */
    g_assert_true(vmm_archive_remove(f->state, archive, &err));
}

static void
test_half_made(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, "lc-half");
    g_autofree char *overlay = g_build_filename(dir, "overlay.qcow2", NULL);

    /* A create that died after the overlay: destroy cleans it; so does a new create. */
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(overlay, "x", -1, NULL));
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-half", 0, NULL, &err));
    g_assert_no_error(err);
    assert_gone(f, "lc-half");
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(overlay, "x", -1, NULL));
    g_assert_true(vmm_sandbox_create(&f->ctx, "lc-half", spec, NULL, 10, 0, NULL, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-half", 0, NULL, &err));
    assert_gone(f, "lc-half");
}

static void
test_bad_input(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autofree char *longname = g_strnfill(200, 'a');
    const char *names[] = {"UPPER", "../x", "a'/><disk", longname, ""};

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_assert_false(vmm_sandbox_create(&f->ctx, names[i], spec, NULL, 10, 0, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
    }

    spec->memory_mib = 0;
    g_assert_false(vmm_sandbox_create(&f->ctx, "lc-bad", spec, NULL, 10, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    spec->memory_mib = 64 * 1024 * 1024; /* 64 TiB */
    g_assert_false(vmm_sandbox_create(&f->ctx, "lc-bad", spec, NULL, 10, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "more than this host has"));
    g_clear_error(&err);
    spec->memory_mib = 512;

    g_free(spec->image);
    spec->image = g_strdup("no-such-image");
    g_assert_false(vmm_sandbox_create(&f->ctx, "lc-bad", spec, NULL, 10, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    assert_gone(f, "lc-bad");
}

static void
test_digest_mismatch(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autofree char *disk = g_build_filename(f->state, "images", "test-img", "disk.qcow2", NULL);
    int fd;

    /* Verified once (cached), then one byte flipped: create must notice. */
    g_assert_true(vmm_sandbox_create(&f->ctx, "lc-dig", spec, NULL, 10, 0, NULL, &err));
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "lc-dig", 0, NULL, &err));
    g_assert_no_error(err);
    fd = open(disk, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, "\x42", 1, 4096), ==, 1);
    close(fd);
    g_assert_false(vmm_sandbox_create(&f->ctx, "lc-dig", spec, NULL, 10, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_IMAGE);
    g_assert_nonnull(strstr(err->message, "disk.qcow2"));
    assert_gone(f, "lc-dig");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
    g_test_add("/lifecycle/create-destroy", Fixture, NULL, fixture_setup, test_create_destroy,
               fixture_teardown);
    g_test_add("/lifecycle/network-none", Fixture, NULL, fixture_setup, test_network_none,
               fixture_teardown);
    g_test_add("/lifecycle/busy", Fixture, NULL, fixture_setup, test_busy, fixture_teardown);
    g_test_add("/lifecycle/archive-cap", Fixture, NULL, fixture_setup, test_archive_cap,
               fixture_teardown);
    g_test_add("/lifecycle/half-made", Fixture, NULL, fixture_setup, test_half_made,
               fixture_teardown);
    g_test_add("/lifecycle/bad-input", Fixture, NULL, fixture_setup, test_bad_input,
               fixture_teardown);
    g_test_add("/lifecycle/digest-mismatch", Fixture, NULL, fixture_setup, test_digest_mismatch,
               fixture_teardown);
    return g_test_run();
}
