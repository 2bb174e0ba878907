/*
 * test-ops.c: the operations layer on test:///default. The CLI, the batch
 * executor and a direct caller drive create/reset/destroy through the same
 * operations and leave identical audit records (but for who and via what).
 */
#include <config.h>

#include "autoptr.h"
#include "batch-run.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "gc.h"
#include "host.h"
#include "network-xml.h"
#include "nft.h"
#include "names.h"
#include "ops.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/ops-fixture.h"

static VmmSpec *
test_spec(void)
{
    VmmSpec *spec = vmm_spec_new();

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->net_mode = VMM_NET_MODE_NONE;
    return spec;
}

/* The global log's records, oldest first. */
static GPtrArray *
records(const char *state)
{
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

    if (!g_file_get_contents(path, &data, NULL, NULL))
        return out;
    lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        if (!**l)
            continue;
        g_assert_true(json_parser_load_from_data(p, *l, -1, NULL));
        g_ptr_array_add(out, json_object_ref(json_node_get_object(json_parser_get_root(p))));
    }
    return out;
}

/* The last record named @event for @name. */
static JsonObject *
last_record(GPtrArray *recs, const char *event, const char *name)
{
    for (guint i = recs->len; i > 0; i--) {
        JsonObject *o = g_ptr_array_index(recs, i - 1);
        if (g_strcmp0(json_object_get_string_member_with_default(o, "event", ""), event) == 0 &&
            g_strcmp0(json_object_get_string_member_with_default(o, "sandbox", ""), name) == 0)
            return o;
    }
    return NULL;
}

/* Member names of @o, sorted, without the ones that say who, when and how long. */
static char *
shape(JsonObject *o)
{
    g_autoptr(GList) members = g_list_sort(json_object_get_members(o), (GCompareFunc)strcmp);
    g_autoptr(GString) s = g_string_new(NULL);
    const char *personal[] = {"time", "user", "uid", "via", "prev", "sandbox", NULL};

    for (GList *l = members; l; l = l->next)
        if (!g_strv_contains(personal, l->data))
            g_string_append_printf(s, "%s%s", s->len ? "," : "", (char *)l->data);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
test_records(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) recs = NULL;
    VmmCreateRequest req = {.name = "op-one", .spec = spec, .timeout_s = 10, .no_snapshot = TRUE};
    JsonObject *o;

    g_assert_true(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_no_error(err);
    {
        /* The sandbox is the caller's, not this process's user's. */
        g_autoptr(VmmSandboxView) view = vmm_ops_inspect(&f->ops, "op-one", &err);
        g_assert_no_error(err);
        g_assert_cmpstr(view->md->owner, ==, f->caller->user);
        g_assert_cmpstr(view->state, ==, "running");
    }
    g_assert_true(vmm_ops_destroy(&f->ops, "op-one", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    /* Failures are recorded too, with a stable code. */
    g_assert_false(vmm_ops_destroy(&f->ops, "op-one", 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    g_assert_false(vmm_ops_reset(&f->ops, "op-none", NULL, NULL, &err));
    g_clear_error(&err);
    req.name = "Bad Name";
    g_assert_false(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);

    recs = records(f->state);
    g_assert_cmpuint(recs->len, ==, 5); /* exactly one record per operation */
    o = g_ptr_array_index(recs, 0);
    g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "create");
    g_assert_cmpstr(json_object_get_string_member(o, "sandbox"), ==, "op-one");
    g_assert_cmpstr(json_object_get_string_member(o, "result"), ==, "ok");
    g_assert_cmpstr(json_object_get_string_member(o, "via"), ==, "test");
    g_assert_cmpint(json_object_get_int_member(o, "uid"), ==, 4242);
    g_assert_cmpstr(json_object_get_string_member(o, "user"), ==, f->caller->user);
    g_assert_true(json_object_has_member(o, "spec_hash"));
    g_assert_true(json_object_has_member(o, "timings_s"));
    o = g_ptr_array_index(recs, 1);
    g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "destroy");
    g_assert_cmpstr(json_object_get_string_member(o, "result"), ==, "ok");
    o = g_ptr_array_index(recs, 2);
    g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "destroy");
    g_assert_cmpstr(json_object_get_string_member(o, "result"), ==, "failed");
    g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "not-found");
    o = g_ptr_array_index(recs, 3);
    g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "reset");
    g_assert_cmpstr(json_object_get_string_member(o, "result"), ==, "failed");
    o = g_ptr_array_index(recs, 4);
    g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "create");
    g_assert_true(json_object_get_null_member(o, "sandbox")); /* an invalid name is not kept */
    g_assert_cmpstr(json_object_get_string_member(o, "code"), ==, "invalid");
}

/* Runs the built airlock binary against test:///default in @state. */
static void
run_cli(const char *state, const char *const *args)
{
    const char *airlock = g_getenv("AIRLOCK");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) env = g_get_environ();
    int status = -1;

    g_ptr_array_add(argv, (gpointer)airlock);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    env = g_environ_setenv(env, "AIRLOCK_STATE_DIR", state, TRUE);
    env = g_environ_setenv(env, "LIBVIRT_DEFAULT_URI", "test:///default", TRUE);
    env = g_environ_setenv(env, "AIRLOCK_ACCEL", "tcg", TRUE);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/*
 * The same create and destroy from three front ends: this test (via "test"),
 * the batch executor (via "batch") and the CLI (via "cli") leave records of
 * the same shape.
 */
static void
test_same_records(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) recs = NULL;
    g_autoptr(VmmCaller) batch_caller = vmm_caller_new(getuid(), "batch");
    VmmCreateRequest req = {.name = "op-direct", .spec = spec, .timeout_s = 10};
    VmmBatchLibvirt lv = {.state_dir = f->state,
                          .accel = VMM_ACCEL_TCG,
                          .spec = spec,
                          .create_timeout_s = 10,
                          .caller = batch_caller};
    VmmBatchSlot slot = {.index = 0, .name = (char *)"op-batch", .uri = (char *)"test:///default"};
    const char *cli_create[] = {"create",    "op-cli", "--image",       "test-img",
                                "--network", "none",   "--no-snapshot", NULL};
    const char *cli_destroy[] = {"destroy", "--force", "--no-evidence", "op-cli", NULL};
    const char *via[] = {"test", "batch", "cli"};
    const char *names[] = {"op-direct", "op-batch", "op-cli"};
    g_autofree char *create_shape = NULL, *destroy_shape = NULL;

    if (!g_getenv("AIRLOCK") || !g_file_test(g_getenv("AIRLOCK"), G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("AIRLOCK (the built airlock binary) is not set: run through make check");
        return;
    }
    req.no_snapshot = TRUE;
    g_assert_true(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_ops_destroy(&f->ops, "op-direct", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);

    g_assert_true(vmm_batch_libvirt_executor.create(&slot, &lv, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_batch_libvirt_executor.destroy(&slot, &lv, &err));
    g_assert_no_error(err);
    vmm_batch_libvirt_executor.slot_free(&slot, &lv);

    run_cli(f->state, cli_create);
    /* The CLI's test:///default is its own: the destroy finds nothing, and says so. */
    run_cli(f->state, cli_destroy);

    recs = records(f->state);
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        JsonObject *c = last_record(recs, "create", names[i]);
        JsonObject *d = last_record(recs, "destroy", names[i]);
        g_autofree char *cs = NULL, *ds = NULL;

        g_assert_nonnull(c);
        g_assert_nonnull(d);
        g_assert_cmpstr(json_object_get_string_member(c, "via"), ==, via[i]);
        g_assert_cmpstr(json_object_get_string_member(d, "via"), ==, via[i]);
        g_assert_cmpstr(json_object_get_string_member(c, "result"), ==, "ok");
        g_assert_cmpstr(json_object_get_string_member(d, "result"), ==, "ok");
        cs = shape(c);
        ds = shape(d);
        g_test_message("%s: create {%s} destroy {%s}", via[i], cs, ds);
        if (!create_shape) {
            create_shape = g_strdup(cs);
            destroy_shape = g_strdup(ds);
        }
        g_assert_cmpstr(cs, ==, create_shape);
        g_assert_cmpstr(ds, ==, destroy_shape);
    }
    /* No other vocabulary: nothing named ready, destroyed or *-failed. */
    for (guint i = 0; i < recs->len; i++) {
        const char *ev = json_object_get_string_member(g_ptr_array_index(recs, i), "event");
        g_assert_true(g_str_equal(ev, "create") || g_str_equal(ev, "destroy"));
    }
}

static void
collect_gc(const char *name, const char *action, const char *detail, gpointer data)
{
    g_ptr_array_add(data, g_strdup_printf("%s %s", name, action));
}

static gboolean
reported(GPtrArray *reports, const char *line)
{
    for (guint i = 0; i < reports->len; i++)
        if (g_str_equal(g_ptr_array_index(reports, i), line))
            return TRUE;
    return FALSE;
}

static gboolean
has(char **list, const char *s)
{
    return list && g_strv_contains((const char *const *)list, s);
}

/*
 * The host-operations fake keeps test:///'s firewall in memory: create
 * installs the three tables and fences the tap, a lost table is noticed
 * (ops_unfenced) and put back by gc, destroy removes them, and gc removes the
 * tables of a sandbox that is gone.
 */
static void
test_firewall_fake(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = test_spec();
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) tables = NULL;
    g_auto(GStrv) bare = NULL;
    g_autofree char *tap = vmm_network_tap_name("op-net");
    g_autofree char *ra = g_strdup_printf("ipv6/conf/%s/accept_ra", tap);
    g_autofree char *v6 = g_strdup_printf("ipv6/conf/%s/disable_ipv6", tap);
    VmmCreateRequest req = {.name = "op-net", .spec = spec, .timeout_s = 10, .no_snapshot = TRUE};
    guint fenced = 0;

    vmm_host_fake_reset();
    spec->net_mode = VMM_NET_MODE_ISOLATED;
    g_assert_true(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_no_error(err);
    tables = vmm_host_fake_tables();
    g_assert_true(has(tables, "netdev airlock_op_net"));
    g_assert_true(has(tables, "bridge airlock_op_net"));
    g_assert_true(has(tables, "inet airlock_op_net"));
    g_assert_cmpstr(vmm_host_fake_sysctl(ra), ==, "0");
    g_assert_cmpstr(vmm_host_fake_sysctl(v6), ==, "1");

    /* A flush: the sandbox runs without its tables; doctor's check sees it, gc puts them back. */
    g_assert_true(vmm_host_for(f->conn)->nft_remove("op-net", NULL, &err));
    bare = vmm_ops_unfenced(&f->ops, &fenced);
    g_assert_true(has(bare, "op-net"));
    g_assert_true(vmm_gc_run(&f->ops.ctx, FALSE, collect_gc, reports, &err));
    g_assert_no_error(err);
    g_assert_true(reported(reports, "op-net refenced"));
    g_strfreev(bare);
    bare = vmm_ops_unfenced(&f->ops, &fenced);
    g_assert_cmpuint(g_strv_length(bare), ==, 0);
    g_assert_cmpuint(fenced, ==, 1);

    g_assert_true(vmm_ops_destroy(&f->ops, "op-net", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    g_strfreev(tables);
    tables = vmm_host_fake_tables();
    g_assert_cmpuint(g_strv_length(tables), ==, 0);

    /* Tables whose sandbox is gone (a create that died after the firewall): gc removes them. */
    g_assert_true(vmm_host_for(f->conn)->nft_apply("table inet airlock_op_ghost {\n", &err));
    g_assert_true(vmm_gc_run(&f->ops.ctx, FALSE, collect_gc, reports, &err));
    g_assert_no_error(err);
    g_assert_true(reported(reports, "op-ghost orphan"));
    g_strfreev(tables);
    tables = vmm_host_fake_tables();
    g_assert_cmpuint(g_strv_length(tables), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
    g_test_add("/ops/records", Fixture, NULL, fixture_setup, test_records, fixture_teardown);
    g_test_add("/ops/firewall-fake", Fixture, NULL, fixture_setup, test_firewall_fake,
               fixture_teardown);
    g_test_add("/ops/same-records", Fixture, NULL, fixture_setup, test_same_records,
               fixture_teardown);
    return g_test_run();
}
