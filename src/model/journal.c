/* journal.c: intent records for multi-step operations and their recovery
 * at start (see journal.h). One key file per operation, written atomically. */
#include "journal.h"

#include "../util/error.h"
#include "../util/files.h"
#include "../util/log.h"
#include "hv.h"
#include "images.h"
#include "inuse.h"
#include "keep.h"
#include "live.h"
#include "saveimage.h"
#include "snapnames.h"
#include "snapshot.h"
#include "snaptree.h"
#include "vmlock.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt-qemu.h>
#include <string.h>

struct VsJournal {
    char *path;
    GKeyFile *kf;
    bool on_disk; /* PATH exists: a commit replaces it */
};

static char *dir;

/* How long a settle, or recovery at start, waits for the connection and
 * libvirt's jobs: 2 minutes, or $VIRTSNAP_SETTLE_WAIT seconds (the tests'
 * way to see it give up). */
static gint64 settle_wait_us(void)
{
    const char *env = g_getenv("VIRTSNAP_SETTLE_WAIT");
    gint64 seconds = env ? g_ascii_strtoll(env, NULL, 10) : 120;
    return CLAMP(seconds, 0, 3600) * G_USEC_PER_SEC;
}

/* The VM locks' gate: no change to a VM before its pending records are
 * settled (vs_journal_settle_pending). */
static bool settled_first(const char *uuid, GError **error)
{
    return vs_journal_settle_pending(uuid, error) >= 0;
}

bool vs_journal_init(const char *state_dir, GError **error)
{
    dir = g_build_filename(state_dir, "journal", NULL);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s", dir);
        return false;
    }
    vs_vmlock_set_gate(settled_first);
    return true;
}

VsJournal *vs_journal_begin(const char *kind, const char *uuid, GError **error)
{
    if (!dir) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "the journal is not set up");
        return NULL;
    }
    VsJournal *j = g_new0(VsJournal, 1);
    g_autofree char *random = g_uuid_string_random();
    g_autofree char *file = g_strdup_printf("%s-%s-%.8s.op", kind, uuid, random);
    j->path = g_build_filename(dir, file, NULL);
    j->kf = g_key_file_new();
    g_key_file_set_string(j->kf, "op", "kind", kind);
    g_key_file_set_string(j->kf, "op", "uuid", uuid);
    return j;
}

void vs_journal_set(VsJournal *j, const char *key, const char *value)
{
    g_key_file_set_string(j->kf, "op", key, value ? value : "");
}

void vs_journal_set_list(VsJournal *j, const char *key, const char *const *values, gsize n)
{
    /* Base64, so XML with any character survives the key file. */
    g_autoptr(GPtrArray) encoded = g_ptr_array_new_with_free_func(g_free);
    for (gsize i = 0; i < n; i++)
        g_ptr_array_add(encoded, g_base64_encode((const guchar *)values[i], strlen(values[i])));
    g_key_file_set_string_list(j->kf, "op", key, (const char *const *)encoded->pdata, n);
}

void vs_journal_set_tree(VsJournal *j, const GPtrArray *xml, const char *current)
{
    vs_journal_set_list(j, "tree", (const char *const *)xml->pdata, xml->len);
    vs_journal_set(j, "current", current);
}

/* Written whole: a crash of virtsnapd never leaves half a record. A small
 * new record is created in place (vs_file_write_new: whole or empty, and an
 * empty one is dropped at start as an operation that never began, which it
 * is: the operation's first change follows the commit); a larger one, or a
 * replacement, is written to a new file and renamed. A rename's record also
 * holds what exists nowhere else while the metadata is dropped (the tree):
 * it is synced, and its directory (GLib's DURABLE), so that a power cut
 * cannot lose it either. The others are not synced when new (a replacement is, by GLib's
 * CONSISTENT): an fsync here costs the create 2-3 ms on ext4 (it flushes
 * the previous savevm's data with it; bench, session 12), and after a
 * power cut libvirt's own metadata is no more durable than they would be. */
/* Whether a record of KIND holds a snapshot tree whose metadata goes (a
 * rename's, a transient VM's power-off's) or went (a refused delete's,
 * "restore"): recovery defines it again. */
static bool holds_tree(const char *kind)
{
    return g_strcmp0(kind, "rename") == 0 || g_strcmp0(kind, "poweroff") == 0 ||
           g_strcmp0(kind, "restore") == 0;
}

static bool commit(VsJournal *j, bool durable, GError **error)
{
    gsize len = 0;
    g_autofree char *text = g_key_file_to_data(j->kf, &len, NULL);
    g_autofree char *kind = g_key_file_get_string(j->kf, "op", "kind", NULL);
    /* the only copy of a tree whose metadata goes: synced */
    durable = durable || holds_tree(kind);
    GFileSetContentsFlags flags = G_FILE_SET_CONTENTS_CONSISTENT |
                                  (durable ? G_FILE_SET_CONTENTS_DURABLE
                                           : G_FILE_SET_CONTENTS_ONLY_EXISTING);
    if (!vs_file_write_record(j->path, text, len, !durable && !j->on_disk, flags, error))
        return false;
    j->on_disk = true;
    return true;
}

bool vs_journal_commit(VsJournal *j, GError **error)
{
    return commit(j, false, error);
}

bool vs_journal_commit_durable(VsJournal *j, GError **error)
{
    return commit(j, true, error);
}

static void journal_free(VsJournal *j)
{
    g_free(j->path);
    g_key_file_free(j->kf);
    g_free(j);
}

/* Whether a record of KIND, brought back after its operation finished,
 * would undo the operation's work at the next start: a clone's removes the
 * clone, a revert's reverts a VM used since (one that was shut off, say),
 * a rename's or power-off's defines again snapshots deleted since, a VM
 * create's removes the disk of a VM deleted since with its disks kept, a
 * VM delete's that libvirt refused deletes the VM its client was told
 * stays.
 * Their end is made durable (vs_journal_end). */
static bool replay_undoes(const char *kind)
{
    return holds_tree(kind) || !g_strcmp0(kind, "clone") || !g_strcmp0(kind, "revert") ||
           !g_strcmp0(kind, "create") || !g_strcmp0(kind, "delete");
}

/* Makes the removal of a record in the journal's directory survive a
 * power cut: the directory is synced (a few ms on ext4; an unlink alone
 * may be lost while libvirt's own files, which it syncs, are not). */
static void sync_dir(void)
{
    if (!vs_dir_sync(dir))
        vs_warn("cannot sync %s: %s", dir, g_strerror(errno));
}

void vs_journal_end(VsJournal *j)
{
    if (!j)
        return;
    g_autofree char *kind = g_key_file_get_string(j->kf, "op", "kind", NULL);
    if (g_unlink(j->path) == 0 && replay_undoes(kind))
        sync_dir();
    journal_free(j);
}

static GPtrArray *get_list(GKeyFile *kf, const char *key)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    gsize n = 0;
    g_auto(GStrv) items = g_key_file_get_string_list(kf, "op", key, &n, NULL);
    for (gsize i = 0; i < n; i++) {
        gsize len = 0;
        guchar *raw = g_base64_decode(items[i], &len);
        g_ptr_array_add(out, g_strndup((const char *)raw, len));
        g_free(raw);
    }
    return out;
}

/* Records kept because they could not be settled (at a cut-off operation's
 * end, or at start): the VM's next operation settles them first. */
static GMutex pending_lock;
static GPtrArray *pending; /* VsJournal* */

static void pend_at(VsJournal *j, bool front)
{
    g_mutex_lock(&pending_lock);
    if (!pending)
        pending = g_ptr_array_new();
    g_ptr_array_insert(pending, front ? 0 : -1, j);
    g_mutex_unlock(&pending_lock);
}

static void pend(VsJournal *j)
{
    pend_at(j, false);
}

/* The VM a kept record holds back: a clone's is the clone (its settling
 * removes the clone and touches nothing of the source), any other's its
 * VM. Settled under that VM's lock. */
static char *held_uuid(GKeyFile *kf)
{
    char *made = g_key_file_get_string(kf, "op", "new_uuid", NULL);
    return made ? made : g_key_file_get_string(kf, "op", "uuid", NULL);
}

/* The oldest kept record that holds back the VM with UUID, taken off the
 * list, or NULL. */
static VsJournal *take_pending(const char *uuid)
{
    VsJournal *found = NULL;
    g_mutex_lock(&pending_lock);
    for (guint i = 0; pending && !found && i < pending->len; i++) {
        VsJournal *j = g_ptr_array_index(pending, i);
        g_autofree char *held = held_uuid(j->kf);
        if (g_strcmp0(held, uuid) == 0)
            found = g_ptr_array_steal_index(pending, i);
    }
    g_mutex_unlock(&pending_lock);
    return found;
}

char **vs_journal_pending_uuids(void)
{
    g_autoptr(GStrvBuilder) uuids = g_strv_builder_new();
    g_mutex_lock(&pending_lock);
    for (guint i = 0; pending && i < pending->len; i++) {
        VsJournal *j = g_ptr_array_index(pending, i);
        g_autofree char *uuid = held_uuid(j->kf);
        if (uuid)
            g_strv_builder_add(uuids, uuid);
    }
    g_mutex_unlock(&pending_lock);
    return g_strv_builder_end(uuids);
}

/* vs_journal_stop_settling was called: waits end at once. */
static gint stopping;

void vs_journal_stop_settling(void)
{
    g_atomic_int_set(&stopping, 1);
}

static bool may_wait(gint64 deadline)
{
    return !g_atomic_int_get(&stopping) && g_get_monotonic_time() < deadline;
}

/* Waits until libvirt runs no job on DOM; false if that is not known by
 * DEADLINE (monotonic µs). A client that lost its connection mid-call may
 * find libvirtd still taking the snapshot, and libvirt lists a snapshot
 * from the moment it starts taking it (dropping it again if that fails): a
 * lookup before the job's end would take a snapshot not yet made as made,
 * or delete the qcow2 tag of one about to be. While QEMU's savevm runs,
 * libvirt lets no query in: virDomainGetJobInfo waits for up to 30 s and
 * then says the job lock timed out (busy, so asked again). Drivers that
 * report no jobs (the test driver) and shut-off domains count as idle. */
static bool wait_job_end(virDomainPtr dom, gint64 deadline)
{
    for (;;) {
        virDomainJobInfo info;
        int rc = virDomainGetJobInfo(dom, &info);
        int code = rc < 0 ? virGetLastErrorCode() : VIR_ERR_OK;
        virResetLastError();
        if ((rc == 0 && info.type == VIR_DOMAIN_JOB_NONE) || code == VIR_ERR_NO_SUPPORT ||
            code == VIR_ERR_OPERATION_INVALID)
            return true;
        if ((rc < 0 && code != VIR_ERR_OPERATION_TIMEOUT) || !may_wait(deadline))
            return false;
        g_usleep(100 * 1000);
    }
}

/* Whether the snapshot with XML DOC may be the one the record describes,
 * made by our call. A live one that names the record's memory file is:
 * that path holds our libvirt name. Else libvirt sets a snapshot's
 * creation time when it takes the call (a live one's, when virtsnapd
 * pauses the guest, which may come some seconds later), so one made seconds
 * before or long after our call began is another client's, made under the
 * name while ours broke off. Only on this host, whose clock libvirt uses. */
static bool made_by_our_call(xmlDoc *doc, GKeyFile *kf, const char *ram)
{
    g_autofree char *file =
        vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)");
    if (ram && g_strcmp0(file, ram) == 0)
        return true;
    gint64 began = g_key_file_get_int64(kf, "op", "began", NULL);
    if (!began || !vs_hv_is_local())
        return true;
    g_autofree char *text = vs_xml_string(doc, NULL, "string(/domainsnapshot/creationTime)");
    gint64 created = text ? g_ascii_strtoll(text, NULL, 10) : 0;
    return created >= began - 1 && created <= began + 60;
}

/* A snapshot create died or broke off: keep what libvirt has (DONE), else
 * remove a qcow2 tag that QEMU or qemu-img wrote without libvirt's metadata
 * (and, for a live one, let the memory copy end and delete its file).
 * UNSETTLED, touching nothing, if libvirt cannot say whether it has it
 * (or is still taking it). A snapshot of the name that is another
 * client's is left alone: UNDONE. */
static VsJournalOutcome recover_snapshot(virDomainPtr dom, const char *uuid, GKeyFile *kf,
                                         gint64 deadline)
{
    g_autofree char *internal = g_key_file_get_string(kf, "op", "internal", NULL);
    g_autofree char *display = g_key_file_get_string(kf, "op", "display", NULL);
    if (!internal || !display)
        return VS_JOURNAL_UNDONE;
    if (!wait_job_end(dom, deadline))
        return VS_JOURNAL_UNSETTLED;
    g_autofree char *ram = g_key_file_get_string(kf, "op", "ram", NULL);
    guint64 bandwidth = g_key_file_get_uint64(kf, "op", "bandwidth", NULL);
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotLookupByName(dom, internal, 0);
    g_autofree char *xml = snap ? virDomainSnapshotGetXMLDesc(snap, 0) : NULL;
    g_autoptr(xmlDoc) doc = xml ? vs_xml_parse(xml, NULL) : NULL;
    if (snap && !doc)
        return VS_JOURNAL_UNSETTLED; /* found, but not whose */
    if (snap && !made_by_our_call(doc, kf, ram)) {
        vs_warn("recovery: snapshot '%s' of VM '%s' is another client's, made since: left alone",
                internal, virDomainGetName(dom));
        return VS_JOURNAL_UNDONE;
    }
    /* A live snapshot's metadata may be in place while its memory file was
     * removed by the take's own cleanup (the call broke off at the end):
     * not a snapshot that can be reverted to, so not kept. (A create that
     * fell back to a classic one has RAM in its record but no such file.) */
    g_autofree char *file =
        doc ? vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)") : NULL;
    if (snap && file && g_strcmp0(file, ram) == 0 && !vs_save_image_complete(file)) {
        if (virDomainSnapshotDelete(snap, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) < 0)
            return VS_JOURNAL_UNSETTLED; /* its tags stay while libvirt lists it */
        g_clear_pointer(&snap, virDomainSnapshotFree);
    } else if (snap) {
        if (ram) /* the take's own cleanup may not have run (its copy has ended) */
            vs_live_settle_qemu(dom, bandwidth);
        vs_snapnames_set(uuid, internal, display, NULL);
        vs_info("recovery: snapshot '%s' of VM '%s' was completed", display, virDomainGetName(dom));
        return VS_JOURNAL_DONE;
    } else if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT) {
        return VS_JOURNAL_UNSETTLED;
    }
    if (ram) {
        vs_live_abandon(dom, internal, ram, g_key_file_get_boolean(kf, "op", "was_running", NULL),
                        bandwidth);
    } else if (virDomainIsActive(dom) == 1) {
        g_autofree char *cmd = g_strdup_printf("delvm %s", internal);
        char *reply = NULL;
        virDomainQemuMonitorCommand(dom, cmd, &reply, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP);
        free(reply);
        if (virDomainIsActive(dom) == 1) {
            virDomainInfo info;
            if (virDomainGetInfo(dom, &info) == 0 && info.state == VIR_DOMAIN_PAUSED &&
                g_key_file_get_boolean(kf, "op", "was_running", NULL))
                virDomainResume(dom);
        }
    } else if (vs_hv_is_local()) { /* a remote host's images are not ours to open */
        g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, NULL);
        g_autoptr(GPtrArray) paths =
            /* read-only disks hold no tag of ours (a shared base image
             * may hold one of the same name: never touched) */
            doc ? vs_xml_nodes(doc, NULL,
                               "/domain/devices/disk[@device='disk' and not(readonly)]/source/@file")
                : g_ptr_array_new();
        for (guint i = 0; i < paths->len; i++) {
            xmlChar *path = xmlNodeGetContent(g_ptr_array_index(paths, i));
            vs_image_delete_snapshot((const char *)path, internal, NULL);
            xmlFree(path);
        }
    }
    vs_snapnames_forget(uuid, internal);
    vs_info("recovery: removed the half-made snapshot '%s' of VM '%s'", display,
            virDomainGetName(dom));
    return VS_JOURNAL_UNDONE;
}

/* A revert cut off from libvirt: reverting again gives the state asked for
 * whether the first one happened or not (a revert is idempotent). DONE once
 * it has; UNDONE if the snapshot is gone; else UNSETTLED (recovery at start
 * then reverts a VM left shut off). */
static VsJournalOutcome finish_revert(virDomainPtr dom, GKeyFile *kf, gint64 deadline)
{
    g_autofree char *internal = g_key_file_get_string(kf, "op", "internal", NULL);
    if (!internal)
        return VS_JOURNAL_UNSETTLED;
    if (!wait_job_end(dom, deadline))
        return VS_JOURNAL_UNSETTLED;
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotLookupByName(dom, internal, 0);
    if (!snap)
        return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT ? VS_JOURNAL_UNDONE
                                                                   : VS_JOURNAL_UNSETTLED;
    g_autoptr(GError) error = NULL;
    if (!vs_snapshot_revert_to(snap, &error)) {
        vs_error("VM '%s': cannot revert to '%s' again: %s", virDomainGetName(dom), internal,
                 error->message);
        return vs_hv_broke_off(&error) ? VS_JOURNAL_UNSETTLED : VS_JOURNAL_UNDONE;
    }
    vs_info("VM '%s': reverted to '%s' again after the connection broke off",
            virDomainGetName(dom), internal);
    return VS_JOURNAL_DONE;
}

/* A VM rename died or broke off after it began dropping the snapshot
 * metadata: the saved tree's snapshots that the VM lacks are defined again
 * under the name it has now (the old one or the new), parents first; those
 * it has are left as they are (each was dropped whole or not at all, and
 * one defined again is already under the current name). DONE when the
 * tree is whole; else UNSETTLED, until libvirt has refused it (answered,
 * and said no) RENAME_REFUSALS times: then the tree's XML is saved in
 * STATE/kept-trees/ for the administrator, and the VM is let go (DONE), so
 * that a tree libvirt will never take cannot hold the VM's changes (its
 * delete among them) for ever. */
#define RENAME_REFUSALS 10

/* Writes TREE's snapshot XML, parents first, into a new directory under
 * STATE/kept-trees/; its path, or NULL. */
static char *keep_tree(virDomainPtr dom, const VsSnapshotTree *tree)
{
    g_autofree char *uuid = vs_hv_uuid(dom);
    g_autofree char *stamp = g_strdup_printf("%s-%" G_GINT64_FORMAT, uuid, g_get_real_time());
    char *path = g_build_filename(vs_hv_state_dir(), "kept-trees", stamp, NULL);
    if (g_mkdir_with_parents(path, 0700) != 0) {
        g_free(path);
        return NULL;
    }
    for (guint i = 0; i < tree->xml->len; i++) {
        g_autofree char *name = g_strdup_printf("%04u.xml", i);
        g_autofree char *file = g_build_filename(path, name, NULL);
        if (!g_file_set_contents(file, g_ptr_array_index(tree->xml, i), -1, NULL)) {
            g_free(path);
            return NULL;
        }
    }
    return path;
}

static VsJournalOutcome recover_rename(virDomainPtr dom, GKeyFile *kf, const char *path)
{
    g_autoptr(GPtrArray) xml = get_list(kf, "tree");
    if (xml->len == 0)
        return VS_JOURNAL_DONE;
    g_autofree char *kind = g_key_file_get_string(kf, "op", "kind", NULL);
    g_autoptr(VsSnapshotTree) tree = g_new0(VsSnapshotTree, 1);
    tree->xml = g_steal_pointer(&xml);
    tree->current = g_key_file_get_string(kf, "op", "current", NULL);
    if (tree->current && !*tree->current)
        g_clear_pointer(&tree->current, g_free);
    VsDomainRewrite rewrite = {.name = virDomainGetName(dom)};
    g_autoptr(GError) error = NULL;
    int defined = vs_snapshot_tree_define_missing(dom, tree, &rewrite, &error);
    if (defined < 0) {
        vs_error("recovery: cannot restore the snapshots of VM '%s': %s", virDomainGetName(dom),
                 error->message);
        if (vs_hv_broke_off(&error))
            return VS_JOURNAL_UNSETTLED;
        int refusals = g_key_file_get_integer(kf, "op", "refusals", NULL) + 1;
        g_key_file_set_integer(kf, "op", "refusals", refusals);
        /* counted across restarts too (the record is rewritten whole) */
        g_autoptr(GError) unsaved = NULL;
        if (!g_key_file_save_to_file(kf, path, &unsaved))
            vs_warn("recovery: cannot count the refusal in %s: %s", path, unsaved->message);
        g_autofree char *kept = refusals >= RENAME_REFUSALS ? keep_tree(dom, tree) : NULL;
        if (!kept)
            return VS_JOURNAL_UNSETTLED;
        vs_error("recovery: libvirt refused the snapshot tree of VM '%s' %d times; its "
                 "snapshots' XML is kept in %s (redefine them, parents first, in file order: "
                 "virsh snapshot-create --redefine), and the VM is no longer held",
                 virDomainGetName(dom), refusals, kept);
        return VS_JOURNAL_DONE;
    }
    if (defined > 0)
        vs_info("recovery: restored %d of %u snapshot(s) of VM '%s' after %s", defined,
                tree->xml->len, virDomainGetName(dom),
                g_strcmp0(kind, "poweroff") == 0  ? "an interrupted power-off"
                : g_strcmp0(kind, "restore") == 0 ? "a refused delete"
                                                  : "an interrupted rename");
    return VS_JOURNAL_DONE;
}

/* STATE/live, where live snapshots' memory files are (live.h). */
static char *live_root(void)
{
    return g_build_filename(vs_hv_state_dir(), "live", NULL);
}

/* Removes FILES, read from record KF (ONLY_LOGS: the serial logs and VNC
 * sockets among them), each only if it lies where virtsnapd keeps its own,
 * or is a clone's copy of the UEFI variable store (beside the source's,
 * named by the clone's new UUID): a record names nothing else. */
static void remove_listed(GKeyFile *kf, GPtrArray *files, bool only_logs)
{
    g_autofree char *live = live_root();
    g_autofree char *new_uuid = g_key_file_get_string(kf, "op", "new_uuid", NULL);
    g_autofree char *nvram = new_uuid ? g_strdup_printf("/%s_VARS.fd", new_uuid) : NULL;
    for (guint i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        bool log = vs_path_is_inside(path, vs_hv_logs_dir()) ||
                   vs_path_is_inside(path, vs_hv_vnc_dir());
        bool ours = log || vs_path_is_inside(path, vs_hv_images_dir()) ||
                    vs_path_is_inside(path, live) ||
                    (nvram && g_path_is_absolute(path) && g_str_has_suffix(path, nvram) &&
                     !strstr(path, "/../"));
        if (ours && (log || !only_logs))
            g_unlink(path);
        else if (!ours)
            vs_warn("recovery: %s is not among virtsnapd's files; left as it is", path);
    }
}

/* The same for the files the record's list KEY names. */
static void remove_files(GKeyFile *kf, const char *key, bool only_logs)
{
    g_autoptr(GPtrArray) files = get_list(kf, key);
    remove_listed(kf, files, only_logs);
}

/* A clone died or broke off: remove the clone. UNDONE once libvirt has no
 * domain of the clone's UUID (its copied files then removed); UNSETTLED if
 * it still has, or cannot say (nothing removed: the domain would point at
 * deleted files). */
static VsJournalOutcome recover_clone(virConnectPtr conn, GKeyFile *kf)
{
    g_autofree char *new_uuid = g_key_file_get_string(kf, "op", "new_uuid", NULL);
    if (!new_uuid)
        return VS_JOURNAL_UNDONE;
    g_autoptr(virDomain) clone = virDomainLookupByUUIDString(conn, new_uuid);
    if (clone) {
        vs_snapshot_discard_metadata(clone, NULL);
        vs_hv_undefine(clone, false); /* with its NVRAM, which libvirt requires */
        g_autoptr(virDomain) still = virDomainLookupByUUIDString(conn, new_uuid);
        if (still || virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
            return VS_JOURNAL_UNSETTLED;
    } else if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        return VS_JOURNAL_UNSETTLED;
    }
    remove_files(kf, "files", false);
    vs_snapshot_forget_vm(new_uuid);
    vs_info("recovery: removed an interrupted clone (%s)", new_uuid);
    return VS_JOURNAL_UNDONE;
}

/* A VM create died or broke off between making its disk and knowing
 * whether libvirt defined it: DONE if libvirt has the VM (its files are
 * its own), else UNDONE with the files removed. DOM: the VM of the
 * record's UUID, NULL when libvirt said it has none. */
static VsJournalOutcome recover_create(virDomainPtr dom, const char *uuid, GKeyFile *kf)
{
    if (dom)
        return VS_JOURNAL_DONE;
    remove_files(kf, "files", false);
    vs_info("recovery: removed the disk of a VM create that did not reach libvirt (%s)", uuid);
    return VS_JOURNAL_UNDONE;
}

/* A revert died. libvirt stops QEMU and starts it again from the snapshot, so
 * the VM may be left shut off (or its half-started QEMU is killed when libvirt
 * reconnects): then revert again. A VM already in the snapshot's state is
 * consistent whether the revert completed or never began, and stays as it is.
 * UNSETTLED when libvirt cannot answer; else DONE (a snapshot gone, or a
 * revert libvirt refuses, is logged and left). */
static VsJournalOutcome recover_revert(virDomainPtr dom, GKeyFile *kf)
{
    g_autofree char *internal = g_key_file_get_string(kf, "op", "internal", NULL);
    g_autoptr(virDomainSnapshot) snap =
        internal ? virDomainSnapshotLookupByName(dom, internal, 0) : NULL;
    if (internal && !snap && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT)
        return VS_JOURNAL_UNSETTLED;
    g_autofree char *xml = snap ? virDomainSnapshotGetXMLDesc(snap, 0) : NULL;
    g_autoptr(xmlDoc) doc = xml ? vs_xml_parse(xml, NULL) : NULL;
    g_autofree char *want = doc ? vs_xml_string(doc, NULL, "string(/domainsnapshot/state)") : NULL;
    if (!want)
        return snap && !xml ? VS_JOURNAL_UNSETTLED : VS_JOURNAL_DONE;
    if (virDomainIsActive(dom) == 1) {
        /* Takes a job, so it waits until libvirt has reconnected to QEMU
         * (and killed one whose start never finished). */
        char *reply = NULL;
        virDomainQemuMonitorCommand(dom, "info status", &reply, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP);
        free(reply);
    }
    int state = VIR_DOMAIN_NOSTATE;
    if (virDomainGetState(dom, &state, NULL, 0) < 0)
        return VS_JOURNAL_UNSETTLED;
    bool settled = !strcmp(want, "running")  ? state == VIR_DOMAIN_RUNNING
                   : !strcmp(want, "paused") ? state == VIR_DOMAIN_PAUSED
                                             : state != VIR_DOMAIN_SHUTOFF;
    if (settled)
        return VS_JOURNAL_DONE;
    g_autoptr(GError) error = NULL;
    if (vs_snapshot_revert_to(snap, &error)) {
        vs_info("recovery: finished an interrupted revert of VM '%s' to '%s'",
                virDomainGetName(dom), internal);
        return VS_JOURNAL_DONE;
    }
    vs_error("recovery: cannot finish the revert of VM '%s' to '%s': %s", virDomainGetName(dom),
             internal, error->message);
    return vs_hv_broke_off(&error) ? VS_JOURNAL_UNSETTLED : VS_JOURNAL_DONE;
}

/* A VM delete died or broke off: finish it. DONE once libvirt has no such
 * domain (its images then removed unless kept); UNSETTLED if it still has,
 * or cannot say (nothing removed). DOM may be NULL: gone already. */
static VsJournalOutcome recover_delete(virConnectPtr conn, virDomainPtr dom, const char *uuid,
                                       GKeyFile *kf)
{
    /* Died while the kept disks' description was written, before anything
     * of the VM went: the delete never began, and what was written goes.
     * Unless the VM is gone meanwhile (another client, a transient VM that
     * ended) and the description is whole (its index is written last):
     * then it is the one left of the snapshots in the kept disks, and the
     * delete is finished as one with its disks kept. */
    g_autofree char *describing = g_key_file_get_string(kf, "op", "describing", NULL);
    g_autofree char *index =
        describing && *describing ? g_build_filename(describing, "snapshots.json", NULL) : NULL;
    if (index && !(dom == NULL && g_file_test(index, G_FILE_TEST_IS_REGULAR))) {
        if (!vs_kept_dir_is_ours(describing))
            vs_warn("recovery: %s is not among virtsnapd's files; left as it is", describing);
        else
            vs_kept_discard(describing);
        vs_info("recovery: the delete of VM %s had not begun; %s", uuid,
                dom ? "its VM is left as it was" : "its VM is gone, by another way");
        return VS_JOURNAL_UNDONE;
    }
    bool keep_disks = g_key_file_get_boolean(kf, "op", "keep_disks", NULL);
    /* A delete whose client was told to look and try again (files_only,
     * vs_journal_settle) is never replayed on a VM that is there: only
     * its files go, once libvirt says it is gone (it was deleted after
     * all), so that they are not left behind with no VM to delete. */
    if (dom && g_key_file_get_boolean(kf, "op", "files_only", NULL)) {
        vs_info("VM %s is still there after its delete broke off: left as it is", uuid);
        return VS_JOURNAL_UNDONE;
    }
    if (dom) {
        /* Not known whether it is persistent (the connection broke): not
         * taken as transient, whose metadata would go before its power-off. */
        int persistence = virDomainIsPersistent(dom);
        if (persistence < 0)
            return VS_JOURNAL_UNSETTLED;
        g_autoptr(GError) error = NULL;
        g_autoptr(VsSnapshotTree) tree = vs_snapshot_tree_save(dom, &error);
        if (!tree ||
            !vs_snapshot_remove_domain(dom, tree, persistence == 1, keep_disks, NULL, NULL, &error))
            vs_warn("recovery: the delete of VM '%s' does not finish yet: %s",
                    virDomainGetName(dom), error->message);
        g_autoptr(virDomain) still = virDomainLookupByUUIDString(conn, uuid);
        if (still || virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
            return VS_JOURNAL_UNSETTLED;
    }
    /* The images another VM took meanwhile (while virtsnapd was down, or
     * before a broken-off delete was found finished) stay, as in the
     * delete itself; not known (the connection broke), none goes yet. */
    g_autoptr(GPtrArray) files = get_list(kf, "files");
    g_autofree char *name = g_key_file_get_string(kf, "op", "name", NULL);
    g_autoptr(GError) error = NULL;
    if (!keep_disks && !vs_inuse_keep_images(conn, name ? name : uuid, uuid, files, &error)) {
        vs_warn("recovery: the files of deleted VM %s stay until libvirt can say which ones "
                "other VMs use: %s", uuid, error->message);
        return VS_JOURNAL_UNSETTLED;
    }
    remove_listed(kf, files, keep_disks);
    vs_snapshot_forget_vm(uuid);
    vs_info("recovery: finished an interrupted delete of VM %s", uuid);
    return VS_JOURNAL_DONE;
}

/* A live snapshot's delete died between dropping its metadata and its
 * contents (live.c): remove the contents, unless libvirt still has the
 * snapshot (it died before: nothing was done). */
static VsJournalOutcome recover_snapshot_delete(virDomainPtr dom, GKeyFile *kf)
{
    g_autofree char *tag = g_key_file_get_string(kf, "op", "tag", NULL);
    g_autofree char *ram = g_key_file_get_string(kf, "op", "ram", NULL);
    if (!tag)
        return VS_JOURNAL_DONE;
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotLookupByName(dom, tag, 0);
    if (snap)
        return VS_JOURNAL_UNDONE;
    if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_SNAPSHOT)
        return VS_JOURNAL_UNSETTLED;
    /* A record names only a memory file of virtsnapd's: any other is left
     * alone, as remove_files does. */
    g_autofree char *live = live_root();
    if (ram && !vs_path_is_inside(ram, live)) {
        vs_warn("recovery: %s is not among virtsnapd's files; left as it is", ram);
        g_clear_pointer(&ram, g_free);
    }
    g_autoptr(GError) error = NULL;
    if (!vs_live_delete_contents(dom, tag, ram, &error)) {
        vs_error("recovery: snapshot '%s' of VM '%s' is deleted, but its contents stay as tag "
                 "'%s' (qemu-img snapshot -l; with the VM shut off and room on the disk, "
                 "qemu-img snapshot -d removes them): %s",
                 tag, virDomainGetName(dom), tag, error->message);
        return VS_JOURNAL_DONE;
    }
    vs_info("recovery: removed the contents of deleted snapshot '%s' of VM '%s'", tag,
            virDomainGetName(dom));
    return VS_JOURNAL_DONE;
}

/* Repairs what one record shows; false if the record must stay for the
 * next start (libvirt could not answer: the VM's lookup failed, or a
 * create, rename, clone or delete could not be settled). */
static bool recover_record(virConnectPtr conn, GKeyFile *kf, const char *path, gint64 deadline)
{
    g_autofree char *kind = g_key_file_get_string(kf, "op", "kind", NULL);
    g_autofree char *uuid = g_key_file_get_string(kf, "op", "uuid", NULL);
    g_autoptr(virDomain) dom = uuid ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    if (uuid && !dom && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
        return false; /* not "gone": libvirt could not answer */
    if (g_strcmp0(kind, "snapshot") == 0 && dom)
        return recover_snapshot(dom, uuid, kf, deadline) != VS_JOURNAL_UNSETTLED;
    /* a transient VM's power-off that dropped the metadata (poweroff): the
     * VM running still gets its tree back, as a rename's */
    if (holds_tree(kind) && dom)
        return recover_rename(dom, kf, path) != VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "clone") == 0)
        return recover_clone(conn, kf) != VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "create") == 0 && uuid)
        return recover_create(dom, uuid, kf) != VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "revert") == 0 && dom)
        return recover_revert(dom, kf) != VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "delete") == 0 && uuid)
        return recover_delete(conn, dom, uuid, kf) != VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "snapdelete") == 0 && dom)
        return recover_snapshot_delete(dom, kf) != VS_JOURNAL_UNSETTLED;
    return true;
}

/* Whether a record cut off while virtsnapd runs, when it cannot be
 * settled, is held pending (the VM's changes wait for it) rather than
 * dropped: a create and a rename, whose replay is safe and which a later
 * change could spoil (a rename's tree), a clone, whose half-made VM was
 * never handed over (its changes wait too), a VM create, whose disk
 * stays until libvirt says whether it has the VM, and a VM delete, kept
 * for its files only (removed once libvirt says the VM is gone; a VM still
 * there is left as it is). A revert or delete is not replayed: its client
 * is told to look and try again. Records found at start are all held
 * pending (vs_journal_recover): nothing ran since. */
static bool pends(GKeyFile *kf)
{
    g_autofree char *kind = g_key_file_get_string(kf, "op", "kind", NULL);
    return !g_strcmp0(kind, "snapshot") || !g_strcmp0(kind, "rename") ||
           !g_strcmp0(kind, "clone") || !g_strcmp0(kind, "create") || !g_strcmp0(kind, "delete");
}

int vs_journal_recover(void)
{
    g_autoptr(GDir) listing = dir ? g_dir_open(dir, 0, NULL) : NULL;
    g_autoptr(virConnect) conn = listing ? vs_hv_connect(NULL) : NULL;
    int handled = 0;
    const char *name;
    /* One bound for all: a start waits at most that long for libvirt's jobs. */
    gint64 deadline = g_get_monotonic_time() + settle_wait_us();
    while (listing && (name = g_dir_read_name(listing))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        /* Not a record (a temporary file), or an empty one (its operation
         * never began: vs_journal_commit), is dropped. */
        bool loaded = g_str_has_suffix(name, ".op") &&
                      g_key_file_load_from_file(kf, path, 0, NULL) &&
                      g_key_file_has_key(kf, "op", "kind", NULL);
        if (!loaded) {
            g_unlink(path);
            continue;
        }
        /* Without libvirt (away at start) nothing is settled now. */
        if (conn && recover_record(conn, kf, path, deadline)) {
            g_unlink(path);
            handled++;
            continue;
        }
        /* Held pending whatever its kind: the VM's changes wait for it, so
         * that it is never replayed on a VM used since (a revert settled
         * later is finished as here, by the VM's state: at_start). */
        vs_warn("recovery: libvirt cannot tell what %s records; it is settled in the background, "
                "before the VM's next change", path);
        g_key_file_set_boolean(kf, "op", "at_start", TRUE);
        VsJournal *j = g_new0(VsJournal, 1);
        j->path = g_steal_pointer(&path);
        j->kf = g_key_file_ref(kf);
        j->on_disk = true;
        pend(j);
    }
    if (handled > 0) /* as vs_journal_end does: a settled record stays settled */
        sync_dir();
    vs_kept_sweep_empty(); /* (an empty one a pending record names too: its settle finds it gone) */
    return handled;
}


/* Waits for the connection until DEADLINE, then settles the record J by
 * its kind, once. */
static VsJournalOutcome settle_once(VsJournal *j, gint64 deadline)
{
    g_autoptr(virConnect) conn = NULL;
    while (!(conn = vs_hv_connect(NULL)) && may_wait(deadline))
        g_usleep(250 * 1000);
    g_autofree char *kind = g_key_file_get_string(j->kf, "op", "kind", NULL);
    g_autofree char *uuid = g_key_file_get_string(j->kf, "op", "uuid", NULL);
    g_autoptr(virDomain) dom = conn && uuid ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    bool gone = conn && uuid && !dom && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
    if (!dom && !gone) /* not known */
        return VS_JOURNAL_UNSETTLED;
    if (g_strcmp0(kind, "delete") == 0)
        return recover_delete(conn, dom, uuid, j->kf);
    if (g_strcmp0(kind, "clone") == 0)
        return recover_clone(conn, j->kf);
    if (g_strcmp0(kind, "create") == 0)
        return recover_create(dom, uuid, j->kf);
    if (gone) /* with its snapshots */
        return VS_JOURNAL_UNDONE;
    if (g_strcmp0(kind, "snapdelete") == 0)
        return recover_snapshot_delete(dom, j->kf);
    if (g_strcmp0(kind, "snapshot") == 0)
        return recover_snapshot(dom, uuid, j->kf, deadline);
    if (g_strcmp0(kind, "revert") == 0 && g_key_file_get_boolean(j->kf, "op", "at_start", NULL))
        return recover_revert(dom, j->kf);
    if (g_strcmp0(kind, "revert") == 0)
        return finish_revert(dom, j->kf, deadline);
    if (holds_tree(kind))
        return recover_rename(dom, j->kf, j->path);
    return VS_JOURNAL_UNSETTLED;
}

virConnectPtr vs_journal_connect_waiting(GError **error)
{
    gint64 deadline = g_get_monotonic_time() + settle_wait_us();
    virConnectPtr conn;
    while (!(conn = vs_hv_connect(NULL)) && may_wait(deadline))
        g_usleep(250 * 1000);
    return conn ? conn : vs_hv_connect(error);
}

VsJournalOutcome vs_journal_settle(VsJournal **j, const char *what, GError **error)
{
    vs_warn("%s: %s; settling it once libvirt is back", what, (*error)->message);
    gint64 deadline = g_get_monotonic_time() + settle_wait_us();
    VsJournalOutcome outcome;
    /* Each try is whole or harmless to repeat: a connection that drops
     * again (libvirtd still starting) is tried again until the deadline. */
    while ((outcome = settle_once(*j, deadline)) == VS_JOURNAL_UNSETTLED && may_wait(deadline))
        g_usleep(G_USEC_PER_SEC);
    /* Kept only where settling it later is safe and needed (pends): a
     * revert replayed on a VM used since could undo work, so its client is
     * told to look and try again; a delete is kept for its files only. */
    bool keep = pends((*j)->kf);
    g_autofree char *kind = g_key_file_get_string((*j)->kf, "op", "kind", NULL);
    bool delete = g_strcmp0(kind, "delete") == 0;
    if (outcome == VS_JOURNAL_UNSETTLED && delete) {
        /* Kept for its files only (recover_delete): the client decides. */
        g_key_file_set_boolean((*j)->kf, "op", "files_only", TRUE);
        g_autoptr(GError) unsaved = NULL;
        keep = vs_journal_commit(*j, &unsaved);
        if (!keep)
            vs_warn("%s: cannot keep its record (%s): its files stay if it was done", what,
                    unsaved->message);
    }
    if (outcome == VS_JOURNAL_DONE) {
        g_clear_error(error);
    } else if (outcome == VS_JOURNAL_UNSETTLED && keep && delete) {
        pend(g_steal_pointer(j));
        g_prefix_error(error, "%s: not known whether it was done (libvirt did not answer in "
                              "time); look at the VM and try again (if it was done, its files "
                              "are removed once libvirt answers): ", what);
    } else if (outcome == VS_JOURNAL_UNSETTLED && keep) {
        pend(g_steal_pointer(j));
        g_prefix_error(error, "%s: not known whether it was done (settled as soon as libvirt "
                              "answers again, before the VM's next change): ", what);
    } else if (outcome == VS_JOURNAL_UNSETTLED) {
        g_prefix_error(error, "%s: not known whether it was done (libvirt did not answer in "
                              "time); look at the VM and try again: ", what);
    }
    return outcome;
}

void vs_journal_keep(VsJournal **j)
{
    vs_warn("%s is kept: the operation is settled in the background, before the VM's next "
            "change, or at the next start", (*j)->path);
    pend(g_steal_pointer(j));
}

int vs_journal_settle_pending(const char *uuid, GError **error)
{
    int settled = 0;
    VsJournal *j;
    while ((j = take_pending(uuid))) {
        /* One try, no waiting: the operation asking must not hang on it. */
        if (settle_once(j, g_get_monotonic_time()) == VS_JOURNAL_UNSETTLED) {
            vs_warn("%s is not settled yet (libvirt cannot answer for it, or its VM is busy); "
                    "changes to the VM wait for it", j->path);
            pend_at(j, true);
            g_set_error(error, VS_ERROR, VS_ERR_UNAVAILABLE,
                        "an earlier, interrupted operation on this VM is not settled yet (see "
                        "virtsnapd's log); try again later");
            return -1;
        }
        vs_info("settled %s, kept since libvirt could not answer for it", j->path);
        vs_journal_end(j);
        settled++;
    }
    return settled;
}
