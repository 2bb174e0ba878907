/* metadata.h: airlock's <metadata> element (urn:airlock:sandbox:1), build and parse (pure). */
#pragma once

#include <glib.h>
#include <libxml/tree.h>

#include "xml.h"

/* What airlock records about a sandbox in libvirt. Never a secret value. */
typedef struct {
    char *name;         /* sandbox name */
    char *owner;        /* invoking user name */
    char *created;      /* ISO 8601 UTC */
    char *image;        /* image name */
    char *image_digest; /* "sha256:..." */
    char *spec_hash;    /* sha256 of the effective spec */
    gint64 ttl_s;       /* 0 = none */
    char *net_mode;     /* "none" | "isolated" | "allow" */
    char *address;      /* guest "10.x.y.2/24" or NULL */
    char *host_address; /* host side of the bridge "10.x.y.1" or NULL */
    char *bridge;       /* "alXXXXXXXX" or NULL */
    char *mac;          /* or NULL */
    char *accel;        /* "kvm" | "tcg" */
    char *state_dir;    /* the state directory that owns it: gc and list stay inside their own */
    guint cpus;
    guint memory_mib;
    guint disk_gib;      /* 0 = the image's size */
    char **secret_names; /* NULL-terminated or NULL */
    char **env_names;    /* NULL-terminated or NULL */
    char **allow;        /* mode allow: "HOST:PORT" entries, NULL-terminated or NULL */
    guint gateway_port;  /* the model gateway's port on host_address (docs/gateway.md), or 0 */
    GPtrArray *labels;   /* "K=V" strings */
} VmmMetadata;

VmmMetadata *vmm_metadata_new(void);
void vmm_metadata_free(VmmMetadata *md);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmMetadata, vmm_metadata_free)

/* Adds the <airlock:sandbox> element as a child of @parent. */
void vmm_metadata_to_xml(const VmmMetadata *md, xmlNodePtr parent);

/* The element alone as a string (for virDomainSetMetadata). Caller frees. */
char *vmm_metadata_format(const VmmMetadata *md);

/* Parses the element's XML (as virDomainGetMetadata returns it). Caller frees. */
VmmMetadata *vmm_metadata_parse(const char *xml, GError **error);
