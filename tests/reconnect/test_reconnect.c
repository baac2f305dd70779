/* test_reconnect.c: virtsnapd on qemu:///system (a private libvirtd that
 * the test starts and stops) answers 503 with a reason while libvirtd is
 * away and serves again once it is back, without being restarted; and a
 * reconnect releases the lost connection (its socket). */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static pid_t libvirtd;

static void start_libvirtd(void)
{
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    g_autofree char *pid = g_build_filename(dir, "libvirtd.pid", NULL);
    g_autofree char *sock = g_build_filename(dir, "run", "libvirt-sock", NULL);
    g_autofree char *log = g_build_filename(dir, "libvirtd.log", NULL);
    g_unlink(sock);
    libvirtd = fork();
    if (libvirtd == 0) {
        FILE *f = fopen(log, "a");
        if (f) {
            dup2(fileno(f), 1);
            dup2(fileno(f), 2);
        }
        execl("/usr/sbin/libvirtd", "libvirtd", "-f", conf, "-p", pid, NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !g_file_test(sock, G_FILE_TEST_EXISTS); i++)
        g_usleep(50000);
    assert_true(g_file_test(sock, G_FILE_TEST_EXISTS));
}

static void stop_libvirtd(void)
{
    if (libvirtd <= 0)
        return;
    kill(libvirtd, SIGTERM);
    waitpid(libvirtd, NULL, 0);
    libvirtd = 0;
}

/* Whatever happened, no libvirtd may outlive the test: a second one cannot
 * start while it holds the drivers' pid files. */
static int cleanup(void **state)
{
    (void)state;
    stop_libvirtd();
    return 0;
}

static long get_vms(VsTestDaemon *d, char **reason)
{
    g_autoptr(VsTestResponse) r = vs_http(d, "GET", "/vms", NULL);
    if (reason)
        *reason = r->json && json_is_object(r->json) ? g_strdup(vs_json_str(r->json, "reason")) : NULL;
    return r->status;
}

/* Until GET /vms answers 200 again after a libvirtd start (the daemon
 * retries the connection every 2 s). */
static long wait_served(VsTestDaemon *d)
{
    long status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        status = get_vms(d, NULL);
        if (status != 200)
            g_usleep(200000);
    }
    return status;
}

static int open_fds(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) fds = g_dir_open(path, 0, NULL);
    int n = 0;
    while (fds && g_dir_read_name(fds))
        n++;
    return n;
}

/* The fewest descriptors PID holds over about a second: an HTTP connection
 * just answered, or a socket libvirt closes on its own thread, may still be
 * open at any one look; a leaked one stays. */
static int settled_fds(pid_t pid)
{
    int fewest = open_fds(pid);
    for (int i = 0; i < 10; i++) {
        g_usleep(100000);
        fewest = MIN(fewest, open_fds(pid));
    }
    return fewest;
}

static void test_libvirtd_restart(void **state)
{
    (void)state;
    /* Only one libvirtd can run as root at a time (the drivers' pid files
     * under /run are global): wait for any other run of this test. */
    int lock = open("/tmp/virtsnap-reconnect-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(lock >= 0 && flock(lock, LOCK_EX) == 0);
    dir = g_dir_make_tmp("virtsnap-libvirtd-XXXXXX", NULL);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_mkdir_with_parents(run, 0700);
    g_autofree char *conf_text = g_strdup_printf(
        "unix_sock_dir = \"%s\"\nlisten_tls = 0\nlisten_tcp = 0\nauth_unix_rw = \"none\"\n"
        "auth_unix_ro = \"none\"\n", run);
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    start_libvirtd();
    g_autofree char *uri = g_strdup_printf("qemu:///system?socket=%s/libvirt-sock", run);
    VsTestDaemon *d = vs_test_daemon_start(uri, NULL);
    assert_int_equal(get_vms(d, NULL), 200);

    stop_libvirtd();
    g_autofree char *reason = NULL;
    assert_int_equal(get_vms(d, &reason), 503);
    assert_non_null(strstr(reason, "unavailable"));
    g_autoptr(VsTestResponse) tasks = vs_http(d, "GET", "/tasks", NULL);
    assert_int_equal(tasks->status, 200); /* the daemon itself is fine */

    start_libvirtd();
    assert_int_equal(wait_served(d), 200);

    /* Each lost connection is released: three more restarts leave the
     * daemon with the descriptors it had after the first (it kept one
     * socket per reconnect while its event callbacks held the connection). */
    int fds = settled_fds(d->pid);
    for (int i = 0; i < 3; i++) {
        stop_libvirtd();
        start_libvirtd();
        assert_int_equal(wait_served(d), 200);
    }
    assert_int_equal(settled_fds(d->pid), fds);
    assert_int_equal(vs_test_daemon_term(d), 0);
    vs_test_daemon_free(d);
    stop_libvirtd();
}

int main(void)
{
    if (geteuid() != 0 || !g_file_test("/usr/sbin/libvirtd", G_FILE_TEST_IS_EXECUTABLE)) {
        printf("reconnect test needs root and /usr/sbin/libvirtd: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_libvirtd_restart, cleanup)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
