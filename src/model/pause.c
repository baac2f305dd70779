/* pause.c: the pause meter (see pause.h): QEMU's STOP/RESUME events through
 * libvirt's QEMU monitor event API, and libvirt's lifecycle events. */
#include "pause.h"

#include <glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <stdbool.h>

struct VsPauseMeter {
    virConnectPtr conn;
    int lifecycle_id, qemu_id;
    gatomicrefcount refs; /* one per registered callback */
    GMutex lock;
    GCond changed;
    double suspended, resumed;   /* libvirt's events, monotonic ms; -1: not seen */
    double qemu_stop, qemu_resume; /* QEMU's stamps, wall-clock ms; -1: not seen */
};

double vs_pause_now_ms(void) { return (double)g_get_monotonic_time() / 1000.0; }

static void meter_unref(void *opaque)
{
    VsPauseMeter *m = opaque;
    if (!g_atomic_ref_count_dec(&m->refs))
        return;
    virConnectClose(m->conn);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->changed);
    g_free(m);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)conn;
    (void)dom;
    (void)detail;
    VsPauseMeter *m = opaque;
    double t = vs_pause_now_ms();
    g_mutex_lock(&m->lock);
    if (event == VIR_DOMAIN_EVENT_SUSPENDED && m->suspended < 0)
        m->suspended = t;
    else if (event == VIR_DOMAIN_EVENT_RESUMED && m->suspended >= 0 && m->resumed < 0)
        m->resumed = t;
    g_cond_broadcast(&m->changed);
    g_mutex_unlock(&m->lock);
    return 0;
}

/* QEMU stamps each event with the wall-clock time it emitted it: STOP once
 * every VCPU has stopped, RESUME just before they run again. */
static void on_qemu_event(virConnectPtr conn, virDomainPtr dom, const char *event,
                          long long seconds, unsigned int micros, const char *details,
                          void *opaque)
{
    (void)conn;
    (void)dom;
    (void)details;
    VsPauseMeter *m = opaque;
    double t = (double)seconds * 1000.0 + (double)micros / 1000.0;
    g_mutex_lock(&m->lock);
    if (g_str_equal(event, "STOP") && m->qemu_stop < 0)
        m->qemu_stop = t;
    else if (g_str_equal(event, "RESUME") && m->qemu_stop >= 0 && m->qemu_resume < 0)
        m->qemu_resume = t;
    g_cond_broadcast(&m->changed);
    g_mutex_unlock(&m->lock);
}

VsPauseMeter *vs_pause_meter_start(virDomainPtr dom)
{
    VsPauseMeter *m = g_new0(VsPauseMeter, 1);
    g_mutex_init(&m->lock);
    g_cond_init(&m->changed);
    g_atomic_ref_count_init(&m->refs);
    m->suspended = m->resumed = m->qemu_stop = m->qemu_resume = -1;
    m->conn = virDomainGetConnect(dom);
    virConnectRef(m->conn);
    m->lifecycle_id = virConnectDomainEventRegisterAny(
        m->conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), m,
        meter_unref);
    if (m->lifecycle_id < 0) {
        meter_unref(m);
        return NULL;
    }
    /* Not every driver has QEMU events (test:///): libvirt's view is then all. */
    g_atomic_ref_count_inc(&m->refs);
    m->qemu_id = virConnectDomainQemuMonitorEventRegister(
        m->conn, dom, "^(STOP|RESUME)$", on_qemu_event, m, meter_unref,
        VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX);
    if (m->qemu_id < 0) {
        virResetLastError();
        g_atomic_ref_count_dec(&m->refs);
    }
    return m;
}

double vs_pause_meter_wait_resumed(VsPauseMeter *m, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    g_mutex_lock(&m->lock);
    while (m->resumed < 0 && g_cond_wait_until(&m->changed, &m->lock, end))
        ;
    double t = m->resumed;
    g_mutex_unlock(&m->lock);
    return t;
}

double vs_pause_meter_finish(VsPauseMeter *m, double *libvirt_ms)
{
    if (libvirt_ms)
        *libvirt_ms = -1;
    if (!m)
        return -1;
    /* Events come through the event loop: give a late one a moment, but
     * only the ones the answer needs (libvirt's only when QEMU's were not
     * seen, or when the caller asks for libvirt's view). */
    gint64 end = g_get_monotonic_time() + 200000;
    g_mutex_lock(&m->lock);
    for (;;) {
        bool qemu_seen = m->qemu_stop >= 0;
        bool qemu_pending = qemu_seen && m->qemu_resume < 0;
        bool libvirt_pending = (libvirt_ms || !qemu_seen) && m->suspended >= 0 && m->resumed < 0;
        if ((!qemu_pending && !libvirt_pending) || !g_cond_wait_until(&m->changed, &m->lock, end))
            break;
    }
    double libvirt = m->suspended >= 0 && m->resumed >= 0 ? m->resumed - m->suspended : -1;
    double qemu = m->qemu_stop >= 0 && m->qemu_resume >= 0 ? m->qemu_resume - m->qemu_stop : -1;
    g_mutex_unlock(&m->lock);
    virConnectPtr conn = m->conn;
    virConnectRef(conn);
    if (m->qemu_id >= 0)
        virConnectDomainQemuMonitorEventDeregister(conn, m->qemu_id); /* unrefs M */
    virConnectDomainEventDeregisterAny(conn, m->lifecycle_id);      /* unrefs M */
    virConnectClose(conn);
    if (libvirt_ms)
        *libvirt_ms = libvirt;
    return qemu >= 0 ? qemu : libvirt;
}
