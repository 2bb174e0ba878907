/* sandbox.h: orchestration: create / destroy / lookup / list. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "conn.h"
#include "lookup.h"
#include "metadata.h"
#include "secrets.h"
#include "spec.h"

/* Durations of create's stages in seconds, for bench and --json. */
typedef struct {
    gdouble overlay, seed, network, define, boot, cloud_init, finish, snapshot, total;
    gdouble restore, identity; /* warm create: the pooled guest's restore, its identity */
    gboolean warm;             /* it came from a pool (docs/architecture.md, "Warm create") */
    char pool[128];            /* warm: the pool's id */
    char cold_reason[256];     /* cold although a pool has this shape: why (else empty) */
    char identity_via[16];     /* warm: "airlock-guest" (IDENTITY frame) or "exec" */
} VmmCreateTimings;

typedef enum {
    VMM_CREATE_NO_SNAPSHOT = 1 << 0, /* skip capturing the clean state */
    VMM_CREATE_COLD = 1 << 1,        /* boot it even when a pool holds a guest of its shape */
} VmmCreateFlags;

/*
 * Creates sandbox @name from @spec and returns once it is ready (agent
 * answers and cloud-init is done; seed detached and deleted). @secrets may be
 * NULL; its values are only ever put in the seed. @timeout_s bounds the wait
 * for readiness. Unless VMM_CREATE_NO_SNAPSHOT, the ready state is then
 * captured as snapshot "clean" (memory and disk) for reset. On any failure
 * everything made so far is removed.
 */
gboolean vmm_sandbox_create(VmmContext *ctx, const char *name, const VmmSpec *spec,
                            const VmmSecrets *secrets, guint timeout_s, VmmCreateFlags flags,
                            VmmCreateTimings *timings, GError **error);

typedef enum {
    VMM_DESTROY_FORCE = 1 << 0,       /* nothing to remove is not an error */
    VMM_DESTROY_NO_EVIDENCE = 1 << 1, /* skip the evidence archive */
} VmmDestroyFlags;

/*
 * Stops and removes sandbox @name: domain (with snapshot metadata), network,
 * files. Unless VMM_DESTROY_NO_EVIDENCE, what the sandbox left behind is
 * archived first (see archive.h; *@archive_id, may be NULL, gets its id) and
 * nothing is removed when that fails. Idempotent over half-made sandboxes.
 * Nothing to remove is a NOT_FOUND error unless VMM_DESTROY_FORCE.
 */
gboolean vmm_sandbox_destroy(VmmContext *ctx, const char *name, VmmDestroyFlags flags,
                             char **archive_id, GError **error);

/*
 * With @name's lock held: removes its domain, network and files and its
 * journal intent, without evidence. For gc's rollbacks.
 */
gboolean vmm_sandbox_remove_locked(VmmContext *ctx, const char *name, gboolean *found,
                                   GError **error);
