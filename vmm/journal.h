/* journal.h: crash-safe intents of create/destroy in flight (<state>/journal/<name>.json). */
#pragma once

#include <glib.h>

/*
 * Records that operation @op ("create", "destroy") on @name has begun.
 * Written atomically before the first change to the host; removed by
 * vmm_journal_end once the operation finished either way. An intent left
 * behind means a process died mid-way: `airlock gc` rolls it back.
 */
gboolean vmm_journal_begin(const char *state_dir, const char *name, const char *op, GError **error);

/* Removes @name's intent. Missing is fine. */
void vmm_journal_end(const char *state_dir, const char *name);

/* Names with an intent, sorted. Caller frees with g_strfreev. */
char **vmm_journal_pending(const char *state_dir);

/* The op of @name's intent, or NULL. Caller frees. */
char *vmm_journal_op(const char *state_dir, const char *name);

/*
 * For tests: when $AIRLOCK_CRASH_AT equals @stage, the process kills itself
 * with SIGKILL right there, as a power cut would. Stages: create's overlay,
 * network, seed, define, boot, ready, snapshot; snapshot-save (inside a
 * snapshot), reset (inside a revert), destroy (inside a removal).
 */
void vmm_journal_crash_point(const char *stage);
