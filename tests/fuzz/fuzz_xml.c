/* fuzz_xml.c: libFuzzer harness for the snapshot and domain XML that
 * src/model reads from libvirt: vs_xml_parse, then the model's own parse of
 * a domain (vs_definition_parse: disks, serial log, huge pages) and the
 * other XPath reads it makes (snapshot info, capabilities, clone), then
 * the edits it makes (vs_domain_rewrite, vs_xml_set_child_text) and the
 * serialisation it hands back to libvirt.
 *
 * Input: XML text (up to the first NUL).
 * Properties beyond "no crash, no leak, no UB, no hang": a document that
 * parsed serialises to text that parses again, and the rewritten name,
 * uuid and description read back exactly. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "model/definition.h"
#include "model/rewrite.h"
#include "util/xml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

/* An XPath string read; an empty value always reads as NULL. */
static void read_string(xmlDoc *doc, xmlNode *node, const char *xpath)
{
    g_autofree char *s = vs_xml_string(doc, node, xpath);
    FUZZ_ASSERT(!s || *s || strncmp(xpath, "string(", 7) != 0);
}

/* Reads of src/model/snapshot.c (snapshot_info, disks_can_snapshot,
 * define_one). */
static void read_snapshot(xmlDoc *doc)
{
    read_string(doc, NULL, "string(/domainsnapshot/name)");
    read_string(doc, NULL, "string(/domainsnapshot/state)");
    (void)vs_xml_int(doc, NULL, "string(/domainsnapshot/creationTime)", 0);
    read_string(doc, NULL, "string(/domainsnapshot/parent/name)");
    read_string(doc, NULL, "string(/domainsnapshot/description)");
    read_string(doc, NULL, "string(/domainsnapshot/memory/@snapshot)");
    g_autoptr(GPtrArray) disks =
        vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk' and not(readonly)]");
    for (guint i = 0; i < disks->len; i++) {
        read_string(doc, g_ptr_array_index(disks, i), "string(driver/@type)");
        read_string(doc, g_ptr_array_index(disks, i), "string(target/@dev)");
    }
}

/* The model's own parse of a domain's XML (definition.c: disks, serial
 * log, huge pages, UEFI variable store), with what it promises: every disk
 * has a format ("raw" when none is given) and a target; a disk with a
 * file source has a path; a disk's copy (vs_disk_copy) is equal. */
static void read_definition(xmlDoc *doc)
{
    g_autoptr(VsDefinition) d = vs_definition_parse(doc, 1);
    FUZZ_ASSERT(d && d->disks && d->state == 1);
    FUZZ_ASSERT(d->hugepages == vs_definition_hugepages(doc));
    for (guint i = 0; i < d->disks->len; i++) {
        const VsDisk *disk = g_ptr_array_index(d->disks, i);
        FUZZ_ASSERT(disk->format && *disk->format);
        FUZZ_ASSERT(!disk->is_file || (disk->path && *disk->path));
        VsDisk *copy = vs_disk_copy(disk);
        FUZZ_ASSERT(copy->target && g_strcmp0(copy->path, disk->path) == 0 &&
                    strcmp(copy->format, disk->format) == 0 &&
                    copy->readonly == disk->readonly && copy->is_file == disk->is_file);
        vs_disk_free(copy);
    }
}

/* Reads of src/model/vm.c (owned_images, files_to_remove) and clone.c. */
static void read_domain(xmlDoc *doc)
{
    read_definition(doc);
    read_string(doc, NULL, "string(/domain/devices/serial[@type='file']/source/@path)");
    g_autoptr(GPtrArray) files =
        vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk']/source/@file");
    for (guint i = 0; i < files->len; i++) {
        xmlChar *path = xmlNodeGetContent(g_ptr_array_index(files, i));
        xmlFree(path);
    }
    /* clone.c */
    g_autoptr(GPtrArray) copies = vs_xml_nodes(
        doc, NULL, "/domain/devices/disk[@device='disk' and @type='file' and not(readonly)]");
    for (guint i = 0; i < copies->len; i++)
        read_string(doc, g_ptr_array_index(copies, i), "string(source/@file)");
    g_autoptr(GPtrArray) macs = vs_xml_nodes(doc, NULL, "/domain/devices/interface/mac");
    (void)macs;
}

/* Reads of src/model/hv.c (pick_domain_type). */
static void read_capabilities(xmlDoc *doc)
{
    read_string(doc, NULL,
                "string(/capabilities/guest[os_type='hvm']/arch[@name='x86_64']/"
                "domain[@type='kvm']/@type)");
    read_string(doc, NULL, "string(/capabilities/guest/arch/domain/@type)");
}

/* The edits of snapshot.c / clone.c / vm.c, then serialise and parse again. */
static void rewrite(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    FUZZ_ASSERT(root);
    xmlNode *domain = xmlStrEqual(root->name, (const xmlChar *)"domainsnapshot")
                          ? vs_xml_child(root, "domain")
                          : root;
    g_autoptr(GHashTable) paths = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(paths, "/images/old-vda.qcow2", "/images/new-vda.qcow2");
    g_hash_table_insert(paths, "/images/old-sda.qcow2", "/images/new-sda.qcow2");
    VsDomainRewrite rw = {.name = "clone <&\"'> ω",
                          .uuid = "0e5e0000-0000-4000-8000-000000000000",
                          .disk_paths = paths,
                          .serial_log = "/logs/new.log"};
    if (domain)
        vs_domain_rewrite(domain, &rw);
    vs_xml_set_child_text(root, "description", "]]> <x>&amp;\"q\"");
    g_autofree char *text = vs_xml_to_string(doc);
    FUZZ_ASSERT(text);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) back = vs_xml_parse(text, &error);
    if (!back) {
        fprintf(stderr, "serialised document does not parse again:\n%s\n", text);
        FUZZ_ASSERT(back);
    }
    xmlNode *root2 = xmlDocGetRootElement(back);
    xmlNode *desc = vs_xml_child(root2, "description");
    FUZZ_ASSERT(desc);
    xmlChar *d = xmlNodeGetContent(desc);
    FUZZ_ASSERT(d && strcmp((const char *)d, "]]> <x>&amp;\"q\"") == 0);
    xmlFree(d);
    if (domain) {
        xmlNode *domain2 = domain == root ? root2 : vs_xml_child(root2, "domain");
        FUZZ_ASSERT(domain2);
        xmlChar *name = xmlNodeGetContent(vs_xml_child(domain2, "name"));
        xmlChar *uuid = xmlNodeGetContent(vs_xml_child(domain2, "uuid"));
        FUZZ_ASSERT(name && strcmp((const char *)name, rw.name) == 0);
        FUZZ_ASSERT(uuid && strcmp((const char *)uuid, rw.uuid) == 0);
        xmlFree(name);
        xmlFree(uuid);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = vs_xml_parse(text, &error);
    if (!doc) {
        FUZZ_ASSERT(error != NULL);
        return 0;
    }
    FUZZ_ASSERT(error == NULL);
    read_snapshot(doc);
    read_domain(doc);
    read_capabilities(doc);
    rewrite(doc);
    return 0;
}
