/*
 * tar.c: directory trees over the API as ustar archives (POSIX.1-1988, what
 * `tar --format=ustar` and Python's tarfile.USTAR_FORMAT write). Only regular
 * files, directories and symbolic links; names of at most 255 bytes.
 *
 * Unpacking takes the archive as hostile input: every member is created under
 * one directory through directory fds, never following a symbolic link (each
 * component is opened O_NOFOLLOW), never overwriting, and a name that is
 * absolute, has "..", is empty or is not UTF-8 is refused. Permission bits only.
 */
#include <config.h>

#include "tar.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define NAME_MAX_TAR 255
#define LINK_MAX_TAR 100
#define DEPTH_MAX 64

typedef struct {
    char name[100];
    char mode[8];
    char uid[8];
    char gid[8];
    char size[12];
    char mtime[12];
    char chksum[8];
    char typeflag;
    char linkname[100];
    char magic[6];
    char version[2];
    char uname[32];
    char gname[32];
    char devmajor[8];
    char devminor[8];
    char prefix[155];
    char pad[12];
} Header;

G_STATIC_ASSERT(sizeof(Header) == BLOCK);

static gboolean
fail(GError **error, const char *member, const char *why)
{
    g_autofree char *shown = member ? g_strescape(member, NULL) : NULL;

    if (shown && strlen(shown) > 120)
        shown[120] = 0;
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "tar%s%s%s: %s", shown ? " member '" : "",
                shown ? shown : "", shown ? "'" : "", why);
    return FALSE;
}

/* An octal field (NUL or space terminated); FALSE when it is not one. */
static gboolean
octal(const char *f, gsize len, guint64 *out)
{
    guint64 v = 0;
    gsize i = 0;

    while (i < len && f[i] == ' ')
        i++;
    if (i == len || f[i] < '0' || f[i] > '7')
        return FALSE;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > (G_MAXUINT64 >> 3))
            return FALSE;
        v = v * 8 + (guint64)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != 0)
            return FALSE;
    *out = v;
    return TRUE;
}

static gboolean
checksum_ok(const Header *h)
{
    const guint8 *b = (const guint8 *)h;
    guint64 want, sum = 0;

    if (!octal(h->chksum, sizeof h->chksum, &want))
        return FALSE;
    for (gsize i = 0; i < BLOCK; i++)
        sum += (i >= G_STRUCT_OFFSET(Header, chksum) && i < G_STRUCT_OFFSET(Header, typeflag))
                   ? ' '
                   : b[i];
    return sum == want;
}

static gboolean
all_zero(const guint8 *b)
{
    for (gsize i = 0; i < BLOCK; i++)
        if (b[i])
            return FALSE;
    return TRUE;
}

/* A fixed field as a string (it may fill the field without a NUL). */
static char *
field(const char *f, gsize len)
{
    return g_strndup(f, strnlen(f, len));
}

/*
 * The member's path components, when it is an acceptable relative name: no
 * absolute path, "..", empty component (but one trailing "/"), leading "./"
 * allowed, valid UTF-8 without control characters.
 */
static char **
components(const char *name, const char *member, GError **error)
{
    g_auto(GStrv) parts = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    gsize n;

    if (!*name || name[0] == '/') {
        fail(error, member, "absolute or empty names are refused (a relative path is expected)");
        return NULL;
    }
    if (!g_utf8_validate(name, -1, NULL)) {
        fail(error, member, "the name is not UTF-8");
        return NULL;
    }
    for (const char *p = name; *p; p++)
        if ((guchar)*p < 0x20 || *p == 0x7f) {
            fail(error, member, "the name has a control character");
            return NULL;
        }
    parts = g_strsplit(name, "/", -1);
    n = g_strv_length(parts);
    for (gsize i = 0; i < n; i++) {
        if (g_str_equal(parts[i], "") && i == n - 1 && i > 0)
            continue; /* "dir/" */
        if (g_str_equal(parts[i], ".") && i == 0)
            continue; /* "./x" */
        if (!*parts[i] || g_str_equal(parts[i], ".") || g_str_equal(parts[i], "..")) {
            fail(error, member, "names with '..', '.' or '//' are refused");
            return NULL;
        }
        g_ptr_array_add(keep, g_strdup(parts[i]));
    }
    g_ptr_array_add(keep, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&keep), FALSE);
}

/* Opens (creating with 0755 when missing) the directories @parts[0..n) under @root. */
static int
open_dirs(int root, char **parts, gsize n, const char *member, GError **error)
{
    int fd = dup(root);

    for (gsize i = 0; fd >= 0 && i < n; i++) {
        int next;
        if (mkdirat(fd, parts[i], 0755) < 0 && errno != EEXIST) {
            close(fd);
            fail(error, member, g_strerror(errno));
            return -1;
        }
        next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (next < 0) {
            fail(error, member,
                 errno == ELOOP || errno == ENOTDIR
                     ? "a path through a symbolic link or a file is refused"
                     : g_strerror(errno));
            return -1;
        }
        fd = next;
    }
    if (fd < 0)
        fail(error, member, g_strerror(errno));
    return fd;
}

static gboolean
write_all(int fd, const guint8 *p, gsize len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        p += n;
        len -= (gsize)n;
    }
    return TRUE;
}

gboolean
vmm_tar_unpack(const guint8 *data, gsize len, int dirfd, guint max_members, GError **error)
{
    gsize off = 0;
    guint members = 0;

    while (off + BLOCK <= len) {
        const Header *h = (const Header *)(data + off);
        g_autofree char *name = NULL;
        g_autofree char *prefix = NULL;
        g_autofree char *full = NULL;
        g_auto(GStrv) parts = NULL;
        guint64 size, mode;
        gsize n, padded;
        int dfd;

        if (all_zero(data + off))
            return TRUE; /* end of archive */
        if (!checksum_ok(h))
            return fail(error, NULL, "a header's checksum is wrong (not a tar archive?)");
        if (memcmp(h->magic, "ustar", 5) != 0)
            return fail(error, NULL, "not a ustar archive (write it with tar --format=ustar)");
        if (++members > max_members)
            return fail(error, NULL, "too many members");
        name = field(h->name, sizeof h->name);
        prefix = field(h->prefix, sizeof h->prefix);
        full = *prefix ? g_strconcat(prefix, "/", name, NULL) : g_strdup(name);
        if (!octal(h->size, sizeof h->size, &size) || !octal(h->mode, sizeof h->mode, &mode))
            return fail(error, full, "size or mode is not an octal number");
        off += BLOCK;
        padded = (gsize)((size + BLOCK - 1) / BLOCK) * BLOCK;
        if (size > len || padded > len - off)
            return fail(error, full, "the archive ends inside this member");
        if (!(parts = components(full, full, error)))
            return FALSE;
        n = g_strv_length(parts);
        if (n == 0) { /* "./" */
            off += padded;
            continue;
        }
        if (n > DEPTH_MAX)
            return fail(error, full, "nested too deep");
        switch (h->typeflag) {
        case '5':
            dfd = open_dirs(dirfd, parts, n, full, error);
            if (dfd < 0)
                return FALSE;
            fchmod(dfd, (mode_t)(mode & 0777) | 0700); /* we must still write into it */
            close(dfd);
            break;
        case '0':
        case 0:
        case '2': {
            int fd;
            gboolean ok;
            dfd = open_dirs(dirfd, parts, n - 1, full, error);
            if (dfd < 0)
                return FALSE;
            if (h->typeflag == '2') {
                g_autofree char *target = field(h->linkname, sizeof h->linkname);
                ok = *target && symlinkat(target, dfd, parts[n - 1]) == 0;
                close(dfd);
                if (!ok)
                    return fail(error, full,
                                *target ? g_strerror(errno) : "a link without a target");
                break;
            }
            fd = openat(dfd, parts[n - 1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        (mode_t)(mode & 0777) | 0600);
            close(dfd);
            if (fd < 0)
                return fail(error, full,
                            errno == EEXIST ? "given twice (or over a directory)"
                                            : g_strerror(errno));
            ok = write_all(fd, data + off, (gsize)size) && fchmod(fd, (mode_t)(mode & 0777)) == 0;
            close(fd);
            if (!ok)
                return fail(error, full, "cannot write it");
            break;
        }
        default:
            return fail(error, full,
                        "only files, directories and symbolic links are accepted (no hard links, "
                        "devices, fifos or pax/GNU extension headers: use tar --format=ustar)");
        }
        off += padded;
    }
    if (off != len)
        return fail(error, NULL, "the archive ends inside a header");
    return TRUE; /* no end blocks: accepted, as GNU tar does */
}

/* ---- packing ---------------------------------------------------------------------------- */

static void
put_octal(char *f, gsize len, guint64 v)
{
    g_snprintf(f, len, "%0*" G_GINT64_MODIFIER "o", (int)len - 1, v);
}

/* Appends one header for @path; FALSE when its name cannot be written in ustar. */
static gboolean
header(GByteArray *out, const char *path, char type, guint64 mode, guint64 size, guint64 mtime,
       const char *link, GError **error)
{
    Header h;
    gsize len = strlen(path);
    const guint8 *b = (const guint8 *)&h;
    guint64 sum = 0;

    memset(&h, 0, sizeof h);
    if (len <= sizeof h.name) {
        memcpy(h.name, path, len);
    } else {
        /* Split at a '/' so that the prefix fits 155 and the rest 100. */
        const char *cut = NULL;
        for (const char *p = path; *p; p++)
            if (*p == '/' && (gsize)(p - path) <= sizeof h.prefix &&
                len - (gsize)(p - path) - 1 <= sizeof h.name)
                cut = p;
        if (len > NAME_MAX_TAR || !cut || cut == path)
            return fail(error, path, "the path is too long for a ustar archive");
        memcpy(h.prefix, path, (gsize)(cut - path));
        memcpy(h.name, cut + 1, len - (gsize)(cut - path) - 1);
    }
    if (link) {
        if (strlen(link) > LINK_MAX_TAR)
            return fail(error, path, "the link's target is too long for a ustar archive");
        memcpy(h.linkname, link, strlen(link));
    }
    put_octal(h.mode, sizeof h.mode, mode & 0777);
    put_octal(h.uid, sizeof h.uid, 0);
    put_octal(h.gid, sizeof h.gid, 0);
    put_octal(h.size, sizeof h.size, size);
    put_octal(h.mtime, sizeof h.mtime, mtime);
    h.typeflag = type;
    memcpy(h.magic, "ustar", 6);
    memcpy(h.version, "00", 2);
    memset(h.chksum, ' ', sizeof h.chksum);
    for (gsize i = 0; i < BLOCK; i++)
        sum += b[i];
    g_snprintf(h.chksum, sizeof h.chksum, "%06" G_GINT64_MODIFIER "o", sum);
    g_byte_array_append(out, (const guint8 *)&h, BLOCK);
    return TRUE;
}

static gboolean
pack(GByteArray *out, int dirfd, const char *prefix, gsize max, guint depth, GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail(error, prefix, g_strerror(errno));
    }
    while ((e = readdir(d)))
        if (!g_str_equal(e->d_name, ".") && !g_str_equal(e->d_name, ".."))
            g_ptr_array_add(names, g_strdup(e->d_name));
    closedir(d);
    g_ptr_array_sort(names, (GCompareFunc)(void (*)(void))g_strcmp0); /* stable output */
    for (guint i = 0; i < names->len; i++) {
        const char *base = names->pdata[i];
        g_autofree char *path = *prefix ? g_strconcat(prefix, "/", base, NULL) : g_strdup(base);
        struct stat st;

        if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return fail(error, path, g_strerror(errno));
        if (S_ISDIR(st.st_mode)) {
            g_autofree char *dir = g_strconcat(path, "/", NULL);
            int sub;
            gboolean ok;
            if (depth >= DEPTH_MAX)
                return fail(error, path, "nested too deep");
            if (!header(out, dir, '5', st.st_mode, 0, st.st_mtime, NULL, error))
                return FALSE;
            sub = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return fail(error, path, g_strerror(errno));
            ok = pack(out, sub, path, max, depth + 1, error);
            close(sub);
            if (!ok)
                return FALSE;
        } else if (S_ISLNK(st.st_mode)) {
            char target[LINK_MAX_TAR + 2];
            ssize_t n = readlinkat(dirfd, base, target, sizeof target - 1);
            if (n < 0)
                return fail(error, path, g_strerror(errno));
            target[n] = 0;
            if (!header(out, path, '2', 0777, 0, st.st_mtime, target, error))
                return FALSE;
        } else if (S_ISREG(st.st_mode)) {
            int f;
            gsize at;
            gboolean ok = TRUE;
            if ((guint64)st.st_size > max || out->len + BLOCK + (gsize)st.st_size > max)
                return fail(error, path, "the tree is larger than the limit (--max-file)");
            if (!header(out, path, '0', st.st_mode, (guint64)st.st_size, st.st_mtime, NULL, error))
                return FALSE;
            f = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (f < 0)
                return fail(error, path, g_strerror(errno));
            at = out->len;
            g_byte_array_set_size(out, at + (((gsize)st.st_size + BLOCK - 1) / BLOCK) * BLOCK);
            memset(out->data + at, 0, out->len - at);
            for (gsize got = 0; ok && got < (gsize)st.st_size;) {
                ssize_t r = read(f, out->data + at + got, (gsize)st.st_size - got);
                if (r < 0 && errno == EINTR)
                    continue;
                ok = r > 0;
                got += r > 0 ? (gsize)r : 0;
            }
            close(f);
            if (!ok)
                return fail(error, path, "changed while it was read");
        }
        /* Anything else (a fifo, a socket, a device) is left out. */
        if (out->len > max)
            return fail(error, path, "the tree is larger than the limit (--max-file)");
    }
    return TRUE;
}

GBytes *
vmm_tar_pack(int dirfd, gsize max, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();

    if (!pack(out, dirfd, "", max, 0, error))
        return NULL;
    g_byte_array_set_size(out, out->len + 2 * BLOCK);
    memset(out->data + out->len - 2 * BLOCK, 0, 2 * BLOCK);
    return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}
