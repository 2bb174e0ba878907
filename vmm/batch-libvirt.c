/* batch-libvirt.c: the batch executor on libvirt (create, reset, run, destroy) and host probing. */
#include <config.h>

#include "agent.h"
#include "autoptr.h"
#include "batch-output.h"
#include "batch-run.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "sandbox.h"
#include "snapshot.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- libvirt executor -------------------------------------------------------------------- */

typedef struct {
    virConnectPtr conn;
} LvSlot;

static gboolean
lv_context(VmmBatchSlot *slot, VmmBatchLibvirt *lv, VmmOps *ops, GError **error)
{
    LvSlot *ls = slot->priv;

    if (!ls)
        slot->priv = ls = g_new0(LvSlot, 1);
    if (!ls->conn && !(ls->conn = vmm_conn_open(slot->uri, error)))
        return FALSE;
    memset(ops, 0, sizeof(*ops));
    ops->ctx.conn = ls->conn;
    ops->ctx.state_dir = lv->state_dir;
    ops->ctx.accel = lv->accel;
    ops->caller = lv->caller;
    return TRUE;
}

/* The batch's sandboxes go through the same operations, and the same audit records, as the CLI's.
 */
static gboolean
lv_create(VmmBatchSlot *slot, gpointer data, GError **error)
{
    VmmBatchLibvirt *lv = data;
    VmmCreateRequest req = {.name = slot->name,
                            .spec = lv->spec,
                            .secrets = lv->secrets,
                            .timeout_s = lv->create_timeout_s};
    VmmOps ops;

    return lv_context(slot, lv, &ops, error) && vmm_ops_create(&ops, &req, NULL, error);
}

static gboolean
lv_reset(VmmBatchSlot *slot, gpointer data, GError **error)
{
    VmmBatchLibvirt *lv = data;
    VmmOps ops;

    return lv_context(slot, lv, &ops, error) &&
           vmm_ops_reset(&ops, slot->name, VMM_SNAPSHOT_CLEAN, NULL, error);
}

static void
on_out(const char *data, gsize len, gpointer user_data)
{
    vmm_batch_log_write(((VmmBatchLog **)user_data)[0], data, len);
}

static void
on_err(const char *data, gsize len, gpointer user_data)
{
    vmm_batch_log_write(((VmmBatchLog **)user_data)[1], data, len);
}

/* An artifact's file name: the guest file's, made unique within the job. */
static char *
artifact_name(const char *guest, guint index, GHashTable *used)
{
    g_autofree char *base = g_path_get_basename(guest);

    if (!strcmp(base, ".") || !strcmp(base, "..") || !strcmp(base, "/") ||
        !g_hash_table_add(used, g_strdup(base)))
        return g_strdup_printf(
            "%u-%s", index + 1,
            strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "/") ? base : "artifact");
    return g_steal_pointer(&base);
}

/*
 * Copies @job's artifacts out to DIR/artifacts/JOB/ (0640, the plan's size
 * cap, no link followed); failures are noted per artifact.
 */
static void
copy_artifacts(virDomainPtr dom, VmmBatchLibvirt *lv, const VmmBatchJob *job, VmmBatchResult *res)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GError) derr = NULL;
    VmmAgentCopyOpts opts = {.max_bytes = lv->max_artifact_bytes};
    int dfd = -1;

    if (!job->artifacts->len)
        return;
    dfd = vmm_batch_output_artifacts_dir(lv->output, job->name, &derr);
    for (guint i = 0; i < job->artifacts->len; i++) {
        const char *guest = g_ptr_array_index(job->artifacts, i);
        VmmBatchArtifact *a = g_new0(VmmBatchArtifact, 1);
        g_autofree char *base = artifact_name(guest, i, used);
        g_autoptr(GError) err = NULL;

        a->guest = g_strdup(guest);
        a->local = g_build_filename("artifacts", job->name, base, NULL);
        if (dfd < 0)
            a->error = g_strdup(derr->message);
        else if (!(a->copied = vmm_agent_copy_out_at(dom, guest, dfd, base,
                                                     VMM_BATCH_OUTPUT_FILE_MODE, &opts, &err)))
            a->error = g_strdup(err->message);
        g_ptr_array_add(res->artifacts, a);
    }
    if (dfd >= 0)
        close(dfd);
}

/*
 * The job's two log files and tails, with test secrets replaced as the output
 * arrives: logs and reports are CI artifacts, readable while the job runs.
 */
static gboolean
open_logs(VmmBatchLibvirt *lv, const VmmBatchJob *job, VmmBatchResult *res, VmmBatchLog **logs,
          GError **error)
{
    const char *streams[] = {"stdout", "stderr"};
    VmmBatchTail *tails[] = {&res->out, &res->err};

    for (int i = 0; i < 2; i++) {
        g_autofree char *file = g_strdup_printf("%s.%s", job->name, streams[i]);
        int fd = vmm_batch_output_create_log(lv->output, file, error);
        if (fd < 0)
            return FALSE;
        logs[i] = vmm_batch_log_new(fd, lv->secrets, tails[i]);
    }
    return TRUE;
}

static gboolean
lv_run(VmmBatchSlot *slot, const VmmBatchJob *job, VmmBatchResult *res, gpointer data,
       GError **error)
{
    VmmBatchLibvirt *lv = data;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(GPtrArray) env = g_ptr_array_new();
    const char *argv[] = {"/bin/sh", "-c", job->command, NULL};
    VmmAgentExec spec = {0};
    VmmBatchLog *logs[2] = {NULL, NULL};
    g_autoptr(GError) lerr = NULL;
    VmmOps ops;
    gboolean ok;

    if (!lv_context(slot, lv, &ops, error) ||
        !(dom = vmm_sandbox_lookup(ops.ctx.conn, slot->name, error)))
        return FALSE;
    for (guint i = 0; i < job->files->len; i++) {
        VmmBatchFile *f = g_ptr_array_index(job->files, i);
        g_autofree char *gdir = g_path_get_dirname(f->guest);
        const char *mkdir_argv[] = {"mkdir", "-p", "--", gdir, NULL};
        int code = -1;
        struct stat sb;
        /* A link is not followed (like airlock cp without -L): name the file itself. */
        if (lstat(f->local, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            res->error = g_strdup_printf("file '%s' to copy in is missing or not a regular file "
                                         "(symbolic links are not followed)",
                                         f->local);
            return TRUE;
        }
        if (!vmm_agent_run(dom, mkdir_argv, 30000, &code, NULL, NULL, error) ||
            !vmm_ops_cp(&ops, slot->name, TRUE, f->local, f->guest, NULL, error))
            return FALSE;
    }
    if (!open_logs(lv, job, res, logs, &lerr)) {
        vmm_batch_log_close(logs[0]);
        res->error = g_strdup(lerr->message);
        return TRUE;
    }
    for (guint i = 0; i < job->env->len; i++)
        g_ptr_array_add(env, g_ptr_array_index(job->env, i));
    g_ptr_array_add(env, NULL);
    spec.argv = argv;
    spec.env = (const char *const *)env->pdata;
    spec.with_sandbox_env = TRUE;
    spec.timeout_ms = job->timeout_s * 1000;
    spec.on_stdout = on_out;
    spec.on_stderr = on_err;
    spec.user_data = logs;
    ok = vmm_ops_exec(&ops, slot->name, &spec, &res->exit_code, error);
    vmm_batch_log_close(logs[0]);
    vmm_batch_log_close(logs[1]);
    if (!ok) {
        res->exit_code = -1;
        return FALSE;
    }
    copy_artifacts(dom, lv, job, res);
    return TRUE;
}

static gboolean
lv_destroy(VmmBatchSlot *slot, gpointer data, GError **error)
{
    VmmBatchLibvirt *lv = data;
    VmmDestroyFlags flags = VMM_DESTROY_FORCE | (lv->evidence ? 0 : VMM_DESTROY_NO_EVIDENCE);
    VmmOps ops;

    return lv_context(slot, lv, &ops, error) &&
           vmm_ops_destroy(&ops, slot->name, flags, NULL, error);
}

static void
lv_interrupt(VmmBatchSlot *slot, gpointer data)
{
    LvSlot *ls = slot->priv;
    g_autofree char *object = vmm_name_object(slot->name);
    virDomainPtr dom;

    (void)data;
    if (!ls || !ls->conn)
        return;
    /* Killing the domain makes a running exec, revert or boot wait fail at once. */
    if ((dom = virDomainLookupByName(ls->conn, object))) {
        virDomainDestroy(dom);
        virDomainFree(dom);
    }
}

static void lv_slot_free(VmmBatchSlot *slot, gpointer data);

const VmmBatchExecutor vmm_batch_libvirt_executor = {
    .create = lv_create,
    .reset = lv_reset,
    .run = lv_run,
    .destroy = lv_destroy,
    .interrupt = lv_interrupt,
    .slot_free = lv_slot_free,
};

static void
lv_slot_free(VmmBatchSlot *slot, gpointer data)
{
    LvSlot *ls = slot->priv;

    (void)data;
    if (!ls)
        return;
    if (ls->conn)
        virConnectClose(ls->conn);
    g_free(ls);
    slot->priv = NULL;
}

VmmBatchHost *
vmm_batch_hosts_probe(const char *const *uris, GError **error)
{
    guint n = g_strv_length((char **)uris);
    g_autofree VmmBatchHost *hosts = g_new0(VmmBatchHost, MAX(n, 1));

    for (guint i = 0; i < n; i++) {
        g_autoptr(virConnect) conn = vmm_conn_open(uris[i], error);
        unsigned long long free_b;
        int running;
        if (!conn) {
            g_prefix_error(error, "host '%s': ", uris[i]);
            return NULL;
        }
        free_b = virNodeGetFreeMemory(conn);
        if (free_b == 0 && vmm_error_libvirt_last_code() != 0)
            return (vmm_error_libvirt(error, VMM_ERROR_LIBVIRT,
                                      "cannot read the free memory of host '%s'", uris[i]),
                    NULL);
        if ((running = virConnectNumOfDomains(conn)) < 0)
            return (vmm_error_libvirt(error, VMM_ERROR_LIBVIRT,
                                      "cannot count the domains of host '%s'", uris[i]),
                    NULL);
        hosts[i].uri = uris[i];
        hosts[i].free_bytes = free_b;
        hosts[i].running = (guint)running;
    }
    return g_steal_pointer(&hosts);
}

gboolean
vmm_batch_libvirt_names_free(const char *prefix, guint parallel, char **slot_uris, GError **error)
{
    for (guint i = 0; i < parallel; i++) {
        g_autofree char *name = g_strdup_printf("%s-%u", prefix, i + 1);
        g_autofree char *object = vmm_name_object(name);
        g_autoptr(virConnect) conn = vmm_conn_open(slot_uris[i], error);
        g_autoptr(virDomain) dom = NULL;
        if (!conn)
            return FALSE;
        if ((dom = virDomainLookupByName(conn, object))) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                        "sandbox '%s' already exists on %s (another batch with prefix '%s' is "
                        "running, or left it: airlock destroy %s; or set another prefix)",
                        name, slot_uris[i], prefix, name);
            return FALSE;
        }
    }
    return TRUE;
}
