/* reaper.h: makes virtsnapd a child subreaper that reaps the orphaned
 * processes (QEMU, daemonized by libvirt) reparented to it. */
#pragma once
#include <stdbool.h>

/* Sets PR_SET_CHILD_SUBREAPER and starts the reaper thread (once; later calls
 * only return the first one's result). Call it before anything forks: only
 * processes started after it are reparented to virtsnapd. Reaps a zombie
 * child only if it is a child of the main thread (where the kernel puts
 * orphans) and nobody collected it for REAP_GRACE (100 ms), so a process
 * that libvirt or GLib started and waits for itself is never taken from it.
 * False if the kernel refused the flag (nothing is started then). */
bool vs_reaper_start(void);

/* How many orphans the reaper has reaped so far (for tests and logs). */
unsigned vs_reaper_count(void);
