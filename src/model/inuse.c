/* inuse.c: the files other VMs use, as their libvirt definitions say
 * (persistent and live), followed down qcow2 backing chains as QEMU opens
 * them: what a VM delete must keep, and what a new VM must not be put over. */
#include "inuse.h"

#include "../util/error.h"
#include "../util/log.h"
#include "../util/xml.h"
#include "hv.h"
#include "images.h"

#include <stdlib.h>
#include <string.h>

/* Adds to USED (resolved path → VM) the files of IMAGE's chain, IMAGE and
 * the backing files its qcow2 headers name, down to VS_IMAGE_MAX_BACKING_DEPTH
 * links (only IMAGE without CHAIN), as VM's. */
static void add_chain(GHashTable *used, const char *image, const char *vm, bool chain)
{
    g_autofree char *named = g_strdup(image); /* as QEMU names it: relative names start there */
    g_autofree char *at = realpath(image, NULL);
    for (int depth = 0;
         at && depth <= VS_IMAGE_MAX_BACKING_DEPTH && !g_hash_table_contains(used, at); depth++) {
        g_hash_table_insert(used, g_strdup(at), g_strdup(vm));
        /* (only regular files are opened: a FIFO or a device would block) */
        VsImageRefs refs = {0};
        if (chain && g_file_test(at, G_FILE_TEST_IS_REGULAR))
            vs_image_refs(at, &refs);
        g_autofree char *next = vs_image_backing_path(named, &refs);
        vs_image_refs_clear(&refs);
        g_free(at);
        at = next ? realpath(next, NULL) : NULL;
        g_free(named);
        named = g_steal_pointer(&next);
    }
}

/* Where volume VOLUME of POOL would be when libvirt cannot say (the pool
 * not started, or not refreshed since the file came): in a pool of files
 * (dir, fs, netfs), its directory and the volume's name; else NULL, with
 * *LOST set if the connection broke off while asking. */
static char *volume_in_pool_dir(virStoragePoolPtr pool, const char *volume, GError **lost)
{
    g_autofree char *xml = virStoragePoolGetXMLDesc(pool, 0);
    if (!xml)
        vs_hv_failed_broke_off(lost, "cannot read pool '%s'", virStoragePoolGetName(pool));
    g_autoptr(xmlDoc) doc = xml ? vs_xml_parse(xml, NULL) : NULL;
    g_autofree char *type = doc ? vs_xml_string(doc, NULL, "string(/pool/@type)") : NULL;
    g_autofree char *dir = doc ? vs_xml_string(doc, NULL, "string(/pool/target/path)") : NULL;
    bool files = type && (!strcmp(type, "dir") || !strcmp(type, "fs") || !strcmp(type, "netfs"));
    bool plain = !strchr(volume, '/') && strcmp(volume, ".") && strcmp(volume, "..");
    return files && dir && *dir && plain ? g_build_filename(dir, volume, NULL) : NULL;
}

/* The file a disk's SOURCE element (in DOC) names: its file, or the path
 * of the storage pool volume it names (a VM given one of virtsnap's images
 * as a volume of a directory pool; one libvirt cannot look up, by the
 * pool's directory). NULL for a block device, a network disk, or a volume
 * of no pool libvirt knows; then *LOST is set if the connection broke off
 * while asking. */
static char *source_path(virConnectPtr conn, xmlDoc *doc, xmlNode *source, GError **lost)
{
    g_autofree char *file = vs_xml_string(doc, source, "string(@file)");
    g_autofree char *pool_name = vs_xml_string(doc, source, "string(@pool)");
    g_autofree char *volume = vs_xml_string(doc, source, "string(@volume)");
    if (file && *file)
        return g_steal_pointer(&file);
    if (!pool_name || !*pool_name || !volume || !*volume)
        return NULL;
    virStoragePoolPtr pool = virStoragePoolLookupByName(conn, pool_name);
    virStorageVolPtr vol = pool ? virStorageVolLookupByName(pool, volume) : NULL;
    char *path = vol ? virStorageVolGetPath(vol) : NULL;
    if (!path && !vs_hv_failed_broke_off(lost, "cannot look volume '%s' of pool '%s' up", volume,
                                         pool_name) && pool)
        path = volume_in_pool_dir(pool, volume, lost);
    if (vol)
        virStorageVolFree(vol);
    if (pool)
        virStoragePoolFree(pool);
    return path;
}

/* Adds to USED (resolved path → VM name) the files the domains other than
 * the one with UUID EXCEPT (or NULL) use (files, and pool volumes by their
 * paths): with CHAINS, every disk and what lies down its backing chain;
 * else their writable disks alone (a base under overlays is meant to be
 * shared), as their persistent definitions and, running, their live ones
 * say. False with ERROR when libvirt cannot list them or read one for a
 * lost connection (one gone meanwhile uses nothing). */
static bool files_in_use(virConnectPtr conn, const char *except, bool chains, GHashTable *used,
                         GError **error)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        vs_hv_set_error(error, "cannot list the VMs to see which files they use");
        return false;
    }
    /* (a shareable disk is written too; a transient one's writes go elsewhere;
     * a running VM's live definition names its chain as QEMU opened it) */
    const char *disks = chains ? "/domain/devices/disk/source"
                                 " | /domain/devices/disk//backingStore/source"
                               : "/domain/devices/disk[not(readonly) and not(transient)]/source";
    g_autoptr(GError) lost = NULL;
    for (int i = 0; i < n; i++) {
        g_autofree char *uuid = vs_hv_uuid(doms[i]);
        for (int live = 0; live < 2 && !lost && g_strcmp0(uuid, except) != 0; live++) {
            if (live && virDomainIsActive(doms[i]) != 1)
                break;
            g_autoptr(GError) unread = NULL;
            g_autoptr(xmlDoc) doc =
                vs_hv_domain_xml(doms[i], live ? 0 : VIR_DOMAIN_XML_INACTIVE, &unread);
            if (!doc && vs_hv_broke_off(&unread))
                lost = g_steal_pointer(&unread);
            g_autoptr(GPtrArray) nodes = doc ? vs_xml_nodes(doc, NULL, disks) : NULL;
            for (guint k = 0; nodes && k < nodes->len && !lost; k++) {
                g_autofree char *path = source_path(conn, doc, g_ptr_array_index(nodes, k), &lost);
                if (path)
                    add_chain(used, path, virDomainGetName(doms[i]), chains);
            }
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (lost)
        g_propagate_error(error, g_steal_pointer(&lost));
    return lost == NULL;
}

/* (another tool gave a VM one of virtsnap's images, or an overlay over
 * one: deleting a VM must not take another's disk; the VM is deleted, the
 * file stays) */
bool vs_inuse_keep_images(virConnectPtr conn, const char *vm, const char *uuid, GPtrArray *images,
                          GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!files_in_use(conn, uuid, true, used, error))
        return false;
    for (guint i = images->len; i-- > 0;) {
        const char *path = g_ptr_array_index(images, i);
        g_autofree char *real = realpath(path, NULL);
        const char *other = real ? g_hash_table_lookup(used, real) : NULL;
        if (!other)
            continue;
        vs_warn("VM '%s': its disk %s is kept: VM '%s' uses it (as its disk or under an "
                "overlay)", vm, path, other);
        g_ptr_array_remove_index(images, i);
    }
    return true;
}

bool vs_inuse_image_free(virConnectPtr conn, const char *image, GError **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) chain = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!files_in_use(conn, NULL, false, used, error))
        return false;
    add_chain(chain, image, "", true);
    GHashTableIter iter;
    gpointer link;
    g_hash_table_iter_init(&iter, chain);
    while (g_hash_table_iter_next(&iter, &link, NULL)) {
        const char *vm = g_hash_table_lookup(used, link);
        if (!vm)
            continue;
        g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                    "field 'image': %s%s%s is the disk of VM '%s', which writes to it: a VM "
                    "over it would see its disk change under it (clone VM '%s', or copy the "
                    "image while that VM is shut off)",
                    image, strcmp(link, image) ? ": its backing file " : "",
                    strcmp(link, image) ? (const char *)link : "", vm, vm);
        return false;
    }
    return true;
}
