/* fuzz-plan: the batch plan parser never crashes or leaks; what it accepts holds its
 * documented shapes (names, paths, env, bounds), and the reports made from it stay
 * well-formed JSON and XML whatever the plan's text holds. */
#include <config.h>

#include "batch.h"
#include "error.h"
#include "names.h"
#include "secrets.h"

#include <json-glib/json-glib.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_job(const VmmBatchJob *job, GHashTable *seen)
{
    if (!vmm_batch_job_name_valid(job->name) || !g_hash_table_add(seen, job->name))
        abort();
    if (!job->command || !*job->command || job->expect < 0 || job->expect > 255)
        abort();
    for (guint i = 0; i < job->env->len; i++) {
        const char *kv = g_ptr_array_index(job->env, i);
        const char *eq = strchr(kv, '=');
        g_autofree char *key = eq ? g_strndup(kv, eq - kv) : NULL;
        if (!key || !vmm_secrets_valid_key(key))
            abort();
    }
    for (guint i = 0; i < job->files->len; i++) {
        const VmmBatchFile *f = g_ptr_array_index(job->files, i);
        if (!g_path_is_absolute(f->local) || f->guest[0] != '/')
            abort();
    }
    for (guint i = 0; i < job->artifacts->len; i++) {
        const char *a = g_ptr_array_index(job->artifacts, i);
        if (a[0] != '/' || g_str_has_suffix(a, "/"))
            abort();
    }
}

static void
check_reports(const VmmBatchPlan *plan)
{
    g_autoptr(GPtrArray) results =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    VmmBatchRunInfo info = {.started = "2026-01-01T00:00:00Z"};
    g_autofree char *json = NULL;
    g_autofree char *junit = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    xmlDocPtr doc;

    for (guint i = 0; i < plan->jobs->len; i++) {
        VmmBatchResult *r = vmm_batch_result_new(g_ptr_array_index(plan->jobs, i));
        /* A job that printed its own command: the plan's bytes reach the reports. */
        vmm_batch_tail_append(&r->out, r->job->command, strlen(r->job->command));
        r->status = i % 2 ? VMM_BATCH_STATUS_FAILED : VMM_BATCH_STATUS_NOT_RUN;
        g_ptr_array_add(results, r);
    }
    json = vmm_batch_report_json(plan, results, &info);
    if (!json || !json_parser_load_from_data(p, json, -1, NULL))
        abort();
    junit = vmm_batch_report_junit(plan, results, &info);
    if (!junit)
        abort();
    doc = xmlReadMemory(junit, (int)strlen(junit), "junit.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        abort();
    xmlFreeDoc(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmBatchPlan) plan =
        vmm_batch_plan_parse((const char *)data, size, "fuzz.plan", "/plans", &err);

    if (!plan) {
        if (!err || err->code != VMM_ERROR_INVALID)
            abort();
        return 0;
    }
    if (err || plan->jobs->len == 0 || plan->parallel < 1 ||
        plan->parallel > VMM_BATCH_MAX_PARALLEL || !plan->prefix ||
        !vmm_name_validate(plan->prefix, "prefix", NULL))
        abort();
    if ((plan->spec_file && !g_path_is_absolute(plan->spec_file)) ||
        (plan->secrets_file && !g_path_is_absolute(plan->secrets_file)))
        abort();
    {
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        for (guint i = 0; i < plan->jobs->len; i++)
            check_job(g_ptr_array_index(plan->jobs, i), seen);
    }
    if (plan->jobs->len <= 256)
        check_reports(plan);
    return 0;
}
