/*
 * ws-exec.c: exec over a websocket, both ways (GET /v1/sandboxes/{name}/exec with
 * Upgrade: websocket, subprotocol airlock.exec.v1). The client's first message is
 * the exec request (JSON text, as the NDJSON route's body, plus tty/cols/rows);
 * then binary messages are stdin and text messages are controls (eof, signal,
 * resize). The server sends binary messages whose first byte is the stream (1
 * stdout, 2 stderr) and ends with one text message, {"exit_code":N} or
 * {"error":{...}}, then closes. A client that goes away kills the command.
 *
 * The command runs in a thread (vmm_ops_exec, as every front end): stdin and
 * signals reach it through pipes (a pty pair for a terminal, so that its size
 * can be set), output comes back through a bounded queue to the main loop.
 */
#include <config.h>

#include "daemon.h"
#include "error.h"

#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define WS_PROTOCOL "airlock.exec.v1"
#define OUT_QUEUE_MAX (4 * 1024 * 1024)  /* output queued for the client before the reader waits */
#define IN_PENDING_MAX (8 * 1024 * 1024) /* stdin the command has not read yet */
#define FIRST_MESSAGE_S 30               /* the request must come this soon after the upgrade */

enum { WS_STDOUT = 1, WS_STDERR = 2 };

typedef struct {
    VmmRequest *r;
    SoupWebsocketConnection *ws; /* main loop only */
    VmmApiExec *e;
    int in_w, in_r;   /* stdin: pipe, or pty master (in_w) and slave (in_r) */
    int sig_w, sig_r; /* one byte per signal for the command's process group */
    GByteArray *in_pending;
    guint in_watch, first_timer;
    gboolean eof_asked, running, closed;

    GMutex lock; /* the output queue, shared with the exec thread */
    GCond cond;
    GQueue out; /* GBytes, each one message */
    gsize queued;
    gboolean flushing, gone;
    gint refs;
} Ws;

static void
ws_unref(Ws *w)
{
    if (!g_atomic_int_dec_and_test(&w->refs))
        return;
    g_queue_clear_full(&w->out, (GDestroyNotify)g_bytes_unref);
    for (int *fd = &w->in_w; fd <= &w->sig_r; fd++)
        if (*fd >= 0)
            close(*fd);
    if (w->in_pending)
        g_byte_array_unref(w->in_pending);
    g_clear_object(&w->ws);
    vmm_api_exec_free(w->e);
    vmm_request_free(w->r);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    g_free(w);
}

static void
close_with_error(Ws *w, const GError *err)
{
    gsize n;
    g_autofree char *frame = vmm_api_exec_end_frame(-1, err, &n);

    if (w->closed || soup_websocket_connection_get_state(w->ws) != SOUP_WEBSOCKET_STATE_OPEN)
        return;
    soup_websocket_connection_send_text(w->ws, g_strchomp(frame));
    soup_websocket_connection_close(w->ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, NULL);
}

static void
close_invalid(Ws *w, const char *message)
{
    g_autoptr(GError) err = g_error_new_literal(VMM_ERROR, VMM_ERROR_INVALID, message);
    close_with_error(w, err);
}

static void
close_host(Ws *w, const char *what)
{
    g_autoptr(GError) err = g_error_new(VMM_ERROR, VMM_ERROR_HOST,
                                        "cannot open %s for the exec: %s", what, g_strerror(errno));
    close_with_error(w, err);
}

/* ---- output: exec thread -> main loop -> client ------------------------------------------- */

static gboolean
out_flush(gpointer data)
{
    Ws *w = data;
    GBytes *b;
    gboolean open =
        !w->closed && soup_websocket_connection_get_state(w->ws) == SOUP_WEBSOCKET_STATE_OPEN;

    g_mutex_lock(&w->lock);
    w->flushing = FALSE;
    while ((b = g_queue_pop_head(&w->out))) {
        gsize n;
        const char *p = g_bytes_get_data(b, &n);
        if (open && n && p[0] == '{') /* the end frame: text */
            soup_websocket_connection_send_text(w->ws, p);
        else if (open)
            soup_websocket_connection_send_binary(w->ws, p, n);
        w->queued -= n;
        g_bytes_unref(b);
    }
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    return G_SOURCE_REMOVE;
}

/* Exec thread: queues one message (taken), waiting while the client is far behind. */
static void
out_push(Ws *w, GBytes *b)
{
    gint64 until = g_get_monotonic_time() + 600 * G_USEC_PER_SEC;

    g_mutex_lock(&w->lock);
    while (!w->gone && w->queued > OUT_QUEUE_MAX)
        if (!g_cond_wait_until(&w->cond, &w->lock, until))
            w->gone = TRUE; /* nothing taken for 10 minutes: the client is gone */
    if (w->gone) {
        g_bytes_unref(b);
    } else {
        w->queued += g_bytes_get_size(b);
        g_queue_push_tail(&w->out, b);
    }
    if (!w->flushing) {
        w->flushing = TRUE;
        g_atomic_int_inc(&w->refs);
        g_idle_add_full(G_PRIORITY_DEFAULT, out_flush, w, (GDestroyNotify)ws_unref);
    }
    g_mutex_unlock(&w->lock);
}

static void
on_output(guint8 stream, const char *data, gsize len, Ws *w)
{
    guint8 *m = g_malloc(len + 1);

    m[0] = stream;
    memcpy(m + 1, data, len);
    out_push(w, g_bytes_new_take(m, len + 1));
}

static void
on_stdout(const char *data, gsize len, gpointer p)
{
    on_output(WS_STDOUT, data, len, p);
}

static void
on_stderr(const char *data, gsize len, gpointer p)
{
    on_output(WS_STDERR, data, len, p);
}

/* ---- the command -------------------------------------------------------------------------- */

static void
exec_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Ws *w = data;
    VmmRequest *r = w->r;
    GError *err = NULL;
    virConnectPtr conn = vmm_daemon_conn(r->d, &err);
    VmmAgentExec spec = {0};
    VmmOps ops = {0};
    int code = -1;
    gsize n;
    char *end;

    if (conn) {
        ops.ctx.conn = conn;
        ops.ctx.state_dir = r->d->state_dir;
        ops.ctx.accel = r->d->accel;
        ops.caller = r->caller;
    }
    if (conn && vmm_daemon_exec_ready(r, &ops, &err)) {
        vmm_daemon_exec_spec(w->e, &spec);
        spec.stdin_stream = TRUE;
        spec.stdin_fd = w->in_r;
        spec.tty = w->e->tty;
        spec.signals = TRUE;
        spec.signal_fd = w->sig_r;
        spec.on_stdout = on_stdout;
        spec.on_stderr = on_stderr;
        spec.user_data = w;
        if (!vmm_ops_exec(&ops, r->match.name, &spec, &code, &err))
            code = -1;
    }
    end = vmm_api_exec_end_frame(code, err, &n);
    g_clear_error(&err);
    g_strchomp(end);
    out_push(w, g_bytes_new_take(end, strlen(end) + 1)); /* with its NUL: sent as text */
    if (conn)
        virConnectClose(conn);
    g_task_return_boolean(task, TRUE);
}

static void
exec_done(GObject *source, GAsyncResult *result, gpointer data)
{
    Ws *w = data;
    VmmDaemon *d = w->r->d;

    out_flush(w); /* the end frame, then the close */
    w->running = FALSE;
    if (!w->closed && soup_websocket_connection_get_state(w->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(w->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    d->inflight--;
    ws_unref(w);
}

/* ---- input: client -> command -------------------------------------------------------------- */

static void send_signal(Ws *w, int sig);

static void
end_stdin(Ws *w)
{
    if (w->in_watch)
        g_source_remove(w->in_watch);
    w->in_watch = 0;
    if (w->e && w->e->tty) {
        /* A terminal ends its input with ^D, as a user would type it. */
        if (write(w->in_w, "\004", 1) < 0)
            g_debug("ws exec: cannot write ^D: %s", g_strerror(errno));
    } else if (w->in_w >= 0) {
        close(w->in_w);
        w->in_w = -1;
    }
}

static gboolean
stdin_writable(int fd, GIOCondition cond, gpointer data)
{
    Ws *w = data;

    while (w->in_pending->len) {
        ssize_t n = write(w->in_w, w->in_pending->data, w->in_pending->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return G_SOURCE_CONTINUE;
        if (n <= 0) { /* the command closed its stdin: what is left goes nowhere */
            g_byte_array_set_size(w->in_pending, 0);
            break;
        }
        g_byte_array_remove_range(w->in_pending, 0, n);
    }
    w->in_watch = 0;
    if (w->eof_asked)
        end_stdin(w);
    return G_SOURCE_REMOVE;
}

static void
send_stdin(Ws *w, const guint8 *data, gsize len)
{
    if (w->in_w < 0 || w->eof_asked)
        return; /* after eof: dropped, as a closed pipe would */
    if (w->in_pending->len + len > IN_PENDING_MAX) {
        close_invalid(w, "stdin arrives faster than the command reads it (over 8 MiB waiting)");
        return;
    }
    g_byte_array_append(w->in_pending, data, len);
    if (!w->in_watch)
        stdin_writable(w->in_w, G_IO_OUT, w);
    if (w->in_pending->len && !w->in_watch)
        w->in_watch = g_unix_fd_add(w->in_w, G_IO_OUT, stdin_writable, w);
}

static void
send_signal(Ws *w, int sig)
{
    guint8 b = (guint8)sig;

    if (w->sig_w >= 0 && write(w->sig_w, &b, 1) < 0)
        g_debug("ws exec: signal %d not forwarded: %s", sig, g_strerror(errno));
}

static gboolean start(Ws *w, const char *text, gsize len);

static void
on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
    Ws *w = data;
    gsize len;
    const char *p = g_bytes_get_data(message, &len);
    g_autoptr(GError) err = NULL;
    gboolean eof;
    int sig;
    guint cols, rows;

    if (!w->e) {
        if (type != SOUP_WEBSOCKET_DATA_TEXT)
            close_invalid(w, "the first message is the exec request, as JSON text");
        else
            start(w, p, len);
        return;
    }
    if (type == SOUP_WEBSOCKET_DATA_BINARY) {
        send_stdin(w, (const guint8 *)p, len);
        return;
    }
    if (!vmm_api_parse_exec_control(p, len, &eof, &sig, &cols, &rows, &err)) {
        close_with_error(w, err);
        return;
    }
    if (eof) {
        w->eof_asked = TRUE;
        if (!w->in_watch)
            end_stdin(w);
    } else if (sig) {
        send_signal(w, sig);
    } else if (w->e->tty) {
        struct winsize size = {.ws_row = rows, .ws_col = cols};
        if (ioctl(w->in_w, TIOCSWINSZ, &size) == 0)
            send_signal(w, SIGWINCH);
    }
}

static void
on_closed(SoupWebsocketConnection *ws, gpointer data)
{
    Ws *w = data;

    w->closed = TRUE;
    g_mutex_lock(&w->lock);
    w->gone = TRUE;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
    if (w->first_timer)
        g_source_remove(w->first_timer);
    w->first_timer = 0;
    /* The client went away: so does its command, children and all. */
    if (w->running)
        send_signal(w, SIGKILL);
    if (w->in_watch)
        g_source_remove(w->in_watch);
    w->in_watch = 0;
    ws_unref(w); /* the connection's reference */
}

static gboolean
first_timeout(gpointer data)
{
    Ws *w = data;

    w->first_timer = 0;
    close_invalid(w, "no exec request came within 30 s of the upgrade");
    return G_SOURCE_REMOVE;
}

/* The request arrived: pipes (or a terminal), then the command in a thread. */
static gboolean
start(Ws *w, const char *text, gsize len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GTask) task = NULL;
    int in[2], sig[2];

    if (w->first_timer)
        g_source_remove(w->first_timer);
    w->first_timer = 0;
    if (!(w->e = vmm_api_parse_exec(text, len, TRUE, &err))) {
        close_with_error(w, err);
        return FALSE;
    }
    if (w->e->tty) {
        struct termios raw;
        struct winsize size = {.ws_row = w->e->rows ? w->e->rows : 24,
                               .ws_col = w->e->cols ? w->e->cols : 80};
        /* in[0] the slave (the command's stdin here), in[1] the master (what we write) */
        if (openpty(&in[1], &in[0], NULL, NULL, &size) < 0) {
            close_host(w, "a terminal");
            return FALSE;
        }
        if (tcgetattr(in[0], &raw) == 0) {
            cfmakeraw(&raw); /* bytes pass as they are: the guest's terminal does the rest */
            tcsetattr(in[0], TCSANOW, &raw);
        }
        fcntl(in[0], F_SETFD, FD_CLOEXEC);
        fcntl(in[1], F_SETFD, FD_CLOEXEC);
    } else if (!g_unix_open_pipe(in, FD_CLOEXEC, NULL)) {
        close_host(w, "a pipe");
        return FALSE;
    }
    if (!g_unix_open_pipe(sig, FD_CLOEXEC, NULL)) {
        close(in[0]);
        close(in[1]);
        close_host(w, "a pipe");
        return FALSE;
    }
    w->in_r = in[0];
    w->in_w = in[1];
    w->sig_r = sig[0];
    w->sig_w = sig[1];
    g_unix_set_fd_nonblocking(w->in_w, TRUE, NULL);
    g_unix_set_fd_nonblocking(w->sig_w, TRUE, NULL);
    g_unix_set_fd_nonblocking(w->sig_r, TRUE, NULL);
    w->running = TRUE;
    w->r->d->inflight++;
    g_atomic_int_inc(&w->refs); /* the thread's */
    task = g_task_new(NULL, NULL, exec_done, w);
    g_task_set_task_data(task, w, NULL);
    g_task_run_in_thread(task, exec_thread);
    return TRUE;
}

/* ---- the upgrade ---------------------------------------------------------------------------- */

static void not_upgraded(SoupServerMessage *msg, gpointer data);

static void
upgraded(SoupServerMessage *msg, gpointer data)
{
    Ws *w = data;
    g_autoptr(GIOStream) stream = NULL;
    GUri *uri = soup_server_message_get_uri(msg);

    g_signal_handlers_disconnect_by_func(msg, upgraded, w);
    g_signal_handlers_disconnect_by_func(msg, not_upgraded, w);
    stream = soup_server_message_steal_connection(msg);
    vmm_daemon_request_stolen(w->r);
    w->ws = soup_websocket_connection_new(stream, uri, SOUP_WEBSOCKET_CONNECTION_SERVER, NULL,
                                          WS_PROTOCOL, NULL);
    /* One request is a few KiB; stdin is sent in messages of any size up to 1 MiB. */
    soup_websocket_connection_set_max_incoming_payload_size(w->ws, 1024 * 1024);
    soup_websocket_connection_set_keepalive_interval(w->ws, 30);
    g_signal_connect(w->ws, "message", G_CALLBACK(on_message), w);
    g_signal_connect(w->ws, "closed", G_CALLBACK(on_closed), w);
    w->first_timer = g_timeout_add_seconds(FIRST_MESSAGE_S, first_timeout, w);
}

/* The client went away before the upgrade: nothing was started. */
static void
not_upgraded(SoupServerMessage *msg, gpointer data)
{
    Ws *w = data;

    g_signal_handlers_disconnect_by_func(msg, upgraded, w);
    g_signal_handlers_disconnect_by_func(msg, not_upgraded, w);
    ws_unref(w);
}

gboolean
vmm_daemon_is_websocket(VmmRequest *r)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(r->msg);

    return soup_message_headers_header_contains(h, "Connection", "upgrade") &&
           soup_message_headers_header_equals(h, "Upgrade", "websocket");
}

void
vmm_daemon_exec_ws(VmmRequest *r)
{
    char *protocols[] = {(char *)WS_PROTOCOL, NULL};
    Ws *w;

    /* Sets 101 and its headers, or an error status (400) when the handshake is wrong. */
    if (!soup_websocket_server_process_handshake(r->msg, NULL, protocols, NULL, NULL)) {
        vmm_request_free(r);
        return;
    }
    w = g_new0(Ws, 1);
    w->r = r;
    w->refs = 1; /* the connection's, dropped when it closes */
    w->in_w = w->in_r = w->sig_w = w->sig_r = -1;
    w->in_pending = g_byte_array_new();
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    g_queue_init(&w->out);
    g_signal_connect(r->msg, "wrote-informational", G_CALLBACK(upgraded), w);
    g_signal_connect(r->msg, "finished", G_CALLBACK(not_upgraded), w);
}
