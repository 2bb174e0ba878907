/* fuzz-xml: whatever reaches the XML builders, the output is well-formed XML whose
 * structure the input cannot change (names, labels, env names, addresses). */
#include <config.h>

#include "domain-xml.h"
#include "metadata.h"
#include "network-xml.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts elements matching @xpath in @xml; aborts when @xml is not well-formed. */
static int
count(const char *xml, const char *xpath)
{
    xmlDocPtr doc = xmlReadMemory(xml, strlen(xml), "f.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr obj;
    int n;

    if (!doc)
        abort();
    ctx = xmlXPathNewContext(doc);
    obj = xmlXPathEvalExpression(BAD_CAST xpath, ctx);
    n = obj && obj->nodesetval ? obj->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Fields separated by NUL bytes: name, label, env name, address, mac, path. */
    g_autofree char *buf = g_malloc0(size + 7);
    const char *f[6] = {0};
    size_t k = 0, start = 0;
    g_autoptr(VmmMetadata) md = vmm_metadata_new();
    g_autofree char *dom = NULL, *net = NULL, *mdxml = NULL;
    char *envs[2] = {NULL, NULL};

    memcpy(buf, data, size);
    for (size_t i = 0; i <= size && k < 6; i++) {
        if (buf[i] == '\0') {
            f[k++] = buf + start;
            start = i + 1;
        }
    }
    for (; k < 6; k++)
        f[k] = "";

    md->name = g_strdup(f[0]);
    md->owner = g_strdup(f[1]);
    md->address = g_strdup(f[3]);
    md->mac = g_strdup(f[4]);
    g_ptr_array_add(md->labels, g_strdup(f[1]));
    envs[0] = g_strdup(f[2]);
    md->env_names = g_strdupv(envs);
    g_free(envs[0]);

    {
        VmmDomainConfig dc = {.name = f[0],
                              .virt_type = "qemu",
                              .cpus = 1,
                              .memory_mib = 512,
                              .kernel = f[5],
                              .initrd = f[5],
                              .cmdline = f[1],
                              .overlay = f[5],
                              .console_log = f[5],
                              .network = f[0],
                              .mac = f[4],
                              .metadata = md};
        dom = vmm_domain_xml_build(&dc, NULL);
        if (dom) {
            /* Valid names only, and the document keeps its one shape. */
            if (count(dom, "/domain") != 1 || count(dom, "//disk") != 1 ||
                count(dom, "//interface") != 1 || count(dom, "//metadata/*") != 1)
                abort();
        }
    }
    {
        VmmNetworkConfig nc = {.name = f[0], .bridge = "al00000000", .subnet = 7, .metadata = md};
        net = vmm_network_xml_build(&nc, NULL);
        if (net && (count(net, "/network") != 1 || count(net, "//ip") != 1))
            abort();
    }
    mdxml = vmm_metadata_format(md);
    if (count(mdxml, "/*") != 1)
        abort();
    {
        g_autoptr(VmmMetadata) back = vmm_metadata_parse(mdxml, NULL);
        g_autofree char *owner = vmm_xml_safe_text(md->owner);
        g_autofree char *mac = vmm_xml_safe_text(md->mac);
        /* Round trip keeps the values (as XML can carry them) when the name is valid. */
        if (back && ((*owner && g_strcmp0(back->owner, owner) != 0) ||
                     (*mac && g_strcmp0(back->mac, mac) != 0)))
            abort();
    }
    return 0;
}
