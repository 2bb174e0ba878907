/* space.c: a guest that fills its disk must not fill the host. */
#include <config.h>

#include "space.h"
#include "error.h"
#include "names.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define SPACE_MAX_VIRTUAL (G_GUINT64_CONSTANT(1) << 50)

static guint64
be64(const guint8 *p)
{
    guint64 v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

guint64
vmm_space_qcow2_virtual(const char *path, GError **error)
{
    guint8 hdr[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    guint64 size;
    struct stat st;

    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open %s: %s", path,
                    g_strerror(errno));
        return 0;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s is not a regular file", path);
        return 0;
    }
    n = pread(fd, hdr, sizeof hdr, 0);
    close(fd);
    if (n != (ssize_t)sizeof hdr || be64(hdr) >> 32 != QCOW2_MAGIC) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s is not a qcow2 image", path);
        return 0;
    }
    size = be64(hdr + 24);
    if (size == 0 || size > SPACE_MAX_VIRTUAL) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s: implausible virtual size", path);
        return 0;
    }
    return size;
}

guint64
vmm_space_promised(const char *state_dir)
{
    g_autofree char *root = g_build_filename(state_dir, "sandboxes", NULL);
    g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
    const char *ent;
    guint64 total = 0;

    while (d && (ent = g_dir_read_name(d))) {
        g_autofree char *overlay = NULL;
        struct stat st;
        guint64 virt, used;

        if (!vmm_name_validate(ent, "name", NULL))
            continue;
        overlay = g_build_filename(root, ent, "overlay.qcow2", NULL);
        if (lstat(overlay, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        virt = vmm_space_qcow2_virtual(overlay, NULL);
        used = (guint64)st.st_blocks * 512;
        if (virt > used)
            total += virt - used;
    }
    return total;
}

gboolean
vmm_space_fits(guint64 avail, guint64 promised, guint64 new_bytes, guint64 reserve, GError **error)
{
    guint64 need = promised + new_bytes + reserve;

    if (avail >= need)
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                "not enough disk for another sandbox: %" G_GUINT64_FORMAT
                " MiB free, existing sandboxes may still write %" G_GUINT64_FORMAT
                " MiB, this one up to %" G_GUINT64_FORMAT " MiB, %" G_GUINT64_FORMAT
                " MiB kept free (destroy sandboxes, use a smaller disk, or free space)",
                avail >> 20, promised >> 20, new_bytes >> 20, reserve >> 20);
    return FALSE;
}

gboolean
vmm_space_check(const char *state_dir, guint64 new_bytes, GError **error)
{
    guint64 reserve = vmm_config_get()->reserve_mib << 20;
    g_autofree char *root = g_build_filename(state_dir, "sandboxes", NULL);
    struct statvfs vfs;

    if (statvfs(g_file_test(root, G_FILE_TEST_IS_DIR) ? root : state_dir, &vfs) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the free space of %s: %s",
                    state_dir, g_strerror(errno));
        return FALSE;
    }
    return vmm_space_fits((guint64)vfs.f_bavail * vfs.f_frsize, vmm_space_promised(state_dir),
                          new_bytes, reserve, error);
}
