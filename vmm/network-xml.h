/* network-xml.h: per-sandbox network XML (pure, golden-tested). */
#pragma once

#include <glib.h>

#include "metadata.h"

typedef struct {
    const char *name;    /* sandbox name */
    const char *bridge;  /* "alXXXXXXXX" */
    const char *pool;    /* first two octets of the pool, "10.213"; NULL: the default */
    guint subnet;        /* index in the pool: the third octet of <pool>.<subnet>.0/24 */
    const char *dns_log; /* absolute path dnsmasq records DNS questions in; NULL: no DNS */
    const VmmMetadata *metadata;
} VmmNetworkConfig;

/* The default sandbox subnet pool, 10.213.0.0/16: one 10.213.N.0/24 per sandbox. */
#define VMM_NET_POOL_PREFIX "10.213"
#define VMM_NET_POOL_SIZE 256

/*
 * Parses a pool "A.B.0.0/16" (as in $AIRLOCK_SUBNET_POOL) into its prefix
 * "A.B" (caller frees). Only /16 pools of private (RFC 1918) space.
 */
char *vmm_network_pool_parse(const char *pool, GError **error);

/* The namespace of libvirt's pass-through dnsmasq options. */
#define VMM_DNSMASQ_NS "http://libvirt.org/schemas/network/dnsmasq/1.0"

/*
 * An isolated network: own bridge, host address .1/24, no forward, no DHCP.
 * With @cfg->dns_log, libvirt's dnsmasq answers DNS on the bridge address
 * with no upstream and no hosts file (every question gets REFUSED) and logs
 * each question to that file; without it there is no DNS service at all.
 * Caller frees.
 */
char *vmm_network_xml_build(const VmmNetworkConfig *cfg, GError **error);

/* "<pool>.N.1" and "<pool>.N.2/24" (@pool NULL: the default). Caller frees. */
char *vmm_network_host_address(const char *pool, guint subnet);
char *vmm_network_guest_address(const char *pool, guint subnet);

/* "at" + the bridge's 8 hex digits: the guest NIC's host side, stable across resets. Caller frees.
 */
char *vmm_network_tap_name(const char *name);
