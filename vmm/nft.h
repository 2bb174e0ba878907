/* nft.h: the sandbox's own nftables tables: build (pure), install, remove, read back. */
#pragma once

#include <glib.h>

typedef struct {
    const char *name;         /* sandbox name: tables "airlock_<name, - as _>" */
    const char *bridge;       /* the sandbox's bridge, "alXXXXXXXX" */
    const char *tap;          /* the guest NIC's host side, "atXXXXXXXX" */
    const char *mac;          /* the guest's MAC */
    const char *guest_ip;     /* "10.213.N.2" ("/24" ignored) */
    const char *host_ip;      /* the host side of the bridge, "10.213.N.1" */
    gboolean dns;             /* let the guest ask the bridge's dnsmasq (udp+tcp 53) */
    const char *const *allow; /* "HOST:PORT" ("host" = @host_ip), or NULL */
    guint gateway_port;       /* the model gateway on @host_ip (input only), or 0 */
    gboolean no_tap_hook;     /* leave out the netdev table (a kernel that cannot hook a tap
                                 before it exists; installed once the guest's NIC is there) */
} VmmNftConfig;

/* "airlock_<name>" with '-' as '_' (sandbox names have no '_'). Caller frees. */
char *vmm_nft_table_name(const char *name);

/*
 * The nft script (for `nft -f`) that atomically replaces the sandbox's three
 * tables:
 *   netdev airlock_<name>: ingress of @tap, before the bridge: frames to the
 *     link-local group MACs 01:80:c2:00:00:0X are dropped (the bridge hands
 *     them to the tap's own stack), then the same checks as the bridge table;
 *   bridge airlock_<name>: frames the guest sends (on @tap) carry its MAC,
 *     its IPv4 address, ARP for them only, and only IPv4 and ARP at all;
 *     everything else is counted in "dropped_l2" and dropped;
 *   inet airlock_<name>: IPv4 from the bridge or the tap to the host (input) or beyond
 *     (forward): replies to connections the host opened, DNS to the bridge
 *     address (@dns), new TCP connections to the model gateway's port on the
 *     bridge address (@gateway_port; input only, commented "model-gateway")
 *     and to each allow entry; everything else is counted in "dropped" and
 *     dropped.
 * Caller frees.
 */
char *vmm_nft_ruleset_build(const VmmNftConfig *cfg, GError **error);

/* Runs @ruleset through `nft -f -` (one transaction). HOST error naming nft's complaint. */
gboolean vmm_nft_apply(const char *ruleset, GError **error);

/* Deletes the sandbox's tables; missing is success. *@existed (may be NULL) says if any was. */
gboolean vmm_nft_remove(const char *name, gboolean *existed, GError **error);

/* Drop counters of the sandbox's tables (l2: netdev + bridge). Needs root; error if a table is
 * missing. */
gboolean vmm_nft_drops(const char *name, gint64 *ip_packets, gint64 *l2_frames, GError **error);

/* The allow list the installed inet table enforces: "IP:PORT" entries. Caller frees. */
char **vmm_nft_allow_list(const char *name, GError **error);

/*
 * The sandboxes that have a table on this host, from `nft list tables`: each
 * name once, whatever the family. Needs root. Caller frees.
 */
char **vmm_nft_list_tables(GError **error);

/* The sandbox names of the "table FAMILY airlock_<name>" lines of @listing, each once (pure). */
char **vmm_nft_parse_tables(const char *listing);

/* "packets N" of the counter listed under "table FAMILY " in @listing, -1 when absent (pure). */
gint64 vmm_nft_parse_counter_in(const char *listing, const char *family);

/* "packets N" of an `nft list counter` listing, -1 when absent (pure; for tests). */
gint64 vmm_nft_parse_counter(const char *listing);

/* The "IP:PORT" entries of rules commented "allow" in an `nft list chain` listing (pure). */
char **vmm_nft_parse_allow(const char *listing);
