/* gc.h: TTL expiry and reconciliation of orphans. */
#pragma once

#include <glib.h>

#include "sandbox.h"

typedef void (*VmmGcReport)(const char *name, const char *action, const char *detail,
                            gpointer user_data);

/*
 * One pass: destroys sandboxes past their TTL (keeping evidence as destroy
 * does), rolls back operations whose process died (journal intents whose
 * lock is free), and removes orphans: sandbox directories without a domain,
 * airlock domains whose files are gone, airlock networks and filters without
 * a sandbox. A sandbox another airlock command holds is skipped. @report is
 * called for each thing done. Safe to run from cron while other commands run.
 */
gboolean vmm_gc_run(VmmContext *ctx, gboolean dry_run, VmmGcReport report, gpointer user_data,
                    GError **error);
