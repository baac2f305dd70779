/* xml.c: libxml2 helpers: XPath to read, the tree API to write. */
#include "xml.h"

#include "error.h"

#include <errno.h>
#include <libxml/xmlsave.h>
#include <stdlib.h>

xmlDoc *vs_xml_parse(const char *text, GError **error)
{
    xmlDoc *doc = text ? xmlReadMemory(text, (int)strlen(text), "noname.xml", "UTF-8",
                                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                       : NULL;
    if (!doc)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "could not parse XML from libvirt");
    return doc;
}

/* One XPath context per thread, reused: a new context registers every XPath
 * function in a fresh hash table, which was a fifth of the instructions of a
 * GET /vms/<vm> (callgrind). */
static GPrivate thread_ctx = G_PRIVATE_INIT((GDestroyNotify)xmlXPathFreeContext);

static xmlXPathObject *eval(xmlDoc *doc, xmlNode *node, const char *xpath)
{
    xmlXPathContext *ctx = g_private_get(&thread_ctx);
    if (!ctx) {
        ctx = xmlXPathNewContext(NULL);
        if (!ctx)
            return NULL;
        g_private_set(&thread_ctx, ctx);
    }
    ctx->doc = doc;
    ctx->node = node ? node : xmlDocGetRootElement(doc);
    ctx->contextSize = -1;
    ctx->proximityPosition = -1;
    xmlXPathObject *result = xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
    ctx->doc = NULL; /* no pointer into a document that may be freed next */
    ctx->node = NULL;
    return result;
}

char *vs_xml_string(xmlDoc *doc, xmlNode *node, const char *xpath)
{
    g_autoptr(xmlXPathObject) obj = eval(doc, node, xpath);
    if (!obj)
        return NULL;
    if (obj->type == XPATH_STRING)
        return obj->stringval && *obj->stringval ? g_strdup((const char *)obj->stringval) : NULL;
    if (obj->type == XPATH_NODESET && obj->nodesetval && obj->nodesetval->nodeNr > 0) {
        xmlChar *content = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);
        char *copy = g_strdup((const char *)content);
        xmlFree(content);
        return copy;
    }
    return NULL;
}

long long vs_xml_int(xmlDoc *doc, xmlNode *node, const char *xpath, long long fallback)
{
    g_autofree char *text = vs_xml_string(doc, node, xpath);
    if (!text)
        return fallback;
    char *end = NULL;
    errno = 0;
    long long value = g_ascii_strtoll(text, &end, 10);
    return (end && end != text && *end == '\0' && errno != ERANGE) ? value : fallback;
}

GPtrArray *vs_xml_nodes(xmlDoc *doc, xmlNode *node, const char *xpath)
{
    GPtrArray *nodes = g_ptr_array_new();
    g_autoptr(xmlXPathObject) obj = eval(doc, node, xpath);
    if (obj && obj->type == XPATH_NODESET && obj->nodesetval) {
        for (int i = 0; i < obj->nodesetval->nodeNr; i++)
            g_ptr_array_add(nodes, obj->nodesetval->nodeTab[i]);
    }
    return nodes;
}

xmlNode *vs_xml_child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, (const xmlChar *)name))
            return c;
    return NULL;
}

xmlNode *vs_xml_set_child_text(xmlNode *parent, const char *name, const char *text)
{
    xmlNode *child = vs_xml_child(parent, name);
    if (!child)
        child = xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
    xmlNodeSetContent(child, NULL);
    xmlNodeAddContent(child, (const xmlChar *)text);
    return child;
}

char *vs_xml_to_string(xmlDoc *doc)
{
    xmlBuffer *buf = xmlBufferCreate();
    xmlSaveCtxt *save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL | XML_SAVE_FORMAT);
    xmlSaveDoc(save, doc);
    xmlSaveClose(save);
    char *out = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}
