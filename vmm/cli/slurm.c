/* slurm.c: `airlock batch run --slurm`, `batch status DIR`, `batch collect DIR`. */
#include <config.h>

#include "slurm.h"
#include "batch-output.h"
#include "batch-slurm.h"
#include "autoptr.h"
#include "error.h"
#include "json-builder.h"
#include "names.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Exit status when Ctrl-C or SIGTERM stopped the batch, as for a local one. */
#define BATCH_EXIT_INTERRUPTED 130
/* squeue may fail for a while (slurmctld restarting); give up after this many polls in a row. */
#define POLL_FAILURES_MAX 60
#define POLL_INTERVAL_MS 2000

typedef struct {
    const char *output;
    VmmBatchSlurmManifest *m;
    VmmBatchSlurmTaskState *states;
    gboolean *announced;
    GMainLoop *loop;
    guint poll_id;
    gboolean cancel_on_signal; /* run: Ctrl-C cancels the array; collect: stops waiting */
    gboolean quiet, tty, line_shown;
    guint signals, failures;
    gint64 t0;
    GError *error;
} Wait;

static void
clear_line(Wait *w)
{
    if (w->line_shown) {
        fputs("\r\033[K", stderr);
        w->line_shown = FALSE;
    }
}

static void
cancel(Wait *w)
{
    g_autoptr(GError) err = NULL;

    w->m->cancelled = TRUE;
    if (!vmm_batch_slurm_save(w->output, w->m, &err) || !vmm_batch_slurm_cancel(w->m, &err))
        fprintf(stderr, "airlock: warning: %s\n", err->message);
}

static gboolean
on_poll(gpointer data)
{
    Wait *w = data;
    g_autoptr(GError) err = NULL;
    guint ended = 0, running = 0;

    if (!vmm_batch_slurm_poll(w->m, w->states, &err)) {
        if (++w->failures >= POLL_FAILURES_MAX) {
            g_propagate_prefixed_error(&w->error, g_steal_pointer(&err),
                                       "gave up waiting for Slurm array %s: ", w->m->job_id);
            g_main_loop_quit(w->loop);
            w->poll_id = 0;
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }
    w->failures = 0;
    for (guint t = 0; t < w->m->tasks->len; t++) {
        const VmmBatchSlurmTaskState *st = &w->states[t];
        if (!vmm_batch_slurm_state_ended(st->state)) {
            running += st->state && !strcmp(st->state, "RUNNING");
            continue;
        }
        ended++;
        if (!w->announced[t] && !w->quiet) {
            clear_line(w);
            fprintf(stderr, "task %u %s%s%s, %s\n", t, st->state ? st->state : "ended",
                    st->node ? " on " : "", st->node ? st->node : "",
                    vmm_batch_slurm_task_reported(w->output, t) ? "report written" : "no report");
        }
        w->announced[t] = TRUE;
    }
    if (ended == w->m->tasks->len) {
        g_main_loop_quit(w->loop);
        w->poll_id = 0;
        return G_SOURCE_REMOVE;
    }
    if (w->tty && !w->quiet) {
        gint64 s = (g_get_monotonic_time() - w->t0) / G_USEC_PER_SEC;
        fprintf(stderr, "\r\033[K[tasks %u/%u done] %u running · %dm%02ds%s", ended,
                w->m->tasks->len, running, (int)(s / 60), (int)(s % 60),
                w->signals ? " · cancelling" : "");
        w->line_shown = TRUE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_signal(gpointer data)
{
    Wait *w = data;

    clear_line(w);
    if (!w->cancel_on_signal) {
        w->signals++;
        g_main_loop_quit(w->loop);
        return G_SOURCE_CONTINUE;
    }
    if (w->signals++ == 0)
        fprintf(stderr,
                "airlock: stopping: cancelling Slurm array %s (scancel); the tasks "
                "destroy their sandboxes and report what finished\n",
                w->m->job_id);
    cancel(w); /* again on every signal: a task may have started since */
    return G_SOURCE_CONTINUE;
}

/* Polls squeue until every task has ended (or a signal, for collect). FALSE: stopped waiting. */
static gboolean
wait_tasks(Wait *w)
{
    guint sigint, sigterm;

    w->loop = g_main_loop_new(NULL, FALSE);
    w->announced = g_new0(gboolean, w->m->tasks->len);
    w->tty = isatty(STDERR_FILENO);
    w->t0 = g_get_monotonic_time();
    sigint = g_unix_signal_add(SIGINT, on_signal, w);
    sigterm = g_unix_signal_add(SIGTERM, on_signal, w);
    if (on_poll(w)) {
        w->poll_id = g_timeout_add(POLL_INTERVAL_MS, on_poll, w);
        g_main_loop_run(w->loop);
    }
    if (w->poll_id)
        g_source_remove(w->poll_id);
    g_source_remove(sigint);
    g_source_remove(sigterm);
    clear_line(w);
    g_main_loop_unref(w->loop);
    g_free(w->announced);
    return w->error == NULL && (w->cancel_on_signal || w->signals == 0);
}

static void
states_free(VmmBatchSlurmTaskState *states, guint n)
{
    for (guint i = 0; states && i < n; i++)
        vmm_batch_slurm_task_state_clear(&states[i]);
    g_free(states);
}

/* Merges, writes and prints the summary of a finished array. Returns the exit status. */
static int
collect_and_report(const char *output, const VmmBatchPlan *plan, const VmmBatchSlurmManifest *m,
                   const VmmBatchSlurmTaskState *states)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) rep = vmm_batch_slurm_collect(output, plan, m, states, &err);
    const VmmBatchSummary *s;
    gint64 d;

    if (!rep)
        return vmm_cli_fail(err);
    s = &rep->summary;
    d = (gint64)(rep->duration_s + 0.5);
    printf("%u jobs: %u passed, %u failed, %u timed out, %u errors, %u not run", s->total,
           s->passed, s->failed, s->timeout, s->error, s->not_run);
    if (s->retried)
        printf(" (%u retried)", s->retried);
    printf(" in %dm%02ds on %u Slurm task%s of array %s (%u boot%s, %u reset%s)%s\n", (int)(d / 60),
           (int)(d % 60), rep->tasks, rep->tasks == 1 ? "" : "s", m->job_id, rep->creates,
           rep->creates == 1 ? "" : "s", rep->resets, rep->resets == 1 ? "" : "s",
           rep->interrupted ? " — interrupted" : "");
    for (guint i = 0; i < rep->not_ok->len; i++)
        printf("  %s\n", (char *)g_ptr_array_index(rep->not_ok, i));
    printf("report: %s/results.json, %s/junit.xml\n", output, output);
    return rep->interrupted        ? BATCH_EXIT_INTERRUPTED
           : s->passed == s->total ? AIRLOCK_EXIT_OK
                                   : AIRLOCK_EXIT_FAILED;
}

/* The airlock binary this is: the nodes run the same path. */
static char *
self_path(void)
{
    g_autofree char *p = g_file_read_link("/proc/self/exe", NULL);
    return p ? g_steal_pointer(&p) : g_strdup("airlock");
}

int
vmm_cli_batch_slurm_run(VmmCli *cli, VmmBatchPlan *plan, const char *output_arg,
                        const VmmCliBatchSlurm *opts, const char *cmd)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *output = g_canonicalize_filename(output_arg, NULL);
    g_autofree char *plan_abs = g_canonicalize_filename(plan->path, NULL);
    g_autofree char *airlock = self_path();
    g_autofree char *data = NULL, *base = NULL;
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(VmmBatchSlurmManifest) m = NULL;
    g_autoptr(VmmBatchOutput) out = NULL;
    VmmBatchSlurmTaskState *states;
    guint nodes = opts->nodes > 0 ? (guint)opts->nodes : 1;
    guint per_node = opts->per_node > 0 ? (guint)opts->per_node : plan->parallel;
    VmmBatchSlurmSubmit sub = {
        .partition = opts->partition, .sbatch_args = opts->sbatch_args, .airlock = airlock};
    Wait w = {0};
    gsize len;
    int rc;

    (void)cli;
    if (opts->nodes != -1 && (opts->nodes < 1 || opts->nodes > 10000))
        return vmm_cli_usage(cmd, "--nodes expects 1 to 10000, got %d", opts->nodes);
    if (opts->per_node != -1 && (opts->per_node < 1 || opts->per_node > VMM_BATCH_MAX_PARALLEL))
        return vmm_cli_usage(cmd, "--per-node expects 1 to %d, got %d", VMM_BATCH_MAX_PARALLEL,
                             opts->per_node);
    /* PREFIX-sT-K must stay a sandbox name on the nodes. */
    if (strlen(plan->prefix) + strlen("-s") + 5 + 3 > VMM_NAME_MAX)
        return vmm_cli_usage(cmd, "prefix '%s' is too long for --slurm (at most %d characters)",
                             plan->prefix, VMM_NAME_MAX - 10);
    if (!vmm_batch_slurm_check_shared(plan, output, opts->partition, &err))
        return vmm_cli_fail(err);
    /* Checked as a local run checks it, before anything is submitted. */
    if (!(out = vmm_batch_output_open(output, &err)))
        return vmm_cli_fail(err);
    if (opts->retry_failed) {
        g_autofree char *prev = g_build_filename(output, "results.json", NULL);
        if (!g_file_get_contents(prev, &base, NULL, NULL))
            return vmm_cli_usage(cmd, "--retry-failed: '%s' has no results.json to retry from",
                                 output);
        if (!(names = vmm_batch_slurm_retry_names(base, &err)))
            return vmm_cli_fail(err);
        if (names->len == 0) {
            printf("nothing to retry: every job of %s ran (its results.json has no error or "
                   "not-run job)\n",
                   prev);
            return AIRLOCK_EXIT_OK;
        }
    } else {
        names = g_ptr_array_new();
        for (guint i = 0; i < plan->jobs->len; i++)
            g_ptr_array_add(names, ((VmmBatchJob *)g_ptr_array_index(plan->jobs, i))->name);
    }
    m = vmm_batch_slurm_manifest_new(vmm_batch_slurm_assign(names, nodes));
    if (!g_file_get_contents(plan->path, &data, &len, &err))
        return vmm_cli_fail(err);
    m->plan = g_steal_pointer(&plan_abs);
    m->plan_sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
    m->prefix = g_strdup(plan->prefix);
    m->per_node = MIN(per_node, (names->len + m->tasks->len - 1) / m->tasks->len);
    m->evidence = plan->evidence;
    m->stagger = opts->stagger;
    m->retry = opts->retry_failed;
    if (!vmm_batch_slurm_submit(output, m, base, &sub, &err))
        return vmm_cli_fail(err);
    if (!opts->quiet || opts->detach)
        fprintf(opts->detach ? stdout : stderr,
                "batch: %u jobs as Slurm array %s: %u tasks, a pool of %u on each\n", names->len,
                m->job_id, m->tasks->len, m->per_node);
    if (opts->detach) {
        printf("follow it: airlock batch status %s\nwhen it ends: airlock batch collect %s\n",
               output, output);
        return AIRLOCK_EXIT_OK;
    }
    states = g_new0(VmmBatchSlurmTaskState, m->tasks->len);
    w.output = output;
    w.m = m;
    w.states = states;
    w.cancel_on_signal = TRUE;
    w.quiet = opts->quiet;
    if (!wait_tasks(&w)) {
        fprintf(stderr, "airlock: %s (airlock batch collect %s --wait, later)\n", w.error->message,
                output);
        g_clear_error(&w.error);
        states_free(states, m->tasks->len);
        return AIRLOCK_EXIT_FAILED;
    }
    rc = collect_and_report(output, plan, m, states);
    states_free(states, m->tasks->len);
    return rc;
}

/*
 * `batch status|collect DIR`: parses the arguments, reads DIR's manifest and
 * asks squeue about its tasks (*@states: one per task, caller frees with
 * states_free). Returns -1, or the exit status to return.
 */
static int
open_dir(GOptionContext *ctx, int *argc, char ***argv, VmmBatchSlurmManifest **m,
         VmmBatchSlurmTaskState **states)
{
    g_autoptr(GError) err = NULL;
    int rc;

    if (!vmm_cli_parse(ctx, argc, argv, &rc))
        return rc;
    if (*argc != 2)
        return vmm_cli_usage((*argv)[0], "expects the batch's output DIR");
    if (!(*m = vmm_batch_slurm_load((*argv)[1], &err)))
        return vmm_cli_fail(err);
    if (!(*m)->job_id) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_FAILED, "'%s' was never submitted", (*argv)[1]);
        return vmm_cli_fail(err);
    }
    *states = g_new0(VmmBatchSlurmTaskState, (*m)->tasks->len);
    if (!vmm_batch_slurm_poll(*m, *states, &err))
        return vmm_cli_fail(err);
    return -1;
}

int
vmm_cmd_batch_status(VmmCli *cli, int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Output JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("DIR - where the tasks of a Slurm batch are (batch run --slurm)");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmManifest) m = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    VmmBatchSlurmTaskState *states = NULL;
    int rc;

    (void)cli;
    g_option_context_add_main_entries(ctx, entries, NULL);
    if ((rc = open_dir(ctx, &argc, &argv, &m, &states)) >= 0) {
        states_free(states, m ? m->tasks->len : 0);
        return rc;
    }
    json_builder_begin_object(b);
    vmm_json_add_str(b, "job_id", m->job_id);
    json_builder_set_member_name(b, "cancelled");
    json_builder_add_boolean_value(b, m->cancelled);
    json_builder_set_member_name(b, "tasks");
    json_builder_begin_array(b);
    if (!json)
        printf("Slurm array %s%s\n%-5s %-12s %-16s %-5s %s\n", m->job_id,
               m->cancelled ? " (cancelled)" : "", "TASK", "STATE", "NODE", "JOBS", "REPORT");
    for (guint t = 0; t < m->tasks->len; t++) {
        const VmmBatchSlurmTaskState *st = &states[t];
        const char *state = st->state ? st->state : "ENDED";
        gboolean reported = vmm_batch_slurm_task_reported(argv[1], t);
        guint n = g_strv_length(g_ptr_array_index(m->tasks, t));
        json_builder_begin_object(b);
        vmm_json_add_int(b, "task", t);
        vmm_json_add_str(b, "state", state);
        vmm_json_add_str(b, "node", st->node);
        vmm_json_add_int(b, "jobs", n);
        json_builder_set_member_name(b, "reported");
        json_builder_add_boolean_value(b, reported);
        json_builder_end_object(b);
        if (!json)
            printf("%-5u %-12s %-16s %-5u %s\n", t, state, st->node ? st->node : "-", n,
                   reported ? "yes" : "no");
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    if (json)
        vmm_cli_print_json(json_builder_get_root(b));
    states_free(states, m->tasks->len);
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_batch_collect(VmmCli *cli, int argc, char **argv)
{
    gboolean wait = FALSE;
    GOptionEntry entries[] = {{"wait", 'w', 0, G_OPTION_ARG_NONE, &wait,
                               "Wait for the array's tasks to end (Ctrl-C stops waiting)", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("DIR - merge a Slurm batch's reports into DIR/results.json");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmManifest) m = NULL;
    g_autoptr(VmmBatchPlan) plan = NULL;
    VmmBatchSlurmTaskState *states = NULL;
    Wait w = {0};
    int rc;

    (void)cli;
    g_option_context_add_main_entries(ctx, entries, NULL);
    if ((rc = open_dir(ctx, &argc, &argv, &m, &states)) < 0 &&
        !(plan = vmm_batch_plan_load(m->plan, &err)))
        rc = vmm_cli_fail(err);
    if (rc >= 0) {
        states_free(states, m ? m->tasks->len : 0);
        return rc;
    }
    for (guint t = 0; t < m->tasks->len && !wait; t++)
        if (!vmm_batch_slurm_state_ended(states[t].state)) {
            fprintf(stderr,
                    "airlock: Slurm array %s still runs (task %u is %s): collect --wait waits "
                    "for it\n",
                    m->job_id, t, states[t].state);
            states_free(states, m->tasks->len);
            return AIRLOCK_EXIT_FAILED;
        }
    w.output = argv[1];
    w.m = m;
    w.states = states;
    if (wait && !wait_tasks(&w)) {
        if (w.error)
            fprintf(stderr, "airlock: %s\n", w.error->message);
        g_clear_error(&w.error);
        states_free(states, m->tasks->len);
        return w.signals ? BATCH_EXIT_INTERRUPTED : AIRLOCK_EXIT_FAILED;
    }
    rc = collect_and_report(argv[1], plan, m, states);
    states_free(states, m->tasks->len);
    return rc;
}
