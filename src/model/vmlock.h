/* vmlock.h: one FIFO lock per VM, keyed by UUID (a rename cannot split it).
 * Operations on one VM run one after the other in the order they were
 * accepted; operations on different VMs run in parallel. A task takes its
 * ticket when it is accepted and waits for its turn on its worker thread. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct VsVmLock VsVmLock;

VsVmLock *vs_vmlock_for(const char *uuid); /* lives as long as the process */
guint64 vs_vmlock_ticket(VsVmLock *lock);

/* At most this many operations wait for one VM: more answer VS_ERR_BUSY
 * (429), so a flood of requests cannot queue work without bound. */
#define VS_VMLOCK_MAX_QUEUED 32
/* False with VS_ERR_BUSY naming VM when its queue is full. */
bool vs_vmlock_has_room(VsVmLock *lock, const char *vm, GError **error);
void vs_vmlock_wait(VsVmLock *lock, guint64 ticket);
/* The same, giving up at DEADLINE (monotonic µs): false then, the ticket
 * given up (its turn is skipped), and *AHEAD (if asked for) set to the
 * operations still ahead of it. */
bool vs_vmlock_wait_until(VsVmLock *lock, guint64 ticket, gint64 deadline, guint64 *ahead);
void vs_vmlock_release(VsVmLock *lock);
/* Called by vs_vmlock_release with the VM's UUID when the operation that
 * ended leaves none under way or queued (it must be quick: the releasing
 * thread runs it). One hook; NULL unsets it, and no call of the old one
 * runs after that returns. */
typedef void (*VsVmLockQuietHook)(const char *uuid);
void vs_vmlock_set_quiet_hook(VsVmLockQuietHook hook);
/* ticket + wait */
void vs_vmlock_acquire(VsVmLock *lock);
/* Takes the lock only if no operation is under way or queued (false: not
 * taken), without waiting. */
bool vs_vmlock_try_acquire(VsVmLock *lock);
/* True when no operation on the VM is queued or under way, with ENDED set
 * to how many have ended: what only an operation changes, read while the
 * VM was quiet, stays true as long as ENDED stays the same and the VM quiet. */
bool vs_vmlock_quiet(VsVmLock *lock, guint64 *ended);

#include "hv.h"

/* What must hold before an operation looks at a VM whose lock it has just
 * taken (journal.c: no interrupted operation of that VM left unsettled):
 * false, with ERROR, stops the operation. One, set at start. */
typedef bool (*VsVmLockGate)(const char *uuid, GError **error);
void vs_vmlock_set_gate(VsVmLockGate gate);

/* How long a request's change waits for the operations queued before it
 * on its VM (a clone may copy for minutes): past it, a CONFLICT saying so
 * and nothing done, rather than a change carried out long after its client
 * gave up. ?wait= is bounded the same way (under the 30 s after which
 * clients and proxies commonly give up). */
#define VS_VMLOCK_TURN_WAIT_S 25

/* Looks VM NAME up, waits for its turn (VS_VMLOCK_TURN_WAIT_S at most:
 * else CONFLICT), passes the gate, then checks it
 * is still there under that name (a delete or rename may have gone first,
 * or the gate's settling removed it):
 * the domain with its lock held, or NULL with ERROR (NOT_FOUND, CONFLICT,
 * or the gate's; lock released). Release with vs_vmlock_release(*LOCK). */
virDomainPtr vs_vmlock_domain(virConnectPtr conn, const char *name, VsVmLock **lock,
                              GError **error);
