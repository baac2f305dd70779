/* live.h: live snapshots of running VMs (issue 8). The guest is paused only
 * while every writable qcow2 disk gets an internal, disk-only snapshot and
 * QEMU write-protects guest RAM (migration capability background-snapshot,
 * userfaultfd); QEMU then resumes the guest by itself and writes a
 * point-in-time copy of RAM in the background into a file laid out as a
 * libvirt save image. libvirt records the snapshot (redefined metadata: disks
 * internal, memory external = that file), so it sits in the same tree as the
 * classic snapshots. Revert puts the disks back (qemu-img snapshot -a) and
 * starts the VM from the file with virDomainRestoreFlags, so libvirt owns the
 * new QEMU process. libvirt 9.0 itself refuses to revert or delete such a
 * snapshot ("external"): callers route those to vs_live_revert and
 * vs_live_delete. See docs/live-snapshots.md. Knows nothing of HTTP. */
#pragma once
#include "journal.h"

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

typedef struct {
    /* Guest paused: from QEMU's STOP event to its RESUME event, as QEMU
     * stamped them (the VCPUs' real stop; pause.h), or request_ms when
     * QEMU's events were not seen. */
    double downtime_ms;
    /* An upper bound: from just before the pause request until libvirt
     * reported the domain running again (adds libvirt's round trips and its
     * bookkeeping on both sides of the real pause). */
    double request_ms;
    /* QEMU's own figures (query-migrate): "setup-time", spent inside the pause
     * (QEMU 7.2 first reads one byte of every guest page so that write
     * protection covers all of them: it grows with the RAM size), and
     * "downtime", from its own stop of the VCPUs to their restart. */
    double qemu_setup_ms;
    double qemu_downtime_ms;
    /* From the pause until the RAM file was complete and on disk. */
    double total_ms;
    /* Size of the RAM file. */
    guint64 memory_bytes;
    /* QEMU began the memory copy: a failure after that is no "nothing
     * changed" (the guest may have stopped meanwhile), whatever its code. */
    bool started;
} VsLiveStats;

/* Whether DOM can take a live snapshot right now. False with VS_ERR_CONFLICT
 * and the reason: not running (a paused VM gains nothing; QEMU 7.2 would also
 * resume it), transient, a writable disk that is not qcow2, QEMU without the
 * background-snapshot capability, a migration in progress, or a kernel whose
 * userfaultfd cannot write-protect memory (probed once in this process).
 * Read-only (queries only): safe without the VM's lock, e.g. to answer 409
 * before starting a task. vs_live_take checks again, and QEMU's own probe
 * (setting the capability) can still refuse there, also with CONFLICT. */
bool vs_live_supported(virDomainPtr dom, GError **error);

/* Where the RAM of live snapshot INTERNAL of the VM with UUID lives:
 * STATE/live/<uuid>/<internal>.ram (STATE from hv.h). */
char *vs_live_ram_path(const char *uuid, const char *internal);
/* STATE/live/<uuid>: everything live snapshots of that VM keep. */
char *vs_live_vm_dir(const char *uuid);

/* Takes a live snapshot of the running DOM. INTERNAL is the libvirt name and
 * the qcow2 tag (plain ASCII, as snapshot.c picks them); DESCRIPTION may be
 * NULL. The RAM goes to RAM_PATH (created exclusively; its directory is made).
 * Blocks until the RAM file is complete (seconds: call it from a task, with
 * the VM's lock held); the guest is paused only at the start.
 * On success returns the libvirt snapshot: a child of the current snapshot,
 * now current itself; STATS (optional) gets the figures. On failure nothing
 * is left behind (no qcow2 tag, no file, no metadata) and the VM runs —
 * except if QEMU's own stream fails after it write-protected RAM (not a
 * write error on the file: the copier drains the stream then, see
 * ramcopy.c): QEMU 7.2 cannot lift the protection then, the VM will hang,
 * and the error says so. PROGRESS (optional) is called with DATA and 0..100
 * as the copy advances. JOURNAL (optional) is the create's record: before
 * QEMU's migration bandwidth is raised for the copy, its old value goes
 * into it as "bandwidth" (committed), for recovery to put back
 * (vs_live_settle_qemu). */
typedef void (*VsLiveProgress)(int percent, void *data);
virDomainSnapshotPtr vs_live_take(virDomainPtr dom, const char *internal, const char *description,
                                  const char *ram_path, VsJournal *journal,
                                  VsLiveProgress progress, void *data, VsLiveStats *stats,
                                  GError **error);

/* Whether SNAP was made by vs_live_take (memory external, disks internal). */
bool vs_live_is_live(virDomainSnapshotPtr snap);
/* The RAM file of a live snapshot, or NULL. */
char *vs_live_snapshot_ram(virDomainSnapshotPtr snap);

/* Reverts SNAP's domain to the live snapshot SNAP: checks the RAM file and the
 * qcow2 tags first, stops the VM if it runs, reverts each disk
 * (qemu-img snapshot -a), makes the snapshot's definition the VM's again,
 * starts it from the RAM file (virDomainRestoreFlags, running) and marks SNAP
 * current. REVERT_MS (optional) gets the time taken. */
bool vs_live_revert(virDomainSnapshotPtr snap, double *revert_ms, GError **error);

/* Deletes SNAP, live or classic. Alone: its children move up to its parent
 * (libvirt re-parents them) and, if it was current, the parent becomes
 * current. WITH_CHILDREN: the whole subtree goes, one snapshot at a time,
 * leaves first. A live snapshot, and a classic one where virtsnapd can
 * remove its contents itself (the embedded driver: see classic_ours in
 * live.c), loses its metadata first, then its qcow2 tags (delvm while the
 * VM runs, qemu-img snapshot -d otherwise) and RAM file, under a journal
 * record that finishes the job after a crash; any other goes to libvirt's
 * own delete. */
bool vs_live_delete(virDomainSnapshotPtr snap, bool with_children, GError **error);
/* Removes what a live snapshot holds, once its metadata is gone: the
 * memory file RAM (may be NULL) and the disks' tag TAG (through QEMU when
 * DOM runs, qemu-img when not). */
bool vs_live_delete_contents(virDomainPtr dom, const char *tag, const char *ram, GError **error);

/* Puts QEMU's migration settings back after a vs_live_take that libvirt
 * recorded but whose own cleanup may not have run (a crash, a broken-off
 * call): the background-snapshot capability off, the bandwidth to BANDWIDTH
 * (bytes/s, as the take recorded it; 0: left as it is). Only for a running
 * VM whose copy has ended. */
void vs_live_settle_qemu(virDomainPtr dom, guint64 bandwidth);
/* Finishes off a vs_live_take that died (a daemon crash) before libvirt got
 * the metadata: waits for a copy still running in QEMU (never cancels it:
 * QEMU 7.2 would leave RAM write-protected), puts QEMU's settings back
 * (vs_live_settle_qemu, BANDWIDTH as there), removes the qcow2 tags,
 * resumes a VM left paused if its guest ran before (WAS_RUNNING: not one
 * the user had paused), deletes the RAM file.
 * Safe to call whatever stage it reached. */
void vs_live_abandon(virDomainPtr dom, const char *internal, const char *ram_path,
                     bool was_running, guint64 bandwidth);

/* Copies a RAM file (for a clone; the metadata of the clone's snapshot must
 * then name DST in memory/@file). */
bool vs_live_copy_ram(const char *src, const char *dst, GError **error);
/* Deletes STATE/live/<uuid>: when the VM is deleted (with or without its
 * disks; a RAM file is useless without its metadata). Not on a VM rename,
 * whose tree is only redefined. */
bool vs_live_forget_vm(const char *uuid); /* whether there were any */
/* The UUIDs of the VMs with a memory-file directory. */
GStrv vs_live_vms(void);
bool vs_live_has_vm(const char *uuid); /* whether UUID is one of them */
