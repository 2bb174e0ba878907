/*
 * host.h: what airlock does to this host outside libvirt (the sandbox's
 * firewall tables, the tap's sysctls, the disk-space promise), behind one
 * table. The real one acts on this host; test:///default gets a fake that
 * keeps the same state in memory, so the test tier runs the same code
 * paths (install, check, reinstall, remove, orphans) and can look at them.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

typedef struct {
    const char *name;    /* "host" or "fake" */
    gboolean has_guests; /* a real guest runs (an agent, cloud-init); test:/// has none */
    /* Applies an nft script (vmm_nft_ruleset_build's); the fake records the tables it makes. */
    gboolean (*nft_apply)(const char *ruleset, GError **error);
    /* Removes sandbox @name's tables; *@existed (may be NULL) says if any was there. */
    gboolean (*nft_remove)(const char *name, gboolean *existed, GError **error);
    /* The drop counters of all three tables; an error when one is missing. */
    gboolean (*nft_drops)(const char *name, gint64 *ip, gint64 *l2, GError **error);
    /* Names of the sandboxes that have tables (NULL-terminated; caller frees). */
    char **(*nft_sandboxes)(GError **error);
    /* Writes @value to /proc/sys/net/@path (missing interface: fine). */
    gboolean (*sysctl_net)(const char *path, const char *value, GError **error);
    /* The disk of @state_dir can hold @bytes more than the sandboxes were promised. */
    gboolean (*space_check)(const char *state_dir, guint64 bytes, GError **error);
} VmmHost;

/* The table for @conn: the fake for a test:/// URI, else this host. */
const VmmHost *vmm_host_for(virConnectPtr conn);

/* The fake's state, for tests: sandbox names with tables (caller frees), and a reset. */
char **vmm_host_fake_tables(void);
void vmm_host_fake_reset(void);
/* For tests: the last value the fake wrote to /proc/sys/net/@path, or NULL. */
const char *vmm_host_fake_sysctl(const char *path);
