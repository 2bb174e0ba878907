/* save-image.h: giving a libvirt save image (virDomainSave's file) another name and UUID. */
#pragma once

#include <glib.h>

/*
 * libvirt refuses to restore a saved guest under another name or UUID (its
 * ABI check compares them), and offers no way to rename one. A pooled guest
 * must become a sandbox with the sandbox's own name and UUID, so airlock
 * rewrites the two elements in the XML the save image carries in its header.
 *
 * This depends on libvirt's qemu save format, which is not an API: header
 * "LibvirtQemudSave", version 2, uncompressed, the XML NUL-terminated at the
 * start of the data area, the cookie (if any) right after it, zero padding to
 * data_len. Anything else is refused (VMM_ERROR_FAILED) and the caller
 * creates the sandbox cold instead. Only the header's data area is written;
 * the guest's memory after it is untouched. The memory image's device state
 * keeps the pooled guest's MAC, so the sandbox keeps that MAC.
 */
#define VMM_SAVE_IMAGE_MAGIC "LibvirtQemudSave"
#define VMM_SAVE_IMAGE_VERSION 2

/*
 * TRUE when libvirt @version (virConnectGetLibVersion: major * 1000000 + minor * 1000 +
 * micro) writes the format above: 7.0 up to 11.x (version 2 headers; checked on 9.0).
 * Another libvirt gets cold creates until it has been checked.
 */
gboolean vmm_save_image_libvirt_known(unsigned long version);

/* Rewrites <name> and <uuid> of the domain in the save image open for reading and writing on @fd.
 */
gboolean vmm_save_image_rename(int fd, const char *name, const char *uuid, GError **error);
