/* batch.h: batch plans (GKeyFile), matrix expansion, placement (batch.c) and results,
 * reports (batch-report.c). Pure. */
#pragma once

#include <glib.h>

#define VMM_BATCH_DEFAULT_PREFIX "batch"
#define VMM_BATCH_DEFAULT_PARALLEL 2
#define VMM_BATCH_DEFAULT_TIMEOUT_S 600
#define VMM_BATCH_MAX_PARALLEL 64
#define VMM_BATCH_TAIL_BYTES 4096 /* output kept per stream for the reports */

/* One file copied into the guest before the job runs. */
typedef struct {
    char *local; /* absolute (relative ones are resolved against the plan's directory) */
    char *guest; /* absolute guest path */
} VmmBatchFile;

typedef struct {
    char *name;    /* ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$: used in paths and reports */
    char *command; /* run as /bin/sh -c COMMAND */
    guint timeout_s;
    GPtrArray *env;       /* "K=V" */
    GPtrArray *files;     /* VmmBatchFile* */
    GPtrArray *artifacts; /* absolute guest paths, copied out to DIR/artifacts/NAME/ */
    int expect;           /* expected exit code */
    char *matrix;         /* the [matrix NAME] it came from, or NULL */
} VmmBatchJob;

typedef struct {
    char *path;      /* the plan file, or NULL when parsed from memory */
    char *image;     /* or NULL with spec_file */
    char *spec_file; /* absolute, or NULL */
    guint parallel;
    char *prefix;               /* sandbox names are PREFIX-1 … PREFIX-N */
    guint timeout_s;            /* default per job */
    char *secrets_file;         /* absolute, or NULL */
    char **hosts;               /* libvirt URIs, or NULL: the default connection */
    gboolean evidence;          /* keep evidence archives when destroying the pool */
    guint64 max_artifact_bytes; /* cap per artifact; 0: the spec's max-copy-size, else 1 GiB */
    GPtrArray *jobs;            /* VmmBatchJob*, in plan order (matrix jobs expanded in place) */
} VmmBatchPlan;

void vmm_batch_job_free(VmmBatchJob *job);
void vmm_batch_plan_free(VmmBatchPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchJob, vmm_batch_job_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchPlan, vmm_batch_plan_free)

/*
 * Parses a plan: [batch] image|spec parallel prefix timeout secrets hosts
 * evidence max-artifact-size; [job NAME] command timeout env files artifacts expect; [matrix
 * NAME] the same keys plus param.X = a;b;c lists, one job per combination
 * named NAME-a-b with {X} replaced in command, env, files and artifacts.
 * Relative paths are resolved against @base_dir. INVALID errors name
 * @origin (the file name) and the group and key. Caller frees.
 */
VmmBatchPlan *vmm_batch_plan_parse(const char *data, gsize len, const char *origin,
                                   const char *base_dir, GError **error);

/* Reads and parses the plan file @path. Caller frees. */
VmmBatchPlan *vmm_batch_plan_load(const char *path, GError **error);

/*
 * Checks that every job's files= entry names a readable regular file here (not
 * a symbolic link); the error names the plan's line. Reads the file system.
 */
gboolean vmm_batch_plan_check_files(const VmmBatchPlan *plan, GError **error);

/* Checks a job name: ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$. */
gboolean vmm_batch_job_name_valid(const char *name);

/*
 * Replaces every {KEY} of @tmpl whose KEY is in @params (KEY -> value) with
 * the value; other braces are left alone (${HOME} in a shell command stays
 * unless a parameter is called HOME). Caller frees.
 */
char *vmm_batch_expand(const char *tmpl, GHashTable *params);

/* --- output tails ------------------------------------------------------------------------ */

/* The last bytes of a stream. */
typedef struct {
    GString *buf;
    gsize max;
    guint64 total; /* bytes seen */
} VmmBatchTail;

void vmm_batch_tail_init(VmmBatchTail *tail, gsize max);
void vmm_batch_tail_clear(VmmBatchTail *tail);
void vmm_batch_tail_append(VmmBatchTail *tail, const char *data, gsize len);

/*
 * The tail as text fit for XML 1.0 and JSON: valid UTF-8, control
 * characters other than tab and newline shown as U+FFFD, "[…N bytes cut]\n"
 * in front when bytes were dropped. Caller frees.
 */
char *vmm_batch_tail_text(const VmmBatchTail *tail);

/* --- results ----------------------------------------------------------------------------- */

typedef enum {
    VMM_BATCH_STATUS_NOT_RUN, /* interrupted, or no sandbox to run it in */
    VMM_BATCH_STATUS_PASSED,  /* exit code as expected */
    VMM_BATCH_STATUS_FAILED,  /* another exit code */
    VMM_BATCH_STATUS_TIMEOUT, /* killed at its timeout */
    VMM_BATCH_STATUS_ERROR,   /* airlock could not run it (sandbox broke twice, copy failed) */
    VMM_BATCH_STATUS_LAST
} VmmBatchStatus;

/* "not-run", "passed", "failed", "timeout", "error". */
const char *vmm_batch_status_to_string(VmmBatchStatus status);

typedef struct {
    char *guest; /* guest path */
    char *local; /* path under the output directory, relative to it */
    gboolean copied;
    char *error; /* why not copied, or NULL */
} VmmBatchArtifact;

typedef struct {
    const VmmBatchJob *job; /* borrowed from the plan */
    VmmBatchStatus status;
    int exit_code;      /* -1 when none */
    gdouble duration_s; /* the job itself: files in, command, artifacts out */
    gdouble started_s;  /* since the batch started */
    gboolean retried;   /* its sandbox broke and it ran again in a new one */
    char *sandbox;
    char *host;  /* URI */
    char *error; /* for ERROR / NOT_RUN / TIMEOUT, or NULL */
    VmmBatchTail out, err;
    GPtrArray *artifacts; /* VmmBatchArtifact* */
} VmmBatchResult;

VmmBatchResult *vmm_batch_result_new(const VmmBatchJob *job);
/* Forgets what a failed attempt produced (before a retry). */
void vmm_batch_result_reset(VmmBatchResult *result);
void vmm_batch_result_free(VmmBatchResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchResult, vmm_batch_result_free)

/* Whether @result met its job's expectation. */
gboolean vmm_batch_result_ok(const VmmBatchResult *result);

/* Counts over a batch's results. */
typedef struct {
    guint total, passed, failed, timeout, error, not_run, retried;
} VmmBatchSummary;

void vmm_batch_summarize(GPtrArray *results, VmmBatchSummary *summary);

/* How the pool went, for the reports. */
typedef struct {
    const char *started; /* ISO 8601 */
    gdouble duration_s;
    gboolean interrupted;
    guint creates, resets, replaced;
    gdouble create_s_total, reset_s_total;
    GPtrArray *slot_hosts; /* char* URI per slot (borrowed), or NULL */
} VmmBatchRunInfo;

/* results.json for @plan and @results (VmmBatchResult*, plan order). Caller frees. */
char *vmm_batch_report_json(const VmmBatchPlan *plan, GPtrArray *results,
                            const VmmBatchRunInfo *info);

/* junit.xml: one testsuite, one testcase per job, failures with the output tail. Caller frees. */
char *vmm_batch_report_junit(const VmmBatchPlan *plan, GPtrArray *results,
                             const VmmBatchRunInfo *info);

/* --- placement --------------------------------------------------------------------------- */

typedef struct {
    const char *uri;
    guint64 free_bytes; /* virNodeGetFreeMemory */
    guint running;      /* active domains */
} VmmBatchHost;

/*
 * Spreads @n_slots sandboxes of @guest_bytes over @hosts: each slot goes to
 * the host with the fewest domains (running + placed so far) among those
 * with room for one more guest, the most free memory breaking ties, then
 * the order given. Returns the host index per slot (caller frees), or NULL
 * with a HOST error when the hosts cannot hold them all.
 */
guint *vmm_batch_place(const VmmBatchHost *hosts, guint n_hosts, guint n_slots, guint64 guest_bytes,
                       GError **error);
