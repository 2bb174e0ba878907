/* events.h: the audit trail: JSON lines chained with HMAC-SHA256, global and per sandbox. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* "prev" of the first record of a file. */
#define VMM_EVENTS_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"
/*
 * "prev" of a record appended while the log's head was missing or did not name
 * its last record: it chains to nothing, so verify keeps reporting the gap.
 */
#define VMM_EVENTS_HEAD_LOST "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

/* Bytes of one string value in a record (valid UTF-8; longer ones are cut with a marker). */
#define VMM_EVENTS_FIELD_MAX 2048
/* Bytes of one record line; past it the details are dropped and "truncated" says so. */
#define VMM_EVENTS_RECORD_MAX 8192

/*
 * Appends one record to <state>/events.jsonl and, when @name is set and its
 * sandbox directory exists, to that sandbox's log (vmm_events_sandbox_path).
 * A record is one JSON object on one line: time (UTC, ms), event, sandbox,
 * user, uid, the members of @fields (may be NULL; never put a secret value in
 * it; reserved names are ignored; strings are bounded, see above) and prev,
 * the HMAC-SHA256 of the previous line under <state>/audit/key (32 random
 * bytes, 0600, created on first use). Appends are serialized with flock; the
 * head file in <state>/audit keeps the HMAC of the last line so removals at
 * the end show too.
 */
gboolean vmm_events_append(const char *state_dir, const char *name, const char *event,
                           JsonObject *fields, GError **error);

/* Who a record says acted: an authenticated caller, not necessarily this process. */
typedef struct {
    const char *user;
    gint64 uid;
} VmmEventsActor;

/* vmm_events_append with the record's user and uid from @actor (NULL: this process's). */
gboolean vmm_events_append_as(const char *state_dir, const char *name, const char *event,
                              const VmmEventsActor *actor, JsonObject *fields, GError **error);

/* What vmm_events_verify found in an intact log. */
typedef struct {
    guint records;     /* lines read */
    gboolean keyed;    /* checked against the audit key (FALSE: a log from before keys) */
    guint unkeyed;     /* records chained with plain sha256 (written before audit keys) */
    gboolean head_lag; /* the head names the record before the last: a writer died in between */
} VmmEventsVerified;

/*
 * Checks the chain of the global log (@name NULL) or of sandbox @name against
 * the key and the head. Returns TRUE when intact (@out, may be NULL, says
 * what was read); otherwise FALSE with an error naming the first bad line
 * ("FILE:LINE: ...") or the missing or inconsistent head or key.
 */
gboolean vmm_events_verify(const char *state_dir, const char *name, VmmEventsVerified *out,
                           GError **error);

/*
 * Removes sandbox @name's log and head (when a sandbox is removed; its evidence
 * archive keeps a copy). Missing files are no error.
 */
gboolean vmm_events_sandbox_remove(const char *state_dir, const char *name, GError **error);

/*
 * The record of one event, everything but prev (events-record.c): base
 * members, then @fields (may be NULL) with strings cut to VMM_EVENTS_FIELD_MAX
 * bytes of valid UTF-8, nesting and member counts bounded; when the line would
 * still exceed VMM_EVENTS_RECORD_MAX the details are dropped and a "truncated"
 * member says so. Caller unrefs.
 */
JsonObject *vmm_events_record_new(const char *time, const char *event, const char *name,
                                  JsonObject *fields);
/* vmm_events_record_new with user and uid from @actor (NULL: this process's). */
JsonObject *vmm_events_record_new_as(const char *time, const char *event, const char *name,
                                     const VmmEventsActor *actor, JsonObject *fields);
/* @rec as one line of JSON, without a newline; *@len gets its length. Caller frees. */
char *vmm_events_record_line(JsonObject *rec, gsize *len);

/* The global log's path. Caller frees. */
char *vmm_events_global_path(const char *state_dir);
/* A sandbox's log path (<state>/audit/sandboxes/<name>.jsonl). Caller frees. */
char *vmm_events_sandbox_path(const char *state_dir, const char *name);
