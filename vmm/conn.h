/* conn.h: libvirt connection, URI choice and accelerator detection. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

typedef enum { VMM_ACCEL_KVM, VMM_ACCEL_TCG, VMM_ACCEL_LAST } VmmAccel;

/* "kvm" / "tcg". */
const char *vmm_accel_to_string(VmmAccel accel);
/* Parses "kvm" or "tcg"; FALSE with an INVALID error otherwise. */
gboolean vmm_accel_from_string(const char *str, VmmAccel *accel, GError **error);
/* The libvirt domain type for @accel: "kvm" or "qemu". */
const char *vmm_accel_domain_type(VmmAccel accel);

/*
 * Chooses the accelerator. @override (from --accel) wins, then
 * $AIRLOCK_ACCEL, then detection under @sysroot ("/" normally, a fake tree
 * in tests): kvm when /dev/kvm is usable and backed by kvm_intel or kvm_amd;
 * tcg otherwise, e.g. on a kvm_pvm host, which cannot boot a stock guest
 * kernel. *@reason (caller frees) says why in one sentence.
 */
gboolean vmm_accel_choose(const char *override, const char *sysroot, VmmAccel *accel, char **reason,
                          GError **error);

/* The URI airlock uses: @uri, else $LIBVIRT_DEFAULT_URI, else qemu:///system. */
const char *vmm_conn_default_uri(const char *uri);

/*
 * Opens a libvirt connection to vmm_conn_default_uri(@uri). On failure a
 * CONNECT error says how to start libvirtd. Caller closes.
 */
virConnectPtr vmm_conn_open(const char *uri, GError **error);

/* TRUE for the test:///... driver (used by fast tests). */
gboolean vmm_conn_is_test(virConnectPtr conn);

/* Whether @conn's URI names no host (so nft, sysctls and files here are the guest's host). */
gboolean vmm_conn_is_local(virConnectPtr conn);
