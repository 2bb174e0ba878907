/* metadata.c: airlock's libvirt <metadata> element. Pure: libxml2 only. */
#include <config.h>

#include "metadata.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"

#include <stdlib.h>
#include <string.h>

VmmMetadata *
vmm_metadata_new(void)
{
    VmmMetadata *md = g_new0(VmmMetadata, 1);

    md->labels = g_ptr_array_new_with_free_func(g_free);
    return md;
}

void
vmm_metadata_free(VmmMetadata *md)
{
    if (!md)
        return;
    g_free(md->name);
    g_free(md->owner);
    g_free(md->created);
    g_free(md->image);
    g_free(md->image_digest);
    g_free(md->spec_hash);
    g_free(md->net_mode);
    g_free(md->address);
    g_free(md->host_address);
    g_free(md->bridge);
    g_free(md->mac);
    g_free(md->accel);
    g_free(md->state_dir);
    g_strfreev(md->secret_names);
    g_strfreev(md->env_names);
    g_strfreev(md->allow);
    if (md->labels)
        g_ptr_array_unref(md->labels);
    g_free(md);
}

static void
add_text(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *value)
{
    g_autofree char *safe = value ? vmm_xml_safe_text(value) : NULL;

    if (safe)
        xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST safe);
}

static void
add_prop(xmlNodePtr node, const char *name, const char *value)
{
    g_autofree char *safe = vmm_xml_safe_text(value);

    xmlNewProp(node, BAD_CAST name, BAD_CAST safe);
}

static void
add_uint(xmlNodePtr parent, xmlNsPtr ns, const char *name, guint64 value)
{
    char buf[32];

    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, value);
    xmlNewTextChild(parent, ns, BAD_CAST name, BAD_CAST buf);
}

void
vmm_metadata_to_xml(const VmmMetadata *md, xmlNodePtr parent)
{
    xmlNodePtr root = xmlNewChild(parent, NULL, BAD_CAST "sandbox", NULL);
    xmlNsPtr ns = xmlNewNs(root, BAD_CAST VMM_METADATA_NS, BAD_CAST VMM_METADATA_PREFIX);
    xmlNodePtr node;

    xmlSetNs(root, ns);
    add_text(root, ns, "name", md->name);
    add_text(root, ns, "owner", md->owner);
    add_text(root, ns, "created", md->created);
    node = xmlNewChild(root, ns, BAD_CAST "image", NULL);
    if (md->image)
        add_prop(node, "name", md->image);
    if (md->image_digest)
        add_prop(node, "digest", md->image_digest);
    add_text(root, ns, "spec-hash", md->spec_hash);
    add_uint(root, ns, "ttl", md->ttl_s);
    add_text(root, ns, "accel", md->accel);
    add_text(root, ns, "state-dir", md->state_dir);
    add_uint(root, ns, "cpus", md->cpus);
    add_uint(root, ns, "memory", md->memory_mib);
    add_uint(root, ns, "disk", md->disk_gib);
    node = xmlNewChild(root, ns, BAD_CAST "network", NULL);
    add_prop(node, "mode", md->net_mode ? md->net_mode : "none");
    if (md->address)
        add_prop(node, "address", md->address);
    if (md->host_address)
        add_prop(node, "host", md->host_address);
    if (md->bridge)
        add_prop(node, "bridge", md->bridge);
    if (md->mac)
        add_prop(node, "mac", md->mac);
    for (char **s = md->secret_names; s && *s; s++)
        add_prop(xmlNewChild(root, ns, BAD_CAST "secret", NULL), "name", *s);
    for (char **s = md->allow; s && *s; s++)
        add_text(root, ns, "allow", *s);
    if (md->gateway_port) {
        g_autofree char *port = g_strdup_printf("%u", md->gateway_port);
        add_prop(xmlNewChild(root, ns, BAD_CAST "model-gateway", NULL), "port", port);
    }
    for (char **s = md->env_names; s && *s; s++)
        add_prop(xmlNewChild(root, ns, BAD_CAST "env", NULL), "name", *s);
    for (guint i = 0; md->labels && i < md->labels->len; i++) {
        const char *kv = g_ptr_array_index(md->labels, i);
        const char *eq = strchr(kv, '=');
        g_autofree char *key = eq ? g_strndup(kv, eq - kv) : g_strdup(kv);
        g_autofree char *value = vmm_xml_safe_text(eq ? eq + 1 : "");
        node = xmlNewTextChild(root, ns, BAD_CAST "label", BAD_CAST value);
        add_prop(node, "key", key);
    }
}

char *
vmm_metadata_format(const VmmMetadata *md)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr holder = xmlNewNode(NULL, BAD_CAST "holder");
    xmlBufferPtr buf = xmlBufferCreate();
    char *out;

    xmlDocSetRootElement(doc, holder);
    vmm_metadata_to_xml(md, holder);
    xmlNodeDump(buf, doc, holder->children, 0, 1);
    out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}

static char *
node_text(xmlNodePtr node)
{
    xmlChar *c = xmlNodeGetContent(node);
    char *s = g_strdup((const char *)c);

    xmlFree(c);
    return s;
}

static char *
node_prop(xmlNodePtr node, const char *name)
{
    xmlChar *c = xmlGetProp(node, BAD_CAST name);
    char *s = c ? g_strdup((const char *)c) : NULL;

    xmlFree(c);
    return s;
}

static guint64
node_uint(xmlNodePtr node)
{
    g_autofree char *s = node_text(node);

    return g_ascii_strtoull(s, NULL, 10);
}

VmmMetadata *
vmm_metadata_parse(const char *xml, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(VmmMetadata) md = vmm_metadata_new();
    g_autoptr(GPtrArray) secrets = g_ptr_array_new();
    g_autoptr(GPtrArray) envs = g_ptr_array_new();
    g_autoptr(GPtrArray) allow = g_ptr_array_new();
    xmlNodePtr root;

    doc = xmlReadMemory(xml, strlen(xml), "metadata.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    /* libvirt hands the element back without its namespace: match on the name. */
    if (!root || strcmp((const char *)root->name, "sandbox") != 0 ||
        (root->ns && strcmp((const char *)root->ns->href, VMM_METADATA_NS) != 0)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "airlock metadata is unreadable");
        return NULL;
    }
    for (xmlNodePtr n = root->children; n; n = n->next) {
        const char *tag = (const char *)n->name;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp(tag, "name"))
            md->name = node_text(n);
        else if (!strcmp(tag, "owner"))
            md->owner = node_text(n);
        else if (!strcmp(tag, "created"))
            md->created = node_text(n);
        else if (!strcmp(tag, "image")) {
            md->image = node_prop(n, "name");
            md->image_digest = node_prop(n, "digest");
        } else if (!strcmp(tag, "spec-hash"))
            md->spec_hash = node_text(n);
        else if (!strcmp(tag, "ttl"))
            md->ttl_s = node_uint(n);
        else if (!strcmp(tag, "accel"))
            md->accel = node_text(n);
        else if (!strcmp(tag, "state-dir"))
            md->state_dir = node_text(n);
        else if (!strcmp(tag, "cpus"))
            md->cpus = node_uint(n);
        else if (!strcmp(tag, "memory"))
            md->memory_mib = node_uint(n);
        else if (!strcmp(tag, "disk"))
            md->disk_gib = node_uint(n);
        else if (!strcmp(tag, "network")) {
            md->net_mode = node_prop(n, "mode");
            md->address = node_prop(n, "address");
            md->host_address = node_prop(n, "host");
            md->bridge = node_prop(n, "bridge");
            md->mac = node_prop(n, "mac");
        } else if (!strcmp(tag, "secret"))
            g_ptr_array_add(secrets, node_prop(n, "name"));
        else if (!strcmp(tag, "env"))
            g_ptr_array_add(envs, node_prop(n, "name"));
        else if (!strcmp(tag, "allow"))
            g_ptr_array_add(allow, node_text(n));
        else if (!strcmp(tag, "model-gateway")) {
            g_autofree char *port = node_prop(n, "port");
            guint64 p = 0;
            if (port && g_ascii_string_to_unsigned(port, 10, 1, 65535, &p, NULL))
                md->gateway_port = (guint)p;
        } else if (!strcmp(tag, "label")) {
            g_autofree char *k = node_prop(n, "key");
            g_autofree char *v = node_text(n);
            g_ptr_array_add(md->labels, g_strdup_printf("%s=%s", k ? k : "", v));
        }
    }
    g_ptr_array_add(secrets, NULL);
    g_ptr_array_add(envs, NULL);
    md->secret_names = (char **)g_ptr_array_steal(secrets, NULL);
    md->env_names = (char **)g_ptr_array_steal(envs, NULL);
    if (allow->len) {
        g_ptr_array_add(allow, NULL);
        md->allow = (char **)g_ptr_array_steal(allow, NULL);
    }
    if (!md->name || !vmm_name_validate(md->name, "name", NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "airlock metadata has no valid name");
        return NULL;
    }
    return g_steal_pointer(&md);
}
