/* command.h: the one way the library runs a host program (nft, qemu-img), with a dry-run hook. */
#pragma once

#include <glib.h>

/* What a run keeps of stdout and of stderr, unless vmm_command_set_output_max says otherwise. */
#define VMM_COMMAND_OUTPUT_MAX (4u << 20)

typedef struct _VmmCommand VmmCommand;

/* A command that runs @program (looked up in PATH) with no arguments yet. */
VmmCommand *vmm_command_new(const char *program);
void vmm_command_free(VmmCommand *cmd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmCommand, vmm_command_free)

/* Appends @arg (copied). */
void vmm_command_add_arg(VmmCommand *cmd, const char *arg);

/* Appends each string of the NULL-terminated @args (NULL adds nothing). */
void vmm_command_add_argv(VmmCommand *cmd, const char *const *args);

/* @text (copied) is written to the program's stdin; without it stdin is /dev/null. */
void vmm_command_set_stdin(VmmCommand *cmd, const char *text);

/* The program gets a duplicate of @fd as its fd @target (3..63); @fd stays the caller's. */
void vmm_command_pass_fd(VmmCommand *cmd, int fd, int target);

/*
 * At most @max bytes of stdout and of stderr are kept. More on stdout kills
 * the program and fails the run (a cut listing must not be read as whole);
 * more on stderr is dropped.
 */
void vmm_command_set_output_max(VmmCommand *cmd, gsize max);

/*
 * Runs the program and waits for it. With @exit_status NULL, only exit 0 is
 * success and anything else is a HOST error "<program> failed: <the first
 * line of its stderr, escaped>"; with @exit_status, the exit status is
 * stored and any exit is success. Failing to start it ("cannot run nft
 * (install the Debian package nftables)"), a signal or too much output are
 * HOST errors either way. A command runs once.
 */
gboolean vmm_command_run(VmmCommand *cmd, int *exit_status, GError **error);

/* What the run printed (at most the output bound; "" before a run). Owned by @cmd. */
const char *vmm_command_get_stdout(VmmCommand *cmd);
const char *vmm_command_get_stderr(VmmCommand *cmd);

/* The stdout of the run, taken from @cmd. Caller frees. */
char *vmm_command_steal_stdout(VmmCommand *cmd);

/* One run as the dry-run hook sees it. */
typedef struct {
    const char *const *argv; /* NULL-terminated, argv[0] the program as given */
    const char *input;       /* stdin text, or NULL */
    const int *fds;          /* fd numbers the program would get (vmm_command_pass_fd) */
    guint n_fds;
} VmmCommandCall;

/*
 * A test hook: returns the exit status the program would have had, and may
 * set *@out and *@err (g_malloc'd, taken) to what it would have printed. A
 * negative status plays a program that is not installed.
 */
typedef int (*VmmCommandDryRun)(const VmmCommandCall *call, char **out, char **err, gpointer data);

/*
 * Process-wide: with @fn set, no program is started; every run goes to @fn
 * instead. NULL restores real runs. For tests; set it before any thread runs
 * commands.
 */
void vmm_command_set_dry_run(VmmCommandDryRun fn, gpointer data);
