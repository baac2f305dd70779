/* e2e.c: what is particular to the end-to-end programs (see e2e.h): the
 * daemon on the embedded QEMU driver, optional TCG forcing (/dev/kvm hidden
 * in a private mount namespace) and the accelerator check. */
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

E2e e2e;

/* ---- accelerator ------------------------------------------------------- */

static bool kvm_usable(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
    close(fd);
    return ok;
}

/* Bind-mounts /dev/NAME (anything but a directory) or links it in DIR. */
static bool copy_dev_entry(const char *dir, const char *name)
{
    g_autofree char *src = g_build_filename("/dev", name, NULL);
    g_autofree char *dst = g_build_filename(dir, name, NULL);
    struct stat st;
    if (lstat(src, &st) != 0)
        return true; /* vanished meanwhile */
    if (S_ISLNK(st.st_mode)) {
        g_autofree char *target = g_file_read_link(src, NULL);
        return target && symlink(target, dst) == 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(dst, st.st_mode & 07777) != 0)
            return false;
        return mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == 0;
    }
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    close(fd);
    return mount(src, dst, NULL, MS_BIND, NULL) == 0;
}

/* Makes KVM vanish for us and our children (the daemon and the QEMU processes
 * it starts): in a private mount namespace, /dev becomes a tmpfs holding
 * bind mounts of every entry of the real /dev but kvm. libvirt then sees a
 * host without KVM, as it would without the module (and, unlike a /dev/kvm
 * that exists but fails, keeps its capability cache across restarts). */
static bool hide_kvm(void)
{
    if (!g_file_test("/dev/kvm", G_FILE_TEST_EXISTS))
        return true;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "e2e: cannot make a private mount namespace: %s\n", g_strerror(errno));
        return false;
    }
    g_autofree char *dir = g_dir_make_tmp("virtsnap-e2e-dev-XXXXXX", NULL);
    if (!dir || mount("tmpfs", dir, "tmpfs", 0, "mode=0755") != 0) {
        fprintf(stderr, "e2e: cannot mount a tmpfs for /dev: %s\n", g_strerror(errno));
        return false;
    }
    GDir *dev = g_dir_open("/dev", 0, NULL);
    const char *name;
    bool ok = dev != NULL;
    while (ok && (name = g_dir_read_name(dev))) {
        if (strcmp(name, "kvm") != 0 && !copy_dev_entry(dir, name)) {
            fprintf(stderr, "e2e: cannot copy /dev/%s: %s\n", name, g_strerror(errno));
            ok = false;
        }
    }
    if (dev)
        g_dir_close(dev);
    if (!ok || mount(dir, "/dev", NULL, MS_MOVE, NULL) != 0) {
        fprintf(stderr, "e2e: cannot replace /dev: %s\n", g_strerror(errno));
        return false;
    }
    g_rmdir(dir);
    return !g_file_test("/dev/kvm", G_FILE_TEST_EXISTS) && g_file_test("/dev/null", G_FILE_TEST_EXISTS);
}

void e2e_check_accel(const char *vm)
{
    g_autofree char *xml_name = g_strdup_printf("%s.xml", vm);
    g_autofree char *xml_path = vs_state_path(e2e.d, "libvirt", "etc", "qemu", xml_name, NULL);
    g_autofree char *xml = vs_read_file(xml_path);
    const char *type = e2e.expect_kvm ? "<domain type='kvm'" : "<domain type='qemu'";
    if (!strstr(xml, type))
        fail_msg("%s: expected %s, definition is:\n%.300s", xml_path, type, xml);
    g_autofree char *log_name = g_strdup_printf("%s.log", vm);
    g_autofree char *log_path = vs_state_path(e2e.d, "libvirt", "log", "qemu", log_name, NULL);
    g_autofree char *log = vs_read_file(log_path);
    const char *accel = e2e.expect_kvm ? "-accel kvm" : "-accel tcg";
    if (!strstr(log, accel))
        fail_msg("%s: QEMU was not started with '%s'", log_path, accel);
    printf("# VM '%s' runs with %s\n", vm, accel);
}

/* ---- setup / teardown -------------------------------------------------- */

static char *daemon_log_copy;

int e2e_setup(void **state)
{
    (void)state;
    const char *accel = g_getenv("VS_E2E_ACCEL");
    e2e.force_tcg = accel && !strcmp(accel, "tcg");
    /* Without a usable KVM the plain variant already runs under TCG, as
     * this one would: the same test twice, minutes of make check. */
    if (e2e.force_tcg && !kvm_usable()) {
        fprintf(stderr, "e2e: no usable KVM here, so the plain variant runs under TCG: skipped\n");
        exit(77);
    }
    if (e2e.force_tcg && !hide_kvm()) {
        fprintf(stderr, "e2e: VS_E2E_ACCEL=tcg needs CAP_SYS_ADMIN to hide /dev/kvm: skipped\n");
        exit(77);
    }
    e2e.expect_kvm = !e2e.force_tcg && kvm_usable();
    if (!vs_guest_build("e2e", &e2e.workdir, &e2e.guest))
        return -1;
    gint64 t0 = g_get_monotonic_time();
    e2e.d = vs_test_daemon_start(NULL, NULL);
    daemon_log_copy = g_strdup(e2e.d->log_path);
    printf("# daemon up in %.1f s (state %s, log %s); expecting %s\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, e2e.d->state_dir,
           e2e.d->log_path, e2e.expect_kvm ? "KVM" : "TCG");
    return 0;
}

void e2e_dump_daemon_log(void)
{
    vs_print_log_tail(daemon_log_copy, 6000);
}

int e2e_teardown(void **state)
{
    (void)state;
    if (!e2e.d)
        return 0;
    if (e2e.d->pid)
        vs_guest_delete_all_vms(e2e.d, "e2e");
    e2e_dump_daemon_log();
    vs_test_daemon_free(e2e.d); /* also kills QEMU processes left behind */
    e2e.d = NULL;
    const char *rm[] = {"rm", "-rf", e2e.workdir, NULL};
    vs_run(rm, NULL);
    return 0;
}

int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
    int failed = vs_test_exit_status(vs_guest_run_group(name, tests, n, e2e_setup, e2e_teardown));
    if (!failed && daemon_log_copy)
        g_unlink(daemon_log_copy);
    return failed;
}
