/*
 * test-daemon.c: airlockd's pure parts: routing (and the OpenAPI document
 * matching it), error bodies, strict request parsing, guest paths, roles from
 * fake peer credentials, visibility, quotas, the configuration file, tokens.
 */
#include <config.h>

#include "access.h"
#include "api.h"
#include "error.h"
#include "tokens.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ---- routes -------------------------------------------------------------------------- */

static void
test_routes(void)
{
    static const struct {
        const char *method, *path;
        VmmRoute route;
        const char *name, *tag;
    } ok[] = {
        {"GET", "/v1/sandboxes", VMM_ROUTE_SANDBOXES, NULL, NULL},
        {"POST", "/v1/sandboxes", VMM_ROUTE_SANDBOXES, NULL, NULL},
        {"GET", "/v1/sandboxes/eval-3", VMM_ROUTE_SANDBOX, "eval-3", NULL},
        {"DELETE", "/v1/sandboxes/eval-3", VMM_ROUTE_SANDBOX, "eval-3", NULL},
        {"POST", "/v1/sandboxes/a/reset", VMM_ROUTE_RESET, "a", NULL},
        {"DELETE", "/v1/sandboxes/a/snapshots/t1", VMM_ROUTE_SNAPSHOT, "a", "t1"},
        {"GET", "/v1/sandboxes/a/logs/dns", VMM_ROUTE_LOG, "a", "dns"},
        {"PUT", "/v1/sandboxes/a/files", VMM_ROUTE_FILES, "a", NULL},
        {"GET", "/v1/events", VMM_ROUTE_EVENTS, NULL, NULL},
    };
    static const struct {
        const char *method, *path;
        int code;
    } bad[] = {
        {"PUT", "/v1/sandboxes", VMM_API_ERROR_METHOD},
        {"POST", "/v1/sandboxes/a", VMM_API_ERROR_METHOD},
        {"GET", "/v1/sandboxes/..", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/v1/sandboxes/UPPER", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/v1/sandboxes/a/logs/..%2fetc", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/v1/sandboxes/a/logs/passwd", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/v1/sandboxes/a/", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/v2/sandboxes", VMM_API_ERROR_NO_ROUTE},
        {"GET", "/", VMM_API_ERROR_NO_ROUTE},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;
        VmmRouteMatch m = {0};
        g_assert_true(vmm_route_match(ok[i].method, ok[i].path, &m, &err));
        g_assert_no_error(err);
        g_assert_cmpint(m.route, ==, ok[i].route);
        g_assert_cmpstr(m.name, ==, ok[i].name);
        g_assert_cmpstr(m.tag, ==, ok[i].tag);
        vmm_route_match_clear(&m);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        VmmRouteMatch m = {0};
        g_assert_false(vmm_route_match(bad[i].method, bad[i].path, &m, &err));
        g_assert_error(err, VMM_API_ERROR, bad[i].code);
        g_assert_null(m.name);
    }
}

/* Every route is in the OpenAPI document and every operation there is a route. */
static void
test_openapi(void)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "web", "openapi.json", NULL);
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) documented = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GList) paths = NULL;
    JsonObject *root, *po;

    g_assert_true(json_parser_load_from_file(p, path, &err));
    root = json_node_get_object(json_parser_get_root(p));
    g_assert_cmpstr(json_object_get_string_member(root, "openapi"), ==, "3.0.3");
    po = json_object_get_object_member(root, "paths");
    paths = json_object_get_members(po);
    for (GList *l = paths; l; l = l->next) {
        JsonObject *ops = json_object_get_object_member(po, l->data);
        g_autoptr(GList) methods = json_object_get_members(ops);
        for (GList *m = methods; m; m = m->next) {
            g_autofree char *method = g_ascii_strup(m->data, -1);
            g_autofree char *concrete = NULL;
            g_autoptr(GRegex) re = g_regex_new("\\{(name|tag)\\}", 0, 0, NULL);
            g_autoptr(GRegex) kind = g_regex_new("\\{kind\\}", 0, 0, NULL);
            g_autofree char *tmp = NULL;
            VmmRouteMatch match = {0};
            if (g_str_equal(m->data, "parameters"))
                continue;
            tmp = g_regex_replace_literal(re, l->data, -1, 0, "x1", 0, NULL);
            concrete = g_regex_replace_literal(kind, tmp, -1, 0, "console", 0, NULL);
            if (!vmm_route_match(method, concrete, &match, &err))
                g_error("documented %s %s is no route: %s", method, (char *)l->data, err->message);
            vmm_route_match_clear(&match);
            g_hash_table_add(documented, g_strdup_printf("%s %s", method, (char *)l->data));
        }
    }
    for (const char *const *t = vmm_route_templates(); *t; t++)
        if (!g_hash_table_contains(documented, *t))
            g_error("route %s is not in web/openapi.json", *t);
}

/* ---- errors -------------------------------------------------------------------------- */

static void
test_errors(void)
{
    static const struct {
        GQuark domain;
        int code;
        guint status;
        const char *name;
    } rows[] = {
        {0, VMM_ERROR_NOT_FOUND, 404, "not-found"},
        {0, VMM_ERROR_INVALID, 400, "invalid"},
        {0, VMM_ERROR_EXISTS, 409, "exists"},
        {0, VMM_ERROR_TIMEOUT, 504, "timeout"},
        {0, VMM_ERROR_AGENT, 502, "agent"},
        {0, VMM_ERROR_FAILED, 500, "failed"},
        {1, VMM_API_ERROR_QUOTA, 403, "quota"},
        {1, VMM_API_ERROR_UNAUTHORIZED, 401, "unauthorized"},
        {1, VMM_API_ERROR_TOO_LARGE, 413, "too-large"},
        {1, VMM_API_ERROR_FORBIDDEN, 403, "forbidden"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autoptr(GError) e = g_error_new(rows[i].domain ? VMM_API_ERROR : VMM_ERROR, rows[i].code,
                                          "sandbox 'x' not found (airlock list shows what exists)");
        g_autoptr(JsonNode) body = vmm_api_error_body(e);
        g_autofree char *text = vmm_api_to_data(body, NULL);
        g_autofree char *want = g_strdup_printf(
            "{\"error\":{\"code\":\"%s\",\"message\":\"sandbox 'x' not found (airlock list shows "
            "what exists)\"}}",
            rows[i].name);
        g_assert_cmpuint(vmm_api_error_status(e), ==, rows[i].status);
        g_assert_cmpstr(text, ==, want);
    }
}

/* ---- request bodies ------------------------------------------------------------------ */

static VmmApiCreate *
create(const char *json, GError **err)
{
    g_autofree char *tmp = g_dir_make_tmp("airlock-test-daemon-XXXXXX", NULL);
    VmmApiCreate *c = vmm_api_parse_create(json, strlen(json), tmp, err);
    g_rmdir(tmp);
    return c;
}

static void
test_parse_create(void)
{
    static const char *const refused[] = {
        "",
        "[]",
        "{\"name\":\"a\",\"extra\":1}",
        "{\"cpus\":1}",
        "{\"name\":\"Bad Name\"}",
        "{\"name\":\"a\",\"cpus\":\"2\"}",
        "{\"name\":\"a\",\"cpus\":-1}",
        "{\"name\":\"a\",\"memory_mib\":64}",
        "{\"name\":\"a\",\"network\":\"open\"}",
        "{\"name\":\"a\",\"labels\":{\"k\":1}}",
        "{\"name\":\"a\",\"labels\":[\"k=v\"]}",
        "{\"name\":\"a\",\"ttl\":\"soon\"}",
        "{\"name\":\"a\",\"secrets\":{\"bad key\":\"v\"}}",
        "{\"name\":\"a\",\"spec\":\"[secrets]\\nfile=/etc/shadow\\n\"}",
        "{\"name\":\"a\",\"spec\":\"[cloud-init]\\nparts=/root/x.yaml\\n\"}",
        "{\"name\":\"a\",\"spec\":\"[sandbox]\\nbogus=1\\n\"}",
        "{\"name\":\"a\"",
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmApiCreate) c = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(VmmApiCreate) r = create(refused[i], &e);
        if (r)
            g_error("accepted: %s", refused[i]);
        g_assert_error(e, VMM_ERROR, VMM_ERROR_INVALID);
    }
    c = create("{\"name\":\"eval-1\",\"spec\":\"[sandbox]\\ncpus=2\\nmemory=1024\\n\","
               "\"memory_mib\":768,\"labels\":{\"team\":\"red\"},\"env\":{\"A\":\"1\"},"
               "\"secrets\":{\"TOKEN\":\"s3cr3t-value\"},\"ttl\":\"2h\",\"timeout_s\":30}",
               &err);
    g_assert_no_error(err);
    g_assert_cmpstr(c->name, ==, "eval-1");
    g_assert_cmpuint(c->spec->cpus, ==, 2);         /* from the spec text */
    g_assert_cmpuint(c->spec->memory_mib, ==, 768); /* the field overrides it */
    g_assert_cmpint(c->spec->ttl_s, ==, 7200);
    g_assert_cmpuint(c->timeout_s, ==, 30);
    g_assert_cmpstr(g_ptr_array_index(c->spec->labels, 0), ==, "team=red");
    g_assert_cmpuint(vmm_secrets_count(c->secrets), ==, 1);
    g_assert_null(c->spec->secrets_file);
}

static void
test_parse_exec(void)
{
    static const char *const refused[] = {
        "{}",
        "{\"argv\":[]}",
        "{\"argv\":\"ls\"}",
        "{\"argv\":[\"ls\"],\"cmd\":\"x\"}",
        "{\"argv\":[\"ls\"],\"env\":{\"1A\":\"x\"}}",
        "{\"argv\":[\"ls\"],\"stdin\":\"a\",\"stdin_base64\":\"YQ==\"}",
        "{\"argv\":[\"ls\"],\"stdin_base64\":\"not base64!\"}",
        "{\"argv\":[\"ls\"],\"workdir\":\"../etc\"}",
        "{\"argv\":[\"ls\"],\"timeout_s\":1.5}",
        "{\"argv\":[\"ls\"],\"tty\":true}", /* a terminal needs the websocket */
        "{\"argv\":[\"ls\"],\"user\":\"-o\"}",
        "{\"argv\":[\"ls\"],\"user\":\"a b\"}",
        "{\"argv\":[\"ls\"],\"group\":\"\"}",
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmApiExec) e = NULL;
    gsize n;

    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) x = NULL;
        g_autoptr(VmmApiExec) r = vmm_api_parse_exec(refused[i], strlen(refused[i]), FALSE, &x);
        if (r)
            g_error("accepted: %s", refused[i]);
        g_assert_error(x, VMM_ERROR, VMM_ERROR_INVALID);
    }
    {
        /* Over the websocket: a terminal and its size; stdin comes as messages, never a field. */
        g_autoptr(GError) x = NULL;
        const char *ws =
            "{\"argv\":[\"sh\"],\"tty\":true,\"cols\":120,\"rows\":40,\"user\":\"nobody\"}";
        const char *in = "{\"argv\":[\"cat\"],\"stdin\":\"x\"}";
        g_autoptr(VmmApiExec) w = vmm_api_parse_exec(ws, strlen(ws), TRUE, &x);
        g_assert_no_error(x);
        g_assert_true(w->tty);
        g_assert_cmpuint(w->cols, ==, 120);
        g_assert_cmpstr(w->user, ==, "nobody");
        g_clear_pointer(&w, vmm_api_exec_free);
        w = vmm_api_parse_exec(in, strlen(in), TRUE, &x);
        g_assert_null(w);
        g_assert_error(x, VMM_ERROR, VMM_ERROR_INVALID);
    }
    e = vmm_api_parse_exec(
        "{\"argv\":[\"sh\",\"-c\",\"cat\"],\"stdin_base64\":\"aGk=\","
        "\"env\":{\"X\":\"1\"},\"timeout_s\":5,\"sandbox_env\":false}",
        -1 + sizeof("{\"argv\":[\"sh\",\"-c\",\"cat\"],\"stdin_base64\":\"aGk=\","
                    "\"env\":{\"X\":\"1\"},\"timeout_s\":5,\"sandbox_env\":false}"),
        FALSE, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(e->argv[2], ==, "cat");
    g_assert_cmpstr(e->env[0], ==, "X=1");
    g_assert_cmpstr(g_bytes_get_data(e->input, &n), ==, "hi");
    g_assert_false(e->sandbox_env);
}

static void
test_parse_exec_control(void)
{
    static const char *const refused[] = {
        "",
        "[]",
        "{}",
        "{\"eof\":true,\"signal\":\"INT\"}",
        "{\"signal\":\"SEGV\"}",
        "{\"signal\":11}",
        "{\"signal\":\"\"}",
        "{\"resize\":{\"cols\":0,\"rows\":5}}",
        "{\"resize\":{\"cols\":80}}",
        "{\"resize\":{\"cols\":80,\"rows\":5000}}",
        "{\"resize\":[80,24]}",
        "{\"kill\":true}",
    };
    gboolean eof;
    int sig;
    guint cols, rows;

    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) x = NULL;
        if (vmm_api_parse_exec_control(refused[i], strlen(refused[i]), &eof, &sig, &cols, &rows,
                                       &x))
            g_error("accepted: %s", refused[i]);
        g_assert_error(x, VMM_ERROR, VMM_ERROR_INVALID);
    }
    g_assert_true(vmm_api_parse_exec_control("{\"eof\":true}", 12, &eof, &sig, &cols, &rows, NULL));
    g_assert_true(eof);
    g_assert_true(
        vmm_api_parse_exec_control("{\"signal\":\"SIGINT\"}", 19, &eof, &sig, &cols, &rows, NULL));
    g_assert_cmpint(sig, ==, SIGINT);
    g_assert_true(
        vmm_api_parse_exec_control("{\"signal\":15}", 13, &eof, &sig, &cols, &rows, NULL));
    g_assert_cmpint(sig, ==, SIGTERM);
    g_assert_true(vmm_api_parse_exec_control("{\"resize\":{\"cols\":100,\"rows\":30}}", 33, &eof,
                                             &sig, &cols, &rows, NULL));
    g_assert_cmpuint(cols * 1000 + rows, ==, 100030);
}

static void
test_parse_small(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tag = NULL;
    g_autofree char *t2 = NULL;

    g_assert_true(vmm_api_parse_reset(NULL, 0, &tag, &err));
    g_assert_null(tag);
    g_assert_true(vmm_api_parse_reset("{\"tag\":\"before\"}", 16, &tag, &err));
    g_assert_cmpstr(tag, ==, "before");
    g_assert_false(vmm_api_parse_reset("{\"to\":\"x\"}", 10, &t2, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_null(vmm_api_parse_snapshot("{\"tag\":\"../x\"}", 14, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

static void
test_guest_path(void)
{
    static const char *const good[] = {"/tmp/a", "/", "/home/user/file.txt", "/a/.b/c..d"};
    static const char *const bad[] = {"tmp/a", "",      "/tmp/../etc/shadow", "/..",  "/a/./b",
                                      "/a//b", "/a\nb", "/a\x1b[2J",          "/a/.."};

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++)
        g_assert_true(vmm_api_guest_path_valid(good[i], NULL));
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++)
        if (vmm_api_guest_path_valid(bad[i], NULL))
            g_error("accepted guest path '%s'", bad[i]);
    g_assert_false(vmm_api_guest_path_valid(NULL, NULL));
}

static void
test_labels(void)
{
    g_autoptr(GPtrArray) l = g_ptr_array_new();

    g_ptr_array_add(l, "team=red");
    g_ptr_array_add(l, "run=7");
    g_assert_true(vmm_api_labels_match(NULL, l));
    g_assert_true(vmm_api_labels_match("team=red", l));
    g_assert_true(vmm_api_labels_match("team=red,run=7", l));
    g_assert_true(vmm_api_labels_match("run", l));
    g_assert_false(vmm_api_labels_match("team=blue", l));
    g_assert_false(vmm_api_labels_match("team=red,run=8", l));
    g_assert_false(vmm_api_labels_match("te", l));
    g_assert_false(vmm_api_labels_match("team=re", l));
}

static void
test_frames(void)
{
    g_autoptr(GError) e = g_error_new(VMM_ERROR, VMM_ERROR_TIMEOUT, "timed out \"x\"");
    g_autofree char *f = NULL, *end = NULL, *fail = NULL, *sse = NULL;
    gsize n;

    f = vmm_api_exec_frame("stdout", "\xff\n\"", 3, &n);
    g_assert_cmpstr(f, ==, "{\"stream\":\"stdout\",\"data\":\"/woi\"}\n");
    end = vmm_api_exec_end_frame(3, NULL, &n);
    g_assert_cmpstr(end, ==, "{\"exit_code\":3}\n");
    fail = vmm_api_exec_end_frame(-1, e, &n);
    g_assert_cmpstr(fail, ==,
                    "{\"error\":{\"code\":\"timeout\",\"message\":\"timed out \\\"x\\\"\"}}\n");
    sse = vmm_api_sse("audit", "{\"a\":1}\n");
    g_assert_cmpstr(sse, ==, "event: audit\ndata: {\"a\":1} \n\n");
}

/* ---- access -------------------------------------------------------------------------- */

static void
test_roles(void)
{
    const gid_t alice[] = {1000, 900};      /* her own group, airlock */
    const gid_t bob[] = {1001};             /* nothing */
    const gid_t carol[] = {1002, 900, 901}; /* airlock and airlock-admin */
    VmmAccessGroups g = {.user_gid = 900, .admin_gid = 901};
    VmmAccessGroups none = {.user_gid = (gid_t)-1, .admin_gid = (gid_t)-1};
    VmmPeer root = {0, NULL, 0};
    VmmPeer a = {1000, alice, 2}, b = {1001, bob, 1}, c = {1002, carol, 3};

    g_assert_cmpint(vmm_access_role(&root, &g), ==, VMM_ROLE_ADMIN);
    g_assert_cmpint(vmm_access_role(&a, &g), ==, VMM_ROLE_USER);
    g_assert_cmpint(vmm_access_role(&b, &g), ==, VMM_ROLE_NONE);
    g_assert_cmpint(vmm_access_role(&c, &g), ==, VMM_ROLE_ADMIN);
    /* Groups missing on the host grant nothing (a gid of -1 is no match for anyone). */
    g_assert_cmpint(vmm_access_role(&a, &none), ==, VMM_ROLE_NONE);
    g_assert_cmpint(vmm_access_role(&root, &none), ==, VMM_ROLE_ADMIN);

    g_assert_true(vmm_access_sees(VMM_ROLE_ADMIN, "root", "alice"));
    g_assert_true(vmm_access_sees(VMM_ROLE_USER, "alice", "alice"));
    g_assert_false(vmm_access_sees(VMM_ROLE_USER, "alice", "root"));
    g_assert_false(vmm_access_sees(VMM_ROLE_USER, "alice", NULL));
    g_assert_false(vmm_access_sees(VMM_ROLE_NONE, "alice", "alice"));
}

static void
test_quota(void)
{
    VmmQuota q = {.sandboxes = 2, .memory_mib = 1024, .cpus = 2};
    VmmUsage empty = {0}, one = {1, 512, 1}, two = {2, 512, 1};
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_quota_check(&q, "alice", &empty, 1, 512, NULL));
    g_assert_true(vmm_quota_check(&q, "alice", &one, 1, 512, NULL));
    g_assert_false(vmm_quota_check(&q, "alice", &one, 1, 768, &err));
    g_assert_error(err, VMM_API_ERROR, VMM_API_ERROR_QUOTA);
    g_assert_nonnull(strstr(err->message, "1024 MiB"));
    g_clear_error(&err);
    g_assert_false(vmm_quota_check(&q, "alice", &one, 2, 128, &err));
    g_assert_nonnull(strstr(err->message, "vCPUs"));
    g_clear_error(&err);
    g_assert_false(vmm_quota_check(&q, "alice", &two, 1, 128, &err));
    g_assert_cmpstr(err->message, ==,
                    "quota exceeded for 'alice': 2 of 2 sandboxes in use (destroy one first)");
    q.sandboxes = 0; /* no limit */
    g_assert_true(vmm_quota_check(&q, "alice", &two, 1, 128, NULL));
}

static void
test_config(void)
{
    g_autoptr(VmmDaemonConfig) c = vmm_daemon_config_new();
    g_autoptr(GError) err = NULL;

    g_assert_cmpuint(c->quota.sandboxes, ==, VMM_QUOTA_DEFAULT_SANDBOXES);
    g_assert_true(vmm_daemon_config_parse(
        c, "[quota]\nsandboxes=1\nmemory=2048\n[access]\nadmin-group=wheel\n", "f", &err));
    g_assert_no_error(err);
    g_assert_cmpuint(c->quota.sandboxes, ==, 1);
    g_assert_cmpuint(c->quota.memory_mib, ==, 2048);
    g_assert_cmpuint(c->quota.cpus, ==, VMM_QUOTA_DEFAULT_CPUS);
    g_assert_cmpstr(c->admin_group, ==, "wheel");
    g_assert_false(vmm_daemon_config_parse(c, "[quota]\nsandbox=1\n", "f", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(vmm_daemon_config_parse(c, "[quota]\ncpus=-1\n", "f", &err));
    g_clear_error(&err);
    g_assert_false(vmm_daemon_config_parse(c, "[users]\nx=1\n", "f", &err));
    g_clear_error(&err);
    g_assert_false(vmm_daemon_config_parse(c, "[access]\nadmin-group=a b\n", "f", &err));
}

/* ---- tokens -------------------------------------------------------------------------- */

static void
test_tokens(void)
{
    g_autofree char *state = g_dir_make_tmp("airlock-test-tokens-XXXXXX", NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *id = NULL, *token = NULL, *other = NULL, *forged = NULL, *file = NULL;
    g_autofree char *text = NULL;
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", state);
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GPtrArray) old = NULL;
    const VmmToken *t;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    GStatBuf st;

    g_assert_cmpint(chmod(state, 0755), ==, 0);
    token = vmm_tokens_create(state, 1234, "alice", 3600, "ci", &id, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(token, "airlock_"));
    other = vmm_tokens_create(state, 0, "root", 0, NULL, NULL, &err);
    g_assert_no_error(err);
    file = vmm_tokens_path(state);
    g_assert_cmpint(g_lstat(file, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    /* Only the hash is kept: the secret is nowhere in the file. */
    g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
    g_assert_null(strstr(text, token + strlen("airlock_") + 9));
    list = vmm_tokens_load(state, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(list->len, ==, 2);

    t = vmm_tokens_match(list, token, now, &err);
    g_assert_no_error(err);
    g_assert_cmpint(t->uid, ==, 1234);
    g_assert_null(vmm_tokens_match(list, token, now + 7200, &err)); /* expired */
    g_assert_error(err, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED);
    g_assert_nonnull(strstr(err->message, "expired"));
    g_clear_error(&err);
    forged = g_strdup(token);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == '0' ? '1' : '0';
    g_assert_null(vmm_tokens_match(list, forged, now, &err)); /* right id, wrong secret */
    g_assert_error(err, VMM_API_ERROR, VMM_API_ERROR_UNAUTHORIZED);
    g_assert_null(strstr(err->message, forged + 17)); /* never echoed */
    g_clear_error(&err);
    g_assert_null(vmm_tokens_match(list, "Bearer xyz", now, &err));
    g_clear_error(&err);
    g_assert_nonnull(vmm_tokens_match(list, other, now + 10 * 365 * 86400, NULL));

    g_assert_true(vmm_tokens_revoke(state, id, &err));
    g_assert_false(vmm_tokens_revoke(state, id, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_NOT_FOUND);
    g_clear_error(&err);
    old = g_steal_pointer(&list);
    list = vmm_tokens_load(state, &err);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_null(vmm_tokens_match(list, token, now, NULL)); /* revoked */

    /* A link planted where the file is is refused, never followed. */
    g_assert_cmpint(g_unlink(file), ==, 0);
    g_assert_cmpint(symlink("/nonexistent-airlock-target", file), ==, 0);
    g_assert_null(vmm_tokens_create(state, 1, "x", 0, NULL, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_null(vmm_tokens_load(state, &err));
    g_clear_error(&err);
    g_assert_false(g_file_test("/nonexistent-airlock-target", G_FILE_TEST_EXISTS));

    g_assert_null(vmm_tokens_parse("[{\"id\":\"zz\"}]", 14, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_cmpint(system(cmd), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/daemon/routes", test_routes);
    g_test_add_func("/daemon/openapi", test_openapi);
    g_test_add_func("/daemon/errors", test_errors);
    g_test_add_func("/daemon/parse-create", test_parse_create);
    g_test_add_func("/daemon/parse-exec", test_parse_exec);
    g_test_add_func("/daemon/parse-exec-control", test_parse_exec_control);
    g_test_add_func("/daemon/parse-small", test_parse_small);
    g_test_add_func("/daemon/guest-path", test_guest_path);
    g_test_add_func("/daemon/labels", test_labels);
    g_test_add_func("/daemon/frames", test_frames);
    g_test_add_func("/daemon/roles", test_roles);
    g_test_add_func("/daemon/quota", test_quota);
    g_test_add_func("/daemon/config", test_config);
    g_test_add_func("/daemon/tokens", test_tokens);
    return g_test_run();
}
