/*
 * test-pause.c: pause, resume and ttl through the operations layer on
 * test:///default (whose driver saves and restores a domain): the states
 * list and inspect show, the refusals of exec, cp, snapshot and of a second
 * pause, destroy of a paused sandbox, one audit record per operation, and
 * the TTL arithmetic. Resuming a real guest is tests/integration/pause.sh's.
 */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "ops.h"
#include "ttl.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/ops-fixture.h"

static void
create(Fixture *f, const char *name)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;
    VmmCreateRequest req = {.name = name, .spec = spec, .timeout_s = 10, .no_snapshot = TRUE};

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->net_mode = VMM_NET_MODE_NONE;
    g_assert_true(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_no_error(err);
}

static char *
state_of(Fixture *f, const char *name)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) v = vmm_ops_inspect(&f->ops, name, &err);

    g_assert_no_error(err);
    return g_strdup(v->state);
}

/* @name's records in the global log, in order: "create:ok pause:ok ...". */
static char *
events_of(Fixture *f, const char *name)
{
    g_autofree char *path = vmm_events_global_path(f->state);
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) out = g_string_new(NULL);

    if (!g_file_get_contents(path, &data, NULL, NULL))
        return g_strdup("");
    lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        JsonObject *o;
        if (!**l || !json_parser_load_from_data(p, *l, -1, NULL))
            continue;
        o = json_node_get_object(json_parser_get_root(p));
        if (g_strcmp0(json_object_get_string_member_with_default(o, "sandbox", ""), name) != 0)
            continue;
        g_string_append_printf(out, "%s%s:%s", out->len ? " " : "",
                               json_object_get_string_member_with_default(o, "event", "?"),
                               json_object_get_string_member_with_default(o, "result", "?"));
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
test_states(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *memory =
        g_build_filename(f->state, "sandboxes", "op-p", "paused", "memory.save", NULL);
    VmmPauseTimings t = {0};
    const char *argv[] = {"true", NULL};
    VmmAgentExec spec = {.argv = argv};
    int code = -1;
    struct stat st;

    create(f, "op-p");
    g_assert_true(vmm_ops_pause(&f->ops, "op-p", &t, &err));
    g_assert_no_error(err);
    /* Saved in the sandbox's directory, root's alone; the domain stays defined. */
    g_assert_cmpint(lstat(memory, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_assert_cmpint(st.st_mode & 077, ==, 0);
    g_assert_cmpint(t.memory_bytes, >, 0);
    {
        g_autofree char *s = state_of(f, "op-p");
        g_assert_cmpstr(s, ==, "paused");
    }
    {
        g_autoptr(GPtrArray) all = vmm_ops_list(&f->ops, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(all->len, ==, 1);
        g_assert_cmpstr(((VmmSandboxView *)g_ptr_array_index(all, 0))->state, ==, "paused");
    }

    /* What needs the guest says how to get it back, with a code a script can act on. */
    g_assert_false(vmm_ops_exec(&f->ops, "op-p", &spec, &code, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "airlock resume op-p"));
    g_assert_null(strchr(err->message, '\n'));
    g_clear_error(&err);
    g_assert_false(vmm_ops_cp(&f->ops, "op-p", TRUE, "/dev/null", "/tmp/x", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "airlock resume op-p"));
    g_clear_error(&err);
    g_assert_false(vmm_ops_snapshot(&f->ops, "op-p", "t1", FALSE, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "airlock resume op-p"));
    g_clear_error(&err);
    g_assert_false(vmm_ops_pause(&f->ops, "op-p", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "paused already"));
    g_clear_error(&err);
    /* Still paused, the saved memory untouched by the refusals. */
    g_assert_cmpint(lstat(memory, &st), ==, 0);

    /* Destroy of a paused sandbox leaves nothing: domain, directory, saved memory. */
    g_assert_true(vmm_ops_destroy(&f->ops, "op-p", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(lstat(memory, &st), ==, -1);
    {
        g_autofree char *dir = g_build_filename(f->state, "sandboxes", "op-p", NULL);
        g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    }
    g_assert_false(vmm_ops_inspect(&f->ops, "op-p", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    {
        /* One record per operation, refusals included. */
        g_autofree char *ev = events_of(f, "op-p");
        g_assert_cmpstr(ev, ==,
                        "create:ok pause:ok exec:failed cp:failed snapshot:failed pause:failed "
                        "destroy:ok");
    }
}

/* Resume of a sandbox that is not paused is a clear error, and the record says so. */
static void
test_resume_running(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *ev = NULL;

    create(f, "op-r");
    g_assert_false(vmm_ops_resume(&f->ops, "op-r", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "running, not paused"));
    g_clear_error(&err);
    g_assert_false(vmm_ops_resume(&f->ops, "op-none", NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    ev = events_of(f, "op-r");
    g_assert_cmpstr(ev, ==, "create:ok resume:failed");
    {
        g_autofree char *s = state_of(f, "op-r");
        g_assert_cmpstr(s, ==, "running");
    }
}

/* A planted link where the saved memory goes is removed, never followed. */
static void
test_pause_link(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *sdir = g_build_filename(f->state, "sandboxes", "op-f", NULL);
    g_autofree char *pdir = g_build_filename(sdir, "paused", NULL);
    g_autofree char *elsewhere = g_build_filename(f->state, "elsewhere", NULL);
    g_autofree char *planted = g_build_filename(elsewhere, "memory.save", NULL);
    g_autofree char *s = NULL;
    struct stat st;

    create(f, "op-f");
    g_assert_cmpint(g_mkdir(elsewhere, 0777), ==, 0);
    g_assert_cmpint(symlink(elsewhere, pdir), ==, 0);
    g_assert_true(vmm_ops_pause(&f->ops, "op-f", NULL, &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(planted, G_FILE_TEST_EXISTS));
    g_assert_cmpint(lstat(pdir, &st), ==, 0);
    g_assert_true(S_ISDIR(st.st_mode));
    s = state_of(f, "op-f");
    g_assert_cmpstr(s, ==, "paused");
}

static void
test_ttl(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    VmmTtlChange c;
    gint64 secs, v = -1;

    /* Parsing: the three forms, and bad ones with a one-line hint. */
    g_assert_true(vmm_ttl_parse("2h", &c, &secs, &err));
    g_assert_cmpint(c, ==, VMM_TTL_SET);
    g_assert_cmpint(secs, ==, 7200);
    g_assert_true(vmm_ttl_parse("+30m", &c, &secs, &err));
    g_assert_cmpint(c, ==, VMM_TTL_EXTEND);
    g_assert_cmpint(secs, ==, 1800);
    g_assert_true(vmm_ttl_parse("none", &c, &secs, &err));
    g_assert_cmpint(c, ==, VMM_TTL_NONE);
    for (const char *const *bad =
             (const char *const[]){"", "+", "-2h", "2x", "0", "++1h", "None", "2h ", NULL};
         *bad; bad++) {
        g_assert_false(vmm_ttl_parse(*bad, &c, &secs, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_null(strchr(err->message, '\n'));
        g_clear_error(&err);
    }
    g_assert_false(vmm_ttl_parse(NULL, &c, &secs, &err));
    g_clear_error(&err);

    /* Arithmetic: the TTL counts from creation (2026-01-01T00:00:00Z = 1767225600). */
    g_assert_true(
        vmm_ttl_apply("2026-01-01T00:00:00Z", 0, VMM_TTL_SET, 7200, 1767225600 + 600, &v, &err));
    g_assert_cmpint(v, ==, 600 + 7200); /* 2 h from now */
    g_assert_true(vmm_ttl_apply("2026-01-01T00:00:00Z", 3600, VMM_TTL_EXTEND, 7200,
                                1767225600 + 600, &v, &err));
    g_assert_cmpint(v, ==, 3600 + 7200); /* 2 h more than it had */
    g_assert_true(
        vmm_ttl_apply("2026-01-01T00:00:00Z", 0, VMM_TTL_EXTEND, 60, 1767225600 + 600, &v, &err));
    g_assert_cmpint(v, ==, 600 + 60); /* none had: from now */
    g_assert_true(
        vmm_ttl_apply("2026-01-01T00:00:00Z", 3600, VMM_TTL_NONE, 0, 1767225600, &v, &err));
    g_assert_cmpint(v, ==, 0);
    g_assert_false(vmm_ttl_apply("yesterday", 0, VMM_TTL_SET, 60, 1767225600, &v, &err));
    g_clear_error(&err);
    g_assert_false(vmm_ttl_apply("2026-01-01T00:00:00Z", G_MAXINT32, VMM_TTL_EXTEND, G_MAXINT32,
                                 1767225600, &v, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);

    /* Through the operation: live and persistent, shown by inspect, kept across a pause. */
    create(f, "op-t");
    g_assert_true(vmm_ops_ttl(&f->ops, "op-t", VMM_TTL_SET, 3600, &v, &err));
    g_assert_no_error(err);
    g_assert_cmpint(v, >=, 3600);
    g_assert_cmpint(v, <, 3600 + 60);
    {
        g_autoptr(VmmSandboxView) view = vmm_ops_inspect(&f->ops, "op-t", &err);
        g_autoptr(JsonNode) node = vmm_sandbox_view_to_json(view, FALSE);
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autoptr(GDateTime) in1h = g_date_time_add_seconds(now, 3600);
        g_autofree char *want = g_date_time_format(in1h, "%Y-%m-%dT%H:%M");
        const char *expires = json_object_get_string_member(json_node_get_object(node), "expires");
        g_assert_cmpint(view->md->ttl_s, ==, v);
        g_assert_true(g_str_has_prefix(expires, want) || g_date_time_get_second(now) >= 58);
    }
    {
        /* The persistent definition has it too: what a paused (shut off) sandbox shows. */
        g_autofree char *obj = vmm_name_object("op-t");
        g_autoptr(virDomain) dom = virDomainLookupByName(f->conn, obj);
        g_autofree char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                                    VMM_METADATA_NS, VIR_DOMAIN_AFFECT_CONFIG);
        g_autoptr(VmmMetadata) md = vmm_metadata_parse(xml, &err);
        g_assert_no_error(err);
        g_assert_cmpint(md->ttl_s, ==, v);
    }
    g_assert_true(vmm_ops_pause(&f->ops, "op-t", NULL, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_ops_ttl(&f->ops, "op-t", VMM_TTL_EXTEND, 1800, &v, &err));
    g_assert_no_error(err);
    {
        g_autoptr(VmmSandboxView) view = vmm_ops_inspect(&f->ops, "op-t", &err);
        g_assert_cmpint(view->md->ttl_s, ==, v);
        g_assert_cmpstr(view->state, ==, "paused");
    }
    g_assert_true(vmm_ops_ttl(&f->ops, "op-t", VMM_TTL_NONE, 0, &v, &err));
    g_assert_cmpint(v, ==, 0);
    g_assert_false(vmm_ops_ttl(&f->ops, "op-none", VMM_TTL_SET, 60, &v, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    {
        g_autofree char *ev = events_of(f, "op-t");
        g_assert_cmpstr(ev, ==, "create:ok ttl:ok pause:ok ttl:ok ttl:ok");
    }
}

static void
collect_gc(const char *name, const char *action, const char *detail, gpointer data)
{
    g_ptr_array_add(data, g_strdup_printf("%s %s", name, action));
}

/* gc's TTL expiry takes a paused sandbox like any other: destroyed, saved memory and all. */
static void
test_gc_expiry(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *sdir = g_build_filename(f->state, "sandboxes", "op-g", NULL);
    gint64 v;

    create(f, "op-g");
    g_assert_true(vmm_ops_pause(&f->ops, "op-g", NULL, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_ops_ttl(&f->ops, "op-g", VMM_TTL_SET, 1, &v, &err));
    g_assert_no_error(err);
    g_usleep(2100 * 1000);
    g_assert_true(vmm_gc_run(&f->ops.ctx, FALSE, collect_gc, reports, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(reports->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(reports, 0), ==, "op-g expired");
    g_assert_false(g_file_test(sdir, G_FILE_TEST_EXISTS));
    g_assert_null(vmm_ops_inspect(&f->ops, "op-g", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
    g_test_add("/pause/states", Fixture, NULL, fixture_setup, test_states, fixture_teardown);
    g_test_add("/pause/resume-running", Fixture, NULL, fixture_setup, test_resume_running,
               fixture_teardown);
    g_test_add("/pause/link", Fixture, NULL, fixture_setup, test_pause_link, fixture_teardown);
    g_test_add("/pause/gc-expiry", Fixture, NULL, fixture_setup, test_gc_expiry, fixture_teardown);
    g_test_add("/pause/ttl", Fixture, NULL, fixture_setup, test_ttl, fixture_teardown);
    return g_test_run();
}
