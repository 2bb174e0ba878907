/*
 * settings.h: airlock's configuration in one place. The library reads these
 * fields, never the environment; a front end decides where they come from
 * (the CLI: the environment, once, at start; a daemon: its config file).
 */
#pragma once

#include <glib.h>

typedef struct {
    char *state_dir;           /* AIRLOCK_STATE_DIR, or NULL for the URI's default */
    char *accel;               /* AIRLOCK_ACCEL: "kvm", "tcg", or NULL to detect */
    char *uri;                 /* LIBVIRT_DEFAULT_URI, or NULL */
    char *subnet_pool;         /* AIRLOCK_SUBNET_POOL ("10.213"), or NULL for the default */
    guint archive_keep;        /* AIRLOCK_ARCHIVE_KEEP (50) */
    gint64 archive_max_age_s;  /* AIRLOCK_ARCHIVE_MAX_AGE (30d) */
    guint64 archive_max_mib;   /* AIRLOCK_ARCHIVE_MAX_MIB (4096) */
    guint64 reserve_mib;       /* AIRLOCK_RESERVE_MIB (512) */
    gboolean fixup_exec;       /* AIRLOCK_FIXUP=exec: clock/RNG fix through the agent */
    gboolean guest_agent_only; /* AIRLOCK_GUEST=agent: exec and cp through the QEMU agent */
    char *crash_at;            /* AIRLOCK_CRASH_AT: tests kill create/reset/destroy there */
} VmmConfig;

/* The defaults, overridden by the environment. INVALID error naming the variable. */
VmmConfig *vmm_config_from_env(GError **error);
void vmm_config_free(VmmConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmConfig, vmm_config_free)

/* Makes @config (taken) the one the library reads from now on. */
void vmm_config_set(VmmConfig *config);

/*
 * The configuration in force: the one set, or, when none was (unit tests),
 * the environment's as it is now (invalid values fall back to defaults).
 * Valid until the next vmm_config_set; do not free.
 */
const VmmConfig *vmm_config_get(void);
