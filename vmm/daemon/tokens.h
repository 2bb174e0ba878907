/*
 * tokens.h: bearer tokens for airlockd's TCP listener. A token is
 * "airlock_<id>_<secret>"; only its sha256 is stored, in <state>/tokens.json
 * (root's, 0600, replaced atomically, never through a link), with the uid it
 * acts as, when it was made and when it expires. The CLI (`airlock token`)
 * writes the file, the daemon reads it on every TCP request (cached by stat).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

/* One stored token (never the secret). */
typedef struct {
    char *id;     /* 8 hex */
    char *sha256; /* hex of the whole token */
    gint64 uid;
    char *user;
    char *created; /* ISO 8601 UTC */
    char *expires; /* ISO 8601 UTC, or NULL */
    char *note;
} VmmToken;

void vmm_token_free(VmmToken *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmToken, vmm_token_free)

/* The tokens file's path. Caller frees. */
char *vmm_tokens_path(const char *state_dir);

/* Parses the tokens file's text (VmmToken array; an empty text is no token). */
GPtrArray *vmm_tokens_parse(const char *text, gsize len, GError **error);

/* Serializes @tokens for the file. Caller frees. */
char *vmm_tokens_format(GPtrArray *tokens, gsize *len);

/*
 * Finds the entry of @token among @tokens: the id, then the sha256 compared
 * in constant time, then the expiry against @now (unix seconds). Returns the
 * entry (borrowed) or NULL with UNAUTHORIZED (VMM_API_ERROR): unknown,
 * malformed, revoked or expired, said plainly but never echoing the token.
 */
const VmmToken *vmm_tokens_match(GPtrArray *tokens, const char *token, gint64 now, GError **error);

/* Reads the file (missing: no token). Caller frees. */
GPtrArray *vmm_tokens_load(const char *state_dir, GError **error);

/*
 * Makes a token for @uid/@user valid for @ttl_s seconds (0: no expiry), stores
 * its hash and returns the token (shown once; caller frees). *@id gets its id.
 */
char *vmm_tokens_create(const char *state_dir, uid_t uid, const char *user, gint64 ttl_s,
                        const char *note, char **id, GError **error);

/* Removes token @id; NOT_FOUND when there is none. */
gboolean vmm_tokens_revoke(const char *state_dir, const char *id, GError **error);

/* JSON of one entry for `token list --json` (no hash). Caller frees. */
JsonNode *vmm_token_to_json(const VmmToken *t);
