/* pause.h: how long a running VM's VCPUs were stopped by an operation (a
 * classic or a live snapshot). Two views: QEMU's own STOP and RESUME events,
 * stamped by QEMU when it stopped and restarted the VCPUs (the guest's real
 * pause), and libvirt's SUSPENDED and RESUMED lifecycle events, which come
 * later by libvirt's own bookkeeping (its status file is synced on each
 * change). Needs the libvirt event loop that hv.c runs, and the connection's
 * events watched (vs_pause_watch). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <libvirt/libvirt.h>

typedef struct VsPauseMeter VsPauseMeter;

/* Registers, once per connection, the event callbacks every meter on CONN
 * reads (their ids in IDS, -1 where refused); false if libvirt takes no
 * event callbacks on it. */
bool vs_pause_watch(virConnectPtr conn, int ids[2]);
/* Drops those callbacks (IDS as vs_pause_watch set them): each holds a
 * reference to CONN, which would otherwise never be released. */
void vs_pause_unwatch(virConnectPtr conn, const int ids[2]);

/* Starts watching DOM; NULL if its connection's events are not watched. */
VsPauseMeter *vs_pause_meter_start(virDomainPtr dom);
/* When libvirt reported the VM resumed (now_ms clock of vs_pause_now_ms),
 * waiting up to TIMEOUT_US for it; -1 if it has not. */
double vs_pause_meter_wait_resumed(VsPauseMeter *meter, gint64 timeout_us);
/* Whether METER has seen the VM stop (QEMU's STOP or libvirt's SUSPENDED)
 * so far. A guest that was paused already when the meter started shows no
 * stop during an operation that would have paused it. */
bool vs_pause_meter_saw_stop(VsPauseMeter *meter);
/* Stops watching and frees METER. Returns the guest's pause in ms: between
 * QEMU's first STOP event and the RESUME after it when QEMU's events were
 * seen, else between libvirt's SUSPENDED and RESUMED events; -1 if neither.
 * LIBVIRT_MS (optional) gets libvirt's view (-1 if not seen). */
double vs_pause_meter_finish(VsPauseMeter *meter, double *libvirt_ms);
/* The monotonic clock the meter stamps libvirt's events with, in ms. */
double vs_pause_now_ms(void);
