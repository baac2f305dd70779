/* janitor.c: forgets the files of VMs that libvirt dropped on its own (see
 * janitor.h). An event only names a VM that may be gone, and a VM that
 * virtsnapd keeps nothing of is let be. For the others one thread looks the
 * VM up, under its lock (after the operation that may be running on it),
 * and lets its files go only when libvirt has no such domain, or has it
 * stopped and transient (libvirt removes a transient domain as it stops;
 * the event may come first). Events missed while virtsnapd was stopped or
 * its connection lost are made up for by a sweep of every VM something is
 * kept of, at start and after each reconnection. */
#include "janitor.h"

#include "../util/log.h"
#include "definition.h"
#include "hv.h"
#include "live.h"
#include "snapnames.h"
#include "snapshot.h"
#include "snaptree.h"
#include "vmlock.h"

#include <string.h>

#define SWEEP_ALL "" /* the queued item that asks for a sweep of every VM */

static GMutex pool_lock; /* guards POOL against the event thread's pushes, and: */
static GThreadPool *pool;
static bool sweep_all_queued; /* one queued sweep of every VM stands for more */

static void sweep_vm(const char *uuid)
{
    if (!vs_snapnames_has_vm(uuid) && !vs_live_has_vm(uuid))
        return;
    /* Connected first: the VM's lock is not held while libvirt is waited for. */
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    if (!conn)
        return; /* (swept again after the reconnection) */
    VsVmLock *lock = vs_vmlock_for(uuid);
    vs_vmlock_acquire(lock);
    g_autoptr(virDomain) dom = virDomainLookupByUUIDString(conn, uuid);
    /* Removed while it was looked at (the domain went between the look-up
     * and the next call, as a transient one does as it stops): gone too. */
    int active = dom ? virDomainIsActive(dom) : -1;
    int persistent = active == 0 ? virDomainIsPersistent(dom) : -1;
    bool unknown = !dom || active < 0 || (active == 0 && persistent < 0);
    bool gone = unknown ? virGetLastErrorCode() == VIR_ERR_NO_DOMAIN : persistent == 0;
    virResetLastError();
    if (gone && vs_snapshot_forget_vm(uuid))
        vs_info("VM %s is gone from libvirt (a transient VM that stopped, or one undefined by "
                "another client): its snapshots' display names and memory files are removed",
                uuid);
    if (gone)
        vs_definition_forget(uuid);
    vs_vmlock_release(lock);
}

static void sweep(gpointer data, gpointer unused)
{
    (void)unused;
    g_autofree char *uuid = data;
    if (strcmp(uuid, SWEEP_ALL) != 0) {
        sweep_vm(uuid);
        return;
    }
    g_mutex_lock(&pool_lock);
    sweep_all_queued = false; /* a reconnection from now on asks for another */
    g_mutex_unlock(&pool_lock);
    /* Each VM once, though it may keep names, figures and memory files. */
    g_auto(GStrv) named = vs_snapnames_vms();
    g_auto(GStrv) live = vs_live_vms();
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    GStrv lists[] = {named, live};
    for (gsize l = 0; l < G_N_ELEMENTS(lists); l++)
        for (gsize i = 0; lists[l][i]; i++)
            if (g_hash_table_add(seen, lists[l][i]))
                sweep_vm(lists[l][i]);
}

static void on_gone(const char *uuid)
{
    g_mutex_lock(&pool_lock);
    /* A sweep of every VM not begun yet covers the reconnections since (a
     * libvirtd that drops the connection every few seconds must not queue
     * sweeps faster than they end). */
    bool covered = !uuid && sweep_all_queued;
    if (pool && !covered) {
        sweep_all_queued = sweep_all_queued || !uuid;
        g_thread_pool_push(pool, g_strdup(uuid ? uuid : SWEEP_ALL), NULL);
    }
    g_mutex_unlock(&pool_lock);
}

void vs_janitor_start(void)
{
    g_mutex_lock(&pool_lock);
    pool = g_thread_pool_new_full(sweep, NULL, g_free, 1, FALSE, NULL);
    g_mutex_unlock(&pool_lock);
    vs_hv_set_gone_hook(on_gone);
    on_gone(NULL); /* what went while virtsnapd was stopped */
}

void vs_janitor_stop(void)
{
    vs_hv_set_gone_hook(NULL);
    g_mutex_lock(&pool_lock);
    GThreadPool *stopping = g_steal_pointer(&pool);
    sweep_all_queued = false; /* (a sweep still queued goes with the pool) */
    g_mutex_unlock(&pool_lock);
    if (stopping)
        g_thread_pool_free(stopping, TRUE, TRUE);
}
