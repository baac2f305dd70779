/* settler.c: the background settler (settler.h). A create or rename whose
 * libvirt call broke off, and that libvirt could not answer for in time,
 * leaves a kept record (journal.c); until it is settled, reads show what
 * libvirt holds (a snapshot under its libvirt name) and other libvirt
 * clients may change the VM. This thread settles such records as soon as
 * libvirt answers again, one VM at a time, each under the VM's lock when
 * no operation holds it or waits for it, so that nothing waits for the
 * VM's next change to do it. */
#include "settler.h"

#include "../util/log.h"
#include "hv.h"
#include "journal.h"
#include "snapshot.h"
#include "snaptree.h"
#include "vmlock.h"

static struct {
    GThread *thread;
    GMutex mutex;
    GCond wake;
    bool stop;
} settler;

/* Seconds between rounds: 2, or $VIRTSNAP_SETTLE_RETRY (0: no settler). */
static gint64 retry_seconds(void)
{
    const char *env = g_getenv("VIRTSNAP_SETTLE_RETRY");
    return CLAMP(env ? g_ascii_strtoll(env, NULL, 10) : 2, 0, 3600);
}

static bool stopping(void)
{
    g_mutex_lock(&settler.mutex);
    bool stop = settler.stop;
    g_mutex_unlock(&settler.mutex);
    return stop;
}

/* One round: the kept records of every VM that no operation is using or
 * waiting for (a busy VM's own operation settles them first, through the
 * lock's gate), if libvirt answers. False when one was tried and did not
 * settle. */
static bool settle_round(void)
{
    g_auto(GStrv) uuids = vs_journal_pending_uuids();
    g_autoptr(virConnect) conn = uuids[0] ? vs_hv_connect(NULL) : NULL; /* also reconnects */
    bool failed = false;
    for (gsize i = 0; conn && uuids[i] && !stopping(); i++) {
        VsVmLock *lock = vs_vmlock_for(uuids[i]);
        if (!vs_vmlock_try_acquire(lock))
            continue;
        g_autoptr(GError) error = NULL;
        int settled = vs_journal_settle_pending(uuids[i], &error);
        if (settled > 0)
            vs_snapshot_facts_forget(uuids[i]); /* a create's snapshot is known by its name now */
        failed = settled < 0 || failed;
        vs_vmlock_release(lock);
    }
    return !failed;
}

static gpointer settler_main(gpointer unused)
{
    (void)unused;
    const gint64 base = retry_seconds() * G_USEC_PER_SEC;
    gint64 interval = base;
    g_mutex_lock(&settler.mutex);
    while (!settler.stop) {
        gint64 until = g_get_monotonic_time() + interval;
        while (!settler.stop && g_cond_wait_until(&settler.wake, &settler.mutex, until))
            ;
        if (settler.stop)
            break;
        g_mutex_unlock(&settler.mutex);
        /* A record libvirt answers for but that will not settle (its VM's
         * job still running, say) is tried less and less often, up to once
         * a minute, so that its warning does not flood the log. */
        interval = settle_round() ? base : MAX(base, MIN(interval * 2, 60 * G_USEC_PER_SEC));
        g_mutex_lock(&settler.mutex);
    }
    g_mutex_unlock(&settler.mutex);
    return NULL;
}

void vs_settler_start(void)
{
    if (retry_seconds() > 0)
        settler.thread = g_thread_new("settler", settler_main, NULL);
}

void vs_settler_stop(void)
{
    if (!settler.thread)
        return;
    g_mutex_lock(&settler.mutex);
    settler.stop = true;
    g_cond_signal(&settler.wake);
    g_mutex_unlock(&settler.mutex);
    g_thread_join(g_steal_pointer(&settler.thread));
}
