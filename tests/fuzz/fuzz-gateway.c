/* fuzz-gateway: what the model gateway parses from a guest (request bodies) and from an
 * upstream (responses and SSE streams, split anywhere), its registry and its
 * configuration: never a crash, a leak or a json-glib critical; a refused configuration
 * never quotes its key. */
#include <config.h>

#include "gateway/gateway.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    g_autofree char *model = NULL;
    g_autoptr(GError) err = NULL;
    gboolean stream = FALSE;
    VmmGatewayUsage u = {-1, -1};
    VmmGatewaySse sse;
    gsize cut = size ? data[0] % (size + 1) : 0;

    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    if (vmm_gateway_check_request(p, size, &model, &stream, &err)) {
        if (!vmm_gateway_model_valid(model))
            abort();
    } else if (!err) {
        abort();
    }
    vmm_gateway_usage_scan(&u, p, size);
    /* The same bytes as a stream, in two writes cut anywhere. */
    vmm_gateway_sse_init(&sse);
    vmm_gateway_sse_feed(&sse, p, cut);
    vmm_gateway_sse_feed(&sse, p + cut, size - cut);
    vmm_gateway_sse_clear(&sse);
    {
        g_autoptr(VmmGatewaySandbox) sb = vmm_gateway_sandbox_parse(p, size, NULL);
        if (sb && (!sb->name || strlen(sb->token_sha256) != 64))
            abort();
    }
    {
        /* A configuration with a known key: an error never says it. */
        g_autofree char *text = g_strdup_printf("%.*s\nkey=sk-FUZZKEY-secret\n", (int)size, p);
        g_autoptr(GError) e = NULL;
        g_autoptr(VmmGatewayConfig) cfg = NULL;
        if (!memchr(p, 0, size)) {
            cfg = vmm_gateway_config_parse(text, "fuzz.conf", &e);
            /* (Unless the input spells it itself, say as a group name.) */
            if (!cfg &&
                (!e || (strstr(e->message, "FUZZKEY") && !g_strstr_len(p, size, "FUZZKEY"))))
                abort();
        }
    }
    return 0;
}
