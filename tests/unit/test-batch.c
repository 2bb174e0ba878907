/* test-batch: plans, matrix expansion, tails, reports (golden), placement, the runner
 * with a fake executor, host probing against test:///default. */
#include <config.h>

#include "batch-run.h"
#include "batch.h"
#include "error.h"

#include <json-glib/json-glib.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"

/* --- plans ------------------------------------------------------------------------------- */

static char *
dump_plan(const VmmBatchPlan *p)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "image=%s spec=%s parallel=%u prefix=%s timeout=%u evidence=%d\n",
                           p->image ? p->image : "-", p->spec_file ? p->spec_file : "-",
                           p->parallel, p->prefix, p->timeout_s, p->evidence);
    g_string_append_printf(s, "secrets=%s\n", p->secrets_file ? p->secrets_file : "-");
    for (char **h = p->hosts; h && *h; h++)
        g_string_append_printf(s, "host=%s\n", *h);
    for (guint i = 0; i < p->jobs->len; i++) {
        VmmBatchJob *j = g_ptr_array_index(p->jobs, i);
        g_string_append_printf(s, "[%s] matrix=%s timeout=%u expect=%d\n  command: %s\n", j->name,
                               j->matrix ? j->matrix : "-", j->timeout_s, j->expect, j->command);
        for (guint k = 0; k < j->env->len; k++)
            g_string_append_printf(s, "  env: %s\n", (char *)g_ptr_array_index(j->env, k));
        for (guint k = 0; k < j->files->len; k++) {
            VmmBatchFile *f = g_ptr_array_index(j->files, k);
            g_string_append_printf(s, "  file: %s -> %s\n", f->local, f->guest);
        }
        for (guint k = 0; k < j->artifacts->len; k++)
            g_string_append_printf(s, "  artifact: %s\n",
                                   (char *)g_ptr_array_index(j->artifacts, k));
    }
    return g_string_free(s, FALSE);
}

static void
test_plan_golden(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "batch", "plan.ini", NULL);
    g_autofree char *data = NULL, *dump = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    /* A fixed base directory so the golden file does not depend on the checkout. */
    plan = vmm_batch_plan_parse(data, len, "plan.ini", "/plans", &err);
    g_assert_no_error(err);
    dump = dump_plan(plan);
    golden_check(dump, "batch", "plan.txt");
    g_assert_cmpuint(plan->jobs->len, ==, 3 + 4);
}

static void
test_plan_defaults(void)
{
    const char *text = "[job a]\ncommand = true\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) p = vmm_batch_plan_parse(text, -1, "p", NULL, &err);

    g_assert_no_error(err);
    g_assert_cmpstr(p->image, ==, "debian-12");
    g_assert_cmpuint(p->parallel, ==, VMM_BATCH_DEFAULT_PARALLEL);
    g_assert_cmpstr(p->prefix, ==, "batch");
    g_assert_false(p->evidence);
    g_assert_null(p->hosts);
    {
        /* [batch] hosts is refused by the parser, so batch check refuses it as run does. */
        const char *old = "[batch]\nhosts = qemu:///system\n[job a]\ncommand = true\n";
        g_autoptr(GError) e2 = NULL;
        g_autoptr(VmmBatchPlan) p2 = vmm_batch_plan_parse(old, -1, "p", NULL, &e2);
        g_assert_null(p2);
        g_assert_error(e2, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_nonnull(strstr(e2->message, "--slurm"));
    }
    g_assert_cmpuint(p->max_artifact_bytes, ==, 0); /* the spec's, else the agent's default */
    {
        g_autoptr(GError) e2 = NULL;
        g_autoptr(VmmBatchPlan) p2 = vmm_batch_plan_parse(
            "[batch]\nmax-artifact-size = 20M\n[job a]\ncommand = true\n", -1, "p", NULL, &e2);
        g_assert_no_error(e2);
        g_assert_cmpuint(p2->max_artifact_bytes, ==, 20 << 20);
    }
    g_assert_cmpuint(((VmmBatchJob *)p->jobs->pdata[0])->timeout_s, ==,
                     VMM_BATCH_DEFAULT_TIMEOUT_S);
}

/* "key = value  # why": an unquoted # after a space starts a comment, as in sh. */
static void
test_plan_comments(void)
{
    const char *text = "[batch]\nimage = debian-12   # the base\nparallel = 3\t# pool\n"
                       "[job a]\ncommand = echo '# kept' \"# kept\" a#kept # dropped\n"
                       "timeout = 5m # per job\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) p = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    VmmBatchJob *job;

    g_assert_no_error(err);
    g_assert_cmpstr(p->image, ==, "debian-12");
    g_assert_cmpuint(p->parallel, ==, 3);
    job = g_ptr_array_index(p->jobs, 0);
    g_assert_cmpstr(job->command, ==, "echo '# kept' \"# kept\" a#kept");
    g_assert_cmpuint(job->timeout_s, ==, 300);
}

static void
test_plan_errors(void)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"[batch]\nimage = x\n", "no jobs"},
        {"[job a]\ntimeout = 3s\n", "[job a] needs a command"},
        {"[job a]\ncommand = true\nexpect = 300\n", "expect: '300' is not an exit code"},
        {"[job a]\ncommand = true\ntimeout = soon\n", "[job a] timeout"},
        {"[job a]\ncommand = true\ncolour = red\n", "p:3: [job a] colour: unknown key"},
        {"[job a b]\ncommand = true\n", "job name 'a b'"},
        {"[job a]\ncommand = true\n[job a]\ncommand = false\n",
         "p:3: [job a] appears twice (first on line 1"},
        {"[job a]\ncommand = true\ncommand = false\n", "p:3: [job a] command: given twice"},
        {"[job a]\ncommand = true\n\n[job b]\ncommand = true\nexpect = 300\n",
         "p:6: [job b] expect: '300'"},
        {"[job a]\ncommand = true\n\ntimeout = soon\n", "p:4: [job a] timeout"},
        {"[batch]\nparallel = 0\n[job a]\ncommand = true\n", "p:2: [batch] parallel"},
        {"[job x]\ncommand = true\n[matrix x]\ncommand = {p}\nparam.p = 1\n", NULL},
        {"[job x-1]\ncommand = true\n[matrix x]\ncommand = {p}\nparam.p = 1\n",
         "job 'x-1' is defined twice"},
        {"[matrix m]\ncommand = true\n", "needs at least one param.NAME"},
        {"[matrix m]\ncommand = {p}\nparam.p = a b\n", "value 'a b' must be"},
        {"[matrix m]\ncommand = {p}\nparam.p-q = 1\n", "parameter names"},
        {"[job a]\ncommand = true\nenv = 1X=2\n", "env: '1X=2'"},
        {"[job a]\ncommand = true\nfiles = a.txt\n", "files: 'a.txt' is not LOCAL:/GUEST/PATH"},
        {"[job a]\ncommand = true\nartifacts = rel/path\n", "artifacts: 'rel/path'"},
        {"[batch]\nparallel = 0\n[job a]\ncommand = true\n", "parallel: '0'"},
        {"[batch]\nprefix = Bad_Prefix\n[job a]\ncommand = true\n", "prefix: 'Bad_Prefix'"},
        {"[batch]\nimage = a\nspec = b.spec\n[job a]\ncommand = true\n", "both image and spec"},
        {"[batch]\nevidence = maybe\n[job a]\ncommand = true\n", "evidence: 'maybe'"},
        {"[batch]\nmax-artifact-size = huge\n[job a]\ncommand = true\n",
         "max-artifact-size: size 'huge'"},
        {"[batches]\n[job a]\ncommand = true\n", "unknown group [batches]"},
        {"not a key file", "p:"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmBatchPlan) p = vmm_batch_plan_parse(cases[i].text, -1, "p", NULL, &err);
        if (!cases[i].msg) {
            g_assert_no_error(err);
            continue;
        }
        g_test_message("case %zu: %s", i, err ? err->message : "(no error)");
        g_assert_null(p);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, cases[i].msg));
    }
}

static void
test_expand(void)
{
    g_autoptr(GHashTable) params = g_hash_table_new(g_str_hash, g_str_equal);
    g_autofree char *a = NULL, *b = NULL, *c = NULL;

    g_hash_table_insert(params, "x", "1");
    g_hash_table_insert(params, "y", "two");
    a = vmm_batch_expand("run {x} {y} {x}{y} {z} ${HOME} {", params);
    g_assert_cmpstr(a, ==, "run 1 two 1two {z} ${HOME} {");
    b = vmm_batch_expand("awk '{print $1}'", params);
    g_assert_cmpstr(b, ==, "awk '{print $1}'");
    c = vmm_batch_expand("{x}", NULL);
    g_assert_cmpstr(c, ==, "{x}");
}

static void
test_matrix_order(void)
{
    const char *text = "[matrix m]\ncommand = echo {a}{b}{c}\nparam.a = 1;2\nparam.b = x\n"
                       "param.c = p;q;r\nexpect = 1\n";
    const char *want[] = {"m-1-x-p", "m-1-x-q", "m-1-x-r", "m-2-x-p", "m-2-x-q", "m-2-x-r"};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) p = vmm_batch_plan_parse(text, -1, "p", NULL, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(p->jobs->len, ==, G_N_ELEMENTS(want));
    for (guint i = 0; i < p->jobs->len; i++) {
        VmmBatchJob *j = g_ptr_array_index(p->jobs, i);
        g_assert_cmpstr(j->name, ==, want[i]);
        g_assert_cmpint(j->expect, ==, 1);
    }
    g_assert_cmpstr(((VmmBatchJob *)p->jobs->pdata[4])->command, ==, "echo 2xq");
}

/* --- tails ------------------------------------------------------------------------------- */

static void
test_tail(void)
{
    VmmBatchTail t;
    g_autofree char *a = NULL, *b = NULL, *c = NULL;

    vmm_batch_tail_init(&t, 8);
    vmm_batch_tail_append(&t, "abc", 3);
    a = vmm_batch_tail_text(&t);
    g_assert_cmpstr(a, ==, "abc");
    vmm_batch_tail_append(&t, "defghij", 7);
    b = vmm_batch_tail_text(&t);
    g_assert_cmpstr(b, ==, "[…2 bytes cut]\ncdefghij");
    vmm_batch_tail_append(&t, "0123456789XY", 12);
    g_assert_cmpuint(t.total, ==, 22);
    g_assert_cmpstr(t.buf->str, ==, "456789XY");
    vmm_batch_tail_clear(&t);

    vmm_batch_tail_init(&t, 64);
    vmm_batch_tail_append(&t,
                          "a\x01"
                          "b\tc\n\xff\x1b[0m",
                          11);
    c = vmm_batch_tail_text(&t);
    g_assert_cmpstr(c, ==,
                    "a\xef\xbf\xbd"
                    "b\tc\n\xef\xbf\xbd\xef\xbf\xbd[0m");
    vmm_batch_tail_clear(&t);
}

/* --- reports ----------------------------------------------------------------------------- */

static GPtrArray *
fixed_results(const VmmBatchPlan *plan)
{
    GPtrArray *results = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    static const struct {
        VmmBatchStatus status;
        int exit_code;
        const char *out, *err, *error;
        gboolean retried;
    } rows[] = {
        {VMM_BATCH_STATUS_PASSED, 0, "lint ok\n", "", NULL, FALSE},
        {VMM_BATCH_STATUS_FAILED, 1, "ran 3 tests <&> \"quoted\"\n", "FAIL: test_b\x01\n", NULL,
         TRUE},
        {VMM_BATCH_STATUS_PASSED, 3, "", "", NULL, FALSE},
        {VMM_BATCH_STATUS_TIMEOUT, -1, "started\n", "", "command timed out after 120 s", FALSE},
        {VMM_BATCH_STATUS_ERROR, -1, "", "", "sandbox broke again: agent not answering", TRUE},
        {VMM_BATCH_STATUS_NOT_RUN, -1, "", "", "interrupted before it started", FALSE},
        {VMM_BATCH_STATUS_NOT_RUN, -1, "", "", "interrupted before it started", FALSE},
    };

    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchResult *r = vmm_batch_result_new(g_ptr_array_index(plan->jobs, i));
        r->status = rows[i].status;
        r->exit_code = rows[i].exit_code;
        r->duration_s = 1.25 * (i + 1);
        r->started_s = 60.0 + i;
        r->retried = rows[i].retried;
        if (r->status != VMM_BATCH_STATUS_NOT_RUN) {
            r->sandbox = g_strdup_printf("nightly-%u", i % 3 + 1);
            r->host = g_strdup(i % 2 ? "qemu+ssh://gpu-2/system" : "qemu:///system");
        }
        r->error = g_strdup(rows[i].error);
        vmm_batch_tail_append(&r->out, rows[i].out, strlen(rows[i].out));
        vmm_batch_tail_append(&r->err, rows[i].err, strlen(rows[i].err));
        if (i == 1) {
            VmmBatchArtifact *a = g_new0(VmmBatchArtifact, 1);
            a->guest = g_strdup("/tmp/report.json");
            a->local = g_strdup("artifacts/unit/report.json");
            a->copied = TRUE;
            g_ptr_array_add(r->artifacts, a);
            a = g_new0(VmmBatchArtifact, 1);
            a->guest = g_strdup("/var/log/app.log");
            a->local = g_strdup("artifacts/unit/app.log");
            a->error = g_strdup("guest file '/var/log/app.log' does not exist");
            g_ptr_array_add(r->artifacts, a);
        }
        g_ptr_array_add(results, r);
    }
    return results;
}

static void
test_reports_golden(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "batch", "plan.ini", NULL);
    g_autofree char *data = NULL, *json = NULL, *junit = NULL;
    g_autoptr(VmmBatchPlan) plan = NULL;
    g_autoptr(GPtrArray) results = NULL;
    g_autoptr(GPtrArray) hosts = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    VmmBatchRunInfo info = {0};
    VmmBatchSummary s;
    xmlDocPtr doc;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    plan = vmm_batch_plan_parse(data, len, "plan.ini", "/plans", &err);
    g_assert_no_error(err);
    plan->path = g_strdup("nightly.ini");
    results = fixed_results(plan);
    vmm_batch_summarize(results, &s);
    g_assert_cmpuint(s.total, ==, 7);
    g_assert_cmpuint(s.passed, ==, 2);
    g_assert_cmpuint(s.failed, ==, 1);
    g_assert_cmpuint(s.timeout, ==, 1);
    g_assert_cmpuint(s.error, ==, 1);
    g_assert_cmpuint(s.not_run, ==, 2);
    g_assert_cmpuint(s.retried, ==, 2);

    g_ptr_array_add(hosts, "qemu:///system");
    g_ptr_array_add(hosts, "qemu+ssh://gpu-2/system");
    g_ptr_array_add(hosts, "qemu:///system");
    info.started = "2026-11-26T03:00:00Z";
    info.duration_s = 312.5;
    info.interrupted = TRUE;
    info.creates = 4;
    info.resets = 3;
    info.replaced = 1;
    info.create_s_total = 181.0004;
    info.reset_s_total = 4.5;
    info.slot_hosts = hosts;

    json = vmm_batch_report_json(plan, results, &info);
    golden_check(json, "batch", "results.json");
    g_assert_true(json_parser_load_from_data(parser, json, -1, &err));
    g_assert_no_error(err);

    junit = vmm_batch_report_junit(plan, results, &info);
    golden_check(junit, "batch", "junit.xml");
    doc = xmlReadMemory(junit, strlen(junit), "junit.xml", NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc); /* well-formed, control characters replaced */
    xmlFreeDoc(doc);
}

/* --- placement --------------------------------------------------------------------------- */

#define GiB ((guint64)1 << 30)

static void
test_place(void)
{
    VmmBatchHost hosts[] = {
        {"a", 4 * GiB, 0},
        {"b", 8 * GiB, 0},
        {"c", 2 * GiB, 3},
    };
    g_autoptr(GError) err = NULL;
    g_autofree guint *p = NULL, *q = NULL, *r = NULL, *t = NULL;

    /* Equal load: the most free memory first, then the least loaded. */
    p = vmm_batch_place(hosts, 3, 5, GiB / 2, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(p[0], ==, 1);
    g_assert_cmpuint(p[1], ==, 0);
    g_assert_cmpuint(p[2], ==, 1);
    g_assert_cmpuint(p[3], ==, 0);
    g_assert_cmpuint(p[4], ==, 1); /* c has 3 running: 3 vs a:2 b:2 -> b (more room) */

    /* Memory excludes hosts: 3 GiB guests fit only once on a, twice on b, never on c. */
    q = vmm_batch_place(hosts, 3, 3, 3 * GiB, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(q[0], ==, 1);
    g_assert_cmpuint(q[1], ==, 0);
    g_assert_cmpuint(q[2], ==, 1);
    r = vmm_batch_place(hosts, 3, 4, 3 * GiB, &err);
    g_assert_null(r);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_clear_error(&err);

    /* Two identical hosts (two URIs of one daemon): alternate. */
    {
        VmmBatchHost same[] = {{"qemu:///system", 8 * GiB, 1}, {"qemu+unix:///system", 8 * GiB, 1}};
        t = vmm_batch_place(same, 2, 4, GiB / 2, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(t[0], ==, 0);
        g_assert_cmpuint(t[1], ==, 1);
        g_assert_cmpuint(t[2], ==, 0);
        g_assert_cmpuint(t[3], ==, 1);
    }
}

static void
test_probe_test_driver(void)
{
    const char *uris[] = {"test:///default", "test:///default", NULL};
    g_autoptr(GError) err = NULL;
    g_autofree VmmBatchHost *hosts = vmm_batch_hosts_probe(uris, &err);
    g_autofree guint *p = NULL;

    g_assert_no_error(err);
    /* test:///default has one running domain ("test") and reports its fake free memory. */
    g_assert_cmpuint(hosts[0].running, ==, 1);
    g_assert_cmpuint(hosts[0].free_bytes, >, 0);
    g_assert_cmpuint(hosts[1].running, ==, hosts[0].running);
    p = vmm_batch_place(hosts, 2, 2, 1 << 20, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(p[0], !=, p[1]);
}

static void
test_probe_bad_uri(void)
{
    const char *uris[] = {"test:///default", "test:///nonexistent/file.xml", NULL};
    g_autoptr(GError) err = NULL;
    g_autofree VmmBatchHost *hosts = vmm_batch_hosts_probe(uris, &err);

    g_assert_null(hosts);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "test:///nonexistent/file.xml"));
}

/* --- runner with a fake executor --------------------------------------------------------- */

/*
 * Commands the fake understands: "exit N"; "sleep" (TIMEOUT); "break" (the
 * sandbox breaks on the first try of a job); "break-always"; "block" (waits
 * until interrupted). "fail-reset" makes the next reset of that slot fail.
 */
typedef struct {
    GMutex lock;
    GCond cond;
    guint creates, resets, failed_resets, destroys, runs, interrupts, live;
    guint in_create, max_in_create; /* concurrent creates */
    gboolean interrupted;
    gboolean fail_creates;   /* every create fails */
    GHashTable *broken_once; /* job names that broke once */
    GHashTable *fail_reset;  /* slot names whose next reset fails */
} Fake;

static gboolean
fake_create(VmmBatchSlot *slot, gpointer data, GError **error)
{
    Fake *f = data;
    g_mutex_lock(&f->lock);
    f->creates++;
    f->in_create++;
    f->max_in_create = MAX(f->max_in_create, f->in_create);
    g_mutex_unlock(&f->lock);
    g_usleep(20000); /* a boot takes a while */
    g_mutex_lock(&f->lock);
    f->in_create--;
    if (f->fail_creates) {
        g_mutex_unlock(&f->lock);
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT, "sandbox '%s' not ready", slot->name);
        return FALSE;
    }
    f->live++;
    g_mutex_unlock(&f->lock);
    return TRUE;
}

static gboolean
fake_reset(VmmBatchSlot *slot, gpointer data, GError **error)
{
    Fake *f = data;
    gboolean fail;
    g_mutex_lock(&f->lock);
    f->resets++;
    fail = g_hash_table_remove(f->fail_reset, slot->name);
    f->failed_resets += fail;
    g_mutex_unlock(&f->lock);
    if (fail)
        g_set_error(error, VMM_ERROR, VMM_ERROR_LIBVIRT, "restore failed");
    return !fail;
}

static gboolean
fake_run(VmmBatchSlot *slot, const VmmBatchJob *job, VmmBatchResult *res, gpointer data,
         GError **error)
{
    Fake *f = data;
    const char *cmd = job->command;

    g_mutex_lock(&f->lock);
    f->runs++;
    g_mutex_unlock(&f->lock);
    vmm_batch_tail_append(&res->out, job->name, strlen(job->name));
    if (g_str_has_prefix(cmd, "exit ")) {
        res->exit_code = atoi(cmd + 5);
        return TRUE;
    }
    if (strcmp(cmd, "sleep") == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT, "timed out after %u s", job->timeout_s);
        return FALSE;
    }
    if (strcmp(cmd, "fail-reset") == 0) {
        g_mutex_lock(&f->lock);
        g_hash_table_add(f->fail_reset, g_strdup(slot->name));
        g_mutex_unlock(&f->lock);
        res->exit_code = 0;
        return TRUE;
    }
    if (strcmp(cmd, "break") == 0 || strcmp(cmd, "break-always") == 0) {
        gboolean first;
        g_mutex_lock(&f->lock);
        first = g_hash_table_add(f->broken_once, g_strdup(job->name));
        g_mutex_unlock(&f->lock);
        if (first || strcmp(cmd, "break-always") == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "agent gone");
            return FALSE;
        }
        res->exit_code = 0;
        return TRUE;
    }
    if (strcmp(cmd, "block") == 0) {
        g_mutex_lock(&f->lock);
        while (!f->interrupted)
            g_cond_wait(&f->cond, &f->lock);
        g_mutex_unlock(&f->lock);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "domain killed");
        return FALSE;
    }
    res->exit_code = 0;
    return TRUE;
}

static gboolean
fake_destroy(VmmBatchSlot *slot, gpointer data, GError **error)
{
    Fake *f = data;
    (void)slot;
    (void)error;
    g_mutex_lock(&f->lock);
    f->destroys++;
    if (f->live)
        f->live--;
    g_mutex_unlock(&f->lock);
    return TRUE;
}

static void
fake_interrupt(VmmBatchSlot *slot, gpointer data)
{
    Fake *f = data;
    (void)slot;
    g_mutex_lock(&f->lock);
    f->interrupts++;
    f->interrupted = TRUE;
    g_cond_broadcast(&f->cond);
    g_mutex_unlock(&f->lock);
}

static const VmmBatchExecutor fake_executor = {
    .create = fake_create,
    .reset = fake_reset,
    .run = fake_run,
    .destroy = fake_destroy,
    .interrupt = fake_interrupt,
};

static void
fake_init(Fake *f)
{
    memset(f, 0, sizeof(*f));
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->broken_once = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    f->fail_reset = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void
fake_clear(Fake *f)
{
    g_hash_table_unref(f->broken_once);
    g_hash_table_unref(f->fail_reset);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
}

static VmmBatchResult *
result_of(GPtrArray *results, const char *name)
{
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        if (strcmp(r->job->name, name) == 0)
            return r;
    }
    g_assert_not_reached();
}

static const char *const uris2[] = {"test:///default", "test:///default"};

static void
test_runner(void)
{
    const char *text = "[job ok]\ncommand = exit 0\n"
                       "[job expected]\ncommand = exit 3\nexpect = 3\n"
                       "[job wrong]\ncommand = exit 1\n"
                       "[job slow]\ncommand = sleep\ntimeout = 1s\n"
                       "[job flaky]\ncommand = break\n"
                       "[job dead]\ncommand = break-always\n"
                       "[job resetfail]\ncommand = fail-reset\n"
                       "[matrix m]\ncommand = exit {c}\nparam.c = 0;1\nparam.d = x;y\nexpect = 0\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    g_autoptr(VmmBatchRunner) runner = NULL;
    VmmBatchRunInfo info = {0};
    VmmBatchProgress prog;
    VmmBatchSummary s;
    GPtrArray *results;
    Fake f;

    g_assert_no_error(err);
    fake_init(&f);
    runner = vmm_batch_runner_new(plan, 2, uris2, &fake_executor, &f);
    vmm_batch_runner_start(runner);
    vmm_batch_runner_join(runner);
    g_assert_true(vmm_batch_runner_done(runner));
    results = vmm_batch_runner_results(runner, &info);
    vmm_batch_summarize(results, &s);

    g_assert_cmpstr(vmm_batch_status_to_string(result_of(results, "ok")->status), ==, "passed");
    g_assert_cmpint(result_of(results, "expected")->status, ==, VMM_BATCH_STATUS_PASSED);
    g_assert_cmpint(result_of(results, "wrong")->status, ==, VMM_BATCH_STATUS_FAILED);
    g_assert_cmpint(result_of(results, "slow")->status, ==, VMM_BATCH_STATUS_TIMEOUT);
    g_assert_cmpint(result_of(results, "flaky")->status, ==, VMM_BATCH_STATUS_PASSED);
    g_assert_true(result_of(results, "flaky")->retried);
    g_assert_cmpint(result_of(results, "dead")->status, ==, VMM_BATCH_STATUS_ERROR);
    g_assert_true(result_of(results, "dead")->retried);
    g_assert_cmpint(result_of(results, "resetfail")->status, ==, VMM_BATCH_STATUS_PASSED);
    g_assert_cmpint(result_of(results, "m-1-x")->status, ==, VMM_BATCH_STATUS_FAILED);
    g_assert_cmpuint(s.total, ==, 11);
    g_assert_cmpuint(s.passed, ==, 6);
    g_assert_cmpuint(s.retried, ==, 2);
    g_assert_cmpstr(result_of(results, "ok")->out.buf->str, ==, "ok");
    g_assert_nonnull(result_of(results, "ok")->sandbox);

    /* flaky's and dead's broken sandboxes are replaced for their retries (dead's second
     * break is followed by a reset, which works). resetfail's slot replaces its sandbox
     * only if it runs another job, which depends on scheduling: test_runner_reset_fails. */
    g_assert_cmpuint(info.replaced, ==, 2 + f.failed_resets);
    g_assert_cmpuint(info.creates, ==, 2 + info.replaced);
    g_assert_cmpuint(f.creates, ==, info.creates);
    /* Every job after the first of its slot ran after a reset (or a replacement). */
    g_assert_cmpuint(info.resets, >=, 11 - 2 - 2);
    g_assert_cmpuint(f.live, ==, 0); /* nothing left */
    g_assert_false(info.interrupted);
    vmm_batch_runner_progress(runner, &prog);
    g_assert_cmpuint(prog.done, ==, 11);
    g_assert_cmpuint(prog.running, ==, 0);
    fake_clear(&f);
}

/* A reset that fails replaces the sandbox; the job after it runs in the new one. */
static void
test_runner_reset_fails(void)
{
    const char *text = "[job resetfail]\ncommand = fail-reset\n[job after]\ncommand = exit 0\n";
    const char *const uris1[] = {"test:///default"};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    g_autoptr(VmmBatchRunner) runner = NULL;
    VmmBatchRunInfo info = {0};
    VmmBatchSummary s;
    GPtrArray *results;
    Fake f;

    g_assert_no_error(err);
    fake_init(&f);
    runner = vmm_batch_runner_new(plan, 1, uris1, &fake_executor, &f);
    vmm_batch_runner_start(runner);
    vmm_batch_runner_join(runner);
    results = vmm_batch_runner_results(runner, &info);
    vmm_batch_summarize(results, &s);
    g_assert_cmpuint(s.passed, ==, 2);
    g_assert_cmpuint(f.failed_resets, ==, 1);
    g_assert_cmpuint(info.replaced, ==, 1);
    g_assert_cmpuint(info.creates, ==, 2);
    g_assert_cmpuint(f.live, ==, 0);
    fake_clear(&f);
}

static void
test_runner_stagger(void)
{
    const char *text = "[matrix m]\ncommand = exit 0\nparam.i = 1;2;3;4;5;6\n";
    const char *const uris3[] = {"a", "b", "c"};
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    Fake f;

    for (int stagger = 0; stagger < 2; stagger++) {
        g_autoptr(VmmBatchRunner) runner = NULL;
        VmmBatchSummary s;
        fake_init(&f);
        runner = vmm_batch_runner_new(plan, 3, uris3, &fake_executor, &f);
        vmm_batch_runner_set_stagger(runner, stagger);
        vmm_batch_runner_start(runner);
        vmm_batch_runner_join(runner);
        vmm_batch_summarize(vmm_batch_runner_results(runner, NULL), &s);
        g_assert_cmpuint(s.passed, ==, 6);
        if (stagger)
            g_assert_cmpuint(f.max_in_create, ==, 1);
        else
            g_assert_cmpuint(f.max_in_create, >=, 1);
        g_assert_cmpuint(f.live, ==, 0);
        fake_clear(&f);
    }
}

static void
test_runner_no_sandbox(void)
{
    const char *text = "[job a]\ncommand = exit 0\n[job b]\ncommand = exit 0\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    g_autoptr(VmmBatchRunner) runner = NULL;
    VmmBatchRunInfo info = {0};
    GPtrArray *results;
    Fake f;

    fake_init(&f);
    f.fail_creates = TRUE;
    runner = vmm_batch_runner_new(plan, 2, uris2, &fake_executor, &f);
    vmm_batch_runner_start(runner);
    vmm_batch_runner_join(runner);
    results = vmm_batch_runner_results(runner, &info);
    g_assert_cmpuint(f.creates, ==, 4); /* each slot tried twice */
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        g_assert_cmpint(r->status, ==, VMM_BATCH_STATUS_NOT_RUN);
        g_assert_nonnull(strstr(r->error, "not ready"));
    }
    fake_clear(&f);
}

static void
test_runner_stop(void)
{
    const char *text = "[job a]\ncommand = block\n[job b]\ncommand = block\n"
                       "[matrix rest]\ncommand = exit 0\nparam.i = 1;2;3;4;5\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan = vmm_batch_plan_parse(text, -1, "p", NULL, &err);
    g_autoptr(VmmBatchRunner) runner = NULL;
    VmmBatchRunInfo info = {0};
    VmmBatchProgress prog;
    GPtrArray *results;
    Fake f;

    fake_init(&f);
    runner = vmm_batch_runner_new(plan, 2, uris2, &fake_executor, &f);
    vmm_batch_runner_start(runner);
    for (int i = 0; i < 500; i++) {
        vmm_batch_runner_progress(runner, &prog);
        if (prog.running == 2)
            break;
        g_usleep(10000);
    }
    g_assert_cmpuint(prog.running, ==, 2);
    vmm_batch_runner_stop(runner);
    vmm_batch_runner_join(runner);
    results = vmm_batch_runner_results(runner, &info);
    g_assert_true(info.interrupted);
    g_assert_cmpuint(f.interrupts, >=, 1);
    g_assert_cmpuint(f.live, ==, 0);
    g_assert_cmpuint(f.destroys, ==, 2);
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        g_assert_cmpint(r->status, ==, VMM_BATCH_STATUS_NOT_RUN);
        g_assert_nonnull(strstr(r->error, "interrupted"));
    }
    fake_clear(&f);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_libvirt_init();
    g_test_add_func("/batch/plan/golden", test_plan_golden);
    g_test_add_func("/batch/plan/defaults", test_plan_defaults);
    g_test_add_func("/batch/plan/errors", test_plan_errors);
    g_test_add_func("/batch/plan/comments", test_plan_comments);
    g_test_add_func("/batch/plan/expand", test_expand);
    g_test_add_func("/batch/plan/matrix-order", test_matrix_order);
    g_test_add_func("/batch/tail", test_tail);
    g_test_add_func("/batch/report/golden", test_reports_golden);
    g_test_add_func("/batch/place", test_place);
    g_test_add_func("/batch/probe/test-driver", test_probe_test_driver);
    g_test_add_func("/batch/probe/bad-uri", test_probe_bad_uri);
    g_test_add_func("/batch/runner/fake", test_runner);
    g_test_add_func("/batch/runner/reset-fails", test_runner_reset_fails);
    g_test_add_func("/batch/runner/stagger", test_runner_stagger);
    g_test_add_func("/batch/runner/no-sandbox", test_runner_no_sandbox);
    g_test_add_func("/batch/runner/stop", test_runner_stop);
    return g_test_run();
}
