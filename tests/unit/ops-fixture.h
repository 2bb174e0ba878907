/* ops-fixture.h: the operations layer on test:///default over a fresh state directory holding
 * the fake image "test-img", for the unit tests of ops, pause and pools. */
#pragma once

#include "conn.h"
#include "ops.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "unit/fake-image.h"

typedef struct {
    char *state;
    virConnectPtr conn;
    VmmCaller *caller;
    VmmOps ops;
} Fixture;

/* An identity that is not this process's (uid 4242): the records must name it, not getuid(). */
static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->state = g_dir_make_tmp("airlock-test-ops-XXXXXX", &err);
    g_assert_no_error(err);
    g_assert_cmpint(chmod(f->state, 0755), ==, 0);
    make_image(f->state);
    f->conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    f->caller = vmm_caller_new(4242, "test");
    f->ops.ctx.conn = f->conn;
    f->ops.ctx.state_dir = f->state;
    f->ops.ctx.accel = VMM_ACCEL_TCG;
    f->ops.caller = f->caller;
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->state);

    g_assert_cmpint(system(cmd), ==, 0);
    virConnectClose(f->conn);
    vmm_caller_free(f->caller);
    g_free(f->state);
}
