/* agent-files.c: files through the guest: guest-file-* calls, copies in and out (either channel).
 */
#include <config.h>

#include "agent.h"
#include "agent-json.h"
#include "agent-private.h"
#include "error.h"
#include "escape.h"
#include "guest-channel.h"
#include "seed.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <libvirt/libvirt-qemu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- guest-file-* ---------------------------------------------------------------------- */

gboolean
vmm_agent_priv_file_open(virDomainPtr dom, const char *path, const char *mode, gint64 *handle,
                         GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *cmd = NULL;
    g_autofree char *what = g_strdup_printf("cannot open '%s' in the guest", path);
    g_autoptr(JsonNode) ret = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    json_builder_set_member_name(b, "mode");
    json_builder_add_string_value(b, mode);
    json_builder_end_object(b);
    cmd = vmm_agent_json_command("guest-file-open", json_builder_get_root(b));
    ret = vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S, what, error);
    if (!ret)
        return FALSE;
    /* The agent returns the handle as a bare integer. */
    if (!JSON_NODE_HOLDS_VALUE(ret) || json_node_get_value_type(ret) != G_TYPE_INT64) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "%s: reply has no file handle", what);
        return FALSE;
    }
    *handle = json_node_get_int(ret);
    return TRUE;
}

static JsonNode *
handle_args(gint64 handle)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "handle");
    json_builder_add_int_value(b, handle);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

gboolean
vmm_agent_priv_file_close(virDomainPtr dom, gint64 handle, GError **error)
{
    g_autofree char *cmd = vmm_agent_json_command("guest-file-close", handle_args(handle));
    g_autoptr(JsonNode) ret =
        vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S, "cannot close a file in the guest", error);

    return ret != NULL;
}

GBytes *
vmm_agent_priv_file_read(virDomainPtr dom, gint64 handle, gint64 count, int timeout_s,
                         gboolean *eof, GError **error)
{
    JsonNode *args = handle_args(handle);
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) ret = NULL;

    json_object_set_int_member(json_node_get_object(args), "count", count);
    cmd = vmm_agent_json_command("guest-file-read", args);
    ret = vmm_agent_priv_call(dom, cmd, timeout_s, "cannot read a file in the guest", error);
    return ret ? vmm_agent_json_file_read(ret, eof, error) : NULL;
}

static gboolean
file_write(virDomainPtr dom, gint64 handle, const guchar *data, gsize len, GError **error)
{
    JsonNode *args = handle_args(handle);
    g_autofree char *b64 = g_base64_encode(data, len);
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) ret = NULL;
    gint64 count = -1;

    json_object_set_string_member(json_node_get_object(args), "buf-b64", b64);
    cmd = vmm_agent_json_command("guest-file-write", args);
    ret = vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S, "cannot write a file in the guest", error);
    if (!ret || !vmm_agent_json_get_int(ret, "count", &count, error))
        return FALSE;
    if (count != (gint64)len) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "short write in the guest (%" G_GINT64_FORMAT " of %zu bytes; disk full?)",
                    count, len);
        return FALSE;
    }
    return TRUE;
}

/* Writes @len bytes from memory to @path in the guest (created or truncated). */
gboolean
vmm_agent_write_file(virDomainPtr dom, const char *path, const void *data, gsize len,
                     GError **error)
{
    gint64 handle;
    gboolean ok = TRUE;

    if (!vmm_agent_priv_file_open(dom, path, "w", &handle, error))
        return FALSE;
    for (gsize off = 0; ok && off < len; off += WRITE_CHUNK)
        ok =
            file_write(dom, handle, (const guchar *)data + off, MIN(WRITE_CHUNK, len - off), error);
    if (!vmm_agent_priv_file_close(dom, handle, ok ? error : NULL))
        return FALSE;
    return ok;
}

/* --- copy in / out --------------------------------------------------------------------- */

static gboolean
check_guest_path(const char *guest_path, GError **error)
{
    if (!guest_path || guest_path[0] != '/' || strlen(guest_path) < 2 ||
        g_str_has_suffix(guest_path, "/")) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "guest path '%s' must be an absolute path to a file",
                    guest_path ? guest_path : "");
        return FALSE;
    }
    return TRUE;
}

/* Reads up to @len bytes, short only at end of file. */
static gssize
read_full(int fd, guchar *buf, gsize len)
{
    gsize done = 0;

    while (done < len) {
        gssize n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += n;
    }
    return done;
}

static gboolean
write_full(int fd, const guchar *buf, gsize len)
{
    while (len > 0) {
        gssize n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        buf += n;
        len -= n;
    }
    return TRUE;
}

gboolean
vmm_agent_copy_in(virDomainPtr dom, const char *local, const char *guest_path,
                  const VmmAgentCopyOpts *opts, GError **error)
{
    g_autofree guchar *buf = NULL;
    g_autofree char *tmp = NULL, *mode = NULL, *prefix = NULL;
    gboolean deref = opts && opts->dereference;
    struct stat sb;
    gint64 handle = -1;
    gboolean ok = FALSE;
    int fd;
    g_autoptr(VmmGuestConn) conn = NULL;

    if (!check_guest_path(guest_path, error))
        return FALSE;
    if (opts && opts->recursive && g_file_test(local, G_FILE_TEST_IS_DIR))
        return vmm_agent_copy_tree_in(dom, local, guest_path, opts, error);
    if ((conn = vmm_agent_priv_guest_conn(dom)))
        return vmm_guest_put(conn, local, guest_path, FALSE, opts, error);
    /* Like cp(1): a symlink named on the command line is copied as a link only with -L. */
    fd = open(local, O_RDONLY | O_CLOEXEC | O_NOCTTY | (deref ? 0 : O_NOFOLLOW));
    if (fd < 0 && errno == ELOOP && !deref) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "'%s' is a symbolic link (name its target, or add -L to follow it)", local);
        return FALSE;
    }
    if (fd < 0 || fstat(fd, &sb) < 0) {
        int e = errno;
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read '%s': %s", local,
                    g_strerror(e));
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    if (!S_ISREG(sb.st_mode)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "'%s' is not a regular file", local);
        close(fd);
        return FALSE;
    }
    /* Permission bits only: no setuid/setgid/sticky across the boundary. */
    mode = g_strdup_printf("%o", (unsigned)(sb.st_mode & 0777));
    {
        /* mktemp: an unguessable name, created 0600 (the agent would create it 0666). */
        const char *args[] = {guest_path, NULL};
        g_autofree char *what =
            g_strdup_printf("cannot create a file next to '%s' in the guest", guest_path);
        if (!vmm_agent_priv_guest_sh(dom, "umask 077; exec mktemp -- \"$1.airlock-XXXXXX\"", args,
                                     what, &tmp, error))
            goto out;
        /* The name comes back from the guest: it must be the one asked for, nothing else. */
        g_strchomp(tmp);
        prefix = g_strconcat(guest_path, ".airlock-", NULL);
        if (!g_str_has_prefix(tmp, prefix) || strlen(tmp) != strlen(prefix) + 6 ||
            strchr(tmp + strlen(prefix), '/')) {
            g_autofree char *shown = vmm_escape(tmp, -1, VMM_ESCAPE_LINE_MAX);
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "%s: unexpected name '%s'", what, shown);
            g_clear_pointer(&tmp, g_free);
            goto out;
        }
    }
    if (!vmm_agent_priv_file_open(dom, tmp, "w", &handle, error))
        goto out;
    buf = g_malloc(WRITE_CHUNK);
    for (;;) {
        gssize n = read_full(fd, buf, WRITE_CHUNK);
        if (n < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read '%s': %s", local,
                        g_strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (!file_write(dom, handle, buf, n, error))
            goto out;
        if (n < WRITE_CHUNK)
            break;
    }
    if (!vmm_agent_priv_file_close(dom, handle, error))
        goto out;
    handle = -1;
    {
        const char *args[] = {mode, tmp, guest_path, NULL};
        g_autofree char *what =
            g_strdup_printf("cannot put '%s' in place in the guest", guest_path);
        if (!vmm_agent_priv_guest_sh(dom, "chmod \"$1\" \"$2\" && mv -f -T -- \"$2\" \"$3\"", args,
                                     what, NULL, error))
            goto out;
    }
    ok = TRUE;

out:
    close(fd);
    if (!ok && tmp && vmm_agent_ping(dom, NULL)) {
        /* Best effort: leave no half-written temp file behind. */
        const char *args[] = {tmp, NULL};
        if (handle >= 0)
            vmm_agent_priv_file_close(dom, handle, NULL);
        vmm_agent_priv_guest_sh(dom, "rm -f -- \"$1\"", args, "cleanup", NULL, NULL);
    }
    return ok;
}

/* What the guest says @guest_path is: its size, and that it is a regular file. */
static gboolean
guest_stat_file(virDomainPtr dom, const char *guest_path, guint64 *size, GError **error)
{
    g_autofree char *out = NULL, *shown = NULL;
    g_autofree char *what = g_strdup_printf("cannot stat '%s' in the guest", guest_path);
    const char *args[] = {guest_path, NULL};
    const char *type;
    char *end = NULL;

    if (!vmm_agent_priv_guest_sh(dom, "exec stat -L -c '%s %F' -- \"$1\"", args, what, &out, error))
        return FALSE;
    g_strchomp(out);
    shown = vmm_escape(out, -1, VMM_ESCAPE_LINE_MAX);
    if (g_ascii_isdigit(out[0]))
        *size = g_ascii_strtoull(out, &end, 10);
    if (!end || *end != ' ') {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "%s: unexpected output '%s'", what, shown);
        return FALSE;
    }
    type = end + 1;
    if (strcmp(type, "regular file") != 0 && strcmp(type, "regular empty file") != 0) {
        g_autofree char *t = vmm_escape(type, -1, 64);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "'%s' in the guest is a %s, not a file",
                    guest_path, t);
        return FALSE;
    }
    return TRUE;
}

/* "1G", "300M", "4096 bytes": the units --max-size takes, exact. Caller frees. */
char *
vmm_agent_human_size(guint64 bytes)
{
    static const char units[] = "KMGT";

    for (int i = 3; i >= 0; i--) {
        guint64 unit = G_GUINT64_CONSTANT(1) << (10 * (i + 1));
        if (bytes >= unit && bytes % unit == 0)
            return g_strdup_printf("%" G_GUINT64_FORMAT "%c", bytes / unit, units[i]);
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT " bytes", bytes);
}

gboolean
vmm_agent_copy_out_at(virDomainPtr dom, const char *guest_path, int dir_fd, const char *name,
                      mode_t mode, const VmmAgentCopyOpts *opts, GError **error)
{
    guint64 max = opts && opts->max_bytes ? opts->max_bytes : VMM_AGENT_COPY_MAX_DEFAULT;
    guint timeout_ms =
        opts && opts->timeout_ms ? opts->timeout_ms : VMM_AGENT_COPY_TIMEOUT_DEFAULT_S * 1000;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autofree char *tmp = NULL;
    guint64 size = 0, total = 0;
    gint64 handle = -1;
    gboolean ok = FALSE;
    int fd = -1;
    g_autoptr(VmmGuestConn) conn = NULL;

    if (!check_guest_path(guest_path, error))
        return FALSE;
    if ((conn = vmm_agent_priv_guest_conn(dom)))
        return vmm_guest_get(conn, guest_path, dir_fd, name, mode, FALSE, opts, error);
    if (!guest_stat_file(dom, guest_path, &size, error))
        return FALSE;
    if (size > max) {
        g_autofree char *h = vmm_agent_human_size(max);
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "'%s' in the guest is larger than the %s limit (raise --max-size)", guest_path,
                    h);
        return FALSE;
    }
    if (!vmm_agent_priv_file_open(dom, guest_path, "r", &handle, error))
        return FALSE;

    /* A name of ours in @dir_fd, created here and nowhere else (no link followed). */
    for (int tries = 0; fd < 0 && tries < 16; tries++) {
        g_free(tmp);
        tmp = g_strdup_printf(".%s.airlock-%08x", name, g_random_int());
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create a file next to '%s': %s",
                    name, g_strerror(errno));
        g_clear_pointer(&tmp, g_free);
        goto out;
    }
    for (;;) {
        gboolean eof = FALSE;
        gint64 left_us = deadline - g_get_monotonic_time();
        g_autoptr(GBytes) data = NULL;
        gsize len = 0;
        const guchar *p;

        if (left_us <= 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "copying '%s' out of the guest took longer than %g s (raise --timeout)",
                        guest_path, timeout_ms / 1000.0);
            goto out;
        }
        data = vmm_agent_priv_file_read(
            dom, handle, CHUNK,
            (int)CLAMP((left_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC, 1, CMD_TIMEOUT_S), &eof,
            error);
        if (!data)
            goto out;
        p = g_bytes_get_data(data, &len);
        /* The file may grow after the stat: the limit holds for what arrives. */
        if (len > max - total) {
            g_autofree char *h = vmm_agent_human_size(max);
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "'%s' in the guest is larger than the %s limit (raise --max-size)",
                        guest_path, h);
            goto out;
        }
        total += len;
        if (len && !write_full(fd, p, len)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write '%s': %s", tmp,
                        g_strerror(errno));
            goto out;
        }
        if (eof || len == 0)
            break;
    }
    if (close(fd) < 0) {
        fd = -1;
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot finish '%s': %s", tmp,
                    g_strerror(errno));
        goto out;
    }
    fd = -1;
    if (renameat(dir_fd, tmp, dir_fd, name) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot rename '%s' to '%s': %s", tmp, name,
                    g_strerror(errno));
        goto out;
    }
    ok = TRUE;

out:
    if (handle >= 0) {
        g_autoptr(GError) cerr = NULL;
        if (!vmm_agent_priv_file_close(dom, handle, &cerr))
            g_debug("%s", cerr->message);
    }
    if (fd >= 0)
        close(fd);
    if (!ok && tmp)
        unlinkat(dir_fd, tmp, 0);
    return ok;
}

gboolean
vmm_agent_copy_out(virDomainPtr dom, const char *guest_path, const char *local,
                   const VmmAgentCopyOpts *opts, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(local);
    g_autofree char *base = g_path_get_basename(local);
    gboolean ok;
    int dfd;

    if (opts && opts->recursive)
        return vmm_agent_copy_tree_out(dom, guest_path, local, opts, error);
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot open directory '%s': %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    /* 0666 less the umask, like any file the caller creates: never the guest's bits. */
    ok = vmm_agent_copy_out_at(dom, guest_path, dfd, base, 0666, opts, error);
    close(dfd);
    return ok;
}
