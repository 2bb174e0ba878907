/* test-network: network isolation pieces: filter/network XML, allow lists, pools, counters. */
#include <config.h>

#include "autoptr.h"
#include "conn.h"
#include "domain-xml.h"
#include "error.h"
#include "network-xml.h"
#include "names.h"
#include "nft.h"
#include "sandbox.h"
#include "spec.h"

#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

#include "unit/golden.h"

#include "unit/fake-image.h"

/* Checks @rules with `nft -c` (dry run in the kernel) when this is root and nft exists. */
static void
nft_validate(const char *rules)
{
    g_autofree char *nft = g_find_program_in_path("nft");
    g_autofree char *tmp = NULL;
    g_autofree char *cmd = NULL;
    int fd;

    if (!nft || geteuid() != 0) {
        g_test_skip(!nft ? "nft -c did not check the ruleset: nft not installed (nftables)"
                         : "nft -c did not check the ruleset: it needs root");
        return;
    }
    fd = g_file_open_tmp("airlock-test-XXXXXX.nft", &tmp, NULL);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_true(g_file_set_contents(tmp, rules, -1, NULL));
    cmd = g_strdup_printf("%s -c -f %s", nft, tmp);
    g_assert_cmpint(system(cmd), ==, 0);
    unlink(tmp);
}

static void
test_nft_isolated(void)
{
    g_autoptr(GError) err = NULL;
    VmmNftConfig cfg = {.name = "eval-3",
                        .bridge = "al12345678",
                        .tap = "at12345678",
                        .mac = "52:54:00:aa:bb:cc",
                        .guest_ip = "10.213.7.2/24",
                        .host_ip = "10.213.7.1",
                        .dns = TRUE};
    g_autofree char *rules = vmm_nft_ruleset_build(&cfg, &err);
    g_autofree char *table = vmm_nft_table_name("eval-3");

    g_assert_no_error(err);
    golden_check(rules, "nft", "isolated.nft");
    nft_validate(rules);
    g_assert_cmpstr(table, ==, "airlock_eval_3");
    /* Anti-spoofing at layer 2, then only IPv4 and ARP; a final drop at layer 3. */
    g_assert_nonnull(strstr(rules, "ether saddr != 52:54:00:aa:bb:cc counter"));
    g_assert_nonnull(strstr(rules, "ether type ip ip saddr 10.213.7.2 return"));
    g_assert_nonnull(
        strstr(rules, "arp saddr ether 52:54:00:aa:bb:cc arp saddr ip 10.213.7.2 return"));
    /* The tap is a dead end: hooked at ingress before the bridge, link-local groups first. */
    {
        const char *netdev = strstr(rules, "table netdev airlock_eval_3 {");
        const char *hook = strstr(rules, "hook ingress device \"at12345678\" priority -500;");
        const char *ll =
            strstr(rules, "ether daddr & ff:ff:ff:ff:ff:f0 == 01:80:c2:00:00:00 counter");
        const char *saddr = strstr(rules, "ether saddr != ");
        g_assert_nonnull(netdev);
        g_assert_true(hook && hook > netdev && ll > hook && saddr > ll);
    }
    g_assert_nonnull(strstr(rules, "\t\tiifname != { \"al12345678\", \"at12345678\" } accept\n"));
    g_assert_null(strstr(rules, "iifname != \"al12345678\" accept"));
    /* A kernel that cannot hook a missing tap gets the rest now, the tap's table later. */
    {
        g_autofree char *partial = NULL;
        cfg.no_tap_hook = TRUE;
        partial = vmm_nft_ruleset_build(&cfg, &err);
        g_assert_no_error(err);
        g_assert_null(strstr(partial, "netdev"));
        g_assert_nonnull(strstr(partial, "table bridge airlock_eval_3 {"));
        g_assert_nonnull(strstr(partial, "iifname != { \"al12345678\", \"at12345678\" }"));
    }
    g_assert_true(g_str_has_suffix(rules, "\t\tcounter name \"dropped\" drop\n\t}\n}\n"));
    g_assert_null(strstr(rules, "comment \"allow\""));
}

/* The gateway's port on the bridge address, input only; nothing else opens. */
static void
test_nft_gateway(void)
{
    g_autoptr(GError) err = NULL;
    VmmNftConfig cfg = {.name = "eval-3",
                        .bridge = "al12345678",
                        .tap = "at12345678",
                        .mac = "52:54:00:aa:bb:cc",
                        .guest_ip = "10.213.7.2/24",
                        .host_ip = "10.213.7.1",
                        .dns = TRUE,
                        .gateway_port = 8471};
    g_autofree char *rules = vmm_nft_ruleset_build(&cfg, &err);
    const char *rule =
        "ip daddr 10.213.7.1 tcp dport 8471 ct state new accept comment \"model-gateway\"";
    const char *input, *forward, *at;
    g_auto(GStrv) allowed = NULL;

    g_assert_no_error(err);
    golden_check(rules, "nft", "gateway.nft");
    nft_validate(rules);
    input = strstr(rules, "chain input {");
    forward = strstr(rules, "chain forward {");
    at = strstr(rules, rule);
    g_assert_true(at && at > input && at < forward);
    g_assert_null(strstr(forward, "8471"));
    /* Not an allow entry: `airlock inspect` lists what the user opened, not this. */
    allowed = vmm_nft_parse_allow(rules);
    g_assert_null(allowed[0]);
    cfg.gateway_port = 70000;
    g_assert_null(vmm_nft_ruleset_build(&cfg, &err));
}

static void
test_nft_allow(void)
{
    g_autoptr(GError) err = NULL;
    const char *allow[] = {"host:8080", "192.168.1.10:443", NULL};
    const char *bad[] = {"host:8080", "example.com:443", NULL};
    VmmNftConfig cfg = {.name = "eval-3",
                        .bridge = "al12345678",
                        .tap = "at12345678",
                        .mac = "52:54:00:aa:bb:cc",
                        .guest_ip = "10.213.7.2",
                        .host_ip = "10.213.7.1",
                        .dns = TRUE,
                        .allow = allow};
    g_autofree char *rules = vmm_nft_ruleset_build(&cfg, &err);
    g_auto(GStrv) back = NULL;

    g_assert_no_error(err);
    golden_check(rules, "nft", "allow.nft");
    nft_validate(rules);
    back = vmm_nft_parse_allow(rules);
    g_assert_cmpuint(g_strv_length(back), ==, 4); /* input + forward */
    g_assert_cmpstr(back[0], ==, "10.213.7.1:8080");
    g_assert_cmpstr(back[1], ==, "192.168.1.10:443");

    cfg.allow = bad;
    g_assert_null(vmm_nft_ruleset_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    /* Nothing unchecked reaches the script. */
    cfg.allow = NULL;
    cfg.bridge = "al1\"; flush ruleset";
    g_assert_null(vmm_nft_ruleset_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    cfg.bridge = "al12345678";
    cfg.mac = "52:54:00:aa:bb:cc }";
    g_assert_null(vmm_nft_ruleset_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    cfg.mac = "52:54:00:aa:bb:cc";
    cfg.name = "Bad'name";
    g_assert_null(vmm_nft_ruleset_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

static void
test_network_dns(void)
{
    g_autoptr(GError) err = NULL;
    VmmNetworkConfig cfg = {.name = "eval-3",
                            .bridge = "al12345678",
                            .pool = "10.99",
                            .subnet = 7,
                            .dns_log = "/var/lib/airlock/sandboxes/eval-3/dns.log"};
    g_autofree char *xml = vmm_network_xml_build(&cfg, &err);

    g_assert_no_error(err);
    golden_check(xml, "xml", "network-dns.xml");
    golden_validate(xml, "network");
    g_assert_null(strstr(xml, "<forward"));
    g_assert_null(strstr(xml, "<dhcp"));
    g_assert_nonnull(strstr(xml, "address=\"10.99.7.1\""));
    g_assert_nonnull(strstr(xml, "value=\"no-resolv\""));
    g_assert_nonnull(strstr(xml, "value=\"log-queries\""));

    /* A path cannot smuggle another dnsmasq option in. */
    cfg.dns_log = "/tmp/x.log\ndhcp-script=/tmp/evil";
    g_assert_null(vmm_network_xml_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    cfg.dns_log = "relative.log";
    g_assert_null(vmm_network_xml_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

static void
test_domain_tap(void)
{
    g_autoptr(GError) err = NULL;
    VmmDomainConfig cfg = {.name = "eval-3",
                           .virt_type = "qemu",
                           .cpus = 1,
                           .memory_mib = 512,
                           .kernel = "/k",
                           .initrd = "/i",
                           .overlay = "/o.qcow2",
                           .network = "airlock-eval-3",
                           .mac = "52:54:00:aa:bb:cc",
                           .console_log = "/c.log"};
    g_autofree char *xml = vmm_domain_xml_build(&cfg, &err);
    g_autofree char *tap = vmm_network_tap_name("eval-3");
    g_autofree char *bridge = vmm_name_bridge("eval-3");
    g_autofree char *expect = g_strdup_printf("<target dev=\"%s\"/>", tap);

    g_assert_no_error(err);
    golden_validate(xml, "domain");
    /* The firewall matches the NIC by this name: same across resets, tied to the bridge. */
    g_assert_nonnull(strstr(xml, expect));
    g_assert_cmpstr(tap + 2, ==, bridge + 2);
    g_assert_true(g_str_has_prefix(tap, "at"));
}

static void
test_allow_parse(void)
{
    const char *good[] = {"host:1", "host:65535", "10.0.0.1:443", "192.168.1.254:8080", NULL};
    const char *bad[] = {
        "host",     "host:",          "host:0",       "host:65536",    "host:-1",
        "host:80x", "example.com:80", "10.0.0:80",    "10.0.0.256:80", "0.0.0.0:80",
        ":80",      "10.0.0.1:80:81", "10.0.0.1 :80", "[::1]:80",      "",
        NULL};
    g_autofree char *host = NULL;
    guint port = 0;

    for (const char **g = good; *g; g++)
        g_assert_true(vmm_spec_parse_allow(*g, NULL, NULL, NULL));
    for (const char **b = bad; *b; b++) {
        g_autoptr(GError) err = NULL;
        g_test_message("bad: '%s'", *b);
        g_assert_false(vmm_spec_parse_allow(*b, NULL, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    g_assert_true(vmm_spec_parse_allow("host:8080", &host, &port, NULL));
    g_assert_cmpstr(host, ==, "host");
    g_assert_cmpuint(port, ==, 8080);
}

static void
test_spec_allow(void)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(VmmSpec) file_spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    g_autofree char *hash_before = vmm_spec_hash(spec);
    g_autofree char *hash_after = NULL;
    int fd;

    /* allow needs entries; entries need allow. */
    spec->net_mode = VMM_NET_MODE_ALLOW;
    g_assert_false(vmm_spec_validate(spec, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_true(vmm_spec_add_allow(spec, "host:8080", &err));
    g_assert_true(vmm_spec_add_allow(spec, "host:8080", &err)); /* kept once */
    g_assert_cmpuint(g_strv_length(spec->allow), ==, 1);
    g_assert_true(vmm_spec_validate(spec, &err));
    hash_after = vmm_spec_hash(spec);
    g_assert_cmpstr(hash_before, !=, hash_after);
    spec->net_mode = VMM_NET_MODE_ISOLATED;
    g_assert_false(vmm_spec_validate(spec, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);

    /* [network] allow in a spec file implies mode=allow. */
    fd = g_file_open_tmp("airlock-spec-XXXXXX.conf", &path, &err);
    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(path, "[network]\nallow=host:8080;10.1.2.3:443\n", -1, NULL));
    g_assert_true(vmm_spec_load_file(file_spec, path, &err));
    g_assert_no_error(err);
    g_assert_cmpint(file_spec->net_mode, ==, VMM_NET_MODE_ALLOW);
    g_assert_cmpuint(g_strv_length(file_spec->allow), ==, 2);
    g_assert_cmpstr(file_spec->allow[1], ==, "10.1.2.3:443");
    g_assert_true(vmm_spec_validate(file_spec, &err));
    g_assert_true(g_file_set_contents(path, "[network]\nallow=example.com:443\n", -1, NULL));
    g_assert_false(vmm_spec_load_file(file_spec, path, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_unlink(path);
}

static void
test_pool(void)
{
    const char *bad[] = {"8.8.0.0/16",    "10.213.0.0/24", "10.213.1.0/16",  "10.213", "",
                         "10.300.0.0/16", "172.32.0.0/16", "10.213.0.0/16x", NULL};
    g_autofree char *p1 = vmm_network_pool_parse("10.213.0.0/16", NULL);
    g_autofree char *p2 = vmm_network_pool_parse("172.20.0.0/16", NULL);
    g_autofree char *p3 = vmm_network_pool_parse("192.168.0.0/16", NULL);
    g_autofree char *host = vmm_network_host_address("172.20", 9);
    g_autofree char *guest = vmm_network_guest_address(NULL, 9);

    g_assert_cmpstr(p1, ==, "10.213");
    g_assert_cmpstr(p2, ==, "172.20");
    g_assert_cmpstr(p3, ==, "192.168");
    g_assert_cmpstr(host, ==, "172.20.9.1");
    g_assert_cmpstr(guest, ==, "10.213.9.2/24");
    for (const char **b = bad; *b; b++) {
        g_autoptr(GError) err = NULL;
        g_test_message("bad pool: '%s'", *b);
        g_assert_null(vmm_network_pool_parse(*b, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
}

/* Listings as nft 1.0.6 prints them. */
static const char counter_listing[] = "table inet airlock_test_iso_a {\n"
                                      "\tcounter dropped {\n"
                                      "\t\tpackets 65 bytes 3900\n"
                                      "\t}\n"
                                      "}\n";

static const char chain_listing[] =
    "table inet airlock_x {\n\tchain input {\n"
    "\t\ttype filter hook input priority filter - 10; policy accept;\n"
    "\t\tiifname != \"al1\" accept\n"
    "\t\tip daddr 10.213.3.1 udp dport 53 ct state new accept comment \"dns\"\n"
    "\t\tip daddr 10.213.3.1 tcp dport 8471 ct state new accept comment \"allow\"\n"
    "\t\tcounter name \"dropped\" drop\n\t}\n}\n";

static void
test_counters(void)
{
    g_auto(GStrv) allow = vmm_nft_parse_allow(chain_listing);
    g_auto(GStrv) none = vmm_nft_parse_allow("");

    g_assert_cmpint(vmm_nft_parse_counter(counter_listing), ==, 65);
    g_assert_cmpint(vmm_nft_parse_counter("Error: No such file or directory"), ==, -1);
    g_assert_cmpuint(g_strv_length(allow), ==, 1);
    g_assert_cmpstr(allow[0], ==, "10.213.3.1:8471");
    g_assert_cmpuint(g_strv_length(none), ==, 0);
    /* vmm_nft_drops lists three counters in one run: each is found under its own table. */
    {
        const char *three =
            "table netdev airlock_x {\n\tcounter dropped_l2 {\n\t\tpackets 7 bytes 1\n"
            "\t}\n}\ntable bridge airlock_x {\n\tcounter dropped_l2 {\n\t\tpackets 0 "
            "bytes 0\n\t}\n}\ntable inet airlock_x {\n\tcounter dropped {\n\t\tpackets "
            "12 bytes 9\n\t}\n}\n";
        g_assert_cmpint(vmm_nft_parse_counter_in(three, "netdev"), ==, 7);
        g_assert_cmpint(vmm_nft_parse_counter_in(three, "bridge"), ==, 0);
        g_assert_cmpint(vmm_nft_parse_counter_in(three, "inet"), ==, 12);
        g_assert_cmpint(vmm_nft_parse_counter_in(three, "ip6"), ==, -1);
        g_assert_cmpint(vmm_nft_parse_counter_in(NULL, "inet"), ==, -1);
    }
}

/*
 * Allow mode through create/destroy on test:///default: the NIC gets the
 * fixed name the firewall matches, the network records DNS. The firewall is
 * not installed for test:/// (no guest; the host's tables are left alone):
 * tests/integration/isolation.sh proves it on real libvirt.
 */
static void
test_lifecycle_allow(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *state = g_dir_make_tmp("airlock-test-net-XXXXXX", &err);
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autofree char *cleanup = NULL;
    virConnectPtr conn;
    virDomainPtr dom;
    virNetworkPtr net;
    VmmContext ctx = {0};
    g_autofree char *dxml = NULL, *nxml = NULL;
    gboolean ok;

    g_assert_no_error(err);
    make_image(state);
    conn = vmm_conn_open("test:///default", &err);
    g_assert_no_error(err);
    ctx.conn = conn;
    ctx.state_dir = state;
    ctx.accel = VMM_ACCEL_TCG;
    g_free(spec->image);
    spec->image = g_strdup("test-img");
    spec->net_mode = VMM_NET_MODE_ALLOW;
    g_assert_true(vmm_spec_add_allow(spec, "host:8080", &err));

    ok = vmm_sandbox_create(&ctx, "net-allow", spec, NULL, 30, 0, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    dom = virDomainLookupByName(conn, "airlock-net-allow");
    net = virNetworkLookupByName(conn, "airlock-net-allow");
    g_assert_nonnull(dom);
    g_assert_nonnull(net);
    dxml = virDomainGetXMLDesc(dom, 0);
    nxml = virNetworkGetXMLDesc(net, 0);
    g_assert_true(g_regex_match_simple("<target dev='at[0-9a-f]{8}'/>", dxml, 0, 0));
    g_assert_nonnull(strstr(nxml, "<dns enable='yes'"));
    virDomainFree(dom);
    virNetworkFree(net);

    g_assert_true(vmm_sandbox_destroy(&ctx, "net-allow", VMM_DESTROY_NO_EVIDENCE, NULL, &err));
    g_assert_no_error(err);
    g_assert_null(virNetworkLookupByName(conn, "airlock-net-allow"));

    /* isolated with an allow list, or allow without one: refused before anything is made */
    spec->net_mode = VMM_NET_MODE_ISOLATED;
    g_assert_false(vmm_sandbox_create(&ctx, "net-bad", spec, NULL, 30, 0, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_null(virDomainLookupByName(conn, "airlock-net-bad"));
    virConnectClose(conn);
    cleanup = g_strdup_printf("rm -rf '%s'", state);
    g_assert_cmpint(system(cleanup), ==, 0);
}

int
main(int argc, char **argv)
{
    vmm_libvirt_init();
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/network/nft-isolated", test_nft_isolated);
    g_test_add_func("/network/nft-allow", test_nft_allow);
    g_test_add_func("/network/nft-gateway", test_nft_gateway);
    g_test_add_func("/network/network-dns", test_network_dns);
    g_test_add_func("/network/domain-tap", test_domain_tap);
    g_test_add_func("/network/allow-parse", test_allow_parse);
    g_test_add_func("/network/spec-allow", test_spec_allow);
    g_test_add_func("/network/pool", test_pool);
    g_test_add_func("/network/counters", test_counters);
    g_test_add_func("/network/lifecycle-allow", test_lifecycle_allow);
    return g_test_run();
}
