/* sandbox.c: `airlock create|destroy|list|inspect|console`. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "settings.h"
#include "table.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "port.h"
#include "sandbox.h"
#include "secrets.h"
#include "spec.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- progress line (TTY only) ---- */

typedef struct {
    GMutex lock;
    char *stage;
    gint64 start;
    gboolean done;
    GThread *thread;
} Progress;

static void
progress_draw(Progress *p)
{
    g_mutex_lock(&p->lock);
    if (p->stage)
        fprintf(stderr, "\r\033[K[%6.1fs] %s…", (g_get_monotonic_time() - p->start) / 1e6,
                p->stage);
    g_mutex_unlock(&p->lock);
    fflush(stderr);
}

static gpointer
progress_thread(gpointer data)
{
    Progress *p = data;

    while (!g_atomic_int_get(&p->done)) {
        progress_draw(p);
        g_usleep(250 * 1000);
    }
    return NULL;
}

static void
progress_stage(const char *stage, gdouble elapsed, gpointer data)
{
    Progress *p = data;

    g_mutex_lock(&p->lock);
    g_free(p->stage);
    p->stage = g_strdup(stage);
    g_mutex_unlock(&p->lock);
    progress_draw(p);
}

static void
progress_stop(Progress *p)
{
    if (!p->thread)
        return;
    g_atomic_int_set(&p->done, TRUE);
    g_thread_join(p->thread);
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    g_free(p->stage);
    g_mutex_clear(&p->lock);
}

/* ---- create ---- */

int
vmm_cmd_create(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *spec_file = NULL, *image = NULL, *secrets_file = NULL;
    g_autofree char *spec_file_f = NULL; /* -f FILE: what --file was before -f meant --follow */
    g_autofree char *ttl = NULL;
    g_auto(GStrv) envs = NULL;
    g_auto(GStrv) labels = NULL;
    g_auto(GStrv) allows = NULL; /* --allow HOST:PORT */
    g_auto(VmmCliShape) shape = VMM_CLI_SHAPE_INIT;
    gint timeout = G_MININT;
    gboolean quiet = FALSE, as_json = FALSE, no_snapshot = FALSE, model_gateway = FALSE;
    gboolean cold = FALSE;
    GOptionEntry entries[] = {
        {"file", 0, 0, G_OPTION_ARG_FILENAME, &spec_file, "Sandbox spec file", "SPEC"},
        {"spec-file", 'f', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &spec_file_f,
         "Deprecated short form of --file", "SPEC"},
        {"image", 0, 0, G_OPTION_ARG_STRING, &image,
         "Base image, optionally pinned: NAME@sha256:HEX (default debian-12)", "NAME"},
        {"cpus", 0, 0, G_OPTION_ARG_INT, &shape.cpus, "Virtual CPUs (default 1)", "N"},
        {"memory", 0, 0, G_OPTION_ARG_INT, &shape.memory, "Memory in MiB (default 512)", "MiB"},
        {"disk-size", 0, 0, G_OPTION_ARG_INT, &shape.disk,
         "Disk size in GiB (default: the image's)", "GiB"},
        {"secrets", 0, 0, G_OPTION_ARG_FILENAME, &secrets_file,
         "Test secrets file (KEY=VALUE lines, mode 0600)", "FILE"},
        {"env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable (repeatable)",
         "K=V"},
        {"network", 0, 0, G_OPTION_ARG_STRING, &shape.network, "isolated (default), allow or none",
         "MODE"},
        {"allow", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allows,
         "Let the guest open TCP connections to HOST:PORT (repeatable; host = the host side of "
         "the sandbox's bridge; implies --network allow)",
         "HOST:PORT"},
        {"model-gateway", 0, 0, G_OPTION_ARG_NONE, &model_gateway,
         "Call model APIs through the host's gateway with a per-sandbox token (docs/gateway.md)",
         NULL},
        {"ttl", 0, 0, G_OPTION_ARG_STRING, &ttl, "Time to live, e.g. 2h", "DURATION"},
        {"label", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &labels, "Label (repeatable)", "K=V"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
         "Seconds to wait for readiness (default 600 with tcg, 180 with kvm)", "S"},
        {"no-snapshot", 0, 0, G_OPTION_ARG_NONE, &no_snapshot,
         "Do not capture the clean state (reset will not be possible)", NULL},
        {"cold", 0, 0, G_OPTION_ARG_NONE, &cold,
         "Boot a new guest even when a pool holds one of this shape (airlock pool list)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing but errors", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the result and stage timings as JSON",
         NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - create a sandbox and wait until it is ready");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmSecrets) secrets = NULL;
    VmmCreateTimings timings = {0};
    VmmCreateRequest req = {0};
    Progress progress = {0};
    const char *name;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME (see --help)");
    name = argv[1];
    if (!vmm_name_validate(name, "sandbox name", &err))
        return vmm_cli_fail(err);
    if ((rc = vmm_cli_shape_check(argv[0], &shape)) != 0)
        return rc;
    if (timeout != G_MININT && timeout < 1)
        return vmm_cli_usage(argv[0], "--timeout %d: expects a whole number of at least 1",
                             timeout);

    if (spec_file_f && !spec_file)
        spec_file = g_steal_pointer(&spec_file_f);
    /* Spec file first, then every flag given overrides it. */
    if (spec_file && !vmm_spec_load_file(spec, spec_file, &err))
        return vmm_cli_fail(err);
    if (image && !vmm_spec_set_image(spec, image, &err)) /* NAME or NAME@sha256:HEX */
        return vmm_cli_fail(err);
    if (!vmm_cli_shape_apply(&shape, spec, &err))
        return vmm_cli_fail(err);
    for (char **a = allows; a && *a; a++)
        if (!vmm_spec_add_allow(spec, *a, &err))
            return vmm_cli_fail(err);
    if (allows && !shape.network)
        spec->net_mode = VMM_NET_MODE_ALLOW;
    if (model_gateway)
        spec->gateway.enabled = TRUE;
    if (ttl && !vmm_spec_parse_duration(ttl, &spec->ttl_s, &err))
        return vmm_cli_fail(err);
    for (char **e = envs; e && *e; e++)
        if (!vmm_spec_add_kv(spec->env, *e, "env", &err))
            return vmm_cli_fail(err);
    for (char **l = labels; l && *l; l++)
        if (!vmm_spec_add_kv(spec->labels, *l, "label", &err))
            return vmm_cli_fail(err);
    if (secrets_file) {
        g_free(spec->secrets_file);
        spec->secrets_file = g_strdup(secrets_file);
    }
    if (!vmm_spec_validate(spec, &err))
        return vmm_cli_fail(err);
    if (spec->secrets_file && !(secrets = vmm_secrets_load(spec->secrets_file, &err)))
        return vmm_cli_fail(err);

    if (!vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);
    if (!quiet && isatty(STDERR_FILENO)) {
        if (cli->ops->ctx.accel == VMM_ACCEL_TCG && !cli->accel && !vmm_config_get()->accel)
            fprintf(stderr, "airlock: warning: %s\n", cli->accel_reason);
        g_mutex_init(&progress.lock);
        progress.start = g_get_monotonic_time();
        cli->ops->ctx.progress = progress_stage;
        cli->ops->ctx.progress_data = &progress;
        progress.thread = g_thread_new("progress", progress_thread, &progress);
    }
    req.name = name;
    req.spec = spec;
    req.secrets = secrets;
    req.timeout_s = timeout != G_MININT ? (guint)timeout : 0;
    req.no_snapshot = no_snapshot;
    req.cold = cold;
    rc = vmm_ops_create(cli->ops, &req, &timings, &err);
    g_clear_pointer(&secrets, vmm_secrets_free); /* wiped as soon as the seed is gone */
    progress_stop(&progress);
    cli->ops->ctx.progress = NULL;
    if (!rc)
        return vmm_cli_fail(err);

    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        json_builder_set_member_name(b, "accel");
        json_builder_add_string_value(b, vmm_accel_to_string(cli->ops->ctx.accel));
        json_builder_set_member_name(b, "timings_s");
        json_builder_add_value(b, vmm_create_timings_to_json(&timings));
        json_builder_end_object(b);
        {
            g_autoptr(JsonNode) root = json_builder_get_root(b);
            vmm_create_source_to_json(&timings, json_node_get_object(root));
            vmm_cli_print_json(g_steal_pointer(&root));
        }
    } else if (!quiet && cli->tty) {
        printf("sandbox '%s' ready in %.1f s%s%s (airlock exec %s -- CMD)\n", name, timings.total,
               timings.warm ? " from pool " : "", timings.warm ? timings.pool : "", name);
    }
    return AIRLOCK_EXIT_OK;
}

/* ---- destroy ---- */

int
vmm_cmd_destroy(VmmCli *cli, int argc, char **argv)
{
    gboolean force = FALSE, force_f = FALSE, no_evidence = FALSE, as_json = FALSE;
    GOptionEntry entries[] = {
        {"force", 0, 0, G_OPTION_ARG_NONE, &force, "Succeed when a sandbox does not exist", NULL},
        /* -f was --force here before it meant --follow everywhere: kept, not shown. */
        {"force-short", 'f', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &force_f,
         "Deprecated short form of --force", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json,
         "Print one object per sandbox: name, result, archive, error", NULL},
        {"no-evidence", 0, 0, G_OPTION_ARG_NONE, &no_evidence,
         "Do not archive the disk and logs before removing", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME... - stop and remove sandboxes");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) results = NULL;
    int rc = AIRLOCK_EXIT_OK;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc < 2)
        return vmm_cli_usage(argv[0], "expects at least one sandbox NAME");
    for (int i = 1; i < argc; i++)
        if (!vmm_name_validate(argv[i], "sandbox name", &err))
            return vmm_cli_fail(err);
    force = force || force_f;
    if (!vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);
    if (as_json) {
        results = json_builder_new();
        json_builder_begin_array(results);
    }
    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) one = NULL;
        g_autofree char *archive = NULL;
        VmmDestroyFlags flags =
            (force ? VMM_DESTROY_FORCE : 0) | (no_evidence ? VMM_DESTROY_NO_EVIDENCE : 0);
        gboolean ok = vmm_ops_destroy(cli->ops, argv[i], flags, &archive, &one);
        if (!ok) {
            int code = vmm_cli_fail(one);
            if (rc == AIRLOCK_EXIT_OK)
                rc = code;
        } else if (archive && cli->tty && !as_json) {
            printf("sandbox '%s' destroyed; evidence in archive '%s'\n", argv[i], archive);
        }
        if (results) {
            json_builder_begin_object(results);
            json_builder_set_member_name(results, "name");
            json_builder_add_string_value(results, argv[i]);
            json_builder_set_member_name(results, "result");
            json_builder_add_string_value(results, ok ? "destroyed" : "failed");
            json_builder_set_member_name(results, "archive");
            if (archive)
                json_builder_add_string_value(results, archive);
            else
                json_builder_add_null_value(results);
            json_builder_set_member_name(results, "error");
            if (one)
                json_builder_add_string_value(results, one->message);
            else
                json_builder_add_null_value(results);
            json_builder_end_object(results);
        }
    }
    if (results) {
        json_builder_end_array(results);
        vmm_cli_print_json(json_builder_get_root(results));
    }
    return rc;
}

/* ---- list / inspect ---- */

/* Does @view pass list's filters: its state, every K=V label, its owner? */
static gboolean
list_match(const VmmSandboxView *view, const char *state, char **labels, const char *owner)
{
    if (state && g_strcmp0(view->state, state) != 0)
        return FALSE;
    if (owner && g_strcmp0(view->md->owner, owner) != 0)
        return FALSE;
    for (char **l = labels; l && *l; l++) {
        gboolean found = FALSE;
        for (guint i = 0; view->md->labels && i < view->md->labels->len && !found; i++)
            found = g_str_equal(g_ptr_array_index(view->md->labels, i), *l);
        if (!found)
            return FALSE;
    }
    return TRUE;
}

int
vmm_cmd_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    g_autofree char *state = NULL, *owner = NULL, *format = NULL;
    g_auto(GStrv) labels = NULL;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON (--format json)", NULL},
        {"format", 0, 0, G_OPTION_ARG_STRING, &format,
         "table (default), json, or names (one name a line, for scripts)", "FORMAT"},
        {"state", 0, 0, G_OPTION_ARG_STRING, &state,
         "Only sandboxes in this state (running, paused, shut off, …)", "STATE"},
        {"label", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &labels,
         "Only sandboxes with this label (repeatable: all must match)", "K=V"},
        {"owner", 0, 0, G_OPTION_ARG_STRING, &owner, "Only sandboxes this user created", "USER"},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- list sandboxes");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) views = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (format && !g_strv_contains((const char *const[]){"table", "json", "names", NULL}, format))
        return vmm_cli_usage(argv[0], "--format '%s': use table, json or names", format);
    if (format && as_json && !g_str_equal(format, "json"))
        return vmm_cli_usage(argv[0], "--json and --format %s contradict each other", format);
    as_json = as_json || g_strcmp0(format, "json") == 0;
    for (char **l = labels; l && *l; l++)
        if (!strchr(*l, '='))
            return vmm_cli_usage(argv[0], "--label '%s': expects K=V", *l);
    if (!vmm_cli_ops(cli, &err) || !(views = vmm_ops_list(cli->ops, &err)))
        return vmm_cli_fail(err);
    {
        /* NAME fits the longest name (32), IMAGE a pinned name's NAME part. */
        static const VmmCliColumn cols[] = {
            {"NAME", "name", 32},      {"STATE", "state", 9},
            {"IMAGE", "image", 16},    {"ADDRESS", "network.address", 18},
            {"CREATED", "created", 0}, {NULL}};
        g_autoptr(JsonArray) rows = json_array_new();
        for (guint i = 0; i < views->len; i++) {
            const VmmSandboxView *v = g_ptr_array_index(views, i);
            if (!list_match(v, state, labels, owner))
                continue;
            if (g_strcmp0(format, "names") == 0)
                printf("%s\n", v->md->name);
            else
                json_array_add_element(rows, vmm_sandbox_view_to_json(v, as_json));
        }
        if (g_strcmp0(format, "names") != 0)
            vmm_cli_print_table(cols, rows, as_json);
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_inspect(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - show a sandbox's details");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) view = NULL;
    g_autoptr(JsonNode) root = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !(view = vmm_ops_inspect(cli->ops, argv[1], &err)))
        return vmm_cli_fail(err);
    root = vmm_sandbox_view_to_json(view, TRUE);
    if (as_json) {
        vmm_cli_print_json(g_steal_pointer(&root));
        return AIRLOCK_EXIT_OK;
    }
    vmm_cli_print_fields(root);
    return AIRLOCK_EXIT_OK;
}

/* ---- console ---- */

int
vmm_cmd_console(VmmCli *cli, int argc, char **argv)
{
    gboolean follow = FALSE;
    GOptionEntry entries[] = {
        {"follow", 'f', 0, G_OPTION_ARG_NONE, &follow, "Keep printing as the console grows", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME - print a sandbox's serial console log");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) view = NULL;
    FILE *f;
    char buf[8192];
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) || !(view = vmm_ops_inspect(cli->ops, argv[1], &err)))
        return vmm_cli_fail(err);
    f = fopen(view->console, "re");
    if (!f) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND, "no console log for '%s' at %s", argv[1],
                    view->console);
        return vmm_cli_fail(err);
    }
    for (;;) {
        size_t n = fread(buf, 1, sizeof(buf), f);
        if (n > 0) {
            fwrite(buf, 1, n, stdout);
            continue;
        }
        if (!follow)
            break;
        fflush(stdout);
        clearerr(f);
        g_usleep(200 * 1000);
        if (!g_file_test(view->console, G_FILE_TEST_EXISTS))
            break; /* destroyed */
    }
    fclose(f);
    return AIRLOCK_EXIT_OK;
}
