/* fuzz-nft: the nft ruleset builder with hostile config strings either refuses them or
 * builds a script whose shape is that of a clean config's: no line, quote, brace,
 * semicolon or comment added by a value (an injected rule), no control characters. */
#include <config.h>

#include "nft.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ALLOW 8

/* How many times each character that structures an nft script occurs in @s. */
static void
shape(const char *s, guint counts[7])
{
    const char *special = "\n\"{};#\\";

    memset(counts, 0, 7 * sizeof(guint));
    for (const char *p = s; *p; p++) {
        const char *at = strchr(special, *p);
        if (at)
            counts[at - special]++;
        /* Only tab and newline among the control characters. */
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t')
            abort();
        if (*p == '\r' || *p == 0x7f)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input: one flags byte (bit 0: dns), then NUL-separated fields: name, bridge, tap,
     * mac, guest_ip, host_ip, then up to MAX_ALLOW allow entries. */
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *allow[MAX_ALLOW + 1] = {NULL};
    const char *ref_allow[MAX_ALLOW + 1] = {NULL};
    g_autoptr(GError) err = NULL;
    g_autofree char *rules = NULL;
    guint n, n_allow = 0;

    if (size < 1)
        return 0;
    text = g_malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    /* g_strsplit stops at the first NUL: split by hand. */
    {
        g_autoptr(GPtrArray) parts = g_ptr_array_new();
        const char *p = text, *end = text + size - 1;
        while (p <= end && parts->len < 6 + MAX_ALLOW) {
            g_ptr_array_add(parts, g_strdup(p));
            p += strlen(p) + 1;
        }
        g_ptr_array_add(parts, NULL);
        fields = (char **)g_ptr_array_free(g_steal_pointer(&parts), FALSE);
    }
    n = g_strv_length(fields);
    for (guint i = 6; i < n; i++) {
        allow[n_allow] = fields[i];
        ref_allow[n_allow++] = "10.0.0.1:80";
    }
    {
        VmmNftConfig cfg = {.name = n > 0 ? fields[0] : NULL,
                            .bridge = n > 1 ? fields[1] : NULL,
                            .tap = n > 2 ? fields[2] : NULL,
                            .mac = n > 3 ? fields[3] : NULL,
                            .guest_ip = n > 4 ? fields[4] : NULL,
                            .host_ip = n > 5 ? fields[5] : NULL,
                            .dns = data[0] & 1,
                            .allow = allow};
        if (!cfg.name)
            return 0;
        rules = vmm_nft_ruleset_build(&cfg, &err);
    }
    if (!rules) {
        /* A refusal, with its reason. (It may quote the value, newlines and all: the
         * config is the user's own spec, not guest bytes.) */
        if (!err || !*err->message)
            abort();
        return 0;
    }
    if (err)
        abort();
    {
        /* The same config, clean: same number of allow entries. */
        VmmNftConfig ref = {.name = "fuzz-ref",
                            .bridge = "al0123abcd",
                            .tap = "at0123abcd",
                            .mac = "52:54:00:12:34:56",
                            .guest_ip = "10.213.7.2",
                            .host_ip = "10.213.7.1",
                            .dns = data[0] & 1,
                            .allow = ref_allow};
        g_autofree char *clean = vmm_nft_ruleset_build(&ref, NULL);
        guint a[7], b[7];
        if (!clean)
            abort();
        shape(rules, a);
        shape(clean, b);
        if (memcmp(a, b, sizeof(a)) != 0)
            abort();
    }
    {
        /* The allow list read back from a listing is "IP:PORT" entries only. */
        g_auto(GStrv) back = vmm_nft_parse_allow(text);
        for (char **e = back; e && *e; e++)
            if (!g_regex_match_simple("^[0-9.]+:[0-9]+$", *e, 0, 0))
                abort();
        (void)vmm_nft_parse_counter(text);
    }
    return 0;
}
