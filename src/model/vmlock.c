/* vmlock.c: per-VM ticket locks (first come, first served). */
#include "vmlock.h"

struct VsVmLock {
    GMutex mutex;
    GCond turn;
    guint64 next_ticket;
    guint64 serving;
};

static GMutex table_lock;
static GHashTable *locks; /* uuid → VsVmLock* */

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
    g_cond_broadcast(&lock->turn);
    g_mutex_unlock(&lock->mutex);
}

void vs_vmlock_acquire(VsVmLock *lock)
{
    vs_vmlock_wait(lock, vs_vmlock_ticket(lock));
}
