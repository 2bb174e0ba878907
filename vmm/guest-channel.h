/*
 * guest-channel.h: the host end of airlock-guest's ports (docs/guest-protocol.md).
 *
 * A sandbox has AG_PORTS virtio-serial ports (org.airlock.guest.N); qemu listens on a unix
 * socket for each and takes one client at a time, so a process holds a port with a lock
 * (an abstract unix socket named after the domain and the port: released when the
 * process dies) and takes the next one when it is held. Every frame from the guest is
 * validated (guest-proto.h) and every buffer bounded: a guest that speaks garbage fails
 * the operation on that connection, never the host process.
 *
 * vmm_agent_exec / vmm_agent_copy_* use this when the helper answers the handshake and
 * fall back to the QEMU guest agent otherwise (an older image, a guest still booting).
 */
#pragma once

#include "agent.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <sys/types.h>

typedef struct _VmmGuestConn VmmGuestConn;

void vmm_guest_conn_free(VmmGuestConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmGuestConn, vmm_guest_conn_free)

/* The handshake's wait for a running helper (it answers in ms; a port nobody serves: never). */
#define VMM_GUEST_HELLO_TIMEOUT_MS 1500

/*
 * Takes a free port of @dom, connects and sends HELLO. With @timeout_ms > 0 waits that
 * long for the answer; with 0 returns at once (vmm_guest_handshake later: a paused
 * guest). NULL with NOT_FOUND when @dom has no port here (or AIRLOCK_GUEST=agent), AGENT
 * when every port is held or the helper does not answer. Caller frees.
 */
VmmGuestConn *vmm_guest_connect(virDomainPtr dom, guint timeout_ms, GError **error);

/* Waits up to @timeout_ms for the answer to the HELLO that vmm_guest_connect sent. */
gboolean vmm_guest_handshake(VmmGuestConn *conn, guint timeout_ms, GError **error);

/* The helper's name and version from its HELLO, e.g. "airlock-guest 1" (escaped). */
const char *vmm_guest_conn_peer(VmmGuestConn *conn);

/*
 * Runs @spec (agent.h); stdin, a pty and signals as its fields say. *@exit_code gets the
 * status (128+N for signal N); TIMEOUT when the guest killed it at spec->timeout_ms.
 */
gboolean vmm_guest_exec(VmmGuestConn *conn, const VmmAgentExec *spec, int *exit_code,
                        GError **error);

/*
 * Copies the host file (or with @tree, the directory) @local to @guest_path, creating
 * missing parents. Modes kept (permission bits), symlinks inside a tree copied as
 * symlinks; the root is followed only with opts->dereference. @opts may be NULL.
 */
gboolean vmm_guest_put(VmmGuestConn *conn, const char *local, const char *guest_path, gboolean tree,
                       const VmmAgentCopyOpts *opts, GError **error);

/*
 * Copies @guest_path to @name in @dir_fd: a file through a temporary name and a rename
 * (with @mode less the umask), a directory (@tree) as a tree under @name, which may
 * exist (merged; nothing is followed). opts->max_bytes bounds the whole copy.
 */
gboolean vmm_guest_get(VmmGuestConn *conn, const char *guest_path, int dir_fd, const char *name,
                       mode_t mode, gboolean tree, const VmmAgentCopyOpts *opts, GError **error);

/* Sends a FIXUP request (@req: i64 s, i64 ns, 64 random bytes) without waiting. */
gboolean vmm_guest_fixup_send(VmmGuestConn *conn, const guint8 *req, gsize len, GError **error);

/*
 * Waits for the FIXUP's answer (after the handshake's). TRUE when applied; FALSE with
 * *@answered when the helper reported a failure, else it did not answer in time.
 */
gboolean vmm_guest_fixup_finish(VmmGuestConn *conn, guint timeout_ms, gboolean *answered,
                                GError **error);

/* "airlock-guest" when its helper answers on @dom now, else "qemu-guest-agent". Static. */
const char *vmm_guest_channel_name(virDomainPtr dom);

/* What a sandbox restored from a pool is told it is (docs/guest-protocol.md, IDENTITY). */
typedef struct {
    const char *hostname;   /* the sandbox's name */
    const char *machine_id; /* 32 hex digits */
    const void *env;        /* /run/airlock/env's content (KEY='value' lines) */
    gsize env_len;
    const void *secrets; /* /run/airlock/secrets.env's content */
    gsize secrets_len;
} VmmGuestIdentity;

/*
 * Hands the guest @id in one IDENTITY frame and waits for IDENTIFIED. NOT_FOUND
 * when the guest's airlock-guest does not offer it (the caller falls back);
 * a guest ERROR is that error. The payload's copy here is wiped.
 */
gboolean vmm_guest_identity(VmmGuestConn *conn, const VmmGuestIdentity *id, guint timeout_ms,
                            GError **error);
