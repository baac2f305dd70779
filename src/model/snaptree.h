/* snaptree.h: the model's own snapshot work on libvirt objects, for the
 * VM, clone, journal and janitor code (the API sees snapshot.h only):
 * revert and metadata drop under a held VM lock, a whole tree carried across
 * a VM rename or into a clone, and forgetting what virtsnapd keeps of a VM
 * libvirt no longer has. Knows nothing of HTTP. */
#pragma once
#include "hv.h"
#include "journal.h"
#include "rewrite.h"

#include <glib.h>
#include <stdbool.h>

/* Reverts SNAP's domain to SNAP, classic or live; the caller holds the VM's
 * lock (also used by crash recovery). */
bool vs_snapshot_revert_to(virDomainSnapshotPtr snap, GError **error);

/* Drops every snapshot's metadata (the images keep their contents). The
 * caller holds the VM's lock. */
bool vs_snapshot_discard_metadata(virDomainPtr dom, GError **error);

/* A VM's whole snapshot tree as libvirt XML, parents first, with the current
 * snapshot's libvirt name; used to carry the tree across a VM rename (which
 * libvirt refuses while snapshots exist) and into a clone. */
typedef struct {
    GPtrArray *xml; /* char* */
    char *current;  /* libvirt name, or NULL */
} VsSnapshotTree;
void vs_snapshot_tree_free(VsSnapshotTree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsSnapshotTree, vs_snapshot_tree_free)
VsSnapshotTree *vs_snapshot_tree_save(virDomainPtr dom, GError **error);

/* Redefines TREE's snapshots on DOM (which has none), parents first; on
 * failure removes what it defined. */
bool vs_snapshot_tree_define(virDomainPtr dom, const VsSnapshotTree *tree,
                             const VsDomainRewrite *rewrite, GError **error);
/* Defines those of TREE's snapshots that DOM does not have (by name, in the
 * tree's order), touching none it has: how many, or -1 with ERROR. */
int vs_snapshot_tree_define_missing(virDomainPtr dom, const VsSnapshotTree *tree,
                                    const VsDomainRewrite *rewrite, GError **error);

/* Takes DOM out of libvirt with its snapshots' metadata, stranding none:
 * a PERSISTENT one is powered off (if it runs) and undefined with it
 * (KEEP_NVRAM: its UEFI variables stay); a transient one loses its
 * metadata, then is powered off (which ends it). libvirt may fail after
 * dropping metadata: what it dropped of TREE (DOM's, saved by the caller)
 * is then defined again, and *WHOLE (if given) is false when that failed
 * too (logged). RECORD (a journal record begun by the caller, or NULL)
 * gets the tree and is committed before anything is dropped, for crash
 * recovery to define it again on a VM still there. False with ERROR when
 * DOM was not removed; broken off (vs_hv_broke_off), nothing is defined
 * again: the caller settles it. The caller holds the VM's lock. */
bool vs_snapshot_remove_domain(virDomainPtr dom, const VsSnapshotTree *tree, bool persistent,
                               bool keep_nvram, VsJournal *record, bool *whole, GError **error);

/* Drops what is known of the snapshots of VM UUID (after any change). */
void vs_snapshot_facts_forget(const char *uuid);
/* Forgets all virtsnapd keeps of the snapshots of the VM with UUID, which
 * libvirt no longer has: display names and figures, live memory files
 * (useless without their metadata), kept facts. Whether there were files. */
bool vs_snapshot_forget_vm(const char *uuid);
