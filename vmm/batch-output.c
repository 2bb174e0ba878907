/* batch-output.c: a batch's output directory through descriptors; logs redacted as written. */
#include <config.h>

#include "batch-output.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _VmmBatchOutput {
    char *path;
    int dir_fd, logs_fd, artifacts_fd;
};

void
vmm_batch_output_free(VmmBatchOutput *out)
{
    if (!out)
        return;
    if (out->dir_fd >= 0)
        close(out->dir_fd);
    if (out->logs_fd >= 0)
        close(out->logs_fd);
    if (out->artifacts_fd >= 0)
        close(out->artifacts_fd);
    g_free(out->path);
    g_free(out);
}

/*
 * Opens @name in @at (AT_FDCWD: a path) as a directory, creating it 0750 when
 * missing; refused when it is a link, not ours or writable by others.
 */
static int
open_dir_checked(int at, const char *name, const char *shown, GError **error)
{
    struct stat sb;
    int fd;

    if (mkdirat(at, name, VMM_BATCH_OUTPUT_DIR_MODE) < 0 && errno != EEXIST) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create '%s': %s", shown,
                    g_strerror(errno));
        return -1;
    }
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(
            error, VMM_ERROR, VMM_ERROR_INVALID,
            "output directory '%s' cannot be used: %s (give a real directory of yours)", shown,
            e == ELOOP || e == ENOTDIR ? "not a directory, or a symbolic link" : g_strerror(e));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || sb.st_uid != geteuid() || (sb.st_mode & 022)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "output directory '%s' is %s (another user could plant links in it: "
                    "chmod go-w it, or choose another --output)",
                    shown, sb.st_uid != geteuid() ? "not yours" : "writable by others");
        close(fd);
        return -1;
    }
    return fd;
}

VmmBatchOutput *
vmm_batch_output_open(const char *path, GError **error)
{
    g_autoptr(VmmBatchOutput) out = g_new0(VmmBatchOutput, 1);
    g_autofree char *parent = g_path_get_dirname(path);
    g_autofree char *logs = g_build_filename(path, "logs", NULL);
    g_autofree char *artifacts = g_build_filename(path, "artifacts", NULL);

    out->path = g_strdup(path);
    out->dir_fd = out->logs_fd = out->artifacts_fd = -1;
    if (g_mkdir_with_parents(parent, 0755) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create '%s': %s", parent,
                    g_strerror(errno));
        return NULL;
    }
    if ((out->dir_fd = open_dir_checked(AT_FDCWD, path, path, error)) < 0 ||
        (out->logs_fd = open_dir_checked(out->dir_fd, "logs", logs, error)) < 0 ||
        (out->artifacts_fd = open_dir_checked(out->dir_fd, "artifacts", artifacts, error)) < 0)
        return NULL;
    return g_steal_pointer(&out);
}

/* A new file @name in @dir_fd: what had the name is removed first (a link is not followed). */
static int
create_fresh(int dir_fd, const char *name, const char *shown, GError **error)
{
    int fd;

    if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot replace '%s': %s", shown,
                    g_strerror(errno));
        return -1;
    }
    fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                VMM_BATCH_OUTPUT_FILE_MODE);
    if (fd < 0)
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot create '%s': %s", shown,
                    g_strerror(errno));
    return fd;
}

int
vmm_batch_output_create_log(VmmBatchOutput *out, const char *file, GError **error)
{
    g_autofree char *shown = g_build_filename(out->path, "logs", file, NULL);

    return create_fresh(out->logs_fd, file, shown, error);
}

static gboolean
write_all(int fd, const char *data, gsize len)
{
    while (len > 0) {
        gssize n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

gboolean
vmm_batch_output_write(VmmBatchOutput *out, const char *file, const char *text, GError **error)
{
    g_autofree char *tmp = g_strdup_printf(".%s.tmp", file);
    g_autofree char *shown = g_build_filename(out->path, file, NULL);
    int fd = create_fresh(out->dir_fd, tmp, shown, error);

    if (fd < 0)
        return FALSE;
    if (!write_all(fd, text, strlen(text)) || close(fd) < 0 ||
        renameat(out->dir_fd, tmp, out->dir_fd, file) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot write '%s': %s", shown,
                    g_strerror(errno));
        unlinkat(out->dir_fd, tmp, 0);
        return FALSE;
    }
    return TRUE;
}

int
vmm_batch_output_artifacts_dir(VmmBatchOutput *out, const char *job, GError **error)
{
    g_autofree char *shown = g_build_filename(out->path, "artifacts", job, NULL);

    return open_dir_checked(out->artifacts_fd, job, shown, error);
}

/* --- logs -------------------------------------------------------------------------------- */

struct _VmmBatchLog {
    int fd;
    VmmBatchTail *tail;
    GPtrArray *values; /* const char *, borrowed from the secrets, longest first */
    GString *held;     /* bytes not passed on yet: they may start a value */
};

static gint
cmp_len_desc(gconstpointer a, gconstpointer b)
{
    gsize la = strlen(*(const char *const *)a), lb = strlen(*(const char *const *)b);

    return la < lb ? 1 : la > lb ? -1 : 0;
}

VmmBatchLog *
vmm_batch_log_new(int fd, const VmmSecrets *secrets, VmmBatchTail *tail)
{
    VmmBatchLog *log = g_new0(VmmBatchLog, 1);

    log->fd = fd;
    log->tail = tail;
    log->values = g_ptr_array_new();
    log->held = g_string_new(NULL);
    for (guint i = 0; secrets && i < vmm_secrets_count(secrets); i++) {
        const char *v = vmm_secrets_value(secrets, i);
        if (strlen(v) >= 4) /* as vmm_secrets_redact */
            g_ptr_array_add(log->values, (gpointer)v);
    }
    g_ptr_array_sort(log->values, cmp_len_desc);
    return log;
}

static void
emit(VmmBatchLog *log, const char *data, gsize len)
{
    if (!len)
        return;
    if (log->tail)
        vmm_batch_tail_append(log->tail, data, len);
    if (log->fd >= 0 && !write_all(log->fd, data, len)) {
        g_debug("job log: %s", g_strerror(errno));
        close(log->fd);
        log->fd = -1;
    }
}

/*
 * Passes on what is held, values replaced; unless @final, stops at the first
 * place where the held bytes end in the middle of what may be a value.
 */
static void
drain(VmmBatchLog *log, gboolean final)
{
    const char *buf = log->held->str;
    gsize n = log->held->len, i = 0, plain = 0;

    while (i < n) {
        gboolean partial = FALSE;
        gsize matched = 0;

        for (guint k = 0; k < log->values->len && !matched && !partial; k++) {
            const char *v = g_ptr_array_index(log->values, k);
            gsize vl = strlen(v);
            if (buf[i] != v[0])
                continue;
            if (n - i >= vl)
                matched = memcmp(buf + i, v, vl) == 0 ? vl : 0;
            else
                partial = !final && memcmp(buf + i, v, n - i) == 0;
        }
        if (partial)
            break;
        if (matched) {
            emit(log, buf + plain, i - plain);
            emit(log, "***", 3);
            i += matched;
            plain = i;
        } else {
            i++;
        }
    }
    emit(log, buf + plain, i - plain);
    g_string_erase(log->held, 0, i);
}

void
vmm_batch_log_write(VmmBatchLog *log, const char *data, gsize len)
{
    if (log->values->len == 0) {
        emit(log, data, len);
        return;
    }
    g_string_append_len(log->held, data, len);
    drain(log, FALSE);
}

void
vmm_batch_log_close(VmmBatchLog *log)
{
    if (!log)
        return;
    drain(log, TRUE);
    if (log->fd >= 0)
        close(log->fd);
    /* Held bytes may be part of a secret: wipe them. */
    explicit_bzero(log->held->str, log->held->allocated_len);
    g_string_free(log->held, TRUE);
    g_ptr_array_unref(log->values);
    g_free(log);
}
