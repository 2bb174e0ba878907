/* domain-xml.h: sandbox -> libvirt domain XML (pure, golden-tested). */
#pragma once

#include <glib.h>

#include "metadata.h"

/* The seed disk's target; create detaches it by this name once ready. */
#define VMM_SEED_TARGET "vdb"
/* Appended to the image's kernel command line (see domain-xml.c). */
#define VMM_KERNEL_ARGS "init_on_free=1"
/*
 * The virtio-serial port of airlock-fixup (fixup.h), in sandboxes created before
 * airlock-guest took its job over (their ports: AG_PORT_PREFIX in guest/protocol.h).
 */
#define VMM_FIXUP_CHANNEL "org.airlock.fixup.0"

typedef struct {
    const char *name;      /* sandbox name (validated) */
    const char *uuid;      /* "xxxxxxxx-..." or NULL to let libvirt choose */
    const char *virt_type; /* "kvm" or "qemu" */
    guint cpus;
    guint memory_mib;
    const char *kernel; /* paths */
    const char *initrd;
    const char *cmdline;
    const char *overlay;
    const char *seed;    /* NULL: no seed disk */
    const char *network; /* libvirt network name; NULL: no NIC */
    const char *mac;
    const char *console_log;
    const VmmMetadata *metadata;
} VmmDomainConfig;

/* Builds the domain XML. INVALID error when a required field is missing. Caller frees. */
char *vmm_domain_xml_build(const VmmDomainConfig *cfg, GError **error);

/* XML of the seed disk alone, for virDomainDetachDeviceFlags. Caller frees. */
char *vmm_domain_xml_seed_disk(const char *seed_path);
