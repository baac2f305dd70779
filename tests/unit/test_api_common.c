/* test_api_common.c: unit tests of the helpers every REST handler uses: JSON
 * body checks, query checks and flags, error bodies, the model error →
 * HTTP status table and resource URIs. Requests and responses are built by
 * hand; no server runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "api/api.h"
#include "util/error.h"

/* The fields of POST /vms. */
static const VsField vm_fields[] = {{"name", VS_FIELD_STRING, true},
                                    {"memory", VS_FIELD_INT, false},
                                    {"cpus", VS_FIELD_INT, false},
                                    {"autostart", VS_FIELD_BOOL, false}};

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        fail_msg("test JSON '%s' does not parse: %s", text, err.text);
    return j;
}

static void response_clear(VsApiResponse *resp)
{
    json_decref(resp->body);
    g_free(resp->location);
    g_free(resp->set_cookie);
    memset(resp, 0, sizeof *resp);
}

/* Asserts RESP is an error body {"code": STATUS, "reason": "...WORD..."}. */
static void expect_error(const VsApiResponse *resp, int status, const char *word)
{
    assert_int_equal(resp->status, status);
    assert_non_null(resp->body);
    assert_true(json_is_object(resp->body));
    assert_int_equal(json_object_size(resp->body), 2);
    json_t *code = json_object_get(resp->body, "code");
    assert_true(json_is_integer(code));
    assert_int_equal(json_integer_value(code), status);
    const char *reason = json_string_value(json_object_get(resp->body, "reason"));
    assert_non_null(reason);
    if (word && !strstr(reason, word))
        fail_msg("reason '%s' should mention '%s'", reason, word);
}

/* Runs vs_api_check_body on BODY_TEXT (NULL: no body) with the VM fields. */
static bool check(const char *body_text, VsApiResponse *resp)
{
    json_t *body = body_text ? parse(body_text) : NULL;
    VsApiRequest req = {.method = "POST", .path = "/vms", .body = body};
    bool ok = vs_api_check_body(&req, resp, vm_fields, G_N_ELEMENTS(vm_fields));
    json_decref(body);
    return ok;
}

static void test_body_ok(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    assert_true(check("{\"name\": \"web\"}", &resp));
    assert_true(check("{\"name\": \"web\", \"memory\": 512, \"cpus\": 2, \"autostart\": true}",
                      &resp));
    assert_true(check("{\"cpus\": -3, \"name\": \"\"}", &resp)); /* values are checked later */
    assert_int_equal(resp.status, 0);
    assert_null(resp.body);
}

static void test_body_unknown_field(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    assert_false(check("{\"name\": \"web\", \"colour\": \"red\"}", &resp));
    expect_error(&resp, 400, "'colour'");
    response_clear(&resp);
    /* case matters */
    assert_false(check("{\"Name\": \"web\"}", &resp));
    expect_error(&resp, 400, "'Name'");
    response_clear(&resp);
}

static void test_body_wrong_type(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    const struct {
        const char *body, *field, *type;
    } cases[] = {
        {"{\"name\": 5}", "'name'", "string"},
        {"{\"name\": null}", "'name'", "string"},
        {"{\"name\": [\"web\"]}", "'name'", "string"},
        {"{\"name\": \"w\", \"memory\": \"512\"}", "'memory'", "integer"},
        {"{\"name\": \"w\", \"memory\": 512.0}", "'memory'", "integer"},
        {"{\"name\": \"w\", \"memory\": 1e3}", "'memory'", "integer"},
        {"{\"name\": \"w\", \"memory\": true}", "'memory'", "integer"},
        {"{\"name\": \"w\", \"cpus\": {}}", "'cpus'", "integer"},
        {"{\"name\": \"w\", \"autostart\": 1}", "'autostart'", "boolean"},
        {"{\"name\": \"w\", \"autostart\": \"true\"}", "'autostart'", "boolean"},
        {"{\"name\": \"w\", \"autostart\": null}", "'autostart'", "boolean"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        assert_false(check(cases[i].body, &resp));
        expect_error(&resp, 400, cases[i].field);
        expect_error(&resp, 400, cases[i].type);
        response_clear(&resp);
    }
}

static void test_body_required(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    assert_false(check(NULL, &resp));
    expect_error(&resp, 400, "'name' is required");
    response_clear(&resp);
    assert_false(check("{}", &resp));
    expect_error(&resp, 400, "'name' is required");
    response_clear(&resp);
    assert_false(check("{\"memory\": 512}", &resp));
    expect_error(&resp, 400, "'name' is required");
    response_clear(&resp);
}

static void test_body_no_fields(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    json_t *empty = parse("{}");
    json_t *some = parse("{\"x\": 1}");
    VsApiRequest req = {.method = "GET", .path = "/vms"};
    assert_true(vs_api_check_body(&req, &resp, NULL, 0)); /* no body at all */
    req.body = empty;
    assert_true(vs_api_check_body(&req, &resp, NULL, 0));
    assert_int_equal(resp.status, 0);
    req.body = some;
    assert_false(vs_api_check_body(&req, &resp, NULL, 0));
    expect_error(&resp, 400, "'x'");
    response_clear(&resp);
    /* optional fields only: no body passes */
    static const VsField optional[] = {{"name", VS_FIELD_STRING, false}};
    req.body = NULL;
    assert_true(vs_api_check_body(&req, &resp, optional, 1));
    json_decref(empty);
    json_decref(some);
}

/* A request whose query is KEY=VALUE pairs (NULL-terminated). */
static GHashTable *query_of(const char *first, ...)
{
    GHashTable *q = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    va_list ap;
    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *))
        g_hash_table_insert(q, g_strdup(k), g_strdup(va_arg(ap, const char *)));
    va_end(ap);
    return q;
}

static void test_check_query(void **state)
{
    (void)state;
    static const char *const allowed[] = {"parent", "all", NULL};
    VsApiResponse resp = {0};
    VsApiRequest req = {.method = "GET", .path = "/vms/x/snapshots"};
    assert_true(vs_api_check_query(&req, &resp, allowed)); /* no query table */
    assert_true(vs_api_check_query(&req, &resp, NULL));

    g_autoptr(GHashTable) empty = query_of(NULL);
    req.query = empty;
    assert_true(vs_api_check_query(&req, &resp, NULL));
    assert_true(vs_api_check_query(&req, &resp, allowed));

    g_autoptr(GHashTable) good = query_of("all", "true", "parent", "s1", NULL);
    req.query = good;
    assert_true(vs_api_check_query(&req, &resp, allowed));
    assert_int_equal(resp.status, 0);

    g_autoptr(GHashTable) bad = query_of("all", "true", "sort", "name", NULL);
    req.query = bad;
    assert_false(vs_api_check_query(&req, &resp, allowed));
    expect_error(&resp, 400, "'sort'");
    response_clear(&resp);

    req.query = good;
    assert_false(vs_api_check_query(&req, &resp, NULL)); /* no parameter allowed */
    expect_error(&resp, 400, "unknown query parameter");
    response_clear(&resp);
}

static void test_query_flag(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    VsApiRequest req = {.method = "DELETE", .path = "/vms/x/snapshots/s"};
    bool ok = true;
    assert_false(vs_api_query_flag(&req, &resp, "children", &ok)); /* no query at all */
    assert_true(ok);

    const char *yes[] = {"true", "1", "yes", "True", "TRUE", "Yes"}; /* (Python's requests: True) */
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        g_autoptr(GHashTable) q = query_of("children", yes[i], NULL);
        req.query = q;
        ok = true;
        assert_true(vs_api_query_flag(&req, &resp, "children", &ok));
        assert_true(ok);
        assert_int_equal(resp.status, 0);
    }
    /* a bare ?children means yes; ?children= (given empty) is refused: a
     * client's empty variable must not delete a subtree */
    g_autoptr(GHashTable) empty = query_of("children", "", NULL);
    g_autoptr(GHashTable) bare = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_add(bare, "children");
    req.query = empty;
    req.bare = bare;
    ok = true;
    assert_true(vs_api_query_flag(&req, &resp, "children", &ok));
    assert_true(ok);
    req.bare = NULL;
    ok = true;
    assert_false(vs_api_query_flag(&req, &resp, "children", &ok));
    assert_false(ok);
    expect_error(&resp, 400, "given empty");
    response_clear(&resp);
    const char *no[] = {"false", "0", "no", "False", "NO"};
    for (size_t i = 0; i < G_N_ELEMENTS(no); i++) {
        g_autoptr(GHashTable) q = query_of("children", no[i], NULL);
        req.query = q;
        ok = true;
        assert_false(vs_api_query_flag(&req, &resp, "children", &ok));
        assert_true(ok);
        assert_int_equal(resp.status, 0);
    }
    g_autoptr(GHashTable) other = query_of("all", "true", NULL);
    req.query = other;
    ok = true;
    assert_false(vs_api_query_flag(&req, &resp, "children", &ok));
    assert_true(ok);

    const char *bad[] = {"maybe", "tru", "2", "true ", "yes!", "on"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GHashTable) q = query_of("children", bad[i], NULL);
        req.query = q;
        ok = true;
        assert_false(vs_api_query_flag(&req, &resp, "children", &ok));
        assert_false(ok);
        expect_error(&resp, 400, "'children'");
        response_clear(&resp);
    }
}

static void test_gerror_mapping(void **state)
{
    (void)state;
    const struct {
        int code, status;
    } table[] = {
        {VS_ERR_INVALID, 400},     {VS_ERR_NOT_FOUND, 404}, {VS_ERR_CONFLICT, 409},
        {VS_ERR_UNAVAILABLE, 503}, {VS_ERR_FAILED, 500},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
        VsApiResponse resp = {0};
        g_autoptr(GError) e = g_error_new(VS_ERROR, table[i].code, "VM '%s' says %d", "a&b", 7);
        vs_api_gerror(&resp, e);
        expect_error(&resp, table[i].status, NULL);
        assert_string_equal(json_string_value(json_object_get(resp.body, "reason")),
                            "VM 'a&b' says 7");
        response_clear(&resp);
    }
    /* unknown codes and foreign domains are internal errors */
    VsApiResponse resp = {0};
    g_autoptr(GError) big = g_error_new_literal(VS_ERROR, 99, "odd");
    vs_api_gerror(&resp, big);
    expect_error(&resp, 500, "odd");
    response_clear(&resp);
    g_autoptr(GError) neg = g_error_new_literal(VS_ERROR, -1, "negative");
    vs_api_gerror(&resp, neg);
    expect_error(&resp, 500, "negative");
    response_clear(&resp);
    g_autoptr(GError) io = g_error_new_literal(g_quark_from_static_string("other"),
                                               VS_ERR_NOT_FOUND, "io");
    vs_api_gerror(&resp, io);
    expect_error(&resp, 500, "io");
    response_clear(&resp);
    g_autoptr(GError) file = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_NOENT, "no file");
    vs_api_gerror(&resp, file);
    expect_error(&resp, 500, "no file");
    response_clear(&resp);
}

static void test_error_and_json(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    vs_api_error(&resp, 415, "type %s, %d%%", "text/plain", 100);
    expect_error(&resp, 415, "type text/plain, 100%");
    /* a later answer replaces the earlier one */
    vs_api_json(&resp, 200, json_pack("{s:s}", "name", "x"));
    assert_int_equal(resp.status, 200);
    assert_string_equal(json_string_value(json_object_get(resp.body, "name")), "x");
    vs_api_json(&resp, 204, NULL);
    assert_int_equal(resp.status, 204);
    assert_null(resp.body);
    /* reasons with quotes and non-ASCII stay valid JSON */
    vs_api_error(&resp, 404, "snapshot '%s' does not exist", "\"q\" пeω");
    g_autofree char *text = json_dumps(resp.body, JSON_COMPACT);
    json_t *back = parse(text);
    assert_string_equal(json_string_value(json_object_get(back, "reason")),
                        "snapshot '\"q\" пeω' does not exist");
    json_decref(back);
    response_clear(&resp);
}

static void test_uris(void **state)
{
    (void)state;
    g_autofree char *plain = vs_api_vm_uri("web1");
    assert_string_equal(plain, "/vms/web1");
    g_autofree char *slash = vs_api_vm_uri("a/b");
    assert_string_equal(slash, "/vms/a%2Fb");
    g_autofree char *space = vs_api_snapshot_uri("web 1", "snap 1");
    assert_string_equal(space, "/vms/web%201/snapshots/snap%201");
    g_autofree char *amp = vs_api_snapshot_uri("a&b", "<x>");
    assert_string_equal(amp, "/vms/a%26b/snapshots/%3Cx%3E");
    g_autofree char *utf8 = vs_api_vm_uri("ω");
    assert_string_equal(utf8, "/vms/%CF%89");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_ok),
        cmocka_unit_test(test_body_unknown_field),
        cmocka_unit_test(test_body_wrong_type),
        cmocka_unit_test(test_body_required),
        cmocka_unit_test(test_body_no_fields),
        cmocka_unit_test(test_check_query),
        cmocka_unit_test(test_query_flag),
        cmocka_unit_test(test_gerror_mapping),
        cmocka_unit_test(test_error_and_json),
        cmocka_unit_test(test_uris),
    };
    return cmocka_run_group_tests_name("api-common", tests, NULL, NULL);
}
