/* guest-channel.c: the host end of airlock-guest's ports: connection, exec, fixup. */
#include <config.h>

#include "guest-channel.h"
#include "guest-channel-private.h"
#include "settings.h"
#include "agent-json.h"
#include "error.h"
#include "metadata.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define IN_MAX (AG_HEADER_LEN + AG_FRAME_MAX)
#define STRAY_FRAMES_MAX 64 /* frames of an earlier connection skipped before HELLO */
#define TIMEOUT_SLACK_US (30 * G_USEC_PER_SEC) /* after the guest's own timeout: it is stuck */
#define INTERRUPTS_MAX 3                       /* the third Ctrl-C cancels: SIGKILL to the group */
/*
 * A helper that died (or was restarted) mid-command closes its end of the port, which the
 * host's socket never sees: after this long without a frame the host PINGs, and gives up
 * when no PONG comes back within PONG_WAIT_US.
 */
#define IDLE_PING_US (10 * G_USEC_PER_SEC)
#define PONG_WAIT_US (20 * G_USEC_PER_SEC)

void
vmm_guest_conn_free(VmmGuestConn *conn)
{
    if (!conn)
        return;
    if (conn->fd >= 0)
        close(conn->fd);
    if (conn->lock_fd >= 0)
        close(conn->lock_fd);
    if (conn->in)
        g_byte_array_unref(conn->in);
    g_free(conn->peer);
    g_free(conn);
}

const char *
vmm_guest_conn_peer(VmmGuestConn *conn)
{
    return conn->peer ? conn->peer : "";
}

/* The socket qemu listens on for port @n of @xml (the running domain's), or NULL. */
static char *
port_socket(const char *xml, int n)
{
    g_autofree char *expr = g_strdup_printf(
        "string(/domain/devices/channel[target/@name='" AG_PORT_PREFIX "%d']/source/@path)", n);
    g_autofree char *path = vmm_xml_xpath_string(xml, expr);
    struct stat st;

    /* Only on the host that runs the sandbox: a remote one falls back to the agent. */
    if (!path || !*path || stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return NULL;
    return g_steal_pointer(&path);
}

/* Holds port @n of @uuid for this process: an abstract socket, gone when the process is. */
static int
port_lock(const char *uuid, int n)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int len =
        g_snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "airlock-guest/%s/%d", uuid, n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

gboolean
vmm_guest_send(VmmGuestConn *conn, GByteArray *out, GError **error)
{
    gsize done = 0;

    while (done < out->len) {
        struct pollfd pfd = {.fd = conn->fd, .events = POLLOUT};
        ssize_t n = send(conn->fd, out->data + done, out->len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "the guest channel closed (%s)",
                        g_strerror(errno));
            return FALSE;
        }
        /* The guest reads its port whatever else it does: a full socket drains. */
        if (poll(&pfd, 1, 60000) == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                        "the guest has read nothing from its channel for 60 s");
            return FALSE;
        }
    }
    g_byte_array_set_size(out, 0);
    return TRUE;
}

gboolean
vmm_guest_send_frame(VmmGuestConn *conn, guint16 type, guint32 sid, const void *data, gsize len,
                     GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_sized_new(AG_HEADER_LEN + len);

    vmm_guest_frame_append(out, type, sid, data, len);
    return vmm_guest_send(conn, out, error);
}

int
vmm_guest_buffered(VmmGuestConn *conn, VmmGuestFrame *f, GError **error)
{
    gssize n;

    if (conn->consumed) {
        g_byte_array_remove_range(conn->in, 0, conn->consumed);
        conn->consumed = 0;
    }
    n = vmm_guest_frame_parse(conn->in->data, conn->in->len, f, error);
    if (n < 0)
        return -1;
    conn->consumed = (gsize)n;
    return n > 0;
}

gboolean
vmm_guest_fill(VmmGuestConn *conn, GError **error)
{
    gsize room = IN_MAX - (conn->in->len - conn->consumed);
    guint old = conn->in->len;
    ssize_t n;

    if (conn->consumed) {
        g_byte_array_remove_range(conn->in, 0, conn->consumed);
        conn->consumed = 0;
        old = conn->in->len;
    }
    room = MIN(room, READ_CHUNK);
    g_byte_array_set_size(conn->in, old + room);
    do
        n = read(conn->fd, conn->in->data + old, room);
    while (n < 0 && errno == EINTR);
    g_byte_array_set_size(conn->in, old + (n > 0 ? n : 0));
    if (n > 0 || (n < 0 && errno == EAGAIN))
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "the guest channel closed%s%s",
                n < 0 ? ": " : "", n < 0 ? g_strerror(errno) : "");
    return FALSE;
}

gboolean
vmm_guest_next(VmmGuestConn *conn, VmmGuestFrame *f, gint64 deadline, GError **error)
{
    for (;;) {
        struct pollfd pfd = {.fd = conn->fd, .events = POLLIN};
        gint64 left;
        int r = vmm_guest_buffered(conn, f, error);

        if (r != 0)
            return r > 0;
        left = deadline ? (deadline - g_get_monotonic_time()) / 1000 : -1;
        if (deadline && left <= 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT, "the guest did not answer in time");
            return FALSE;
        }
        if (poll(&pfd, 1, deadline ? (int)MIN(left, G_MAXINT) : -1) < 0 && errno != EINTR) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "poll: %s", g_strerror(errno));
            return FALSE;
        }
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !vmm_guest_fill(conn, error))
            return FALSE;
    }
}

gboolean
vmm_guest_failed(const VmmGuestFrame *f, GError **error)
{
    guint32 code;
    g_autofree char *msg = vmm_guest_error_parse(f, &code);
    int vcode;

    switch (code) {
    case AG_E_NOTFOUND:
        vcode = VMM_ERROR_NOT_FOUND;
        break;
    case AG_E_INVALID:
    case AG_E_NOUSER:
        vcode = VMM_ERROR_INVALID;
        break;
    case AG_E_PERMISSION:
    case AG_E_ISDIR:
    case AG_E_NOTDIR:
    case AG_E_EXISTS:
    case AG_E_NOSPACE:
    case AG_E_IO:
        vcode = VMM_ERROR_FAILED;
        break;
    default:
        vcode = VMM_ERROR_AGENT;
    }
    g_set_error(error, VMM_ERROR, vcode, "in the guest: %s", msg);
    return FALSE;
}

VmmGuestConn *
vmm_guest_connect(virDomainPtr dom, guint timeout_ms, GError **error)
{
    g_autofree char *xml = NULL;
    char uuid[VIR_UUID_STRING_BUFLEN];
    gboolean any = FALSE;

    if (vmm_config_get()->guest_agent_only) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "AIRLOCK_GUEST=agent");
        return NULL;
    }
    if (!(xml = virDomainGetXMLDesc(dom, 0)) || virDomainGetUUIDString(dom, uuid) < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot read the domain's XML");
        return NULL;
    }
    for (int n = 0; n < AG_PORTS; n++) {
        g_autofree char *path = port_socket(xml, n);
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        g_autoptr(VmmGuestConn) conn = NULL;
        g_autoptr(GByteArray) hello = g_byte_array_new();

        if (!path || strlen(path) >= sizeof(addr.sun_path))
            continue;
        any = TRUE;
        conn = g_new0(VmmGuestConn, 1);
        conn->fd = -1;
        conn->port = n;
        if ((conn->lock_fd = port_lock(uuid, n)) < 0)
            continue; /* another airlock process holds it */
        g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
        conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (conn->fd < 0 || connect(conn->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
            g_debug("cannot connect to %s: %s", path, g_strerror(errno));
            continue;
        }
        conn->in = g_byte_array_sized_new(READ_CHUNK);
        conn->next_sid = 1;
        g_random_set_seed(g_random_int()); /* the nonce only tells connections apart */
        for (int i = 0; i < AG_NONCE_LEN; i++)
            conn->nonce[i] = (guint8)g_random_int_range(0, 256);
        vmm_guest_hello_append(hello, conn->nonce);
        if (!vmm_guest_send(conn, hello, error))
            return NULL;
        if (timeout_ms && !vmm_guest_handshake(conn, timeout_ms, error))
            return NULL;
        return g_steal_pointer(&conn);
    }
    g_set_error(error, VMM_ERROR, any ? VMM_ERROR_AGENT : VMM_ERROR_NOT_FOUND,
                any ? "every airlock-guest port of the sandbox is in use"
                    : "the sandbox has no airlock-guest port here");
    return NULL;
}

gboolean
vmm_guest_handshake(VmmGuestConn *conn, guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (int i = 0; i < STRAY_FRAMES_MAX; i++) {
        VmmGuestFrame f;
        g_autoptr(GError) err = NULL;
        guint version;

        if (!vmm_guest_next(conn, &f, deadline, error)) {
            g_prefix_error(error, "airlock-guest handshake: ");
            return FALSE;
        }
        if (f.type == AG_ERROR && f.sid == 0)
            return vmm_guest_failed(&f, error);
        if (f.type != AG_HELLO)
            continue; /* output queued for an earlier connection */
        if (vmm_guest_hello_check(&f, conn->nonce, &version, &conn->peer, &err)) {
            conn->version = version;
            conn->features = ag_get32(f.data + AG_MAGIC_LEN + 4);
            return TRUE;
        }
        if (err->code != VMM_ERROR_INVALID || !strstr(err->message, "earlier")) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "airlock-guest handshake: no answer");
    return FALSE;
}

/* ---- exec ------------------------------------------------------------------------------- */

typedef struct {
    VmmGuestConn *conn;
    const VmmAgentExec *spec;
    guint32 sid;
    gint64 credit;
    gboolean stdin_open;
    const guint8 *input;
    gsize input_len, input_off;
    int interrupts;
    gint64 last_frame, ping_sent; /* monotonic µs; ping_sent 0: none outstanding */
} Exec;

static gboolean
send_stdin(Exec *x, GError **error)
{
    guint8 buf[AG_DATA_MAX];

    while (x->stdin_open && x->credit > 0) {
        gsize want = MIN((gsize)x->credit, sizeof(buf));
        ssize_t n;

        if (x->input) {
            n = MIN(want, x->input_len - x->input_off);
            memcpy(buf, x->input + x->input_off, n);
            x->input_off += n;
        } else {
            do
                n = read(x->spec->stdin_fd, buf, want);
            while (n < 0 && errno == EINTR);
            if (n < 0 && errno == EAGAIN)
                return TRUE;
            if (n < 0)
                n = 0; /* EIO (a terminal gone): end of input */
        }
        if (!vmm_guest_send_frame(x->conn, AG_STDIN, x->sid, buf, n, error))
            return FALSE;
        x->credit -= n;
        if (n == 0)
            x->stdin_open = FALSE;
        if (!x->input)
            return TRUE; /* one read per readiness */
    }
    return TRUE;
}

static gboolean
forward_signals(Exec *x, GError **error)
{
    guint8 sigs[16];
    ssize_t n = read(x->spec->signal_fd, sigs, sizeof(sigs));

    for (ssize_t i = 0; i < n; i++) {
        guint8 b[4];
        if (sigs[i] == SIGWINCH) {
            struct winsize ws;
            if (!x->spec->tty || ioctl(x->spec->stdin_fd, TIOCGWINSZ, &ws) < 0)
                continue;
            ag_put16(b, ws.ws_row);
            ag_put16(b + 2, ws.ws_col);
            if (!vmm_guest_send_frame(x->conn, AG_RESIZE, x->sid, b, 4, error))
                return FALSE;
            continue;
        }
        if (++x->interrupts >= INTERRUPTS_MAX) {
            vmm_guest_send_frame(x->conn, AG_CANCEL, x->sid, NULL, 0, NULL);
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "interrupted: the command's process group in the guest was killed");
            return FALSE;
        }
        ag_put32(b, sigs[i]);
        if (!vmm_guest_send_frame(x->conn, AG_SIGNAL, x->sid, b, 4, error))
            return FALSE;
    }
    return TRUE;
}

/* One frame of the exec's session: TRUE with *@done once EXIT came. */
static gboolean
exec_frame(Exec *x, const VmmGuestFrame *f, gboolean *done, int *exit_code, GError **error)
{
    const VmmAgentExec *spec = x->spec;
    guint32 v;

    x->last_frame = g_get_monotonic_time();
    if (f->type == AG_PONG) {
        x->ping_sent = 0;
        return TRUE;
    }
    if (f->sid != x->sid)
        return TRUE; /* another session's (none here): ignored */
    switch (f->type) {
    case AG_STARTED:
        return vmm_guest_u32_parse(f, &v, error);
    case AG_STDOUT:
    case AG_STDERR: {
        VmmAgentOutputFunc fn = f->type == AG_STDOUT ? spec->on_stdout : spec->on_stderr;
        if (fn && f->len)
            fn((const char *)f->data, f->len, spec->user_data);
        return TRUE;
    }
    case AG_WINDOW:
        if (!vmm_guest_u32_parse(f, &v, error))
            return FALSE;
        x->credit = MIN(x->credit + v, (gint64)AG_STDIN_WINDOW);
        return TRUE;
    case AG_EXIT: {
        gboolean timed_out;
        if (!vmm_guest_exit_parse(f, exit_code, &timed_out, error))
            return FALSE;
        *done = TRUE;
        if (timed_out) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "command timed out after %g s and was killed", spec->timeout_ms / 1000.0);
            return FALSE;
        }
        return TRUE;
    }
    case AG_ERROR:
        return vmm_guest_failed(f, error);
    default:
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest sent an unexpected frame (type %u) for a command", f->type);
        return FALSE;
    }
}

gboolean
vmm_guest_exec(VmmGuestConn *conn, const VmmAgentExec *spec, int *exit_code, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GByteArray) out = g_byte_array_new();
    VmmGuestExecRequest req = {0};
    Exec x = {conn, spec, conn->next_sid++, AG_STDIN_WINDOW};
    gint64 deadline = 0;
    gboolean done = FALSE;

    for (const char *const *e = spec->env; e && *e; e++)
        if (!vmm_agent_env_valid(*e, error))
            return FALSE;
    for (const char *const *a = spec->argv; a && *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    req.argv = (const char *const *)argv->pdata;
    req.env = spec->env;
    req.cwd = spec->workdir;
    req.user = spec->user;
    req.group = spec->group;
    req.timeout_ms = spec->timeout_ms;
    req.flags = spec->tty ? AG_EXEC_PTY : 0;
    /* The helper reads the env and secrets files itself (a shell wrapper cost ~15 ms). */
    if (spec->with_sandbox_env && spec->argv && spec->argv[0])
        req.flags |= AG_EXEC_SANDBOX_ENV;
    if (spec->stdin_stream || spec->input)
        req.flags |= AG_EXEC_STDIN;
    if (spec->tty) {
        struct winsize ws;
        if (ioctl(spec->stdin_fd, TIOCGWINSZ, &ws) == 0) {
            req.rows = ws.ws_row;
            req.cols = ws.ws_col;
        }
    }
    if (!vmm_guest_exec_append(out, x.sid, &req, error) || !vmm_guest_send(conn, out, error))
        return FALSE;
    x.stdin_open = (req.flags & AG_EXEC_STDIN) != 0;
    if (spec->input)
        x.input = g_bytes_get_data(spec->input, &x.input_len);
    if (spec->timeout_ms)
        deadline = g_get_monotonic_time() + (gint64)spec->timeout_ms * 1000 + TIMEOUT_SLACK_US;
    x.last_frame = g_get_monotonic_time();

    while (!done) {
        struct pollfd pfd[3] = {{.fd = conn->fd, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
        VmmGuestFrame f;
        int r, wait = -1;

        while ((r = vmm_guest_buffered(conn, &f, error)) > 0 && !done)
            if (!exec_frame(&x, &f, &done, exit_code, error))
                goto fail;
        if (r < 0)
            goto fail;
        if (done)
            break;
        if (x.stdin_open && x.input && x.credit > 0 && !send_stdin(&x, error))
            goto fail;
        if (x.stdin_open && !x.input && x.credit > 0)
            pfd[1] = (struct pollfd){.fd = spec->stdin_fd, .events = POLLIN};
        if (spec->signals)
            pfd[2] = (struct pollfd){.fd = spec->signal_fd, .events = POLLIN};
        {
            gint64 now = g_get_monotonic_time();
            if (x.ping_sent && now - x.ping_sent > PONG_WAIT_US) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                            "airlock-guest stopped answering (restarted or killed in the guest?)");
                goto fail;
            }
            if (!x.ping_sent && now - x.last_frame > IDLE_PING_US) {
                if (!vmm_guest_send_frame(conn, AG_PING, 0, "ping", 4, error))
                    goto fail;
                x.ping_sent = now;
            }
            wait = (int)((x.ping_sent ? x.ping_sent + PONG_WAIT_US : x.last_frame + IDLE_PING_US) -
                         now) /
                       1000 +
                   1;
        }
        if (deadline) {
            gint64 left = (deadline - g_get_monotonic_time()) / 1000;
            if (left <= 0) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                            "'%s' did not finish and the guest did not kill it in time",
                            spec->argv && spec->argv[0] ? spec->argv[0] : "shell");
                goto fail;
            }
            wait = (int)MIN(left, wait);
        }
        if (poll(pfd, 3, wait) < 0 && errno != EINTR) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "poll: %s", g_strerror(errno));
            goto fail;
        }
        if ((pfd[2].revents & POLLIN) && !forward_signals(&x, error))
            goto fail;
        if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) && !send_stdin(&x, error))
            goto fail;
        if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) && !vmm_guest_fill(conn, error))
            goto fail;
    }
    return TRUE;
fail:
    /* Whatever went wrong here, nothing of this command keeps running in the guest. */
    if (!done)
        vmm_guest_send_frame(conn, AG_CANCEL, x.sid, NULL, 0, NULL);
    return FALSE;
}

/* ---- fixup ------------------------------------------------------------------------------ */

gboolean
vmm_guest_fixup_send(VmmGuestConn *conn, const guint8 *req, gsize len, GError **error)
{
    conn->fixup_sid = conn->next_sid++;
    return vmm_guest_send_frame(conn, AG_FIXUP, conn->fixup_sid, req, len, error);
}

gboolean
vmm_guest_fixup_finish(VmmGuestConn *conn, guint timeout_ms, gboolean *answered, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    *answered = FALSE;
    if (!conn->version && !vmm_guest_handshake(conn, timeout_ms, error))
        return FALSE;
    for (;;) {
        VmmGuestFrame f;
        if (!vmm_guest_next(conn, &f, deadline, error))
            return FALSE;
        if (f.sid != conn->fixup_sid)
            continue;
        *answered = TRUE;
        if (f.type == AG_FIXED)
            return TRUE;
        if (f.type == AG_ERROR)
            return vmm_guest_failed(&f, error);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest answered the clock fix with a frame of type %u", f.type);
        return FALSE;
    }
}

/* ---- identity (a warm start) ----------------------------------------------------------- */

static void
identity_field(GByteArray *out, guint8 tag, const void *data, gsize len)
{
    guint8 h[5] = {tag};

    ag_put32(h + 1, (guint32)len);
    g_byte_array_append(out, h, sizeof(h));
    g_byte_array_append(out, data, len);
}

gboolean
vmm_guest_identity(VmmGuestConn *conn, const VmmGuestIdentity *id, guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(GByteArray) out = NULL;
    guint32 sid;
    gboolean sent;

    if (!conn->version && !vmm_guest_handshake(conn, timeout_ms, error))
        return FALSE;
    if (!(conn->features & AG_FEATURE_IDENTITY)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "the guest's airlock-guest takes no IDENTITY (an older image)");
        return FALSE;
    }
    if (id->env_len + id->secrets_len + 256 > AG_FRAME_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the environment and secrets are more than one frame holds (%u bytes)",
                    AG_FRAME_MAX);
        return FALSE;
    }
    out = g_byte_array_sized_new(64 + id->env_len + id->secrets_len);
    identity_field(out, AG_I_HOSTNAME, id->hostname, strlen(id->hostname));
    identity_field(out, AG_I_MACHINE_ID, id->machine_id, strlen(id->machine_id));
    identity_field(out, AG_I_ENV, id->env, id->env_len);
    identity_field(out, AG_I_SECRETS, id->secrets, id->secrets_len);
    sid = conn->next_sid++;
    sent = vmm_guest_send_frame(conn, AG_IDENTITY, sid, out->data, out->len, error);
    explicit_bzero(out->data, out->len);
    if (!sent)
        return FALSE;
    for (;;) {
        VmmGuestFrame f;
        if (!vmm_guest_next(conn, &f, deadline, error))
            return FALSE;
        if (f.sid != sid)
            continue;
        if (f.type == AG_IDENTIFIED)
            return TRUE;
        if (f.type == AG_ERROR)
            return vmm_guest_failed(&f, error);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "the guest answered its identity with a frame of type %u", f.type);
        return FALSE;
    }
}

const char *
vmm_guest_channel_name(virDomainPtr dom)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmGuestConn) conn = vmm_guest_connect(dom, VMM_GUEST_HELLO_TIMEOUT_MS, &err);

    return conn ? "airlock-guest" : "qemu-guest-agent";
}
