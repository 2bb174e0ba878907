/* cli.h: what every airlock command file shares: context, exit codes, output. */
#pragma once

#include "ops.h"

#include <glib.h>
#include <json-glib/json-glib.h>

/* Exit codes; documented in docs/airlock.1. */
enum {
    AIRLOCK_EXIT_OK = 0,
    AIRLOCK_EXIT_FAILED = 1,         /* an operation failed */
    AIRLOCK_EXIT_USAGE = 2,          /* bad input or unknown sandbox/image/tag */
    AIRLOCK_EXIT_EXISTS = 3,         /* name already in use */
    AIRLOCK_EXIT_CONNECT = 4,        /* libvirtd unreachable */
    AIRLOCK_EXIT_IMAGE = 5,          /* base image missing or not matching its manifest */
    AIRLOCK_EXIT_TIMEOUT = 6,        /* sandbox not ready in time */
    AIRLOCK_EXIT_HOST = 7,           /* this host cannot run sandboxes (doctor) */
    AIRLOCK_EXIT_EXEC_TIMEOUT = 124, /* exec: the command timed out and was killed */
    AIRLOCK_EXIT_EXEC_AGENT = 125,   /* exec/cp: the guest agent failed */
};

typedef struct {
    char *uri;          /* -c/--connect, NULL for the default */
    char *accel;        /* --accel override, NULL to detect */
    char *state_dir;    /* resolved once */
    VmmOps *ops;        /* the operations, opened on first use */
    char *accel_reason; /* why ops->ctx.accel was chosen */
    gboolean tty;       /* stdout is a terminal */
} VmmCli;

typedef struct {
    const char *group; /* "image", or NULL for a top-level command */
    const char *name;
    int (*run)(VmmCli *cli, int argc, char **argv);
    const char *summary;
} VmmCliCommand;

/* Where airlockd listens unless AIRLOCK_SOCKET says otherwise. */
#define VMM_CLI_DEFAULT_SOCKET "/run/airlock/airlockd.sock"

/* The socket airlockd is looked for on: $AIRLOCK_SOCKET, else the default. */
const char *vmm_cli_socket_path(void);

/*
 * The operations layer for this invocation, opened on first use and owned by
 * @cli, for the caller (this process's real uid, via "cli"): for root, and
 * with -c URI, this host directly (libvirt connection, accelerator); for
 * another user, airlockd on vmm_cli_socket_path() when it answers, else the
 * direct path.
 */
VmmOps *vmm_cli_ops(VmmCli *cli, GError **error);

/* The direct path whoever runs it: for commands that work on this host itself (gc). */
VmmOps *vmm_cli_ops_direct(VmmCli *cli, GError **error);

/* Prints "airlock: <message>" on stderr and returns the exit code for @error. */
int vmm_cli_fail(const GError *error);

/* Exit code for a GError in the VMM_ERROR domain. */
int vmm_cli_exit_code(const GError *error);

/*
 * Parses a command's options. On --help prints and sets *@exit_code 0; on a
 * usage error prints and sets it to 2. Returns FALSE when the command must
 * return *@exit_code.
 */
gboolean vmm_cli_parse(GOptionContext *ctx, int *argc, char ***argv, int *exit_code);

/* Prints a usage error ("airlock CMD: ...") and returns AIRLOCK_EXIT_USAGE. */
int vmm_cli_usage(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* The shape flags create and pool set share (--cpus, --memory, --disk-size, --network). */
typedef struct {
    gint cpus, memory, disk; /* G_MININT: not given */
    char *network;           /* NULL: not given */
} VmmCliShape;
#define VMM_CLI_SHAPE_INIT                                                                         \
    {                                                                                              \
        G_MININT, G_MININT, G_MININT, NULL                                                         \
    }
void vmm_cli_shape_clear(VmmCliShape *shape);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmmCliShape, vmm_cli_shape_clear)

/* A count given and not positive is a usage error, never "the default": its exit code, or 0. */
int vmm_cli_shape_check(const char *cmd, const VmmCliShape *shape);

/* Sets on @spec what @shape gives, over what its spec file said. */
gboolean vmm_cli_shape_apply(const VmmCliShape *shape, VmmSpec *spec, GError **error);

/* Pretty-prints @node as JSON on stdout followed by a newline. Takes ownership. */
void vmm_cli_print_json(JsonNode *node);

/* Prints a JSON object's members as "key  value" lines (the text form of a --json object). */
void vmm_cli_print_fields(JsonNode *object);

/*
 * Appends an audit record that no operation writes (batch-start, batch-end,
 * gc) under the CLI's caller; a failure is a warning on stderr.
 */
void vmm_cli_event(VmmCli *cli, const char *name, const char *event, JsonObject *fields);

/* Command entry points, one file per group. */
int vmm_cmd_doctor(VmmCli *cli, int argc, char **argv);
int vmm_cmd_image_list(VmmCli *cli, int argc, char **argv);
int vmm_cmd_image_verify(VmmCli *cli, int argc, char **argv);
int vmm_cmd_image_build(VmmCli *cli, int argc, char **argv);
int vmm_cmd_image_import(VmmCli *cli, int argc, char **argv);
int vmm_cmd_image_rm(VmmCli *cli, int argc, char **argv);
int vmm_cmd_pool_set(VmmCli *cli, int argc, char **argv);
int vmm_cmd_pool_list(VmmCli *cli, int argc, char **argv);
int vmm_cmd_pool_fill(VmmCli *cli, int argc, char **argv);
int vmm_cmd_create(VmmCli *cli, int argc, char **argv);
int vmm_cmd_destroy(VmmCli *cli, int argc, char **argv);
int vmm_cmd_list(VmmCli *cli, int argc, char **argv);
int vmm_cmd_inspect(VmmCli *cli, int argc, char **argv);
int vmm_cmd_console(VmmCli *cli, int argc, char **argv);
int vmm_cmd_reset(VmmCli *cli, int argc, char **argv);
int vmm_cmd_snapshot(VmmCli *cli, int argc, char **argv);
int vmm_cmd_pause(VmmCli *cli, int argc, char **argv);
int vmm_cmd_resume(VmmCli *cli, int argc, char **argv);
int vmm_cmd_ttl(VmmCli *cli, int argc, char **argv);
int vmm_cmd_snapshots(VmmCli *cli, int argc, char **argv);
int vmm_cmd_archive_list(VmmCli *cli, int argc, char **argv);
int vmm_cmd_archive_show(VmmCli *cli, int argc, char **argv);
int vmm_cmd_archive_rm(VmmCli *cli, int argc, char **argv);
int vmm_cmd_audit_verify(VmmCli *cli, int argc, char **argv);
int vmm_cmd_events(VmmCli *cli, int argc, char **argv);
int vmm_cmd_logs(VmmCli *cli, int argc, char **argv);
int vmm_cmd_stats(VmmCli *cli, int argc, char **argv);
int vmm_cmd_gc(VmmCli *cli, int argc, char **argv);
int vmm_cmd_exec(VmmCli *cli, int argc, char **argv);
int vmm_cmd_cp(VmmCli *cli, int argc, char **argv);
int vmm_cmd_shell(VmmCli *cli, int argc, char **argv);
int vmm_cmd_batch_run(VmmCli *cli, int argc, char **argv);
int vmm_cmd_batch_check(VmmCli *cli, int argc, char **argv);
int vmm_cmd_batch_status(VmmCli *cli, int argc, char **argv);
int vmm_cmd_batch_collect(VmmCli *cli, int argc, char **argv);
int vmm_cmd_spec_check(VmmCli *cli, int argc, char **argv);
int vmm_cmd_token_create(VmmCli *cli, int argc, char **argv);
int vmm_cmd_token_list(VmmCli *cli, int argc, char **argv);
int vmm_cmd_token_revoke(VmmCli *cli, int argc, char **argv);
