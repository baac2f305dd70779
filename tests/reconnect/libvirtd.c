/* libvirtd.c: a private libvirtd for the reconnect tests (libvirtd.h). */
#include "libvirtd.h"
#include "relay.h"

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
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* What libvirtd keeps on the host, each bound to a directory of the run:
 * its domains, their state and QEMU's pid files stay apart from the
 * host's libvirt (and from another libvirtd's). The targets themselves are
 * made on the host when missing (a directory's creation is not private). */
#define BOUND 5
static const char *const targets[BOUND] = {"/etc/libvirt", "/run/libvirt", "/var/lib/libvirt",
                                           "/var/cache/libvirt", "/var/log/libvirt"};
static const char *const subs[BOUND] = {"etc", "run", "lib", "cache", "log"};

static struct {
    char *dir, *sock;
    char *argv[6];       /* libvirtd -f CONF -p PIDFILE */
    char *log;           /* libvirtd's output */
    char *sources[BOUND]; /* DIR/etc… */
    pid_t pid;
} d;

int vs_libvirtd_skip(const char *test)
{
    if (geteuid() == 0 && g_file_test("/usr/sbin/libvirtd", G_FILE_TEST_IS_EXECUTABLE))
        return 0;
    printf("%s needs root and /usr/sbin/libvirtd: skipped\n", test);
    return 77;
}

int vs_libvirtd_exit_status(int failed, int daemon_status)
{
    if (daemon_status != 0)
        fprintf(stderr, "virtsnapd exited with status %d\n", daemon_status);
    return failed || daemon_status != 0;
}

void vs_libvirtd_setup(void)
{
    /* The namespace keeps two libvirtds apart; the lock keeps these
     * programs from loading the host at once (QEMU, capability probes). */
    int lock = open("/tmp/virtsnap-reconnect-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(lock >= 0 && flock(lock, LOCK_EX) == 0); /* held until the program ends */
    d.dir = g_dir_make_tmp("virtsnap-libvirtd-XXXXXX", NULL);
    assert_non_null(d.dir);
    for (size_t i = 0; i < BOUND; i++) {
        d.sources[i] = g_build_filename(d.dir, subs[i], NULL);
        g_mkdir_with_parents(d.sources[i], 0700);
        g_mkdir_with_parents(targets[i], 0755);
    }
    g_autofree char *sock_dir = g_build_filename(d.dir, "sock", NULL);
    g_mkdir_with_parents(sock_dir, 0700);
    d.sock = g_build_filename(sock_dir, "libvirt-sock", NULL);
    g_autofree char *conf_text = g_strdup_printf(
        "unix_sock_dir = \"%s\"\nlisten_tls = 0\nlisten_tcp = 0\nauth_unix_rw = \"none\"\n"
        "auth_unix_ro = \"none\"\n", sock_dir);
    char *conf = g_build_filename(d.dir, "libvirtd.conf", NULL);
    assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    /* QEMU as root without virtlogd, cgroups or labels, as virtsnapd's
     * embedded driver runs it (src/model/hv.c). */
    g_autofree char *qemu_conf = g_build_filename(d.dir, "etc", "qemu.conf", NULL);
    assert_true(g_file_set_contents(qemu_conf,
                                    "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n"
                                    "stdio_handler = \"file\"\nsecurity_driver = \"none\"\n"
                                    "namespaces = []\ncgroup_controllers = []\n",
                                    -1, NULL));
    char *argv[] = {"/usr/sbin/libvirtd", "-f", conf, "-p",
                    g_build_filename(d.dir, "libvirtd.pid", NULL), NULL};
    memcpy(d.argv, argv, sizeof argv);
    d.log = g_build_filename(d.dir, "libvirtd.log", NULL);
}

/* In the child, between fork and exec: no allocation (the parent has
 * threads). A mount namespace of its own with libvirt's host directories
 * replaced by the run's; its end when the test program's. */
static void exec_libvirtd(void)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int log = open(d.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    }
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        _exit(126);
    for (size_t i = 0; i < BOUND; i++)
        if (mount(d.sources[i], targets[i], NULL, MS_BIND, NULL) != 0)
            _exit(126);
    execv(d.argv[0], d.argv);
    _exit(127);
}

void vs_libvirtd_start(void)
{
    g_unlink(d.sock);
    d.pid = fork();
    if (d.pid == 0)
        exec_libvirtd();
    for (int i = 0; i < 200 && !g_file_test(d.sock, G_FILE_TEST_EXISTS); i++)
        g_usleep(50000);
    assert_true(g_file_test(d.sock, G_FILE_TEST_EXISTS));
}

char *vs_libvirtd_start_relayed(void)
{
    vs_libvirtd_setup();
    vs_libvirtd_start();
    char *relay = g_build_filename(d.dir, "relay-sock", NULL);
    vs_relay_start(relay, d.sock);
    return relay;
}

static void end(int sig)
{
    if (d.pid <= 0)
        return;
    kill(d.pid, sig);
    waitpid(d.pid, NULL, 0);
    d.pid = 0;
}

void vs_libvirtd_stop(void) { end(SIGTERM); }
void vs_libvirtd_kill(void) { end(SIGKILL); }

void vs_libvirtd_remove(void)
{
    end(SIGTERM);
    if (!d.dir || g_getenv("VS_KEEP_STATE"))
        return;
    const char *argv[] = {"rm", "-rf", d.dir, NULL};
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                 NULL);
}

static void print_stacks(const char *who, pid_t pid)
{
    g_autofree char *cmd =
        g_strdup_printf("timeout 60 gdb -p %d -batch -ex 'thread apply all bt'", (int)pid);
    g_autofree char *out = NULL;
    g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL);
    fprintf(stderr, "---- %s (pid %d): every thread's stack ----\n%s---- end ----\n", who,
            (int)pid, out ? out : "(gdb gave nothing)\n");
}

void vs_libvirtd_explain(pid_t daemon)
{
    bool runs = d.pid > 0 && kill(d.pid, 0) == 0;
    fprintf(stderr, "libvirtd (pid %d) %s\n", (int)d.pid, runs ? "runs" : "does not run");
    g_autofree char *log = NULL;
    gsize len = 0;
    if (d.log && g_file_get_contents(d.log, &log, &len, NULL))
        fprintf(stderr, "---- libvirtd's log (tail) ----\n%s\n---- end ----\n",
                len > 3000 ? log + len - 3000 : log);
    if (runs)
        print_stacks("libvirtd", d.pid);
    if (daemon > 0)
        print_stacks("virtsnapd", daemon);
}

const char *vs_libvirtd_socket(void) { return d.sock; }
const char *vs_libvirtd_dir(void) { return d.dir; }
