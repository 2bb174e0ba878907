/* journal.c: crash-safe intent journal. */
#include <config.h>

#include "journal.h"
#include "settings.h"
#include "error.h"
#include "fsutil.h"
#include "names.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static char *
intent_path(const char *state_dir, const char *name)
{
    g_autofree char *file = g_strdup_printf("%s.json", name);

    return g_build_filename(state_dir, "journal", file, NULL);
}

gboolean
vmm_journal_begin(const char *state_dir, const char *name, const char *op, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "journal", NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *when = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    g_autofree char *text =
        g_strdup_printf("{\"op\":\"%s\",\"name\":\"%s\",\"pid\":%d,\"started\":\"%s\"}\n", op, name,
                        getpid(), when);

    g_autofree char *file = g_strdup_printf("%s.json", name);
    vmm_auto_fd int fd = -1;

    /* name and op are validated identifiers: nothing here needs escaping. */
    if (!vmm_fs_check_state_dir(state_dir, error) ||
        (fd = vmm_fs_mkdir(dir, 0700, (uid_t)-1, (gid_t)-1, error)) < 0)
        return FALSE;
    return vmm_fs_write_at(fd, file, text, -1, 0600, error);
}

void
vmm_journal_end(const char *state_dir, const char *name)
{
    g_autofree char *path = intent_path(state_dir, name);

    unlink(path);
}

static gint
cmp_strp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
vmm_journal_pending(const char *state_dir)
{
    g_autofree char *dir = g_build_filename(state_dir, "journal", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    const char *ent;

    while (d && (ent = g_dir_read_name(d))) {
        g_autofree char *name = NULL;
        if (!g_str_has_suffix(ent, ".json"))
            continue;
        name = g_strndup(ent, strlen(ent) - 5);
        if (vmm_name_validate(name, "name", NULL))
            g_ptr_array_add(out, g_steal_pointer(&name));
    }
    g_ptr_array_sort(out, cmp_strp);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_steal(out, NULL);
}

char *
vmm_journal_op(const char *state_dir, const char *name)
{
    g_autofree char *path = intent_path(state_dir, name);
    g_autoptr(JsonParser) p = json_parser_new();

    if (!json_parser_load_from_file(p, path, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
        return NULL;
    return g_strdup(json_object_get_string_member_with_default(
        json_node_get_object(json_parser_get_root(p)), "op", NULL));
}

void
vmm_journal_crash_point(const char *stage)
{
    const char *at = vmm_config_get()->crash_at;

    if (at && g_strcmp0(at, stage) == 0)
        kill(getpid(), SIGKILL);
}
