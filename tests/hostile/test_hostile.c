/* test_hostile.c: hostile and malformed input against the real daemon on
 * test:///default. Every case must get a clear 4xx (or a correct result),
 * never a crash, a hang or a changed VM; docs/hostile-inputs.md lists them. */
#include "harness.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static VsTestDaemon *d;

/* The VM every case must leave untouched. */
#define VICTIM "victim"

static char *victim_fingerprint(void)
{
    g_autoptr(VsTestResponse) vm = vs_http(d, "GET", "/vms/" VICTIM, NULL);
    g_autoptr(VsTestResponse) snaps = vs_http(d, "GET", "/vms/" VICTIM "/snapshots?all=true", NULL);
    assert_int_equal(vm->status, 200);
    assert_int_equal(snaps->status, 200);
    return g_strdup_printf("%s|%s", vm->body, snaps->body);
}

static int setup(void **state)
{
    (void)state;
    d = vs_test_daemon_start("test:///default", NULL);
    g_autoptr(VsTestResponse) r = vs_http(d, "POST", "/vms", "{\"name\":\"" VICTIM "\",\"memory\":64}");
    assert_int_equal(r->status, 201);
    g_autofree char *status = vs_take_snapshot(d, VICTIM, "base", "untouched");
    assert_string_equal(status, "finished");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = vs_test_daemon_term(d);
    vs_test_daemon_free(d);
    assert_int_equal(rc, 0); /* it survived everything and stopped cleanly */
    return 0;
}

/* Sends METHOD PATH BODY with the token and CONTENT_TYPE, expects STATUS and
 * a {"code","reason"} body, and checks the victim did not change. */
static void expect(const char *method, const char *path, const char *body, size_t len,
                   const char *content_type, long status)
{
    g_autofree char *before = victim_fingerprint();
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", d->token);
    g_autofree char *type = content_type ? g_strdup_printf("Content-Type: %s", content_type) : NULL;
    const char *headers[] = {auth, type, NULL};
    g_autoptr(VsTestResponse) r = vs_http_raw(d, method, path, body, len, headers);
    if (r->status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r->status, r->body);
    if (status >= 400) {
        assert_non_null(r->json);
        assert_int_equal(vs_json_int(r->json, "code"), status);
        assert_non_null(vs_json_str(r->json, "reason"));
    }
    g_autofree char *after = victim_fingerprint();
    assert_string_equal(before, after);
}

static void expect_json(const char *method, const char *path, const char *body, long status)
{
    expect(method, path, body, strlen(body), "application/json", status);
}

static void test_oversized_body(void **state)
{
    (void)state;
    size_t len = 2 * 1024 * 1024;
    g_autofree char *big = g_malloc(len + 1);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    big[len] = '\0';
    expect("POST", "/vms/" VICTIM "/snapshots", big, len, "application/json", 413);
}

static void test_malformed_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "{", "{\"name\":}", "[]", "\"x\"", "{\"name\":\"a\",}", "nul",
        "{\"name\":\"\xff\xfe\"}",                /* invalid UTF-8 */
        "{\"name\":\"a\",\"name\":\"b\"}",        /* duplicate keys */
        "{\"name\":\"x\",\"memory\":1e999}",      /* a number too large */
        "{\"name\":\"x\",\"memory\":99999999999999999999999}",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_json("POST", "/vms", bad[i], 400);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    GString *s = g_string_new("{\"name\":");
    for (int i = 0; i < 100000; i++)
        g_string_append_c(s, '[');
    g_string_append_c(s, '}');
    expect("POST", "/vms", s->str, s->len, "application/json", 400);
    g_string_free(s, TRUE);
}

static void test_wrong_types_and_fields(void **state)
{
    (void)state;
    expect_json("POST", "/vms", "{\"name\":5}", 400);
    expect_json("POST", "/vms", "{\"name\":\"x\",\"memory\":\"64\"}", 400);
    expect_json("POST", "/vms", "{\"name\":\"x\",\"memory\":-1}", 400);
    expect_json("POST", "/vms", "{\"name\":\"x\",\"memory\":64.5}", 400);
    expect_json("POST", "/vms", "{\"name\":\"x\",\"cpus\":1000000000}", 400);
    expect_json("POST", "/vms", "{\"name\":\"x\",\"evil\":true}", 400);
    expect_json("PUT", "/vms/" VICTIM "/snapshots/base", "{\"name\":null}", 400);
    expect_json("PUT", "/vms/" VICTIM "/snapshots/base", "{\"description\":\"a\\u0000b\"}", 400);
    expect("POST", "/vms", "{\"name\":\"x\"}", 12, "text/plain", 415);
    expect("POST", "/vms", "{\"name\":\"x\"}", 12, NULL, 415);
}

static void test_names_at_limits(void **state)
{
    (void)state;
    g_autoptr(GString) ok = g_string_new(NULL), over = g_string_new(NULL);
    for (int i = 0; i < 64; i++)
        g_string_append(ok, "ж"); /* 64 characters, 128 bytes */
    g_string_append(over, ok->str);
    g_string_append(over, "ж");
    g_autofree char *body_over = g_strdup_printf("{\"name\":\"%s\"}", over->str);
    expect_json("POST", "/vms/" VICTIM "/snapshots", body_over, 400);
    const char *bad[] = {"", " ", ".hidden", "a/b", "tab\\there", "nl\\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *body = g_strdup_printf("{\"name\":\"%s\"}", bad[i]);
        expect_json("POST", "/vms/" VICTIM "/snapshots", body, 400);
    }
    /* In the path: %00, a malformed escape, an encoded slash. */
    expect("GET", "/vms/a%00b", NULL, 0, NULL, 400);
    expect("GET", "/vms/a%zzb", NULL, 0, NULL, 400);
    expect("GET", "/vms/" VICTIM "%2F..%2Fx", NULL, 0, NULL, 400);
    /* ".." is a name (a VM or snapshot another tool could have made), not a
     * step up: looked up, and not found. */
    expect("GET", "/vms/%2E%2E", NULL, 0, NULL, 404);
    expect("GET", "/vms/" VICTIM "/snapshots/%2E%2E", NULL, 0, NULL, 404);
    /* What a browser sends for DELETE /vms/victim/snapshots/%2E%2E (it
     * resolves the dot segment): not the VM's delete. */
    expect("DELETE", "/vms/" VICTIM "/", NULL, 0, NULL, 404);
    expect("PUT", "/vms/" VICTIM "/", "{\"name\":\"moved\"}", 16, "application/json", 404);
    expect("GET", "/vms/" VICTIM, NULL, 0, NULL, 200); /* still there */
    g_autofree char *too_long = g_strnfill(1025, 'x');
    g_autofree char *too_long_path = g_strdup_printf("/vms/%s", too_long);
    expect("GET", too_long_path, NULL, 0, NULL, 400);
    /* 64 characters is accepted (and then simply not found). */
    g_autofree char *enc = vs_enc(ok->str);
    g_autofree char *path = g_strdup_printf("/vms/%s", enc);
    expect("GET", path, NULL, 0, NULL, 404);
}

static void test_xml_injection(void **state)
{
    (void)state;
    const char *name = "<name>x<devices><disk type='block'>&amp;";
    g_autofree char *body = g_strdup_printf("{\"name\":\"%s\",\"memory\":64}", name);
    g_autoptr(VsTestResponse) r = vs_http(d, "POST", "/vms", body);
    assert_int_equal(r->status, 201);
    assert_string_equal(vs_json_str(r->json, "name"), name);
    assert_int_equal(json_array_size(json_object_get(r->json, "disks")), 1);
    g_autofree char *snap_status = vs_take_snapshot(d, name, "<x>&\"q\"", "</description><evil/>");
    assert_string_equal(snap_status, "finished");
    g_autofree char *vm_enc = vs_enc(name);
    g_autofree char *snap_enc = vs_enc("<x>&\"q\"");
    g_autofree char *path = g_strdup_printf("/vms/%s/snapshots/%s", vm_enc, snap_enc);
    g_autoptr(VsTestResponse) s = vs_http(d, "GET", path, NULL);
    assert_int_equal(s->status, 200);
    assert_string_equal(vs_json_str(s->json, "description"), "</description><evil/>");
    g_autofree char *vm_path = g_strdup_printf("/vms/%s", vm_enc);
    g_autoptr(VsTestResponse) del = vs_http(d, "DELETE", vm_path, NULL);
    assert_int_equal(del->status, 204);
}

static void test_path_traversal_in_image(void **state)
{
    (void)state;
    expect_json("POST", "/vms", "{\"name\":\"t1\",\"image\":\"../etc/passwd\"}", 400);
    expect_json("POST", "/vms", "{\"name\":\"t1\",\"image\":\"/tmp/../etc/passwd\"}", 400);
    expect_json("POST", "/vms", "{\"name\":\"t1\",\"image\":\"/nonexistent/x.qcow2\"}", 400);
    expect_json("POST", "/vms", "{\"name\":\"t1\",\"image\":\"/tmp\"}", 400);
    expect("GET", "/static/../token", NULL, 0, NULL, 404);
    expect("GET", "/static/%2e%2e/token", NULL, 0, NULL, 404);
}

static void test_wrong_methods(void **state)
{
    (void)state;
    expect("PATCH", "/vms/" VICTIM, NULL, 0, NULL, 405);
    expect("DELETE", "/vms", NULL, 0, NULL, 405);
    expect("GET", "/vms/" VICTIM "/start", NULL, 0, NULL, 405);
    expect("PUT", "/tasks", NULL, 0, NULL, 405);
    expect("GET", "/nope", NULL, 0, NULL, 404);
    expect("GET", "/vms/" VICTIM "/snapshots?bogus=1", NULL, 0, NULL, 400);
    expect("GET", "/vms/" VICTIM "/snapshots?all=maybe", NULL, 0, NULL, 400);
    expect("GET", "/vms/" VICTIM "/snapshots?all=true&all=false", NULL, 0, NULL, 400);
}

/* Raw socket helpers for header-level abuse. */
static int connect_raw(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void test_oversized_headers(void **state)
{
    (void)state;
    int fd = connect_raw();
    GString *req = g_string_new("GET /vms HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 200000; i++)
        g_string_append_c(req, 'a');
    g_string_append(req, "\r\n\r\n");
    (void)!write(fd, req->str, req->len);
    char buf[256] = "";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    g_string_free(req, TRUE);
    /* Either a 4xx status line or the connection closed: never a 2xx. */
    if (n > 0)
        assert_true(g_str_has_prefix(buf, "HTTP/1.1 4"));
    g_autofree char *fp = victim_fingerprint(); /* still answering */
    assert_non_null(fp);
}

/* A request line whose target holds spaces (libmicrohttpd takes the last
 * space as the one before the version): refused with a JSON 400, the VM
 * untouched, and its access-log line cannot pass for another request's
 * (the log is an audit of who did what). The same with a user name that
 * closes its quotes in a login's log line. */
static void test_forged_log_lines(void **state)
{
    (void)state;
    g_autofree char *before = victim_fingerprint();
    int fd = connect_raw();
    g_autofree char *req = g_strdup_printf(
        "DELETE /vms/" VICTIM " 204 812.4ms by alice from 10.0.0.7 HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
        d->token);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    GString *answer = g_string_new(NULL);
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        g_string_append_len(answer, buf, n);
    close(fd);
    assert_true(g_str_has_prefix(answer->str, "HTTP/1.1 400"));
    assert_non_null(strstr(answer->str, "\"reason\":\"the request target holds a space"));
    g_string_free(answer, TRUE);
    const char *login = "{\"username\": \"x' from 198.51.100.7\", \"password\": \"p\"}";
    g_autoptr(VsTestResponse) refused = vs_http_raw(d, "POST", "/login", login, strlen(login),
                                                    (const char *[]){"Content-Type: application/json", NULL});
    assert_true(refused->status == 401 || refused->status == 503);
    g_autofree char *after = victim_fingerprint();
    assert_string_equal(before, after);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    assert_null(strstr(log, "204 812.4ms by alice"));
    assert_non_null(strstr(log, "DELETE /vms/" VICTIM "%20204%20812.4ms%20by%20alice%20from%20"
                                "10.0.0.7 400 "));
    assert_null(strstr(log, "'x' from 198.51.100.7"));
    assert_non_null(strstr(log, "'x%27%20from%20198.51.100.7' from 127.0.0.1"));
}

/* Slowloris: many connections that send headers a byte at a time must not
 * stop others from being served promptly. */
static void test_slowloris(void **state)
{
    (void)state;
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = connect_raw();
        (void)!write(fds[i], "GET /vms HTTP/1.1\r\nX-", 21);
    }
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < 20; i++) {
        g_autoptr(VsTestResponse) r = vs_http(d, "GET", "/vms/" VICTIM, NULL);
        assert_int_equal(r->status, 200);
    }
    gint64 elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    for (int i = 0; i < N; i++)
        close(fds[i]);
    assert_true(elapsed_ms < 5000);
}

static int connect_to(VsTestDaemon *daemon)
{
    VsTestDaemon *saved = d;
    d = daemon;
    int fd = connect_raw();
    d = saved;
    return fd;
}

/* A full request on FD with the token; whether a 200 status line came. */
static bool request_ok(VsTestDaemon *daemon, int fd)
{
    g_autofree char *req = g_strdup_printf("GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Authorization: Bearer %s\r\n\r\n",
                                           daemon->token);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
        return false;
    char buf[4096] = "";
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    return n > 0 && g_str_has_prefix(buf, "HTTP/1.1 200");
}

/* Headers that keep coming, a line every 0.5 s (so that the idle timeout
 * never fires), are cut off once they have taken longer than the deadline
 * ($VIRTSNAP_HEADER_DEADLINE, 2 s here; 60 s by default); a connection that
 * makes requests with pauses between them is not. */
static void test_header_deadline(void **state)
{
    (void)state;
    g_setenv("VIRTSNAP_HEADER_DEADLINE", "2", TRUE);
    VsTestDaemon *slow = vs_test_daemon_start("test:///default", NULL);
    g_unsetenv("VIRTSNAP_HEADER_DEADLINE");
    int fd = connect_to(slow);
    const char *start = "GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    assert_true(send(fd, start, strlen(start), MSG_NOSIGNAL) > 0);
    gint64 t0 = g_get_monotonic_time();
    bool open = true;
    while (open && g_get_monotonic_time() - t0 < 10 * G_USEC_PER_SEC) {
        g_usleep(500 * 1000);
        open = send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) > 0;
        char c;
        if (open && recv(fd, &c, 1, MSG_DONTWAIT) == 0)
            open = false; /* closed by the daemon */
    }
    double lasted = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    print_message("trickled headers were cut off after %.1f s\n", lasted);
    assert_false(open);
    assert_true(lasted >= 1.9 && lasted < 6);
    close(fd);
    /* The time is counted from a connection's start or its last answer (a
     * pause between requests counts, as for libmicrohttpd's own 30 s idle
     * timeout, which comes first with the default deadline). */
    int again = connect_to(slow);
    assert_true(request_ok(slow, again));
    g_usleep(1000 * 1000);
    assert_true(request_ok(slow, again)); /* a pause under the deadline */
    close(again);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(slow->log_path, &log, NULL, NULL));
    assert_non_null(strstr(log, "was still coming after 2 s"));
    assert_int_equal(vs_test_daemon_term(slow), 0);
    vs_test_daemon_free(slow);
}

/* A connection to the daemon from loopback address 127.0.0.HOST. */
static int connect_from(uint8_t host)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in from = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + host)};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    return fd;
}

/* Whether the daemon closed FD (without waiting). */
static bool closed_by_daemon(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* More connections than the daemon takes (512), from five addresses (each
 * may hold 128), none sending a whole request, after one from a sixth
 * address doing the same: a new client is still served, because past 448
 * open each new connection closes one waiting for a request, the oldest of
 * the address holding the most; so the sixth address's lone connection,
 * the oldest of all, stays. Before, the 513th and every later connection
 * were refused until the idle ones timed out (30 s, or 60 s for a
 * trickle). */
static void test_crowd_of_idle_connections(void **state)
{
    (void)state;
    enum { HOSTS = 5, PER_HOST = 100, N = HOSTS * PER_HOST, CROWD = 448 };
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    int lone = connect_from(9);
    (void)!write(lone, "GET /vms HTTP/1.1\r\nX-", 21);
    g_usleep(100 * 1000);
    int *fds = g_new(int, N);
    for (int i = 0; i < N; i++) {
        fds[i] = connect_from((uint8_t)(1 + i % HOSTS));
        (void)!write(fds[i], "GET /vms HTTP/1.1\r\nX-", 21);
    }
    /* Until the daemon has taken them all (at most 448 stay open), or 20 s. */
    int closed = 0;
    for (int tries = 0; tries < 200 && closed < N + 1 - CROWD; tries++) {
        g_usleep(100 * 1000);
        closed = 0;
        for (int i = 0; i < N; i++)
            closed += closed_by_daemon(fds[i]);
    }
    gint64 start = g_get_monotonic_time();
    g_autoptr(VsTestResponse) r = vs_http(d, "GET", "/vms/" VICTIM, NULL);
    double took = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    bool lone_open = !closed_by_daemon(lone), last_open = !closed_by_daemon(fds[N - 1]);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    close(lone);
    g_free(fds);
    print_message("a new client served in %.3f s beside %d idle connections; %d of them "
                  "closed, the lone one from another address %s\n", took, N + 1, closed,
                  lone_open ? "kept" : "closed");
    assert_int_equal(r->status, 200);
    assert_true(took < 5);
    assert_true(closed >= N + 1 - CROWD); /* at most 448 idle ones stay */
    assert_true(lone_open);               /* the busiest addresses' went first */
    assert_true(last_open);
    /* The watchdog logs the closings once a second. */
    bool logged = false;
    for (int tries = 0; tries < 50 && !logged; tries++) {
        g_autofree char *log = NULL;
        assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
        logged = strstr(log, "from the addresses holding the most: more than 448 were open");
        if (!logged)
            g_usleep(100 * 1000);
    }
    assert_true(logged);
}

typedef struct {
    const char *method, *path, *body;
    long status;
    char *task; /* the task's id, for a 202 */
} Racer;

static void *race(void *arg)
{
    Racer *r = arg;
    g_autoptr(VsTestResponse) resp = vs_http(d, r->method, r->path, r->body);
    r->status = resp->status;
    if (resp->status == 202)
        r->task = g_strdup(vs_json_str(resp->json, "id"));
    return NULL;
}

static void run_race(Racer *racers, int n)
{
    pthread_t threads[8];
    for (int i = 0; i < n; i++)
        pthread_create(&threads[i], NULL, race, &racers[i]);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

static void test_concurrent_conflicts(void **state)
{
    (void)state;
    /* Same name created twice at once: exactly one 201, the other 409. */
    Racer creates[2] = {{"POST", "/vms", "{\"name\":\"twin\",\"memory\":64}", 0, NULL},
                        {"POST", "/vms", "{\"name\":\"twin\",\"memory\":64}", 0, NULL}};
    run_race(creates, 2);
    assert_true((creates[0].status == 201) != (creates[1].status == 201));
    assert_true(creates[0].status == 409 || creates[1].status == 409);
    /* Same VM deleted twice at once: one 204, the other 404. */
    Racer deletes[2] = {{"DELETE", "/vms/twin", NULL, 0, NULL}, {"DELETE", "/vms/twin", NULL, 0, NULL}};
    run_race(deletes, 2);
    assert_true((deletes[0].status == 204) != (deletes[1].status == 204));
    assert_true(deletes[0].status == 404 || deletes[1].status == 404);
    /* Same snapshot name twice at once: one task, one 409 (or a failed task). */
    Racer snaps[2] = {{"POST", "/vms/" VICTIM "/snapshots", "{\"name\":\"dup\"}", 0, NULL},
                      {"POST", "/vms/" VICTIM "/snapshots", "{\"name\":\"dup\"}", 0, NULL}};
    run_race(snaps, 2);
    int made = 0;
    for (int i = 0; i < 2; i++) {
        if (snaps[i].status != 202) {
            assert_int_equal(snaps[i].status, 409);
            continue;
        }
        json_t *ended = vs_wait_task(d, snaps[i].task, 60);
        if (!strcmp(vs_json_str(ended, "status"), "finished"))
            made++;
        else if (!strstr(vs_json_str(ended, "message"), "already has a snapshot named 'dup'"))
            fail_msg("a racing create failed otherwise: %s", vs_json_str(ended, "message"));
        json_decref(ended);
        g_free(snaps[i].task);
    }
    assert_int_equal(made, 1);
    g_autoptr(VsTestResponse) list = vs_http(d, "GET", "/vms/" VICTIM "/snapshots?parent=base", NULL);
    assert_int_equal(json_array_size(list->json), 1);
    g_autoptr(VsTestResponse) gone = vs_http(d, "DELETE", "/vms/" VICTIM "/snapshots/dup", NULL);
    assert_int_equal(gone->status, 204);
    g_autoptr(VsTestResponse) back = vs_http(d, "POST", "/vms/" VICTIM "/snapshots/base/revert", NULL);
    assert_int_equal(back->status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oversized_body),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_wrong_types_and_fields),
        cmocka_unit_test(test_names_at_limits),
        cmocka_unit_test(test_xml_injection),
        cmocka_unit_test(test_path_traversal_in_image),
        cmocka_unit_test(test_wrong_methods),
        cmocka_unit_test(test_oversized_headers),
        cmocka_unit_test(test_forged_log_lines),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_header_deadline),
        cmocka_unit_test(test_crowd_of_idle_connections),
        cmocka_unit_test(test_concurrent_conflicts),
    };
    return vs_test_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}
