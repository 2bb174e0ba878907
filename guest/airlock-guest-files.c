/*
 * airlock-guest-files.c: PUT and GET (files and directory trees) of airlock-guest,
 * included by airlock-guest.c (one translation unit: one static binary).
 *
 * Names inside a tree are relative, without "", "." or ".." components, and are walked
 * one component at a time with O_NOFOLLOW: a symlink in the tree is copied as a symlink
 * and never followed, so no entry lands outside the tree. A file is written to a
 * temporary name in its directory and renamed over the target.
 */

static int
mkdir_parents(const char *path)
{
    char buf[AG_PATH_MAX + 1];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* A relative entry name: its parent directory (an fd the caller closes) and last component. */
static int
open_parent(int root_fd, char *name, const char **last)
{
    int fd = dup(root_fd);
    char *p = name, *slash;

    if (name[0] == '/' || fd < 0) {
        close_fd(&fd);
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        slash = strchr(p, '/');
        if (slash)
            *slash = 0;
        if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
            if (slash)
                *slash = '/';
            close(fd);
            errno = EINVAL;
            return -1;
        }
        if (!slash) {
            *last = p;
            return fd;
        }
        int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        *slash = '/';
        close(fd);
        if (next < 0)
            return -1;
        fd = next;
        p = slash + 1;
    }
}

static void
files_fail(Session *s, int err, const char *what)
{
    send_error(s->port, s->sid, errno_code(err), err, "%s '%s%s%s': %s", what, s->rel,
               s->name[0] && s->kind == S_PUT && (s->flags & AG_PUT_TREE) ? "/" : "",
               s->kind == S_PUT && (s->flags & AG_PUT_TREE) ? s->name : "", strerror(err));
    session_end(s);
}

/* The path of a PUT/GET: absolute, bounded, no NUL; copied into @out. */
static int
files_path(int p, uint32_t sid, const uint8_t *pl, uint32_t len, char *out)
{
    if (len < 4 || len - 4 > AG_PATH_MAX || len == 4 || pl[4] != '/' ||
        memchr(pl + 4, 0, len - 4)) {
        send_error(p, sid, AG_E_INVALID, 0, "the guest path must be absolute");
        return -1;
    }
    memcpy(out, pl + 4, len - 4);
    out[len - 4] = 0;
    if (session_find(p, sid)) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "session %u is in use", sid);
        return -1;
    }
    return 0;
}

static void
put_start(int p, uint32_t sid, const uint8_t *pl, uint32_t len)
{
    char path[AG_PATH_MAX + 1];
    Session *s;
    struct stat st;

    if (files_path(p, sid, pl, len, path) < 0)
        return;
    if (!(s = session_new(p, sid, S_PUT))) {
        send_error(p, sid, AG_E_BUSY, 0, "too many sessions on this port");
        return;
    }
    s->flags = ag_get32(pl);
    snprintf(s->rel, sizeof(s->rel), "%s", path);
    if ((s->flags & AG_PUT_MKDIRS) && mkdir_parents(path) < 0) {
        files_fail(s, errno, "cannot create the parents of");
        return;
    }
    if (s->flags & AG_PUT_TREE) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            files_fail(s, errno, "cannot create");
            return;
        }
        if ((s->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            files_fail(s, errno, "cannot open");
        return;
    }
    {
        char *slash = strrchr(path, '/');
        if (!slash[1]) {
            files_fail(s, EISDIR, "cannot write");
            return;
        }
        snprintf(s->name, sizeof(s->name), "%s", slash + 1);
        *slash = 0;
        s->root_fd = open(path[0] ? path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0) {
            files_fail(s, errno, "cannot write");
            return;
        }
        if (fstatat(s->root_fd, s->name, &st, 0) == 0 && S_ISDIR(st.st_mode))
            files_fail(s, EISDIR, "cannot write");
    }
}

static void
put_entry(Session *s, const uint8_t *pl, uint32_t len)
{
    char name[AG_PATH_MAX + 1], target[AG_PATH_MAX + 1];
    const char *last;
    uint16_t nlen;
    uint32_t tlen;
    int parent;
    uint8_t kind;

    if (len < AG_ENTRY_FIXED || (nlen = ag_get16(pl + 16)) > AG_PATH_MAX ||
        nlen > len - AG_ENTRY_FIXED || (tlen = len - AG_ENTRY_FIXED - nlen) > AG_PATH_MAX ||
        memchr(pl + AG_ENTRY_FIXED, 0, len - AG_ENTRY_FIXED) || s->file_fd >= 0) {
        send_error(s->port, s->sid, AG_E_PROTOCOL, 0, "malformed ENTRY");
        session_end(s);
        return;
    }
    kind = pl[0];
    s->mode = ag_get32(pl + 4) & 0777;
    memcpy(name, pl + AG_ENTRY_FIXED, nlen);
    name[nlen] = 0;
    memcpy(target, pl + AG_ENTRY_FIXED + nlen, tlen);
    target[tlen] = 0;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->entries++;
    if (!(s->flags & AG_PUT_TREE)) { /* one file: the entry is the path itself */
        if (kind != AG_KIND_FILE || nlen) {
            send_error(s->port, s->sid, AG_E_PROTOCOL, 0, "a file PUT takes one file entry");
            session_end(s);
            return;
        }
        parent = dup(s->root_fd);
        last = strrchr(s->rel, '/') + 1;
    } else if (nlen == 0) {
        if (kind != AG_KIND_DIR)
            files_fail(s, ENOTDIR, "cannot write");
        return; /* the root: created by PUT */
    } else if ((parent = open_parent(s->root_fd, name, &last)) < 0) {
        files_fail(s, errno, "cannot write");
        return;
    }
    switch (kind) {
    case AG_KIND_DIR: {
        struct stat st;
        if (mkdirat(parent, last, s->mode | 0700) < 0 &&
            (errno != EEXIST || fstatat(parent, last, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
             !S_ISDIR(st.st_mode))) {
            close(parent);
            files_fail(s, errno == EEXIST || errno == 0 ? EEXIST : errno, "cannot create");
            return;
        }
        fchmodat(parent, last, s->mode, 0);
        close(parent);
        return;
    }
    case AG_KIND_SYMLINK:
        if (symlinkat(target, parent, last) < 0 &&
            (errno != EEXIST || unlinkat(parent, last, 0) < 0 ||
             symlinkat(target, parent, last) < 0)) {
            close(parent);
            files_fail(s, errno, "cannot create the symlink");
            return;
        }
        close(parent);
        return;
    case AG_KIND_FILE:
        snprintf(s->tmp, sizeof(s->tmp), ".airlock-put-%d-%u", (int)getpid(), ++tmp_counter);
        s->dir_fd = parent;
        snprintf(s->name, sizeof(s->name), "%s", last);
        s->file_fd =
            openat(parent, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->file_fd < 0) {
            s->tmp[0] = 0;
            files_fail(s, errno, "cannot write");
        }
        return;
    default:
        close(parent);
        send_error(s->port, s->sid, AG_E_PROTOCOL, 0, "unknown entry kind %u", kind);
        session_end(s);
    }
}

/* An empty DATA: the file is complete; it replaces its target (never a directory). */
static void
put_file_end(Session *s)
{
    if (fchmod(s->file_fd, s->mode) < 0 || close(s->file_fd) < 0) {
        s->file_fd = -1;
        unlinkat(s->dir_fd, s->tmp, 0);
        files_fail(s, errno, "cannot write");
        return;
    }
    s->file_fd = -1;
    if (renameat(s->dir_fd, s->tmp, s->dir_fd, s->name) < 0) {
        int e = errno;
        unlinkat(s->dir_fd, s->tmp, 0);
        files_fail(s, e, "cannot write");
        return;
    }
    s->tmp[0] = 0;
    close_fd(&s->dir_fd);
}

static void
put_frame(Session *s, uint16_t type, const uint8_t *pl, uint32_t len)
{
    if (type == AG_ENTRY) {
        put_entry(s, pl, len);
        return;
    }
    if (type == AG_END) {
        uint8_t b[12];
        if (s->file_fd >= 0 || s->root_fd < 0) {
            send_error(s->port, s->sid, AG_E_PROTOCOL, 0, "END inside a file");
            session_end(s);
            return;
        }
        ag_put64(b, s->bytes);
        ag_put32(b + 8, s->entries);
        send_frame(s->port, AG_DONE, s->sid, b, sizeof(b), NULL, 0);
        session_end(s);
        return;
    }
    if (s->file_fd < 0) {
        send_error(s->port, s->sid, AG_E_PROTOCOL, 0, "DATA outside a file");
        session_end(s);
        return;
    }
    if (len == 0) {
        put_file_end(s);
        return;
    }
    while (len > 0) {
        ssize_t n = write(s->file_fd, pl, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            files_fail(s, n < 0 ? errno : ENOSPC, "cannot write");
            return;
        }
        pl += n;
        len -= (uint32_t)n;
        s->bytes += (uint64_t)n;
    }
}

/* ---- GET ----------------------------------------------------------------------------- */

static void
send_entry(Session *s, uint8_t kind, const struct stat *st, const char *name, const char *target)
{
    uint8_t h[AG_ENTRY_FIXED] = {kind};
    size_t nlen = strlen(name);
    char both[2 * AG_PATH_MAX + 2];

    ag_put32(h + 4, st->st_mode & 0777);
    ag_put64(h + 8, kind == AG_KIND_FILE ? (uint64_t)st->st_size : 0);
    ag_put16(h + 16, (uint16_t)nlen);
    memcpy(both, name, nlen);
    memcpy(both + nlen, target, strlen(target));
    send_frame(s->port, AG_ENTRY, s->sid, h, sizeof(h), both, nlen + strlen(target));
}

static void
get_start(int p, uint32_t sid, const uint8_t *pl, uint32_t len)
{
    char path[AG_PATH_MAX + 1];
    struct stat st;
    Session *s;

    if (files_path(p, sid, pl, len, path) < 0)
        return;
    if (!(s = session_new(p, sid, S_GET))) {
        send_error(p, sid, AG_E_BUSY, 0, "too many sessions on this port");
        return;
    }
    s->flags = ag_get32(pl);
    snprintf(s->rel, sizeof(s->rel), "%s", path);
    if (stat(path, &st) < 0) {
        files_fail(s, errno, "cannot read");
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d;
        if (!(s->flags & AG_GET_TREE)) {
            send_error(p, sid, AG_E_ISDIR, EISDIR, "'%s' is a directory (cp -r copies one)", path);
            session_end(s);
            return;
        }
        if (!(d = opendir(path))) {
            files_fail(s, errno, "cannot read");
            return;
        }
        s->stack[0] = (Level){d, 0};
        s->depth = 1;
        s->rel[0] = 0;
        send_entry(s, AG_KIND_DIR, &st, "", "");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        send_error(p, sid, AG_E_INVALID, 0, "'%s' is not a regular file", path);
        session_end(s);
        return;
    }
    if ((s->file_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        files_fail(s, errno, "cannot read");
        return;
    }
    send_entry(s, AG_KIND_FILE, &st, "", "");
}

/* The next entry of the walk (depth > 0, no file open). */
static void
get_next(Session *s)
{
    Level *lv = &s->stack[s->depth - 1];
    struct dirent *e;
    struct stat st;
    char target[AG_PATH_MAX + 1];
    size_t base = lv->prefix_len;

    errno = 0;
    if (!(e = readdir(lv->dir))) {
        closedir(lv->dir);
        s->depth--;
        s->rel[s->depth ? s->stack[s->depth - 1].prefix_len : 0] = 0;
        return;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        return;
    s->rel[base] = 0;
    if (base + 1 + strlen(e->d_name) > AG_PATH_MAX) {
        files_fail(s, ENAMETOOLONG, "cannot read");
        return;
    }
    snprintf(s->rel + base, sizeof(s->rel) - base, "%s%s", base ? "/" : "", e->d_name);
    if (fstatat(dirfd(lv->dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        files_fail(s, errno, "cannot read");
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dirfd(lv->dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d || s->depth >= TREE_DEPTH) {
            if (fd >= 0 && !d)
                close(fd);
            if (d)
                closedir(d);
            files_fail(s, d ? ELOOP : errno, "cannot read");
            return;
        }
        send_entry(s, AG_KIND_DIR, &st, s->rel, "");
        s->stack[s->depth++] = (Level){d, strlen(s->rel)};
    } else if (S_ISREG(st.st_mode)) {
        s->file_fd = openat(dirfd(lv->dir), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (s->file_fd < 0) {
            files_fail(s, errno, "cannot read");
            return;
        }
        send_entry(s, AG_KIND_FILE, &st, s->rel, "");
    } else if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dirfd(lv->dir), e->d_name, target, AG_PATH_MAX);
        if (n < 0) {
            files_fail(s, errno, "cannot read");
            return;
        }
        target[n] = 0;
        send_entry(s, AG_KIND_SYMLINK, &st, s->rel, target);
    } /* devices, fifos, sockets: not copied */
}

static void
get_pump(Session *s)
{
    uint8_t data[AG_DATA_MAX];
    for (int round = 0; round < 16 && s->kind == S_GET && ports[s->port].out.len < OUT_HIGH;
         round++) {
        if (s->file_fd >= 0) {
            ssize_t n = read(s->file_fd, data, sizeof(data));
            if (n < 0) {
                files_fail(s, errno, "cannot read");
                return;
            }
            send_frame(s->port, AG_DATA, s->sid, data, (size_t)n, NULL, 0);
            if (n == 0)
                close_fd(&s->file_fd);
            continue;
        }
        if (s->depth == 0) {
            send_frame(s->port, AG_END, s->sid, NULL, 0, NULL, 0);
            session_end(s);
            return;
        }
        get_next(s);
    }
}
