/* test_listen.c: unit tests of the --listen parser and of the loopback
 * check that decides whether plain HTTP may be served, and of what a
 * server started on "localhost" in any case binds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void expect_parse(const char *listen, const char *host, int port)
{
    char *h = NULL;
    guint16 p = 0;
    bool ok = vs_listen_parse(listen, &h, &p);
    if (!host) {
        if (ok)
            fail_msg("'%s' parsed as host '%s' port %u", listen, h, p);
        assert_null(h);
        return;
    }
    if (!ok)
        fail_msg("'%s' did not parse", listen);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
    g_free(h);
}

static void test_parse_valid(void **state)
{
    (void)state;
    expect_parse("127.0.0.1:8001", "127.0.0.1", 8001);
    expect_parse("0.0.0.0:443", "0.0.0.0", 443);
    expect_parse("localhost:0", "localhost", 0);
    expect_parse("example.org:65535", "example.org", 65535);
    expect_parse("[::1]:8001", "::1", 8001);
    expect_parse("[fe80::1%eth0]:80", "fe80::1%eth0", 80);
    expect_parse("[::]:1", "::", 1);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    expect_parse("", NULL, 0);
    expect_parse("127.0.0.1", NULL, 0);       /* no port */
    expect_parse("127.0.0.1:", NULL, 0);      /* empty port */
    expect_parse(":8001", NULL, 0);           /* empty host */
    expect_parse("host:http", NULL, 0);
    expect_parse("host:80x", NULL, 0);
    expect_parse("host:65536", NULL, 0);
    expect_parse("host:99999999999999999999", NULL, 0);
    expect_parse("host:-1", NULL, 0);
    expect_parse("[::1]", NULL, 0);           /* the colon is inside the brackets */
    expect_parse("[]:80", NULL, 0);
    expect_parse("[::1:80", NULL, 0);
}

static void test_loopback(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "localhost",
                         "0:0:0:0:0:0:0:1"};
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++)
        if (!vs_listen_is_loopback(yes[i]))
            fail_msg("%s should be loopback", yes[i]);
    const char *no[] = {"0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "128.0.0.1", "126.255.255.255",
                        "::2", "example.org", "localhost.example.org", "", "127.0.0.1x",
                        " 127.0.0.1", "127.1.2", "LOCALHOST.", "fe80::1"};
    for (size_t i = 0; i < G_N_ELEMENTS(no); i++)
        if (vs_listen_is_loopback(no[i]))
            fail_msg("'%s' must not count as loopback", no[i]);
}

/* "localhost" in any case is served plain, and bound to 127.0.0.1 itself
 * (not to what a resolver makes of the name): a client reaches it there. */
static void test_localhost_binds_loopback(void **state)
{
    (void)state;
    VsServerConfig config = {.listen = "LocalHost:0", .web_dir = ".", .max_body = 4096};
    g_autoptr(GError) error = NULL;
    int listen_fd = vs_server_listen(config.listen, &error);
    if (listen_fd < 0)
        fail_msg("not bound: %s", error->message);
    VsServer *srv = vs_server_start(&config, listen_fd, &error);
    if (!srv)
        fail_msg("not started: %s", error->message);
    const char *url = vs_server_url(srv);
    const char *colon = strrchr(url, ':');
    assert_non_null(colon);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((guint16)atoi(colon + 1)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    close(fd);
    vs_server_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_localhost_binds_loopback),
    };
    return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
