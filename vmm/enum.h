/*
 * enum.h: an enum and its names, both ways, from one list (after libvirt's
 * VIR_ENUM_IMPL). In a .c file:
 *
 *     VMM_ENUM_IMPL(vmm_thing, VmmThing, VMM_THING_LAST, "a", "b", "c")
 *
 * defines vmm_thing_name(v) ("unknown" out of range), vmm_thing_lookup(s, &v)
 * and vmm_thing_names(sep) (all names joined, for error messages; caller frees).
 * The names must be as many as the enum's values: checked at compile time.
 */
#pragma once

#include <glib.h>

#define VMM_ENUM_IMPL(prefix, type, last, ...)                                                     \
    static const char *const prefix##_names_[] = {__VA_ARGS__};                                    \
    G_STATIC_ASSERT(G_N_ELEMENTS(prefix##_names_) == (last));                                      \
    G_GNUC_UNUSED static const char *prefix##_name(type value)                                     \
    {                                                                                              \
        return (guint)value < (guint)(last) ? prefix##_names_[value] : "unknown";                  \
    }                                                                                              \
    G_GNUC_UNUSED static gboolean prefix##_lookup(const char *str, type *value)                    \
    {                                                                                              \
        for (guint i = 0; i < (guint)(last); i++)                                                  \
            if (g_strcmp0(str, prefix##_names_[i]) == 0) {                                         \
                *value = (type)i;                                                                  \
                return TRUE;                                                                       \
            }                                                                                      \
        return FALSE;                                                                              \
    }                                                                                              \
    G_GNUC_UNUSED static char *prefix##_names(const char *sep)                                     \
    {                                                                                              \
        return g_strjoinv(sep, (char **)(const char *const[]){__VA_ARGS__, NULL});                 \
    }
