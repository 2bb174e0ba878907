/* keyfile-text.h: what GKeyFile does not do for airlock's key files (specs, batch plans). */
#pragma once

#include <glib.h>

/*
 * Line (1-based) of the last "@key =" in [@group] (GKeyFile keeps the last
 * one), or of the first [@group] header when @key is NULL; 0 if not found.
 */
guint vmm_keyfile_line(const char *text, const char *group, const char *key);

/*
 * Fails with "ORIGIN:LINE: ..." when a [group] header or a key within one
 * group appears twice (GKeyFile would silently merge or keep the last one).
 */
gboolean vmm_keyfile_check_unique(const char *text, const char *origin, GError **error);

/*
 * @text with inline comments cut from value lines: an unquoted '#' after a
 * space or tab starts a comment, as in sh ('…' and "…" quote, \ escapes).
 * Lines keep their numbers. Caller frees.
 */
char *vmm_keyfile_strip_comments(const char *text);
