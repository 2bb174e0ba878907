/*
 * airlock-guest: airlock's agent inside a sandbox (docs/guest-protocol.md). It serves the
 * host ends of the virtio-serial ports org.airlock.guest.0..3: commands (pipes or a pty,
 * stdin streamed, a timeout that kills the process group, signals), files and directory
 * trees both ways, and the clock and RNG fix after a restore. One process, one poll loop,
 * no threads; every buffer bounded. Static, no runtime dependency beyond the kernel.
 *
 * A port whose host end is closed reads 0 and polls POLLHUP at once, so a closed port is
 * left out of the poll set; the kernel sends SIGIO (O_ASYNC) when the host connects or
 * sends, and SIGIO arrives on the signalfd. A closed host end ends that port's sessions:
 * their process groups are killed, nothing is left running.
 */
#define _GNU_SOURCE
#include "protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/random.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define READ_BURST (1024u * 1024u)    /* port bytes read before frames are handled */
#define OUT_HIGH (1024u * 1024u)      /* stop producing data above this much queued output */
#define OUT_HARD (8u * 1024u * 1024u) /* a host that reads nothing loses its port */
#define IN_CAP (AG_HEADER_LEN + AG_FRAME_MAX + 4096u)
#define EXIT_GRACE_MS 200 /* output after the command exited (background holders of its pipes) */
#define MAX_GROUPS 64
#define PORT_WAIT_ROUNDS 600 /* x 0.1 s */
#define TREE_DEPTH 128
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct {
    uint8_t *d;
    size_t len, cap;
} Buf;

enum { S_FREE, S_EXEC, S_PUT, S_GET };

typedef struct {
    DIR *dir;
    size_t prefix_len;
} Level;

typedef struct {
    int kind, port;
    uint32_t sid;
    /* exec */
    pid_t pid;
    int pty, in_fd, out_fd, err_fd, exited, status, timed_out, stdin_eof;
    Buf stdin_q;
    long long deadline, exit_at;
    /* put / get */
    uint32_t flags, entries;
    uint64_t bytes;
    int root_fd, file_fd, dir_fd;
    char name[AG_PATH_MAX + 1], tmp[64];
    uint32_t mode;
    /* get: the walk */
    Level stack[TREE_DEPTH];
    int depth;
    char rel[AG_PATH_MAX + 1];
} Session;

typedef struct {
    int fd, connected, hello, resync;
    Buf in, out;
} Port;

static Port ports[AG_PORTS];
static Session sessions[AG_PORTS * AG_SESSIONS_MAX];
static int sigfd = -1;
static int debug; /* AIRLOCK_GUEST_DEBUG=1 in the unit's environment: port events on stderr */
#define DEBUG(...) (debug ? (void)fprintf(stderr, __VA_ARGS__) : (void)0)
static unsigned tmp_counter;

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
buf_reserve(Buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->d, cap);
    if (!d)
        return -1;
    b->d = d;
    b->cap = cap;
    return 0;
}

static void
buf_consume(Buf *b, size_t n)
{
    memmove(b->d, b->d + n, b->len - n);
    b->len -= n;
}

static void
buf_free(Buf *b)
{
    free(b->d);
    *b = (Buf){0};
}

/* Queues a frame on @p; dropped when the host reads nothing (the port is reset on HUP). */
static void
send_frame(int p, uint16_t type, uint32_t sid, const void *a, size_t alen, const void *b,
           size_t blen)
{
    Port *port = &ports[p];
    if (!port->connected || port->out.len > OUT_HARD ||
        buf_reserve(&port->out, AG_HEADER_LEN + alen + blen) < 0)
        return;
    ag_header(port->out.d + port->out.len, type, sid, (uint32_t)(alen + blen));
    port->out.len += AG_HEADER_LEN;
    if (alen)
        memcpy(port->out.d + port->out.len, a, alen);
    port->out.len += alen;
    if (blen)
        memcpy(port->out.d + port->out.len, b, blen);
    port->out.len += blen;
}

static int
errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return AG_E_NOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return AG_E_PERMISSION;
    case EISDIR:
        return AG_E_ISDIR;
    case ENOTDIR:
    case ELOOP:
        return AG_E_NOTDIR;
    case EEXIST:
    case ENOTEMPTY:
        return AG_E_EXISTS;
    case ENOSPC:
    case EDQUOT:
        return AG_E_NOSPACE;
    case EINVAL:
    case ENAMETOOLONG:
        return AG_E_INVALID;
    default:
        return AG_E_IO;
    }
}

static void __attribute__((format(printf, 5, 6)))
send_error(int p, uint32_t sid, int code, int err, const char *fmt, ...)
{
    char text[AG_TEXT_MAX];
    uint8_t head[8];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(text))
        n = sizeof(text) - 1;
    ag_put32(head, (uint32_t)code);
    ag_put32(head + 4, (uint32_t)err);
    send_frame(p, AG_ERROR, sid, head, 8, text, (size_t)n);
}

/* ---- sessions ---------------------------------------------------------------------- */

static Session *
session_find(int p, uint32_t sid)
{
    for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
        if (sessions[i].kind != S_FREE && sessions[i].port == p && sessions[i].sid == sid)
            return &sessions[i];
    return NULL;
}

static Session *
session_new(int p, uint32_t sid, int kind)
{
    int count = 0;
    Session *free_slot = NULL;

    for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
        if (sessions[i].kind == S_FREE) {
            if (!free_slot)
                free_slot = &sessions[i];
        } else if (sessions[i].port == p && ++count >= AG_SESSIONS_MAX) {
            return NULL;
        }
    }
    if (!free_slot)
        return NULL;
    *free_slot = (Session){.kind = kind,
                           .port = p,
                           .sid = sid,
                           .in_fd = -1,
                           .out_fd = -1,
                           .err_fd = -1,
                           .root_fd = -1,
                           .file_fd = -1,
                           .dir_fd = -1};
    return free_slot;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Ends a session; a running command's process group is killed (nothing outlives its host). */
static void
session_end(Session *s)
{
    if (s->kind == S_EXEC && !s->exited && s->pid > 0)
        kill(-s->pid, SIGKILL);
    close_fd(&s->in_fd);
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
    if (s->file_fd >= 0 && s->kind == S_PUT && s->dir_fd >= 0 && s->tmp[0])
        unlinkat(s->dir_fd, s->tmp, 0);
    close_fd(&s->file_fd);
    close_fd(&s->dir_fd);
    close_fd(&s->root_fd);
    for (int i = 0; i < s->depth; i++)
        closedir(s->stack[i].dir);
    buf_free(&s->stdin_q);
    s->kind = S_FREE;
}

static void
port_reset_sessions(int p)
{
    for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++)
        if (sessions[i].kind != S_FREE && sessions[i].port == p)
            session_end(&sessions[i]);
}

#include "airlock-guest-exec.c"
#include "airlock-guest-files.c"

/* ---- frames ---------------------------------------------------------------------------- */

static void
do_fixup(int p, uint32_t sid, const uint8_t *pl, uint32_t len)
{
    struct timespec ts;
    int fd, r = -1;
    const char *what = "clock_settime";

    if (len != 16 + 64) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "malformed FIXUP");
        return;
    }
    ts.tv_sec = (time_t)ag_get64(pl);
    ts.tv_nsec = (long)ag_get64(pl + 8);
    if (clock_settime(CLOCK_REALTIME, &ts) == 0) {
        what = "/dev/urandom";
        if ((fd = open("/dev/urandom", O_RDWR | O_CLOEXEC)) >= 0) {
            if (write(fd, pl + 16, 64) == 64) {
                what = "RNDRESEEDCRNG";
                r = ioctl(fd, RNDRESEEDCRNG, 0);
            }
            close(fd);
        }
    }
    if (r < 0)
        send_error(p, sid, AG_E_IO, errno, "%s: %s", what, strerror(errno));
    else
        send_frame(p, AG_FIXED, sid, NULL, 0, NULL, 0);
}

/*
 * A warm start's identity (a sandbox restored from a pool's saved guest): written where a
 * cold start's seed writes it, with the same modes, each file replaced whole by a rename.
 */
static int
replace_file(const char *dir, const char *name, const uint8_t *data, uint32_t len, mode_t mode)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    int fd, r = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.airlock-new", dir, name);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    for (uint32_t off = 0; off < len && r == 0;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = -1;
        else
            off += (uint32_t)n;
    }
    if (r == 0 && (fchown(fd, 0, 0) != 0 || fchmod(fd, mode) != 0))
        r = -1;
    if (close(fd) != 0)
        r = -1;
    if (r == 0 && rename(tmp, path) != 0)
        r = -1;
    if (r != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return r;
}

static void
do_identity(int p, uint32_t sid, uint8_t *pl, uint32_t len)
{
    const uint8_t *f[5] = {0};
    uint32_t flen[5] = {0}, off = 0;
    char host[AG_HOSTNAME_MAX + 2], mid[34];
    const char *what = NULL;

    while (off < len) {
        uint8_t tag;
        uint32_t n;
        if (len - off < 5)
            goto malformed;
        tag = pl[off];
        n = ag_get32(pl + off + 1);
        off += 5;
        if (tag < AG_I_HOSTNAME || tag > AG_I_SECRETS || f[tag] || n > len - off)
            goto malformed;
        f[tag] = pl + off;
        flen[tag] = n;
        off += n;
    }
    /* All four, the names in their strict shapes (they become a file and a kernel value). */
    if (!f[AG_I_HOSTNAME] || !f[AG_I_MACHINE_ID] || !f[AG_I_ENV] || !f[AG_I_SECRETS] ||
        flen[AG_I_HOSTNAME] < 1 || flen[AG_I_HOSTNAME] > AG_HOSTNAME_MAX ||
        flen[AG_I_MACHINE_ID] != 32)
        goto malformed;
    for (uint32_t i = 0; i < flen[AG_I_HOSTNAME]; i++) {
        uint8_t c = f[AG_I_HOSTNAME][i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            goto malformed;
    }
    for (uint32_t i = 0; i < 32; i++) {
        uint8_t c = f[AG_I_MACHINE_ID][i];
        if (!((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9')))
            goto malformed;
    }
    memcpy(host, f[AG_I_HOSTNAME], flen[AG_I_HOSTNAME]);
    host[flen[AG_I_HOSTNAME]] = '\n';
    host[flen[AG_I_HOSTNAME] + 1] = '\0';
    memcpy(mid, f[AG_I_MACHINE_ID], 32);
    mid[32] = '\n';
    mid[33] = '\0';
    if (mkdir("/run/airlock", 0755) != 0 && errno != EEXIST)
        what = "/run/airlock";
    else if (replace_file("/run/airlock", "env", f[AG_I_ENV], flen[AG_I_ENV], 0644) != 0)
        what = AG_ENV_FILE;
    else if (replace_file("/run/airlock", "secrets.env", f[AG_I_SECRETS], flen[AG_I_SECRETS],
                          0600) != 0)
        what = AG_SECRETS_FILE;
    else if (sethostname(host, flen[AG_I_HOSTNAME]) != 0)
        what = "sethostname";
    else if (replace_file("/etc", "hostname", (const uint8_t *)host, flen[AG_I_HOSTNAME] + 1,
                          0644) != 0)
        what = "/etc/hostname";
    else if (replace_file("/etc", "machine-id", (const uint8_t *)mid, 33, 0444) != 0)
        what = "/etc/machine-id";
    /* The secrets leave this process's memory with the frame. */
    explicit_bzero(pl, len);
    if (what)
        send_error(p, sid, AG_E_IO, errno, "%s: %s", what, strerror(errno));
    else
        send_frame(p, AG_IDENTIFIED, sid, NULL, 0, NULL, 0);
    return;
malformed:
    explicit_bzero(pl, len);
    send_error(p, sid, AG_E_PROTOCOL, 0, "malformed IDENTITY");
}

static void
do_hello(int p, uint32_t sid, const uint8_t *pl, uint32_t len)
{
    uint8_t out[AG_MAGIC_LEN + 8 + AG_NONCE_LEN];
    static const char name[] = "airlock-guest 1";

    DEBUG("port %d: HELLO\n", p);
    port_reset_sessions(p);
    if (len < AG_MAGIC_LEN + 8 + AG_NONCE_LEN || memcmp(pl, AG_MAGIC, AG_MAGIC_LEN) != 0 ||
        ag_get16(pl + 8) > AG_VERSION_MAX || ag_get16(pl + 10) < AG_VERSION_MIN) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "no common protocol version (this guest speaks %d-%d)",
                   AG_VERSION_MIN, AG_VERSION_MAX);
        ports[p].hello = 0;
        return;
    }
    memcpy(out, AG_MAGIC, AG_MAGIC_LEN);
    ag_put16(out + 8, AG_VERSION_MAX);
    ag_put16(out + 10, 0);
    ag_put32(out + 12, AG_FEATURE_IDENTITY); /* features */
    memcpy(out + 16, pl + 16, AG_NONCE_LEN);
    send_frame(p, AG_HELLO, sid, out, sizeof(out), name, sizeof(name) - 1);
    ports[p].hello = 1;
}

static void
handle_frame(int p, uint16_t type, uint32_t sid, uint8_t *pl, uint32_t len)
{
    Session *s;

    if (type == AG_HELLO) {
        do_hello(p, sid, pl, len);
        return;
    }
    if (!ports[p].hello)
        return; /* left over from an earlier host: ignored until its HELLO */
    s = session_find(p, sid);
    switch (type) {
    case AG_PING:
        if (len <= AG_PING_MAX)
            send_frame(p, AG_PONG, sid, pl, len, NULL, 0);
        break;
    case AG_FIXUP:
        do_fixup(p, sid, pl, len);
        break;
    case AG_IDENTITY:
        do_identity(p, sid, pl, len);
        break;
    case AG_EXEC:
        exec_start(p, sid, pl, len);
        break;
    case AG_PUT:
        put_start(p, sid, pl, len);
        break;
    case AG_GET:
        get_start(p, sid, pl, len);
        break;
    case AG_CANCEL:
        if (s)
            session_end(s);
        break;
    case AG_STDIN:
        if (!s || s->kind != S_EXEC || s->stdin_eof)
            break;
        if (len == 0)
            s->stdin_eof = 1;
        else if (s->stdin_q.len + len > AG_STDIN_WINDOW || buf_reserve(&s->stdin_q, len) < 0) {
            send_error(p, sid, AG_E_PROTOCOL, 0, "stdin beyond the window");
            session_end(s);
        } else {
            memcpy(s->stdin_q.d + s->stdin_q.len, pl, len);
            s->stdin_q.len += len;
        }
        if (s->kind == S_EXEC)
            exec_pump_input(s);
        break;
    case AG_SIGNAL:
        if (s && s->kind == S_EXEC && len == 4 && ag_get32(pl) >= 1 && ag_get32(pl) < 65 &&
            !s->exited)
            kill(-s->pid, (int)ag_get32(pl));
        break;
    case AG_RESIZE:
        if (s && s->kind == S_EXEC && s->pty && len == 4) {
            struct winsize ws = {.ws_row = ag_get16(pl), .ws_col = ag_get16(pl + 2)};
            ioctl(s->out_fd >= 0 ? s->out_fd : s->in_fd, TIOCSWINSZ, &ws);
        }
        break;
    case AG_ENTRY:
    case AG_DATA:
    case AG_END:
        if (s && s->kind == S_PUT)
            put_frame(s, type, pl, len);
        break; /* frames of a session that failed: dropped */
    default:
        send_error(p, sid, AG_E_PROTOCOL, 0, "unknown frame type %u", type);
    }
}

/* Finds a HELLO header after garbage: keeps the input from there (or its tail). */
static void
resync(Port *port)
{
    for (size_t i = 0; i + AG_HEADER_LEN + AG_MAGIC_LEN <= port->in.len; i++) {
        const uint8_t *h = port->in.d + i;
        if (ag_get16(h + 4) == AG_HELLO && ag_get32(h) <= 256 &&
            memcmp(h + AG_HEADER_LEN, AG_MAGIC, AG_MAGIC_LEN) == 0) {
            buf_consume(&port->in, i);
            port->resync = 0;
            return;
        }
    }
    if (port->in.len > AG_HEADER_LEN + AG_MAGIC_LEN)
        buf_consume(&port->in, port->in.len - (AG_HEADER_LEN + AG_MAGIC_LEN));
}

static void
port_parse(int p)
{
    Port *port = &ports[p];
    for (;;) {
        if (port->resync)
            resync(port);
        if (port->resync || port->in.len < AG_HEADER_LEN)
            return;
        uint32_t len = ag_get32(port->in.d);
        uint16_t type = ag_get16(port->in.d + 4);
        if (len > AG_FRAME_MAX || ag_get16(port->in.d + 6) != 0) {
            /* Not a frame: end this host's sessions and wait for a new HELLO. */
            port_reset_sessions(p);
            port->hello = 0;
            port->resync = 1;
            buf_consume(&port->in, 1);
            continue;
        }
        if (port->in.len < AG_HEADER_LEN + len)
            return;
        handle_frame(p, type, ag_get32(port->in.d + 8), port->in.d + AG_HEADER_LEN, len);
        buf_consume(&port->in, AG_HEADER_LEN + len);
    }
}

/*
 * The host end closed: its sessions end. Unread input is kept: the port's data and its
 * open/close events travel on different virtqueues, so a new host's HELLO may be there
 * before the event that says it connected (what an old host left is skipped until HELLO).
 */
static void
port_disconnect(int p)
{
    Port *port = &ports[p];
    if (port->connected)
        DEBUG("port %d: host closed\n", p);
    port_reset_sessions(p);
    port->connected = port->hello = port->resync = 0;
    port->in.len = port->out.len = 0;
}

/*
 * A read returns at most one 4 KiB virtqueue buffer and a write takes at most 32 KiB:
 * both loop until the port would block (a poll per 4 KiB costs most of the time).
 */
static void
port_flush(int p)
{
    Port *port = &ports[p];
    size_t done = 0;
    while (done < port->out.len) {
        ssize_t w = write(port->fd, port->out.d + done, port->out.len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (done)
        buf_consume(&port->out, done);
}

static void
port_read(int p)
{
    Port *port = &ports[p];
    size_t got = 0;
    while (got < READ_BURST && port->in.len < IN_CAP && buf_reserve(&port->in, 65536) == 0) {
        ssize_t r = read(port->fd, port->in.d + port->in.len, 65536);
        if (r > 0) {
            port->in.len += (size_t)r;
            got += (size_t)r;
            continue;
        }
        if (r == 0 && got == 0) {
            port_disconnect(p);
            return;
        }
        break; /* EAGAIN, or 0 after data: the HUP shows at the next poll */
    }
    DEBUG("port %d: read %zu\n", p, got);
    port_parse(p);
}

static void
ports_check(void)
{
    for (int p = 0; p < AG_PORTS; p++) {
        struct pollfd pfd = {.fd = ports[p].fd, .events = POLLIN};
        if (ports[p].fd < 0 || ports[p].connected)
            continue;
        if (poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLHUP)) {
            DEBUG("port %d: host connected\n", p);
            ports[p].connected = 1;
        } else
            port_disconnect(p);
    }
}

static int
ports_open(void)
{
    int opened = 0;
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;

    for (int p = 0; p < AG_PORTS; p++)
        ports[p].fd = -1;
    while (d && (e = readdir(d))) {
        char path[512], name[128] = "";
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
        if (!(f = fopen(path, "re")))
            continue;
        if (!fgets(name, sizeof(name), f))
            name[0] = 0;
        fclose(f);
        name[strcspn(name, "\n")] = 0;
        if (strncmp(name, AG_PORT_PREFIX, strlen(AG_PORT_PREFIX)) != 0)
            continue;
        int p = atoi(name + strlen(AG_PORT_PREFIX));
        if (p < 0 || p >= AG_PORTS || ports[p].fd >= 0)
            continue;
        snprintf(path, sizeof(path), "/dev/%s", e->d_name);
        ports[p].fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (ports[p].fd < 0) {
            fprintf(stderr, "airlock-guest: %s: %s\n", path, strerror(errno));
            continue;
        }
        fcntl(ports[p].fd, F_SETOWN, getpid());
        fcntl(ports[p].fd, F_SETFL, O_RDWR | O_NONBLOCK | O_ASYNC);
        opened++;
    }
    if (d)
        closedir(d);
    return opened;
}

static int
ports_any(void)
{
    for (int p = 0; p < AG_PORTS; p++)
        if (ports[p].fd >= 0)
            return 1;
    return 0;
}

int
main(void)
{
    sigset_t mask;
    struct pollfd pfds[1 + AG_PORTS + 3 * AG_PORTS * AG_SESSIONS_MAX];
    void *owner[sizeof(pfds) / sizeof(pfds[0])];

    sigemptyset(&mask);
    sigaddset(&mask, SIGIO);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    setenv("PATH", DEFAULT_PATH, 1);
    debug = getenv("AIRLOCK_GUEST_DEBUG") != NULL;
    setvbuf(stderr, NULL, _IOLBF, 0);
    umask(022);
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    /* Early in boot the ports may not be probed yet: look for them for a while. */
    for (int i = 0; i < PORT_WAIT_ROUNDS && sigfd >= 0 && ports_open() == 0; i++)
        usleep(100000);
    if (sigfd < 0 || !ports_any()) {
        fprintf(stderr, "airlock-guest: no %s* port: nothing to serve\n", AG_PORT_PREFIX);
        return 0;
    }
    ports_check();
    for (;;) {
        int n = 0, timeout = -1;
        long long now = now_ms();

        pfds[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        owner[n++] = NULL;
        for (int p = 0; p < AG_PORTS; p++) {
            if (ports[p].fd < 0 || !ports[p].connected)
                continue;
            pfds[n] = (struct pollfd){.fd = ports[p].fd,
                                      .events = (short)((ports[p].in.len < IN_CAP ? POLLIN : 0) |
                                                        (ports[p].out.len ? POLLOUT : 0))};
            owner[n++] = &ports[p];
        }
        for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
            Session *s = &sessions[i];
            int room = ports[s->port].out.len < OUT_HIGH;
            if (s->kind == S_GET && room)
                timeout = 0;
            if (s->kind != S_EXEC)
                continue;
            if (s->exited) {
                long long left = s->exit_at + EXIT_GRACE_MS - now;
                timeout = timeout < 0 || left < timeout ? (int)(left > 0 ? left : 0) : timeout;
            } else if (s->deadline) {
                long long left = s->deadline - now;
                timeout = timeout < 0 || left < timeout ? (int)(left > 0 ? left : 0) : timeout;
            }
            if (room && s->out_fd >= 0) {
                pfds[n] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
                owner[n++] = s;
            }
            if (room && s->err_fd >= 0) {
                pfds[n] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
                owner[n++] = s;
            }
            if (s->in_fd >= 0 && s->stdin_q.len > 0) {
                pfds[n] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
                owner[n++] = s;
            }
        }
        if (poll(pfds, (nfds_t)n, timeout) < 0 && errno != EINTR)
            return 1;
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            int check = 0;
            while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                    reap_children();
                else if (si.ssi_signo == SIGIO)
                    check = 1;
                else {
                    for (int p = 0; p < AG_PORTS; p++)
                        port_reset_sessions(p);
                    return 0;
                }
            }
            if (check)
                ports_check();
        }
        for (int i = 1; i < n; i++) {
            if (!pfds[i].revents)
                continue;
            if (owner[i] >= (void *)ports && owner[i] < (void *)(ports + AG_PORTS)) {
                Port *port = owner[i];
                int p = (int)(port - ports);
                if (pfds[i].revents & POLLHUP) {
                    port_disconnect(p);
                    continue;
                }
                if (pfds[i].revents & POLLOUT)
                    port_flush(p);
                if (pfds[i].revents & POLLIN)
                    port_read(p);
            } else {
                Session *s = owner[i];
                if (s->kind != S_EXEC)
                    continue;
                if (pfds[i].fd == s->out_fd)
                    exec_pump_output(s, &s->out_fd, AG_STDOUT);
                else if (pfds[i].fd == s->err_fd)
                    exec_pump_output(s, &s->err_fd, AG_STDERR);
                else if (pfds[i].fd == s->in_fd)
                    exec_pump_input(s);
            }
        }
        reap_children();
        now = now_ms();
        for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
            if (sessions[i].kind == S_EXEC)
                exec_finish_if_done(&sessions[i], now);
            else if (sessions[i].kind == S_GET)
                get_pump(&sessions[i]);
        }
        /* Writes the output queued above at once (the host end is usually ready). */
        for (int p = 0; p < AG_PORTS; p++)
            if (ports[p].connected && ports[p].out.len)
                port_flush(p);
    }
}
