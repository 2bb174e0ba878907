/* network-xml.h: per-sandbox network XML (pure, golden-tested). */
#pragma once

#include <glib.h>

#include "metadata.h"

typedef struct {
    const char *name;      /* sandbox name */
    const char *bridge;    /* "alXXXXXXXX" */
    guint subnet;          /* index in the pool: the third octet of 10.<pool>.<subnet>.0/24 */
    const VmmMetadata *metadata;
} VmmNetworkConfig;

/* First two octets of the sandbox subnet pool: 10.213.N.0/24. */
#define VMM_NET_POOL_PREFIX "10.213"
#define VMM_NET_POOL_SIZE 256

/*
 * An isolated network: own bridge, host address .1/24, no forward, no DHCP,
 * no DNS service. Caller frees.
 */
char *vmm_network_xml_build(const VmmNetworkConfig *cfg, GError **error);

/* "10.213.N.1" and "10.213.N.2/24". Caller frees. */
char *vmm_network_host_address(guint subnet);
char *vmm_network_guest_address(guint subnet);
