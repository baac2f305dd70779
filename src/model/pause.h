/* pause.h: how long a running VM's VCPUs were stopped by an operation (a
 * classic or a live snapshot). Two views: QEMU's own STOP and RESUME events,
 * stamped by QEMU when it stopped and restarted the VCPUs (the guest's real
 * pause), and libvirt's SUSPENDED and RESUMED lifecycle events, which come
 * later by libvirt's own bookkeeping (its status file is synced on each
 * change). Needs the libvirt event loop that hv.c runs. */
#pragma once
#include <glib.h>
#include <libvirt/libvirt.h>

typedef struct VsPauseMeter VsPauseMeter;

/* Starts watching DOM; NULL if libvirt takes no event callbacks. */
VsPauseMeter *vs_pause_meter_start(virDomainPtr dom);
/* When libvirt reported the VM resumed (now_ms clock of vs_pause_now_ms),
 * waiting up to TIMEOUT_US for it; -1 if it has not. */
double vs_pause_meter_wait_resumed(VsPauseMeter *meter, gint64 timeout_us);
/* Stops watching and frees METER. Returns the guest's pause in ms: between
 * QEMU's first STOP event and the RESUME after it when QEMU's events were
 * seen, else between libvirt's SUSPENDED and RESUMED events; -1 if neither.
 * LIBVIRT_MS (optional) gets libvirt's view (-1 if not seen). */
double vs_pause_meter_finish(VsPauseMeter *meter, double *libvirt_ms);
/* The monotonic clock the meter stamps libvirt's events with, in ms. */
double vs_pause_now_ms(void);
