/* batch.c: batch plans (GKeyFile), matrix expansion, placement. Pure. */
#include <config.h>

#include "batch.h"
#include "autoptr.h"
#include "error.h"
#include "keyfile-text.h"
#include "names.h"
#include "secrets.h"
#include "spec.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- plan -------------------------------------------------------------------------------- */

static void
batch_file_free(VmmBatchFile *f)
{
    if (!f)
        return;
    g_free(f->local);
    g_free(f->guest);
    g_free(f);
}

static VmmBatchJob *
job_new(void)
{
    VmmBatchJob *job = g_new0(VmmBatchJob, 1);

    job->env = g_ptr_array_new_with_free_func(g_free);
    job->files = g_ptr_array_new_with_free_func((GDestroyNotify)batch_file_free);
    job->artifacts = g_ptr_array_new_with_free_func(g_free);
    return job;
}

void
vmm_batch_job_free(VmmBatchJob *job)
{
    if (!job)
        return;
    g_free(job->name);
    g_free(job->command);
    g_ptr_array_unref(job->env);
    g_ptr_array_unref(job->files);
    g_ptr_array_unref(job->artifacts);
    g_free(job->matrix);
    g_free(job);
}

void
vmm_batch_plan_free(VmmBatchPlan *plan)
{
    if (!plan)
        return;
    g_free(plan->path);
    g_free(plan->image);
    g_free(plan->spec_file);
    g_free(plan->prefix);
    g_free(plan->secrets_file);
    g_strfreev(plan->hosts);
    if (plan->jobs)
        g_ptr_array_unref(plan->jobs);
    g_free(plan);
}

gboolean
vmm_batch_job_name_valid(const char *name)
{
    gsize n = name ? strlen(name) : 0;

    if (n == 0 || n > 64 || !g_ascii_isalnum(name[0]))
        return FALSE;
    for (gsize i = 0; i < n; i++)
        if (!g_ascii_isalnum(name[i]) && !strchr("._-", name[i]))
            return FALSE;
    return TRUE;
}

char *
vmm_batch_expand(const char *tmpl, GHashTable *params)
{
    GString *out = g_string_sized_new(strlen(tmpl));

    for (const char *p = tmpl; *p;) {
        const char *close;
        if (*p == '{' && params && (close = strchr(p + 1, '}'))) {
            g_autofree char *key = g_strndup(p + 1, close - p - 1);
            const char *value = g_hash_table_lookup(params, key);
            if (value) {
                g_string_append(out, value);
                p = close + 1;
                continue;
            }
        }
        g_string_append_c(out, *p++);
    }
    return g_string_free(out, FALSE);
}

static char *
resolve(const char *base_dir, const char *path)
{
    if (g_path_is_absolute(path) || !base_dir)
        return g_strdup(path);
    return g_build_filename(base_dir, path, NULL);
}

static gboolean
parse_timeout(const char *text, guint *out, GError **error)
{
    gint64 s;

    if (!vmm_spec_parse_duration(text, &s, error))
        return FALSE;
    if (s <= 0 || s > 7 * 86400) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "timeout '%s' is out of range (1 s to 7 d)", text);
        return FALSE;
    }
    *out = (guint)s;
    return TRUE;
}

/* Keys a [job] or [matrix] group may have (param.* too, in a matrix). */
static const char *const job_keys[] = {"command",   "timeout", "env", "files",
                                       "artifacts", "expect",  NULL};
static const char *const batch_keys[] = {
    "image", "spec",     "parallel",          "prefix", "timeout", "secrets",
    "hosts", "evidence", "max-artifact-size", NULL};

static gboolean
check_keys(GKeyFile *kf, const char *group, const char *const *allowed, gboolean params,
           const char *origin, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (char **k = keys; k && *k; k++) {
        if (g_strv_contains(allowed, *k) || (params && g_str_has_prefix(*k, "param.")))
            continue;
        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] %s: unknown key (use %s%s)",
                    origin, group, *k, list, params ? " or param.NAME" : "");
        return FALSE;
    }
    return TRUE;
}

/*
 * Fills @job from @group with {param} replaced per @params (NULL for a plain
 * job). The job's name is set by the caller.
 */
static gboolean
fill_job(VmmBatchJob *job, GKeyFile *kf, const char *group, GHashTable *params,
         const VmmBatchPlan *plan, const char *origin, const char *base_dir, GError **error)
{
    g_autofree char *command = NULL, *timeout = NULL, *expect = NULL;
    g_auto(GStrv) env = NULL;
    g_auto(GStrv) files = NULL;
    g_auto(GStrv) artifacts = NULL;
    g_autoptr(GError) local = NULL;

    command = g_key_file_get_string(kf, group, "command", NULL);
    if (!command || !*g_strstrip(command)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] needs a command", origin, group);
        return FALSE;
    }
    job->command = vmm_batch_expand(command, params);
    job->timeout_s = plan->timeout_s;
    if ((timeout = g_key_file_get_string(kf, group, "timeout", NULL)) &&
        !parse_timeout(g_strstrip(timeout), &job->timeout_s, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] timeout: %s", origin, group,
                    local->message);
        return FALSE;
    }
    if ((expect = g_key_file_get_string(kf, group, "expect", NULL))) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(g_strstrip(expect), 10, 0, 255, &v, NULL)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] expect: '%s' is not an exit code (0-255)", origin, group, expect);
            return FALSE;
        }
        job->expect = (int)v;
    }
    env = g_key_file_get_string_list(kf, group, "env", NULL, NULL);
    for (char **e = env; e && *e; e++) {
        g_autofree char *kv = vmm_batch_expand(g_strstrip(*e), params);
        const char *eq = strchr(kv, '=');
        g_autofree char *key = eq ? g_strndup(kv, eq - kv) : NULL;
        if (!*kv)
            continue;
        if (!key || !vmm_secrets_valid_key(key)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] env: '%s' is not K=V with a valid name", origin, group, kv);
            return FALSE;
        }
        g_ptr_array_add(job->env, g_steal_pointer(&kv));
    }
    files = g_key_file_get_string_list(kf, group, "files", NULL, NULL);
    for (char **f = files; f && *f; f++) {
        g_autofree char *spec = vmm_batch_expand(g_strstrip(*f), params);
        const char *colon = strrchr(spec, ':');
        VmmBatchFile *bf;
        if (!*spec)
            continue;
        if (!colon || colon == spec || colon[1] != '/') {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] files: '%s' is not LOCAL:/GUEST/PATH", origin, group, spec);
            return FALSE;
        }
        bf = g_new0(VmmBatchFile, 1);
        {
            g_autofree char *l = g_strndup(spec, colon - spec);
            bf->local = resolve(base_dir, l);
        }
        bf->guest = g_strdup(colon + 1);
        g_ptr_array_add(job->files, bf);
    }
    artifacts = g_key_file_get_string_list(kf, group, "artifacts", NULL, NULL);
    for (char **a = artifacts; a && *a; a++) {
        g_autofree char *path = vmm_batch_expand(g_strstrip(*a), params);
        if (!*path)
            continue;
        if (path[0] != '/' || g_str_has_suffix(path, "/")) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] artifacts: '%s' is not an absolute guest file path", origin,
                        group, path);
            return FALSE;
        }
        g_ptr_array_add(job->artifacts, g_steal_pointer(&path));
    }
    return TRUE;
}

typedef struct {
    char *key;
    char **values;
} Param;

static void
param_clear(gpointer p)
{
    Param *param = p;
    g_free(param->key);
    g_strfreev(param->values);
}

/* Adds one job per combination of @group's param.* values, first parameter varying slowest. */
static gboolean
expand_matrix(VmmBatchPlan *plan, GKeyFile *kf, const char *group, const char *mname,
              const char *origin, const char *base_dir, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    g_autoptr(GArray) params = g_array_new(FALSE, TRUE, sizeof(Param));
    g_autofree guint *idx = NULL;
    guint combos = 1;

    g_array_set_clear_func(params, param_clear);
    for (char **k = keys; k && *k; k++) {
        Param p = {0};
        const char *pname = *k + strlen("param.");
        if (!g_str_has_prefix(*k, "param."))
            continue;
        if (!vmm_secrets_valid_key(pname)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] '%s': parameter names are letters, digits and _", origin, group,
                        *k);
            return FALSE;
        }
        p.key = g_strdup(pname);
        p.values = g_key_file_get_string_list(kf, group, *k, NULL, NULL);
        g_array_append_val(params, p);
        for (char **v = p.values; v && *v; v++) {
            g_strstrip(*v);
            if (!vmm_batch_job_name_valid(*v)) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s: [%s] %s: value '%s' must be letters, digits, '.', '_' or '-' "
                            "(it becomes part of the job name)",
                            origin, group, *k, *v);
                return FALSE;
            }
        }
        if (!p.values || !p.values[0]) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [%s] %s has no values", origin,
                        group, *k);
            return FALSE;
        }
        combos *= g_strv_length(p.values);
        if (combos > 10000) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] expands to more than 10000 jobs", origin, group);
            return FALSE;
        }
    }
    if (params->len == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: [%s] needs at least one param.NAME = a;b;c list", origin, group);
        return FALSE;
    }
    idx = g_new0(guint, params->len);
    for (guint c = 0; c < combos; c++) {
        g_autoptr(GHashTable) values = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GString) name = g_string_new(mname);
        g_autoptr(VmmBatchJob) job = job_new();
        for (guint i = 0; i < params->len; i++) {
            Param *p = &g_array_index(params, Param, i);
            g_hash_table_insert(values, p->key, p->values[idx[i]]);
            g_string_append_printf(name, "-%s", p->values[idx[i]]);
        }
        if (!vmm_batch_job_name_valid(name->str)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] job name '%s' is too long (64 characters at most)", origin, group,
                        name->str);
            return FALSE;
        }
        job->name = g_strdup(name->str);
        job->matrix = g_strdup(mname);
        if (!fill_job(job, kf, group, values, plan, origin, base_dir, error))
            return FALSE;
        g_ptr_array_add(plan->jobs, g_steal_pointer(&job));
        /* next combination: the last parameter varies fastest */
        for (gint i = (gint)params->len - 1; i >= 0; i--) {
            Param *p = &g_array_index(params, Param, i);
            if (p->values[++idx[i]])
                break;
            idx[i] = 0;
        }
    }
    return TRUE;
}

static gboolean
parse_batch_group(VmmBatchPlan *plan, GKeyFile *kf, const char *origin, const char *base_dir,
                  GError **error)
{
    g_autofree char *image = NULL, *spec = NULL, *prefix = NULL, *timeout = NULL, *secrets = NULL,
                    *parallel = NULL, *evidence = NULL, *max_size = NULL;
    g_auto(GStrv) hosts = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_key_file_has_group(kf, "batch"))
        return TRUE;
    if (!check_keys(kf, "batch", batch_keys, FALSE, origin, error))
        return FALSE;
    image = g_key_file_get_string(kf, "batch", "image", NULL);
    spec = g_key_file_get_string(kf, "batch", "spec", NULL);
    if (image && spec) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: [batch] has both image and spec (the spec file names the image)", origin);
        return FALSE;
    }
    if (image) {
        if (!vmm_name_validate(g_strstrip(image), "image name", &local)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [batch] image: %s", origin,
                        local->message);
            return FALSE;
        }
        g_free(plan->image);
        plan->image = g_steal_pointer(&image);
    }
    if (spec)
        plan->spec_file = resolve(base_dir, g_strstrip(spec));
    if ((parallel = g_key_file_get_string(kf, "batch", "parallel", NULL))) {
        guint64 v;
        if (!g_ascii_string_to_unsigned(g_strstrip(parallel), 10, 1, VMM_BATCH_MAX_PARALLEL, &v,
                                        NULL)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [batch] parallel: '%s' is not a number from 1 to %d", origin, parallel,
                        VMM_BATCH_MAX_PARALLEL);
            return FALSE;
        }
        plan->parallel = (guint)v;
    }
    if ((prefix = g_key_file_get_string(kf, "batch", "prefix", NULL))) {
        g_strstrip(prefix);
        /* PREFIX-NN must still be a sandbox name */
        if (strlen(prefix) > VMM_NAME_MAX - 3 ||
            !vmm_name_validate(prefix, "sandbox name prefix", &local)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [batch] prefix: '%s' must be a sandbox name of at most %d "
                        "characters",
                        origin, prefix, VMM_NAME_MAX - 3);
            return FALSE;
        }
        g_free(plan->prefix);
        plan->prefix = g_steal_pointer(&prefix);
    }
    if ((timeout = g_key_file_get_string(kf, "batch", "timeout", NULL)) &&
        !parse_timeout(g_strstrip(timeout), &plan->timeout_s, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [batch] timeout: %s", origin,
                    local->message);
        return FALSE;
    }
    if ((max_size = g_key_file_get_string(kf, "batch", "max-artifact-size", NULL)) &&
        !vmm_spec_parse_size(g_strstrip(max_size), &plan->max_artifact_bytes, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: [batch] max-artifact-size: %s",
                    origin, local->message);
        return FALSE;
    }
    if ((secrets = g_key_file_get_string(kf, "batch", "secrets", NULL)))
        plan->secrets_file = resolve(base_dir, g_strstrip(secrets));
    hosts = g_key_file_get_string_list(kf, "batch", "hosts", NULL, NULL);
    if (hosts) {
        /* batch check refuses it as batch run does (no guest without airlock's firewall). */
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: [batch] hosts is gone: guests on another libvirt host ran without "
                    "airlock's firewall; spread a plan over hosts with --slurm (docs/batch.md)",
                    origin);
        return FALSE;
    }
    if ((evidence = g_key_file_get_string(kf, "batch", "evidence", NULL))) {
        plan->evidence = g_key_file_get_boolean(kf, "batch", "evidence", &local);
        if (local) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [batch] evidence: '%s' is not true or false", origin, evidence);
            return FALSE;
        }
    }
    return TRUE;
}

/* Every group of @kf into @plan: [batch] first, then each [job] and [matrix] in file order. */
static gboolean
parse_groups(VmmBatchPlan *plan, GKeyFile *kf, const char *origin, const char *base_dir,
             GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_auto(GStrv) groups = NULL;

    if (!parse_batch_group(plan, kf, origin, base_dir, error))
        return FALSE;
    if (!plan->image && !plan->spec_file)
        plan->image = g_strdup(VMM_SPEC_DEFAULT_IMAGE);
    groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        gboolean is_job = g_str_has_prefix(*g, "job ");
        gboolean is_matrix = g_str_has_prefix(*g, "matrix ");
        const char *name;
        guint before = plan->jobs->len;

        if (strcmp(*g, "batch") == 0)
            continue;
        if (!is_job && !is_matrix) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: unknown group [%s] (use [batch], [job NAME] or [matrix NAME])", origin,
                        *g);
            return FALSE;
        }
        name = *g + (is_job ? strlen("job ") : strlen("matrix "));
        if (!vmm_batch_job_name_valid(name)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s]: job name '%s' must be letters, digits, '.', '_' or '-' "
                        "(64 at most, starting with a letter or digit)",
                        origin, *g, name);
            return FALSE;
        }
        if (!check_keys(kf, *g, job_keys, is_matrix, origin, error))
            return FALSE;
        if (is_job) {
            g_autoptr(VmmBatchJob) job = job_new();
            job->name = g_strdup(name);
            if (!fill_job(job, kf, *g, NULL, plan, origin, base_dir, error))
                return FALSE;
            g_ptr_array_add(plan->jobs, g_steal_pointer(&job));
        } else if (!expand_matrix(plan, kf, *g, name, origin, base_dir, error)) {
            return FALSE;
        }
        for (guint i = before; i < plan->jobs->len; i++) {
            VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
            if (!g_hash_table_add(seen, g_strdup(job->name))) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                            "%s: job '%s' is defined twice (from [%s])", origin, job->name, *g);
                return FALSE;
            }
        }
    }
    if (plan->jobs->len == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s: no jobs (add [job NAME] groups with a command)", origin);
        return FALSE;
    }
    return TRUE;
}

/*
 * Turns "ORIGIN: [group] key: …" into "ORIGIN:LINE: [group] key: …", LINE being
 * the key's line when the message names one, else the group's (GKeyFile keeps none).
 */
static void
add_line(GError **error, const char *text, const char *origin)
{
    const char *msg, *rest, *open, *close, *tok, *tok_end;
    g_autofree char *group = NULL, *key = NULL;
    guint line;

    if (!error || !*error)
        return;
    msg = (*error)->message;
    if (!g_str_has_prefix(msg, origin) || strncmp(msg + strlen(origin), ": ", 2) != 0)
        return;
    rest = msg + strlen(origin) + 2;
    if (!(open = strchr(rest, '[')) || !(close = strchr(open, ']')))
        return;
    group = g_strndup(open + 1, (gsize)(close - open - 1));
    tok = close + 1 + strspn(close + 1, " ");
    tok_end = tok + strcspn(tok, ": ");
    key = g_strndup(tok, (gsize)(tok_end - tok));
    g_strdelimit(key, "'", ' ');
    g_strstrip(key);
    line = *key ? vmm_keyfile_line(text, group, key) : 0;
    if (!line)
        line = vmm_keyfile_line(text, group, NULL);
    if (line) {
        g_autofree char *old = g_strdup(rest);
        g_free((*error)->message);
        (*error)->message = g_strdup_printf("%s:%u: %s", origin, line, old);
    }
}

VmmBatchPlan *
vmm_batch_plan_parse(const char *data, gsize len, const char *origin, const char *base_dir,
                     GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(VmmBatchPlan) plan = g_new0(VmmBatchPlan, 1);
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL, *stripped = NULL;
    gsize n = len == (gsize)-1 ? strlen(data) : len;

    if (!origin)
        origin = "plan";
    plan->parallel = VMM_BATCH_DEFAULT_PARALLEL;
    plan->prefix = g_strdup(VMM_BATCH_DEFAULT_PREFIX);
    plan->timeout_s = VMM_BATCH_DEFAULT_TIMEOUT_S;
    plan->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_job_free);
    if (memchr(data, '\0', n)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: holds a NUL byte (not a text file)",
                    origin);
        return NULL;
    }
    text = g_strndup(data, n);
    /* "key = value   # why": an unquoted # after a space is a comment, as in sh. */
    stripped = vmm_keyfile_strip_comments(text);
    if (!vmm_keyfile_check_unique(stripped, origin, error))
        return NULL;
    if (!g_key_file_load_from_data(kf, stripped, -1, G_KEY_FILE_NONE, &local)) {
        g_autofree char *msg = g_strdelimit(g_strdup(local->message), "\r\n", ' ');
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s: %s", origin, msg);
        return NULL;
    }
    if (!parse_groups(plan, kf, origin, base_dir, error)) {
        add_line(error, stripped, origin);
        return NULL;
    }
    return g_steal_pointer(&plan);
}

VmmBatchPlan *
vmm_batch_plan_load(const char *path, GError **error)
{
    g_autofree char *data = NULL, *abs = NULL, *dir = NULL;
    g_autoptr(GError) local = NULL;
    VmmBatchPlan *plan;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, &local)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "cannot read plan '%s': %s", path,
                    local->message);
        return NULL;
    }
    abs = g_canonicalize_filename(path, NULL);
    dir = g_path_get_dirname(abs);
    if (!(plan = vmm_batch_plan_parse(data, len, path, dir, error)))
        return NULL;
    plan->path = g_strdup(path);
    return plan;
}

gboolean
vmm_batch_plan_check_files(const VmmBatchPlan *plan, GError **error)
{
    g_autofree char *text = NULL;

    if (plan->path)
        g_file_get_contents(plan->path, &text, NULL, NULL);
    for (guint i = 0; i < plan->jobs->len; i++) {
        const VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
        for (guint f = 0; f < job->files->len; f++) {
            const VmmBatchFile *bf = g_ptr_array_index(job->files, f);
            g_autofree char *group = g_strdup_printf("%s %s", job->matrix ? "matrix" : "job",
                                                     job->matrix ? job->matrix : job->name);
            g_autofree char *where = NULL;
            const char *why;
            struct stat st;
            guint line = text ? vmm_keyfile_line(text, group, "files") : 0;

            if (lstat(bf->local, &st) != 0)
                why = errno == ENOENT ? "does not exist" : g_strerror(errno);
            else if (S_ISLNK(st.st_mode))
                why = "is a symbolic link (name the file itself)";
            else if (!S_ISREG(st.st_mode))
                why = "is not a regular file";
            else if (access(bf->local, R_OK) != 0)
                why = "is not readable";
            else
                continue;
            where = line ? g_strdup_printf("%s:%u", plan->path, line)
                         : g_strdup(plan->path ? plan->path : "plan");
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s: [%s] files: '%s' %s (relative paths start at the plan's directory)",
                        where, group, bf->local, why);
            return FALSE;
        }
    }
    return TRUE;
}

/* --- placement --------------------------------------------------------------------------- */

guint *
vmm_batch_place(const VmmBatchHost *hosts, guint n_hosts, guint n_slots, guint64 guest_bytes,
                GError **error)
{
    g_autofree guint *placed = g_new0(guint, MAX(n_hosts, 1));
    g_autofree guint *slots = g_new0(guint, MAX(n_slots, 1));

    if (n_hosts == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "no hosts to place sandboxes on");
        return NULL;
    }
    for (guint s = 0; s < n_slots; s++) {
        gint best = -1;
        guint64 best_room = 0;
        guint best_load = 0;
        for (guint h = 0; h < n_hosts; h++) {
            guint64 used = (guint64)placed[h] * guest_bytes;
            guint64 room = hosts[h].free_bytes > used ? hosts[h].free_bytes - used : 0;
            guint load = hosts[h].running + placed[h];
            if (room < guest_bytes)
                continue;
            if (best < 0 || load < best_load || (load == best_load && room > best_room)) {
                best = (gint)h;
                best_room = room;
                best_load = load;
            }
        }
        if (best < 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                        "not enough free memory for %u sandboxes of %" G_GUINT64_FORMAT
                        " MiB on %u host%s (%u placed; lower --parallel or add --hosts)",
                        n_slots, guest_bytes >> 20, n_hosts, n_hosts == 1 ? "" : "s", s);
            return NULL;
        }
        slots[s] = (guint)best;
        placed[best]++;
    }
    return g_steal_pointer(&slots);
}
