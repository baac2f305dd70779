/* fault.h: fault injection for crash-safety tests. When the environment
 * variable VIRTSNAP_FAULT names a point, virtsnapd kills itself with SIGKILL
 * on reaching it, exactly as a crash or `kill -9` would at that moment. */
#pragma once

void vs_fault_point(const char *name);
