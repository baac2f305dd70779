/* keep.h: what a VM deleted with ?disks=keep leaves with its kept disks,
 * so that the snapshots inside them can still be told apart and used: in
 * DISK.snapshots/ (DISK.snapshots-N if that exists) beside the VM's first
 * disk under STATE/images, or STATE/kept/UUID.snapshots/ for a VM with no
 * disk there, written before the delete begins (and after its journal
 * record names it: a crash while it is written removes it again),
 *   snapshots.json  each snapshot as the API showed it (name, parent,
 *                   description, state, time, whether current) with the
 *                   qcow2 tag that holds it (libvirt's name: a renamed
 *                   snapshot's keeps the name it was taken under, one
 *                   qemu-img could not take is internal);
 *   NNNN-TAG.xml    libvirt's snapshot XML, parents first, which `virsh
 *                   snapshot-create --redefine` takes back once a domain
 *                   over the disks is defined again;
 *   NNNN-TAG.ram    a live snapshot's memory (the file in STATE/live/,
 *                   which the delete empties, under a second name),
 *                   named in its XML.
 * Without it, a kept image's tags had the old names of renamed snapshots
 * and internal ones for names qemu-img cannot take, and live snapshots
 * lost their memory. */
#pragma once
#include <glib.h>

#include "snaptree.h"

typedef struct VsKeptSnapshots VsKeptSnapshots;

/* What the VM named VM (whose UUID is UUID) will leave, from TREE, its snapshot tree
 * saved before the delete drops the metadata: NULL with ERROR if a
 * snapshot's XML cannot be read; an empty set for a VM without snapshots. */
VsKeptSnapshots *vs_kept_read(const char *vm, const char *uuid, const VsSnapshotTree *tree,
                              GError **error);
/* Makes KEPT's directory, empty, for vs_kept_write (the delete records it
 * before writing into it): beside DISK (the VM's first disk, as libvirt
 * names it, or NULL) when that is one of virtsnap's, as DISK.snapshots
 * (DISK.snapshots-N if that exists), else STATE/kept/<uuid>.snapshots[-N];
 * the mkdir takes the name, so that no other delete takes it too. Its
 * path, "" for a VM without snapshots (nothing to write), or NULL with
 * ERROR. */
char *vs_kept_dir(const VsKeptSnapshots *kept, const char *disk, GError **error);
/* Whether DIR may be one vs_kept_dir made (a recovery removes only such a
 * directory): NAME.snapshots[-N] in STATE/images or STATE/kept. */
bool vs_kept_dir_is_ours(const char *dir);
/* Before the delete: writes KEPT into DIR (from vs_kept_dir), synced; the
 * memory files are given a second name there (a hard link, or a copy
 * across file systems), so that whatever way the delete then ends (done,
 * finished after a lost connection or a crash) they stay. False with
 * ERROR, DIR removed, if it could not be written whole: the delete must
 * not go on. True at once for DIR "". */
bool vs_kept_write(const VsKeptSnapshots *kept, const char *dir, const char *disk,
                   GError **error);
/* At start, nothing running: removes the empty directories vs_kept_dir
 * made that no delete recorded (killed between the two). */
void vs_kept_sweep_empty(void);
/* Removes what vs_kept_write made in DIR, for a delete that did not happen. */
void vs_kept_discard(const char *dir);
void vs_kept_free(VsKeptSnapshots *kept);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsKeptSnapshots, vs_kept_free)
