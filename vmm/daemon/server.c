/* server.c: airlockd's sockets, authentication, body bounds, static page and routing. */
#include <config.h>

#include "daemon.h"
#include "conn.h"
#include "error.h"
#include "tokens.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define AUTH_KEY "airlock-auth"
#define MAX_GROUPS 256

/* Who a message is from, decided before its body is read. */
typedef struct {
    uid_t uid;
    VmmRole role;
    gboolean is_static;
} Auth;

void
vmm_request_free(VmmRequest *r)
{
    if (!r)
        return;
    vmm_route_match_clear(&r->match);
    g_clear_pointer(&r->query, g_hash_table_unref);
    g_clear_pointer(&r->body, g_bytes_unref);
    vmm_caller_free(r->caller);
    g_clear_object(&r->msg);
    g_free(r);
}

const char *
vmm_request_query(VmmRequest *r, const char *key)
{
    return r->query ? g_hash_table_lookup(r->query, key) : NULL;
}

/* ---- replies ------------------------------------------------------------------------- */

void
vmm_daemon_reply_json(SoupServerMessage *msg, guint status, JsonNode *node)
{
    gsize len = 0;
    char *data = vmm_api_to_data(node, &len);

    json_node_unref(node);
    soup_server_message_set_status(msg, status, NULL);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 "no-store");
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, data, len);
}

void
vmm_daemon_reply_error(SoupServerMessage *msg, const GError *error)
{
    vmm_daemon_reply_json(msg, vmm_api_error_status(error), vmm_api_error_body(error));
}

/* ---- libvirt ------------------------------------------------------------------------- */

virConnectPtr
vmm_daemon_conn(VmmDaemon *d, GError **error)
{
    virConnectPtr c = NULL;

    g_mutex_lock(&d->conn_lock);
    if (d->conn && virConnectIsAlive(d->conn) != 1)
        g_clear_pointer(&d->conn, virConnectClose);
    if (!d->conn)
        d->conn = vmm_conn_open(d->uri, error);
    if (d->conn) {
        virConnectRef(d->conn);
        c = d->conn;
    }
    g_mutex_unlock(&d->conn_lock);
    return c;
}

/* ---- who is asking ------------------------------------------------------------------- */

static gid_t
group_gid(const char *name)
{
    struct group gr, *found = NULL;
    char buf[16384];

    if (name && getgrnam_r(name, &gr, buf, sizeof buf, &found) == 0 && found)
        return found->gr_gid;
    return (gid_t)-1;
}

/* @uid's role from its groups as the host knows them now (a removed member loses access). */
static VmmRole
role_of(VmmDaemon *d, uid_t uid)
{
    struct passwd pw, *found = NULL;
    char buf[16384];
    gid_t gids[MAX_GROUPS];
    int n = MAX_GROUPS;
    VmmAccessGroups groups = {group_gid(d->config->user_group), group_gid(d->config->admin_group)};
    VmmPeer peer = {.uid = uid, .gids = gids, .n_gids = 0};

    if (uid != 0 && getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found &&
        getgrouplist(found->pw_name, found->pw_gid, gids, &n) >= 0)
        peer.n_gids = (guint)n;
    return vmm_access_role(&peer, &groups);
}

/* The tokens file, re-read when it changed. Returns the matching uid or -1. */
static gint64
token_uid(VmmDaemon *d, const char *token, GError **error)
{
    g_autofree char *path = vmm_tokens_path(d->state_dir);
    const VmmToken *t;
    struct stat st;
    gint64 uid = -1;

    g_mutex_lock(&d->tokens_lock);
    if (lstat(path, &st) != 0) {
        g_clear_pointer(&d->tokens, g_ptr_array_unref);
    } else if (!d->tokens ||
               st.st_mtim.tv_sec * G_GINT64_CONSTANT(1000000000) + st.st_mtim.tv_nsec !=
                   d->tokens_mtime ||
               (gint64)st.st_ino != d->tokens_ino || st.st_size != d->tokens_size) {
        g_autoptr(GError) local = NULL;
        g_clear_pointer(&d->tokens, g_ptr_array_unref);
        d->tokens = vmm_tokens_load(d->state_dir, &local);
        if (!d->tokens)
            g_warning("tokens not readable: %s", local->message);
        d->tokens_mtime = st.st_mtim.tv_sec * G_GINT64_CONSTANT(1000000000) + st.st_mtim.tv_nsec;
        d->tokens_ino = (gint64)st.st_ino;
        d->tokens_size = st.st_size;
    }
    t = vmm_tokens_match(d->tokens, token, g_get_real_time() / G_USEC_PER_SEC, error);
    if (t)
        uid = t->uid;
    g_mutex_unlock(&d->tokens_lock);
    return uid;
}

static gboolean
is_static_path(const char *path)
{
    return g_str_equal(path, "/") || g_str_equal(path, "/index.html") ||
           g_str_equal(path, "/app.js") || g_str_equal(path, "/style.css");
}

/* The peer's uid: SO_PEERCRED on the unix socket, a bearer token on TCP. */
static gboolean
authenticate(VmmDaemon *d, SoupServerMessage *msg, uid_t *uid, GError **error)
{
    GSocket *sock = soup_server_message_get_socket(msg);
    const char *authz;
    gint64 u;

    if (sock && g_socket_get_family(sock) == G_SOCKET_FAMILY_UNIX) {
        g_autoptr(GCredentials) cred = g_socket_get_credentials(sock, NULL);
        uid_t peer = cred ? g_credentials_get_unix_user(cred, NULL) : (uid_t)-1;
        if (peer == (uid_t)-1) {
            g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED,
                        "cannot read the peer's credentials");
            return FALSE;
        }
        *uid = peer;
        return TRUE;
    }
    authz =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
    if (!authz || g_ascii_strncasecmp(authz, "Bearer ", 7) != 0) {
        g_set_error(error, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED,
                    "a bearer token is required on TCP (Authorization: Bearer TOKEN; airlock "
                    "token create makes one)");
        return FALSE;
    }
    if ((u = token_uid(d, authz + 7, error)) < 0)
        return FALSE;
    *uid = (uid_t)u;
    return TRUE;
}

/* Runs after the headers, before the body: who, may they, and how big. */
static void
early_handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer data)
{
    VmmDaemon *d = data;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    g_autoptr(GError) err = NULL;
    Auth *auth = g_new0(Auth, 1);
    goffset len;
    gsize limit;
    const char *method = soup_server_message_get_method(msg);

    g_object_set_data_full(G_OBJECT(msg), AUTH_KEY, auth, g_free);
    if (d->draining) {
        g_set_error(&err, VMM_API_ERROR, VMM_API_ERROR_UNAVAILABLE,
                    "airlockd is shutting down (retry once it is back)");
        goto fail;
    }
    if (is_static_path(path) && g_str_equal(method, "GET")) {
        auth->is_static = TRUE;
        return;
    }
    if (!authenticate(d, msg, &auth->uid, &err))
        goto fail;
    auth->role = role_of(d, auth->uid);
    if (auth->role == VMM_ROLE_NONE) {
        g_autoptr(VmmCaller) c = vmm_caller_new(auth->uid, "daemon");
        g_set_error(&err, VMM_API_ERROR, VMM_API_ERROR_FORBIDDEN,
                    "user '%s' (uid %u) is not in group '%s' (an admin adds it: adduser %s %s)",
                    c->user, (guint)auth->uid, d->config->user_group, c->user,
                    d->config->user_group);
        goto fail;
    }
    limit = g_str_has_suffix(path, "/files") ? d->max_file : d->max_body;
    if (soup_message_headers_get_encoding(h) == SOUP_ENCODING_CHUNKED) {
        g_set_error(&err, VMM_API_ERROR, VMM_API_ERROR_TOO_LARGE,
                    "send the request body with a Content-Length, not chunked");
        goto fail;
    }
    len = soup_message_headers_get_content_length(h);
    if (len < 0 || (guint64)len > limit) {
        g_set_error(&err, VMM_API_ERROR, VMM_API_ERROR_TOO_LARGE,
                    "request body of %" G_GINT64_FORMAT
                    " bytes is over the limit of %" G_GSIZE_FORMAT " bytes",
                    (gint64)len, limit);
        goto fail;
    }
    return;
fail:
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                 "close");
    vmm_daemon_reply_error(msg, err);
}

/* ---- the page ------------------------------------------------------------------------ */

static void
serve_file(VmmDaemon *d, SoupServerMessage *msg, const char *name, const char *type)
{
    g_autofree char *path = g_build_filename(d->web_dir, name, NULL);
    g_autoptr(GError) err = NULL;
    char *data = NULL;
    gsize len = 0;

    /* A fixed list of names in the data directory: a request never chooses a path. */
    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_autoptr(GError) nf = g_error_new(VMM_API_ERROR, VMM_API_ERROR_NO_ROUTE,
                                           "%s is not installed (airlockd --web DIR)", name);
        vmm_daemon_reply_error(msg, nf);
        return;
    }
    soup_server_message_set_status(msg, 200, NULL);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                 "Content-Security-Policy",
                                 "default-src 'self'; script-src 'self'; style-src 'self'; "
                                 "img-src 'self' data:; frame-ancestors 'none'");
    soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                 "X-Content-Type-Options", "nosniff");
    soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, data, len);
}

static void
serve_static(VmmDaemon *d, SoupServerMessage *msg, const char *path)
{
    if (g_str_equal(path, "/app.js"))
        serve_file(d, msg, "app.js", "text/javascript; charset=utf-8");
    else if (g_str_equal(path, "/style.css"))
        serve_file(d, msg, "style.css", "text/css; charset=utf-8");
    else
        serve_file(d, msg, "index.html", "text/html; charset=utf-8");
}

/* ---- the handler --------------------------------------------------------------------- */

static void
response_finished(SoupServerMessage *msg, gpointer data)
{
    VmmDaemon *d = data;

    g_signal_handlers_disconnect_by_func(msg, response_finished, data);
    if (d->open > 0)
        d->open--;
}

void
vmm_daemon_request_stolen(VmmRequest *r)
{
    /* A stolen connection (websocket) never finishes as a response: it is done here. */
    if (g_signal_handlers_disconnect_by_func(r->msg, response_finished, r->d) > 0 && r->d->open > 0)
        r->d->open--;
}

static void
handler(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer data)
{
    VmmDaemon *d = data;
    Auth *auth = g_object_get_data(G_OBJECT(msg), AUTH_KEY);
    g_autoptr(GError) err = NULL;
    VmmRequest *r;
    SoupMessageBody *body;

    if (!auth || soup_server_message_get_status(msg) != 0)
        return; /* answered by the early handler */
    if (auth->is_static) {
        serve_static(d, msg, path);
        return;
    }
    r = g_new0(VmmRequest, 1);
    if (!vmm_route_match(soup_server_message_get_method(msg), path, &r->match, &err)) {
        vmm_request_free(r);
        vmm_daemon_reply_error(msg, err);
        return;
    }
    r->d = d;
    r->msg = g_object_ref(msg);
    r->query = query ? g_hash_table_ref(query) : NULL;
    body = soup_server_message_get_request_body(msg);
    if (body && body->length)
        r->body = soup_message_body_flatten(body);
    r->caller = vmm_caller_new(auth->uid, "daemon");
    r->role = auth->role;
    /* A drain ends once the answers are on their way, not when they are merely computed. */
    d->open++;
    g_signal_connect(msg, "finished", G_CALLBACK(response_finished), d);
    vmm_daemon_dispatch(r);
}

/* ---- listening ----------------------------------------------------------------------- */

/* Whether something accepts connections on the socket at @path right now. */
static gboolean
socket_in_use(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gboolean used;

    if (fd < 0 || strlen(path) >= sizeof sa.sun_path) {
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    used = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return used;
}

static gboolean
listen_unix(VmmDaemon *d, const char *path, const char *group, GError **error)
{
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autofree char *dir = g_path_get_dirname(path);
    struct stat st;
    gid_t gid = group_gid(group);

    if (g_mkdir_with_parents(dir, 0755) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    /*
     * A leftover socket of an earlier run (one that crashed) is replaced; a live one
     * (another airlockd) and anything else at the path are not.
     */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                        "%s exists and is not a socket (remove it or choose --socket)", path);
            return FALSE;
        }
        if (socket_in_use(path)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                        "another airlockd already listens on %s (stop it, or choose --socket)",
                        path);
            return FALSE;
        }
        unlink(path);
    }
    if (!(sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                              error)))
        return FALSE;
    addr = g_unix_socket_address_new(path);
    {
        mode_t old = umask(0177); /* never reachable by others, not even for an instant */
        gboolean ok = g_socket_bind(sock, addr, FALSE, error);
        umask(old);
        if (!ok)
            return FALSE;
    }
    if (gid != (gid_t)-1 && chown(path, 0, gid) == 0)
        chmod(path, 0660);
    else if (gid == (gid_t)-1)
        g_warning("group '%s' does not exist: only root can use %s", group, path);
    if (!g_socket_listen(sock, error))
        return FALSE;
    return soup_server_listen_socket(d->server, sock, 0, error);
}

static gboolean
listen_tcp(VmmDaemon *d, const char *spec, GError **error)
{
    g_autoptr(GSocketConnectable) c = g_network_address_parse(spec, 0, error);
    g_autoptr(GInetAddress) ia = NULL;
    g_autoptr(GSocketAddress) sa = NULL;
    const char *host;
    guint16 port;

    if (!c)
        return FALSE;
    host = g_network_address_get_hostname(G_NETWORK_ADDRESS(c));
    port = g_network_address_get_port(G_NETWORK_ADDRESS(c));
    ia = g_inet_address_new_from_string(host);
    if (!ia || port == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--listen wants ADDRESS:PORT with a numeric address, e.g. 127.0.0.1:8470");
        return FALSE;
    }
    /* Tokens travel in clear over TCP: loopback only; put a TLS proxy in front for more. */
    if (!g_inet_address_get_is_loopback(ia)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--listen %s: only a loopback address is allowed (tokens are not encrypted; "
                    "put a TLS reverse proxy in front for remote clients)",
                    spec);
        return FALSE;
    }
    sa = g_inet_socket_address_new(ia, port);
    return soup_server_listen(d->server, sa, 0, error);
}

gboolean
vmm_daemon_serve(VmmDaemon *d, const char *socket_path, const char *socket_group,
                 const char *listen, GError **error)
{
    d->server = soup_server_new("server-header", "airlockd", NULL);
    soup_server_add_early_handler(d->server, NULL, early_handler, d, NULL);
    soup_server_add_handler(d->server, NULL, handler, d, NULL);
    if (socket_path && !listen_unix(d, socket_path, socket_group, error))
        return FALSE;
    if (listen && !listen_tcp(d, listen, error))
        return FALSE;
    return TRUE;
}

/*
 * Quits once nothing runs in a thread and every answer has been written; an
 * answer whose client does not read it gets 5 s once the work is done.
 */
static gboolean
drain_tick(gpointer data)
{
    VmmDaemon *d = data;

    if (d->inflight > 0)
        return G_SOURCE_CONTINUE;
    if (d->open > 0 && ++d->drain_idle < 50)
        return G_SOURCE_CONTINUE;
    g_main_loop_quit(d->loop);
    return G_SOURCE_REMOVE;
}

void
vmm_daemon_drain(VmmDaemon *d)
{
    GSList *listeners;

    if (d->draining)
        return;
    d->draining = TRUE;
    /* No new connections; requests in flight finish, event streams end. */
    listeners = soup_server_get_listeners(d->server);
    for (GSList *l = listeners; l; l = l->next)
        g_socket_close(l->data, NULL);
    g_slist_free(listeners);
    vmm_events_hub_close_all(d->hub);
    g_timeout_add(100, drain_tick, d);
}
