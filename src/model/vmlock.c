/* vmlock.c: per-VM ticket locks (first come, first served). */
#include "vmlock.h"

#include "../util/error.h"

#include <string.h>

struct VsVmLock {
    GMutex mutex;
    GCond turn;
    guint64 next_ticket;
    guint64 serving;
    GHashTable *abandoned; /* tickets whose holders stopped waiting (guint64*), skipped */
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
        lock->abandoned = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
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
    guint64 queued = lock->next_ticket - lock->serving - g_hash_table_size(lock->abandoned);
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

bool vs_vmlock_wait_until(VsVmLock *lock, guint64 ticket, gint64 deadline, guint64 *ahead)
{
    g_mutex_lock(&lock->mutex);
    while (lock->serving != ticket && g_cond_wait_until(&lock->turn, &lock->mutex, deadline))
        ;
    bool turn = lock->serving == ticket;
    if (!turn) { /* skipped when its turn comes (vs_vmlock_release) */
        guint64 *key = g_new(guint64, 1);
        *key = ticket;
        g_hash_table_add(lock->abandoned, key);
        guint64 before = 0; /* the operations ahead that still count */
        for (guint64 t = lock->serving; t < ticket; t++)
            before += !g_hash_table_contains(lock->abandoned, &t);
        if (ahead)
            *ahead = before;
    }
    g_mutex_unlock(&lock->mutex);
    return turn;
}

void vs_vmlock_release(VsVmLock *lock)
{
    g_mutex_lock(&lock->mutex);
    lock->serving++;
    while (g_hash_table_remove(lock->abandoned, &lock->serving))
        lock->serving++; /* a turn nobody waits for any more */
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

/* How long a request waits for its turn (vs_vmlock_domain), in µs:
 * VS_VMLOCK_TURN_WAIT_S, or $VIRTSNAP_TURN_WAIT seconds (the tests' way to
 * see it give up). */
static gint64 turn_wait_us(void)
{
    const char *env = g_getenv("VIRTSNAP_TURN_WAIT");
    gint64 seconds = env ? g_ascii_strtoll(env, NULL, 10) : VS_VMLOCK_TURN_WAIT_S;
    return CLAMP(seconds, 1, 3600) * G_USEC_PER_SEC;
}

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
    guint64 ahead = 0;
    gint64 turn_wait = turn_wait_us();
    if (!vs_vmlock_wait_until(*lock, vs_vmlock_ticket(*lock), g_get_monotonic_time() + turn_wait,
                              &ahead)) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is still busy with %" G_GUINT64_FORMAT " earlier operation%s after "
                    "%d s (a snapshot being taken, a clone, another change); nothing was done: "
                    "try again once %s (GET /tasks?status=running lists the tasks)",
                    name, ahead, ahead == 1 ? "" : "s", (int)(turn_wait / G_USEC_PER_SEC),
                    ahead == 1 ? "it ends" : "they end");
        return NULL;
    }
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
