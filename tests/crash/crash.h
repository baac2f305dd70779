/* crash.h: what the crash-safety programs share: one real virtsnapd on the
 * embedded QEMU driver with the tiny self-built guest, restarted with
 * VIRTSNAP_FAULT set so that it SIGKILLs itself at a named point, then
 * restarted clean on the same state directory; plus checks of what recovery
 * left (tasks, the journal, qcow2 tags, image files, QEMU processes, the
 * guest's COUNT lines) and REST wrappers that fail the running cmocka test. */
#pragma once
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

/* ---- REST -------------------------------------------------------------- */

VsTestResponse *crash_req(const char *method, const char *body, const char *path_fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Fails unless the answer is STATUS; returns it. */
VsTestResponse *crash_expect(long status, const char *method, const char *body,
                             const char *path_fmt, ...) G_GNUC_PRINTF(4, 5);
/* POST /vms (64 MiB, an overlay on the guest): the VM (owned). */
json_t *crash_vm_create(const char *name);
/* GET /vms/NAME expecting 200 (owned). */
json_t *crash_vm_get(const char *name);
/* True when GET /vms/NAME answers 200, false on 404 (fails otherwise). */
bool crash_vm_exists(const char *name);
/* POST /vms/NAME/ACTION expecting 200 and state WANT. */
void crash_vm_action(const char *name, const char *action, const char *want);
/* The VM's first disk image path (owned). */
char *crash_vm_image(const char *name);
/* Takes snapshot NAME of VM, failing unless its task finishes. */
void crash_snapshot(const char *vm, const char *name);
/* POSTs snapshot NAME and returns the task id (owned), failing unless 202. */
char *crash_snapshot_start(const char *vm, const char *name);
/* POST .../revert expecting 200. */
void crash_revert(const char *vm, const char *snap);
/* GET /vms/VM/snapshots?all=true (owned array). */
json_t *crash_snapshots_all(const char *vm);
/* Comma-joined names of an array of objects. */
char *crash_names(json_t *array);

/* ---- files and processes ----------------------------------------------- */

/* A path under the daemon's state directory (owned). */
char *crash_state_path(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Sorted, comma-joined entries of a directory ("" when empty or missing). */
char *crash_dir_list(const char *path);
/* The internal snapshot tags of a qcow2 image (qemu-img snapshot -U -l),
 * sorted and comma-joined. */
char *crash_image_tags(const char *image);
/* Number of QEMU processes of our state directory running guest VM. */
int crash_qemu_count(const char *vm);
/* A file's SHA-256 (owned hex). */
char *crash_sha256(const char *path);

/* ---- the guest's serial log -------------------------------------------- */

char *crash_read_file(const char *path); /* "" when missing */
gsize crash_file_size(const char *path);  /* 0 when missing */
/* The last COUNT value in the log (0 if none). */
long crash_last_count(const char *log);
/* Waits until LOG shows a COUNT >= MIN after byte OFFSET; returns the last one. */
long crash_wait_count(const char *log, gsize offset, long min, int timeout_s);
/* Waits until LOG, after OFFSET, shows counts v, v+1, v+2 with LO <= v <= HI;
 * returns v. */
long crash_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s);
/* Waits until the counter keeps going: two COUNT lines after OFFSET, the
 * second larger. */
void crash_wait_counting(const char *log, gsize offset, int timeout_s);
