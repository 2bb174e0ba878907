/* gateway-setup.c: create's part of the model gateway: token, registry, guest environment. */
#include <config.h>

#include "gateway.h"
#include "error.h"

#include <string.h>

VmmGatewaySetup *
vmm_gateway_setup_new(const char *state_dir, GError **error)
{
    g_autofree char *path = vmm_gateway_config_path(state_dir);
    g_autoptr(VmmGatewaySetup) setup = g_new0(VmmGatewaySetup, 1);
    g_autoptr(GError) local = NULL;

    if (!(setup->cfg = vmm_gateway_config_load(path, &local))) {
        if (g_error_matches(local, VMM_ERROR, VMM_ERROR_NOT_FOUND))
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "the spec asks for the model gateway but this host has none configured "
                        "(write %s, mode 0600: docs/gateway.md)",
                        path);
        else
            g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    /* A create never needs a provider key: gone before anything else runs. */
    for (guint i = 0; i < setup->cfg->providers->len; i++) {
        VmmGatewayProvider *pv = g_ptr_array_index(setup->cfg->providers, i);
        explicit_bzero(pv->key, strlen(pv->key));
        g_clear_pointer(&pv->key, g_free);
    }
    return g_steal_pointer(&setup);
}

gboolean
vmm_gateway_setup_register(VmmGatewaySetup *setup, const char *state_dir, const char *name,
                           const char *host_ip, const char *guest_ip,
                           const VmmGatewayLimits *limits, const VmmSecrets *user, GError **error)
{
    g_auto(GStrv) key_names = vmm_gateway_key_names(setup->cfg);
    g_autofree char *guest = g_strndup(guest_ip, strcspn(guest_ip, "/"));
    g_autofree char *token = vmm_gateway_token_new();
    VmmGatewaySandbox sb = {.name = (char *)name,
                            .host_ip = (char *)host_ip,
                            .guest_ip = guest,
                            .token_sha256 = vmm_gateway_token_hash(token),
                            .limits = *limits};
    gboolean ok = FALSE;

    vmm_secrets_free(setup->secrets);
    setup->secrets = vmm_secrets_new();
    for (guint i = 0; i < vmm_secrets_count(user); i++) {
        const char *k = vmm_secrets_key(user, i);
        if (g_strv_contains((const char *const *)key_names, k)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "secret %s is the model gateway's token in this sandbox: remove it from "
                        "the secrets file",
                        k);
            goto out;
        }
        if (!vmm_secrets_add(setup->secrets, k, vmm_secrets_value(user, i), error))
            goto out;
    }
    for (char **k = key_names; *k; k++)
        if (!vmm_secrets_add(setup->secrets, *k, token, error))
            goto out;
    g_strfreev(setup->env);
    setup->env = vmm_gateway_guest_env(setup->cfg, host_ip);
    ok = vmm_gateway_register(state_dir, &sb, error);
out:
    explicit_bzero(token, strlen(token));
    g_free(sb.token_sha256);
    return ok;
}

void
vmm_gateway_setup_free(VmmGatewaySetup *setup)
{
    if (!setup)
        return;
    vmm_gateway_config_free(setup->cfg);
    g_strfreev(setup->env);
    vmm_secrets_free(setup->secrets);
    g_free(setup);
}
