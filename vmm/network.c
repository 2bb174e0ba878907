/* network.c: the per-sandbox network's life in libvirt. */
#include <config.h>

#include "network.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"
#include "network-xml.h"
#include "host.h"
#include "nft.h"
#include "pool.h"
#include "settings.h"
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/virterror.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Marks in @used every pool subnet some libvirt network already has. */
static gboolean
collect_used(virConnectPtr conn, const char *pool, gboolean *used, GError **error)
{
    virNetworkPtr *nets = NULL;
    int n = virConnectListAllNetworks(conn, &nets, 0);

    if (n < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot list networks");
    for (int i = 0; i < n; i++) {
        g_autofree char *xml = virNetworkGetXMLDesc(nets[i], 0);
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlXPathContext) ctx = NULL;
        g_autoptr(xmlXPathObject) obj = NULL;

        virNetworkFree(nets[i]);
        if (!xml)
            continue;
        doc = xmlReadMemory(xml, strlen(xml), "net.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
        if (!doc)
            continue;
        ctx = xmlXPathNewContext(doc);
        obj = xmlXPathEvalExpression(BAD_CAST "//ip/@address", ctx);
        for (int j = 0; obj && obj->nodesetval && j < obj->nodesetval->nodeNr; j++) {
            xmlChar *addr = xmlNodeGetContent(obj->nodesetval->nodeTab[j]);
            g_autofree char *dot = g_strdup_printf("%s.", pool);
            guint a, b, c, d;
            if (addr && sscanf((const char *)addr, "%u.%u.%u.%u", &a, &b, &c, &d) == 4 &&
                g_str_has_prefix((const char *)addr, dot) && c < VMM_NET_POOL_SIZE)
                used[c] = TRUE;
            xmlFree(addr);
        }
    }
    free(nets);
    return TRUE;
}

/* Installs the sandbox's nftables tables for the subnet just chosen. */
static gboolean
install_filter(virConnectPtr conn, const char *name, const VmmMetadata *md,
               const VmmNetworkPolicy *policy, GError **error)
{
    g_autofree char *tap = vmm_network_tap_name(name);
    g_autofree char *rules = NULL;
    VmmNftConfig fc = {.name = name,
                       .bridge = md->bridge,
                       .tap = tap,
                       .mac = md->mac,
                       .guest_ip = md->address,
                       .host_ip = md->host_address,
                       .dns = policy && policy->dns_log,
                       .allow = policy ? policy->allow : NULL,
                       .gateway_port = md->gateway_port};
    g_autoptr(GError) first = NULL;
    const VmmHost *host = vmm_host_for(conn);

    if (!(rules = vmm_nft_ruleset_build(&fc, error)))
        return FALSE;
    if (host->nft_apply(rules, &first))
        return TRUE;
    /*
     * Kernels before 6.16 cannot hook a device that does not exist yet. Then
     * the rest goes in now and the tap's table once the NIC is there, before
     * the guest runs (vmm_network_guard, called with the domain paused).
     */
    if (if_nametoindex(tap) == 0) {
        g_autofree char *partial = NULL;
        fc.no_tap_hook = TRUE;
        partial = vmm_nft_ruleset_build(&fc, error);
        g_debug("firewall of '%s': no tap yet (%s), tap table deferred", name, first->message);
        if (partial && host->nft_apply(partial, error))
            return TRUE;
    } else {
        g_propagate_error(error, g_steal_pointer(&first));
    }
    g_prefix_error(error, "cannot install the firewall of '%s', not creating it: ", name);
    return FALSE;
}

gboolean
vmm_network_ensure_firewall(virConnectPtr conn, const char *state_dir, const VmmMetadata *md,
                            GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *dns_log = NULL;
    gint64 ip = 0, l2 = 0;
    VmmNetworkPolicy policy = {0};

    if (!md->net_mode || g_str_equal(md->net_mode, "none"))
        return TRUE;
    if (vmm_host_for(conn)->nft_drops(md->name, &ip, &l2, NULL))
        return TRUE; /* installed */
    dir = vmm_path_sandbox_dir(state_dir, md->name);
    dns_log = g_build_filename(dir, "dns.log", NULL);
    policy.allow = (const char *const *)md->allow;
    policy.dns_log = dns_log;
    g_debug("firewall of '%s' missing or incomplete: reinstalling", md->name);
    return install_filter(conn, md->name, md, &policy, error);
}

gboolean
vmm_network_guard(virConnectPtr conn, const char *state_dir, const VmmMetadata *md, GError **error)
{
    g_autofree char *tap = NULL;
    g_autofree char *v6 = NULL;
    g_autofree char *ra = NULL;
    const VmmHost *host = vmm_host_for(conn);

    if (!md->net_mode || g_str_equal(md->net_mode, "none"))
        return TRUE;
    tap = vmm_network_tap_name(md->name);
    v6 = g_strdup_printf("ipv6/conf/%s/disable_ipv6", tap);
    ra = g_strdup_printf("ipv6/conf/%s/accept_ra", tap);
    /* The tap is the guest's: the host's own stack has nothing to listen or learn there. */
    if (!host->sysctl_net(ra, "0", error) || !host->sysctl_net(v6, "1", error) ||
        !vmm_network_ensure_firewall(conn, state_dir, md, error)) {
        g_prefix_error(error, "sandbox '%s' not started unfenced: ", md->name);
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_network_create(virConnectPtr conn, const char *name, VmmMetadata *md,
                   const VmmNetworkPolicy *policy, GError **error)
{
    gboolean used[VMM_NET_POOL_SIZE] = {FALSE};
    const char *pool_env = vmm_config_get()->subnet_pool;
    g_autofree char *pool = pool_env && *pool_env ? vmm_network_pool_parse(pool_env, error)
                                                  : g_strdup(VMM_NET_POOL_PREFIX);
    g_autofree char *dns_log =
        policy && policy->dns_log ? g_canonicalize_filename(policy->dns_log, NULL) : NULL;
    g_autofree char *bridge = vmm_name_bridge(name);
    g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);
    guint start = (guint)g_ascii_strtoull(hex + 8, NULL, 16) % VMM_NET_POOL_SIZE;
    int attempts = 0;

    if (!pool) {
        g_prefix_error(error, "AIRLOCK_SUBNET_POOL: ");
        return FALSE;
    }
    if (!vmm_conn_is_local(conn)) {
        /* nft runs here: on another host the guest would run with no firewall at all. */
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "sandbox '%s': airlock can only fence a network on this host, not on a remote "
                    "libvirt (use network mode none there, or run airlock on that host)",
                    name);
        return FALSE;
    }
    if (!collect_used(conn, pool, used, error))
        return FALSE;
    if (policy && policy->state_dir)
        vmm_pool_mark_reserved(policy->state_dir, pool, used);
    if (policy && policy->subnet) {
        /* A pooled guest's own subnet: the slot reserved it; only it will do. */
        if (policy->subnet >= VMM_NET_POOL_SIZE - 1) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "subnet %u is not in the pool",
                        policy->subnet);
            return FALSE;
        }
        for (guint k = 0; k < VMM_NET_POOL_SIZE; k++)
            used[k] = k != policy->subnet;
        start = policy->subnet;
    }
    for (guint k = 0; k < VMM_NET_POOL_SIZE && attempts < 8; k++) {
        guint subnet = (start + k) % VMM_NET_POOL_SIZE;
        g_autofree char *xml = NULL;
        g_autoptr(virNetwork) net = NULL;
        VmmNetworkConfig cfg = {.name = name,
                                .bridge = bridge,
                                .pool = pool,
                                .subnet = subnet,
                                .dns_log = dns_log,
                                .metadata = md};

        /* .0 and .255 look like broadcast/network numbers to some tools. */
        if (used[subnet] || subnet == 0 || subnet == 255)
            continue;
        g_free(md->address);
        g_free(md->host_address);
        g_free(md->bridge);
        md->address = vmm_network_guest_address(pool, subnet);
        md->host_address = vmm_network_host_address(pool, subnet);
        md->bridge = g_strdup(bridge);
        xml = vmm_network_xml_build(&cfg, error);
        if (!xml)
            return FALSE;
        net = virNetworkDefineXML(conn, xml);
        if (!net)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot define network for '%s'",
                                     name);
        if (virNetworkCreate(net) < 0) {
            /* Someone else took this subnet between our look and our start: try the next. */
            g_autoptr(GError) start_err = NULL;
            vmm_error_libvirt(&start_err, VMM_ERROR_LIBVIRT, "cannot start network for '%s'", name);
            virNetworkUndefine(net);
            attempts++;
            if (!strstr(start_err->message, "in use") && !strstr(start_err->message, "collision")) {
                g_propagate_error(error, g_steal_pointer(&start_err));
                return FALSE;
            }
            g_debug("subnet %u collides, trying the next one", subnet);
            continue;
        }
        virNetworkSetAutostart(net, 1);
        /* Fail closed: the caller's cleanup (vmm_network_remove) takes the network down. */
        return install_filter(conn, name, md, policy, error);
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                "no free subnet in %s.0.0/16 for '%s' (destroy unused sandboxes, or set "
                "AIRLOCK_SUBNET_POOL)",
                pool, name);
    return FALSE;
}

gboolean
vmm_network_remove(virConnectPtr conn, const char *name, gboolean *existed, GError **error)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virNetwork) net = virNetworkLookupByName(conn, obj);
    gboolean had_filter = FALSE;

    if (existed)
        *existed = net != NULL;
    if (!net && vmm_error_libvirt_last_code() != VIR_ERR_NO_NETWORK)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up network '%s'", obj);
    if (net) {
        if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0 &&
            vmm_error_libvirt_last_code() != VIR_ERR_NO_NETWORK)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop network '%s'", obj);
        if (virNetworkUndefine(net) < 0 && vmm_error_libvirt_last_code() != VIR_ERR_NO_NETWORK &&
            vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
            return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot undefine network '%s'", obj);
    }
    /* The sandbox's firewall goes with its network. */
    if (!vmm_host_for(conn)->nft_remove(name, &had_filter, error))
        return FALSE;
    if (existed && had_filter)
        *existed = TRUE;
    return TRUE;
}
