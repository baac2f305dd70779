/* test_broken_call.c: a snapshot create whose libvirt call breaks off with
 * the connection is settled once the connection is back, not left unknown.
 * virtsnapd talks to a private libvirtd (test:///default) through a relay
 * in this program that can cut the connection at libvirt's
 * DomainSnapshotCreateXML call: after libvirtd has made the snapshot and
 * before it has, exactly the two outcomes a lost link or a libvirtd
 * restart can leave. The task must then report what happened: finished
 * with the snapshot under its name, or failed with nothing of it left. */
#include "harness.h"
#include "libvirtd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* libvirt's RPC framing (src/rpc/virnetprotocol.x, src/remote/remote_protocol.x):
 * a 4-byte big-endian length that counts itself, then program, version,
 * procedure, type, serial and status, 4 bytes each. */
#define REMOTE_PROGRAM 0x20008086u
#define PROC_SNAPSHOT_CREATE_XML 185u
#define TYPE_CALL 0u
#define TYPE_REPLY 1u
#define HEADER_BYTES 28u

typedef enum {
    CUT_NONE,
    CUT_BEFORE, /* drop the call: libvirtd never sees it */
    CUT_AFTER,  /* pass the call, wait for libvirtd's reply, drop it */
} CutMode;

static struct {
    int listen_fd;
    char *path;
    gint mode; /* CutMode, taken by the first matching call */
    gint cuts; /* how many connections were cut */
} relay;

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

static bool is_snapshot_create(const guint8 *m, guint32 type)
{
    return word(m, 1) == REMOTE_PROGRAM && word(m, 3) == PROC_SNAPSHOT_CREATE_XML &&
           word(m, 4) == type;
}

/* Relays one client connection; returns when either side closes or the
 * connection is cut. */
static gpointer relay_connection(gpointer data)
{
    int client = GPOINTER_TO_INT(data);
    int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, vs_libvirtd_socket(), sizeof addr.sun_path);
    bool open = connect(server, (struct sockaddr *)&addr, sizeof addr) == 0;
    g_autoptr(GByteArray) upstream = g_byte_array_new();   /* client → libvirtd */
    g_autoptr(GByteArray) downstream = g_byte_array_new(); /* libvirtd → client, once held */
    bool holding = false; /* CUT_AFTER: the call passed, its reply is held */
    guint8 chunk[65536];
    while (open) {
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0)
            break;
        if (fds[0].revents) {
            ssize_t n = read(client, chunk, sizeof chunk);
            if (n <= 0)
                break;
            g_byte_array_append(upstream, chunk, (guint)n);
            gsize len;
            while (open && (len = message_length(upstream)) > 0) {
                int mode = CUT_NONE;
                if (is_snapshot_create(upstream->data, TYPE_CALL)) {
                    mode = g_atomic_int_get(&relay.mode);
                    g_atomic_int_compare_and_exchange(&relay.mode, mode, CUT_NONE);
                }
                if (mode == CUT_BEFORE)
                    open = false;
                else
                    open = write_all(server, upstream->data, len);
                holding = holding || mode == CUT_AFTER;
                g_byte_array_remove_range(upstream, 0, (guint)len);
            }
        }
        if (open && fds[1].revents) {
            ssize_t n = read(server, chunk, sizeof chunk);
            if (n <= 0)
                break;
            if (!holding) {
                open = write_all(client, chunk, (gsize)n);
                continue;
            }
            g_byte_array_append(downstream, chunk, (guint)n);
            gsize len;
            while (open && (len = message_length(downstream)) > 0) {
                open = !is_snapshot_create(downstream->data, TYPE_REPLY);
                g_byte_array_remove_range(downstream, 0, (guint)len);
            }
        }
    }
    if (!open)
        g_atomic_int_inc(&relay.cuts);
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
        g_thread_unref(g_thread_new("relay", relay_connection, GINT_TO_POINTER(client)));
    }
}

static void relay_start(void)
{
    relay.path = g_build_filename(vs_libvirtd_dir(), "relay-sock", NULL);
    relay.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    g_strlcpy(addr.sun_path, relay.path, sizeof addr.sun_path);
    assert_int_equal(bind(relay.listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(relay.listen_fd, 16), 0);
    g_thread_unref(g_thread_new("relay-accept", relay_accept, NULL));
}

/* What the tests share: libvirtd, the relay, a direct connection that
 * keeps test:///default's state alive (the driver drops it with its last
 * connection) and shows libvirt's view, the daemon and a running VM. */
static struct {
    virConnectPtr direct;
    VsTestDaemon *d;
} t;

static int setup(void **state)
{
    (void)state;
    vs_libvirtd_setup();
    vs_libvirtd_start();
    relay_start();
    g_autofree char *direct_uri = g_strdup_printf("test+unix:///default?socket=%s",
                                                  vs_libvirtd_socket());
    t.direct = virConnectOpen(direct_uri);
    assert_non_null(t.direct);
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s", relay.path);
    t.d = vs_test_daemon_start(uri, NULL);
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "POST", "/vms", "{\"name\": \"cut\"}");
    assert_int_equal(vm->status, 201);
    g_autoptr(VsTestResponse) start = vs_http(t.d, "POST", "/vms/cut/start", NULL);
    assert_int_equal(start->status, 200);
    return 0;
}

/* The daemon's exit status (a leak under ASan makes it non-zero). Checked
 * in main: a failed assertion in a group teardown does not fail the run. */
static int daemon_status = -1;

static int teardown(void **state)
{
    (void)state;
    shutdown(relay.listen_fd, SHUT_RDWR);
    if (t.d) {
        daemon_status = vs_test_daemon_term(t.d);
        vs_test_daemon_free(t.d);
    }
    if (t.direct)
        virConnectClose(t.direct);
    vs_libvirtd_stop();
    return 0;
}

/* Takes snapshot NAME of VM cut with the relay set to MODE; returns the
 * ended task. */
static json_t *snapshot_cut(const char *name, CutMode mode)
{
    int cuts = g_atomic_int_get(&relay.cuts);
    g_atomic_int_set(&relay.mode, mode);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", name);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/cut/snapshots", body);
    assert_int_equal(r->status, 202);
    json_t *task = vs_wait_task(t.d, vs_json_str(r->json, "id"), 60);
    assert_int_equal(g_atomic_int_get(&relay.mode), CUT_NONE); /* the call went through it */
    assert_int_equal(g_atomic_int_get(&relay.cuts), cuts + 1);
    return task;
}

static bool libvirt_has(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, "cut");
    assert_non_null(dom);
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (snap)
        virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return snap != NULL;
}

static long snapshot_status(const char *name)
{
    g_autofree char *path = g_strdup_printf("/vms/cut/snapshots/%s", name);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", path, NULL);
    return r->status;
}

/* libvirtd made the snapshot; its reply was lost with the connection. */
static void test_cut_after_libvirt_made_it(void **state)
{
    (void)state;
    json_t *task = snapshot_cut("made", CUT_AFTER);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    json_decref(task);
    assert_true(libvirt_has("made"));
    assert_int_equal(snapshot_status("made"), 200);
    /* The VM's current snapshot is the one made. */
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", "/vms/cut", NULL);
    assert_int_equal(vm->status, 200);
    json_t *current = json_object_get(vm->json, "current-snapshot");
    assert_true(json_is_string(current) && strcmp(json_string_value(current), "made") == 0);
}

/* The call never reached libvirtd. */
static void test_cut_before_libvirt_saw_it(void **state)
{
    (void)state;
    json_t *task = snapshot_cut("lost", CUT_BEFORE);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    const char *message = vs_json_str(task, "message");
    assert_non_null(strstr(message, "was not made"));
    json_decref(task);
    assert_false(libvirt_has("lost"));
    assert_int_equal(snapshot_status("lost"), 404);
    /* Nothing holds the name: it can be taken again. */
    g_autofree char *status = vs_take_snapshot(t.d, "cut", "lost", NULL);
    assert_string_equal(status, "finished");
    assert_true(libvirt_has("lost"));
}

int main(void)
{
    if (geteuid() != 0 || !g_file_test("/usr/sbin/libvirtd", G_FILE_TEST_IS_EXECUTABLE)) {
        printf("broken-call test needs root and /usr/sbin/libvirtd: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_after_libvirt_made_it),
        cmocka_unit_test(test_cut_before_libvirt_saw_it),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    if (daemon_status != 0)
        fprintf(stderr, "virtsnapd exited with status %d\n", daemon_status);
    return failed || daemon_status != 0;
}
