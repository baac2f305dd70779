/* watchdog.c: closes connections whose request headers are still coming
 * after the deadline, and, when too many are open, one waiting for its next
 * request (watchdog.h). A thread looks every second;
 * a connection is shut down through the watchdog's own duplicate of its
 * descriptor, which makes libmicrohttpd's read fail and close the
 * connection on its thread. */
#include "watchdog.h"

#include "../util/log.h"
#include "peer.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

struct VsWatched {
    int fd;           /* our duplicate */
    gint64 waiting;   /* monotonic µs since headers are awaited; 0: busy */
    bool shut;        /* shut down already */
    char peer[64];
    char key[VS_PEER_KEY_MAX]; /* what it is counted under (peer.h) */
};

struct VsWatchdog {
    GMutex lock;
    GCond stop_cond;
    bool stopping;
    gint64 deadline_us;
    guint crowd;         /* open connections above which a waiting one closes */
    guint open;          /* watched and not shut down */
    guint crowded_out;   /* closed for the crowd since the last log line */
    GHashTable *watched; /* VsWatched* set */
    GHashTable *by_peer; /* peer key → guint open (watched and not shut) from it, as a pointer */
    GThread *thread;
};

/* Called with the lock held. */
static void shut(VsWatchdog *w, VsWatched *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->shut = true;
    w->open--;
    vs_peer_count(w->by_peer, c->key, -1);
}

/* Makes room for NEWCOMER when more than the crowd are open (called with
 * the lock held): a connection waiting for a request's headers closes, be
 * it a slowloris, a client that connected and sent nothing, or an idle
 * keep-alive one (its client connects again). Of those, the one that has
 * waited longest among those of the address (an IPv6 /64) holding the most
 * connections, so that one client opening connections fast cannot push
 * others' out (when every address holds one: the oldest of all). One whose
 * request is being served is never closed; if every other one is, the
 * newcomer stays, up to libmicrohttpd's own limit. */
static void make_room(VsWatchdog *w, VsWatched *newcomer)
{
    if (w->open <= w->crowd)
        return;
    VsWatched *victim = NULL;
    guint most = 0;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, w->watched);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        VsWatched *c = key;
        if (c == newcomer || c->shut || !c->waiting)
            continue;
        guint from = GPOINTER_TO_UINT(g_hash_table_lookup(w->by_peer, c->key));
        if (!victim || from > most || (from == most && c->waiting < victim->waiting)) {
            most = from;
            victim = c;
        }
    }
    if (!victim)
        return;
    shut(w, victim);
    w->crowded_out++;
}

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
            vs_warn("closed a connection from %s: its request (headers, or a body sent without "
                    "credentials) was still coming after "
                    "%" G_GINT64_FORMAT " s", c->peer, w->deadline_us / G_USEC_PER_SEC);
            shut(w, c);
        }
        if (w->crowded_out) /* one line a second, however many */
            vs_warn("closed %u connection(s) waiting for a request, from the addresses holding "
                    "the most: more than %u "
                    "were open", w->crowded_out, w->crowd);
        w->crowded_out = 0;
        g_cond_wait_until(&w->stop_cond, &w->lock, g_get_monotonic_time() + G_USEC_PER_SEC);
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

VsWatchdog *vs_watchdog_new(gint64 deadline_s, guint crowd)
{
    VsWatchdog *w = g_new0(VsWatchdog, 1);
    w->crowd = crowd;
    g_mutex_init(&w->lock);
    g_cond_init(&w->stop_cond);
    w->deadline_us = deadline_s * G_USEC_PER_SEC;
    w->watched = g_hash_table_new(g_direct_hash, g_direct_equal);
    w->by_peer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
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
    g_hash_table_unref(w->by_peer);
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
    vs_peer_key(peer, c->key);
    g_mutex_lock(&w->lock);
    g_hash_table_add(w->watched, c);
    w->open++;
    vs_peer_count(w->by_peer, c->key, +1);
    make_room(w, c);
    g_mutex_unlock(&w->lock);
    return c;
}

bool vs_watchdog_busy(VsWatchdog *w, VsWatched *c)
{
    if (!c)
        return true;
    g_mutex_lock(&w->lock);
    c->waiting = 0;
    bool open = !c->shut;
    g_mutex_unlock(&w->lock);
    return open;
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
    if (!c->shut) {
        w->open--;
        vs_peer_count(w->by_peer, c->key, -1);
    }
    g_mutex_unlock(&w->lock);
    close(c->fd);
    g_free(c);
}
