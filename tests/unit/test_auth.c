/* test_auth.c: unit tests of the authentication helpers: Bearer and Basic
 * header parsing, the session cookie, the constant-time comparison, the
 * login throttle's delays, token checks through vs_auth_check (no PAM) and
 * who may log in (the system's own accounts and groups). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "http/auth.h"

static void expect_bearer(const char *header, const char *want)
{
    g_autofree char *got = vs_auth_parse_bearer(header);
    if (!want) {
        if (got)
            fail_msg("'%s' gave token '%s'", header ? header : "(null)", got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void test_bearer(void **state)
{
    (void)state;
    expect_bearer("Bearer abc123", "abc123");
    expect_bearer("bearer abc123", "abc123"); /* the scheme is case-insensitive */
    expect_bearer("BEARER abc123", "abc123");
    expect_bearer("Bearer    abc123   ", "abc123");
    expect_bearer("Bearer a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=");
    expect_bearer(NULL, NULL);
    expect_bearer("", NULL);
    expect_bearer("Bearer", NULL);
    expect_bearer("Bearer ", NULL);
    expect_bearer("Bearer     ", NULL);
    expect_bearer("Bearerabc", NULL);
    expect_bearer("Basic abc", NULL);
    expect_bearer("Token abc", NULL);
    expect_bearer(" Bearer abc", NULL);
}

/* Basic with the base64 of RAW (RAW_LEN bytes). */
static char *basic_of(const char *raw, size_t raw_len)
{
    g_autofree char *b64 = g_base64_encode((const guchar *)raw, raw_len);
    return g_strconcat("Basic ", b64, NULL);
}

static void expect_basic(const char *header, const char *user, const char *password)
{
    char *u = NULL, *p = NULL;
    bool ok = vs_auth_parse_basic(header, &u, &p);
    if (!user) {
        if (ok)
            fail_msg("'%s' parsed as user '%s'", header ? header : "(null)", u);
        assert_null(u);
        assert_null(p);
        return;
    }
    if (!ok)
        fail_msg("'%s' did not parse", header);
    assert_string_equal(u, user);
    assert_string_equal(p, password);
    g_free(u);
    g_free(p);
}

static void test_basic_valid(void **state)
{
    (void)state;
    expect_basic("Basic YWxpY2U6czNjcmV0", "alice", "s3cret"); /* alice:s3cret */
    expect_basic("basic YWxpY2U6czNjcmV0", "alice", "s3cret");
    expect_basic("Basic   YWxpY2U6czNjcmV0  ", "alice", "s3cret");
    g_autofree char *colons = basic_of("bob:pa:ss:", 10);
    expect_basic(colons, "bob", "pa:ss:"); /* the first colon splits */
    g_autofree char *empty_pw = basic_of("carol:", 6);
    expect_basic(empty_pw, "carol", "");
    g_autofree char *utf8 = basic_of("пeω:∨м", strlen("пeω:∨м"));
    expect_basic(utf8, "пeω", "∨м");
    g_autofree char *spaces = basic_of("d a:p w", 7);
    expect_basic(spaces, "d a", "p w");
}

static void test_basic_malformed(void **state)
{
    (void)state;
    expect_basic(NULL, NULL, NULL);
    expect_basic("", NULL, NULL);
    expect_basic("Basic", NULL, NULL);
    expect_basic("Basic ", NULL, NULL);
    expect_basic("Bearer YWxpY2U6czNjcmV0", NULL, NULL);
    expect_basic("BasicYWxpY2U6czNjcmV0", NULL, NULL);
    /* not base64 at all */
    expect_basic("Basic !!!!", NULL, NULL);
    expect_basic("Basic ====", NULL, NULL);
    /* base64 with junk around or inside it */
    expect_basic("Basic %%%%YWxpY2U6cHc=", NULL, NULL);
    expect_basic("Basic YWxpY2U6cHc=garbage", NULL, NULL);
    expect_basic("Basic YWxp Y2U6cHc=", NULL, NULL);
    expect_basic("Basic YWxpY2U6cHc=\"", NULL, NULL);
    /* truncated (no padding: 11 characters) */
    expect_basic("Basic YWxpY2U6cHc", NULL, NULL);
    /* missing colon */
    g_autofree char *no_colon = basic_of("alice", 5);
    expect_basic(no_colon, NULL, NULL);
    /* empty user */
    g_autofree char *no_user = basic_of(":secret", 7);
    expect_basic(no_user, NULL, NULL);
    /* NUL inside user or password */
    g_autofree char *nul_user = basic_of("al\0ice:pw", 9);
    expect_basic(nul_user, NULL, NULL);
    g_autofree char *nul_pw = basic_of("alice:p\0w", 9);
    expect_basic(nul_pw, NULL, NULL);
    /* invalid UTF-8 */
    g_autofree char *latin1 = basic_of("j\xf6rg:pw", 7);
    expect_basic(latin1, NULL, NULL);
    /* longer than a login may give: a user name of 257 bytes, a password of
     * 1025 (never kept by the throttle, nor logged); 256 and 1024 pass */
    g_autofree char *name = g_strnfill(VS_AUTH_MAX_USER, 'u');
    g_autofree char *word = g_strnfill(VS_AUTH_MAX_PASSWORD, 'p');
    g_autofree char *longest = g_strdup_printf("%s:%s", name, word);
    g_autofree char *fits = basic_of(longest, strlen(longest));
    expect_basic(fits, name, word);
    g_autofree char *long_user = g_strdup_printf("u%s:pw", name);
    g_autofree char *too_long_user = basic_of(long_user, strlen(long_user));
    expect_basic(too_long_user, NULL, NULL);
    g_autofree char *long_word = g_strdup_printf("alice:%sp", word);
    g_autofree char *too_long_word = basic_of(long_word, strlen(long_word));
    expect_basic(too_long_word, NULL, NULL);
}

/* WANT: the values expected, separated by '|', or NULL for none. */
static void expect_cookie(const char *header, const char *want)
{
    g_auto(GStrv) got = vs_auth_cookie_values(header, VS_SESSION_COOKIE);
    g_autofree char *joined = g_strjoinv("|", got);
    if (!want) {
        if (got[0])
            fail_msg("'%s' gave '%s'", header ? header : "(null)", joined);
        return;
    }
    assert_string_equal(joined, want);
}

static void test_cookie_value(void **state)
{
    (void)state;
    expect_cookie("virtsnap_session=abc", "abc");
    expect_cookie("a=1; virtsnap_session=abc; b=2", "abc");
    expect_cookie("a=1;virtsnap_session=abc", "abc");
    expect_cookie("virtsnap_session_old=1; virtsnap_session=new", "new");
    /* a planted one first (a longer Path), the real one after: both */
    expect_cookie("virtsnap_session=first; virtsnap_session=second", "first|second");
    expect_cookie("virtsnap_session=1; virtsnap_session=2; virtsnap_session=3; "
                  "virtsnap_session=4; virtsnap_session=5; virtsnap_session=6; "
                  "virtsnap_session=7; virtsnap_session=8; virtsnap_session=9",
                  "1|2|3|4|5|6|7|8"); /* at most VS_MAX_SESSION_COOKIES */
    expect_cookie("virtsnap_session=", "");
    expect_cookie(NULL, NULL);
    expect_cookie("", NULL);
    expect_cookie("a=1; b=2", NULL);
    expect_cookie("xvirtsnap_session=abc", NULL);
    expect_cookie("virtsnap_session", NULL);
    expect_cookie("virtsnap_sessionabc", NULL);
    expect_cookie("VIRTSNAP_SESSION=abc", NULL); /* cookie names are case-sensitive */
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(vs_auth_equal("", ""));
    assert_true(vs_auth_equal("secret-token", "secret-token"));
    assert_false(vs_auth_equal("secret-token", "secret-tokeN"));
    assert_false(vs_auth_equal("Secret-token", "secret-token"));
    assert_false(vs_auth_equal("secret", "secret-token"));
    assert_false(vs_auth_equal("secret-token", "secret"));
    assert_false(vs_auth_equal("", "x"));
    assert_false(vs_auth_equal("x", ""));
    /* the same bytes at the start never make a longer/shorter string equal */
    assert_false(vs_auth_equal("aaaa", "aaa"));
    assert_false(vs_auth_equal("aaa", "aaaa"));
}

static void test_delay(void **state)
{
    (void)state;
    assert_int_equal(vs_auth_delay_ms(0), 0);
    assert_true(vs_auth_delay_ms(1) > 0);
    guint prev = 0;
    for (guint f = 1; f < 64; f++) {
        guint d = vs_auth_delay_ms(f);
        assert_true(d >= prev);   /* it never shrinks */
        assert_true(d <= 5000);   /* and it is capped */
        prev = d;
    }
    /* it grows while below the cap: doubling */
    assert_int_equal(vs_auth_delay_ms(2), 2 * vs_auth_delay_ms(1));
    assert_int_equal(vs_auth_delay_ms(3), 2 * vs_auth_delay_ms(2));
    assert_true(vs_auth_delay_ms(5) > vs_auth_delay_ms(4));
    /* the cap is reached and holds, even for absurd counts */
    assert_int_equal(vs_auth_delay_ms(20), 5000);
    assert_int_equal(vs_auth_delay_ms(1000), 5000);
    assert_int_equal(vs_auth_delay_ms(G_MAXUINT), 5000);
}

static void test_cookie_header(void **state)
{
    (void)state;
    g_autofree char *plain = vs_auth_cookie_header("abc", false);
    assert_non_null(strstr(plain, VS_SESSION_COOKIE "=abc;"));
    assert_non_null(strstr(plain, "HttpOnly"));
    assert_non_null(strstr(plain, "SameSite=Strict"));
    assert_null(strstr(plain, "Secure;"));
    assert_false(g_str_has_suffix(plain, "Secure"));
    assert_null(strstr(plain, "Max-Age=0"));
    g_autofree char *tls = vs_auth_cookie_header("abc", true);
    assert_non_null(strstr(tls, "; Secure"));
    g_autofree char *clear = vs_auth_cookie_header("", false);
    assert_non_null(strstr(clear, VS_SESSION_COOKIE "=;"));
    assert_non_null(strstr(clear, "Max-Age=0"));
}

/* Token checks through vs_auth_check (Basic would need PAM: not here). */
static void test_check_token(void **state)
{
    (void)state;
    VsAuthConfig config = {.token = "0123456789abcdef0123456789abcdef",
                           .pam_service = "virtsnap-unit-test", .session_ttl = 60};
    vs_auth_init(&config);
    VsAuthKind kind = VS_AUTH_SESSION;
    g_autofree char *who =
        vs_auth_check("Bearer 0123456789abcdef0123456789abcdef", NULL, NULL, NULL, &kind);
    assert_non_null(who);
    assert_string_equal(who, "token");
    assert_int_equal(kind, VS_AUTH_TOKEN);

    kind = VS_AUTH_TOKEN;
    assert_null(vs_auth_check("Bearer 0123456789abcdef0123456789abcdeF", NULL, NULL, NULL, &kind));
    assert_int_equal(kind, VS_AUTH_NONE);
    assert_null(vs_auth_check("Bearer 0123456789abcdef", NULL, NULL, NULL, &kind));
    assert_null(vs_auth_check("Bearer 0123456789abcdef0123456789abcdef0", NULL, NULL, NULL, &kind));
    assert_null(vs_auth_check(NULL, NULL, NULL, NULL, &kind));
    assert_int_equal(kind, VS_AUTH_NONE);
    /* an unknown session id proves nothing, nor does a wrong bearer with a cookie */
    assert_null(vs_auth_check(NULL, VS_SESSION_COOKIE "=deadbeef", NULL, NULL, &kind));
    assert_int_equal(kind, VS_AUTH_NONE);
    assert_null(vs_auth_check("Bearer wrong", VS_SESSION_COOKIE "=deadbeef", NULL, NULL, &kind));
    vs_auth_logout(VS_SESSION_COOKIE "=deadbeef", "key"); /* unknown: harmless */
}

/* A shadow hash that passwd -l locked, or none: sessions of such accounts
 * end (when it was not so at their login). */
static void test_hash_locked(void **state)
{
    (void)state;
    assert_true(vs_auth_hash_locked("!$y$j9T$salt$hash")); /* passwd -l */
    assert_true(vs_auth_hash_locked("!"));
    assert_true(vs_auth_hash_locked("*"));
    assert_true(vs_auth_hash_locked("!*"));
    assert_false(vs_auth_hash_locked("$y$j9T$salt$hash"));
    assert_false(vs_auth_hash_locked("")); /* no password: PAM's to refuse (nullok or not) */
    assert_false(vs_auth_hash_locked(NULL));
}

/* Debian's own accounts: root (uid 0), daemon (group daemon), nobody
 * (group nogroup). */
static void test_user_allowed(void **state)
{
    (void)state;
    assert_true(vs_auth_user_allowed("root", "no-such-group-vs"));
    assert_true(vs_auth_user_allowed("nobody", "nogroup"));   /* its primary group */
    assert_false(vs_auth_user_allowed("daemon", "nogroup"));
    assert_false(vs_auth_user_allowed("nobody", "no-such-group-vs"));
    assert_false(vs_auth_user_allowed("no-such-user-vs", "nogroup"));
    assert_true(vs_auth_user_allowed("no-such-user-vs", "")); /* "": PAM alone decides */
    /* A supplementary member, where the system has one. */
    setgrent();
    struct group *g;
    while ((g = getgrent())) {
        for (char **m = g->gr_mem; *m; m++) {
            struct passwd *pw = getpwnam(*m);
            if (!pw || pw->pw_uid == 0 || pw->pw_gid == g->gr_gid)
                continue;
            g_autofree char *user = g_strdup(*m), *group = g_strdup(g->gr_name);
            endgrent();
            print_message("supplementary: %s in %s\n", user, group);
            assert_true(vs_auth_user_allowed(user, group));
            return;
        }
    }
    endgrent();
    print_message("no supplementary group member on this system\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_basic_valid),
        cmocka_unit_test(test_basic_malformed),
        cmocka_unit_test(test_cookie_value),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_cookie_header),
        cmocka_unit_test(test_check_token),
        cmocka_unit_test(test_hash_locked),
        cmocka_unit_test(test_user_allowed),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
