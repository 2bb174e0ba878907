/* port.h: `airlock port` and the network part of inspect (network isolation). */
#pragma once

#include "cli.h"
#include "metadata.h"

/* `airlock port NAME PORT`: prints GUEST_IP:PORT, where the host reaches an app in the guest. */
int vmm_cmd_port(VmmCli *cli, int argc, char **argv);

/*
 * Adds the enforced allow list ("allow": ["IP:PORT", ...]), the drop
 * counters ("drops": {"ip_packets", "l2_frames"}), both read from the
 * sandbox's nftables tables (null when unreadable: not root, test:///), and
 * the DNS log path to the JSON object being built. Call inside "network".
 */
void vmm_cli_network_status(JsonBuilder *b, VmmCli *cli, virDomainPtr dom, const VmmMetadata *md);
