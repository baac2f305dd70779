/* test_peer.c: unit tests of peer.c: the key client addresses are counted
 * under (an IPv6 address by its /64, anything else as it is). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/peer.h"

static void expect_key(const char *peer, const char *want)
{
    char key[VS_PEER_KEY_MAX];
    vs_peer_key(peer, key);
    assert_string_equal(key, want);
}

static void test_ipv6_by_its_64(void **state)
{
    (void)state;
    expect_key("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64");
    expect_key("2001:db8:1:2::9", "2001:db8:1:2::/64");
    expect_key("2001:db8:1:3::9", "2001:db8:1:3::/64"); /* the next /64: another key */
    expect_key("fe80::1", "fe80::/64");
    expect_key("::1", "::/64");
    expect_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff::/64");
}

static void test_others_as_given(void **state)
{
    (void)state;
    expect_key("192.0.2.1", "192.0.2.1");
    expect_key("127.0.0.1", "127.0.0.1");
    expect_key("::ffff:192.0.2.1", "::ffff:192.0.2.1"); /* an IPv4 client on a dual socket */
    expect_key("?", "?");
    expect_key(NULL, "?");
    expect_key("not:an:address:zz", "not:an:address:zz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv6_by_its_64),
        cmocka_unit_test(test_others_as_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
