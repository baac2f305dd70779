/* snapshot.h: domain snapshots over libvirt, as the API asks for them: list
 * (roots, children, all), look up, create (as a task), rename and describe,
 * delete (alone or with the subtree), revert. Names here are the ones users
 * see (see snapnames.h). No libvirt type shows here: what the rest of the
 * model uses on libvirt's objects is in snaptree.h. Knows nothing of HTTP. */
#pragma once
#include "tasks.h"

#include <glib.h>
#include <stdbool.h>

typedef struct {
    char *name;
    char *state; /* the VM's state when it was taken */
    gint64 created;
    char *parent; /* "" for a root */
    char *description;
    bool memory;
    bool live; /* taken live (live.h): RAM in a file, guest paused for milliseconds */
    bool current;
    int children;
    /* Measured by virtsnapd when it took the snapshot of a running VM. */
    bool measured;
    double downtime_ms;    /* how long the guest was paused */
    guint64 memory_bytes;  /* size of the saved RAM */
} VsSnapshot;

void vs_snapshot_free(VsSnapshot *snap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsSnapshot, vs_snapshot_free)

typedef enum { VS_SNAP_ROOTS, VS_SNAP_CHILDREN, VS_SNAP_ALL } VsSnapList;

/* VsSnapshot*, sorted by creation time then name (ALL: parents first).
 * PARENT names the parent for VS_SNAP_CHILDREN. */
GPtrArray *vs_snapshot_list(const char *vm, VsSnapList kind, const char *parent, GError **error);
VsSnapshot *vs_snapshot_get(const char *vm, const char *name, GError **error);

/* How a running VM's snapshot is taken. ON: live (live.h), refused with
 * CONFLICT where it cannot be done. OFF: the classic way (libvirt's savevm,
 * the guest paused for the whole RAM write). AUTO: live wherever possible,
 * else classic (the default; vs_snapshot_set_live_default(OFF) makes AUTO
 * mean classic). A stopped VM's snapshot holds its disks either way. */
typedef enum { VS_LIVE_AUTO, VS_LIVE_ON, VS_LIVE_OFF } VsLiveMode;
void vs_snapshot_set_live_default(VsLiveMode mode);

/* Creation is split in two: prepare checks everything that can be checked
 * up front (VM, name free, disks able to hold a snapshot, a live snapshot
 * possible when LIVE is ON), reserves the name and takes the VM's turn; run
 * (a VsTaskFunc) does the work. */
typedef struct VsSnapshotJob VsSnapshotJob;
VsSnapshotJob *vs_snapshot_prepare(const char *vm, const char *name, const char *description,
                                   VsLiveMode live, GError **error);
const char *vs_snapshot_job_vm(const VsSnapshotJob *job);
const char *vs_snapshot_job_uuid(const VsSnapshotJob *job);
const char *vs_snapshot_job_name(const VsSnapshotJob *job);
gboolean vs_snapshot_job_run(VsTask *task, gpointer job, GError **error);
void vs_snapshot_job_free(gpointer job);

VsSnapshot *vs_snapshot_update(const char *vm, const char *name, const char *new_name,
                               const char *description, GError **error);
bool vs_snapshot_delete(const char *vm, const char *name, bool with_children, GError **error);
VsSnapshot *vs_snapshot_revert(const char *vm, const char *name, GError **error);
