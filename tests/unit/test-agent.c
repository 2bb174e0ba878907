/* test-agent: guest agent JSON, reply parsing and the streamed-exec wrapper script. */
#include <config.h>

#include "agent-json.h"
#include "error.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static JsonObject *
parse_object(const char *text, JsonParser **keep)
{
    JsonParser *p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, text, -1, NULL));
    *keep = p;
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)));
    return json_node_get_object(json_parser_get_root(p));
}

static void
test_command(void)
{
    g_autofree char *ping = vmm_agent_json_command("guest-ping", NULL);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o;

    g_assert_cmpstr(ping, ==, "{\"execute\":\"guest-ping\"}");
    {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *cmd = NULL;
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, "/tmp/a\"b\\c\n");
        json_builder_end_object(b);
        cmd = vmm_agent_json_command("guest-file-open", json_builder_get_root(b));
        o = parse_object(cmd, &p);
        g_assert_cmpstr(json_object_get_string_member(o, "execute"), ==, "guest-file-open");
        g_assert_cmpstr(
            json_object_get_string_member(json_object_get_object_member(o, "arguments"), "path"),
            ==, "/tmp/a\"b\\c\n");
    }
}

static void
test_exec_json(void)
{
    const char *args[] = {"-c", "echo \"$1\"", "x", "'; rm -rf / #\"}", NULL};
    const char *env[] = {"A=1", NULL};
    g_autoptr(GBytes) input = g_bytes_new_static("in\0put", 6);
    g_autofree char *cmd = vmm_agent_json_exec("/bin/sh", args, env, input, TRUE);
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o = parse_object(cmd, &p), *a;
    JsonArray *arr;
    gsize len = 0;
    g_autofree guchar *in = NULL;

    g_assert_cmpstr(json_object_get_string_member(o, "execute"), ==, "guest-exec");
    a = json_object_get_object_member(o, "arguments");
    g_assert_cmpstr(json_object_get_string_member(a, "path"), ==, "/bin/sh");
    arr = json_object_get_array_member(a, "arg");
    g_assert_cmpuint(json_array_get_length(arr), ==, 4);
    g_assert_cmpstr(json_array_get_string_element(arr, 3), ==, "'; rm -rf / #\"}");
    g_assert_cmpstr(json_array_get_string_element(json_object_get_array_member(a, "env"), 0), ==,
                    "A=1");
    g_assert_true(json_object_get_boolean_member(a, "capture-output"));
    in = g_base64_decode(json_object_get_string_member(a, "input-data"), &len);
    g_assert_cmpmem(in, len, "in\0put", 6);

    /* No env member at all when none is given: the agent's environment is kept. */
    {
        g_autofree char *c2 = vmm_agent_json_exec("/bin/true", NULL, NULL, NULL, FALSE);
        g_autoptr(JsonParser) p2 = NULL;
        JsonObject *a2 = json_object_get_object_member(parse_object(c2, &p2), "arguments");
        g_assert_false(json_object_has_member(a2, "env"));
        g_assert_false(json_object_has_member(a2, "input-data"));
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(a2, "arg")), ==, 0);
    }
}

static void
test_reply(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = vmm_agent_json_return("{\"return\": {\"pid\": 1234}}", &err);
    gint64 pid = 0;

    g_assert_no_error(err);
    g_assert_true(vmm_agent_json_get_int(ret, "pid", &pid, &err));
    g_assert_cmpint(pid, ==, 1234);
    g_assert_false(vmm_agent_json_get_int(ret, "handle", &pid, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_clear_error(&err);

    g_assert_null(vmm_agent_json_return("{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                        "\"no such file\"}}",
                                        &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_assert_nonnull(strstr(err->message, "no such file"));
    g_clear_error(&err);
    /* The guest writes the desc: it is escaped, never a second line or a terminal sequence. */
    g_assert_null(vmm_agent_json_return("{\"error\": {\"desc\": \"x\\u001b[2J\\nairlock: "
                                        "done\\u009b\\u0007\"}}",
                                        &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_assert_cmpstr(err->message, ==,
                    "guest agent error: x\\x1b[2J\\nairlock: done\\xc2\\x9b\\x07");
    g_clear_error(&err);
    g_assert_null(vmm_agent_json_return("{\"x\": \"\x1b[2J\n\"", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    for (const char *p = err->message; *p; p++)
        g_assert_true((guchar)*p >= 0x20 && *p != 0x7f);
    g_clear_error(&err);
    g_assert_null(vmm_agent_json_return("not json", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_clear_error(&err);
    g_assert_null(vmm_agent_json_return("[1]", &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    g_clear_error(&err);
    g_assert_null(vmm_agent_json_return(NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
}

static void
test_exec_status(void)
{
    struct {
        const char *json;
        gboolean exited;
        int code;
        const char *out, *err;
    } cases[] = {
        {"{\"exited\": false}", FALSE, 0, NULL, NULL},
        {"{\"exited\": true, \"exitcode\": 7}", TRUE, 7, "", ""},
        {"{\"exited\": true, \"signal\": 9}", TRUE, 137, "", ""},
        /* A hostile guest's numbers stay in range (no signed overflow). */
        {"{\"exited\": true, \"signal\": 2147483647}", TRUE, 255, "", ""},
        {"{\"exited\": true, \"exitcode\": -9223372036854775807}", TRUE, 255, "", ""},
        {"{\"exited\": true, \"exitcode\": 0, \"out-data\": \"aGVsbG8K\", \"err-data\": \"ZQ==\"}",
         TRUE, 0, "hello\n", "e"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *reply = g_strdup_printf("{\"return\": %s}", cases[i].json);
        g_autoptr(JsonNode) ret = vmm_agent_json_return(reply, &err);
        VmmAgentExecStatus st;

        g_assert_no_error(err);
        g_assert_true(vmm_agent_json_exec_status(ret, &st, &err));
        g_assert_cmpint(st.exited, ==, cases[i].exited);
        g_assert_cmpint(st.exit_code, ==, cases[i].code);
        if (cases[i].out) {
            g_assert_cmpmem(g_bytes_get_data(st.out, NULL), g_bytes_get_size(st.out), cases[i].out,
                            strlen(cases[i].out));
            g_assert_cmpmem(g_bytes_get_data(st.err, NULL), g_bytes_get_size(st.err), cases[i].err,
                            strlen(cases[i].err));
        }
        vmm_agent_exec_status_clear(&st);
    }
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ret = vmm_agent_json_return("{\"return\": {}}", NULL);
        VmmAgentExecStatus st;
        g_assert_false(vmm_agent_json_exec_status(ret, &st, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    }
}

static void
test_file_read(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r1 = vmm_agent_json_return(
        "{\"return\": {\"count\": 3, \"buf-b64\": \"AAEC\", \"eof\": true}}", NULL);
    g_autoptr(JsonNode) r2 =
        vmm_agent_json_return("{\"return\": {\"count\": 0, \"eof\": true}}", NULL);
    g_autoptr(JsonNode) r3 =
        vmm_agent_json_return("{\"return\": {\"count\": 5, \"buf-b64\": \"AAEC\"}}", NULL);
    g_autoptr(GBytes) b1 = NULL, b2 = NULL, b3 = NULL;
    gboolean eof = FALSE;

    b1 = vmm_agent_json_file_read(r1, &eof, &err);
    g_assert_no_error(err);
    g_assert_true(eof);
    g_assert_cmpmem(g_bytes_get_data(b1, NULL), g_bytes_get_size(b1), "\0\1\2", 3);
    eof = FALSE;
    b2 = vmm_agent_json_file_read(r2, &eof, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(g_bytes_get_size(b2), ==, 0);
    g_assert_true(eof);
    b3 = vmm_agent_json_file_read(r3, &eof, &err);
    g_assert_null(b3);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
}

static void
test_env_valid(void)
{
    const char *ok[] = {"A=1", "_x=", "PATH=/bin:/usr/bin", "A_1=a=b", "K=' $(x)"};
    const char *bad[] = {"", "=1", "1A=x", "A", "A-B=1", "A B=1", "$(x)=1", "é=1"};

    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++)
        g_assert_true(vmm_agent_env_valid(ok[i], NULL));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_agent_env_valid(bad[i], &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    g_assert_false(vmm_agent_env_valid(NULL, NULL));
}

/* Runs @argv like the agent would (no stdin) and returns its exit status; *@pid gets its pid. */
static int
spawn_wait(char **argv, char **err_text, GPid *pid_out)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) errs = g_string_new(NULL);
    GPid pid = 0;
    int errfd = -1, status = 0;
    char buf[4096];
    gssize n;

    /* Not reaped behind our back: the pid stays the child's until waitpid (GSubprocess could
     * lose it to its reaper thread when the child is quick, as under valgrind). */
    g_assert_true(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                           &pid, NULL, NULL, &errfd, &err));
    g_assert_no_error(err);
    if (pid_out)
        *pid_out = pid;
    while ((n = read(errfd, buf, sizeof buf)) > 0)
        g_string_append_len(errs, buf, n);
    close(errfd);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_spawn_close_pid(pid);
    if (err_text)
        *err_text = g_strndup(errs->str, errs->len);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static char *
read_file(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

static void
test_stream_script(void)
{
    g_autofree char *tmp = g_dir_make_tmp("airlock-agent-XXXXXX", NULL);
    g_autofree char *dir = g_build_filename(tmp, "exec", NULL);
    g_autofree char *wrapper = g_build_filename(tmp, "with-env", NULL);
    g_autofree char *pwned = g_build_filename(tmp, "pwned", NULL);
    g_autofree char *inject = g_strdup_printf("$(touch %s)", pwned);
    /* The command prints its arguments, its env, cwd, and pid / pgid. */
    const char *argv[] = {"/bin/sh",
                          "-c",
                          "printf '[%s]' \"$@\"; echo; echo \"A=$A B=$B W=$WRAPPED\"; pwd;"
                          " echo \"$$ $(cut -d' ' -f5 /proc/$$/stat)\"; echo oops >&2; exit 7",
                          "sh",
                          "a b",
                          "'q'",
                          inject,
                          "-x",
                          NULL};
    const char *env[] = {"A=from user", "B=x'y", NULL};
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) cmd = NULL;
    g_autofree char *out = NULL, *errtext = NULL, *line = NULL;
    g_auto(GStrv) lines = NULL;
    GPid pid = 0;
    struct stat sb;

    /* A stand-in for VMM_SEED_WITH_ENV: sets variables, then execs its arguments. */
    g_assert_true(g_file_set_contents(
        wrapper, "#!/bin/sh\nexport A='from wrapper' WRAPPED=yes\nexec \"$@\"\n", -1, NULL));
    g_assert_cmpint(g_chmod(wrapper, 0755), ==, 0);

    cmd = vmm_agent_stream_argv(dir, "id1", argv, env, tmp, wrapper, FALSE, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(cmd[0], ==, "/bin/sh");
    g_assert_cmpint(spawn_wait(cmd, &errtext, &pid), ==, 7);
    g_assert_cmpstr(errtext, ==, "");
    g_assert_cmpint(g_stat(dir, &sb), ==, 0);
    g_assert_cmpint(sb.st_mode & 0777, ==, 0700);
    out = read_file(dir, "id1.out");
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 5);
    line = g_strdup_printf("[a b]['q'][%s][-x]", inject);
    g_assert_cmpstr(lines[0], ==, line);
    g_assert_false(g_file_test(pwned, G_FILE_TEST_EXISTS));
    /* The wrapper ran, and the user's --env wins over what it exports. */
    g_assert_cmpstr(lines[1], ==, "A=from user B=x'y W=yes");
    g_assert_cmpstr(lines[2], ==, tmp);
    /* The command is the leader of its own group, with the pid the agent reports. */
    {
        g_autofree char *want = g_strdup_printf("%d %d", pid, pid);
        g_assert_cmpstr(lines[3], ==, want);
    }
    g_free(out);
    out = read_file(dir, "id1.err");
    g_assert_cmpstr(out, ==, "oops\n");
    {
        g_autofree char *p = g_build_filename(dir, "id1.out", NULL);
        g_assert_cmpint(g_stat(p, &sb), ==, 0);
        g_assert_cmpint(sb.st_mode & 0777, ==, 0600);
    }

    /* No wrapper in the guest: run directly. No env: no extra shell. */
    {
        const char *argv2[] = {"/bin/sh", "-c", "echo \"W=$WRAPPED\"", NULL};
        g_auto(GStrv) cmd2 = vmm_agent_stream_argv(dir, "id2", argv2, NULL, NULL,
                                                   "/nonexistent/with-env", FALSE, &err);
        g_autofree char *out2 = NULL;
        g_assert_no_error(err);
        g_assert_cmpint(spawn_wait(cmd2, NULL, NULL), ==, 0);
        out2 = read_file(dir, "id2.out");
        g_assert_cmpstr(out2, ==, "W=\n");
    }

    /* Files opened beforehand (as the agent does): their names are gone, the data is not. */
    {
        const char *argv6[] = {"/bin/sh", "-c", "echo streamed; echo e >&2", NULL};
        g_auto(GStrv) cmd6 = vmm_agent_stream_argv(dir, "id6", argv6, NULL, NULL, NULL, TRUE, &err);
        g_autofree char *p_out = g_build_filename(dir, "id6.out", NULL);
        g_autofree char *p_err = g_build_filename(dir, "id6.err", NULL);
        FILE *f_out = fopen(p_out, "a+"), *f_err = fopen(p_err, "a+");
        char buf[64] = "";

        g_assert_nonnull(f_out);
        g_assert_nonnull(f_err);
        g_assert_cmpint(spawn_wait(cmd6, NULL, NULL), ==, 0);
        g_assert_false(g_file_test(p_out, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test(p_err, G_FILE_TEST_EXISTS));
        g_assert_cmpuint(fread(buf, 1, sizeof(buf) - 1, f_out), ==, 9);
        g_assert_cmpstr(buf, ==, "streamed\n");
        g_assert_cmpuint(fread(buf, 1, sizeof(buf) - 1, f_err), ==, 2);
        fclose(f_out);
        fclose(f_err);
    }

    /* A missing workdir: 126 and the shell's message in the command's stderr. */
    {
        const char *argv3[] = {"true", NULL};
        g_auto(GStrv) cmd3 =
            vmm_agent_stream_argv(dir, "id3", argv3, NULL, "/nonexistent/dir", NULL, FALSE, &err);
        g_autofree char *err3 = NULL;
        g_assert_cmpint(spawn_wait(cmd3, NULL, NULL), ==, 126);
        err3 = read_file(dir, "id3.err");
        g_assert_nonnull(strstr(err3, "/nonexistent/dir"));
    }

    /* Setup failure: 125 and a message on the wrapper's own stderr. */
    {
        const char *argv4[] = {"true", NULL};
        g_auto(GStrv) cmd4 = vmm_agent_stream_argv("/proc/airlock-nope", "id4", argv4, NULL, NULL,
                                                   NULL, FALSE, &err);
        g_autofree char *err4 = NULL;
        g_assert_cmpint(spawn_wait(cmd4, &err4, NULL), ==, 125);
        g_assert_cmpstr(err4, !=, "");
    }

    /* Bad input never reaches the guest. */
    {
        const char *argv5[] = {"true", NULL};
        const char *bad_env[] = {"A B=1", NULL};
        g_assert_null(vmm_agent_stream_argv(dir, "x", argv5, bad_env, NULL, NULL, FALSE, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
        g_assert_null(vmm_agent_stream_argv(dir, "x", argv5, NULL, "relative", NULL, FALSE, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
        g_assert_null(vmm_agent_stream_argv(dir, "x", (const char *const[]){NULL}, NULL, NULL, NULL,
                                            FALSE, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_clear_error(&err);
    }

    {
        g_autofree char *cleanup = g_strdup_printf("rm -rf '%s'", tmp);
        g_assert_cmpint(system(cleanup), ==, 0);
    }
}

/* The kill script takes down the whole group: the command and what it started. */
static void
test_kill_group(void)
{
    g_autofree char *tmp = g_dir_make_tmp("airlock-agent-XXXXXX", NULL);
    const char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) cmd = vmm_agent_stream_argv(tmp, "k", argv, NULL, NULL, NULL, FALSE, &err);
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *outp = g_build_filename(tmp, "k.out", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) kill_cmd = NULL;
    GPid pid, child = 0;

    g_assert_no_error(err);
    proc = g_subprocess_newv((const char *const *)cmd, G_SUBPROCESS_FLAGS_NONE, &err);
    g_assert_no_error(err);
    pid = atoi(g_subprocess_get_identifier(proc));
    for (int i = 0; i < 200 && !child; i++) {
        g_usleep(10000);
        if (g_file_get_contents(outp, &text, NULL, NULL))
            child = atoi(text);
        g_clear_pointer(&text, g_free);
    }
    g_assert_cmpint(child, >, 0);

    kill_cmd = vmm_agent_kill_argv(pid);
    g_assert_cmpint(spawn_wait(kill_cmd, NULL, NULL), ==, 0);
    g_assert_true(g_subprocess_wait(proc, NULL, &err));
    g_assert_true(g_subprocess_get_if_signaled(proc));
    g_assert_cmpint(g_subprocess_get_term_sig(proc), ==, SIGKILL);
    /* The background sleep is gone too (or a zombie waiting for its new parent). */
    {
        gboolean gone = FALSE;
        for (int i = 0; i < 200 && !gone; i++) {
            g_autofree char *statp = g_strdup_printf("/proc/%d/stat", child);
            g_autofree char *st = NULL;
            if (!g_file_get_contents(statp, &st, NULL, NULL) || strstr(st, ") Z "))
                gone = TRUE;
            else
                g_usleep(10000);
        }
        g_assert_true(gone);
    }
    {
        g_autofree char *cleanup = g_strdup_printf("rm -rf '%s'", tmp);
        g_assert_cmpint(system(cleanup), ==, 0);
    }
}

/* Only exactly one valid JSON object reaches json-glib (it leaks on some error paths). */
static void
test_reply_strict(void)
{
    const char *good[] = {"{\"return\": {}}",
                          " {\"return\":[1,-2.5e3,true,null,\"\\u00e9\\n\\ud83d\\ude00\"]}\n",
                          "{\"return\": {\"a\": {\"b\": [[]]}}}"};
    const char *bad[] = {"{\"return\": {}}{\"return\": {}}",
                         "0{}",
                         "{\"return\": 01}",
                         "{\"return\": {}} x",
                         "{\"return\": \"a\x01b\"}",
                         "{\"return\": [1,]}",
                         "{\"return\": tru}",
                         "{\"return\": \"\\x\"}",
                         "{\"return\": {}",
                         "{\"return\": \"\\udddd\"}",
                         "{\"return\": \"\\ud800x\"}",
                         "{\"return\": \"\\u0000\"}"};
    g_autoptr(GString) deep = g_string_new("{\"return\":");

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) n = vmm_agent_json_return(good[i], &err);
        g_assert_no_error(err);
        g_assert_nonnull(n);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) n = vmm_agent_json_return(bad[i], &err);
        g_assert_null(n);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    }
    for (int i = 0; i < 100; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 100; i++)
        g_string_append_c(deep, ']');
    g_string_append_c(deep, '}');
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) n = vmm_agent_json_return(deep->str, &err);
        g_assert_null(n); /* nested deeper than a reply ever is */
        g_assert_error(err, VMM_ERROR, VMM_ERROR_AGENT);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent/command", test_command);
    g_test_add_func("/agent/exec-json", test_exec_json);
    g_test_add_func("/agent/reply", test_reply);
    g_test_add_func("/agent/reply-strict", test_reply_strict);
    g_test_add_func("/agent/exec-status", test_exec_status);
    g_test_add_func("/agent/file-read", test_file_read);
    g_test_add_func("/agent/env-valid", test_env_valid);
    g_test_add_func("/agent/stream-script", test_stream_script);
    g_test_add_func("/agent/kill-group", test_kill_group);
    return g_test_run();
}
