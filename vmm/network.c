/* network.c: the per-sandbox network's life in libvirt. */
#include <config.h>

#include "network.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"
#include "network-xml.h"

#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

/* Marks in @used every pool subnet some libvirt network already has. */
static gboolean
collect_used(virConnectPtr conn, gboolean *used, GError **error)
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
            guint a, b, c, d;
            if (addr && sscanf((const char *)addr, "%u.%u.%u.%u", &a, &b, &c, &d) == 4 &&
                g_str_has_prefix((const char *)addr, VMM_NET_POOL_PREFIX ".") && c < VMM_NET_POOL_SIZE)
                used[c] = TRUE;
            xmlFree(addr);
        }
    }
    free(nets);
    return TRUE;
}

gboolean
vmm_network_create(virConnectPtr conn, const char *name, VmmMetadata *md, GError **error)
{
    gboolean used[VMM_NET_POOL_SIZE] = {FALSE};
    g_autofree char *bridge = vmm_name_bridge(name);
    g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);
    guint start = (guint)g_ascii_strtoull(hex + 8, NULL, 16) % VMM_NET_POOL_SIZE;
    int attempts = 0;

    if (!collect_used(conn, used, error))
        return FALSE;
    for (guint k = 0; k < VMM_NET_POOL_SIZE && attempts < 8; k++) {
        guint subnet = (start + k) % VMM_NET_POOL_SIZE;
        g_autofree char *xml = NULL;
        g_autoptr(virNetwork) net = NULL;
        VmmNetworkConfig cfg = {.name = name, .bridge = bridge, .subnet = subnet, .metadata = md};

        /* .0 and .255 look like broadcast/network numbers to some tools. */
        if (used[subnet] || subnet == 0 || subnet == 255)
            continue;
        g_free(md->address);
        g_free(md->host_address);
        g_free(md->bridge);
        md->address = vmm_network_guest_address(subnet);
        md->host_address = vmm_network_host_address(subnet);
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
            vmm_error_libvirt(&start_err, VMM_ERROR_LIBVIRT, "cannot start network for '%s'",
                              name);
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
        return TRUE;
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                "no free subnet in " VMM_NET_POOL_PREFIX ".0.0/16 for '%s' (destroy unused "
                "sandboxes)",
                name);
    return FALSE;
}

gboolean
vmm_network_remove(virConnectPtr conn, const char *name, gboolean *existed, GError **error)
{
    g_autofree char *obj = vmm_name_object(name);
    g_autoptr(virNetwork) net = virNetworkLookupByName(conn, obj);

    if (existed)
        *existed = net != NULL;
    if (!net) {
        if (vmm_error_libvirt_last_code() == VIR_ERR_NO_NETWORK)
            return TRUE;
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot look up network '%s'", obj);
    }
    if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0 &&
        vmm_error_libvirt_last_code() != VIR_ERR_NO_NETWORK)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot stop network '%s'", obj);
    if (virNetworkUndefine(net) < 0 && vmm_error_libvirt_last_code() != VIR_ERR_NO_NETWORK &&
        vmm_error_libvirt_last_code() != VIR_ERR_OPERATION_INVALID)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot undefine network '%s'", obj);
    return TRUE;
}
