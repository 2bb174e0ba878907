/* fixup.c: after a memory restore, the guest's clock and random state. */
#include <config.h>

#include "fixup.h"
#include "settings.h"
#include "agent.h"
#include "domain-xml.h"
#include "error.h"
#include "escape.h"
#include "guest-channel.h"
#include "metadata.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ID_LEN 16
#define SEED_LEN 64
#define REQUEST_LEN (ID_LEN + 8 + 8 + SEED_LEN)
#define REPLY_MAX 256
/* guest/airlock-fixup, built for this host's architecture by vmm/guest.mk (empty elsewhere). */
extern const unsigned char vmm_fixup_helper[];
extern const unsigned long vmm_fixup_helper_len;

#define REPLY_WAIT_MS 3000 /* a live helper answers within ~0.1 s of the resume under TCG */
#define START_TIMEOUT_MS 15000
#define EXEC_TIMEOUT_MS 10000
#define HELPER_NOT_POSSIBLE 3 /* the launcher's exit code when the guest has no port */

/*
 * The launcher (perl-base is Essential in Debian), run through the agent
 * after airlock wrote the helper (guest/airlock-fixup.c) to GUEST_BIN.new. One
 * helper per guest: a live one (pid file, name) is kept unless the argument
 * is "restart". It hands the helper the port as fd 0 (O_ASYNC, SIGIO to the
 * helper, SIGIO blocked: the helper waits with sigtimedwait) and a pipe as
 * fd 1, on which the helper says "ok" once it runs; requests queued on the
 * port before are stale and drained first. Exit 3: the guest has no port.
 * SIGIO is 29 on x86_64; a string as fcntl's third argument would be passed
 * as a pointer, hence $$ + 0.
 */
#define GUEST_DIR "/run/airlock"
#define GUEST_BIN "/usr/local/sbin/airlock-fixup" /* /run is noexec */
#define LAUNCHER_SCRIPT                                                                            \
    "use strict; use POSIX (); use Fcntl;"                                                         \
    "my $port = '/dev/virtio-ports/" VMM_FIXUP_CHANNEL "'; my $d = '" GUEST_DIR "';"               \
    "my $bin = '" GUEST_BIN "'; -c $port or exit 3; mkdir $d, 0700;"                               \
    "if (-e \"$bin.new\") { chmod 0700, \"$bin.new\"; rename(\"$bin.new\", $bin) or die \"$bin: "  \
    "$!\\n\"; }"                                                                                   \
    "if (open(my $p, '<', \"$d/fixup.pid\")) {"                                                    \
    "  my $old = <$p> // ''; chomp $old;"                                                          \
    "  if ($old =~ /^\\d+$/ && open(my $c, '<', \"/proc/$old/cmdline\")) {"                        \
    "    if ((<$c> // '') =~ /^airlock-fixup/) {"                                                  \
    "      exit 0 unless @ARGV && $ARGV[0] eq 'restart';"                                          \
    "      kill 'KILL', $old;"                                                                     \
    "      for (1 .. 200) { last unless -e \"/proc/$old\"; select(undef, undef, undef, 0.01); } "  \
    "} } }"                                                                                        \
    "sysopen(my $f, $port, O_RDWR | O_NONBLOCK) or die \"$port: $!\\n\";"                          \
    "my $junk; 1 while (sysread($f, $junk, 4096) // 0) > 0;"                                       \
    "fcntl($f, F_SETFL, O_RDWR) or die \"fcntl: $!\\n\";"                                          \
    "pipe(my $r, my $w) or die \"pipe: $!\\n\";"                                                   \
    "my $pid = fork() // die \"fork: $!\\n\";"                                                     \
    "if ($pid) { close $w; my $ok = <$r> // ''; exit($ok eq \"ok\\n\" ? 0 : 1); }"                 \
    "close $r; POSIX::setsid();"                                                                   \
    "POSIX::sigprocmask(POSIX::SIG_BLOCK(), POSIX::SigSet->new(29)) or exit 1;"                    \
    "fcntl($f, F_SETOWN, $$ + 0) or exit 1; fcntl($f, F_SETFL, O_RDWR | O_ASYNC) or exit 1;"       \
    "open(my $p, '>', \"$d/fixup.pid\") or exit 1; print $p \"$$\\n\"; close $p;"                  \
    "open(STDIN, '+<&', $f) or exit 1; open(STDOUT, '>&', $w) or exit 1;"                          \
    "open(STDERR, '>', '/dev/null'); exec { $bin } 'airlock-fixup'; exit 1;"

/* The fallback: the same fix as one command, the request on stdin. */
#define EXEC_SCRIPT                                                                                \
    "binmode STDIN; local $/; my $b = <STDIN>; length($b) == 96 or die \"short request\\n\";"      \
    "my ($id, $s, $ns, $seed) = unpack('a16 q< q< a64', $b);"                                      \
    "syscall(227, 0, pack('q q', $s, $ns)) == 0 or die \"clock_settime: $!\\n\";"                  \
    "open(my $f, '+<', '/dev/urandom') or die \"/dev/urandom: $!\\n\";"                            \
    "syswrite($f, $seed) == 64 or die \"writing /dev/urandom: $!\\n\";"                            \
    "ioctl($f, 0x5207, 0) or die \"RNDRESEEDCRNG: $!\\n\";"

struct _VmmFixup {
    int fd;
    char id_hex[ID_LEN * 2 + 1];
    VmmGuestConn *guest; /* airlock-guest's port; else @fd is airlock-fixup's */
};

void
vmm_fixup_free(VmmFixup *fx)
{
    if (!fx)
        return;
    if (fx->fd >= 0)
        close(fx->fd);
    vmm_guest_conn_free(fx->guest);
    g_free(fx);
}

static gboolean
host_random(guchar *buf, gsize len, GError **error)
{
    FILE *f = fopen("/dev/urandom", "re");
    gboolean ok = f && fread(buf, 1, len, f) == len;

    if (f)
        fclose(f);
    if (!ok)
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the host's /dev/urandom");
    return ok;
}

/* A request: a fresh id, the host's time now, 64 random bytes. */
static gboolean
build_request(guchar req[REQUEST_LEN], char id_hex[ID_LEN * 2 + 1], GError **error)
{
    gint64 now_us, s, ns;

    if (!host_random(req, ID_LEN, error) || !host_random(req + ID_LEN + 16, SEED_LEN, error))
        return FALSE;
    for (int i = 0; i < ID_LEN; i++)
        g_snprintf(id_hex + 2 * i, 3, "%02x", req[i]);
    now_us = g_get_real_time();
    s = GINT64_TO_LE(now_us / G_USEC_PER_SEC);
    ns = GINT64_TO_LE((now_us % G_USEC_PER_SEC) * 1000);
    memcpy(req + ID_LEN, &s, 8);
    memcpy(req + ID_LEN + 8, &ns, 8);
    return TRUE;
}

/* The host end of the helper's port (a unix socket qemu listens on), or NULL. */
static char *
channel_socket(virDomainPtr dom)
{
    g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
    g_autofree char *path = vmm_xml_xpath_string(
        xml, "string(/domain/devices/channel[target/@name='" VMM_FIXUP_CHANNEL "']/source/@path)");
    struct stat st;

    /* Only on the host that runs the sandbox; a remote one takes the fallback. */
    if (!path || stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return NULL;
    return g_steal_pointer(&path);
}

/* Through airlock-guest: HELLO and FIXUP queued at once, answered once the guest runs. */
static VmmFixup *
send_guest(virDomainPtr dom)
{
    g_autoptr(VmmFixup) fx = g_new0(VmmFixup, 1);
    g_autoptr(GError) err = NULL;
    guchar req[REQUEST_LEN];
    gboolean sent;

    fx->fd = -1;
    if (!(fx->guest = vmm_guest_connect(dom, 0, &err)) || !build_request(req, fx->id_hex, &err)) {
        g_debug("clock fix through airlock-guest: %s", err->message);
        return NULL;
    }
    sent = vmm_guest_fixup_send(fx->guest, req + ID_LEN, REQUEST_LEN - ID_LEN, &err);
    memset(req, 0, sizeof(req));
    return sent ? g_steal_pointer(&fx) : NULL;
}

VmmFixup *
vmm_fixup_send(virDomainPtr dom)
{
    g_autofree char *path = channel_socket(dom);
    g_autoptr(VmmFixup) fx = NULL;
    g_autoptr(GError) err = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    guchar req[REQUEST_LEN];
    gboolean sent;

    /* AIRLOCK_FIXUP=exec: always the fallback (to compare, or to rule the helper out). */
    if (vmm_config_get()->fixup_exec)
        return NULL;
    if ((fx = send_guest(dom)))
        return g_steal_pointer(&fx);
    if (!path || strlen(path) >= sizeof(addr.sun_path))
        return NULL;
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    fx = g_new0(VmmFixup, 1);
    fx->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fx->fd < 0 || connect(fx->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        g_debug("cannot connect to %s: %s", path, g_strerror(errno));
        return NULL;
    }
    if (!build_request(req, fx->id_hex, &err)) {
        g_debug("%s", err->message);
        return NULL;
    }
    sent = write(fx->fd, req, sizeof(req)) == (ssize_t)sizeof(req);
    memset(req, 0, sizeof(req));
    if (!sent)
        return NULL;
    return g_steal_pointer(&fx);
}

/* The helper's answer: TRUE when it did the fix; FALSE (with @error only when it reported a
 * failure). */
static gboolean
read_answer(VmmFixup *fx, gboolean *answered, GError **error)
{
    char buf[REPLY_MAX];
    gsize len = 0;
    gint64 deadline = g_get_monotonic_time() + (gint64)REPLY_WAIT_MS * 1000;

    *answered = FALSE;
    if (fx->guest) {
        g_autoptr(GError) err = NULL;
        if (vmm_guest_fixup_finish(fx->guest, REPLY_WAIT_MS, answered, &err))
            return TRUE;
        if (*answered)
            g_propagate_error(error, g_steal_pointer(&err));
        else
            g_debug("airlock-guest did not fix the clock: %s", err->message);
        return FALSE;
    }
    while (len < sizeof(buf) - 1) {
        struct pollfd pfd = {.fd = fx->fd, .events = POLLIN};
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        ssize_t n;
        char *nl;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return FALSE;
        n = read(fx->fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            return FALSE;
        len += n;
        buf[len] = '\0';
        if (!(nl = strchr(buf, '\n')))
            continue;
        *nl = '\0';
        if (strncmp(buf, fx->id_hex, ID_LEN * 2) != 0 || buf[ID_LEN * 2] != ' ')
            return FALSE;
        *answered = TRUE;
        if (strcmp(buf + ID_LEN * 2 + 1, "ok") == 0)
            return TRUE;
        {
            g_autofree char *shown = vmm_escape(buf + ID_LEN * 2 + 1, -1, VMM_ESCAPE_LINE_MAX);
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                        "setting the guest clock and reseeding its RNG failed (%s)", shown);
        }
        return FALSE;
    }
    return FALSE;
}

static gboolean
fix_by_exec(virDomainPtr dom, GError **error)
{
    const char *argv[] = {"perl", "-e", EXEC_SCRIPT, NULL};
    guchar req[REQUEST_LEN];
    char id_hex[ID_LEN * 2 + 1];
    g_autoptr(GBytes) input = NULL;
    g_autofree char *err_text = NULL;
    int code = -1;

    if (!build_request(req, id_hex, error))
        return FALSE;
    input = g_bytes_new(req, sizeof(req));
    memset(req, 0, sizeof(req));
    if (!vmm_agent_run_input(dom, argv, input, EXEC_TIMEOUT_MS, &code, NULL, &err_text, error))
        return FALSE;
    if (code != 0) {
        g_autofree char *shown =
            vmm_escape(err_text ? g_strstrip(err_text) : "", -1, VMM_ESCAPE_LINE_MAX);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "setting the guest clock and reseeding its RNG failed (exit %d: %s)", code,
                    shown);
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_fixup_finish(virDomainPtr dom, VmmFixup *fx, const char **via, GError **error)
{
    gboolean answered = FALSE;

    if (fx && read_answer(fx, &answered, error)) {
        if (via)
            *via = "helper";
        return TRUE;
    }
    if (answered)
        return FALSE;
    if (fx)
        g_debug("the clock and RNG helper did not answer; fixing through the agent");
    if (via)
        *via = "exec";
    return fix_by_exec(dom, error);
}

gboolean
vmm_fixup_prepare(virDomainPtr dom, GError **error)
{
    /*
     * airlock-guest runs in the guest as a service: one round proves it answers (and leaves
     * its pages warm in the snapshot); one that runs but does not answer (stopped, stuck) is
     * restarted once.
     */
    for (int round = 0; round < 2; round++) {
        g_autoptr(VmmFixup) fx = send_guest(dom);
        const char *argv[] = {"systemctl", "restart", "airlock-guest.service", NULL};
        gboolean answered = FALSE;
        int code = -1;

        if (fx && read_answer(fx, &answered, error))
            return TRUE;
        if (answered)
            return FALSE;
        if (!fx || round)
            break;
        g_clear_pointer(&fx, vmm_fixup_free); /* frees the port for the restarted helper */
        if (!vmm_agent_run(dom, argv, START_TIMEOUT_MS, &code, NULL, NULL, error))
            return FALSE;
        if (code != 0)
            break;
    }
    if (vmm_fixup_helper_len == 0)
        return TRUE; /* not built for this host: reverts take the fallback */
    {
        g_autoptr(GError) err = NULL;
        if (!vmm_agent_write_file(dom, GUEST_BIN ".new", vmm_fixup_helper, vmm_fixup_helper_len,
                                  &err)) {
            g_debug("cannot install the clock and RNG helper in the guest (%s); resets will "
                    "fix the clock through the agent (slower)",
                    err->message);
            return TRUE;
        }
    }
    /* The second round replaces a helper that runs but does not answer (stopped, stuck). */
    for (int round = 0; round < 2; round++) {
        const char *argv[] = {"perl", "-e", LAUNCHER_SCRIPT, round ? "restart" : NULL, NULL};
        g_autofree char *err_text = NULL;
        g_autoptr(VmmFixup) fx = NULL;
        gboolean answered = FALSE;
        int code = -1;

        if (!vmm_agent_run(dom, argv, START_TIMEOUT_MS, &code, NULL, &err_text, error))
            return FALSE;
        if (code == HELPER_NOT_POSSIBLE)
            return TRUE; /* no port in this guest: reverts take the fallback */
        if (code != 0) {
            g_autofree char *shown =
                vmm_escape(err_text ? g_strstrip(err_text) : "", -1, VMM_ESCAPE_LINE_MAX);
            g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                        "cannot start the clock and RNG helper in the guest (exit %d: %s)", code,
                        shown);
            return FALSE;
        }
        /* One round through it: proves it answers, and leaves its pages warm in the snapshot. */
        if ((fx = vmm_fixup_send(dom)) && read_answer(fx, &answered, error))
            return TRUE;
        if (answered)
            return FALSE;
        if (!fx)
            return TRUE; /* not reachable from here (remote host): reverts take the fallback */
    }
    g_debug("the clock and RNG helper in the guest does not answer; resets will fix the clock "
            "through the agent (slower)");
    return TRUE;
}
