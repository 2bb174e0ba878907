/*
 * daemon.h: airlockd's shared state. The server (server.c) authenticates and
 * routes on the main loop; every handler that touches libvirt or a guest runs
 * in a GTask thread (handlers.c) on the operations layer, with the caller the
 * request authenticated; streams (stream.c) carry exec output and events.
 */
#pragma once

#include "access.h"
#include "api.h"
#include "ops.h"

#include <libsoup/soup.h>

typedef struct _VmmEventsHub VmmEventsHub;

typedef struct {
    /* set up once by main.c */
    char *uri;
    char *state_dir;
    char *web_dir;
    char *tmp_dir; /* private (0700): staged specs and files */
    VmmAccel accel;
    VmmDaemonConfig *config;
    VmmAccessGroups groups;
    gsize max_body;          /* JSON bodies */
    gsize max_file;          /* files PUT/GET */
    gboolean tokens_on_unix; /* accept a bearer token on the unix socket too (tests) */
    SoupServer *server;
    GMainLoop *loop;

    /* the libvirt connection all threads share; reopened when it dies */
    GMutex conn_lock;
    virConnectPtr conn;

    /* creates in flight per user (VmmUsage*), for quotas */
    GMutex quota_lock;
    GHashTable *pending;

    /* sandbox name -> owner, learnt from lists (for filtering events) */
    GMutex owners_lock;
    GHashTable *owners;

    /* tokens file cache */
    GMutex tokens_lock;
    GPtrArray *tokens;
    gint64 tokens_mtime, tokens_ino, tokens_size;

    guint inflight; /* requests running in threads (main loop only) */
    guint open;     /* API responses not yet finished on their connection */
    gboolean draining;
    gboolean gc_running;   /* one gc at a time (main loop only) */
    gboolean pool_running; /* a pool fill runs (main.c): one at a time */
    gdouble pool_max_load; /* no fill above this load average */
    guint drain_idle;      /* 100 ms ticks with nothing in flight but responses still open */
    VmmEventsHub *hub;
} VmmDaemon;

/* One authenticated request. */
typedef struct {
    VmmDaemon *d;
    SoupServerMessage *msg; /* ref held */
    VmmRouteMatch match;
    GHashTable *query; /* copy, or NULL */
    GBytes *body;      /* request body, or NULL */
    VmmCaller *caller;
    VmmRole role;
    gboolean streaming; /* the response was started by a stream */
} VmmRequest;

void vmm_request_free(VmmRequest *r);

/* A query parameter, or NULL. */
const char *vmm_request_query(VmmRequest *r, const char *key);

/* server.c */
gboolean vmm_daemon_serve(VmmDaemon *d, const char *socket_path, const char *socket_group,
                          const char *listen, GError **error);
/* Sends @node (taken) with @status; main loop only. */
void vmm_daemon_reply_json(SoupServerMessage *msg, guint status, JsonNode *node);
void vmm_daemon_reply_error(SoupServerMessage *msg, const GError *error);
/* The shared connection (a new reference; reopened when dead). */
virConnectPtr vmm_daemon_conn(VmmDaemon *d, GError **error);
/* Starts draining: no new requests, quit once the in-flight ones are done. */
void vmm_daemon_drain(VmmDaemon *d);

/* handlers.c: runs @r's route (takes @r). */
void vmm_daemon_dispatch(VmmRequest *r);
/* Records @owner of @name for event filtering. */
void vmm_daemon_note_owner(VmmDaemon *d, const char *name, const char *owner);
/* Whether @r's caller may see events of sandbox @name. */
gboolean vmm_daemon_sees_name(VmmDaemon *d, VmmRequest *r, const char *name);

/* stream.c */
VmmEventsHub *vmm_events_hub_new(VmmDaemon *d);
void vmm_events_hub_free(VmmEventsHub *hub);
/* Subscribes @r (taken) to the audit log and live events as server-sent events. */
void vmm_events_hub_subscribe(VmmEventsHub *hub, VmmRequest *r);
/* Ends every subscription (drain). */
void vmm_events_hub_close_all(VmmEventsHub *hub);
/* A create's stage as a live event ("progress", "STAGE (N s)") for its creator and admins. */
void vmm_events_hub_progress(VmmEventsHub *hub, const char *name, uid_t uid, const char *stage,
                             gdouble elapsed_s);
/* The sandbox of @r's route when its caller may see it (NOT_FOUND otherwise, as for a
 * sandbox that does not exist); its owner is noted for the events filter. */
VmmSandboxView *vmm_daemon_visible(VmmRequest *r, VmmOps *ops, GError **error);
/* Whether @r's sandbox is visible and running: the checks before an exec stream starts. */
gboolean vmm_daemon_exec_ready(VmmRequest *r, VmmOps *ops, GError **error);
/* What an exec request asks (argv, env, workdir, input, timeout, user) into @spec. */
void vmm_daemon_exec_spec(const VmmApiExec *e, VmmAgentExec *spec);
/* Runs an exec request as an NDJSON stream (takes @r). */
void vmm_daemon_exec_stream(VmmRequest *r);
/* Whether @r asks for a websocket (Connection: upgrade, Upgrade: websocket). */
gboolean vmm_daemon_is_websocket(VmmRequest *r);
/* Upgrades @r to a websocket and runs the exec it then asks for (takes @r). ws-exec.c */
void vmm_daemon_exec_ws(VmmRequest *r);
/* @r's connection was taken over (websocket): it no longer counts as an open response. */
void vmm_daemon_request_stolen(VmmRequest *r);
