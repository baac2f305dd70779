/* test_xml.c: unit tests of the libxml2 helpers (src/util/xml.h): parsing,
 * XPath reads of strings, integers and node sets, and writing text that
 * needs escaping so that it round-trips exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/xml.h"

static const char domain_xml[] =
    "<domain type='kvm'>\n"
    "  <name>web&amp;1</name>\n"
    "  <uuid>6f1c3c1e-8c59-4b5a-9a55-0d8b2f0c7b11</uuid>\n"
    "  <memory unit='KiB'>1048576</memory>\n"
    "  <vcpu>2</vcpu>\n"
    "  <description></description>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/a.qcow2'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <source file='/iso/x.iso'/><target dev='sda'/><readonly/>\n"
    "    </disk>\n"
    "    <disk type='block' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source dev='/dev/sdb'/>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n"
    "  </devices>\n"
    "</domain>\n";

static const char snapshot_xml[] =
    "<domainsnapshot>\n"
    "  <name>s1</name>\n"
    "  <state>running</state>\n"
    "  <creationTime>1700000000</creationTime>\n"
    "  <parent><name>root snap</name></parent>\n"
    "  <memory snapshot='internal'/>\n"
    "  <weird>12abc</weird><negative>-42</negative><spaced> 7 </spaced>\n"
    "</domainsnapshot>\n";

static xmlDoc *parse_ok(const char *text)
{
    g_autoptr(GError) error = NULL;
    xmlDoc *doc = vs_xml_parse(text, &error);
    if (!doc)
        fail_msg("parse failed: %s", error ? error->message : "?");
    assert_null(error);
    return doc;
}

static void test_parse(void **state)
{
    (void)state;
    g_autoptr(xmlDoc) doc = parse_ok(domain_xml);
    assert_string_equal((const char *)xmlDocGetRootElement(doc)->name, "domain");

    const char *bad[] = {"", "<a>", "<a></b>", "not xml", "<a x='1' x='2'/>", "<a>&undefined;</a>",
                         "<a/><b/>"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        xmlDoc *d = vs_xml_parse(bad[i], &error);
        if (d)
            fail_msg("'%s' parsed", bad[i]);
        assert_non_null(error);
        assert_true(g_error_matches(error, VS_ERROR, VS_ERR_FAILED));
    }
    g_autoptr(GError) error = NULL;
    assert_null(vs_xml_parse(NULL, &error));
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_FAILED));
    assert_null(vs_xml_parse("<a>", NULL)); /* a NULL error is allowed */
}

static void test_string(void **state)
{
    (void)state;
    g_autoptr(xmlDoc) doc = parse_ok(domain_xml);
    g_autofree char *name = vs_xml_string(doc, NULL, "string(/domain/name)");
    assert_string_equal(name, "web&1");
    g_autofree char *type = vs_xml_string(doc, NULL, "string(/domain/@type)");
    assert_string_equal(type, "kvm");
    g_autofree char *node_form = vs_xml_string(doc, NULL, "/domain/uuid");
    assert_string_equal(node_form, "6f1c3c1e-8c59-4b5a-9a55-0d8b2f0c7b11");
    /* several matches: the first in document order */
    g_autofree char *first = vs_xml_string(doc, NULL, "string(/domain/devices/disk/target/@dev)");
    assert_string_equal(first, "vda");
    /* missing and empty both read as NULL */
    assert_null(vs_xml_string(doc, NULL, "string(/domain/title)"));
    assert_null(vs_xml_string(doc, NULL, "string(/domain/description)"));
    assert_null(vs_xml_string(doc, NULL, "/domain/nothing"));
    /* a malformed expression is just no value */
    assert_null(vs_xml_string(doc, NULL, "string(/domain/[)"));
    assert_null(vs_xml_string(doc, NULL, "count(/domain/devices/disk)")); /* a number */
}

static void test_int(void **state)
{
    (void)state;
    g_autoptr(xmlDoc) doc = parse_ok(snapshot_xml);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/creationTime)", 0), 1700000000);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/negative)", 0), -42);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/weird)", -1), -1);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/state)", -2), -2);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/missing)", 5), 5);
    assert_int_equal(vs_xml_int(doc, NULL, "string(/domainsnapshot/spaced)", 9), 9);
    g_autoptr(xmlDoc) huge = parse_ok("<a><n>99999999999999999999999</n></a>");
    long long v = vs_xml_int(huge, NULL, "string(/a/n)", 3);
    assert_int_equal(v, 3); /* out of range: not a value (never a wrapped-around or clamped one) */
}

static void test_nodes(void **state)
{
    (void)state;
    g_autoptr(xmlDoc) doc = parse_ok(domain_xml);
    g_autoptr(GPtrArray) disks = vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk']");
    assert_int_equal(disks->len, 2);
    /* relative reads from each node, as src/model/vm.c does */
    g_autofree char *t0 = vs_xml_string(doc, g_ptr_array_index(disks, 0), "string(target/@dev)");
    g_autofree char *t1 = vs_xml_string(doc, g_ptr_array_index(disks, 1), "string(target/@dev)");
    g_autofree char *p0 = vs_xml_string(doc, g_ptr_array_index(disks, 0),
                                        "string(source/@file|source/@dev|source/@name)");
    g_autofree char *p1 = vs_xml_string(doc, g_ptr_array_index(disks, 1),
                                        "string(source/@file|source/@dev|source/@name)");
    g_autofree char *f1 = vs_xml_string(doc, g_ptr_array_index(disks, 1), "string(driver/@type)");
    assert_string_equal(t0, "vda");
    assert_string_equal(t1, "vdb");
    assert_string_equal(p0, "/var/lib/a.qcow2");
    assert_string_equal(p1, "/dev/sdb");
    assert_string_equal(f1, "raw");
    g_autoptr(GPtrArray) writable =
        vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk' and not(readonly)]");
    assert_int_equal(writable->len, 2);
    g_autoptr(GPtrArray) none = vs_xml_nodes(doc, NULL, "/domain/devices/interface");
    assert_int_equal(none->len, 0);
    g_autoptr(GPtrArray) broken = vs_xml_nodes(doc, NULL, "///[");
    assert_int_equal(broken->len, 0);
    g_autoptr(GPtrArray) notset = vs_xml_nodes(doc, NULL, "count(//disk)");
    assert_int_equal(notset->len, 0);
    /* vs_xml_child finds element children only */
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *devices = vs_xml_child(root, "devices");
    assert_non_null(devices);
    assert_string_equal((const char *)vs_xml_child(devices, "disk")->name, "disk");
    assert_null(vs_xml_child(root, "nope"));
    assert_null(vs_xml_child(NULL, "devices"));
}

/* Writing TEXT as the name and description, serialising and parsing again
 * gives TEXT back exactly, and no markup is injected. */
static void round_trip(const char *text)
{
    g_autoptr(xmlDoc) doc = parse_ok(snapshot_xml);
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *name = vs_xml_set_child_text(root, "name", text);
    assert_non_null(name);
    xmlNode *desc = vs_xml_set_child_text(root, "description", text); /* created */
    assert_non_null(desc);
    g_autofree char *xml = vs_xml_to_string(doc);
    assert_null(strstr(xml, "<?xml"));
    g_autoptr(xmlDoc) back = parse_ok(xml);
    g_autoptr(GPtrArray) names = vs_xml_nodes(back, NULL, "/domainsnapshot/name");
    assert_int_equal(names->len, 1);
    g_autoptr(GPtrArray) descs = vs_xml_nodes(back, NULL, "/domainsnapshot/description");
    assert_int_equal(descs->len, 1);
    g_autofree char *got_name = vs_xml_string(back, NULL, "string(/domainsnapshot/name)");
    g_autofree char *got_desc = vs_xml_string(back, NULL, "string(/domainsnapshot/description)");
    assert_string_equal(got_name, text);
    assert_string_equal(got_desc, text);
    /* nothing else changed */
    assert_int_equal(vs_xml_int(back, NULL, "string(/domainsnapshot/creationTime)", 0), 1700000000);
    g_autofree char *parent = vs_xml_string(back, NULL, "string(/domainsnapshot/parent/name)");
    assert_string_equal(parent, "root snap");
    g_autoptr(GPtrArray) elems = vs_xml_nodes(back, NULL, "/domainsnapshot/*");
    assert_int_equal(elems->len, 9);
}

static void test_set_child_text_escapes(void **state)
{
    (void)state;
    round_trip("<x>&\"q\"");
    g_autoptr(xmlDoc) doc = parse_ok(snapshot_xml);
    vs_xml_set_child_text(xmlDocGetRootElement(doc), "name", "<x>&\"q\"");
    g_autofree char *xml = vs_xml_to_string(doc);
    assert_non_null(strstr(xml, "&lt;x&gt;&amp;"));
    assert_null(strstr(xml, "<x>"));

    round_trip("a&b");
    round_trip("пeω-∨м");
    round_trip("snap 1");
    round_trip("</name><state>shutoff</state><name>");
    round_trip("]]><!-- -->");
    round_trip("&amp; &#60; &lt;");
    round_trip("'apos' \"quot\"");
    round_trip("<![CDATA[x]]>");
    round_trip("&undefined;");
}

static void test_set_child_text_replaces(void **state)
{
    (void)state;
    g_autoptr(xmlDoc) doc = parse_ok("<r><name>old<b>bold</b>tail</name><name>second</name></r>");
    xmlNode *root = xmlDocGetRootElement(doc);
    vs_xml_set_child_text(root, "name", "new");
    g_autofree char *xml = vs_xml_to_string(doc);
    g_autoptr(xmlDoc) back = parse_ok(xml);
    g_autoptr(GPtrArray) names = vs_xml_nodes(back, NULL, "/r/name");
    assert_int_equal(names->len, 2);
    g_autofree char *first = vs_xml_string(back, NULL, "string(/r/name[1])");
    g_autofree char *second = vs_xml_string(back, NULL, "string(/r/name[2])");
    assert_string_equal(first, "new"); /* old text and child elements are gone */
    assert_string_equal(second, "second");
    assert_null(strstr(xml, "bold"));
}

/* libvirt's XML is trusted, but the parser still must not fetch external
 * entities or the network. */
static void test_no_external_entities(void **state)
{
    (void)state;
    g_autofree char *tmp = NULL;
    int fd = g_file_open_tmp("vs-xxe-XXXXXX", &tmp, NULL);
    assert_true(fd >= 0);
    close(fd);
    assert_true(g_file_set_contents(tmp, "LEAKED-SECRET", -1, NULL));
    g_autofree char *xml = g_strdup_printf(
        "<!DOCTYPE a [<!ENTITY e SYSTEM 'file://%s'>]><a><name>&e;</name></a>", tmp);
    g_autoptr(xmlDoc) doc = vs_xml_parse(xml, NULL);
    if (doc) {
        g_autofree char *name = vs_xml_string(doc, NULL, "string(/a/name)");
        assert_true(!name || !strstr(name, "LEAKED"));
        g_autofree char *out = vs_xml_to_string(doc);
        assert_null(strstr(out, "LEAKED"));
    }
    g_unlink(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_set_child_text_escapes),
        cmocka_unit_test(test_set_child_text_replaces),
        cmocka_unit_test(test_no_external_entities),
    };
    return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
