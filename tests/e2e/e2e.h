/* e2e.h: what the end-to-end programs share: a real virtsnapd on the embedded
 * QEMU driver (KVM, or TCG when VS_E2E_ACCEL=tcg hides /dev/kvm), the tiny
 * self-built guest, reading its serial log, qemu-io / qemu-img, and small
 * wrappers over the REST API that fail the running cmocka test. */
#pragma once
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

typedef struct {
    VsTestDaemon *d;
    char *workdir;   /* temporary directory of the test program (guest, scratch files) */
    char *guest;     /* WORKDIR/guest.qcow2, built by build-guest.sh */
    bool force_tcg;  /* VS_E2E_ACCEL=tcg: /dev/kvm hidden in our mount namespace */
    bool expect_kvm; /* what the daemon must pick: kvm when /dev/kvm is usable */
} E2e;

extern E2e e2e;

/* Hides /dev/kvm when VS_E2E_ACCEL=tcg (exits 77, "skipped", when it cannot),
 * builds the guest and starts the daemon. A cmocka group setup. */
int e2e_setup(void **state);
/* Deletes every VM through the API, prints the daemon log's tail, stops the
 * daemon (the harness kills QEMU left behind) and removes the temporary
 * directories. A cmocka group teardown. */
int e2e_teardown(void **state);

/* Prints the tail of the daemon log (on failures). */
void e2e_dump_daemon_log(void);

/* REST helpers. PATH/BODY are printf formats (names already encoded). */
VsTestResponse *e2e_req(const char *method, const char *body, const char *path_fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Fails the test unless STATUS; returns the response. */
VsTestResponse *e2e_expect(long status, const char *method, const char *body,
                           const char *path_fmt, ...) G_GNUC_PRINTF(4, 5);
/* POST /vms with the guest as backing image, 64 MiB: the VM (owned). */
json_t *e2e_vm_create(const char *name);
json_t *e2e_vm_get(const char *name);
/* POST /vms/NAME/ACTION expecting 200 and WANT_STATE in the answer. */
void e2e_vm_action(const char *name, const char *action, const char *want_state);
/* A 202 answer: waits for its task, fails unless it finished; the task (owned). */
json_t *e2e_task_ok(VsTestResponse *r, int timeout_s);
/* Takes snapshot NAME of VM and checks the task finished. */
void e2e_snapshot(const char *vm, const char *name);
/* The snapshot object (owned), failing unless 200. */
json_t *e2e_snapshot_get(const char *vm, const char *name);
/* Names in a JSON array of objects, comma-joined ("A,B"). */
char *e2e_names(json_t *array);

/* Serial log. */
char *e2e_read_file(const char *path); /* "" when missing */
gint64 e2e_file_size(const char *path); /* -1 when missing */
/* The COUNT values in TEXT from byte OFFSET on, in order. */
GArray *e2e_counts(const char *text, gsize offset);
/* The last COUNT value in the log (0 if none). */
long e2e_last_count(const char *log);
/* Polls LOG until a COUNT >= MIN appears after OFFSET; that value, failing
 * the test after TIMEOUT_S. */
long e2e_wait_count(const char *log, gsize offset, long min, int timeout_s);
/* Polls until LOG, after OFFSET, shows three consecutive counts v, v+1, v+2
 * with LO <= v <= HI; returns v (or fails after TIMEOUT_S). */
long e2e_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s);
/* Occurrences of the boot banner after OFFSET. */
int e2e_banners(const char *log, gsize offset);

/* Runs ARGV; exit status (or -1), stdout+stderr in *OUT if OUT. */
int e2e_run(const char *const *argv, char **out);
/* qemu-io -c CMD IMAGE: true when it exits 0 without a verification failure. */
bool e2e_qemu_io(const char *image, const char *cmd);
/* qemu-img snapshot -l -U IMAGE: its output (owned). */
char *e2e_qemu_img_snapshots(const char *image);
/* A file's SHA-256 (owned hex). */
char *e2e_sha256(const char *path);

/* Checks the daemon gave VM the expected domain type and QEMU accelerator. */
void e2e_check_accel(const char *vm);

/* Paths under the daemon's state dir (owned). */
char *e2e_state_path(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Number of entries in a directory (0 when missing). */
int e2e_dir_count(const char *path);

/* Run a cmocka group with e2e_setup/teardown and print the timing. */
int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n);
