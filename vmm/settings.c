/* settings.c: the configuration, read from the environment in one place. */
#include <config.h>

#include "settings.h"
#include "error.h"
#include "spec.h"

#include <errno.h>
#include <string.h>

#define DEFAULT_ARCHIVE_KEEP 50
#define DEFAULT_ARCHIVE_MAX_AGE_S (30 * 86400)
#define DEFAULT_ARCHIVE_MAX_MIB 4096
#define DEFAULT_RESERVE_MIB 512

static VmmConfig *current;
static void config_free_cb(gpointer c);
/*
 * The unset case's last answer, one per thread (airlockd runs operations in
 * several threads at once): replaced on that thread's next call, freed when the
 * thread ends. A single shared pointer was freed twice by two workers at once.
 */
static GPrivate from_env_now = G_PRIVATE_INIT(config_free_cb);

void
vmm_config_free(VmmConfig *c)
{
    if (!c)
        return;
    g_free(c->state_dir);
    g_free(c->accel);
    g_free(c->uri);
    g_free(c->subnet_pool);
    g_free(c->crash_at);
    g_free(c);
}

static void
config_free_cb(gpointer c)
{
    vmm_config_free(c);
}

static char *
env_str(const char *name)
{
    const char *v = g_getenv(name);

    return v && *v ? g_strdup(v) : NULL;
}

static gboolean
env_uint(const char *name, guint64 max, guint64 *out, GError **error)
{
    const char *v = g_getenv(name);
    char *end = NULL;
    guint64 n;

    if (!v || !*v)
        return TRUE;
    errno = 0;
    n = g_ascii_strtoull(v, &end, 10);
    if (errno || !g_ascii_isdigit(*v) || *end || n > max) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s='%s' is not a number from 0 to %" G_GUINT64_FORMAT, name, v, max);
        return FALSE;
    }
    *out = n;
    return TRUE;
}

VmmConfig *
vmm_config_from_env(GError **error)
{
    g_autoptr(VmmConfig) c = g_new0(VmmConfig, 1);
    guint64 keep = DEFAULT_ARCHIVE_KEEP;
    const char *age = g_getenv("AIRLOCK_ARCHIVE_MAX_AGE");

    c->state_dir = env_str("AIRLOCK_STATE_DIR");
    c->accel = env_str("AIRLOCK_ACCEL");
    c->uri = env_str("LIBVIRT_DEFAULT_URI");
    c->subnet_pool = env_str("AIRLOCK_SUBNET_POOL");
    c->crash_at = env_str("AIRLOCK_CRASH_AT");
    c->fixup_exec = g_strcmp0(g_getenv("AIRLOCK_FIXUP"), "exec") == 0;
    c->guest_agent_only = g_strcmp0(g_getenv("AIRLOCK_GUEST"), "agent") == 0;
    c->archive_max_age_s = DEFAULT_ARCHIVE_MAX_AGE_S;
    c->archive_max_mib = DEFAULT_ARCHIVE_MAX_MIB;
    c->reserve_mib = DEFAULT_RESERVE_MIB;
    if (!env_uint("AIRLOCK_ARCHIVE_KEEP", G_MAXUINT, &keep, error) ||
        !env_uint("AIRLOCK_ARCHIVE_MAX_MIB", G_GUINT64_CONSTANT(1) << 40, &c->archive_max_mib,
                  error) ||
        !env_uint("AIRLOCK_RESERVE_MIB", G_GUINT64_CONSTANT(1) << 40, &c->reserve_mib, error))
        return NULL;
    c->archive_keep = (guint)keep;
    if (age && *age && !vmm_spec_parse_duration(age, &c->archive_max_age_s, error)) {
        g_prefix_error(error, "AIRLOCK_ARCHIVE_MAX_AGE: ");
        return NULL;
    }
    return g_steal_pointer(&c);
}

void
vmm_config_set(VmmConfig *config)
{
    vmm_config_free(current);
    current = config;
}

const VmmConfig *
vmm_config_get(void)
{
    VmmConfig *c;

    if (current)
        return current;
    /* Nothing set: the environment as it is now; what is invalid keeps its default. */
    c = vmm_config_from_env(NULL);
    if (!c) {
        c = g_new0(VmmConfig, 1);
        c->archive_keep = DEFAULT_ARCHIVE_KEEP;
        c->archive_max_age_s = DEFAULT_ARCHIVE_MAX_AGE_S;
        c->archive_max_mib = DEFAULT_ARCHIVE_MAX_MIB;
        c->reserve_mib = DEFAULT_RESERVE_MIB;
    }
    g_private_replace(&from_env_now, c);
    return c;
}
