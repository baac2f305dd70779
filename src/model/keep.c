/* keep.c: a deleted VM's snapshots, kept beside its kept disks (keep.h). */
#include "keep.h"

#include "../util/log.h"
#include "../util/xml.h"
#include "hv.h"
#include "snapnames.h"
#include "snaptree.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *name;        /* libvirt's */
    char *tag;         /* the qcow2 tag holding its disks (libvirt's name) */
    char *parent;      /* libvirt's name of its parent, or NULL */
    char *description; /* or NULL */
    char *state;
    gint64 created;
    bool current;
    char *ram;         /* a live snapshot's memory file, or NULL */
    xmlDoc *doc;       /* its XML */
} Kept;

struct VsKeptSnapshots {
    char *vm, *uuid;
    GPtrArray *snaps; /* Kept*, parents first */
};

static void kept_free(gpointer data)
{
    Kept *k = data;
    g_free(k->name);
    g_free(k->tag);
    g_free(k->parent);
    g_free(k->description);
    g_free(k->state);
    g_free(k->ram);
    xmlFreeDoc(k->doc);
    g_free(k);
}

void vs_kept_free(VsKeptSnapshots *kept)
{
    if (!kept)
        return;
    g_free(kept->vm);
    g_free(kept->uuid);
    g_ptr_array_unref(kept->snaps);
    g_free(kept);
}

/* The snapshot of XML TEXT, or NULL with ERROR. */
static Kept *kept_parse(const char *text, const char *current, GError **error)
{
    xmlDoc *doc = vs_xml_parse(text, error);
    if (!doc)
        return NULL;
    Kept *k = g_new0(Kept, 1);
    k->doc = doc;
    k->name = vs_xml_string(doc, NULL, "string(/domainsnapshot/name)");
    k->parent = vs_xml_string(doc, NULL, "string(/domainsnapshot/parent/name)");
    k->description = vs_xml_string(doc, NULL, "string(/domainsnapshot/description)");
    k->state = vs_xml_string(doc, NULL, "string(/domainsnapshot/state)");
    g_autofree char *created = vs_xml_string(doc, NULL, "string(/domainsnapshot/creationTime)");
    k->created = created ? g_ascii_strtoll(created, NULL, 10) : 0;
    /* a live one: memory in a file, disks in an internal snapshot */
    g_autofree char *internal = vs_xml_string(
        doc, NULL, "string(/domainsnapshot/disks/disk[@snapshot='internal']/@name)");
    g_autofree char *memory = vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@snapshot)");
    if (g_strcmp0(memory, "external") == 0 && internal && *internal)
        k->ram = vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)");
    /* qcow2 tags bear libvirt's name, classic and live alike */
    k->tag = g_strdup(k->name);
    k->current = g_strcmp0(k->name, current) == 0;
    return k;
}

VsKeptSnapshots *vs_kept_read(virDomainPtr dom, const char *uuid, GError **error)
{
    g_autoptr(VsSnapshotTree) tree = vs_snapshot_tree_save(dom, error);
    if (!tree)
        return NULL;
    g_autoptr(GPtrArray) snaps = g_ptr_array_new_with_free_func(kept_free);
    for (guint i = 0; i < tree->xml->len; i++) {
        Kept *k = kept_parse(g_ptr_array_index(tree->xml, i), tree->current, error);
        if (!k)
            return NULL;
        g_ptr_array_add(snaps, k);
    }
    VsKeptSnapshots *kept = g_new0(VsKeptSnapshots, 1);
    kept->vm = g_strdup(virDomainGetName(dom));
    kept->uuid = g_strdup(uuid);
    kept->snaps = g_steal_pointer(&snaps);
    return kept;
}

/* The API's name of libvirt's snapshot NAME ("" for none). */
static char *display(const VsKeptSnapshots *kept, const char *name)
{
    return name && *name ? vs_snapnames_display(kept->uuid, name) : g_strdup("");
}

/* TAG as part of a file name: no '/' (libvirt refuses it in a snapshot's
 * name, but another tool's may bear anything), nor a leading '.'. */
static char *file_part(const char *tag)
{
    char *part = g_strdup(tag);
    g_strdelimit(part, "/", '_');
    if (part[0] == '.')
        part[0] = '_';
    return part;
}

/* Writes K's XML (its memory file's path made DIR's copy) into DIR as
 * file number I; false if it could not be. */
static bool write_one(const Kept *k, guint i, const char *dir, json_t *entry)
{
    g_autofree char *moved = NULL;
    g_autofree char *part = file_part(k->tag);
    if (k->ram) {
        g_autofree char *ram_name = g_strdup_printf("%04u-%s.ram", i, part);
        moved = g_build_filename(dir, ram_name, NULL);
        if (g_rename(k->ram, moved) != 0) {
            vs_warn("kept disks: cannot move the memory of snapshot '%s' (%s) to %s: %s", k->name,
                    k->ram, moved, g_strerror(errno));
            g_clear_pointer(&moved, g_free);
        } else {
            xmlNode *root = xmlDocGetRootElement(k->doc);
            xmlNode *memory = vs_xml_child(root, "memory");
            if (memory)
                xmlSetProp(memory, (const xmlChar *)"file", (const xmlChar *)moved);
        }
    }
    json_object_set_new(entry, "memory_file", moved ? json_string(moved) : json_null());
    g_autofree char *xml_name = g_strdup_printf("%04u-%s.xml", i, part);
    g_autofree char *xml_path = g_build_filename(dir, xml_name, NULL);
    json_object_set_new(entry, "xml", json_string(xml_name));
    g_autofree char *text = vs_xml_to_string(k->doc);
    return g_file_set_contents_full(xml_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                    NULL);
}

char *vs_kept_write(const VsKeptSnapshots *kept, const char *disk)
{
    if (!kept || kept->snaps->len == 0 || !disk)
        return NULL;
    g_autofree char *dir = g_strdup_printf("%s.snapshots", disk);
    if (g_mkdir(dir, 0700) != 0) {
        vs_warn("kept disks of VM '%s': cannot make %s: %s; the tags in the disks stay, "
                "without their names", kept->vm, dir, g_strerror(errno));
        return NULL;
    }
    json_t *list = json_array();
    bool whole = true;
    for (guint i = 0; i < kept->snaps->len; i++) {
        const Kept *k = g_ptr_array_index(kept->snaps, i);
        g_autofree char *name = display(kept, k->name);
        g_autofree char *parent = display(kept, k->parent);
        json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b}", "name", name,
                                  "tag", k->tag, "parent", parent, "description",
                                  k->description ? k->description : "", "state",
                                  k->state ? k->state : "", "created", (json_int_t)k->created,
                                  "live", k->ram != NULL, "current", k->current);
        whole = write_one(k, i, dir, entry) && whole;
        json_array_append_new(list, entry);
    }
    json_t *index = json_pack("{s:s, s:s, s:I, s:s, s:o}", "vm", kept->vm, "uuid", kept->uuid,
                              "deleted", (json_int_t)(g_get_real_time() / G_USEC_PER_SEC),
                              "disk", disk, "snapshots", list);
    g_autofree char *text = json_dumps(index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(index);
    g_autofree char *index_path = g_build_filename(dir, "snapshots.json", NULL);
    whole = text &&
            g_file_set_contents_full(index_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                     NULL) &&
            whole;
    if (!whole) {
        vs_warn("kept disks of VM '%s': %s is not whole (see above)", kept->vm, dir);
        return NULL;
    }
    return g_steal_pointer(&dir);
}
