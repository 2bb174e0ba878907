/* pool.h: pools of pre-booted guests saved to disk, for warm create (docs/architecture.md). */
#pragma once

#include <glib.h>

#include "lookup.h"
#include "spec.h"

/*
 * A pool is a shape: image, cpus, memory, disk size, network mode. Its id is
 * made of them ("debian-12-1cpu-512m-image-isolated") and names its directory
 * STATE/pool/ID/ (root's, 0700): pool.json (the shape and the size the
 * operator wants) and one directory per ready slot, slots/SLOT/: memory.save
 * (the booted guest's saved state, cloud-init done, no secrets), disk.qcow2
 * (its disk layer over the image, frozen) and slot.json (its MAC and subnet,
 * the image digest it was booted from). A slot costs disk, not RAM.
 *
 * A slot's subnet stays held while it waits: its libvirt network stays
 * defined, stopped (every airlock on the host skips a defined network's
 * subnet), and slot.json marks it for this state directory. The sandbox made
 * from it gets the same subnet, so the guest keeps the address it has.
 */
typedef struct {
    char *id;
    char *image;
    guint cpus, memory_mib, disk_gib;
    VmmNetMode net_mode;
    guint size;    /* slots the operator wants ready */
    guint ready;   /* slots ready now (of the installed image) */
    guint stale;   /* slots of another image digest or subnet pool: dropped at the next fill */
    guint filling; /* slots a fill is booting now */
} VmmPool;

void vmm_pool_free(VmmPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmPool, vmm_pool_free)

/* The id of the pool @spec's shape belongs to. Caller frees. */
char *vmm_pool_id(const VmmSpec *spec);

/*
 * Why a sandbox of @spec cannot come from a pool whatever the pools hold
 * (cloud-init parts run at first boot), or NULL. Static text.
 */
const char *vmm_pool_unsuitable(const VmmSpec *spec);

/* Sets (creates) the pool of @spec's shape to @size slots (0 keeps it, empty). */
VmmPool *vmm_pool_set(const char *state_dir, const VmmSpec *spec, guint size, GError **error);

/* Every pool, with its counts. Caller frees the array. */
GPtrArray *vmm_pool_list(VmmContext *ctx, GError **error);

/* Called for each slot a fill boots (@slot: its name) and how long it took. */
typedef void (*VmmPoolFillFunc)(const char *pool_id, const char *slot, gdouble seconds,
                                const GError *error, gpointer data);

/*
 * Brings pool @id (NULL: every pool) to its size: drops stale and surplus
 * slots, then boots at most @max new slots (0: as many as needed), one at a
 * time. Each slot is a cold create of a sandbox named pool-XXXXXXXX without
 * secrets, saved and parked. Returns the number booted in *@booted. Stops at
 * the first failure.
 */
gboolean vmm_pool_fill(VmmContext *ctx, const char *id, guint max, guint timeout_s,
                       VmmPoolFillFunc fn, gpointer data, guint *booted, GError **error);

/* A slot taken out of its pool: the directory moved to @dest, and what it records. */
typedef struct {
    char *pool;
    char *slot;        /* the name it was booted as */
    char *mac;         /* keep: the saved device state holds it */
    guint subnet;      /* third octet in the subnet pool */
    char *subnet_pool; /* the pool prefix it was booted in ("10.231") */
    char *image_digest;
} VmmPoolSlot;

void vmm_pool_slot_free(VmmPoolSlot *slot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmPoolSlot, vmm_pool_slot_free)

/*
 * Takes a ready slot of @spec's pool booted from @image_digest and moves its
 * directory to @dest (a name in @dest_dirfd, which must not exist): atomic,
 * so two creates never get the same slot. NULL with no error when the pool
 * has none (or the shape has no pool).
 */
VmmPoolSlot *vmm_pool_claim(const char *state_dir, const VmmSpec *spec, const char *image_digest,
                            int dest_dirfd, const char *dest, GError **error);

/* Marks in @used (VMM_NET_POOL_SIZE flags) the subnets of @prefix that waiting slots hold. */
void vmm_pool_mark_reserved(const char *state_dir, const char *prefix, gboolean *used);

/* TRUE when a pool holds slot @name (ready, or being saved): gc leaves its held network alone. */
gboolean vmm_pool_slot_exists(const char *state_dir, const char *name);

/* TRUE when @name is a slot's name (pool-XXXXXXXX): list and gc leave it to the pool. */
gboolean vmm_pool_is_slot_name(const char *name);
