/* agent-private.h: what agent.c (ping, exec) and agent-files.c (files, copies) share. */
#pragma once

#include "agent.h"
#include "guest-channel.h"

#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

#define PING_TIMEOUT_S 2 /* one guest-ping; short so a booting guest is polled promptly */
#define CMD_TIMEOUT_S 60 /* any other command: moves at most CHUNK bytes under TCG */
/*
 * Bytes per guest-file-read. Replies of 1-2 MiB (base64) pass fine. Requests
 * do not: measured with libvirt 9.0 / QEMU 7.2, a guest-file-write carrying
 * 192 KiB or more (JSON above ~200 KB, about a host socket buffer) is
 * corrupted on the way ("JSON parse error") or never answered, while 128 KiB
 * (175 KB of JSON) always works. Hence the asymmetric sizes and the cap on
 * stdin (input-data travels the same way).
 */
#define CHUNK (1024 * 1024)
#define WRITE_CHUNK (128 * 1024)
#define MAX_STDIN (128 * 1024)
#define POLL_FIRST_US 20000 /* first status poll: short commands finish fast */
#define POLL_MIN_US 50000
#define POLL_MAX_US 200000
#define KILL_WAIT_US (10 * G_USEC_PER_SEC)
#define HELPER_TIMEOUT_MS 30000 /* rm, chmod, mv, stat, kill in the guest */
#define WAIT_RETRY_US 250000
#define CLOSE_POLL_US 500000 /* vmm_agent_wait polls every 5 ms this long */
#define PUMP_CHUNKS 8        /* reads per stream per poll */
#define MAX_DRAIN_ROUNDS 64  /* after exit: at most 64 * 8 MiB more per stream */

/* One agent command, its reply's "return" (errors escaped, prefixed with @what). */
VmmGuestConn *vmm_agent_priv_guest_conn(virDomainPtr dom);
gboolean vmm_agent_priv_guest_sh(virDomainPtr dom, const char *script, const char *const *args,
                                 const char *what, char **out, GError **error);
JsonNode *vmm_agent_priv_call(virDomainPtr dom, const char *cmd, int timeout_s, const char *what,
                              GError **error);
gboolean vmm_agent_priv_file_open(virDomainPtr dom, const char *path, const char *mode,
                                  gint64 *handle, GError **error);
gboolean vmm_agent_priv_file_close(virDomainPtr dom, gint64 handle, GError **error);
GBytes *vmm_agent_priv_file_read(virDomainPtr dom, gint64 handle, gint64 count, int timeout_s,
                                 gboolean *eof, GError **error);
