/* network-xml.c: spec -> libvirt network XML with libxml2's tree API. Pure. */
#include <config.h>

#include "network-xml.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"

char *
vmm_network_host_address(guint subnet)
{
    return g_strdup_printf(VMM_NET_POOL_PREFIX ".%u.1", subnet);
}

char *
vmm_network_guest_address(guint subnet)
{
    return g_strdup_printf(VMM_NET_POOL_PREFIX ".%u.2/24", subnet);
}

char *
vmm_network_xml_build(const VmmNetworkConfig *cfg, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *net_name = NULL;
    g_autofree char *host = NULL;
    xmlNodePtr root, node;
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    if (!vmm_name_validate(cfg->name, "sandbox name", error))
        return NULL;
    if (!cfg->bridge || cfg->subnet >= VMM_NET_POOL_SIZE) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "incomplete network configuration");
        return NULL;
    }
    net_name = vmm_name_object(cfg->name);
    host = vmm_network_host_address(cfg->subnet);
    doc = xmlNewDoc(BAD_CAST "1.0");
    root = xmlNewNode(NULL, BAD_CAST "network");
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST net_name);
    if (cfg->metadata)
        vmm_metadata_to_xml(cfg->metadata, xmlNewChild(root, NULL, BAD_CAST "metadata", NULL));
    node = xmlNewChild(root, NULL, BAD_CAST "bridge", NULL);
    xmlNewProp(node, BAD_CAST "name", BAD_CAST cfg->bridge);
    xmlNewProp(node, BAD_CAST "stp", BAD_CAST "off");
    xmlNewProp(node, BAD_CAST "delay", BAD_CAST "0");
    /* No DNS service: dnsmasq is not started at all for this network. */
    xmlNewProp(xmlNewChild(root, NULL, BAD_CAST "dns", NULL), BAD_CAST "enable", BAD_CAST "no");
    node = xmlNewChild(root, NULL, BAD_CAST "ip", NULL);
    xmlNewProp(node, BAD_CAST "address", BAD_CAST host);
    xmlNewProp(node, BAD_CAST "prefix", BAD_CAST "24");

    xmlDocDumpFormatMemory(doc, &mem, &len, 1);
    out = g_strndup((const char *)mem, len);
    xmlFree(mem);
    return out;
}
