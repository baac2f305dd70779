/* guest.h: helpers for tests on real VMs (the e2e and crash suites), on top
 * of harness.h: building the tiny guest, its serial log (COUNT lines, boot
 * banners, waiting for the counter), files and directories, qemu-img /
 * qemu-io, SHA-256, name lists, and VM / snapshot wrappers over the REST API.
 * Each takes the daemon it talks to; every check fails the running cmocka
 * test (fail_msg / assert_*). */
#pragma once
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- the guest and the test program ------------------------------------ */

/* Makes a temporary directory "virtsnap-WHO-XXXXXX" (*WORKDIR) and builds the
 * guest in it with tests/e2e/build-guest.sh (*GUEST, WORKDIR/guest.qcow2).
 * False, with the script's output on stderr, when the build fails. */
bool vs_guest_build(const char *who, char **workdir, char **guest);
/* DELETEs every VM of D, reporting (as WHO) those that do not answer 204. */
void vs_guest_delete_all_vms(VsTestDaemon *d, const char *who);
/* Runs the cmocka group with SETUP / TEARDOWN and prints its wall time;
 * the number of failed tests. */
int vs_guest_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown);
/* Prints the last MAX bytes of the daemon log at PATH (NULL: nothing) to stderr. */
void vs_print_log_tail(const char *path, size_t max);

/* ---- the serial log ---------------------------------------------------- */

/* The COUNT values in TEXT from byte OFFSET on, in order (the last, maybe
 * partial, line skipped). */
GArray *vs_guest_counts(const char *text, gsize offset);
/* The last COUNT value in LOG (0 if none). */
long vs_guest_last_count(const char *log);
/* Polls LOG until a COUNT >= MIN appears after OFFSET; returns the last COUNT
 * then, failing the test after TIMEOUT_S. */
long vs_guest_wait_count(const char *log, gsize offset, long min, int timeout_s);
/* Polls until LOG, after OFFSET, shows three consecutive counts v, v+1, v+2
 * with LO <= v <= HI; returns v (or fails after TIMEOUT_S). */
long vs_guest_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s);
/* Waits until the counter keeps going: two COUNT lines after OFFSET, the
 * last larger than the first (fails after TIMEOUT_S). */
void vs_guest_wait_counting(const char *log, gsize offset, int timeout_s);
/* Occurrences of the boot banner in LOG after OFFSET. */
int vs_guest_banners(const char *log, gsize offset);

/* ---- files, directories and tools -------------------------------------- */

char *vs_read_file(const char *path);  /* owned; "" when missing */
gsize vs_file_size(const char *path);  /* 0 when missing */
/* A path under D's state directory (owned). */
char *vs_state_path(VsTestDaemon *d, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Number of entries in a directory (0 when missing). */
int vs_dir_count(const char *path);
/* Sorted, comma-joined entries of a directory ("" when empty or missing). */
char *vs_dir_list(const char *path);
/* Sorts ITEMS (strings) and joins them with commas (owned). */
char *vs_join_sorted(GPtrArray *items);
/* Runs ARGV (searching PATH); exit status (or -1), stdout+stderr in *OUT if OUT. */
int vs_run(const char *const *argv, char **out);
/* qemu-io -c CMD IMAGE: true when it exits 0 without a verification failure. */
bool vs_qemu_io(const char *image, const char *cmd);
/* qemu-img snapshot -l -U IMAGE: its output (owned), failing unless it exits 0. */
char *vs_qemu_img_snapshots(const char *image);
/* The internal snapshot tags of a qcow2 image, sorted and comma-joined. */
char *vs_qemu_img_tags(const char *image);
/* A file's SHA-256 (owned hex), failing when it cannot be read. */
char *vs_sha256(const char *path);
/* Number of QEMU processes of D's state directory running guest VM. */
int vs_guest_qemu_count(VsTestDaemon *d, const char *vm);

/* ---- REST -------------------------------------------------------------- */

/* A request; PATH_FMT is a printf format (names already encoded). */
VsTestResponse *vs_req(VsTestDaemon *d, const char *method, const char *body,
                       const char *path_fmt, ...) G_GNUC_PRINTF(4, 5);
/* The same, failing unless the answer is STATUS; returns it. */
VsTestResponse *vs_expect(VsTestDaemon *d, long status, const char *method, const char *body,
                          const char *path_fmt, ...) G_GNUC_PRINTF(5, 6);
/* A 202 answer: checks it and its Location; the task's id (R's). */
const char *vs_guest_task_accepted(VsTestResponse *r);
/* A 202 answer: checks its Location, waits for its task (TIMEOUT_S), fails
 * unless it finished; the task (owned). */
json_t *vs_guest_task_ok(VsTestDaemon *d, VsTestResponse *r, int timeout_s);
/* Names in a JSON array of objects, comma-joined ("A,B"), in order. */
char *vs_names(json_t *array);

/* POST /vms NAME, 64 MiB, an overlay on IMAGE (the guest): the VM (owned). */
json_t *vs_guest_vm_create(VsTestDaemon *d, const char *name, const char *image);
/* GET /vms/NAME expecting 200 (owned). */
json_t *vs_guest_vm_get(VsTestDaemon *d, const char *name);
/* True when GET /vms/NAME answers 200, false on 404 (fails otherwise). */
bool vs_guest_vm_exists(VsTestDaemon *d, const char *name);
/* POST /vms/NAME/ACTION expecting 200 and state WANT. */
void vs_guest_vm_action(VsTestDaemon *d, const char *name, const char *action,
                        const char *want);
/* The VM's first disk image path (owned). */
char *vs_guest_vm_image(VsTestDaemon *d, const char *name);

/* Takes snapshot NAME of VM: its task must finish with the snapshot's URI. */
void vs_guest_snapshot(VsTestDaemon *d, const char *vm, const char *name);
/* The same with "live": LIVE ("true" or "false"; NULL: the daemon's choice). */
void vs_guest_snapshot_kind(VsTestDaemon *d, const char *vm, const char *name, const char *live);
/* POSTs snapshot NAME and returns the task id (owned), failing unless 202. */
char *vs_guest_snapshot_start(VsTestDaemon *d, const char *vm, const char *name);
/* The snapshot object (owned), failing unless 200. */
json_t *vs_guest_snapshot_get(VsTestDaemon *d, const char *vm, const char *name);
/* GET /vms/VM/snapshots?all=true (owned array). */
json_t *vs_guest_snapshots_all(VsTestDaemon *d, const char *vm);
/* POST .../SNAP/revert expecting 200, SNAP back as the current snapshot. */
void vs_guest_revert(VsTestDaemon *d, const char *vm, const char *snap);
