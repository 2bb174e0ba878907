/*
 * airlock-guest-exec.c: EXEC of airlock-guest (docs/guest-protocol.md): the user and
 * groups from /etc/passwd and /etc/group, the environment (the sandbox's files read as
 * the user), pipes or a pty, stdin with WINDOW credits, the timeout, the exit status.
 * Included by airlock-guest.c (one translation unit: one static binary).
 */

/* ---- exec ---------------------------------------------------------------------------- */

typedef struct {
    const char *argv[AG_EXEC_ARGS_MAX + 2];
    int argc;
    const char *env[AG_EXEC_ENV_MAX + 16];
    int envc;
    const char *cwd, *user, *group;
} ExecSpec;

/* Reads the AG_EXEC fields into @spec, NUL-terminating each in place (it has room: the tag). */
static int
exec_fields(uint8_t *p, size_t len, ExecSpec *spec)
{
    while (len > 0) {
        if (len < 5)
            return -1;
        uint8_t tag = p[0];
        uint32_t n = ag_get32(p + 1);
        if (n > len - 5 || memchr(p + 5, 0, n))
            return -1;
        /* the value moves one byte left over its header so a NUL can follow it */
        memmove(p, p + 5, n);
        p[n] = 0;
        const char *v = (const char *)p;
        switch (tag) {
        case AG_F_ARG:
            if (spec->argc >= (int)(sizeof(spec->argv) / sizeof(spec->argv[0])) - 1)
                return -1;
            spec->argv[spec->argc++] = v;
            break;
        case AG_F_ENV:
            if (spec->envc >= (int)(sizeof(spec->env) / sizeof(spec->env[0])) - 16 ||
                !strchr(v, '=') || v[0] == '=')
                return -1;
            spec->env[spec->envc++] = v;
            break;
        case AG_F_CWD:
            spec->cwd = v;
            break;
        case AG_F_USER:
            spec->user = v;
            break;
        case AG_F_GROUP:
            spec->group = v;
            break;
        default:
            return -1;
        }
        p += 5 + n;
        len -= 5 + n;
    }
    return 0;
}

typedef struct {
    uid_t uid;
    gid_t gid;
    gid_t groups[MAX_GROUPS];
    int ngroups;
    char name[256], home[AG_PATH_MAX], shell[AG_PATH_MAX];
} Who;

static int
all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/*
 * /etc/passwd and /etc/group read directly (fgetpwent: no NSS modules in a static
 * binary). A numeric user without an entry runs with that uid, gid = uid, home /.
 */
static int
lookup_user(const char *user, const char *group, Who *w, char *why, size_t whylen)
{
    FILE *f;
    struct passwd *pw;
    struct group *gr;
    int found = 0;

    *w = (Who){0};
    snprintf(w->name, sizeof(w->name), "root");
    snprintf(w->home, sizeof(w->home), "/root");
    snprintf(w->shell, sizeof(w->shell), "/bin/sh");
    if (!user || !*user)
        user = "0";
    if ((f = fopen("/etc/passwd", "re"))) {
        while ((pw = fgetpwent(f))) {
            if (all_digits(user) ? pw->pw_uid == strtoul(user, NULL, 10)
                                 : strcmp(pw->pw_name, user) == 0) {
                w->uid = pw->pw_uid;
                w->gid = pw->pw_gid;
                snprintf(w->name, sizeof(w->name), "%s", pw->pw_name);
                snprintf(w->home, sizeof(w->home), "%s", pw->pw_dir);
                if (pw->pw_shell && *pw->pw_shell)
                    snprintf(w->shell, sizeof(w->shell), "%s", pw->pw_shell);
                found = 1;
                break;
            }
        }
        fclose(f);
    }
    if (!found) {
        if (!all_digits(user)) {
            snprintf(why, whylen, "user '%s' does not exist in the guest", user);
            return -1;
        }
        w->uid = w->gid = (uid_t)strtoul(user, NULL, 10);
        snprintf(w->name, sizeof(w->name), "%s", user);
        snprintf(w->home, sizeof(w->home), "/");
    }
    found = group == NULL || all_digits(group);
    if (group && all_digits(group))
        w->gid = (gid_t)strtoul(group, NULL, 10);
    w->groups[w->ngroups++] = w->gid;
    if ((f = fopen("/etc/group", "re"))) {
        while ((gr = fgetgrent(f))) {
            if (group && !all_digits(group) && strcmp(gr->gr_name, group) == 0) {
                w->gid = gr->gr_gid;
                w->groups[0] = w->gid;
                found = 1;
            }
            for (char **m = gr->gr_mem; m && *m && w->ngroups < MAX_GROUPS; m++)
                if (strcmp(*m, w->name) == 0 && gr->gr_gid != w->groups[0])
                    w->groups[w->ngroups++] = gr->gr_gid;
        }
        fclose(f);
    }
    if (!found) {
        snprintf(why, whylen, "group '%s' does not exist in the guest", group);
        return -1;
    }
    return 0;
}

/* In the child: reports a failure before exec on @errfd (code, errno, text) and exits. */
static void __attribute__((noreturn)) child_fail(int errfd, int code, const char *what)
{
    uint8_t msg[8 + 512];
    int e = errno;
    int n = snprintf((char *)msg + 8, 512, "%s: %s", what, strerror(e));
    ag_put32(msg, (uint32_t)code);
    ag_put32(msg + 4, (uint32_t)e);
    if (n > 511)
        n = 511;
    if (write(errfd, msg, 8 + (size_t)n) < 0)
        _exit(127);
    _exit(127);
}

/* Sets "K=V" @kv in @envp (replacing K's entry); @envp has room for one more. */
static void
env_set(const char **envp, int *envc, const char *kv)
{
    size_t klen = (size_t)(strchr(kv, '=') - kv) + 1;
    int j;
    for (j = 0; j < *envc; j++)
        if (strncmp(envp[j], kv, klen) == 0)
            break;
    envp[j] = kv;
    if (j == *envc)
        (*envc)++;
}

/*
 * In the child, as the user: the KEY='v'\''alue' lines that airlock's seed writes
 * (seed.c's shell_assign; a value may span lines inside its quotes) into @envp, at most
 * @max entries in all. What the user may not read is skipped, as the shell wrapper did.
 */
static void
load_env_file(const char *path, const char **envp, int *envc, int max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf, *p;

    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0 || st.st_size > (off_t)AG_FRAME_MAX ||
        !(buf = malloc((size_t)st.st_size + 1))) {
        close(fd);
        return;
    }
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    for (p = buf; *p && *envc < max;) {
        char *k = p, *o, c;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
               (p > k && *p >= '0' && *p <= '9'))
            p++;
        if (p == k || *p != '=') { /* not ours: skip the line */
            p = strchr(p, '\n');
            p = p ? p + 1 : k + strlen(k);
            continue;
        }
        o = ++p;
        while (*p && *p != '\n') {
            if (*p == '\'') {
                for (p++; *p && *p != '\''; p++)
                    *o++ = *p;
                if (*p)
                    p++;
            } else if (*p == '\\' && p[1]) {
                *o++ = p[1];
                p += 2;
            } else if (*p == ' ' || *p == '\t') { /* as in sh: the value ends here */
                while (*p && *p != '\n')
                    p++;
            } else {
                *o++ = *p++;
            }
        }
        c = *p;
        *o = 0;
        env_set(envp, envc, k);
        p += c ? 1 : 0;
    }
}

static void
exec_start(int p, uint32_t sid, uint8_t *pl, uint32_t len)
{
    static ExecSpec spec;
    Who who;
    char why[512], cwd[AG_PATH_MAX * 2 + 2], envbuf[6][AG_PATH_MAX + 16];
    static const char *envp[2 * AG_EXEC_ENV_MAX + 16];
    int envc = 0, in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, ep[2];
    int master = -1;
    uint32_t flags, timeout;
    uint16_t rows, cols;
    static char dash[AG_PATH_MAX + 2];
    const char *prog;
    Session *s;
    pid_t pid;

    memset(&spec, 0, sizeof(spec));
    if (len < 12 || exec_fields(pl + 12, len - 12, &spec) < 0) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "malformed EXEC");
        return;
    }
    flags = ag_get32(pl);
    if (flags & ~(AG_EXEC_PTY | AG_EXEC_STDIN | AG_EXEC_SANDBOX_ENV)) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "unknown EXEC flags 0x%x", flags);
        return;
    }
    timeout = ag_get32(pl + 4);
    rows = ag_get16(pl + 8);
    cols = ag_get16(pl + 10);
    if (session_find(p, sid)) {
        send_error(p, sid, AG_E_PROTOCOL, 0, "session %u is in use", sid);
        return;
    }
    if (lookup_user(spec.user, spec.group, &who, why, sizeof(why)) < 0) {
        send_error(p, sid, AG_E_NOUSER, 0, "%s", why);
        return;
    }
    prog = spec.argv[0];
    if (spec.argc == 0) { /* the user's login shell: argv[0] "-bash" */
        const char *base = strrchr(who.shell, '/');
        snprintf(dash, sizeof(dash), "-%s", base ? base + 1 : who.shell);
        prog = who.shell;
        spec.argv[spec.argc++] = dash;
    }
    spec.argv[spec.argc] = NULL;
    if (!spec.cwd || !*spec.cwd)
        snprintf(cwd, sizeof(cwd), "%s", who.home);
    else if (spec.cwd[0] == '/')
        snprintf(cwd, sizeof(cwd), "%s", spec.cwd);
    else
        snprintf(cwd, sizeof(cwd), "%s/%s", who.home, spec.cwd);
    snprintf(envbuf[0], sizeof(envbuf[0]), "HOME=%s", who.home);
    snprintf(envbuf[1], sizeof(envbuf[1]), "USER=%s", who.name);
    snprintf(envbuf[2], sizeof(envbuf[2]), "LOGNAME=%s", who.name);
    snprintf(envbuf[3], sizeof(envbuf[3]), "SHELL=%s", who.shell);
    envp[envc++] = "PATH=" DEFAULT_PATH;
    envp[envc++] = "LANG=C.UTF-8";
    for (int i = 0; i < 4; i++)
        envp[envc++] = envbuf[i];
    envp[envc] = NULL;

    if (!(s = session_new(p, sid, S_EXEC))) {
        send_error(p, sid, AG_E_BUSY, 0, "too many sessions on this port");
        return;
    }
    if (flags & AG_EXEC_PTY) {
        struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
            send_error(p, sid, AG_E_IO, errno, "cannot open a pty: %s", strerror(errno));
            close_fd(&master);
            session_end(s);
            return;
        }
        ioctl(master, TIOCSWINSZ, &ws);
    } else if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
               ((flags & AG_EXEC_STDIN) && pipe2(in_p, O_CLOEXEC) < 0)) {
        send_error(p, sid, AG_E_IO, errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (pipe2(ep, O_CLOEXEC) < 0) {
        send_error(p, sid, AG_E_IO, errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        setsid();
        if (master >= 0) {
            int slave = open(ptsname(master), O_RDWR);
            if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
                child_fail(ep[1], AG_E_IO, "pty");
            dup2(slave, 0);
            dup2(slave, 1);
            dup2(slave, 2);
            if (slave > 2)
                close(slave);
        } else {
            int null = open("/dev/null", O_RDONLY);
            dup2(in_p[0] >= 0 ? in_p[0] : null, 0);
            dup2(out_p[1], 1);
            dup2(err_p[1], 2);
        }
        if (setgroups((size_t)who.ngroups, who.groups) < 0 || setgid(who.gid) < 0 ||
            setuid(who.uid) < 0)
            child_fail(ep[1], AG_E_PERMISSION, "cannot switch to the user");
        if (chdir(cwd) < 0) {
            if (spec.cwd && *spec.cwd) {
                char what[AG_PATH_MAX * 2 + 32];
                snprintf(what, sizeof(what), "working directory '%s'", cwd);
                child_fail(ep[1], errno_code(errno), what);
            }
            if (chdir("/") < 0)
                child_fail(ep[1], AG_E_IO, "chdir /");
        }
        /* the sandbox's env and secrets as this user may read them, then the caller's */
        if (flags & AG_EXEC_SANDBOX_ENV) {
            load_env_file(AG_ENV_FILE, envp, &envc, AG_EXEC_ENV_MAX + 6);
            load_env_file(AG_SECRETS_FILE, envp, &envc, 2 * AG_EXEC_ENV_MAX + 6);
        }
        for (int i = 0; i < spec.envc; i++)
            env_set(envp, &envc, spec.env[i]);
        envp[envc] = NULL;
        execvpe(prog, (char *const *)spec.argv, (char *const *)envp);
        {
            int e = errno;
            dprintf(2, "airlock-guest: cannot run '%s': %s\n", prog, strerror(e));
            _exit(e == ENOENT ? 127 : 126);
        }
    }
    close(ep[1]);
    if (pid < 0) {
        send_error(p, sid, AG_E_IO, errno, "fork: %s", strerror(errno));
        close(ep[0]);
        goto fail;
    }
    {
        uint8_t msg[8 + 512];
        ssize_t n;
        while ((n = read(ep[0], msg, sizeof(msg))) < 0 && errno == EINTR)
            ;
        close(ep[0]);
        if (n >= 8) { /* it failed before exec: the child exits 127, reaped by SIGCHLD */
            send_frame(p, AG_ERROR, sid, msg, (size_t)n, NULL, 0);
            s->pid = pid;
            s->exited = 1; /* nothing to kill */
            goto fail;
        }
    }
    s->pid = pid;
    s->pty = master >= 0;
    if (master >= 0) {
        s->out_fd = master;
        s->in_fd = (flags & AG_EXEC_STDIN) ? dup(master) : -1;
        master = -1;
    } else {
        close(out_p[1]);
        close(err_p[1]);
        s->out_fd = out_p[0];
        s->err_fd = err_p[0];
        if (in_p[0] >= 0) {
            close(in_p[0]);
            s->in_fd = in_p[1];
        }
    }
    for (int *fd = &s->in_fd; fd <= &s->err_fd; fd++)
        if (*fd >= 0)
            fcntl(*fd, F_SETFL, O_NONBLOCK);
    s->stdin_eof = !(flags & AG_EXEC_STDIN);
    s->deadline = timeout ? now_ms() + timeout : 0;
    {
        uint8_t b[4];
        ag_put32(b, (uint32_t)pid);
        send_frame(p, AG_STARTED, sid, b, 4, NULL, 0);
    }
    return;
fail:
    for (int *fd = &in_p[0]; fd <= &err_p[1]; fd++)
        if (*fd >= 0)
            close(*fd);
    close_fd(&master);
    session_end(s);
}

/* Forwards what a command wrote (at most a few frames a round: other sessions get a turn). */
static void
exec_pump_output(Session *s, int *fd, uint16_t type)
{
    uint8_t data[AG_DATA_MAX];
    for (int round = 0; round < 4 && *fd >= 0 && ports[s->port].out.len < OUT_HIGH; round++) {
        ssize_t n = read(*fd, data, sizeof(data));
        if (n > 0) {
            send_frame(s->port, type, s->sid, data, (size_t)n, NULL, 0);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close_fd(fd); /* EOF, or EIO: a pty whose last slave closed */
        if (fd == &s->out_fd && s->pty)
            close_fd(&s->in_fd);
    }
}

static void
exec_pump_input(Session *s)
{
    if (s->in_fd < 0)
        return;
    if (s->stdin_q.len > 0) {
        ssize_t n = write(s->in_fd, s->stdin_q.d, s->stdin_q.len);
        if (n > 0) {
            uint8_t b[4];
            ag_put32(b, (uint32_t)n);
            buf_consume(&s->stdin_q, (size_t)n);
            send_frame(s->port, AG_WINDOW, s->sid, b, 4, NULL, 0);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            s->stdin_q.len = 0; /* the reader is gone (EPIPE): drop the rest */
            if (!s->pty)
                close_fd(&s->in_fd);
        }
    }
    if (s->stdin_q.len == 0 && s->stdin_eof && !s->pty)
        close_fd(&s->in_fd);
}

static void
exec_finish_if_done(Session *s, long long now)
{
    uint8_t b[8];
    if (!s->exited) {
        if (s->deadline && now >= s->deadline && !s->timed_out) {
            s->timed_out = 1;
            kill(-s->pid, SIGKILL);
        }
        return;
    }
    if ((s->out_fd >= 0 || s->err_fd >= 0) && now < s->exit_at + EXIT_GRACE_MS)
        return;
    exec_pump_output(s, &s->out_fd, AG_STDOUT);
    exec_pump_output(s, &s->err_fd, AG_STDERR);
    ag_put32(b, (uint32_t)s->status);
    ag_put32(b + 4, s->timed_out ? AG_EXIT_TIMEOUT : 0);
    send_frame(s->port, AG_EXIT, s->sid, b, 8, NULL, 0);
    session_end(s);
}

static void
reap_children(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
            Session *s = &sessions[i];
            if (s->kind == S_EXEC && s->pid == pid && !s->exited) {
                s->exited = 1;
                s->exit_at = now_ms();
                s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
        }
    }
}
