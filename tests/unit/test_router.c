/* test_router.c: unit tests of the router (vs_route_match on the daemon's
 * real route table) and of the percent-decoder behind it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "api/api.h"
#include "http/router.h"
#include "http/routes.h"

/* Routes PATH with METHOD on the real table into M. */
static void route(const char *method, const char *path, VsRouteMatch *m)
{
    size_t n = 0;
    const VsRoute *routes = vs_api_routes(&n);
    assert_true(n > 0);
    vs_route_match(routes, n, method, path, m);
}

/* Asserts METHOD PATH is found on PATTERN with the given decoded params. */
static void expect_found(const char *method, const char *path, const char *route_method,
                         const char *pattern, int n_params, ...)
{
    VsRouteMatch m;
    route(method, path, &m);
    assert_int_equal(m.status, VS_ROUTE_FOUND);
    assert_non_null(m.route);
    assert_string_equal(m.route->method, route_method);
    assert_string_equal(m.route->pattern, pattern);
    assert_null(m.allow);
    assert_int_equal(m.n_params, n_params);
    va_list ap;
    va_start(ap, n_params);
    for (int i = 0; i < n_params; i++)
        assert_string_equal(m.params[i], va_arg(ap, const char *));
    va_end(ap);
    vs_route_match_clear(&m);
}

static void expect_status(const char *method, const char *path, VsRouteStatus status)
{
    VsRouteMatch m;
    route(method, path, &m);
    assert_int_equal(m.status, status);
    if (status != VS_ROUTE_FOUND)
        assert_int_equal(m.n_params, 0);
    if (status != VS_ROUTE_BAD_METHOD)
        assert_null(m.allow);
    vs_route_match_clear(&m);
}

static void expect_allow(const char *method, const char *path, const char *allow)
{
    VsRouteMatch m;
    route(method, path, &m);
    assert_int_equal(m.status, VS_ROUTE_BAD_METHOD);
    assert_null(m.route);
    assert_int_equal(m.n_params, 0);
    assert_non_null(m.allow);
    assert_string_equal(m.allow, allow);
    vs_route_match_clear(&m);
}

static void test_found_plain(void **state)
{
    (void)state;
    expect_found("GET", "/vms", "GET", "/vms", 0);
    expect_found("POST", "/vms", "POST", "/vms", 0);
    expect_found("GET", "/tasks", "GET", "/tasks", 0);
    expect_found("GET", "/tasks/17", "GET", "/tasks/{id}", 1, "17");
    expect_found("POST", "/login", "POST", "/login", 0);
    expect_found("POST", "/logout", "POST", "/logout", 0);
    expect_found("GET", "/vms/web1", "GET", "/vms/{vm}", 1, "web1");
    expect_found("PUT", "/vms/web1", "PUT", "/vms/{vm}", 1, "web1");
    expect_found("DELETE", "/vms/web1", "DELETE", "/vms/{vm}", 1, "web1");
    expect_found("POST", "/vms/web1/start", "POST", "/vms/{vm}/start", 1, "web1");
    expect_found("POST", "/vms/web1/clone", "POST", "/vms/{vm}/clone", 1, "web1");
    expect_found("GET", "/vms/web1/snapshots", "GET", "/vms/{vm}/snapshots", 1, "web1");
    expect_found("DELETE", "/vms/a/snapshots/b", "DELETE", "/vms/{vm}/snapshots/{snap}", 2, "a",
                 "b");
    expect_found("POST", "/vms/a/snapshots/b/revert", "POST", "/vms/{vm}/snapshots/{snap}/revert",
                 2, "a", "b");
}

static void test_found_decoded(void **state)
{
    (void)state;
    expect_found("GET", "/vms/a%26b", "GET", "/vms/{vm}", 1, "a&b");
    expect_found("GET", "/vms/%3Cx%3E", "GET", "/vms/{vm}", 1, "<x>");
    expect_found("GET", "/vms/%22q%22", "GET", "/vms/{vm}", 1, "\"q\"");
    expect_found("GET", "/vms/snap%201", "GET", "/vms/{vm}", 1, "snap 1");
    /* lower-case hex and raw UTF-8 are both fine */
    expect_found("GET", "/vms/%d0%bfe%CF%89-%E2%88%A8%D0%BC", "GET", "/vms/{vm}", 1, "пeω-∨м");
    expect_found("GET", "/vms/пeω-∨м", "GET", "/vms/{vm}", 1, "пeω-∨м");
    /* '+' is not a space inside a path */
    expect_found("GET", "/vms/a+b", "GET", "/vms/{vm}", 1, "a+b");
    /* a name may look like a literal segment */
    expect_found("GET", "/vms/snapshots/snapshots", "GET", "/vms/{vm}/snapshots", 1, "snapshots");
}

static void test_slash_stays_in_param(void **state)
{
    (void)state;
    expect_found("GET", "/vms/a%2Fb", "GET", "/vms/{vm}", 1, "a/b");
    expect_found("GET", "/vms/a%2fb/snapshots/x%2F..%2Fy", "GET", "/vms/{vm}/snapshots/{snap}",
                 2, "a/b", "x/../y");
    /* %2F does not create a segment: this is the VM "x/start", not start */
    expect_found("GET", "/vms/x%2Fstart", "GET", "/vms/{vm}", 1, "x/start");
    expect_found("GET", "/vms/%2F", "GET", "/vms/{vm}", 1, "/");
}

static void test_bad_escapes(void **state)
{
    (void)state;
    expect_status("GET", "/vms/%zz", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/%", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/abc%", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/abc%4", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/%4g", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/%g4", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/%00", VS_ROUTE_BAD_PATH);
    expect_status("GET", "/vms/a%00b", VS_ROUTE_BAD_PATH);
    expect_status("DELETE", "/vms/ok/snapshots/%0", VS_ROUTE_BAD_PATH);
    expect_status("POST", "/vms/%xx/snapshots/s/revert", VS_ROUTE_BAD_PATH);
    /* A malformed escape counts only on a path of a known shape, with a
     * method it takes: otherwise 404 or 405 as for any other path. */
    expect_status("GET", "/vms/%zz/bogus", VS_ROUTE_NOT_FOUND);
    expect_status("POST", "/vms/%xx/snapshots/s/nothing", VS_ROUTE_NOT_FOUND);
    expect_allow("PATCH", "/vms/%zz", "GET, HEAD, PUT, DELETE");
    /* a bad escape where only a literal could be is simply not found */
    expect_status("GET", "/vm%zz", VS_ROUTE_NOT_FOUND);
}

static void test_not_found(void **state)
{
    (void)state;
    expect_status("GET", "/", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "vms", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/nope", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/VMS", VS_ROUTE_NOT_FOUND); /* paths are case-sensitive */
    expect_status("GET", "/vmsx", VS_ROUTE_NOT_FOUND);
    expect_status("POST", "/vms/x/reboot", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x/snapshots/y/z", VS_ROUTE_NOT_FOUND);
    expect_status("POST", "/vms/x/snapshots/y/revert/again", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/tasks/1/2", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms%2Fx", VS_ROUTE_NOT_FOUND);
}

static void test_bad_method(void **state)
{
    (void)state;
    expect_allow("PATCH", "/vms/x", "GET, HEAD, PUT, DELETE");
    expect_allow("POST", "/vms/x", "GET, HEAD, PUT, DELETE");
    expect_allow("DELETE", "/vms", "GET, HEAD, POST");
    expect_allow("PUT", "/vms", "GET, HEAD, POST");
    expect_allow("POST", "/tasks", "GET, HEAD");
    expect_allow("DELETE", "/tasks/3", "GET, HEAD");
    expect_allow("GET", "/login", "POST");
    expect_allow("GET", "/vms/x/start", "POST");
    expect_allow("GET", "/vms/x/snapshots/s/revert", "POST");
    expect_allow("POST", "/vms/x/snapshots/s", "GET, HEAD, PUT, DELETE");
    expect_allow("PUT", "/vms/x/snapshots", "GET, HEAD, POST");
    /* methods are case-sensitive */
    expect_allow("get", "/vms", "GET, HEAD, POST");
    /* the allow list is there even when the parameter is odd but decodable */
    expect_allow("PATCH", "/vms/a%2Fb", "GET, HEAD, PUT, DELETE");
}

static void test_head_matches_get(void **state)
{
    (void)state;
    expect_found("HEAD", "/vms", "GET", "/vms", 0);
    expect_found("HEAD", "/vms/a%20b", "GET", "/vms/{vm}", 1, "a b");
    expect_found("HEAD", "/tasks/9", "GET", "/tasks/{id}", 1, "9");
    /* HEAD on a POST-only path is a wrong method, not a GET */
    expect_allow("HEAD", "/login", "POST");
    expect_allow("HEAD", "/vms/x/start", "POST");
}

static void test_trailing_slash(void **state)
{
    (void)state;
    expect_found("GET", "/vms/", "GET", "/vms", 0);
    expect_found("GET", "/tasks/", "GET", "/tasks", 0);
    expect_found("POST", "/vms/x/snapshots/", "POST", "/vms/{vm}/snapshots", 1, "x");
    expect_found("POST", "/vms/x/start/", "POST", "/vms/{vm}/start", 1, "x");
    expect_allow("PATCH", "/vms/", "GET, HEAD, POST");
    /* Never after a name: a client resolves a snapshot named ".." as a
     * step up, so DELETE /vms/x/snapshots/%2E%2E arrives as DELETE /vms/x/,
     * which must not delete VM x. */
    expect_status("DELETE", "/vms/x/", VS_ROUTE_NOT_FOUND);
    expect_status("PUT", "/vms/x/", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x/", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x/snapshots/y/", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/tasks/9/", VS_ROUTE_NOT_FOUND);
    /* and "." resolved away ("/vms/x/snapshots/%2E") lands on a list,
     * which takes no PUT or DELETE */
    expect_allow("DELETE", "/vms/x/snapshots/", "GET, HEAD, POST");
    expect_allow("DELETE", "/vms/", "GET, HEAD, POST");
}

static void test_empty_segments(void **state)
{
    (void)state;
    expect_status("GET", "//vms", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms//", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms//x", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x//", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x//snapshots", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "/vms/x/snapshots//", VS_ROUTE_NOT_FOUND);
    expect_status("POST", "/vms/x/snapshots//revert", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "//", VS_ROUTE_NOT_FOUND);
    expect_status("GET", "///", VS_ROUTE_NOT_FOUND);
}

/* The URIs the API hands out (Location, target_uri) route back to the exact
 * names, for every example name of the contract. */
static void test_uri_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"a&b", "<x>", "\"q\"", "пeω-∨м", "snap 1", "a/b", "x%2Fy", "50%",
                           "a+b", "?q=1#f", " lead", "trail ", "~!*'();:@=$,"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *vm_uri = vs_api_vm_uri(names[i]);
        expect_found("GET", vm_uri, "GET", "/vms/{vm}", 1, names[i]);
        g_autofree char *snap_uri = vs_api_snapshot_uri(names[i], "пeω-∨м");
        expect_found("GET", snap_uri, "GET", "/vms/{vm}/snapshots/{snap}", 2, names[i],
                     "пeω-∨м");
        g_autofree char *snap_uri2 = vs_api_snapshot_uri("vm", names[i]);
        expect_found("PUT", snap_uri2, "PUT", "/vms/{vm}/snapshots/{snap}", 2, "vm", names[i]);
        /* the URI never contains a raw '/' beyond the pattern's own */
        assert_int_equal(strchr(vm_uri + strlen("/vms/"), '/'), NULL);
    }
}

/* A table with more captures than VS_ROUTE_MAX_PARAMS cannot match: the
 * router must refuse it rather than write past its capture array. */
static void test_too_many_params(void **state)
{
    (void)state;
    static const VsRoute table[] = {
        {"GET", "/{a}/{b}/{c}/{d}/{e}", NULL},
        {"GET", "/{a}/{b}/{c}/{d}", NULL},
    };
    VsRouteMatch m;
    vs_route_match(table, G_N_ELEMENTS(table), "GET", "/1/2/3/4", &m);
    assert_int_equal(m.status, VS_ROUTE_FOUND);
    assert_int_equal(m.n_params, 4);
    assert_string_equal(m.params[3], "4");
    vs_route_match_clear(&m);
    vs_route_match(table, G_N_ELEMENTS(table), "GET", "/1/2/3/4/5", &m);
    assert_int_not_equal(m.status, VS_ROUTE_FOUND);
    assert_int_equal(m.n_params, 0);
    vs_route_match_clear(&m);
}

static void expect_decode(const char *text, gssize len, bool plus, const char *want)
{
    g_autofree char *got = vs_percent_decode(text, len, plus);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void test_percent_decode(void **state)
{
    (void)state;
    expect_decode("", -1, false, "");
    expect_decode("plain", -1, false, "plain");
    expect_decode("a%20b", -1, false, "a b");
    expect_decode("%41%62%7e", -1, false, "Ab~");
    expect_decode("%c3%A9", -1, false, "é");
    expect_decode("%2F%2f", -1, false, "//");
    expect_decode("%25", -1, false, "%");
    expect_decode("%2525", -1, false, "%25"); /* decoded once only */
    expect_decode("%01", -1, false, "\x01");  /* only NUL is refused here */
    expect_decode("%ff", -1, false, "\xff");  /* bytes, not yet UTF-8 checked */
    expect_decode("пeω", -1, false, "пeω");
    /* malformed escapes */
    expect_decode("%", -1, false, NULL);
    expect_decode("a%", -1, false, NULL);
    expect_decode("%4", -1, false, NULL);
    expect_decode("%zz", -1, false, NULL);
    expect_decode("%-1", -1, false, NULL);
    expect_decode("% 1", -1, false, NULL);
    expect_decode("%%41", -1, false, NULL);
    /* NUL, encoded or raw within LEN */
    expect_decode("%00", -1, false, NULL);
    expect_decode("x%00y", -1, true, NULL);
    expect_decode("a\0b", 3, false, NULL);
    /* explicit length */
    expect_decode("abc%20def", 3, false, "abc");
    expect_decode("abc%20def", 6, false, "abc ");
    expect_decode("abc%20def", 5, false, NULL); /* the length cuts the escape */
    expect_decode("abc", 0, false, "");
}

static void test_percent_decode_plus(void **state)
{
    (void)state;
    expect_decode("a+b", -1, false, "a+b");
    expect_decode("a+b", -1, true, "a b");
    expect_decode("++", -1, true, "  ");
    expect_decode("%2B", -1, true, "+"); /* an encoded '+' is a plus sign */
    expect_decode("%2b+%2B", -1, true, "+ +");
    expect_decode("%20+", -1, true, "  ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_plain),
        cmocka_unit_test(test_found_decoded),
        cmocka_unit_test(test_slash_stays_in_param),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_method),
        cmocka_unit_test(test_head_matches_get),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_empty_segments),
        cmocka_unit_test(test_uri_round_trip),
        cmocka_unit_test(test_too_many_params),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_percent_decode_plus),
    };
    return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
