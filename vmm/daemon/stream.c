/*
 * stream.c: responses that last: exec's NDJSON frames (the command runs in a
 * thread, frames cross to the main loop through a queue, a slow client makes
 * the command's reader wait) and the events stream (server-sent events: the
 * recorded audit log, then its new records and libvirt's live events).
 */
#include <config.h>

#include "daemon.h"
#include "conn.h"
#include "error.h"
#include "events.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXEC_QUEUE_MAX (4 * 1024 * 1024) /* bytes not yet written before the reader waits */
#define REPLAY_MAX 1000                  /* recorded events sent to a new subscriber */
#define TAIL_INTERVAL_MS 250
#define KEEPALIVE_S 15

/* ---- exec ---------------------------------------------------------------------------- */

typedef struct {
    VmmRequest *r;
    VmmApiExec *e;
    GMutex lock;
    GCond cond;
    GQueue chunks;     /* GBytes, in order */
    gboolean final;    /* the last chunk is queued */
    gboolean flushing; /* an idle flush is scheduled */
    gboolean gone;     /* the client went away */
    gsize unwritten;   /* queued or in soup's body, not yet on the socket */
    int sig[2];        /* a SIGKILL byte for the command's process group when the client goes */
    guint heartbeat;   /* main loop: a blank line every few seconds while the command is silent */
    gboolean spoke;    /* a frame went out since the last heartbeat tick */
    gint refs;
} Exec;

#define HEARTBEAT_S 2

static void
exec_unref(Exec *x)
{
    if (!g_atomic_int_dec_and_test(&x->refs))
        return;
    g_queue_clear_full(&x->chunks, (GDestroyNotify)g_bytes_unref);
    for (int i = 0; i < 2; i++)
        if (x->sig[i] >= 0)
            close(x->sig[i]);
    vmm_api_exec_free(x->e);
    g_mutex_clear(&x->lock);
    g_cond_clear(&x->cond);
    g_free(x);
}

static void
exec_gone(SoupServerMessage *msg, gpointer data)
{
    Exec *x = data;
    guint8 kill_byte = SIGKILL;

    g_mutex_lock(&x->lock);
    /* The client went away before the end: so does its command, children and all. */
    if (!x->final && x->sig[1] >= 0 && write(x->sig[1], &kill_byte, 1) < 0)
        g_debug("exec: cannot stop the command of a client gone: %s", g_strerror(errno));
    x->gone = TRUE;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
}

static void
exec_wrote(SoupServerMessage *msg, guint n, gpointer data)
{
    Exec *x = data;

    g_mutex_lock(&x->lock);
    x->unwritten = n > x->unwritten ? 0 : x->unwritten - n;
    g_cond_broadcast(&x->cond);
    g_mutex_unlock(&x->lock);
}

/* Main loop: moves queued frames into the response. */
static gboolean
exec_flush(gpointer data)
{
    Exec *x = data;
    SoupMessageBody *body = soup_server_message_get_response_body(x->r->msg);
    GBytes *b;
    gboolean final, gone;

    g_mutex_lock(&x->lock);
    x->flushing = FALSE;
    final = x->final;
    gone = x->gone;
    while ((b = g_queue_pop_head(&x->chunks))) {
        if (!gone)
            soup_message_body_append_bytes(body, b);
        g_bytes_unref(b);
        x->spoke = TRUE;
    }
    g_mutex_unlock(&x->lock);
    if (!gone) {
        if (final)
            soup_message_body_complete(body);
        soup_server_message_unpause(x->r->msg);
    }
    return G_SOURCE_REMOVE;
}

/*
 * Main loop: a silent command writes nothing, so a client that hung up would go
 * unnoticed (libsoup sees a closed connection only when it writes): a blank line
 * (which NDJSON readers skip) every HEARTBEAT_S seconds makes the write fail and
 * "disconnected" fire, and exec_gone stops the command.
 */
static gboolean
exec_heartbeat(gpointer data)
{
    Exec *x = data;
    gboolean final, gone;

    g_mutex_lock(&x->lock);
    final = x->final;
    gone = x->gone;
    g_mutex_unlock(&x->lock);
    if (final || gone) {
        x->heartbeat = 0;
        return G_SOURCE_REMOVE;
    }
    if (!x->spoke && x->r->streaming) {
        soup_message_body_append(soup_server_message_get_response_body(x->r->msg),
                                 SOUP_MEMORY_STATIC, "\n", 1);
        soup_server_message_unpause(x->r->msg);
    }
    x->spoke = FALSE;
    return G_SOURCE_CONTINUE;
}

/* Worker thread: queues @data (taken), waiting while the client is far behind. */
static void
exec_push(Exec *x, char *data, gsize len, gboolean final)
{
    gint64 until = g_get_monotonic_time() + 600 * G_USEC_PER_SEC;

    g_mutex_lock(&x->lock);
    while (!x->gone && !final && x->unwritten > EXEC_QUEUE_MAX)
        if (!g_cond_wait_until(&x->cond, &x->lock, until))
            x->gone = TRUE; /* a client that reads nothing for 10 minutes has gone */
    if (x->gone) {
        g_free(data);
    } else {
        g_queue_push_tail(&x->chunks, g_bytes_new_take(data, len));
        x->unwritten += len;
    }
    x->final = x->final || final;
    if (!x->flushing) {
        x->flushing = TRUE;
        g_atomic_int_inc(&x->refs);
        g_idle_add_full(G_PRIORITY_DEFAULT, exec_flush, x, (GDestroyNotify)exec_unref);
    }
    g_mutex_unlock(&x->lock);
}

static void
on_stdout(const char *data, gsize len, gpointer p)
{
    gsize n;
    char *f = vmm_api_exec_frame("stdout", data, len, &n);
    exec_push(p, f, n, FALSE);
}

static void
on_stderr(const char *data, gsize len, gpointer p)
{
    gsize n;
    char *f = vmm_api_exec_frame("stderr", data, len, &n);
    exec_push(p, f, n, FALSE);
}

/* Main loop: the checks passed, the stream begins. */
static gboolean
exec_start(gpointer data)
{
    Exec *x = data;
    SoupServerMessage *msg = x->r->msg;
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);

    soup_server_message_set_status(msg, 200, NULL);
    soup_message_headers_set_content_type(h, "application/x-ndjson", NULL);
    soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    x->r->streaming = TRUE;
    soup_server_message_unpause(msg);
    g_atomic_int_inc(&x->refs);
    x->heartbeat = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, HEARTBEAT_S, exec_heartbeat, x,
                                              (GDestroyNotify)exec_unref);
    return G_SOURCE_REMOVE;
}

static void
exec_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Exec *x = data;
    VmmRequest *r = x->r;
    GError *err = NULL;
    virConnectPtr conn = vmm_daemon_conn(r->d, &err);
    VmmAgentExec spec = {0};
    VmmOps ops = {0};
    int code = -1;
    gsize n;
    char *end;

    if (!conn) {
        g_task_return_error(task, err);
        return;
    }
    ops.ctx.conn = conn;
    ops.ctx.state_dir = r->d->state_dir;
    ops.ctx.accel = r->d->accel;
    ops.caller = r->caller;
    /* Checks first, so that a refusal is a plain JSON error with its status. */
    if (!vmm_daemon_exec_ready(r, &ops, &err)) {
        virConnectClose(conn);
        g_task_return_error(task, err);
        return;
    }
    g_atomic_int_inc(&x->refs);
    g_idle_add_full(G_PRIORITY_DEFAULT, exec_start, x, (GDestroyNotify)exec_unref);
    vmm_daemon_exec_spec(x->e, &spec);
    spec.on_stdout = on_stdout;
    spec.on_stderr = on_stderr;
    spec.user_data = x;
    spec.signals = x->sig[0] >= 0;
    spec.signal_fd = x->sig[0];
    if (!vmm_ops_exec(&ops, r->match.name, &spec, &code, &err))
        code = -1;
    end = vmm_api_exec_end_frame(code, err, &n);
    g_clear_error(&err);
    exec_push(x, end, n, TRUE);
    virConnectClose(conn);
    g_task_return_boolean(task, TRUE);
}

static void
exec_done(GObject *source, GAsyncResult *result, gpointer data)
{
    Exec *x = data;
    VmmDaemon *d = x->r->d;
    g_autoptr(GError) err = NULL;

    if (!g_task_propagate_boolean(G_TASK(result), &err)) {
        vmm_daemon_reply_error(x->r->msg, err);
        soup_server_message_unpause(x->r->msg);
    }
    if (x->heartbeat)
        g_source_remove(x->heartbeat); /* its reference goes with it */
    x->heartbeat = 0;
    g_signal_handlers_disconnect_by_data(x->r->msg, x);
    vmm_request_free(g_steal_pointer(&x->r));
    exec_unref(x);
    d->inflight--;
}

void
vmm_daemon_exec_stream(VmmRequest *r)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GTask) task = NULL;
    gsize len = 0;
    const char *body = r->body ? g_bytes_get_data(r->body, &len) : NULL;
    VmmApiExec *e = vmm_api_parse_exec(body, len, FALSE, &err);
    Exec *x;

    if (!e) {
        vmm_daemon_reply_error(r->msg, err);
        vmm_request_free(r);
        return;
    }
    x = g_new0(Exec, 1);
    x->r = r;
    x->e = e;
    x->refs = 1;
    if (!g_unix_open_pipe(x->sig, FD_CLOEXEC, NULL) ||
        !g_unix_set_fd_nonblocking(x->sig[1], TRUE, NULL))
        x->sig[0] = x->sig[1] = -1; /* no way to stop it early: it runs to its end or timeout */
    g_mutex_init(&x->lock);
    g_cond_init(&x->cond);
    g_queue_init(&x->chunks);
    g_signal_connect(r->msg, "finished", G_CALLBACK(exec_gone), x);
    g_signal_connect(r->msg, "disconnected", G_CALLBACK(exec_gone), x);
    g_signal_connect(r->msg, "wrote-body-data", G_CALLBACK(exec_wrote), x);
    soup_server_message_pause(r->msg);
    r->d->inflight++;
    task = g_task_new(NULL, NULL, exec_done, x);
    g_task_set_task_data(task, x, NULL);
    g_task_run_in_thread(task, exec_thread);
}

/* ---- events -------------------------------------------------------------------------- */

typedef struct {
    VmmRequest *r;
    char *sandbox; /* filter, or NULL */
    gboolean gone;
} Sub;

struct _VmmEventsHub {
    VmmDaemon *d;
    GList *subs;
    goffset offset; /* bytes of the global log already broadcast */
    guint tail_id, keepalive_id;
    GThread *live;
    volatile int stop;
};

static void
sub_free(Sub *s)
{
    if (s->r && s->r->msg)
        g_signal_handlers_disconnect_by_data(s->r->msg, s);
    vmm_request_free(s->r);
    g_free(s->sandbox);
    g_free(s);
}

static void
sub_gone(SoupServerMessage *msg, gpointer data)
{
    ((Sub *)data)->gone = TRUE;
}

static void
sub_send(Sub *s, const char *text)
{
    SoupMessageBody *body = soup_server_message_get_response_body(s->r->msg);

    soup_message_body_append(body, SOUP_MEMORY_COPY, text, strlen(text));
    soup_server_message_unpause(s->r->msg);
}

/* Whether @s's caller may see the audit record @o, and it passes the filter. */
static gboolean
sub_wants(VmmEventsHub *hub, Sub *s, const char *sandbox, gint64 uid)
{
    if (s->sandbox && g_strcmp0(s->sandbox, sandbox) != 0)
        return FALSE;
    if (s->r->role == VMM_ROLE_ADMIN)
        return TRUE;
    return (uid >= 0 && uid == (gint64)s->r->caller->uid) ||
           vmm_daemon_sees_name(hub->d, s->r, sandbox);
}

/* The sandbox and uid of one audit line; FALSE when it is not a record. */
static gboolean
line_keys(const char *line, char **sandbox, gint64 *uid)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    JsonObject *o;

    if (!*line || !json_parser_load_from_data(p, line, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        return FALSE;
    o = json_node_get_object(json_parser_get_root(p));
    *sandbox = g_strdup(json_object_get_string_member_with_default(o, "sandbox", NULL));
    *uid = json_object_get_int_member_with_default(o, "uid", -1);
    return TRUE;
}

static void
broadcast(VmmEventsHub *hub, const char *kind, const char *line, const char *sandbox, gint64 uid)
{
    g_autofree char *frame = vmm_api_sse(kind, line);

    for (GList *l = hub->subs; l; l = l->next) {
        Sub *s = l->data;
        if (!s->gone && sub_wants(hub, s, sandbox, uid))
            sub_send(s, frame);
    }
}

static void
reap(VmmEventsHub *hub)
{
    for (GList *l = hub->subs, *next; l; l = next) {
        Sub *s = l->data;
        next = l->next;
        if (s->gone) {
            hub->subs = g_list_delete_link(hub->subs, l);
            sub_free(s);
        }
    }
}

/* Reads the global log's bytes [@from, @to) (only whole lines are used). Caller frees. */
static char *
read_range(VmmEventsHub *hub, goffset from, goffset to)
{
    g_autofree char *path = vmm_events_global_path(hub->d->state_dir);
    char *buf;
    gssize n = 0, got;
    int fd;

    if (to <= from)
        return g_strdup("");
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return g_strdup("");
    buf = g_malloc(to - from + 1);
    while (n < to - from && (got = pread(fd, buf + n, to - from - n, from + n)) > 0)
        n += got;
    close(fd);
    buf[n] = 0;
    return buf;
}

static goffset
log_size(VmmEventsHub *hub)
{
    g_autofree char *path = vmm_events_global_path(hub->d->state_dir);
    struct stat st;

    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

static gboolean
tail_tick(gpointer data)
{
    VmmEventsHub *hub = data;
    goffset size = log_size(hub);
    g_autofree char *chunk = NULL;
    char *end;

    reap(hub);
    if (size < hub->offset)
        hub->offset = size; /* replaced: start again from its end */
    if (size == hub->offset)
        return G_SOURCE_CONTINUE;
    chunk = read_range(hub, hub->offset, size);
    end = strrchr(chunk, '\n');
    if (!end)
        return G_SOURCE_CONTINUE; /* a record being written */
    *end = 0;
    hub->offset += end - chunk + 1;
    if (!hub->subs)
        return G_SOURCE_CONTINUE;
    for (char *line = chunk, *nl; line; line = nl) {
        g_autofree char *sandbox = NULL;
        gint64 uid = -1;
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = 0;
        if (line_keys(line, &sandbox, &uid))
            broadcast(hub, "audit", line, sandbox, uid);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
keepalive_tick(gpointer data)
{
    VmmEventsHub *hub = data;

    reap(hub);
    for (GList *l = hub->subs; l; l = l->next)
        if (!((Sub *)l->data)->gone)
            sub_send(l->data, ": keepalive\n\n");
    return G_SOURCE_CONTINUE;
}

/* A live libvirt event (or airlockd's progress), carried to the main loop. */
typedef struct {
    VmmEventsHub *hub;
    char *sandbox;
    char *line;
    gint64 uid; /* who may see it besides the owner and admins, or -1 */
} Live;

static gboolean
live_dispatch(gpointer data)
{
    Live *lv = data;

    broadcast(lv->hub, "live", lv->line, lv->sandbox, lv->uid);
    g_free(lv->sandbox);
    g_free(lv->line);
    g_free(lv);
    return G_SOURCE_REMOVE;
}

static void
publish(VmmEventsHub *hub, const char *source, const char *name, const char *kind,
        const char *detail, gint64 uid)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    Live *lv = g_new0(Live, 1);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "time");
    json_builder_add_string_value(b, time);
    json_builder_set_member_name(b, "source");
    json_builder_add_string_value(b, source);
    json_builder_set_member_name(b, "sandbox");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, kind);
    json_builder_set_member_name(b, "detail");
    json_builder_add_string_value(b, detail);
    json_builder_end_object(b);
    node = json_builder_get_root(b);
    lv->hub = hub;
    lv->sandbox = g_strdup(name);
    lv->line = vmm_api_to_data(node, NULL);
    lv->uid = uid;
    g_idle_add(live_dispatch, lv);
}

static void
on_live(const char *name, const char *kind, const char *detail, gpointer data)
{
    publish(data, "libvirt", name, kind, detail, -1);
}

void
vmm_events_hub_progress(VmmEventsHub *hub, const char *name, uid_t uid, const char *stage,
                        gdouble elapsed_s)
{
    g_autofree char *detail = g_strdup_printf("%s (%.1f s)", stage, elapsed_s);

    /* Any thread: the creator (by uid) and admins see it; the owner is not known yet. */
    publish(hub, "airlockd", name, "progress", detail, (gint64)uid);
}

/* libvirt's live events on a connection of their own, reconnecting after a loss. */
static gpointer
live_thread(gpointer data)
{
    VmmEventsHub *hub = data;

    while (!hub->stop) {
        g_autoptr(GError) err = NULL;
        VmmOps ops = {0};
        ops.ctx.conn = vmm_conn_open(hub->d->uri, &err);
        ops.ctx.state_dir = hub->d->state_dir;
        if (ops.ctx.conn) {
            if (!vmm_ops_follow(&ops, on_live, hub, &hub->stop, &err))
                g_debug("live events: %s", err->message);
            virConnectClose(ops.ctx.conn);
        }
        for (int i = 0; i < 20 && !hub->stop; i++)
            g_usleep(100 * 1000);
    }
    return NULL;
}

VmmEventsHub *
vmm_events_hub_new(VmmDaemon *d)
{
    VmmEventsHub *hub = g_new0(VmmEventsHub, 1);

    hub->d = d;
    hub->offset = log_size(hub);
    hub->tail_id = g_timeout_add(TAIL_INTERVAL_MS, tail_tick, hub);
    hub->keepalive_id = g_timeout_add_seconds(KEEPALIVE_S, keepalive_tick, hub);
    hub->live = g_thread_new("live-events", live_thread, hub);
    return hub;
}

void
vmm_events_hub_close_all(VmmEventsHub *hub)
{
    for (GList *l = hub->subs; l; l = l->next) {
        Sub *s = l->data;
        if (!s->gone) {
            soup_message_body_complete(soup_server_message_get_response_body(s->r->msg));
            soup_server_message_unpause(s->r->msg);
        }
        s->gone = TRUE;
    }
}

void
vmm_events_hub_free(VmmEventsHub *hub)
{
    if (!hub)
        return;
    hub->stop = 1;
    g_source_remove(hub->tail_id);
    g_source_remove(hub->keepalive_id);
    g_list_free_full(g_steal_pointer(&hub->subs), (GDestroyNotify)sub_free);
    /*
     * The live thread may sit in libvirt's event loop for its keepalive interval
     * and still reads the hub: the hub is not freed (this runs at exit), and the
     * thread ends with the process.
     */
}

void
vmm_events_hub_subscribe(VmmEventsHub *hub, VmmRequest *r)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(r->msg);
    const char *filter = vmm_request_query(r, "sandbox");
    g_autofree char *recorded = NULL;
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    Sub *s;

    if (filter && !vmm_name_validate(filter, "sandbox name", NULL)) {
        g_autoptr(GError) err = g_error_new(VMM_ERROR, VMM_ERROR_INVALID,
                                            "sandbox filter '%s' is not a sandbox name", filter);
        vmm_daemon_reply_error(r->msg, err);
        vmm_request_free(r);
        return;
    }
    s = g_new0(Sub, 1);
    s->r = r;
    s->sandbox = g_strdup(filter);
    soup_server_message_set_status(r->msg, 200, NULL);
    soup_message_headers_set_content_type(h, "text/event-stream", NULL);
    soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    g_signal_connect(r->msg, "finished", G_CALLBACK(sub_gone), s);
    g_signal_connect(r->msg, "disconnected", G_CALLBACK(sub_gone), s);
    /* What is recorded up to the point the tail has reached, then the tail takes over. */
    recorded = read_range(hub, 0, hub->offset);
    for (char *line = recorded, *nl; line && *line; line = nl) {
        g_autofree char *sandbox = NULL;
        gint64 uid = -1;
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = 0;
        if (line_keys(line, &sandbox, &uid) && sub_wants(hub, s, sandbox, uid))
            g_ptr_array_add(lines, vmm_api_sse("audit", line));
    }
    soup_message_body_append(soup_server_message_get_response_body(r->msg), SOUP_MEMORY_COPY,
                             ": airlockd events\n\n", strlen(": airlockd events\n\n"));
    for (guint i = lines->len > REPLAY_MAX ? lines->len - REPLAY_MAX : 0; i < lines->len; i++)
        soup_message_body_append(soup_server_message_get_response_body(r->msg), SOUP_MEMORY_COPY,
                                 lines->pdata[i], strlen(lines->pdata[i]));
    hub->subs = g_list_append(hub->subs, s);
    if (hub->d->draining)
        vmm_events_hub_close_all(hub);
}
