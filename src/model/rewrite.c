/* rewrite.c: edits a domain definition for a clone or a rename (see
 * rewrite.h): one pass over the devices, each kind touching only what
 * names the old VM's own files or identity. */
#include "rewrite.h"

#include "../util/random.h"
#include "../util/xml.h"

#include <string.h>

char *vs_new_mac(void)
{
    g_autofree char *hex = vs_random_hex(3);
    return g_strdup_printf("52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
}

/* Each device names the new VM's own things: a disk its new image, a
 * network card its new MAC, a file serial console its new log, a VNC
 * socket its new path. */
static void rewrite_disk(xmlNode *dev, GHashTable *disk_paths)
{
    /* By the file it names, not its target: a snapshot's copy of the
     * domain may have had another disk on that target. */
    xmlNode *source = vs_xml_child(dev, "source");
    xmlChar *file = source ? xmlGetProp(source, (const xmlChar *)"file") : NULL;
    const char *path = file ? g_hash_table_lookup(disk_paths, file) : NULL;
    if (path)
        xmlSetProp(source, (const xmlChar *)"file", (const xmlChar *)path);
    xmlFree(file);
}

/* An old MAC not in MACS yet gets a new one, added to it. */
static void rewrite_mac(xmlNode *dev, GHashTable *macs)
{
    xmlNode *mac = vs_xml_child(dev, "mac");
    xmlChar *address = mac ? xmlGetProp(mac, (const xmlChar *)"address") : NULL;
    if (!address)
        return;
    g_autofree char *old = g_ascii_strdown((const char *)address, -1);
    xmlFree(address);
    const char *new_mac = g_hash_table_lookup(macs, old);
    if (!new_mac) {
        new_mac = vs_new_mac();
        g_hash_table_insert(macs, g_steal_pointer(&old), (char *)new_mac);
    }
    xmlSetProp(mac, (const xmlChar *)"address", (const xmlChar *)new_mac);
}

static void rewrite_serial(xmlNode *dev, const char *serial_log)
{
    xmlChar *type = xmlGetProp(dev, (const xmlChar *)"type");
    xmlNode *source = vs_xml_child(dev, "source");
    if (source && xmlStrEqual(type, (const xmlChar *)"file"))
        xmlSetProp(source, (const xmlChar *)"path", (const xmlChar *)serial_log);
    xmlFree(type);
}

static void rewrite_vnc(xmlNode *dev, const char *vnc_socket)
{
    if (!xmlHasProp(dev, (const xmlChar *)"socket"))
        return;
    xmlSetProp(dev, (const xmlChar *)"socket", (const xmlChar *)vnc_socket);
    /* libvirt repeats it in <listen type='socket'>, and both must match. */
    for (xmlNode *l = dev->children; l; l = l->next)
        if (xmlStrEqual(l->name, (const xmlChar *)"listen") &&
            xmlHasProp(l, (const xmlChar *)"socket"))
            xmlSetProp(l, (const xmlChar *)"socket", (const xmlChar *)vnc_socket);
}

static bool is(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && xmlStrEqual(node->name, (const xmlChar *)name);
}

void vs_domain_rewrite(xmlNode *domain, const VsDomainRewrite *rewrite)
{
    if (rewrite->name)
        vs_xml_set_child_text(domain, "name", rewrite->name);
    if (rewrite->uuid)
        vs_xml_set_child_text(domain, "uuid", rewrite->uuid);
    xmlNode *os = vs_xml_child(domain, "os");
    xmlNode *nvram = os ? vs_xml_child(os, "nvram") : NULL;
    xmlNode *nvram_source = nvram ? vs_xml_child(nvram, "source") : NULL;
    /* Its attributes (the template) stay; the path is its <source file>
     * (libvirt 8.5 on) or its text. */
    if (nvram_source && rewrite->nvram && xmlHasProp(nvram_source, (const xmlChar *)"file"))
        xmlSetProp(nvram_source, (const xmlChar *)"file", (const xmlChar *)rewrite->nvram);
    else if (nvram && !nvram_source && rewrite->nvram)
        vs_xml_set_child_text(os, "nvram", rewrite->nvram);
    xmlNode *devices = vs_xml_child(domain, "devices");
    for (xmlNode *dev = devices ? devices->children : NULL; dev; dev = dev->next) {
        if (is(dev, "disk") && rewrite->disk_paths)
            rewrite_disk(dev, rewrite->disk_paths);
        else if (is(dev, "interface") && rewrite->macs)
            rewrite_mac(dev, rewrite->macs);
        else if (is(dev, "serial") && rewrite->serial_log)
            rewrite_serial(dev, rewrite->serial_log);
        else if (is(dev, "graphics") && rewrite->vnc_socket)
            rewrite_vnc(dev, rewrite->vnc_socket);
    }
}
