/* gateway-private.h: what gateway.c and gateway-record.c share about sandboxes and calls. */
#pragma once

#include "gateway.h"

#include <libsoup/soup.h>

/* A sandbox being served. Calls hold references: it outlives its removal until they end. */
typedef struct {
    int refs;
    VmmGateway *gw; /* NULL once removed */
    char *state_dir;
    VmmGatewaySandbox *sb;
    VmmGatewayLimits limits; /* effective: the configuration's and the spec's, the stricter */
    SoupServer *server;
    guint port;
    guint inflight;
    guint64 calls;  /* forwarded */
    guint64 tokens; /* input + output the responses reported */
    GList *live;    /* GwCall* not yet recorded */
} GwSandbox;

/* One request from a guest, from its headers to its one record. */
typedef struct {
    int refs;
    GwSandbox *sb;
    SoupServerMessage *msg;
    SoupMessage *up; /* to the upstream, once forwarded */
    GCancellable *cancel;
    GInputStream *in;
    const VmmGatewayProvider *pv; /* NULL until routed */
    const VmmGatewayRoute *route;
    const char *endpoint; /* the route's path, or the request's own until routed */
    char *model;
    gboolean stream;
    gboolean counted;  /* in sb->inflight */
    gboolean recorded; /* its record is written: nothing more to do */
    gboolean client_gone;
    gboolean msg_done;   /* the server message is finished: no more unpause */
    gboolean wait_write; /* a chunk is being written: read on when it is */
    guint status;
    char *error;
    const char *code;
    GChecksum *req_sum, *resp_sum;
    gsize req_bytes, resp_bytes;
    GString *req_kept, *resp_kept; /* evidence, capped */
    GString *body;                 /* a non-streamed response, for its usage */
    VmmGatewaySse sse;             /* usage (also of a non-streamed response) */
    gint64 start;
    gulong sig_finished, sig_chunk;
} GwCall;

/* Appends @len bytes at @p to @s while it stays under @max bytes; beyond, the rest is dropped. */
void vmm_gateway_keep(GString *s, const char *p, gsize len, guint64 max);

/* Writes records on a thread of its own, in the order they are given. */
typedef struct VmmGatewayRecorder VmmGatewayRecorder;

VmmGatewayRecorder *vmm_gateway_recorder_new(const char *state_dir);
/* Waits until every record given so far is written. */
void vmm_gateway_recorder_flush(VmmGatewayRecorder *r);
/* Writes what is queued, then frees. */
void vmm_gateway_recorder_free(VmmGatewayRecorder *r);

/*
 * Queues the call's audit record ("model-call" in the sandbox's hash-chained
 * events) and its evidence line (bodies, capped, keys redacted) for the
 * sandbox's model-calls.jsonl. Best effort: a call does not fail for it.
 */
void vmm_gateway_record(VmmGatewayRecorder *r, const VmmGatewayConfig *cfg, GwCall *c);
