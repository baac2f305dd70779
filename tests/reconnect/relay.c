/* relay.c: the cutting relay of the reconnect tests (relay.h). */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
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
#define TYPE_CALL_WITH_FDS 4u /* the payload starts with the number of descriptors */
#define TYPE_REPLY_WITH_FDS 5u
#define HEADER_BYTES 28u
#define MAX_FDS 16

static struct {
    int listen_fd;
    char *upstream;
    gint cut;   /* VsCut, taken by the first call of proc */
    gint proc;  /* set before cut */
    gint skip;  /* calls of proc to let through first */
    gint cuts; /* connections cut */
    gint hold; /* close new connections after a cut */
    gint away; /* ... and one has happened */
    GMutex hold_lock; /* hold and away change together */
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

typedef enum { PASSED, CUT, BROKEN } Passing;

/* What the client sent that is not passed on yet. A call with descriptors
 * is followed by one byte per descriptor, each sent with its descriptor
 * (libvirt's virNetSocketSendFD): those bytes go on with theirs. */
typedef struct {
    GByteArray *bytes;
    GArray *fds;     /* received, in order */
    guint dummies;   /* bytes still to pass, each with a descriptor */
} Upstream;

/* Reads what the client sent, descriptors included; false at its end. */
static bool read_client(int client, Upstream *up)
{
    guint8 chunk[65536];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = chunk, .iov_len = sizeof chunk};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(client, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            g_array_append_vals(up->fds, CMSG_DATA(c), (c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    g_byte_array_append(up->bytes, chunk, (guint)n);
    return true;
}

/* Sends one byte with the oldest descriptor received. */
static bool send_with_fd(int server, guint8 byte, Upstream *up)
{
    if (up->fds->len == 0)
        return false;
    int fd = g_array_index(up->fds, int, 0);
    g_array_remove_index(up->fds, 0);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control = {0};
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    bool sent = sendmsg(server, &msg, MSG_NOSIGNAL) == 1;
    close(fd);
    return sent;
}

/* Counts message M (libvirtd → client) against *OUTSTANDING, the calls
 * passed whose reply has not come back. */
static void count_reply(const guint8 *m, int *outstanding)
{
    guint32 type = word(m, 4);
    if (type == TYPE_REPLY || type == TYPE_REPLY_WITH_FDS)
        (*outstanding)--;
}

/* Once the client's side is closed (a cut): libvirtd's replies to the calls
 * still running are read and dropped (DOWNSTREAM holds what came of them
 * already), for up to 10 s, before its side is closed. libvirtd 9.0 closes
 * a client whose call is running from two threads at once (its main loop
 * on the end of file, and the worker whose reply cannot be sent), and its
 * remoteClientCloseFunc, unlocked, then crashed now and then (a segfault;
 * test_create_define_cut's 503 about once in 30 runs, session 24). */
static void drain_replies(int server, GByteArray *downstream, int outstanding)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    guint8 chunk[65536];
    for (;;) {
        gsize len;
        while ((len = message_length(downstream)) > 0) {
            count_reply(downstream->data, &outstanding);
            g_byte_array_remove_range(downstream, 0, (guint)len);
        }
        int left_ms = (int)((deadline - g_get_monotonic_time()) / 1000);
        struct pollfd p = {.fd = server, .events = POLLIN};
        if (outstanding <= 0)
            return;
        if (left_ms <= 0 || poll(&p, 1, left_ms) <= 0) { /* (the close libvirtd 9.0 may crash on) */
            fprintf(stderr, "relay: closing libvirtd's side with %d call(s) still running\n",
                    outstanding);
            return;
        }
        ssize_t n = read(server, chunk, sizeof chunk);
        if (n <= 0)
            return;
        g_byte_array_append(downstream, chunk, (guint)n);
    }
}

/* Passes on what UP holds (client → libvirtd): whole messages, unless the
 * armed cut says otherwise, and descriptors with their bytes. *HOLDING: a
 * call passed whose reply is held. *OUTSTANDING counts the calls passed. */
static Passing pass_calls(Upstream *up, int server, bool *holding, int *outstanding)
{
    for (;;) {
        if (up->dummies > 0 && up->bytes->len > 0) {
            if (!send_with_fd(server, up->bytes->data[0], up))
                return BROKEN;
            g_byte_array_remove_range(up->bytes, 0, 1);
            up->dummies--;
            continue;
        }
        gsize len = up->dummies == 0 ? message_length(up->bytes) : 0;
        if (len == 0)
            return PASSED;
        const guint8 *m = up->bytes->data;
        int cut = VS_CUT_NONE;
        int armed = g_atomic_int_get(&relay.cut);
        if (is_armed_proc(m, TYPE_CALL) && armed != VS_CUT_NONE &&
            g_atomic_int_add(&relay.skip, -1) <= 0 &&
            g_atomic_int_compare_and_exchange(&relay.cut, armed, VS_CUT_NONE))
            cut = armed; /* one connection takes it */
        if (cut == VS_CUT_BEFORE)
            return CUT;
        if (word(m, 4) == TYPE_CALL_WITH_FDS && len >= HEADER_BYTES + 4)
            up->dummies = word(m, HEADER_BYTES / 4);
        if (!write_all(server, m, len))
            return BROKEN;
        if (word(m, 4) == TYPE_CALL || word(m, 4) == TYPE_CALL_WITH_FDS)
            (*outstanding)++;
        g_byte_array_remove_range(up->bytes, 0, (guint)len);
        if (cut == VS_CUT_AFTER_CALL)
            return CUT;
        *holding = *holding || cut == VS_CUT_AFTER_REPLY;
    }
}

/* Relays one client connection until either side closes or it is cut. */
static gpointer relay_connection(gpointer data)
{
    int client = GPOINTER_TO_INT(data);
    int server = connect_upstream();
    if (server < 0) /* a failure to explain (libvirtd gone?) */
        fprintf(stderr, "relay: cannot connect to %s: %s\n", relay.upstream, g_strerror(errno));
    Upstream up = {.bytes = g_byte_array_new(), .fds = g_array_new(FALSE, FALSE, sizeof(int))};
    /* libvirtd → client: passed on a whole message at a time (held once a
     * reply is held), each reply counted against OUTSTANDING. */
    g_autoptr(GByteArray) downstream = g_byte_array_new();
    bool holding = false, open = server >= 0, cut = false;
    int outstanding = 0;
    guint8 chunk[65536];
    while (open && !cut) {
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            Passing passing = read_client(client, &up)
                                  ? pass_calls(&up, server, &holding, &outstanding)
                                  : BROKEN;
            cut = passing == CUT;
            open = passing != BROKEN;
        }
        if (open && !cut && fds[1].revents) {
            ssize_t n = read(server, chunk, sizeof chunk);
            open = n > 0;
            if (open)
                g_byte_array_append(downstream, chunk, (guint)n);
            gsize len;
            while (open && !cut && (len = message_length(downstream)) > 0) {
                count_reply(downstream->data, &outstanding);
                if (holding)
                    cut = is_armed_proc(downstream->data, TYPE_REPLY);
                else
                    open = write_all(client, downstream->data, len);
                g_byte_array_remove_range(downstream, 0, (guint)len);
            }
        }
    }
    close(client); /* the cut, as virtsnapd sees it */
    if (cut) {
        /* Under the lock: a hold ended meanwhile must not be undone. */
        g_mutex_lock(&relay.hold_lock);
        g_atomic_int_set(&relay.away, g_atomic_int_get(&relay.hold));
        g_mutex_unlock(&relay.hold_lock);
        g_atomic_int_inc(&relay.cuts);
    }
    if (server >= 0) { /* (a client that closed by itself may have had calls running too) */
        drain_replies(server, downstream, outstanding);
        close(server);
    }
    for (guint i = 0; i < up.fds->len; i++)
        close(g_array_index(up.fds, int, i));
    g_array_unref(up.fds);
    g_byte_array_unref(up.bytes);
    return NULL;
}

static gpointer relay_accept(gpointer data)
{
    (void)data;
    for (;;) {
        int client = accept4(relay.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0 && (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
                           errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            fprintf(stderr, "relay: accept: %s (going on)\n", g_strerror(errno));
            g_usleep(100000); /* a lasting one prints ten lines a second */
            continue;
        }
        if (client < 0) { /* the listening socket was shut down (EINVAL) */
            if (errno != EINVAL)
                fprintf(stderr, "relay: accept: %s: no more connections\n", g_strerror(errno));
            return NULL;
        }
        if (g_atomic_int_get(&relay.away)) {
            close(client);
            continue;
        }
        g_thread_unref(g_thread_new("relay", relay_connection, GINT_TO_POINTER(client)));
    }
}

void vs_relay_start(const char *path, const char *upstream)
{
    /* A side that closed while the other still sends (an event libvirtd
     * sends to a client the relay has just cut) ends that connection, not
     * the test program: a write there failed with SIGPIPE, which killed a
     * clean-clone make check's broken-call run (session 19). */
    signal(SIGPIPE, SIG_IGN);
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

void vs_relay_arm_nth(VsCut cut, unsigned proc, int nth)
{
    g_atomic_int_set(&relay.proc, (gint)proc);
    g_atomic_int_set(&relay.skip, nth - 1);
    g_atomic_int_set(&relay.cut, cut);
}

void vs_relay_arm(VsCut cut, unsigned proc) { vs_relay_arm_nth(cut, proc, 1); }
void vs_relay_hold_after_cut(bool hold)
{
    g_mutex_lock(&relay.hold_lock);
    g_atomic_int_set(&relay.hold, hold);
    if (!hold)
        g_atomic_int_set(&relay.away, 0);
    g_mutex_unlock(&relay.hold_lock);
}

bool vs_relay_armed(void) { return g_atomic_int_get(&relay.cut) != VS_CUT_NONE; }
int vs_relay_cuts(void) { return g_atomic_int_get(&relay.cuts); }
