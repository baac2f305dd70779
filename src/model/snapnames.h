/* snapnames.h: the names users see for snapshots, when they differ from the
 * names libvirt keeps.
 *
 * libvirt has no snapshot rename, and for internal qcow2 snapshots the
 * libvirt name is also the tag inside the image that revert and delete use.
 * So a snapshot keeps its libvirt ("internal") name forever and a rename only
 * records a new display name here. Names that are awkward inside QEMU (quotes,
 * non-ASCII, …) also get a generated internal name. The map is one key file
 * per VM UUID under STATE/snapnames/, written atomically; a snapshot with no
 * entry is shown under its libvirt name (snapshots made with virsh).
 *
 * Beside it, one small key file per snapshot (STATE/snapnames/<uuid>.figures/
 * <internal>) keeps what virtsnap measured when it took a snapshot of a
 * running VM (libvirt has no place for it): how long the guest was paused and
 * the size of the saved memory. They go with the snapshot (forget), and with
 * the VM (forget_vm, copy_vm). */
#pragma once
#include <glib.h>
#include <stdbool.h>

bool vs_snapnames_init(const char *state_dir, GError **error);

/* The display name of internal snapshot INTERNAL of VM UUID (newly allocated). */
char *vs_snapnames_display(const char *uuid, const char *internal);
/* The display name INTERNAL was given by a rename (newly allocated), or
 * NULL when it has none: shown under its libvirt name, or gone. */
char *vs_snapnames_renamed(const char *uuid, const char *internal);
/* The internal name behind display name DISPLAY, or NULL when no snapshot is
 * shown under that name (because it was renamed away). The caller still
 * checks that libvirt has it. */
char *vs_snapnames_internal(const char *uuid, const char *display);
/* Shows INTERNAL under DISPLAY from now on (and persists it). */
bool vs_snapnames_set(const char *uuid, const char *internal, const char *display,
                      GError **error);
void vs_snapnames_forget(const char *uuid, const char *internal);
bool vs_snapnames_forget_vm(const char *uuid); /* whether anything was kept */
/* The UUIDs of the VMs something is kept of (names or figures on disk). */
GStrv vs_snapnames_vms(void);
bool vs_snapnames_has_vm(const char *uuid); /* whether UUID is one of them */
bool vs_snapnames_copy_vm(const char *from_uuid, const char *to_uuid, GError **error);

typedef struct {
    double downtime_ms;
    guint64 memory_bytes;
} VsSnapFigures;
/* Shows FIGURES for INTERNAL from now on (in memory); ..._save_figures
 * writes them to its file, so that they outlive the process. */
void vs_snapnames_keep_figures(const char *uuid, const char *internal,
                               const VsSnapFigures *figures);
bool vs_snapnames_save_figures(const char *uuid, const char *internal, GError **error);
/* False when none were recorded (a disk-only snapshot, or one made elsewhere). */
bool vs_snapnames_figures(const char *uuid, const char *internal, VsSnapFigures *figures);

/* A name libvirt and QEMU take safely as a snapshot name and qcow2 tag:
 * plain ASCII, no leading '-', and not digits only (qemu-img snapshot -a
 * and QEMU's loadvm take "2" for the id of the image's second snapshot
 * before any tag of that name: a revert to a snapshot named "2" restored
 * another's disks). */
bool vs_snapnames_safe_internal(const char *name);
