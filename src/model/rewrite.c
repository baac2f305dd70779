/* rewrite.c: edits a domain definition for a clone or a rename (see
 * rewrite.h): one pass per kind of device, each touching only what names
 * the old VM's own files or identity. */
#include "rewrite.h"

#include "../util/random.h"
#include "../util/xml.h"

#include <string.h>

char *vs_new_mac(void)
{
    g_autofree char *hex = vs_random_hex(3);
    return g_strdup_printf("52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
}

/* Gives each <interface>'s <mac> its new address from MACS. */
static void rewrite_macs(xmlNode *devices, GHashTable *macs)
{
    for (xmlNode *dev = devices ? devices->children : NULL; dev && macs; dev = dev->next) {
        xmlNode *mac = xmlStrEqual(dev->name, (const xmlChar *)"interface")
                           ? vs_xml_child(dev, "mac")
                           : NULL;
        xmlChar *address = mac ? xmlGetProp(mac, (const xmlChar *)"address") : NULL;
        if (!address)
            continue;
        g_autofree char *old = g_ascii_strdown((const char *)address, -1);
        xmlFree(address);
        const char *new_mac = g_hash_table_lookup(macs, old);
        if (!new_mac) {
            new_mac = vs_new_mac();
            g_hash_table_insert(macs, g_steal_pointer(&old), (char *)new_mac);
        }
        xmlSetProp(mac, (const xmlChar *)"address", (const xmlChar *)new_mac);
    }
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
    rewrite_macs(devices, rewrite->macs);
    for (xmlNode *dev = devices ? devices->children : NULL; dev && rewrite->disk_paths;
         dev = dev->next) {
        if (dev->type != XML_ELEMENT_NODE || !xmlStrEqual(dev->name, (const xmlChar *)"disk"))
            continue;
        xmlChar *target = xmlGetProp(vs_xml_child(dev, "target"), (const xmlChar *)"dev");
        const char *path = target ? g_hash_table_lookup(rewrite->disk_paths, target) : NULL;
        xmlNode *source = vs_xml_child(dev, "source");
        if (path && source)
            xmlSetProp(source, (const xmlChar *)"file", (const xmlChar *)path);
        xmlFree(target);
    }
    for (xmlNode *dev = devices ? devices->children : NULL; dev && rewrite->serial_log;
         dev = dev->next) {
        xmlChar *type = xmlGetProp(dev, (const xmlChar *)"type");
        xmlNode *source = vs_xml_child(dev, "source");
        if (xmlStrEqual(dev->name, (const xmlChar *)"serial") && source &&
            xmlStrEqual(type, (const xmlChar *)"file"))
            xmlSetProp(source, (const xmlChar *)"path", (const xmlChar *)rewrite->serial_log);
        xmlFree(type);
    }
    for (xmlNode *dev = devices ? devices->children : NULL; dev && rewrite->vnc_socket;
         dev = dev->next) {
        if (!xmlStrEqual(dev->name, (const xmlChar *)"graphics") ||
            !xmlHasProp(dev, (const xmlChar *)"socket"))
            continue;
        xmlSetProp(dev, (const xmlChar *)"socket", (const xmlChar *)rewrite->vnc_socket);
        /* libvirt repeats it in <listen type='socket'>, and both must match. */
        for (xmlNode *l = dev->children; l; l = l->next)
            if (xmlStrEqual(l->name, (const xmlChar *)"listen") &&
                xmlHasProp(l, (const xmlChar *)"socket"))
                xmlSetProp(l, (const xmlChar *)"socket", (const xmlChar *)rewrite->vnc_socket);
    }
}
