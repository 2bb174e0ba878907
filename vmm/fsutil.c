/* fsutil.c: root's file operations on directory fds, never following a name someone else can
 * change. */
/* O_PATH: a directory on the way may be searchable but not readable. */
#define _GNU_SOURCE 1
#include <config.h>

#include "fsutil.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40
#define MAX_DEPTH 64
#define COPY_CHUNK (1 << 20)

void
vmm_fs_close_fdp(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

static gboolean
trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

static gboolean
unsafe(GError **error, const char *path, const char *where, const char *why)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "state directory %s is unsafe: %s %s (make it root-owned and not writable by "
                "others, or choose another AIRLOCK_STATE_DIR)",
                path, where, why);
    return FALSE;
}

/* Pushes the components of @path in front of @todo, in order. */
static void
push_components(GQueue *todo, const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);

    for (guint i = g_strv_length(parts); i > 0; i--)
        if (*parts[i - 1] && strcmp(parts[i - 1], ".") != 0)
            g_queue_push_head(todo, g_strdup(parts[i - 1]));
}

/* A queue of path components it owns: what is left when the walk stops early is freed. */
typedef GQueue StrQueue;

static void
str_queue_free(StrQueue *q)
{
    g_queue_free_full(q, g_free);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(StrQueue, str_queue_free)

gboolean
vmm_fs_check_state_dir(const char *path, GError **error)
{
    g_autoptr(StrQueue) todo = g_queue_new();
    g_autofree char *where = g_strdup("/");
    g_autofree char *cwd = NULL;
    gboolean shared_parent = FALSE; /* the directory we are in is writable by others (sticky) */
    int fd, links = 0;
    char *comp;

    if (!path || !*path) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the state directory path is empty");
        return FALSE;
    }
    if (!g_path_is_absolute(path)) {
        cwd = g_get_current_dir();
        push_components(todo, path);
        push_components(todo, cwd);
    } else {
        push_components(todo, path);
    }
    fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open /: %s", g_strerror(errno));
        return FALSE;
    }
    while ((comp = g_queue_pop_head(todo))) {
        g_autofree char *name = comp;
        g_autofree char *next = strcmp(name, "..") == 0 ? g_path_get_dirname(where)
                                                        : g_build_filename(where, name, NULL);
        gboolean last = g_queue_is_empty(todo);
        struct stat st, st2;
        int nfd;

        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
            /* Made now, then checked: nobody can plant it between check and use. 0755
             * whatever the umask: qemu must be able to search down to its sandbox. */
            if (mkdirat(fd, name, 0700) == 0)
                fchmodat(fd, name, 0755, 0);
            else if (errno != EEXIST) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", next,
                            g_strerror(errno));
                close(fd);
                return FALSE;
            }
        }
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot check %s: %s", next,
                        g_strerror(errno));
            close(fd);
            return FALSE;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n;

            if (shared_parent || !trusted_owner(st.st_uid) || ++links > MAX_LINKS) {
                close(fd);
                return unsafe(error, path, next,
                              shared_parent ? "is a symlink in a directory others can write"
                                            : "is a symlink not owned by root");
            }
            n = readlinkat(fd, name, target, sizeof(target) - 1);
            if (n < 0) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read link %s: %s", next,
                            g_strerror(errno));
                close(fd);
                return FALSE;
            }
            target[n] = '\0';
            push_components(todo, target);
            if (target[0] == '/') {
                close(fd);
                fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                g_free(where);
                where = g_strdup("/");
                shared_parent = FALSE;
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            return unsafe(error, path, next, "is not a directory");
        }
        if (!trusted_owner(st.st_uid)) {
            g_autofree char *why = g_strdup_printf("is owned by uid %u, not root", st.st_uid);
            close(fd);
            return unsafe(error, path, next, why);
        }
        if ((st.st_mode & 022) && (last || !(st.st_mode & S_ISVTX))) {
            close(fd);
            return unsafe(error, path, next, "is writable by group or others");
        }
        nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (nfd < 0 || fstat(nfd, &st2) != 0 || st2.st_ino != st.st_ino ||
            st2.st_dev != st.st_dev) {
            if (nfd >= 0)
                close(nfd);
            return unsafe(error, path, next, "changed while it was checked");
        }
        fd = nfd;
        shared_parent = (st.st_mode & 022) != 0;
        g_free(where);
        where = g_steal_pointer(&next);
    }
    close(fd);
    return TRUE;
}

int
vmm_fs_open_own_dir_at(int dirfd, const char *name, GError **error)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st = {0};

    if (fd < 0) {
        int e = errno;
        g_set_error(error, VMM_ERROR, e == ENOENT ? VMM_ERROR_NOT_FOUND : VMM_ERROR_INVALID,
                    "cannot open directory %s: %s", name,
                    e == ELOOP || e == ENOTDIR ? "a symlink or not a directory (refused)"
                                               : g_strerror(e));
        return -1;
    }
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s belongs to uid %u or others can write it: airlock will not work inside it "
                    "(remove it, e.g. with airlock destroy)",
                    name, st.st_uid);
        close(fd);
        return -1;
    }
    return fd;
}

int
vmm_fs_open_own_dir(const char *path, GError **error)
{
    return vmm_fs_open_own_dir_at(AT_FDCWD, path, error);
}

int
vmm_fs_mkdir_at(int dirfd, const char *name, mode_t mode, uid_t uid, gid_t gid, GError **error)
{
    struct stat st = {0};
    int fd;

    if (mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", name,
                    g_strerror(errno));
        return -1;
    }
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot use %s: %s", name,
                    e == ELOOP || e == ENOTDIR ? "it is a symlink or not a directory (remove it)"
                                               : g_strerror(e));
        return -1;
    }
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid()) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "cannot use %s: it belongs to uid %u, not to us (remove it)", name, st.st_uid);
        close(fd);
        return -1;
    }
    if (((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0) ||
        fchmod(fd, mode) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot set the owner or mode of %s: %s",
                    name, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
vmm_fs_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd;

    if (pfd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open %s: %s", parent,
                    g_strerror(errno));
        return -1;
    }
    fd = vmm_fs_mkdir_at(pfd, base, mode, uid, gid, error);
    close(pfd);
    if (fd < 0)
        g_prefix_error(error, "%s: ", parent);
    return fd;
}

static gboolean
remove_at(int parent, const char *name, const char *shown, int depth, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    DIR *d;
    struct dirent *ent;
    int fd;

    for (int tries = 0;; tries++) {
        if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
            return TRUE;
        if ((errno != EISDIR && errno != EPERM) || depth > MAX_DEPTH)
            goto fail;
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            break;
        if (errno == ENOENT)
            return TRUE;
        /* Swapped for a link or a file since unlinkat: remove that instead, never enter it. */
        if ((errno != ELOOP && errno != ENOTDIR) || tries > 8)
            goto fail;
    }
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        goto fail;
    }
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0)
            g_ptr_array_add(names, g_strdup(ent->d_name));
    for (guint i = 0; i < names->len; i++) {
        const char *child = g_ptr_array_index(names, i);
        g_autofree char *child_shown = g_build_filename(shown, child, NULL);
        if (!remove_at(dirfd(d), child, child_shown, depth + 1, error)) {
            closedir(d);
            return FALSE;
        }
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return TRUE;
fail:
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot remove %s: %s", shown,
                depth > MAX_DEPTH ? "too deep" : g_strerror(errno));
    return FALSE;
}

gboolean
vmm_fs_remove_at(int dirfd, const char *name, GError **error)
{
    return remove_at(dirfd, name, name, 0, error);
}

gboolean
vmm_fs_remove_tree(const char *path, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gboolean ok;

    if (pfd < 0) {
        if (errno == ENOENT)
            return TRUE;
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot open %s: %s", parent,
                    g_strerror(errno));
        return FALSE;
    }
    ok = remove_at(pfd, base, path, 0, error);
    close(pfd);
    return ok;
}

int
vmm_fs_open_regular_at(int dirfd, const char *name, GError **error)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        int e = errno;
        g_set_error(error, VMM_ERROR, e == ENOENT ? VMM_ERROR_NOT_FOUND : VMM_ERROR_INVALID,
                    "cannot open %s: %s", name,
                    e == ELOOP ? "it is a symlink (refused)" : g_strerror(e));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "cannot open %s: not a regular file (refused)", name);
        close(fd);
        return -1;
    }
    return fd;
}

char *
vmm_fs_read_at(int dirfd, const char *name, gsize max, gsize *len, GError **error)
{
    int fd = vmm_fs_open_regular_at(dirfd, name, error);
    g_autofree char *buf = NULL;
    gsize got = 0;
    ssize_t n;

    if (fd < 0)
        return NULL;
    buf = g_malloc(max + 2);
    while (got <= max && (n = read(fd, buf + got, max + 1 - got)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read %s: %s", name,
                        g_strerror(errno));
            close(fd);
            return NULL;
        }
        got += n;
    }
    close(fd);
    if (got > max) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s is larger than %zu bytes (refused)",
                    name, max);
        return NULL;
    }
    buf[got] = '\0';
    if (len)
        *len = got;
    return g_steal_pointer(&buf);
}

static gboolean
write_all(int fd, const char *data, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

gboolean
vmm_fs_write_at(int dirfd, const char *name, const char *data, gssize len, mode_t mode,
                GError **error)
{
    g_autofree char *tmp = g_strdup_printf(".%s.%08x", name, g_random_int());
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    gboolean ok;

    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", name,
                    g_strerror(errno));
        return FALSE;
    }
    ok = write_all(fd, data, len < 0 ? strlen(data) : (gsize)len) && fchmod(fd, mode) == 0 &&
         fsync(fd) == 0;
    if (close(fd) != 0)
        ok = FALSE;
    if (!ok || renameat(dirfd, tmp, dirfd, name) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write %s: %s", name,
                    g_strerror(errno));
        unlinkat(dirfd, tmp, 0);
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_fs_copy_at(int src_dirfd, const char *name, int dst_dirfd, const char *dst_name, mode_t mode,
               char **sha256, guint64 *size, GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *buf = NULL;
    guint64 total = 0;
    int in, out;
    ssize_t n;
    gboolean ok = TRUE;

    in = vmm_fs_open_regular_at(src_dirfd, name, error);
    if (in < 0)
        return FALSE;
    out = openat(dst_dirfd, dst_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create %s: %s", dst_name,
                    g_strerror(errno));
        close(in);
        return FALSE;
    }
    buf = g_malloc(COPY_CHUNK);
    while ((n = read(in, buf, COPY_CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || !write_all(out, buf, n)) {
            ok = FALSE;
            break;
        }
        g_checksum_update(sum, (const guchar *)buf, n);
        total += n;
    }
    ok = ok && fchmod(out, mode) == 0 && fsync(out) == 0;
    if (!ok)
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot copy %s: %s", name,
                    g_strerror(errno));
    close(in);
    if (close(out) != 0 && ok) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot copy %s: %s", name,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (!ok) {
        unlinkat(dst_dirfd, dst_name, 0);
        return FALSE;
    }
    if (sha256)
        *sha256 = g_strdup(g_checksum_get_string(sum));
    if (size)
        *size = total;
    return TRUE;
}

char *
vmm_fs_sha256_fd(int fd, guint64 *size, GError **error)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guchar *buf = g_malloc(COPY_CHUNK);
    guint64 total = 0;
    ssize_t n;

    if (lseek(fd, 0, SEEK_SET) < 0)
        n = -1;
    else
        while ((n = read(fd, buf, COPY_CHUNK)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            g_checksum_update(sum, buf, n);
            total += n;
        }
    if (n < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read for hashing: %s",
                    g_strerror(errno));
        return NULL;
    }
    if (size)
        *size = total;
    return g_strdup(g_checksum_get_string(sum));
}
