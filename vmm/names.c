/* names.c: name validation, libvirt object naming, paths. Pure: no libvirt. */
#include <config.h>

#include "names.h"
#include "settings.h"
#include "error.h"

#include <string.h>

gboolean
vmm_name_validate(const char *name, const char *what, GError **error)
{
    size_t len;

    if (!name || !*name) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s is empty (use 1-32 of a-z, 0-9 and '-', starting with a letter)", what);
        return FALSE;
    }
    len = strlen(name);
    if (len > VMM_NAME_MAX) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "%s is %zu characters long (at most %d allowed)", what, len, VMM_NAME_MAX);
        return FALSE;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        gboolean ok = (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
        if (!ok) {
            /* Never echo a hostile name verbatim: it may hold quotes or control bytes. */
            g_autofree char *shown = g_strescape(name, NULL);
            if (strlen(shown) > 40)
                strcpy(shown + 37, "...");
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "%s '%s' is invalid (use 1-32 of a-z, 0-9 and '-', starting with a "
                        "letter)",
                        what, shown);
            return FALSE;
        }
    }
    return TRUE;
}

char *
vmm_name_object(const char *name)
{
    return g_strconcat("airlock-", name, NULL);
}

char *
vmm_name_from_object(const char *object)
{
    if (!object || !g_str_has_prefix(object, "airlock-"))
        return NULL;
    if (!vmm_name_validate(object + strlen("airlock-"), "name", NULL))
        return NULL;
    return g_strdup(object + strlen("airlock-"));
}

char *
vmm_name_bridge(const char *name)
{
    g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, name, -1);

    return g_strdup_printf("al%.8s", hex);
}

char *
vmm_state_dir(const char *uri)
{
    const char *env = vmm_config_get()->state_dir;

    if (env && *env)
        return g_strdup(env);
    if (uri && strstr(uri, "/session"))
        return g_build_filename(g_get_user_data_dir(), "airlock", NULL);
    return g_strdup("/var/lib/airlock");
}

char *
vmm_path_image_dir(const char *state_dir, const char *image)
{
    return g_build_filename(state_dir, "images", image, NULL);
}

char *
vmm_path_sandbox_dir(const char *state_dir, const char *name)
{
    return g_build_filename(state_dir, "sandboxes", name, NULL);
}
