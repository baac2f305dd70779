/* watchdog.c: closes connections whose request headers are still coming
 * after the deadline (watchdog.h). A thread looks every second; it shuts
 * the socket down through its own duplicate of the descriptor, which makes
 * libmicrohttpd's read fail and close the connection on its thread. */
#include "watchdog.h"

#include "../util/log.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

struct VsWatched {
    int fd;           /* our duplicate */
    gint64 waiting;   /* monotonic µs since headers are awaited; 0: busy */
    bool shut;        /* shut down already */
    char peer[64];
};

struct VsWatchdog {
    GMutex lock;
    GCond stop_cond;
    bool stopping;
    gint64 deadline_us;
    GHashTable *watched; /* VsWatched* set */
    GThread *thread;
};

static gpointer watch(gpointer data)
{
    VsWatchdog *w = data;
    g_mutex_lock(&w->lock);
    while (!w->stopping) {
        gint64 now = g_get_monotonic_time();
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, w->watched);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            VsWatched *c = key;
            if (c->shut || !c->waiting || now - c->waiting <= w->deadline_us)
                continue;
            vs_warn("closed a connection from %s: its request headers were still coming after "
                    "%" G_GINT64_FORMAT " s", c->peer, w->deadline_us / G_USEC_PER_SEC);
            shutdown(c->fd, SHUT_RDWR);
            c->shut = true;
        }
        g_cond_wait_until(&w->stop_cond, &w->lock, g_get_monotonic_time() + G_USEC_PER_SEC);
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

VsWatchdog *vs_watchdog_new(gint64 deadline_s)
{
    VsWatchdog *w = g_new0(VsWatchdog, 1);
    g_mutex_init(&w->lock);
    g_cond_init(&w->stop_cond);
    w->deadline_us = deadline_s * G_USEC_PER_SEC;
    w->watched = g_hash_table_new(g_direct_hash, g_direct_equal);
    w->thread = g_thread_new("header-watchdog", watch, w);
    return w;
}

void vs_watchdog_free(VsWatchdog *w)
{
    if (!w)
        return;
    g_mutex_lock(&w->lock);
    w->stopping = true;
    g_cond_signal(&w->stop_cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, w->watched);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        close(((VsWatched *)key)->fd);
        g_free(key);
    }
    g_hash_table_unref(w->watched);
    g_cond_clear(&w->stop_cond);
    g_mutex_clear(&w->lock);
    g_free(w);
}

VsWatched *vs_watchdog_add(VsWatchdog *w, int fd, const char *peer)
{
    int copy = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1; /* QEMU must not inherit it */
    if (copy < 0)
        return NULL; /* not watched (out of descriptors): the idle timeout still applies */
    VsWatched *c = g_new0(VsWatched, 1);
    c->fd = copy;
    c->waiting = g_get_monotonic_time();
    g_strlcpy(c->peer, peer ? peer : "?", sizeof c->peer);
    g_mutex_lock(&w->lock);
    g_hash_table_add(w->watched, c);
    g_mutex_unlock(&w->lock);
    return c;
}

void vs_watchdog_busy(VsWatchdog *w, VsWatched *c)
{
    if (!c)
        return;
    g_mutex_lock(&w->lock);
    c->waiting = 0;
    g_mutex_unlock(&w->lock);
}

void vs_watchdog_idle(VsWatchdog *w, VsWatched *c)
{
    if (!c)
        return;
    g_mutex_lock(&w->lock);
    c->waiting = g_get_monotonic_time();
    g_mutex_unlock(&w->lock);
}

void vs_watchdog_remove(VsWatchdog *w, VsWatched *c)
{
    if (!c)
        return;
    g_mutex_lock(&w->lock);
    g_hash_table_remove(w->watched, c);
    g_mutex_unlock(&w->lock);
    close(c->fd);
    g_free(c);
}
