/* network-xml.c: spec -> libvirt network XML with libxml2's tree API. Pure. */
#include <config.h>

#include "network-xml.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"
#include "xml.h"

#include <string.h>

char *
vmm_network_pool_parse(const char *pool, GError **error)
{
    guint a, b, c, d, prefix;
    char tail;

    if (pool && sscanf(pool, "%3u.%3u.%3u.%3u/%2u%c", &a, &b, &c, &d, &prefix, &tail) == 5 &&
        b < 256 && c == 0 && d == 0 && prefix == 16 &&
        (a == 10 || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168)))
        return g_strdup_printf("%u.%u", a, b);
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "subnet pool '%s' is invalid (use a private /16 such as 10.213.0.0/16)",
                pool ? pool : "");
    return NULL;
}

char *
vmm_network_host_address(const char *pool, guint subnet)
{
    return g_strdup_printf("%s.%u.1", pool ? pool : VMM_NET_POOL_PREFIX, subnet);
}

char *
vmm_network_guest_address(const char *pool, guint subnet)
{
    return g_strdup_printf("%s.%u.2/24", pool ? pool : VMM_NET_POOL_PREFIX, subnet);
}

static void
dnsmasq_option(xmlNodePtr options, xmlNsPtr ns, const char *value)
{
    xmlNewProp(xmlNewChild(options, ns, BAD_CAST "option", NULL), BAD_CAST "value", BAD_CAST value);
}

char *
vmm_network_xml_build(const VmmNetworkConfig *cfg, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *net_name = NULL;
    g_autofree char *host = NULL;
    xmlNodePtr root, node;

    if (!vmm_name_validate(cfg->name, "sandbox name", error))
        return NULL;
    if (!cfg->bridge || cfg->subnet >= VMM_NET_POOL_SIZE) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "incomplete network configuration");
        return NULL;
    }
    /* dnsmasq reads its options line by line: a path must not smuggle in another option. */
    if (cfg->dns_log && (!g_path_is_absolute(cfg->dns_log) || strpbrk(cfg->dns_log, "\n\r\t ") ||
                         !g_utf8_validate(cfg->dns_log, -1, NULL))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "DNS log path '%s' must be absolute, without spaces or line breaks",
                    cfg->dns_log);
        return NULL;
    }
    net_name = vmm_name_object(cfg->name);
    host = vmm_network_host_address(cfg->pool, cfg->subnet);
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
    /* Without a DNS log there is no DNS service: dnsmasq is not started at all. */
    xmlNewProp(xmlNewChild(root, NULL, BAD_CAST "dns", NULL), BAD_CAST "enable",
               BAD_CAST(cfg->dns_log ? "yes" : "no"));
    node = xmlNewChild(root, NULL, BAD_CAST "ip", NULL);
    xmlNewProp(node, BAD_CAST "address", BAD_CAST host);
    xmlNewProp(node, BAD_CAST "prefix", BAD_CAST "24");
    if (cfg->dns_log) {
        /* A recorder, not a resolver: no upstream, no hosts file; every question is REFUSED. */
        xmlNsPtr ns = xmlNewNs(root, BAD_CAST VMM_DNSMASQ_NS, BAD_CAST "dnsmasq");
        xmlNodePtr options = xmlNewChild(root, ns, BAD_CAST "options", NULL);
        g_autofree char *facility = g_strdup_printf("log-facility=%s", cfg->dns_log);

        dnsmasq_option(options, ns, "no-resolv");
        dnsmasq_option(options, ns, "no-hosts");
        dnsmasq_option(options, ns, "log-queries");
        dnsmasq_option(options, ns, facility);
    }
    return vmm_xml_doc_to_string(doc);
}

char *
vmm_network_tap_name(const char *name)
{
    char *tap = vmm_name_bridge(name);

    tap[1] = 't';
    return tap;
}
