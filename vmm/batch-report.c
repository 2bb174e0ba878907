/* batch-report.c: a batch's results: output tails, summary, results.json, junit.xml. Pure. */
#include <config.h>

#include "json-text.h"
#include "batch.h"
#include "autoptr.h"
#include "json-builder.h"

#include <json-glib/json-glib.h>
#include <libxml/tree.h>
#include <string.h>

/* --- tails ------------------------------------------------------------------------------- */

void
vmm_batch_tail_init(VmmBatchTail *tail, gsize max)
{
    tail->buf = g_string_new(NULL);
    tail->max = max;
    tail->total = 0;
}

void
vmm_batch_tail_clear(VmmBatchTail *tail)
{
    if (tail->buf)
        g_string_free(tail->buf, TRUE);
    tail->buf = NULL;
    tail->total = 0;
}

void
vmm_batch_tail_append(VmmBatchTail *tail, const char *data, gsize len)
{
    if (!tail->buf)
        vmm_batch_tail_init(tail, tail->max ? tail->max : VMM_BATCH_TAIL_BYTES);
    tail->total += len;
    if (len >= tail->max) {
        g_string_truncate(tail->buf, 0);
        g_string_append_len(tail->buf, data + len - tail->max, tail->max);
        return;
    }
    g_string_append_len(tail->buf, data, len);
    if (tail->buf->len > tail->max)
        g_string_erase(tail->buf, 0, tail->buf->len - tail->max);
}

char *
vmm_batch_tail_text(const VmmBatchTail *tail)
{
    g_autofree char *valid = NULL;
    GString *out = g_string_new(NULL);
    gsize kept = tail->buf ? tail->buf->len : 0;

    if (tail->total > kept)
        g_string_append_printf(out, "[…%" G_GUINT64_FORMAT " bytes cut]\n", tail->total - kept);
    valid = g_utf8_make_valid(tail->buf ? tail->buf->str : "", kept);
    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f || (c >= 0x80 && c < 0xa0) ||
            c == 0xfffe || c == 0xffff)
            g_string_append_unichar(out, 0xfffd);
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
    return g_string_free(out, FALSE);
}

/* --- results ----------------------------------------------------------------------------- */

static const char *const statuses[VMM_BATCH_STATUS_LAST] = {
    [VMM_BATCH_STATUS_NOT_RUN] = "not-run", [VMM_BATCH_STATUS_PASSED] = "passed",
    [VMM_BATCH_STATUS_FAILED] = "failed",   [VMM_BATCH_STATUS_TIMEOUT] = "timeout",
    [VMM_BATCH_STATUS_ERROR] = "error",
};

const char *
vmm_batch_status_to_string(VmmBatchStatus status)
{
    return status < VMM_BATCH_STATUS_LAST ? statuses[status] : "unknown";
}

static void
artifact_free(VmmBatchArtifact *a)
{
    if (!a)
        return;
    g_free(a->guest);
    g_free(a->local);
    g_free(a->error);
    g_free(a);
}

VmmBatchResult *
vmm_batch_result_new(const VmmBatchJob *job)
{
    VmmBatchResult *r = g_new0(VmmBatchResult, 1);

    r->job = job;
    r->exit_code = -1;
    vmm_batch_tail_init(&r->out, VMM_BATCH_TAIL_BYTES);
    vmm_batch_tail_init(&r->err, VMM_BATCH_TAIL_BYTES);
    r->artifacts = g_ptr_array_new_with_free_func((GDestroyNotify)artifact_free);
    return r;
}

void
vmm_batch_result_reset(VmmBatchResult *r)
{
    r->status = VMM_BATCH_STATUS_NOT_RUN;
    r->exit_code = -1;
    r->duration_s = 0;
    g_clear_pointer(&r->error, g_free);
    vmm_batch_tail_clear(&r->out);
    vmm_batch_tail_clear(&r->err);
    vmm_batch_tail_init(&r->out, VMM_BATCH_TAIL_BYTES);
    vmm_batch_tail_init(&r->err, VMM_BATCH_TAIL_BYTES);
    g_ptr_array_set_size(r->artifacts, 0);
}

void
vmm_batch_result_free(VmmBatchResult *r)
{
    if (!r)
        return;
    g_free(r->sandbox);
    g_free(r->host);
    g_free(r->error);
    vmm_batch_tail_clear(&r->out);
    vmm_batch_tail_clear(&r->err);
    g_ptr_array_unref(r->artifacts);
    g_free(r);
}

gboolean
vmm_batch_result_ok(const VmmBatchResult *r)
{
    return r->status == VMM_BATCH_STATUS_PASSED;
}

void
vmm_batch_summarize(GPtrArray *results, VmmBatchSummary *s)
{
    memset(s, 0, sizeof(*s));
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        s->total++;
        s->retried += r->retried;
        switch (r->status) {
        case VMM_BATCH_STATUS_PASSED:
            s->passed++;
            break;
        case VMM_BATCH_STATUS_FAILED:
            s->failed++;
            break;
        case VMM_BATCH_STATUS_TIMEOUT:
            s->timeout++;
            break;
        case VMM_BATCH_STATUS_ERROR:
            s->error++;
            break;
        default:
            s->not_run++;
            break;
        }
    }
}

/* Seconds rounded to the millisecond so reports do not carry float noise. */
static gdouble
ms(gdouble s)
{
    return (gint64)(s * 1000 + 0.5) / 1000.0;
}

static void
add_double(JsonBuilder *b, const char *member, gdouble value)
{
    json_builder_set_member_name(b, member);
    json_builder_add_double_value(b, ms(value));
}

static void
add_bool(JsonBuilder *b, const char *member, gboolean value)
{
    json_builder_set_member_name(b, member);
    json_builder_add_boolean_value(b, value);
}

char *
vmm_batch_report_json(const VmmBatchPlan *plan, GPtrArray *results, const VmmBatchRunInfo *info)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    VmmBatchSummary s;

    vmm_batch_summarize(results, &s);
    json_builder_begin_object(b);
    vmm_json_add_str(b, "plan", plan->path);
    vmm_json_add_str(b, "image", plan->image);
    vmm_json_add_str(b, "spec", plan->spec_file);
    vmm_json_add_str(b, "prefix", plan->prefix);
    vmm_json_add_int(b, "parallel", plan->parallel);
    vmm_json_add_str(b, "started", info->started);
    add_double(b, "duration_s", info->duration_s);
    add_bool(b, "interrupted", info->interrupted);
    add_bool(b, "ok", s.passed == s.total);
    json_builder_set_member_name(b, "summary");
    json_builder_begin_object(b);
    vmm_json_add_int(b, "total", s.total);
    vmm_json_add_int(b, "passed", s.passed);
    vmm_json_add_int(b, "failed", s.failed);
    vmm_json_add_int(b, "timeout", s.timeout);
    vmm_json_add_int(b, "error", s.error);
    vmm_json_add_int(b, "not_run", s.not_run);
    vmm_json_add_int(b, "retried", s.retried);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "pool");
    json_builder_begin_object(b);
    vmm_json_add_int(b, "creates", info->creates);
    vmm_json_add_int(b, "resets", info->resets);
    vmm_json_add_int(b, "replaced", info->replaced);
    add_double(b, "create_s_total", info->create_s_total);
    add_double(b, "reset_s_total", info->reset_s_total);
    json_builder_set_member_name(b, "slots");
    json_builder_begin_array(b);
    for (guint i = 0; info->slot_hosts && i < info->slot_hosts->len; i++) {
        g_autofree char *name = g_strdup_printf("%s-%u", plan->prefix, i + 1);
        json_builder_begin_object(b);
        vmm_json_add_str(b, "sandbox", name);
        vmm_json_add_str(b, "host", g_ptr_array_index(info->slot_hosts, i));
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "jobs");
    json_builder_begin_array(b);
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        g_autofree char *out = vmm_batch_tail_text(&r->out);
        g_autofree char *err = vmm_batch_tail_text(&r->err);
        json_builder_begin_object(b);
        vmm_json_add_str(b, "name", r->job->name);
        vmm_json_add_str(b, "matrix", r->job->matrix);
        vmm_json_add_str(b, "command", r->job->command);
        vmm_json_add_str(b, "status", vmm_batch_status_to_string(r->status));
        add_bool(b, "ok", vmm_batch_result_ok(r));
        vmm_json_add_int(b, "expect", r->job->expect);
        json_builder_set_member_name(b, "exit_code");
        if (r->exit_code >= 0)
            json_builder_add_int_value(b, r->exit_code);
        else
            json_builder_add_null_value(b);
        vmm_json_add_int(b, "timeout_s", r->job->timeout_s);
        add_double(b, "started_s", r->started_s);
        add_double(b, "duration_s", r->duration_s);
        add_bool(b, "retried", r->retried);
        vmm_json_add_str(b, "sandbox", r->sandbox);
        vmm_json_add_str(b, "host", r->host);
        vmm_json_add_str(b, "error", r->error);
        vmm_json_add_str(b, "stdout_tail", out);
        vmm_json_add_str(b, "stderr_tail", err);
        vmm_json_add_int(b, "stdout_bytes", r->out.total);
        vmm_json_add_int(b, "stderr_bytes", r->err.total);
        json_builder_set_member_name(b, "artifacts");
        json_builder_begin_array(b);
        for (guint j = 0; j < r->artifacts->len; j++) {
            VmmBatchArtifact *a = g_ptr_array_index(r->artifacts, j);
            json_builder_begin_object(b);
            vmm_json_add_str(b, "guest", a->guest);
            vmm_json_add_str(b, "file", a->local);
            add_bool(b, "copied", a->copied);
            vmm_json_add_str(b, "error", a->error);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    {
        g_autofree char *raw = json_generator_to_data(gen, NULL);
        g_autofree char *text = vmm_json_tidy_numbers(raw); /* 1.5, not 1.5000000000000002 */
        return g_strconcat(text, "\n", NULL);
    }
}

static void
set_prop_secs(xmlNodePtr node, const char *name, gdouble s)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    xmlNewProp(node, BAD_CAST name, BAD_CAST g_ascii_formatd(buf, sizeof(buf), "%.3f", s));
}

static void
set_prop_uint(xmlNodePtr node, const char *name, guint v)
{
    g_autofree char *s = g_strdup_printf("%u", v);
    xmlNewProp(node, BAD_CAST name, BAD_CAST s);
}

/* @s fit for XML 1.0 as the tails are: a plan's command may hold control characters. */
static char *
xml_safe(char *s)
{
    VmmBatchTail t = {.buf = g_string_new(s), .max = G_MAXSIZE};
    char *out;

    g_free(s);
    t.total = t.buf->len;
    out = vmm_batch_tail_text(&t);
    g_string_free(t.buf, TRUE);
    return out;
}

/* The failure text: the command, then the tails of stderr and stdout. */
static char *
failure_text(const VmmBatchResult *r, const char *out, const char *err)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "$ %s\n", r->job->command);
    if (r->error)
        g_string_append_printf(s, "airlock: %s\n", r->error);
    if (*err)
        g_string_append_printf(s, "--- stderr (tail) ---\n%s%s", err,
                               g_str_has_suffix(err, "\n") ? "" : "\n");
    if (*out)
        g_string_append_printf(s, "--- stdout (tail) ---\n%s%s", out,
                               g_str_has_suffix(out, "\n") ? "" : "\n");
    return xml_safe(g_string_free(s, FALSE));
}

static char *
failure_message(const VmmBatchResult *r)
{
    switch (r->status) {
    case VMM_BATCH_STATUS_FAILED:
        return g_strdup_printf("exit code %d, expected %d%s", r->exit_code, r->job->expect,
                               r->retried ? " (retried in a new sandbox)" : "");
    case VMM_BATCH_STATUS_TIMEOUT:
        return g_strdup_printf("killed after its timeout of %u s", r->job->timeout_s);
    default:
        return xml_safe(g_strdup(r->error ? r->error : vmm_batch_status_to_string(r->status)));
    }
}

char *
vmm_batch_report_junit(const VmmBatchPlan *plan, GPtrArray *results, const VmmBatchRunInfo *info)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr suites = xmlNewNode(NULL, BAD_CAST "testsuites");
    xmlNodePtr suite;
    g_autofree char *suite_name = NULL, *classname = NULL;
    xmlChar *mem = NULL;
    int size = 0;
    VmmBatchSummary s;
    char *text;

    vmm_batch_summarize(results, &s);
    suite_name = plan->path ? g_path_get_basename(plan->path) : g_strdup("batch");
    classname = g_strdup_printf("airlock.batch.%s", plan->prefix);
    xmlDocSetRootElement(doc, suites);
    xmlNewProp(suites, BAD_CAST "name", BAD_CAST "airlock batch");
    set_prop_uint(suites, "tests", s.total);
    set_prop_uint(suites, "failures", s.failed + s.timeout);
    set_prop_uint(suites, "errors", s.error);
    set_prop_uint(suites, "skipped", s.not_run);
    set_prop_secs(suites, "time", info->duration_s);
    suite = xmlNewChild(suites, NULL, BAD_CAST "testsuite", NULL);
    xmlNewProp(suite, BAD_CAST "name", BAD_CAST suite_name);
    set_prop_uint(suite, "tests", s.total);
    set_prop_uint(suite, "failures", s.failed + s.timeout);
    set_prop_uint(suite, "errors", s.error);
    set_prop_uint(suite, "skipped", s.not_run);
    set_prop_secs(suite, "time", info->duration_s);
    if (info->started)
        xmlNewProp(suite, BAD_CAST "timestamp", BAD_CAST info->started);
    for (guint i = 0; i < results->len; i++) {
        VmmBatchResult *r = g_ptr_array_index(results, i);
        g_autofree char *out = vmm_batch_tail_text(&r->out);
        g_autofree char *err = vmm_batch_tail_text(&r->err);
        g_autofree char *msg = failure_message(r);
        xmlNodePtr tc = xmlNewChild(suite, NULL, BAD_CAST "testcase", NULL);
        xmlNodePtr f = NULL;

        xmlNewProp(tc, BAD_CAST "name", BAD_CAST r->job->name);
        xmlNewProp(tc, BAD_CAST "classname", BAD_CAST classname);
        set_prop_secs(tc, "time", r->duration_s);
        switch (r->status) {
        case VMM_BATCH_STATUS_PASSED:
            break;
        case VMM_BATCH_STATUS_FAILED:
        case VMM_BATCH_STATUS_TIMEOUT: {
            g_autofree char *body = failure_text(r, out, err);
            f = xmlNewTextChild(tc, NULL, BAD_CAST "failure", BAD_CAST body);
            xmlNewProp(f, BAD_CAST "type", BAD_CAST vmm_batch_status_to_string(r->status));
            break;
        }
        case VMM_BATCH_STATUS_ERROR: {
            g_autofree char *body = failure_text(r, out, err);
            f = xmlNewTextChild(tc, NULL, BAD_CAST "error", BAD_CAST body);
            xmlNewProp(f, BAD_CAST "type", BAD_CAST "error");
            break;
        }
        default:
            f = xmlNewChild(tc, NULL, BAD_CAST "skipped", NULL);
            break;
        }
        if (f)
            xmlNewProp(f, BAD_CAST "message", BAD_CAST msg);
        if (*out)
            xmlNewTextChild(tc, NULL, BAD_CAST "system-out", BAD_CAST out);
        if (*err)
            xmlNewTextChild(tc, NULL, BAD_CAST "system-err", BAD_CAST err);
    }
    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    text = g_strndup((const char *)mem, size);
    xmlFree(mem);
    return text;
}
