/* hv.h: the hypervisor connection. Opens libvirt (by default the embedded
 * QEMU driver rooted in the state directory), runs libvirt's event loop on
 * its own thread, notices a lost connection and reconnects lazily, and turns
 * libvirt errors into VS_ERROR codes. */
#pragma once
#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>

#include "../util/xml.h"

typedef struct {
    const char *uri;       /* NULL: qemu:///embed?root=STATE/libvirt */
    const char *state_dir; /* absolute */
    const char *domain_type; /* NULL: kvm when the host offers it, else qemu (TCG) */
} VsHvConfig;

bool vs_hv_init(const VsHvConfig *config, GError **error);
void vs_hv_shutdown(void);

/* A new reference to the live connection (release with virConnectClose), or
 * NULL with VS_ERR_UNAVAILABLE while the hypervisor is away. */
virConnectPtr vs_hv_connect(GError **error);

const char *vs_hv_uri(void);
/* Whether the connection's driver is DRIVER ("qemu", "test"): the URI's
 * scheme, transport aside (qemu+ssh:// is "qemu"). */
bool vs_hv_driver_is(const char *driver);
/* The connection as it is, or NULL when there is none or it is dead: for
 * what may do without libvirt rather than wait for a reconnection. */
virConnectPtr vs_hv_current(void);
bool vs_hv_is_local(void); /* the hypervisor runs on this host (its files are ours to read) */
/* Only this process changes the hypervisor's domains and snapshots (the
 * embedded QEMU driver, test://): what it reads may be kept until it
 * changes them itself. */
bool vs_hv_private(void);
/* Changes whenever libvirt sends an event about the domain with UUID (its
 * lifecycle: started, stopped, paused, resumed, defined, undefined…; a
 * device added or removed; a block job; a disk change) and at every
 * (re)connection: what was read of it before, under the same value, is
 * true still, but for what libvirt tells no event of (a disk-only external
 * snapshot by another client moves a disk to a new file) and for an event
 * on its way (they come through the event loop, after the change). */
guint64 vs_hv_domain_changes(const char *uuid);
void vs_hv_note_domain_change(const char *uuid); /* what those events do */
/* A mark of the starts libvirt told of the domain with UUID, and whether
 * it told of one since MARK: 1 or 0, or -1 when it cannot say (the
 * connection was made again since, or it sends no events). A start's event
 * comes through the event loop, a moment after the start. */
guint64 vs_hv_domain_start_mark(const char *uuid);
int vs_hv_domain_started_since(const char *uuid, guint64 mark);
/* Called (on libvirt's event thread: it must not call libvirt) with the
 * UUID of each domain that vs_hv_domain_changes counts a change of. One
 * hook; NULL unsets it, and no call of the old one runs after that
 * returns. */
typedef void (*VsHvChangeHook)(const char *uuid);
void vs_hv_set_change_hook(VsHvChangeHook hook);
/* Called (on libvirt's event thread: it must not call libvirt) with the
 * UUID of a domain that stopped or was undefined, other than by a revert or
 * a rename, and may therefore be gone from libvirt; and with NULL after each
 * reconnection (any domain may have gone meanwhile, its events lost; on the
 * thread that reconnected, which must not be held up either). One
 * hook; NULL unsets it, and no call of the old one runs after that
 * returns. */
typedef void (*VsHvGoneHook)(const char *uuid);
void vs_hv_set_gone_hook(VsHvGoneHook hook);
const char *vs_hv_domain_type(void); /* "kvm", "qemu", "test", … */
const char *vs_hv_state_dir(void);
/* Whether libvirt has room to save a snapshot's metadata again (a
 * description, the current mark): libvirt 9.0 drops a snapshot it fails to
 * save so, leaving its children pointing at freed memory (a crash at their
 * next delete, seen on a full disk). Known for the embedded driver only
 * (its files are under STATE/libvirt): elsewhere true. False with a 507
 * (VS_ERR_NO_SPACE) ERROR when under 4 MiB are free. */
bool vs_hv_room_for_metadata(GError **error);
const char *vs_hv_images_dir(void);  /* STATE/images */
const char *vs_hv_logs_dir(void);    /* STATE/logs */
const char *vs_hv_vnc_dir(void);     /* STATE/vnc: VNC sockets of VMs */

/* Looks up the domain with UUID again (a task that waited for its turn):
 * NULL with VS_ERR_NOT_FOUND saying VM NAME no longer exists. */
virDomainPtr vs_hv_domain_again(virConnectPtr conn, const char *uuid, const char *name,
                                GError **error);

/* Looks up a domain by name: NULL with VS_ERR_NOT_FOUND naming it. */
virDomainPtr vs_hv_domain(virConnectPtr conn, const char *name, GError **error);

/* Whether ERROR says a libvirt call broke off with the connection
 * (libvirtd restarted, a remote link dropped): libvirtd may then have done
 * what was asked, may still be doing it, or may have stopped half-way. */
bool vs_hv_broke_off(GError *const *error);
/* After a libvirt call that failed: true, with ERROR set from libvirt's
 * error and FMT, when the connection broke off (the caller then answers
 * 503, not a part of what it read); false, nothing set, for any other
 * failure (the value read counts as absent: the object vanished
 * meanwhile, the driver does not support the call). */
bool vs_hv_failed_broke_off(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Sets ERROR from libvirt's last error: "<what>: <libvirt message>", with a
 * code derived from the libvirt error (no such domain → NOT_FOUND, invalid
 * operation → CONFLICT, dead connection → UNAVAILABLE, else FAILED). */
void vs_hv_set_error_from(virErrorPtr saved, GError **error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The libvirt error is saved before the arguments are evaluated: any libvirt
 * call among them (virDomainGetName…) would reset it. */
#define vs_hv_set_error(error, ...)                                                        \
    do {                                                                                   \
        virErrorPtr vs_saved_error_ = virSaveLastError();                                  \
        vs_hv_set_error_from(vs_saved_error_, error, __VA_ARGS__);                         \
    } while (0)

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomainSnapshot, virDomainSnapshotFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)

/* The domain's UUID as a string (newly allocated). */
char *vs_hv_uuid(virDomainPtr dom);
/* The domain's XML (virDomainGetXMLDesc FLAGS), parsed. */
xmlDoc *vs_hv_domain_xml(virDomainPtr dom, unsigned int flags, GError **error);

/* Undefines DOM with its managed save, snapshot and checkpoint metadata,
 * and its UEFI variable store unless KEEP_NVRAM (libvirt refuses a VM that
 * has one without either flag), falling back to fewer flags on drivers that
 * lack some. -1 on error. */
int vs_hv_undefine(virDomainPtr dom, bool keep_nvram);
