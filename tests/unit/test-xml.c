/* test-xml: domain, network and metadata XML against golden files and libvirt's schemas. */
#include <config.h>

#include "domain-xml.h"
#include "error.h"
#include "metadata.h"
#include "network-xml.h"

#include <string.h>
#include <unistd.h>

#include "unit/golden.h"

static VmmMetadata *
sample_metadata(void)
{
    VmmMetadata *md = vmm_metadata_new();
    const char *secrets[] = {"API_KEY", "DB_PASSWORD", NULL};
    const char *env[] = {"MODE", NULL};

    md->name = g_strdup("eval-3");
    md->owner = g_strdup("ci");
    md->created = g_strdup("2026-11-26T18:00:00Z");
    md->image = g_strdup("debian-12");
    md->image_digest = g_strdup("sha256:0123456789abcdef");
    md->spec_hash = g_strdup("feedface");
    md->ttl_s = 7200;
    md->net_mode = g_strdup("isolated");
    md->address = g_strdup("10.213.7.2/24");
    md->host_address = g_strdup("10.213.7.1");
    md->bridge = g_strdup("al12345678");
    md->mac = g_strdup("52:54:00:aa:bb:cc");
    md->accel = g_strdup("tcg");
    md->cpus = 1;
    md->memory_mib = 512;
    md->secret_names = g_strdupv((char **)secrets);
    md->env_names = g_strdupv((char **)env);
    g_ptr_array_add(md->labels, g_strdup("team=<red & \"blue\">"));
    return md;
}

static void
test_domain(void)
{
    g_autoptr(VmmMetadata) md = sample_metadata();
    g_autoptr(GError) err = NULL;
    VmmDomainConfig cfg = {.name = "eval-3",
                           .uuid = "6f1c1f1e-8a44-4c4b-9a0e-2f6f3a3f0e11",
                           .virt_type = "qemu",
                           .cpus = 1,
                           .memory_mib = 512,
                           .kernel = "/var/lib/airlock/images/debian-12/vmlinuz",
                           .initrd = "/var/lib/airlock/images/debian-12/initrd.img",
                           .cmdline = "root=/dev/vda rw console=ttyS0",
                           .overlay = "/var/lib/airlock/sandboxes/eval-3/overlay.qcow2",
                           .seed = "/var/lib/airlock/sandboxes/eval-3/seed.iso",
                           .network = "airlock-eval-3",
                           .mac = "52:54:00:aa:bb:cc",
                           .console_log = "/var/lib/airlock/sandboxes/eval-3/console.log",
                           .metadata = md};
    g_autofree char *xml = vmm_domain_xml_build(&cfg, &err);

    g_assert_no_error(err);
    golden_check(xml, "xml", "domain-tcg.xml");
    golden_validate(xml, "domain");
}

static void
test_domain_kvm_nonet(void)
{
    g_autoptr(GError) err = NULL;
    VmmDomainConfig cfg = {.name = "plain",
                           .virt_type = "kvm",
                           .cpus = 2,
                           .memory_mib = 1024,
                           .kernel = "/k",
                           .initrd = "/i",
                           .overlay = "/o.qcow2",
                           .console_log = "/c.log"};
    g_autofree char *xml = vmm_domain_xml_build(&cfg, &err);

    g_assert_no_error(err);
    golden_check(xml, "xml", "domain-kvm-nonet.xml");
    golden_validate(xml, "domain");
}

static void
test_domain_hostile(void)
{
    g_autoptr(GError) err = NULL;
    VmmDomainConfig cfg = {.name = "a'/><disk",
                           .virt_type = "qemu",
                           .cpus = 1,
                           .memory_mib = 512,
                           .kernel = "/k",
                           .initrd = "/i",
                           .overlay = "/o",
                           .console_log = "/c"};
    g_autofree char *xml = vmm_domain_xml_build(&cfg, &err);

    g_assert_null(xml);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_clear_error(&err);
    cfg.name = "ok";
    cfg.kernel = NULL;
    g_assert_null(vmm_domain_xml_build(&cfg, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
}

static void
test_network(void)
{
    g_autoptr(VmmMetadata) md = sample_metadata();
    g_autoptr(GError) err = NULL;
    VmmNetworkConfig cfg = {.name = "eval-3", .bridge = "al12345678", .subnet = 7, .metadata = md};
    g_autofree char *xml = vmm_network_xml_build(&cfg, &err);
    g_autofree char *host = vmm_network_host_address(NULL, 7);
    g_autofree char *guest = vmm_network_guest_address(NULL, 7);

    g_assert_no_error(err);
    golden_check(xml, "xml", "network.xml");
    golden_validate(xml, "network");
    g_assert_null(strstr(xml, "<forward"));
    g_assert_null(strstr(xml, "<dhcp"));
    g_assert_cmpstr(host, ==, "10.213.7.1");
    g_assert_cmpstr(guest, ==, "10.213.7.2/24");
    cfg.subnet = 256;
    g_assert_null(vmm_network_xml_build(&cfg, NULL));
}

static void
test_metadata_roundtrip(void)
{
    g_autoptr(VmmMetadata) md = sample_metadata();
    g_autofree char *xml = vmm_metadata_format(md);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmMetadata) back = vmm_metadata_parse(xml, &err);

    g_assert_no_error(err);
    golden_check(xml, "xml", "metadata.xml");
    g_assert_cmpstr(back->name, ==, "eval-3");
    g_assert_cmpstr(back->image_digest, ==, md->image_digest);
    g_assert_cmpint(back->ttl_s, ==, 7200);
    g_assert_cmpstr(back->address, ==, "10.213.7.2/24");
    g_assert_cmpstr(back->mac, ==, md->mac);
    g_assert_cmpuint(g_strv_length(back->secret_names), ==, 2);
    g_assert_cmpstr(back->secret_names[1], ==, "DB_PASSWORD");
    g_assert_cmpstr(back->env_names[0], ==, "MODE");
    g_assert_cmpuint(back->labels->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(back->labels, 0), ==, "team=<red & \"blue\">");
    {
        /* Control bytes and invalid UTF-8 cannot break the document. */
        g_autoptr(VmmMetadata) odd = vmm_metadata_new();
        g_autofree char *oxml = NULL;
        g_autoptr(VmmMetadata) oback = NULL;
        odd->name = g_strdup("odd");
        odd->owner = g_strdup("a\x01"
                              "b\xff");
        g_ptr_array_add(odd->labels, g_strdup("k=\x02v"));
        oxml = vmm_metadata_format(odd);
        oback = vmm_metadata_parse(oxml, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(oback->owner, ==,
                        "a\xef\xbf\xbd"
                        "b\xef\xbf\xbd");
    }
    g_assert_null(vmm_metadata_parse("<other/>", NULL));
    g_assert_null(vmm_metadata_parse("not xml", NULL));
}

static void
test_xpath_string(void)
{
    const char *xml = "<domain><devices><channel><source path='/run/a.sock'/>"
                      "<target name='org.airlock.fixup.0'/></channel></devices></domain>";
    g_autofree char *path = vmm_xml_xpath_string(
        xml, "string(/domain/devices/channel[target/@name='org.airlock.fixup.0']/source/@path)");
    g_autofree char *none = vmm_xml_xpath_string(xml, "string(/domain/nothing)");
    g_autofree char *bad = vmm_xml_xpath_string("<not xml", "string(/a)");

    g_assert_cmpstr(path, ==, "/run/a.sock");
    g_assert_null(none);
    g_assert_null(bad);
    g_assert_null(vmm_xml_xpath_string(NULL, "string(/a)"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xml/domain", test_domain);
    g_test_add_func("/xml/domain-kvm-nonet", test_domain_kvm_nonet);
    g_test_add_func("/xml/domain-hostile", test_domain_hostile);
    g_test_add_func("/xml/network", test_network);
    g_test_add_func("/xml/metadata-roundtrip", test_metadata_roundtrip);
    g_test_add_func("/xml/xpath-string", test_xpath_string);
    return g_test_run();
}
