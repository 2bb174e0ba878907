/* test-batch-slurm: the share of each array task, the manifest, squeue's lines, and the merge of
 * the tasks' reports into one shaped as a local run's (dead, cancelled and retried tasks). */
#include <config.h>

#include "batch-slurm.h"
#include "batch.h"
#include "error.h"

#include <json-glib/json-glib.h>
#include <libxml/parser.h>
#include <string.h>

static const char plan_text[] = "[batch]\n"
                                "image = debian-12\n"
                                "prefix = nightly\n"
                                "[job ok]\n"
                                "command = true\n"
                                "[job bad]\n"
                                "command = exit 2\n"
                                "[matrix m]\n"
                                "command = echo {i}\n"
                                "param.i = 1;2;3\n";

static VmmBatchPlan *
load_plan(void)
{
    g_autoptr(GError) err = NULL;
    VmmBatchPlan *plan =
        vmm_batch_plan_parse(plan_text, strlen(plan_text), "nightly.ini", "/plans", &err);

    g_assert_no_error(err);
    plan->path = g_strdup("/plans/nightly.ini");
    return plan;
}

static GPtrArray *
plan_names(const VmmBatchPlan *plan)
{
    GPtrArray *names = g_ptr_array_new();

    for (guint i = 0; i < plan->jobs->len; i++)
        g_ptr_array_add(names, ((VmmBatchJob *)g_ptr_array_index(plan->jobs, i))->name);
    return names;
}

/* --- assignment -------------------------------------------------------------------------- */

static char *
joined(GPtrArray *tasks)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < tasks->len; i++) {
        g_autofree char *j = g_strjoinv(",", g_ptr_array_index(tasks, i));
        g_string_append_printf(s, "%s[%s]", i ? " " : "", j);
    }
    return g_string_free(s, FALSE);
}

static void
test_assign(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(GPtrArray) names = plan_names(plan);
    g_autoptr(GPtrArray) two = vmm_batch_slurm_assign(names, 2);
    g_autoptr(GPtrArray) many = vmm_batch_slurm_assign(names, 64);
    g_autoptr(GPtrArray) one = vmm_batch_slurm_assign(names, 1);
    g_autoptr(GPtrArray) none = g_ptr_array_new();
    g_autoptr(GPtrArray) empty = vmm_batch_slurm_assign(none, 3);
    g_autofree char *a = joined(two), *b = joined(many), *c = joined(one);

    /* Round robin in plan order: the k-th job to task k mod T. */
    g_assert_cmpstr(a, ==, "[ok,m-1,m-3] [bad,m-2]");
    /* No more tasks than jobs: an empty task would boot for nothing. */
    g_assert_cmpstr(b, ==, "[ok] [bad] [m-1] [m-2] [m-3]");
    g_assert_cmpstr(c, ==, "[ok,bad,m-1,m-2,m-3]");
    g_assert_cmpuint(empty->len, ==, 0);
    /* Stable: the same input gives the same share. */
    {
        g_autoptr(GPtrArray) again = vmm_batch_slurm_assign(names, 2);
        g_autofree char *d = joined(again);
        g_assert_cmpstr(a, ==, d);
    }
}

/* --- manifest ---------------------------------------------------------------------------- */

static VmmBatchSlurmManifest *
manifest_for(const VmmBatchPlan *plan, guint tasks)
{
    g_autoptr(GPtrArray) names = plan_names(plan);
    VmmBatchSlurmManifest *m = vmm_batch_slurm_manifest_new(vmm_batch_slurm_assign(names, tasks));

    m->plan = g_strdup(plan->path);
    m->plan_sha256 = g_strdup("abc");
    m->prefix = g_strdup(plan->prefix);
    m->per_node = 1;
    m->job_id = g_strdup("42");
    m->submitted = 1795000000;
    return m;
}

static void
test_manifest(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    g_autoptr(VmmBatchSlurmManifest) back = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL, *again = NULL, *bad = NULL, *prefix = NULL;

    m->cancelled = TRUE;
    m->stagger = TRUE;
    text = vmm_batch_slurm_manifest_format(m);
    back = vmm_batch_slurm_manifest_parse(text, strlen(text), "manifest", &err);
    g_assert_no_error(err);
    again = vmm_batch_slurm_manifest_format(back);
    g_assert_cmpstr(text, ==, again);
    g_assert_cmpstr(back->job_id, ==, "42");
    g_assert_true(back->cancelled && back->stagger && !back->retry && !back->evidence);
    g_assert_cmpuint(back->tasks->len, ==, 2);
    g_assert_cmpstr(((char **)g_ptr_array_index(back->tasks, 1))[1], ==, "m-2");

    /* A job name that could leave the output directory is refused. */
    bad = g_strconcat(text, "", NULL);
    {
        char *p = strstr(bad, "m-2");
        memcpy(p, "../", 3);
    }
    g_clear_pointer(&back, vmm_batch_slurm_manifest_free);
    back = vmm_batch_slurm_manifest_parse(bad, strlen(bad), "manifest", &err);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_null(back);
    g_clear_error(&err);
    back = vmm_batch_slurm_manifest_parse("[slurm]\nplan=x\n", 15, "manifest", &err);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "manifest"));

    prefix = vmm_batch_slurm_task_prefix("nightly", 3);
    g_assert_cmpstr(prefix, ==, "nightly-s3");
}

/* --- squeue ------------------------------------------------------------------------------ */

static void
test_squeue(void)
{
    VmmBatchSlurmTaskState st[3] = {{0}};

    vmm_batch_slurm_parse_squeue("2|PENDING||Resources\n"
                                 "0|RUNNING|vm|None\n"
                                 "garbage\n"
                                 "7|RUNNING|vm|None\n"
                                 "x|RUNNING|vm|None\n",
                                 st, 3);
    g_assert_cmpstr(st[0].state, ==, "RUNNING");
    g_assert_cmpstr(st[0].node, ==, "vm");
    g_assert_null(st[0].reason);
    g_assert_null(st[1].state); /* not listed: Slurm no longer knows it */
    g_assert_cmpstr(st[2].state, ==, "PENDING");
    g_assert_null(st[2].node);
    g_assert_cmpstr(st[2].reason, ==, "Resources");
    g_assert_false(vmm_batch_slurm_state_ended(st[0].state));
    g_assert_false(vmm_batch_slurm_state_ended(st[2].state));
    g_assert_true(vmm_batch_slurm_state_ended(st[1].state));
    g_assert_false(vmm_batch_slurm_state_ended("COMPLETING")); /* still killing its processes */
    g_assert_true(vmm_batch_slurm_state_ended("CANCELLED"));
    g_assert_true(vmm_batch_slurm_state_ended("NODE_FAIL"));
    /* A second parse forgets the first. */
    vmm_batch_slurm_parse_squeue("1|COMPLETED|vm|None\n", st, 3);
    g_assert_null(st[0].state);
    g_assert_cmpstr(st[1].state, ==, "COMPLETED");
    for (int i = 0; i < 3; i++)
        vmm_batch_slurm_task_state_clear(&st[i]);
}

/* --- merge ------------------------------------------------------------------------------- */

/* What the job "would" give: "bad" fails, the rest pass, with output. */
static VmmBatchResult *
fake_result(const VmmBatchJob *job, const char *sandbox, gboolean run)
{
    VmmBatchResult *r = vmm_batch_result_new(job);

    if (!run) {
        r->error = g_strdup("interrupted before it started");
        return r;
    }
    r->exit_code = strcmp(job->name, "bad") ? 0 : 2;
    r->status = r->exit_code == job->expect ? VMM_BATCH_STATUS_PASSED : VMM_BATCH_STATUS_FAILED;
    r->duration_s = 1.25;
    r->started_s = 40.5;
    r->sandbox = g_strdup(sandbox);
    r->host = g_strdup("qemu:///system");
    vmm_batch_tail_append(&r->out, job->name, strlen(job->name));
    vmm_batch_tail_append(&r->err, "\x01warn\n", 6);
    return r;
}

/* The report a task writes: its share of the plan, its prefix; @run_first: jobs it finished. */
static char *
task_report(const VmmBatchSlurmManifest *m, guint task, guint run_first, gboolean interrupted)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(GPtrArray) results =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    g_autoptr(GPtrArray) hosts = g_ptr_array_new();
    char **jobs = g_ptr_array_index(m->tasks, task);
    g_autofree char *sandbox = NULL;
    VmmBatchRunInfo info = {.started = "2026-11-18T11:07:20Z", .duration_s = 60};

    g_free(plan->prefix);
    plan->prefix = vmm_batch_slurm_task_prefix(m->prefix, task);
    sandbox = g_strdup_printf("%s-1", plan->prefix);
    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchJob *job = g_ptr_array_index(plan->jobs, i);
        guint k = 0;
        while (jobs[k] && strcmp(jobs[k], job->name))
            k++;
        if (jobs[k])
            g_ptr_array_add(results, fake_result(job, sandbox, k < run_first));
    }
    g_ptr_array_add(hosts, "qemu:///system");
    info.slot_hosts = hosts;
    info.creates = 1;
    info.resets = results->len - 1;
    info.interrupted = interrupted;
    return vmm_batch_report_json(plan, results, &info);
}

/* The report a local run of the whole plan writes. */
static char *
local_report(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(GPtrArray) results =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    g_autoptr(GPtrArray) hosts = g_ptr_array_new();
    VmmBatchRunInfo info = {.started = "2026-11-18T11:06:40Z", .duration_s = 100};

    for (guint i = 0; i < plan->jobs->len; i++)
        g_ptr_array_add(results, fake_result(g_ptr_array_index(plan->jobs, i), "nightly-1", TRUE));
    g_ptr_array_add(hosts, "qemu:///system");
    g_ptr_array_add(hosts, "qemu:///system");
    info.slot_hosts = hosts;
    return vmm_batch_report_json(plan, results, &info);
}

static JsonNode *
parse(const char *text)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(json_parser_load_from_data(p, text, -1, &err));
    g_assert_no_error(err);
    return json_node_ref(json_parser_get_root(p));
}

/* "a,b,c": the member names of @o, sorted (the shape, not the values). */
static char *
keys_of(JsonObject *o)
{
    GList *members = g_list_sort(json_object_get_members(o), (GCompareFunc)strcmp);
    GString *s = g_string_new(NULL);

    for (GList *l = members; l; l = l->next)
        g_string_append_printf(s, "%s%s", l == members ? "" : ",", (char *)l->data);
    g_list_free(members);
    return g_string_free(s, FALSE);
}

/* Same keys at the top, in summary, pool, pool.slots[0] and every job; same job names. */
static void
assert_same_shape(const char *local, const char *merged)
{
    g_autoptr(JsonNode) a = parse(local), b = parse(merged);
    JsonObject *oa = json_node_get_object(a), *ob = json_node_get_object(b);
    const char *objects[] = {"summary", "pool"};
    JsonArray *ja = json_object_get_array_member(oa, "jobs");
    JsonArray *jb = json_object_get_array_member(ob, "jobs");
    g_autofree char *ka = keys_of(oa), *kb = keys_of(ob);

    g_assert_cmpstr(ka, ==, kb);
    for (guint i = 0; i < G_N_ELEMENTS(objects); i++) {
        g_autofree char *x = keys_of(json_object_get_object_member(oa, objects[i]));
        g_autofree char *y = keys_of(json_object_get_object_member(ob, objects[i]));
        g_assert_cmpstr(x, ==, y);
    }
    {
        JsonArray *sa =
            json_object_get_array_member(json_object_get_object_member(oa, "pool"), "slots");
        JsonArray *sb =
            json_object_get_array_member(json_object_get_object_member(ob, "pool"), "slots");
        g_autofree char *x = keys_of(json_array_get_object_element(sa, 0));
        g_autofree char *y = keys_of(json_array_get_object_element(sb, 0));
        g_assert_cmpstr(x, ==, y);
    }
    g_assert_cmpuint(json_array_get_length(ja), ==, json_array_get_length(jb));
    for (guint i = 0; i < json_array_get_length(ja); i++) {
        JsonObject *x = json_array_get_object_element(ja, i);
        JsonObject *y = json_array_get_object_element(jb, i);
        g_autofree char *kx = keys_of(x), *ky = keys_of(y);
        g_assert_cmpstr(kx, ==, ky);
        g_assert_cmpstr(json_object_get_string_member(x, "name"), ==,
                        json_object_get_string_member(y, "name"));
    }
}

static JsonObject *
job_of(JsonNode *root, const char *name)
{
    JsonArray *jobs = json_object_get_array_member(json_node_get_object(root), "jobs");

    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *o = json_array_get_object_element(jobs, i);
        if (!strcmp(json_object_get_string_member(o, "name"), name))
            return o;
    }
    g_assert_not_reached();
}

static void
assert_junit_ok(const char *junit)
{
    xmlDocPtr doc = xmlReadMemory(junit, strlen(junit), "junit.xml", NULL, XML_PARSE_NONET);

    g_assert_nonnull(doc);
    xmlFreeDoc(doc);
}

/* Both tasks reported: one report, shaped as the local one, every entry as its task wrote it. */
static void
test_merge_whole(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    g_autofree char *p0 = task_report(m, 0, 99, FALSE), *p1 = task_report(m, 1, 99, FALSE);
    g_autofree char *local = local_report();
    VmmBatchSlurmPart parts[2] = {{.report = p0, .node = "n1", .state = "COMPLETED"},
                                  {.report = p1, .node = "n2", .state = "FAILED"}};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) rep =
        vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted + 75, &err);
    g_autoptr(JsonNode) root = NULL;
    JsonObject *o, *pool;

    g_assert_no_error(err);
    assert_same_shape(local, rep->json);
    root = parse(rep->json);
    o = json_node_get_object(root);
    g_assert_cmpint(json_object_get_int_member(o, "parallel"), ==, 2);
    g_assert_false(json_object_get_boolean_member(o, "interrupted"));
    g_assert_cmpfloat(json_object_get_double_member(o, "duration_s"), ==, 75);
    g_assert_cmpint(rep->summary.total, ==, 5);
    g_assert_cmpint(rep->summary.passed, ==, 4);
    g_assert_cmpint(rep->summary.failed, ==, 1);
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "status"), ==, "failed");
    /* Where each ran: its node, its task's sandbox, its start since the submission (+40 s). */
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "host"), ==, "n2");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "m-1"), "sandbox"), ==,
                    "nightly-s0-1");
    g_assert_cmpfloat(json_object_get_double_member(job_of(root, "m-1"), "started_s"), ==, 80.5);
    /* A tail with a control character comes through as the task wrote it. */
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "ok"), "stderr_tail"), ==,
                    "\xef\xbf\xbdwarn\n");
    pool = json_object_get_object_member(o, "pool");
    g_assert_cmpint(json_object_get_int_member(pool, "creates"), ==, 2);
    g_assert_cmpint(json_object_get_int_member(pool, "resets"), ==, 3);
    g_assert_cmpuint(json_array_get_length(json_object_get_array_member(pool, "slots")), ==, 2);
    g_assert_cmpstr(
        json_object_get_string_member(
            json_array_get_object_element(json_object_get_array_member(pool, "slots"), 1),
            "sandbox"),
        ==, "nightly-s1-1");
    assert_junit_ok(rep->junit);
    g_assert_nonnull(strstr(rep->junit, "tests=\"5\""));
    g_assert_nonnull(strstr(rep->junit, "failures=\"1\""));
    g_assert_cmpuint(rep->not_ok->len, ==, 1);
}

/* A task that died (node down) leaves no report: its jobs are errors naming it and why. */
static void
test_merge_dead_task(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    g_autofree char *p0 = task_report(m, 0, 99, FALSE), *local = local_report();
    g_autofree char *p1_stopped = task_report(m, 1, 1, TRUE);
    VmmBatchSlurmPart parts[2] = {
        {.report = p0, .node = "n1", .state = "COMPLETED"},
        {.report = NULL, .node = "n2", .state = "NODE_FAIL", .log_tail = "slurmstepd: killed"}};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) rep =
        vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted + 10, &err);
    g_autoptr(VmmBatchSlurmReport) rep2 = NULL;
    g_autoptr(JsonNode) root = NULL, root2 = NULL;
    JsonObject *bad;

    g_assert_no_error(err);
    assert_same_shape(local, rep->json);
    root = parse(rep->json);
    bad = job_of(root, "bad");
    g_assert_cmpstr(json_object_get_string_member(bad, "status"), ==, "error");
    g_assert_cmpstr(json_object_get_string_member(bad, "error"), ==,
                    "Slurm task 1 (42_1 on n2) ended NODE_FAIL without a report: "
                    "slurmstepd: killed");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "m-1"), "status"), ==, "passed");
    g_assert_cmpint(rep->summary.error, ==, 2);
    g_assert_false(rep->interrupted);
    g_assert_nonnull(strstr(rep->junit, "errors=\"2\""));
    assert_junit_ok(rep->junit);

    /* scancel of one task (not the user's Ctrl-C): what it finished stays, the rest is error. */
    parts[1].report = p1_stopped;
    parts[1].state = "CANCELLED";
    rep2 = vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted + 10, &err);
    g_assert_no_error(err);
    assert_same_shape(local, rep2->json);
    root2 = parse(rep2->json);
    g_assert_cmpstr(json_object_get_string_member(job_of(root2, "bad"), "status"), ==, "failed");
    g_assert_cmpstr(json_object_get_string_member(job_of(root2, "m-2"), "status"), ==, "error");
    g_assert_cmpstr(json_object_get_string_member(job_of(root2, "m-2"), "error"), ==,
                    "Slurm task 1 (42_1 on n2) was stopped by Slurm (CANCELLED) before this "
                    "job finished");
    g_assert_false(rep2->interrupted);
}

/* Ctrl-C: the array was cancelled; what finished is reported, the rest is not-run. */
static void
test_merge_cancelled(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    g_autofree char *p0 = task_report(m, 0, 1, TRUE), *local = local_report();
    VmmBatchSlurmPart parts[2] = {{.report = p0, .node = "n1", .state = "CANCELLED"},
                                  {.report = NULL, .state = "CANCELLED"}};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) rep = NULL;
    g_autoptr(JsonNode) root = NULL;

    m->cancelled = TRUE;
    rep = vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted + 10, &err);
    g_assert_no_error(err);
    assert_same_shape(local, rep->json);
    root = parse(rep->json);
    g_assert_true(json_object_get_boolean_member(json_node_get_object(root), "interrupted"));
    g_assert_true(rep->interrupted);
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "ok"), "status"), ==, "passed");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "m-1"), "status"), ==, "not-run");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "status"), ==, "not-run");
    g_assert_nonnull(
        strstr(json_object_get_string_member(job_of(root, "bad"), "error"), "cancelled"));
    g_assert_cmpint(rep->summary.passed, ==, 1);
    g_assert_cmpint(rep->summary.not_run, ==, 4);
}

/* A report cannot speak for another task's jobs, nor for jobs the plan lacks. */
static void
test_merge_foreign_entries(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    /* Task 0's report handed in as task 1's: none of its entries are task 1's jobs. */
    g_autofree char *p0 = task_report(m, 0, 99, FALSE);
    VmmBatchSlurmPart parts[2] = {{.report = p0, .node = "n1"}, {.report = p0, .node = "n2"}};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) rep =
        vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted, &err);
    g_autoptr(JsonNode) root = NULL;

    g_assert_no_error(err);
    root = parse(rep->json);
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "status"), ==, "error");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "ok"), "host"), ==, "n1");
    g_assert_cmpint(rep->summary.error, ==, 2);

    /* A report that is not JSON is no report, and says so. */
    parts[1].report = "{not json";
    g_clear_pointer(&rep, vmm_batch_slurm_report_free);
    rep = vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted, &err);
    g_assert_no_error(err);
    g_assert_cmpint(rep->summary.error, ==, 2);
}

/* --retry-failed: only the errors run again; the earlier entries of the others are kept. */
static void
test_merge_retry(void)
{
    g_autoptr(VmmBatchPlan) plan = load_plan();
    g_autoptr(VmmBatchSlurmManifest) m = manifest_for(plan, 2);
    g_autoptr(VmmBatchSlurmManifest) m2 = NULL;
    g_autofree char *p0 = task_report(m, 0, 99, FALSE), *local = local_report();
    g_autofree char *p2 = NULL;
    VmmBatchSlurmPart parts[2] = {{.report = p0, .node = "n1", .state = "COMPLETED"},
                                  {.state = "NODE_FAIL"}};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchSlurmReport) first =
        vmm_batch_slurm_merge(plan, m, parts, NULL, m->submitted + 30, &err);
    g_autoptr(VmmBatchSlurmReport) second = NULL;
    g_autoptr(GPtrArray) retry = NULL;
    g_autoptr(JsonNode) root = NULL;
    VmmBatchSlurmPart parts2[1] = {{.node = "n3", .state = "COMPLETED"}};

    g_assert_no_error(err);
    retry = vmm_batch_slurm_retry_names(first->json, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(retry->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(retry, 0), ==, "bad");
    g_assert_cmpstr(g_ptr_array_index(retry, 1), ==, "m-2");

    m2 = vmm_batch_slurm_manifest_new(vmm_batch_slurm_assign(retry, 4));
    m2->plan = g_strdup(plan->path);
    m2->plan_sha256 = g_strdup("abc");
    m2->prefix = g_strdup("nightly");
    m2->job_id = g_strdup("43");
    m2->submitted = m->submitted + 100;
    m2->retry = TRUE;
    g_assert_cmpuint(m2->tasks->len, ==, 2);
    /* Round two: task 0 runs "bad", task 1 ("m-2") dies again. */
    {
        g_autoptr(VmmBatchSlurmManifest) one = vmm_batch_slurm_manifest_new(
            g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev));
        const char *const only_bad[] = {"bad", NULL};
        one->prefix = g_strdup("nightly");
        g_ptr_array_add(one->tasks, g_strdupv((char **)only_bad));
        p2 = task_report(one, 0, 99, FALSE);
    }
    {
        VmmBatchSlurmPart both[2] = {{.report = p2, .node = "n3", .state = "COMPLETED"},
                                     {.state = "FAILED", .log_tail = "airlock: no image"}};
        (void)parts2;
        second = vmm_batch_slurm_merge(plan, m2, both, first->json, m2->submitted + 20, &err);
    }
    g_assert_no_error(err);
    assert_same_shape(local, second->json);
    root = parse(second->json);
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "ok"), "host"), ==, "n1");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "host"), ==, "n3");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "bad"), "status"), ==, "failed");
    g_assert_cmpstr(json_object_get_string_member(job_of(root, "m-2"), "error"), ==,
                    "Slurm task 1 (43_1) ended FAILED without a report: airlock: no image");
    g_assert_cmpint(second->summary.passed, ==, 3);
    g_assert_cmpint(second->summary.error, ==, 1);
    /* Both rounds' time. */
    g_assert_cmpfloat(second->duration_s, ==, 50);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/batch-slurm/assign", test_assign);
    g_test_add_func("/batch-slurm/manifest", test_manifest);
    g_test_add_func("/batch-slurm/squeue", test_squeue);
    g_test_add_func("/batch-slurm/merge/whole", test_merge_whole);
    g_test_add_func("/batch-slurm/merge/dead-task", test_merge_dead_task);
    g_test_add_func("/batch-slurm/merge/cancelled", test_merge_cancelled);
    g_test_add_func("/batch-slurm/merge/foreign-entries", test_merge_foreign_entries);
    g_test_add_func("/batch-slurm/merge/retry", test_merge_retry);
    return g_test_run();
}
