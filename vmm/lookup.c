/* lookup.c: finding a sandbox and what it records (domain, metadata, state, lock, files). */
#include <config.h>

#include "lookup.h"
#include "autoptr.h"
#include "error.h"
#include "escape.h"
#include "fsutil.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libvirt/virterror.h>
#include <pwd.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *
vmm_sandbox_console_path(const char *state_dir, const char *name)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);

    return g_build_filename(dir, "console.log", NULL);
}

char *
vmm_sandbox_console_tail(const char *path, guint n)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    guint count;

    if (!g_file_get_contents(path, &data, &len, NULL))
        return g_strdup("");
    /* NUL would end the lines early; the rest is escaped line by line below. */
    for (gsize i = 0; i < len; i++)
        if (data[i] == '\0')
            data[i] = ' ';
    lines = g_strsplit(data, "\n", -1);
    count = g_strv_length(lines);
    for (guint i = count; i > 0 && keep->len < n; i--) {
        char *l = g_strstrip(lines[i - 1]);
        if (*l)
            g_ptr_array_insert(keep, 0, vmm_escape(l, -1, 200));
    }
    g_ptr_array_add(keep, NULL);
    return g_strjoinv(" | ", (char **)keep->pdata);
}

virDomainPtr
vmm_sandbox_lookup(virConnectPtr conn, const char *name, GError **error)
{
    g_autofree char *obj = NULL;
    virDomainPtr dom;

    if (!vmm_name_validate(name, "sandbox name", error))
        return NULL;
    obj = vmm_name_object(name);
    dom = virDomainLookupByName(conn, obj);
    if (!dom) {
        if (vmm_error_libvirt_last_code() == VIR_ERR_NO_DOMAIN)
            g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "sandbox '%s' not found (airlock list shows what exists)", name);
        else
            vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up sandbox '%s'", name);
    }
    return dom;
}

VmmMetadata *
vmm_sandbox_metadata(virDomainPtr dom, GError **error)
{
    g_autofree char *xml =
        virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VMM_METADATA_NS, 0);

    if (!xml) {
        vmm_error_libvirt(error, VMM_ERROR_FAILED, "domain '%s' has no airlock metadata",
                          virDomainGetName(dom));
        return NULL;
    }
    return vmm_metadata_parse(xml, error);
}

const char *
vmm_sandbox_state(virDomainPtr dom)
{
    int state = 0, reason = 0;

    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return "unknown";
    switch (state) {
    case VIR_DOMAIN_RUNNING:
        return "running";
    case VIR_DOMAIN_BLOCKED:
        return "running";
    case VIR_DOMAIN_PAUSED:
        return "paused";
    case VIR_DOMAIN_SHUTDOWN:
        return "stopping";
    case VIR_DOMAIN_SHUTOFF:
        return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? "crashed" : "stopped";
    case VIR_DOMAIN_CRASHED:
        return "crashed";
    case VIR_DOMAIN_PMSUSPENDED:
        return "suspended";
    default:
        return "unknown";
    }
}

static gint
dom_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(virDomainGetName(*(virDomainPtr *)a), virDomainGetName(*(virDomainPtr *)b));
}

GPtrArray *
vmm_sandbox_list(virConnectPtr conn, const char *state_dir, GError **error)
{
    virDomainPtr *doms = NULL;
    GPtrArray *out;
    int n = virConnectListAllDomains(conn, &doms, 0);

    if (n < 0) {
        vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot list domains");
        return NULL;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_virDomainFree);
    for (int i = 0; i < n; i++) {
        g_autofree char *name = vmm_name_from_object(virDomainGetName(doms[i]));
        g_autofree char *xml =
            name ? virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, VMM_METADATA_NS, 0)
                 : NULL;
        g_autoptr(VmmMetadata) md = xml ? vmm_metadata_parse(xml, NULL) : NULL;
        if (md && (!state_dir || !md->state_dir || g_strcmp0(md->state_dir, state_dir) == 0))
            g_ptr_array_add(out, doms[i]);
        else
            virDomainFree(doms[i]);
    }
    free(doms);
    g_ptr_array_sort(out, dom_cmp);
    return out;
}

/* ---- locking: one airlock command per sandbox at a time ---- */

static char *
lock_dir(const char *state_dir)
{
    return g_build_filename(state_dir, "locks", NULL);
}

int
vmm_sandbox_lock(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *dir = lock_dir(state_dir);
    g_autofree char *file = g_strdup_printf("%s.lock", name);
    int dfd, fd = -1;

    if (!vmm_fs_check_state_dir(state_dir, error))
        return -1;
    dfd = vmm_fs_mkdir(dir, 0700, (uid_t)-1, (gid_t)-1, error);
    if (dfd < 0)
        return -1;
    /*
     * Lock files are removed by the holder (vmm_sandbox_unlock): a lock taken on
     * a file that is no longer the one at the path is no lock; open it again.
     */
    for (int tries = 0; tries < 16; tries++) {
        struct stat held, now;
        fd = openat(dfd, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open %s/%s: %s", dir, file,
                        g_strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0)
            break;
        if (fstat(fd, &held) == 0 && fstatat(dfd, file, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
            held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
            close(dfd);
            return fd;
        }
        close(fd);
        fd = -1;
    }
    close(dfd);
    if (fd >= 0 || (error && !*error)) {
        if (fd >= 0)
            close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "sandbox '%s' is busy: another airlock command is working on it (retry when "
                    "it finishes)",
                    name);
    }
    return -1;
}

void
vmm_sandbox_unlock(const char *state_dir, const char *name, int fd, gboolean remove)
{
    if (fd < 0)
        return;
    if (remove) {
        g_autofree char *dir = lock_dir(state_dir);
        g_autofree char *file = g_strdup_printf("%s.lock", name);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        /* Still held: whoever opened it meanwhile finds it gone and opens a fresh one. */
        if (dfd >= 0) {
            if (unlinkat(dfd, file, 0) != 0 && errno != ENOENT)
                g_debug("cannot remove %s/%s: %s", dir, file, g_strerror(errno));
            close(dfd);
        }
    }
    close(fd);
}

/* ---- files ---- */

gboolean
vmm_sandbox_remove_tree(const char *path, GError **error)
{
    return vmm_fs_remove_tree(path, error);
}

/*
 * qemu runs as the DAC base label of the connection (e.g. libvirt-qemu:kvm
 * for qemu:///system): it must be able to reach its files by path.
 */
static gboolean
qemu_group(virConnectPtr conn, gid_t *gid)
{
    g_autofree char *caps = virConnectGetCapabilities(conn);
    g_autofree char *label = vmm_xml_xpath_string(
        caps, "string(/capabilities/host/secmodel[model='dac']/baselabel[@type='qemu'])");
    unsigned int u, g;

    if (!label || sscanf(label, "+%u:+%u", &u, &g) != 2)
        return FALSE;
    *gid = g;
    return TRUE;
}

gboolean
vmm_sandbox_mkdir_private(virConnectPtr conn, const char *dir, GError **error)
{
    gid_t gid = (gid_t)-1;
    int fd;

    /* Root's, searchable by qemu's group: qemu opens what libvirt labelled for it, but
     * cannot add, rename or replace a name root will use (docs/security.md). */
    if (geteuid() == 0 && !qemu_group(conn, &gid))
        gid = (gid_t)-1;
    fd = vmm_fs_mkdir(dir, 0710, (uid_t)-1, gid, error);
    if (fd < 0)
        return FALSE;
    close(fd);
    return TRUE;
}

/* ---- destroy ---- */
