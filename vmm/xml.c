/* xml.c: the few ways airlock writes and reads XML with libxml2's tree API. Pure. */
#include <config.h>

#include "xml.h"
#include "autoptr.h"

#include <string.h>

char *
vmm_xml_safe_text(const char *text)
{
    g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
    GString *out = g_string_sized_new(strlen(valid));

    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        gboolean ok = c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
                      (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
        g_string_append_unichar(out, ok ? c : 0xFFFD);
    }
    return g_string_free(out, FALSE);
}

char *
vmm_xml_xpath_string(const char *xml, const char *expr)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) obj = NULL;

    if (!xml || !(doc = xmlReadMemory(xml, strlen(xml), "in.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR)))
        return NULL;
    ctx = xmlXPathNewContext(doc);
    obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    if (!obj || obj->type != XPATH_STRING || !obj->stringval || !*obj->stringval)
        return NULL;
    return g_strdup((const char *)obj->stringval);
}

xmlNodePtr
vmm_xml_child(xmlNodePtr parent, const char *name, const char *text)
{
    g_autofree char *safe = text ? vmm_xml_safe_text(text) : NULL;

    return xmlNewTextChild(parent, NULL, BAD_CAST name, safe ? BAD_CAST safe : NULL);
}

xmlNodePtr
vmm_xml_prop(xmlNodePtr node, const char *name, const char *value)
{
    g_autofree char *safe = vmm_xml_safe_text(value);

    xmlNewProp(node, BAD_CAST name, BAD_CAST safe);
    return node;
}

char *
vmm_xml_doc_to_string(xmlDocPtr doc)
{
    xmlChar *mem = NULL;
    int len = 0;
    char *out;

    xmlDocDumpFormatMemory(doc, &mem, &len, 1);
    out = g_strndup((const char *)mem, len);
    xmlFree(mem);
    return out;
}
