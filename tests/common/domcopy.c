/* domcopy.c: a VM defined as a copy of another's definition, edited with
 * libxml2 (see domcopy.h). */
#include "domcopy.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The nodes EXPR selects in CTX's document (an empty set when none). */
static xmlXPathObject *nodes_of(xmlXPathContext *ctx, const char *expr)
{
    return xmlXPathEvalExpression((const xmlChar *)expr, ctx);
}

static int count_of(const xmlXPathObject *set)
{
    return set && set->nodesetval ? set->nodesetval->nodeNr : 0;
}

bool vs_test_define_copy(virConnectPtr conn, const char *from, const char *name,
                         const char *format, bool same_uuid)
{
    virDomainPtr source = virDomainLookupByName(conn, from);
    char *text = source ? virDomainGetXMLDesc(source, VIR_DOMAIN_XML_INACTIVE) : NULL;
    if (source)
        virDomainFree(source);
    if (!text) {
        fprintf(stderr, "cannot read VM %s: %s\n", from, virGetLastErrorMessage());
        return false;
    }
    xmlDoc *doc = xmlReadMemory(text, (int)strlen(text), NULL, NULL, XML_PARSE_NONET);
    free(text);
    xmlXPathContext *ctx = doc ? xmlXPathNewContext(doc) : NULL;
    xmlXPathObject *uuid = ctx ? nodes_of(ctx, "/domain/uuid") : NULL;
    xmlXPathObject *names = ctx ? nodes_of(ctx, "/domain/name") : NULL;
    xmlXPathObject *drivers = ctx ? nodes_of(ctx, "/domain/devices/disk/driver") : NULL;
    bool ok = count_of(names) == 1 && (!format || count_of(drivers) > 0);
    if (!ok)
        fprintf(stderr, "VM %s's definition cannot be read as XML with one name%s\n", from,
                format ? " and disk drivers" : "");
    for (int i = 0; ok && !same_uuid && i < count_of(uuid); i++) {
        xmlUnlinkNode(uuid->nodesetval->nodeTab[i]);
        xmlFreeNode(uuid->nodesetval->nodeTab[i]);
    }
    if (ok)
        xmlNodeSetContent(names->nodesetval->nodeTab[0], (const xmlChar *)name);
    for (int i = 0; ok && format && i < count_of(drivers); i++)
        xmlSetProp(drivers->nodesetval->nodeTab[i], (const xmlChar *)"type",
                   (const xmlChar *)format);
    xmlChar *out = NULL;
    int len = 0;
    if (ok)
        xmlDocDumpMemory(doc, &out, &len);
    virDomainPtr made = out ? virDomainDefineXML(conn, (const char *)out) : NULL;
    if (ok && !made)
        fprintf(stderr, "cannot define %s: %s\n", name, virGetLastErrorMessage());
    if (made)
        virDomainFree(made);
    xmlFree(out);
    xmlXPathFreeObject(drivers);
    xmlXPathFreeObject(names);
    xmlXPathFreeObject(uuid);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return made != NULL;
}
