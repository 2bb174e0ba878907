/*
 * guest-files.c: files and directory trees to and from airlock-guest (guest-channel.h).
 *
 * Out of the guest, every name comes from the guest: it is checked (relative, no "." or
 * ".." component), walked one component at a time with O_NOFOLLOW under the destination,
 * and every file is created with O_EXCL|O_NOFOLLOW under a temporary name and renamed: a
 * symlink the guest sent is created as a symlink and never followed.
 */
#include <config.h>

#include "guest-channel-private.h"
#include "error.h"
#include "escape.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PUT_CHUNK (256 * 1024)
#define TREE_ENTRIES_MAX 1000000
#define TREE_DEPTH_MAX 128

typedef struct {
    VmmGuestConn *conn;
    guint32 sid;
    guint64 bytes, max_bytes;
    guint entries;
    gint64 deadline;
    GByteArray *out;
} Xfer;

static gboolean
put_fail(GError **error, int err, const char *what, const char *path)
{
    g_autofree char *shown = vmm_escape(path, -1, VMM_ESCAPE_LINE_MAX);
    g_set_error(error, VMM_ERROR, err == ENOENT ? VMM_ERROR_NOT_FOUND : VMM_ERROR_FAILED,
                "%s '%s': %s", what, shown, g_strerror(err));
    return FALSE;
}

/* An ERROR the guest sent while we were sending: it ends the copy. */
static gboolean
check_guest(Xfer *x, GError **error)
{
    VmmGuestFrame f;
    struct pollfd pfd = {.fd = x->conn->fd, .events = POLLIN};
    int r;

    if (poll(&pfd, 1, 0) > 0 && !vmm_guest_fill(x->conn, error))
        return FALSE;
    while ((r = vmm_guest_buffered(x->conn, &f, error)) > 0)
        if (f.sid == x->sid && f.type == AG_ERROR)
            return vmm_guest_failed(&f, error);
    if (r < 0)
        return FALSE;
    if (x->deadline && g_get_monotonic_time() > x->deadline) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT, "the copy did not finish in time");
        return FALSE;
    }
    return TRUE;
}

static gboolean
put_file_data(Xfer *x, int fd, const char *path, GError **error)
{
    g_autofree guint8 *buf = g_malloc(PUT_CHUNK);

    for (;;) {
        ssize_t n = read(fd, buf, PUT_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return put_fail(error, errno, "cannot read", path);
        vmm_guest_frame_append(x->out, AG_DATA, x->sid, buf, n);
        if (!vmm_guest_send(x->conn, x->out, error) || !check_guest(x, error))
            return FALSE;
        x->bytes += n;
        if (n == 0)
            return TRUE;
    }
}

/* Sends the entries under @dir_fd (relative prefix @rel) depth first. */
static gboolean
put_tree(Xfer *x, int dir_fd, const char *rel, const char *local, int depth, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    DIR *d;
    struct dirent *e;
    int fd = dup(dir_fd);

    if (depth > TREE_DEPTH_MAX)
        return put_fail(error, ELOOP, "cannot read", local);
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        return put_fail(error, errno, "cannot read", local);
    }
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            g_ptr_array_add(names, g_strdup(e->d_name));
    closedir(d);
    g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *child = *rel ? g_strconcat(rel, "/", name, NULL) : g_strdup(name);
        g_autofree char *shown = g_build_filename(local, child, NULL);
        struct stat st;

        if (strlen(child) > AG_PATH_MAX)
            return put_fail(error, ENAMETOOLONG, "cannot copy", shown);
        if (++x->entries > TREE_ENTRIES_MAX)
            return put_fail(error, EFBIG, "too many entries in", local);
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return put_fail(error, errno, "cannot read", shown);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            gboolean ok;
            if (sub < 0)
                return put_fail(error, errno, "cannot read", shown);
            vmm_guest_entry_append(x->out, x->sid, AG_KIND_DIR, st.st_mode, 0, child, "");
            ok = put_tree(x, sub, child, local, depth + 1, error);
            close(sub);
            if (!ok)
                return FALSE;
        } else if (S_ISREG(st.st_mode)) {
            int f = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            gboolean ok;
            if (f < 0)
                return put_fail(error, errno, "cannot read", shown);
            vmm_guest_entry_append(x->out, x->sid, AG_KIND_FILE, st.st_mode, st.st_size, child, "");
            ok = put_file_data(x, f, shown, error);
            close(f);
            if (!ok)
                return FALSE;
        } else if (S_ISLNK(st.st_mode)) {
            char target[AG_PATH_MAX + 1];
            ssize_t n = readlinkat(dir_fd, name, target, AG_PATH_MAX);
            if (n <= 0)
                return put_fail(error, n < 0 ? errno : EINVAL, "cannot read", shown);
            target[n] = '\0';
            vmm_guest_entry_append(x->out, x->sid, AG_KIND_SYMLINK, 0777, 0, child, target);
        } else {
            g_debug("not copied (not a file, directory or symlink): %s", shown);
        }
    }
    return TRUE;
}

/* Waits for DONE (or ERROR) of session @x->sid. */
static gboolean
wait_done(Xfer *x, GError **error)
{
    for (;;) {
        VmmGuestFrame f;
        guint64 bytes;
        guint32 entries;

        if (!vmm_guest_next(x->conn, &f, x->deadline, error))
            return FALSE;
        if (f.sid != x->sid)
            continue;
        if (f.type == AG_ERROR)
            return vmm_guest_failed(&f, error);
        return vmm_guest_done_parse(&f, &bytes, &entries, error);
    }
}

gboolean
vmm_guest_put(VmmGuestConn *conn, const char *local, const char *guest_path, gboolean tree,
              const VmmAgentCopyOpts *opts, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    Xfer x = {conn, conn->next_sid++, 0, 0, 0, 0, out};
    gboolean deref = opts && opts->dereference, ok;
    guint timeout_ms =
        opts && opts->timeout_ms ? opts->timeout_ms : VMM_AGENT_COPY_TIMEOUT_DEFAULT_S * 1000;
    struct stat st;
    int fd;

    x.deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    fd = open(local, O_RDONLY | O_CLOEXEC | (deref ? 0 : O_NOFOLLOW) | (tree ? O_DIRECTORY : 0));
    if (fd < 0)
        return put_fail(error, errno == ELOOP ? EINVAL : errno, "cannot read", local);
    if (fstat(fd, &st) < 0 || (!tree && !S_ISREG(st.st_mode))) {
        close(fd);
        return put_fail(error, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "cannot copy", local);
    }
    ok = vmm_guest_path_append(out, AG_PUT, x.sid, (tree ? AG_PUT_TREE : 0) | AG_PUT_MKDIRS,
                               guest_path, error);
    if (ok && tree) {
        vmm_guest_entry_append(out, x.sid, AG_KIND_DIR, st.st_mode, 0, "", "");
        ok = put_tree(&x, fd, "", local, 0, error);
    } else if (ok) {
        vmm_guest_entry_append(out, x.sid, AG_KIND_FILE, st.st_mode, st.st_size, "", "");
        ok = put_file_data(&x, fd, local, error);
    }
    close(fd);
    if (ok) {
        vmm_guest_frame_append(out, AG_END, x.sid, NULL, 0);
        ok = vmm_guest_send(conn, out, error) && wait_done(&x, error);
    }
    if (!ok)
        vmm_guest_send_frame(conn, AG_CANCEL, x.sid, NULL, 0, NULL);
    return ok;
}

/* ---- GET --------------------------------------------------------------------------------- */

typedef struct {
    int root_fd, dir_fd, file_fd; /* the tree's root; the open file's directory; the file */
    char tmp[64], *name;
    mode_t mode;
    gboolean tree, in_file, got_root;
} Sink;

static void
sink_clear(Sink *s)
{
    if (s->file_fd >= 0) {
        close(s->file_fd);
        unlinkat(s->dir_fd, s->tmp, 0);
    }
    if (s->dir_fd >= 0 && s->dir_fd != s->root_fd)
        close(s->dir_fd);
    s->file_fd = s->dir_fd = -1;
    g_clear_pointer(&s->name, g_free);
}

/* The directory holding @name under @root (walked with O_NOFOLLOW); *@last its last part. */
static int
open_parent(int root, const char *name, const char **last)
{
    g_auto(GStrv) parts = g_strsplit(name, "/", -1);
    int fd = dup(root);
    guint n = g_strv_length(parts);

    for (guint i = 0; fd >= 0 && i + 1 < n; i++) {
        int next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    *last = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    return fd;
}

static gboolean
sink_entry(Sink *s, const VmmGuestEntry *e, int dest_dir, const char *dest_name, GError **error)
{
    const char *last;
    int parent;
    g_autofree char *shown = vmm_escape(*e->name ? e->name : dest_name, -1, VMM_ESCAPE_LINE_MAX);

    if (s->in_file || (!*e->name) == s->got_root) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "the guest sent an entry out of order ('%s')", shown);
        return FALSE;
    }
    if (!*e->name) { /* the root: the file itself, or the tree's directory */
        s->got_root = TRUE;
        if (!s->tree && e->kind != AG_KIND_FILE) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest sent a non-file");
            return FALSE;
        }
        if (e->kind == AG_KIND_DIR) {
            struct stat st;
            if (mkdirat(dest_dir, dest_name, 0700) < 0 &&
                (errno != EEXIST || fstatat(dest_dir, dest_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                 !S_ISDIR(st.st_mode)))
                return put_fail(error, errno == EEXIST ? EEXIST : errno, "cannot create",
                                dest_name);
            s->root_fd =
                openat(dest_dir, dest_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s->root_fd < 0)
                return put_fail(error, errno, "cannot open", dest_name);
            fchmod(s->root_fd, (e->mode | 0700) & 0777);
            return TRUE;
        }
        if (e->kind != AG_KIND_FILE) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest sent a symlink as root");
            return FALSE;
        }
        parent = dup(dest_dir);
        last = dest_name;
    } else {
        if (s->root_fd < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest sent entries after a file");
            return FALSE;
        }
        if ((parent = open_parent(s->root_fd, e->name, &last)) < 0)
            return put_fail(error, errno, "cannot write", shown);
    }
    if (e->kind == AG_KIND_DIR) {
        struct stat st;
        gboolean ok = mkdirat(parent, last, (e->mode | 0700) & 0777) == 0 ||
                      (errno == EEXIST && fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISDIR(st.st_mode));
        int err = errno;
        close(parent);
        return ok || put_fail(error, err, "cannot create", shown);
    }
    if (e->kind == AG_KIND_SYMLINK) {
        gboolean ok = symlinkat(e->target, parent, last) == 0 ||
                      (errno == EEXIST && unlinkat(parent, last, 0) == 0 &&
                       symlinkat(e->target, parent, last) == 0);
        int err = errno;
        close(parent);
        return ok || put_fail(error, err, "cannot create", shown);
    }
    g_snprintf(s->tmp, sizeof(s->tmp), ".airlock-get-%d-%u", (int)getpid(), g_random_int());
    s->dir_fd = parent;
    s->name = g_strdup(last);
    s->mode = s->tree ? e->mode : s->mode;
    s->file_fd = openat(parent, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->file_fd < 0) {
        int err = errno;
        close(parent);
        s->dir_fd = -1;
        return put_fail(error, err, "cannot write", shown);
    }
    s->in_file = TRUE;
    return TRUE;
}

/*
 * The process's umask without changing it: umask(0) and back would, for an instant,
 * let another thread (airlockd runs several operations at once) create files
 * without any mask. Linux reports it in /proc/self/status since 4.7.
 */
static mode_t
current_umask(void)
{
    g_autofree char *status = NULL;
    const char *line;

    if (g_file_get_contents("/proc/self/status", &status, NULL, NULL) &&
        (line = strstr(status, "\nUmask:")))
        return (mode_t)(g_ascii_strtoull(line + strlen("\nUmask:"), NULL, 8) & 0777);
    return 077; /* unknown: the strictest, never the guest's bits */
}

static gboolean
sink_data(Sink *s, Xfer *x, const VmmGuestFrame *f, GError **error)
{
    const guint8 *p = f->data;
    gsize left = f->len;
    mode_t mask;

    if (!s->in_file) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest sent data outside a file");
        return FALSE;
    }
    if ((x->bytes += f->len) > x->max_bytes) {
        g_autofree char *h = vmm_agent_human_size(x->max_bytes);
        /* The same words whichever channel the copy took. */
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "the copy out of the guest is larger than the %s limit (raise --max-size)", h);
        return FALSE;
    }
    while (left > 0) {
        ssize_t n = write(s->file_fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return put_fail(error, errno, "cannot write", s->name);
        p += n;
        left -= n;
    }
    if (f->len)
        return TRUE;
    mask = current_umask();
    if (fchmod(s->file_fd, s->mode & 0777 & ~mask) < 0 || close(s->file_fd) < 0) {
        s->file_fd = -1;
        unlinkat(s->dir_fd, s->tmp, 0);
        return put_fail(error, errno, "cannot write", s->name);
    }
    s->file_fd = -1;
    if (renameat(s->dir_fd, s->tmp, s->dir_fd, s->name) < 0) {
        int err = errno;
        unlinkat(s->dir_fd, s->tmp, 0);
        return put_fail(error, err, "cannot write", s->name);
    }
    close(s->dir_fd);
    s->dir_fd = -1;
    g_clear_pointer(&s->name, g_free);
    s->in_file = FALSE;
    return TRUE;
}

gboolean
vmm_guest_get(VmmGuestConn *conn, const char *guest_path, int dir_fd, const char *name, mode_t mode,
              gboolean tree, const VmmAgentCopyOpts *opts, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    Xfer x = {conn, conn->next_sid++, 0, 0, 0, 0, out};
    Sink s = {.root_fd = -1, .dir_fd = -1, .file_fd = -1, .mode = mode, .tree = tree};
    guint timeout_ms =
        opts && opts->timeout_ms ? opts->timeout_ms : VMM_AGENT_COPY_TIMEOUT_DEFAULT_S * 1000;
    gboolean ok;

    x.max_bytes = opts && opts->max_bytes ? opts->max_bytes : VMM_AGENT_COPY_MAX_DEFAULT;
    x.deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    ok = vmm_guest_path_append(out, AG_GET, x.sid, tree ? AG_GET_TREE : 0, guest_path, error) &&
         vmm_guest_send(conn, out, error);
    while (ok) {
        VmmGuestFrame f;
        if (!(ok = vmm_guest_next(conn, &f, x.deadline, error)))
            break;
        if (f.sid != x.sid)
            continue;
        if (f.type == AG_END) {
            if (s.in_file || !s.got_root) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the guest ended the copy early");
                ok = FALSE;
            }
            break;
        }
        if (f.type == AG_ERROR) {
            ok = vmm_guest_failed(&f, error);
        } else if (f.type == AG_DATA) {
            ok = sink_data(&s, &x, &f, error);
        } else if (f.type == AG_ENTRY) {
            VmmGuestEntry e;
            if ((ok = vmm_guest_entry_parse(&f, &e, error))) {
                ok = ++x.entries <= TREE_ENTRIES_MAX
                         ? sink_entry(&s, &e, dir_fd, name, error)
                         : put_fail(error, EFBIG, "too many entries in", guest_path);
                vmm_guest_entry_clear(&e);
            }
        } else {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "the guest sent an unexpected frame (type %u) in a copy", f.type);
            ok = FALSE;
        }
    }
    sink_clear(&s);
    if (s.root_fd >= 0)
        close(s.root_fd);
    if (!ok)
        vmm_guest_send_frame(conn, AG_CANCEL, x.sid, NULL, 0, NULL);
    return ok;
}
