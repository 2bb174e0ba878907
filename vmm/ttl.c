/* ttl.c: `airlock ttl`: parse a change, apply it to the metadata, live and persistent. */
#include <config.h>

#include "ttl.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"
#include "spec.h"

#include <libxml/parser.h>
#include <string.h>
#include <unistd.h>

/* Drops @node's and its descendants' namespace: libvirt refuses an element that declares it. */
static void
strip_ns(xmlNodePtr node)
{
    for (xmlNodePtr n = node; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        xmlSetNs(n, NULL);
        strip_ns(n->children);
    }
}

gboolean
vmm_sandbox_metadata_update(virDomainPtr dom, const VmmMetadata *md, unsigned int flags,
                            GError **error)
{
    g_autofree char *text = vmm_metadata_format(md);
    g_autoptr(xmlDoc) doc =
        xmlReadMemory(text, strlen(text), "metadata.xml", NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlChar *bare = NULL;
    int len = 0, rc;

    if (!root) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot format the metadata of '%s'",
                    md->name);
        return FALSE;
    }
    strip_ns(root);
    xmlFreeNsList(root->nsDef);
    root->nsDef = NULL;
    xmlDocDumpMemory(doc, &bare, &len);
    rc = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, (const char *)bare,
                              VMM_METADATA_PREFIX, VMM_METADATA_NS, flags);
    xmlFree(bare);
    if (rc < 0)
        return vmm_error_libvirt(error, VMM_ERROR_LIBVIRT, "cannot update the metadata of '%s'",
                                 md->name);
    return TRUE;
}

/* ---- ttl -------------------------------------------------------------------------------- */

gboolean
vmm_ttl_parse(const char *text, VmmTtlChange *change, gint64 *seconds, GError **error)
{
    g_autoptr(GError) err = NULL;

    *seconds = 0;
    if (g_strcmp0(text, "none") == 0) {
        *change = VMM_TTL_NONE;
        return TRUE;
    }
    *change = text && text[0] == '+' ? VMM_TTL_EXTEND : VMM_TTL_SET;
    if (!text || !vmm_spec_parse_duration(text + (*change == VMM_TTL_EXTEND), seconds, &err) ||
        *seconds <= 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "TTL '%s' is invalid (use 2h to expire 2 h from now, +2h to extend, or none)",
                    text ? text : "");
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_ttl_apply(const char *created, gint64 ttl_s, VmmTtlChange change, gint64 seconds,
              gint64 now_unix, gint64 *out, GError **error)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) c = created ? g_date_time_new_from_iso8601(created, utc) : NULL;
    gint64 age, v;

    if (change == VMM_TTL_NONE) {
        *out = 0;
        return TRUE;
    }
    if (!c) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "the sandbox's creation time is unreadable: its TTL cannot be set");
        return FALSE;
    }
    age = MAX(now_unix - g_date_time_to_unix(c), 0);
    /* The TTL counts from creation (gc, inspect): "from now" is the age plus the duration. */
    if (change == VMM_TTL_EXTEND && ttl_s > 0)
        v = ttl_s + seconds;
    else
        v = age + seconds;
    if (v <= 0 || v > G_MAXINT32) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "that TTL is too long");
        return FALSE;
    }
    *out = v;
    return TRUE;
}

static gboolean
ttl_locked(VmmContext *ctx, const char *name, VmmTtlChange change, gint64 seconds, gint64 *ttl_s,
           GError **error)
{
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(VmmMetadata) md = NULL;
    unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG;
    gint64 v;

    if (!(dom = vmm_sandbox_lookup(ctx->conn, name, error)) ||
        !(md = vmm_sandbox_metadata(dom, error)) ||
        !vmm_ttl_apply(md->created, md->ttl_s, change, seconds, g_get_real_time() / G_USEC_PER_SEC,
                       &v, error))
        return FALSE;
    md->ttl_s = v;
    if (virDomainIsActive(dom) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (!vmm_sandbox_metadata_update(dom, md, flags, error))
        return FALSE;
    if (ttl_s)
        *ttl_s = v;
    return TRUE;
}

gboolean
vmm_ttl_set(VmmContext *ctx, const char *name, VmmTtlChange change, gint64 seconds, gint64 *ttl_s,
            GError **error)
{
    int lock = vmm_sandbox_lock(ctx->state_dir, name, error);
    gboolean ok;

    /* A resume writes the metadata too: they take turns. */
    if (lock < 0)
        return FALSE;
    ok = ttl_locked(ctx, name, change, seconds, ttl_s, error);
    close(lock);
    return ok;
}
