/* definition.h: what virtsnapd reads of a VM's domain XML and state (its
 * disks, huge pages, serial log), kept between requests while nothing
 * changed the VM, and read again ahead of the next request once something
 * did. Used by the VM view (vm.c) and a snapshot create's checks. */
#pragma once
#include "hv.h"
#include "vm.h"

void vs_disk_free(VsDisk *disk);
VsDisk *vs_disk_copy(const VsDisk *from);
/* Whether the domain's RAM is on huge pages (<memoryBacking><hugepages/>). */
bool vs_definition_hugepages(xmlDoc *doc);

/* What a kept definition stays valid under (definition.c). */
typedef struct {
    guint64 ended;   /* the VM lock's count of ended operations when read */
    unsigned int id; /* the domain's ID then: another after every start, -1 when off */
    guint64 changes; /* vs_hv_domain_changes() then (a device a guest unplugged, …) */
} VsDefinitionMarks;

typedef struct {
    VsDefinitionMarks marks;
    int state; /* virDomainGetState's */
    bool hugepages;
    bool pflash; /* UEFI firmware from pflash with a raw variable store */
    char *serial_log;
    GPtrArray *disks; /* VsDisk*, sizes not filled */
} VsDefinition;

void vs_definition_free(VsDefinition *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsDefinition, vs_definition_free)

/* What DOC (a domain's XML, as libvirt gave it) says, with STATE; no call
 * to libvirt (fuzz_xml feeds it any document). */
VsDefinition *vs_definition_parse(xmlDoc *doc, int state);
/* DOM's (UUID's) definition and state: kept or read (and kept when nothing
 * ran meanwhile). NULL with ERROR when either cannot be read. */
VsDefinition *vs_definition_get(virDomainPtr dom, const char *uuid, GError **error);
/* What a running persistent VM's definition for its next start says. */
typedef struct {
    guint64 memory_mib;
    guint cpus; /* vcpu's current count where given */
    bool hugepages;
} VsNextStart;

/* DOM's (UUID's) next start: kept or read (one read of the inactive XML),
 * under the same marks as the kept definition (an operation of ours, or a
 * libvirt event about the VM, makes it stale); false if it cannot be read.
 * Apart from vs_definition_get, so that a create's checks never pay for it. */
bool vs_definition_next_start(virDomainPtr dom, const char *uuid, VsNextStart *next);
/* Forgets what was kept of a VM that is gone. */
void vs_definition_forget(const char *uuid);
/* Forgets what was kept of VMs not in UUIDS (all there are): those that went
 * without vs_vm_delete (a transient VM powered off, a clone undone). */
void vs_definition_keep_only(GHashTable *uuids);

/* How many definitions were read from libvirt so far, and how many of
 * those were kept (for tests). */
guint vs_definition_reads(void);
guint vs_definition_keeps(void);

/* Starts and stops reading kept definitions again, on a thread of their
 * own, once an operation ended or a libvirt event made them stale. */
void vs_definition_read_ahead_start(void);
void vs_definition_read_ahead_stop(void);
