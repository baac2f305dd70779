/* test_pam.c: API tests of user logins against a real virtsnapd whose PAM
 * calls go through pam_wrapper and the pam_matrix module (a throw-away
 * password file; the accounts are not the system's, except root, daemon and
 * nobody): HTTP Basic, POST /login with its session cookie, POST /logout,
 * refused passwords, the growing delay after repeated failures, also for
 * attempts in parallel, who may log in (--login-group), how long a
 * Basic user/password pair that passed is taken without PAM
 * (--basic-remember), and how long a session lives (--session-ttl,
 * --session-max-age, and an account PAM no longer accepts). */
#include "api_util.h"

#include <string.h>

#define PAM_DIR "/usr/lib/x86_64-linux-gnu"
#define PAM_MATRIX PAM_DIR "/pam_wrapper/pam_matrix.so"

static char *pam_tmp;
static char *passdb_path; /* pam_matrix's accounts */
static char *skip_reason;
static char *preload; /* what the daemon needs in LD_PRELOAD */

/* A daemon on test:///default whose PAM goes through pam_wrapper. */
static VsTestDaemon *start_pam_daemon(const char *const *args)
{
    g_setenv("LD_PRELOAD", preload, TRUE);
    VsTestDaemon *d = vs_test_daemon_start("test:///default", args);
    /* Our own later children (none) must not inherit it. */
    g_unsetenv("LD_PRELOAD");
    return d;
}

static int setup(void **state)
{
    (void)state;
    if (!g_file_test(PAM_DIR "/libpam_wrapper.so", G_FILE_TEST_EXISTS) ||
        !g_file_test(PAM_MATRIX, G_FILE_TEST_EXISTS)) {
        skip_reason = g_strdup("libpam-wrapper is not installed");
        return 0;
    }
    pam_tmp = g_dir_make_tmp("virtsnap-pam-XXXXXX", NULL);
    g_autofree char *services = g_build_filename(pam_tmp, "services", NULL);
    g_autofree char *passdb = g_build_filename(pam_tmp, "passdb", NULL);
    g_autofree char *service = g_build_filename(services, "virtsnap", NULL);
    g_mkdir_with_parents(services, 0700);
    /* dave may not use the virtsnap service: auth passes, account fails. */
    const char *users = "alice:wonderland:virtsnap\n"
                        "bob:builder:virtsnap\n"
                        "carol:s3cret:virtsnap\n"
                        "erin:erinpw:virtsnap\n"
                        "grace:gracepw:virtsnap\n"
                        "frank:first-pw:virtsnap\n"
                        "heidi:heidipw:virtsnap\n"
                        "ivan:ivanpw:virtsnap\n"
                        "dave:davepw:othersvc\n"
                        /* system accounts, for --login-group */
                        "root:rootpw:virtsnap\n"
                        "daemon:daemonpw:virtsnap\n"
                        "nobody:nobodypw:virtsnap\n";
    g_autofree char *conf = g_strdup_printf("auth required %s passdb=%s\n"
                                            "account required %s passdb=%s\n",
                                            PAM_MATRIX, passdb, PAM_MATRIX, passdb);
    passdb_path = g_strdup(passdb);
    if (!g_file_set_contents(passdb, users, -1, NULL) ||
        !g_file_set_contents(service, conf, -1, NULL))
        return -1;
    /* Only the daemon needs the wrapper; the harness execs it with our
     * environment. */
    const char *asan_daemon = g_getenv("VS_DAEMON");
    if (asan_daemon) {
        /* A sanitizer build wants its runtime first among the preloads, and
         * pam_wrapper's deep binding does not mix with it. */
        g_autofree char *asan = NULL;
        g_autofree char *out = NULL;
        g_autofree char *ldd_cmd = g_strdup_printf("ldd %s", asan_daemon);
        if (g_spawn_command_line_sync(ldd_cmd, &out, NULL, NULL, NULL) && out) {
            g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
            for (char **l = lines; *l && !asan; l++) {
                char *p = strstr(*l, "libasan.so");
                char *arrow = strstr(*l, "=> ");
                if (p && arrow) {
                    char *end = strchr(arrow + 3, ' ');
                    asan = g_strndup(arrow + 3, end ? (gsize)(end - arrow - 3) : strlen(arrow + 3));
                }
            }
        }
        preload = asan ? g_strdup_printf("%s:libpam_wrapper.so", asan)
                       : g_strdup("libpam_wrapper.so");
        g_setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", TRUE);
    } else {
        preload = g_strdup("libpam_wrapper.so");
    }
    g_setenv("PAM_WRAPPER", "1", TRUE);
    g_setenv("PAM_WRAPPER_SERVICE_DIR", services, TRUE);
    /* --session-ttl: idle seconds, see test_session_expiry; --public-origin: the
     * origin of a proxy that ends TLS in front of virtsnapd, see test_login_session
     * (given as a user might write it; browsers send "https://vs.example.com");
     * --login-group empty: every account PAM accepts (see test_login_group);
     * --basic-remember: see test_basic_remembered. */
    const char *args[] = {"--session-ttl=1", "--public-origin=https://VS.Example.com:443",
                          "--login-group=", "--basic-remember=3", NULL};
    api_d = start_pam_daemon(args);
    /* Does PAM work inside the daemon at all? */
    const char *headers[] = {"Authorization: Basic Ym9iOmJ1aWxkZXI=", NULL}; /* bob:builder */
    g_autoptr(VsTestResponse) probe = vs_http_raw(api_d, "GET", "/tasks", NULL, 0, headers);
    if (probe->status != 200) {
        if (!asan_daemon)
            return -1; /* the normal build must work */
        skip_reason = g_strdup_printf("pam_wrapper does not work with the sanitizer build "
                                      "(probe answered %ld)", probe->status);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vs_test_daemon_free(api_d);
    api_d = NULL;
    if (pam_tmp) {
        g_autofree char *services = g_build_filename(pam_tmp, "services", NULL);
        g_autofree char *service = g_build_filename(services, "virtsnap", NULL);
        g_autofree char *passdb = g_build_filename(pam_tmp, "passdb", NULL);
        g_unlink(service);
        g_rmdir(services);
        g_unlink(passdb);
        g_rmdir(pam_tmp);
    }
    g_free(preload);
    g_free(passdb_path);
    return 0;
}

#define SKIP_IF_NO_PAM()                                                  \
    do {                                                                  \
        if (skip_reason) {                                                \
            print_message("skipped: %s\n", skip_reason);                  \
            skip();                                                       \
        }                                                                 \
    } while (0)

static char *basic_header(const char *user, const char *password)
{
    g_autofree char *pair = g_strdup_printf("%s:%s", user, password);
    g_autofree char *b64 = g_base64_encode((const guchar *)pair, strlen(pair));
    return g_strdup_printf("Authorization: Basic %s", b64);
}

static VsTestResponse *with_headers(const char *method, const char *path, const char *body,
                                    const char *h1, const char *h2)
{
    const char *headers[] = {body ? "Content-Type: application/json" : h1, body ? h1 : h2,
                             body ? h2 : NULL, NULL};
    return vs_http_raw(api_d, method, path, body, body ? strlen(body) : 0, headers);
}

/* A request with a session: COOKIE ("Cookie: …") and KEY ("X-Virtsnap-Key:
 * …", either may be NULL), and EXTRA (an Origin, a Host, or NULL). */
static VsTestResponse *with_session(const char *method, const char *path, const char *body,
                                    const char *cookie, const char *key, const char *extra)
{
    const char *headers[5] = {NULL};
    const char **h = headers;
    if (body)
        *h++ = "Content-Type: application/json";
    if (cookie)
        *h++ = cookie;
    if (key)
        *h++ = key;
    if (extra)
        *h++ = extra;
    return vs_http_raw(api_d, method, path, body, body ? strlen(body) : 0, headers);
}

/* The "X-Virtsnap-Key: …" header of LOGIN's answer. */
static char *key_from(const VsTestResponse *login)
{
    const char *key = vs_json_str(login->json, "key");
    assert_non_null(key);
    assert_true(strlen(key) >= 32); /* unguessable */
    return g_strdup_printf("X-Virtsnap-Key: %s", key);
}

static void assert_challenge(const VsTestResponse *r)
{
    api_check_error(r, 401, NULL);
    g_autofree char *www = vs_response_header(r, "WWW-Authenticate");
    assert_non_null(www);
}

static void test_basic(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    g_autofree char *good = basic_header("alice", "wonderland");
    g_autoptr(VsTestResponse) ok = with_headers("GET", "/vms", NULL, good, NULL);
    assert_int_equal(ok->status, 200);
    assert_true(json_is_array(ok->json));
    /* Writes work with Basic too. (These tests leave VM creation alone: the
     * daemon's children, qemu-img among them, inherit the preloads.) */
    g_autoptr(VsTestResponse) paused = with_headers("POST", "/vms/test/suspend", NULL, good, NULL);
    assert_int_equal(paused->status, 200);
    assert_string_equal(vs_json_str(paused->json, "state"), "paused");
    g_autoptr(VsTestResponse) resumed = with_headers("POST", "/vms/test/resume", NULL, good, NULL);
    assert_int_equal(resumed->status, 200);
    assert_string_equal(vs_json_str(resumed->json, "state"), "running");
    /* A browser attaches cached Basic credentials to another site's form
     * POST too: a cross-site write is refused and changes nothing. */
    g_autoptr(VsTestResponse) csrf = with_headers("POST", "/vms/test/suspend", NULL, good,
                                                  "Origin: http://evil.example");
    api_check_error(csrf, 403, NULL);
    json_t *vm = api_get_json("/vms/test");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);

    const char *bad[][2] = {{"alice", "wrong"}, {"alice", ""}, {"nobody", "wonderland"},
                            {"dave", "davepw"} /* not allowed for this service */};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *h = basic_header(bad[i][0], bad[i][1]);
        g_autoptr(VsTestResponse) r = with_headers("GET", "/vms", NULL, h, NULL);
        assert_challenge(r);
    }
    /* Malformed Basic credentials. */
    const char *junk[] = {"Authorization: Basic !!!notbase64", "Authorization: Basic YWxpY2U=",
                          "Authorization: Basic "};
    for (size_t i = 0; i < G_N_ELEMENTS(junk); i++) {
        g_autoptr(VsTestResponse) r = with_headers("GET", "/vms", NULL, junk[i], NULL);
        assert_challenge(r);
    }
}

/* The status of GET /tasks with Basic USER:PASSWORD. */
static long basic_status(const char *user, const char *password)
{
    g_autofree char *h = basic_header(user, password);
    g_autoptr(VsTestResponse) r = with_headers("GET", "/tasks", NULL, h, NULL);
    return r->status;
}

/* Sets USER's password in pam_matrix's file (as passwd would). */
static void change_password(const char *user, const char *old_pw, const char *new_pw)
{
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(passdb_path, &text, NULL, NULL));
    g_autofree char *from = g_strdup_printf("%s:%s:", user, old_pw);
    g_autofree char *to = g_strdup_printf("%s:%s:", user, new_pw);
    char *at = strstr(text, from);
    assert_non_null(at);
    g_autofree char *changed = g_strdup_printf("%.*s%s%s", (int)(at - text), text, to,
                                               at + strlen(from));
    assert_true(g_file_set_contents(passdb_path, changed, -1, NULL));
}

/* A Basic pair that passed is taken again without PAM for --basic-remember
 * seconds (3 here) after its check, no longer: a changed password keeps
 * working that long, then only the new one does. A wrong password is never
 * remembered, and a login always asks PAM. */
static void test_basic_remembered(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    gint64 checked = g_get_monotonic_time();
    assert_int_equal(basic_status("frank", "first-pw"), 200);
    change_password("frank", "first-pw", "second-pw");
    assert_int_equal(basic_status("frank", "first-pw"), 200); /* remembered */
    assert_true(g_get_monotonic_time() - checked < 3 * G_USEC_PER_SEC); /* else not a proof */
    assert_int_equal(basic_status("frank", "second-pw"), 200); /* PAM's answer */
    assert_int_equal(basic_status("frank", "third-pw"), 401);
    g_autoptr(VsTestResponse) login = with_headers(
        "POST", "/login", "{\"username\": \"frank\", \"password\": \"first-pw\"}", NULL, NULL);
    api_check_error(login, 401, "invalid user name or password");
    g_usleep(3200 * 1000); /* the first check is over 3 s old */
    GStatBuf st;
    assert_int_equal(g_stat(api_d->log_path, &st), 0);
    gsize log_from = (gsize)st.st_size;
    assert_int_equal(basic_status("frank", "first-pw"), 401);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(api_d->log_path, &log, NULL, NULL));
    assert_true(strlen(log) >= log_from);
    /* PAM said no; the client's address is in the line, for fail2ban. */
    assert_true(api_contains(log + log_from, "failed login for user 'frank' from 127.0.0.1"));
    assert_int_equal(basic_status("frank", "second-pw"), 200);
}

static char *cookie_from(const VsTestResponse *r)
{
    g_autofree char *set = vs_response_header(r, "Set-Cookie");
    if (!set)
        return NULL;
    char *semi = strchr(set, ';');
    return g_strndup(set, semi ? (gsize)(semi - set) : strlen(set));
}

static void test_login_session(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    /* /login needs no token. */
    g_autoptr(VsTestResponse) login = with_headers(
        "POST", "/login", "{\"username\": \"alice\", \"password\": \"wonderland\"}", NULL, NULL);
    assert_int_equal(login->status, 200);
    assert_non_null(login->json);
    assert_string_equal(vs_json_str(login->json, "username"), "alice");
    g_autofree char *set = vs_response_header(login, "Set-Cookie");
    assert_non_null(set);
    assert_true(api_contains(set, "HttpOnly"));
    assert_true(api_contains(set, "SameSite=Strict"));
    assert_false(api_contains(set, "Secure")); /* made directly, over loopback HTTP */
    /* Through the https proxy of the public origin, the browser gets a Secure one. */
    g_autoptr(VsTestResponse) proxied_login =
        with_headers("POST", "/login", "{\"username\": \"alice\", \"password\": \"wonderland\"}",
                     "Origin: https://vs.example.com", NULL);
    assert_int_equal(proxied_login->status, 200);
    g_autofree char *proxied_set = vs_response_header(proxied_login, "Set-Cookie");
    assert_true(api_contains(proxied_set, "Secure"));
    g_autofree char *pair = cookie_from(login);
    char *eq = strchr(pair, '=');
    assert_non_null(eq);
    assert_true(strlen(eq + 1) >= 32); /* an unguessable session ID */
    g_autofree char *cookie = g_strdup_printf("Cookie: %s", pair);
    g_autofree char *key = key_from(login);

    /* The cookie without the key the login answered is nothing (a page on
     * another port of this host gets the cookie from the browser, not the
     * key), nor is the key alone, or with a wrong value. */
    g_autoptr(VsTestResponse) cookie_only = with_headers("GET", "/vms", NULL, cookie, NULL);
    assert_challenge(cookie_only);
    assert_true(api_contains(vs_json_str(cookie_only->json, "reason"), "X-Virtsnap-Key"));
    g_autoptr(VsTestResponse) key_only = with_session("GET", "/vms", NULL, NULL, key, NULL);
    assert_challenge(key_only);
    g_autofree char *wrong_key = g_strdup_printf("%sx", key);
    g_autoptr(VsTestResponse) wrong = with_session("GET", "/vms", NULL, cookie, wrong_key, NULL);
    assert_challenge(wrong);
    g_autoptr(VsTestResponse) cookie_write =
        with_headers("POST", "/vms/test/suspend", NULL, cookie, NULL);
    assert_challenge(cookie_write);

    /* With its key, the cookie authenticates reads and same-origin writes. */
    g_autoptr(VsTestResponse) list = with_session("GET", "/vms", NULL, cookie, key, NULL);
    assert_int_equal(list->status, 200);
    /* Also behind a cookie of the same name that a page on another port of
     * this host set under a longer path (browsers send that one first). */
    g_autofree char *planted = g_strdup_printf("Cookie: virtsnap_session=junk; %s", pair);
    g_autoptr(VsTestResponse) behind = with_session("GET", "/vms", NULL, planted, key, NULL);
    assert_int_equal(behind->status, 200);
    g_autoptr(VsTestResponse) paused =
        with_session("POST", "/vms/test/suspend", NULL, cookie, key, NULL);
    assert_int_equal(paused->status, 200);
    g_autoptr(VsTestResponse) changed =
        with_session("PUT", "/vms/test", "{\"cpus\": 3}", cookie, key, NULL);
    assert_int_equal(changed->status, 200);
    g_autofree char *origin = g_strdup_printf("Origin: %s", api_d->url);
    g_autoptr(VsTestResponse) resumed =
        with_session("POST", "/vms/test/resume", NULL, cookie, key, origin);
    assert_int_equal(resumed->status, 200);
    /* The public origin, as a browser sends it through the proxy that ends
     * TLS in front of virtsnapd: ours. */
    const char *proxied = "Origin: https://VS.example.com";
    g_autoptr(VsTestResponse) suspended_again =
        with_session("POST", "/vms/test/suspend", NULL, cookie, key, proxied);
    assert_int_equal(suspended_again->status, 200);
    g_autoptr(VsTestResponse) resumed_again =
        with_session("POST", "/vms/test/resume", NULL, cookie, key, proxied);
    assert_int_equal(resumed_again->status, 200);
    /* A cross-site write with the cookie is refused and changes nothing:
     * another host, our host as a prefix of another, an opaque origin, our
     * host under a scheme virtsnapd does not serve, the proxy's host over
     * plain HTTP. */
    const char *refused[] = {"Origin: https://vs.example.com.evil.example",
                             "Origin: http://vs.example.com"};
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(VsTestResponse) r =
            with_session("POST", "/vms/test/poweroff", NULL, cookie, key, refused[i]);
        api_check_error(r, 403, NULL);
    }
    g_autofree char *other_scheme =
        g_strdup_printf("Origin: https://%s", api_d->url + strlen("http://"));
    g_autoptr(VsTestResponse) csrf4 =
        with_session("POST", "/vms/test/poweroff", NULL, cookie, key, other_scheme);
    api_check_error(csrf4, 403, NULL);
    /* A proxy that passes the browser's Host on: a page injected at
     * http://<public name> matches that Host, and is still refused. */
    const char *forwarded[] = {cookie, key, "Host: vs.example.com", "Origin: http://vs.example.com",
                               NULL};
    g_autoptr(VsTestResponse) csrf5 =
        vs_http_raw(api_d, "POST", "/vms/test/poweroff", NULL, 0, forwarded);
    api_check_error(csrf5, 403, NULL);
    g_autoptr(VsTestResponse) csrf =
        with_session("POST", "/vms/test/poweroff", NULL, cookie, key,
                     "Origin: http://evil.example");
    api_check_error(csrf, 403, NULL);
    g_autofree char *lookalike = g_strdup_printf("%s.evil.example", origin);
    g_autoptr(VsTestResponse) csrf2 =
        with_session("POST", "/vms/test/poweroff", NULL, cookie, key, lookalike);
    api_check_error(csrf2, 403, NULL);
    g_autoptr(VsTestResponse) csrf3 =
        with_session("POST", "/vms/test/poweroff", NULL, cookie, key, "Origin: null");
    api_check_error(csrf3, 403, NULL);
    json_t *vm = api_get_json("/vms/test");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* A made-up or altered session cookie is nothing. */
    g_autoptr(VsTestResponse) forged = with_headers(
        "GET", "/vms", NULL,
        "Cookie: virtsnap_session=00000000000000000000000000000000000000000000000000000000deadbeef",
        NULL);
    assert_challenge(forged);
    g_autofree char *altered = g_strdup_printf("%sx", cookie);
    g_autoptr(VsTestResponse) alt = with_session("GET", "/vms", NULL, altered, key, NULL);
    assert_challenge(alt);

    /* Two logins are two sessions; logging out ends only the one. */
    g_autoptr(VsTestResponse) login2 = with_headers(
        "POST", "/login", "{\"username\": \"alice\", \"password\": \"wonderland\"}", NULL, NULL);
    assert_int_equal(login2->status, 200);
    g_autofree char *pair2 = cookie_from(login2);
    assert_string_not_equal(pair2, pair);
    g_autofree char *cookie2 = g_strdup_printf("Cookie: %s", pair2);
    g_autofree char *key2 = key_from(login2);
    /* Each session's key is its own. */
    g_autoptr(VsTestResponse) crossed = with_session("GET", "/vms", NULL, cookie2, key, NULL);
    assert_challenge(crossed);

    g_autoptr(VsTestResponse) out = with_session("POST", "/logout", NULL, cookie, key, NULL);
    assert_int_equal(out->status, 204);
    g_autofree char *cleared = vs_response_header(out, "Set-Cookie");
    assert_non_null(cleared);
    assert_true(api_contains(cleared, "virtsnap_session=;") || api_contains(cleared, "Max-Age=0"));
    g_autoptr(VsTestResponse) after = with_session("GET", "/vms", NULL, cookie, key, NULL);
    assert_challenge(after);
    g_autoptr(VsTestResponse) other = with_session("GET", "/vms", NULL, cookie2, key2, NULL);
    assert_int_equal(other->status, 200);
    /* A logout without the session's key clears the cookie and ends
     * nothing (a page on another port, a cross-site form). */
    g_autoptr(VsTestResponse) anon_out = with_headers("POST", "/logout", NULL, NULL, NULL);
    assert_int_equal(anon_out->status, 204);
    g_autoptr(VsTestResponse) keyless_out = with_headers("POST", "/logout", NULL, cookie2, NULL);
    assert_int_equal(keyless_out->status, 204);
    /* From another site: refused, so no form there signs the user out. */
    g_autoptr(VsTestResponse) foreign_out =
        with_session("POST", "/logout", NULL, cookie2, key2, "Origin: http://evil.example");
    api_check_error(foreign_out, 403, NULL);
    g_autoptr(VsTestResponse) still = with_session("GET", "/vms", NULL, cookie2, key2, NULL);
    assert_int_equal(still->status, 200);
    g_autoptr(VsTestResponse) out2 = with_session("POST", "/logout", NULL, cookie2, key2, NULL);
    assert_int_equal(out2->status, 204);
    g_autoptr(VsTestResponse) after2 = with_session("GET", "/vms", NULL, cookie2, key2, NULL);
    assert_challenge(after2);
}

static void test_login_refused(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    g_autoptr(VsTestResponse) wrong = with_headers(
        "POST", "/login", "{\"username\": \"bob\", \"password\": \"nope\"}", NULL, NULL);
    assert_challenge(wrong);
    g_autofree char *set = vs_response_header(wrong, "Set-Cookie");
    assert_null(set);
    g_autoptr(VsTestResponse) unknown = with_headers(
        "POST", "/login", "{\"username\": \"mallory\", \"password\": \"x\"}", NULL, NULL);
    api_check_error(unknown, 401, NULL);
    g_autoptr(VsTestResponse) acct = with_headers(
        "POST", "/login", "{\"username\": \"dave\", \"password\": \"davepw\"}", NULL, NULL);
    api_check_error(acct, 401, NULL);
    /* Malformed requests are 400, not 401. */
    g_autofree char *user257 = g_strnfill(257, 'u');
    g_autofree char *long_user =
        g_strdup_printf("{\"username\": \"%s\", \"password\": \"x\"}", user257);
    const char *bodies[] = {"{\"username\": \"bob\"}", "{\"password\": \"builder\"}",
                            "{\"username\": \"bob\", \"password\": 5}",
                            "{\"username\": \"bob\", \"password\": \"builder\", \"remember\": true}",
                            "{\"username\": \"\", \"password\": \"builder\"}", "{", long_user};
    for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autoptr(VsTestResponse) r = with_headers("POST", "/login", bodies[i], NULL, NULL);
        if (r->status != 400)
            fail_msg("login body '%s': %ld %s", bodies[i], r->status, r->body);
        api_check_error(r, 400, NULL);
    }
    /* The right password still works afterwards. */
    g_autoptr(VsTestResponse) ok = with_headers(
        "POST", "/login", "{\"username\": \"bob\", \"password\": \"builder\"}", NULL, NULL);
    assert_int_equal(ok->status, 200);
}

static void test_session_expiry(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    g_autoptr(VsTestResponse) login = with_headers(
        "POST", "/login", "{\"username\": \"bob\", \"password\": \"builder\"}", NULL, NULL);
    assert_int_equal(login->status, 200);
    g_autofree char *pair = cookie_from(login);
    g_autofree char *cookie = g_strdup_printf("Cookie: %s", pair);
    g_autofree char *key = key_from(login);
    /* Used within the idle limit it lives on, past the limit in total
     * (0.75 s of the 1 s left for each request on a loaded machine). */
    for (int i = 0; i < 5; i++) {
        g_usleep(250 * 1000);
        g_autoptr(VsTestResponse) r = with_session("GET", "/tasks", NULL, cookie, key, NULL);
        assert_int_equal(r->status, 200);
    }
    /* Idle for longer than --session-ttl, it is gone. */
    g_usleep(1600 * 1000);
    g_autoptr(VsTestResponse) late = with_session("GET", "/tasks", NULL, cookie, key, NULL);
    assert_challenge(late);
    /* Logging out of it still clears the browser's cookie. */
    g_autoptr(VsTestResponse) out = with_session("POST", "/logout", NULL, cookie, key, NULL);
    assert_int_equal(out->status, 204);
    g_autofree char *cleared = vs_response_header(out, "Set-Cookie");
    assert_non_null(cleared);
    assert_true(api_contains(cleared, "Max-Age=0"));
}

static double timed_login(const char *user, const char *password, long *status)
{
    g_autofree char *body =
        g_strdup_printf("{\"username\": \"%s\", \"password\": \"%s\"}", user, password);
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTestResponse) r = with_headers("POST", "/login", body, NULL, NULL);
    *status = r->status;
    return (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
}

static void test_login_throttle(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    long status = 0;
    double first = timed_login("carol", "wrong1", &status);
    assert_int_equal(status, 401);
    double second = timed_login("carol", "wrong2", &status);
    assert_int_equal(status, 401);
    double third = timed_login("carol", "wrong3", &status);
    assert_int_equal(status, 401);
    print_message("failed logins took %.3f, %.3f, %.3f s\n", first, second, third);
    /* Lower bounds only, the delays after 1 and 2 failures being 0.25 and
     * 0.5 s: one round trip's time varies too much under ASan to compare. */
    assert_true(second >= 0.25);
    assert_true(third >= 0.5);
    /* Basic counts as an attempt for the same user as well. */
    g_autofree char *h = basic_header("carol", "wrong4");
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTestResponse) basic = with_headers("GET", "/vms", NULL, h, NULL);
    double fourth = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    assert_challenge(basic);
    assert_true(fourth >= 1.0);
    /* Another user is not slowed down by carol's failures (1 s now). */
    double alice = timed_login("alice", "wonderland", &status);
    assert_int_equal(status, 200);
    assert_true(alice < fourth - 0.5);
    /* The right password still gets in, and resets the count. */
    timed_login("carol", "s3cret", &status);
    assert_int_equal(status, 200);
    double fresh = timed_login("carol", "wrong5", &status);
    assert_int_equal(status, 401);
    assert_true(fresh < fourth - 0.5);
}

typedef struct {
    const char *user, *password;
    gint64 since; /* monotonic µs the answer is timed from (0: when sent) */
    double seconds;
    long status;
} Attempt;

static gpointer attempt_basic(gpointer data)
{
    Attempt *a = data;
    g_autofree char *h = basic_header(a->user, a->password);
    gint64 t0 = a->since ? a->since : g_get_monotonic_time();
    g_autoptr(VsTestResponse) r = with_headers("GET", "/tasks", NULL, h, NULL);
    a->seconds = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    a->status = r->status;
    return NULL;
}

/* Guesses sent in parallel wait for each other and for the delay their
 * failures earn: the first burst is not free. */
static void test_login_throttle_parallel(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    Attempt attempts[4];
    GThread *threads[G_N_ELEMENTS(attempts)];
    /* (timed from before the first is sent: a thread that runs late sends
     * late, and its own clock would miss the delays before it) */
    gint64 t0 = g_get_monotonic_time();
    for (size_t i = 0; i < G_N_ELEMENTS(attempts); i++) {
        attempts[i] = (Attempt){.user = "erin", .password = "guess", .since = t0};
        threads[i] = g_thread_new("guess", attempt_basic, &attempts[i]);
    }
    double slowest = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(attempts); i++) {
        g_thread_join(threads[i]);
        assert_int_equal(attempts[i].status, 401);
        slowest = MAX(slowest, attempts[i].seconds);
    }
    /* One after another: no delay, then 0.25, 0.5 and 1 s. */
    print_message("4 parallel wrong guesses: the last answered after %.3f s\n", slowest);
    assert_true(slowest >= 1.7);
    Attempt right = {.user = "erin", .password = "erinpw"};
    attempt_basic(&right);
    assert_int_equal(right.status, 200);
}

/* Three wrong guesses for USER (a made-up name), one after another:
 * whether all three were answered 401 (no cmocka assertion off the main
 * thread). */
static gpointer fail_three_times(gpointer user)
{
    bool all_refused = true;
    for (int i = 0; i < 3; i++) {
        Attempt a = {.user = user, .password = "guess"};
        attempt_basic(&a);
        all_refused = all_refused && a.status == 401;
    }
    return GINT_TO_POINTER(all_refused);
}

#define FLOOD_NAME 16

/* Fails each of the USERS names 3 times (5 names at once, under any
 * bound), so that each further guess waits at least 1 s; then sends EACH
 * wrong guess for each at once and counts the 503 and 401 answers. */
static void flood(char names[][FLOOD_NAME], int users, int each, int *busy, int *refused)
{
    GThread *warm[users];
    for (int batch = 0; batch < users; batch += 5) {
        int end = MIN(batch + 5, users);
        for (int u = batch; u < end; u++)
            warm[u] = g_thread_new("warm", fail_three_times, names[u]);
        for (int u = batch; u < end; u++)
            assert_true(GPOINTER_TO_INT(g_thread_join(warm[u])));
    }
    int n = users * each;
    Attempt *attempts = g_new(Attempt, n);
    GThread **threads = g_new(GThread *, n);
    for (int i = 0; i < n; i++) {
        attempts[i] = (Attempt){.user = names[i % users], .password = "guess"};
        threads[i] = g_thread_new("flood", attempt_basic, &attempts[i]);
    }
    *busy = *refused = 0;
    for (int i = 0; i < n; i++) {
        g_thread_join(threads[i]);
        *busy += attempts[i].status == 503;
        *refused += attempts[i].status == 401;
    }
    g_free(threads);
    g_free(attempts);
}

/* More password checks at once from one address than the daemon takes (8;
 * 256 from all together): the ones over are answered 503 at once,
 * unchecked, instead of each holding a connection through its user's
 * delays; then the daemon checks passwords again. 10 made-up users, 5
 * wrong guesses each, all sent together. Behind --public-origin's proxy
 * (the shared daemon's setting) loopback clients are the proxy's many:
 * not bounded per address. */
static void test_login_flood_bounded(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    enum { USERS = 10, EACH = 5, N = USERS * EACH, PER_ADDRESS = 8 };
    char names[USERS][FLOOD_NAME];
    for (int u = 0; u < USERS; u++)
        g_snprintf(names[u], FLOOD_NAME, "crowd-%d", u);
    VsTestDaemon *proxied = api_d;
    const char *args[] = {"--login-group=", NULL};
    api_d = start_pam_daemon(args); /* no proxy: loopback is a client like any */
    int busy = 0, refused = 0;
    flood(names, USERS, EACH, &busy, &refused);
    print_message("%d guesses at once from one address: %d answered 503, %d 401\n", N, busy,
                  refused);
    assert_int_equal(busy + refused, N);
    assert_true(refused >= PER_ADDRESS);
    /* Each admitted guess holds its slot 1 s or more: more than the 8 get
     * in only if the 50 took that long to arrive (a margin of 10). */
    assert_true(busy >= N - PER_ADDRESS - 10);
    long status = 0;
    timed_login("alice", "wonderland", &status); /* passwords are checked again */
    assert_int_equal(status, 200);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(api_d->log_path, &log, NULL, NULL));
    assert_true(api_contains(log, "8 password checks from one address, or 256 in all, are under "
                                  "way already"));
    assert_true(api_contains(log, "more login(s) unchecked")); /* the burst's end told */
    assert_int_equal(vs_test_daemon_term(api_d), 0);
    vs_test_daemon_free(api_d);
    api_d = proxied;

    enum { BEHIND = 12 };
    char behind[BEHIND][FLOOD_NAME];
    for (int u = 0; u < BEHIND; u++)
        g_snprintf(behind[u], FLOOD_NAME, "proxied-%d", u);
    flood(behind, BEHIND, 1, &busy, &refused);
    print_message("%d guesses at once through the proxy: %d answered 503\n", BEHIND, busy);
    assert_int_equal(busy, 0);
    assert_int_equal(refused, BEHIND);
}

/* A service directory whose "virtsnap" service delays each refusal by
 * 0.4 s (pam_faildelay, as pam_unix does by 2 s) and appends the name of
 * every user PAM is asked about to ASKED (pam_exec); the directory's path. */
static char *slow_refusals_service(const char *asked)
{
    g_autofree char *services = g_build_filename(pam_tmp, "services-slow", NULL);
    g_autofree char *service = g_build_filename(services, "virtsnap", NULL);
    g_mkdir_with_parents(services, 0700);
    g_autofree char *conf = g_strdup_printf(
        "auth optional pam_exec.so quiet log=%s /usr/bin/printenv PAM_USER\n"
        "auth optional pam_faildelay.so delay=400000\n"
        "auth required %s passdb=%s\n"
        "account required %s passdb=%s\n",
        asked, PAM_MATRIX, passdb_path, PAM_MATRIX, passdb_path);
    assert_true(g_file_set_contents(service, conf, -1, NULL));
    return g_steal_pointer(&services);
}

/* With --login-group, PAM's yes is not enough: only root and the group's
 * members get in, and a refused account is answered as a wrong password,
 * as slowly, without PAM being asked about it. */
static void test_login_group(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    g_autofree char *asked = g_build_filename(pam_tmp, "asked", NULL);
    g_autofree char *slow = slow_refusals_service(asked);
    g_autofree char *services = g_strdup(g_getenv("PAM_WRAPPER_SERVICE_DIR"));
    g_setenv("PAM_WRAPPER_SERVICE_DIR", slow, TRUE);
    const char *args[] = {"--login-group=nogroup", NULL};
    VsTestDaemon *d = start_pam_daemon(args);
    g_setenv("PAM_WRAPPER_SERVICE_DIR", services, TRUE);
    /* A wrong password of an account that may log in: PAM refuses it, after
     * its failure delay. */
    const char *wrong_body = "{\"username\": \"nobody\", \"password\": \"nope\"}";
    const char *json[] = {"Content-Type: application/json", NULL};
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTestResponse) wrong = vs_http_raw(d, "POST", "/login", wrong_body,
                                                  strlen(wrong_body), json);
    double wrong_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    api_check_error(wrong, 401, "invalid user name or password");
    assert_true(wrong_s >= 0.25); /* pam_faildelay took effect: 0.4 s less libpam's 25 % spread */
    const char *in[][2] = {{"nobody", "nobodypw"} /* nogroup is its group */, {"root", "rootpw"}};
    const char *out[][2] = {{"daemon", "daemonpw"} /* a system account, not in nogroup */,
                            {"alice", "wonderland"} /* PAM's only, no system account */};
    for (size_t i = 0; i < G_N_ELEMENTS(in); i++) {
        g_autofree char *body = g_strdup_printf("{\"username\": \"%s\", \"password\": \"%s\"}",
                                                in[i][0], in[i][1]);
        const char *headers[] = {"Content-Type: application/json", NULL};
        g_autoptr(VsTestResponse) r = vs_http_raw(d, "POST", "/login", body, strlen(body), headers);
        if (r->status != 200)
            fail_msg("%s: %ld %s", in[i][0], r->status, r->body);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(out); i++) {
        g_autofree char *body = g_strdup_printf("{\"username\": \"%s\", \"password\": \"%s\"}",
                                                out[i][0], out[i][1]);
        const char *headers[] = {"Content-Type: application/json", NULL};
        t0 = g_get_monotonic_time();
        g_autoptr(VsTestResponse) r = vs_http_raw(d, "POST", "/login", body, strlen(body), headers);
        double out_s = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
        api_check_error(r, 401, "invalid user name or password");
        /* The right password of an account that may not log in is refused
         * as slowly as a wrong one (it was answered at once): the time
         * tells nothing of the password. */
        print_message("%s refused in %.3f s, a wrong password in %.3f s\n", out[i][0], out_s,
                      wrong_s);
        assert_true(out_s >= 0.7 * wrong_s);
        g_autofree char *set = vs_response_header(r, "Set-Cookie");
        assert_null(set);
        g_autofree char *h = basic_header(out[i][0], out[i][1]);
        const char *basic[] = {h, NULL};
        g_autoptr(VsTestResponse) b = vs_http_raw(d, "GET", "/tasks", NULL, 0, basic);
        api_check_error(b, 401, NULL);
    }
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    assert_true(api_contains(log, "refused login for user 'daemon' from 127.0.0.1: "
                                  "not root and not in group 'nogroup'"));
    /* PAM was asked about the accounts that may log in, never about the
     * others: their passwords are not tried (nor counted by pam_faillock). */
    g_autofree char *names = NULL;
    assert_true(g_file_get_contents(asked, &names, NULL, NULL));
    assert_true(api_contains(names, "nobody\n") && api_contains(names, "root\n"));
    assert_false(api_contains(names, "daemon") || api_contains(names, "alice"));
    vs_test_daemon_free(d);
    g_unlink(asked);
    g_autofree char *slow_service = g_build_filename(slow, "virtsnap", NULL);
    g_unlink(slow_service);
    g_rmdir(slow);
}

/* GET /tasks on daemon D with the session of LOGIN's answer; its status. */
static long session_status(VsTestDaemon *d, const VsTestResponse *login)
{
    g_autofree char *pair = cookie_from(login);
    g_autofree char *cookie = g_strdup_printf("Cookie: %s", pair);
    g_autofree char *key = key_from(login);
    const char *headers[] = {cookie, key, NULL};
    g_autoptr(VsTestResponse) r = vs_http_raw(d, "GET", "/tasks", NULL, 0, headers);
    return r->status;
}

static VsTestResponse *login_on(VsTestDaemon *d, const char *user, const char *password)
{
    g_autofree char *body =
        g_strdup_printf("{\"username\": \"%s\", \"password\": \"%s\"}", user, password);
    const char *headers[] = {"Content-Type: application/json", NULL};
    VsTestResponse *r = vs_http_raw(d, "POST", "/login", body, strlen(body), headers);
    assert_int_equal(r->status, 200);
    return r;
}

/* One user's 65th session ends that user's least recently used, and no one
 * else's (before, only the table's bound of 4096 in all applied, so one
 * account logging in often enough pushed every other user's sessions out). */
static void test_sessions_per_user(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    const char *args[] = {"--login-group=", NULL};
    VsTestDaemon *d = start_pam_daemon(args);
    VsTestResponse *sessions[65];
    sessions[0] = login_on(d, "heidi", "heidipw");
    g_autoptr(VsTestResponse) other = login_on(d, "ivan", "ivanpw");
    for (int i = 1; i < 65; i++)
        sessions[i] = login_on(d, "heidi", "heidipw");
    assert_int_equal(session_status(d, sessions[0]), 401);
    assert_int_equal(session_status(d, sessions[1]), 200); /* only the one */
    assert_int_equal(session_status(d, sessions[64]), 200);
    assert_int_equal(session_status(d, other), 200);
    for (int i = 0; i < 65; i++)
        vs_response_free(sessions[i]);
    assert_int_equal(vs_test_daemon_term(d), 0);
    vs_test_daemon_free(d);
}

/* A session in use ends --session-max-age seconds (2 here) after its login;
 * and one whose account PAM no longer accepts ends at its next check
 * (every request here: $VIRTSNAP_SESSION_RECHECK=0), while another user's
 * session goes on. */
static void test_session_limits(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    g_setenv("VIRTSNAP_SESSION_RECHECK", "0", TRUE);
    g_autofree char *shadow_path = g_build_filename(pam_tmp, "shadow", NULL);
    assert_true(g_file_set_contents(shadow_path, "erin:$y$j9T$salt$hash:19000:0:99999:7:::\n"
                                                 "grace:*:19000:0:99999:7:::\n", -1, NULL));
    g_setenv("VIRTSNAP_SHADOW", shadow_path, TRUE);
    const char *args[] = {"--login-group=", "--session-max-age=2", NULL};
    VsTestDaemon *d = start_pam_daemon(args);
    g_unsetenv("VIRTSNAP_SESSION_RECHECK");
    g_unsetenv("VIRTSNAP_SHADOW");
    gint64 t0 = g_get_monotonic_time(); /* (the login's time counts: the age starts in it) */
    g_autoptr(VsTestResponse) heidi = login_on(d, "heidi", "heidipw");
    long status = 200;
    while (status == 200 && g_get_monotonic_time() - t0 < 15 * G_USEC_PER_SEC) {
        status = session_status(d, heidi);
        g_usleep(200 * 1000);
    }
    double lived = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    print_message("a session used every 0.2 s lived %.1f s\n", lived);
    assert_int_equal(status, 401);
    /* 2 s, not the idle limit (it was used all along); a loaded machine may
     * add to each request's time */
    assert_true(lived >= 1.8 && lived < 6);

    g_autoptr(VsTestResponse) ivan = login_on(d, "ivan", "ivanpw");
    g_autoptr(VsTestResponse) other = login_on(d, "heidi", "heidipw");
    assert_int_equal(session_status(d, ivan), 200);
    /* ivan's account is now refused by the service (pam_matrix: another service). */
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(passdb_path, &text, NULL, NULL));
    GString *refused = g_string_new(text);
    assert_int_equal(g_string_replace(refused, "ivan:ivanpw:virtsnap", "ivan:ivanpw:othersvc", 1), 1);
    assert_true(g_file_set_contents(passdb_path, refused->str, -1, NULL));
    g_string_free(refused, TRUE);
    assert_int_equal(session_status(d, ivan), 401);
    assert_int_equal(session_status(d, other), 200);
    assert_true(g_file_set_contents(passdb_path, text, -1, NULL));
    assert_int_equal(session_status(d, ivan), 401); /* ended, not only refused once */
    /* A check that cannot tell (the account database unreadable, as a
     * directory server down) keeps the session. */
    g_autofree char *away = g_strconcat(passdb_path, ".away", NULL);
    assert_int_equal(g_rename(passdb_path, away), 0);
    long while_away = session_status(d, other);
    assert_int_equal(g_rename(away, passdb_path), 0);
    assert_int_equal(while_away, 200);
    assert_int_equal(session_status(d, other), 200);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    assert_true(api_contains(log, "ended the session of user 'ivan'"));
    assert_true(api_contains(log, "could not check the account of user 'heidi' again"));
    /* A session's account whose shadow password is locked after the login
     * ("!" before the hash, as passwd -l leaves it) ends at the next check,
     * though its PAM (pam_matrix here) still takes it: pam_unix's account
     * check looks at expiry dates only. One locked at the login already
     * (PAM did not ask the shadow file) is left to PAM. */
    g_autoptr(VsTestResponse) erin = login_on(d, "erin", "erinpw");
    g_autoptr(VsTestResponse) grace = login_on(d, "grace", "gracepw");
    assert_int_equal(session_status(d, erin), 200);
    assert_true(g_file_set_contents(shadow_path, "erin:!$y$j9T$salt$hash:19000:0:99999:7:::\n"
                                                 "grace:*:19000:0:99999:7:::\n", -1, NULL));
    assert_int_equal(session_status(d, erin), 401);
    assert_int_equal(session_status(d, grace), 200); /* "*" at the login already */
    g_autofree char *log_end = NULL;
    assert_true(g_file_get_contents(d->log_path, &log_end, NULL, NULL));
    assert_true(api_contains(log_end, "ended the session of user 'erin': its password was "
                                      "locked since the login"));
    vs_test_daemon_free(d);
    g_unlink(shadow_path);
}

/* A flood of made-up user names, each failing once, fills the throttle
 * table (4,096 users): the prune forgets those with the fewest failures,
 * not the count of a user whose password is being guessed. */
static void test_throttle_survives_name_flood(void **state)
{
    (void)state;
    SKIP_IF_NO_PAM();
    long status = 0;
    for (int i = 0; i < 3; i++) {
        timed_login("grace", "guess", &status);
        assert_int_equal(status, 401);
    }
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < 4100; i++) {
        g_autofree char *user = g_strdup_printf("flood-%d", i);
        timed_login(user, "x", &status);
        assert_int_equal(status, 401);
    }
    double flood = (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC;
    double after = timed_login("grace", "guess", &status); /* 3 failures: 1 s */
    assert_int_equal(status, 401);
    print_message("4,100 names failed in %.1f s; grace's next attempt took %.3f s\n", flood, after);
    assert_true(after >= 0.9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_basic_remembered),
        cmocka_unit_test(test_login_session),
        cmocka_unit_test(test_login_refused),
        cmocka_unit_test(test_session_expiry),
        cmocka_unit_test(test_login_throttle),
        cmocka_unit_test(test_login_throttle_parallel),
        cmocka_unit_test(test_throttle_survives_name_flood),
        cmocka_unit_test(test_login_flood_bounded),
        cmocka_unit_test(test_sessions_per_user),
        cmocka_unit_test(test_login_group),
        cmocka_unit_test(test_session_limits),
    };
    return vs_test_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}
