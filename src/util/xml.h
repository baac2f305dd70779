/* xml.h: small libxml2 helpers for reading libvirt XML with XPath and
 * editing it through the tree API, so that nothing is escaped by hand. */
#pragma once
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)

/* Parses XML text; NULL with a VS_ERR_FAILED error on malformed input. */
xmlDoc *vs_xml_parse(const char *text, GError **error);

/* The string value of an XPath expression (e.g. "string(/domain/name)"), or
 * of its first node; NULL when nothing matches. NODE may be NULL for the root. */
char *vs_xml_string(xmlDoc *doc, xmlNode *node, const char *xpath);

/* The integer value of XPATH, or FALLBACK when absent or not a number (one
 * out of range among them). */
long long vs_xml_int(xmlDoc *doc, xmlNode *node, const char *xpath, long long fallback);

/* The nodes matching XPATH, in document order; free with g_ptr_array_unref
 * (it does not own the nodes). */
GPtrArray *vs_xml_nodes(xmlDoc *doc, xmlNode *node, const char *xpath);

/* The first child element of PARENT named NAME, or NULL. */
xmlNode *vs_xml_child(xmlNode *parent, const char *name);

/* Sets PARENT's child element NAME to TEXT, creating it when missing. */
xmlNode *vs_xml_set_child_text(xmlNode *parent, const char *name, const char *text);

/* Serialises DOC (without the XML declaration). */
char *vs_xml_to_string(xmlDoc *doc);
