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
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir, *sock;
static pid_t libvirtd;

/* What libvirtd keeps on the host, each bound to a directory of the run:
 * its domains, their state and QEMU's pid files stay apart from the
 * host's libvirt (and from another libvirtd's). */
static const struct {
    const char *sub, *target;
} bound[] = {{"etc", "/etc/libvirt"},           {"run", "/run/libvirt"},
             {"lib", "/var/lib/libvirt"},       {"cache", "/var/cache/libvirt"},
             {"log", "/var/log/libvirt"}};

void vs_libvirtd_setup(void)
{
    /* Only one libvirtd can run as root at a time (the drivers' pid files
     * under /run are global): wait for any other run of these tests. */
    int lock = open("/tmp/virtsnap-reconnect-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(lock >= 0 && flock(lock, LOCK_EX) == 0); /* held until the program ends */
    dir = g_dir_make_tmp("virtsnap-libvirtd-XXXXXX", NULL);
    assert_non_null(dir);
    for (size_t i = 0; i < G_N_ELEMENTS(bound); i++) {
        g_autofree char *sub = g_build_filename(dir, bound[i].sub, NULL);
        g_mkdir_with_parents(sub, 0700);
    }
    g_autofree char *sock_dir = g_build_filename(dir, "sock", NULL);
    g_mkdir_with_parents(sock_dir, 0700);
    sock = g_build_filename(sock_dir, "libvirt-sock", NULL);
    g_autofree char *conf_text = g_strdup_printf(
        "unix_sock_dir = \"%s\"\nlisten_tls = 0\nlisten_tcp = 0\nauth_unix_rw = \"none\"\n"
        "auth_unix_ro = \"none\"\n", sock_dir);
    g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
    assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    /* QEMU as root without virtlogd, cgroups or labels, as virtsnapd's
     * embedded driver runs it (src/model/hv.c). */
    g_autofree char *qemu_conf = g_build_filename(dir, "etc", "qemu.conf", NULL);
    assert_true(g_file_set_contents(qemu_conf,
                                    "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n"
                                    "stdio_handler = \"file\"\nsecurity_driver = \"none\"\n"
                                    "namespaces = []\ncgroup_controllers = []\n",
                                    -1, NULL));
}

/* In the child, before exec: a mount namespace of its own with libvirt's
 * host directories replaced by DIR's. */
static bool private_dirs(void)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(bound); i++) {
        g_autofree char *sub = g_build_filename(dir, bound[i].sub, NULL);
        if (g_mkdir_with_parents(bound[i].target, 0755) != 0 ||
            mount(sub, bound[i].target, NULL, MS_BIND, NULL) != 0)
            return false;
    }
    return true;
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
        if (!private_dirs()) {
            perror("libvirtd's mount namespace");
            _exit(126);
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

void vs_libvirtd_kill(void)
{
    if (libvirtd <= 0)
        return;
    kill(libvirtd, SIGKILL);
    waitpid(libvirtd, NULL, 0);
    libvirtd = 0;
}

const char *vs_libvirtd_socket(void) { return sock; }
const char *vs_libvirtd_dir(void) { return dir; }
