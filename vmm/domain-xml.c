/* domain-xml.c: spec -> libvirt domain XML with libxml2's tree API. Pure. */
#include <config.h>

#include "domain-xml.h"
#include "../guest/protocol.h"
#include "autoptr.h"
#include "error.h"
#include "names.h"
#include "xml.h"
#include "network-xml.h"

/* Spare PCIe root ports: q35 needs a free one per hot-plugged device. */
#define SPARE_ROOT_PORTS 2

static void
add_disk(xmlNodePtr devices, const char *format, const char *path, const char *target,
         gboolean readonly)
{
    xmlNodePtr disk = vmm_xml_prop(
        vmm_xml_prop(vmm_xml_child(devices, "disk", NULL), "type", "file"), "device", "disk");
    xmlNodePtr driver = vmm_xml_prop(
        vmm_xml_prop(vmm_xml_child(disk, "driver", NULL), "name", "qemu"), "type", format);

    if (!readonly)
        vmm_xml_prop(driver, "discard", "unmap");
    vmm_xml_prop(vmm_xml_child(disk, "source", NULL), "file", path);
    vmm_xml_prop(vmm_xml_prop(vmm_xml_child(disk, "target", NULL), "dev", target), "bus", "virtio");
    if (readonly)
        vmm_xml_child(disk, "readonly", NULL);
}

char *
vmm_domain_xml_build(const VmmDomainConfig *cfg, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *dom_name = NULL;
    xmlNodePtr root, os, devices, node, features;
    char buf[32];

    if (!vmm_name_validate(cfg->name, "sandbox name", error))
        return NULL;
    if (!cfg->virt_type || !cfg->kernel || !cfg->initrd || !cfg->overlay || !cfg->console_log ||
        cfg->cpus == 0 || cfg->memory_mib == 0 || (cfg->network && !cfg->mac)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "incomplete domain configuration");
        return NULL;
    }
    dom_name = vmm_name_object(cfg->name);
    doc = xmlNewDoc(BAD_CAST "1.0");
    root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlDocSetRootElement(doc, root);
    vmm_xml_prop(root, "type", cfg->virt_type);
    vmm_xml_child(root, "name", dom_name);
    if (cfg->uuid)
        vmm_xml_child(root, "uuid", cfg->uuid);
    vmm_xml_child(root, "title", "airlock sandbox");
    if (cfg->metadata)
        vmm_metadata_to_xml(cfg->metadata, vmm_xml_child(root, "metadata", NULL));

    g_snprintf(buf, sizeof(buf), "%u", cfg->memory_mib);
    vmm_xml_prop(vmm_xml_child(root, "memory", buf), "unit", "MiB");
    g_snprintf(buf, sizeof(buf), "%u", cfg->cpus);
    vmm_xml_child(root, "vcpu", buf);

    os = vmm_xml_child(root, "os", NULL);
    vmm_xml_prop(vmm_xml_prop(vmm_xml_child(os, "type", "hvm"), "arch", "x86_64"), "machine",
                 "q35");
    vmm_xml_child(os, "kernel", cfg->kernel);
    vmm_xml_child(os, "initrd", cfg->initrd);
    if (cfg->cmdline) {
        /* Free guest memory is zero at all times: a saved state holds only pages in use
         * (qemu writes a zero page as a few bytes), so snapshots are small and restore fast. */
        g_autofree char *cmdline = g_strdup_printf("%s %s", cfg->cmdline, VMM_KERNEL_ARGS);
        vmm_xml_child(os, "cmdline", cmdline);
    }

    features = vmm_xml_child(root, "features", NULL);
    vmm_xml_child(features, "acpi", NULL);
    if (g_strcmp0(cfg->virt_type, "kvm") == 0)
        vmm_xml_prop(vmm_xml_prop(vmm_xml_child(root, "cpu", NULL), "mode", "host-passthrough"),
                     "check", "none");
    vmm_xml_prop(vmm_xml_child(root, "clock", NULL), "offset", "utc");
    vmm_xml_child(root, "on_poweroff", "destroy");
    vmm_xml_child(root, "on_reboot", "restart");
    vmm_xml_child(root, "on_crash", "destroy");

    devices = vmm_xml_child(root, "devices", NULL);
    add_disk(devices, "qcow2", cfg->overlay, "vda", FALSE);
    if (cfg->seed)
        add_disk(devices, "raw", cfg->seed, VMM_SEED_TARGET, TRUE);
    if (cfg->network) {
        node = vmm_xml_prop(vmm_xml_child(devices, "interface", NULL), "type", "network");
        vmm_xml_prop(vmm_xml_child(node, "source", NULL), "network", cfg->network);
        vmm_xml_prop(vmm_xml_child(node, "mac", NULL), "address", cfg->mac);
        vmm_xml_prop(vmm_xml_child(node, "model", NULL), "type", "virtio");
        {
            /* A fixed host-side name: the sandbox's nftables rules match it (see nft.h). */
            g_autofree char *tap = vmm_network_tap_name(cfg->name);
            vmm_xml_prop(vmm_xml_child(node, "target", NULL), "dev", tap);
        }
    }
    node = vmm_xml_prop(vmm_xml_child(devices, "serial", NULL), "type", "file");
    vmm_xml_prop(vmm_xml_prop(vmm_xml_child(node, "source", NULL), "path", cfg->console_log),
                 "append", "on");
    vmm_xml_prop(vmm_xml_child(node, "target", NULL), "port", "0");
    node = vmm_xml_prop(vmm_xml_child(devices, "channel", NULL), "type", "unix");
    vmm_xml_prop(vmm_xml_prop(vmm_xml_child(node, "target", NULL), "type", "virtio"), "name",
                 "org.qemu.guest_agent.0");
    /*
     * airlock-guest's ports (guest-channel.h): exec, files, the clock and RNG fix after a
     * reset. qemu serves one client per port, hence several: several execs at once.
     */
    for (int i = 0; i < AG_PORTS; i++) {
        char port[sizeof(AG_PORT_PREFIX) + 4];
        g_snprintf(port, sizeof(port), AG_PORT_PREFIX "%d", i);
        node = vmm_xml_prop(vmm_xml_child(devices, "channel", NULL), "type", "unix");
        vmm_xml_prop(vmm_xml_prop(vmm_xml_child(node, "target", NULL), "type", "virtio"), "name",
                     port);
    }
    node = vmm_xml_prop(vmm_xml_child(devices, "rng", NULL), "model", "virtio");
    vmm_xml_prop(vmm_xml_child(node, "backend", "/dev/urandom"), "model", "random");
    /*
     * Free page reporting: the guest tells qemu which free 2 MiB blocks it holds and qemu
     * gives them back to the host (MADV_DONTNEED), so memory a sandbox used once and freed
     * stops costing RAM (docs/architecture.md, Density). init_on_free=1 gets along with it:
     * the guest negotiates page poisoning with zero as the value (qemu discards only for
     * zero, which is what a discarded page reads as). No target is ever set (the balloon never
     * inflates, so no autodeflate) and no stats period: an idle guest would wake to push numbers
     * nobody reads.
     */
    node = vmm_xml_prop(vmm_xml_child(devices, "memballoon", NULL), "model", "virtio");
    vmm_xml_prop(node, "freePageReporting", "on");
    node = vmm_xml_prop(vmm_xml_prop(vmm_xml_child(devices, "controller", NULL), "type", "pci"),
                        "index", "0");
    vmm_xml_prop(node, "model", "pcie-root");
    for (int i = 0; i < SPARE_ROOT_PORTS; i++) {
        char idx[8];
        g_snprintf(idx, sizeof(idx), "%d", i + 1);
        node = vmm_xml_prop(vmm_xml_prop(vmm_xml_child(devices, "controller", NULL), "type", "pci"),
                            "index", idx);
        vmm_xml_prop(node, "model", "pcie-root-port");
    }

    return vmm_xml_doc_to_string(doc);
}

char *
vmm_domain_xml_seed_disk(const char *seed_path)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr holder = xmlNewNode(NULL, BAD_CAST "devices");
    xmlBufferPtr buf = xmlBufferCreate();
    char *out;

    xmlDocSetRootElement(doc, holder);
    add_disk(holder, "raw", seed_path, VMM_SEED_TARGET, TRUE);
    xmlNodeDump(buf, doc, holder->children, 0, 1);
    out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}
