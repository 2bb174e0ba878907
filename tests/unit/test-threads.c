/*
 * test-threads.c: what airlockd's worker threads call at the same time is safe to
 * call at the same time. The configuration read from the environment once replaced
 * one shared answer on every call: two workers freed it twice (airlockd crashed
 * under the web page's parallel requests).
 */
#include <config.h>

#include "settings.h"

#include <string.h>

#define THREADS 8
#define ROUNDS 20000

static gpointer
read_config(gpointer data)
{
    for (int i = 0; i < ROUNDS; i++) {
        const VmmConfig *c = vmm_config_get();
        /* Read what was returned: a copy freed by another thread reads as garbage. */
        if (!c || c->reserve_mib != 512 || g_strcmp0(c->accel, "tcg") != 0)
            return GINT_TO_POINTER(1);
    }
    return NULL;
}

static void
test_config_from_threads(void)
{
    GThread *t[THREADS];
    int bad = 0;

    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
    g_unsetenv("AIRLOCK_RESERVE_MIB");
    for (int i = 0; i < THREADS; i++)
        t[i] = g_thread_new("config", read_config, NULL);
    for (int i = 0; i < THREADS; i++)
        bad += GPOINTER_TO_INT(g_thread_join(t[i]));
    g_assert_cmpint(bad, ==, 0);
}

static void
test_config_follows_env_when_unset(void)
{
    /* Unset, each call reads the environment as it is now (tests rely on that). */
    g_setenv("AIRLOCK_ACCEL", "kvm", TRUE);
    g_assert_cmpstr(vmm_config_get()->accel, ==, "kvm");
    g_setenv("AIRLOCK_ACCEL", "tcg", TRUE);
    g_assert_cmpstr(vmm_config_get()->accel, ==, "tcg");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/threads/config-follows-env", test_config_follows_env_when_unset);
    g_test_add_func("/threads/config-from-threads", test_config_from_threads);
    return g_test_run();
}
