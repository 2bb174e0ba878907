/* test-gc: gc's reconciliation against libvirt's test:///default driver: what it rolls
 * back, removes, expires, and what it must leave alone. */
#include <config.h>

#include "archive.h"
#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "gc.h"
#include "journal.h"
#include "names.h"
#include "sandbox.h"
#include "spec.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/fake-image.h"

typedef struct {
    char *state;
    virConnectPtr conn;
    VmmContext ctx;
    GPtrArray *reports; /* "name action detail" */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->state = g_dir_make_tmp("airlock-test-gc-XXXXXX", &err);
    g_assert_no_error(err);
    make_image(f->state);
    f->conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    f->ctx.conn = f->conn;
    f->ctx.state_dir = f->state;
    f->ctx.accel = VMM_ACCEL_TCG;
    f->reports = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->state);

    g_assert_cmpint(system(cmd), ==, 0);
    virConnectClose(f->conn);
    g_ptr_array_unref(f->reports);
    g_free(f->state);
}

static void
collect(const char *name, const char *action, const char *detail, gpointer user_data)
{
    Fixture *f = user_data;

    g_ptr_array_add(f->reports, g_strdup_printf("%s %s %s", name, action, detail));
}

/* Runs gc; returns its reports joined by '\n' (sorted by name, as gc goes). */
static char *
run_gc(Fixture *f, gboolean dry_run)
{
    g_autoptr(GError) err = NULL;

    g_ptr_array_set_size(f->reports, 0);
    g_assert_true(vmm_gc_run(&f->ctx, dry_run, collect, f, &err));
    g_assert_no_error(err);
    g_ptr_array_add(f->reports, NULL);
    {
        char *out = g_strjoinv("\n", (char **)f->reports->pdata);
        g_ptr_array_set_size(f->reports, f->reports->len - 1);
        return out;
    }
}

static void
create(Fixture *f, VmmContext *ctx, const char *name, gint64 ttl_s)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->ttl_s = ttl_s;
    g_assert_true(vmm_sandbox_create(ctx, name, spec, NULL, 10, 0, NULL, &err));
    g_assert_no_error(err);
}

static gboolean
has_domain(Fixture *f, const char *name)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virDomain) dom = virDomainLookupByName(f->conn, obj);

    return dom != NULL;
}

static gboolean
has_network(Fixture *f, const char *name)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virNetwork) net = virNetworkLookupByName(f->conn, obj);

    return net != NULL;
}

static gboolean
has_dir(Fixture *f, const char *name)
{
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, name);

    return g_file_test(dir, G_FILE_TEST_EXISTS);
}

static void
assert_gone(Fixture *f, const char *name)
{
    g_autofree char *op = vmm_journal_op(f->state, name);

    g_assert_false(has_domain(f, name));
    g_assert_false(has_network(f, name));
    g_assert_false(has_dir(f, name));
    g_assert_null(op);
}

static void
make_orphan_dir(Fixture *f, const char *name)
{
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, name);
    g_autofree char *file = g_build_filename(dir, "overlay.qcow2", NULL);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    g_assert_true(g_file_set_contents(file, "x", -1, NULL));
}

static void
test_empty(Fixture *f, gconstpointer data)
{
    g_autofree char *out = run_gc(f, FALSE);

    /* test:///default's own domain "test" and network "default" are not airlock's. */
    g_assert_cmpstr(out, ==, "");
}

static void
test_orphan_dir(Fixture *f, gconstpointer data)
{
    g_autofree char *bad = g_build_filename(f->state, "sandboxes", "Not_A_Name", NULL);
    g_autofree char *out = NULL;

    make_orphan_dir(f, "gc-orphan");
    g_assert_cmpint(g_mkdir_with_parents(bad, 0700), ==, 0);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "gc-orphan orphan leftovers without a whole sandbox removed");
    assert_gone(f, "gc-orphan");
    /* Not a sandbox name: not airlock's to judge, left alone. */
    g_assert_true(g_file_test(bad, G_FILE_TEST_IS_DIR));
}

static void
test_rollback(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_auto(GStrv) pending = NULL;

    /* A create that died after the domain was defined: the intent is still there. */
    create(f, &f->ctx, "gc-create", 0);
    g_assert_true(vmm_journal_begin(f->state, "gc-create", "create", &err));
    g_assert_no_error(err);
    /* A destroy that died before anything was removed. */
    create(f, &f->ctx, "gc-destroy", 0);
    g_assert_true(vmm_journal_begin(f->state, "gc-destroy", "destroy", &err));
    /* An intent alone (died before the first change to the host). */
    g_assert_true(vmm_journal_begin(f->state, "gc-intent", "create", &err));

    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==,
                    "gc-create rolled-back unfinished create rolled back\n"
                    "gc-destroy rolled-back unfinished destroy rolled back\n"
                    "gc-intent rolled-back unfinished create rolled back");
    assert_gone(f, "gc-create");
    assert_gone(f, "gc-destroy");
    assert_gone(f, "gc-intent");
    pending = vmm_journal_pending(f->state);
    g_assert_cmpuint(g_strv_length(pending), ==, 0);

    /* A second pass finds nothing more. */
    g_free(out);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "");
}

static void
test_whole_kept(Fixture *f, gconstpointer data)
{
    g_autofree char *obj = vmm_name_object("gc-whole");
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;

    create(f, &f->ctx, "gc-whole", 0);
    create(f, &f->ctx, "gc-later", 3600); /* a TTL not reached yet */
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "");
    g_assert_true(has_domain(f, "gc-whole") && has_dir(f, "gc-whole"));
    g_assert_true(has_network(f, "gc-whole"));
    g_assert_true(has_domain(f, "gc-later") && has_dir(f, "gc-later"));

    /* Crashed (stopped) but whole: still kept, reset brings it back. */
    dom = virDomainLookupByName(f->conn, obj);
    g_assert_nonnull(dom);
    g_assert_cmpint(virDomainDestroy(dom), ==, 0);
    g_free(out);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "");
    g_assert_true(has_domain(f, "gc-whole") && has_dir(f, "gc-whole"));

    g_assert_true(vmm_sandbox_destroy(&f->ctx, "gc-whole", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_true(vmm_sandbox_destroy(&f->ctx, "gc-later", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
}

static void
test_missing_dir(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = vmm_path_sandbox_dir(f->state, "gc-nodir");
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;

    /* The domain and network remain, the files are gone: not whole, removed. */
    create(f, &f->ctx, "gc-nodir", 0);
    g_assert_true(vmm_sandbox_remove_tree(dir, &err));
    g_assert_no_error(err);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "gc-nodir orphan leftovers without a whole sandbox removed");
    assert_gone(f, "gc-nodir");
}

static void
test_expired(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) archives = NULL;
    g_autofree char *out = NULL;

    create(f, &f->ctx, "gc-ttl", 1);
    g_usleep(1100 * 1000);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "gc-ttl expired TTL passed: destroyed, evidence kept");
    assert_gone(f, "gc-ttl");
    archives = vmm_archive_list(f->state, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(archives->len, ==, 1);
}

static void
test_foreign(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *other = g_dir_make_tmp("airlock-test-gc-other-XXXXXX", &err);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", other);
    g_autofree char *out = NULL;
    VmmContext octx = f->ctx;

    /* Another state directory's sandbox (a user's, while tests run) is not ours. */
    g_assert_no_error(err);
    make_image(other);
    octx.state_dir = other;
    create(f, &octx, "gc-foreign", 1);
    g_usleep(1100 * 1000);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "");
    g_assert_true(has_domain(f, "gc-foreign"));
    g_assert_true(has_network(f, "gc-foreign"));
    g_assert_true(vmm_sandbox_destroy(&octx, "gc-foreign", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(system(cmd), ==, 0);
}

static void
test_busy(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    int lock;

    /* Another command holds the sandbox: gc skips it and removes nothing. */
    make_orphan_dir(f, "gc-busy");
    g_assert_true(vmm_journal_begin(f->state, "gc-busy", "create", &err));
    lock = vmm_sandbox_lock(f->state, "gc-busy", &err);
    g_assert_no_error(err);
    g_assert_cmpint(lock, >=, 0);
    out = run_gc(f, FALSE);
    g_assert_true(g_str_has_prefix(out, "gc-busy skipped sandbox 'gc-busy' is busy"));
    g_assert_null(strchr(out, '\n'));
    g_assert_true(has_dir(f, "gc-busy"));
    close(lock);
    g_free(out);
    out = run_gc(f, FALSE);
    g_assert_cmpstr(out, ==, "gc-busy rolled-back unfinished create rolled back");
    assert_gone(f, "gc-busy");
}

static void
test_dry_run(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *op = NULL;

    make_orphan_dir(f, "gc-dry-a");
    create(f, &f->ctx, "gc-dry-b", 0);
    g_assert_true(vmm_journal_begin(f->state, "gc-dry-b", "create", &err));
    create(f, &f->ctx, "gc-dry-c", 1);
    g_usleep(1100 * 1000);
    out = run_gc(f, TRUE);
    g_assert_cmpstr(out, ==,
                    "gc-dry-a orphan leftovers without a whole sandbox removed\n"
                    "gc-dry-b rolled-back unfinished create rolled back\n"
                    "gc-dry-c expired TTL passed: destroyed, evidence kept");
    /* Reported, nothing done. */
    g_assert_true(has_dir(f, "gc-dry-a"));
    g_assert_true(has_domain(f, "gc-dry-b") && has_dir(f, "gc-dry-b"));
    op = vmm_journal_op(f->state, "gc-dry-b");
    g_assert_cmpstr(op, ==, "create");
    g_assert_true(has_domain(f, "gc-dry-c") && has_dir(f, "gc-dry-c"));
    g_free(out);
    out = run_gc(f, FALSE);
    assert_gone(f, "gc-dry-a");
    assert_gone(f, "gc-dry-b");
    assert_gone(f, "gc-dry-c");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/gc/empty", test_empty);
    ADD("/gc/orphan-dir", test_orphan_dir);
    ADD("/gc/rollback", test_rollback);
    ADD("/gc/whole-kept", test_whole_kept);
    ADD("/gc/missing-dir", test_missing_dir);
    ADD("/gc/expired", test_expired);
    ADD("/gc/foreign", test_foreign);
    ADD("/gc/busy", test_busy);
    ADD("/gc/dry-run", test_dry_run);
#undef ADD
    return g_test_run();
}
