/* test_vm_actions.c: unit tests of which lifecycle action applies in which
 * libvirt state (model/vm.c, vs_vm_action_allowed), the rule behind the
 * API's 409 and the web UI's buttons: a crashed VM that libvirt keeps
 * running (on_crash=preserve) can be powered off, a blocked one shut down
 * or suspended, and nothing starts an active VM. */
#include "model/vm.h"

#include <libvirt/libvirt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static bool allowed(VsVmAction action, int state, bool active)
{
    const char *need = NULL;
    bool ok = vs_vm_action_allowed(action, state, active, &need);
    assert_true(ok || need != NULL); /* a refusal names what it needs */
    return ok;
}

static void test_crashed_kept_can_be_powered_off(void **state)
{
    (void)state;
    assert_true(allowed(VS_VM_POWEROFF, VIR_DOMAIN_CRASHED, true));
    assert_false(allowed(VS_VM_START, VIR_DOMAIN_CRASHED, true));
    /* Ended by its crash (on_crash=destroy): started again, not powered off. */
    assert_true(allowed(VS_VM_START, VIR_DOMAIN_CRASHED, false));
    assert_false(allowed(VS_VM_POWEROFF, VIR_DOMAIN_CRASHED, false));
    assert_false(allowed(VS_VM_SUSPEND, VIR_DOMAIN_CRASHED, true));
}

static void test_blocked_counts_as_running(void **state)
{
    (void)state;
    assert_true(allowed(VS_VM_SHUTDOWN, VIR_DOMAIN_BLOCKED, true));
    assert_true(allowed(VS_VM_SUSPEND, VIR_DOMAIN_BLOCKED, true));
    assert_true(allowed(VS_VM_POWEROFF, VIR_DOMAIN_BLOCKED, true));
    assert_false(allowed(VS_VM_RESUME, VIR_DOMAIN_BLOCKED, true));
}

static void test_usual_states(void **state)
{
    (void)state;
    assert_true(allowed(VS_VM_START, VIR_DOMAIN_SHUTOFF, false));
    assert_false(allowed(VS_VM_POWEROFF, VIR_DOMAIN_SHUTOFF, false));
    assert_false(allowed(VS_VM_SHUTDOWN, VIR_DOMAIN_SHUTOFF, false));
    assert_false(allowed(VS_VM_START, VIR_DOMAIN_RUNNING, true));
    assert_true(allowed(VS_VM_SHUTDOWN, VIR_DOMAIN_RUNNING, true));
    assert_true(allowed(VS_VM_SUSPEND, VIR_DOMAIN_RUNNING, true));
    assert_false(allowed(VS_VM_RESUME, VIR_DOMAIN_RUNNING, true));
    assert_true(allowed(VS_VM_RESUME, VIR_DOMAIN_PAUSED, true));
    assert_true(allowed(VS_VM_POWEROFF, VIR_DOMAIN_PAUSED, true));
    assert_false(allowed(VS_VM_SUSPEND, VIR_DOMAIN_PAUSED, true));
    assert_true(allowed(VS_VM_POWEROFF, VIR_DOMAIN_PMSUSPENDED, true));
    assert_true(allowed(VS_VM_POWEROFF, VIR_DOMAIN_SHUTDOWN, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crashed_kept_can_be_powered_off),
        cmocka_unit_test(test_blocked_counts_as_running),
        cmocka_unit_test(test_usual_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
