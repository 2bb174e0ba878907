/*
 * ops.h: the operations layer. Every front end (the CLI, batch, a daemon)
 * calls these: a typed request and the caller's identity in, the checks, the
 * action and exactly one audit record out. Nothing above this layer talks to
 * libvirt or writes the audit trail for these operations.
 *
 * The audit vocabulary (docs/security.md): one record per operation, named by
 * it (create, destroy, reset, snapshot, snapshot-delete, pause, resume, ttl, exec,
 * cp), whatever
 * the front end, with "result" ("ok" or "failed"), on failure "error" (the
 * message) and "code" (vmm_error_code_to_string), "via" (the front end) and
 * the operation's own fields. The record's user and uid are the caller's.
 */
#pragma once

#include "agent.h"
#include "gc.h"
#include "pause.h"
#include "ttl.h"
#include "sandbox.h"
#include "pool.h"
#include "secrets.h"
#include "snapshot.h"
#include "spec.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

/* Who asks: an authenticated identity (uid, from SO_PEERCRED or getuid), not a login name. */
typedef struct {
    uid_t uid;
    char *user; /* the uid's name, or the number when it has none */
    char *via;  /* "cli", "batch", "daemon", "test" */
} VmmCaller;

/* The caller with @uid, through front end @via. Caller frees. */
VmmCaller *vmm_caller_new(uid_t uid, const char *via);
void vmm_caller_free(VmmCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmCaller, vmm_caller_free)

typedef struct _VmmOpsBackend VmmOpsBackend;

/*
 * What every operation runs with: the library context and who asked. Front
 * ends get one from vmm_ops_open; a test or batch may fill one in itself
 * (ctx and caller; the owned_ members stay NULL). With a @backend the
 * operations go to it instead of this host (vmm_ops_open_remote: airlockd,
 * which checks, acts and audits); ctx.conn is then NULL.
 */
typedef struct {
    VmmContext ctx;
    const VmmCaller *caller;
    gboolean owns_conn;
    char *owned_state_dir;
    VmmCaller *owned_caller;
    const VmmOpsBackend *backend; /* NULL: this host, directly */
    gpointer backend_data;        /* the backend's, freed by its close */
} VmmOps;

/*
 * Connects to libvirt at @uri (NULL: the default) for @state_dir, with the
 * accelerator chosen from @accel (NULL: detect; *@accel_reason, may be NULL,
 * says why), on behalf of @caller (taken). Caller frees.
 */
VmmOps *vmm_ops_open(const char *uri, const char *state_dir, const char *accel, VmmCaller *caller,
                     char **accel_reason, GError **error);
void vmm_ops_free(VmmOps *ops);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmOps, vmm_ops_free)

/* "connected to URI (libvirt X.Y.Z)", for doctor. Caller frees. */
char *vmm_ops_describe_connection(VmmOps *ops);

/*
 * Names of the running sandboxes with a network whose firewall tables are
 * missing (NULL-terminated, caller frees); *@fenced counts those that have them.
 */
char **vmm_ops_unfenced(VmmOps *ops, guint *fenced);

/* One sandbox's figures from libvirt (stats). */
typedef struct {
    char *name;        /* points into the same allocation */
    const char *state; /* static */
    guint64 cpu_ns, rss_kib, block_wr_bytes, net_rx_bytes, net_tx_bytes;
} VmmStats;

/* Figures of @name, or of every airlock domain when NULL (VmmStats, g_free'd). */
GPtrArray *vmm_ops_stats(VmmOps *ops, const char *name, GError **error);
JsonNode *vmm_stats_to_json(const VmmStats *s);

/* A live event from libvirt about sandbox @name: kind "lifecycle", "io-error" or "agent". */
typedef void (*VmmLiveEventFunc)(const char *name, const char *kind, const char *detail,
                                 gpointer data);

/* Starts libvirt's event loop: call once, before vmm_ops_open, to follow events. */
gboolean vmm_ops_events_init(GError **error);

/*
 * Calls @fn for libvirt's live events until *@stop is set (TRUE) or the
 * connection is lost (CONNECT error).
 */
gboolean vmm_ops_follow(VmmOps *ops, VmmLiveEventFunc fn, gpointer data, volatile int *stop,
                        GError **error);

typedef struct {
    const char *name;
    const VmmSpec *spec;       /* validated here; its secrets_file is not read: see @secrets */
    const VmmSecrets *secrets; /* may be NULL; values go only into the seed */
    guint timeout_s;           /* readiness; 0: 600 under TCG, 180 under KVM */
    gboolean no_snapshot;
    gboolean cold; /* boot it even when a pool holds a guest of its shape */
} VmmCreateRequest;

/* Creates a sandbox and waits until it is ready. @t (may be NULL) gets the stage timings. */
gboolean vmm_ops_create(VmmOps *ops, const VmmCreateRequest *req, VmmCreateTimings *t,
                        GError **error);

/* Destroys @name (evidence unless VMM_DESTROY_NO_EVIDENCE); *@archive_id (may be NULL). */
gboolean vmm_ops_destroy(VmmOps *ops, const char *name, VmmDestroyFlags flags, char **archive_id,
                         GError **error);

/* Puts @name back to snapshot @tag (NULL: clean), running. @t may be NULL. */
gboolean vmm_ops_reset(VmmOps *ops, const char *name, const char *tag, VmmResetTimings *t,
                       GError **error);

/* Saves running @name to disk (qemu exits, RAM freed): pause.h. @t may be NULL. */
gboolean vmm_ops_pause(VmmOps *ops, const char *name, VmmPauseTimings *t, GError **error);

/* Brings paused @name back as it was, running. @t may be NULL. */
gboolean vmm_ops_resume(VmmOps *ops, const char *name, VmmResetTimings *t, GError **error);

/* Changes @name's TTL (vmm_ttl_parse's @change and @seconds); *@ttl_s (may be NULL): the new. */
gboolean vmm_ops_ttl(VmmOps *ops, const char *name, VmmTtlChange change, gint64 seconds,
                     gint64 *ttl_s, GError **error);

/* Captures @name as @tag, or deletes @tag when @delete. */
gboolean vmm_ops_snapshot(VmmOps *ops, const char *name, const char *tag, gboolean remove,
                          GError **error);

/*
 * `gc`: rolls back what a dead process left half done (journal), destroys sandboxes
 * whose TTL passed (evidence kept), removes orphans and re-fences a sandbox whose
 * firewall tables are gone. Each action is one "gc" audit record (target, action,
 * detail) and goes to @report (may be NULL) too. Safe beside running commands: a
 * sandbox another process holds is skipped. Root's, on this host: not remote.
 */
gboolean vmm_ops_gc(VmmOps *ops, gboolean dry_run, VmmGcReport report, gpointer data,
                    GError **error);

/* @name's snapshots, oldest first (VmmSnapshotInfo). NOT_FOUND when no such sandbox. */
GPtrArray *vmm_ops_snapshots(VmmOps *ops, const char *name, GError **error);

/* One sandbox as the front ends show it. */
typedef struct {
    VmmMetadata *md;
    char *state;              /* "running", "stopped", ... */
    char *dir;                /* its directory in the state directory */
    char *console;            /* path of console.log */
    JsonObject *net_status;   /* allow, drops, dns_log as airlockd reported them; NULL: read here */
    const char *exec_channel; /* inspect of a running sandbox: vmm_agent_channel's, else NULL */
} VmmSandboxView;

void vmm_sandbox_view_free(VmmSandboxView *view);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSandboxView, vmm_sandbox_view_free)

/* Every sandbox of the state directory (VmmSandboxView), sorted by name. */
GPtrArray *vmm_ops_list(VmmOps *ops, GError **error);

/* One sandbox. NOT_FOUND with a hint when there is none. */
VmmSandboxView *vmm_ops_inspect(VmmOps *ops, const char *name, GError **error);

/*
 * Runs @spec in @name's guest (which must be running) through the agent;
 * *@exit_code gets the command's status. Audited with argv[0] and the status,
 * never the arguments or the environment (they may hold secrets).
 */
gboolean vmm_ops_exec(VmmOps *ops, const char *name, const VmmAgentExec *spec, int *exit_code,
                      GError **error);

/* Copies between @host_path and @guest_path in @name's running guest; @into_guest: which way. */
gboolean vmm_ops_cp(VmmOps *ops, const char *name, gboolean into_guest, const char *host_path,
                    const char *guest_path, const VmmAgentCopyOpts *opts, GError **error);

/* The JSON form of a view (inspect --json, list --json, the daemon). Caller frees. */
JsonNode *vmm_sandbox_view_to_json(const VmmSandboxView *view, gboolean with_network);

/*
 * A view back from its JSON form (airlockd's answers): INVALID when a member
 * is missing or of the wrong type. The network status is kept as given.
 * Caller frees.
 */
VmmSandboxView *vmm_sandbox_view_from_json(JsonNode *node, GError **error);

/* The JSON form of a snapshot (snapshots --json). Caller frees. */
JsonNode *vmm_snapshot_info_to_json(const VmmSnapshotInfo *info);
VmmSnapshotInfo *vmm_snapshot_info_from_json(JsonNode *node, GError **error);

/* Stats back from vmm_stats_to_json's form (one allocation, g_free). */
VmmStats *vmm_stats_from_json(JsonNode *node, GError **error);

/* The JSON form of create's and reset's stage timings. Caller frees. */
JsonNode *vmm_create_timings_to_json(const VmmCreateTimings *t);
/*
 * Pools of pre-booted guests (pool.h), root's on this host: set a shape's
 * size ("pool-set" record), list them, fill them ("pool-fill" record per
 * slot booted). With a remote backend: HOST error.
 */
VmmPool *vmm_ops_pool_set(VmmOps *ops, const VmmSpec *spec, guint size, GError **error);
GPtrArray *vmm_ops_pool_list(VmmOps *ops, GError **error);
gboolean vmm_ops_pool_fill(VmmOps *ops, const char *id, guint max, VmmPoolFillFunc fn,
                           gpointer data, guint *booted, GError **error);
JsonNode *vmm_pool_to_json(const VmmPool *pool);

/* "create": "warm"|"cold", "pool" (warm: its id) and "cold_reason" set on @o, and back. */
void vmm_create_source_to_json(const VmmCreateTimings *t, JsonObject *o);
void vmm_create_source_from_json(JsonObject *o, VmmCreateTimings *t);
JsonNode *vmm_reset_timings_to_json(const VmmResetTimings *t);
JsonNode *vmm_pause_timings_to_json(const VmmPauseTimings *t);
void vmm_pause_timings_from_json(JsonNode *node, VmmPauseTimings *t);
/* Fills @t from the forms above (members missing: 0; fixup_via is not carried). */
void vmm_create_timings_from_json(JsonNode *node, VmmCreateTimings *t);
void vmm_reset_timings_from_json(JsonNode *node, VmmResetTimings *t);

/*
 * Where the operations go instead of this host (like VmmHost and
 * VmmBatchExecutor): each member does what the vmm_ops_* of its name does,
 * with the same errors; the checks and the audit record are the other
 * side's. @ops->backend_data is the backend's state.
 */
struct _VmmOpsBackend {
    const char *name; /* "airlockd" */
    gboolean (*create)(VmmOps *ops, const VmmCreateRequest *req, VmmCreateTimings *t,
                       GError **error);
    gboolean (*destroy)(VmmOps *ops, const char *name, VmmDestroyFlags flags, char **archive_id,
                        GError **error);
    gboolean (*reset)(VmmOps *ops, const char *name, const char *tag, VmmResetTimings *t,
                      GError **error);
    gboolean (*snapshot)(VmmOps *ops, const char *name, const char *tag, gboolean remove,
                         GError **error);
    GPtrArray *(*snapshots)(VmmOps *ops, const char *name, GError **error);
    gboolean (*pause)(VmmOps *ops, const char *name, VmmPauseTimings *t, GError **error);
    gboolean (*resume)(VmmOps *ops, const char *name, VmmResetTimings *t, GError **error);
    gboolean (*ttl)(VmmOps *ops, const char *name, VmmTtlChange change, gint64 seconds,
                    gint64 *ttl_s, GError **error);
    GPtrArray *(*list)(VmmOps *ops, GError **error);
    VmmSandboxView *(*inspect)(VmmOps *ops, const char *name, GError **error);
    gboolean (*exec)(VmmOps *ops, const char *name, const VmmAgentExec *spec, int *exit_code,
                     GError **error);
    gboolean (*cp)(VmmOps *ops, const char *name, gboolean into_guest, const char *host_path,
                   const char *guest_path, const VmmAgentCopyOpts *opts, GError **error);
    GPtrArray *(*stats)(VmmOps *ops, const char *name, GError **error);
    char *(*describe)(VmmOps *ops); /* vmm_ops_describe_connection */
    void (*close)(gpointer backend_data);
};

/*
 * The operations through airlockd on its unix socket @socket_path, for
 * @caller (taken; airlockd identifies the caller itself, by SO_PEERCRED).
 * CONNECT error when nothing answers GET /v1/whoami there. Caller frees.
 */
VmmOps *vmm_ops_open_remote(const char *socket_path, VmmCaller *caller, GError **error);
