/* snapshot.c: domain snapshots over libvirt. Disks are internal (qcow2)
 * snapshots. Of a stopped VM a snapshot holds the disks; of a running VM also
 * the memory, either the classic way (libvirt's savevm: the guest is paused
 * while its RAM is written into the image) or live (live.c: paused for
 * milliseconds, RAM copied into a file in the background). Both kinds share
 * one tree; revert and delete route live ones to live.c. libvirt names are
 * kept for life; users' names and measured figures live in snapnames. Every
 * change to a VM's snapshots holds that VM's FIFO lock (vmlock). */
#include "snapshot.h"
#include "snaptree.h"

#include "../util/error.h"
#include "../util/fault.h"
#include "../util/log.h"
#include "definition.h"
#include "images.h"
#include "journal.h"
#include "live.h"
#include "pause.h"
#include "snapnames.h"
#include "vmlock.h"

#include <libvirt/virterror.h>
#include <string.h>

void vs_snapshot_free(VsSnapshot *snap)
{
    if (!snap)
        return;
    g_free(snap->name);
    g_free(snap->state);
    g_free(snap->parent);
    g_free(snap->description);
    g_free(snap);
}

/* The VM and its UUID, or NULL with NOT_FOUND / UNAVAILABLE. */
static virDomainPtr open_vm(const char *vm, char **uuid, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    virDomainPtr dom = vs_hv_domain(conn, vm, error);
    if (dom && uuid)
        *uuid = vs_hv_uuid(dom);
    return dom;
}

/* The libvirt snapshot shown to users as NAME, or NULL with NOT_FOUND. */
static virDomainSnapshotPtr resolve(virDomainPtr dom, const char *uuid, const char *name,
                                    GError **error)
{
    g_autofree char *internal = vs_snapnames_internal(uuid, name);
    virDomainSnapshotPtr snap = internal ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    /* NOT_FOUND only when libvirt says so: a lost connection is a 503. */
    if (!snap && internal && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT)
        vs_hv_set_error(error, "cannot look up snapshot '%s' of VM '%s'", name,
                        virDomainGetName(dom));
    else if (!snap)
        g_set_error(error, VS_ERROR, VS_ERR_NOT_FOUND, "snapshot '%s' of VM '%s' does not exist",
                    name, virDomainGetName(dom));
    return snap;
}

/* What a snapshot's XML says that the API shows. libvirt formats the whole
 * snapshot XML (with the full domain definition inside) on every call, so
 * on a connection no one else uses (the embedded driver, test://) these
 * facts are kept per VM, and dropped whenever virtsnapd changes any snapshot
 * of that VM. */
typedef struct {
    gint64 created;
    bool memory;
    bool live; /* memory in a file of live.c, disks internal */
} FactsValues; /* the facts that are not strings: kept and copied as they are */

typedef struct {
    char *state, *parent, *description; /* parent: libvirt name, "" for none */
    FactsValues v;
} Facts;

/* The kept facts of one VM. They are dropped all at once, so they live in a
 * few large blocks rather than in five small allocations each: kept structs
 * in arrays of FACTS_BLOCK, names and descriptions in one string chunk,
 * states interned. With 10,000 snapshots that is ~1 MiB instead of ~2.5, and
 * a listing's temporary allocations are not left pinned between small
 * long-lived ones (see docs/performance.md). */
typedef struct {
    const char *state, *parent, *description;
    FactsValues v;
} KeptFacts;

#define FACTS_BLOCK 512

typedef struct {
    GHashTable *by_name;   /* libvirt name (in strings) → KeptFacts* (in blocks) */
    GStringChunk *strings; /* names, parents' names, descriptions */
    GPtrArray *blocks;     /* of KeptFacts[FACTS_BLOCK] */
    guint used;            /* entries used in the last block */
} VmFacts;

static GMutex facts_lock;
static GHashTable *facts_by_vm; /* uuid → VmFacts* */
static guint64 facts_epoch;     /* bumped by every forget: a read begun before it is not kept */

static void facts_free(Facts *f)
{
    if (!f)
        return;
    g_free(f->state);
    g_free(f->parent);
    g_free(f->description);
    g_free(f);
}

static VmFacts *vm_facts_new(void)
{
    VmFacts *v = g_new0(VmFacts, 1);
    v->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    v->strings = g_string_chunk_new(16384);
    v->blocks = g_ptr_array_new_with_free_func(g_free);
    return v;
}

static void vm_facts_free(VmFacts *v)
{
    g_hash_table_unref(v->by_name);
    g_string_chunk_free(v->strings);
    g_ptr_array_unref(v->blocks);
    g_free(v);
}

/* NAME in V's strings, shared with its entry's key when it has one. */
static const char *vm_facts_name(VmFacts *v, const char *name)
{
    gpointer key = NULL;
    if (!*name)
        return "";
    if (g_hash_table_lookup_extended(v->by_name, name, &key, NULL))
        return key;
    return g_string_chunk_insert(v->strings, name);
}

/* Keeps F as the facts of NAME in V (called with facts_lock held). */
static void vm_facts_keep(VmFacts *v, const char *name, const Facts *f)
{
    if (v->blocks->len == 0 || v->used == FACTS_BLOCK) {
        g_ptr_array_add(v->blocks, g_new(KeptFacts, FACTS_BLOCK));
        v->used = 0;
    }
    KeptFacts *k = (KeptFacts *)g_ptr_array_index(v->blocks, v->blocks->len - 1) + v->used++;
    k->state = g_intern_string(f->state); /* one of libvirt's few state names */
    k->parent = vm_facts_name(v, f->parent);
    k->description = *f->description ? g_string_chunk_insert(v->strings, f->description) : "";
    k->v = f->v;
    g_hash_table_replace(v->by_name, (gpointer)vm_facts_name(v, name), k);
}

void vs_snapshot_facts_forget(const char *uuid)
{
    g_mutex_lock(&facts_lock);
    facts_epoch++;
    if (facts_by_vm)
        g_hash_table_remove(facts_by_vm, uuid);
    g_mutex_unlock(&facts_lock);
}

bool vs_snapshot_forget_vm(const char *uuid)
{
    vs_snapshot_facts_forget(uuid);
    bool names = vs_snapnames_forget_vm(uuid);
    return vs_live_forget_vm(uuid) || names;
}

static char *child_text(xmlNode *parent, const char *name)
{
    xmlNode *node = vs_xml_child(parent, name);
    xmlChar *text = node ? xmlNodeGetContent(node) : NULL;
    char *copy = text && *text ? g_strdup((const char *)text) : NULL;
    xmlFree(text);
    return copy;
}

/* One walk over the root's children instead of six XPath evaluations. */
static Facts *facts_read(virDomainSnapshotPtr snap, GError **error)
{
    g_autofree char *text = virDomainSnapshotGetXMLDesc(snap, 0);
    if (!text) {
        vs_hv_set_error(error, "cannot read snapshot '%s'", virDomainSnapshotGetName(snap));
        return NULL;
    }
    g_autoptr(xmlDoc) doc = vs_xml_parse(text, error);
    if (!doc)
        return NULL;
    xmlNode *root = xmlDocGetRootElement(doc);
    Facts *f = g_new0(Facts, 1);
    f->state = child_text(root, "state");
    if (!f->state)
        f->state = g_strdup("nostate");
    g_autofree char *created = child_text(root, "creationTime");
    f->v.created = created ? g_ascii_strtoll(created, NULL, 10) : 0;
    f->parent = child_text(vs_xml_child(root, "parent"), "name");
    if (!f->parent)
        f->parent = g_strdup("");
    f->description = child_text(root, "description");
    if (!f->description)
        f->description = g_strdup("");
    xmlNode *mem = vs_xml_child(root, "memory");
    xmlChar *memory = mem ? xmlGetProp(mem, (const xmlChar *)"snapshot") : NULL;
    bool was_active = !strcmp(f->state, "running") || !strcmp(f->state, "paused") ||
                      !strcmp(f->state, "blocked");
    f->v.memory = memory ? strcmp((const char *)memory, "no") != 0 : was_active;
    f->v.live = memory && strcmp((const char *)memory, "external") == 0;
    xmlFree(memory);
    return f;
}

static Facts *facts_copy(const KeptFacts *k)
{
    Facts *c = g_new0(Facts, 1);
    c->state = g_strdup(k->state);
    c->parent = g_strdup(k->parent);
    c->description = g_strdup(k->description);
    c->v = k->v;
    return c;
}

/* The facts of SNAP of VM UUID: a copy to free with facts_free. */
static Facts *facts_get(const char *uuid, virDomainSnapshotPtr snap, GError **error)
{
    if (!vs_hv_private())
        return facts_read(snap, error);
    const char *name = virDomainSnapshotGetName(snap);
    g_mutex_lock(&facts_lock);
    VmFacts *vm = facts_by_vm ? g_hash_table_lookup(facts_by_vm, uuid) : NULL;
    KeptFacts *hit = vm ? g_hash_table_lookup(vm->by_name, name) : NULL;
    Facts *copy = hit ? facts_copy(hit) : NULL;
    guint64 epoch = facts_epoch;
    g_mutex_unlock(&facts_lock);
    if (copy)
        return copy;
    Facts *fresh = facts_read(snap, error);
    if (!fresh)
        return NULL;
    g_mutex_lock(&facts_lock);
    if (epoch != facts_epoch) { /* a change raced with this read: do not keep it */
        g_mutex_unlock(&facts_lock);
        return fresh;
    }
    if (!facts_by_vm)
        facts_by_vm = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)vm_facts_free);
    vm = g_hash_table_lookup(facts_by_vm, uuid);
    if (!vm) {
        vm = vm_facts_new();
        g_hash_table_insert(facts_by_vm, g_strdup(uuid), vm);
    }
    vm_facts_keep(vm, name, fresh);
    g_mutex_unlock(&facts_lock);
    return fresh;
}

static VsSnapshot *snapshot_info(const char *uuid, virDomainSnapshotPtr snap, GError **error)
{
    Facts *f = facts_get(uuid, snap, error);
    if (!f)
        return NULL;
    VsSnapshot *info = g_new0(VsSnapshot, 1);
    info->name = vs_snapnames_display(uuid, virDomainSnapshotGetName(snap));
    info->state = g_steal_pointer(&f->state);
    info->created = f->v.created;
    info->parent = *f->parent ? vs_snapnames_display(uuid, f->parent) : g_strdup("");
    info->description = g_steal_pointer(&f->description);
    info->memory = f->v.memory;
    info->live = f->v.live;
    facts_free(f);
    VsSnapFigures figures;
    if (vs_snapnames_figures(uuid, virDomainSnapshotGetName(snap), &figures)) {
        info->measured = true;
        info->downtime_ms = figures.downtime_ms;
        info->memory_bytes = figures.memory_bytes;
    }
    int current = virDomainSnapshotIsCurrent(snap, 0);
    int children = current < 0 ? -1 : virDomainSnapshotNumChildren(snap, 0);
    info->current = current == 1;
    info->children = MAX(children, 0);
    /* The connection broke off meanwhile: no half-read answer (503). */
    if (children < 0 && vs_hv_failed_broke_off(error, "cannot read snapshot '%s'", info->name)) {
        vs_snapshot_free(info);
        return NULL;
    }
    return info;
}

static gint compare_snapshots(gconstpointer a, gconstpointer b, gpointer unused)
{
    (void)unused;
    const VsSnapshot *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->name, y->name);
}

static gint compare_snapshot_ptrs(gconstpointer a, gconstpointer b)
{
    return compare_snapshots(*(VsSnapshot *const *)a, *(VsSnapshot *const *)b, NULL);
}

/* Orders SNAPS by creation time then name, but never a child before its
 * parent (a child may share its parent's second). Each snapshot comes once,
 * even where two show the same name (a snapshot made by another tool under a
 * name virtsnap shows for a renamed one): children are found by name, so
 * such a pair would otherwise bring their children twice, and so on down. */
static GPtrArray *order_parents_first(GPtrArray *snaps)
{
    GPtrArray *out = g_ptr_array_new_full(snaps->len, (GDestroyNotify)vs_snapshot_free);
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) children = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                                           (GDestroyNotify)g_ptr_array_unref);
    for (guint i = 0; i < snaps->len; i++) {
        VsSnapshot *s = g_ptr_array_index(snaps, i);
        g_hash_table_insert(by_name, s->name, s);
    }
    GSequence *ready = g_sequence_new(NULL);
    for (guint i = 0; i < snaps->len; i++) {
        VsSnapshot *s = g_ptr_array_index(snaps, i);
        if (!*s->parent || !g_hash_table_contains(by_name, s->parent)) {
            g_sequence_insert_sorted(ready, s, compare_snapshots, NULL);
            continue;
        }
        GPtrArray *list = g_hash_table_lookup(children, s->parent);
        if (!list)
            g_hash_table_insert(children, s->parent, list = g_ptr_array_new());
        g_ptr_array_add(list, s);
    }
    g_autoptr(GHashTable) done = g_hash_table_new(NULL, NULL);
    while (g_sequence_get_length(ready) > 0) {
        GSequenceIter *first = g_sequence_get_begin_iter(ready);
        VsSnapshot *s = g_sequence_get(first);
        g_sequence_remove(first);
        if (!g_hash_table_add(done, s))
            continue;
        g_ptr_array_add(out, s);
        GPtrArray *list = g_hash_table_lookup(children, s->name);
        for (guint i = 0; list && i < list->len; i++)
            if (!g_hash_table_contains(done, g_ptr_array_index(list, i)))
                g_sequence_insert_sorted(ready, g_ptr_array_index(list, i), compare_snapshots, NULL);
    }
    g_sequence_free(ready);
    for (guint i = 0; i < snaps->len; i++) /* unreachable from a root: last, not lost */
        if (!g_hash_table_contains(done, g_ptr_array_index(snaps, i)))
            g_ptr_array_add(out, g_ptr_array_index(snaps, i));
    g_ptr_array_set_free_func(snaps, NULL);
    return out;
}

GPtrArray *vs_snapshot_list(const char *vm, VsSnapList kind, const char *parent, GError **error)
{
    g_autofree char *uuid = NULL;
    g_autoptr(virDomain) dom = open_vm(vm, &uuid, error);
    if (!dom)
        return NULL;
    virDomainSnapshotPtr *snaps = NULL;
    int n;
    if (kind == VS_SNAP_CHILDREN) {
        g_autoptr(virDomainSnapshot) top = resolve(dom, uuid, parent, error);
        if (!top)
            return NULL;
        n = virDomainSnapshotListAllChildren(top, &snaps, 0);
    } else {
        n = virDomainListAllSnapshots(dom, &snaps,
                                      kind == VS_SNAP_ROOTS ? VIR_DOMAIN_SNAPSHOT_LIST_ROOTS : 0);
    }
    if (n < 0) {
        vs_hv_set_error(error, "cannot list the snapshots of VM '%s'", vm);
        return NULL;
    }
    g_autoptr(GPtrArray) list = g_ptr_array_new_full((guint)n, (GDestroyNotify)vs_snapshot_free);
    g_autoptr(GError) lost = NULL;
    for (int i = 0; i < n; i++) {
        /* One gone meanwhile is skipped; a connection that broke off fails
         * the listing (503) rather than answer a part of it. */
        g_autoptr(GError) skipped = NULL;
        VsSnapshot *info = lost ? NULL : snapshot_info(uuid, snaps[i], &skipped);
        if (info)
            g_ptr_array_add(list, info);
        else if (!lost && vs_hv_broke_off(&skipped))
            lost = g_steal_pointer(&skipped);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    if (lost) {
        g_propagate_error(error, g_steal_pointer(&lost));
        return NULL;
    }
    if (kind == VS_SNAP_ALL)
        return order_parents_first(list);
    g_ptr_array_sort(list, compare_snapshot_ptrs);
    return g_steal_pointer(&list);
}

VsSnapshot *vs_snapshot_get(const char *vm, const char *name, GError **error)
{
    g_autofree char *uuid = NULL;
    g_autoptr(virDomain) dom = open_vm(vm, &uuid, error);
    if (!dom)
        return NULL;
    g_autoptr(virDomainSnapshot) snap = resolve(dom, uuid, name, error);
    return snap ? snapshot_info(uuid, snap, error) : NULL;
}

/* ---- creation ---------------------------------------------------------- */

static GMutex pending_lock;
static GHashTable *pending; /* "uuid/name" of snapshots being made */

static char *pending_key(const char *uuid, const char *name)
{
    return g_strdup_printf("%s/%s", uuid, name);
}

/* 1 when users already see a snapshot called NAME, or one is being made;
 * 0 when not; -1 with ERROR when libvirt cannot tell (a lost connection:
 * not "free", which would let a rename or create drop the entry of a name
 * in use). When 0, *FREE_INTERNAL (if asked for) is NAME if libvirt has no
 * snapshot of that name either and NAME may be a libvirt name (what
 * pick_internal_name would choose), else NULL. */
static int name_taken(virDomainPtr dom, const char *uuid, const char *name, char **free_internal,
                      GError **error)
{
    if (free_internal)
        *free_internal = NULL;
    g_autofree char *key = pending_key(uuid, name);
    g_mutex_lock(&pending_lock);
    bool taken = pending && g_hash_table_contains(pending, key);
    g_mutex_unlock(&pending_lock);
    if (taken)
        return 1;
    g_autofree char *internal = vs_snapnames_internal(uuid, name);
    g_autoptr(virDomainSnapshot) snap =
        internal ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    if (!snap && internal && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        vs_hv_set_error(error, "cannot look up snapshot '%s' of VM '%s'", name,
                        virDomainGetName(dom));
        return -1;
    }
    if (free_internal && !snap && internal && strcmp(internal, name) == 0 &&
        vs_snapnames_safe_internal(name))
        *free_internal = g_steal_pointer(&internal);
    return snap != NULL;
}

/* Reserves NAME for a snapshot being made (or renamed to it): false when
 * another request holds it already. The check and the reservation are one
 * step under PENDING_LOCK, so two requests never both get one name. The
 * libvirt lookup of name_taken runs before, without any lock held (a hung
 * remote libvirtd stalls only its own request): a snapshot that got the
 * name in between was made or renamed by an operation on the VM, which the
 * create's worker sees (its checks are not fresh) and checks again. */
static bool pending_reserve(const char *uuid, const char *name)
{
    g_autofree char *key = pending_key(uuid, name);
    g_mutex_lock(&pending_lock);
    if (!pending)
        pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool reserved = g_hash_table_add(pending, g_steal_pointer(&key));
    g_mutex_unlock(&pending_lock);
    return reserved;
}

static void pending_release(const char *uuid, const char *name)
{
    g_autofree char *key = pending_key(uuid, name);
    g_mutex_lock(&pending_lock);
    if (pending)
        g_hash_table_remove(pending, key);
    g_mutex_unlock(&pending_lock);
}

/* Every writable disk must be qcow2: libvirt 9.0 can revert only internal
 * snapshots, and those live inside qcow2 images. Adds the images' files to
 * IMAGES, and sets *RUNNING to whether the VM runs (its domain ID as the
 * handle was looked up) and *STATE to its state. The definition (the
 * running one while it runs) and the state are those kept since nothing
 * changed the VM (definition.h): no round trip then on a libvirtd.
 * CLASSIC: the snapshot would be libvirt's (not live). QEMU's libvirt takes
 * no internal snapshot of a VM whose UEFI firmware runs from pflash with a
 * raw variable store (QEMU's savevm cannot hold it): 409 at once, rather
 * than a task that fails; a live snapshot of it, which keeps the store's
 * contents in the memory file, works. */
static bool disks_can_snapshot(virDomainPtr dom, const char *uuid, GPtrArray *images,
                               bool classic, bool *running, int *state, GError **error)
{
    g_autoptr(VsDefinition) def = vs_definition_get(dom, uuid, error);
    if (!def)
        return false;
    *running = virDomainGetID(dom) != (unsigned int)-1; /* no call to libvirt */
    *state = def->state;
    if (def->pflash && (classic || *state != VIR_DOMAIN_RUNNING) &&
        vs_hv_driver_is("qemu")) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' boots UEFI firmware from pflash, of which libvirt takes no internal "
                    "snapshot: %s", virDomainGetName(dom),
                    *state == VIR_DOMAIN_RUNNING ? "take a live snapshot (\"live\": true)"
                                                 : "start it and take a live snapshot");
        return false;
    }
    for (guint i = 0; i < def->disks->len; i++) {
        const VsDisk *disk = g_ptr_array_index(def->disks, i);
        if (disk->readonly)
            continue;
        if (strcmp(disk->format, "qcow2") != 0) {
            g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                        "disk '%s' of VM '%s' is %s: only qcow2 disks can hold a snapshot",
                        disk->target ? disk->target : "?", virDomainGetName(dom), disk->format);
            return false;
        }
        if (disk->is_file)
            g_ptr_array_add(images, g_strdup(disk->path));
    }
    return true;
}

struct VsSnapshotJob {
    char *vm, *uuid, *name, *description;
    bool reserved; /* NAME is reserved for it in PENDING */
    /* What the request's checks found, for the worker to use when no other
     * operation on the VM ran since (FRESH): saves a round trip each on a
     * remote connection. */
    bool fresh;
    bool running;   /* the VM ran */
    int state;      /* its state (virDomainGetState's) ... */
    guint64 changes; /* ... valid while vs_hv_domain_changes() stays this */
    char *internal; /* NAME was free as a libvirt name too, or NULL */
    GPtrArray *images; /* the files of its writable disks (char*), when accepted */
    virDomainPtr dom;  /* the VM as looked up then (its connection's reference) */
    VsLiveMode live;
    VsVmLock *lock;
    guint64 ticket;
};

static VsLiveMode live_default = VS_LIVE_AUTO;

void vs_snapshot_set_live_default(VsLiveMode mode)
{
    live_default = mode == VS_LIVE_OFF ? VS_LIVE_OFF : VS_LIVE_AUTO;
}

/* A free name from the time of day (FREE_INTERNAL as from name_taken), or
 * NULL with ERROR. */
static char *default_name(virDomainPtr dom, const char *uuid, char **free_internal,
                          GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *base = g_date_time_format(now, "snap-%Y%m%d-%H%M%S");
    char *name = g_strdup(base);
    int taken;
    for (int n = 2; (taken = name_taken(dom, uuid, name, free_internal, error)) > 0; n++) {
        g_free(name);
        name = g_strdup_printf("%s-%d", base, n);
    }
    if (taken < 0)
        g_clear_pointer(&name, g_free);
    return name;
}

VsSnapshotJob *vs_snapshot_prepare(const char *vm, const char *name, const char *description,
                                   VsLiveMode live, GError **error)
{
    g_autofree char *uuid = NULL, *internal = NULL;
    g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(virDomain) dom = open_vm(vm, &uuid, error);
    if (!dom)
        return NULL;
    VsVmLock *lock = vs_vmlock_for(uuid);
    guint64 ended = 0;
    bool quiet = vs_vmlock_quiet(lock, &ended), running = false;
    int state = VIR_DOMAIN_NOSTATE;
    guint64 changes = vs_hv_domain_changes(uuid); /* before the state is read or taken */
    /* In the contract's order: the name taken (409), then what the disks,
     * the live mode and the VM's queue allow; the name is reserved last. */
    int in_use = name ? name_taken(dom, uuid, name, &internal, error) : 0;
    if (in_use < 0)
        return NULL;
    bool taken = in_use > 0;
    if (taken) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "VM '%s' already has a snapshot named '%s'",
                    vm, name);
        return NULL;
    }
    bool classic = live == VS_LIVE_OFF || (live == VS_LIVE_AUTO && live_default == VS_LIVE_OFF);
    if (!disks_can_snapshot(dom, uuid, images, classic, &running, &state, error) ||
        (live == VS_LIVE_ON && !vs_live_supported(dom, error)) ||
        !vs_vmlock_has_room(lock, vm, error))
        return NULL;
    g_autofree char *chosen = NULL;
    if (name) {
        chosen = g_strdup(name);
        taken = !pending_reserve(uuid, chosen);
    } else { /* another default name if one was reserved since it was found free */
        do {
            g_clear_pointer(&chosen, g_free);
            g_clear_pointer(&internal, g_free);
            chosen = default_name(dom, uuid, &internal, error);
        } while (chosen && !pending_reserve(uuid, chosen));
        if (!chosen)
            return NULL;
    }
    if (taken) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "VM '%s' already has a snapshot named '%s'",
                    vm, chosen);
        return NULL;
    }
    VsSnapshotJob *job = g_new0(VsSnapshotJob, 1);
    job->reserved = true;
    job->vm = g_strdup(vm);
    job->uuid = g_steal_pointer(&uuid);
    job->name = g_steal_pointer(&chosen);
    job->description = g_strdup(description ? description : "");
    job->images = g_steal_pointer(&images);
    job->dom = g_steal_pointer(&dom);
    job->live = live == VS_LIVE_AUTO ? live_default : live;
    job->lock = lock;
    job->ticket = vs_vmlock_ticket(lock);
    /* No operation was under way or queued when the checks began, and none
     * was accepted since: the job's turn comes next, and what the checks
     * found is as the create will find it, except for what the guest or
     * other libvirt clients change meanwhile (a guest powering off, a
     * snapshot made under that name), as between any check and libvirt's
     * call. */
    job->fresh = quiet && job->ticket == ended;
    job->running = running;
    job->state = state;
    job->changes = changes;
    job->internal = g_steal_pointer(&internal);
    return job;
}

const char *vs_snapshot_job_vm(const VsSnapshotJob *job) { return job->vm; }
const char *vs_snapshot_job_uuid(const VsSnapshotJob *job) { return job->uuid; }
const char *vs_snapshot_job_name(const VsSnapshotJob *job) { return job->name; }

/* Gives up the job's reservation of its name (once). */
static void job_unreserve(VsSnapshotJob *job)
{
    if (job->reserved)
        pending_release(job->uuid, job->name);
    job->reserved = false;
}

void vs_snapshot_job_free(gpointer data)
{
    VsSnapshotJob *job = data;
    job_unreserve(job);
    g_free(job->vm);
    g_free(job->uuid);
    g_free(job->name);
    g_free(job->description);
    g_free(job->internal);
    g_ptr_array_unref(job->images);
    g_clear_pointer(&job->dom, virDomainFree);
    g_free(job);
}

static char *snapshot_xml(const char *internal, const char *description)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"domainsnapshot");
    xmlDocSetRootElement(doc, root);
    vs_xml_set_child_text(root, "name", internal);
    if (description && *description)
        vs_xml_set_child_text(root, "description", description);
    return vs_xml_to_string(doc);
}

/* The libvirt name for a new snapshot shown as NAME: NAME itself when it is
 * plain ASCII and free in libvirt, else a generated one. */
static char *pick_internal_name(virDomainPtr dom, const char *name)
{
    if (vs_snapnames_safe_internal(name)) {
        g_autoptr(virDomainSnapshot) clash = virDomainSnapshotLookupByName(dom, name, 0);
        if (!clash)
            return g_strdup(name);
    }
    g_autofree char *random = g_uuid_string_random();
    return g_strdup_printf("vs-%.8s%.4s", random, random + 9);
}

/* The memory a classic snapshot INTERNAL saved: QEMU puts it into one of the
 * qcow2 images (vm-state-size); 0 if unreadable. The images are those seen
 * when the snapshot was accepted, which saves fetching and parsing the
 * domain's XML again after the snapshot (0.25 ms of the ~2 ms virtsnapd
 * adds to a create). Were they changed since, outside virtsnapd, the figure
 * would be 0; nothing else depends on it. */
static guint64 classic_memory_bytes(const VsSnapshotJob *job, const char *internal)
{
    guint64 total = 0;
    for (guint i = 0; i < job->images->len; i++) {
        guint64 size = 0;
        if (vs_image_snapshot_info(g_ptr_array_index(job->images, i), internal, &size, NULL))
            total += size;
    }
    return total;
}

/* A live snapshot's copy, as the task's progress (VsLiveProgress). */
static void live_progress(int percent, void *task)
{
    vs_task_set_progress(task, percent);
}

/* Takes the snapshot the classic way: libvirt's savevm (running: guest paused
 * while RAM is written, measured from QEMU's STOP/RESUME events, pause.h). */
static virDomainSnapshotPtr take_classic(virDomainPtr dom, const VsSnapshotJob *job,
                                         const char *internal, bool running,
                                         VsSnapFigures *figures, GError **error)
{
    g_autofree char *xml = snapshot_xml(internal, job->description);
    VsPauseMeter *meter = running ? vs_pause_meter_start(dom) : NULL;
    /* A guest paused already is not paused by the snapshot. With QEMU's
     * events: no stop seen and paused still (savevm resumes a guest it
     * paused); without them, its state is asked first. */
    int state = VIR_DOMAIN_NOSTATE;
    bool paused_before = running && !meter && virDomainGetState(dom, &state, NULL, 0) == 0 &&
                         state == VIR_DOMAIN_PAUSED;
    gint64 t0 = g_get_monotonic_time();
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom, xml, 0);
    if (!snap) /* before any other libvirt call replaces libvirt's error */
        vs_hv_set_error(error, "cannot create snapshot '%s' of VM '%s'", job->name, job->vm);
    double wall_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    if (snap && meter && !vs_pause_meter_saw_stop(meter))
        paused_before = virDomainGetState(dom, &state, NULL, 0) == 0 && state == VIR_DOMAIN_PAUSED;
    double paused_ms = vs_pause_meter_finish(meter, NULL);
    double metered_ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
    if (snap && running) {
        /* Without the events, the whole call bounds the pause. */
        figures->downtime_ms = paused_ms >= 0 ? paused_ms : paused_before ? 0 : wall_ms;
        figures->memory_bytes = classic_memory_bytes(job, internal);
    }
    vs_debug("VM '%s': classic snapshot: libvirt %.2f ms, events %.2f ms, memory size %.2f ms",
             job->vm, wall_ms, metered_ms - wall_ms,
             (double)(g_get_monotonic_time() - t0) / 1000.0 - metered_ms);
    return snap;
}

/* Snapshot INTERNAL (libvirt's name) of the VM with UUID, on the
 * connection as it is now. */
static virDomainSnapshotPtr snapshot_again(const char *uuid, const char *vm, const char *internal,
                                           GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    g_autoptr(virDomain) dom = conn ? vs_hv_domain_again(conn, uuid, vm, error) : NULL;
    virDomainSnapshotPtr snap = dom ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    if (dom && !snap)
        vs_hv_set_error(error, "cannot read snapshot '%s' of VM '%s' back", internal, vm);
    return snap;
}

/* A create that broke off: once libvirt is back and its job on the VM has
 * ended, true when the snapshot was found made, whole (settling told it
 * from libvirt; no handle is fetched again, so a connection that drops once
 * more does not fail a create that was made), or false with nothing of it
 * left (as recovery after a crash would, journal.c) or with it unknown. */
static bool settle_create(VsTask *task, VsSnapshotJob *job, VsJournal **journal, GError **error)
{
    vs_task_set_message(task, "the connection to libvirt broke off during the snapshot: "
                              "waiting for it to tell whether the snapshot was made");
    g_autofree char *what = g_strdup_printf("snapshot '%s' of VM '%s'", job->name, job->vm);
    VsJournalOutcome outcome = vs_journal_settle(journal, what, error);
    if (outcome == VS_JOURNAL_UNDONE)
        g_prefix_error(error, "snapshot '%s' was not made, nothing of it is left: ", job->name);
    return outcome == VS_JOURNAL_DONE;
}

/* Whether a libvirt snapshot now stands for display name NAME of the VM
 * with UUID (no reservation counted): 1 or 0, or -1 with ERROR when
 * libvirt cannot tell. */
static int display_name_taken(virDomainPtr dom, const char *uuid, const char *name,
                              GError **error)
{
    g_autofree char *internal = vs_snapnames_internal(uuid, name);
    g_autoptr(virDomainSnapshot) snap =
        internal ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    if (!snap && internal && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        vs_hv_set_error(error, "cannot look up snapshot '%s' of VM '%s'", name,
                        virDomainGetName(dom));
        return -1;
    }
    virResetLastError();
    return snap != NULL;
}

/* Snapshot INTERNAL of JOB's VM, on the connection as it is now (a create
 * whose call broke off, settled), or NULL with the reason logged. */
static virDomainSnapshotPtr look_up_again(const VsSnapshotJob *job, const char *internal)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = conn ? virDomainLookupByUUIDString(conn, job->uuid) : NULL;
    virDomainSnapshotPtr snap = dom ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    if (!snap)
        vs_warn("VM '%s': snapshot '%s' was made, then its create failed, and it cannot be "
                "found again to be deleted: %s", job->vm, job->name,
                conn ? virGetLastErrorMessage() : "no connection to libvirt");
    return snap;
}

static bool create_locked(VsTask *task, VsSnapshotJob *job, GError **error)
{
    vs_snapshot_facts_forget(job->uuid);
    int settled = vs_journal_settle_pending(job->uuid, error);
    if (settled < 0)
        return false;
    if (settled > 0)
        job->fresh = false; /* the request's findings are from before */
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return false;
    /* The handle from the request, unless the connection was replaced
     * since or another operation ran meanwhile (one round trip less on a
     * remote connection): a VM deleted meanwhile is then "no longer
     * exists", not a failed look-up of the snapshot's name. */
    bool same_conn = virDomainGetConnect(job->dom) == conn;
    g_autoptr(virDomain) dom = same_conn && job->fresh
                                   ? g_steal_pointer(&job->dom)
                                   : vs_hv_domain_again(conn, job->uuid, job->vm, error);
    if (!dom)
        return false;
    /* The name was free when the request was accepted, but a settled
     * earlier create of it (whose task failed, outcome not known) may have
     * taken it, or an operation that ran before this one may have brought
     * it back (a rename defines its tree again, after the request found
     * the metadata dropped). */
    int back = settled > 0 || !job->fresh ? display_name_taken(dom, job->uuid, job->name, error)
                                          : 0;
    if (back < 0)
        return false;
    if (back > 0) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "VM '%s' already has a snapshot named '%s'%s",
                    job->vm, job->name,
                    settled > 0 ? " (an earlier, interrupted create of it was found made)"
                                : " (it came back while this request waited its turn)");
        return false;
    }
    /* The request's findings when nothing ran on the VM since, else asked
     * again (two round trips on a remote connection). */
    bool fresh = job->fresh && same_conn;
    g_autofree char *internal = fresh && job->internal ? g_steal_pointer(&job->internal)
                                                       : pick_internal_name(dom, job->name);
    vs_task_set_target_internal(task, internal); /* what it is known by through renames */
    bool running = fresh ? job->running : virDomainIsActive(dom) == 1;
    /* vs_live_take checks first whether a live snapshot can be taken (ON
     * was also checked when the task was accepted); where it cannot, AUTO
     * takes a classic one below. */
    bool live = job->live == VS_LIVE_ON || (job->live == VS_LIVE_AUTO && running);
    g_autofree char *ram = live ? vs_live_ram_path(job->uuid, internal) : NULL;
    vs_task_set_message(task, live      ? "saving disks and memory (live: the VM keeps running)"
                              : running ? "saving disks and memory"
                                        : "saving disks");
    VsJournal *journal = vs_journal_begin("snapshot", job->uuid, error);
    if (!journal)
        return false;
    vs_journal_set(journal, "internal", internal);
    vs_journal_set(journal, "display", job->name);
    /* Whether the guest ran (not paused): recovery resumes only such a one.
     * The state the request found when nothing ran since and libvirt told of
     * no change to the VM since (a pause, a resume), else asked again. */
    bool state_fresh = fresh && vs_hv_domain_changes(job->uuid) == job->changes;
    int state = state_fresh ? job->state : VIR_DOMAIN_NOSTATE;
    bool guest_running = running && (state_fresh || virDomainGetState(dom, &state, NULL, 0) == 0) &&
                         state == VIR_DOMAIN_RUNNING;
    vs_journal_set(journal, "was_running", guest_running ? "true" : "false");
    g_autofree char *began =
        g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
    vs_journal_set(journal, "began", began); /* tells ours from another client's */
    if (ram)
        vs_journal_set(journal, "ram", ram);
    if (!vs_journal_commit(journal, error)) {
        vs_journal_end(journal);
        return false;
    }
    vs_fault_point("snapshot-before-create");
    VsSnapFigures figures = {0};
    VsLiveStats stats = {0};
    g_autoptr(GError) live_error = NULL;
    g_autoptr(virDomainSnapshot) snap =
        live ? vs_live_take(dom, internal, job->description, ram, journal, live_progress, task,
                            &stats, &live_error)
             : NULL;
    if (live && !snap && job->live == VS_LIVE_AUTO && !stats.started &&
        g_error_matches(live_error, VS_ERROR, VS_ERR_CONFLICT)) {
        /* Not possible here (or QEMU refused), nothing changed: classic then. */
        vs_info("VM '%s': no live snapshot (%s): taking a classic one", job->vm,
                live_error->message);
        live = false;
        running = virDomainIsActive(dom) == 1; /* the guest may have stopped meanwhile */
    }
    if (live) {
        figures.downtime_ms = stats.downtime_ms;
        figures.memory_bytes = stats.memory_bytes;
        if (!snap)
            g_propagate_error(error, g_steal_pointer(&live_error));
    } else {
        snap = take_classic(dom, job, internal, running, &figures, error);
    }
    vs_fault_point("snapshot-after-create");
    bool broken_off = !snap && vs_hv_broke_off(error);
    bool made = snap || (broken_off && settle_create(task, job, &journal, error));
    bool ok = made && vs_snapnames_set(job->uuid, internal, job->name, error);
    if (made && !ok) /* (the snapshot goes again, below) */
        g_prefix_error(error, "cannot record the name of snapshot '%s', so it is not kept: ",
                       job->name);
    if (ok && running && !broken_off) /* else the pause was not measured */
        vs_snapnames_keep_figures(job->uuid, internal, &figures);
    /* Done as far as the client is concerned. The figures' file, the
     * journal's removal and the log lines below follow under the VM's lock
     * still (no other operation on it runs before them); a crash before the
     * removal finds the snapshot made (journal.c keeps it), and figures not
     * written are only not shown after a restart (0.6 ms of a create went
     * to these steps before its end was shown, docs/performance.md). */
    if (ok) {
        job_unreserve(job); /* the snapshot holds the name from now on */
        vs_task_finish_early(task);
        vs_fault_point("snapshot-finished");
    }
    g_autoptr(GError) figures_error = NULL;
    if (ok && running && !broken_off && !vs_snapnames_save_figures(job->uuid, internal, &figures_error))
        vs_warn("VM '%s': snapshot '%s': cannot save its figures: %s", job->vm, job->name,
                figures_error->message);
    /* A failed classic create leaves no metadata: libvirt drops its own on
     * every failure. A snapshot of that libvirt name is then another
     * client's, made since the name was found free (libvirt refused the
     * name before doing anything), and stays. One our call made, whose
     * reply broke off (settled: made by that call), goes as one returned
     * would when its display name cannot be recorded: only under a libvirt
     * name of virtsnapd's own making, which no other client would give. */
    bool own_name = strcmp(internal, job->name) != 0;
    g_autoptr(virDomainSnapshot) reply_lost =
        made && !ok && !snap && own_name ? look_up_again(job, internal) : NULL;
    virDomainSnapshotPtr undo = snap ? snap : reply_lost; /* never one found otherwise */
    if (undo && !ok) {
        g_autoptr(GError) undo_error = NULL;
        if (!vs_live_delete(undo, false, &undo_error)) /* either kind */
            vs_warn("VM '%s': snapshot '%s' was made, then its create failed, and it cannot be "
                    "deleted: %s", job->vm, job->name, undo_error->message);
        vs_snapnames_forget(job->uuid, internal);
    }
    /* Ended after that undo: a crash before it finds the snapshot made. */
    vs_journal_end(journal);
    if (!ok)
        return false;
    vs_info("VM '%s': created %s snapshot '%s' (libvirt name '%s')%s", job->vm,
            live ? "live" : "classic", job->name, internal, running ? "" : ", disks only");
    if (running && !broken_off)
        vs_info("VM '%s': snapshot '%s': guest paused %.1f ms, memory %" G_GUINT64_FORMAT " bytes",
                job->vm, job->name, figures.downtime_ms, figures.memory_bytes);
    return true;
}

gboolean vs_snapshot_job_run(VsTask *task, gpointer data, GError **error)
{
    VsSnapshotJob *job = data;
    vs_task_set_message(task, "waiting for earlier operations on the VM");
    vs_vmlock_wait(job->lock, job->ticket);
    bool ok = create_locked(task, job, error);
    vs_vmlock_release(job->lock);
    return ok;
}

/* ---- changes ----------------------------------------------------------- */

/* Runs under the VM's lock with the domain and its UUID at hand. */
typedef bool (*LockedOp)(virDomainPtr dom, const char *uuid, gpointer data, GError **error);

static bool with_vm_locked(const char *vm, LockedOp op, gpointer data, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    VsVmLock *lock = NULL;
    g_autoptr(virDomain) dom = conn ? vs_vmlock_domain(conn, vm, &lock, error) : NULL;
    if (!dom)
        return false;
    g_autofree char *uuid = vs_hv_uuid(dom);
    vs_snapshot_facts_forget(uuid); /* OP reads what it changed: not from before */
    bool ok = op(dom, uuid, data, error);
    vs_snapshot_facts_forget(uuid); /* nor may readers that raced with it keep it */
    vs_vmlock_release(lock);
    return ok;
}

typedef struct {
    const char *name, *new_name, *description;
    VsSnapshot *result;
    bool with_children;
} SnapOp;

static bool set_description(virDomainSnapshotPtr snap, const char *description, GError **error)
{
    if (!vs_hv_room_for_metadata(error))
        return false;
    g_autofree char *text = virDomainSnapshotGetXMLDesc(snap, VIR_DOMAIN_SNAPSHOT_XML_SECURE);
    g_autoptr(xmlDoc) doc = text ? vs_xml_parse(text, error) : NULL;
    if (!doc) {
        if (!text)
            vs_hv_set_error(error, "cannot read snapshot '%s'", virDomainSnapshotGetName(snap));
        return false;
    }
    vs_xml_set_child_text(xmlDocGetRootElement(doc), "description", description);
    g_autofree char *xml = vs_xml_to_string(doc);
    unsigned int flags = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE;
    if (virDomainSnapshotIsCurrent(snap, 0) == 1)
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT;
    virDomainPtr dom = virDomainSnapshotGetDomain(snap);
    const char *name = virDomainSnapshotGetName(snap);
    g_autoptr(virDomainSnapshot) redefined =
        vs_fault_fails("snapshot-description") ? NULL : virDomainSnapshotCreateXML(dom, xml, flags);
    if (redefined)
        return true;
    vs_hv_set_error(error, "cannot change the description of snapshot '%s'", name);
    /* libvirt 9.0 drops a snapshot from its list when saving its redefined
     * metadata fails (a full disk: tests/crash/test_diskfull.c); its file
     * keeps the old text. Define it again as it was; if that fails too, it
     * is back once libvirt restarts. */
    g_autoptr(virDomainSnapshot) still = virDomainSnapshotLookupByName(dom, name, 0);
    g_autoptr(virDomainSnapshot) back = still ? NULL : virDomainSnapshotCreateXML(dom, text, flags);
    if (!still && !back)
        vs_error("snapshot '%s' of VM '%s' is missing from libvirt's list after a failed change "
                 "of its description; its saved metadata is unchanged, and libvirt shows it again "
                 "when it restarts: %s", name, virDomainGetName(dom), virGetLastErrorMessage());
    virResetLastError();
    return false;
}

static bool update_locked(virDomainPtr dom, const char *uuid, gpointer data, GError **error)
{
    SnapOp *op = data;
    g_autoptr(virDomainSnapshot) snap = resolve(dom, uuid, op->name, error);
    if (!snap)
        return false;
    const char *internal = virDomainSnapshotGetName(snap);
    bool renaming = op->new_name && strcmp(op->new_name, op->name) != 0;
    if (renaming) { /* reserved like a create's name, until it is given */
        int in_use = name_taken(dom, uuid, op->new_name, NULL, error);
        if (in_use < 0)
            return false;
        if (in_use > 0 || !pending_reserve(uuid, op->new_name)) {
            g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                        "VM '%s' already has a snapshot named '%s'", virDomainGetName(dom),
                        op->new_name);
            return false;
        }
    }
    /* The name first (a file write, the likelier to fail), then the
     * description (libvirt); a failed description puts the name back. */
    bool ok = !renaming || vs_snapnames_set(uuid, internal, op->new_name, error);
    if (ok && op->description && !set_description(snap, op->description, error)) {
        ok = false;
        g_autoptr(GError) back_error = NULL;
        if (renaming && !vs_snapnames_set(uuid, internal, op->name, &back_error))
            vs_warn("VM '%s': snapshot '%s' keeps its new name '%s': %s", virDomainGetName(dom),
                    op->name, op->new_name, back_error->message);
    }
    if (renaming)
        pending_release(uuid, op->new_name);
    if (!ok)
        return false;
    op->result = snapshot_info(uuid, snap, error);
    if (!op->result) /* (done: a client must not take it for not done) */
        g_prefix_error(error, "snapshot '%s' was changed, but it cannot be read back: ",
                       renaming ? op->new_name : op->name);
    return op->result != NULL;
}

VsSnapshot *vs_snapshot_update(const char *vm, const char *name, const char *new_name,
                               const char *description, GError **error)
{
    SnapOp op = {.name = name, .new_name = new_name, .description = description};
    with_vm_locked(vm, update_locked, &op, error);
    return op.result;
}

/* Deletes one snapshot with FLAGS. The test driver refuses METADATA_ONLY
 * and keeps no disk contents, so a plain delete is the same there; on any
 * other driver a refusal stays one (a plain delete would destroy the
 * contents that a rename or a delete with disks=keep must keep). libvirt
 * 9.0 cannot delete a live snapshot with its contents: live.c does. */
static bool delete_one(virDomainSnapshotPtr snap, unsigned int flags, GError **error)
{
    const char *name = virDomainSnapshotGetName(snap);
    if (!(flags & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)) /* either kind; its own error */
        return vs_live_delete(snap, false, error);
    if (virDomainSnapshotDelete(snap, flags) == 0)
        return true;
    virErrorPtr err = virGetLastError();
    if (!err || (err->code != VIR_ERR_INVALID_ARG && err->code != VIR_ERR_NO_SUPPORT) ||
        !vs_hv_driver_is("test") ||
        virDomainSnapshotDelete(snap, flags & ~VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) < 0) {
        vs_hv_set_error(error, "cannot delete snapshot '%s' of VM '%s'", name,
                        virDomainGetName(virDomainSnapshotGetDomain(snap)));
        return false;
    }
    return true;
}

/* Deletes TOP and its descendants (TOP NULL: every snapshot of DOM) one at a
 * time, leaves first, with FLAGS. libvirt 9.0's own DELETE_CHILDREN recurses
 * through the tree and was seen to crash the process on a deep tree of a
 * running domain; one leaf at a time never re-parents anything either.
 * With FORGET_UUID the display names of the deleted snapshots are dropped. */
/* The display name of snapshot INTERNAL of DOM (UUID) goes once the
 * snapshot is DELETED, or gone from libvirt all the same: a live
 * snapshot's metadata goes first, and if its contents then failed, it is
 * gone, and so is its name. */
static void forget_if_gone(virDomainPtr dom, const char *uuid, const char *internal, bool deleted)
{
    g_autoptr(virDomainSnapshot) still =
        deleted ? NULL : virDomainSnapshotLookupByName(dom, internal, 0);
    if (deleted || (!still && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT))
        vs_snapnames_forget(uuid, internal);
}

static bool delete_leaves_first(virDomainPtr dom, virDomainSnapshotPtr top, unsigned int flags,
                                const char *forget_uuid, GError **error)
{
    virDomainSnapshotPtr *all = NULL, *below = NULL;
    int n_all = virDomainListAllSnapshots(dom, &all, VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
    int n_below = top ? virDomainSnapshotListAllChildren(top, &below,
                                                         VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)
                      : 0;
    bool ok = n_all >= 0 && n_below >= 0;
    if (!ok)
        vs_hv_set_error(error, "cannot list the snapshots of VM '%s'", virDomainGetName(dom));
    g_autoptr(GHashTable) doomed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (top)
        g_hash_table_add(doomed, g_strdup(virDomainSnapshotGetName(top)));
    for (int i = 0; i < n_below; i++)
        g_hash_table_add(doomed, g_strdup(virDomainSnapshotGetName(below[i])));
    int deleted = 0;
    for (int i = n_all - 1; ok && i >= 0; i--) {
        g_autofree char *name = g_strdup(virDomainSnapshotGetName(all[i]));
        if (top && !g_hash_table_contains(doomed, name))
            continue;
        if (deleted++ && vs_fault_fails("delete-part-way")) { /* (a test's: stopped part-way) */
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot delete snapshot '%s'", name);
            ok = false;
        } else {
            bool gone = delete_one(all[i], flags, error);
            ok = gone;
            if (forget_uuid)
                forget_if_gone(dom, forget_uuid, name, gone);
        }
    }
    for (int i = 0; i < n_all; i++)
        virDomainSnapshotFree(all[i]);
    for (int i = 0; i < n_below; i++)
        virDomainSnapshotFree(below[i]);
    free(all);
    free(below);
    return ok;
}

static bool delete_locked(virDomainPtr dom, const char *uuid, gpointer data, GError **error)
{
    SnapOp *op = data;
    g_autoptr(virDomainSnapshot) snap = resolve(dom, uuid, op->name, error);
    if (!snap)
        return false;
    if (op->with_children)
        return delete_leaves_first(dom, snap, 0, uuid, error);
    g_autofree char *internal = g_strdup(virDomainSnapshotGetName(snap));
    bool deleted = vs_live_delete(snap, false, error); /* either kind; children move up */
    forget_if_gone(dom, uuid, internal, deleted);
    return deleted;
}

bool vs_snapshot_delete(const char *vm, const char *name, bool with_children, GError **error)
{
    SnapOp op = {.name = name, .with_children = with_children};
    return with_vm_locked(vm, delete_locked, &op, error);
}

bool vs_snapshot_revert_to(virDomainSnapshotPtr snap, GError **error)
{
    virDomainPtr dom = virDomainSnapshotGetDomain(snap);
    g_autofree char *uuid = vs_hv_uuid(dom);
    g_autoptr(GError) read_error = NULL;
    Facts *f = facts_get(uuid, snap, &read_error);
    bool live = f && f->v.live;
    facts_free(f);
    if (live)
        return vs_live_revert(snap, NULL, error);
    int rc = virDomainRevertToSnapshot(snap, 0);
    virErrorPtr err = rc < 0 ? virGetLastError() : NULL;
    if (rc < 0 && err && err->code == VIR_ERR_SNAPSHOT_REVERT_RISKY)
        rc = virDomainRevertToSnapshot(snap, VIR_DOMAIN_SNAPSHOT_REVERT_FORCE);
    if (rc < 0)
        vs_hv_set_error(error, "cannot revert VM '%s' to snapshot '%s'", virDomainGetName(dom),
                        virDomainSnapshotGetName(snap));
    return rc == 0;
}

static bool revert_locked(virDomainPtr dom, const char *uuid, gpointer data, GError **error)
{
    SnapOp *op = data;
    g_autoptr(virDomainSnapshot) snap = resolve(dom, uuid, op->name, error);
    if (!snap)
        return false;
    /* Both kinds stop QEMU and start it again from the snapshot: a crash in
     * between would leave the VM shut off. */
    VsJournal *journal = vs_journal_begin("revert", uuid, error);
    if (!journal)
        return false;
    vs_journal_set(journal, "internal", virDomainSnapshotGetName(snap));
    if (!vs_journal_commit(journal, error)) {
        vs_journal_end(journal);
        return false;
    }
    bool reverted = vs_snapshot_revert_to(snap, error);
    /* Broke off: reverted again once libvirt is back (the same state
     * whether or not the first one happened), on the new connection. */
    bool settled = false;
    g_autoptr(virDomainSnapshot) again = NULL;
    if (!reverted && vs_hv_broke_off(error)) {
        g_autofree char *what = g_strdup_printf("revert of VM '%s' to snapshot '%s'",
                                                virDomainGetName(dom), op->name);
        VsJournalOutcome outcome = vs_journal_settle(&journal, what, error);
        if (outcome == VS_JOURNAL_UNDONE)
            g_prefix_error(error, "the revert to snapshot '%s' could not be finished (the "
                                  "snapshot is gone, or libvirt refused: see the log): ",
                           op->name);
        reverted = settled = outcome == VS_JOURNAL_DONE;
        again = settled ? snapshot_again(uuid, virDomainGetName(dom),
                                         virDomainSnapshotGetName(snap), error)
                        : NULL;
    }
    vs_journal_end(journal);
    if (!reverted)
        return false;
    vs_info("VM '%s': reverted to snapshot '%s'", virDomainGetName(dom), op->name);
    /* (settled: only the handle on the new connection can be read) */
    op->result = settled && !again ? NULL : snapshot_info(uuid, again ? again : snap, error);
    if (!op->result) /* (done: a client must not take it for not done) */
        g_prefix_error(error, "VM '%s' was reverted to snapshot '%s', but it cannot be read back: ",
                       virDomainGetName(dom), op->name);
    return op->result != NULL;
}

VsSnapshot *vs_snapshot_revert(const char *vm, const char *name, GError **error)
{
    SnapOp op = {.name = name};
    with_vm_locked(vm, revert_locked, &op, error);
    return op.result;
}

bool vs_snapshot_discard_metadata(virDomainPtr dom, GError **error)
{
    g_autofree char *uuid = vs_hv_uuid(dom);
    vs_snapshot_facts_forget(uuid);
    return delete_leaves_first(dom, NULL, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY, NULL, error);
}

bool vs_snapshot_remove_domain(virDomainPtr dom, const VsSnapshotTree *tree, bool persistent,
                               bool keep_nvram, VsJournal *record, bool *whole, GError **error)
{
    const char *name = virDomainGetName(dom);
    if (whole)
        *whole = true;
    if (record) {
        vs_journal_set_tree(record, tree->xml, tree->current);
        if (!vs_journal_commit(record, error))
            return false;
    }
    /* A transient domain goes with its power-off and its metadata files
     * stay: the metadata goes first, leaves first (it may stop part-way). */
    bool ok = persistent || vs_snapshot_discard_metadata(dom, error);
    if (ok) {
        vs_fault_point("delete-before-power-off");
        bool power_off = !persistent || virDomainIsActive(dom) == 1;
        bool fault = power_off && vs_fault_fails("destroy");
        if (power_off && (fault || virDomainDestroy(dom) < 0)) {
            g_autoptr(GError) destroy_error = NULL;
            vs_hv_set_error(&destroy_error, "cannot power off VM '%s'", name);
            /* Stopped meanwhile (by its guest, or by QEMU's end at a restart
             * of the embedded driver): as good as powered off. */
            int active = fault ? 1 : virDomainIsActive(dom);
            bool stopped = active == 0 || (active < 0 && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN);
            if (!stopped) {
                g_propagate_error(error, g_steal_pointer(&destroy_error));
                ok = false;
            }
        }
    }
    /* libvirt's undefine drops the snapshots' metadata first and may fail
     * after it (the NVRAM store, the managed-save image or the definition's
     * file not removed). */
    if (ok && persistent && vs_hv_undefine(dom, keep_nvram) < 0) {
        vs_hv_set_error(error, "cannot delete VM '%s'", name);
        ok = false;
    }
    if (ok || vs_hv_broke_off(error)) /* broken off: the handle is of no use now */
        return ok;
    g_autoptr(GError) restore_error = NULL;
    bool restored = vs_snapshot_tree_define_missing(dom, tree, NULL, &restore_error) >= 0;
    if (!restored)
        vs_error("VM '%s' was not %s, and its snapshots could not all be defined again: %s",
                 name, persistent ? "deleted" : "powered off", restore_error->message);
    if (whole)
        *whole = restored;
    return false;
}

/* ---- moving a tree ----------------------------------------------------- */

void vs_snapshot_tree_free(VsSnapshotTree *tree)
{
    if (!tree)
        return;
    g_ptr_array_unref(tree->xml);
    g_free(tree->current);
    g_free(tree);
}

VsSnapshotTree *vs_snapshot_tree_save(virDomainPtr dom, GError **error)
{
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(dom, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
    if (n < 0) {
        vs_hv_set_error(error, "cannot list the snapshots of VM '%s'", virDomainGetName(dom));
        return NULL;
    }
    g_autoptr(VsSnapshotTree) tree = g_new0(VsSnapshotTree, 1);
    tree->xml = g_ptr_array_new_with_free_func(g_free);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        char *xml = ok ? virDomainSnapshotGetXMLDesc(snaps[i], VIR_DOMAIN_SNAPSHOT_XML_SECURE)
                       : NULL;
        if (ok && !xml) {
            vs_hv_set_error(error, "cannot read snapshot '%s'", virDomainSnapshotGetName(snaps[i]));
            ok = false;
        }
        if (xml)
            g_ptr_array_add(tree->xml, xml);
        if (virDomainSnapshotIsCurrent(snaps[i], 0) == 1)
            tree->current = g_strdup(virDomainSnapshotGetName(snaps[i]));
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    return ok ? g_steal_pointer(&tree) : NULL;
}

static bool define_one(virDomainPtr dom, const char *text, const char *current,
                       const VsDomainRewrite *rewrite, GError **error)
{
    g_autoptr(xmlDoc) doc = vs_xml_parse(text, error);
    if (!doc)
        return false;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *inner = vs_xml_child(root, "domain");
    if (inner && rewrite)
        vs_domain_rewrite(inner, rewrite);
    /* A running snapshot also keeps the persistent definition, which a
     * revert restores: it must name the new domain and its disks too. */
    xmlNode *inactive = vs_xml_child(root, "inactiveDomain");
    if (inactive && rewrite)
        vs_domain_rewrite(inactive, rewrite);
    g_autofree char *name = vs_xml_string(doc, NULL, "string(/domainsnapshot/name)");
    /* A live snapshot's memory file is the new VM's copy (see clone.c). */
    xmlNode *memory = vs_xml_child(root, "memory");
    if (memory && rewrite && rewrite->uuid && name && xmlHasProp(memory, (const xmlChar *)"file")) {
        g_autofree char *ram = vs_live_ram_path(rewrite->uuid, name);
        xmlSetProp(memory, (const xmlChar *)"file", (const xmlChar *)ram);
    }
    g_autofree char *xml = vs_xml_to_string(doc);
    unsigned int flags = VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE;
    if (current && name && strcmp(current, name) == 0)
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT;
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotCreateXML(dom, xml, flags);
    if (!snap)
        vs_hv_set_error(error, "cannot redefine snapshot '%s' on VM '%s'", name ? name : "?",
                        virDomainGetName(dom));
    return snap != NULL;
}

int vs_snapshot_tree_define_missing(virDomainPtr dom, const VsSnapshotTree *tree,
                                    const VsDomainRewrite *rewrite, GError **error)
{
    g_autofree char *uuid = vs_hv_uuid(dom);
    vs_snapshot_facts_forget(uuid);
    if (vs_fault_fails("tree-redefine")) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "injected failure");
        return -1;
    }
    int defined = 0;
    for (guint i = 0; i < tree->xml->len; i++) {
        const char *text = g_ptr_array_index(tree->xml, i);
        g_autoptr(xmlDoc) doc = vs_xml_parse(text, error);
        g_autofree char *name =
            doc ? vs_xml_string(doc, NULL, "string(/domainsnapshot/name)") : NULL;
        if (doc && !name)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "a saved snapshot of VM '%s' has no name",
                        virDomainGetName(dom));
        if (!name)
            return -1;
        g_autoptr(virDomainSnapshot) there = virDomainSnapshotLookupByName(dom, name, 0);
        if (!there && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
            vs_hv_set_error(error, "cannot look up snapshot '%s' of VM '%s'", name,
                            virDomainGetName(dom));
            return -1;
        }
        if (there)
            continue;
        if (!define_one(dom, text, tree->current, rewrite, error))
            return -1;
        defined++;
    }
    return defined;
}

bool vs_snapshot_tree_define(virDomainPtr dom, const VsSnapshotTree *tree,
                             const VsDomainRewrite *rewrite, GError **error)
{
    g_autofree char *uuid = vs_hv_uuid(dom);
    vs_snapshot_facts_forget(uuid);
    for (guint i = 0; i < tree->xml->len; i++) {
        if (!define_one(dom, g_ptr_array_index(tree->xml, i), tree->current, rewrite, error)) {
            vs_snapshot_discard_metadata(dom, NULL);
            return false;
        }
    }
    return true;
}
