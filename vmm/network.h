/* network.h: create and remove a sandbox's own libvirt network. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "metadata.h"

/*
 * Defines and starts network airlock-<name> on a free /24 of the pool (one
 * not used by any libvirt network, retried when libvirt reports a route
 * collision). Fills @md's address, host_address and bridge. Autostarted so
 * a host reboot brings it back.
 */
gboolean vmm_network_create(virConnectPtr conn, const char *name, VmmMetadata *md,
                            GError **error);

/*
 * Stops and undefines network airlock-<name>. Already gone is success;
 * *@existed (may be NULL) says whether there was one.
 */
gboolean vmm_network_remove(virConnectPtr conn, const char *name, gboolean *existed,
                            GError **error);
