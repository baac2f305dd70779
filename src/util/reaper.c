/* reaper.c: virtsnapd as a child subreaper. libvirt daemonizes QEMU (double
 * fork), so an exited QEMU is an orphan: normally PID 1 reaps it, and
 * virDomainDestroy (power off, every revert) waits until the process is gone.
 * Where PID 1 reaps slowly (1-2 s in some sandboxes) each destroy waits that
 * long. As a subreaper virtsnapd inherits those orphans and reaps them here.
 *
 * What is reaped: only orphans. libvirt (virCommand) and GLib (g_spawn_sync:
 * qemu-img in images.c and live.c) wait for their own direct children with
 * waitpid(pid); taking such a child from them would lose its exit status
 * (g_spawn_sync would even report success). Two rules keep them safe:
 *  - only children of the main thread are candidates: the kernel gives an
 *    orphan to the subreaper's first live thread (the main thread), whereas a
 *    process started by another thread (task workers, MHD connections, the
 *    libvirt event loop) stays that thread's child (/proc/self/task/T/children);
 *  - a candidate is reaped only once it has stayed a zombie for REAP_GRACE,
 *    which covers what the main thread itself starts (libvirt's start-up).
 *
 * How it waits: the thread blocks in waitid(P_ALL, WEXITED | WNOWAIT), which
 * returns when some child is a zombie but reaps nothing (every waiter is woken
 * and the child stays for its own waitpid). While a zombie exists it polls
 * every REAP_POLL; with no child at all (ECHILD) it looks again every
 * REAP_IDLE. No signal handler: SIGCHLD stays as libvirt and GLib set it. */
#include "reaper.h"

#include "log.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAP_GRACE_US (100 * 1000) /* a zombie nobody collected this long is an orphan */
#define REAP_POLL_US (50 * 1000)   /* look again this often while a zombie waits */
#define REAP_IDLE_US (100 * 1000)  /* no child at all: look again after this */
#define REAP_SLOW_US (500 * 1000)  /* poll when the only zombie has been someone else's for 1 s */

typedef struct {
    pid_t pid;
    unsigned long long start; /* start time (jiffies since boot): a reused pid is another process */
    gint64 first_seen;        /* monotonic µs when first seen as a zombie */
    bool seen;                /* seen in the current scan */
} Zombie;

static GArray *zombies; /* of Zombie, touched by the reaper thread only */
static gint reaped;
static gboolean children_file = TRUE; /* /proc/.../children exists (CONFIG_PROC_CHILDREN) */

/* Reads /proc/PID/stat: state, start time and command name. */
static bool read_stat(pid_t pid, char *state, unsigned long long *start, char *comm, size_t comm_size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    char *open = strchr(text, '(');
    char *close = strrchr(text, ')');
    if (!open || !close || close < open || close[1] != ' ')
        return false;
    g_strlcpy(comm, open + 1, MIN(comm_size, (size_t)(close - open)));
    g_auto(GStrv) fields = g_strsplit(close + 2, " ", 21);
    /* fields[0] is field 3 (state), fields[19] field 22 (starttime) */
    if (g_strv_length(fields) < 20 || !fields[0][0])
        return false;
    *state = fields[0][0];
    *start = g_ascii_strtoull(fields[19], NULL, 10);
    return true;
}

/* The children of the main thread, or only ANY (a zombie child waitid
 * reported) if the kernel has no children file. */
static GArray *candidates(pid_t any)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    if (children_file) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;
        if (g_file_get_contents(path, &text, NULL, &error)) {
            char *p = text;
            for (;;) {
                char *end = NULL;
                long pid = strtol(p, &end, 10);
                if (end == p)
                    break;
                pid_t v = (pid_t)pid;
                g_array_append_val(pids, v);
                p = end;
            }
            return pids;
        }
        vs_warn("reaper: %s; falling back to the zombie waitid reports (without the main-thread rule)",
                error->message);
        children_file = FALSE;
    }
    g_array_append_val(pids, any);
    return pids;
}

static Zombie *find(pid_t pid, unsigned long long start)
{
    for (guint i = 0; i < zombies->len; i++) {
        Zombie *z = &g_array_index(zombies, Zombie, i);
        if (z->pid == pid && z->start == start)
            return z;
    }
    return NULL;
}

/* Reaps the candidates that have been zombies for REAP_GRACE. Returns the
 * µs until the next candidate is due (0 after a reap: look again at once),
 * or -1 if no candidate waits. */
static gint64 scan(pid_t any)
{
    gint64 now = g_get_monotonic_time();
    gint64 next = -1;
    for (guint i = 0; i < zombies->len; i++)
        g_array_index(zombies, Zombie, i).seen = false;
    g_autoptr(GArray) pids = candidates(any);
    for (guint i = 0; i < pids->len; i++) {
        pid_t pid = g_array_index(pids, pid_t, i);
        char state = 0, comm[32] = "";
        unsigned long long start = 0;
        if (!read_stat(pid, &state, &start, comm, sizeof comm) || state != 'Z')
            continue;
        Zombie *z = find(pid, start);
        if (!z) {
            Zombie fresh = {.pid = pid, .start = start, .first_seen = now};
            g_array_append_val(zombies, fresh);
            z = &g_array_index(zombies, Zombie, zombies->len - 1);
        }
        z->seen = true;
        gint64 due = z->first_seen + REAP_GRACE_US - now;
        if (due > 0) {
            next = next < 0 ? due : MIN(next, due);
            continue;
        }
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) {
            g_atomic_int_inc(&reaped);
            vs_debug("reaper: reaped orphan %d (%s), %s %d, a zombie for %" G_GINT64_FORMAT " ms",
                     (int)pid, comm, WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                     (now - z->first_seen) / 1000);
            z->seen = false; /* gone */
            next = 0;
        } else if (got < 0 && errno != ECHILD) {
            vs_warn("reaper: waitpid(%d): %s", (int)pid, g_strerror(errno));
        }
    }
    for (guint i = zombies->len; i-- > 0;)
        if (!g_array_index(zombies, Zombie, i).seen)
            g_array_remove_index_fast(zombies, i);
    return next;
}

static gpointer reaper_main(gpointer unused)
{
    (void)unused;
    pid_t other = 0;      /* a zombie that is not ours to reap ... */
    gint64 other_since = 0; /* ... reported by waitid since then */
    for (;;) {
        siginfo_t si = {0};
        /* Blocks until some child is a zombie; WNOWAIT leaves it there. */
        if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) != 0) {
            if (errno != EINTR)
                g_usleep(REAP_IDLE_US); /* ECHILD: no child at all */
            continue;
        }
        gint64 next = scan(si.si_pid);
        if (next >= 0) {
            g_usleep(MAX(1000, MIN(next, REAP_POLL_US)));
            continue;
        }
        /* Only zombies that another thread will collect: poll, slower if
         * one of them stays (a leak would otherwise keep this busy). */
        gint64 now = g_get_monotonic_time();
        if (si.si_pid != other) {
            other = si.si_pid;
            other_since = now;
        }
        g_usleep(now - other_since > G_USEC_PER_SEC ? REAP_SLOW_US : REAP_POLL_US);
    }
    return NULL;
}

static gpointer start_once(gpointer unused)
{
    (void)unused;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        vs_warn("cannot become a child subreaper (%s): exited QEMU processes are left to PID 1",
                g_strerror(errno));
        return GINT_TO_POINTER(FALSE);
    }
    zombies = g_array_new(FALSE, FALSE, sizeof(Zombie));
    g_thread_unref(g_thread_new("reaper", reaper_main, NULL));
    return GINT_TO_POINTER(TRUE);
}

bool vs_reaper_start(void)
{
    static GOnce once = G_ONCE_INIT;
    return GPOINTER_TO_INT(g_once(&once, start_once, NULL));
}

unsigned vs_reaper_count(void)
{
    return (unsigned)g_atomic_int_get(&reaped);
}
