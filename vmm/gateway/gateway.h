/*
 * gateway.h: the model gateway (docs/gateway.md). A guest calls model APIs on
 * its own bridge address with a per-sandbox token; the gateway checks the
 * token and the caller's address, swaps in the real provider key from a
 * root-only file, forwards to the configured upstream and records every call
 * in the sandbox's audit trail ("model-call") and evidence.
 *
 * Three layers: the configuration and the per-sandbox registry
 * (gateway-config.c), the pure protocol checks (gateway-proto.c: routes,
 * request bodies, usage in responses and SSE streams) and the proxy itself
 * (gateway.c, libsoup on the caller's main loop).
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "secrets.h"

/* The gateway's port on each sandbox's bridge address unless the configuration says. */
#define VMM_GATEWAY_DEFAULT_PORT 8471
/* The registry entry create writes into the sandbox's directory. */
#define VMM_GATEWAY_REGISTRY "gateway.json"
/* Full request/response bodies the gateway keeps, one JSON line per call. */
#define VMM_GATEWAY_EVIDENCE "model-calls.jsonl"
/* The audit record of one call. */
#define VMM_GATEWAY_EVENT "model-call"

typedef enum {
    VMM_GATEWAY_KIND_OPENAI,
    VMM_GATEWAY_KIND_ANTHROPIC,
    VMM_GATEWAY_KIND_LAST
} VmmGatewayKind;

/* Limits per sandbox; 0 is "no limit", models NULL is "any". */
typedef struct {
    guint64 max_calls;
    guint64 max_tokens; /* input + output tokens the responses reported */
    guint max_concurrent;
    char **models; /* NULL-terminated list of allowed model names, or NULL */
} VmmGatewayLimits;

void vmm_gateway_limits_clear(VmmGatewayLimits *l);

/* One upstream. The key is wiped when freed and never leaves this struct but as a header. */
typedef struct {
    char *name; /* path prefix in the guest's URL: /<name>/v1/... */
    VmmGatewayKind kind;
    char *upstream;   /* "https://api.openai.com" (http only to loopback) */
    char *env_prefix; /* "OPENAI": the guest gets OPENAI_BASE_URL and OPENAI_API_KEY */
    char *key;        /* the real key */
} VmmGatewayProvider;

typedef struct {
    guint port;
    guint64 max_body;     /* largest request body (bytes) */
    guint64 max_evidence; /* bytes of each body kept in the evidence */
    guint timeout_s;      /* upstream idle timeout: 504 past it */
    VmmGatewayLimits limits;
    GPtrArray *providers; /* VmmGatewayProvider* */
} VmmGatewayConfig;

void vmm_gateway_config_free(VmmGatewayConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmGatewayConfig, vmm_gateway_config_free)

/*
 * Parses the configuration text (GKeyFile: [gateway] port max-body timeout
 * evidence-max, [limits] max-calls max-tokens max-concurrent models, one
 * [provider NAME] per upstream with kind upstream key env-prefix). @path
 * names it in errors. INVALID errors never quote a key.
 */
VmmGatewayConfig *vmm_gateway_config_parse(const char *text, const char *path, GError **error);

/*
 * Reads @path: a regular file owned by this process's user and readable by
 * it alone (the keys are in it), then vmm_gateway_config_parse().
 */
VmmGatewayConfig *vmm_gateway_config_load(const char *path, GError **error);

/* <state>/gateway.conf. Caller frees. */
char *vmm_gateway_config_path(const char *state_dir);

/*
 * The guest environment for a sandbox whose bridge address is @host_ip:
 * "<PREFIX>_BASE_URL=http://HOST:PORT/<name>[/v1]" per provider (OpenAI's
 * SDKs expect /v1 in the base URL, Anthropic's do not). NULL-terminated,
 * caller frees. The token goes in "<PREFIX>_API_KEY" (vmm_gateway_key_names).
 */
char **vmm_gateway_guest_env(const VmmGatewayConfig *cfg, const char *host_ip);

/* "<PREFIX>_API_KEY" per provider, NULL-terminated. Caller frees. */
char **vmm_gateway_key_names(const VmmGatewayConfig *cfg);

/* A fresh per-sandbox token ("airlock-gw-" + 64 hex). Caller wipes and frees. */
char *vmm_gateway_token_new(void);

/* Whether @name is a plain model name: 1-200 of [A-Za-z0-9._:/@-]. */
gboolean vmm_gateway_model_valid(const char *name);

/* sha256 (hex) of @token, what the registry keeps. Caller frees. */
char *vmm_gateway_token_hash(const char *token);

/* What the registry says about one sandbox. */
typedef struct {
    char *name;
    char *host_ip;  /* the bridge address the gateway listens on */
    char *guest_ip; /* the only address calls are accepted from */
    char *token_sha256;
    VmmGatewayLimits limits; /* the spec's own; the configuration's apply on top */
} VmmGatewaySandbox;

void vmm_gateway_sandbox_free(VmmGatewaySandbox *sb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmGatewaySandbox, vmm_gateway_sandbox_free)

/* @sb as the registry's JSON text (no secret: the token's hash). Caller frees. */
char *vmm_gateway_sandbox_to_json(const VmmGatewaySandbox *sb);

/* Parses registry text (strict: bounded, names and addresses checked). Caller frees. */
VmmGatewaySandbox *vmm_gateway_sandbox_parse(const char *text, gsize len, GError **error);

/* Writes <state>/sandboxes/<name>/gateway.json (0600, atomically). */
gboolean vmm_gateway_register(const char *state_dir, const VmmGatewaySandbox *sb, GError **error);

/* The stricter of @cfg and @spec for each limit (models: those both allow). */
void vmm_gateway_limits_merge(const VmmGatewayLimits *cfg, const VmmGatewayLimits *spec,
                              VmmGatewayLimits *out);

/* ---- protocol (pure) ---- */

typedef struct {
    VmmGatewayKind kind;
    const char *method;
    const char *path; /* upstream path, also the guest's after /<provider> */
} VmmGatewayRoute;

/*
 * The route for @method and @path ("/<provider>/v1/..."): *@prov and *@route
 * are set (borrowed). NOT_FOUND for an unknown provider or path, INVALID
 * (405) for a known path with another method.
 */
gboolean vmm_gateway_route(const VmmGatewayConfig *cfg, const char *method, const char *path,
                           const VmmGatewayProvider **prov, const VmmGatewayRoute **route,
                           GError **error);

/*
 * Checks a request body of @len bytes: exactly one JSON object, "model" a
 * plain name (1-200 of [A-Za-z0-9._:/@-]), "stream" absent or a boolean.
 * *@model (caller frees) and *@stream are set. INVALID otherwise.
 */
gboolean vmm_gateway_check_request(const char *body, gsize len, char **model, gboolean *stream,
                                   GError **error);

/* Tokens a response reported; -1 while unknown. */
typedef struct {
    gint64 input_tokens;
    gint64 output_tokens;
} VmmGatewayUsage;

/*
 * Reads the usage of one JSON object (a whole response or one SSE event):
 * "usage", "message.usage" or "response.usage" with input_tokens/prompt_tokens
 * and output_tokens/completion_tokens. Counts only grow (Anthropic's
 * message_delta repeats the running total). Text not one object is ignored.
 */
void vmm_gateway_usage_scan(VmmGatewayUsage *u, const char *text, gsize len);

/*
 * An SSE stream read as it arrives: complete "data:" lines go to
 * vmm_gateway_usage_scan; a line longer than the bound is skipped whole.
 */
typedef struct {
    GString *line;
    gboolean skipping;
    VmmGatewayUsage usage;
} VmmGatewaySse;

void vmm_gateway_sse_init(VmmGatewaySse *s);
void vmm_gateway_sse_feed(VmmGatewaySse *s, const char *data, gsize len);
void vmm_gateway_sse_clear(VmmGatewaySse *s);

/* ---- the proxy ---- */

typedef struct VmmGateway VmmGateway;

/*
 * A gateway over @cfg (taken) for the sandboxes registered under @state_dir,
 * on the thread-default main context. Nothing listens until
 * vmm_gateway_rescan() or vmm_gateway_add().
 */
VmmGateway *vmm_gateway_new(const char *state_dir, VmmGatewayConfig *cfg);
void vmm_gateway_free(VmmGateway *gw);

/*
 * Starts serving @sb on @sb->host_ip at the configured port (0: any free
 * port; vmm_gateway_port() tells which). Replaces an earlier entry of the name.
 */
gboolean vmm_gateway_add(VmmGateway *gw, const VmmGatewaySandbox *sb, GError **error);

/* Stops serving sandbox @name (calls in flight are cancelled). */
void vmm_gateway_remove(VmmGateway *gw, const char *name);

/* Waits until the record of every call ended so far is written (they are written off the loop). */
void vmm_gateway_flush(VmmGateway *gw);

/* The port sandbox @name is served on, 0 when it is not. */
guint vmm_gateway_port(VmmGateway *gw, const char *name);

/*
 * Reads every <state>/sandboxes/NAME/gateway.json: serves new entries, stops
 * serving those whose entry is gone or changed. Returns how many are served.
 */
guint vmm_gateway_rescan(VmmGateway *gw);

/* ---- create's part (gateway-setup.c) ---- */

/* What create needs for a sandbox with [model-gateway]: never a provider key. */
typedef struct {
    VmmGatewayConfig *cfg; /* the port and the providers, every key wiped and freed */
    char **env;            /* "<PREFIX>_BASE_URL=...", once registered */
    VmmSecrets *secrets;   /* the user's secrets plus the token under each key name */
} VmmGatewaySetup;

/*
 * Reads the gateway's configuration under @state_dir for a create (NOT_FOUND
 * with what to do when there is none) and keeps only what a create needs: the
 * port and the providers' names. The keys are wiped before this returns.
 */
VmmGatewaySetup *vmm_gateway_setup_new(const char *state_dir, GError **error);

/*
 * Once the sandbox's addresses are known: a fresh token, the registry entry
 * (the token's hash, @limits) in the sandbox's directory, the guest's
 * environment, and the secrets the seed carries (@user's, which must not use
 * a key name of the gateway, plus the token).
 */
gboolean vmm_gateway_setup_register(VmmGatewaySetup *setup, const char *state_dir, const char *name,
                                    const char *host_ip, const char *guest_ip,
                                    const VmmGatewayLimits *limits, const VmmSecrets *user,
                                    GError **error);

void vmm_gateway_setup_free(VmmGatewaySetup *setup);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmGatewaySetup, vmm_gateway_setup_free)
