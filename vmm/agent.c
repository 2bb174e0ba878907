/* agent.c: qemu-guest-agent over libvirt-qemu: ping, exec (streamed), files, time. */
#include <config.h>

#include "agent.h"
#include "agent-json.h"
#include "error.h"
#include "escape.h"
#include "guest-channel.h"
#include "seed.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <libvirt/libvirt-qemu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-private.h"

static VmmAgentTransport transport_fn;
static gpointer transport_data;

void
vmm_agent_set_transport(VmmAgentTransport fn, gpointer data)
{
    transport_fn = fn;
    transport_data = data;
}

/*
 * airlock-guest on @dom when it answers (guest-channel.h), else NULL: the QEMU agent then.
 * A test transport means the QEMU agent.
 */
VmmGuestConn *
vmm_agent_priv_guest_conn(virDomainPtr dom)
{
    g_autoptr(GError) err = NULL;
    VmmGuestConn *conn;

    if (transport_fn)
        return NULL;
    if (!(conn = vmm_guest_connect(dom, VMM_GUEST_HELLO_TIMEOUT_MS, &err)))
        g_debug("airlock-guest: %s; using the QEMU guest agent", err->message);
    return conn;
}

const char *
vmm_agent_channel(virDomainPtr dom)
{
    g_autoptr(VmmGuestConn) conn = vmm_agent_priv_guest_conn(dom);
    return conn ? "airlock-guest" : "qemu-guest-agent";
}

static gboolean
needs_guest(const char *what, GError **error)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                "%s needs airlock-guest in the sandbox, and it does not answer (an older image, "
                "or a sandbox created before it: recreate it)",
                what);
    return FALSE;
}

gboolean
vmm_agent_copy_tree_in(virDomainPtr dom, const char *local, const char *guest_path,
                       const VmmAgentCopyOpts *opts, GError **error)
{
    g_autoptr(VmmGuestConn) conn = vmm_agent_priv_guest_conn(dom);
    return conn ? vmm_guest_put(conn, local, guest_path, TRUE, opts, error)
                : needs_guest("copying a directory", error);
}

gboolean
vmm_agent_copy_tree_out(virDomainPtr dom, const char *guest_path, const char *local,
                        const VmmAgentCopyOpts *opts, GError **error)
{
    g_autoptr(VmmGuestConn) conn = vmm_agent_priv_guest_conn(dom);
    g_autofree char *dir = g_path_get_dirname(local);
    g_autofree char *base = g_path_get_basename(local);
    gboolean ok;
    int dfd;

    if (!conn)
        return needs_guest("copying a directory", error);
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot open directory '%s': %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    ok = vmm_guest_get(conn, guest_path, dfd, base, 0777, TRUE, opts, error);
    close(dfd);
    return ok;
}

/* libvirt quotes the agent's own error text (guest bytes) in its message: escape all of it. */
static void
escape_error(GError **error)
{
    if (error && *error) {
        char *safe = vmm_escape((*error)->message, -1, VMM_ESCAPE_LINE_MAX);
        g_free((*error)->message);
        (*error)->message = safe;
    }
}

/* Sends @cmd; libvirt failures go through the choke point with @what as the prefix. */
JsonNode *
vmm_agent_priv_call(virDomainPtr dom, const char *cmd, int timeout_s, const char *what,
                    GError **error)
{
    char *reply = transport_fn ? transport_fn(dom, cmd, timeout_s, transport_data)
                               : virDomainQemuAgentCommand(dom, cmd, timeout_s, 0);
    JsonNode *ret;

    if (!reply) {
        if (transport_fn)
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "%s: no reply", what);
        else
            vmm_error_libvirt(error, VMM_ERROR_AGENT, "%s", what);
        escape_error(error);
        return NULL;
    }
    ret = vmm_agent_json_return(reply, error);
    free(reply);
    if (!ret)
        g_prefix_error(error, "%s: ", what);
    return ret;
}

char *
vmm_agent_command(virDomainPtr dom, const char *json_cmd, int timeout_s, GError **error)
{
    g_autoptr(JsonNode) ret =
        vmm_agent_priv_call(dom, json_cmd, timeout_s, "guest agent command failed", error);
    g_autoptr(JsonGenerator) gen = NULL;

    if (!ret)
        return NULL;
    gen = json_generator_new();
    json_generator_set_root(gen, ret);
    return json_generator_to_data(gen, NULL);
}

gboolean
vmm_agent_ping(virDomainPtr dom, GError **error)
{
    g_autofree char *cmd = vmm_agent_json_command("guest-ping", NULL);
    g_autoptr(JsonNode) ret =
        vmm_agent_priv_call(dom, cmd, PING_TIMEOUT_S, "guest agent did not answer", error);

    return ret != NULL;
}

gboolean
vmm_agent_wait(virDomainPtr dom, guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    /* Right after a restore the agent reconnects within tens of ms: poll closely at first. */
    gint64 start = g_get_monotonic_time(), delay = 5000;

    for (;;) {
        g_autoptr(GError) last = NULL;
        gint64 now;

        if (vmm_agent_ping(dom, &last))
            return TRUE;
        if (virDomainIsActive(dom) == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "the guest stopped while waiting for its agent");
            return FALSE;
        }
        now = g_get_monotonic_time();
        if (now >= deadline) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "guest agent did not answer within %g s (%s)", timeout_ms / 1000.0,
                        last->message);
            return FALSE;
        }
        g_usleep(MIN(delay, deadline - now));
        if (now - start > CLOSE_POLL_US)
            delay = MIN(delay * 2, WAIT_RETRY_US);
    }
}

/* --- guest-exec ------------------------------------------------------------------------ */

static gboolean
exec_start(virDomainPtr dom, const char *const *argv, const char *const *env, GBytes *input,
           gboolean capture, gint64 *pid, GError **error)
{
    if (input && g_bytes_get_size(input) > MAX_STDIN) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "stdin for a guest command is limited to %d KiB (copy larger input in first)",
                    MAX_STDIN / 1024);
        return FALSE;
    }
    {
        g_autofree char *cmd = vmm_agent_json_exec(argv[0], argv + 1, env, input, capture);
        g_autofree char *what = g_strdup_printf("cannot start '%s' in the guest", argv[0]);
        g_autoptr(JsonNode) ret = vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S, what, error);

        return ret && vmm_agent_json_get_int(ret, "pid", pid, error);
    }
}

static gboolean
exec_status(virDomainPtr dom, gint64 pid, VmmAgentExecStatus *st, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) ret = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pid");
    json_builder_add_int_value(b, pid);
    json_builder_end_object(b);
    cmd = vmm_agent_json_command("guest-exec-status", json_builder_get_root(b));
    ret = vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S,
                              "cannot get a command's status from the guest", error);
    return ret && vmm_agent_json_exec_status(ret, st, error);
}

/* SIGKILLs process group @pid in the guest (the pid itself when it leads no group). */
static gboolean
exec_kill(virDomainPtr dom, gint64 pid, GError **error)
{
    g_auto(GStrv) argv = vmm_agent_kill_argv(pid);
    gint64 kpid;
    VmmAgentExecStatus st = {0};
    gint64 deadline = g_get_monotonic_time() + (gint64)HELPER_TIMEOUT_MS * 1000;

    if (!exec_start(dom, (const char *const *)argv, NULL, NULL, FALSE, &kpid, error))
        return FALSE;
    /* Reap the helper so the agent forgets it; the kill itself is already done or under way. */
    while (g_get_monotonic_time() < deadline) {
        if (!exec_status(dom, kpid, &st, error))
            return FALSE;
        if (st.exited)
            break;
        g_usleep(10000);
    }
    vmm_agent_exec_status_clear(&st);
    return TRUE;
}

/*
 * Runs @argv with captured output until it exits or @timeout_ms (0: no
 * limit) passes; then the process is killed and a TIMEOUT error returned.
 */
static gboolean
run_capture(virDomainPtr dom, const char *const *argv, GBytes *input, guint timeout_ms,
            VmmAgentExecStatus *st, GError **error)
{
    gint64 pid, start = g_get_monotonic_time();
    gulong delay = 5000;

    memset(st, 0, sizeof(*st));
    if (!argv || !argv[0] || !*argv[0]) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "no command to run");
        return FALSE;
    }
    if (!exec_start(dom, argv, NULL, input, TRUE, &pid, error))
        return FALSE;
    for (;;) {
        if (!exec_status(dom, pid, st, error))
            return FALSE;
        if (st->exited)
            return TRUE;
        if (timeout_ms && g_get_monotonic_time() - start >= (gint64)timeout_ms * 1000) {
            gint64 kill_at = g_get_monotonic_time();
            if (!exec_kill(dom, pid, error))
                return FALSE;
            while (!st->exited && g_get_monotonic_time() - kill_at < KILL_WAIT_US) {
                g_usleep(20000);
                if (!exec_status(dom, pid, st, error))
                    return FALSE;
            }
            vmm_agent_exec_status_clear(st);
            g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                        "'%s' did not finish within %g s and was killed", argv[0],
                        timeout_ms / 1000.0);
            return FALSE;
        }
        g_usleep(delay);
        delay = MIN(delay * 2, 100000);
    }
}

static char *
bytes_to_string(GBytes *bytes)
{
    gsize len = 0;
    const char *data = bytes ? g_bytes_get_data(bytes, &len) : NULL;
    char *s = g_malloc(len + 1);

    if (len)
        memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

/* A helper's stderr for an error message: escaped, bounded, one line. Caller frees. */
static char *
helper_stderr(const VmmAgentExecStatus *st)
{
    g_autofree char *s = bytes_to_string(st->err);
    gsize len = st->err ? g_bytes_get_size(st->err) : 0;

    /* Trim trailing newlines only (NUL bytes inside are escaped, not a string end). */
    while (len > 0 && g_ascii_isspace(s[len - 1]))
        len--;
    if (len == 0)
        return g_strdup("no message");
    return vmm_escape(s, (gssize)len, VMM_ESCAPE_LINE_MAX);
}

gboolean
vmm_agent_run(virDomainPtr dom, const char *const *argv, guint timeout_ms, int *exit_code,
              char **out, char **err, GError **error)
{
    return vmm_agent_run_input(dom, argv, NULL, timeout_ms, exit_code, out, err, error);
}

gboolean
vmm_agent_run_input(virDomainPtr dom, const char *const *argv, GBytes *input, guint timeout_ms,
                    int *exit_code, char **out, char **err, GError **error)
{
    VmmAgentExecStatus st = {0};

    if (!run_capture(dom, argv, input, timeout_ms, &st, error))
        return FALSE;
    if (exit_code)
        *exit_code = st.exit_code;
    if (out)
        *out = bytes_to_string(st.out);
    if (err)
        *err = bytes_to_string(st.err);
    vmm_agent_exec_status_clear(&st);
    return TRUE;
}

/* Runs a fixed /bin/sh script with @args as "$1"...; an error quoting its stderr unless it exits 0.
 */
gboolean
vmm_agent_priv_guest_sh(virDomainPtr dom, const char *script, const char *const *args,
                        const char *what, char **out, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    VmmAgentExecStatus st = {0};
    gboolean ok;

    g_ptr_array_add(argv, (char *)"/bin/sh");
    g_ptr_array_add(argv, (char *)"-c");
    g_ptr_array_add(argv, (char *)script);
    g_ptr_array_add(argv, (char *)"airlock");
    for (; args && *args; args++)
        g_ptr_array_add(argv, (char *)*args);
    g_ptr_array_add(argv, NULL);
    if (!run_capture(dom, (const char *const *)argv->pdata, NULL, HELPER_TIMEOUT_MS, &st, error)) {
        g_prefix_error(error, "%s: ", what);
        return FALSE;
    }
    ok = st.exit_code == 0;
    if (!ok) {
        g_autofree char *msg = helper_stderr(&st);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "%s: %s", what, msg);
    } else if (out) {
        *out = bytes_to_string(st.out);
    }
    vmm_agent_exec_status_clear(&st);
    return ok;
}

/* --- streamed exec --------------------------------------------------------------------- */

typedef struct {
    char *path;    /* the output file in the guest */
    gint64 handle; /* -1 until opened */
    VmmAgentOutputFunc fn;
} Stream;

/*
 * Passes what @s's file gained since the last call to its callback, at most
 * @max_chunks reads so a fast writer cannot starve the status and timeout
 * checks. *@caught_up says whether the last read reached the end of the file.
 */
static gboolean
stream_pump(virDomainPtr dom, Stream *s, gpointer user_data, int max_chunks, gboolean *got,
            gboolean *caught_up, GError **error)
{
    *caught_up = TRUE;
    if (!s->fn)
        return TRUE;
    for (int i = 0; i < max_chunks; i++) {
        gboolean eof = FALSE;
        g_autoptr(GBytes) data =
            vmm_agent_priv_file_read(dom, s->handle, CHUNK, CMD_TIMEOUT_S, &eof, error);
        gsize len = 0;
        const char *p;

        if (!data)
            return FALSE;
        p = g_bytes_get_data(data, &len);
        if (len) {
            s->fn(p, len, user_data);
            *got = TRUE;
        }
        if (eof || len < CHUNK)
            return TRUE;
    }
    *caught_up = FALSE;
    return TRUE;
}

/*
 * Creates and opens both output files ("a+": created empty, read from the
 * start) before the command runs, so the wrapper can drop their names at once
 * and a crash of airlock leaves nothing behind. The directory is made on the
 * first exec after boot.
 */
static gboolean
streams_open(virDomainPtr dom, Stream *s, GError **error)
{
    for (int i = 0; i < 2; i++) {
        g_autoptr(GError) oerr = NULL;
        if (vmm_agent_priv_file_open(dom, s[i].path, "a+", &s[i].handle, &oerr))
            continue;
        if (i == 0) {
            const char *args[] = {VMM_AGENT_EXEC_DIR, NULL};
            if (vmm_agent_priv_guest_sh(dom, "umask 077; mkdir -p -m 0700 -- \"$1\"", args,
                                        "cannot create " VMM_AGENT_EXEC_DIR " in the guest", NULL,
                                        error) &&
                vmm_agent_priv_file_open(dom, s[i].path, "a+", &s[i].handle, error))
                continue;
        } else {
            g_propagate_error(error, g_steal_pointer(&oerr));
        }
        s[i].handle = -1;
        return FALSE;
    }
    return TRUE;
}

static void
streams_close(virDomainPtr dom, Stream *s, gboolean remove)
{
    const char *rm_args[3] = {s[0].path, s[1].path, NULL};

    for (int i = 0; i < 2; i++) {
        g_autoptr(GError) err = NULL;
        if (s[i].handle >= 0 && !vmm_agent_priv_file_close(dom, s[i].handle, &err))
            g_debug("closing %s: %s", s[i].path, err->message);
        s[i].handle = -1;
    }
    if (remove) {
        g_autoptr(GError) err = NULL;
        if (!vmm_agent_priv_guest_sh(dom, "rm -f -- \"$1\" \"$2\"", rm_args,
                                     "cannot remove exec output", NULL, &err))
            g_debug("%s", err->message);
    }
}

/*
 * A signal other than SIGWINCH came through @fd. Read only what is there:
 * the fd may block (airlockd's cancel pipes do), and this loop must not.
 */
static gboolean
signalled(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    guint8 sigs[16];
    ssize_t n;
    gboolean any = FALSE;

    while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && (n = read(fd, sigs, sizeof(sigs))) > 0)
        for (ssize_t i = 0; i < n; i++)
            any |= sigs[i] != SIGWINCH;
    return any;
}

gboolean
vmm_agent_exec(virDomainPtr dom, const VmmAgentExec *spec, int *exit_code, GError **error)
{
    g_autofree char *id = g_uuid_string_random();
    g_auto(GStrv) argv = NULL;
    g_autofree char *out_path = NULL, *err_path = NULL;
    Stream s[2];
    VmmAgentExecStatus st = {0};
    gint64 pid, start, kill_at = 0;
    gulong delay = POLL_FIRST_US;
    gboolean ok = FALSE, killed = FALSE, exited = FALSE, interrupted = FALSE;
    int drain_rounds = 0;
    g_autoptr(VmmGuestConn) conn = vmm_agent_priv_guest_conn(dom);

    if (conn)
        return vmm_guest_exec(conn, spec, exit_code, error);
    if (spec->user || spec->group)
        return needs_guest("running as another user", error);
    if (spec->tty)
        return needs_guest("a terminal", error);

    argv = vmm_agent_stream_argv(VMM_AGENT_EXEC_DIR, id, spec->argv, spec->env, spec->workdir,
                                 spec->with_sandbox_env ? VMM_SEED_WITH_ENV : NULL, TRUE, error);
    if (!argv)
        return FALSE;
    out_path = g_strdup_printf("%s/%s.out", VMM_AGENT_EXEC_DIR, id);
    err_path = g_strdup_printf("%s/%s.err", VMM_AGENT_EXEC_DIR, id);
    s[0] = (Stream){out_path, -1, spec->on_stdout};
    s[1] = (Stream){err_path, -1, spec->on_stderr};

    g_debug("exec %s (id %s)", spec->argv[0], id);
    if (!streams_open(dom, s, error)) {
        streams_close(dom, s, TRUE);
        return FALSE;
    }
    if (!exec_start(dom, (const char *const *)argv, NULL, spec->input, TRUE, &pid, error)) {
        streams_close(dom, s, TRUE);
        return FALSE;
    }
    start = g_get_monotonic_time();

    for (;;) {
        gboolean got = FALSE, up0 = TRUE, up1 = TRUE;
        gint64 now, sleep_us;

        /* Status first: once it says exited, the reads below see all the output. */
        if (!exited) {
            vmm_agent_exec_status_clear(&st);
            if (!exec_status(dom, pid, &st, error))
                goto out;
            exited = st.exited;
        }
        if (!stream_pump(dom, &s[0], spec->user_data, PUMP_CHUNKS, &got, &up0, error) ||
            !stream_pump(dom, &s[1], spec->user_data, PUMP_CHUNKS, &got, &up1, error))
            goto out;
        if (exited && ((up0 && up1) || ++drain_rounds > MAX_DRAIN_ROUNDS))
            break; /* a background process may still write; it is not ours to wait for */
        now = g_get_monotonic_time();
        if (spec->timeout_ms && !killed && now - start >= (gint64)spec->timeout_ms * 1000) {
            g_debug("exec %s: timeout, killing process group %" G_GINT64_FORMAT, id, pid);
            if (!exec_kill(dom, pid, error))
                goto out;
            killed = TRUE;
            kill_at = now;
            delay = POLL_FIRST_US;
            continue;
        }
        if (spec->signals && !killed && !exited && signalled(spec->signal_fd)) {
            /* No signal forwarding through the agent: Ctrl-C ends the command's group. */
            if (!exec_kill(dom, pid, error))
                goto out;
            killed = interrupted = TRUE;
            kill_at = now;
            delay = POLL_FIRST_US;
            continue;
        }
        if (exited)
            continue; /* still draining */
        if (killed && now - kill_at > KILL_WAIT_US) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                        "the command did not end after SIGKILL to its process group");
            goto out;
        }
        sleep_us = got ? POLL_MIN_US : delay;
        if (spec->timeout_ms && !killed)
            sleep_us = MIN(sleep_us, start + (gint64)spec->timeout_ms * 1000 - now);
        if (sleep_us > 0)
            g_usleep(sleep_us);
        delay = got ? POLL_MIN_US : MIN(MAX(delay, POLL_MIN_US) * 5 / 4, POLL_MAX_US);
    }

    /* Anything on the wrapper's own stderr means it failed before running the command. */
    if (st.err && g_bytes_get_size(st.err) > 0) {
        g_autofree char *msg = helper_stderr(&st);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "cannot start the command in the guest: %s",
                    msg);
        goto out;
    }
    if (exit_code)
        *exit_code = st.exit_code;
    if (interrupted) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "interrupted: the command's process group in the guest was killed");
        goto out;
    }
    if (killed) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_TIMEOUT,
                    "command timed out after %g s and was killed", spec->timeout_ms / 1000.0);
        goto out;
    }
    ok = TRUE;

out:
    /* The wrapper removed the names; after an agent failure, skip the closes if it is gone. */
    if (ok || killed || vmm_agent_ping(dom, NULL))
        streams_close(dom, s, FALSE);
    vmm_agent_exec_status_clear(&st);
    return ok;
}

/* --- time ------------------------------------------------------------------------------ */

gboolean
vmm_agent_set_time(virDomainPtr dom, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *cmd = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autoptr(GError) err = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "time");
    json_builder_add_int_value(b, g_get_real_time() * 1000);
    json_builder_end_object(b);
    cmd = vmm_agent_json_command("guest-set-time", json_builder_get_root(b));
    ret = vmm_agent_priv_call(dom, cmd, CMD_TIMEOUT_S, "cannot set the guest clock", &err);
    if (ret)
        return TRUE;
    /*
     * qemu-ga refuses guest-set-time without /sbin/hwclock (util-linux-extra
     * since bookworm); date(1) sets the system clock just the same.
     */
    {
        gint64 now = g_get_real_time();
        g_autofree char *when = g_strdup_printf("@%" G_GINT64_FORMAT ".%06d", now / G_USEC_PER_SEC,
                                                (int)(now % G_USEC_PER_SEC));
        const char *args[] = {when, NULL};
        g_autoptr(GError) derr = NULL;

        if (vmm_agent_priv_guest_sh(dom, "exec date -u -s \"$1\" >/dev/null", args, "date", NULL,
                                    &derr))
            return TRUE;
        g_debug("date fallback: %s", derr->message);
    }
    g_propagate_error(error, g_steal_pointer(&err));
    return FALSE;
}
