/* pause.c: the pause meter (see pause.h): QEMU's STOP/RESUME events through
 * libvirt's QEMU monitor event API, and libvirt's lifecycle events. The
 * callbacks are registered once per connection (vs_pause_watch) and hand
 * each event to the meters running on its domain: registering them per
 * meter cost four calls to libvirt per snapshot, each a round trip to
 * libvirtd on qemu:///system (docs/performance.md). */
#include "pause.h"

#include <glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <stdbool.h>

struct VsPauseMeter {
    virConnectPtr conn; /* compared only: events come from the watched connection */
    char uuid[VIR_UUID_STRING_BUFLEN];
    double started; /* wall-clock ms: QEMU's events stamped before are an earlier operation's */
    double suspended, resumed;   /* libvirt's events, monotonic ms; -1: not seen */
    double qemu_stop, qemu_resume; /* QEMU's stamps, wall-clock ms; -1: not seen */
};

/* The running meters and the connection whose events reach them; LOCK
 * guards both and every meter's fields, CHANGED is broadcast on each event. */
static struct {
    GMutex lock;
    GCond changed;
    GPtrArray *meters;
    virConnectPtr watched;
} watch;

double vs_pause_now_ms(void) { return (double)g_get_monotonic_time() / 1000.0; }

/* The meters on DOM, for an event's callback; called with the lock held. */
static GPtrArray *meters_of(virConnectPtr conn, virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    GPtrArray *found = g_ptr_array_new();
    if (!watch.meters || virDomainGetUUIDString(dom, uuid) < 0)
        return found;
    for (guint i = 0; i < watch.meters->len; i++) {
        VsPauseMeter *m = g_ptr_array_index(watch.meters, i);
        if (m->conn == conn && g_str_equal(m->uuid, uuid))
            g_ptr_array_add(found, m);
    }
    return found;
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)detail;
    (void)opaque;
    double t = vs_pause_now_ms();
    g_mutex_lock(&watch.lock);
    g_autoptr(GPtrArray) meters = meters_of(conn, dom);
    for (guint i = 0; i < meters->len; i++) {
        VsPauseMeter *m = g_ptr_array_index(meters, i);
        if (event == VIR_DOMAIN_EVENT_SUSPENDED && m->suspended < 0)
            m->suspended = t;
        else if (event == VIR_DOMAIN_EVENT_RESUMED && m->suspended >= 0 && m->resumed < 0)
            m->resumed = t;
    }
    g_cond_broadcast(&watch.changed);
    g_mutex_unlock(&watch.lock);
    return 0;
}

/* QEMU stamps each event with the wall-clock time it emitted it: STOP once
 * every VCPU has stopped, RESUME just before they run again. */
static void on_qemu_event(virConnectPtr conn, virDomainPtr dom, const char *event,
                          long long seconds, unsigned int micros, const char *details,
                          void *opaque)
{
    (void)details;
    (void)opaque;
    double t = (double)seconds * 1000.0 + (double)micros / 1000.0;
    g_mutex_lock(&watch.lock);
    g_autoptr(GPtrArray) meters = meters_of(conn, dom);
    for (guint i = 0; i < meters->len; i++) {
        VsPauseMeter *m = g_ptr_array_index(meters, i);
        if (t < m->started)
            continue; /* sent before this meter started, delivered after */
        if (g_str_equal(event, "STOP") && m->qemu_stop < 0)
            m->qemu_stop = t;
        else if (g_str_equal(event, "RESUME") && m->qemu_stop >= 0 && m->qemu_resume < 0)
            m->qemu_resume = t;
    }
    g_cond_broadcast(&watch.changed);
    g_mutex_unlock(&watch.lock);
}

bool vs_pause_watch(virConnectPtr conn, int ids[2])
{
    ids[0] = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
    ids[1] = -1;
    if (ids[0] < 0)
        return false;
    /* Not every driver has QEMU events (test:///): libvirt's view is then
     * all. Asked first, since libvirt 9.0's remote driver leaks 40 bytes
     * each time a libvirtd refuses the registration (test+unix://). */
    const char *type = virConnectGetType(conn);
    if (type && g_ascii_strcasecmp(type, "QEMU") == 0)
        ids[1] = virConnectDomainQemuMonitorEventRegister(
            conn, NULL, "^(STOP|RESUME)$", on_qemu_event, NULL, NULL,
            VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX);
    if (ids[1] < 0)
        virResetLastError();
    g_mutex_lock(&watch.lock);
    watch.watched = conn;
    g_mutex_unlock(&watch.lock);
    return true;
}

void vs_pause_unwatch(virConnectPtr conn, const int ids[2])
{
    g_mutex_lock(&watch.lock);
    if (watch.watched == conn)
        watch.watched = NULL;
    g_mutex_unlock(&watch.lock);
    if (ids[0] >= 0)
        virConnectDomainEventDeregisterAny(conn, ids[0]);
    if (ids[1] >= 0)
        virConnectDomainQemuMonitorEventDeregister(conn, ids[1]);
}

VsPauseMeter *vs_pause_meter_start(virDomainPtr dom)
{
    VsPauseMeter *m = g_new0(VsPauseMeter, 1);
    m->conn = virDomainGetConnect(dom);
    m->suspended = m->resumed = m->qemu_stop = m->qemu_resume = -1;
    m->started = (double)g_get_real_time() / 1000.0;
    g_mutex_lock(&watch.lock);
    bool watched = m->conn && m->conn == watch.watched && virDomainGetUUIDString(dom, m->uuid) == 0;
    if (watched) {
        if (!watch.meters)
            watch.meters = g_ptr_array_new();
        g_ptr_array_add(watch.meters, m);
    }
    g_mutex_unlock(&watch.lock);
    if (!watched)
        g_clear_pointer(&m, g_free);
    return m;
}

double vs_pause_meter_wait_resumed(VsPauseMeter *m, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    g_mutex_lock(&watch.lock);
    while (m->resumed < 0 && g_cond_wait_until(&watch.changed, &watch.lock, end))
        ;
    double t = m->resumed;
    g_mutex_unlock(&watch.lock);
    return t;
}

bool vs_pause_meter_saw_stop(VsPauseMeter *m)
{
    g_mutex_lock(&watch.lock);
    bool saw = m->qemu_stop >= 0 || m->suspended >= 0;
    g_mutex_unlock(&watch.lock);
    return saw;
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
    g_mutex_lock(&watch.lock);
    for (;;) {
        bool qemu_seen = m->qemu_stop >= 0;
        bool qemu_pending = qemu_seen && m->qemu_resume < 0;
        bool libvirt_pending = (libvirt_ms || !qemu_seen) && m->suspended >= 0 && m->resumed < 0;
        if ((!qemu_pending && !libvirt_pending) ||
            !g_cond_wait_until(&watch.changed, &watch.lock, end))
            break;
    }
    double libvirt = m->suspended >= 0 && m->resumed >= 0 ? m->resumed - m->suspended : -1;
    double qemu = m->qemu_stop >= 0 && m->qemu_resume >= 0 ? m->qemu_resume - m->qemu_stop : -1;
    g_ptr_array_remove_fast(watch.meters, m);
    g_mutex_unlock(&watch.lock);
    g_free(m);
    if (libvirt_ms)
        *libvirt_ms = libvirt;
    return qemu >= 0 ? qemu : libvirt;
}
