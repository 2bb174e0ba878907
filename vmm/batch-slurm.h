/* batch-slurm.h: a batch as a Slurm job array. The pure parts (batch-slurm.c): which task
 * runs which job, the manifest the tasks read, squeue's lines, and the merge of the tasks'
 * reports into one; the parts that run Slurm and touch the shared directory
 * (batch-slurm-run.c). docs/batch.md describes the whole. */
#pragma once

#include <glib.h>

#include "batch.h"

/* Under the output directory DIR: the manifest, the task script, each task's log and output. */
#define VMM_BATCH_SLURM_DIR "slurm"

/*
 * What the submitting command and the array tasks agree on, kept in
 * DIR/slurm/manifest (a key file).
 */
typedef struct {
    char *plan;         /* absolute path of the plan on the shared directory */
    char *plan_sha256;  /* of the plan file's bytes: a task refuses a plan that differs */
    char *prefix;       /* task T's sandboxes are PREFIX-sT-1 … PREFIX-sT-K */
    guint per_node;     /* K: the pool of each task */
    gboolean evidence;  /* keep evidence archives */
    gboolean stagger;   /* --stagger-boots in each task */
    char *job_id;       /* Slurm's id of the array, NULL before sbatch answered */
    gint64 submitted;   /* unix time (s) */
    gboolean cancelled; /* the user stopped the array (Ctrl-C): unfinished jobs are not-run */
    gboolean retry;     /* a --retry-failed round: DIR/slurm/base.json holds the earlier report */
    GPtrArray *tasks;   /* GStrv per task: its job names, plan order */
} VmmBatchSlurmManifest;

void vmm_batch_slurm_manifest_free(VmmBatchSlurmManifest *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchSlurmManifest, vmm_batch_slurm_manifest_free)

/*
 * Splits @names (char*, plan order) over at most @n_tasks tasks: the k-th
 * name (0-based) goes to task k mod T, where T = MIN(@n_tasks, @names->len).
 * The share depends only on the order of the names and T, so a re-run or a
 * collect on another machine computes the same. Returns a GPtrArray of GStrv
 * (one per task; caller frees).
 */
GPtrArray *vmm_batch_slurm_assign(GPtrArray *names, guint n_tasks);

/* A new manifest with @tasks (taken, see vmm_batch_slurm_assign()). Caller frees. */
VmmBatchSlurmManifest *vmm_batch_slurm_manifest_new(GPtrArray *tasks);

/* The manifest as a key file. Caller frees. */
char *vmm_batch_slurm_manifest_format(const VmmBatchSlurmManifest *m);

/* Parses a manifest (INVALID errors name @origin). Caller frees. */
VmmBatchSlurmManifest *vmm_batch_slurm_manifest_parse(const char *data, gsize len,
                                                      const char *origin, GError **error);

/* The sandbox name prefix of task @task: PREFIX-sTASK. Caller frees. */
char *vmm_batch_slurm_task_prefix(const char *prefix, guint task);

/* --- squeue ------------------------------------------------------------------------------ */

/* The format vmm_batch_slurm_parse_squeue() reads: array index, state, node, reason. */
#define VMM_BATCH_SLURM_SQUEUE_FORMAT "%K|%T|%N|%r"

/* Where one array task is, as Slurm says. */
typedef struct {
    char *state;  /* PENDING, RUNNING, COMPLETED, CANCELLED…; NULL: Slurm no longer knows it */
    char *node;   /* or NULL */
    char *reason; /* or NULL */
} VmmBatchSlurmTaskState;

void vmm_batch_slurm_task_state_clear(VmmBatchSlurmTaskState *st);

/*
 * Fills @states (@n_tasks of them, cleared first) from squeue's output in
 * VMM_BATCH_SLURM_SQUEUE_FORMAT, one line per array task (squeue -r). A
 * task not listed gets state NULL. Lines that do not parse are skipped.
 */
void vmm_batch_slurm_parse_squeue(const char *text, VmmBatchSlurmTaskState *states, guint n_tasks);

/* Whether a task in @state will not run any more (NULL, Slurm forgot it, counts as ended). */
gboolean vmm_batch_slurm_state_ended(const char *state);

/* --- merge ------------------------------------------------------------------------------- */

/* What one array task left. */
typedef struct {
    const char *report;   /* its results.json, or NULL when it wrote none */
    const char *node;     /* where it ran, or NULL */
    const char *state;    /* Slurm's last word on it, or NULL */
    const char *log_tail; /* the last line of its log (why it failed), or NULL */
} VmmBatchSlurmPart;

/* The merged reports. */
typedef struct {
    char *json;  /* results.json */
    char *junit; /* junit.xml */
    VmmBatchSummary summary;
    guint tasks, creates, resets;
    gdouble duration_s;
    gboolean interrupted;
    GPtrArray *not_ok; /* char*: "STATUS NAME: why" per job that did not pass */
} VmmBatchSlurmReport;

void vmm_batch_slurm_report_free(VmmBatchSlurmReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchSlurmReport, vmm_batch_slurm_report_free)

/*
 * Merges what the tasks of @m left (@parts, one per task of @m) into one
 * results.json and junit.xml for @plan, shaped as a local run's: each job's
 * entry as its task wrote it (host: the node; started_s: since the
 * submission), in plan order. A job whose task left no entry for it (the
 * task died, its node went down, it was cancelled) is `error` with the
 * reason, or `not-run` when the user cancelled the array. With @base (the
 * report of an earlier round, for --retry-failed), jobs this round did not
 * run keep their earlier entries. @now is the unix time the batch is
 * considered over. Caller frees.
 */
VmmBatchSlurmReport *vmm_batch_slurm_merge(const VmmBatchPlan *plan, const VmmBatchSlurmManifest *m,
                                           const VmmBatchSlurmPart *parts, const char *base,
                                           gint64 now, GError **error);

/*
 * The names of the jobs of an earlier report @json that airlock could not
 * run (error, not-run): what --retry-failed runs again. Caller frees.
 */
GPtrArray *vmm_batch_slurm_retry_names(const char *json, GError **error);

/* --- Slurm and the shared directory (batch-slurm-run.c) ---------------------------------- */

/* The options of `batch run --slurm`. */
typedef struct {
    const char *partition; /* or NULL */
    char **sbatch_args;    /* extra arguments for sbatch, or NULL */
    const char *airlock;   /* the airlock binary each task runs (same path on every node) */
} VmmBatchSlurmSubmit;

/*
 * The plan's directory is what the nodes share: every file the plan names
 * (files, spec, secrets) must be inside it, and it and @output must be on a
 * filesystem the nodes of @partition mount (a local filesystem is fine only
 * when this host is the partition's only node). INVALID error saying what to
 * move where.
 */
gboolean vmm_batch_slurm_check_shared(const VmmBatchPlan *plan, const char *output,
                                      const char *partition, GError **error);

/*
 * Prepares DIR/slurm (a new one; an earlier run's is removed unless its array
 * still runs), writes the manifest, @base (the earlier report of a
 * --retry-failed round, or NULL) and the task script, and submits the array
 * with sbatch. Fills m->job_id and m->submitted. @output is absolute.
 */
gboolean vmm_batch_slurm_submit(const char *output, VmmBatchSlurmManifest *m, const char *base,
                                const VmmBatchSlurmSubmit *opts, GError **error);

/* Reads DIR/slurm/manifest. Caller frees. */
VmmBatchSlurmManifest *vmm_batch_slurm_load(const char *output, GError **error);

/* Rewrites DIR/slurm/manifest (after m->cancelled changed). */
gboolean vmm_batch_slurm_save(const char *output, const VmmBatchSlurmManifest *m, GError **error);

/* Asks squeue where each task is. @states: one per task of @m. */
gboolean vmm_batch_slurm_poll(const VmmBatchSlurmManifest *m, VmmBatchSlurmTaskState *states,
                              GError **error);

/* Cancels the whole array (scancel). */
gboolean vmm_batch_slurm_cancel(const VmmBatchSlurmManifest *m, GError **error);

/* Whether task @task has written its report. */
gboolean vmm_batch_slurm_task_reported(const char *output, guint task);

/*
 * Once every task has ended: moves each task's logs and artifacts to
 * DIR/logs and DIR/artifacts (where a local run puts them), merges the
 * reports (vmm_batch_slurm_merge) and writes DIR/results.json and
 * DIR/junit.xml. @states: the tasks' last states (or NULL). Caller frees.
 */
VmmBatchSlurmReport *vmm_batch_slurm_collect(const char *output, const VmmBatchPlan *plan,
                                             const VmmBatchSlurmManifest *m,
                                             const VmmBatchSlurmTaskState *states, GError **error);

/*
 * In an array task (`batch run PLAN --slurm-task DIR`): reads DIR's manifest
 * and $SLURM_ARRAY_TASK_ID, checks that @plan is the file that was
 * submitted, keeps only this task's jobs and sets its prefix, pool size and
 * evidence. *@task_output (caller frees) is where this task writes its
 * report; *@stagger as submitted.
 */
gboolean vmm_batch_slurm_task_setup(VmmBatchPlan *plan, const char *output, char **task_output,
                                    gboolean *stagger, GError **error);
