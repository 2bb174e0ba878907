/* port.h: `airlock port` and the network part of inspect (network isolation). */
#pragma once

#include "cli.h"
#include "metadata.h"

/* `airlock port NAME PORT`: prints GUEST_IP:PORT, where the host reaches an app in the guest. */
int vmm_cmd_port(VmmCli *cli, int argc, char **argv);
