/* peer.h: the key a client address is counted under where connections and
 * password checks are bounded per client (watchdog.c, auth.c): an IPv4
 * address as it is, an IPv6 address by its /64 (a host is commonly given a
 * whole /64, so counting each of its addresses apart would bound nothing). */
#pragma once
#include <glib.h>
#include <netinet/in.h>

/* Long enough for any key: an IPv6 text and "/64". */
#define VS_PEER_KEY_MAX (INET6_ADDRSTRLEN + 4)

/* PEER's key in OUT: "2001:db8:1:2::/64" for any address of that /64;
 * an IPv4 address, an IPv4-mapped one, "?" or anything not an address as
 * given; NULL as "?". */
void vs_peer_key(const char *peer, char out[VS_PEER_KEY_MAX]);

/* Adds CHANGE (+1 or -1) to KEY's count in COUNTS (key → guint as a
 * pointer, string keys freed with g_free; a count of 0 is no entry);
 * the new count. The caller holds the lock that guards COUNTS. */
guint vs_peer_count(GHashTable *counts, const char *key, int change);
