/* vmlock.c: per-VM ticket locks (first come, first served). */
#include "vmlock.h"

#include "../util/error.h"

#include <string.h>

struct VsVmLock {
    GMutex mutex;
    GCond turn;
    guint64 next_ticket;
    guint64 serving;
    char *uuid;
};

static GMutex table_lock;
static GHashTable *locks; /* uuid → VsVmLock* */

static GMutex quiet_hook_lock; /* held while the hook runs: unset only between runs */
static VsVmLockQuietHook quiet_hook;

void vs_vmlock_set_quiet_hook(VsVmLockQuietHook hook)
{
    g_mutex_lock(&quiet_hook_lock);
    quiet_hook = hook;
    g_mutex_unlock(&quiet_hook_lock);
}

VsVmLock *vs_vmlock_for(const char *uuid)
{
    g_mutex_lock(&table_lock);
    if (!locks)
        locks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    VsVmLock *lock = g_hash_table_lookup(locks, uuid);
    if (!lock) {
        lock = g_new0(VsVmLock, 1);
        g_mutex_init(&lock->mutex);
        g_cond_init(&lock->turn);
        lock->uuid = g_strdup(uuid);
        g_hash_table_insert(locks, g_strdup(uuid), lock);
    }
    g_mutex_unlock(&table_lock);
    return lock;
}

guint64 vs_vmlock_ticket(VsVmLock *lock)
{
    g_mutex_lock(&lock->mutex);
    guint64 ticket = lock->next_ticket++;
    g_mutex_unlock(&lock->mutex);
    return ticket;
}

bool vs_vmlock_has_room(VsVmLock *lock, const char *vm, GError **error)
{
    g_mutex_lock(&lock->mutex);
    guint64 queued = lock->next_ticket - lock->serving;
    g_mutex_unlock(&lock->mutex);
    if (queued < VS_VMLOCK_MAX_QUEUED)
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_BUSY,
                "VM '%s' already has %" G_GUINT64_FORMAT " operations queued; try again later", vm,
                queued);
    return false;
}

void vs_vmlock_wait(VsVmLock *lock, guint64 ticket)
{
    g_mutex_lock(&lock->mutex);
    while (lock->serving != ticket)
        g_cond_wait(&lock->turn, &lock->mutex);
    g_mutex_unlock(&lock->mutex);
}

void vs_vmlock_release(VsVmLock *lock)
{
    g_mutex_lock(&lock->mutex);
    lock->serving++;
    bool quiet = lock->serving == lock->next_ticket;
    g_cond_broadcast(&lock->turn);
    g_mutex_unlock(&lock->mutex);
    g_mutex_lock(&quiet_hook_lock);
    if (quiet && quiet_hook)
        quiet_hook(lock->uuid);
    g_mutex_unlock(&quiet_hook_lock);
}

void vs_vmlock_acquire(VsVmLock *lock)
{
    vs_vmlock_wait(lock, vs_vmlock_ticket(lock));
}

bool vs_vmlock_try_acquire(VsVmLock *lock)
{
    g_mutex_lock(&lock->mutex);
    bool quiet = lock->serving == lock->next_ticket;
    if (quiet)
        lock->next_ticket++; /* the ticket served now */
    g_mutex_unlock(&lock->mutex);
    return quiet;
}

bool vs_vmlock_quiet(VsVmLock *lock, guint64 *ended)
{
    g_mutex_lock(&lock->mutex);
    bool quiet = lock->serving == lock->next_ticket;
    *ended = lock->serving;
    g_mutex_unlock(&lock->mutex);
    return quiet;
}

static VsVmLockGate gate;

void vs_vmlock_set_gate(VsVmLockGate check)
{
    gate = check;
}

virDomainPtr vs_vmlock_domain(virConnectPtr conn, const char *name, VsVmLock **lock,
                              GError **error)
{
    g_autoptr(virDomain) dom = vs_hv_domain(conn, name, error);
    if (!dom)
        return NULL;
    g_autofree char *uuid = vs_hv_uuid(dom);
    *lock = vs_vmlock_for(uuid);
    if (!vs_vmlock_has_room(*lock, name, error))
        return NULL;
    vs_vmlock_acquire(*lock);
    /* The gate first: settling an interrupted operation may remove or
     * rename the VM, which the lookup below must then see (404, not a
     * failed libvirt call on a VM that is gone). NOT_FOUND only when
     * libvirt says so: a connection lost meanwhile is UNAVAILABLE (503). */
    g_autoptr(virDomain) again = NULL;
    g_autofree char *again_uuid = NULL;
    if (!gate || gate(uuid, error)) {
        again = vs_hv_domain(conn, name, error);
        again_uuid = again ? vs_hv_uuid(again) : NULL;
        if (again && strcmp(uuid, again_uuid) != 0)
            g_set_error(error, VS_ERROR, VS_ERR_NOT_FOUND, "VM '%s' does not exist", name);
    }
    if (!again_uuid || strcmp(uuid, again_uuid) != 0) {
        vs_vmlock_release(*lock);
        return NULL;
    }
    return g_steal_pointer(&again);
}
