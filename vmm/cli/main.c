/* main.c: airlock's global options and command table. */
#include <config.h>

#include "cli.h"
#include "conn.h"
#include "error.h"
#include "names.h"
#include "settings.h"
#include "port.h"

#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static const VmmCliCommand commands[] = {
    {NULL, "create", vmm_cmd_create, "create a sandbox and wait until it is ready"},
    {NULL, "exec", vmm_cmd_exec, "run a command in a sandbox"},
    {NULL, "cp", vmm_cmd_cp, "copy a file into or out of a sandbox"},
    {NULL, "shell", vmm_cmd_shell, "open a shell on a terminal in a sandbox"},
    {NULL, "reset", vmm_cmd_reset, "put a sandbox back to its clean state, running"},
    {NULL, "pause", vmm_cmd_pause, "save a sandbox to disk, freeing its memory"},
    {NULL, "resume", vmm_cmd_resume, "bring a paused sandbox back as it was"},
    {NULL, "ttl", vmm_cmd_ttl, "change a sandbox's TTL: 2h, +2h or none"},
    {NULL, "snapshot", vmm_cmd_snapshot, "capture or delete a named snapshot"},
    {NULL, "snapshots", vmm_cmd_snapshots, "list a sandbox's snapshots"},
    {NULL, "list", vmm_cmd_list, "list sandboxes"},
    {NULL, "inspect", vmm_cmd_inspect, "show a sandbox's details"},
    {NULL, "console", vmm_cmd_console, "print a sandbox's serial console"},
    {NULL, "port", vmm_cmd_port, "print GUEST_IP:PORT to reach a port in a sandbox"},
    {NULL, "destroy", vmm_cmd_destroy, "stop and remove sandboxes"},
    {"archive", "list", vmm_cmd_archive_list, "list evidence archives"},
    {"archive", "show", vmm_cmd_archive_show, "show an archive's manifest"},
    {"archive", "rm", vmm_cmd_archive_rm, "remove evidence archives"},
    {"batch", "run", vmm_cmd_batch_run, "run a plan of jobs, each in a clean sandbox"},
    {"batch", "check", vmm_cmd_batch_check, "parse a batch plan and list its jobs"},
    {"batch", "status", vmm_cmd_batch_status, "where the tasks of a Slurm batch are"},
    {"batch", "collect", vmm_cmd_batch_collect, "merge a Slurm batch's reports"},
    {NULL, "gc", vmm_cmd_gc, "destroy expired sandboxes and remove orphans"},
    {NULL, "events", vmm_cmd_events, "show the audit trail; --follow for live events"},
    {NULL, "logs", vmm_cmd_logs, "print a sandbox's console, events or DNS log"},
    {NULL, "stats", vmm_cmd_stats, "CPU, memory, block and network figures"},
    {"audit", "verify", vmm_cmd_audit_verify, "check the audit log's hash chain"},
    {NULL, "doctor", vmm_cmd_doctor, "check that this host can run sandboxes"},
    {"token", "create", vmm_cmd_token_create, "make a bearer token for airlockd over TCP"},
    {"token", "list", vmm_cmd_token_list, "list airlockd's tokens"},
    {"token", "revoke", vmm_cmd_token_revoke, "revoke airlockd tokens"},
    {"pool", "set", vmm_cmd_pool_set, "keep N guests of a shape booted and saved (warm create)"},
    {"pool", "list", vmm_cmd_pool_list, "list pools and their ready guests"},
    {"pool", "fill", vmm_cmd_pool_fill, "boot the guests pools are missing, once"},
    {"image", "list", vmm_cmd_image_list, "list base images"},
    {"image", "verify", vmm_cmd_image_verify, "check an image against its manifest"},
    {"image", "build", vmm_cmd_image_build, "build a base image, or derive one (--from)"},
    {"image", "import", vmm_cmd_image_import, "verify and install an image directory or disk"},
    {"image", "rm", vmm_cmd_image_rm, "remove images no sandbox or snapshot uses"},
    {"spec", "check", vmm_cmd_spec_check, "validate a sandbox spec file without creating anything"},
};

static void
print_help(FILE *out)
{
    fprintf(out, "Usage: airlock [-c URI] [--accel kvm|tcg] COMMAND [OPTION…]\n\n"
                 "Lightweight microVM sandboxes on libvirt.\n\nCommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *name = commands[i].group
                                    ? g_strdup_printf("%s %s", commands[i].group, commands[i].name)
                                    : g_strdup(commands[i].name);
        fprintf(out, "  %-18s %s\n", name, commands[i].summary);
    }
    fprintf(out, "  %-18s %s\n", "help [COMMAND]", "this help, or a command's");
    fprintf(out, "\nGlobal options:\n"
                 "  -c, --connect URI  libvirt URI (default: $LIBVIRT_DEFAULT_URI, else "
                 "qemu:///system)\n"
                 "  --accel kvm|tcg    override accelerator detection (also AIRLOCK_ACCEL)\n"
                 "  --version          print the version\n"
                 "  -h, --help         this help; COMMAND --help for a command's\n\n"
                 "See airlock(1) for exit codes.\n");
}

/* The subcommands of @group, as `airlock GROUP --help` prints them. */
static void
print_group_help(FILE *out, const char *group)
{
    fprintf(out, "Usage: airlock %s SUBCOMMAND [OPTION…]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (commands[i].group && strcmp(commands[i].group, group) == 0)
            fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nairlock %s SUBCOMMAND --help shows a subcommand's options.\n", group);
}

/* Edit distance of two short words, a swap of neighbours counting one ("lsit" is "list"). */
static guint
distance(const char *a, const char *b)
{
    gsize la = MIN(strlen(a), 31), lb = MIN(strlen(b), 31);
    guint d[32][32];

    for (gsize i = 0; i <= la; i++)
        d[i][0] = i;
    for (gsize j = 0; j <= lb; j++)
        d[0][j] = j;
    for (gsize i = 1; i <= la; i++)
        for (gsize j = 1; j <= lb; j++) {
            guint cost = a[i - 1] != b[j - 1];
            d[i][j] = MIN(MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = MIN(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[la][lb];
}

/* The command or group name closest to @word when it is a likely typo, else NULL. */
static const char *
did_you_mean(const char *word)
{
    const char *best = NULL;
    guint best_d = 3;

    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const char *cand = commands[i].group ? commands[i].group : commands[i].name;
        guint d = distance(word, cand);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    if (distance(word, "help") < best_d)
        best = "help";
    /* Two edits of a three-letter word is another word, not a typo. */
    return best && best_d <= MAX(1u, (guint)strlen(word) / 3) ? best : NULL;
}

static const VmmCliCommand *
find_command(const char *group_or_name, const char *sub, gboolean *used_sub)
{
    *used_sub = FALSE;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const VmmCliCommand *c = &commands[i];
        if (c->group) {
            if (strcmp(c->group, group_or_name) == 0 && sub && strcmp(c->name, sub) == 0) {
                *used_sub = TRUE;
                return c;
            }
        } else if (strcmp(c->name, group_or_name) == 0) {
            return c;
        }
    }
    return NULL;
}

static gboolean
is_group(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (commands[i].group && strcmp(commands[i].group, name) == 0)
            return TRUE;
    return FALSE;
}

/*
 * Secret values pass through this process (seed, batch plans): never into a
 * core file, never to a same-user ptrace. Large buffers always come from
 * mmap, so what libisofs frees without wiping goes back to the kernel.
 */
static void
no_core_dumps(void)
{
    struct rlimit none = {0, 0};

    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/*
 * Whatever a library logs at warning level or above reaches the user as one
 * "airlock: warning: …" line, never as a raw "airlock-WARNING **" block; debug
 * messages keep GLib's handling (G_MESSAGES_DEBUG).
 */
static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
    const char *message = NULL;

    if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
        return g_log_writer_default(level, fields, n_fields, data);
    for (gsize i = 0; i < n_fields; i++)
        if (g_str_equal(fields[i].key, "MESSAGE") && fields[i].length < 0)
            message = fields[i].value;
    {
        g_autofree char *line = g_strdelimit(g_strdup(message ? message : "?"), "\r\n", ' ');
        fprintf(stderr, "airlock: warning: %s\n", line);
    }
    return G_LOG_WRITER_HANDLED;
}

int
main(int argc, char **argv)
{
    VmmCli cli = {0};
    const VmmCliCommand *cmd;
    gboolean used_sub;
    int i = 1, rc;

    setlocale(LC_ALL, "");
    g_log_set_writer_func(log_writer, NULL, NULL);
    vmm_libvirt_init();
    no_core_dumps();

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("airlock %s\n", PACKAGE_VERSION);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help(stdout);
            return 0;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--connect") == 0) && i + 1 < argc) {
            g_free(cli.uri);
            cli.uri = g_strdup(argv[++i]);
        } else if (g_str_has_prefix(a, "--connect=")) {
            g_free(cli.uri);
            cli.uri = g_strdup(a + strlen("--connect="));
        } else if (strcmp(a, "--accel") == 0 && i + 1 < argc) {
            g_free(cli.accel);
            cli.accel = g_strdup(argv[++i]);
        } else if (g_str_has_prefix(a, "--accel=")) {
            g_free(cli.accel);
            cli.accel = g_strdup(a + strlen("--accel="));
        } else {
            fprintf(stderr, "airlock: unknown option '%s' (airlock --help lists them)\n", a);
            return AIRLOCK_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help(stderr);
        return AIRLOCK_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        /* airlock help [COMMAND [SUBCOMMAND]]: the same text as --help. */
        if (i + 1 >= argc) {
            print_help(stdout);
            return 0;
        }
        if (is_group(argv[i + 1]) && i + 2 >= argc) {
            print_group_help(stdout, argv[i + 1]);
            return 0;
        }
        if (!find_command(argv[i + 1], i + 2 < argc ? argv[i + 2] : NULL, &used_sub)) {
            const char *guess = did_you_mean(argv[i + 1]);
            fprintf(stderr, "airlock help: unknown command '%s'%s%s%s (airlock help lists them)\n",
                    argv[i + 1], guess ? "; did you mean '" : "", guess ? guess : "",
                    guess ? "'?" : "");
            return AIRLOCK_EXIT_USAGE;
        }
        /* Run it as COMMAND --help. */
        argv[i] = argv[i + 1];
        if (used_sub)
            argv[i + 1] = argv[i + 2];
        argc = i + 1 + (used_sub ? 1 : 0) + 1;
        argv[argc - 1] = (char *)"--help";
    }
    cmd = find_command(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &used_sub);
    if (!cmd) {
        if (is_group(argv[i])) {
            const char *sub = i + 1 < argc ? argv[i + 1] : NULL;
            if (sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
                print_group_help(stdout, argv[i]);
                return 0;
            }
            if (sub && sub[0] != '-')
                fprintf(stderr,
                        "airlock %s: unknown subcommand '%s' (airlock %s --help lists them)\n",
                        argv[i], sub, argv[i]);
            else
                fprintf(stderr, "airlock %s: missing subcommand (airlock %s --help lists them)\n",
                        argv[i], argv[i]);
        } else {
            const char *guess = did_you_mean(argv[i]);
            if (guess)
                fprintf(stderr,
                        "airlock: unknown command '%s'; did you mean '%s'? (airlock help "
                        "lists them)\n",
                        argv[i], guess);
            else
                fprintf(stderr, "airlock: unknown command '%s' (airlock help lists them)\n",
                        argv[i]);
        }
        return AIRLOCK_EXIT_USAGE;
    }
    if (cli.accel) {
        VmmAccel a;
        g_autoptr(GError) err = NULL;
        if (!vmm_accel_from_string(cli.accel, &a, &err))
            return vmm_cli_fail(err);
    }
    {
        /* The environment is read here, once: the library reads the configuration. */
        g_autoptr(GError) err = NULL;
        VmmConfig *config = vmm_config_from_env(&err);
        if (!config)
            return vmm_cli_usage("airlock", "%s", err->message);
        vmm_config_set(config);
    }
    cli.state_dir = vmm_state_dir(vmm_conn_default_uri(cli.uri));
    cli.tty = isatty(STDOUT_FILENO);

    {
        /* Give the command argv starting at its own name: "airlock image list". */
        int sub_argc = argc - i - (used_sub ? 1 : 0);
        char **sub_argv = g_new0(char *, sub_argc + 1);
        sub_argv[0] = cmd->group ? g_strdup_printf("airlock %s %s", cmd->group, cmd->name)
                                 : g_strdup_printf("airlock %s", cmd->name);
        for (int j = 1; j < sub_argc; j++)
            sub_argv[j] = g_strdup(argv[i + (used_sub ? 1 : 0) + j]);
        rc = cmd->run(&cli, sub_argc, sub_argv);
        g_strfreev(sub_argv);
    }

    vmm_ops_free(cli.ops);
    g_free(cli.accel_reason);
    g_free(cli.uri);
    g_free(cli.accel);
    g_free(cli.state_dir);
    return rc;
}
