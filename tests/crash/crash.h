/* crash.h: what is particular to the crash-safety programs: one real
 * virtsnapd on the embedded QEMU driver with the tiny self-built guest,
 * restarted with VIRTSNAP_FAULT set so that it SIGKILLs itself at a named
 * point, then restarted clean on the same state directory; plus checks of
 * what recovery left (interrupted tasks, the journal). The serial log, file,
 * qemu-img and REST helpers are in guest.h. */
#pragma once
#include "guest.h"

typedef struct {
    VsTestDaemon *d;
    char *workdir; /* temporary directory of the program (the guest image) */
    char *guest;   /* WORKDIR/guest.qcow2, built by tests/e2e/build-guest.sh */
} Crash;

extern Crash crash;

/* Runs the cmocka group with the setup (guest, daemon) and the teardown
 * (VMs deleted, QEMU killed, state removed); prints the wall time. */
int crash_run_group(const char *name, const struct CMUnitTest *tests, size_t n);
/* Per-test setup: starts the daemon again, without a fault point, if an
 * earlier test failed while it was down. */
int crash_test_setup(void **state);
#define CRASH_TEST(f) cmocka_unit_test_setup(f, crash_test_setup)

/* ---- faults ------------------------------------------------------------ */

/* Restarts the daemon with VIRTSNAP_FAULT=POINT. */
void crash_arm(const char *point);
/* Waits until the daemon has died of SIGKILL (at POINT when not NULL: its log
 * says so); fails the test otherwise. */
void crash_wait_killed(const char *point);
/* SIGKILLs the daemon now (a real kill -9) and reaps it. */
void crash_kill_now(void);
/* Starts the daemon again without a fault point (recovery runs). */
void crash_restart_clean(void);
/* Fails unless STATE/journal is empty. */
void crash_check_journal_empty(void);
/* Fails unless task ID is failed with a message starting "interrupted". */
void crash_check_task_interrupted(const char *id);
