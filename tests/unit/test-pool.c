/*
 * test-pool.c: pools of saved guests on test:///default: set, fill, list,
 * claim (each slot once), stale and surplus slots dropped, the subnet a
 * waiting slot holds, gc leaving a held network alone, dead fills cleaned,
 * and the audit records of it all. The warm restore itself needs a real
 * guest: tests/integration/pool.sh.
 */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "fsutil.h"
#include "gc.h"
#include "image.h"
#include "names.h"
#include "network-xml.h"
#include "ops.h"
#include "pool.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "unit/ops-fixture.h"

static VmmSpec *
pool_spec(VmmNetMode mode)
{
    VmmSpec *spec = vmm_spec_new();

    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->net_mode = mode;
    return spec;
}

static VmmPool *
only_pool(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) pools = vmm_ops_pool_list(&f->ops, &err);
    VmmPool *p;

    g_assert_no_error(err);
    g_assert_cmpuint(pools->len, ==, 1);
    p = g_ptr_array_steal_index(pools, 0);
    return p;
}

static guint
count_events(const char *state, const char *event)
{
    g_autofree char *path = vmm_events_global_path(state);
    g_autofree char *data = NULL;
    g_autofree char *needle = g_strdup_printf("\"event\":\"%s\"", event);
    guint n = 0;

    if (!g_file_get_contents(path, &data, NULL, NULL))
        return 0;
    for (const char *p = data; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static gboolean
network_defined(Fixture *f, const char *name)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virNetwork) net = virNetworkLookupByName(f->conn, obj);

    return net != NULL;
}

static char *
first_slot(Fixture *f, const char *id)
{
    g_autofree char *dir = g_build_filename(f->state, "pool", id, "slots", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d)))
        if (vmm_pool_is_slot_name(n))
            return g_strdup(n);
    return NULL;
}

static void
test_id_and_unsuitable(void)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_ISOLATED);
    g_autofree char *id = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *state = g_dir_make_tmp("airlock-test-pool-XXXXXX", NULL);

    spec->memory_mib = 1024;
    spec->cpus = 2;
    id = vmm_pool_id(spec);
    g_assert_cmpstr(id, ==, "test-img-2cpu-1024m-image-isolated");
    g_assert_true(vmm_pool_is_slot_name("pool-0123abcd"));
    g_assert_false(vmm_pool_is_slot_name("pool-0123abc"));
    g_assert_false(vmm_pool_is_slot_name("pool-0123ABCD"));
    g_assert_false(vmm_pool_is_slot_name("my-sandbox"));
    /* cloud-init parts run at first boot: such a shape never has a pool. */
    g_ptr_array_add(spec->parts, g_new0(VmmCloudPart, 1));
    g_assert_nonnull(vmm_pool_unsuitable(spec));
    g_assert_null(vmm_pool_set(state, spec, 2, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_rmdir(state);
}

static void
test_fill_claim(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_ISOLATED);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmPool) set = NULL;
    g_autoptr(VmmPool) p = NULL;
    g_autoptr(VmmPoolSlot) s1 = NULL, s2 = NULL, s3 = NULL;
    g_autoptr(VmmImage) img = NULL;
    g_autofree char *dest = g_build_filename(f->state, "claimed", NULL);
    g_autofree char *pool_dir = NULL;
    gboolean used[VMM_NET_POOL_SIZE] = {FALSE};
    guint booted = 0;
    int dfd;
    struct stat st;

    set = vmm_ops_pool_set(&f->ops, spec, 2, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(set->size, ==, 2);
    g_assert_cmpuint(count_events(f->state, "pool-set"), ==, 1);
    pool_dir = g_build_filename(f->state, "pool", NULL);
    g_assert_cmpint(g_stat(pool_dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);

    if (!vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err))
        g_error("fill: %s", err->message);
    g_assert_no_error(err);
    g_assert_cmpuint(booted, ==, 2);
    g_assert_cmpuint(count_events(f->state, "pool-fill"), ==, 2);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 2);
    g_assert_cmpuint(p->stale, ==, 0);
    /* A full pool boots nothing. */
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_cmpuint(booted, ==, 0);

    /* No slot runs, but each holds its subnet: in libvirt and for this state directory. */
    {
        g_autofree char *slot = first_slot(f, p->id);
        g_autofree char *obj = vmm_name_object(slot);
        g_autoptr(virDomain) dom = virDomainLookupByName(f->conn, obj);
        g_autoptr(virNetwork) net = virNetworkLookupByName(f->conn, obj);
        g_assert_null(dom);
        g_assert_nonnull(net);
        g_assert_cmpint(virNetworkIsActive(net), ==, 0);
    }
    vmm_pool_mark_reserved(f->state, VMM_NET_POOL_PREFIX, used);
    {
        guint held = 0;
        for (guint i = 0; i < VMM_NET_POOL_SIZE; i++)
            held += used[i];
        g_assert_cmpuint(held, ==, 2);
    }

    /* gc leaves a waiting slot's network alone. */
    g_assert_true(vmm_ops_gc(&f->ops, FALSE, NULL, NULL, &err));
    g_assert_no_error(err);
    {
        g_autofree char *slot = first_slot(f, p->id);
        g_assert_true(network_defined(f, slot));
    }

    /* Each slot is claimed once: two claims, two slots, then none. */
    g_assert_cmpint(g_mkdir(dest, 0700), ==, 0);
    dfd = open(dest, O_RDONLY | O_DIRECTORY);
    img = vmm_image_load(f->state, "test-img", &err);
    g_assert_no_error(err);
    s1 = vmm_pool_claim(f->state, spec, img->digest, dfd, "a", &err);
    g_assert_no_error(err);
    s2 = vmm_pool_claim(f->state, spec, img->digest, dfd, "b", &err);
    g_assert_no_error(err);
    s3 = vmm_pool_claim(f->state, spec, img->digest, dfd, "c", &err);
    g_assert_no_error(err);
    g_assert_nonnull(s1);
    g_assert_nonnull(s2);
    g_assert_null(s3);
    g_assert_cmpstr(s1->slot, !=, s2->slot);
    g_assert_cmpstr(s1->pool, ==, p->id);
    g_assert_cmpuint(s1->subnet, !=, s2->subnet);
    g_assert_cmpint(fstatat(dfd, "a/memory.save", &st, 0), ==, 0);
    g_assert_cmpint(fstatat(dfd, "b/disk.qcow2", &st, 0), ==, 0);
    close(dfd);
    g_clear_pointer(&p, vmm_pool_free);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 0);

    /* Another shape, or another image digest, takes nothing. */
    {
        g_autoptr(VmmSpec) other = pool_spec(VMM_NET_MODE_ISOLATED);
        g_autoptr(VmmPoolSlot) none = NULL;
        booted = 0;
        g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 1, NULL, NULL, &booted, &err));
        g_assert_cmpuint(booted, ==, 1);
        other->memory_mib = 1024;
        dfd = open(dest, O_RDONLY | O_DIRECTORY);
        none = vmm_pool_claim(f->state, other, img->digest, dfd, "d", &err);
        g_assert_null(none);
        none = vmm_pool_claim(f->state, spec, "sha256:0000", dfd, "d", &err);
        g_assert_null(none);
        g_assert_no_error(err);
        close(dfd);
    }
}

/* A rebuilt image makes the waiting slots stale; a smaller size drops the surplus; with them
 * go their held networks. */
static void
test_stale_and_surplus(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_ISOLATED);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmPool) set = vmm_ops_pool_set(&f->ops, spec, 2, &err);
    g_autoptr(VmmPool) p = NULL;
    g_autofree char *slot = NULL;
    g_autofree char *img_dir = g_build_filename(f->state, "images", "test-img", NULL);
    g_autofree char *cmd = NULL;
    guint booted = 0;

    g_assert_no_error(err);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_cmpuint(booted, ==, 2);
    g_clear_pointer(&set, vmm_pool_free);
    set = vmm_ops_pool_set(&f->ops, spec, 1, &err);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(booted, ==, 0);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 1);
    slot = first_slot(f, p->id);
    g_assert_true(network_defined(f, slot));

    /* The image is rebuilt: its digest changes, the slot booted from the old one is stale. */
    cmd = g_strdup_printf("rm -rf '%s'", img_dir);
    g_assert_cmpint(system(cmd), ==, 0);
    make_image_with_size(f->state, "65M");
    g_clear_pointer(&p, vmm_pool_free);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 0);
    g_assert_cmpuint(p->stale, ==, 1);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(booted, ==, 1);
    g_assert_false(network_defined(f, slot)); /* dropped with its slot */
    g_clear_pointer(&p, vmm_pool_free);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 1);
    g_assert_cmpuint(p->stale, ==, 0);

    /* Size 0 empties it. */
    g_clear_pointer(&set, vmm_pool_free);
    set = vmm_ops_pool_set(&f->ops, spec, 0, &err);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_clear_pointer(&p, vmm_pool_free);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 0);
    {
        virNetworkPtr *nets = NULL;
        int n = virConnectListAllNetworks(f->conn, &nets, 0);
        for (int i = 0; i < n; i++) {
            g_assert_false(g_str_has_prefix(virNetworkGetName(nets[i]), "airlock-pool-"));
            virNetworkFree(nets[i]);
        }
        free(nets);
    }
}

/* An allow pool needs no allow list: its slots boot isolated, the sandbox brings its own. */
static void
test_allow(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_ALLOW);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmPool) set = vmm_ops_pool_set(&f->ops, spec, 1, &err);
    g_autoptr(VmmPool) p = NULL;
    g_autoptr(VmmPoolSlot) slot = NULL;
    g_autoptr(VmmImage) img = vmm_image_load(f->state, "test-img", NULL);
    g_autofree char *dest = g_build_filename(f->state, "claimed", NULL);
    guint booted = 0;
    int dfd;

    g_assert_no_error(err);
    g_assert_cmpstr(set->id, ==, "test-img-1cpu-512m-image-allow");
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(booted, ==, 1);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 1);
    g_assert_true(vmm_spec_add_allow(spec, "host:8080", &err));
    g_assert_cmpint(g_mkdir(dest, 0700), ==, 0);
    dfd = open(dest, O_RDONLY | O_DIRECTORY);
    slot = vmm_pool_claim(f->state, spec, img->digest, dfd, "a", &err);
    close(dfd);
    g_assert_no_error(err);
    g_assert_nonnull(slot);
    g_assert_cmpuint(slot->subnet, >, 0);
}

/* A fill that died left a slot sandbox and a parking directory: the next fill removes both. */
static void
test_dead_fill(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_NONE);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmPool) set = vmm_ops_pool_set(&f->ops, spec, 0, &err);
    g_autofree char *id = vmm_pool_id(spec);
    g_autofree char *parking =
        g_build_filename(f->state, "pool", id, "slots", ".new-pool-00c0ffee", NULL);
    g_autoptr(virDomain) dom = NULL;
    guint booted = 0;

    g_assert_no_error(err);
    g_assert_true(vmm_sandbox_create(&f->ops.ctx, "pool-00c0ffee", spec, NULL, 60,
                                     VMM_CREATE_NO_SNAPSHOT | VMM_CREATE_COLD, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(g_mkdir_with_parents(parking, 0700), ==, 0);
    /* While the parking directory is there, the slot sandbox is a fill's. */
    g_assert_true(vmm_pool_slot_exists(f->state, "pool-00c0ffee"));
    /* It is nobody's sandbox: not in the list; the pool counts it as filling while its lock is
     * held. */
    {
        g_autoptr(GPtrArray) all = vmm_ops_list(&f->ops, &err);
        int lock = vmm_sandbox_lock(f->state, ".new-pool-00c0ffee", &err);
        g_autoptr(VmmPool) p = NULL;

        g_assert_no_error(err);
        g_assert_cmpuint(all->len, ==, 0);
        p = only_pool(f);
        g_assert_cmpuint(p->filling, ==, 1);
        vmm_sandbox_unlock(f->state, ".new-pool-00c0ffee", lock, TRUE);
        vmm_pool_free(p);
        p = only_pool(f);
        g_assert_cmpuint(p->filling, ==, 0);
    }
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_no_error(err);
    g_assert_false(g_file_test(parking, G_FILE_TEST_EXISTS));
    /* Its parking gone, the next fill sees a slot sandbox nobody keeps. */
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    dom = virDomainLookupByName(f->conn, "airlock-pool-00c0ffee");
    g_assert_null(dom);
}

/* A user's sandbox may not take a slot's name: a fill would take it for one left by a dead fill. */
static void
test_slot_name_refused(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_NONE);
    g_autoptr(GError) err = NULL;
    g_autoptr(virDomain) dom = NULL;
    VmmCreateRequest req = {.name = "pool-00c0ffee", .spec = spec};

    g_assert_false(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "kept for warm pool slots"));
    dom = virDomainLookupByName(f->conn, "airlock-pool-00c0ffee");
    g_assert_null(dom);
    g_clear_error(&err);
    /* Names that only look alike are anyone's. */
    req.name = "pool-00c0ffe";
    g_assert_true(vmm_ops_create(&f->ops, &req, NULL, &err));
    g_assert_no_error(err);
}

/* A pool without a network: its slots have no subnet and are ready all the same. */
static void
test_no_network(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_NONE);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmPool) set = vmm_ops_pool_set(&f->ops, spec, 1, &err);
    g_autoptr(VmmPool) p = NULL;
    guint booted = 0;

    g_assert_no_error(err);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_cmpuint(booted, ==, 1);
    p = only_pool(f);
    g_assert_cmpuint(p->ready, ==, 1);
    g_assert_cmpuint(p->stale, ==, 0);
    g_assert_true(vmm_ops_pool_fill(&f->ops, NULL, 0, NULL, NULL, &booted, &err));
    g_assert_cmpuint(booted, ==, 0);
}

/* Pools are root's on the sandbox host: through airlockd (a remote backend) they are refused. */
static void
test_remote_refused(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmSpec) spec = pool_spec(VMM_NET_MODE_NONE);
    g_autoptr(GError) err = NULL;
    VmmOpsBackend backend = {.name = "fake"};
    VmmOps remote = f->ops;

    remote.backend = &backend;
    g_assert_null(vmm_ops_pool_set(&remote, spec, 1, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pool/id-and-unsuitable", test_id_and_unsuitable);
    g_test_add("/pool/fill-claim", Fixture, NULL, fixture_setup, test_fill_claim, fixture_teardown);
    g_test_add("/pool/stale-and-surplus", Fixture, NULL, fixture_setup, test_stale_and_surplus,
               fixture_teardown);
    g_test_add("/pool/no-network", Fixture, NULL, fixture_setup, test_no_network, fixture_teardown);
    g_test_add("/pool/allow", Fixture, NULL, fixture_setup, test_allow, fixture_teardown);
    g_test_add("/pool/dead-fill", Fixture, NULL, fixture_setup, test_dead_fill, fixture_teardown);
    g_test_add("/pool/slot-name-refused", Fixture, NULL, fixture_setup, test_slot_name_refused,
               fixture_teardown);
    g_test_add("/pool/remote-refused", Fixture, NULL, fixture_setup, test_remote_refused,
               fixture_teardown);
    return g_test_run();
}
