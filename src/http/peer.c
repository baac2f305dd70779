/* peer.c: the key a client address is counted under (peer.h). */
#include "peer.h"

#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

void vs_peer_key(const char *peer, char out[VS_PEER_KEY_MAX])
{
    struct in6_addr addr;
    char text[INET6_ADDRSTRLEN];
    if (peer && strchr(peer, ':') && inet_pton(AF_INET6, peer, &addr) == 1 &&
        !IN6_IS_ADDR_V4MAPPED(&addr)) {
        memset(addr.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &addr, text, sizeof text)) {
            g_snprintf(out, VS_PEER_KEY_MAX, "%s/64", text);
            return;
        }
    }
    g_strlcpy(out, peer ? peer : "?", VS_PEER_KEY_MAX);
}

guint vs_peer_count(GHashTable *counts, const char *key, int change)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(counts, key)) + (guint)change;
    if (n)
        g_hash_table_replace(counts, g_strdup(key), GUINT_TO_POINTER(n));
    else
        g_hash_table_remove(counts, key);
    return n;
}
