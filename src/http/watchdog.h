/* watchdog.h: closes connections that take too long to send a request's
 * headers (a "slowloris": a byte now and then keeps libmicrohttpd's idle
 * timeout from firing, and each such connection holds a thread), and, when
 * more than a set number are open, one waiting for a request, the oldest of
 * the address holding the most (so that connections that send nothing
 * cannot fill the server's limit and keep others out). Each connection is watched from its start,
 * and again after each request it ended, until the next request's headers
 * are in. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct VsWatchdog VsWatchdog;
typedef struct VsWatched VsWatched;

/* How long a request's headers may take, in seconds (the daemon's; tests
 * set $VIRTSNAP_HEADER_DEADLINE). */
#define VS_HEADER_DEADLINE 60

/* Starts the watchdog's thread; DEADLINE_S seconds for headers; with more
 * than CROWD connections open, each new one closes one waiting for a
 * request's headers (the oldest of the address holding the most). */
VsWatchdog *vs_watchdog_new(gint64 deadline_s, guint crowd);
/* Stops it (after libmicrohttpd stopped: no connection is left). */
void vs_watchdog_free(VsWatchdog *w);
/* Watches the connection on socket FD (kept open by a duplicate until
 * vs_watchdog_remove, so the descriptor the watchdog shuts down is never
 * another file's); PEER names it in the log line. */
VsWatched *vs_watchdog_add(VsWatchdog *w, int fd, const char *peer);
/* A request's headers are in (busy until vs_watchdog_idle): false if the
 * connection was closed meanwhile to make room (its request must not run:
 * its answer could not be delivered). */
bool vs_watchdog_busy(VsWatchdog *w, VsWatched *c);
/* The request ended: the next one's headers are awaited from now. */
void vs_watchdog_idle(VsWatchdog *w, VsWatched *c);
/* The connection closed. */
void vs_watchdog_remove(VsWatchdog *w, VsWatched *c);
