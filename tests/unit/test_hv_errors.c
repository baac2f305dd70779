/* test_hv_errors.c: unit tests of how model/hv.c maps libvirt's errors to
 * virtsnapd's (and so to HTTP statuses): a missing VM or snapshot is
 * NOT_FOUND, a refused state CONFLICT, a connection that is gone or broke
 * during the call UNAVAILABLE, anything else FAILED. */
#include "model/hv.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* What vs_hv_set_error_from makes of an error with CODE from DOMAIN. */
static int mapped(int code, int domain)
{
    virErrorPtr err = calloc(1, sizeof *err);
    assert_non_null(err);
    err->code = code;
    err->domain = domain;
    err->message = strdup("libvirt's message");
    g_autoptr(GError) error = NULL;
    vs_hv_set_error_from(err, &error, "cannot do %s", "it"); /* frees ERR */
    assert_non_null(error);
    assert_string_equal(error->message, "cannot do it: libvirt's message");
    return error->code;
}

static void test_mapping(void **state)
{
    (void)state;
    assert_int_equal(mapped(VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU), VS_ERR_NOT_FOUND);
    assert_int_equal(mapped(VIR_ERR_NO_DOMAIN_SNAPSHOT, VIR_FROM_DOMAIN_SNAPSHOT),
                     VS_ERR_NOT_FOUND);
    assert_int_equal(mapped(VIR_ERR_OPERATION_INVALID, VIR_FROM_QEMU), VS_ERR_CONFLICT);
    assert_int_equal(mapped(VIR_ERR_NO_CONNECT, VIR_FROM_REMOTE), VS_ERR_UNAVAILABLE);
    assert_int_equal(mapped(VIR_ERR_OPERATION_FAILED, VIR_FROM_DOMAIN), VS_ERR_FAILED);
    assert_int_equal(mapped(VIR_ERR_INTERNAL_ERROR, VIR_FROM_QEMU), VS_ERR_FAILED);
}

/* libvirtd went away during the call: "End of file while reading data"
 * (a system error) or "client socket is closed" (an internal one), both
 * from the RPC layer. */
static void test_broken_connection_unavailable(void **state)
{
    (void)state;
    assert_int_equal(mapped(VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC), VS_ERR_UNAVAILABLE);
    assert_int_equal(mapped(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC), VS_ERR_UNAVAILABLE);
    assert_int_equal(mapped(VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU), VS_ERR_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_broken_connection_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
