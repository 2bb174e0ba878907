/*
 * test-remote.c: the airlockd backend's pure parts (vmm/ops-remote.c, ops.c's
 * _from_json): what the CLI sends is what airlockd's own parser reads back,
 * and what airlockd answers (through its own serialisers) comes back as the
 * types the CLI prints, errors with the same code and message.
 */
#include <config.h>

#include "api.h"
#include "error.h"
#include "ops-remote.h"
#include "ops.h"

#include <glib/gstdio.h>
#include <string.h>

static char *
node_text(JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, node);
    return json_generator_to_data(gen, NULL);
}

static JsonNode *
parse(const char *text)
{
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
    return json_node_ref(json_parser_get_root(p));
}

/* ---- types back from JSON -------------------------------------------------------------- */

static VmmSandboxView *
sample_view(void)
{
    VmmSandboxView *v = g_new0(VmmSandboxView, 1);
    VmmMetadata *md = v->md = vmm_metadata_new();
    const char *secrets[] = {"API_KEY", NULL};
    const char *env[] = {"MODE", "LEVEL", NULL};

    md->name = g_strdup("eval-3");
    md->owner = g_strdup("alice");
    md->created = g_strdup("2026-11-30T10:00:00Z");
    md->image = g_strdup("debian-12");
    md->image_digest = g_strdup("sha256:abc");
    md->spec_hash = g_strdup("f00d");
    md->ttl_s = 7200;
    md->net_mode = g_strdup("isolated");
    md->address = g_strdup("10.213.4.2/24");
    md->host_address = g_strdup("10.213.4.1");
    md->bridge = g_strdup("al01234567");
    md->mac = g_strdup("52:54:00:00:00:01");
    md->accel = g_strdup("tcg");
    md->cpus = 2;
    md->memory_mib = 1024;
    md->disk_gib = 8;
    md->secret_names = g_strdupv((char **)secrets);
    md->env_names = g_strdupv((char **)env);
    g_ptr_array_add(md->labels, g_strdup("team=red"));
    g_ptr_array_add(md->labels, g_strdup("run=7"));
    v->state = g_strdup("running");
    v->dir = g_strdup("/var/lib/airlock/sandboxes/eval-3");
    v->console = g_strdup("/var/lib/airlock/sandboxes/eval-3/console.log");
    return v;
}

/* to_json(from_json(to_json(view))) is to_json(view): nothing the CLI prints is lost. */
static void
test_view_round_trip(void)
{
    g_autoptr(VmmSandboxView) v = sample_view();
    g_autoptr(JsonNode) first = vmm_sandbox_view_to_json(v, FALSE);
    g_autofree char *first_text = node_text(first);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) back = vmm_sandbox_view_from_json(first, &err);
    g_autoptr(JsonNode) second = NULL;
    g_autofree char *second_text = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(back);
    second = vmm_sandbox_view_to_json(back, FALSE);
    second_text = node_text(second);
    g_assert_cmpstr(second_text, ==, first_text);
    g_assert_cmpstr(back->md->owner, ==, "alice");
    g_assert_cmpuint(back->md->memory_mib, ==, 1024);
    g_assert_cmpstr(g_ptr_array_index(back->md->labels, 1), ==, "run=7");
    g_assert_null(back->net_status);
}

/* The firewall status airlockd read (root's) is printed as it reported it, not read here. */
static void
test_view_network_status(void)
{
    g_autoptr(VmmSandboxView) v = sample_view();
    g_autoptr(JsonNode) node = vmm_sandbox_view_to_json(v, FALSE);
    JsonObject *net = json_object_get_object_member(json_node_get_object(node), "network");
    g_autoptr(JsonNode) drops = parse("{\"ip_packets\":5,\"l2_frames\":1}");
    g_autoptr(JsonNode) allow = parse("[\"10.213.4.1:8080\"]");
    g_autofree char *text = NULL;
    g_autofree char *again = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSandboxView) back = NULL;
    g_autoptr(JsonNode) out = NULL;

    json_object_set_member(net, "allow", json_node_copy(allow));
    json_object_set_member(net, "drops", json_node_copy(drops));
    json_object_set_string_member(net, "dns_log", "/var/lib/airlock/sandboxes/eval-3/dns.log");
    text = node_text(node);
    back = vmm_sandbox_view_from_json(node, &err);
    g_assert_no_error(err);
    g_assert_nonnull(back->net_status);
    out = vmm_sandbox_view_to_json(back, TRUE);
    again = node_text(out);
    g_assert_cmpstr(again, ==, text);
}

static void
test_view_bad(void)
{
    static const char *const bad[] = {
        "[]",
        "{\"name\":3,\"network\":{},\"labels\":{}}",
        "{\"name\":\"../x\",\"network\":{},\"labels\":{}}",
        "{\"name\":\"a\",\"labels\":{}}",
        "{\"name\":\"a\",\"network\":{},\"labels\":{},\"cpus\":-1}",
        "{\"name\":\"a\",\"network\":{},\"labels\":{},\"cpus\":\"2\"}",
        "{\"name\":\"a\",\"network\":{},\"labels\":{\"k\":1}}",
        "{\"name\":\"a\",\"network\":{},\"labels\":{},\"secrets\":[1]}",
        "{\"name\":\"a\",\"network\":{\"mode\":[]},\"labels\":{}}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(JsonNode) n = parse(bad[i]);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmSandboxView) v = vmm_sandbox_view_from_json(n, &err);
        g_assert_null(v);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_FAILED);
        g_assert_nonnull(strstr(err->message, "airlockd answered with a bad"));
    }
}

static void
test_snapshot_stats_timings(void)
{
    VmmSnapshotInfo s = {.tag = "t1",
                         .created = "2026-11-30T10:00:00Z",
                         .memory_bytes = 1 << 20,
                         .disk_bytes = 5000,
                         .parent = "clean"};
    g_autoptr(JsonNode) sn = vmm_snapshot_info_to_json(&s);
    g_autoptr(VmmSnapshotInfo) sback = vmm_snapshot_info_from_json(sn, NULL);
    g_autoptr(JsonNode) sn2 = vmm_snapshot_info_to_json(sback);
    g_autofree char *st1 = node_text(sn), *st2 = node_text(sn2);
    VmmStats stats = {.name = "eval-3",
                      .state = "running",
                      .cpu_ns = 123456789,
                      .rss_kib = 4096,
                      .block_wr_bytes = 7,
                      .net_rx_bytes = 8,
                      .net_tx_bytes = 9};
    g_autoptr(JsonNode) tn = vmm_stats_to_json(&stats);
    g_autofree VmmStats *tback = vmm_stats_from_json(tn, NULL);
    g_autoptr(JsonNode) tn2 = vmm_stats_to_json(tback);
    g_autofree char *tt1 = node_text(tn), *tt2 = node_text(tn2);
    VmmCreateTimings ct = {.overlay = 0.5, .boot = 12.25, .cloud_init = 3, .total = 20.5};
    VmmCreateTimings ct2 = {0};
    g_autoptr(JsonNode) cn = vmm_create_timings_to_json(&ct);
    VmmResetTimings rt = {.stop = 0.1, .restore = 0.75, .total = 1.5};
    VmmResetTimings rt2 = {0};
    g_autoptr(JsonNode) rn = vmm_reset_timings_to_json(&rt);

    g_assert_cmpstr(st2, ==, st1);
    g_assert_cmpstr(tt2, ==, tt1);
    vmm_create_timings_from_json(cn, &ct2);
    g_assert_cmpfloat(ct2.boot, ==, 12.25);
    g_assert_cmpfloat(ct2.cloud_init, ==, 3);
    g_assert_cmpfloat(ct2.total, ==, 20.5);
    vmm_reset_timings_from_json(rn, &rt2);
    g_assert_cmpfloat(rt2.restore, ==, 0.75);
    g_assert_cmpfloat(rt2.total, ==, 1.5);
    vmm_reset_timings_from_json(NULL, &rt2); /* no timings in the answer: zeros */
    g_assert_cmpfloat(rt2.total, ==, 0);
}

/* ---- errors --------------------------------------------------------------------------- */

/* Every operation error, serialised by airlockd, comes back with its code and message. */
static void
test_error_round_trip(void)
{
    for (int code = 0; code < VMM_ERROR_LAST; code++) {
        g_autoptr(GError) sent =
            g_error_new(VMM_ERROR, code, "sandbox 'x' said %d (do this next)", code);
        g_autoptr(JsonNode) body = vmm_api_error_body(sent);
        gsize len = 0;
        g_autofree char *text = vmm_api_to_data(body, &len);
        g_autoptr(GError) got = vmm_remote_error_from_body(vmm_api_error_status(sent), text, len);

        g_assert_error(got, VMM_ERROR, code);
        g_assert_cmpstr(got->message, ==, sent->message);
        g_assert_cmpint(vmm_error_code_from_string(vmm_error_code_to_string(sent)), ==, code);
    }
    g_assert_cmpint(vmm_error_code_from_string("quota"), ==, VMM_ERROR_LAST);
    g_assert_cmpint(vmm_error_code_from_string(NULL), ==, VMM_ERROR_LAST);
}

static void
test_error_daemon_codes(void)
{
    static const struct {
        VmmApiErrorCode api;
        VmmErrorCode want;
    } cases[] = {
        {VMM_API_ERROR_QUOTA, VMM_ERROR_HOST},
        {VMM_API_ERROR_FORBIDDEN, VMM_ERROR_HOST},
        {VMM_API_ERROR_UNAUTHORIZED, VMM_ERROR_HOST},
        {VMM_API_ERROR_TOO_LARGE, VMM_ERROR_INVALID},
        {VMM_API_ERROR_UNAVAILABLE, VMM_ERROR_CONNECT},
        {VMM_API_ERROR_NO_ROUTE, VMM_ERROR_NOT_FOUND},
        {VMM_API_ERROR_METHOD, VMM_ERROR_FAILED},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) sent = g_error_new(VMM_API_ERROR, cases[i].api, "no (%zu)", i);
        g_autoptr(JsonNode) body = vmm_api_error_body(sent);
        gsize len = 0;
        g_autofree char *text = vmm_api_to_data(body, &len);
        g_autoptr(GError) got = vmm_remote_error_from_body(vmm_api_error_status(sent), text, len);
        g_assert_error(got, VMM_ERROR, (int)cases[i].want);
        g_assert_cmpstr(got->message, ==, sent->message);
    }
}

/* Not an error body: the status decides; a hostile message stays one printable line. */
static void
test_error_odd_bodies(void)
{
    g_autoptr(GError) e1 = vmm_remote_error_from_body(502, "<html>bad gateway", 17);
    g_autoptr(GError) e2 = vmm_remote_error_from_body(404, NULL, 0);
    const char *evil = "{\"error\":{\"code\":\"failed\",\"message\":\"a\\nb\\u001b[31mc\\u0085\"}}";
    g_autoptr(GError) e3 = vmm_remote_error_from_body(500, evil, strlen(evil));
    g_autofree char *long_msg = g_strnfill(100000, 'x');
    g_autofree char *long_body =
        g_strdup_printf("{\"error\":{\"code\":\"invalid\",\"message\":\"%s\"}}", long_msg);
    g_autoptr(GError) e4 = vmm_remote_error_from_body(400, long_body, strlen(long_body));

    g_assert_error(e1, VMM_ERROR, VMM_ERROR_FAILED);
    g_assert_nonnull(strstr(e1->message, "HTTP 502"));
    g_assert_error(e2, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_assert_error(e3, VMM_ERROR, VMM_ERROR_FAILED);
    g_assert_cmpstr(e3->message, ==, "a?b?[31mc?");
    g_assert_error(e4, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_cmpuint(strlen(e4->message), <=, 1024);
}

/* ---- exec ----------------------------------------------------------------------------- */

typedef struct {
    GString *out, *err;
} Captured;

static void
cap_out(const char *data, gsize len, gpointer user_data)
{
    g_string_append_len(((Captured *)user_data)->out, data, len);
}

static void
cap_err(const char *data, gsize len, gpointer user_data)
{
    g_string_append_len(((Captured *)user_data)->err, data, len);
}

/* airlockd's frames (its own vmm_api_exec_frame) reach the callbacks byte for byte. */
static void
test_exec_frames(void)
{
    Captured cap = {g_string_new(NULL), g_string_new(NULL)};
    VmmAgentExec spec = {.on_stdout = cap_out, .on_stderr = cap_err, .user_data = &cap};
    const char bin[] = "hello\0\xff\n";
    gboolean done = FALSE;
    int code = -7;
    gsize n = 0;
    g_autofree char *f1 = vmm_api_exec_frame("stdout", bin, sizeof bin - 1, &n);
    g_autofree char *f2 = NULL;
    g_autofree char *f3 = NULL;
    g_autofree char *f4 = NULL;
    g_autoptr(GError) timeout = g_error_new(VMM_ERROR, VMM_ERROR_TIMEOUT, "killed after 2 s");
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_remote_exec_frame(f1, n - 1, &spec, &done, &code, &err));
    f2 = vmm_api_exec_frame("stderr", "oops\n", 5, &n);
    g_assert_true(vmm_remote_exec_frame(f2, n - 1, &spec, &done, &code, &err));
    g_assert_false(done);
    g_assert_cmpmem(cap.out->str, cap.out->len, bin, sizeof bin - 1);
    g_assert_cmpstr(cap.err->str, ==, "oops\n");
    f3 = vmm_api_exec_end_frame(3, NULL, &n);
    g_assert_true(vmm_remote_exec_frame(f3, n - 1, &spec, &done, &code, &err));
    g_assert_no_error(err);
    g_assert_true(done);
    g_assert_cmpint(code, ==, 3);

    done = FALSE;
    f4 = vmm_api_exec_end_frame(-1, timeout, &n);
    g_assert_false(vmm_remote_exec_frame(f4, n - 1, &spec, &done, &code, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_TIMEOUT);
    g_assert_cmpstr(err->message, ==, "killed after 2 s");
    g_assert_true(done);

    {
        static const char *const bad[] = {"not json",
                                          "[1]",
                                          "{\"stream\":\"stdin\",\"data\":\"\"}",
                                          "{\"stream\":\"stdout\",\"data\":\"%%%\"}",
                                          "{\"exit_code\":\"3\"}",
                                          "{}"};
        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
            g_autoptr(GError) e = NULL;
            done = FALSE;
            g_assert_false(vmm_remote_exec_frame(bad[i], strlen(bad[i]), &spec, &done, &code, &e));
            g_assert_error(e, VMM_ERROR, VMM_ERROR_FAILED);
            g_assert_false(done);
        }
    }
    g_string_free(cap.out, TRUE);
    g_string_free(cap.err, TRUE);
}

/* What the CLI sends for an exec is what airlockd's parser reads. */
static void
test_exec_body(void)
{
    const char *argv[] = {"sh", "-c", "echo \"$X\"", NULL};
    const char *env[] = {"X=a=b", "Y=", NULL};
    g_autoptr(GBytes) input = g_bytes_new("in\0put", 6);
    VmmAgentExec spec = {.argv = argv,
                         .env = env,
                         .workdir = "/srv",
                         .input = input,
                         .timeout_ms = 1500,
                         .with_sandbox_env = TRUE};
    gsize len = 0;
    g_autofree char *body = vmm_remote_exec_body(&spec, FALSE, &len);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmApiExec) e = vmm_api_parse_exec(body, len, FALSE, &err);

    g_assert_no_error(err);
    g_assert_cmpstrv(e->argv, argv);
    g_assert_cmpstrv(e->env, env);
    g_assert_cmpstr(e->workdir, ==, "/srv");
    g_assert_true(g_bytes_equal(e->input, input));
    g_assert_cmpuint(e->timeout_s, ==, 2); /* whole seconds, rounded up */
    g_assert_true(e->sandbox_env);
}

/* ---- create --------------------------------------------------------------------------- */

/* airlockd's parser builds the very spec the CLI built: the same spec hash. */
static void
test_create_body(void)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autofree char *tmp = g_dir_make_tmp("test-remote-XXXXXX", NULL);
    g_auto(GStrv) names = NULL;
    g_autofree char *want = NULL, *got = NULL, *body = NULL;
    g_autoptr(VmmApiCreate) c = NULL;
    g_autoptr(GError) err = NULL;
    VmmCreateRequest req = {.name = "eval-3", .timeout_s = 90, .no_snapshot = TRUE};
    gsize len = 0;

    g_assert_true(vmm_spec_set_image(spec,
                                     "debian-12@sha256:"
                                     "0123456789abcdef0123456789abcdef"
                                     "0123456789abcdef0123456789abcdef",
                                     NULL));
    spec->cpus = 2;
    spec->memory_mib = 768;
    spec->disk_gib = 6;
    spec->net_mode = VMM_NET_MODE_ALLOW;
    spec->ttl_s = 3600;
    spec->max_copy_bytes = 1 << 20;
    g_assert_true(vmm_spec_add_allow(spec, "host:8080", NULL));
    g_assert_true(vmm_spec_add_kv(spec->labels, "team=red", "label", NULL));
    g_assert_true(vmm_spec_add_kv(spec->env, "MODE=a;b", "env", NULL));
    spec->deny = g_strsplit("^sk-[a-z]+$|x;y", "|", -1);
    g_assert_true(vmm_secrets_add(secrets, "API_KEY", "s3cret", NULL));
    req.spec = spec;
    req.secrets = secrets;
    body = vmm_remote_create_body(&req, &len, &err);
    g_assert_no_error(err);
    c = vmm_api_parse_create(body, len, tmp, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(c->name, ==, "eval-3");
    g_assert_cmpuint(c->timeout_s, ==, 90);
    g_assert_true(c->no_snapshot);
    g_assert_cmpstr(vmm_secrets_value(c->secrets, 0), ==, "s3cret");
    g_assert_cmpstrv(c->spec->deny, spec->deny);
    g_assert_cmpuint(c->spec->max_copy_bytes, ==, 1 << 20);
    names = vmm_secrets_names(secrets);
    want = vmm_spec_hash_full(spec, (const char *const *)names);
    got = vmm_spec_hash_full(c->spec, (const char *const *)names);
    g_assert_cmpstr(got, ==, want);
    g_rmdir(tmp);
}

static void
test_create_parts_refused(void)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;
    VmmCreateRequest req = {.name = "eval-3", .spec = spec};
    VmmCloudPart *part = g_new0(VmmCloudPart, 1);
    gsize len = 0;

    part->path = g_strdup("/home/alice/extra.yaml");
    part->text = g_strdup("#cloud-config\n");
    g_ptr_array_add(spec->parts, part);
    g_assert_null(vmm_remote_create_body(&req, &len, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "create this sandbox as root"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/remote/view-round-trip", test_view_round_trip);
    g_test_add_func("/remote/view-network-status", test_view_network_status);
    g_test_add_func("/remote/view-bad", test_view_bad);
    g_test_add_func("/remote/snapshot-stats-timings", test_snapshot_stats_timings);
    g_test_add_func("/remote/error-round-trip", test_error_round_trip);
    g_test_add_func("/remote/error-daemon-codes", test_error_daemon_codes);
    g_test_add_func("/remote/error-odd-bodies", test_error_odd_bodies);
    g_test_add_func("/remote/exec-frames", test_exec_frames);
    g_test_add_func("/remote/exec-body", test_exec_body);
    g_test_add_func("/remote/create-body", test_create_body);
    g_test_add_func("/remote/create-parts-refused", test_create_parts_refused);
    return g_test_run();
}
