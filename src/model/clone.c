/* clone.c: VM clone with snapshots: copy each writable disk whole (internal
 * snapshots live inside the qcow2 files), the UEFI variable store and the
 * memory file of each live snapshot, define the new domain with new MAC
 * addresses, then redefine every snapshot with its domain copy (and memory
 * file) pointing at the clone, with the same new MACs. On failure the
 * half-made clone is removed. */
#include "clone.h"

#include "../util/error.h"
#include "../util/fault.h"
#include "../util/log.h"
#include "../util/names.h"
#include "hv.h"
#include "images.h"
#include "journal.h"
#include "live.h"
#include "snapnames.h"
#include "snapshot.h"
#include "snaptree.h"
#include "vmlock.h"
#include "vmnames.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

struct VsCloneJob {
    char *vm, *uuid, *name;
    VsVmLock *lock;
    guint64 ticket;
};

/* The target of the first writable disk of DOC's domain that is not a
 * plain file (a block device, a volume, a network disk), or NULL. A clone
 * copies files only; it would share such a disk with its source. */
static char *shared_disk(xmlDoc *doc)
{
    return vs_xml_string(doc, NULL,
                         "string(/domain/devices/disk[@device='disk' and not(readonly) and "
                         "@type!='file'][1]/target/@dev)");
}

/* False, with a 409, if the clone would share a disk with DOM. */
static bool disks_copyable(const char *vm, xmlDoc *doc, GError **error)
{
    g_autofree char *shared = shared_disk(doc);
    if (shared && *shared) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' has disk %s, which is not a file: a clone would share it "
                    "(virtsnapd clones file disks only)", vm, shared);
        return false;
    }
    /* refused now, not after copying the disk (a remote host's images are
     * not read here: its copies are checked as they are made) */
    g_autoptr(GPtrArray) files = vs_xml_nodes(
        doc, NULL,
        "/domain/devices/disk[@device='disk' and @type='file' and not(readonly)]/source/@file");
    for (guint i = 0; vs_hv_is_local() && i < files->len; i++) {
        xmlChar *path = xmlNodeGetContent(g_ptr_array_index(files, i));
        bool movable = vs_image_backing_movable((const char *)path, error);
        xmlFree(path);
        if (!movable)
            return false;
    }
    return true;
}

VsCloneJob *vs_clone_prepare(const char *vm, const char *new_name, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn)
        return NULL;
    g_autoptr(virDomain) dom = vs_hv_domain(conn, vm, error);
    if (!dom)
        return NULL;
    if (virDomainIsActive(dom) == 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is running: shut it off before cloning it", vm);
        return NULL;
    }
    g_autofree char *uuid = vs_hv_uuid(dom);
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, error);
    if (!doc || !disks_copyable(vm, doc, error) ||
        !vs_vmlock_has_room(vs_vmlock_for(uuid), vm, error))
        return NULL;
    g_autofree char *name = NULL;
    if (new_name) {
        if (!vs_vmname_hold(conn, new_name, error))
            return NULL;
        name = g_strdup(new_name);
    } else {
        for (int n = 1; !name; n++) {
            /* Shorten the VM's name so that the default stays a valid name. */
            g_autofree char *suffix = g_strdup_printf("-clone-%d", n);
            glong room = VS_NAME_MAX_CHARS - (glong)strlen(suffix);
            g_autofree char *base = g_utf8_substring(vm, 0, MIN(g_utf8_strlen(vm, -1), room));
            /* (and within VS_VM_NAME_MAX_BYTES: a name of 4-byte characters) */
            while (*base && strlen(base) + strlen(suffix) > VS_VM_NAME_MAX_BYTES)
                *g_utf8_find_prev_char(base, base + strlen(base)) = '\0';
            g_autofree char *candidate = g_strconcat(base, suffix, NULL);
            if (!vs_vm_name_valid(candidate, NULL)) { /* a VM another tool named ".old", say */
                g_free(candidate);
                candidate = g_strconcat("vm", suffix, NULL);
            }
            g_autoptr(GError) why = NULL;
            if (vs_vmname_hold(conn, candidate, &why))
                name = g_steal_pointer(&candidate);
            else if (!g_error_matches(why, VS_ERROR, VS_ERR_CONFLICT)) { /* none can be told free */
                g_propagate_error(error, g_steal_pointer(&why));
                return NULL;
            }
        }
    }
    VsCloneJob *job = g_new0(VsCloneJob, 1);
    job->vm = g_strdup(vm);
    job->uuid = g_steal_pointer(&uuid);
    job->name = g_steal_pointer(&name);
    job->lock = vs_vmlock_for(job->uuid);
    job->ticket = vs_vmlock_ticket(job->lock);
    return job;
}

const char *vs_clone_job_name(const VsCloneJob *job) { return job->name; }

void vs_clone_job_free(gpointer data)
{
    VsCloneJob *job = data;
    vs_vmname_release(job->name);
    g_free(job->vm);
    g_free(job->uuid);
    g_free(job->name);
    g_free(job);
}

typedef struct {
    VsTask *task;
    guint64 done, total, current_size;
} CopyProgress;

static void on_copy_progress(int percent, gpointer data)
{
    CopyProgress *p = data;
    guint64 bytes = p->done + p->current_size * (guint64)percent / 100;
    /* Copying is most of the work: 0..90 %, the definitions the rest. */
    vs_task_set_progress(p->task, p->total ? (int)(bytes * 90 / p->total) : 90);
}

typedef struct {
    char *src, *dst;
} FileCopy;

static void file_copy_free(gpointer p)
{
    FileCopy *c = p;
    g_free(c->src);
    g_free(c->dst);
    g_free(c);
}

static void plan_copy(GPtrArray *plan, const char *src, char *dst)
{
    FileCopy *c = g_new0(FileCopy, 1);
    c->src = g_strdup(src);
    c->dst = dst;
    g_ptr_array_add(plan, c);
}

/* The writable file disks of DOC's domain go to new images; PATHS gets
 * target → new path. */
static void plan_disks(GPtrArray *plan, xmlDoc *doc, const char *new_uuid, GHashTable *paths)
{
    g_autoptr(GPtrArray) disks = vs_xml_nodes(
        doc, NULL, "/domain/devices/disk[@device='disk' and @type='file' and not(readonly)]");
    for (guint i = 0; i < disks->len; i++) {
        xmlNode *disk = g_ptr_array_index(disks, i);
        g_autofree char *src = vs_xml_string(doc, disk, "string(source/@file)");
        g_autofree char *target = vs_xml_string(doc, disk, "string(target/@dev)");
        if (!src || !target)
            continue;
        g_autofree char *stem = g_strdup_printf("%s-%s", new_uuid, target);
        char *dst = vs_image_new_path(stem);
        g_hash_table_insert(paths, g_strdup(src), g_strdup(dst));
        plan_copy(plan, src, dst);
    }
}

/* The UEFI variable store DOC's domain names (<os><nvram>: its text, or
 * since libvirt 8.5 its <source file>), or NULL. */
static char *nvram_path(xmlDoc *doc)
{
    char *path = vs_xml_string(doc, NULL, "string(/domain/os/nvram/source/@file)");
    if (!path || !*path) {
        g_free(path);
        path = vs_xml_string(doc, NULL, "normalize-space(/domain/os/nvram/text())");
    }
    if (path && !*path)
        g_clear_pointer(&path, g_free);
    return path;
}

/* The clone's own UEFI variable store, beside the source's: its path, or
 * NULL if the VM has none. A copy of the source's where that is a file on
 * this host; else (never booted, or on a remote host) libvirt makes it from
 * the firmware's template at the clone's first start. Never the source's
 * own: the two VMs would share firmware settings, and deleting one would
 * delete the other's store. */
static char *plan_nvram(GPtrArray *plan, xmlDoc *doc, const char *new_uuid)
{
    g_autofree char *src = nvram_path(doc);
    if (!src)
        return NULL;
    g_autofree char *dir = g_path_get_dirname(src);
    g_autofree char *file = g_strdup_printf("%s_VARS.fd", new_uuid);
    char *dst = g_build_filename(dir, file, NULL);
    if (vs_hv_is_local() && g_file_test(src, G_FILE_TEST_IS_REGULAR))
        plan_copy(plan, src, g_strdup(dst));
    return dst;
}

/* Copies PLAN's files, listing each in the journal before it is made. */
static bool copy_files(VsTask *task, VsJournal *journal, GPtrArray *plan, GPtrArray *made,
                       GError **error)
{
    CopyProgress progress = {.task = task};
    for (guint i = 0; i < plan->len; i++) {
        struct stat st;
        if (stat(((FileCopy *)g_ptr_array_index(plan, i))->src, &st) == 0)
            progress.total += (guint64)st.st_size;
    }
    for (guint i = 0; i < plan->len; i++) {
        FileCopy *c = g_ptr_array_index(plan, i);
        g_autofree char *dir = g_path_get_dirname(c->dst);
        g_ptr_array_add(made, g_strdup(c->dst));
        vs_journal_set_list(journal, "files", (const char *const *)made->pdata, made->len);
        if (!vs_journal_commit(journal, error))
            return false;
        if (g_mkdir_with_parents(dir, 0700) != 0) {
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s", dir);
            return false;
        }
        struct stat st;
        progress.current_size = stat(c->src, &st) == 0 ? (guint64)st.st_size : 0;
        bool ram = g_str_has_suffix(c->dst, ".ram");
        vs_task_set_message(task, ram ? "copying snapshot memory" : "copying disks");
        if (!vs_image_copy(c->src, c->dst, on_copy_progress, &progress, error) ||
            (!ram && !vs_image_keep_backing(c->src, c->dst, error)))
            return false;
        progress.done += progress.current_size;
    }
    return true;
}

/* Plans what TREE's snapshots need of the clone, each one's XML parsed
 * once: every writable file disk that a snapshot's copy of the domain names
 * must be one of those copied (PATHS), as a disk detached since would
 * otherwise stay the source's and go with the clone's delete; and the memory
 * file of a live snapshot goes to the clone's own directory, where the
 * redefined metadata will name it. */
static bool plan_tree(GPtrArray *plan, const char *vm, const VsSnapshotTree *tree,
                      GHashTable *paths, const char *new_uuid, GError **error)
{
    for (guint i = 0; i < tree->xml->len; i++) {
        g_autoptr(xmlDoc) doc = vs_xml_parse(g_ptr_array_index(tree->xml, i), error);
        if (!doc)
            return false;
        g_autofree char *name = vs_xml_string(doc, NULL, "string(/domainsnapshot/name)");
        g_autoptr(GPtrArray) files = vs_xml_nodes(
            doc, NULL,
            "/domainsnapshot/*[self::domain or self::inactiveDomain]/devices/"
            "disk[@device='disk' and @type='file' and not(readonly)]/source/@file");
        for (guint k = 0; k < files->len; k++) {
            xmlChar *file = xmlNodeGetContent(g_ptr_array_index(files, k));
            bool copied = g_hash_table_contains(paths, file);
            if (!copied)
                g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                            "snapshot '%s' of VM '%s' names disk %s, which the VM no longer "
                            "has: a clone would share it (delete that snapshot first)",
                            name ? name : "?", vm, (const char *)file);
            xmlFree(file);
            if (!copied)
                return false;
        }
        g_autofree char *ram = vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)");
        if (ram && name)
            plan_copy(plan, ram, vs_live_ram_path(new_uuid, name));
    }
    return true;
}

/* Whether the VM being cloned stayed shut off while its files were copied
 * (MARK: vs_hv_domain_start_mark before it was found shut off): our own
 * operations wait for the clone, but another libvirt client may have
 * started it, and its disks were then copied while being written. A start
 * libvirt told of fails it, even if the VM was stopped again; where
 * libvirt cannot say (the connection was made again meanwhile), the VM
 * must be shut off now (through CONN). False with ERROR: CONFLICT, or
 * libvirt's. */
static bool source_still_off(virConnectPtr conn, const VsCloneJob *job, guint64 mark,
                             GError **error)
{
    int started = vs_hv_domain_started_since(job->uuid, mark);
    if (started == 0)
        return true;
    g_autoptr(virDomain) source =
        started < 0 ? vs_hv_domain_again(conn, job->uuid, job->vm, error) : NULL;
    int active = started > 0 ? 1 : source ? virDomainIsActive(source) : -1;
    if (active < 0 && source)
        vs_hv_set_error(error, "cannot tell whether VM '%s' was started meanwhile", job->vm);
    if (active == 1)
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' was started by another libvirt client while its disks were copied, "
                    "so the copies may not be whole: the clone '%s' is not made (clone it "
                    "again while the VM is shut off)", job->vm, job->name);
    return active == 0;
}

static bool clone_locked(VsTask *task, VsCloneJob *job, GError **error)
{
    g_autoptr(virConnect) conn = vs_hv_connect(error);
    if (!conn || vs_journal_settle_pending(job->uuid, error) < 0)
        return false;
    g_autoptr(virDomain) dom = vs_hv_domain_again(conn, job->uuid, job->vm, error);
    if (!dom)
        return false;
    guint64 start_mark = vs_hv_domain_start_mark(job->uuid); /* (before the state is read) */
    if (virDomainIsActive(dom) == 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "VM '%s' was started: cannot clone it", job->vm);
        return false;
    }
    g_autoptr(xmlDoc) doc =
        vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE, error);
    if (!doc || !disks_copyable(job->vm, doc, error))
        return false;
    g_autoptr(VsSnapshotTree) tree = vs_snapshot_tree_save(dom, error);
    if (!tree)
        return false;
    g_autofree char *new_uuid = g_uuid_string_random();
    g_autofree char *log_name = g_strdup_printf("%s.serial.log", new_uuid);
    g_autofree char *log_path = g_build_filename(vs_hv_logs_dir(), log_name, NULL);
    g_autofree char *vnc_name = g_strdup_printf("%s.vnc", new_uuid);
    g_autofree char *vnc_path = g_build_filename(vs_hv_vnc_dir(), vnc_name, NULL);
    g_autoptr(GHashTable) paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    VsDomainRewrite rewrite = {
        .name = job->name, .uuid = new_uuid, .disk_paths = paths, .serial_log = log_path,
        .vnc_socket = vnc_path, .macs = macs};
    g_autoptr(virDomain) clone = NULL;
    VsJournal *journal = vs_journal_begin("clone", job->uuid, error);
    if (!journal)
        return false;
    vs_journal_set(journal, "new_uuid", new_uuid);
    g_autoptr(GPtrArray) plan = g_ptr_array_new_with_free_func(file_copy_free);
    plan_disks(plan, doc, new_uuid, paths);
    g_autofree char *nvram = plan_nvram(plan, doc, new_uuid);
    rewrite.nvram = nvram;
    /* The clone is an operation on the new VM from the first file it
     * copies until its snapshots are in place: a request for it meanwhile
     * waits (and finds it gone if the clone fails), and the janitor's
     * sweep, which sees the copied memory files of a VM libvirt does not
     * have yet, waits too instead of removing them. */
    VsVmLock *new_lock = vs_vmlock_for(new_uuid);
    vs_vmlock_acquire(new_lock);
    vs_task_set_target_uuid(task, new_uuid); /* what it is known by through renames */
    bool ok = plan_tree(plan, job->vm, tree, paths, new_uuid, error) &&
              vs_journal_commit(journal, error) && copy_files(task, journal, plan, made, error);
    if (ok) {
        xmlNode *root = xmlDocGetRootElement(doc);
        vs_domain_rewrite(root, &rewrite); /* new MACs, kept for the snapshots' copies */
        g_autofree char *xml = vs_xml_to_string(doc);
        vs_fault_point("clone-after-copy");
        /* Through the connection as it is now: one lost during a long copy
         * (libvirtd restarted) fails neither the define nor the copies. */
        g_autoptr(virConnect) now = vs_journal_connect_waiting(error);
        ok = now && source_still_off(now, job, start_mark, error);
        clone = ok ? virDomainDefineXML(now, xml) : NULL;
        if (ok && !clone)
            vs_hv_set_error(error, "cannot define the clone '%s'", job->name);
        ok = clone != NULL;
    }
    vs_fault_point("clone-after-define");
    if (ok)
        vs_task_set_message(task, "copying the snapshot tree");
    ok = ok && vs_snapshot_tree_define(clone, tree, &rewrite, error);
    ok = ok && vs_snapnames_copy_vm(job->uuid, new_uuid, error);
    if (!ok && vs_hv_broke_off(error)) {
        /* libvirtd may hold the clone's domain: removed, with the files,
         * once it is back; the files stay as long as it may. */
        g_autofree char *what = g_strdup_printf("clone '%s' of VM '%s'", job->name, job->vm);
        if (vs_journal_settle(&journal, what, error) == VS_JOURNAL_UNDONE)
            g_prefix_error(error, "the clone '%s' was not made, nothing of it is left: ",
                           job->name);
    } else if (!ok && clone && vs_hv_undefine(clone, false) < 0) {
        /* (with its NVRAM: libvirt refuses otherwise) Its files stay
         * with the domain that names them, for the user to delete. */
        g_autoptr(GError) why = NULL;
        vs_hv_set_error(&why, "cannot remove the half-made clone '%s'", job->name);
        vs_error("%s; it is left as it is", why->message);
    } else if (!ok) {
        for (guint i = 0; i < made->len; i++)
            g_unlink(g_ptr_array_index(made, i));
        vs_snapshot_forget_vm(new_uuid);
    }
    if (!ok) {
        vs_journal_end(journal);
        vs_vmlock_release(new_lock);
        return false;
    }
    vs_journal_end(journal);
    vs_vmlock_release(new_lock);
    vs_info("cloned VM '%s' as '%s' with %u snapshot(s)", job->vm, job->name, tree->xml->len);
    return true;
}

gboolean vs_clone_job_run(VsTask *task, gpointer data, GError **error)
{
    VsCloneJob *job = data;
    vs_task_set_progress(task, 0);
    vs_task_set_message(task, "waiting for earlier operations on the VM");
    vs_vmlock_wait(job->lock, job->ticket);
    bool ok = clone_locked(task, job, error);
    vs_vmlock_release(job->lock);
    return ok;
}
