/* libvirtd.c: a private libvirtd for the reconnect tests (libvirtd.h). */
#include "libvirtd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir, *sock;
static pid_t libvirtd;

void vs_libvirtd_setup(void)
{
    /* Only one libvirtd can run as root at a time (the drivers' pid files
     * under /run are global): wait for any other run of these tests. */
    int lock = open("/tmp/virtsnap-reconnect-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(lock >= 0 && flock(lock, LOCK_EX) == 0); /* held until the program ends */
    dir = g_dir_make_tmp("virtsnap-libvirtd-XXXXXX", NULL);
    assert_non_null(dir);
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_mkdir_with_parents(run, 0700);
    sock = g_build_filename(run, "libvirt-sock", NULL);
    g_autofree char *conf_text = g_strdup_printf(
        "unix_sock_dir = \"%s\"\nlisten_tls = 0\nlisten_tcp = 0\nauth_unix_rw = \"none\"\n"
        "auth_unix_ro = \"none\"\n", run);
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
}

void vs_libvirtd_start(void)
{
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    g_autofree char *pid = g_build_filename(dir, "libvirtd.pid", NULL);
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

void vs_libvirtd_stop(void)
{
    if (libvirtd <= 0)
        return;
    kill(libvirtd, SIGTERM);
    waitpid(libvirtd, NULL, 0);
    libvirtd = 0;
}

const char *vs_libvirtd_socket(void) { return sock; }
const char *vs_libvirtd_dir(void) { return dir; }
