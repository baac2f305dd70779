/* test_watchdog.c: unit tests of watchdog.c's closing for the crowd, on
 * socket pairs standing for connections: past the crowd, each new one
 * closes a connection waiting for a request (the oldest of the address
 * holding the most, else the oldest), never one being served nor itself;
 * a closed one is told busy no more. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/watchdog.h"

#define MAX_CONNS 16

typedef struct {
    int ours[MAX_CONNS];  /* the daemon's side, watched */
    int peer[MAX_CONNS];  /* the client's side */
    VsWatched *watched[MAX_CONNS];
    int n;
} Conns;

static int connect_one(VsWatchdog *w, Conns *c, const char *address)
{
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    int i = c->n++;
    c->ours[i] = pair[0];
    c->peer[i] = pair[1];
    c->watched[i] = vs_watchdog_add(w, pair[0], address);
    assert_non_null(c->watched[i]);
    g_usleep(2000); /* each waits from a later time than the one before */
    return i;
}

/* Whether connection I was shut down (its client reads the end). */
static bool shut(const Conns *c, int i)
{
    char byte;
    return recv(c->peer[i], &byte, 1, MSG_DONTWAIT) == 0;
}

static void close_all(VsWatchdog *w, Conns *c)
{
    for (int i = 0; i < c->n; i++) {
        vs_watchdog_remove(w, c->watched[i]);
        close(c->ours[i]);
        close(c->peer[i]);
    }
    vs_watchdog_free(w);
}

static void test_oldest_of_the_busiest_address(void **state)
{
    (void)state;
    VsWatchdog *w = vs_watchdog_new(60, 4);
    Conns c = {.n = 0};
    int lone = connect_one(w, &c, "192.0.2.9");   /* the oldest of all */
    int a1 = connect_one(w, &c, "192.0.2.1");
    int a2 = connect_one(w, &c, "192.0.2.1");
    int b1 = connect_one(w, &c, "192.0.2.2");     /* 4 open: the crowd, nothing closed */
    for (int i = 0; i < c.n; i++)
        assert_false(shut(&c, i));
    int a3 = connect_one(w, &c, "192.0.2.1");     /* 5: 192.0.2.1 holds the most */
    assert_true(shut(&c, a1));
    assert_false(shut(&c, lone) || shut(&c, a2) || shut(&c, b1) || shut(&c, a3));
    assert_false(vs_watchdog_busy(w, c.watched[a1])); /* its request must not run */
    assert_true(vs_watchdog_busy(w, c.watched[a2]));  /* being served from now on */
    int b2 = connect_one(w, &c, "192.0.2.2");
    /* 192.0.2.1 and .2 hold two open each: of their waiting ones, the
     * oldest (b1, older than a3; a2 is being served and never closed; the
     * lone one, older than both, holds less). */
    assert_true(shut(&c, b1));
    assert_false(shut(&c, a2) || shut(&c, a3) || shut(&c, b2) || shut(&c, lone));
    close_all(w, &c);
}

static void test_oldest_when_each_address_holds_one(void **state)
{
    (void)state;
    VsWatchdog *w = vs_watchdog_new(60, 3);
    Conns c = {.n = 0};
    int first = connect_one(w, &c, "2001:db8:1::1");
    int second = connect_one(w, &c, "2001:db8:2::1");
    int third = connect_one(w, &c, "2001:db8:3::1");
    int fourth = connect_one(w, &c, "2001:db8:4::1");
    assert_true(shut(&c, first));
    assert_false(shut(&c, second) || shut(&c, third) || shut(&c, fourth));
    /* Addresses of one /64 count as one client: the newcomer's /64 holds
     * two now, so its older one goes, not the oldest of all (second). */
    int fifth = connect_one(w, &c, "2001:db8:4::2");
    assert_true(shut(&c, fourth));
    assert_false(shut(&c, second) || shut(&c, third) || shut(&c, fifth));
    close_all(w, &c);
}

static void test_served_ones_and_the_newcomer_stay(void **state)
{
    (void)state;
    VsWatchdog *w = vs_watchdog_new(60, 2);
    Conns c = {.n = 0};
    int a = connect_one(w, &c, "198.51.100.1");
    int b = connect_one(w, &c, "198.51.100.1");
    assert_true(vs_watchdog_busy(w, c.watched[a]));
    assert_true(vs_watchdog_busy(w, c.watched[b]));
    /* Every other one is being served: the newcomer stays, over the crowd. */
    int n = connect_one(w, &c, "198.51.100.1");
    assert_false(shut(&c, a) || shut(&c, b) || shut(&c, n));
    /* Once a's request ended it waits again, and the next newcomer closes
     * it (the only one waiting but the newcomer). */
    vs_watchdog_idle(w, c.watched[a]);
    vs_watchdog_busy(w, c.watched[n]);
    int m = connect_one(w, &c, "198.51.100.1");
    assert_true(shut(&c, a));
    assert_false(shut(&c, b) || shut(&c, n) || shut(&c, m));
    /* A connection removed after it was shut is not counted out twice:
     * with a, b, n, m watched and a shut, three are open, one over. */
    vs_watchdog_remove(w, c.watched[a]);
    c.watched[a] = NULL;
    int k = connect_one(w, &c, "198.51.100.1"); /* four open: m, the only waiting one, goes */
    assert_true(shut(&c, m));
    assert_false(shut(&c, b) || shut(&c, n) || shut(&c, k));
    close_all(w, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oldest_of_the_busiest_address),
        cmocka_unit_test(test_oldest_when_each_address_holds_one),
        cmocka_unit_test(test_served_ones_and_the_newcomer_stay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
