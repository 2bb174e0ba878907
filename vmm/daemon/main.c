/* main.c: airlockd: options, configuration, sockets, signals. */
#include <config.h>

#include "daemon.h"
#include "conn.h"
#include "error.h"
#include "fsutil.h"
#include "names.h"
#include "settings.h"

#include <glib-unix.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/airlock/airlockd.sock"

static gboolean
on_term(gpointer data)
{
    VmmDaemon *d = data;

    g_message("draining: %u request(s) in flight", d->inflight);
    vmm_daemon_drain(d);
    return G_SOURCE_CONTINUE;
}

/* Secrets of create requests pass through here: as in the CLI, never into a core file. */
static void
no_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/* ---- gc: what a crash left half done, TTLs, orphans (the journal and gc of the CLI) ---- */

static void
gc_report(const char *name, const char *action, const char *detail, gpointer data)
{
    if (!g_str_equal(action, "skipped"))
        g_message("gc: %s: %s (%s)", name, action, detail);
}

/*
 * gc and pool fills run in a thread of their own, one of each at a time, as
 * the daemon (caller "daemon"), and count as in flight so a drain waits for
 * them.
 */
typedef struct {
    VmmDaemon *d;
    const char *what;  /* for the log */
    gboolean *running; /* d->gc_running or d->pool_running */
    gboolean (*run)(VmmOps *ops, GError **error);
} Job;

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Job *j = data;
    g_autoptr(GError) err = NULL;
    virConnectPtr conn = vmm_daemon_conn(j->d, &err);

    if (conn) {
        g_autoptr(VmmCaller) caller = vmm_caller_new(geteuid(), "daemon");
        VmmOps ops = {0};
        ops.ctx.conn = conn;
        ops.ctx.state_dir = j->d->state_dir;
        ops.ctx.accel = j->d->accel;
        ops.caller = caller;
        j->run(&ops, &err);
        virConnectClose(conn);
    }
    if (err)
        g_message("%s: %s", j->what, err->message);
    g_task_return_boolean(task, TRUE);
}

static void
job_done(GObject *source, GAsyncResult *result, gpointer data)
{
    Job *j = data;

    *j->running = FALSE;
    j->d->inflight--;
    g_free(j);
}

/* Starts @run unless its last run is still going or airlockd drains. */
static void
job_start(VmmDaemon *d, const char *what, gboolean *running,
          gboolean (*run)(VmmOps *ops, GError **error))
{
    g_autoptr(GTask) task = NULL;
    Job *j;

    if (d->draining || *running)
        return;
    j = g_new0(Job, 1);
    *j = (Job){.d = d, .what = what, .running = running, .run = run};
    *running = TRUE;
    d->inflight++;
    task = g_task_new(NULL, NULL, job_done, j);
    g_task_set_task_data(task, j, NULL);
    g_task_run_in_thread(task, job_thread);
}

static gboolean
gc_job(VmmOps *ops, GError **error)
{
    return vmm_ops_gc(ops, FALSE, gc_report, NULL, error);
}

static gboolean
gc_tick(gpointer data)
{
    VmmDaemon *d = data;

    job_start(d, "gc", &d->gc_running, gc_job);
    return G_SOURCE_CONTINUE;
}

static gboolean
gc_first(gpointer data)
{
    gc_tick(data);
    return G_SOURCE_REMOVE;
}

/* ---- pools: one guest at a time, and only while the host has room to spare (pool.h) ---- */

static void
pool_report(const char *pool, const char *slot, gdouble seconds, const GError *error, gpointer data)
{
    if (error)
        g_message("pool %s: %s failed: %s", pool, slot, error->message);
    else
        g_message("pool %s: %s ready in %.1f s", pool, slot, seconds);
}

static gboolean
pool_job(VmmOps *ops, GError **error)
{
    return vmm_ops_pool_fill(ops, NULL, 1, pool_report, NULL, NULL, error);
}

/*
 * A fill boots one guest per tick, and none while requests are in flight or
 * the load average is above --pool-max-load (default: the CPU count):
 * filling never competes with the sandboxes that run.
 */
static gboolean
pool_tick(gpointer data)
{
    VmmDaemon *d = data;
    double load[1];

    if (d->inflight > 0)
        return G_SOURCE_CONTINUE;
    if (getloadavg(load, 1) == 1 && load[0] > d->pool_max_load) {
        g_debug("pool: load %.2f is above %.2f, no fill now", load[0], d->pool_max_load);
        return G_SOURCE_CONTINUE;
    }
    job_start(d, "pool", &d->pool_running, pool_job);
    return G_SOURCE_CONTINUE;
}

/* The model gateway runs beside airlockd when it is configured (docs/gateway.md): its own
 * process, next to this binary, so the provider keys never live in the daemon. */
static GSubprocess *
start_gateway(const char *state_dir)
{
    g_autofree char *conf = g_build_filename(state_dir, "gateway.conf", NULL);
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;
    g_autofree char *bin = dir ? g_build_filename(dir, "airlock-gateway", NULL) : NULL;
    g_autoptr(GError) err = NULL;
    GSubprocess *p;

    if (!g_file_test(conf, G_FILE_TEST_EXISTS))
        return NULL;
    p = bin ? g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &err, bin, "--state-dir", state_dir, NULL)
            : NULL;
    if (!p)
        g_warning("model gateway not started: %s",
                  err ? err->message : "airlock-gateway not found");
    else
        g_message("model gateway started (pid %s)", g_subprocess_get_identifier(p));
    return p;
}

/* The configuration file (optional unless named with --config). */
static gboolean
load_config(VmmDaemon *d, const char *path, gboolean required, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_file_get_contents(path, &text, NULL, &local)) {
        if (!required && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s", local->message);
        return FALSE;
    }
    return vmm_daemon_config_parse(d->config, text, path, error);
}

int
main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL, *socket_group = NULL, *listen = NULL, *web = NULL;
    g_autofree char *config = NULL, *accel = NULL, *admin_group = NULL;
    gint q_sandboxes = -1, q_memory = -1, q_cpus = -1, max_body_kib = 1024, max_file_mib = 64;
    gint gc_interval = 60;
    gint pool_interval = 30;
    gdouble pool_max_load = g_get_num_processors();
    gboolean no_socket = FALSE, config_given, no_gateway = FALSE;
    g_autoptr(GSubprocess) gateway = NULL;
    VmmDaemon d = {0};
    GOptionEntry entries[] = {
        {"socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path,
         "Unix socket (default " DEFAULT_SOCKET ")", "PATH"},
        {"socket-group", 0, 0, G_OPTION_ARG_STRING, &socket_group,
         "Group of the socket (default: the user group, airlock)", "GROUP"},
        {"no-socket", 0, 0, G_OPTION_ARG_NONE, &no_socket, "Listen on TCP only", NULL},
        {"listen", 0, 0, G_OPTION_ARG_STRING, &listen,
         "Also listen on TCP (loopback only; bearer tokens), e.g. 127.0.0.1:8470", "ADDR:PORT"},
        {"web", 0, 0, G_OPTION_ARG_FILENAME, &web,
         "Directory of the web page (default " AIRLOCK_DATADIR "/web)", "DIR"},
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &config,
         "Configuration file (default STATE/airlockd.conf)", "FILE"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &d.uri, "libvirt URI", "URI"},
        {"accel", 0, 0, G_OPTION_ARG_STRING, &accel, "kvm or tcg (default: detect)", "ACCEL"},
        {"admin-group", 0, 0, G_OPTION_ARG_STRING, &admin_group,
         "Group whose members see every sandbox (default airlock-admin)", "GROUP"},
        {"quota-sandboxes", 0, 0, G_OPTION_ARG_INT, &q_sandboxes,
         "Sandboxes per user (0: no limit; default 4)", "N"},
        {"quota-memory", 0, 0, G_OPTION_ARG_INT, &q_memory,
         "Memory per user in MiB (0: no limit; default 8192)", "MiB"},
        {"quota-cpus", 0, 0, G_OPTION_ARG_INT, &q_cpus, "vCPUs per user (0: no limit; default 8)",
         "N"},
        {"max-body", 0, 0, G_OPTION_ARG_INT, &max_body_kib, "Largest JSON body (default 1024)",
         "KiB"},
        {"pool-interval", 0, 0, G_OPTION_ARG_INT, &pool_interval,
         "Seconds between pool fills, one guest each (default 30; 0: never)", "S"},
        {"pool-max-load", 0, 0, G_OPTION_ARG_DOUBLE, &pool_max_load,
         "No pool fill while the load average is above this (default: the CPU count)", "LOAD"},
        {"gc-interval", 0, 0, G_OPTION_ARG_INT, &gc_interval,
         "Run gc at start and every N seconds: interrupted creates, TTLs, orphans (0: never; "
         "default 60)",
         "N"},
        {"max-file", 0, 0, G_OPTION_ARG_INT, &max_file_mib, "Largest file put or got (default 64)",
         "MiB"},
        {"no-gateway", 0, 0, G_OPTION_ARG_NONE, &no_gateway,
         "Do not start airlock-gateway even when STATE/gateway.conf exists", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- the airlock daemon: HTTP API and web page for a team");
    g_autoptr(GError) err = NULL;
    g_autofree char *reason = NULL;
    g_autofree char *tmp = NULL;

    setlocale(LC_ALL, "");
    vmm_libvirt_init();
    no_core_dumps();
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "airlockd: %s (--help lists the options)\n", err->message);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "airlockd: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (max_body_kib <= 0 || max_file_mib <= 0 || gc_interval < 0 || pool_interval < 0) {
        fprintf(stderr, "airlockd: --max-body and --max-file must be positive, --gc-interval "
                        "and --pool-interval 0 or more\n");
        return 2;
    }
    {
        /* The environment is read once, before any worker thread: like the CLI. */
        VmmConfig *env = vmm_config_from_env(&err);
        if (!env) {
            fprintf(stderr, "airlockd: %s\n", err->message);
            return 2;
        }
        vmm_config_set(env);
    }
    if (geteuid() != 0)
        g_warning("not running as root: sandboxes, firewalls and the audit trail need root");

    d.state_dir = vmm_state_dir(vmm_conn_default_uri(d.uri));
    d.web_dir = web ? g_steal_pointer(&web) : g_build_filename(AIRLOCK_DATADIR, "web", NULL);
    d.config = vmm_daemon_config_new();
    config_given = config != NULL;
    if (!config)
        config = g_build_filename(d.state_dir, "airlockd.conf", NULL);
    if (!vmm_fs_check_state_dir(d.state_dir, &err) ||
        !load_config(&d, config, config_given, &err) ||
        !vmm_accel_choose(accel, "/", &d.accel, &reason, &err)) {
        fprintf(stderr, "airlockd: %s\n", err->message);
        return 1;
    }
    if (q_sandboxes >= 0)
        d.config->quota.sandboxes = q_sandboxes;
    if (q_memory >= 0)
        d.config->quota.memory_mib = q_memory;
    if (q_cpus >= 0)
        d.config->quota.cpus = q_cpus;
    if (admin_group) {
        g_free(d.config->admin_group);
        d.config->admin_group = g_steal_pointer(&admin_group);
    }
    d.max_body = (gsize)max_body_kib * 1024;
    d.max_file = (gsize)max_file_mib * 1024 * 1024;

    /* A private scratch directory for staged specs and files, gone at exit. */
    tmp = g_build_filename(g_get_tmp_dir(), "airlockd-XXXXXX", NULL);
    if (!g_mkdtemp_full(tmp, 0700)) {
        fprintf(stderr, "airlockd: cannot create a scratch directory in %s\n", g_get_tmp_dir());
        return 1;
    }
    d.tmp_dir = tmp;

    if (!vmm_ops_events_init(&err)) {
        fprintf(stderr, "airlockd: %s\n", err->message);
        return 1;
    }
    g_mutex_init(&d.conn_lock);
    g_mutex_init(&d.quota_lock);
    g_mutex_init(&d.owners_lock);
    g_mutex_init(&d.tokens_lock);
    d.pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    d.owners = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    d.loop = g_main_loop_new(NULL, FALSE);
    {
        virConnectPtr c = vmm_daemon_conn(&d, &err);
        if (!c) {
            fprintf(stderr, "airlockd: %s\n", err->message);
            return 1;
        }
        virConnectClose(c);
    }
    d.hub = vmm_events_hub_new(&d);
    if (!vmm_daemon_serve(&d, no_socket ? NULL : (socket_path ? socket_path : DEFAULT_SOCKET),
                          socket_group ? socket_group : d.config->user_group, listen, &err)) {
        fprintf(stderr, "airlockd: %s\n", err->message);
        vmm_fs_remove_tree(tmp, NULL);
        return 1;
    }
    if (gc_interval > 0) {
        /* At start: a create or destroy cut short by airlockd's own end converges now. */
        g_idle_add(gc_first, &d);
        g_timeout_add_seconds(gc_interval, gc_tick, &d);
    }
    d.pool_max_load = pool_max_load;
    if (pool_interval > 0)
        g_timeout_add_seconds(pool_interval, pool_tick, &d);
    if (!no_gateway)
        gateway = start_gateway(d.state_dir);
    g_unix_signal_add(SIGTERM, on_term, &d);
    g_unix_signal_add(SIGINT, on_term, &d);
    g_message("airlockd %s: state %s, socket %s%s%s, accel %s", PACKAGE_VERSION, d.state_dir,
              no_socket ? "-" : (socket_path ? socket_path : DEFAULT_SOCKET),
              listen ? ", tcp " : "", listen ? listen : "", vmm_accel_to_string(d.accel));
    g_main_loop_run(d.loop);
    g_message("drained, exiting");

    if (gateway)
        g_subprocess_send_signal(gateway, SIGTERM);
    soup_server_disconnect(d.server);
    g_object_unref(d.server);
    vmm_events_hub_free(d.hub);
    if (!no_socket)
        unlink(socket_path ? socket_path : DEFAULT_SOCKET);
    vmm_fs_remove_tree(tmp, NULL);
    return 0;
}
