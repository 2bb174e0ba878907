/* fixup.h: after a memory restore, the guest's clock and random state. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

/*
 * A restored guest wakes with the clock it had when it was saved and with
 * the CRNG state it had then, so two resets would replay one random stream.
 * Both are fixed from the host: its time and 64 bytes of its /dev/urandom,
 * mixed in and followed by RNDRESEEDCRNG.
 *
 * Fast path: a small helper, airlock-fixup (guest/airlock-fixup.c, ~2 KB of
 * freestanding code installed as /usr/local/sbin/airlock-fixup), runs in the
 * guest from before the snapshot on and sleeps on its own virtio-serial port
 * (VMM_FIXUP_CHANNEL). The revert restores the domain paused, connects to
 * the port's socket and writes the request, then resumes: the helper works
 * while the agent reconnects, and its answer is usually there by the time
 * the agent answers. Under TCG this saves ~0.2 s against a process started
 * through the agent after the resume (qemu-ga forks, perl starts, cold).
 *
 * Fallback (no port: a remote host, a sandbox without the channel, a helper
 * that does not answer): the same fix as one command through the agent.
 */

typedef struct _VmmFixup VmmFixup;

void vmm_fixup_free(VmmFixup *fx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmFixup, vmm_fixup_free)

/*
 * Before a snapshot: starts the helper unless one runs. A guest without the
 * port is fine (reverts take the fallback); only a failing start is an error.
 */
gboolean vmm_fixup_prepare(virDomainPtr dom, GError **error);

/*
 * Right after a paused restore: connects to the helper's port and sends the
 * request. NULL when that is not possible here (no port, not local): then
 * vmm_fixup_finish runs the fallback.
 */
VmmFixup *vmm_fixup_send(virDomainPtr dom);

/*
 * After the resume: waits for the helper's answer; without one (or with
 * @fx NULL) runs the fallback. *@via (may be NULL) is "helper" or "exec":
 * the path that did it.
 */
gboolean vmm_fixup_finish(virDomainPtr dom, VmmFixup *fx, const char **via, GError **error);
