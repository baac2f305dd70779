/* definition.c: a VM's definition as virtsnapd reads it, kept per UUID
 * with the marks it stays valid under, and read again ahead of need. */
#include "definition.h"

#include "vmlock.h"

void vs_disk_free(VsDisk *disk)
{
    g_free(disk->target);
    g_free(disk->path);
    g_free(disk->format);
    g_free(disk);
}

/* The disks the domain's XML declares, without their sizes. */
static GPtrArray *parse_disks(xmlDoc *doc)
{
    GPtrArray *disks = g_ptr_array_new_with_free_func((GDestroyNotify)vs_disk_free);
    g_autoptr(GPtrArray) nodes = vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk']");
    for (guint i = 0; i < nodes->len; i++) {
        xmlNode *node = g_ptr_array_index(nodes, i);
        VsDisk *disk = g_new0(VsDisk, 1);
        disk->target = vs_xml_string(doc, node, "string(target/@dev)");
        disk->path = vs_xml_string(doc, node, "string(source/@file|source/@dev|source/@name)");
        disk->format = vs_xml_string(doc, node, "string(driver/@type)");
        if (!disk->format)
            disk->format = g_strdup("raw");
        disk->readonly = vs_xml_child(node, "readonly") != NULL;
        g_autofree char *file = vs_xml_string(doc, node, "string(source/@file)");
        disk->is_file = file && *file;
        g_ptr_array_add(disks, disk);
    }
    return disks;
}

VsDisk *vs_disk_copy(const VsDisk *from)
{
    VsDisk *disk = g_new0(VsDisk, 1);
    disk->target = g_strdup(from->target ? from->target : "");
    disk->path = g_strdup(from->path);
    disk->format = g_strdup(from->format);
    disk->size = from->size;
    disk->readonly = from->readonly;
    disk->is_file = from->is_file;
    return disk;
}

bool vs_definition_hugepages(xmlDoc *doc)
{
    xmlNode *backing = vs_xml_child(xmlDocGetRootElement(doc), "memoryBacking");
    return vs_xml_child(backing, "hugepages") != NULL;
}

/* ---- what the definition says, kept between requests ---------------------- */

/* What a VM's view and a snapshot create's checks take from its domain XML
 * and its state. Fetching and parsing that XML was most of the cost of
 * GET /vms/<vm>, and on a libvirtd each call is a round trip. What was read
 * while the VM was quiet (no operation of ours under way or queued,
 * vmlock.h) stays true until:
 * - an operation of ours on it ends (the lock's count of ended ones);
 * - it starts or stops (its domain ID: another after every start);
 * - libvirt sends an event about it (vs_hv_domain_changes: started,
 *   stopped, paused, resumed, defined again by another client, a device
 *   added or removed, a block job…), or virtsnapd reconnects.
 * On the embedded driver and test:// nothing but virtsnapd changes a
 * domain's definition but for a device the guest unplugs (which the
 * events tell), and the first two are exact for the rest; the state
 * also changes by the guest (paused on an I/O error, powered off), which
 * the events tell. On a libvirtd other clients may change either, and the
 * events tell of it as soon as libvirt delivers them (they come after the
 * change); libvirt sends none for a disk-only external snapshot another
 * client takes (the disk's new file shows after the VM's next event). A
 * running VM shows its live definition. */

static GMutex definitions_lock;
static GHashTable *definitions; /* uuid → VsDefinition* */
typedef struct {
    VsDefinitionMarks marks;
    VsNextStart next;
} KeptNextStart;
static GHashTable *next_starts; /* uuid → KeptNextStart*, under DEFINITIONS_LOCK */

void vs_definition_free(VsDefinition *d)
{
    if (!d)
        return;
    g_free(d->serial_log);
    g_ptr_array_unref(d->disks);
    g_free(d);
}

static gint reads, keeps; /* atomic */

guint vs_definition_reads(void)
{
    return (guint)g_atomic_int_get(&reads);
}

guint vs_definition_keeps(void)
{
    return (guint)g_atomic_int_get(&keeps);
}

static VsDefinition *definition_read(virDomainPtr dom, GError **error)
{
    g_atomic_int_inc(&reads);
    int state = VIR_DOMAIN_NOSTATE;
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, 0, error);
    if (doc && virDomainGetState(dom, &state, NULL, 0) < 0) {
        vs_hv_set_error(error, "cannot read the state of VM '%s'", virDomainGetName(dom));
        g_clear_pointer(&doc, xmlFreeDoc);
    }
    return doc ? vs_definition_parse(doc, state) : NULL;
}

VsDefinition *vs_definition_parse(xmlDoc *doc, int state)
{
    VsDefinition *d = g_new0(VsDefinition, 1);
    d->state = state;
    d->hugepages = vs_definition_hugepages(doc);
    g_autofree char *loader = vs_xml_string(doc, NULL, "string(/domain/os/loader/@type)");
    g_autofree char *nvram = vs_xml_string(doc, NULL, "string(/domain/os/nvram/@format)");
    d->pflash = g_strcmp0(loader, "pflash") == 0 && g_strcmp0(nvram, "qcow2") != 0;
    d->serial_log = vs_xml_string(doc, NULL,
                                  "string(/domain/devices/serial[@type='file']/source/@path)");
    d->disks = parse_disks(doc);
    return d;
}

static VsDefinition *definition_copy(const VsDefinition *d)
{
    VsDefinition *copy = g_memdup2(d, sizeof *d);
    copy->serial_log = g_strdup(d->serial_log);
    copy->disks = g_ptr_array_new_full(d->disks->len, (GDestroyNotify)vs_disk_free);
    for (guint i = 0; i < d->disks->len; i++)
        g_ptr_array_add(copy->disks, vs_disk_copy(g_ptr_array_index(d->disks, i)));
    return copy;
}

/* The marks a definition of the VM read now would be valid under (false
 * when it cannot be kept now: an operation on it is under way or queued). */
static bool marks_now(VsVmLock *lock, virDomainPtr dom, const char *uuid, VsDefinitionMarks *marks)
{
    if (!vs_vmlock_quiet(lock, &marks->ended))
        return false;
    marks->id = virDomainGetID(dom); /* as the handle was looked up: no call to libvirt */
    marks->changes = vs_hv_domain_changes(uuid);
    return true;
}

static bool same_marks(const VsDefinitionMarks *a, const VsDefinitionMarks *b)
{
    return a->ended == b->ended && a->id == b->id && a->changes == b->changes;
}

VsDefinition *vs_definition_get(virDomainPtr dom, const char *uuid, GError **error)
{
    VsVmLock *lock = vs_vmlock_for(uuid);
    VsDefinitionMarks marks = {0}, marks_after = {0};
    if (!marks_now(lock, dom, uuid, &marks))
        return definition_read(dom, error);
    g_mutex_lock(&definitions_lock);
    VsDefinition *kept = definitions ? g_hash_table_lookup(definitions, uuid) : NULL;
    VsDefinition *copy = kept && same_marks(&kept->marks, &marks) ? definition_copy(kept) : NULL;
    g_mutex_unlock(&definitions_lock);
    if (copy)
        return copy;
    VsDefinition *read = definition_read(dom, error);
    if (read && marks_now(lock, dom, uuid, &marks_after) && same_marks(&marks, &marks_after)) {
        read->marks = marks;
        g_mutex_lock(&definitions_lock);
        if (!definitions)
            definitions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify)vs_definition_free);
        g_hash_table_replace(definitions, g_strdup(uuid), definition_copy(read));
        g_mutex_unlock(&definitions_lock);
        g_atomic_int_inc(&keeps);
    }
    return read;
}

/* ---- read ahead: a kept definition read again once stale ------------------ */

/* When an operation of ours on a VM ends, or libvirt tells of a change to
 * it, what was kept of it is stale: it is read again on a thread of its
 * own READ_AHEAD_DELAY_US after it was asked for (the events of one change
 * come in a burst), so that the next request finds it kept. Only VMs with
 * a kept definition are read again, one at a time, and only while no
 * operation on them runs (the end of one asks again). */
#define READ_AHEAD_DELAY_US (20 * 1000)

static GMutex read_ahead_lock;
static GThreadPool *read_ahead_pool;
static gint read_ahead_stopping; /* atomic: what is still queued returns at once */
static GHashTable *read_ahead_asked; /* uuid → gint64*: when asked, not yet taken */

static bool is_kept(const char *uuid)
{
    g_mutex_lock(&definitions_lock);
    bool kept = definitions && g_hash_table_contains(definitions, uuid);
    g_mutex_unlock(&definitions_lock);
    return kept;
}

static void read_ahead(gpointer data, gpointer unused)
{
    (void)unused;
    g_autofree char *uuid = data;
    if (g_atomic_int_get(&read_ahead_stopping))
        return;
    g_mutex_lock(&read_ahead_lock);
    gint64 *asked = read_ahead_asked ? g_hash_table_lookup(read_ahead_asked, uuid) : NULL;
    gint64 due = (asked ? *asked : 0) + READ_AHEAD_DELAY_US;
    g_mutex_unlock(&read_ahead_lock);
    gint64 wait = due - g_get_monotonic_time();
    if (wait > 0)
        g_usleep((gulong)wait);
    g_mutex_lock(&read_ahead_lock);
    if (read_ahead_asked)
        g_hash_table_remove(read_ahead_asked, uuid); /* a change from now on asks again */
    g_mutex_unlock(&read_ahead_lock);
    guint64 ended = 0;
    if (!is_kept(uuid) || !vs_vmlock_quiet(vs_vmlock_for(uuid), &ended))
        return; /* forgotten meanwhile, or not to be kept now */
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    g_autoptr(VsDefinition) def = dom ? vs_definition_get(dom, uuid, NULL) : NULL;
    virResetLastError();
}

/* The hooks (hv.h, vmlock.h): on libvirt's event thread, or the thread
 * that ended an operation. */
static void ask_read_ahead(const char *uuid)
{
    if (!is_kept(uuid)) /* a VM no request has looked at */
        return;
    g_mutex_lock(&read_ahead_lock);
    if (read_ahead_pool && !g_hash_table_contains(read_ahead_asked, uuid)) {
        g_hash_table_insert(read_ahead_asked, g_strdup(uuid),
                            g_memdup2(&(gint64){g_get_monotonic_time()}, sizeof(gint64)));
        g_thread_pool_push(read_ahead_pool, g_strdup(uuid), NULL);
    }
    g_mutex_unlock(&read_ahead_lock);
}

void vs_definition_read_ahead_start(void)
{
    g_atomic_int_set(&read_ahead_stopping, 0);
    g_mutex_lock(&read_ahead_lock);
    read_ahead_asked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    read_ahead_pool = g_thread_pool_new_full(read_ahead, NULL, g_free, 1, FALSE, NULL);
    g_mutex_unlock(&read_ahead_lock);
    vs_hv_set_change_hook(ask_read_ahead);
    vs_vmlock_set_quiet_hook(ask_read_ahead);
}

void vs_definition_read_ahead_stop(void)
{
    vs_hv_set_change_hook(NULL);
    vs_vmlock_set_quiet_hook(NULL);
    g_mutex_lock(&read_ahead_lock);
    GThreadPool *stopping = g_steal_pointer(&read_ahead_pool);
    g_mutex_unlock(&read_ahead_lock);
    /* Every queued ask is run, returning at once (its UUID freed), and the
     * read under way is waited for. With IMMEDIATE, a pool thread that has
     * just taken an item drops it without the free function
     * (g_thread_pool_thread_proxy): a leak ASan found. */
    g_atomic_int_set(&read_ahead_stopping, 1);
    if (stopping)
        g_thread_pool_free(stopping, FALSE, TRUE);
    g_mutex_lock(&read_ahead_lock);
    g_clear_pointer(&read_ahead_asked, g_hash_table_unref);
    g_mutex_unlock(&read_ahead_lock);
}

static bool next_start_read(virDomainPtr dom, VsNextStart *next)
{
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, NULL);
    if (!doc)
        return false;
    next->memory_mib = (guint64)MAX(vs_xml_int(doc, NULL, "string(/domain/memory)", 0), 0) /
                       1024; /* KiB, as libvirt writes it */
    long long cpus = vs_xml_int(doc, NULL, "string(/domain/vcpu/@current)", -1);
    if (cpus < 0) /* all of them, without a current count */
        cpus = vs_xml_int(doc, NULL, "string(/domain/vcpu)", 0);
    next->cpus = (guint)MAX(cpus, 0);
    next->hugepages = vs_definition_hugepages(doc);
    return true;
}

bool vs_definition_next_start(virDomainPtr dom, const char *uuid, VsNextStart *next)
{
    VsVmLock *lock = vs_vmlock_for(uuid);
    VsDefinitionMarks marks = {0}, marks_after = {0};
    if (!marks_now(lock, dom, uuid, &marks))
        return next_start_read(dom, next);
    g_mutex_lock(&definitions_lock);
    KeptNextStart *kept = next_starts ? g_hash_table_lookup(next_starts, uuid) : NULL;
    bool found = kept && same_marks(&kept->marks, &marks);
    if (found)
        *next = kept->next;
    g_mutex_unlock(&definitions_lock);
    if (found)
        return true;
    if (!next_start_read(dom, next))
        return false;
    if (marks_now(lock, dom, uuid, &marks_after) && same_marks(&marks, &marks_after)) {
        KeptNextStart *keep = g_new(KeptNextStart, 1);
        keep->marks = marks;
        keep->next = *next;
        g_mutex_lock(&definitions_lock);
        if (!next_starts)
            next_starts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_hash_table_replace(next_starts, g_strdup(uuid), keep);
        g_mutex_unlock(&definitions_lock);
    }
    return true;
}

void vs_definition_forget(const char *uuid)
{
    g_mutex_lock(&definitions_lock);
    if (definitions)
        g_hash_table_remove(definitions, uuid);
    if (next_starts)
        g_hash_table_remove(next_starts, uuid);
    g_mutex_unlock(&definitions_lock);
}

static gboolean not_in(gpointer uuid, gpointer value, gpointer uuids)
{
    (void)value;
    return !g_hash_table_contains(uuids, uuid);
}

void vs_definition_keep_only(GHashTable *uuids)
{
    g_mutex_lock(&definitions_lock);
    if (definitions)
        g_hash_table_foreach_remove(definitions, not_in, uuids);
    if (next_starts)
        g_hash_table_foreach_remove(next_starts, not_in, uuids);
    g_mutex_unlock(&definitions_lock);
}
