/* fault.c: dies with SIGKILL at the point named by $VIRTSNAP_FAULT. */
#include "fault.h"

#include "log.h"

#include <glib.h>
#include <signal.h>
#include <string.h>

void vs_fault_point(const char *name)
{
    const char *want = g_getenv("VIRTSNAP_FAULT");
    if (want && strcmp(want, name) == 0) {
        vs_error("fault injection: killing virtsnapd at '%s'", name);
        raise(SIGKILL);
    }
}
