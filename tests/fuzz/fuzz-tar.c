/* fuzz-tar: unpacking an archive from a client never crashes, leaks, or creates anything
 * outside its directory (a sibling directory is checked empty after every input), and
 * what it accepts packs again into an archive that unpacks the same way. */
#include <config.h>

#include "daemon/tar.h"
#include "error.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *top;

/* rm -r of @name under @dirfd, never following a link. */
static void
rm_tree(int at, const char *name)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        unlinkat(at, name, 0);
        return;
    }
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            rm_tree(dirfd(d), e->d_name);
    closedir(d);
    unlinkat(at, name, AT_REMOVEDIR);
}

static gboolean
empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return FALSE;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *in = NULL, *again = NULL, *beside = NULL;
    g_autoptr(GError) err = NULL;
    int fd;

    if (!top) {
        top = g_dir_make_tmp("airlock-fuzz-tar-XXXXXX", NULL);
        if (!top)
            abort();
    }
    in = g_build_filename(top, "in", NULL);
    beside = g_build_filename(top, "beside", NULL);
    again = g_build_filename(top, "again", NULL);
    rm_tree(AT_FDCWD, in);
    rm_tree(AT_FDCWD, again);
    mkdir(in, 0700);
    mkdir(beside, 0700);
    fd = open(in, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        abort();
    if (vmm_tar_unpack(data, size, fd, 1000, &err)) {
        g_autoptr(GBytes) packed = vmm_tar_pack(fd, 64 * 1024 * 1024, NULL);
        if (packed) {
            gsize n;
            const guint8 *p = g_bytes_get_data(packed, &n);
            int fd2;
            mkdir(again, 0700);
            fd2 = open(again, O_RDONLY | O_DIRECTORY);
            /* What airlock packs, airlock unpacks. */
            if (fd2 < 0 || !vmm_tar_unpack(p, n, fd2, 100000, NULL))
                abort();
            close(fd2);
        }
    } else if (!err || err->domain != VMM_ERROR || !err->message || strchr(err->message, '\n')) {
        abort();
    }
    close(fd);
    if (!empty(beside))
        abort();
    {
        /* Nothing but in/, again/ and beside/ may exist in the top directory. */
        DIR *d = opendir(top);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "in") &&
                strcmp(e->d_name, "again") && strcmp(e->d_name, "beside"))
                abort();
        if (d)
            closedir(d);
    }
    return 0;
}
