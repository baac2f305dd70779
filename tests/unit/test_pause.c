/* test_pause.c: unit tests of the pause meter (model/pause.c) on
 * test:///default in this process: the connection's event callbacks are
 * registered once (vs_hv_init) and each event reaches only the meters on
 * its own domain; a connection whose events are not watched gets no meter. */
#include "hv_fixture.h"
#include "model/pause.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *state_dir;

/* Defines and starts VM NAME on the test driver, as another client would. */
static virDomainPtr running_vm(virConnectPtr conn, const char *name)
{
    g_autofree char *xml = g_strdup_printf("<domain type='test'><name>%s</name>"
                                           "<memory>65536</memory><os><type>hvm</type></os>"
                                           "</domain>",
                                           name);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    assert_int_equal(virDomainCreate(dom), 0);
    return dom;
}

static void pause_and_resume(virDomainPtr dom)
{
    assert_int_equal(virDomainSuspend(dom), 0);
    assert_int_equal(virDomainResume(dom), 0);
}

static int setup(void **state)
{
    (void)state;
    return hv_fixture_start("vs-pause", &state_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hv_fixture_stop(state_dir);
    return 0;
}

static void test_meter_sees_its_own_domain_only(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) mine = running_vm(conn, "metered");
    g_autoptr(virDomain) other = running_vm(conn, "other");

    /* Another VM paused and resumed: nothing for this meter. */
    VsPauseMeter *meter = vs_pause_meter_start(mine);
    assert_non_null(meter);
    VsPauseMeter *witness = vs_pause_meter_start(other);
    pause_and_resume(other);
    /* Once the other VM's meter has its events, this one would have too. */
    assert_true(vs_pause_meter_wait_resumed(witness, 2000000) >= 0);
    assert_true(vs_pause_meter_finish(witness, NULL) >= 0);
    assert_true(vs_pause_meter_wait_resumed(meter, 1000) < 0);
    double libvirt_ms = 0;
    assert_true(vs_pause_meter_finish(meter, &libvirt_ms) < 0);
    assert_true(libvirt_ms < 0);

    /* Its own VM: libvirt's SUSPENDED and RESUMED (the test driver has no
     * QEMU events), in order, both seen. */
    double before = vs_pause_now_ms();
    meter = vs_pause_meter_start(mine);
    assert_non_null(meter);
    pause_and_resume(mine);
    double resumed = vs_pause_meter_wait_resumed(meter, 2000000);
    assert_true(resumed >= before);
    double paused = vs_pause_meter_finish(meter, &libvirt_ms);
    assert_true(paused >= 0);
    assert_true(paused == libvirt_ms);
    assert_true(paused <= vs_pause_now_ms() - before);
}

static void test_two_meters_on_one_domain(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = running_vm(conn, "twice");
    VsPauseMeter *first = vs_pause_meter_start(dom);
    VsPauseMeter *second = vs_pause_meter_start(dom);
    pause_and_resume(dom);
    /* The test driver only queues its events: wait for them to arrive. */
    assert_true(vs_pause_meter_wait_resumed(first, 2000000) >= 0);
    assert_true(vs_pause_meter_wait_resumed(second, 2000000) >= 0);
    assert_true(vs_pause_meter_finish(first, NULL) >= 0);
    assert_true(vs_pause_meter_finish(second, NULL) >= 0);
}

static void test_unwatched_connection_has_no_meter(void **state)
{
    (void)state;
    /* A connection of its own: vs_pause_watch was never called on it. */
    g_autoptr(virConnect) conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, "test");
    assert_non_null(dom);
    assert_null(vs_pause_meter_start(dom));
    assert_true(vs_pause_meter_finish(NULL, NULL) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meter_sees_its_own_domain_only),
        cmocka_unit_test(test_two_meters_on_one_domain),
        cmocka_unit_test(test_unwatched_connection_has_no_meter),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
