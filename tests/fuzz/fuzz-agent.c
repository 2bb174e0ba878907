/* fuzz-agent: a hostile guest's agent replies never crash the parser, and every refusal is one
 * safe line (no control byte: it ends up on a terminal). */
#include <config.h>

#include "agent-json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const GError *err)
{
    if (!err || !err->message)
        abort();
    for (const char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) ret = NULL;

    /* A json-glib critical means a guest-shaped reply reached a getter unchecked. */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    ret = vmm_agent_json_return(text, &err);

    if (!ret) {
        check_error(err);
        return 0;
    }
    /* Every reader of a "return" member, whatever shape the guest gave it. */
    {
        g_autoptr(GError) e = NULL;
        gint64 v = 0;
        if (!vmm_agent_json_get_int(ret, "pid", &v, &e))
            check_error(e);
    }
    {
        g_autoptr(GError) e = NULL;
        VmmAgentExecStatus st;
        if (vmm_agent_json_exec_status(ret, &st, &e)) {
            if (st.exit_code < 0 || st.exit_code > 255)
                abort();
            vmm_agent_exec_status_clear(&st);
        } else {
            check_error(e);
        }
    }
    {
        g_autoptr(GError) e = NULL;
        gboolean eof = FALSE;
        g_autoptr(GBytes) b = vmm_agent_json_file_read(ret, &eof, &e);
        if (!b)
            check_error(e);
    }
    return 0;
}
