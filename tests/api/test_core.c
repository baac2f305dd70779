/* test_core.c: API tests of the REST core against a real virtsnapd on
 * test:///default: token authentication (401 + WWW-Authenticate), error
 * bodies, 404/405/400/415/413, percent-decoding of path segments, /tasks,
 * the token file, restart and clean SIGTERM exit (a request being served
 * still answers; new ones are refused), security headers; refusals
 * answered from the headers alone (no body read) and the Host check. */
#include "api_util.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state)
{
    (void)state;
    api_d = vs_test_daemon_start("test:///default", NULL);
    return api_d ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vs_test_daemon_free(api_d);
    api_d = NULL;
    return 0;
}

static VsTestResponse *raw(const char *method, const char *path, const char *body,
                           const char *const *headers)
{
    return vs_http_raw(api_d, method, path, body, body ? strlen(body) : 0, headers);
}

static void assert_challenge(const VsTestResponse *r)
{
    api_check_error(r, 401, NULL);
    g_autofree char *www = vs_response_header(r, "WWW-Authenticate");
    assert_non_null(www);
    assert_true(*www != '\0');
}

static void test_auth(void **state)
{
    (void)state;
    /* No credentials at all. */
    g_autoptr(VsTestResponse) none = raw("GET", "/vms", NULL, NULL);
    assert_challenge(none);
    api_check_error(none, 401, "authentication required");
    /* A wrong token, a prefix of the right one, an empty one, the right one
     * under another scheme. */
    g_autofree char *prefix = g_strndup(api_d->token, strlen(api_d->token) - 1);
    g_autofree char *longer = g_strdup_printf("%s0", api_d->token);
    const char *wrong[] = {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                           prefix, longer, ""};
    for (size_t i = 0; i < G_N_ELEMENTS(wrong); i++) {
        g_autofree char *h = g_strdup_printf("Authorization: Bearer %s", wrong[i]);
        const char *headers[] = {h, NULL};
        g_autoptr(VsTestResponse) r = raw("GET", "/vms", NULL, headers);
        assert_challenge(r);
        if (*wrong[i]) /* one sent and refused says so */
            api_check_error(r, 401, "the credentials sent were not accepted");
    }
    g_autofree char *token_scheme = g_strdup_printf("Authorization: Token %s", api_d->token);
    const char *other_scheme[] = {token_scheme, NULL};
    g_autoptr(VsTestResponse) other = raw("GET", "/vms", NULL, other_scheme);
    assert_challenge(other);
    /* Every API route is guarded, including tasks and actions, and a refused
     * write changes nothing. */
    g_autoptr(VsTestResponse) tasks = raw("GET", "/tasks", NULL, NULL);
    assert_challenge(tasks);
    const char *json_only[] = {"Content-Type: application/json", NULL};
    g_autoptr(VsTestResponse) create = raw("POST", "/vms", "{\"name\": \"sneaky\"}", json_only);
    assert_challenge(create);
    g_autoptr(VsTestResponse) stop = raw("POST", "/vms/test/poweroff", NULL, NULL);
    assert_challenge(stop);
    g_autoptr(VsTestResponse) gone = vs_http(api_d, "GET", "/vms/sneaky", NULL);
    api_check_error(gone, 404, "sneaky");
    json_t *vm = api_get_json("/vms/test");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* The right token. */
    g_autoptr(VsTestResponse) ok = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(ok->status, 200);
    assert_true(json_is_array(ok->json));
    g_autofree char *type = vs_response_header(ok, "Content-Type");
    assert_true(api_contains(type, "application/json"));
    /* "bearer" is case-insensitive as a scheme. */
    g_autofree char *lower = g_strdup_printf("Authorization: bearer %s", api_d->token);
    const char *lower_h[] = {lower, NULL};
    g_autoptr(VsTestResponse) ok2 = raw("GET", "/vms", NULL, lower_h);
    assert_int_equal(ok2->status, 200);
    /* The log says who asked, and from where (after the answer: wait for it). */
    g_autofree char *log = NULL;
    for (int i = 0; i < 50; i++) {
        g_clear_pointer(&log, g_free);
        assert_true(g_file_get_contents(api_d->log_path, &log, NULL, NULL));
        if (strstr(log, "GET /tasks 401") && strstr(log, "GET /vms 200"))
            break;
        g_usleep(20 * 1000);
    }
    const char *refused = strstr(log, "GET /tasks 401");
    const char *served = strstr(log, "GET /vms 200");
    assert_non_null(refused);
    assert_non_null(served);
    g_autofree char *refused_line = g_strndup(refused, strcspn(refused, "\n"));
    g_autofree char *served_line = g_strndup(served, strcspn(served, "\n"));
    if (!g_str_has_suffix(refused_line, " from 127.0.0.1") || strstr(refused_line, " by "))
        fail_msg("refused request's log line: %s", refused_line);
    if (!g_str_has_suffix(served_line, " by token from 127.0.0.1"))
        fail_msg("served request's log line: %s", served_line);
}

static void test_not_found(void **state)
{
    (void)state;
    const char *paths[] = {"/nope", "/vms/test/nothing", "/vms/test/snapshots/x/y/z", "/tasks/1/x",
                           "/VMS"};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "GET", paths[i], NULL);
        api_check_error(r, 404, NULL);
    }
    /* An unknown VM is a 404 that names it. */
    g_autoptr(VsTestResponse) vm = vs_http(api_d, "GET", "/vms/no-such-vm", NULL);
    api_check_error(vm, 404, "no-such-vm");
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    struct {
        const char *method, *path, *allow[4], *not_allowed;
    } cases[] = {
        {"DELETE", "/vms", {"GET", "POST"}, "DELETE"},
        {"PATCH", "/vms/test", {"GET", "PUT", "DELETE"}, "POST"},
        {"GET", "/vms/test/start", {"POST"}, "GET"},
        {"PUT", "/tasks", {"GET"}, "PUT"},
        {"GET", "/login", {"POST"}, "GET"},
        {"DELETE", "/vms/test/snapshots", {"GET", "POST"}, "DELETE"},
        /* the web UI's paths */
        {"POST", "/", {"GET", "HEAD"}, "POST"},
        {"PUT", "/static/app.js", {"GET", "HEAD"}, "PUT"},
        /* a malformed escape on a path that takes no such method */
        {"PATCH", "/vms/%zz", {"GET", "PUT", "DELETE"}, "PATCH"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, cases[i].method, cases[i].path, NULL);
        api_check_error(r, 405, NULL);
        g_autofree char *allow = vs_response_header(r, "Allow");
        if (!allow)
            fail_msg("%s %s: 405 without Allow", cases[i].method, cases[i].path);
        for (size_t j = 0; j < 4 && cases[i].allow[j]; j++)
            if (!strstr(allow, cases[i].allow[j]))
                fail_msg("%s %s: Allow '%s' lacks %s", cases[i].method, cases[i].path, allow,
                         cases[i].allow[j]);
        if (strstr(allow, cases[i].not_allowed))
            fail_msg("%s %s: Allow '%s' lists %s", cases[i].method, cases[i].path, allow,
                     cases[i].not_allowed);
    }
    /* DELETE /vms did not delete anything. */
    json_t *vm = api_get_json("/vms/test");
    json_decref(vm);
}

static void test_bad_json(void **state)
{
    (void)state;
    struct {
        const char *body, *mentions;
    } cases[] = {
        {"{", NULL},
        {"{\"name\": \"bj\",}", NULL},
        {"not json", NULL},
        {"[\"bj\"]", NULL},
        {"\"bj\"", NULL},
        {"{\"name\": 5}", "name"},
        {"{\"name\": null}", "name"},
        {"{\"name\": \"bj\", \"memory\": \"512\"}", "memory"},
        {"{\"name\": \"bj\", \"cpus\": 1.5}", "cpus"},
        {"{\"name\": \"bj\", \"bogus\": 1}", "bogus"},
        {"{\"name\": \"bj\", \"name\": \"bj2\"}", NULL},
        {"{\"memory\": 512}", "name"},
        {"{\"name\": \"bj\"} trailing", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms", cases[i].body);
        if (r->status != 400)
            fail_msg("body '%s': %ld %s", cases[i].body, r->status, r->body);
        api_check_error(r, 400, cases[i].mentions);
    }
    /* None of them made a VM. */
    g_autoptr(VsTestResponse) a = vs_http(api_d, "GET", "/vms/bj", NULL);
    api_check_error(a, 404, NULL);
    g_autoptr(VsTestResponse) b = vs_http(api_d, "GET", "/vms/bj2", NULL);
    api_check_error(b, 404, NULL);
    /* A body where none is expected is checked too (unknown field). */
    g_autoptr(VsTestResponse) act = vs_http(api_d, "POST", "/vms/test/suspend", "{\"force\": true}");
    api_check_error(act, 400, "force");
    json_t *vm = api_get_json("/vms/test");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* Unknown and repeated query parameters. */
    g_autoptr(VsTestResponse) q = vs_http(api_d, "GET", "/vms?bogus=1", NULL);
    api_check_error(q, 400, "bogus");
    g_autoptr(VsTestResponse) q2 =
        vs_http(api_d, "GET", "/vms/test/snapshots?all=true&all=false", NULL);
    api_check_error(q2, 400, "all");
}

static void test_content_type(void **state)
{
    (void)state;
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", api_d->token);
    const char *body = "{\"name\": \"ct-vm\"}";
    const char *types[] = {"Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
                           "Content-Type: application/jsonx",
                           "Content-Type: application/json x",
                           "Content-Type: application/json; charset=iso-8859-1", NULL};
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        /* NULL: curl's default for a POST body (form-urlencoded). */
        const char *headers[] = {auth, types[i], NULL};
        g_autoptr(VsTestResponse) r = raw("POST", "/vms", body, headers);
        api_check_error(r, 415, NULL);
    }
    g_autoptr(VsTestResponse) none = vs_http(api_d, "GET", "/vms/ct-vm", NULL);
    api_check_error(none, 404, NULL);
    /* With a UTF-8 charset or other parameters it is still JSON. */
    const char *ok_types[] = {"Content-Type: application/json; charset=utf-8",
                              "Content-Type: Application/JSON ;CHARSET=\"UTF-8\"; v=1"};
    for (size_t i = 0; i < G_N_ELEMENTS(ok_types); i++) {
        const char *ok_headers[] = {auth, ok_types[i], NULL};
        g_autoptr(VsTestResponse) ok = raw("POST", "/vms", body, ok_headers);
        assert_int_equal(ok->status, 201);
        api_delete_vm("ct-vm");
    }
}

/* PUTs JSON, padded in front with spaces to LEN bytes, to PATH as a
 * chunked body (no Content-Length). */
static VsTestResponse *put_chunked(const char *path, size_t len, const char *json)
{
    g_autofree char *body = g_malloc(len + 1);
    memset(body, ' ', len);
    memcpy(body + len - strlen(json), json, strlen(json));
    body[len] = '\0';
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", api_d->token);
    const char *headers[] = {auth, "Content-Type: application/json", "Transfer-Encoding: chunked",
                             NULL};
    return raw("PUT", path, body, headers);
}

static void test_body_limit(void **state)
{
    (void)state;
    json_t *vm = api_create_vm("big-body", "\"cpus\": 1");
    json_decref(vm);
    const size_t limit = 1024 * 1024;
    /* A valid JSON object padded with spaces to exactly LEN bytes. */
    const char *core = "{\"cpus\": 3}";
    for (int over = 1; over >= 0; over--) {
        size_t len = limit + (size_t)over;
        char *body = g_malloc(len + 1);
        memset(body, ' ', len);
        memcpy(body + len - strlen(core), core, strlen(core));
        body[len] = '\0';
        g_autoptr(VsTestResponse) r = api_req("PUT", body, "/vms/big-body");
        g_free(body);
        json_t *after = api_get_json("/vms/big-body");
        if (over) {
            api_check_error(r, 413, NULL);
            assert_int_equal(vs_json_int(after, "cpus"), 1);
        } else {
            assert_int_equal(r->status, 200);
            assert_int_equal(vs_json_int(after, "cpus"), 3);
        }
        json_decref(after);
    }
    /* Over the limit without a Content-Length (chunked): 413. */
    g_autoptr(VsTestResponse) over = put_chunked("/vms/big-body", limit + 4096, "{\"cpus\": 5}");
    api_check_error(over, 413, NULL);
    /* Chunked and on past twice the limit: the connection is closed (a body
     * streamed without end holds no thread). */
    g_autoptr(VsTestResponse) far = put_chunked("/vms/big-body", 3 * limit, "{\"cpus\": 6}");
    assert_int_equal(far->status, 0); /* no answer: closed */
    json_t *after = api_get_json("/vms/big-body");
    assert_int_equal(vs_json_int(after, "cpus"), 3); /* neither changed anything */
    json_decref(after);
    /* Far over the limit (the body need not be read). */
    size_t huge = 8 * limit;
    char *body = g_malloc(huge + 1);
    memset(body, 'x', huge);
    body[huge] = '\0';
    g_autoptr(VsTestResponse) r = api_req("POST", body, "/vms");
    g_free(body);
    api_check_error(r, 413, NULL);
    /* The daemon is still fine. */
    g_autoptr(VsTestResponse) alive = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(alive->status, 200);
    api_delete_vm("big-body");
}

/* Sends REQUEST (headers, perhaps a start of body) on a new connection and
 * returns what the daemon answers within TIMEOUT_MS, without sending more. */
static char *exchange(const char *request, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api_d->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    GString *got = g_string_new(NULL);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000;
    char buf[4096];
    while (!strstr(got->str, "}") && g_get_monotonic_time() < end &&
           poll(&p, 1, (int)((end - g_get_monotonic_time()) / 1000) + 1) > 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        g_string_append_len(got, buf, n);
    }
    close(fd);
    return g_string_free(got, FALSE);
}

/* A request that its headers alone disqualify is answered at once: its body
 * is never waited for (nor kept), whatever it claims to be. */
static void test_refused_before_body(void **state)
{
    (void)state;
    g_autofree char *host = g_strdup_printf("Host: 127.0.0.1:%d\r\n", api_d->port);
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s\r\n", api_d->token);
    struct {
        const char *what, *request_line, *headers;
        bool token;
        const char *status;
    } cases[] = {
        {"no credentials, 1 MB announced", "POST /vms", "Content-Length: 1000000\r\n", false,
         "HTTP/1.1 401"},
        {"no credentials, chunked", "POST /vms", "Transfer-Encoding: chunked\r\n", false,
         "HTTP/1.1 401"},
        {"a wrong token", "POST /vms", "Authorization: Bearer nope\r\nContent-Length: 500\r\n",
         false, "HTTP/1.1 401"},
        {"the token, too large", "POST /vms", "Content-Length: 99999999\r\n", true,
         "HTTP/1.1 413"},
        /* answered before any credentials: their bodies are small or unread
         * (before, each was read, up to max_body, from anyone) */
        {"no route, 100 kB announced", "POST /nowhere", "Content-Length: 100000\r\n", false,
         "HTTP/1.1 404"},
        {"a wrong method, chunked", "PUT /tasks", "Transfer-Encoding: chunked\r\n", false,
         "HTTP/1.1 405"},
        {"a login of 5000 bytes", "POST /login", "Content-Length: 5000\r\n", false,
         "HTTP/1.1 413"},
        {"a GET with a body of 5000 bytes", "GET /vms", "Content-Length: 5000\r\n", true,
         "HTTP/1.1 413"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *request = g_strdup_printf(
            "%s HTTP/1.1\r\n%s%sContent-Type: application/json\r\n%s\r\n{\"na",
            cases[i].request_line, host, cases[i].token ? auth : "", cases[i].headers);
        gint64 t0 = g_get_monotonic_time();
        g_autofree char *got = exchange(request, 20000);
        double ms = (double)(g_get_monotonic_time() - t0) / 1000;
        if (!g_str_has_prefix(got, cases[i].status) || !strstr(got, "\"code\""))
            fail_msg("%s: %s", cases[i].what, got);
        print_message("%s: %.1f ms\n", cases[i].what, ms);
        assert_true(ms < 10000); /* not after the 30 s idle timeout */
        if (strstr(cases[i].status, "405") && !strstr(got, "Allow: "))
            fail_msg("%s: no Allow header: %s", cases[i].what, got);
    }
    g_autoptr(VsTestResponse) vms = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(vms->status, 200);
}

/* On loopback, a request sent to another name (DNS rebinding: a page whose
 * name resolves to 127.0.0.1) is refused, static files included. */
static void test_host_check(void **state)
{
    (void)state;
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", api_d->token);
    const char *foreign[] = {"Host: evil.example", "Host: evil.example:80", "Host: 10.0.0.1",
                             "Host: 127.0.0.1.evil.example"};
    for (size_t i = 0; i < G_N_ELEMENTS(foreign); i++) {
        const char *headers[] = {auth, foreign[i], NULL};
        g_autoptr(VsTestResponse) r = raw("GET", "/vms", NULL, headers);
        api_check_error(r, 421, "Host");
        const char *page[] = {foreign[i], NULL};
        g_autoptr(VsTestResponse) index = raw("GET", "/", NULL, page);
        api_check_error(index, 421, NULL);
        const char *json[] = {auth, foreign[i], "Content-Type: application/json", NULL};
        g_autoptr(VsTestResponse) w = raw("POST", "/vms", "{\"name\": \"rebound\"}", json);
        api_check_error(w, 421, NULL);
    }
    g_autoptr(VsTestResponse) none = vs_http(api_d, "GET", "/vms/rebound", NULL);
    api_check_error(none, 404, NULL);
    g_autofree char *local = g_strdup_printf("Host: localhost:%d", api_d->port);
    const char *loopback[] = {"Host: 127.0.0.1", "Host: [::1]:1234", local};
    for (size_t i = 0; i < G_N_ELEMENTS(loopback); i++) {
        const char *headers[] = {auth, loopback[i], NULL};
        g_autoptr(VsTestResponse) r = raw("GET", "/vms", NULL, headers);
        assert_int_equal(r->status, 200);
    }
    /* An error that quotes bytes that are not UTF-8 is still a JSON error. */
    g_autoptr(VsTestResponse) bad = vs_http(api_d, "GET", "/tasks/%FF", NULL);
    api_check_error(bad, 404, "does not exist");
}

static void test_percent_decoding(void **state)
{
    (void)state;
    /* %2F inside a segment is part of the name (and makes it invalid),
     * never a path separator. */
    const char *bad_names[] = {"/vms/a%2Fb", "/vms/a%2fb", "/vms/%2F", "/vms/test%2Fstart",
                               "/vms/test/snapshots/x%2Fy"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "GET", bad_names[i], NULL);
        if (r->status != 400)
            fail_msg("GET %s: %ld %s", bad_names[i], r->status, r->body);
        api_check_error(r, 400, "name");
    }
    /* Split, this would power "test" off; unsplit it is /vms/{vm} with a
     * method that route does not take. */
    /* A VM's or a snapshot's name outside the rule, which another tool
     * could have given it, is looked up (listings show such names): not
     * found here. */
    const char *outside[] = {"/vms/%2Ehidden", "/vms/test/snapshots/%2Ehidden",
                             "/vms/test/snapshots/%20%20"};
    for (size_t i = 0; i < G_N_ELEMENTS(outside); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "GET", outside[i], NULL);
        api_check_error(r, 404, "does not exist");
    }
    g_autoptr(VsTestResponse) action = vs_http(api_d, "POST", "/vms/test%2Fpoweroff", NULL);
    api_check_error(action, 405, NULL);
    g_autoptr(VsTestResponse) snap = vs_http(api_d, "GET", "/vms/test/snapshots/a%2Fb", NULL);
    api_check_error(snap, 400, "snapshot");
    json_t *vm = api_get_json("/vms/test");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* Malformed escapes and NUL bytes. */
    const char *malformed[] = {"/vms/%ZZ", "/vms/abc%", "/vms/abc%4", "/vms/a%00b", "/vms/%FF",
                               "/vms/%C3%28", "/vms/test/snapshots?parent=%FF",
                               "/vms/test/snapshots?parent=%ZZ"};
    for (size_t i = 0; i < G_N_ELEMENTS(malformed); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "GET", malformed[i], NULL);
        if (r->status != 400)
            fail_msg("GET %s: %ld %s", malformed[i], r->status, r->body);
        api_check_error(r, 400, NULL);
    }
    /* Escapes decode: %74est is "test"; '+' in a path is a plain '+'. */
    json_t *decoded = api_get_json("/vms/%74%65st");
    assert_string_equal(vs_json_str(decoded, "name"), "test");
    json_decref(decoded);
    json_t *plus = api_create_vm("a+b c", NULL);
    json_decref(plus);
    json_t *p1 = api_get_json("/vms/a+b%20c");
    assert_string_equal(vs_json_str(p1, "name"), "a+b c");
    json_decref(p1);
    g_autoptr(VsTestResponse) p2 = vs_http(api_d, "GET", "/vms/a%2Bb+c", NULL);
    api_check_error(p2, 404, NULL);
    /* Query values decode, '+' being a space there. */
    g_autoptr(VsTestResponse) q = vs_http(api_d, "GET", "/vms/a%2Bb%20c/snapshots?parent=no+such%21", NULL);
    api_check_error(q, 404, "no such!");
    api_delete_vm("a+b c");
}

static void test_tasks(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) list = vs_http(api_d, "GET", "/tasks", NULL);
    assert_int_equal(list->status, 200);
    assert_true(json_is_array(list->json));
    size_t before = json_array_size(list->json);
    g_autoptr(VsTestResponse) unknown = vs_http(api_d, "GET", "/tasks/no-such-task", NULL);
    api_check_error(unknown, 404, "no-such-task");
    g_autoptr(VsTestResponse) unknown2 = vs_http(api_d, "GET", "/tasks/999999", NULL);
    api_check_error(unknown2, 404, NULL);

    json_t *vm = api_create_vm("task-vm", NULL);
    json_decref(vm);
    gint64 t0 = g_get_real_time() / G_USEC_PER_SEC;
    g_autoptr(VsTestResponse) made =
        vs_http(api_d, "POST", "/vms/task-vm/snapshots", "{\"name\": \"t1\"}");
    assert_int_equal(made->status, 202);
    const char *id = vs_json_str(made->json, "id");
    assert_non_null(id);
    g_autofree char *loc = vs_response_header(made, "Location");
    g_autofree char *want_loc = g_strdup_printf("/tasks/%s", id);
    assert_non_null(loc);
    assert_string_equal(loc, want_loc);
    assert_string_equal(vs_json_str(made->json, "target_uri"), "/vms/task-vm/snapshots/t1");
    const char *status = vs_json_str(made->json, "status");
    assert_true(!strcmp(status, "running") || !strcmp(status, "finished"));
    assert_true(json_is_string(json_object_get(made->json, "message")));
    json_t *task = vs_wait_task(api_d, id, 60);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    assert_string_equal(vs_json_str(task, "id"), id);
    assert_string_equal(vs_json_str(task, "target_uri"), "/vms/task-vm/snapshots/t1");
    assert_true(json_is_string(json_object_get(task, "message")));
    json_t *created = json_object_get(task, "created");
    assert_true(json_is_integer(created));
    assert_true(json_integer_value(created) >= t0 - 1 &&
                json_integer_value(created) <= g_get_real_time() / G_USEC_PER_SEC + 1);
    json_t *progress = json_object_get(task, "progress");
    if (progress)
        assert_true(json_is_integer(progress) && json_integer_value(progress) >= 0 &&
                    json_integer_value(progress) <= 100);
    json_decref(task);
    /* The finished task is listed, with the same content. */
    g_autoptr(VsTestResponse) list2 = vs_http(api_d, "GET", "/tasks", NULL);
    assert_int_equal(list2->status, 200);
    assert_int_equal(json_array_size(list2->json), before + 1);
    bool found = false;
    size_t i;
    json_t *t;
    json_array_foreach(list2->json, i, t)
    {
        if (strcmp(vs_json_str(t, "id"), id) != 0)
            continue;
        found = true;
        assert_string_equal(vs_json_str(t, "status"), "finished");
        assert_string_equal(vs_json_str(t, "target_uri"), "/vms/task-vm/snapshots/t1");
    }
    assert_true(found);
    /* ?status= keeps the tasks of one status (the web UI asks for the running
     * ones, started by others, to show them); any other value is 400. */
    const struct { const char *query; bool listed; } filters[] = {
        {"?status=finished", true}, {"?status=running", false}, {"?status=failed", false}};
    for (size_t f = 0; f < G_N_ELEMENTS(filters); f++) {
        g_autofree char *path = g_strdup_printf("/tasks%s", filters[f].query);
        g_autoptr(VsTestResponse) kept = vs_http(api_d, "GET", path, NULL);
        assert_int_equal(kept->status, 200);
        bool has = false;
        json_array_foreach(kept->json, i, t)
        {
            assert_string_equal(vs_json_str(t, "status"), filters[f].query + 8);
            has = has || strcmp(vs_json_str(t, "id"), id) == 0;
        }
        if (has != filters[f].listed)
            fail_msg("GET %s: task %s %slisted", path, id, has ? "" : "not ");
    }
    const char *bad_filters[] = {"?status=Running", "?status=", "?status=ended", "?state=running"};
    for (size_t b = 0; b < G_N_ELEMENTS(bad_filters); b++) {
        g_autofree char *path = g_strdup_printf("/tasks%s", bad_filters[b]);
        g_autoptr(VsTestResponse) bad = vs_http(api_d, "GET", path, NULL);
        api_check_error(bad, 400, b < 3 ? "'status' must be running, finished or failed" : "state");
    }
    /* What the task made is there. */
    json_t *snap = api_get_json("/vms/task-vm/snapshots/t1");
    json_decref(snap);
    /* ?wait= on an ended task answers at once; bad values are 400. */
    g_autofree char *task_path = g_strdup_printf("/tasks/%s", id);
    g_autofree char *wait_path = g_strdup_printf("%s?wait=25", task_path);
    gint64 w0 = g_get_monotonic_time();
    g_autoptr(VsTestResponse) waited = vs_http(api_d, "GET", wait_path, NULL);
    assert_int_equal(waited->status, 200);
    assert_string_equal(vs_json_str(waited->json, "status"), "finished");
    assert_true(g_get_monotonic_time() - w0 < 10 * G_USEC_PER_SEC);
    const char *bad_waits[] = {"?wait=26", "?wait=-1", "?wait=1.5", "?wait=abc", "?wait="};
    for (size_t b = 0; b < G_N_ELEMENTS(bad_waits); b++) {
        g_autofree char *bad_path = g_strdup_printf("%s%s", task_path, bad_waits[b]);
        g_autoptr(VsTestResponse) bad = vs_http(api_d, "GET", bad_path, NULL);
        api_check_error(bad, 400, "wait");
    }
    g_autoptr(VsTestResponse) unknown_wait = vs_http(api_d, "GET", "/tasks/999999?wait=1", NULL);
    api_check_error(unknown_wait, 404, NULL);
    /* Tasks have no other methods. */
    g_autoptr(VsTestResponse) del = vs_http(api_d, "DELETE", task_path, NULL);
    api_check_error(del, 405, NULL);
    api_delete_vm("task-vm");
}

static void test_security_headers(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) ok = vs_http(api_d, "GET", "/vms", NULL);
    g_autoptr(VsTestResponse) unauth = vs_http_raw(api_d, "GET", "/vms", NULL, 0, NULL);
    g_autoptr(VsTestResponse) missing = vs_http(api_d, "GET", "/nope", NULL);
    g_autoptr(VsTestResponse) created = vs_http(api_d, "POST", "/vms", "{\"name\": \"hdr-vm\"}");
    g_autoptr(VsTestResponse) deleted = vs_http(api_d, "DELETE", "/vms/hdr-vm", NULL);
    const VsTestResponse *all[] = {ok, unauth, missing, created, deleted};
    long want[] = {200, 401, 404, 201, 204};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        assert_int_equal(all[i]->status, want[i]);
        g_autofree char *nosniff = vs_response_header(all[i], "X-Content-Type-Options");
        g_autofree char *csp = vs_response_header(all[i], "Content-Security-Policy");
        g_autofree char *xfo = vs_response_header(all[i], "X-Frame-Options");
        assert_non_null(nosniff);
        assert_string_equal(nosniff, "nosniff");
        assert_non_null(csp);
        assert_true(api_contains(csp, "default-src"));
        assert_true(api_contains(csp, "frame-ancestors 'none'"));
        assert_non_null(xfo);
        assert_string_equal(xfo, "DENY");
        /* no answer cached (a token-bearing listing left in a shared cache),
         * no URL (VM and snapshot names) sent on as a referrer */
        g_autofree char *cache = vs_response_header(all[i], "Cache-Control");
        g_autofree char *referrer = vs_response_header(all[i], "Referrer-Policy");
        assert_non_null(cache);
        assert_string_equal(cache, "no-store");
        assert_non_null(referrer);
        assert_string_equal(referrer, "no-referrer");
    }
    /* 204 has no body. */
    assert_string_equal(deleted->body, "");
}

static void test_static_and_head(void **state)
{
    (void)state;
    /* The web UI's files need no token and carry the security headers. */
    g_autoptr(VsTestResponse) index = vs_http_raw(api_d, "GET", "/", NULL, 0, NULL);
    assert_int_equal(index->status, 200);
    g_autofree char *type = vs_response_header(index, "Content-Type");
    assert_true(api_contains(type, "text/html"));
    g_autofree char *csp = vs_response_header(index, "Content-Security-Policy");
    assert_true(api_contains(csp, "default-src"));
    g_autofree char *xfo = vs_response_header(index, "X-Frame-Options");
    assert_non_null(xfo);
    /* Nothing outside the web directory, however the path is spelt. */
    const char *escapes[] = {"/static/../token", "/static/..%2Ftoken", "/static/%2E%2E/token",
                             "/static/..%2F..%2Fetc%2Fpasswd", "/static//etc/passwd",
                             "/static/.hidden", "/static/nope.js"};
    for (size_t i = 0; i < G_N_ELEMENTS(escapes); i++) {
        g_autoptr(VsTestResponse) r = vs_http_raw(api_d, "GET", escapes[i], NULL, 0, NULL);
        if (r->status == 200 || api_contains(r->body, api_d->token) || api_contains(r->body, "root:"))
            fail_msg("GET %s: %ld", escapes[i], r->status);
        assert_true(r->status == 404 || r->status == 400);
    }
    /* HEAD is GET without a body, with the same authentication. */
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", api_d->token);
    const char *headers[] = {auth, NULL};
    g_autoptr(VsTestResponse) head = vs_http_raw(api_d, "HEAD", "/vms", NULL, 0, headers);
    assert_int_equal(head->status, 200);
    assert_string_equal(head->body, "");
    g_autoptr(VsTestResponse) head_anon = vs_http_raw(api_d, "HEAD", "/vms", NULL, 0, NULL);
    assert_int_equal(head_anon->status, 401);
}

static void test_token_file(void **state)
{
    (void)state;
    g_autofree char *path = g_build_filename(api_d->state_dir, "token", NULL);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_strstrip(text);
    assert_true(strlen(text) >= 32);
    for (const char *p = text; *p; p++)
        assert_true(g_ascii_isxdigit(*p));
    assert_string_equal(text, api_d->token);
    /* The state directory is private. */
    assert_int_equal(stat(api_d->state_dir, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);

    /* A restart keeps the token: the old one still works. */
    g_autofree char *old = g_strdup(api_d->token);
    vs_test_daemon_restart(api_d);
    assert_string_equal(api_d->token, old);
    g_autofree char *again = NULL;
    assert_true(g_file_get_contents(path, &again, NULL, NULL));
    g_strstrip(again);
    assert_string_equal(again, old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    g_autoptr(VsTestResponse) ok = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(ok->status, 200);
}

static void test_token_differs_per_state_dir(void **state)
{
    (void)state;
    VsTestDaemon *other = vs_test_daemon_start("test:///default", NULL);
    assert_true(strcmp(other->token, api_d->token) != 0);
    /* One daemon's token is worthless at the other. */
    g_autofree char *h = g_strdup_printf("Authorization: Bearer %s", api_d->token);
    const char *headers[] = {h, NULL};
    g_autoptr(VsTestResponse) r = vs_http_raw(other, "GET", "/vms", NULL, 0, headers);
    assert_challenge(r);
    vs_test_daemon_free(other);
}

static void test_sigterm(void **state)
{
    (void)state;
    /* With requests served and a task finished, SIGTERM ends it cleanly. */
    json_t *vm = api_create_vm("term-vm", NULL);
    json_decref(vm);
    g_autoptr(VsTestResponse) made =
        vs_http(api_d, "POST", "/vms/term-vm/snapshots", "{\"name\": \"before-term\"}");
    assert_int_equal(made->status, 202);
    g_autofree char *id = g_strdup(vs_json_str(made->json, "id"));
    json_decref(vs_wait_task(api_d, id, 60));
    assert_int_equal(vs_test_daemon_term(api_d), 0);
    g_autoptr(VsTestResponse) down = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(down->status, 0); /* nobody listens */
    /* It comes back on the same state directory. */
    vs_test_daemon_restart(api_d);
    g_autoptr(VsTestResponse) up = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(up->status, 200);
    /* Finished tasks are kept (at least an hour), across the restart too. */
    g_autofree char *task_path = g_strdup_printf("/tasks/%s", id);
    json_t *task = api_get_json(task_path);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    assert_string_equal(vs_json_str(task, "target_uri"), "/vms/term-vm/snapshots/before-term");
    json_decref(task);
    /* Twice in a row, right after start, is also clean. */
    assert_int_equal(vs_test_daemon_term(api_d), 0);
    vs_test_daemon_restart(api_d);
}

typedef struct {
    VsTestDaemon *d;
    long status;
    gint answered; /* set (atomically) once the answer is in */
} DeleteCall;

static void *delete_vm_thread(void *data)
{
    DeleteCall *call = data;
    VsTestResponse *r = vs_http(call->d, "DELETE", "/vms/drain", NULL);
    call->status = r->status;
    g_atomic_int_set(&call->answered, 1);
    vs_response_free(r);
    return NULL;
}

/* A daemon on test:///default whose delete of VM "drain" (CALL, served by
 * THREAD) is being held SECONDS at a fault point when this returns. */
static VsTestDaemon *daemon_holding_a_delete(DeleteCall *call, pthread_t *thread, int seconds)
{
    g_autofree char *pause = g_strdup_printf("%d", seconds);
    g_setenv("VIRTSNAP_PAUSE", "delete-before-power-off", TRUE);
    g_setenv("VIRTSNAP_PAUSE_SECONDS", pause, TRUE);
    VsTestDaemon *d = vs_test_daemon_start("test:///default", NULL);
    g_unsetenv("VIRTSNAP_PAUSE");
    g_unsetenv("VIRTSNAP_PAUSE_SECONDS");
    g_autoptr(VsTestResponse) made = vs_http(d, "POST", "/vms", "{\"name\": \"drain\"}");
    assert_int_equal(made->status, 201);
    call->d = d;
    /* (the log goes on from the program's earlier daemons: a line more than now) */
    g_autofree char *held = g_strdup_printf("waiting %d s at 'delete-before-power-off'", seconds);
    int before = vs_test_log_count(d, held);
    assert_int_equal(pthread_create(thread, NULL, delete_vm_thread, call), 0);
    assert_true(vs_test_wait_logged(d, held, before + 1));
    return d;
}

/* SIGTERM while a VM delete is being served (held 4 s at a fault point):
 * the delete finishes and answers 204 before virtsnapd exits (before, the
 * answer was lost: "answer not delivered"), a new connection meanwhile is
 * refused, and the exit is clean. */
static void test_sigterm_answers_requests(void **state)
{
    (void)state;
    DeleteCall call = {0};
    pthread_t thread;
    VsTestDaemon *d = daemon_holding_a_delete(&call, &thread, 4);
    assert_int_equal(kill(d->pid, SIGTERM), 0);
    /* Nobody takes new connections, soon after (up to 3 s under ASan; the
     * delete is held for 4 s, and a loaded machine may reach its end first,
     * when the daemon has gone: refused too). */
    long refused = -1;
    for (int i = 0; i < 100 && refused != 0; i++) {
        g_usleep(100000);
        g_autoptr(VsTestResponse) r = vs_http(d, "GET", "/vms", NULL);
        refused = r->status;
    }
    assert_int_equal(refused, 0);
    pthread_join(thread, NULL);
    if (call.status != 204)
        fail_msg("the delete being served at SIGTERM answered %ld", call.status);
    int status = -1;
    for (int i = 0; i < 100 && waitpid(d->pid, &status, WNOHANG) == 0; i++)
        g_usleep(100000);
    d->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    vs_test_daemon_restart(d);
    g_autoptr(VsTestResponse) gone = vs_http(d, "GET", "/vms/drain", NULL);
    assert_int_equal(gone->status, 404);
    vs_test_daemon_free(d);
}

/* A VM's queue is bounded: with its delete held 10 s at a fault point, 31
 * snapshot creates queue behind it (202), the next is 429 "already has 32
 * operations queued" and makes no task; reads are not queued (answered at
 * once meanwhile); once the delete is done the queued creates fail, the VM
 * being gone. */
static void test_queue_limit(void **state)
{
    (void)state;
    DeleteCall call = {0};
    pthread_t thread;
    /* (10 s: 34 requests must all be served while it is held, under ASan too) */
    VsTestDaemon *d = daemon_holding_a_delete(&call, &thread, 10);
    gint64 t0 = g_get_monotonic_time();
    int accepted = 0;
    long status = 202;
    g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func(g_free);
    while (status == 202 && accepted < 40) {
        g_autoptr(VsTestResponse) r = vs_http(d, "POST", "/vms/drain/snapshots", "{}");
        status = r->status;
        if (status == 202) {
            accepted++;
            g_ptr_array_add(tasks, g_strdup(vs_json_str(r->json, "id")));
            continue;
        }
        api_check_error(r, 429, "VM 'drain' already has 32 operations queued; try again later");
    }
    g_autoptr(VsTestResponse) listed = vs_http(d, "GET", "/tasks", NULL);
    g_autoptr(VsTestResponse) running = vs_http(d, "GET", "/tasks?status=running", NULL);
    g_autoptr(VsTestResponse) read = vs_http(d, "GET", "/vms/drain", NULL);
    /* all while the delete was held (else the count says nothing) */
    bool held_throughout = !g_atomic_int_get(&call.answered);
    print_message("%d creates queued in %.2f s\n", accepted,
                  (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    assert_true(held_throughout);
    assert_int_equal(accepted, 31); /* and the delete under way: 32 */
    assert_int_equal(json_array_size(listed->json), 31); /* the 429 made no task */
    assert_int_equal(json_array_size(running->json), 31);  /* all queued, none ended */
    assert_int_equal(read->status, 200);
    pthread_join(thread, NULL);
    assert_int_equal(call.status, 204);
    for (guint i = 0; i < tasks->len; i++) {
        json_t *task = vs_wait_task(d, g_ptr_array_index(tasks, i), 30);
        assert_string_equal(vs_json_str(task, "status"), "failed");
        /* (before: "cannot look up snapshot …", the handle from before the delete) */
        assert_non_null(strstr(vs_json_str(task, "message"), "VM 'drain' no longer exists"));
        json_decref(task);
    }
    g_autoptr(VsTestResponse) none = vs_http(d, "GET", "/tasks?status=running", NULL);
    assert_int_equal(json_array_size(none->json), 0);
    g_autoptr(VsTestResponse) failed = vs_http(d, "GET", "/tasks?status=failed", NULL);
    assert_int_equal(json_array_size(failed->json), 31);
    vs_test_daemon_free(d);
}

/* A change that waits behind an operation longer than virtsnapd lets it
 * ($VIRTSNAP_TURN_WAIT, 1 s here; 25 s by default) answers 409 saying so,
 * and is not carried out later (before, it waited without bound, for as
 * long as a clone copied, and was carried out after its client had given
 * up); the VM's queue goes on past it. */
static void test_turn_wait_bounded(void **state)
{
    (void)state;
    g_setenv("VIRTSNAP_PAUSE", "snapshot-before-create", TRUE);
    g_setenv("VIRTSNAP_TURN_WAIT", "1", TRUE);
    VsTestDaemon *d = vs_test_daemon_start("test:///default", NULL);
    g_unsetenv("VIRTSNAP_PAUSE");
    g_unsetenv("VIRTSNAP_TURN_WAIT");
    g_autoptr(VsTestResponse) made = vs_http(d, "POST", "/vms", "{\"name\": \"held\"}");
    assert_int_equal(made->status, 201);
    const char *held = "waiting 4 s at 'snapshot-before-create'";
    int before = vs_test_log_count(d, held); /* (earlier daemons' lines) */
    g_autoptr(VsTestResponse) snap = vs_http(d, "POST", "/vms/held/snapshots", "{\"name\": \"s\"}");
    assert_int_equal(snap->status, 202);
    assert_true(vs_test_wait_logged(d, held, before + 1));
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTestResponse) start = vs_http(d, "POST", "/vms/held/start", NULL);
    gint64 waited = g_get_monotonic_time() - t0;
    api_check_error(start, 409, "VM 'held' is still busy with 1 earlier operation after 1 s");
    assert_non_null(strstr(vs_json_str(start->json, "reason"), "nothing was done"));
    /* (the 1 s set, not the default 25 s: a loaded machine may add seconds) */
    assert_true(waited >= G_USEC_PER_SEC && waited < 10 * G_USEC_PER_SEC);
    json_t *task = vs_wait_task(d, vs_json_str(snap->json, "id"), 30);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    json_decref(task);
    g_usleep(300000); /* what a start carried out late would have had time for */
    g_autoptr(VsTestResponse) vm = vs_http(d, "GET", "/vms/held", NULL);
    assert_string_equal(vs_json_str(vm->json, "state"), "shutoff");
    g_autoptr(VsTestResponse) again = vs_http(d, "POST", "/vms/held/start", NULL);
    assert_int_equal(again->status, 200); /* the queue went on past the one given up */
    g_autoptr(VsTestResponse) off = vs_http(d, "POST", "/vms/held/poweroff", NULL);
    assert_int_equal(off->status, 200);
    vs_test_daemon_free(d);
}

/* Runs the daemon with ARGS and a state directory it cannot make, and
 * fails unless it exits with CODE: 2 with MESSAGE on stderr for an option
 * refused (before it touches anything), or 1 with MESSAGE NULL for options
 * that passed the checks (it stops at the state directory). */
static void expect_exit(const char *const *args, int code, const char *message)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)vs_test_daemon_binary());
    g_ptr_array_add(argv, "--state-dir=/dev/null/virtsnap-bad-options");
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                             &err, &status, NULL));
    bool said = message ? strstr(err, message) != NULL : strstr(err, "must be between") == NULL;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !said)
        fail_msg("%s: status %d, stderr: %s", args[0], status, err);
}

/* Starts the daemon on STATE_DIR (test:///default, LISTEN, EXTRA when not
 * NULL) and fails unless it stops at start with status 1 and WANT in its
 * stderr (after 10 s, one that kept running is stopped: status 124). */
static void expect_start_refused_with(int code, const char *state_dir, const char *listen,
                                      const char *extra, const char *want)
{
    g_autofree char *dir_arg = g_strdup_printf("--state-dir=%s", state_dir);
    g_autofree char *listen_arg = g_strdup_printf("--listen=%s", listen);
    const char *argv[] = {"timeout", "10", vs_test_daemon_binary(), dir_arg,
                          "--connect=test:///default", listen_arg, extra, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                             &err, &status, NULL));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !strstr(err, want))
        fail_msg("expected a start refused with %d saying '%s': status %d, stderr: %s", code, want,
                 status, err);
}

static void expect_start_refused(const char *state_dir, const char *listen, const char *extra,
                                 const char *want)
{
    expect_start_refused_with(1, state_dir, listen, extra, want);
}

static void test_bad_options(void **state)
{
    (void)state;
    const char *remember_high[] = {"--basic-remember=3601", NULL};
    const char *remember_negative[] = {"--basic-remember=-2", NULL};
    const char *ttl[] = {"--session-ttl=-1", NULL};
    expect_exit(remember_high, 2, "--basic-remember must be between 0 and 3600 seconds");
    expect_exit(remember_negative, 2, "--basic-remember must be between 0 and 3600 seconds");
    const char *remember_minus_one[] = {"--basic-remember=-1", NULL}; /* not "the default" */
    expect_exit(remember_minus_one, 2, "--basic-remember must be between 0 and 3600 seconds");
    expect_exit(ttl, 2, "--session-ttl must be between 1 and 31622400 seconds");
    const char *ttl_zero[] = {"--session-ttl=0", NULL}; /* 0 is a value, not "the default" */
    expect_exit(ttl_zero, 2, "--session-ttl must be between 1 and 31622400 seconds");
    const char *max_age_zero[] = {"--session-max-age=0", NULL};
    expect_exit(max_age_zero, 2, "--session-max-age must be between 1 and 31622400 seconds");
    /* The bounds themselves pass the check. */
    const char *lowest[] = {"--basic-remember=0", NULL};
    const char *highest[] = {"--basic-remember=3600", NULL};
    expect_exit(lowest, 1, NULL);
    expect_exit(highest, 1, NULL);
    g_autofree char *dir = g_dir_make_tmp("virtsnap-options-XXXXXX", NULL);
    g_autofree char *conf = g_build_filename(dir, "virtsnapd.conf", NULL);
    g_autofree char *conf_arg = g_strdup_printf("--config=%s", conf);
    const char *from_file[] = {conf_arg, NULL};
    /* Each file, and what the refusal says (a wrong value names its key; a
     * typo in a key or the group is refused, not ignored). */
    const char *files[][2] = {
        {"[virtsnapd]\nbasic_remember=7200\n",
         "--basic-remember must be between 0 and 3600 seconds (key basic_remember in"},
        {"[virtsnapd]\nlog_level=loud\n", "--log-level must be debug, info or warn (key log_level in"},
        {"[virtsnapd]\nsession-ttl=5\n", "unknown key 'session-ttl' in [virtsnapd]"},
        {"# comment\n[virtsnap]\nlog_level=info\n", "unknown group [virtsnap]"},
        {"[virtsnapd]\nbasic_remember=soon\n", "basic_remember must be a whole number, not 'soon' (in"},
        {"[virtsnapd]\nmax_body=10\n",
         "max_body must be between 4096 and 1073741824 bytes (key max_body in"},
        {"[virtsnapd]\npublic_origin=ftp://x\n", "(key public_origin in"},
        {"[virtsnapd]\nmax_body=0\n", "max_body must be between 4096 and 1073741824 bytes"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        assert_true(g_file_set_contents(conf, files[i][0], -1, NULL));
        expect_exit(from_file, 2, files[i][1]);
    }
    g_unlink(conf);
    g_rmdir(dir);
    /* A web directory without the UI is said at start (the API still works). */
    const char *no_ui[] = {"--web-dir=/nonexistent/virtsnap-web", NULL};
    VsTestDaemon *d = vs_test_daemon_start("test:///default", no_ui);
    g_autoptr(VsTestResponse) vms = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(vms->status, 200);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    assert_non_null(strstr(log, "no web UI: /nonexistent/virtsnap-web has no index.html"));
    vs_test_daemon_free(d);
    /* A domain type the hypervisor does not offer stops the start (before,
     * every create failed with a 500). */
    g_autofree char *type_dir = g_dir_make_tmp("virtsnap-type-XXXXXX", NULL);
    expect_start_refused_with(2, type_dir, "127.0.0.1:0", "--domain-type=kvm",
                              "--domain-type kvm: test:///default offers no such x86_64 guests");
    /* Status 2 (systemd does not restart it), and from a config file its key
     * is named, as for the settings checked before libvirt is. */
    g_autofree char *type_conf = g_build_filename(type_dir, "virtsnapd.conf", NULL);
    assert_true(g_file_set_contents(type_conf, "[virtsnapd]\ndomain_type=kvm\n", -1, NULL));
    g_autofree char *type_conf_arg = g_strdup_printf("--config=%s", type_conf);
    expect_start_refused_with(2, type_dir, "127.0.0.1:0", type_conf_arg,
                              "offers no such x86_64 guests (no usable /dev/kvm: use qemu, or "
                              "leave it out) (key domain_type in");
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", type_dir);
    assert_int_equal(system(rm), 0);
}

/* One daemon per state directory: a second one on the same directory stops
 * at once, naming the first (before, on any driver but the embedded one,
 * it ran beside it, each recovering the other's journal). An address in
 * use stops the start before anything is made in the state directory. */
static void test_one_daemon_per_state_dir(void **state)
{
    (void)state;
    g_autofree char *holder = g_strdup_printf("another virtsnapd (pid %d) uses the state directory %s",
                                              (int)api_d->pid, api_d->state_dir);
    expect_start_refused(api_d->state_dir, "127.0.0.1:0", NULL, holder);
    g_autoptr(VsTestResponse) still = vs_http(api_d, "GET", "/vms", NULL);
    assert_int_equal(still->status, 200);

    g_autofree char *parent = g_dir_make_tmp("virtsnap-port-XXXXXX", NULL);
    g_autofree char *fresh = g_build_filename(parent, "state", NULL);
    g_autofree char *taken = g_strdup_printf("127.0.0.1:%d", api_d->port);
    g_autofree char *in_use = g_strdup_printf("cannot listen on %s: Address already in use", taken);
    expect_start_refused(fresh, taken, NULL, in_use);
    if (g_file_test(fresh, G_FILE_TEST_EXISTS))
        fail_msg("the state directory %s was made although the address was in use", fresh);
    g_rmdir(parent);
}

/* A journal record is replayed only on virtsnapd's own files: a clone's
 * record naming a file elsewhere (as one planted in the state directory
 * would) leaves that file alone, while the copy it names under
 * STATE/images/ goes. And a state directory another user can write into is
 * refused at start (before, it was used and its records replayed as root). */
static void test_journal_own_files_only(void **state)
{
    (void)state;
    VsTestDaemon *d = vs_test_daemon_start("test:///default", NULL);
    vs_test_daemon_term(d);
    g_autofree char *outside_dir = g_dir_make_tmp("virtsnap-victim-XXXXXX", NULL);
    g_autofree char *victim = g_build_filename(outside_dir, "precious", NULL);
    assert_true(g_file_set_contents(victim, "keep me", -1, NULL));
    g_autofree char *copy = g_build_filename(d->state_dir, "images", "half-copied.qcow2", NULL);
    assert_true(g_file_set_contents(copy, "x", -1, NULL));
    g_autofree char *sneaky = g_build_filename(d->state_dir, "images", "..", "..",
                                               g_path_get_basename(outside_dir), "precious", NULL);
    g_autofree char *a = g_base64_encode((const guchar *)victim, strlen(victim));
    g_autofree char *b = g_base64_encode((const guchar *)copy, strlen(copy));
    g_autofree char *c = g_base64_encode((const guchar *)sneaky, strlen(sneaky));
    g_autofree char *record = g_strdup_printf(
        "[op]\nkind=clone\nuuid=11111111-2222-3333-4444-555555555555\n"
        "new_uuid=11111111-2222-3333-4444-666666666666\nfiles=%s;%s;%s;\n", a, b, c);
    g_autofree char *path = g_build_filename(d->state_dir, "journal", "clone-planted.op", NULL);
    assert_true(g_file_set_contents(path, record, -1, NULL));
    vs_test_daemon_restart(d);
    g_autoptr(VsTestResponse) vms = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(vms->status, 200);
    assert_true(g_file_test(victim, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(copy, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    g_autofree char *said = g_strdup_printf("%s is not among virtsnapd's files", victim);
    assert_non_null(strstr(log, said));
    /* Nor a live snapshot delete's record naming another memory file. */
    g_autoptr(VsTestResponse) vm = vs_http(d, "GET", "/vms/test", NULL);
    assert_int_equal(vm->status, 200);
    g_autofree char *snapdelete = g_strdup_printf(
        "[op]\nkind=snapdelete\nuuid=%s\ntag=gone\nram=%s\n", vs_json_str(vm->json, "uuid"),
        victim);
    vs_test_daemon_term(d);
    g_autofree char *path2 = g_build_filename(d->state_dir, "journal", "snapdelete-planted.op", NULL);
    assert_true(g_file_set_contents(path2, snapdelete, -1, NULL));
    gsize log_from = strlen(log);
    vs_test_daemon_restart(d);
    g_autoptr(VsTestResponse) again = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(again->status, 200);
    assert_true(g_file_test(victim, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(path2, G_FILE_TEST_EXISTS));
    g_autofree char *log2 = NULL;
    assert_true(g_file_get_contents(d->log_path, &log2, NULL, NULL));
    assert_true(strlen(log2) >= log_from);
    assert_non_null(strstr(log2 + log_from, said));
    vs_test_daemon_term(d);
    /* a state directory open to other users' writes is refused */
    assert_int_equal(chmod(d->state_dir, 0777), 0);
    expect_start_refused(d->state_dir, "127.0.0.1:0", NULL, "writable by other users");
    assert_int_equal(chmod(d->state_dir, 0700), 0);
    vs_test_daemon_free(d);
    g_unlink(victim);
    g_rmdir(outside_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_refused_before_body),
        cmocka_unit_test(test_host_check),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_security_headers),
        cmocka_unit_test(test_static_and_head),
        cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_token_differs_per_state_dir),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sigterm_answers_requests),
        cmocka_unit_test(test_queue_limit),
        cmocka_unit_test(test_turn_wait_bounded),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_one_daemon_per_state_dir),
        cmocka_unit_test(test_journal_own_files_only),
    };
    return vs_test_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}
