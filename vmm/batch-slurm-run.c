/* batch-slurm-run.c: a batch as a Slurm job array: the shared-directory check, sbatch, squeue,
 * scancel, the array task's setup and the collection of the tasks' output. */
#include <config.h>

#include "autoptr.h"
#include "batch-output.h"
#include "batch-slurm.h"
#include "command.h"
#include "error.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* A task's report is bounded: 20000 jobs with full tails fit. */
#define REPORT_MAX (256u << 20)
#define MANIFEST_MAX (16u << 20)

/* --- the shared directory ------------------------------------------------------------------ */

/* Filesystems that live on one machine: a node other than this one cannot see them. */
static gboolean
fs_is_local(const char *path, const char **type)
{
    static const struct {
        long magic;
        const char *name;
    } local[] = {
        {0xEF53, "ext4"},           {0x58465342, "xfs"},     {0x9123683E, "btrfs"},
        {0x01021994, "tmpfs"},      {0x794c7630, "overlay"}, {(long)0x858458f6, "ramfs"},
        {(long)0xF2F52010, "f2fs"}, {0x2fc12fc1, "zfs"},     {0x4d44, "vfat"},
    };
    struct statfs sf;

    if (statfs(path, &sf) < 0)
        return FALSE;
    for (gsize i = 0; i < G_N_ELEMENTS(local); i++)
        if ((long)sf.f_type == local[i].magic) {
            *type = local[i].name;
            return TRUE;
        }
    return FALSE;
}

/* The real path of @path's directory with its base name; @path itself may be missing. */
static char *
real_path(const char *path)
{
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *dir = g_path_get_dirname(abs);
    g_autofree char *base = g_path_get_basename(abs);
    char buf[PATH_MAX];

    if (!realpath(dir, buf))
        return g_steal_pointer(&abs);
    return g_build_filename(buf, base, NULL);
}

static gboolean
check_inside(const char *dir, const char *file, const char *what, const char *plan, GError **error)
{
    g_autofree char *real = real_path(file);
    g_autofree char *prefix = g_strconcat(dir, "/", NULL);

    if (g_str_has_prefix(real, prefix))
        return TRUE;
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "%s: %s '%s' is outside the plan's directory '%s': with --slurm the nodes read "
                "the plan's files from its directory, which they share (move the file there)",
                plan, what, file, dir);
    return FALSE;
}

/* The nodes of @partition (sinfo), NULL-terminated. */
static char **
partition_nodes(const char *partition, GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("sinfo");
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);

    vmm_command_add_argv(cmd, (const char *const[]){"-h", "-N", "-o", "%N", NULL});
    if (partition) {
        vmm_command_add_arg(cmd, "-p");
        vmm_command_add_arg(cmd, partition);
    }
    if (!vmm_command_run(cmd, NULL, error)) {
        g_prefix_error(error, "cannot ask Slurm for its nodes: ");
        return NULL;
    }
    lines = g_strsplit(vmm_command_get_stdout(cmd), "\n", -1);
    for (char **l = lines; *l; l++)
        if (*g_strstrip(*l) && !g_ptr_array_find_with_equal_func(nodes, *l, g_str_equal, NULL))
            g_ptr_array_add(nodes, g_strdup(*l));
    g_ptr_array_add(nodes, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&nodes), FALSE);
}

gboolean
vmm_batch_slurm_check_shared(const VmmBatchPlan *plan, const char *output, const char *partition,
                             GError **error)
{
    g_autofree char *plan_real = real_path(plan->path);
    g_autofree char *dir = g_path_get_dirname(plan_real);
    g_autofree char *out_real = real_path(output);
    g_autofree char *host = g_strdup(g_get_host_name());
    const char *const paths[] = {dir, out_real};
    const char *type = NULL;
    g_auto(GStrv) nodes = NULL;

    if (plan->spec_file && !check_inside(dir, plan->spec_file, "spec", plan->path, error))
        return FALSE;
    if (plan->secrets_file && !check_inside(dir, plan->secrets_file, "secrets", plan->path, error))
        return FALSE;
    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
        g_autofree char *what = g_strdup_printf("job '%s' file", job->name);
        for (guint k = 0; k < job->files->len; k++) {
            VmmBatchFile *f = g_ptr_array_index(job->files, k);
            if (!check_inside(dir, f->local, what, plan->path, error))
                return FALSE;
        }
    }
    if (strchr(host, '.'))
        *strchr(host, '.') = '\0';
    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autofree char *probe = g_strdup(paths[i]);
        /* The output directory may not exist yet: its nearest existing parent decides. */
        while (access(probe, F_OK) < 0 && strcmp(probe, "/")) {
            char *parent = g_path_get_dirname(probe);
            g_free(probe);
            probe = parent;
        }
        if (!fs_is_local(probe, &type))
            continue;
        if (!nodes && !(nodes = partition_nodes(partition, error)))
            return FALSE;
        for (char **n = nodes; *n; n++)
            if (strcmp(*n, host)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "'%s' is on a local filesystem (%s) of %s, which node '%s' of %s "
                            "cannot read: put the plan and --output on a filesystem every node "
                            "mounts (NFS, Lustre, CephFS…)",
                            paths[i], type, host, *n,
                            partition ? partition : "the default partition");
                return FALSE;
            }
    }
    return TRUE;
}

/* --- the manifest -------------------------------------------------------------------------- */

static char *
slurm_dir(const char *output)
{
    return g_build_filename(output, VMM_BATCH_SLURM_DIR, NULL);
}

VmmBatchSlurmManifest *
vmm_batch_slurm_load(const char *output, GError **error)
{
    g_autofree char *dir = slurm_dir(output);
    g_autofree char *shown = g_build_filename(dir, "manifest", NULL);
    g_autofree char *data = NULL;
    vmm_auto_fd int fd = vmm_fs_open_own_dir(dir, error);
    gsize len;

    if (fd < 0 || !(data = vmm_fs_read_at(fd, "manifest", MANIFEST_MAX, &len, error))) {
        g_prefix_error(error, "'%s' holds no Slurm batch: ", output);
        return NULL;
    }
    return vmm_batch_slurm_manifest_parse(data, len, shown, error);
}

gboolean
vmm_batch_slurm_save(const char *output, const VmmBatchSlurmManifest *m, GError **error)
{
    g_autofree char *dir = slurm_dir(output);
    g_autofree char *text = vmm_batch_slurm_manifest_format(m);
    vmm_auto_fd int fd = vmm_fs_open_own_dir(dir, error);

    return fd >= 0 && vmm_fs_write_at(fd, "manifest", text, -1, VMM_BATCH_OUTPUT_FILE_MODE, error);
}

/* --- sbatch, squeue, scancel --------------------------------------------------------------- */

/* The script every array task runs: this task's share, with the node's own airlock. */
static char *
task_script(const char *airlock, const VmmBatchSlurmManifest *m, const char *output)
{
    g_autofree char *a = g_shell_quote(airlock);
    g_autofree char *p = g_shell_quote(m->plan);
    g_autofree char *o = g_shell_quote(output);

    return g_strdup_printf(
        "#!/bin/sh\n"
        "# An array task of `airlock batch run --slurm` (docs/batch.md): runs the jobs the\n"
        "# manifest gives task $SLURM_ARRAY_TASK_ID in a pool on this node, with this node's\n"
        "# libvirt, firewall and state directory. exec: Slurm's signals reach airlock itself.\n"
        "exec %s batch run %s --slurm-task %s\n",
        a, p, o);
}

/* Whether an earlier array of @output is still queued or running. */
static gboolean
earlier_running(const char *output, char **job_id)
{
    g_autoptr(VmmBatchSlurmManifest) old = vmm_batch_slurm_load(output, NULL);
    g_autofree VmmBatchSlurmTaskState *st = NULL;
    gboolean running = FALSE;

    if (!old || !old->job_id)
        return FALSE;
    st = g_new0(VmmBatchSlurmTaskState, old->tasks->len);
    if (vmm_batch_slurm_poll(old, st, NULL))
        for (guint i = 0; i < old->tasks->len; i++)
            running |= !vmm_batch_slurm_state_ended(st[i].state);
    for (guint i = 0; i < old->tasks->len; i++)
        vmm_batch_slurm_task_state_clear(&st[i]);
    *job_id = g_strdup(old->job_id);
    return running;
}

gboolean
vmm_batch_slurm_submit(const char *output, VmmBatchSlurmManifest *m, const char *base,
                       const VmmBatchSlurmSubmit *opts, GError **error)
{
    g_autofree char *dir = slurm_dir(output);
    g_autofree char *old_id = NULL;
    g_autofree char *script = task_script(opts->airlock, m, output);
    g_autofree char *script_path = g_build_filename(dir, "task.sh", NULL);
    g_autofree char *log = g_build_filename(dir, "task-%a.log", NULL);
    g_autofree char *array = g_strdup_printf("--array=0-%u", m->tasks->len - 1);
    g_autofree char *name = g_strdup_printf("--job-name=airlock-%s", m->prefix);
    g_autofree char *log_arg = g_strconcat("--output=", log, NULL);
    g_autoptr(VmmCommand) cmd = vmm_command_new("sbatch");
    g_auto(GStrv) answer = NULL;
    vmm_auto_fd int fd = -1;

    if (earlier_running(output, &old_id)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_EXISTS,
                    "'%s' belongs to Slurm array %s, which still runs (airlock batch status %s; "
                    "scancel %s, or choose another --output)",
                    output, old_id, output, old_id);
        return FALSE;
    }
    if (!vmm_fs_remove_tree(dir, error) ||
        (fd = vmm_fs_mkdir(dir, VMM_BATCH_OUTPUT_DIR_MODE, (uid_t)-1, (gid_t)-1, error)) < 0)
        return FALSE;
    m->submitted = g_get_real_time() / G_USEC_PER_SEC;
    if ((base && !vmm_fs_write_at(fd, "base.json", base, -1, VMM_BATCH_OUTPUT_FILE_MODE, error)) ||
        !vmm_fs_write_at(fd, "task.sh", script, -1, 0750, error) ||
        !vmm_batch_slurm_save(output, m, error))
        return FALSE;

    vmm_command_add_argv(
        cmd, (const char *const[]){"--parsable", array, name, log_arg, "--ntasks=1", NULL});
    if (opts->partition) {
        g_autofree char *p = g_strconcat("--partition=", opts->partition, NULL);
        vmm_command_add_arg(cmd, p);
    }
    vmm_command_add_argv(cmd, (const char *const *)opts->sbatch_args);
    vmm_command_add_arg(cmd, script_path);
    if (!vmm_command_run(cmd, NULL, error)) {
        g_prefix_error(error, "cannot submit the array: ");
        return FALSE;
    }
    /* --parsable: "JOBID" or "JOBID;CLUSTER". */
    answer = g_strsplit(g_strstrip((char *)vmm_command_get_stdout(cmd)), ";", 2);
    if (!answer[0] || !*answer[0] || strspn(answer[0], "0123456789") != strlen(answer[0])) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "sbatch gave no job id");
        return FALSE;
    }
    m->job_id = g_strdup(answer[0]);
    return vmm_batch_slurm_save(output, m, error);
}

gboolean
vmm_batch_slurm_poll(const VmmBatchSlurmManifest *m, VmmBatchSlurmTaskState *states, GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("squeue");
    int status = 0;

    vmm_command_add_argv(cmd, (const char *const[]){"-h", "-r", "-t", "all", "-j", m->job_id, "-o",
                                                    VMM_BATCH_SLURM_SQUEUE_FORMAT, NULL});
    if (!vmm_command_run(cmd, &status, error))
        return FALSE;
    if (status != 0 && !strstr(vmm_command_get_stderr(cmd), "Invalid job id")) {
        g_auto(GStrv) lines = g_strsplit(g_strstrip((char *)vmm_command_get_stderr(cmd)), "\n", -1);
        guint n = g_strv_length(lines);
        /* Its last line says why (the first ones are the steps it tried). */
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "squeue failed: %.200s (is SLURM_CONF set?)",
                    n ? lines[n - 1] : "exit status not 0");
        return FALSE;
    }
    /* An unknown id: Slurm has forgotten the whole array, which has ended. */
    vmm_batch_slurm_parse_squeue(status == 0 ? vmm_command_get_stdout(cmd) : "", states,
                                 m->tasks->len);
    return TRUE;
}

gboolean
vmm_batch_slurm_cancel(const VmmBatchSlurmManifest *m, GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("scancel");

    vmm_command_add_arg(cmd, m->job_id);
    return vmm_command_run(cmd, NULL, error);
}

static char *
task_dir_name(guint task)
{
    return g_strdup_printf("task-%u", task);
}

gboolean
vmm_batch_slurm_task_reported(const char *output, guint task)
{
    g_autofree char *name = task_dir_name(task);
    g_autofree char *path =
        g_build_filename(output, VMM_BATCH_SLURM_DIR, name, "results.json", NULL);

    return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

/* --- the array task ------------------------------------------------------------------------ */

gboolean
vmm_batch_slurm_task_setup(VmmBatchPlan *plan, const char *output, char **task_output,
                           gboolean *stagger, GError **error)
{
    const char *id = g_getenv("SLURM_ARRAY_TASK_ID");
    const char *node = g_getenv("SLURMD_NODENAME");
    g_autoptr(VmmBatchSlurmManifest) m = NULL;
    g_autoptr(GPtrArray) mine = NULL;
    g_autoptr(VmmBatchOutput) out = NULL;
    g_autofree char *data = NULL, *sum = NULL, *name = NULL, *dir = NULL;
    char **jobs;
    guint64 task;
    gsize len;

    if (!id || !g_ascii_string_to_unsigned(id, 10, 0, G_MAXUINT, &task, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "--slurm-task runs inside a Slurm array task (SLURM_ARRAY_TASK_ID is not set)");
        return FALSE;
    }
    if (!(m = vmm_batch_slurm_load(output, error)))
        return FALSE;
    if (task >= m->tasks->len) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "the manifest has no task %s", id);
        return FALSE;
    }
    if (!g_file_get_contents(plan->path, &data, &len, NULL) ||
        !(sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len)) ||
        strcmp(sum, m->plan_sha256)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "plan '%s' on this node is not the one submitted (changed since, or not the "
                    "same shared file)",
                    plan->path);
        return FALSE;
    }
    jobs = g_ptr_array_index(m->tasks, task);
    mine = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_job_free);
    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
        if (g_strv_contains((const char *const *)jobs, job->name))
            g_ptr_array_add(mine, g_steal_pointer(&plan->jobs->pdata[i]));
    }
    /* The other tasks' jobs (NULL where one was taken) go with the old array. */
    if (mine->len != g_strv_length(jobs) || mine->len == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "plan '%s' lacks jobs the manifest gives task %s", plan->path, id);
        return FALSE;
    }
    g_ptr_array_unref(plan->jobs);
    plan->jobs = g_steal_pointer(&mine);
    g_free(plan->prefix);
    plan->prefix = vmm_batch_slurm_task_prefix(m->prefix, (guint)task);
    plan->parallel = m->per_node;
    plan->evidence = m->evidence;
    *stagger = m->stagger;

    name = task_dir_name((guint)task);
    dir = g_build_filename(output, VMM_BATCH_SLURM_DIR, name, NULL);
    /* The node's name first: a task that fails later is still found where it ran. */
    if (!(out = vmm_batch_output_open(dir, error)) ||
        !vmm_batch_output_write(out, "node", node ? node : g_get_host_name(), error))
        return FALSE;
    g_free(*task_output);
    *task_output = g_steal_pointer(&dir);
    return TRUE;
}

/* --- collect ------------------------------------------------------------------------------- */

/* The last line of a task's log, fit for a one-line reason, or NULL. */
static char *
log_tail(int dir_fd, guint task)
{
    g_autofree char *name = g_strdup_printf("task-%u.log", task);
    vmm_auto_fd int fd = vmm_fs_open_regular_at(dir_fd, name, NULL);
    char buf[2048];
    struct stat sb;
    gssize n;
    VmmBatchTail t = {0};
    g_autofree char *text = NULL;
    char *line, *end;

    if (fd < 0 || fstat(fd, &sb) < 0)
        return NULL;
    if (sb.st_size > (off_t)sizeof(buf) - 1)
        lseek(fd, sb.st_size - (off_t)sizeof(buf) + 1, SEEK_SET);
    if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0)
        return NULL;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    end = buf + n;
    vmm_batch_tail_init(&t, 300);
    vmm_batch_tail_append(&t, line, MIN((gsize)(end - line), 300));
    text = vmm_batch_tail_text(&t);
    vmm_batch_tail_clear(&t);
    return *text ? g_steal_pointer(&text) : NULL;
}

/* Moves @name from @from to @to, replacing what @to had under that name. */
static gboolean
move_at(int from, int to, const char *name, const char *shown, GError **error)
{
    struct stat sb;

    if (fstatat(from, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return TRUE; /* nothing there (already moved, or never written) */
    if (!vmm_fs_remove_at(to, name, error))
        return FALSE;
    if (renameat(from, name, to, name) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot move '%s': %s", shown,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* Moves task @t's logs and artifacts to where a local run puts them. */
static gboolean
move_output(const char *output, int task_fd, char **jobs, GError **error)
{
    vmm_auto_fd int logs = vmm_fs_open_own_dir_at(task_fd, "logs", NULL);
    vmm_auto_fd int arts = vmm_fs_open_own_dir_at(task_fd, "artifacts", NULL);
    g_autofree char *dlogs = g_build_filename(output, "logs", NULL);
    g_autofree char *darts = g_build_filename(output, "artifacts", NULL);
    vmm_auto_fd int to_logs = vmm_fs_open_own_dir(dlogs, error);
    vmm_auto_fd int to_arts = to_logs < 0 ? -1 : vmm_fs_open_own_dir(darts, error);

    if (to_arts < 0)
        return FALSE;
    for (char **j = jobs; *j; j++) {
        const char *streams[] = {"stdout", "stderr"};
        for (int s = 0; s < 2 && logs >= 0; s++) {
            g_autofree char *f = g_strdup_printf("%s.%s", *j, streams[s]);
            if (!move_at(logs, to_logs, f, f, error))
                return FALSE;
        }
        if (arts >= 0 && !move_at(arts, to_arts, *j, *j, error))
            return FALSE;
    }
    return TRUE;
}

VmmBatchSlurmReport *
vmm_batch_slurm_collect(const char *output, const VmmBatchPlan *plan,
                        const VmmBatchSlurmManifest *m, const VmmBatchSlurmTaskState *states,
                        GError **error)
{
    g_autofree char *dir = slurm_dir(output);
    vmm_auto_fd int dir_fd = -1;
    g_autoptr(VmmBatchOutput) out = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(g_free);
    g_autofree VmmBatchSlurmPart *parts = g_new0(VmmBatchSlurmPart, m->tasks->len);
    g_autofree char *base = NULL;
    g_autoptr(VmmBatchSlurmReport) rep = NULL;
    gint64 end = m->submitted;

    /* The output directory is checked as a local run checks it before anything moves in. */
    if (!(out = vmm_batch_output_open(output, error)) ||
        (dir_fd = vmm_fs_open_own_dir(dir, error)) < 0)
        return NULL;
    if (m->retry && !(base = vmm_fs_read_at(dir_fd, "base.json", REPORT_MAX, NULL, error)))
        return NULL;
    for (guint t = 0; t < m->tasks->len; t++) {
        g_autofree char *name = task_dir_name(t);
        vmm_auto_fd int task_fd = vmm_fs_open_own_dir_at(dir_fd, name, NULL);
        char *report = NULL, *node = NULL;
        struct stat sb;

        if (task_fd >= 0) {
            report = vmm_fs_read_at(task_fd, "results.json", REPORT_MAX, NULL, NULL);
            node = vmm_fs_read_at(task_fd, "node", 256, NULL, NULL);
            if (node)
                g_strstrip(node);
            if (fstatat(task_fd, "results.json", &sb, 0) == 0)
                end = MAX(end, (gint64)sb.st_mtime);
            if (!move_output(output, task_fd, g_ptr_array_index(m->tasks, t), error))
                return NULL;
        }
        g_ptr_array_add(keep, report);
        parts[t].report = report;
        if (node && !vmm_batch_job_name_valid(node)) /* a host name: the same characters */
            g_clear_pointer(&node, g_free);
        g_ptr_array_add(keep, node);
        parts[t].node = node ? node : states ? states[t].node : NULL;
        parts[t].state = states ? states[t].state : NULL;
        if (!report) {
            char *tail = log_tail(dir_fd, t);
            g_ptr_array_add(keep, tail);
            parts[t].log_tail = tail;
        }
    }
    if (m->cancelled || end == m->submitted)
        end = MAX(end, g_get_real_time() / G_USEC_PER_SEC);
    if (!(rep = vmm_batch_slurm_merge(plan, m, parts, base, end, error)))
        return NULL;
    if (!vmm_batch_output_write(out, "results.json", rep->json, error) ||
        !vmm_batch_output_write(out, "junit.xml", rep->junit, error))
        return NULL;
    return g_steal_pointer(&rep);
}
