/* fault.h: fault injection for crash-safety tests. When the environment
 * variable VIRTSNAP_FAULT names a point, virtsnapd kills itself with SIGKILL
 * on reaching it, exactly as a crash or `kill -9` would at that moment.
 * When VIRTSNAP_PAUSE names a point, virtsnapd waits 4 s there, or
 * $VIRTSNAP_PAUSE_SECONDS (a slow step, for the tests of what runs beside
 * it). When VIRTSNAP_FAIL names a
 * point, the step there fails once ("point*": every time), as a hypervisor
 * error would (the failure paths' tests); several are separated by commas. */
#pragma once
#include <stdbool.h>

void vs_fault_point(const char *name);
/* The seconds to wait at point NAME ($VIRTSNAP_PAUSE names it), else 0: for
 * a wait that is not the calling thread's (a child process's). */
int vs_fault_pause_seconds(const char *name);
/* True the first time a point NAME that $VIRTSNAP_FAIL lists is reached
 * (each time for "NAME*"). */
bool vs_fault_fails(const char *name);
