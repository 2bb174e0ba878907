/* command.c: run a host program: argv, stdin text, passed fds, bounded output, one error style. */
#include <config.h>

#include "command.h"
#include "error.h"
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FD_FLOOR 64 /* passed fds are held above every target, so no target overwrites one */

struct _VmmCommand {
    GPtrArray *argv; /* char*, NULL-terminated */
    char *input;
    GArray *source_fds; /* int, ours */
    GArray *target_fds; /* int */
    gsize output_max;
    GString *out;
    GString *err;
    gboolean ran;
};

static VmmCommandDryRun dry_run_fn;
static gpointer dry_run_data;

/* The Debian package that installs each program the library runs. */
static const struct {
    const char *program;
    const char *package;
} packages[] = {{"nft", "nftables"}, {"qemu-img", "qemu-utils"}};

VmmCommand *
vmm_command_new(const char *program)
{
    VmmCommand *cmd = g_new0(VmmCommand, 1);

    cmd->argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(cmd->argv, g_strdup(program));
    g_ptr_array_add(cmd->argv, NULL);
    cmd->source_fds = g_array_new(FALSE, FALSE, sizeof(int));
    cmd->target_fds = g_array_new(FALSE, FALSE, sizeof(int));
    cmd->output_max = VMM_COMMAND_OUTPUT_MAX;
    cmd->out = g_string_new(NULL);
    cmd->err = g_string_new(NULL);
    return cmd;
}

void
vmm_command_free(VmmCommand *cmd)
{
    if (!cmd)
        return;
    for (guint i = 0; i < cmd->source_fds->len; i++)
        close(g_array_index(cmd->source_fds, int, i));
    g_ptr_array_unref(cmd->argv);
    g_free(cmd->input);
    g_array_unref(cmd->source_fds);
    g_array_unref(cmd->target_fds);
    g_string_free(cmd->out, TRUE);
    g_string_free(cmd->err, TRUE);
    g_free(cmd);
}

void
vmm_command_add_arg(VmmCommand *cmd, const char *arg)
{
    g_return_if_fail(arg != NULL);
    /* The terminating NULL stays last. */
    g_ptr_array_insert(cmd->argv, cmd->argv->len - 1, g_strdup(arg));
}

void
vmm_command_add_argv(VmmCommand *cmd, const char *const *args)
{
    for (const char *const *a = args; a && *a; a++)
        vmm_command_add_arg(cmd, *a);
}

void
vmm_command_set_stdin(VmmCommand *cmd, const char *text)
{
    g_free(cmd->input);
    cmd->input = g_strdup(text);
}

void
vmm_command_pass_fd(VmmCommand *cmd, int fd, int target)
{
    int copy;

    g_return_if_fail(target > 2 && target < FD_FLOOR);
    copy = fcntl(fd, F_DUPFD_CLOEXEC, FD_FLOOR);
    /* A failed dup (a bad fd) passes -1, which the spawn then refuses. */
    g_array_append_val(cmd->source_fds, copy);
    g_array_append_val(cmd->target_fds, target);
}

void
vmm_command_set_output_max(VmmCommand *cmd, gsize max)
{
    cmd->output_max = max;
}

const char *
vmm_command_get_stdout(VmmCommand *cmd)
{
    return cmd->out->str;
}

const char *
vmm_command_get_stderr(VmmCommand *cmd)
{
    return cmd->err->str;
}

char *
vmm_command_steal_stdout(VmmCommand *cmd)
{
    char *s = g_string_free(cmd->out, FALSE);

    cmd->out = g_string_new(NULL);
    return s;
}

void
vmm_command_set_dry_run(VmmCommandDryRun fn, gpointer data)
{
    dry_run_fn = fn;
    dry_run_data = data;
}

static const char *
program_of(VmmCommand *cmd)
{
    return g_ptr_array_index(cmd->argv, 0);
}

/* A program that is not there: what to install, when it is one the library knows. */
static gboolean
not_installed(VmmCommand *cmd, GError **error)
{
    g_autofree char *base = g_path_get_basename(program_of(cmd));

    for (gsize i = 0; i < G_N_ELEMENTS(packages); i++)
        if (strcmp(base, packages[i].program) == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                        "cannot run %s (install the Debian package %s)", program_of(cmd),
                        packages[i].package);
            return FALSE;
        }
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot run %s: not installed", program_of(cmd));
    return FALSE;
}

/* Writes what is left of the input; FALSE once it is all written or the program stopped reading. */
static gboolean
feed(int fd, const char *input, gsize *done)
{
    gsize len = strlen(input);
    sigset_t pipe_set, old;
    gssize n;
    int saved;

    /* A program that exits before reading everything must not kill us with SIGPIPE. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    n = write(fd, input + *done, MIN(len - *done, 65536));
    saved = errno;
    if (n < 0 && saved == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (n > 0)
        *done += n;
    return n < 0 ? saved == EAGAIN || saved == EINTR : *done < len;
}

/* Reads what is there into @buf; FALSE at end of file. *@over when @buf would pass @max. */
static gboolean
drain(int fd, GString *buf, gsize max, gboolean *over)
{
    char chunk[4096];
    gssize n = read(fd, chunk, sizeof chunk);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0)
        return FALSE;
    if (buf->len + n > max)
        *over = TRUE;
    g_string_append_len(buf, chunk, MIN((gsize)n, max - MIN(buf->len, max)));
    return TRUE;
}

/* Starts the program, feeds its stdin, collects its output, reaps it: *@wstatus. */
static gboolean
spawn_and_wait(VmmCommand *cmd, int *wstatus, gboolean *over, GError **error)
{
    g_autoptr(GError) local = NULL;
    struct pollfd p[3] = {{-1, POLLOUT, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    gboolean err_over = FALSE;
    gsize done = 0;
    GPid pid;

    if (!g_spawn_async_with_pipes_and_fds(
            NULL, (const char *const *)cmd->argv->pdata, NULL,
            G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, NULL, NULL, -1,
            -1, -1, (const int *)(void *)cmd->source_fds->data,
            (const int *)(void *)cmd->target_fds->data, cmd->source_fds->len, &pid,
            cmd->input ? &p[0].fd : NULL, &p[1].fd, &p[2].fd, &local)) {
        if (g_error_matches(local, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT))
            return not_installed(cmd, error);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot run %s: %s", program_of(cmd),
                    local->message);
        return FALSE;
    }
    for (int i = 0; i < 3; i++)
        if (p[i].fd >= 0)
            g_unix_set_fd_nonblocking(p[i].fd, TRUE, NULL);
    while (p[0].fd >= 0 || p[1].fd >= 0 || p[2].fd >= 0) {
        gboolean more;

        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 3; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            more = i == 0   ? feed(p[i].fd, cmd->input, &done)
                   : i == 1 ? drain(p[i].fd, cmd->out, cmd->output_max, over)
                            : drain(p[i].fd, cmd->err, cmd->output_max, &err_over);
            if (!more) {
                close(p[i].fd);
                p[i].fd = -1;
            }
        }
        if (*over)
            break;
    }
    for (int i = 0; i < 3; i++)
        if (p[i].fd >= 0)
            close(p[i].fd);
    if (*over)
        kill(pid, SIGKILL);
    while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
        ;
    return TRUE;
}

gboolean
vmm_command_run(VmmCommand *cmd, int *exit_status, GError **error)
{
    const char *prog = program_of(cmd);
    gboolean over = FALSE;
    int wstatus = 0, status;

    g_return_val_if_fail(!cmd->ran, FALSE);
    cmd->ran = TRUE;
    if (dry_run_fn) {
        VmmCommandCall call = {(const char *const *)cmd->argv->pdata, cmd->input,
                               (const int *)(void *)cmd->target_fds->data, cmd->target_fds->len};
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        status = dry_run_fn(&call, &out, &err, dry_run_data);
        if (status < 0)
            return not_installed(cmd, error);
        g_string_assign(cmd->err, err ? err : "");
        g_string_truncate(cmd->err, MIN(cmd->err->len, cmd->output_max));
        g_string_assign(cmd->out, out ? out : "");
        over = cmd->out->len > cmd->output_max;
        g_string_truncate(cmd->out, MIN(cmd->out->len, cmd->output_max));
        wstatus = W_EXITCODE(status & 0xff, 0);
    } else if (!spawn_and_wait(cmd, &wstatus, &over, error)) {
        return FALSE;
    }
    if (over) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "%s printed more than %" G_GSIZE_FORMAT " bytes: stopped", prog,
                    cmd->output_max);
        return FALSE;
    }
    if (WIFSIGNALED(wstatus)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s was killed by signal %d", prog,
                    WTERMSIG(wstatus));
        return FALSE;
    }
    status = WEXITSTATUS(wstatus);
    if (exit_status) {
        *exit_status = status;
    } else if (status != 0) {
        g_autofree char *text = g_strstrip(g_strdup(cmd->err->str));
        g_autofree char *line = vmm_escape(text, strcspn(text, "\n"), VMM_ESCAPE_LINE_MAX);

        if (*line)
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s failed: %s", prog, line);
        else
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s failed with exit status %d", prog,
                        status);
        return FALSE;
    }
    return TRUE;
}
