/* host.c: the real host operations and the in-memory fake used with test:///. */
#include <config.h>

#include "host.h"
#include "conn.h"
#include "error.h"
#include "names.h"
#include "nft.h"
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---- this host ---- */

static gboolean
real_sysctl_net(const char *path, const char *value, GError **error)
{
    g_autofree char *full = g_build_filename("/proc/sys/net", path, NULL);
    int fd = open(full, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    gboolean ok;

    if (fd < 0 && errno == ENOENT)
        return TRUE;
    ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    if (!ok)
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot set %s to %s: %s", full, value,
                    g_strerror(errno));
    if (fd >= 0)
        close(fd);
    return ok;
}

static const VmmHost real_host = {
    .name = "host",
    .has_guests = TRUE,
    .nft_apply = vmm_nft_apply,
    .nft_remove = vmm_nft_remove,
    .nft_drops = vmm_nft_drops,
    .nft_sandboxes = vmm_nft_list_tables,
    .sysctl_net = real_sysctl_net,
    .space_check = vmm_space_check,
};

/* ---- the fake ---- */

static GMutex fake_lock;
static GHashTable *fake_tables;  /* "family table" -> TRUE */
static GHashTable *fake_sysctls; /* path -> value */

static void
fake_init(void)
{
    if (!fake_tables) {
        fake_tables = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        fake_sysctls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    }
}

/* Reads the "table FAMILY NAME {" and "delete table FAMILY NAME" lines of a script. */
static gboolean
fake_nft_apply(const char *ruleset, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(ruleset ? ruleset : "", "\n", -1);
    g_autoptr(GRegex) make =
        g_regex_new("^table (netdev|bridge|inet) (airlock_[a-z0-9_]+) \\{$", 0, 0, NULL);
    g_autoptr(GRegex) drop =
        g_regex_new("^delete table (netdev|bridge|inet) (airlock_[a-z0-9_]+)$", 0, 0, NULL);

    g_mutex_lock(&fake_lock);
    fake_init();
    for (char **l = lines; *l; l++) {
        g_autoptr(GMatchInfo) dm = NULL;
        g_autoptr(GMatchInfo) mm = NULL;
        gboolean del = g_regex_match(drop, *l, 0, &dm);
        GMatchInfo *m = del ? dm : (g_regex_match(make, *l, 0, &mm) ? mm : NULL);
        g_autofree char *fam = NULL, *tab = NULL;
        char *key;

        if (!m)
            continue;
        fam = g_match_info_fetch(m, 1);
        tab = g_match_info_fetch(m, 2);
        key = g_strdup_printf("%s %s", fam, tab);
        if (del) {
            g_hash_table_remove(fake_tables, key);
            g_free(key);
        } else {
            g_hash_table_add(fake_tables, key);
        }
    }
    g_mutex_unlock(&fake_lock);
    (void)error;
    return TRUE;
}

static gboolean
fake_nft_remove(const char *name, gboolean *existed, GError **error)
{
    g_autofree char *table = vmm_nft_table_name(name);
    const char *fams[] = {"netdev", "bridge", "inet"};
    gboolean any = FALSE;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    g_mutex_lock(&fake_lock);
    fake_init();
    for (size_t i = 0; i < G_N_ELEMENTS(fams); i++) {
        g_autofree char *key = g_strdup_printf("%s %s", fams[i], table);
        any |= g_hash_table_remove(fake_tables, key);
    }
    g_mutex_unlock(&fake_lock);
    if (existed)
        *existed = any;
    return TRUE;
}

static gboolean
fake_nft_drops(const char *name, gint64 *ip, gint64 *l2, GError **error)
{
    g_autofree char *table = vmm_nft_table_name(name);
    const char *fams[] = {"netdev", "bridge", "inet"};
    gboolean all = TRUE;

    g_mutex_lock(&fake_lock);
    fake_init();
    for (size_t i = 0; i < G_N_ELEMENTS(fams); i++) {
        g_autofree char *key = g_strdup_printf("%s %s", fams[i], table);
        all &= g_hash_table_contains(fake_tables, key);
    }
    g_mutex_unlock(&fake_lock);
    if (!all) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "the firewall tables of '%s' are incomplete (airlock gc reinstalls them)",
                    name);
        return FALSE;
    }
    *ip = *l2 = 0; /* no guest sends anything here */
    return TRUE;
}

static char **
fake_nft_sandboxes(GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;

    g_mutex_lock(&fake_lock);
    fake_init();
    g_hash_table_iter_init(&it, fake_tables);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        const char *t = strstr(key, " airlock_");
        g_autofree char *name = t ? g_strdup(t + strlen(" airlock_")) : NULL;
        if (!name)
            continue;
        g_strdelimit(name, "_", '-');
        if (g_hash_table_add(seen, g_strdup(name)))
            g_ptr_array_add(out, g_steal_pointer(&name));
    }
    g_mutex_unlock(&fake_lock);
    (void)error;
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static gboolean
fake_sysctl_net(const char *path, const char *value, GError **error)
{
    g_mutex_lock(&fake_lock);
    fake_init();
    g_hash_table_replace(fake_sysctls, g_strdup(path), g_strdup(value));
    g_mutex_unlock(&fake_lock);
    (void)error;
    return TRUE;
}

static gboolean
fake_space_check(const char *state_dir, guint64 bytes, GError **error)
{
    /* The test image's virtual disk is not what a test's tmpfs must hold. */
    (void)state_dir;
    (void)bytes;
    (void)error;
    return TRUE;
}

static const VmmHost fake_host = {
    .name = "fake",
    .has_guests = FALSE,
    .nft_apply = fake_nft_apply,
    .nft_remove = fake_nft_remove,
    .nft_drops = fake_nft_drops,
    .nft_sandboxes = fake_nft_sandboxes,
    .sysctl_net = fake_sysctl_net,
    .space_check = fake_space_check,
};

const VmmHost *
vmm_host_for(virConnectPtr conn)
{
    return conn && vmm_conn_is_test(conn) ? &fake_host : &real_host;
}

char **
vmm_host_fake_tables(void)
{
    char **out;

    g_mutex_lock(&fake_lock);
    fake_init();
    out = (char **)g_hash_table_get_keys_as_array(fake_tables, NULL);
    for (char **p = out; p && *p; p++)
        *p = g_strdup(*p);
    g_mutex_unlock(&fake_lock);
    return out;
}

void
vmm_host_fake_reset(void)
{
    g_mutex_lock(&fake_lock);
    if (fake_tables) {
        g_hash_table_remove_all(fake_tables);
        g_hash_table_remove_all(fake_sysctls);
    }
    g_mutex_unlock(&fake_lock);
}

const char *
vmm_host_fake_sysctl(const char *path)
{
    const char *v;

    g_mutex_lock(&fake_lock);
    fake_init();
    v = g_hash_table_lookup(fake_sysctls, path);
    g_mutex_unlock(&fake_lock);
    return v;
}
