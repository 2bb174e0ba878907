/* network.h: create and remove a sandbox's own libvirt network. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "metadata.h"

/* How a sandbox's network is fenced (see docs/security.md). */
typedef struct {
    const char *const *allow; /* mode allow: "HOST:PORT" entries ("host" = the bridge), or NULL */
    const char *dns_log;      /* file recording the guest's DNS questions; NULL: no DNS service */
    const char *state_dir;    /* subnets its pools' waiting slots hold are not taken; or NULL */
    guint subnet;             /* 1-254: exactly this /24 of the pool (a pooled guest's); 0: any */
} VmmNetworkPolicy;

/*
 * Defines and starts network airlock-<name> on a free /24 of the pool
 * ($AIRLOCK_SUBNET_POOL, a /16, default 10.213.0.0/16; one not used by any
 * libvirt network, retried when libvirt reports a route collision), then
 * installs the sandbox's nftables tables (see nft.h; the domain's NIC must
 * use vmm_network_tap_name()) from @policy. Fills @md's address,
 * host_address and bridge; @md->mac must be set. Fails closed: without the
 * firewall there is no network (test:/// has no guest: nothing is installed
 * on the host there).
 */
gboolean vmm_network_create(virConnectPtr conn, const char *name, VmmMetadata *md,
                            const VmmNetworkPolicy *policy, GError **error);

/*
 * Makes sure sandbox @md's nftables tables are installed (a host reboot
 * drops them; libvirt brings the network back by itself): reinstalls them
 * from the metadata when missing, leaves them (and their counters) alone
 * otherwise. Called before anything starts the guest again.
 */
gboolean vmm_network_ensure_firewall(virConnectPtr conn, const char *state_dir,
                                     const VmmMetadata *md, GError **error);

/*
 * Fences a guest that libvirt just started or restored PAUSED, before it
 * runs: IPv6 and router advertisements off on its tap (recreated on every
 * start), and its tables complete (vmm_network_ensure_firewall). An error
 * means the guest must not be resumed.
 */
gboolean vmm_network_guard(virConnectPtr conn, const char *state_dir, const VmmMetadata *md,
                           GError **error);

/*
 * Stops and undefines network airlock-<name> and deletes its nftables
 * tables. Already gone is success;
 * *@existed (may be NULL) says whether there was one.
 */
gboolean vmm_network_remove(virConnectPtr conn, const char *name, gboolean *existed,
                            GError **error);
