/* batch-slurm.c: a batch as a Slurm job array: the share of each task, the manifest, squeue's
 * lines. Pure. */
#include <config.h>

#include "batch-slurm.h"
#include "error.h"

#include <string.h>

GPtrArray *
vmm_batch_slurm_assign(GPtrArray *names, guint n_tasks)
{
    guint t = MIN(n_tasks, names->len);
    g_autoptr(GPtrArray) lists = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
    GPtrArray *tasks = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

    for (guint i = 0; i < t; i++)
        g_ptr_array_add(lists, g_ptr_array_new_with_free_func(g_free));
    /* Round robin: neighbours in a plan (a matrix row) often take alike times. */
    for (guint k = 0; k < names->len && t > 0; k++)
        g_ptr_array_add(g_ptr_array_index(lists, k % t), g_strdup(g_ptr_array_index(names, k)));
    for (guint i = 0; i < t; i++) {
        GPtrArray *l = g_ptr_array_index(lists, i);
        g_ptr_array_add(l, NULL);
        g_ptr_array_add(tasks, g_ptr_array_steal(l, NULL));
    }
    return tasks;
}

VmmBatchSlurmManifest *
vmm_batch_slurm_manifest_new(GPtrArray *tasks)
{
    VmmBatchSlurmManifest *m = g_new0(VmmBatchSlurmManifest, 1);

    m->tasks = tasks;
    m->per_node = 1;
    return m;
}

void
vmm_batch_slurm_manifest_free(VmmBatchSlurmManifest *m)
{
    if (!m)
        return;
    g_free(m->plan);
    g_free(m->plan_sha256);
    g_free(m->prefix);
    g_free(m->job_id);
    if (m->tasks)
        g_ptr_array_unref(m->tasks);
    g_free(m);
}

char *
vmm_batch_slurm_task_prefix(const char *prefix, guint task)
{
    return g_strdup_printf("%s-s%u", prefix, task);
}

char *
vmm_batch_slurm_manifest_format(const VmmBatchSlurmManifest *m)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();

    g_key_file_set_string(kf, "slurm", "plan", m->plan);
    g_key_file_set_string(kf, "slurm", "plan-sha256", m->plan_sha256);
    g_key_file_set_string(kf, "slurm", "prefix", m->prefix);
    g_key_file_set_uint64(kf, "slurm", "per-node", m->per_node);
    g_key_file_set_boolean(kf, "slurm", "evidence", m->evidence);
    g_key_file_set_boolean(kf, "slurm", "stagger-boots", m->stagger);
    if (m->job_id)
        g_key_file_set_string(kf, "slurm", "job-id", m->job_id);
    g_key_file_set_int64(kf, "slurm", "submitted", m->submitted);
    g_key_file_set_boolean(kf, "slurm", "cancelled", m->cancelled);
    g_key_file_set_boolean(kf, "slurm", "retry", m->retry);
    g_key_file_set_uint64(kf, "slurm", "tasks", m->tasks->len);
    for (guint i = 0; i < m->tasks->len; i++) {
        g_autofree char *group = g_strdup_printf("task %u", i);
        char **jobs = g_ptr_array_index(m->tasks, i);
        g_key_file_set_string_list(kf, group, "jobs", (const char *const *)jobs,
                                   g_strv_length(jobs));
    }
    return g_key_file_to_data(kf, NULL, NULL);
}

VmmBatchSlurmManifest *
vmm_batch_slurm_manifest_parse(const char *data, gsize len, const char *origin, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autoptr(VmmBatchSlurmManifest) m =
        vmm_batch_slurm_manifest_new(g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev));
    guint64 n;

    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &local) ||
        !(m->plan = g_key_file_get_string(kf, "slurm", "plan", &local)) ||
        !(m->plan_sha256 = g_key_file_get_string(kf, "slurm", "plan-sha256", &local)) ||
        !(m->prefix = g_key_file_get_string(kf, "slurm", "prefix", &local)))
        goto bad;
    m->per_node = (guint)g_key_file_get_uint64(kf, "slurm", "per-node", &local);
    if (local)
        goto bad;
    n = g_key_file_get_uint64(kf, "slurm", "tasks", &local);
    if (local)
        goto bad;
    if (m->per_node < 1 || m->per_node > VMM_BATCH_MAX_PARALLEL || n < 1 || n > 100000) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: per-node or tasks out of range",
                    origin);
        return NULL;
    }
    m->job_id = g_key_file_get_string(kf, "slurm", "job-id", NULL);
    m->submitted = g_key_file_get_int64(kf, "slurm", "submitted", NULL);
    m->evidence = g_key_file_get_boolean(kf, "slurm", "evidence", NULL);
    m->stagger = g_key_file_get_boolean(kf, "slurm", "stagger-boots", NULL);
    m->cancelled = g_key_file_get_boolean(kf, "slurm", "cancelled", NULL);
    m->retry = g_key_file_get_boolean(kf, "slurm", "retry", NULL);
    for (guint i = 0; i < n; i++) {
        g_autofree char *group = g_strdup_printf("task %u", i);
        char **jobs = g_key_file_get_string_list(kf, group, "jobs", NULL, &local);
        if (!jobs)
            goto bad;
        for (char **j = jobs; *j; j++)
            if (!vmm_batch_job_name_valid(*j)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] has a bad job name",
                            origin, group);
                g_strfreev(jobs);
                return NULL;
            }
        g_ptr_array_add(m->tasks, jobs);
    }
    return g_steal_pointer(&m);
bad:
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: %s", origin,
                local ? local->message : "not a manifest");
    return NULL;
}

/* --- squeue ------------------------------------------------------------------------------ */

void
vmm_batch_slurm_task_state_clear(VmmBatchSlurmTaskState *st)
{
    g_clear_pointer(&st->state, g_free);
    g_clear_pointer(&st->node, g_free);
    g_clear_pointer(&st->reason, g_free);
}

/* A field of squeue's output: NULL for empty or "(null)"/"None", else a copy. */
static char *
field(const char *s)
{
    if (!*s || !strcmp(s, "(null)") || !strcmp(s, "None") || !strcmp(s, "N/A"))
        return NULL;
    return g_strdup(s);
}

void
vmm_batch_slurm_parse_squeue(const char *text, VmmBatchSlurmTaskState *states, guint n_tasks)
{
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

    for (guint i = 0; i < n_tasks; i++)
        vmm_batch_slurm_task_state_clear(&states[i]);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(g_strstrip(*l), "|", 4);
        guint64 idx;
        if (g_strv_length(f) != 4 ||
            !g_ascii_string_to_unsigned(f[0], 10, 0, n_tasks ? n_tasks - 1 : 0, &idx, NULL) ||
            !*f[1])
            continue;
        vmm_batch_slurm_task_state_clear(&states[idx]);
        states[idx].state = g_strdup(f[1]);
        states[idx].node = field(f[2]);
        states[idx].reason = field(f[3]);
    }
}

gboolean
vmm_batch_slurm_state_ended(const char *state)
{
    static const char *const running[] = {
        "PENDING",   "RUNNING",     "CONFIGURING",   "COMPLETING", "SUSPENDED",
        "REQUEUED",  "REQUEUE_FED", "REQUEUE_HOLD",  "RESIZING",   "SIGNALING",
        "STAGE_OUT", "STOPPED",     "RESV_DEL_HOLD", NULL};

    return !state || !g_strv_contains(running, state);
}
