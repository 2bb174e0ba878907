/* sandbox.c: `airlock create|destroy|list|inspect|console`. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "port.h" /* issue 5: network status in inspect */
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

static void
add_timings(JsonBuilder *b, const VmmCreateTimings *t)
{
    const struct {
        const char *name;
        gdouble v;
    } rows[] = {{"overlay", t->overlay}, {"network", t->network}, {"seed", t->seed},
                {"define", t->define},   {"boot", t->boot},       {"cloud_init", t->cloud_init},
                {"finish", t->finish},   {"snapshot", t->snapshot}, {"total", t->total}};

    json_builder_set_member_name(b, "timings_s");
    json_builder_begin_object(b);
    for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
        json_builder_set_member_name(b, rows[i].name);
        json_builder_add_double_value(b, rows[i].v);
    }
    json_builder_end_object(b);
}

int
vmm_cmd_create(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *spec_file = NULL, *image = NULL, *secrets_file = NULL, *network = NULL;
    g_autofree char *ttl = NULL;
    g_auto(GStrv) envs = NULL;
    g_auto(GStrv) labels = NULL;
    g_auto(GStrv) allows = NULL; /* issue 5: --allow HOST:PORT */
    gint cpus = -1, memory = -1, disk = -1, timeout = -1;
    gboolean quiet = FALSE, as_json = FALSE, no_snapshot = FALSE;
    GOptionEntry entries[] = {
        {"file", 'f', 0, G_OPTION_ARG_FILENAME, &spec_file, "Sandbox spec file", "SPEC"},
        {"image", 0, 0, G_OPTION_ARG_STRING, &image,
         "Base image, optionally pinned: NAME@sha256:HEX (default debian-12)", "NAME"},
        {"cpus", 0, 0, G_OPTION_ARG_INT, &cpus, "Virtual CPUs (default 1)", "N"},
        {"memory", 0, 0, G_OPTION_ARG_INT, &memory, "Memory in MiB (default 512)", "MiB"},
        {"disk-size", 0, 0, G_OPTION_ARG_INT, &disk, "Disk size in GiB (default: the image's)",
         "GiB"},
        {"secrets", 0, 0, G_OPTION_ARG_FILENAME, &secrets_file,
         "Test secrets file (KEY=VALUE lines, mode 0600)", "FILE"},
        {"env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &envs, "Environment variable (repeatable)",
         "K=V"},
        {"network", 0, 0, G_OPTION_ARG_STRING, &network, "isolated (default), allow or none",
         "MODE"},
        {"allow", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allows,
         "Let the guest open TCP connections to HOST:PORT (repeatable; host = the host side of "
         "the sandbox's bridge; implies --network allow)",
         "HOST:PORT"},
        {"ttl", 0, 0, G_OPTION_ARG_STRING, &ttl, "Time to live, e.g. 2h", "DURATION"},
        {"label", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &labels, "Label (repeatable)", "K=V"},
        {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
         "Seconds to wait for readiness (default 600 with tcg, 180 with kvm)", "S"},
        {"no-snapshot", 0, 0, G_OPTION_ARG_NONE, &no_snapshot,
         "Do not capture the clean state (reset will not be possible)", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing but errors", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the result and stage timings as JSON",
         NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - create a sandbox and wait until it is ready");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmSecrets) secrets = NULL;
    g_auto(GStrv) secret_names = NULL;
    g_autofree char *reason = NULL;
    VmmCreateTimings timings = {0};
    Progress progress = {0};
    VmmContext vctx = {0};
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

    /* Spec file first, then every flag given overrides it. */
    if (spec_file && !vmm_spec_load_file(spec, spec_file, &err))
        return vmm_cli_fail(err);
    if (image && !vmm_spec_set_image(spec, image, &err)) /* NAME or NAME@sha256:HEX */
        return vmm_cli_fail(err);
    if (cpus >= 0)
        spec->cpus = cpus;
    if (memory >= 0)
        spec->memory_mib = memory;
    if (disk >= 0)
        spec->disk_gib = disk;
    if (network && !vmm_net_mode_from_string(network, &spec->net_mode, &err))
        return vmm_cli_fail(err);
    for (char **a = allows; a && *a; a++) /* issue 5 */
        if (!vmm_spec_add_allow(spec, *a, &err))
            return vmm_cli_fail(err);
    if (allows && !network)
        spec->net_mode = VMM_NET_MODE_ALLOW;
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

    vctx.state_dir = cli->state_dir;
    if (!vmm_accel_choose(cli->accel, "/", &vctx.accel, &reason, &err))
        return vmm_cli_fail(err);
    if (!(vctx.conn = vmm_cli_conn(cli, &err)))
        return vmm_cli_fail(err);
    if (timeout < 0)
        timeout = vctx.accel == VMM_ACCEL_TCG ? 600 : 180;
    if (!quiet && isatty(STDERR_FILENO)) {
        if (vctx.accel == VMM_ACCEL_TCG && !cli->accel && !g_getenv("AIRLOCK_ACCEL"))
            fprintf(stderr, "airlock: warning: %s\n", reason);
        g_mutex_init(&progress.lock);
        progress.start = g_get_monotonic_time();
        vctx.progress = progress_stage;
        vctx.progress_data = &progress;
        progress.thread = g_thread_new("progress", progress_thread, &progress);
    }

    secret_names = secrets ? vmm_secrets_names(secrets) : NULL; /* issue 6: in the hash */
    rc = vmm_sandbox_create(&vctx, name, spec, secrets, timeout,
                            no_snapshot ? VMM_CREATE_NO_SNAPSHOT : 0, &timings, &err);
    g_clear_pointer(&secrets, vmm_secrets_free); /* wiped as soon as the seed is gone */
    progress_stop(&progress);
    {
        g_autoptr(JsonObject) ev = json_object_new();
        g_autofree char *hash = vmm_spec_hash_full(spec, (const char *const *)secret_names);
        json_object_set_string_member(ev, "spec_hash", hash);
        json_object_set_string_member(ev, "image", spec->image);
        json_object_set_string_member(ev, "accel", vmm_accel_to_string(vctx.accel));
        if (rc) {
            g_autoptr(JsonBuilder) tb = json_builder_new();
            json_builder_begin_object(tb);
            add_timings(tb, &timings);
            json_builder_end_object(tb);
            {
                g_autoptr(JsonNode) tn = json_builder_get_root(tb);
                JsonObject *to = json_node_get_object(tn);
                json_object_set_member(ev, "timings_s",
                                       json_node_copy(json_object_get_member(to, "timings_s")));
            }
            vmm_cli_event(cli, name, "ready", ev);
        } else {
            json_object_set_string_member(ev, "error", err->message);
            vmm_cli_event(cli, name, "create-failed", ev);
        }
    }
    if (!rc)
        return vmm_cli_fail(err);

    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        json_builder_set_member_name(b, "accel");
        json_builder_add_string_value(b, vmm_accel_to_string(vctx.accel));
        add_timings(b, &timings);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else if (!quiet && cli->tty) {
        printf("sandbox '%s' ready in %.1f s (airlock exec %s -- CMD)\n", name, timings.total,
               name);
    }
    return AIRLOCK_EXIT_OK;
}

/* ---- destroy ---- */

int
vmm_cmd_destroy(VmmCli *cli, int argc, char **argv)
{
    gboolean force = FALSE, no_evidence = FALSE;
    GOptionEntry entries[] = {
        {"force", 'f', 0, G_OPTION_ARG_NONE, &force, "Succeed when a sandbox does not exist", NULL},
        {"no-evidence", 0, 0, G_OPTION_ARG_NONE, &no_evidence,
         "Do not archive the disk and logs before removing", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME... - stop and remove sandboxes");
    g_autoptr(GError) err = NULL;
    VmmContext vctx = {0};
    int rc = AIRLOCK_EXIT_OK;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc < 2)
        return vmm_cli_usage(argv[0], "expects at least one sandbox NAME");
    for (int i = 1; i < argc; i++)
        if (!vmm_name_validate(argv[i], "sandbox name", &err))
            return vmm_cli_fail(err);
    if (!(vctx.conn = vmm_cli_conn(cli, &err)))
        return vmm_cli_fail(err);
    vctx.state_dir = cli->state_dir;
    for (int i = 1; i < argc; i++) {
        g_autoptr(GError) one = NULL;
        g_autofree char *archive = NULL;
        VmmDestroyFlags flags = (force ? VMM_DESTROY_FORCE : 0) |
                                (no_evidence ? VMM_DESTROY_NO_EVIDENCE : 0);
        g_autoptr(JsonObject) ev = json_object_new();
        gboolean ok;
        vmm_cli_event(cli, argv[i], "destroy", NULL);
        ok = vmm_sandbox_destroy(&vctx, argv[i], flags, &archive, &one);
        json_object_set_boolean_member(ev, "ok", ok);
        if (archive)
            json_object_set_string_member(ev, "archive", archive);
        if (!ok)
            json_object_set_string_member(ev, "error", one->message);
        vmm_cli_event(cli, NULL, "destroyed", ev);
        if (!ok) {
            int code = vmm_cli_fail(one);
            if (rc == AIRLOCK_EXIT_OK)
                rc = code;
        } else if (archive && cli->tty) {
            printf("sandbox '%s' destroyed; evidence in archive '%s'\n", argv[i], archive);
        }
    }
    return rc;
}

/* ---- list / inspect ---- */

static void
add_str(JsonBuilder *b, const char *key, const char *value)
{
    json_builder_set_member_name(b, key);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void
add_int(JsonBuilder *b, const char *key, gint64 value)
{
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, value);
}

static void
add_strv(JsonBuilder *b, const char *key, char **list)
{
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (char **s = list; s && *s; s++)
        json_builder_add_string_value(b, *s);
    json_builder_end_array(b);
}

static char *
expires_at(const VmmMetadata *md)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) created = NULL;
    g_autoptr(GDateTime) expires = NULL;

    if (md->ttl_s <= 0 || !md->created)
        return NULL;
    created = g_date_time_new_from_iso8601(md->created, utc);
    if (!created)
        return NULL;
    expires = g_date_time_add_seconds(created, md->ttl_s);
    return g_date_time_format(expires, "%Y-%m-%dT%H:%M:%SZ");
}

static void
build_sandbox_json(JsonBuilder *b, VmmCli *cli, virDomainPtr dom, const VmmMetadata *md)
{
    g_autofree char *expires = expires_at(md);
    g_autofree char *dir = vmm_path_sandbox_dir(cli->state_dir, md->name);
    g_autofree char *console = vmm_sandbox_console_path(cli->state_dir, md->name);

    json_builder_begin_object(b);
    add_str(b, "name", md->name);
    add_str(b, "state", vmm_sandbox_state(dom));
    add_str(b, "domain", virDomainGetName(dom));
    add_str(b, "image", md->image);
    add_str(b, "image_digest", md->image_digest);
    add_str(b, "spec_hash", md->spec_hash);
    add_str(b, "accel", md->accel);
    add_int(b, "cpus", md->cpus);
    add_int(b, "memory_mib", md->memory_mib);
    add_int(b, "disk_gib", md->disk_gib);
    json_builder_set_member_name(b, "network");
    json_builder_begin_object(b);
    add_str(b, "mode", md->net_mode);
    add_str(b, "address", md->address);
    add_str(b, "host_address", md->host_address);
    add_str(b, "bridge", md->bridge);
    add_str(b, "mac", md->mac);
    vmm_cli_network_status(b, cli, dom, md); /* issue 5: allow list, drop counters */
    json_builder_end_object(b);
    add_str(b, "owner", md->owner);
    add_str(b, "created", md->created);
    add_int(b, "ttl_s", md->ttl_s);
    add_str(b, "expires", expires);
    json_builder_set_member_name(b, "labels");
    json_builder_begin_object(b);
    for (guint i = 0; md->labels && i < md->labels->len; i++) {
        const char *kv = g_ptr_array_index(md->labels, i);
        const char *eq = strchr(kv, '=');
        g_autofree char *k = g_strndup(kv, eq ? (gsize)(eq - kv) : strlen(kv));
        add_str(b, k, eq ? eq + 1 : "");
    }
    json_builder_end_object(b);
    add_strv(b, "secrets", md->secret_names);
    add_strv(b, "env", md->env_names);
    add_str(b, "dir", dir);
    add_str(b, "console_log", console);
    json_builder_end_object(b);
}

/*
 * Nothing watches sandboxes between commands: when one is seen crashed and
 * its audit trail does not say so yet, record it now.
 */
static void
note_crash(VmmCli *cli, virDomainPtr dom, const char *name)
{
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    const char *last;

    if (g_strcmp0(vmm_sandbox_state(dom), "crashed") != 0)
        return;
    path = vmm_events_sandbox_path(cli->state_dir, name);
    if (g_file_get_contents(path, &data, NULL, NULL)) {
        g_strchomp(data);
        last = strrchr(data, '\n');
        if (strstr(last ? last : data, "\"event\":\"crashed\""))
            return;
    }
    vmm_cli_event(cli, name, "crashed", NULL);
}

int
vmm_cmd_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("- list sandboxes");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) doms = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    virConnectPtr conn;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (!(conn = vmm_cli_conn(cli, &err)) || !(doms = vmm_sandbox_list(conn, cli->state_dir, &err)))
        return vmm_cli_fail(err);
    if (as_json)
        json_builder_begin_array(b);
    else
        printf("%-20s %-9s %-12s %-16s %s\n", "NAME", "STATE", "IMAGE", "ADDRESS", "CREATED");
    for (guint i = 0; i < doms->len; i++) {
        virDomainPtr dom = g_ptr_array_index(doms, i);
        g_autoptr(VmmMetadata) md = vmm_sandbox_metadata(dom, NULL);
        if (!md)
            continue;
        note_crash(cli, dom, md->name);
        if (as_json)
            build_sandbox_json(b, cli, dom, md);
        else
            printf("%-20s %-9s %-12s %-16s %s\n", md->name, vmm_sandbox_state(dom),
                   md->image ? md->image : "-", md->address ? md->address : "-",
                   md->created ? md->created : "-");
    }
    if (as_json) {
        json_builder_end_array(b);
        vmm_cli_print_json(json_builder_get_root(b));
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_inspect(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - show a sandbox's details");
    g_autoptr(GError) err = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    virConnectPtr conn;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) || !(conn = vmm_cli_conn(cli, &err)) ||
        !(dom = vmm_sandbox_lookup(conn, argv[1], &err)) ||
        !(md = vmm_sandbox_metadata(dom, &err)))
        return vmm_cli_fail(err);
    note_crash(cli, dom, md->name);
    build_sandbox_json(b, cli, dom, md);
    root = json_builder_get_root(b);
    if (as_json) {
        vmm_cli_print_json(g_steal_pointer(&root));
        return AIRLOCK_EXIT_OK;
    }
    {
        JsonObject *o = json_node_get_object(root);
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
            JsonNode *n = json_object_get_member(o, l->data);
            if (JSON_NODE_HOLDS_VALUE(n)) {
                if (json_node_get_value_type(n) == G_TYPE_STRING)
                    printf("%-13s %s\n", (char *)l->data, json_node_get_string(n));
                else
                    printf("%-13s %" G_GINT64_FORMAT "\n", (char *)l->data, json_node_get_int(n));
            } else if (!JSON_NODE_HOLDS_NULL(n)) {
                g_autofree char *text = json_to_string(n, FALSE);
                printf("%-13s %s\n", (char *)l->data, text);
            }
        }
    }
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
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - print a sandbox's serial console log");
    g_autoptr(GError) err = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *path = NULL;
    virConnectPtr conn;
    FILE *f;
    char buf[8192];
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) || !(conn = vmm_cli_conn(cli, &err)) ||
        !(dom = vmm_sandbox_lookup(conn, argv[1], &err)))
        return vmm_cli_fail(err);
    path = vmm_sandbox_console_path(cli->state_dir, argv[1]);
    f = fopen(path, "re");
    if (!f) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND, "no console log for '%s' at %s", argv[1],
                    path);
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
        if (!g_file_test(path, G_FILE_TEST_EXISTS))
            break; /* destroyed */
    }
    fclose(f);
    return AIRLOCK_EXIT_OK;
}
