/* janitor.c: forgets the files of VMs that libvirt dropped on its own (see
 * janitor.h). An event only names a VM that may be gone: one thread looks
 * each up, under the VM's lock (after the operation that may be running on
 * it), and only libvirt's "no such domain" lets its files go. */
#include "janitor.h"

#include "../util/log.h"
#include "hv.h"
#include "live.h"
#include "snapnames.h"
#include "snapshot.h"
#include "vmlock.h"

static GMutex pool_lock; /* guards POOL against the event thread's pushes */
static GThreadPool *pool;

static void sweep(gpointer data, gpointer unused)
{
    (void)unused;
    g_autofree char *uuid = data;
    VsVmLock *lock = vs_vmlock_for(uuid);
    vs_vmlock_acquire(lock);
    g_autoptr(GError) error = NULL;
    g_autoptr(virConnect) conn = vs_hv_connect(&error);
    g_autoptr(virDomain) dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    bool gone = conn && !dom && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
    virResetLastError();
    if (gone)
        vs_snapshot_facts_forget(uuid);
    /* Nothing is said when virtsnapd's own delete left nothing. */
    bool names = gone && vs_snapnames_forget_vm(uuid);
    bool memory = gone && vs_live_forget_vm(uuid);
    if (names || memory)
        vs_info("VM %s is gone from libvirt (a transient VM that stopped, or one undefined by "
                "another client): its snapshots' display names and memory files are removed",
                uuid);
    vs_vmlock_release(lock);
}

static void on_gone(const char *uuid)
{
    g_mutex_lock(&pool_lock);
    if (pool)
        g_thread_pool_push(pool, g_strdup(uuid), NULL);
    g_mutex_unlock(&pool_lock);
}

void vs_janitor_start(void)
{
    g_mutex_lock(&pool_lock);
    pool = g_thread_pool_new_full(sweep, NULL, g_free, 1, FALSE, NULL);
    g_mutex_unlock(&pool_lock);
    vs_hv_set_gone_hook(on_gone);
}

void vs_janitor_stop(void)
{
    vs_hv_set_gone_hook(NULL);
    g_mutex_lock(&pool_lock);
    GThreadPool *stopping = g_steal_pointer(&pool);
    g_mutex_unlock(&pool_lock);
    if (stopping)
        g_thread_pool_free(stopping, TRUE, TRUE);
}
