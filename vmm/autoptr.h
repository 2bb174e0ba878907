/* autoptr.h: g_autoptr() cleanups for libvirt and libxml2 types. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

static inline void
vmm_virConnectClose(virConnect *c)
{
    if (c)
        virConnectClose(c);
}
static inline void
vmm_virDomainFree(virDomain *d)
{
    if (d)
        virDomainFree(d);
}
static inline void
vmm_virNetworkFree(virNetwork *n)
{
    if (n)
        virNetworkFree(n);
}
static inline void
vmm_virDomainSnapshotFree(virDomainSnapshot *s)
{
    if (s)
        virDomainSnapshotFree(s);
}
static inline void
vmm_virNWFilterFree(virNWFilter *f)
{
    if (f)
        virNWFilterFree(f);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, vmm_virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, vmm_virDomainFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virNetwork, vmm_virNetworkFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomainSnapshot, vmm_virDomainSnapshotFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virNWFilter, vmm_virNWFilterFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)

/* Frees a libvirt-allocated array of domains and the domains in it. */
static inline void
vmm_domain_list_free(virDomainPtr *list)
{
    if (!list)
        return;
    for (virDomainPtr *p = list; *p; p++)
        virDomainFree(*p);
    free(list);
}
