/* escape.h: untrusted bytes (from the guest) made safe for one terminal or log line (pure). */
#pragma once

#include <glib.h>

/* A sensible bound for guest text quoted in an error message. */
#define VMM_ESCAPE_LINE_MAX 512

/*
 * @data (@len bytes, or NUL-terminated when @len < 0; NULL is "") as one
 * printable line: printable ASCII and valid UTF-8 stay as they are; '\\'
 * becomes "\\\\", newline, CR and tab become "\\n", "\\r", "\\t"; every
 * other control byte (C0, DEL), NUL, invalid UTF-8 and the code points a
 * terminal acts on or a reader can be fooled by (C1 controls, U+2028/2029,
 * bidi overrides and isolates) become "\\xNN" per byte. The result holds at
 * most @max bytes of escaped text (at least 16 are used), followed by "…"
 * when something was cut. Never contains a control byte. Caller frees.
 */
char *vmm_escape(const char *data, gssize len, gsize max);

/*
 * @data (@len bytes, or NUL-terminated when @len < 0) as text of many lines
 * for a page or a JSON string: valid UTF-8 (bad bytes and NUL become U+FFFD),
 * newline and tab kept, the CR of a CR LF dropped, and every other control
 * (C0, DEL, C1) and the code points vmm_escape escapes (separators, bidi
 * controls) replaced by '?'. Caller frees.
 */
char *vmm_escape_text(const char *data, gssize len);
