/* journal.h: crash safety for operations of several steps. Before such an
 * operation virtsnapd writes an intent record to STATE/journal/; when it
 * ends (either way) the record is removed. A record still there at the
 * next start means virtsnapd died in the middle, and recovery finishes or
 * undoes the operation so that no half-made snapshot, domain or image is
 * left and nothing is lost:
 *   snapshot  created in libvirt → keep it (and its display name);
 *             not created → remove any qcow2 tag QEMU wrote without metadata;
 *             a live one, either way: QEMU's migration settings put back
 *   rename    a VM whose snapshot metadata was dropped, all or some → redefine
 *             the saved tree
 *   poweroff  a transient VM's metadata dropped before its power-off: one
 *             that still runs → redefine the saved tree (as for a rename)
 *   restore   a VM delete libvirt refused part-way, whose dropped snapshots
 *             it did not take back at once (the delete's record, turned into
 *             this) → redefine the saved tree (as for a rename)
 *   revert    a VM left shut off (or paused) half-way → revert again
 *   create    a VM libvirt has → keep it; not defined → remove its disk
 *   clone     → remove the half-made clone (domain, metadata, copied files)
 *   delete    → finish deleting (metadata, domain, images unless kept or
 *             used by another VM, looked at again right before: not known,
 *             unsettled);
 *             one that died while its kept disks' description was written
 *             ("describing") had not begun → remove the description (the
 *             VM gone meanwhile and the description whole: finished, kept)
 *   snapdelete a live snapshot whose metadata went → remove its disk tags
 *             and memory file
 * and, while virtsnapd runs, settles an operation whose libvirt call broke
 * off with the connection (vs_journal_settle). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <libvirt/libvirt.h>

typedef struct VsJournal VsJournal;

/* Where records live; call once at start, before vs_journal_recover. */
bool vs_journal_init(const char *state_dir, GError **error);

/* Starts a record of KIND ("snapshot", "revert", "rename", "poweroff", "create",
 * "clone", "delete", "snapdelete"; a delete's becomes "restore") for the VM with UUID; returns NULL only if it cannot be written
 * (with ERROR). */
VsJournal *vs_journal_begin(const char *kind, const char *uuid, GError **error);
void vs_journal_set(VsJournal *j, const char *key, const char *value);
void vs_journal_set_list(VsJournal *j, const char *key, const char *const *values, gsize n);
/* Sets the snapshot tree a rename or power-off drops the metadata of (its
 * XML, parents first, and the current snapshot's libvirt name, or NULL):
 * what recovery defines again (vs_snapshot_tree_save's, as two fields). */
void vs_journal_set_tree(VsJournal *j, const GPtrArray *xml, const char *current);
/* Writes the record to disk (atomically); call after the set()s. */
bool vs_journal_commit(VsJournal *j, GError **error);
/* The same, synced with its directory, so that a power cut cannot bring
 * back the record as it was before (a delete's, once its kept disks'
 * description is written: "describing" must not come back). */
bool vs_journal_commit_durable(VsJournal *j, GError **error);
/* The operation ended (success or clean failure): drop the record. That
 * of a clone, revert, rename, power-off, VM create or VM delete, whose
 * replay would undo what was done since (remove the clone, revert again,
 * bring back snapshots deleted since, remove a disk kept since, delete a
 * VM whose delete was refused), is dropped durably: its directory is
 * synced, so that a power cut does not bring it back. */
void vs_journal_end(VsJournal *j);

typedef enum {
    VS_JOURNAL_DONE,      /* the operation's result is in place */
    VS_JOURNAL_UNDONE,    /* not done: nothing of it is left (a revert: not finished) */
    VS_JOURNAL_UNSETTLED, /* the hypervisor stayed away: not known */
} VsJournalOutcome;

/* WHAT (as "snapshot 'x' of VM 'y'"), an operation whose libvirt call
 * broke off with the connection (ERROR, vs_hv_broke_off), so that whether
 * libvirt finished it is not known. Waits for the connection and (snapshot,
 * revert) for any job libvirt still runs on the VM, 2 minutes in all
 * ($VIRTSNAP_SETTLE_WAIT seconds), and settles the operation of record *J:
 *   snapshot  as recovery at start would: made (DONE) or removed (UNDONE);
 *   revert    by reverting again (DONE), which gives the same state whether
 *             or not the first revert happened; UNDONE if the snapshot is gone
 *             or libvirt refuses;
 *   delete    by finishing it (DONE);
 *   rename    by defining the saved tree's missing snapshots under the VM's
 *             name as it is now (DONE: the tree is whole; renamed or not, ask
 *             libvirt);
 *   create    DONE if libvirt has the VM, else UNDONE (its disk removed);
 *   clone     by removing the clone (UNDONE).
 * DONE clears ERROR. UNSETTLED (the connection or the job did not end in
 * time, the daemon stops, libvirt cannot say) says so in ERROR and, for a
 * snapshot, rename, create or clone, keeps the record (*J becomes NULL): the
 * background settler (settler.h) or the VM's next operation (a clone's:
 * the clone's, under its lock) settles it (vs_journal_settle_pending),
 * or the next start; a revert or delete is not replayed on a VM that may
 * be used by then (its client is told to look and try again).
 * UNDONE (not done, or for a revert not finished) leaves ERROR as it is.
 * The caller holds the VM's lock throughout and ends *J after. */
VsJournalOutcome vs_journal_settle(VsJournal **j, const char *what, GError **error);
/* The connection as it is now, waiting for one as long as a settle does
 * (libvirtd restarting): NULL with UNAVAILABLE once that wait is over or
 * the daemon stops. */
virConnectPtr vs_journal_connect_waiting(GError **error);
/* An operation that can be neither finished nor undone now (a rename whose
 * tree libvirt would not take back): keeps its record *J pending, settled
 * as after an UNSETTLED vs_journal_settle; *J becomes NULL. */
void vs_journal_keep(VsJournal **j);
/* Settles the records kept for the VM with UUID (a create's or rename's,
 * above, or at start), one try each, without waiting for the connection
 * (a libvirt job query may still take up to 30 s): how many (0: none), or -1 with UNAVAILABLE while libvirt still
 * cannot answer, and the operation asking must not run. Call with the VM's
 * lock held, before the operation's first look at the VM: vs_vmlock_domain
 * does (vs_journal_init sets it as the locks' gate); task workers, which
 * wait for their turn with vs_vmlock_wait, call it themselves. */
int vs_journal_settle_pending(const char *uuid, GError **error);
/* The UUIDs of the VMs kept records hold back (a clone's: the clone; a
 * UUID may repeat), for the background settler (settler.c), which settles
 * each under that VM's lock; free with g_strfreev. */
char **vs_journal_pending_uuids(void);
/* virtsnapd stops: settles still waiting end at once, UNSETTLED. */
void vs_journal_stop_settling(void);

/* Repairs what interrupted operations left; returns how many it handled.
 * A record libvirt cannot answer for at start is kept pending, whatever
 * its kind: the VM's changes wait until it is settled. Then removes the
 * empty directories of kept disks' descriptions no delete recorded
 * (vs_kept_sweep_empty): at start, before anything else runs. */
int vs_journal_recover(void);
