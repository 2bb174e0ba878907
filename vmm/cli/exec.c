/* exec.c: `airlock exec` and `airlock cp`: commands and files through the guest agent. */
#include <config.h>

#include "agent-json.h"
#include "agent.h"
#include "cli.h"
#include "error.h"
#include "names.h"
#include "spec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest --timeout: the agent API counts milliseconds in a guint. */
#define MAX_TIMEOUT_S (30.0 * 24 * 3600)

/* Exit status for an agent-side failure: 125 for exec and cp, else the usual mapping. */
static int
agent_fail(const GError *err)
{
    if (err && err->domain == VMM_ERROR && err->code == VMM_ERROR_AGENT) {
        fprintf(stderr, "airlock: %s\n", err->message);
        return AIRLOCK_EXIT_EXEC_AGENT;
    }
    return vmm_cli_fail(err);
}

/* Exit status for a failed exec or cp: 124 timeout, 125 agent, 2 bad input, else the usual. */
static int
op_fail(const char *cmd, const GError *err)
{
    if (err->domain == VMM_ERROR && err->code == VMM_ERROR_TIMEOUT) {
        fprintf(stderr, "airlock: %s\n", err->message);
        return AIRLOCK_EXIT_EXEC_TIMEOUT;
    }
    if (err->domain == VMM_ERROR && err->code == VMM_ERROR_INVALID)
        return vmm_cli_usage(cmd, "%s", err->message);
    return agent_fail(err);
}

/* --- exec ------------------------------------------------------------------------------ */

typedef struct {
    gboolean broken[3]; /* per fd: the reader went away (EPIPE); drop the rest */
} Sink;

static void
sink_write(Sink *sink, int fd, const char *data, gsize len)
{
    while (len > 0 && !sink->broken[fd]) {
        gssize n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sink->broken[fd] = TRUE;
            break;
        }
        data += n;
        len -= n;
    }
}

static void
on_stdout(const char *data, gsize len, gpointer user_data)
{
    sink_write(user_data, STDOUT_FILENO, data, len);
}

static void
on_stderr(const char *data, gsize len, gpointer user_data)
{
    sink_write(user_data, STDERR_FILENO, data, len);
}

static gboolean
parse_timeout(const char *text, guint *timeout_ms)
{
    char *end = NULL;
    double s;

    if (!text)
        return TRUE;
    s = g_ascii_strtod(text, &end);
    if (end == text || *end || !(s > 0) || s > MAX_TIMEOUT_S)
        return FALSE;
    *timeout_ms = (guint)(s * 1000 + 0.5);
    if (*timeout_ms == 0)
        *timeout_ms = 1;
    return TRUE;
}

int
vmm_cmd_exec(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *timeout = NULL, *workdir = NULL;
    g_auto(GStrv) env = NULL;
    GOptionEntry entries[] = {
        {"timeout", 't', 0, G_OPTION_ARG_STRING, &timeout,
         "Kill the command's process group after S seconds (exit 124)", "S"},
        {"env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env,
         "Set an environment variable (repeatable)", "K=V"},
        {"workdir", 'w', 0, G_OPTION_ARG_FILENAME, &workdir,
         "Run in this absolute directory of the guest", "DIR"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME -- CMD [ARG…] - run a command in a sandbox");
    g_autofree char **opt_argv = NULL;
    char **cmd_argv = NULL;
    int opt_argc = argc, dashdash = -1, rc, exit_code = AIRLOCK_EXIT_EXEC_AGENT;
    g_autoptr(GError) err = NULL;
    Sink sink = {{FALSE}};
    VmmAgentExec spec = {0};
    guint timeout_ms = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "Runs CMD in the sandbox through the guest agent (no network needed), with the\n"
             "sandbox's environment and test secrets. Its stdout and stderr stream to\n"
             "airlock's as it runs; airlock exits with its exit status (128+N for signal N).");
    g_option_context_set_description(
        ctx, "Options go before '--'; without '--', CMD starts after NAME.\n\n"
             "Exit status: CMD's own; 124 when --timeout killed it; 125 when the guest\n"
             "agent failed; 2 for a usage error or an unknown sandbox; 1 when the sandbox\n"
             "is not running.");

    /* Everything after the first "--" is the command, never options. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dashdash = i;
            break;
        }
    if (dashdash < 0)
        g_option_context_set_strict_posix(ctx, TRUE);
    else
        opt_argc = dashdash;
    opt_argv = g_new0(char *, opt_argc + 1);
    memcpy(opt_argv, argv, sizeof(char *) * opt_argc);
    if (!vmm_cli_parse(ctx, &opt_argc, &opt_argv, &rc)) /* edits opt_argv in place */
        return rc;
    if (dashdash >= 0) {
        if (opt_argc < 2)
            return vmm_cli_usage(argv[0], "expects a sandbox NAME before '--'");
        if (opt_argc > 2)
            return vmm_cli_usage(argv[0], "expects one NAME before '--', got also '%s'",
                                 opt_argv[2]);
        cmd_argv = argv + dashdash + 1;
    } else {
        if (opt_argc < 2)
            return vmm_cli_usage(argv[0], "expects NAME -- CMD [ARG…]");
        if (opt_argc > 2 && opt_argv[2][0] == '-')
            return vmm_cli_usage(argv[0], "options go before NAME, or put the command after '--'");
        cmd_argv = opt_argv + 2;
    }
    if (!cmd_argv[0] || !*cmd_argv[0])
        return vmm_cli_usage(argv[0], "expects a command after NAME (NAME -- CMD [ARG…])");
    if (!parse_timeout(timeout, &timeout_ms))
        return vmm_cli_usage(argv[0], "--timeout expects seconds > 0, got '%s'", timeout);
    for (char **e = env; e && *e; e++)
        if (!vmm_agent_env_valid(*e, &err))
            return vmm_cli_usage(argv[0], "--env: %s", err->message);
    if (workdir && workdir[0] != '/')
        return vmm_cli_usage(argv[0], "--workdir expects an absolute guest path, got '%s'",
                             workdir);

    if (!vmm_name_validate(opt_argv[1], "sandbox name", &err) || !vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);

    /* A closed stdout (| head) must not kill airlock before the guest side is cleaned up. */
    signal(SIGPIPE, SIG_IGN);
    spec.argv = (const char *const *)cmd_argv;
    spec.env = (const char *const *)env;
    spec.workdir = workdir;
    spec.with_sandbox_env = TRUE;
    spec.timeout_ms = timeout_ms;
    spec.on_stdout = on_stdout;
    spec.on_stderr = on_stderr;
    spec.user_data = &sink;
    if (!vmm_ops_exec(cli->ops, opt_argv[1], &spec, &exit_code, &err))
        return op_fail(argv[0], err);
    return exit_code & 0xff;
}

/* --- cp -------------------------------------------------------------------------------- */

/* Splits "NAME:PATH" (NAME without '/') into its parts; FALSE for a local path. */
static gboolean
split_remote(const char *arg, char **name, const char **path)
{
    const char *colon = strchr(arg, ':');

    if (!colon || colon == arg || memchr(arg, '/', colon - arg))
        return FALSE;
    *name = g_strndup(arg, colon - arg);
    *path = colon + 1;
    return TRUE;
}

int
vmm_cmd_cp(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *max_size = NULL, *timeout = NULL;
    gboolean deref = FALSE;
    GOptionEntry entries[] = {
        {"dereference", 'L', 0, G_OPTION_ARG_NONE, &deref,
         "Copy in: follow SRC when it is a symbolic link (refused otherwise)", NULL},
        {"max-size", 0, 0, G_OPTION_ARG_STRING, &max_size,
         "Copy out: refuse a guest file bigger than SIZE (default 1G)", "SIZE"},
        {"timeout", 't', 0, G_OPTION_ARG_STRING, &timeout,
         "Copy out: give up after S seconds (default 600)", "S"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SRC DST - copy a file into or out of a sandbox");
    g_autofree char *src_name = NULL, *dst_name = NULL, *guest_path = NULL, *local = NULL;
    const char *src_path = NULL, *dst_path = NULL;
    gboolean src_remote, dst_remote, ok;
    g_autoptr(GError) err = NULL;
    VmmAgentCopyOpts opts = {0};
    const char *name;
    struct stat sb;
    gint64 start;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "One side is NAME:PATH with PATH absolute in the guest, the other a local file:\n"
             "  airlock cp ./data.csv eval-3:/srv/data.csv\n"
             "  airlock cp eval-3:/srv/report.json ./report.json\n"
             "Goes through the guest agent (no network needed). Into the guest the permission\n"
             "bits are kept; out of it the file gets 0666 less your umask, whatever its mode\n"
             "in the guest, and at most --max-size bytes. The destination appears atomically\n"
             "(written to a temporary name, then renamed). A guest PATH ending in '/' or a\n"
             "local directory gets the source's file name.");
    g_option_context_set_description(
        ctx, "Exit status: 0 on success; 124 when --timeout ran out; 125 when the guest\n"
             "agent failed; 2 for a usage error or an unknown sandbox; 1 for other failures\n"
             "(a guest file over --max-size among them).");
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 3)
        return vmm_cli_usage(argv[0], "expects SRC and DST, one of them NAME:PATH");
    if (max_size && !vmm_spec_parse_size(max_size, &opts.max_bytes, &err))
        return vmm_cli_usage(argv[0], "--max-size: %s", err->message);
    if (!parse_timeout(timeout, &opts.timeout_ms))
        return vmm_cli_usage(argv[0], "--timeout expects seconds > 0, got '%s'", timeout);
    opts.dereference = deref;
    src_remote = split_remote(argv[1], &src_name, &src_path);
    dst_remote = split_remote(argv[2], &dst_name, &dst_path);
    if (src_remote == dst_remote)
        return vmm_cli_usage(argv[0], "exactly one of SRC and DST must be NAME:PATH (got %s)",
                             src_remote ? "two" : "none");
    name = src_remote ? src_name : dst_name;
    if (!vmm_name_validate(name, "sandbox name", &err))
        return vmm_cli_usage(argv[0], "%s", err->message);
    {
        const char *p = src_remote ? src_path : dst_path;
        if (p[0] != '/')
            return vmm_cli_usage(argv[0], "the guest path '%s' must be absolute", p);
        guest_path = g_strdup(p);
    }
    local = g_strdup(src_remote ? argv[2] : argv[1]);
    if (dst_remote) {
        if (!deref && lstat(local, &sb) == 0 && S_ISLNK(sb.st_mode))
            return vmm_cli_usage(argv[0],
                                 "'%s' is a symbolic link (name its target, or add -L to follow "
                                 "it)",
                                 local);
        if (stat(local, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            fprintf(stderr, "airlock: '%s' is not a readable file\n", local);
            return AIRLOCK_EXIT_FAILED;
        }
        if (g_str_has_suffix(guest_path, "/")) {
            g_autofree char *base = g_path_get_basename(local);
            char *joined = g_strconcat(guest_path, base, NULL);
            g_free(guest_path);
            guest_path = joined;
        }
    } else if (g_file_test(local, G_FILE_TEST_IS_DIR)) {
        g_autofree char *base = g_path_get_basename(guest_path);
        char *joined = g_build_filename(local, base, NULL);
        g_free(local);
        local = joined;
    }

    if (!vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);
    start = g_get_monotonic_time();
    ok = vmm_ops_cp(cli->ops, name, dst_remote, local, guest_path, &opts, &err);
    if (!ok)
        return op_fail(argv[0], err);
    if (cli->tty && stat(local, &sb) == 0) {
        double secs = (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC;
        double mb = sb.st_size / 1e6;
        printf("copied %.1f MB in %.1f s (%.1f MB/s)\n", mb, secs, secs > 0 ? mb / secs : 0.0);
    }
    return AIRLOCK_EXIT_OK;
}
