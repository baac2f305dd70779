/* test_lifecycle.c: end-to-end VM lifecycle on real QEMU (issue 3): create,
 * start, the guest's counter on the serial log, suspend/resume, poweroff,
 * rename, delete with nothing left under STATE, 409 for wrong-state actions;
 * and the transient-VM rule of issue 4 (a transient VM started behind the
 * daemon's back while it is stopped, found again at restart). */
#include "e2e.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

/* Fails unless METHOD PATH answers 409 with WORD in the reason. */
static void expect_409(const char *method, const char *path, const char *word)
{
    g_autoptr(VsTestResponse) r = e2e_expect(409, method, NULL, "%s", path);
    assert_int_equal(vs_json_int(r->json, "code"), 409);
    const char *reason = vs_json_str(r->json, "reason");
    if (!reason || !strstr(reason, word))
        fail_msg("%s %s: reason should mention '%s': %s", method, path, word, r->body);
}

static void test_lifecycle(void **state)
{
    (void)state;
    g_autofree char *images = e2e_state_path("images", NULL);
    g_autofree char *logs = e2e_state_path("logs", NULL);
    assert_int_equal(e2e_dir_count(images), 0);

    /* create */
    json_t *vm = e2e_vm_create("life");
    assert_string_equal(vs_json_str(vm, "state"), "shutoff");
    assert_true(json_is_true(json_object_get(vm, "persistent")));
    assert_int_equal(vs_json_int(vm, "memory"), 64);
    assert_int_equal(vs_json_int(vm, "snapshots"), 0);
    json_t *disk = json_array_get(json_object_get(vm, "disks"), 0);
    assert_non_null(disk);
    g_autofree char *image = g_strdup(vs_json_str(disk, "path"));
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
    assert_string_equal(vs_json_str(disk, "format"), "qcow2");
    json_decref(vm);
    assert_true(g_str_has_prefix(image, images));
    assert_true(g_file_test(image, G_FILE_TEST_IS_REGULAR));
    assert_non_null(serial);
    assert_true(g_str_has_prefix(serial, logs));
    {
        g_autoptr(VsTestResponse) dup = e2e_expect(409, "POST", "{\"name\":\"life\",\"memory\":64}",
                                                   "/vms");
        (void)dup;
    }
    assert_int_equal(e2e_dir_count(images), 1); /* the refused duplicate made no image */

    /* wrong-state actions on a shut-off VM */
    expect_409("POST", "/vms/life/resume", "shutoff");
    expect_409("POST", "/vms/life/suspend", "shutoff");
    expect_409("POST", "/vms/life/poweroff", "shutoff");
    expect_409("POST", "/vms/life/shutdown", "shutoff");

    /* start: the guest boots and counts on the serial log */
    e2e_vm_action("life", "start", "running");
    e2e_check_accel("life");
    long n = e2e_wait_count(serial, 0, 3, 60);
    assert_int_equal(e2e_banners(serial, 0), 1);
    printf("# guest counting: COUNT %ld\n", n);
    expect_409("POST", "/vms/life/start", "running");
    expect_409("POST", "/vms/life/resume", "running");

    /* suspend: the counter stops */
    e2e_vm_action("life", "suspend", "paused");
    expect_409("POST", "/vms/life/suspend", "paused");
    expect_409("POST", "/vms/life/start", "paused");
    g_usleep(300000); /* let the last line in flight reach the file */
    gint64 size = e2e_file_size(serial);
    long paused_at = e2e_last_count(serial);
    g_usleep(1500000); /* 15 lines' worth of time */
    assert_int_equal(e2e_file_size(serial), size);
    assert_int_equal(e2e_last_count(serial), paused_at);
    json_t *got = e2e_vm_get("life");
    assert_string_equal(vs_json_str(got, "state"), "paused");
    json_decref(got);

    /* resume: it counts on from where it stopped */
    e2e_vm_action("life", "resume", "running");
    long resumed = e2e_wait_count(serial, (gsize)size, paused_at + 5, 30);
    g_autofree char *text = e2e_read_file(serial);
    g_autoptr(GArray) after = e2e_counts(text, (gsize)size);
    assert_true(after->len > 0);
    assert_in_range(g_array_index(after, long, 0), paused_at, paused_at + 2);
    printf("# paused at %ld, resumed to %ld\n", paused_at, resumed);

    /* a running VM can be neither renamed nor cloned */
    {
        g_autoptr(VsTestResponse) r =
            e2e_expect(409, "PUT", "{\"name\":\"life-2\"}", "/vms/life");
        g_autoptr(VsTestResponse) c = e2e_expect(409, "POST", "{}", "/vms/life/clone");
        (void)r, (void)c;
    }

    /* poweroff */
    e2e_vm_action("life", "poweroff", "shutoff");
    expect_409("POST", "/vms/life/poweroff", "shutoff");

    /* rename: same VM (uuid, disk, log), old name gone */
    {
        g_autoptr(VsTestResponse) r =
            e2e_expect(200, "PUT", "{\"name\":\"life renamed\"}", "/vms/life");
        assert_string_equal(vs_json_str(r->json, "name"), "life renamed");
        assert_string_equal(vs_json_str(r->json, "uuid"), uuid);
        json_t *d0 = json_array_get(json_object_get(r->json, "disks"), 0);
        assert_string_equal(vs_json_str(d0, "path"), image);
        g_autoptr(VsTestResponse) old = e2e_expect(404, "GET", NULL, "/vms/life");
        (void)old;
    }

    /* the renamed VM boots again (a second banner in the same log) */
    e2e_vm_action("life renamed", "start", "running");
    gint64 before = e2e_file_size(serial);
    e2e_wait_count(serial, (gsize)before, 2, 60);
    assert_int_equal(e2e_banners(serial, 0), 2);

    /* delete while running: powered off first, then nothing left behind */
    {
        g_autoptr(VsTestResponse) r = e2e_expect(204, "DELETE", NULL, "/vms/life%%20renamed");
        g_autoptr(VsTestResponse) gone = e2e_expect(404, "GET", NULL, "/vms/life%%20renamed");
        g_autoptr(VsTestResponse) list = e2e_expect(200, "GET", NULL, "/vms");
        assert_int_equal(json_array_size(list->json), 0);
        (void)r, (void)gone;
    }
    assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
    assert_int_equal(e2e_dir_count(images), 0);
    assert_int_equal(e2e_dir_count(logs), 0);
    g_autofree char *def = e2e_state_path("libvirt", "etc", "qemu", "life renamed.xml", NULL);
    g_autofree char *pid = e2e_state_path("libvirt", "run", "qemu", "life renamed.pid", NULL);
    assert_false(g_file_test(def, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(pid, G_FILE_TEST_EXISTS));
}

/* ---- transient VMs ----------------------------------------------------- */

static char *self_exe;

static gpointer run_events(gpointer unused)
{
    (void)unused;
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

/* Helper mode (a child process, while the daemon is stopped): opens the
 * daemon's embedded driver and starts a transient domain, as `virsh create`
 * would. QEMU outlives us. */
static int make_transient(const char *root, const char *name, const char *disk, const char *log)
{
    virEventRegisterDefaultImpl();
    g_thread_new("events", run_events, NULL);
    g_autofree char *uri = g_strdup_printf("qemu:///embed?root=%s", root);
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn) {
        fprintf(stderr, "cannot open %s: %s\n", uri, virGetLastErrorMessage());
        return 1;
    }
    g_autofree char *caps = virConnectGetCapabilities(conn);
    const char *type = caps && strstr(caps, "<domain type='kvm'") ? "kvm" : "qemu";
    g_autofree char *xml = g_markup_printf_escaped(
        "<domain type='%s'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>"
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
        "<serial type='file'><source path='%s'/><target port='0'/></serial>"
        "<memballoon model='none'/></devices></domain>",
        type, name, disk, log);
    virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        fprintf(stderr, "cannot create %s: %s\n", name, virGetLastErrorMessage());
        return 1;
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}

static void test_transient(void **state)
{
    (void)state;
    g_autofree char *disk = g_build_filename(e2e.workdir, "transient.qcow2", NULL);
    g_autofree char *log = g_build_filename(e2e.workdir, "transient.serial.log", NULL);
    const char *mkimg[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", e2e.guest,
                           "-F", "qcow2", disk, NULL};
    g_autofree char *out = NULL;
    if (e2e_run(mkimg, &out) != 0)
        fail_msg("qemu-img create: %s", out);

    /* a persistent VM running across the restart must be found again */
    json_t *vm = e2e_vm_create("keeps-running");
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    json_decref(vm);
    e2e_vm_action("keeps-running", "start", "running");

    /* the daemon is stopped while the transient VM is made */
    assert_int_equal(vs_test_daemon_term(e2e.d), 0);
    g_autofree char *root = e2e_state_path("libvirt", NULL);
    const char *helper[] = {self_exe, "--make-transient", root, "transient", disk, log, NULL};
    g_autofree char *helper_out = NULL;
    int rc = e2e_run(helper, &helper_out);
    if (rc != 0)
        fail_msg("making the transient VM failed (%d): %s", rc, helper_out);
    gint64 t0 = g_get_monotonic_time();
    vs_test_daemon_restart(e2e.d);
    printf("# daemon restarted in %.1f s\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);

    json_t *kept = e2e_vm_get("keeps-running");
    assert_string_equal(vs_json_str(kept, "state"), "running");
    json_decref(kept);
    long before = e2e_last_count(serial);
    e2e_wait_count(serial, 0, before + 3, 60);

    json_t *t = e2e_vm_get("transient");
    assert_false(json_is_true(json_object_get(t, "persistent")));
    assert_string_equal(vs_json_str(t, "state"), "running");
    json_decref(t);
    e2e_wait_count(log, 0, 3, 60);

    /* without snapshots a transient VM can be suspended and resumed freely */
    e2e_vm_action("transient", "suspend", "paused");
    e2e_vm_action("transient", "resume", "running");

    e2e_snapshot("transient", "t1");
    json_t *snap = e2e_snapshot_get("transient", "t1");
    assert_true(json_is_true(json_object_get(snap, "memory")));
    json_decref(snap);

    /* powering off or shutting down would strand the metadata: 409 */
    expect_409("POST", "/vms/transient/poweroff", "transient");
    expect_409("POST", "/vms/transient/shutdown", "transient");
    {
        g_autoptr(VsTestResponse) still = e2e_expect(200, "GET", NULL, "/vms/transient");
        assert_string_equal(vs_json_str(still->json, "state"), "running");
        assert_int_equal(vs_json_int(still->json, "snapshots"), 1);
        g_autoptr(VsTestResponse) bad =
            e2e_expect(400, "POST", NULL, "/vms/transient/poweroff?discard_snapshots=maybe");
        (void)bad;
    }
    /* with consent it goes, metadata and all */
    {
        g_autoptr(VsTestResponse) r = e2e_expect(200, "POST", NULL,
                                                 "/vms/transient/poweroff?discard_snapshots=true");
        assert_string_equal(vs_json_str(r->json, "state"), "shutoff");
        g_autoptr(VsTestResponse) gone = e2e_expect(404, "GET", NULL, "/vms/transient");
        g_autoptr(VsTestResponse) snaps = e2e_expect(404, "GET", NULL, "/vms/transient/snapshots");
        (void)gone, (void)snaps;
    }
    g_autofree char *meta = e2e_state_path("libvirt", "lib", "qemu", "snapshot", "transient", NULL);
    assert_int_equal(e2e_dir_count(meta), 0);
    /* virtsnap did not make that disk: it stays (with the snapshot inside) */
    assert_true(g_file_test(disk, G_FILE_TEST_IS_REGULAR));
    g_autofree char *tags = e2e_qemu_img_snapshots(disk);
    assert_non_null(strstr(tags, "t1"));

    g_autoptr(VsTestResponse) del = e2e_expect(204, "DELETE", NULL, "/vms/keeps-running");
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
}

int main(int argc, char **argv)
{
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    if (argc == 6 && !strcmp(argv[1], "--make-transient"))
        return make_transient(argv[2], argv[3], argv[4], argv[5]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_transient),
    };
    return e2e_run_group("e2e-lifecycle", tests, G_N_ELEMENTS(tests));
}
