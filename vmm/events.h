/* events.h: the audit trail: hash-chained JSON lines, global and per sandbox. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* "prev" of the first record of a file. */
#define VMM_EVENTS_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Bytes of one string value in a record (valid UTF-8; longer ones are cut with a marker). */
#define VMM_EVENTS_FIELD_MAX 2048
/* Bytes of one record line; past it the details are dropped and "truncated" says so. */
#define VMM_EVENTS_RECORD_MAX 8192

/*
 * Appends one record to <state>/events.jsonl and, when @name is set and its
 * sandbox directory exists, to <state>/sandboxes/<name>/events.jsonl. A record
 * is one JSON object on one line: time (UTC, ms), event, sandbox, user, uid,
 * the members of @fields (may be NULL; never put a secret value in it;
 * reserved names are ignored; strings are bounded, see above) and
 * prev, the sha256 of the previous line of the same file, so any edited,
 * removed or reordered line breaks the chain. Appends are serialized with
 * flock; <file>.head keeps the hash of the last line so truncation shows too.
 */
gboolean vmm_events_append(const char *state_dir, const char *name, const char *event,
                           JsonObject *fields, GError **error);

/*
 * Checks the chain of @path. Returns TRUE when intact; otherwise FALSE with
 * an error naming the first bad line ("FILE:LINE: ..."). *@records (may be
 * NULL) gets the number of records read.
 */
gboolean vmm_events_verify(const char *path, guint *records, GError **error);

/*
 * The record of one event, everything but prev (events-record.c): base
 * members, then @fields (may be NULL) with strings cut to VMM_EVENTS_FIELD_MAX
 * bytes of valid UTF-8, nesting and member counts bounded; when the line would
 * still exceed VMM_EVENTS_RECORD_MAX the details are dropped and a "truncated"
 * member says so. Caller unrefs.
 */
JsonObject *vmm_events_record_new(const char *time, const char *event, const char *name,
                                  JsonObject *fields);
/* @rec as one line of JSON, without a newline; *@len gets its length. Caller frees. */
char *vmm_events_record_line(JsonObject *rec, gsize *len);

/* The global log's path. Caller frees. */
char *vmm_events_global_path(const char *state_dir);
/* A sandbox's log path. Caller frees. */
char *vmm_events_sandbox_path(const char *state_dir, const char *name);
