/* secrets.h: test-secret env files: load, validate, redact, wipe on free (pure). */
#pragma once

#include <glib.h>

/*
 * A set of KEY=VALUE test secrets. Values live only in this struct and are
 * overwritten with zeros by vmm_secrets_free(). Names may be shown anywhere;
 * values never (not in errors, logs, XML, metadata, events or --json).
 */
typedef struct _VmmSecrets VmmSecrets;

/* An empty set. */
VmmSecrets *vmm_secrets_new(void);

/*
 * Loads @path: lines "KEY=VALUE", '#' comments and blank lines allowed;
 * KEY matches ^[A-Za-z_][A-Za-z0-9_]{0,63}$; VALUE is everything after the
 * first '=' (no quoting rules; a NUL or a newline cannot occur). Refused
 * (INVALID) when the file is missing, not a regular file, a symlink,
 * group/world-accessible (the error carries the chmod that fixes it), owned by
 * another user, or has a malformed line (error says FILE:LINE, never the
 * value). Caller frees with vmm_secrets_free().
 */
VmmSecrets *vmm_secrets_load(const char *path, GError **error);

/* Adds or replaces one secret (used by tests). */
gboolean vmm_secrets_add(VmmSecrets *secrets, const char *key, const char *value, GError **error);

/* Number of secrets. */
guint vmm_secrets_count(const VmmSecrets *secrets);
/* Key at @i (borrowed). */
const char *vmm_secrets_key(const VmmSecrets *secrets, guint i);
/* Value at @i (borrowed; never log it). */
const char *vmm_secrets_value(const VmmSecrets *secrets, guint i);
/* Sorted NULL-terminated copy of the names. Caller frees with g_strfreev. */
char **vmm_secrets_names(const VmmSecrets *secrets);

/*
 * Replaces every occurrence of every secret value (length >= 4) in @text
 * with "***". Returns a new string; caller frees.
 */
char *vmm_secrets_redact(const VmmSecrets *secrets, const char *text);

/* Wipes every value's bytes, then frees. NULL is fine. */
void vmm_secrets_free(VmmSecrets *secrets);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSecrets, vmm_secrets_free)

/*
 * The deny list used when a spec gives no [secrets] deny=: regular expressions
 * for real credentials (AWS AKIA/ASIA keys, GitHub ghp_/github_pat_, Slack xox?-,
 * OpenAI-style sk-, Google AIza, GitLab glpat-, PEM private keys). Static.
 */
const char *const *vmm_secrets_default_deny(void);

/* Checks that @pattern compiles as a deny regex (GRegex, byte mode). */
gboolean vmm_secrets_deny_valid(const char *pattern, GError **error);

/*
 * Refuses (INVALID) the first secret whose value matches any of @deny (NULL:
 * the defaults; empty: nothing is denied). The error names the key and, for a
 * loaded file, FILE:LINE, never the value or the pattern's match.
 */
gboolean vmm_secrets_check_deny(const VmmSecrets *secrets, const char *const *deny, GError **error);

/*
 * Refuses (INVALID) when any secret value of 4 bytes or more occurs in @text
 * (a cloud-init part, say, named @what in the error with the line). The error
 * names the key, never the value.
 */
gboolean vmm_secrets_check_absent(const VmmSecrets *secrets, const char *text, const char *what,
                                  GError **error);

/* Checks an environment variable name ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (for --env too). */
gboolean vmm_secrets_valid_key(const char *key);
