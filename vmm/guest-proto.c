/* guest-proto.c: airlock-guest frames and payloads, host side, pure (guest-proto.h). */
#include <config.h>

#include "guest-proto.h"
#include "error.h"
#include "escape.h"

#include <string.h>

static gboolean
bad(GError **error, const char *what)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest sent a malformed %s frame", what);
    return FALSE;
}

gssize
vmm_guest_frame_parse(const guint8 *buf, gsize len, VmmGuestFrame *f, GError **error)
{
    guint32 plen;

    if (len < AG_HEADER_LEN)
        return 0;
    plen = ag_get32(buf);
    if (plen > AG_FRAME_MAX || ag_get16(buf + 6) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest sent a frame header that is not one (length %u)", plen);
        return -1;
    }
    if (len - AG_HEADER_LEN < plen)
        return 0;
    f->len = plen;
    f->type = ag_get16(buf + 4);
    f->sid = ag_get32(buf + 8);
    f->data = buf + AG_HEADER_LEN;
    return AG_HEADER_LEN + (gssize)plen;
}

void
vmm_guest_frame_append(GByteArray *out, guint16 type, guint32 sid, const void *data, gsize len)
{
    guint8 h[AG_HEADER_LEN];

    g_return_if_fail(len <= AG_FRAME_MAX);
    ag_header(h, type, sid, (guint32)len);
    g_byte_array_append(out, h, sizeof(h));
    if (len)
        g_byte_array_append(out, data, (guint)len);
}

void
vmm_guest_hello_append(GByteArray *out, const guint8 *nonce)
{
    guint8 p[AG_MAGIC_LEN + 8 + AG_NONCE_LEN];

    memcpy(p, AG_MAGIC, AG_MAGIC_LEN);
    ag_put16(p + 8, AG_VERSION_MIN);
    ag_put16(p + 10, AG_VERSION_MAX);
    ag_put32(p + 12, 0);
    memcpy(p + 16, nonce, AG_NONCE_LEN);
    vmm_guest_frame_append(out, AG_HELLO, 0, p, sizeof(p));
}

gboolean
vmm_guest_hello_check(const VmmGuestFrame *f, const guint8 *nonce, guint *version, char **name,
                      GError **error)
{
    const gsize fixed = AG_MAGIC_LEN + 8 + AG_NONCE_LEN;
    guint v;

    if (f->type != AG_HELLO || f->len < fixed || f->len > fixed + AG_TEXT_MAX ||
        memcmp(f->data, AG_MAGIC, AG_MAGIC_LEN) != 0)
        return bad(error, "HELLO");
    if (memcmp(f->data + 16, nonce, AG_NONCE_LEN) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest answered an earlier connection's HELLO");
        return FALSE;
    }
    v = ag_get16(f->data + 8);
    if (v < AG_VERSION_MIN || v > AG_VERSION_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest chose protocol version %u (this host speaks %d-%d)", v,
                    AG_VERSION_MIN, AG_VERSION_MAX);
        return FALSE;
    }
    *version = v;
    if (name)
        *name = vmm_escape((const char *)f->data + fixed, (gssize)(f->len - fixed),
                           VMM_ESCAPE_LINE_MAX);
    return TRUE;
}

static gboolean
add_field(GByteArray *out, guint8 tag, const char *value, GError **error)
{
    gsize n = strlen(value);
    guint8 h[5] = {tag};

    if (n > AG_FRAME_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "an exec argument is too long");
        return FALSE;
    }
    ag_put32(h + 1, (guint32)n);
    g_byte_array_append(out, h, sizeof(h));
    g_byte_array_append(out, (const guint8 *)value, (guint)n);
    return TRUE;
}

gboolean
vmm_guest_exec_append(GByteArray *out, guint32 sid, const VmmGuestExecRequest *req, GError **error)
{
    g_autoptr(GByteArray) p = g_byte_array_new();
    guint8 fixed[12];
    gboolean ok = TRUE;

    if ((req->argv && g_strv_length((char **)req->argv) > AG_EXEC_ARGS_MAX) ||
        (req->env && g_strv_length((char **)req->env) > AG_EXEC_ENV_MAX)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "at most %u arguments and %u environment entries", AG_EXEC_ARGS_MAX,
                    AG_EXEC_ENV_MAX);
        return FALSE;
    }
    ag_put32(fixed, req->flags);
    ag_put32(fixed + 4, req->timeout_ms);
    ag_put16(fixed + 8, req->rows);
    ag_put16(fixed + 10, req->cols);
    g_byte_array_append(p, fixed, sizeof(fixed));
    for (const char *const *a = req->argv; ok && a && *a; a++)
        ok = add_field(p, AG_F_ARG, *a, error);
    for (const char *const *e = req->env; ok && e && *e; e++)
        ok = add_field(p, AG_F_ENV, *e, error);
    if (ok && req->cwd)
        ok = add_field(p, AG_F_CWD, req->cwd, error);
    if (ok && req->user)
        ok = add_field(p, AG_F_USER, req->user, error);
    if (ok && req->group)
        ok = add_field(p, AG_F_GROUP, req->group, error);
    if (!ok)
        return FALSE;
    if (p->len > AG_FRAME_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the command line and environment take %u bytes; at most %u fit", p->len,
                    AG_FRAME_MAX);
        return FALSE;
    }
    vmm_guest_frame_append(out, AG_EXEC, sid, p->data, p->len);
    return TRUE;
}

gboolean
vmm_guest_exit_parse(const VmmGuestFrame *f, int *status, gboolean *timed_out, GError **error)
{
    guint32 st;

    if (f->type != AG_EXIT || f->len != 8 || (st = ag_get32(f->data)) > 255)
        return bad(error, "EXIT");
    *status = (int)st;
    *timed_out = (ag_get32(f->data + 4) & AG_EXIT_TIMEOUT) != 0;
    return TRUE;
}

gboolean
vmm_guest_u32_parse(const VmmGuestFrame *f, guint32 *value, GError **error)
{
    if (f->len != 4)
        return bad(error, f->type == AG_WINDOW ? "WINDOW" : "STARTED");
    *value = ag_get32(f->data);
    return TRUE;
}

gboolean
vmm_guest_done_parse(const VmmGuestFrame *f, guint64 *bytes, guint32 *entries, GError **error)
{
    if (f->type != AG_DONE || f->len != 12)
        return bad(error, "DONE");
    *bytes = ag_get64(f->data);
    *entries = ag_get32(f->data + 8);
    return TRUE;
}

char *
vmm_guest_error_parse(const VmmGuestFrame *f, guint32 *code)
{
    gsize n;

    if (f->len < 8) {
        *code = AG_E_PROTOCOL;
        return g_strdup("the guest sent a malformed ERROR frame");
    }
    *code = ag_get32(f->data);
    if (*code == 0 || *code >= AG_E_LAST)
        *code = AG_E_INTERNAL;
    n = MIN(f->len - 8, AG_TEXT_MAX);
    return vmm_escape((const char *)f->data + 8, (gssize)n, VMM_ESCAPE_LINE_MAX);
}

void
vmm_guest_entry_clear(VmmGuestEntry *e)
{
    g_clear_pointer(&e->name, g_free);
    g_clear_pointer(&e->target, g_free);
}

gboolean
vmm_guest_name_valid(const char *name, gsize len)
{
    const char *p = name, *end = name + len;

    if (len == 0)
        return TRUE;
    if (len > AG_PATH_MAX || memchr(name, '\0', len))
        return FALSE;
    while (p <= end) {
        const char *slash = memchr(p, '/', end - p);
        gsize n = (slash ? slash : end) - p;
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return FALSE;
        if (!slash)
            break;
        p = slash + 1;
    }
    return TRUE;
}

gboolean
vmm_guest_entry_parse(const VmmGuestFrame *f, VmmGuestEntry *e, GError **error)
{
    guint16 nlen;
    gsize tlen;

    memset(e, 0, sizeof(*e));
    if (f->type != AG_ENTRY || f->len < AG_ENTRY_FIXED)
        return bad(error, "ENTRY");
    nlen = ag_get16(f->data + 16);
    if (nlen > f->len - AG_ENTRY_FIXED)
        return bad(error, "ENTRY");
    tlen = f->len - AG_ENTRY_FIXED - nlen;
    e->kind = f->data[0];
    if ((e->kind != AG_KIND_FILE && e->kind != AG_KIND_DIR && e->kind != AG_KIND_SYMLINK) ||
        f->data[1] || f->data[2] || f->data[3] ||
        !vmm_guest_name_valid((const char *)f->data + AG_ENTRY_FIXED, nlen) || tlen > AG_PATH_MAX ||
        (e->kind != AG_KIND_SYMLINK && tlen) ||
        (e->kind == AG_KIND_SYMLINK && (tlen == 0 || nlen == 0)) ||
        memchr(f->data + AG_ENTRY_FIXED + nlen, '\0', tlen))
        return bad(error, "ENTRY");
    e->mode = ag_get32(f->data + 4) & 0777;
    e->size = ag_get64(f->data + 8);
    e->name = g_strndup((const char *)f->data + AG_ENTRY_FIXED, nlen);
    e->target = g_strndup((const char *)f->data + AG_ENTRY_FIXED + nlen, tlen);
    return TRUE;
}

void
vmm_guest_entry_append(GByteArray *out, guint32 sid, guint8 kind, guint32 mode, guint64 size,
                       const char *name, const char *target)
{
    gsize nlen = strlen(name), tlen = strlen(target);
    g_autofree guint8 *p = g_malloc(AG_ENTRY_FIXED + nlen + tlen);

    memset(p, 0, AG_ENTRY_FIXED);
    p[0] = kind;
    ag_put32(p + 4, mode & 0777);
    ag_put64(p + 8, size);
    ag_put16(p + 16, (guint16)nlen);
    memcpy(p + AG_ENTRY_FIXED, name, nlen);
    memcpy(p + AG_ENTRY_FIXED + nlen, target, tlen);
    vmm_guest_frame_append(out, AG_ENTRY, sid, p, AG_ENTRY_FIXED + nlen + tlen);
}

gboolean
vmm_guest_path_append(GByteArray *out, guint16 type, guint32 sid, guint32 flags, const char *path,
                      GError **error)
{
    gsize n = strlen(path);
    g_autofree guint8 *p = NULL;

    if (path[0] != '/' || n > AG_PATH_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest path must be absolute and at most %u bytes", AG_PATH_MAX);
        return FALSE;
    }
    p = g_malloc(4 + n);
    ag_put32(p, flags);
    memcpy(p + 4, path, n);
    vmm_guest_frame_append(out, type, sid, p, 4 + n);
    return TRUE;
}
