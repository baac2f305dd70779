/* e2e.h: what is particular to the end-to-end programs: one real virtsnapd
 * on the embedded QEMU driver (KVM, or TCG when VS_E2E_ACCEL=tcg hides
 * /dev/kvm) with the tiny self-built guest, and the check of the accelerator
 * a VM got. The serial log, tool and REST helpers are in guest.h. */
#pragma once
#include "guest.h"

typedef struct {
    VsTestDaemon *d;
    char *workdir;   /* temporary directory of the test program (guest, scratch files) */
    char *guest;     /* WORKDIR/guest.qcow2, built by build-guest.sh */
    bool force_tcg;  /* VS_E2E_ACCEL=tcg: /dev/kvm hidden in our mount namespace */
    bool expect_kvm; /* what the daemon must pick: kvm when /dev/kvm is usable */
} E2e;

extern E2e e2e;

/* Hides /dev/kvm when VS_E2E_ACCEL=tcg (exits 77, "skipped", when it cannot,
 * or when KVM is not usable anyway: the plain variant runs under TCG then),
 * builds the guest and starts the daemon. A cmocka group setup. */
int e2e_setup(void **state);
/* Deletes every VM through the API, prints the daemon log's tail, stops the
 * daemon (the harness kills QEMU left behind) and removes the temporary
 * directories. A cmocka group teardown. */
int e2e_teardown(void **state);

/* Prints the tail of the daemon log (on failures). */
void e2e_dump_daemon_log(void);

/* Checks the daemon gave VM the expected domain type and QEMU accelerator. */
void e2e_check_accel(const char *vm);

/* Run a cmocka group with e2e_setup/teardown and print the timing. */
int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n);
