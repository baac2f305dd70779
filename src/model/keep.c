/* keep.c: a deleted VM's snapshots, kept with its kept disks (keep.h). */
#include "keep.h"

#include "../util/error.h"
#include "../util/files.h"
#include "../util/log.h"
#include "../util/xml.h"
#include "hv.h"
#include "images.h"
#include "live.h"
#include "snapnames.h"
#include "snaptree.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

VsKeptSnapshots *vs_kept_read(const char *vm, const char *uuid, const VsSnapshotTree *tree,
                              GError **error)
{
    g_autoptr(GPtrArray) snaps = g_ptr_array_new_with_free_func(kept_free);
    for (guint i = 0; i < tree->xml->len; i++) {
        Kept *k = kept_parse(g_ptr_array_index(tree->xml, i), tree->current, error);
        if (!k)
            return NULL;
        g_ptr_array_add(snaps, k);
    }
    VsKeptSnapshots *kept = g_new0(VsKeptSnapshots, 1);
    kept->vm = g_strdup(vm);
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
    /* at most 100 bytes (a name made by another tool may be far longer
     * than a file name may), cut at a character's start */
    const char *end = tag;
    while (*end && end - tag + 4 <= 100)
        end = g_utf8_next_char(end);
    char *part = g_strndup(tag, end - tag);
    g_strdelimit(part, "/", '_');
    if (part[0] == '.')
        part[0] = '_';
    return part;
}

/* Puts a second name, COPY, on the memory file RAM (a hard link, or a copy
 * where the kept directory is on another file system), so that the delete
 * that removes STATE/live/ leaves it. */
static bool keep_ram(const char *ram, const char *copy, GError **error)
{
    if (link(ram, copy) == 0)
        return true;
    if (errno == EXDEV)
        return vs_image_copy(ram, copy, NULL, NULL, error);
    g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot keep the memory file %s as %s: %s", ram,
                copy, g_strerror(errno));
    return false;
}

/* Writes K's XML into DIR as file number I, with its memory file (one of
 * virtsnapd's own, for the VM of UUID) kept beside it and named in it;
 * fills ENTRY's "memory_file" and "xml". False with ERROR if any of it
 * could not be. */
static bool write_one(const Kept *k, guint i, const char *uuid, const char *dir, json_t *entry,
                      GError **error)
{
    g_autofree char *part = file_part(k->tag);
    g_autofree char *kept_ram = NULL;
    g_autofree char *live_dir = vs_live_vm_dir(uuid);
    /* (one already gone, say by hand, cannot be kept: its XML still names it) */
    bool ram_there = k->ram && g_file_test(k->ram, G_FILE_TEST_EXISTS);
    if (k->ram && !ram_there)
        vs_warn("kept disks: the memory file %s of snapshot '%s' is missing", k->ram, k->name);
    if (ram_there && vs_path_is_inside(k->ram, live_dir)) {
        g_autofree char *ram_name = g_strdup_printf("%04u-%s.ram", i, part);
        kept_ram = g_build_filename(dir, ram_name, NULL);
        if (!keep_ram(k->ram, kept_ram, error))
            return false;
        xmlNode *memory = vs_xml_child(xmlDocGetRootElement(k->doc), "memory");
        if (memory)
            xmlSetProp(memory, (const xmlChar *)"file", (const xmlChar *)kept_ram);
    }
    /* (a memory file elsewhere is not virtsnapd's: it stays where it is) */
    json_object_set_new(entry, "memory_file",
                        kept_ram ? json_string(kept_ram) : k->ram ? json_string(k->ram) : json_null());
    g_autofree char *xml_name = g_strdup_printf("%04u-%s.xml", i, part);
    g_autofree char *xml_path = g_build_filename(dir, xml_name, NULL);
    json_object_set_new(entry, "xml", json_string(xml_name));
    g_autofree char *text = vs_xml_to_string(k->doc);
    return g_file_set_contents_full(xml_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                    error);
}

/* Makes BASE.snapshots, or BASE.snapshots-N when that exists (an earlier
 * delete's, of a VM redefined over the disk): the name is taken by the
 * mkdir, so that no other delete can pick it too. */
static char *make_dir(const char *base, GError **error)
{
    for (int n = 1; n < 100; n++) {
        char *dir = n == 1 ? g_strdup_printf("%s.snapshots", base)
                           : g_strdup_printf("%s.snapshots-%d", base, n);
        if (g_mkdir(dir, 0700) == 0)
            return dir;
        int err = errno;
        g_free(dir);
        if (err != EEXIST) {
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot make %s.snapshots: %s",
                        base, g_strerror(err));
            return NULL;
        }
    }
    g_set_error(error, VS_ERROR, VS_ERR_FAILED, "too many kept snapshot directories %s.snapshots-N",
                base);
    return NULL;
}

/* STATE/kept: the descriptions of kept disks that are not virtsnap's. */
static char *kept_root_dir(void)
{
    return g_build_filename(vs_hv_state_dir(), "kept", NULL);
}

/* Where KEPT's directory goes: beside DISK when it is one of virtsnap's
 * (STATE/images), else in STATE/kept/ under the VM's UUID: virtsnapd
 * writes into no directory of another tool's (one another user could
 * change under it), and a remote host's disks are not here at all. */
static char *dir_base(const VsKeptSnapshots *kept, const char *disk, GError **error)
{
    if (disk && vs_image_is_owned(disk))
        return g_strdup(disk);
    g_autofree char *kept_root = kept_root_dir();
    if (g_mkdir(kept_root, 0700) != 0 && errno != EEXIST) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot make %s: %s", kept_root,
                    g_strerror(errno));
        return NULL;
    }
    return g_build_filename(kept_root, kept->uuid, NULL);
}

char *vs_kept_dir(const VsKeptSnapshots *kept, const char *disk, GError **error)
{
    if (kept->snaps->len == 0)
        return g_strdup("");
    g_autofree char *base = dir_base(kept, disk, error);
    return base ? make_dir(base, error) : NULL;
}

bool vs_kept_dir_is_ours(const char *dir)
{
    if (!dir)
        return false;
    /* NAME.snapshots or NAME.snapshots-N, read from its end */
    g_autofree char *name = g_path_get_basename(dir);
    char *dash = strrchr(name, '-');
    if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1))
        *dash = '\0';
    bool named = g_str_has_suffix(name, ".snapshots") && strlen(name) > strlen(".snapshots");
    g_autofree char *parent = g_path_get_dirname(dir);
    g_autofree char *kept_root = kept_root_dir();
    return named && (vs_path_is_inside(dir, vs_hv_images_dir()) || !strcmp(parent, kept_root));
}

bool vs_kept_write(const VsKeptSnapshots *kept, const char *dir, const char *disk, GError **error)
{
    if (!*dir)
        return true;
    json_t *list = json_array();
    bool whole = true;
    for (guint i = 0; whole && i < kept->snaps->len; i++) {
        const Kept *k = g_ptr_array_index(kept->snaps, i);
        g_autofree char *name = display(kept, k->name);
        g_autofree char *parent = display(kept, k->parent);
        json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b}", "name", name,
                                  "tag", k->tag, "parent", parent, "description",
                                  k->description ? k->description : "", "state",
                                  k->state ? k->state : "", "created", (json_int_t)k->created,
                                  "live", k->ram != NULL, "current", k->current);
        if (!entry) /* (a text that is not UTF-8) */
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "snapshot '%s' cannot be described",
                        k->name);
        whole = entry && write_one(k, i, kept->uuid, dir, entry, error);
        json_array_append_new(list, entry);
    }
    json_t *index = json_pack("{s:s, s:s, s:I, s:s?, s:o}", "vm", kept->vm, "uuid", kept->uuid,
                              "deleted", (json_int_t)(g_get_real_time() / G_USEC_PER_SEC),
                              "disk", disk, "snapshots", list);
    g_autofree char *text = json_dumps(index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(index);
    g_autofree char *index_path = g_build_filename(dir, "snapshots.json", NULL);
    if (whole && !text)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write the index %s", index_path);
    whole = whole && text &&
            g_file_set_contents_full(index_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                     error);
    if (!whole) {
        g_prefix_error(error, "cannot keep the snapshots' description for the kept disks: ");
        vs_kept_discard(dir);
        return false;
    }
    /* the files are synced (CONSISTENT); their names, and the directory's, too */
    vs_dir_sync(dir);
    g_autofree char *parent = g_path_get_dirname(dir);
    vs_dir_sync(parent);
    return true;
}

void vs_kept_sweep_empty(void)
{
    g_autofree char *kept_root = kept_root_dir();
    const char *roots[] = {vs_hv_images_dir(), kept_root};
    for (size_t i = 0; i < G_N_ELEMENTS(roots); i++) {
        g_autoptr(GDir) listing = g_dir_open(roots[i], 0, NULL);
        const char *name;
        while (listing && (name = g_dir_read_name(listing))) {
            g_autofree char *dir = g_build_filename(roots[i], name, NULL);
            /* (rmdir takes only an empty directory, and no link) */
            if (vs_kept_dir_is_ours(dir) && g_rmdir(dir) == 0)
                vs_info("recovery: removed %s, empty: the delete that made it was cut off "
                        "before it began", dir);
        }
    }
}

void vs_kept_discard(const char *dir)
{
    if (dir && *dir && g_file_test(dir, G_FILE_TEST_IS_DIR) && !vs_dir_remove_files(dir))
        vs_warn("cannot remove %s", dir);
}
