/* batch-slurm-merge.c: the reports of a Slurm array's tasks merged into one, shaped as a local
 * run's. Pure. */
#include <config.h>

#include "autoptr.h"
#include "batch-slurm.h"
#include "error.h"

#include <json-glib/json-glib.h>
#include <string.h>

void
vmm_batch_slurm_report_free(VmmBatchSlurmReport *r)
{
    if (!r)
        return;
    g_free(r->json);
    g_free(r->junit);
    if (r->not_ok)
        g_ptr_array_unref(r->not_ok);
    g_free(r);
}

static void
entry_unref(gpointer o)
{
    if (o)
        json_object_unref(o);
}

static const char *
get_str(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

static gdouble
get_double(JsonObject *o, const char *member)
{
    JsonNode *n = json_object_get_member(o, member);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_double(n) : 0;
}

static gint64
get_int(JsonObject *o, const char *member, gint64 none)
{
    JsonNode *n = json_object_get_member(o, member);
    return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_int(n) : none;
}

static JsonArray *
get_array(JsonObject *o, const char *member)
{
    JsonNode *n = o ? json_object_get_member(o, member) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *
get_object(JsonObject *o, const char *member)
{
    JsonNode *n = o ? json_object_get_member(o, member) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static gboolean
status_from_string(const char *s, VmmBatchStatus *status)
{
    for (int i = 0; s && i < VMM_BATCH_STATUS_LAST; i++)
        if (!strcmp(s, vmm_batch_status_to_string(i))) {
            *status = i;
            return TRUE;
        }
    return FALSE;
}

/* The tail as the report showed it: tail_text() gives back exactly @text. */
static void
set_tail(VmmBatchTail *t, const char *text)
{
    vmm_batch_tail_clear(t);
    t->buf = g_string_new(text ? text : "");
    t->max = G_MAXSIZE;
    t->total = t->buf->len;
}

/* A job's result rebuilt from its entry in a report, for junit.xml and the summary. */
static void
result_from_json(VmmBatchResult *r, JsonObject *o)
{
    JsonArray *arts = get_array(o, "artifacts");

    if (!status_from_string(get_str(o, "status"), &r->status))
        r->status = VMM_BATCH_STATUS_ERROR;
    r->exit_code = (int)get_int(o, "exit_code", -1);
    r->duration_s = get_double(o, "duration_s");
    r->started_s = get_double(o, "started_s");
    r->retried = get_int(o, "retried", 0) != 0; /* json-glib reads a boolean as 0 or 1 */
    g_free(r->sandbox);
    r->sandbox = g_strdup(get_str(o, "sandbox"));
    g_free(r->host);
    r->host = g_strdup(get_str(o, "host"));
    g_free(r->error);
    r->error = g_strdup(get_str(o, "error"));
    set_tail(&r->out, get_str(o, "stdout_tail"));
    set_tail(&r->err, get_str(o, "stderr_tail"));
    g_ptr_array_set_size(r->artifacts, 0);
    for (guint i = 0; arts && i < json_array_get_length(arts); i++) {
        JsonObject *a = json_array_get_object_element(arts, i);
        VmmBatchArtifact *art;
        if (!a)
            continue;
        art = g_new0(VmmBatchArtifact, 1);
        art->guest = g_strdup(get_str(a, "guest"));
        art->local = g_strdup(get_str(a, "file"));
        art->copied = get_int(a, "copied", 0) != 0;
        art->error = g_strdup(get_str(a, "error"));
        g_ptr_array_add(r->artifacts, art);
    }
}

/* One task as the reasons name it: "Slurm task 1 (array 42_1 on node-3)". */
static char *
task_label(const VmmBatchSlurmManifest *m, guint t, const VmmBatchSlurmPart *p)
{
    return g_strdup_printf("Slurm task %u (%s_%u%s%s)", t, m->job_id ? m->job_id : "?", t,
                           p->node ? " on " : "", p->node ? p->node : "");
}

static gint64
iso_to_unix(const char *iso)
{
    g_autoptr(GDateTime) dt = iso ? g_date_time_new_from_iso8601(iso, NULL) : NULL;
    return dt ? g_date_time_to_unix(dt) : 0;
}

typedef struct {
    const VmmBatchPlan *plan;
    GHashTable *index;  /* job name -> plan index + 1 */
    GPtrArray *results; /* VmmBatchResult*, plan order */
    GPtrArray *entries; /* JsonObject* (a task's entry, kept as written) or NULL, plan order */
    JsonArray *slots;   /* pool.slots of every task */
    VmmBatchRunInfo info;
} Merge;

/* Adds a report's pool figures and slots (their host: @node when given). */
static void
add_pool(Merge *mg, JsonObject *root, const char *node)
{
    JsonObject *pool = get_object(root, "pool");
    JsonArray *slots = get_array(pool, "slots");

    if (!pool)
        return;
    mg->info.creates += get_int(pool, "creates", 0);
    mg->info.resets += get_int(pool, "resets", 0);
    mg->info.replaced += get_int(pool, "replaced", 0);
    mg->info.create_s_total += get_double(pool, "create_s_total");
    mg->info.reset_s_total += get_double(pool, "reset_s_total");
    for (guint i = 0; slots && i < json_array_get_length(slots); i++) {
        JsonNode *copy = json_node_copy(json_array_get_element(slots, i));
        if (node && JSON_NODE_HOLDS_OBJECT(copy))
            json_object_set_string_member(json_node_get_object(copy), "host", node);
        json_array_add_element(mg->slots, copy);
    }
}

/* Takes entry @o as job @name's (host and start adjusted), unless the job is not in the plan. */
static gboolean
take_entry(Merge *mg, const char *name, JsonObject *o, const char *node, gdouble offset_s)
{
    guint idx = GPOINTER_TO_UINT(name ? g_hash_table_lookup(mg->index, name) : NULL);
    VmmBatchResult *r;
    JsonObject *copy;

    if (!idx)
        return FALSE;
    r = g_ptr_array_index(mg->results, idx - 1);
    copy = json_object_ref(o);
    if (node)
        json_object_set_string_member(copy, "host", node);
    if (offset_s > 0)
        json_object_set_double_member(
            copy, "started_s",
            (gint64)((get_double(copy, "started_s") + offset_s) * 1000 + 0.5) / 1000.0);
    result_from_json(r, copy);
    if (g_ptr_array_index(mg->entries, idx - 1))
        json_object_unref(g_ptr_array_index(mg->entries, idx - 1));
    g_ptr_array_index(mg->entries, idx - 1) = copy;
    return TRUE;
}

/* Job @idx did not run to an end in its task: a fresh result, its entry made by the report. */
static void
set_unfinished(Merge *mg, guint idx, VmmBatchStatus status, char *why)
{
    VmmBatchResult *r = g_ptr_array_index(mg->results, idx);
    const VmmBatchJob *job = r->job;

    vmm_batch_result_free(r);
    r = vmm_batch_result_new(job);
    r->status = status;
    r->error = why;
    g_ptr_array_index(mg->results, idx) = r;
    if (g_ptr_array_index(mg->entries, idx))
        json_object_unref(g_ptr_array_index(mg->entries, idx));
    g_ptr_array_index(mg->entries, idx) = NULL;
}

static JsonObject *
parse_object(JsonParser *parser, const char *text, const char *what, GError **error)
{
    JsonNode *root;

    if (!json_parser_load_from_data(parser, text, -1, error)) {
        g_prefix_error(error, "%s: ", what);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "%s is not a batch report", what);
        return NULL;
    }
    return json_node_get_object(root);
}

/* Merges task @t's report (or its absence) for the jobs it was given. */
static void
merge_task(Merge *mg, const VmmBatchSlurmManifest *m, guint t, const VmmBatchSlurmPart *p)
{
    char **jobs = g_ptr_array_index(m->tasks, t);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) perr = NULL;
    g_autofree char *label = task_label(m, t, p);
    JsonObject *root = p->report ? parse_object(parser, p->report, "its report", &perr) : NULL;
    JsonArray *entries = get_array(root, "jobs");
    gboolean stopped =
        root && json_object_get_boolean_member_with_default(root, "interrupted", FALSE);
    gint64 started = root ? iso_to_unix(get_str(root, "started")) : 0;
    gdouble offset = started > m->submitted ? (gdouble)(started - m->submitted) : 0;
    g_autoptr(GHashTable) found = g_hash_table_new(g_str_hash, g_str_equal);

    if (root)
        add_pool(mg, root, p->node);
    for (guint i = 0; entries && i < json_array_get_length(entries); i++) {
        JsonObject *o = json_array_get_object_element(entries, i);
        const char *name = o ? get_str(o, "name") : NULL;
        VmmBatchStatus st;
        /* Only the jobs it was given: a report cannot speak for another task's jobs. */
        if (!name || !g_strv_contains((const char *const *)jobs, name) ||
            !status_from_string(get_str(o, "status"), &st))
            continue;
        if (st == VMM_BATCH_STATUS_NOT_RUN && stopped && !m->cancelled)
            continue; /* stopped by Slurm, not by the user: below, as an error */
        if (take_entry(mg, name, o, p->node, offset))
            g_hash_table_add(found, (gpointer)name);
    }
    for (char **j = jobs; *j; j++) {
        guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(mg->index, *j));
        if (!idx || g_hash_table_contains(found, *j))
            continue;
        if (m->cancelled)
            set_unfinished(
                mg, idx - 1, VMM_BATCH_STATUS_NOT_RUN,
                g_strdup_printf("interrupted: the array was cancelled before %s ran it", label));
        else if (root)
            set_unfinished(mg, idx - 1, VMM_BATCH_STATUS_ERROR,
                           g_strdup_printf("%s was stopped by Slurm (%s) before this job finished",
                                           label, p->state ? p->state : "state unknown"));
        else
            set_unfinished(mg, idx - 1, VMM_BATCH_STATUS_ERROR,
                           g_strdup_printf("%s ended %s without a report%s%s", label,
                                           p->state ? p->state : "(Slurm no longer knows it)",
                                           perr || p->log_tail ? ": " : "",
                                           perr          ? perr->message
                                           : p->log_tail ? p->log_tail
                                                         : ""));
    }
}

/* The report of @mg: the generator's, with every kept entry and the tasks' slots put in. */
static char *
render_json(Merge *mg, const VmmBatchSlurmManifest *m, GError **error)
{
    g_autofree char *text = vmm_batch_report_json(mg->plan, mg->results, &mg->info);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    JsonObject *root = parse_object(parser, text, "the merged report", error);
    JsonArray *jobs = get_array(root, "jobs");
    JsonObject *pool = get_object(root, "pool");
    g_autoptr(JsonArray) merged = json_array_new();
    g_autofree char *out = NULL;

    if (!root || !jobs || !pool || json_array_get_length(jobs) != mg->entries->len)
        return NULL;
    json_object_set_int_member(root, "parallel", (gint64)m->tasks->len * m->per_node);
    json_object_set_array_member(pool, "slots", json_array_ref(mg->slots));
    for (guint i = 0; i < mg->entries->len; i++) {
        JsonObject *e = g_ptr_array_index(mg->entries, i);
        if (e)
            json_array_add_object_element(merged, json_object_ref(e));
        else
            json_array_add_element(merged, json_node_copy(json_array_get_element(jobs, i)));
    }
    json_object_set_array_member(root, "jobs", json_array_ref(merged));
    json_generator_set_root(gen, json_parser_get_root(parser));
    json_generator_set_pretty(gen, TRUE);
    out = json_generator_to_data(gen, NULL);
    return g_strconcat(out, "\n", NULL);
}

VmmBatchSlurmReport *
vmm_batch_slurm_merge(const VmmBatchPlan *plan, const VmmBatchSlurmManifest *m,
                      const VmmBatchSlurmPart *parts, const char *base, gint64 now, GError **error)
{
    g_autoptr(VmmBatchSlurmReport) rep = g_new0(VmmBatchSlurmReport, 1);
    g_autoptr(GHashTable) index = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) results =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_unref);
    g_autoptr(JsonArray) slots = json_array_new();
    g_autoptr(JsonParser) base_parser = json_parser_new();
    g_autoptr(GDateTime) submitted = g_date_time_new_from_unix_utc(m->submitted);
    g_autofree char *started = g_date_time_format(submitted, "%Y-%m-%dT%H:%M:%SZ");
    Merge mg = {
        .plan = plan, .index = index, .results = results, .entries = entries, .slots = slots};

    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
        g_hash_table_insert(index, job->name, GUINT_TO_POINTER(i + 1));
        g_ptr_array_add(results, vmm_batch_result_new(job));
        g_ptr_array_add(entries, NULL);
    }
    mg.info.started = started;
    mg.info.duration_s = now > m->submitted ? (gdouble)(now - m->submitted) : 0;
    mg.info.interrupted = m->cancelled;
    if (base) {
        JsonObject *root = parse_object(base_parser, base, "the earlier results.json", error);
        JsonArray *jobs = get_array(root, "jobs");
        if (!root)
            return NULL;
        for (guint i = 0; jobs && i < json_array_get_length(jobs); i++) {
            JsonObject *o = json_array_get_object_element(jobs, i);
            if (o)
                take_entry(&mg, get_str(o, "name"), o, NULL, 0);
        }
        add_pool(&mg, root, NULL);
        mg.info.duration_s += get_double(root, "duration_s");
        if (get_str(root, "started"))
            mg.info.started = get_str(root, "started");
    }
    for (guint t = 0; t < m->tasks->len; t++)
        merge_task(&mg, m, t, &parts[t]);
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        if (r->status == VMM_BATCH_STATUS_NOT_RUN && !r->error && !entries->pdata[i])
            r->error = g_strdup("no Slurm task was given this job");
    }

    if (!(rep->json = render_json(&mg, m, error)))
        return NULL;
    rep->junit = vmm_batch_report_junit(plan, results, &mg.info);
    vmm_batch_summarize(results, &rep->summary);
    rep->tasks = m->tasks->len;
    rep->creates = mg.info.creates;
    rep->resets = mg.info.resets;
    rep->duration_s = mg.info.duration_s;
    rep->interrupted = m->cancelled;
    rep->not_ok = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        if (vmm_batch_result_ok(r))
            continue;
        if (r->status == VMM_BATCH_STATUS_FAILED)
            g_ptr_array_add(rep->not_ok,
                            g_strdup_printf("%-8s %s: exit %d, expected %d",
                                            vmm_batch_status_to_string(r->status), r->job->name,
                                            r->exit_code, r->job->expect));
        else
            g_ptr_array_add(rep->not_ok,
                            g_strdup_printf("%-8s %s%s%s", vmm_batch_status_to_string(r->status),
                                            r->job->name, r->error ? ": " : "",
                                            r->error ? r->error : ""));
    }
    return g_steal_pointer(&rep);
}

GPtrArray *
vmm_batch_slurm_retry_names(const char *json, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root = parse_object(parser, json, "the earlier results.json", error);
    JsonArray *jobs = get_array(root, "jobs");
    GPtrArray *names;

    if (!root)
        return NULL;
    names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; jobs && i < json_array_get_length(jobs); i++) {
        JsonObject *o = json_array_get_object_element(jobs, i);
        const char *st = o ? get_str(o, "status") : NULL;
        if (st && (!strcmp(st, "error") || !strcmp(st, "not-run")) && get_str(o, "name"))
            g_ptr_array_add(names, g_strdup(get_str(o, "name")));
    }
    return names;
}
