/* create-private.h: what create.c and create-warm.c share (a create and its steps). */
#pragma once

#include "gateway/gateway.h"
#include "image.h"
#include "pool.h"
#include "sandbox.h"
#include "domain-xml.h"

/* Everything a create works on, from the first step to the last. */
typedef struct {
    VmmContext *ctx;
    const char *name;
    const VmmSpec *spec;
    const VmmSecrets *secrets;
    VmmCreateFlags flags;
    VmmCreateTimings *t;
    gint64 start, deadline;
    gint64 step_start;
    char *dir, *overlay, *seed_path, *console, *obj;
    char uuid[37];
    VmmImage *image;
    VmmMetadata *md;
    VmmDomainConfig dc;
    virDomainPtr dom;
    VmmGatewaySetup *gw; /* [model-gateway]: token, environment, the seed's secrets */
    VmmPoolSlot *slot;   /* warm create: the pooled guest taken, or NULL */
    char *slot_dir;      /* warm create: where its directory was moved (in dir) */
    char *restore_xml;   /* warm create: the XML the pooled guest is restored with */
} Create;

typedef struct {
    const char *stage; /* progress stage shown as it starts, or NULL */
    const char *crash; /* AIRLOCK_CRASH_AT point once it is done, or NULL */
    gssize timing;     /* offset of the slot in VmmCreateTimings it adds to, or -1 */
    gboolean (*wanted)(const Create *c); /* NULL: always */
    gboolean (*run)(Create *c, GError **error);
} CreateStep;

/* Steps both kinds of create share (create.c). */
gboolean vmm_create_make_dir(Create *c, GError **error); /* the sandbox's directory, root's */
gboolean vmm_create_want_network(const Create *c);
gboolean vmm_create_step_network(Create *c, GError **error);
gboolean vmm_create_want_gateway(const Create *c);
gboolean vmm_create_step_gateway(Create *c, GError **error);
gboolean vmm_create_want_snapshot(const Create *c);
gboolean vmm_create_step_snapshot(Create *c, GError **error);
const VmmSecrets *vmm_create_seed_secrets(const Create *c);
GPtrArray *vmm_create_seed_env(const Create *c); /* NULL-terminated; entries borrowed */
gboolean vmm_create_run_steps(Create *c, const CreateStep *steps, gsize n, GError **error);

/*
 * Warm create (create-warm.c): takes a slot of @c's pool and makes it the
 * sandbox. FALSE with *@error unset when no slot matches (nothing was made);
 * on any other failure the caller rolls back and may create cold.
 */
gboolean vmm_create_warm(Create *c, GError **error);
