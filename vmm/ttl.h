/*
 * ttl.h: changing a sandbox's time to live after create (`airlock ttl`).
 * The TTL is kept as create keeps it: seconds after the creation time, in
 * the sandbox's metadata, where gc and inspect read it.
 */
#pragma once

#include <glib.h>

#include "lookup.h"

/* How `airlock ttl` changes a TTL. */
typedef enum {
    VMM_TTL_SET,    /* expire @seconds from now */
    VMM_TTL_EXTEND, /* expire @seconds later than now set (from now when none is set) */
    VMM_TTL_NONE,   /* never expire */
} VmmTtlChange;

/* Parses "2h" (SET), "+2h" (EXTEND) or "none". INVALID with a one-line hint otherwise. */
gboolean vmm_ttl_parse(const char *text, VmmTtlChange *change, gint64 *seconds, GError **error);

/*
 * The new ttl_s (seconds after @created, the sandbox's ISO 8601 creation
 * time) for @change by @seconds at @now_unix, given the current @ttl_s
 * (0: none). INVALID when @created is unreadable or the result overflows.
 */
gboolean vmm_ttl_apply(const char *created, gint64 ttl_s, VmmTtlChange change, gint64 seconds,
                       gint64 now_unix, gint64 *out, GError **error);

/*
 * Changes sandbox @name's TTL (its metadata, live and persistent; a paused
 * sandbox gets it back on resume). *@ttl_s (may be NULL) gets the new value.
 */
gboolean vmm_ttl_set(VmmContext *ctx, const char *name, VmmTtlChange change, gint64 seconds,
                     gint64 *ttl_s, GError **error);

/*
 * Replaces @dom's airlock metadata with @md (@flags: VIR_DOMAIN_AFFECT_LIVE
 * and/or _CONFIG). libvirt puts the element in airlock's namespace itself.
 */
gboolean vmm_sandbox_metadata_update(virDomainPtr dom, const VmmMetadata *md, unsigned int flags,
                                     GError **error);
