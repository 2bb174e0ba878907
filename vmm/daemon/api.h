/*
 * api.h: airlockd's REST surface as pure functions: the route table, error
 * codes and HTTP statuses, and the strict parsing of request bodies. No
 * sockets, no libvirt: tests/unit/test-daemon.c drives all of it.
 */
#pragma once

#include "agent.h"
#include "secrets.h"
#include "spec.h"
#include "ttl.h"

#include <glib.h>
#include <json-glib/json-glib.h>

/* Errors of the daemon itself (the operations' own are VMM_ERROR). */
#define VMM_API_ERROR (vmm_api_error_quark())
typedef enum {
    VMM_API_ERROR_UNAUTHORIZED, /* no or a bad token: 401 */
    VMM_API_ERROR_FORBIDDEN,    /* authenticated, but not in the airlock group: 403 */
    VMM_API_ERROR_QUOTA,        /* the user's quota would be exceeded: 403 */
    VMM_API_ERROR_TOO_LARGE,    /* request body over its bound: 413 */
    VMM_API_ERROR_NO_ROUTE,     /* no such path: 404 */
    VMM_API_ERROR_METHOD,       /* path exists, not with this method: 405 */
    VMM_API_ERROR_UNAVAILABLE,  /* draining (SIGTERM): 503 */
} VmmApiErrorCode;
GQuark vmm_api_error_quark(void);

/* The stable code of @error for an error body ("not-found", "quota", ...): both domains. */
const char *vmm_api_error_code(const GError *error);

/* The HTTP status for @error. */
guint vmm_api_error_status(const GError *error);

/* {"error":{"code":...,"message":...}}. Caller frees. */
JsonNode *vmm_api_error_body(const GError *error);

typedef enum {
    VMM_ROUTE_NONE,
    VMM_ROUTE_SANDBOXES,    /* GET list, POST create */
    VMM_ROUTE_SANDBOX,      /* GET inspect, DELETE destroy */
    VMM_ROUTE_RESET,        /* POST */
    VMM_ROUTE_PAUSE,        /* POST */
    VMM_ROUTE_RESUME,       /* POST */
    VMM_ROUTE_TTL,          /* POST {"ttl"} */
    VMM_ROUTE_SNAPSHOTS,    /* GET list, POST take */
    VMM_ROUTE_SNAPSHOT,     /* DELETE */
    VMM_ROUTE_STATS,        /* GET */
    VMM_ROUTE_EXEC,         /* POST: NDJSON stream */
    VMM_ROUTE_EXEC_WS,      /* GET with Upgrade: websocket, both ways */
    VMM_ROUTE_FILES,        /* GET, PUT ?path= */
    VMM_ROUTE_LOG,          /* GET console|dns */
    VMM_ROUTE_EVENTS,       /* GET: server-sent events */
    VMM_ROUTE_IMAGES,       /* GET */
    VMM_ROUTE_AUDIT_VERIFY, /* GET */
    VMM_ROUTE_WHOAMI,       /* GET */
    VMM_ROUTE_OPENAPI,      /* GET */
    VMM_ROUTE_LAST
} VmmRoute;

/* A matched request path: the route and its parameters (validated names). */
typedef struct {
    VmmRoute route;
    char *name; /* sandbox */
    char *tag;  /* snapshot tag, or log kind */
} VmmRouteMatch;

void vmm_route_match_clear(VmmRouteMatch *m);

/*
 * Matches @method and @path (no query) against the route table. NO_ROUTE for
 * an unknown path or a name that is not valid, METHOD when the path exists
 * without that method. The match is filled on success.
 */
gboolean vmm_route_match(const char *method, const char *path, VmmRouteMatch *m, GError **error);

/* "GET /v1/sandboxes/{name}" style templates of every route and method (NULL-terminated, static).
 */
const char *const *vmm_route_templates(void);

/*
 * A create request: {"name", "spec" (spec file text), "image", "cpus",
 * "memory_mib", "disk_gib", "network", "allow" [..], "ttl" ("2h" or seconds),
 * "env" {K:V}, "labels" {K:V}, "secrets" {K:V}, "timeout_s", "no_snapshot", "cold"}.
 * The spec text may not name host files (secrets file, cloud-init parts): the
 * daemon reads nothing on a client's behalf. Unknown members are INVALID.
 */
typedef struct {
    char *name;
    VmmSpec *spec;
    VmmSecrets *secrets; /* or NULL */
    guint timeout_s;
    gboolean no_snapshot;
    gboolean cold;
} VmmApiCreate;

void vmm_api_create_free(VmmApiCreate *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmApiCreate, vmm_api_create_free)

/*
 * Parses a create body (@tmp_dir: a private directory where the spec text is
 * put to be read as a file). Caller frees.
 */
VmmApiCreate *vmm_api_parse_create(const char *body, gsize len, const char *tmp_dir,
                                   GError **error);

/*
 * An exec request: {"argv": [..], "env": {K:V}, "workdir", "stdin" (text) or
 * "stdin_base64", "timeout_s", "sandbox_env" (bool, default true), "user",
 * "group"}; over the websocket also "tty" (bool), "cols", "rows".
 */
typedef struct {
    char **argv;
    char **env; /* "K=V" */
    char *workdir;
    GBytes *input;
    guint timeout_s;
    gboolean sandbox_env;
    char *user;  /* or NULL: root */
    char *group; /* or NULL: the user's */
    gboolean tty;
    guint cols, rows; /* 0: 80x24 */
} VmmApiExec;

void vmm_api_exec_free(VmmApiExec *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmApiExec, vmm_api_exec_free)

/* @websocket: the first message of a websocket exec (tty allowed, stdin streamed instead). */
VmmApiExec *vmm_api_parse_exec(const char *body, gsize len, gboolean websocket, GError **error);

/*
 * A control message of a websocket exec: {"eof":true}, {"signal":"INT"|N} or
 * {"resize":{"cols":C,"rows":R}}. Exactly one is set: *@eof, *@signal (1-64, one of
 * those a user may send), or *@cols and *@rows.
 */
gboolean vmm_api_parse_exec_control(const char *text, gsize len, gboolean *eof, int *signal,
                                    guint *cols, guint *rows, GError **error);

/* A snapshot request: {"tag"}. Caller frees the tag. */
char *vmm_api_parse_snapshot(const char *body, gsize len, GError **error);

/* A reset request: {} or {"tag"} (an empty body is {}); *@tag NULL for clean. */
gboolean vmm_api_parse_reset(const char *body, gsize len, char **tag, GError **error);

/* A TTL request: {"ttl": "2h" | "+2h" | "none"} (vmm_ttl_parse). */
gboolean vmm_api_parse_ttl(const char *body, gsize len, VmmTtlChange *change, gint64 *seconds,
                           GError **error);

/*
 * A guest path for the files route: absolute, at most 4096 bytes, valid
 * UTF-8 without control characters, no "." or ".." component, no "//".
 */
gboolean vmm_api_guest_path_valid(const char *path, GError **error);

/*
 * A label filter "K=V[,K=V...]" (or "K" for presence) against @labels ("K=V"
 * strings). NULL or empty @filter matches everything.
 */
gboolean vmm_api_labels_match(const char *filter, GPtrArray *labels);

/* One exec output frame: {"stream":"stdout"|"stderr","data":"<base64>"} + "\n". Caller frees. */
char *vmm_api_exec_frame(const char *stream, const char *data, gsize len, gsize *out_len);

/* The final exec frame: {"exit_code":N} or {"error":{...}} + "\n". Caller frees. */
char *vmm_api_exec_end_frame(int exit_code, const GError *error, gsize *out_len);

/* One server-sent event: "event: KIND\ndata: JSON\n\n" (@json is one line). Caller frees. */
char *vmm_api_sse(const char *kind, const char *json);

/* @node as compact JSON. Caller frees. */
char *vmm_api_to_data(JsonNode *node, gsize *len);
