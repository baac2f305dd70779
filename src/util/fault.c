/* fault.c: dies with SIGKILL at the point named by $VIRTSNAP_FAULT, waits
 * at the one named by $VIRTSNAP_PAUSE ($VIRTSNAP_PAUSE_SECONDS, 4 by
 * default); fails at the points $VIRTSNAP_FAIL lists. */
#include "fault.h"

#include "log.h"

#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

int vs_fault_pause_seconds(const char *name)
{
    const char *pause = g_getenv("VIRTSNAP_PAUSE");
    if (!pause || strcmp(pause, name) != 0)
        return 0;
    const char *given = g_getenv("VIRTSNAP_PAUSE_SECONDS");
    int seconds = given ? atoi(given) : 0;
    return seconds > 0 && seconds <= 600 ? seconds : 4;
}

void vs_fault_point(const char *name)
{
    int seconds = vs_fault_pause_seconds(name);
    if (seconds) {
        vs_warn("fault injection: waiting %d s at '%s'", seconds, name);
        g_usleep((gulong)seconds * G_USEC_PER_SEC);
    }
    const char *want = g_getenv("VIRTSNAP_FAULT");
    if (want && strcmp(want, name) == 0) {
        vs_error("fault injection: killing virtsnapd at '%s'", name);
        raise(SIGKILL);
    }
}

/* True the first time point NAME asks (a point failing once per process). */
static bool first_time(const char *name)
{
    static GMutex lock;
    static GHashTable *failed; /* names of the points that failed once */
    g_mutex_lock(&lock);
    if (!failed)
        failed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool first = !g_hash_table_contains(failed, name);
    if (first)
        g_hash_table_add(failed, g_strdup(name));
    g_mutex_unlock(&lock);
    return first;
}

bool vs_fault_fails(const char *name)
{
    const char *want = g_getenv("VIRTSNAP_FAIL");
    if (!want)
        return false;
    g_auto(GStrv) points = g_strsplit(want, ",", -1);
    for (char **point = points; *point; point++) {
        size_t len = strlen(*point);
        bool always = len > 0 && (*point)[len - 1] == '*'; /* "point*": every time */
        len -= always;
        if (strlen(name) != len || strncmp(*point, name, len) != 0)
            continue;
        if (!always && !first_time(name))
            return false;
        vs_error("fault injection: failing '%s'%s", name, always ? "" : " once");
        return true;
    }
    return false;
}
