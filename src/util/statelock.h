/* statelock.h: one virtsnapd per state directory. Two daemons on one state
 * directory would each finish the other's journalled operations, expire its
 * tasks and forget its files; the embedded QEMU driver refuses a second
 * driver on its root, but a daemon on qemu:///system or test:///default
 * would not notice the first. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Takes STATE_DIR/lock for the rest of the process's life (an flock on a
 * descriptor that is never closed and not inherited across exec) and
 * writes this process's pid in it. False, with ERROR naming the holder's
 * pid, when another process holds it. */
bool vs_state_lock(const char *state_dir, GError **error);
