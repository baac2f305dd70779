/* janitor.h: forgets what virtsnapd keeps of a VM that libvirt dropped
 * without an operation of virtsnapd (a transient VM whose guest powered
 * off, whose shutdown went through or whose QEMU died; a VM another client
 * undefined): its snapshots' display names and figures, and its live
 * snapshots' memory files, which are useless once libvirt has dropped the
 * snapshots' metadata. */
#pragma once

/* Follows libvirt's stop and undefine events (vs_hv_set_gone_hook), and
 * sweeps every VM something is kept of now and after each reconnection;
 * after vs_hv_init. */
void vs_janitor_start(void);
/* Drops what is still queued and waits for a running sweep. */
void vs_janitor_stop(void);
