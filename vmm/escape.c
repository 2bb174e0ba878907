/* escape.c: untrusted bytes (from the guest) made safe for one terminal or log line. */
#include <config.h>

#include "escape.h"

#include <string.h>

/* Valid UTF-8 that is still not fit for a line: C1 controls, separators, bidi controls. */
static gboolean
unsafe_char(gunichar c)
{
    return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || (c >= 0x200e && c <= 0x200f) ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

char *
vmm_escape(const char *data, gssize len, gsize max)
{
    GString *out;
    gsize n, i = 0;

    if (!data)
        return g_strdup("");
    n = len < 0 ? strlen(data) : (gsize)len;
    max = MAX(max, 16);
    out = g_string_sized_new(MIN(n, max) + 8);
    while (i < n) {
        guchar b = (guchar)data[i];
        char piece[64];
        gsize plen, used = 1;

        if (b >= 0x20 && b < 0x7f && b != '\\') {
            piece[0] = (char)b;
            plen = 1;
        } else if (b == '\\' || b == '\n' || b == '\r' || b == '\t') {
            piece[0] = '\\';
            piece[1] = b == '\\' ? '\\' : b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
            plen = 2;
        } else if (b >= 0x80) {
            gsize left = MIN(n - i, 4);
            gunichar c = g_utf8_get_char_validated(data + i, (gssize)left);
            if (c != (gunichar)-1 && c != (gunichar)-2 && !unsafe_char(c)) {
                used = g_utf8_skip[b];
                memcpy(piece, data + i, used);
                plen = used;
            } else if (c != (gunichar)-1 && c != (gunichar)-2) {
                /* Valid but unsafe: every byte of it escaped. */
                used = g_utf8_skip[b];
                plen = 0;
                for (gsize k = 0; k < used; k++)
                    plen += g_snprintf(piece + plen, sizeof(piece) - plen, "\\x%02x",
                                       (guchar)data[i + k]);
            } else {
                plen = g_snprintf(piece, sizeof(piece), "\\x%02x", b);
            }
        } else {
            plen = g_snprintf(piece, sizeof(piece), "\\x%02x", b);
        }
        if (out->len + plen > max) {
            g_string_append(out, "…");
            break;
        }
        g_string_append_len(out, piece, plen);
        i += used;
    }
    return g_string_free(out, FALSE);
}

char *
vmm_escape_text(const char *data, gssize len)
{
    g_autofree char *valid = NULL;
    GString *out;
    gsize n;

    if (!data)
        return g_strdup("");
    n = len < 0 ? strlen(data) : (gsize)len;
    valid = g_utf8_make_valid(data, (gssize)n); /* a NUL or bad byte: U+FFFD */
    out = g_string_sized_new(strlen(valid));
    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (c == '\r' && p[1] == '\n')
            continue; /* CR LF, as a serial console ends its lines */
        if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f && !unsafe_char(c)))
            g_string_append_unichar(out, c);
        else
            g_string_append_c(out, '?');
    }
    return g_string_free(out, FALSE);
}
