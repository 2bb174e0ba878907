/* exec.c: `airlock exec` and `airlock cp`: commands and files through the guest agent. */
#include <config.h>

#include "agent-json.h"
#include "agent.h"
#include "cli.h"
#include "error.h"
#include "names.h"
#include "spec.h"

#include <glib-unix.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
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

static int sig_pipe[2] = {-1, -1};

static void
sink_write(Sink *sink, int fd, const char *data, gsize len)
{
    while (len > 0 && !sink->broken[fd]) {
        gssize n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sink->broken[fd] = TRUE;
            /* stdout closed (| head): the command gets the SIGPIPE it would get locally */
            if (fd == STDOUT_FILENO && errno == EPIPE && sig_pipe[1] >= 0) {
                guint8 b = SIGPIPE;
                if (write(sig_pipe[1], &b, 1) < 0)
                    g_debug("cannot queue SIGPIPE for the guest");
            }
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

/* --- the terminal and signals of an exec ------------------------------------------------ */

static struct termios saved_termios;
static gboolean tty_raw;
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};

/* Signals reach the exec loop through a pipe: it forwards them to the guest's process group. */
static void
on_signal(int sig)
{
    int saved = errno;
    guint8 b = (guint8)sig;
    if (write(sig_pipe[1], &b, 1) < 0) {
        /* a full pipe: enough signals are pending */
    }
    errno = saved;
}

static void
tty_restore(void)
{
    if (tty_raw) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
        tty_raw = FALSE;
    }
}

/*
 * Runs @spec in @name with stdin forwarded (@interactive, or stdin not a terminal), a pty
 * in raw mode (@tty), and SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGWINCH forwarded to the guest.
 * Returns the exit status for main().
 */
static int
exec_run(VmmCli *cli, const char *cmd, const char *name, VmmAgentExec *spec, gboolean interactive,
         gboolean tty)
{
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    int exit_code = AIRLOCK_EXIT_EXEC_AGENT;
    gboolean ok;

    if (tty && !isatty(STDIN_FILENO))
        return vmm_cli_usage(cmd, "a terminal (-t) needs one on stdin");
    for (const char *const *e = spec->env; e && *e; e++)
        g_ptr_array_add(env, g_strdup(*e));
    if (tty && g_getenv("TERM"))
        g_ptr_array_add(env, g_strconcat("TERM=", g_getenv("TERM"), NULL));
    g_ptr_array_add(env, NULL);
    spec->env = (const char *const *)env->pdata;
    spec->stdin_fd = STDIN_FILENO;
    spec->stdin_stream = interactive || !isatty(STDIN_FILENO);
    spec->tty = tty;
    if (g_unix_open_pipe(sig_pipe, FD_CLOEXEC, NULL) &&
        g_unix_set_fd_nonblocking(sig_pipe[0], TRUE, NULL) &&
        g_unix_set_fd_nonblocking(sig_pipe[1], TRUE, NULL)) {
        spec->signals = TRUE;
        spec->signal_fd = sig_pipe[0];
        sigemptyset(&sa.sa_mask);
        for (guint i = 0; i < G_N_ELEMENTS(forwarded); i++)
            sigaction(forwarded[i], &sa, NULL);
    }
    /* A closed stdout (| head) must not kill airlock before the guest side is cleaned up. */
    signal(SIGPIPE, SIG_IGN);
    if (tty && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
        struct termios raw = saved_termios;
        cfmakeraw(&raw);
        tty_raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
        atexit(tty_restore);
    }
    ok = vmm_ops_exec(cli->ops, name, spec, &exit_code, &err);
    tty_restore();
    for (guint i = 0; i < G_N_ELEMENTS(forwarded); i++)
        signal(forwarded[i], SIG_DFL);
    if (!ok)
        return op_fail(cmd, err);
    return exit_code & 0xff;
}

/* "USER[:GROUP]" into @spec (pointers into @text). */
static void
parse_user(char *text, VmmAgentExec *spec)
{
    char *colon = text ? strchr(text, ':') : NULL;

    if (!text)
        return;
    if (colon) {
        *colon = '\0';
        spec->group = colon[1] ? colon + 1 : NULL;
    }
    spec->user = *text ? text : NULL;
}

int
vmm_cmd_exec(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *timeout = NULL, *workdir = NULL, *user = NULL;
    gboolean interactive = FALSE, tty = FALSE;
    g_auto(GStrv) env = NULL;
    GOptionEntry entries[] = {
        {"interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
         "Forward stdin (always done when stdin is not a terminal)", NULL},
        {"tty", 't', 0, G_OPTION_ARG_NONE, &tty,
         "Run CMD on a terminal (a pty in the guest; stdin must be a terminal)", NULL},
        {"user", 'u', 0, G_OPTION_ARG_STRING, &user,
         "Run as this user (name or uid) and group of the guest", "USER[:GROUP]"},
        {"timeout", 0, 0, G_OPTION_ARG_STRING, &timeout,
         "Kill the command's process group after S seconds (exit 124)", "S"},
        {"env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env, "Set an environment variable (repeatable)",
         "K=V"},
        {"workdir", 'w', 0, G_OPTION_ARG_FILENAME, &workdir,
         "Run in this directory of the guest (relative: to the user's home)", "DIR"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("NAME -- CMD [ARG…] - run a command in a sandbox");
    g_autofree char **opt_argv = NULL;
    char **cmd_argv = NULL;
    int opt_argc = argc, dashdash = -1, rc;
    g_autoptr(GError) err = NULL;
    Sink sink = {{FALSE}};
    VmmAgentExec spec = {0};
    guint timeout_ms = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "Runs CMD in the sandbox through airlock-guest (or the QEMU guest agent in\n"
             "sandboxes without it; no network needed), with the sandbox's environment and\n"
             "test secrets. Its stdout and stderr stream to airlock's as it runs, stdin is\n"
             "forwarded when it is not a terminal (or with -i), Ctrl-C and SIGTERM reach the\n"
             "command's process group; airlock exits with its exit status (128+N for signal N).\n"
             "  echo x | airlock exec eval-3 -- cat\n"
             "  airlock exec -it eval-3 -- python3");
    g_option_context_set_description(
        ctx, "Options go before '--'; without '--', CMD starts after NAME.\n"
             "-i, -t and -u need airlock-guest in the sandbox (airlock inspect: exec_channel).\n\n"
             "Exit status: CMD's own; 124 when --timeout killed it; 125 when the guest\n"
             "agent failed; 2 for a usage error, an unknown sandbox or guest user; 1 when\n"
             "the sandbox is not running.");

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
    if (workdir && !*workdir)
        return vmm_cli_usage(argv[0], "--workdir expects a directory");

    if (!vmm_name_validate(opt_argv[1], "sandbox name", &err) || !vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);

    spec.argv = (const char *const *)cmd_argv;
    spec.env = (const char *const *)env;
    spec.workdir = workdir;
    spec.with_sandbox_env = TRUE;
    spec.timeout_ms = timeout_ms;
    spec.on_stdout = on_stdout;
    spec.on_stderr = on_stderr;
    spec.user_data = &sink;
    parse_user(user, &spec);
    return exec_run(cli, argv[0], opt_argv[1], &spec, interactive, tty);
}

int
vmm_cmd_shell(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *user = NULL, *workdir = NULL;
    GOptionEntry entries[] = {{"user", 'u', 0, G_OPTION_ARG_STRING, &user,
                               "Log in as this user (name or uid) and group of the guest",
                               "USER[:GROUP]"},
                              {"workdir", 'w', 0, G_OPTION_ARG_FILENAME, &workdir,
                               "Start in this directory (relative: to the user's home)", "DIR"},
                              {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - open a shell in a sandbox");
    g_autoptr(GError) err = NULL;
    Sink sink = {{FALSE}};
    VmmAgentExec spec = {0};
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "Runs the user's login shell on a terminal in the sandbox (through airlock-guest):\n"
             "window size changes follow, the terminal is restored on exit, and airlock exits\n"
             "with the shell's status.");
    g_option_context_set_description(
        ctx, "Exit status: the shell's own; 125 when the guest agent failed; 2 for a usage\n"
             "error or an unknown sandbox; 1 when the sandbox is not running or has no\n"
             "airlock-guest.");
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (!vmm_name_validate(argv[1], "sandbox name", &err) || !vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);
    spec.workdir = workdir;
    spec.on_stdout = on_stdout;
    spec.on_stderr = on_stderr;
    spec.user_data = &sink;
    parse_user(user, &spec);
    return exec_run(cli, argv[0], argv[1], &spec, TRUE, TRUE);
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
    gboolean deref = FALSE, recursive = FALSE;
    GOptionEntry entries[] = {
        {"recursive", 'r', 0, G_OPTION_ARG_NONE, &recursive,
         "Copy directories too: modes and symlinks inside kept, never followed", NULL},
        {"dereference", 'L', 0, G_OPTION_ARG_NONE, &deref,
         "Copy in: follow SRC when it is a symbolic link (refused otherwise)", NULL},
        {"max-size", 0, 0, G_OPTION_ARG_STRING, &max_size,
         "Copy out: refuse a guest file bigger than SIZE (default 1G)", "SIZE"},
        {"timeout", 't', 0, G_OPTION_ARG_STRING, &timeout,
         "Copy out: give up after S seconds (default 600)", "S"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SRC DST - copy a file or directory into or out of a sandbox");
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
             "local directory gets the source's file name. With -r a directory is copied as\n"
             "a tree (through airlock-guest), merged into one that exists.");
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
    opts.recursive = recursive;
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
        gboolean found = stat(local, &sb) == 0;
        if (!found || !(S_ISREG(sb.st_mode) || (recursive && S_ISDIR(sb.st_mode)))) {
            /* Bad input, like any other: exit 2. */
            if (found && S_ISDIR(sb.st_mode))
                return vmm_cli_usage(argv[0], "'%s' is a directory (cp -r copies one)", local);
            return vmm_cli_usage(argv[0], "'%s' is not a readable file", local);
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
    if (cli->tty && stat(local, &sb) == 0 && S_ISREG(sb.st_mode)) {
        double secs = (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC;
        double mb = sb.st_size / 1e6;
        printf("copied %.1f MB in %.1f s (%.1f MB/s)\n", mb, secs, secs > 0 ? mb / secs : 0.0);
    }
    return AIRLOCK_EXIT_OK;
}
