/*
 * access.h: who may use airlockd and how much (pure): roles from group
 * membership, what a role sees, per-user quotas and the daemon's
 * configuration file.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef enum {
    VMM_ROLE_NONE,  /* refused */
    VMM_ROLE_USER,  /* member of the airlock group: its own sandboxes */
    VMM_ROLE_ADMIN, /* root or the admin group: every sandbox, no quota */
} VmmRole;

const char *vmm_role_to_string(VmmRole role);

/* What the role decision needs to know about an identity; a test fills it in. */
typedef struct {
    uid_t uid;
    const gid_t *gids; /* the uid's primary and supplementary groups */
    guint n_gids;
} VmmPeer;

/* The groups that grant access (gid -1: the group does not exist on this host). */
typedef struct {
    gid_t user_gid;
    gid_t admin_gid;
} VmmAccessGroups;

/* The role of @peer: root and @groups->admin_gid are admins, user_gid users, others none. */
VmmRole vmm_access_role(const VmmPeer *peer, const VmmAccessGroups *groups);

/*
 * Whether a caller named @user with @role may see a sandbox owned by @owner:
 * an admin sees all, a user its own; nobody else anything.
 */
gboolean vmm_access_sees(VmmRole role, const char *user, const char *owner);

/* Per-user limits; 0 means no limit. */
typedef struct {
    guint sandboxes;
    guint memory_mib;
    guint cpus;
} VmmQuota;

#define VMM_QUOTA_DEFAULT_SANDBOXES 4
#define VMM_QUOTA_DEFAULT_MEMORY_MIB 8192
#define VMM_QUOTA_DEFAULT_CPUS 8

/* What a user has (sandboxes that exist plus creates in flight). */
typedef struct {
    guint sandboxes;
    guint memory_mib;
    guint cpus;
} VmmUsage;

/*
 * Checks that @used plus one sandbox of @cpus and @memory_mib stays within
 * @quota; QUOTA error (VMM_API_ERROR) naming the limit, what is in use and
 * what to do.
 */
gboolean vmm_quota_check(const VmmQuota *quota, const char *user, const VmmUsage *used, guint cpus,
                         guint memory_mib, GError **error);

/* airlockd's settings from the configuration file. */
typedef struct {
    VmmQuota quota;
    char *admin_group; /* default "airlock-admin" */
    char *user_group;  /* default "airlock" */
} VmmDaemonConfig;

/* The defaults. Caller frees with vmm_daemon_config_free. */
VmmDaemonConfig *vmm_daemon_config_new(void);
void vmm_daemon_config_free(VmmDaemonConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDaemonConfig, vmm_daemon_config_free)

/*
 * Reads @text (a key file: [quota] sandboxes memory cpus, [access] admin-group
 * user-group) over @config. Unknown groups or keys and bad values are INVALID
 * errors naming @path.
 */
gboolean vmm_daemon_config_parse(VmmDaemonConfig *config, const char *text, const char *path,
                                 GError **error);
