/* slurm.h: `airlock batch run --slurm`, called from batch.c once the plan is read. */
#pragma once

#include "batch.h"
#include "cli.h"

/* The --slurm options of `batch run`. */
typedef struct {
    const char *partition; /* or NULL */
    gint nodes;            /* array tasks; < 0: not given */
    gint per_node;         /* pool per task; < 0: the plan's parallel */
    char **sbatch_args;    /* or NULL */
    gboolean detach;
    gboolean retry_failed;
    gboolean stagger;
    gboolean quiet;
} VmmCliBatchSlurm;

/*
 * Submits @plan (options applied) as a Slurm array writing to @output, then
 * waits, merges and prints the summary (or, detached, says how to follow it).
 * Returns the exit status.
 */
int vmm_cli_batch_slurm_run(VmmCli *cli, VmmBatchPlan *plan, const char *output,
                            const VmmCliBatchSlurm *opts, const char *cmd);
