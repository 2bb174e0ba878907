/* batch-libvirt.c: the batch executor on libvirt (create, reset, run, destroy) and host probing. */
#include <config.h>

#include "agent.h"
#include "autoptr.h"
#include "batch-run.h"
#include "error.h"
#include "events.h"
#include "names.h"
#include "sandbox.h"
#include "snapshot.h"

#include <stdio.h>
#include <string.h>

/* --- libvirt executor -------------------------------------------------------------------- */

typedef struct {
    virConnectPtr conn;
} LvSlot;

static gboolean
lv_context(VmmBatchSlot *slot, VmmBatchLibvirt *lv, VmmContext *ctx, GError **error)
{
    LvSlot *ls = slot->priv;

    if (!ls)
        slot->priv = ls = g_new0(LvSlot, 1);
    if (!ls->conn && !(ls->conn = vmm_conn_open(slot->uri, error)))
        return FALSE;
    memset(ctx, 0, sizeof(*ctx));
    ctx->conn = ls->conn;
    ctx->state_dir = lv->state_dir;
    ctx->accel = lv->accel;
    return TRUE;
}

static void
lv_event(VmmBatchLibvirt *lv, const char *name, const char *event, JsonObject *fields)
{
    /* The audit trail is best effort here: a batch does not stop for it. */
    vmm_events_append(lv->state_dir, name, event, fields, NULL);
}

static gboolean
lv_create(VmmBatchSlot *slot, gpointer data, GError **error)
{
    VmmBatchLibvirt *lv = data;
    VmmCreateTimings t = {0};
    VmmContext ctx;
    g_autoptr(JsonObject) ev = json_object_new();

    if (!lv_context(slot, lv, &ctx, error))
        return FALSE;
    if (!vmm_sandbox_create(&ctx, slot->name, lv->spec, lv->secrets, lv->create_timeout_s, 0, &t,
                            error))
        return FALSE;
    json_object_set_string_member(ev, "image", lv->spec->image);
    json_object_set_string_member(ev, "accel", vmm_accel_to_string(lv->accel));
    json_object_set_string_member(ev, "host", slot->uri);
    json_object_set_boolean_member(ev, "batch", TRUE);
    json_object_set_double_member(ev, "duration_s", t.total);
    lv_event(lv, slot->name, "create", ev);
    return TRUE;
}

static gboolean
lv_reset(VmmBatchSlot *slot, gpointer data, GError **error)
{
    VmmBatchLibvirt *lv = data;
    VmmContext ctx;

    if (!lv_context(slot, lv, &ctx, error))
        return FALSE;
    return vmm_snapshot_revert(&ctx, slot->name, VMM_SNAPSHOT_CLEAN, NULL, error);
}

typedef struct {
    VmmBatchTail *tail;
    FILE *log;
} Sink;

static void
sink_write(const char *data, gsize len, gpointer user_data)
{
    Sink *s = user_data;

    vmm_batch_tail_append(s->tail, data, len);
    if (s->log)
        fwrite(data, 1, len, s->log);
}

typedef struct {
    Sink out, err;
} Sinks;

static void
on_out(const char *data, gsize len, gpointer user_data)
{
    sink_write(data, len, &((Sinks *)user_data)->out);
}

static void
on_err(const char *data, gsize len, gpointer user_data)
{
    sink_write(data, len, &((Sinks *)user_data)->err);
}

static FILE *
open_log(const char *dir, const char *job, const char *stream)
{
    g_autofree char *file = g_strdup_printf("%s.%s", job, stream);
    g_autofree char *path = g_build_filename(dir, "logs", file, NULL);

    return fopen(path, "we");
}

/* Copies @job's artifacts out to DIR/artifacts/JOB/; failures are noted per artifact. */
static void
copy_artifacts(virDomainPtr dom, VmmBatchLibvirt *lv, const VmmBatchJob *job, VmmBatchResult *res)
{
    g_autofree char *dir = g_build_filename(lv->output_dir, "artifacts", job->name, NULL);
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (job->artifacts->len && g_mkdir_with_parents(dir, 0755) < 0)
        return;
    for (guint i = 0; i < job->artifacts->len; i++) {
        const char *guest = g_ptr_array_index(job->artifacts, i);
        VmmBatchArtifact *a = g_new0(VmmBatchArtifact, 1);
        g_autofree char *base = g_path_get_basename(guest);
        g_autofree char *path = NULL;
        g_autoptr(GError) err = NULL;

        if (!g_hash_table_add(used, g_strdup(base))) {
            char *b2 = g_strdup_printf("%u-%s", i + 1, base);
            g_free(base);
            base = b2;
        }
        a->guest = g_strdup(guest);
        a->local = g_build_filename("artifacts", job->name, base, NULL);
        path = g_build_filename(lv->output_dir, a->local, NULL);
        a->copied = vmm_agent_copy_out(dom, guest, path, NULL, &err);
        if (!a->copied)
            a->error = g_strdup(err->message);
        g_ptr_array_add(res->artifacts, a);
    }
}

/* @data with every secret value replaced, NUL bytes kept (redact works on strings). */
static GString *
redact_bytes(const VmmSecrets *secrets, const char *data, gsize len)
{
    GString *out = g_string_sized_new(len);

    for (gsize off = 0; off <= len;) {
        const char *nul = memchr(data + off, '\0', len - off);
        gsize seg = nul ? (gsize)(nul - (data + off)) : len - off;
        g_autofree char *part = g_strndup(data + off, seg);
        g_autofree char *red = vmm_secrets_redact(secrets, part);
        g_string_append(out, red);
        if (!nul)
            break;
        g_string_append_c(out, '\0');
        off += seg + 1;
    }
    return out;
}

/*
 * A job may print a test secret: the reports and logs are CI artifacts, so
 * values are replaced with *** in the tails and the log files.
 */
static void
redact_outputs(VmmBatchLibvirt *lv, const VmmBatchJob *job, VmmBatchResult *res)
{
    const char *streams[] = {"stdout", "stderr"};
    VmmBatchTail *tails[] = {&res->out, &res->err};

    if (!lv->secrets || vmm_secrets_count(lv->secrets) == 0)
        return;
    for (int i = 0; i < 2; i++) {
        g_autofree char *file = g_strdup_printf("%s.%s", job->name, streams[i]);
        g_autofree char *path = g_build_filename(lv->output_dir, "logs", file, NULL);
        g_autofree char *data = NULL;
        gsize len;
        if (tails[i]->buf) {
            GString *red = redact_bytes(lv->secrets, tails[i]->buf->str, tails[i]->buf->len);
            guint64 cut = tails[i]->total - tails[i]->buf->len;
            tails[i]->total = cut + red->len; /* bytes cut stay counted, nothing more */
            g_string_free(tails[i]->buf, TRUE);
            tails[i]->buf = red;
        }
        if (g_file_get_contents(path, &data, &len, NULL)) {
            g_autoptr(GString) red = redact_bytes(lv->secrets, data, len);
            g_file_set_contents(path, red->str, red->len, NULL);
        }
    }
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
    Sinks sinks = {{&res->out, NULL}, {&res->err, NULL}};
    VmmAgentCopyOpts follow = {.dereference = TRUE}; /* as before; the next commit decides */
    VmmContext ctx;
    gboolean ok;

    if (!lv_context(slot, lv, &ctx, error) ||
        !(dom = vmm_sandbox_lookup(ctx.conn, slot->name, error)))
        return FALSE;
    for (guint i = 0; i < job->files->len; i++) {
        VmmBatchFile *f = g_ptr_array_index(job->files, i);
        g_autofree char *gdir = g_path_get_dirname(f->guest);
        const char *mkdir_argv[] = {"mkdir", "-p", "--", gdir, NULL};
        int code = -1;
        if (!g_file_test(f->local, G_FILE_TEST_IS_REGULAR)) {
            res->error = g_strdup_printf("file '%s' to copy in is missing", f->local);
            return TRUE;
        }
        if (!vmm_agent_run(dom, mkdir_argv, 30000, &code, NULL, NULL, error) ||
            !vmm_agent_copy_in(dom, f->local, f->guest, &follow, error))
            return FALSE;
    }
    sinks.out.log = open_log(lv->output_dir, job->name, "stdout");
    sinks.err.log = open_log(lv->output_dir, job->name, "stderr");
    for (guint i = 0; i < job->env->len; i++)
        g_ptr_array_add(env, g_ptr_array_index(job->env, i));
    g_ptr_array_add(env, NULL);
    spec.argv = argv;
    spec.env = (const char *const *)env->pdata;
    spec.with_sandbox_env = TRUE;
    spec.timeout_ms = job->timeout_s * 1000;
    spec.on_stdout = on_out;
    spec.on_stderr = on_err;
    spec.user_data = &sinks;
    ok = vmm_agent_exec(dom, &spec, &res->exit_code, error);
    if (sinks.out.log)
        fclose(sinks.out.log);
    if (sinks.err.log)
        fclose(sinks.err.log);
    redact_outputs(lv, job, res);
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
    g_autofree char *archive = NULL;
    VmmContext ctx;
    gboolean ok;

    if (!lv_context(slot, lv, &ctx, error))
        return FALSE;
    ok = vmm_sandbox_destroy(&ctx, slot->name, flags, &archive, error);
    if (ok) {
        g_autoptr(JsonObject) ev = json_object_new();
        json_object_set_boolean_member(ev, "batch", TRUE);
        if (archive)
            json_object_set_string_member(ev, "archive", archive);
        lv_event(lv, slot->name, "destroy", ev);
    }
    return ok;
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
