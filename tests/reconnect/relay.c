/* relay.c: the cutting relay of the reconnect tests (relay.h). */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* libvirt's RPC framing (src/rpc/virnetprotocol.x, src/remote/remote_protocol.x):
 * a 4-byte big-endian length that counts itself, then program, version,
 * procedure, type, serial and status, 4 bytes each. */
#define REMOTE_PROGRAM 0x20008086u
#define TYPE_CALL 0u
#define TYPE_REPLY 1u
#define HEADER_BYTES 28u

static struct {
    int listen_fd;
    char *upstream;
    gint cut;   /* VsCut, taken by the first call of proc */
    gint proc;  /* set before cut */
    gint cuts; /* connections cut */
    gint hold; /* close new connections after a cut */
    gint away; /* ... and one has happened */
} relay = {.listen_fd = -1};

static guint32 word(const guint8 *p, guint index)
{
    guint32 v;
    memcpy(&v, p + 4 * index, sizeof v);
    return ntohl(v);
}

static bool write_all(int fd, const guint8 *p, gsize n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (gsize)w;
    }
    return true;
}

/* A whole message at the front of BUF: its length, else 0. */
static gsize message_length(const GByteArray *buf)
{
    if (buf->len < 4)
        return 0;
    gsize len = word(buf->data, 0);
    return len >= HEADER_BYTES && buf->len >= len ? len : 0;
}

static bool is_armed_proc(const guint8 *m, guint32 type)
{
    return word(m, 1) == REMOTE_PROGRAM && word(m, 3) == (guint32)g_atomic_int_get(&relay.proc) &&
           word(m, 4) == type;
}

static int connect_upstream(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, relay.upstream, sizeof addr.sun_path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Passes on the whole messages in UPSTREAM (client → libvirtd); false once
 * the connection is to be cut. *HOLDING: a call passed whose reply is held. */
static bool pass_calls(GByteArray *upstream, int server, bool *holding)
{
    gsize len;
    while ((len = message_length(upstream)) > 0) {
        int cut = VS_CUT_NONE;
        if (is_armed_proc(upstream->data, TYPE_CALL)) {
            cut = g_atomic_int_get(&relay.cut);
            g_atomic_int_set(&relay.cut, VS_CUT_NONE);
        }
        if (cut == VS_CUT_BEFORE || !write_all(server, upstream->data, len))
            return false;
        g_byte_array_remove_range(upstream, 0, (guint)len);
        if (cut == VS_CUT_AFTER_CALL)
            return false;
        *holding = *holding || cut == VS_CUT_AFTER_REPLY;
    }
    return true;
}

/* Relays one client connection until either side closes or it is cut. */
static gpointer relay_connection(gpointer data)
{
    int client = GPOINTER_TO_INT(data);
    int server = connect_upstream();
    g_autoptr(GByteArray) upstream = g_byte_array_new();   /* client → libvirtd */
    g_autoptr(GByteArray) downstream = g_byte_array_new(); /* libvirtd → client, once held */
    bool holding = false, open = server >= 0, cut = false;
    guint8 chunk[65536];
    while (open && !cut) {
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            ssize_t n = read(client, chunk, sizeof chunk);
            open = n > 0;
            if (open)
                g_byte_array_append(upstream, chunk, (guint)n);
            cut = open && !pass_calls(upstream, server, &holding);
        }
        if (open && !cut && fds[1].revents) {
            ssize_t n = read(server, chunk, sizeof chunk);
            open = n > 0;
            if (open && !holding)
                open = write_all(client, chunk, (gsize)n);
            else if (open)
                g_byte_array_append(downstream, chunk, (guint)n);
            gsize len;
            while (holding && !cut && (len = message_length(downstream)) > 0) {
                cut = is_armed_proc(downstream->data, TYPE_REPLY);
                g_byte_array_remove_range(downstream, 0, (guint)len);
            }
        }
    }
    if (cut) {
        g_atomic_int_set(&relay.away, g_atomic_int_get(&relay.hold));
        g_atomic_int_inc(&relay.cuts);
    }
    if (server >= 0)
        close(server);
    close(client);
    return NULL;
}

static gpointer relay_accept(gpointer data)
{
    (void)data;
    for (;;) {
        int client = accept4(relay.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            return NULL; /* the listening socket was shut down */
        if (g_atomic_int_get(&relay.away)) {
            close(client);
            continue;
        }
        g_thread_unref(g_thread_new("relay", relay_connection, GINT_TO_POINTER(client)));
    }
}

void vs_relay_start(const char *path, const char *upstream)
{
    relay.upstream = g_strdup(upstream);
    relay.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, path, sizeof addr.sun_path);
    if (bind(relay.listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(relay.listen_fd, 16) != 0)
        g_error("relay: cannot listen on %s: %s", path, g_strerror(errno));
    g_thread_unref(g_thread_new("relay-accept", relay_accept, NULL));
}

void vs_relay_stop(void)
{
    if (relay.listen_fd >= 0)
        shutdown(relay.listen_fd, SHUT_RDWR);
}

void vs_relay_arm(VsCut cut, unsigned proc)
{
    g_atomic_int_set(&relay.proc, (gint)proc);
    g_atomic_int_set(&relay.cut, cut);
}
void vs_relay_hold_after_cut(bool hold)
{
    g_atomic_int_set(&relay.hold, hold);
    if (!hold)
        g_atomic_int_set(&relay.away, 0);
}

bool vs_relay_armed(void) { return g_atomic_int_get(&relay.cut) != VS_CUT_NONE; }
int vs_relay_cuts(void) { return g_atomic_int_get(&relay.cuts); }
