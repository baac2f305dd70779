/* fault.c: dies with SIGKILL at the point named by $VIRTSNAP_FAULT, waits
 * at the one named by $VIRTSNAP_PAUSE ($VIRTSNAP_PAUSE_SECONDS, 4 by
 * default); fails once at the point named by $VIRTSNAP_FAIL. */
#include "fault.h"

#include "log.h"

#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void vs_fault_point(const char *name)
{
    const char *pause = g_getenv("VIRTSNAP_PAUSE");
    if (pause && strcmp(pause, name) == 0) {
        const char *given = g_getenv("VIRTSNAP_PAUSE_SECONDS");
        int seconds = given ? atoi(given) : 0;
        seconds = seconds > 0 && seconds <= 600 ? seconds : 4;
        vs_warn("fault injection: waiting %d s at '%s'", seconds, name);
        g_usleep((gulong)seconds * G_USEC_PER_SEC);
    }
    const char *want = g_getenv("VIRTSNAP_FAULT");
    if (want && strcmp(want, name) == 0) {
        vs_error("fault injection: killing virtsnapd at '%s'", name);
        raise(SIGKILL);
    }
}

bool vs_fault_fails(const char *name)
{
    static gint failed;
    const char *want = g_getenv("VIRTSNAP_FAIL");
    if (!want)
        return false;
    size_t len = strlen(want);
    bool always = len > 0 && want[len - 1] == '*'; /* "point*": every time */
    len -= always;
    if (strlen(name) != len || strncmp(want, name, len) != 0)
        return false;
    if (!always && !g_atomic_int_compare_and_exchange(&failed, 0, 1))
        return false;
    vs_error("fault injection: failing '%s'%s", name, always ? "" : " once");
    return true;
}
