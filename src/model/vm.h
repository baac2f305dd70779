/* vm.h: virtual machines over libvirt: list, inspect, define, update,
 * rename, delete, and the power actions. Knows nothing of HTTP. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct {
    char *target; /* "vda" */
    char *path;
    char *format; /* "qcow2", "raw", … */
    guint64 size; /* virtual size in bytes, 0 when unknown */
    bool readonly; /* <readonly/>: no snapshot writes to it */
    bool is_file;  /* its source is a file (not a block device or a network volume) */
} VsDisk;

typedef struct {
    char *name;
    char *uuid;
    const char *state; /* "running", "shutoff", … (static) */
    bool persistent;
    guint64 memory_mib;
    guint cpus;
    bool hugepages;   /* guest RAM on the host's huge pages (hugetlbfs) */
    GPtrArray *disks; /* VsDisk* */
    char *current_snapshot; /* display name, "" for none */
    int snapshots;
    char *serial_log; /* file the serial console goes to, or NULL */
    /* A running VM changed since its start (PUT /vms): NEXT_START, and the
     * memory, CPUs and huge pages its next start brings. */
    bool next_start;
    guint64 next_memory_mib;
    guint next_cpus;
    bool next_hugepages;
} VsVm;

void vs_vm_free(VsVm *vm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsVm, vs_vm_free)

typedef struct {
    const char *name;
    guint64 memory_mib; /* 0: default */
    guint cpus;         /* 0: default */
    guint64 disk_gib;   /* 0: default (or the image's size) */
    const char *image;  /* base image for an overlay, or NULL */
    bool hugepages;     /* guest RAM on huge pages: live snapshots of big guests pause less */
} VsVmSpec;

typedef enum { VS_HUGEPAGES_KEEP = 0, VS_HUGEPAGES_OFF, VS_HUGEPAGES_ON } VsHugepagesChange;

typedef struct {
    const char *name;   /* NULL: keep */
    guint64 memory_mib; /* 0: keep */
    guint cpus;         /* 0: keep */
    VsHugepagesChange hugepages;
} VsVmChange;

typedef enum {
    VS_VM_START,
    VS_VM_POWEROFF,
    VS_VM_SHUTDOWN,
    VS_VM_SUSPEND,
    VS_VM_RESUME,
} VsVmAction;

#define VS_VM_DEFAULT_MEMORY_MIB 512
#define VS_VM_DEFAULT_CPUS 1
#define VS_VM_DEFAULT_DISK_GIB 8
#define VS_VM_MIN_MEMORY_MIB 16
#define VS_VM_MAX_MEMORY_MIB (1024 * 1024)
#define VS_VM_MAX_CPUS 256
#define VS_VM_MAX_DISK_GIB (64 * 1024)

GPtrArray *vs_vm_list(GError **error); /* VsVm*, sorted by name */
VsVm *vs_vm_get(const char *name, GError **error);
VsVm *vs_vm_create(const VsVmSpec *spec, GError **error);
VsVm *vs_vm_update(const char *name, const VsVmChange *change, GError **error);
bool vs_vm_delete(const char *name, bool keep_disks, GError **error);
VsVm *vs_vm_act(const char *name, VsVmAction action, bool discard_snapshots, GError **error);
/* Whether ACTION applies to a VM in libvirt state STATE (virDomainState),
 * ACTIVE or not: a crashed VM that libvirt kept (on_crash=preserve) can be
 * powered off, a blocked one shut down or suspended. Else NEED names the
 * state it needs. */
bool vs_vm_action_allowed(VsVmAction action, int state, bool active, const char **need);

/* Checks a spec's numbers and image path; VS_ERR_INVALID naming the field.
 * *IMAGE_REAL: the image's path with every link resolved (what was checked,
 * and what a new VM's overlay must name), or NULL without an image. */
bool vs_vm_spec_check(const VsVmSpec *spec, char **image_real, GError **error);
