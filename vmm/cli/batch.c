/* batch.c: `airlock batch run` and `airlock batch check`: many short jobs over a pool of sandboxes.
 */
#include <config.h>

#include "autoptr.h"
#include "batch-output.h"
#include "batch-run.h"
#include "batch-slurm.h"
#include "batch.h"
#include "cli.h"
#include "settings.h"
#include "conn.h"
#include "error.h"
#include "image.h"
#include "names.h"
#include "sandbox.h"
#include "slurm.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exit status when Ctrl-C or SIGTERM stopped the batch (the partial report is written). */
#define BATCH_EXIT_INTERRUPTED 130

typedef struct {
    VmmBatchRunner *runner;
    GMainLoop *loop;
    GMutex print_lock;
    gboolean tty; /* stderr is a terminal: live progress line */
    gboolean quiet;
    gboolean line_shown; /* a progress line is on screen */
    guint signals;
} Run;

static char *
fmt_secs(gdouble s)
{
    gint64 t = (gint64)(s + 0.5);

    if (t >= 3600)
        return g_strdup_printf("%" G_GINT64_FORMAT "h%02dm", t / 3600, (int)(t % 3600 / 60));
    return g_strdup_printf("%dm%02ds", (int)(t / 60), (int)(t % 60));
}

static void
clear_line(Run *run)
{
    if (run->line_shown) {
        fputs("\r\033[K", stderr);
        run->line_shown = FALSE;
    }
}

static void
on_job_done(const VmmBatchResult *res, gpointer user_data)
{
    Run *run = user_data;
    const char *tag = vmm_batch_result_ok(res)                  ? "PASS"
                      : res->status == VMM_BATCH_STATUS_TIMEOUT ? "TIME"
                      : res->status == VMM_BATCH_STATUS_FAILED  ? "FAIL"
                      : res->status == VMM_BATCH_STATUS_ERROR   ? "ERR "
                                                                : "STOP";

    if (run->quiet)
        return;
    g_mutex_lock(&run->print_lock);
    clear_line(run);
    fprintf(stderr, "%s %s (%.1f s", tag, res->job->name, res->duration_s);
    if (res->status == VMM_BATCH_STATUS_FAILED)
        fprintf(stderr, ", exit %d, expected %d", res->exit_code, res->job->expect);
    if (res->retried)
        fprintf(stderr, ", retried");
    fprintf(stderr, ")\n");
    g_mutex_unlock(&run->print_lock);
}

static gboolean
on_tick(gpointer user_data)
{
    Run *run = user_data;
    VmmBatchProgress p;

    if (run->signals)
        vmm_batch_runner_stop(run->runner); /* again: a boot may have defined its domain since */
    if (vmm_batch_runner_done(run->runner)) {
        g_main_loop_quit(run->loop);
        return G_SOURCE_REMOVE;
    }
    if (!run->tty || run->quiet)
        return G_SOURCE_CONTINUE;
    vmm_batch_runner_progress(run->runner, &p);
    g_mutex_lock(&run->print_lock);
    {
        g_autofree char *el = fmt_secs(p.elapsed_s);
        g_autofree char *eta = p.eta_s >= 0 ? fmt_secs(p.eta_s) : g_strdup("?");
        fprintf(stderr, "\r\033[K[%u/%u] %u failed · %u running", p.done, p.total, p.failed,
                p.running);
        if (p.creating)
            fprintf(stderr, " · %u booting", p.creating);
        fprintf(stderr, " · %s elapsed · ETA %s%s", el, eta, run->signals ? " · stopping" : "");
        run->line_shown = TRUE;
    }
    g_mutex_unlock(&run->print_lock);
    return G_SOURCE_CONTINUE;
}

static gboolean
on_signal(gpointer user_data)
{
    Run *run = user_data;

    if (run->signals++ == 0) {
        g_mutex_lock(&run->print_lock);
        clear_line(run);
        fprintf(stderr, "airlock: stopping: no new jobs; destroying the batch's sandboxes\n");
        g_mutex_unlock(&run->print_lock);
    }
    vmm_batch_runner_stop(run->runner);
    return G_SOURCE_CONTINUE;
}

/* The effective spec: the plan's spec file or image, its secrets file. */
static VmmSpec *
plan_spec(const VmmBatchPlan *plan, GError **error)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();

    if (plan->spec_file && !vmm_spec_load_file(spec, plan->spec_file, error))
        return NULL;
    if (plan->image) {
        g_free(spec->image);
        spec->image = g_strdup(plan->image);
    }
    if (plan->secrets_file) {
        g_free(spec->secrets_file);
        spec->secrets_file = g_strdup(plan->secrets_file);
    }
    if (!vmm_spec_validate(spec, error))
        return NULL;
    return g_steal_pointer(&spec);
}

static char *
now_iso8601(void)
{
    g_autoptr(GDateTime) dt = g_date_time_new_now_utc();
    return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

int
vmm_cmd_batch_run(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *output = NULL, *prefix = NULL, *started = NULL, *slurm_task = NULL;
    gint parallel = -1;
    gboolean quiet = FALSE, evidence = FALSE, stagger = FALSE, slurm = FALSE;
    g_auto(GStrv) sbatch_args = NULL;
    g_autofree char *partition = NULL;
    VmmCliBatchSlurm sl = {.nodes = -1, .per_node = -1};
    GOptionEntry entries[] = {
        {"parallel", 'j', 0, G_OPTION_ARG_INT, &parallel,
         "Sandboxes in the pool (default: the plan's parallel, else 2)", "N"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
         "Directory for results.json, junit.xml, logs/ and artifacts/ (default batch-results)",
         "DIR"},
        {"prefix", 0, 0, G_OPTION_ARG_STRING, &prefix,
         "Sandbox name prefix (default: the plan's, else batch)", "NAME"},
        {"evidence", 0, 0, G_OPTION_ARG_NONE, &evidence,
         "Keep evidence archives of the pool's sandboxes when destroying them", NULL},
        {"stagger-boots", 0, 0, G_OPTION_ARG_NONE, &stagger,
         "Boot the pool one sandbox after another; the first runs jobs meanwhile", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress, only the summary", NULL},
        /* Slurm (docs/batch.md): the job array and, hidden, what each of its tasks runs. */
        {"slurm", 0, 0, G_OPTION_ARG_NONE, &slurm,
         "Run the plan as a Slurm job array, each task a local batch on its node", NULL},
        {"partition", 0, 0, G_OPTION_ARG_STRING, &partition, "Slurm partition (--slurm)", "P"},
        {"nodes", 0, 0, G_OPTION_ARG_INT, &sl.nodes,
         "Array tasks, one per node (--slurm; default 1)", "N"},
        {"per-node", 0, 0, G_OPTION_ARG_INT, &sl.per_node,
         "Sandboxes in each task's pool (--slurm; default: --parallel)", "K"},
        {"sbatch-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sbatch_args,
         "One more argument for sbatch, e.g. --sbatch-arg=--exclusive (--slurm; repeatable)",
         "ARG"},
        {"detach", 0, 0, G_OPTION_ARG_NONE, &sl.detach,
         "Submit and return; then batch status|collect DIR (--slurm)", NULL},
        {"retry-failed", 0, 0, G_OPTION_ARG_NONE, &sl.retry_failed,
         "Run again the jobs DIR/results.json has as error or not-run (--slurm)", NULL},
        {"slurm-task", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &slurm_task,
         "Inside a Slurm array task: run this task's share of the batch in DIR", "DIR"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("PLAN - run a batch of jobs, each in a clean sandbox");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = NULL;
    g_autoptr(VmmSpec) spec = NULL;
    g_autoptr(VmmSecrets) secrets = NULL;
    g_autoptr(VmmImage) image = NULL;
    g_autofree VmmBatchHost *hosts = NULL;
    g_autofree guint *placement = NULL;
    g_autofree char *reason = NULL;
    g_autoptr(VmmBatchOutput) out = NULL;
    g_autoptr(GPtrArray) slot_uris = g_ptr_array_new();
    g_autoptr(GPtrArray) slot_hosts = g_ptr_array_new();
    g_auto(GStrv) uris = NULL;
    VmmBatchLibvirt lv = {0};
    g_autoptr(VmmCaller) caller = NULL;
    VmmBatchRunInfo info = {0};
    VmmBatchSummary sum;
    Run run = {0};
    GPtrArray *results;
    guint n_uris, sigint, sigterm;
    gint64 t0;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "Creates a pool of N sandboxes once, then runs every job of PLAN (a key file:\n"
             "[batch], [job NAME], [matrix NAME]; see docs/batch.md) in a clean one, resetting\n"
             "between jobs. Writes DIR/results.json and DIR/junit.xml, DIR/logs/JOB.stdout|stderr\n"
             "and DIR/artifacts/JOB/. Nothing of the batch is left afterwards.");
    g_option_context_set_description(
        ctx, "Exit status: 0 when every job met its expectation; 1 when one did not;\n"
             "130 when stopped by Ctrl-C or SIGTERM (partial report written); 2 for a bad\n"
             "plan; 3 when a pool sandbox name is taken; 4/5/7 for connection, image or\n"
             "host problems.");
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one PLAN file");
    if (!(plan = vmm_batch_plan_load(argv[1], &err)) || !vmm_batch_plan_check_files(plan, &err))
        return vmm_cli_fail(err);
    if (parallel >= 0) {
        if (parallel < 1 || parallel > VMM_BATCH_MAX_PARALLEL)
            return vmm_cli_usage(argv[0], "--parallel expects 1 to %d, got %d",
                                 VMM_BATCH_MAX_PARALLEL, parallel);
        plan->parallel = parallel;
    }
    if (prefix) {
        if (strlen(prefix) > VMM_NAME_MAX - 3 || !vmm_name_validate(prefix, "prefix", &err))
            return vmm_cli_usage(argv[0],
                                 "--prefix '%s' must be a sandbox name of at most %d "
                                 "characters",
                                 prefix, VMM_NAME_MAX - 3);
        g_free(plan->prefix);
        plan->prefix = g_strdup(prefix);
    }
    if (evidence)
        plan->evidence = TRUE;
    /*
     * Sandboxes on other libvirt hosts ran without the firewall airlock installs here: gone.
     * Many hosts go through Slurm, each node running its own airlock.
     */
    if (plan->hosts)
        return vmm_cli_usage(argv[0],
                             "%s: [batch] hosts is no longer supported (remote hosts ran guests "
                             "without airlock's firewall): use --slurm (docs/batch.md)",
                             argv[1]);
    if (!slurm && (partition || sbatch_args || sl.nodes >= 0 || sl.per_node >= 0 || sl.detach ||
                   sl.retry_failed))
        return vmm_cli_usage(argv[0], "--partition, --nodes, --per-node, --sbatch-arg, "
                                      "--detach and --retry-failed go with --slurm");
    if (slurm_task && !vmm_batch_slurm_task_setup(plan, slurm_task, &output, &stagger, &err))
        return vmm_cli_fail(err);
    /* More sandboxes than jobs would only boot for nothing. */
    plan->parallel = MIN(plan->parallel, plan->jobs->len);
    if (!output)
        output = g_strdup("batch-results");

    if (!(spec = plan_spec(plan, &err)))
        return vmm_cli_fail(err);
    if (spec->secrets_file && !(secrets = vmm_secrets_load(spec->secrets_file, &err)))
        return vmm_cli_fail(err);
    if (slurm) {
        sl.partition = partition;
        sl.sbatch_args = sbatch_args;
        sl.stagger = stagger;
        sl.quiet = quiet;
        return vmm_cli_batch_slurm_run(cli, plan, output, &sl, argv[0]);
    }
    if (!vmm_accel_choose(cli->accel, "/", &lv.accel, &reason, &err))
        return vmm_cli_fail(err);

    /*
     * The base image, matching its digest, in this machine's store: the pool runs
     * here (on a Slurm node, each node checks its own).
     */
    if (!(image = vmm_image_load(cli->state_dir, spec->image, &err)) ||
        !vmm_image_verify(image, TRUE, &err))
        return vmm_cli_fail(err);

    uris = g_strsplit(vmm_conn_default_uri(cli->uri), ",", 2);
    n_uris = g_strv_length(uris);
    for (guint i = 0; i < n_uris; i++)
        g_strstrip(uris[i]);
    if (!(hosts = vmm_batch_hosts_probe((const char *const *)uris, &err)) ||
        !(placement = vmm_batch_place(hosts, n_uris, plan->parallel,
                                      (guint64)spec->memory_mib << 20, &err)))
        return vmm_cli_fail(err);
    for (guint i = 0; i < plan->parallel; i++) {
        g_ptr_array_add(slot_uris, uris[placement[i]]);
        g_ptr_array_add(slot_hosts, uris[placement[i]]);
    }
    if (!vmm_batch_libvirt_names_free(plan->prefix, plan->parallel, (char **)slot_uris->pdata,
                                      &err))
        return vmm_cli_fail(err);

    /* Before anything boots: a directory another user could plant links in is refused. */
    if (!(out = vmm_batch_output_open(output, &err)))
        return vmm_cli_fail(err);
    caller = vmm_caller_new(getuid(), "batch");
    lv.caller = caller;
    lv.state_dir = cli->state_dir;
    lv.spec = spec;
    lv.secrets = secrets;
    lv.create_timeout_s = lv.accel == VMM_ACCEL_TCG ? 600 : 180;
    lv.evidence = plan->evidence;
    lv.output_dir = output;
    lv.output = out;
    lv.max_artifact_bytes =
        plan->max_artifact_bytes ? plan->max_artifact_bytes : spec->max_copy_bytes;

    if (!quiet) {
        if (lv.accel == VMM_ACCEL_TCG && !cli->accel && !vmm_config_get()->accel &&
            isatty(STDERR_FILENO))
            fprintf(stderr, "airlock: warning: %s\n", reason);
        fprintf(stderr, "batch: %u jobs on %u sandboxes (%s-1..%u)", plan->jobs->len,
                plan->parallel, plan->prefix, plan->parallel);
        if (n_uris > 1)
            fprintf(stderr, " over %u hosts", n_uris);
        fprintf(stderr, "\n");
    }
    {
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_string_member(ev, "plan", argv[1]);
        json_object_set_int_member(ev, "jobs", plan->jobs->len);
        json_object_set_int_member(ev, "parallel", plan->parallel);
        json_object_set_string_member(ev, "prefix", plan->prefix);
        vmm_cli_event(cli, NULL, "batch-start", ev);
    }

    started = now_iso8601();
    t0 = g_get_monotonic_time();
    g_mutex_init(&run.print_lock);
    run.tty = isatty(STDERR_FILENO);
    run.quiet = quiet;
    run.loop = g_main_loop_new(NULL, FALSE);
    run.runner = vmm_batch_runner_new(plan, plan->parallel, (const char *const *)slot_uris->pdata,
                                      &vmm_batch_libvirt_executor, &lv);
    vmm_batch_runner_set_job_done(run.runner, on_job_done, &run);
    vmm_batch_runner_set_stagger(run.runner, stagger);
    sigint = g_unix_signal_add(SIGINT, on_signal, &run);
    sigterm = g_unix_signal_add(SIGTERM, on_signal, &run);
    signal(SIGPIPE, SIG_IGN);
    vmm_batch_runner_start(run.runner);
    g_timeout_add(500, on_tick, &run);
    g_main_loop_run(run.loop);
    vmm_batch_runner_join(run.runner);
    g_source_remove(sigint);
    g_source_remove(sigterm);
    clear_line(&run);

    results = vmm_batch_runner_results(run.runner, &info);
    info.started = started;
    info.duration_s = (g_get_monotonic_time() - t0) / (gdouble)G_USEC_PER_SEC;
    info.slot_hosts = slot_hosts;
    {
        g_autofree char *json = vmm_batch_report_json(plan, results, &info);
        g_autofree char *junit = vmm_batch_report_junit(plan, results, &info);
        if (!vmm_batch_output_write(out, "results.json", json, &err) ||
            !vmm_batch_output_write(out, "junit.xml", junit, &err))
            fprintf(stderr, "airlock: %s\n", err->message);
    }
    vmm_batch_summarize(results, &sum);
    {
        GPtrArray *warnings = vmm_batch_runner_warnings(run.runner);
        for (guint i = 0; i < warnings->len; i++)
            fprintf(stderr, "airlock: warning: %s\n", (char *)g_ptr_array_index(warnings, i));
    }
    {
        g_autofree char *el = fmt_secs(info.duration_s);
        printf("%u jobs: %u passed, %u failed, %u timed out, %u errors, %u not run", sum.total,
               sum.passed, sum.failed, sum.timeout, sum.error, sum.not_run);
        if (sum.retried)
            printf(" (%u retried)", sum.retried);
        printf(" in %s on %u sandbox%s (%u boot%s, %u reset%s)%s\n", el, plan->parallel,
               plan->parallel == 1 ? "" : "es", info.creates, info.creates == 1 ? "" : "s",
               info.resets, info.resets == 1 ? "" : "s", info.interrupted ? " — interrupted" : "");
        for (guint i = 0; i < results->len; i++) {
            VmmBatchResult *r = g_ptr_array_index(results, i);
            if (vmm_batch_result_ok(r))
                continue;
            printf("  %-8s %s", vmm_batch_status_to_string(r->status), r->job->name);
            if (r->status == VMM_BATCH_STATUS_FAILED)
                printf(": exit %d, expected %d", r->exit_code, r->job->expect);
            else if (r->error)
                printf(": %s", r->error);
            printf("\n");
        }
        printf("report: %s/results.json, %s/junit.xml\n", output, output);
    }
    {
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_string_member(ev, "plan", argv[1]);
        json_object_set_int_member(ev, "jobs", sum.total);
        json_object_set_int_member(ev, "passed", sum.passed);
        json_object_set_boolean_member(ev, "interrupted", info.interrupted);
        json_object_set_double_member(ev, "duration_s", info.duration_s);
        vmm_cli_event(cli, NULL, "batch-end", ev);
    }
    rc = info.interrupted          ? BATCH_EXIT_INTERRUPTED
         : sum.passed == sum.total ? AIRLOCK_EXIT_OK
                                   : AIRLOCK_EXIT_FAILED;
    vmm_batch_runner_free(run.runner);
    g_main_loop_unref(run.loop);
    g_mutex_clear(&run.print_lock);
    return rc;
}

/* What run checks before it boots anything: the plan, its files, its spec and secrets file. */
static VmmBatchPlan *
check_plan(const char *path, GError **error)
{
    g_autoptr(VmmBatchPlan) plan = NULL;
    g_autoptr(VmmSpec) spec = NULL;
    g_autoptr(VmmSecrets) secrets = NULL;

    if (!(plan = vmm_batch_plan_load(path, error)) || !vmm_batch_plan_check_files(plan, error) ||
        !(spec = plan_spec(plan, error)))
        return NULL;
    if (spec->secrets_file && !(secrets = vmm_secrets_load(spec->secrets_file, error)))
        return NULL;
    return g_steal_pointer(&plan);
}

static JsonNode *
plan_to_json(const char *path, const VmmBatchPlan *plan, const GError *err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "plan");
    json_builder_add_string_value(b, path);
    json_builder_set_member_name(b, "valid");
    json_builder_add_boolean_value(b, plan != NULL);
    if (!plan) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, err->message);
        json_builder_end_object(b);
        return json_builder_get_root(b);
    }
    json_builder_set_member_name(b, plan->spec_file ? "spec" : "image");
    json_builder_add_string_value(b, plan->spec_file ? plan->spec_file : plan->image);
    json_builder_set_member_name(b, "parallel");
    json_builder_add_int_value(b, plan->parallel);
    json_builder_set_member_name(b, "prefix");
    json_builder_add_string_value(b, plan->prefix);
    json_builder_set_member_name(b, "jobs");
    json_builder_begin_array(b);
    for (guint i = 0; i < plan->jobs->len; i++) {
        const VmmBatchJob *j = g_ptr_array_index(plan->jobs, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, j->name);
        json_builder_set_member_name(b, "command");
        json_builder_add_string_value(b, j->command);
        json_builder_set_member_name(b, "timeout_s");
        json_builder_add_int_value(b, j->timeout_s);
        json_builder_set_member_name(b, "expect");
        json_builder_add_int_value(b, j->expect);
        json_builder_set_member_name(b, "matrix");
        if (j->matrix)
            json_builder_add_string_value(b, j->matrix);
        else
            json_builder_add_null_value(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

int
vmm_cmd_batch_check(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the result and the jobs as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "PLAN - check a batch plan, its files, spec and secrets file, and list its jobs (nothing "
        "is run)");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = NULL;
    int rc;

    (void)cli;
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx, "Exit status: 0 valid, 2 invalid (the message says "
                                          "PLAN:LINE and what is wrong). See docs/batch.md.");
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one PLAN file");
    plan = check_plan(argv[1], &err);
    if (as_json) {
        vmm_cli_print_json(plan_to_json(argv[1], plan, err));
        return plan ? AIRLOCK_EXIT_OK : AIRLOCK_EXIT_USAGE;
    }
    if (!plan) {
        fprintf(stderr, "airlock: %s\n", err->message);
        return AIRLOCK_EXIT_USAGE; /* invalid, whatever the kind of error */
    }
    printf("image %s, %u sandboxes named %s-N, %u jobs:\n",
           plan->spec_file ? plan->spec_file : plan->image, plan->parallel, plan->prefix,
           plan->jobs->len);
    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchJob *j = g_ptr_array_index(plan->jobs, i);
        printf("  %-24s expect %-3d timeout %5us  %s\n", j->name, j->expect, j->timeout_s,
               j->command);
    }
    return AIRLOCK_EXIT_OK;
}
