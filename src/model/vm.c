/* vm.c: VMs over libvirt: list, inspect, define (domain XML built with
 * libxml2), update and rename (carrying the snapshot tree along), delete
 * (never stranding snapshot metadata) and the power actions. */
#include "vm.h"

#include "../util/error.h"
#include "../util/fault.h"
#include "../util/files.h"
#include "../util/hugepages.h"
#include "../util/log.h"
#include "../util/names.h"
#include "definition.h"
#include "hv.h"
#include "images.h"
#include "inuse.h"
#include "journal.h"
#include "keep.h"
#include "live.h"
#include "snapnames.h"
#include "snapshot.h"
#include "snaptree.h"
#include "vmlock.h"
#include "vmnames.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

void vs_vm_free(VsVm *vm)
{
    if (!vm)
        return;
    g_free(vm->name);
    g_free(vm->uuid);
    if (vm->disks)
        g_ptr_array_unref(vm->disks);
    g_free(vm->current_snapshot);
    g_free(vm->serial_log);
    g_free(vm);
}

static const char *state_name(int state)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING: return "running";
    case VIR_DOMAIN_BLOCKED: return "blocked";
    case VIR_DOMAIN_PAUSED: return "paused";
    case VIR_DOMAIN_SHUTDOWN: return "shutdown";
    case VIR_DOMAIN_SHUTOFF: return "shutoff";
    case VIR_DOMAIN_CRASHED: return "crashed";
    case VIR_DOMAIN_PMSUSPENDED: return "pmsuspended";
    default: return "nostate";
    }
}

/* Copies of DISKS with their sizes as they are now. */
static GPtrArray *disks_with_sizes(virDomainPtr dom, GPtrArray *disks)
{
    GPtrArray *sized = g_ptr_array_new_with_free_func((GDestroyNotify)vs_disk_free);
    bool local = vs_hv_is_local();
    for (guint i = 0; i < disks->len; i++) {
        VsDisk *disk = vs_disk_copy(g_ptr_array_index(disks, i));
        /* Read sizes from local files: virDomainGetBlockInfo waits for a
         * running snapshot or revert to finish (it needs a libvirt job). */
        virDomainBlockInfo info;
        if (!(local && vs_image_virtual_size(disk->path, &disk->size)) && *disk->target &&
            virDomainGetBlockInfo(dom, disk->target, &info, 0) == 0)
            disk->size = info.capacity;
        g_ptr_array_add(sized, disk);
    }
    return sized;
}

/* The VM as the API shows it. */
static VsVm *vm_from_domain(virDomainPtr dom, GError **error)
{
    virDomainInfo info;
    if (virDomainGetInfo(dom, &info) < 0) {
        vs_hv_set_error(error, "cannot read the state of VM '%s'", virDomainGetName(dom));
        return NULL;
    }
    g_autoptr(VsVm) vm = g_new0(VsVm, 1);
    vm->uuid = vs_hv_uuid(dom);
    g_autoptr(VsDefinition) def = vs_definition_get(dom, vm->uuid, error);
    if (!def)
        return NULL;
    vm->name = g_strdup(virDomainGetName(dom));
    vm->state = state_name(info.state);
    int persistent = virDomainIsPersistent(dom);
    if (persistent < 0 && vs_hv_failed_broke_off(error, "cannot read VM '%s'", vm->name))
        return NULL; /* (not shown as transient with no snapshots: 503) */
    vm->persistent = persistent == 1;
    vm->memory_mib = info.maxMem / 1024;
    vm->cpus = info.nrVirtCpu;
    vm->hugepages = def->hugepages;
    vm->disks = disks_with_sizes(dom, def->disks);
    vm->serial_log = g_strdup(def->serial_log);
    VsNextStart next;
    if (info.state != VIR_DOMAIN_SHUTOFF && vm->persistent &&
        vs_definition_next_start(dom, vm->uuid, &next)) {
        /* A change made while it ran waits for its next start. */
        vm->next_start = next.memory_mib != vm->memory_mib || next.cpus != vm->cpus ||
                         next.hugepages != vm->hugepages;
        vm->next_memory_mib = next.memory_mib;
        vm->next_cpus = next.cpus;
        vm->next_hugepages = next.hugepages;
    }
    int count = virDomainSnapshotNum(dom, 0);
    vm->snapshots = MAX(count, 0);
    vm->current_snapshot = g_strdup("");
    int has_current = count > 0 ? virDomainHasCurrentSnapshot(dom, 0) : 0;
    g_autoptr(virDomainSnapshot) cur = has_current == 1 ? virDomainSnapshotCurrent(dom, 0) : NULL;
    if (cur) {
        g_free(vm->current_snapshot);
        vm->current_snapshot = vs_snapnames_display(vm->uuid, virDomainSnapshotGetName(cur));
    }
    bool unread = count < 0 || has_current < 0 || (has_current == 1 && !cur);
    if (unread && vs_hv_failed_broke_off(error, "cannot read the snapshots of VM '%s'", vm->name))
        return NULL;
    return g_steal_pointer(&vm);
}

static gint compare_vm_names(gconstpointer a, gconstpointer b)
{
    const VsVm *x = *(VsVm *const *)a, *y = *(VsVm *const *)b;
    return strcmp(x->name, y->name);
}

GPtrArray *vs_vm_list(GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        vs_hv_set_error(error, "cannot list VMs");
        return NULL;
    }
    GPtrArray *vms = g_ptr_array_new_with_free_func((GDestroyNotify)vs_vm_free);
    g_autoptr(GHashTable) uuids = g_hash_table_new(g_str_hash, g_str_equal); /* of VMS */
    g_autoptr(GError) lost = NULL;
    for (int i = 0; i < n; i++) {
        /* A VM that vanishes while we look is simply not listed; a
         * connection that broke off fails the listing (503) rather than
         * answer a part of it. */
        g_autoptr(GError) skipped = NULL;
        VsVm *vm = lost ? NULL : vm_from_domain(doms[i], &skipped);
        if (vm) {
            g_ptr_array_add(vms, vm);
            g_hash_table_add(uuids, vm->uuid);
        } else if (!lost && vs_hv_broke_off(&skipped)) {
            lost = g_steal_pointer(&skipped);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (lost) {
        g_ptr_array_unref(vms);
        g_propagate_error(error, g_steal_pointer(&lost));
        return NULL;
    }
    vs_definition_keep_only(uuids);
    g_ptr_array_sort(vms, compare_vm_names);
    return vms;
}

VsVm *vs_vm_get(const char *name, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    g_autoptr(virDomain) dom = vs_hv_domain(conn, name, error);
    return dom ? vm_from_domain(dom, error) : NULL;
}

/* libvirt backs guest RAM with huge pages only from a mounted hugetlbfs (a
 * remote host is its own judge). */
static bool hugepages_possible(GError **error)
{
    if (!vs_hv_is_local() || vs_hugepages_mounted())
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                "field 'hugepages': this host has no hugetlbfs mounted (see "
                "docs/live-snapshots.md, 'Huge pages')");
    return false;
}

/* Whether REAL (a resolved path; SUBJECT names it for the client) may be
 * under a new VM's overlay: not another VM's disk, which would go with that
 * VM's delete, nor the daemon's own files (its token, TLS key, other VMs'
 * memory files, libvirt's state: the guest would read them as its disk). */
static bool outside_state(const char *subject, const char *real, GError **error)
{
    g_autofree char *images = realpath(vs_hv_images_dir(), NULL);
    g_autofree char *state = realpath(vs_hv_state_dir(), NULL);
    bool in_images = vs_path_is_inside(real, images), in_state = vs_path_is_inside(real, state);
    if (in_images)
        g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                    "field 'image': %s is in virtsnap's own images directory (a VM's "
                    "disk, or one kept from a deleted VM): clone that VM instead, or move "
                    "a kept disk out of %s first", subject, vs_hv_images_dir());
    else if (in_state)
        g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                    "field 'image': %s is in virtsnap's state directory %s, which holds its "
                    "own files, not images", subject, vs_hv_state_dir());
    return !in_images && !in_state;
}

/* Whether the image at NAMED (as QEMU will open it; REAL once resolved)
 * may be the first link of a chain: its data in itself, not in another
 * file (qcow2's data-file); its backing file, if any, in raw or qcow2, and
 * named readably. Sets *BACKING to the next link as QEMU will name it
 * (relative names from NAMED's directory), or NULL at the end. */
static bool link_ok(const char *named, const char *real, char **backing, char **backing_format,
                    GError **error)
{
    *backing = NULL;
    *backing_format = NULL;
    VsImageRefs refs;
    vs_image_refs(real, &refs);
    const char *format = refs.backing_format;
    const char *why =
        refs.unreadable      ? "its qcow2 header cannot be read whole"
        : refs.external_data ? "its data is in another file (qcow2 data-file), which virtsnap "
                               "does not follow"
        : vs_image_name_is_protocol(refs.backing)
            ? "it names its backing file with a protocol (json:, nbd:…), which virtsnap does "
              "not follow"
        /* without a recorded format QEMU would probe the backing file (and
         * libvirt refuses to start such a chain) */
        : refs.backing && !format ? "it does not record its backing file's format (qemu-img "
                                    "rebase -u -F raw|qcow2 records it)"
        : format && strcmp(format, "raw") && strcmp(format, "qcow2")
            ? "it names a backing file in another format than raw or qcow2"
            : NULL;
    if (why) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'image': %s: %s", named, why);
    } else if (refs.backing) {
        *backing = vs_image_backing_path(named, &refs); /* (no protocol: refused above) */
        *backing_format = g_strdup(format);
    }
    vs_image_refs_clear(&refs);
    return why == NULL;
}

/* The same checks as for the image, for every backing file down the chain
 * under image NAMED (REAL once resolved): an image over another VM's disk
 * would tie the new VM to that disk too. A link that cannot be followed, a
 * loop, or more than VS_IMAGE_MAX_BACKING_DEPTH links are refused. */
static bool backing_chain_outside_state(const char *named, const char *real, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autofree char *at_named = g_strdup(named), *at_real = g_strdup(real);
    for (int depth = 0;; depth++) {
        g_hash_table_add(seen, g_strdup(at_real));
        g_autofree char *next = NULL, *next_format = NULL;
        if (!link_ok(at_named, at_real, &next, &next_format, error))
            return false;
        if (!next)
            return true;
        g_autofree char *next_real = realpath(next, NULL);
        const char *why = !next_real ? g_strerror(errno)
                          : depth == VS_IMAGE_MAX_BACKING_DEPTH
                              ? "the chain is deeper than " G_STRINGIFY(VS_IMAGE_MAX_BACKING_DEPTH) " files"
                          : g_hash_table_contains(seen, next_real) ? "the chain loops back"
                          : NULL;
        if (why) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "field 'image': the backing file %s of %s cannot be followed: %s", next,
                        at_named, why);
            return false;
        }
        g_autofree char *subject = g_strdup_printf("the backing file %s of %s", next, at_named);
        const char *other = vs_image_other_format(next_real);
        if (!other && strcmp(next_format, "qcow2") == 0 &&
            strcmp(vs_image_detect_format(next_real), "qcow2") != 0)
            other = "raw"; /* not what its image records */
        if (other)
            g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'image': %s is a %s image",
                        subject, other);
        if (other || !outside_state(subject, next_real, error))
            return false;
        g_free(at_named);
        g_free(at_real);
        at_named = g_steal_pointer(&next);
        at_real = g_steal_pointer(&next_real);
    }
}

bool vs_vm_spec_check(const VsVmSpec *spec, char **image_real, GError **error)
{
    *image_real = NULL;
    const char *why = NULL;
    if (!vs_vm_name_valid(spec->name, &why)) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "invalid VM name: it %s", why);
        return false;
    }
    if (spec->memory_mib &&
        (spec->memory_mib < VS_VM_MIN_MEMORY_MIB || spec->memory_mib > VS_VM_MAX_MEMORY_MIB)) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'memory' must be between %d and %d MiB",
                    VS_VM_MIN_MEMORY_MIB, VS_VM_MAX_MEMORY_MIB);
        return false;
    }
    if (spec->cpus > VS_VM_MAX_CPUS) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'cpus' must be between 1 and %d",
                    VS_VM_MAX_CPUS);
        return false;
    }
    if (spec->disk_gib > VS_VM_MAX_DISK_GIB) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'disk' must be between 1 and %d GiB",
                    VS_VM_MAX_DISK_GIB);
        return false;
    }
    if (spec->hugepages && !hugepages_possible(error))
        return false;
    if (spec->image) {
        if (!g_path_is_absolute(spec->image) || strstr(spec->image, "/../") ||
            g_str_has_suffix(spec->image, "/..") || strstr(spec->image, "/./")) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "field 'image' must be an absolute path without '.' or '..' parts");
            return false;
        }
        if (!g_file_test(spec->image, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'image': %s %s", spec->image,
                        g_file_test(spec->image, G_FILE_TEST_EXISTS) ? "is not a regular file"
                                                                      : "does not exist");
            return false;
        }
        g_autofree char *real = realpath(spec->image, NULL);
        if (!real) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID, "field 'image': %s: %s", spec->image,
                        g_strerror(errno));
            return false;
        }
        /* (the overlay names REAL: QEMU follows the chain from there) */
        if (!outside_state(spec->image, real, error) ||
            !backing_chain_outside_state(real, real, error))
            return false;
        /* Another format would be the overlay's raw backing: the guest
         * would see the container's bytes as its disk. */
        const char *other = vs_image_other_format(real);
        if (other) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "field 'image': %s is a %s image; virtsnap takes raw and qcow2 images "
                        "(convert it: qemu-img convert -O qcow2 %s <new file>)",
                        spec->image, other, spec->image);
            return false;
        }
        /* An overlay smaller than its image would show the guest a disk
         * cut off at its end. */
        guint64 size = 0;
        if (!vs_image_virtual_size(real, &size) || size == 0) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "field 'image': %s is empty or cannot be read", spec->image);
            return false;
        }
        if (spec->disk_gib && spec->disk_gib * G_GUINT64_CONSTANT(1073741824) < size) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "field 'disk': %" G_GUINT64_FORMAT " GiB is smaller than image %s "
                        "(%.1f GiB): the guest would see its disk cut off; give at least %"
                        G_GUINT64_FORMAT " or leave 'disk' out",
                        spec->disk_gib, spec->image, (double)size / 1073741824.0,
                        (size + G_GUINT64_CONSTANT(1073741823)) / G_GUINT64_CONSTANT(1073741824));
            return false;
        }
        /* what was checked is what the overlay will name: the file a link
         * led to now, not whatever it leads to later */
        *image_real = g_steal_pointer(&real);
    }
    return true;
}

/* Guest RAM on huge pages or not: <memoryBacking><hugepages/> in DOMAIN. */
static void set_hugepages(xmlNode *domain, bool on)
{
    xmlNode *backing = vs_xml_child(domain, "memoryBacking");
    if (!backing && !on)
        return;
    if (!backing)
        backing = xmlNewChild(domain, NULL, (const xmlChar *)"memoryBacking", NULL);
    for (xmlNode *n = backing->children, *next; n; n = next) {
        next = n->next;
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, (const xmlChar *)"hugepages")) {
            xmlUnlinkNode(n);
            xmlFreeNode(n);
        }
    }
    if (on)
        xmlNewChild(backing, NULL, (const xmlChar *)"hugepages", NULL);
    else if (!xmlFirstElementChild(backing)) {
        xmlUnlinkNode(backing);
        xmlFreeNode(backing);
    }
}

/* The domain definition of a new VM, built with the tree API. */
static char *build_domain_xml(const VsVmSpec *spec, const char *uuid, const char *disk_path,
                              const char *log_path, const char *vnc_path)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *dom = xmlNewNode(NULL, (const xmlChar *)"domain");
    xmlDocSetRootElement(doc, dom);
    xmlNewProp(dom, (const xmlChar *)"type", (const xmlChar *)vs_hv_domain_type());
    vs_xml_set_child_text(dom, "name", spec->name);
    vs_xml_set_child_text(dom, "uuid", uuid);
    g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, spec->memory_mib);
    xmlNewProp(vs_xml_set_child_text(dom, "memory", mem), (const xmlChar *)"unit",
               (const xmlChar *)"MiB");
    xmlNewProp(vs_xml_set_child_text(dom, "currentMemory", mem), (const xmlChar *)"unit",
               (const xmlChar *)"MiB");
    if (spec->hugepages)
        set_hugepages(dom, true);
    g_autofree char *cpus = g_strdup_printf("%u", spec->cpus);
    vs_xml_set_child_text(dom, "vcpu", cpus);

    xmlNode *os = xmlNewChild(dom, NULL, (const xmlChar *)"os", NULL);
    xmlNode *type = xmlNewTextChild(os, NULL, (const xmlChar *)"type", (const xmlChar *)"hvm");
    xmlNewProp(type, (const xmlChar *)"arch", (const xmlChar *)"x86_64");
    xmlNewProp(xmlNewChild(os, NULL, (const xmlChar *)"boot", NULL), (const xmlChar *)"dev",
               (const xmlChar *)"hd");
    xmlNode *features = xmlNewChild(dom, NULL, (const xmlChar *)"features", NULL);
    xmlNewChild(features, NULL, (const xmlChar *)"acpi", NULL);
    vs_xml_set_child_text(dom, "on_poweroff", "destroy");
    vs_xml_set_child_text(dom, "on_reboot", "restart");
    vs_xml_set_child_text(dom, "on_crash", "destroy");

    xmlNode *devices = xmlNewChild(dom, NULL, (const xmlChar *)"devices", NULL);
    xmlNode *disk = xmlNewChild(devices, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(disk, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNewProp(disk, (const xmlChar *)"device", (const xmlChar *)"disk");
    xmlNode *driver = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(driver, (const xmlChar *)"name", (const xmlChar *)"qemu");
    xmlNewProp(driver, (const xmlChar *)"type", (const xmlChar *)"qcow2");
    xmlNewProp(xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL), (const xmlChar *)"file",
               (const xmlChar *)disk_path);
    xmlNode *target = xmlNewChild(disk, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(target, (const xmlChar *)"dev", (const xmlChar *)"vda");
    xmlNewProp(target, (const xmlChar *)"bus", (const xmlChar *)"virtio");

    xmlNode *serial = xmlNewChild(devices, NULL, (const xmlChar *)"serial", NULL);
    xmlNewProp(serial, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNode *source = xmlNewChild(serial, NULL, (const xmlChar *)"source", NULL);
    xmlNewProp(source, (const xmlChar *)"path", (const xmlChar *)log_path);
    xmlNewProp(source, (const xmlChar *)"append", (const xmlChar *)"on");
    xmlNewProp(xmlNewChild(serial, NULL, (const xmlChar *)"target", NULL), (const xmlChar *)"port",
               (const xmlChar *)"0");

    xmlNode *vnc = xmlNewChild(devices, NULL, (const xmlChar *)"graphics", NULL);
    /* VNC on a unix socket: local only, and no TCP port to collide with
     * another libvirt instance's choice. */
    xmlNewProp(vnc, (const xmlChar *)"type", (const xmlChar *)"vnc");
    xmlNewProp(vnc, (const xmlChar *)"socket", (const xmlChar *)vnc_path);
    xmlNewProp(xmlNewChild(devices, NULL, (const xmlChar *)"memballoon", NULL),
               (const xmlChar *)"model", (const xmlChar *)"none");
    return vs_xml_to_string(doc);
}

/* What libvirt's domain capabilities are asked about: the VM's emulator,
 * architecture, machine type and virtualization type (NULL: the defaults). */
typedef struct {
    const char *emulator, *arch, *machine, *type;
} VmKind;

/* Whether a VM of KIND can have CPUS vcpus, as libvirt's domain
 * capabilities say (QEMU's default pc machine takes 255; with KVM the host
 * may take fewer); where they cannot be read (the test driver has none),
 * libvirt's definition decides. */
static bool cpus_fit(virConnectPtr conn, const VmKind *kind, guint cpus, GError **error)
{
    if (cpus <= 1)
        return true;
    g_autofree char *caps = virConnectGetDomainCapabilities(conn, kind->emulator, kind->arch,
                                                            kind->machine, kind->type, 0);
    g_autoptr(xmlDoc) doc = caps ? vs_xml_parse(caps, NULL) : NULL;
    long long max = doc ? vs_xml_int(doc, NULL, "/domainCapabilities/vcpu/@max", 0) : 0;
    if (max <= 0 || cpus <= max)
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                "field 'cpus': %u is more than the %lld this host and the machine type %s take",
                cpus, max, kind->machine ? kind->machine : "(the default)");
    return false;
}

/* cpus_fit for the VM defined by DOC. */
static bool cpus_fit_vm(virConnectPtr conn, xmlDoc *doc, guint cpus, GError **error)
{
    if (cpus <= 1)
        return true; /* (nothing to ask) */
    const char *xpaths[] = {"string(/domain/devices/emulator)", "string(/domain/os/type/@arch)",
                            "string(/domain/os/type/@machine)", "string(/domain/@type)"};
    char *values[G_N_ELEMENTS(xpaths)];
    for (size_t i = 0; i < G_N_ELEMENTS(xpaths); i++) {
        values[i] = vs_xml_string(doc, NULL, xpaths[i]);
        if (values[i] && !*values[i])
            g_clear_pointer(&values[i], g_free);
    }
    const VmKind kind = {values[0], values[1], values[2], values[3]};
    bool fits = cpus_fit(conn, &kind, cpus, error);
    for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
        g_free(values[i]);
    return fits;
}

/* Defines the VM of XML, or sets ERROR: libvirt's reason, a name another
 * client took meanwhile (CONFLICT), or a call that broke off with the
 * connection (UNAVAILABLE: libvirt may have defined it). */
static virDomainPtr define_xml(virConnectPtr conn, const char *name, const char *xml,
                               GError **error)
{
    /* (a test's fault: a definition libvirt refuses) */
    const char *defined = vs_fault_fails("define") ? "<domain/>" : xml;
    virDomainPtr dom = virDomainDefineXML(conn, defined);
    if (dom)
        return dom;
    /* libvirt's reason, before the look-up for a race replaces it */
    vs_hv_set_error_from(virSaveLastError(), error, "cannot define VM '%s'", name);
    g_autoptr(virDomain) raced = vs_hv_broke_off(error) ? NULL : virDomainLookupByName(conn, name);
    if (raced) {
        g_clear_error(error);
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "a VM named '%s' already exists", name);
    }
    return NULL;
}

/* vs_vm_create's work once SPEC's name is held. A "create" journal record
 * covers it from the disk's creation to the definition, so that neither a
 * crash nor a define that broke off with the connection leaves a disk
 * without its VM, or removes the disk of a VM libvirt did define. */
static VsVm *define_new_vm(virConnectPtr conn, const VsVmSpec *spec, GError **error)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *stem = g_strdup_printf("%s-vda", uuid);
    g_autofree char *disk_path = vs_image_new_path(stem);
    g_autofree char *log_name = g_strdup_printf("%s.serial.log", uuid);
    g_autofree char *log_path = g_build_filename(vs_hv_logs_dir(), log_name, NULL);
    g_autofree char *vnc_name = g_strdup_printf("%s.vnc", uuid);
    g_autofree char *vnc_path = g_build_filename(vs_hv_vnc_dir(), vnc_name, NULL);
    g_autofree char *xml = build_domain_xml(spec, uuid, disk_path, log_path, vnc_path);
    VsJournal *journal = vs_journal_begin("create", uuid, error);
    if (!journal)
        return NULL;
    const char *files[] = {disk_path, log_path};
    vs_journal_set_list(journal, "files", files, G_N_ELEMENTS(files));
    /* A request for the new VM, once it can be found, waits for the end. */
    VsVmLock *lock = vs_vmlock_for(uuid);
    vs_vmlock_acquire(lock);
    g_autoptr(virDomain) dom = NULL;
    bool began = vs_journal_commit(journal, error) &&
                 vs_image_create(disk_path, spec->disk_gib, spec->image, error);
    if (began)
        vs_fault_point("create-before-define");
    if (began && !(dom = define_xml(conn, spec->name, xml, error)) && vs_hv_broke_off(error)) {
        g_autofree char *what = g_strdup_printf("VM '%s' being created", spec->name);
        g_autoptr(virConnect) back = NULL;
        if (vs_journal_settle(&journal, what, error) == VS_JOURNAL_UNDONE)
            g_prefix_error(error, "VM '%s' was not created, nothing of it is left: ", spec->name);
        else if (!*error && (back = vs_hv_connect(error)) &&
                 !(dom = virDomainLookupByUUIDString(back, uuid)))
            vs_hv_set_error(error, "VM '%s' was created, but cannot be looked up", spec->name);
    } else if (!dom) { /* (a disk qemu-img left half made, too) */
        g_unlink(disk_path);
    }
    if (dom)
        vs_fault_point("create-after-define");
    vs_journal_end(journal);
    /* The answer is read before the lock goes: a delete queued behind the
     * create must not turn a VM made into an error. */
    VsVm *vm = dom ? vm_from_domain(dom, error) : NULL;
    vs_vmlock_release(lock);
    if (dom)
        vs_info("defined VM '%s' (%s) with disk %s", spec->name, uuid, disk_path);
    if (dom && !vm)
        g_prefix_error(error, "VM '%s' was created, but cannot be read back: ", spec->name);
    return vm;
}

VsVm *vs_vm_create(const VsVmSpec *in, GError **error)
{
    VsVmSpec spec = *in;
    spec.memory_mib = spec.memory_mib ? spec.memory_mib : VS_VM_DEFAULT_MEMORY_MIB;
    spec.cpus = spec.cpus ? spec.cpus : VS_VM_DEFAULT_CPUS;
    spec.disk_gib = spec.disk_gib || spec.image ? spec.disk_gib : VS_VM_DEFAULT_DISK_GIB;
    g_autofree char *image = NULL;
    if (!vs_vm_spec_check(&spec, &image, error))
        return NULL;
    spec.image = image; /* resolved once, as checked */
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    const VmKind kind = {.arch = "x86_64", .type = vs_hv_domain_type()}; /* as defined */
    if ((spec.image && !vs_inuse_image_free(conn, spec.image, error)) ||
        !cpus_fit(conn, &kind, spec.cpus, error) ||
        !vs_vmname_hold(conn, spec.name, error))
        return NULL;
    VsVm *vm = define_new_vm(conn, &spec, error);
    vs_vmname_release(spec.name);
    return vm;
}

/* Memory and CPUs: edit the persistent definition (applies at next start). */
/* Changes DOM's memory, CPUs and huge pages as CHANGE says; *BEFORE (when
 * given) gets the definition as it was, to be put back. */
static bool change_resources(virConnectPtr conn, virDomainPtr dom, const VsVmChange *change,
                             char **before, GError **error)
{
    if (virDomainIsPersistent(dom) != 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is transient: its memory and CPUs cannot be changed",
                    virDomainGetName(dom));
        return false;
    }
    g_autoptr(xmlDoc) doc =
        vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE, error);
    if (!doc || !cpus_fit_vm(conn, doc, change->cpus, error))
        return false;
    if (before)
        *before = vs_xml_to_string(doc);
    xmlNode *root = xmlDocGetRootElement(doc);
    if (change->memory_mib) {
        g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, change->memory_mib);
        xmlNode *nodes[] = {vs_xml_set_child_text(root, "memory", mem),
                            vs_xml_set_child_text(root, "currentMemory", mem)};
        for (size_t i = 0; i < G_N_ELEMENTS(nodes); i++)
            xmlSetProp(nodes[i], (const xmlChar *)"unit", (const xmlChar *)"MiB");
    }
    if (change->cpus) {
        g_autofree char *cpus = g_strdup_printf("%u", change->cpus);
        xmlNode *vcpu = vs_xml_set_child_text(root, "vcpu", cpus);
        xmlUnsetProp(vcpu, (const xmlChar *)"current");
    }
    if (change->hugepages != VS_HUGEPAGES_KEEP)
        set_hugepages(root, change->hugepages == VS_HUGEPAGES_ON);
    g_autofree char *xml = vs_xml_to_string(doc);
    g_autoptr(virDomain) redefined = virDomainDefineXML(conn, xml);
    if (!redefined) {
        vs_hv_set_error(error, "cannot change VM '%s'", virDomainGetName(dom));
        return false;
    }
    return true;
}

static bool shut_off_to_rename(virDomainPtr dom, GError **error)
{
    if (virDomainIsActive(dom) == 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is running: shut it off before renaming it", virDomainGetName(dom));
        return false;
    }
    return true;
}

/* Whether DOM may take NEW_NAME now (checked before any part of a change);
 * if so, NEW_NAME is held (released by vs_vm_update once the rename has
 * ended). */
static bool rename_allowed(virConnectPtr conn, virDomainPtr dom, const char *new_name,
                           GError **error)
{
    return shut_off_to_rename(dom, error) && vs_vmname_hold(conn, new_name, error);
}

/* A rename that broke off with the connection: once libvirt is back, the
 * snapshot tree is redefined under the name the VM has then (journal.c).
 * True if that is NEW_NAME (libvirtd renamed it); else ERROR says the VM
 * was not renamed, or that this is not known. */
static bool settle_rename(const char *uuid, const char *old_name, const char *new_name,
                          VsJournal **journal, GError **error)
{
    g_autofree char *what = g_strdup_printf("rename of VM '%s' to '%s'", old_name, new_name);
    if (vs_journal_settle(journal, what, error) != VS_JOURNAL_DONE)
        return false;
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    g_autoptr(virDomain) dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    if (dom && strcmp(virDomainGetName(dom), new_name) == 0)
        return true;
    if (dom)
        g_set_error(error, VS_ERROR, VS_ERR_UNAVAILABLE,
                    "VM '%s' was not renamed: the connection to libvirt broke off (its "
                    "snapshots are as they were)", old_name);
    else if (conn)
        vs_hv_set_error(error, "VM '%s' cannot be found after the connection broke off",
                        old_name);
    return false;
}

/* libvirt refuses to rename a domain with snapshots: carry the tree over by
 * saving it, dropping the metadata, renaming and redefining it. */
static bool rename_domain(virDomainPtr dom, const char *new_name, GError **error)
{
    g_autofree char *old_name = g_strdup(virDomainGetName(dom));
    if (!shut_off_to_rename(dom, error))
        return false;
    g_autoptr(VsSnapshotTree) tree = vs_snapshot_tree_save(dom, error);
    g_autofree char *uuid = vs_hv_uuid(dom);
    VsJournal *journal = tree ? vs_journal_begin("rename", uuid, error) : NULL;
    if (!journal)
        return false;
    vs_journal_set_tree(journal, tree->xml, tree->current);
    if (!vs_journal_commit(journal, error)) {
        vs_journal_end(journal);
        return false;
    }
    /* The drop may fail part-way: what it reached is defined again below. */
    bool renamed = false;
    if (vs_snapshot_discard_metadata(dom, error)) {
        vs_fault_point("rename-after-discard");
        renamed = !vs_fault_fails("rename") && virDomainRename(dom, new_name, 0) == 0;
        vs_fault_point("rename-after-rename");
        if (!renamed)
            vs_hv_set_error(error, "cannot rename VM '%s'", old_name);
    }
    /* Whatever the rename came to, the saved tree's snapshots the VM lacks
     * now are defined again under the name it has; those still there stay. */
    VsDomainRewrite rewrite = {.name = renamed ? new_name : old_name};
    g_autoptr(GError) restore_error = NULL;
    bool whole = false;
    if (!vs_hv_broke_off(error))
        whole = vs_snapshot_tree_define_missing(dom, tree, &rewrite, &restore_error) >= 0;
    bool ok = renamed && whole;
    if (!whole && (vs_hv_broke_off(error) || vs_hv_broke_off(&restore_error))) {
        /* Broke off: the tree is restored once libvirt is back. */
        if (!vs_hv_broke_off(error)) {
            g_clear_error(error);
            g_propagate_error(error, g_steal_pointer(&restore_error));
        }
        ok = settle_rename(uuid, old_name, new_name, &journal, error);
    } else if (!whole) {
        /* libvirt refused the tree back: never end the record that holds it. */
        vs_error("VM '%s': cannot define its snapshots again: %s", rewrite.name,
                 restore_error->message);
        g_clear_error(error);
        g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                    "VM '%s' %s, but libvirt did not take all of its snapshots back (%s); "
                    "virtsnapd defines the missing ones again in the background",
                    old_name, renamed ? "was renamed" : "was not renamed",
                    restore_error->message);
        vs_journal_keep(&journal);
    }
    vs_journal_end(journal);
    return ok;
}

/* A rename that failed after the memory, CPUs or huge pages were changed:
 * the definition as it was BEFORE is put back, if the VM (UUID) still has
 * its old NAME, so that a failed change leaves nothing of itself. */
static void put_back(const char *uuid, const char *name, const char *before)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL); /* a settled rename reconnected */
    g_autoptr(virDomain) now = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    if (now && strcmp(virDomainGetName(now), name) != 0)
        return; /* renamed after all: the whole change stands */
    g_autoptr(virDomain) redefined = now ? virDomainDefineXML(conn, before) : NULL;
    if (!redefined)
        vs_error("VM '%s' was not renamed, and its memory and CPUs could not be put back: %s",
                 name, conn ? virGetLastErrorMessage() : "no connection to libvirt");
}

VsVm *vs_vm_update(const char *name, const VsVmChange *change, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    VsVmLock *lock = NULL;
    g_autoptr(virDomain) dom = vs_vmlock_domain(conn, name, &lock, error);
    if (!dom)
        return NULL;
    g_autofree char *uuid = vs_hv_uuid(dom);
    bool renaming = change->name && strcmp(change->name, name) != 0;
    /* A rename that will be refused must not leave the other changes made. */
    bool held = renaming && rename_allowed(conn, dom, change->name, error);
    bool ok = !renaming || held;
    if (ok && change->hugepages == VS_HUGEPAGES_ON)
        ok = hugepages_possible(error);
    g_autofree char *before = NULL; /* put back should the rename fail */
    if (ok && (change->memory_mib || change->cpus || change->hugepages != VS_HUGEPAGES_KEEP))
        ok = change_resources(conn, dom, change, renaming ? &before : NULL, error);
    if (ok && renaming && !rename_domain(dom, change->name, error)) {
        ok = false;
        if (before)
            put_back(uuid, name, before);
    }
    if (held)
        vs_vmname_release(change->name);
    /* The answer is read before the lock goes, as vs_vm_act's: a delete
     * queued behind this change must not turn it into a 404. */
    g_autoptr(virConnect) now = ok ? vs_hv_connect(error) : NULL; /* a settled rename reconnected */
    g_autoptr(virDomain) fresh = now ? virDomainLookupByUUIDString(now, uuid) : NULL;
    const char *now_named = ok && change->name ? change->name : name;
    if (now && !fresh && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        vs_hv_set_error(error, "VM '%s' vanished", now_named);
    else if (now && !fresh) /* (the connection broke: 503) */
        vs_hv_set_error(error, "cannot look VM '%s' up", now_named);
    VsVm *answer = fresh ? vm_from_domain(fresh, error) : NULL;
    if (ok && !answer) /* (done: a client must not take it for not done) */
        g_prefix_error(error, "VM '%s' was changed, but cannot be read back: ", now_named);
    vs_vmlock_release(lock);
    return answer;
}

/* The files a delete of DOM removes: the disk images virtsnap made for it
 * (those under STATE/images; those another VM uses are dropped right
 * before they would go, vs_vm_delete), its serial log and VNC socket, from
 * its definition (the persistent one of a PERSISTENT VM). *FIRST_DISK: the
 * disk its kept snapshots are described with, its first of virtsnap's, else
 * its first in a file (NULL if it has none). */
static GPtrArray *files_to_remove(virDomainPtr dom, bool persistent, char **first_disk,
                                  GError **error)
{
    unsigned int flags = persistent ? VIR_DOMAIN_XML_INACTIVE : 0;
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, flags, error);
    if (!doc)
        return NULL;
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) nodes =
        vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk']/source/@file");
    for (guint i = 0; i < nodes->len; i++) {
        xmlChar *path = xmlNodeGetContent(g_ptr_array_index(nodes, i));
        bool owned = vs_image_is_owned((const char *)path);
        if (!*first_disk || (owned && !vs_image_is_owned(*first_disk))) {
            g_free(*first_disk);
            *first_disk = g_strdup((const char *)path);
        }
        if (owned)
            g_ptr_array_add(paths, g_strdup((const char *)path));
        xmlFree(path);
    }
    g_autofree char *log = vs_xml_string(doc, NULL,
                                         "string(/domain/devices/serial[@type='file']/source/@path)");
    if (vs_path_is_inside(log, vs_hv_logs_dir()))
        g_ptr_array_add(paths, g_steal_pointer(&log));
    /* QEMU leaves its VNC socket file behind when it ends. */
    g_autofree char *vnc = vs_xml_string(doc, NULL,
                                         "string(/domain/devices/graphics[@type='vnc']/@socket)");
    if (vs_path_is_inside(vnc, vs_hv_vnc_dir()))
        g_ptr_array_add(paths, g_steal_pointer(&vnc));
    return paths;
}

/* A delete libvirt refused part-way whose dropped snapshots it did not
 * take back either: the delete's record *JOURNAL becomes the tree's
 * ("restore", replaced in one rename and synced), kept, so that the
 * missing snapshots are defined again in the background, as after a
 * rename's refusal, and their metadata is not lost with the record. ERROR
 * (the delete's) says so. */
static void hand_tree_on(VsJournal **journal, const VsSnapshotTree *tree, const char *name,
                         GError **error)
{
    vs_journal_set(*journal, "kind", "restore");
    vs_journal_set_tree(*journal, tree->xml, tree->current);
    g_autoptr(GError) unwritten = NULL;
    if (!vs_journal_commit(*journal, &unwritten)) {
        vs_error("VM '%s': the snapshots libvirt did not take back are lost (their saved tree "
                 "cannot be written: %s)", name, unwritten->message);
        return;
    }
    vs_journal_keep(journal);
    char *told = g_strdup_printf("%s; libvirt did not take all of its snapshots back at once: "
                                 "virtsnapd defines the missing ones again in the background",
                                 (*error)->message);
    g_free((*error)->message);
    (*error)->message = told;
}

bool vs_vm_delete(const char *name, bool keep_disks, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return false;
    VsVmLock *lock = NULL;
    g_autoptr(virDomain) dom = vs_vmlock_domain(conn, name, &lock, error);
    if (!dom)
        return false;
    g_autofree char *uuid = vs_hv_uuid(dom);
    /* The files to remove come from the definition: unread (the connection
     * broke), the delete would strand them, so it does not start. */
    int persistence = virDomainIsPersistent(dom);
    if (persistence < 0)
        vs_hv_set_error(error, "cannot read VM '%s'", name);
    bool persistent = persistence == 1;
    g_autofree char *first_disk = NULL;
    g_autoptr(GPtrArray) files =
        persistence >= 0 ? files_to_remove(dom, persistent, &first_disk, error) : NULL;
    /* The snapshot tree, read once: for kept disks, and to be defined again
     * should libvirt refuse the delete part-way. */
    g_autoptr(VsSnapshotTree) tree = files ? vs_snapshot_tree_save(dom, error) : NULL;
    if (!tree)
        g_clear_pointer(&files, g_ptr_array_unref);
    /* Kept disks keep their snapshots' names, XML and memory files with
     * them (keep.h), written before anything goes: into a directory made
     * first (its name taken), which the record names as being written
     * ("describing") until it is whole. A crash meanwhile removes it at
     * the next start, the VM untouched; the record that says it is whole
     * is synced, so that a power cut does not bring "describing" back. */
    g_autoptr(VsKeptSnapshots) kept =
        files && keep_disks ? vs_kept_read(name, uuid, tree, error) : NULL;
    g_autofree char *kept_dir = kept ? vs_kept_dir(kept, first_disk, error) : NULL;
    if (keep_disks && !kept_dir)
        g_clear_pointer(&files, g_ptr_array_unref);
    bool describes = kept_dir && *kept_dir;
    if (describes)
        vs_fault_point("delete-dir-made"); /* (a kill here leaves it empty: vs_kept_sweep_empty) */
    VsJournal *journal = files ? vs_journal_begin("delete", uuid, error) : NULL;
    bool ok = journal != NULL;
    if (ok) {
        vs_journal_set_list(journal, "files", (const char *const *)files->pdata, files->len);
        vs_journal_set(journal, "keep_disks", keep_disks ? "true" : "false");
        vs_journal_set(journal, "name", name); /* (for what a recovery says) */
        vs_journal_set(journal, "describing", kept_dir);
        /* (synced when it names a description: that must not outlive it) */
        ok = describes ? vs_journal_commit_durable(journal, error)
                       : vs_journal_commit(journal, error);
    }
    bool recorded = ok;
    bool written = false; /* (a description not written whole is removed by vs_kept_write) */
    if (ok && describes) {
        ok = written = vs_kept_write(kept, kept_dir, first_disk, error);
        vs_fault_point("delete-described");
        vs_journal_set(journal, "describing", NULL);
        ok = ok && vs_journal_commit_durable(journal, error);
    }
    /* Not begun (the record or the description could not be written): the
     * directory goes before the record, which still says "describing". */
    if (!ok && describes && (!recorded || written))
        vs_kept_discard(kept_dir);
    bool began = ok;
    /* Powered off and undefined with the snapshots' metadata (a transient
     * one loses its metadata first); a refusal part-way defines what went
     * of the tree again. The snapshots' contents stay inside the images
     * (deleted below unless kept). */
    bool restored = true;
    ok = ok && vs_snapshot_remove_domain(dom, tree, persistent, keep_disks, NULL, &restored, error);
    /* Another client may start the VM between its power-off and the
     * undefine, which then leaves it running, transient: its disks are in
     * use and stay. */
    g_autoptr(virDomain) still = ok ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    if (still) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' was started by another libvirt client while it was being deleted: "
                    "it runs on, transient, with its disks and snapshots; power it off and "
                    "delete it again", name);
        ok = false;
    }
    /* Broke off half-way (some snapshots' metadata dropped, say): finished
     * once libvirt is back, as asked, so that nothing is left stranded. */
    bool settled = false;
    if (!ok && journal && vs_hv_broke_off(error)) {
        g_autofree char *what = g_strdup_printf("delete of VM '%s'", name);
        settled = vs_journal_settle(&journal, what, error) == VS_JOURNAL_DONE;
        ok = settled;
        if (settled)
            vs_definition_forget(uuid);
    }
    /* The images another VM uses stay (another tool gave it one of them,
     * or an overlay over one), looked at right before they would go, the VM
     * gone. Not known for a broken connection: they go once libvirt can
     * say, by the record, as after a crash (only its files: files_only);
     * for another failure they stay, said. The VM is deleted all the same. */
    g_autoptr(GError) unscanned = NULL;
    bool removing = ok && !settled;
    bool scanned = removing &&
                   (keep_disks || vs_inuse_keep_images(conn, name, uuid, files, &unscanned));
    bool later = removing && !scanned && vs_hv_broke_off(&unscanned);
    if (later) {
        g_autofree char *what = g_strdup_printf("removing the files of deleted VM '%s'", name);
        vs_journal_set(journal, "files_only", "true");
        if (vs_journal_settle(&journal, what, &unscanned) != VS_JOURNAL_DONE)
            vs_warn("VM '%s' is deleted; its files are removed once libvirt answers again", name);
    } else if (removing && !scanned) {
        vs_warn("VM '%s' is deleted, but its images stay (virtsnapd cannot tell whether other "
                "VMs use them): %s", name, unscanned->message);
    }
    if (removing) {
        vs_snapshot_forget_vm(uuid);
        vs_definition_forget(uuid);
    }
    for (guint i = 0; removing && !later && i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        bool is_log = vs_path_is_inside(path, vs_hv_logs_dir()) ||
                      vs_path_is_inside(path, vs_hv_vnc_dir());
        /* (not scanned: the logs only) */
        if (((scanned && !keep_disks) || is_log) && g_unlink(path) != 0 &&
            g_file_test(path, G_FILE_TEST_EXISTS))
            vs_warn("VM '%s' deleted but %s could not be removed", name, path);
    }
    if (ok && kept_dir && *kept_dir)
        vs_info("deleted VM '%s' (disks kept; their snapshots are described in %s)", name,
                kept_dir);
    else if (ok)
        vs_info("deleted VM '%s'%s", name, keep_disks ? " (disks kept)" : "");
    if (!ok && began && !restored && journal && !vs_hv_broke_off(error))
        hand_tree_on(&journal, tree, name, error);
    vs_journal_end(journal);
    /* Not deleted (libvirt refused): what was kept for the disks goes,
     * once no record could finish the delete at a restart. Not known (the
     * connection stayed away), or the snapshots not all defined again: it
     * stays, the one description of them left. */
    if (!ok && began && describes && !vs_hv_broke_off(error) && restored)
        vs_kept_discard(kept_dir);
    vs_vmlock_release(lock);
    return ok;
}

bool vs_vm_action_allowed(VsVmAction action, int state, bool active, const char **need)
{
    /* BLOCKED: a running guest whose vCPUs wait for a resource. */
    bool running = state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED;
    switch (action) {
    /* NEED in the API's state names, as the refusal quotes the state. */
    case VS_VM_START: *need = "shutoff"; return !active;
    case VS_VM_POWEROFF: *need = "active (running, paused, blocked, crashed...)"; return active;
    case VS_VM_SHUTDOWN: *need = "running or blocked"; return active && running;
    case VS_VM_SUSPEND: *need = "running or blocked"; return active && running;
    case VS_VM_RESUME: *need = "paused"; return active && state == VIR_DOMAIN_PAUSED;
    }
    return false;
}

static int run_action(virDomainPtr dom, VsVmAction action)
{
    switch (action) {
    case VS_VM_START: return virDomainCreate(dom);
    case VS_VM_POWEROFF: return virDomainDestroy(dom);
    case VS_VM_SHUTDOWN: return virDomainShutdown(dom);
    case VS_VM_SUSPEND: return virDomainSuspend(dom);
    case VS_VM_RESUME: return virDomainResume(dom);
    }
    return -1;
}

static const char *action_name(VsVmAction action)
{
    static const char *names[] = {"start", "power off", "shut down", "suspend", "resume"};
    return names[action];
}

/* Powering off or shutting down a transient VM ends it, and with it the
 * snapshot metadata: refuse unless the caller agreed to discard them. A
 * power off drops them first; a shutdown leaves them to libvirt, which
 * drops a transient domain's snapshot metadata when the guest has shut
 * down, so that a guest that ignores the request keeps them. */
static bool transient_guard(virDomainPtr dom, VsVmAction action, bool discard, GError **error)
{
    if (action != VS_VM_POWEROFF && action != VS_VM_SHUTDOWN)
        return true;
    int persistent = virDomainIsPersistent(dom);
    if (persistent == 1)
        return true;
    /* Not known (libvirt did not answer): not taken for none, which would
     * let the metadata go unasked. */
    int count = persistent == 0 ? virDomainSnapshotNum(dom, 0) : -1;
    if (count < 0) {
        vs_hv_set_error(error, "cannot read whether VM '%s' has snapshots", virDomainGetName(dom));
        return false;
    }
    if (count == 0)
        return true;
    if (!discard) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is transient and has %d snapshot(s) whose metadata would be lost; "
                    "repeat with discard_snapshots=true to discard them",
                    virDomainGetName(dom), count);
        return false;
    }
    return true;
}

/* A VM whose RAM is on huge pages starts only when the host's pool has
 * enough free pages: say so plainly instead of QEMU's "cannot allocate". */
static bool hugepages_guard(virDomainPtr dom, GError **error)
{
    if (!vs_hv_is_local()) /* a remote host's pool is not ours to read */
        return true;
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, NULL);
    if (!doc || !vs_definition_hugepages(doc))
        return true;
    guint64 need = (guint64)MAX(vs_xml_int(doc, NULL, "string(/domain/memory)", 0), 0) * 1024 /* KiB */;
    guint64 free_bytes = vs_hugepages_free_bytes();
    if (need <= free_bytes)
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                "cannot start VM '%s': its RAM is on huge pages and needs %" G_GUINT64_FORMAT
                " MiB of them, but the host has %" G_GUINT64_FORMAT
                " MiB free (raise vm.nr_hugepages, or PUT {\"hugepages\": false})",
                virDomainGetName(dom), need >> 20, free_bytes >> 20);
    return false;
}

VsVm *vs_vm_act(const char *name, VsVmAction action, bool discard_snapshots, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    VsVmLock *lock = NULL;
    g_autoptr(virDomain) dom = vs_vmlock_domain(conn, name, &lock, error);
    if (!dom)
        return NULL;
    g_autofree char *uuid = vs_hv_uuid(dom);
    int state = VIR_DOMAIN_NOSTATE;
    const char *need = NULL;
    int active = -1;
    bool ok = virDomainGetState(dom, &state, NULL, 0) == 0 && (active = virDomainIsActive(dom)) >= 0;
    if (!ok)
        vs_hv_set_error(error, "cannot read the state of VM '%s'", name);
    else if (!vs_vm_action_allowed(action, state, active == 1, &need)) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "cannot %s VM '%s': it is %s, not %s",
                    /* e.g. "it is running, not shutoff": the states of GET /vms/<vm> */
                    action_name(action), name, state_name(state), need);
        ok = false;
    }
    ok = ok && transient_guard(dom, action, discard_snapshots, error);
    ok = ok && (action != VS_VM_START || hugepages_guard(dom, error));
    /* A transient VM ends with its power-off, or a shutdown the guest
     * finishes at once: the answer is then the VM as it was, shut off, with
     * no snapshots left (before, a shutdown's had no memory, CPUs or disks). */
    bool transient = ok && virDomainIsPersistent(dom) == 0;
    g_autoptr(VsVm) ending = NULL;
    if (transient && (action == VS_VM_POWEROFF || action == VS_VM_SHUTDOWN))
        ending = vm_from_domain(dom, NULL);
    if (transient && action == VS_VM_POWEROFF) {
        /* The tree in a record first: a crash between the metadata's drop
         * and the power-off finds the VM running, its snapshots defined
         * again by recovery (as after a rename's). */
        g_autoptr(VsSnapshotTree) tree = vs_snapshot_tree_save(dom, error);
        VsJournal *record = tree ? vs_journal_begin("poweroff", uuid, error) : NULL;
        bool whole = true;
        ok = record && vs_snapshot_remove_domain(dom, tree, false, false, record, &whole, error);
        /* defined again once libvirt is back, if the VM runs on; and a tree
         * libvirt refused back is never dropped with the record holding it */
        if (!ok && record && (vs_hv_broke_off(error) || !whole))
            vs_journal_keep(&record);
        vs_journal_end(record);
    } else if (ok && run_action(dom, action) < 0) {
        vs_hv_set_error(error, "cannot %s VM '%s'", action_name(action), name);
        ok = false;
    }
    /* The answer is read before the lock goes: a delete queued behind
     * this action must not turn it into a VM made up of nothing. */
    g_autoptr(virDomain) fresh = ok ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    VsVm *answer = NULL;
    if (fresh) {
        answer = vm_from_domain(fresh, error);
        if (!answer)
            g_prefix_error(error, "VM '%s' was asked to %s, but cannot be read back: ", name,
                           action_name(action));
    } else if (ok && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        /* done, but the VM cannot be read back (the connection broke):
         * not a made-up shut-off VM */
        vs_hv_set_error(error, "VM '%s' was asked to %s, but cannot be read back", name,
                        action_name(action));
    } else if (ok) { /* a transient VM that was powered off is gone: say so */
        vs_snapshot_forget_vm(uuid); /* and what virtsnapd kept of it */
        vs_definition_forget(uuid);
        answer = g_steal_pointer(&ending);
        if (!answer) { /* read before the power-off failed, or stopped from inside */
            answer = g_new0(VsVm, 1);
            answer->name = g_strdup(name);
            answer->uuid = g_steal_pointer(&uuid);
            answer->disks = g_ptr_array_new();
        }
        answer->state = "shutoff";
        g_free(answer->current_snapshot);
        answer->current_snapshot = g_strdup("");
        answer->snapshots = 0;
    }
    vs_vmlock_release(lock);
    return answer;
}
