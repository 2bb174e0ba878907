/* batch-run.h: the batch runner: a pool of sandboxes, one thread per slot, and the
 * executor that does the work on libvirt (batch-libvirt.c; a fake one in unit tests). */
#pragma once

#include "ops.h"

#include <glib.h>
#include <libvirt/libvirt.h>

#include "batch-output.h"
#include "batch.h"
#include "conn.h"
#include "secrets.h"
#include "spec.h"

/* One sandbox of the pool. */
typedef struct {
    guint index;   /* 0-based */
    char *name;    /* PREFIX-(index+1) */
    char *uri;     /* host it lives on */
    gpointer priv; /* the executor's */
} VmmBatchSlot;

/*
 * What the runner calls to do the work. Each slot's calls come from that
 * slot's thread; interrupt() comes from any thread, at any time.
 */
typedef struct {
    /* Makes the slot's sandbox, ready and clean. */
    gboolean (*create)(VmmBatchSlot *slot, gpointer data, GError **error);
    /* Puts the slot's sandbox back to clean. */
    gboolean (*reset)(VmmBatchSlot *slot, gpointer data, GError **error);
    /*
     * Runs @job: copies its files in, runs the command (output into
     * result->out / result->err), sets result->exit_code, copies artifacts
     * out. FALSE with a TIMEOUT error when the command was killed at its
     * timeout; any other error means the sandbox is broken.
     */
    gboolean (*run)(VmmBatchSlot *slot, const VmmBatchJob *job, VmmBatchResult *result,
                    gpointer data, GError **error);
    /* Removes the slot's sandbox (whatever state it is in; nothing there is fine). */
    gboolean (*destroy)(VmmBatchSlot *slot, gpointer data, GError **error);
    /* Makes whatever the slot is doing fail soon (Ctrl-C): e.g. kills its domain. */
    void (*interrupt)(VmmBatchSlot *slot, gpointer data);
    /* Frees slot->priv once the slot's thread has ended; may be NULL. */
    void (*slot_free)(VmmBatchSlot *slot, gpointer data);
} VmmBatchExecutor;

typedef struct _VmmBatchRunner VmmBatchRunner;

/* Called from a slot's thread when a job has its final result. */
typedef void (*VmmBatchJobDoneFunc)(const VmmBatchResult *result, gpointer user_data);

/*
 * A runner for @plan's jobs on @n_slots slots, slot i on @slot_uris[i]
 * (borrowed, must outlive the runner). Nothing starts before
 * vmm_batch_runner_start().
 */
VmmBatchRunner *vmm_batch_runner_new(const VmmBatchPlan *plan, guint n_slots,
                                     const char *const *slot_uris, const VmmBatchExecutor *executor,
                                     gpointer data);
void vmm_batch_runner_free(VmmBatchRunner *runner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchRunner, vmm_batch_runner_free)

void vmm_batch_runner_set_job_done(VmmBatchRunner *runner, VmmBatchJobDoneFunc func,
                                   gpointer user_data);

/*
 * With @stagger, slot i starts booting only when slot i-1's first boot has
 * ended, so the first slot runs jobs while the others boot (on a host with
 * few cores, concurrent boots only slow each other down). Before start().
 */
void vmm_batch_runner_set_stagger(VmmBatchRunner *runner, gboolean stagger);

/* Starts one thread per slot: each creates its sandbox, then takes jobs until none are left. */
void vmm_batch_runner_start(VmmBatchRunner *runner);

/*
 * Stops starting jobs and interrupts running ones and creates (their jobs
 * end NOT_RUN); every slot still destroys its sandbox. Any thread.
 */
void vmm_batch_runner_stop(VmmBatchRunner *runner);

/* TRUE once every slot thread has finished (sandboxes destroyed). */
gboolean vmm_batch_runner_done(VmmBatchRunner *runner);

/* Joins the slot threads. */
void vmm_batch_runner_join(VmmBatchRunner *runner);

typedef struct {
    guint total, done, failed, running, creating, slots_alive;
    gdouble elapsed_s;
    gdouble eta_s; /* < 0: unknown yet */
} VmmBatchProgress;

/* A consistent snapshot of where the batch is. */
void vmm_batch_runner_progress(VmmBatchRunner *runner, VmmBatchProgress *progress);

/* The results in plan order (owned by the runner). Fills @info's pool counters. */
GPtrArray *vmm_batch_runner_results(VmmBatchRunner *runner, VmmBatchRunInfo *info);

/* What went wrong on the side (sandboxes that could not be destroyed). Owned by the runner. */
GPtrArray *vmm_batch_runner_warnings(VmmBatchRunner *runner);

/* --- libvirt ----------------------------------------------------------------------------- */

/* What the libvirt executor needs; all borrowed. */
typedef struct {
    const char *state_dir;
    VmmAccel accel;
    const VmmSpec *spec;
    const VmmSecrets *secrets; /* or NULL */
    guint create_timeout_s;
    gboolean evidence;          /* keep evidence archives on destroy */
    const char *output_dir;     /* DIR: DIR/artifacts/JOB/, DIR/logs/JOB.stdout|.stderr */
    VmmBatchOutput *output;     /* DIR, opened */
    guint64 max_artifact_bytes; /* per artifact; 0: the default */
    const VmmCaller *caller;    /* who runs the batch: the operations' audit records name it */
} VmmBatchLibvirt;

/* The executor that runs jobs in real sandboxes; its data is a VmmBatchLibvirt*. */
extern const VmmBatchExecutor vmm_batch_libvirt_executor;

/*
 * No sandbox of the pool (PREFIX-1..N, slot i on @slot_uris[i]) may exist
 * yet: it would be someone else's, or a leftover. EXISTS error naming it.
 */
gboolean vmm_batch_libvirt_names_free(const char *prefix, guint parallel, char **slot_uris,
                                      GError **error);

/*
 * Asks each URI of @uris for its free memory and running domains. Fills
 * @hosts (caller frees the array; entries borrow @uris). CONNECT errors name
 * the URI.
 */
VmmBatchHost *vmm_batch_hosts_probe(const char *const *uris, GError **error);
