/* nft.c: the sandbox's own nftables tables. Building the ruleset is pure; the rest runs nft. */
#include <config.h>

#include "nft.h"
#include "command.h"
#include "error.h"
#include "names.h"
#include "spec.h"

#include <stdio.h>
#include <string.h>

char *
vmm_nft_table_name(const char *name)
{
    char *t = g_strdup_printf("airlock_%s", name);

    g_strdelimit(t, "-", '_');
    return t;
}

static gboolean
valid_ifname(const char *s)
{
    return s && g_regex_match_simple("^[a-z][a-z0-9]{1,14}$", s, G_REGEX_DOLLAR_ENDONLY, 0);
}

static gboolean
valid_ip(const char *s)
{
    guint a, b, c, d;
    char tail;

    return s && strspn(s, "0123456789.") == strlen(s) &&
           sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256 &&
           c < 256 && d < 256;
}

static const char *const families[] = {"netdev", "bridge", "inet", NULL};

/*
 * The source checks both layer-2 chains make, as an allow list: the guest's
 * MAC, and then only IPv4 from its address or ARP for its MAC and address.
 * A frame too short to hold the field a rule reads matches nothing, so it
 * falls through to the drop (a runt "IPv4" frame must not pass as IPv4).
 */
static void
append_l2_rules(GString *s, const char *mac, const char *guest)
{
    g_string_append_printf(s, "\t\tether saddr != %s counter name \"dropped_l2\" drop\n", mac);
    g_string_append_printf(s, "\t\tether type ip ip saddr %s return\n", guest);
    g_string_append_printf(s,
                           "\t\tether type arp arp htype 1 arp ptype ip arp saddr ether %s "
                           "arp saddr ip %s return\n",
                           mac, guest);
    g_string_append_printf(s, "\t\tcounter name \"dropped_l2\" drop\n");
}

char *
vmm_nft_ruleset_build(const VmmNftConfig *cfg, GError **error)
{
    g_autofree char *table = NULL;
    g_autofree char *guest = NULL;
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GString) allow = g_string_new(NULL);

    if (!vmm_name_validate(cfg->name, "sandbox name", error))
        return NULL;
    guest = cfg->guest_ip ? g_strndup(cfg->guest_ip, strcspn(cfg->guest_ip, "/")) : NULL;
    /* Everything below lands in an nft script: only checked shapes get there. */
    if (!valid_ifname(cfg->bridge) || !valid_ifname(cfg->tap) || !valid_ip(guest) ||
        !valid_ip(cfg->host_ip) || !cfg->mac ||
        !g_regex_match_simple("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", cfg->mac, G_REGEX_DOLLAR_ENDONLY,
                              0)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "incomplete firewall configuration");
        return NULL;
    }
    if (cfg->gateway_port > 65535) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "model gateway port %u is not a port",
                    cfg->gateway_port);
        return NULL;
    }
    for (const char *const *a = cfg->allow; a && *a; a++) {
        g_autofree char *host = NULL;
        guint port = 0;

        if (!vmm_spec_parse_allow(*a, &host, &port, error))
            return NULL;
        g_string_append_printf(
            allow, "\t\tip daddr %s tcp dport %u ct state new accept comment \"allow\"\n",
            strcmp(host, "host") == 0 ? cfg->host_ip : host, port);
    }
    table = vmm_nft_table_name(cfg->name);

    /* "add" then "delete": replaces the tables whether or not they exist, in one transaction. */
    for (const char *const *f = families + (cfg->no_tap_hook ? 1 : 0); *f; f++)
        g_string_append_printf(s, "add table %s %s\ndelete table %s %s\n", *f, table, *f, table);
    if (cfg->no_tap_hook)
        goto bridge;

    /*
     * The earliest point: every frame the guest sends, before the bridge sees
     * it. Frames to the link-local group addresses 01:80:c2:00:00:0X are not
     * bridged but handed to the tap's own stack (0x00 and 0x0e past every
     * bridge hook), so they die here whatever their ethertype.
     */
    g_string_append_printf(s, "\n# Layer 2, first: what the guest sends on its NIC.\n");
    g_string_append_printf(s, "table netdev %s {\n\tcounter dropped_l2 {\n\t}\n\n", table);
    g_string_append_printf(s,
                           "\tchain tap {\n\t\ttype filter hook ingress device \"%s\" "
                           "priority -500; policy accept;\n",
                           cfg->tap);
    g_string_append_printf(s, "\t\tether daddr & ff:ff:ff:ff:ff:f0 == 01:80:c2:00:00:00 "
                              "counter name \"dropped_l2\" drop\n");
    append_l2_rules(s, cfg->mac, guest);
    g_string_append_printf(s, "\t}\n}\n\n");

bridge:
    g_string_append_printf(s, "# Layer 2, again: what the bridge forwards from the guest.\n");
    g_string_append_printf(s, "table bridge %s {\n\tcounter dropped_l2 {\n\t}\n\n", table);
    g_string_append_printf(s, "\tchain guest {\n\t\ttype filter hook prerouting priority -300; "
                              "policy accept;\n");
    g_string_append_printf(s, "\t\tiifname != \"%s\" accept\n", cfg->tap);
    append_l2_rules(s, cfg->mac, guest);
    g_string_append_printf(s, "\t}\n}\n\n");

    g_string_append_printf(s, "# Layer 3: what reaches the host or would be routed on.\n");
    g_string_append_printf(s, "table inet %s {\n\tcounter dropped {\n\t}\n", table);
    for (int hook = 0; hook < 2; hook++) {
        g_string_append_printf(s,
                               "\n\tchain %s {\n\t\ttype filter hook %s priority filter - 10; "
                               "policy accept;\n",
                               hook == 0 ? "input" : "forward", hook == 0 ? "input" : "forward");
        /* What reaches the tap's own stack is the guest's too. */
        g_string_append_printf(s, "\t\tiifname != { \"%s\", \"%s\" } accept\n", cfg->bridge,
                               cfg->tap);
        g_string_append_printf(s, "\t\tct state established,related accept\n");
        g_string_append_printf(s, "\t\tip saddr != %s counter name \"dropped\" drop\n", guest);
        if (cfg->dns && hook == 0) {
            g_string_append_printf(
                s, "\t\tip daddr %s udp dport 53 ct state new accept comment \"dns\"\n",
                cfg->host_ip);
            g_string_append_printf(
                s, "\t\tip daddr %s tcp dport 53 ct state new accept comment \"dns\"\n",
                cfg->host_ip);
        }
        /* The model gateway listens on the bridge address itself: never forwarded beyond. */
        if (cfg->gateway_port && hook == 0)
            g_string_append_printf(s,
                                   "\t\tip daddr %s tcp dport %u ct state new accept comment "
                                   "\"model-gateway\"\n",
                                   cfg->host_ip, cfg->gateway_port);
        g_string_append(s, allow->str);
        g_string_append_printf(s, "\t\tcounter name \"dropped\" drop\n\t}\n");
    }
    g_string_append_printf(s, "}\n");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Runs nft with @args (NULL-terminated, after "nft"), @input on stdin; stdout returned. */
static char *
run_nft(const char *const *args, const char *input, GError **error)
{
    g_autoptr(VmmCommand) cmd = vmm_command_new("nft");

    vmm_command_add_argv(cmd, args);
    if (input)
        vmm_command_set_stdin(cmd, input);
    if (!vmm_command_run(cmd, NULL, error))
        return NULL;
    return vmm_command_steal_stdout(cmd);
}

gboolean
vmm_nft_apply(const char *ruleset, GError **error)
{
    const char *args[] = {"-f", "-", NULL};
    g_autofree char *out = run_nft(args, ruleset, error);

    return out != NULL;
}

gboolean
vmm_nft_remove(const char *name, gboolean *existed, GError **error)
{
    g_autofree char *table = vmm_nft_table_name(name);
    g_autoptr(GString) script = g_string_new(NULL);
    const char *list[] = {"list", "table", "inet", table, NULL};
    const char *apply[] = {"-f", "-", NULL};
    g_autofree char *listed = NULL;
    g_autofree char *out = NULL;

    if (!vmm_name_validate(name, "sandbox name", error))
        return FALSE;
    for (const char *const *f = families; *f; f++)
        g_string_append_printf(script, "add table %s %s\ndelete table %s %s\n", *f, table, *f,
                               table);
    listed = run_nft(list, NULL, NULL);
    if (existed)
        *existed = listed != NULL;
    out = run_nft(apply, script->str, error);
    return out != NULL;
}

gint64
vmm_nft_parse_counter(const char *listing)
{
    const char *p = listing ? strstr(listing, "packets ") : NULL;

    return p ? g_ascii_strtoll(p + 8, NULL, 10) : -1;
}

char **
vmm_nft_parse_allow(const char *listing)
{
    g_auto(GStrv) lines = g_strsplit(listing ? listing : "", "\n", -1);
    g_autoptr(GRegex) re =
        g_regex_new("ip daddr ([0-9.]+) tcp dport ([0-9]+) .*comment \"allow\"", 0, 0, NULL);
    GPtrArray *out = g_ptr_array_new();

    for (char **l = lines; *l; l++) {
        g_autoptr(GMatchInfo) m = NULL;
        if (g_regex_match(re, *l, 0, &m)) {
            g_autofree char *ip = g_match_info_fetch(m, 1);
            g_autofree char *port = g_match_info_fetch(m, 2);
            g_ptr_array_add(out, g_strdup_printf("%s:%s", ip, port));
        }
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

gint64
vmm_nft_parse_counter_in(const char *listing, const char *family)
{
    g_autofree char *head = g_strdup_printf("table %s ", family);
    const char *t = listing ? strstr(listing, head) : NULL;

    return t ? vmm_nft_parse_counter(t) : -1;
}

gboolean
vmm_nft_drops(const char *name, gint64 *ip_packets, gint64 *l2_frames, GError **error)
{
    g_autofree char *table = vmm_nft_table_name(name);
    g_autofree char *script =
        g_strdup_printf("list counter netdev %s dropped_l2\nlist counter bridge %s dropped_l2\n"
                        "list counter inet %s dropped\n",
                        table, table, table);
    const char *args[] = {"-f", "-", NULL};
    g_autofree char *out = run_nft(args, script, error);
    gint64 tap, bridge;

    /* One nft run: all three tables or an error (a missing table fails the whole script). */
    if (!out)
        return FALSE;
    tap = vmm_nft_parse_counter_in(out, "netdev");
    bridge = vmm_nft_parse_counter_in(out, "bridge");
    *ip_packets = vmm_nft_parse_counter_in(out, "inet");
    *l2_frames = tap < 0 || bridge < 0 ? -1 : tap + bridge;
    if (*ip_packets < 0 || *l2_frames < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "the firewall tables of '%s' are incomplete (airlock gc reinstalls them)",
                    name);
        return FALSE;
    }
    return TRUE;
}

char **
vmm_nft_allow_list(const char *name, GError **error)
{
    g_autofree char *table = vmm_nft_table_name(name);
    const char *args[] = {"list", "chain", "inet", table, "input", NULL};
    g_autofree char *out = run_nft(args, NULL, error);

    return out ? vmm_nft_parse_allow(out) : NULL;
}

char **
vmm_nft_parse_tables(const char *listing)
{
    g_auto(GStrv) lines = g_strsplit(listing ? listing : "", "\n", -1);
    GPtrArray *names = g_ptr_array_new();

    for (char **l = lines; *l; l++) {
        const char *t = strstr(*l, " airlock_");
        g_autofree char *name = NULL;

        if (!g_str_has_prefix(*l, "table ") || !t)
            continue;
        name = g_strdup(t + strlen(" airlock_"));
        g_strdelimit(name, "_", '-');
        if (!vmm_name_validate(name, "name", NULL))
            continue;
        if (!g_ptr_array_find_with_equal_func(names, name, g_str_equal, NULL))
            g_ptr_array_add(names, g_steal_pointer(&name));
    }
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char **
vmm_nft_list_tables(GError **error)
{
    const char *args[] = {"list", "tables", NULL};
    g_autofree char *out = run_nft(args, NULL, error);

    return out ? vmm_nft_parse_tables(out) : NULL;
}
