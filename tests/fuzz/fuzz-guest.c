/* fuzz-guest: whatever a hostile guest writes on its airlock-guest port, the host's frame
 * parser and every payload parser stay within their bounds, and every refusal is one safe
 * line (no control byte: it ends up on a terminal). */
#include <config.h>

#include "escape.h"
#include "guest-proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const char *msg)
{
    if (!msg)
        abort();
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
}

static void
check_error(const GError *err)
{
    if (!err)
        abort();
    check_line(err->message);
}

/* Every reader the host has for a frame, whatever its type says. */
static void
parse_all(const VmmGuestFrame *f)
{
    static const guint8 nonce[AG_NONCE_LEN];
    {
        g_autoptr(GError) e = NULL;
        g_autofree char *name = NULL;
        guint version = 0;
        if (vmm_guest_hello_check(f, nonce, &version, &name, &e)) {
            if (version < AG_VERSION_MIN || version > AG_VERSION_MAX)
                abort();
            check_line(name);
        } else {
            check_error(e);
        }
    }
    {
        g_autoptr(GError) e = NULL;
        int status = -1;
        gboolean timed_out;
        if (vmm_guest_exit_parse(f, &status, &timed_out, &e)) {
            if (status < 0 || status > 255)
                abort();
        } else {
            check_error(e);
        }
    }
    {
        g_autoptr(GError) e = NULL;
        guint32 v;
        guint64 bytes;
        if (!vmm_guest_u32_parse(f, &v, &e))
            check_error(e);
        g_clear_error(&e);
        if (!vmm_guest_done_parse(f, &bytes, &v, &e))
            check_error(e);
    }
    {
        guint32 code = 0;
        g_autofree char *msg = vmm_guest_error_parse(f, &code);
        check_line(msg);
        if (code == 0 || code >= AG_E_LAST)
            abort();
    }
    {
        g_autoptr(GError) e = NULL;
        VmmGuestEntry entry;
        if (vmm_guest_entry_parse(f, &entry, &e)) {
            /* a name that passed can never leave the tree: no "", "." or ".." component */
            if (*entry.name) {
                g_auto(GStrv) parts = g_strsplit(entry.name, "/", -1);
                for (char **c = parts; *c; c++)
                    if (!**c || strcmp(*c, ".") == 0 || strcmp(*c, "..") == 0)
                        abort();
            }
            if (strlen(entry.name) > AG_PATH_MAX || (entry.mode & ~0777u) ||
                strlen(entry.target) > AG_PATH_MAX)
                abort();
            vmm_guest_entry_clear(&entry);
        } else {
            check_error(e);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gsize off = 0;

    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    /* The byte stream as the channel reads it: frame after frame until garbage or the end. */
    while (off < size) {
        g_autoptr(GError) err = NULL;
        VmmGuestFrame f;
        gssize n = vmm_guest_frame_parse(data + off, size - off, &f, &err);
        if (n < 0) {
            check_error(err);
            break;
        }
        if (n == 0)
            break;
        if ((gsize)n > size - off || f.len > AG_FRAME_MAX || f.data + f.len > data + size)
            abort();
        parse_all(&f);
        off += (gsize)n;
    }
    /* The same bytes as console or DNS text: one escaped line, or lines for a page. */
    {
        g_autofree char *line = vmm_escape((const char *)data, (gssize)size, 512);
        g_autofree char *text = vmm_escape_text((const char *)data, (gssize)size);
        check_line(line);
        if (!g_utf8_validate(text, -1, NULL))
            abort();
        for (const char *p = text; *p; p++)
            if (((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
                abort();
    }
    return 0;
}
