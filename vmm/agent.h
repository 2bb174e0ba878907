/* agent.h: qemu-guest-agent over libvirt-qemu: ping, exec, files, time. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <sys/types.h>

/*
 * Sends one guest agent command (@json_cmd, a complete JSON object) and
 * returns the parsed "return" member's JSON text. @timeout_s is the
 * agent's own timeout (VIR_DOMAIN_QEMU_AGENT_COMMAND_* semantics when <= 0:
 * 0 = no wait, -1 = default). AGENT error on failure. Caller frees.
 */
char *vmm_agent_command(virDomainPtr dom, const char *json_cmd, int timeout_s, GError **error);

/*
 * Pings until the agent answers or @timeout_ms elapses (TIMEOUT error).
 * Each try is short so a booting guest is polled promptly.
 */
gboolean vmm_agent_wait(virDomainPtr dom, guint timeout_ms, GError **error);

/* One ping with a short timeout. */
gboolean vmm_agent_ping(virDomainPtr dom, GError **error);

typedef void (*VmmAgentOutputFunc)(const char *data, gsize len, gpointer user_data);

typedef struct {
    const char *const *argv;      /* argv[0] is the program (PATH looked up in the guest) */
    const char *const *env;       /* extra "K=V", or NULL */
    const char *workdir;          /* or NULL */
    gboolean with_sandbox_env;    /* run through VMM_SEED_WITH_ENV (secrets + env) */
    GBytes *input;                /* stdin, or NULL */
    guint timeout_ms;             /* 0 = no limit; on expiry the process group is killed */
    VmmAgentOutputFunc on_stdout; /* streamed while the command runs; NULL to discard */
    VmmAgentOutputFunc on_stderr;
    gpointer user_data;
    /* airlock-guest only (guest-channel.h); the QEMU agent path refuses user, group, tty. */
    const char *user;      /* name or uid in the guest, or NULL: root */
    const char *group;     /* name or gid, or NULL: the user's */
    gboolean stdin_stream; /* stream @stdin_fd as stdin until its end (agent path: ignored) */
    int stdin_fd;
    gboolean tty;     /* a pty in the guest, sized like @stdin_fd's terminal */
    gboolean signals; /* each byte read from @signal_fd is a signal to forward to the */
    int signal_fd;    /* command's process group (SIGWINCH: @stdin_fd's new size); read
                       * only when it polls readable, so it may block */
} VmmAgentExec;

/*
 * Runs a command in the guest, streaming its output through the callbacks
 * while it runs: through airlock-guest when it answers (guest-channel.h),
 * else through the QEMU agent (output goes to files under /run/airlock/exec/
 * that are read as they grow, then removed). *@exit_code gets the exit status (128+N
 * for a signal). TIMEOUT error when killed at the timeout, AGENT error when
 * the agent fails.
 */
gboolean vmm_agent_exec(virDomainPtr dom, const VmmAgentExec *spec, int *exit_code, GError **error);

/*
 * Runs a short command and captures its output (no streaming; output at most
 * a few MB). Used for readiness checks. Caller frees *@out and *@err.
 */
gboolean vmm_agent_run(virDomainPtr dom, const char *const *argv, guint timeout_ms, int *exit_code,
                       char **out, char **err, GError **error);

/* As vmm_agent_run, with @input (at most 128 KiB, may be NULL) as the command's stdin. */
gboolean vmm_agent_run_input(virDomainPtr dom, const char *const *argv, GBytes *input,
                             guint timeout_ms, int *exit_code, char **out, char **err,
                             GError **error);

/* Defaults for VmmAgentCopyOpts: 1 GiB, 10 minutes. */
#define VMM_AGENT_COPY_MAX_DEFAULT (G_GUINT64_CONSTANT(1) << 30)
#define VMM_AGENT_COPY_TIMEOUT_DEFAULT_S 600

/* Limits and choices for a copy; all zero means the defaults (and no symlink followed). */
typedef struct {
    guint64 max_bytes;    /* out: a bigger guest file is refused (0: VMM_AGENT_COPY_MAX_DEFAULT) */
    guint timeout_ms;     /* out: the whole copy (0: VMM_AGENT_COPY_TIMEOUT_DEFAULT_S) */
    gboolean dereference; /* in: follow @local when it is a symlink (cp -L); else refused */
    gboolean recursive;   /* a directory as a tree (cp -r; airlock-guest only) */
} VmmAgentCopyOpts;

/* Which channel exec and cp take for @dom now: "airlock-guest" or "qemu-guest-agent". */
const char *vmm_agent_channel(virDomainPtr dom);

/*
 * As vmm_agent_copy_in / vmm_agent_copy_out, for a directory tree (cp -r): only through
 * airlock-guest (FAILED naming it when the sandbox does not have it).
 */
gboolean vmm_agent_copy_tree_in(virDomainPtr dom, const char *local, const char *guest_path,
                                const VmmAgentCopyOpts *opts, GError **error);
gboolean vmm_agent_copy_tree_out(virDomainPtr dom, const char *guest_path, const char *local,
                                 const VmmAgentCopyOpts *opts, GError **error);

/*
 * Copies the host file @local into the guest at @guest_path in chunks,
 * keeping its permission bits (no setuid/setgid/sticky). A symlink at
 * @local is refused (INVALID) unless @opts->dereference. @opts may be NULL.
 * Works for files of hundreds of MB.
 */
gboolean vmm_agent_copy_in(virDomainPtr dom, const char *local, const char *guest_path,
                           const VmmAgentCopyOpts *opts, GError **error);

/*
 * Copies the guest file @guest_path to the host file @local (written to a
 * temporary name in its directory, then renamed). The guest chooses neither
 * the mode (0666 less the caller's umask) nor the size: more than
 * @opts->max_bytes, or a copy longer than @opts->timeout_ms, fails (FAILED or
 * TIMEOUT) and leaves nothing behind. @opts may be NULL.
 */
gboolean vmm_agent_copy_out(virDomainPtr dom, const char *guest_path, const char *local,
                            const VmmAgentCopyOpts *opts, GError **error);

/*
 * As vmm_agent_copy_out, into @name in the directory @dir_fd: the temporary
 * file is created there with O_EXCL|O_NOFOLLOW and @mode (less the umask),
 * then renamed to @name (a symlink at @name is replaced, never followed).
 */
gboolean vmm_agent_copy_out_at(virDomainPtr dom, const char *guest_path, int dir_fd,
                               const char *name, mode_t mode, const VmmAgentCopyOpts *opts,
                               GError **error);

/* Writes @len bytes from memory to @path in the guest (created, or truncated). */
gboolean vmm_agent_write_file(virDomainPtr dom, const char *path, const void *data, gsize len,
                              GError **error);

/* Sets the guest clock from the host's (guest-set-time with the host's time). */
gboolean vmm_agent_set_time(virDomainPtr dom, GError **error);

/*
 * For tests: every agent command goes to @fn instead of libvirt, which
 * returns the reply text (g_malloc'd) or NULL for a failure. NULL restores
 * libvirt. Not thread-safe: set it before any agent call.
 */
typedef char *(*VmmAgentTransport)(virDomainPtr dom, const char *cmd, int timeout_s, gpointer data);
void vmm_agent_set_transport(VmmAgentTransport fn, gpointer data);

/* @bytes as a copy limit reads ("1M", "2G", "1500 bytes"). Caller frees. */
char *vmm_agent_human_size(guint64 bytes);
