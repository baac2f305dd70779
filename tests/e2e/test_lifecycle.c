/* test_lifecycle.c: end-to-end VM lifecycle on real QEMU (issue 3): create,
 * start, the guest's counter on the serial log, suspend/resume, a shutdown
 * the guest carries out (ACPI), poweroff,
 * rename, delete with nothing left under STATE, 409 for wrong-state actions;
 * the transient-VM rule of issue 4 (a transient VM started behind the
 * daemon's back while it is stopped, found again at restart; one shut down
 * ends, one whose guest ignores the shutdown keeps its snapshots); and a clone
 * refused while a snapshot names a disk file another client swapped out. */
#include "e2e.h"
#include "embed.h"

#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* Fails unless METHOD PATH answers 409 with WORD in the reason. */
static void expect_409(const char *method, const char *path, const char *word)
{
    g_autoptr(VsTestResponse) r = vs_expect(e2e.d, 409, method, NULL, "%s", path);
    assert_int_equal(vs_json_int(r->json, "code"), 409);
    const char *reason = vs_json_str(r->json, "reason");
    if (!reason || !strstr(reason, word))
        fail_msg("%s %s: reason should mention '%s': %s", method, path, word, r->body);
}

static void test_lifecycle(void **state)
{
    (void)state;
    g_autofree char *images = vs_state_path(e2e.d, "images", NULL);
    g_autofree char *logs = vs_state_path(e2e.d, "logs", NULL);
    assert_int_equal(vs_dir_count(images), 0);

    /* create */
    json_t *vm = vs_guest_vm_create(e2e.d, "life", e2e.guest);
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
        g_autoptr(VsTestResponse) dup =
            vs_expect(e2e.d, 409, "POST", "{\"name\":\"life\",\"memory\":64}", "/vms");
        (void)dup;
    }
    assert_int_equal(vs_dir_count(images), 1); /* the refused duplicate made no image */
    {
        /* More cpus than QEMU's default machine type takes (255, libvirt's
         * domain capabilities say): the client's error, said before
         * anything is made (it was libvirt's refusal, a 500). */
        g_autoptr(VsTestResponse) many = vs_expect(
            e2e.d, 400, "POST", "{\"name\":\"many\",\"memory\":64,\"cpus\":256}", "/vms");
        assert_non_null(strstr(many->body, "field 'cpus': 256 is more than the 255"));
        g_autoptr(VsTestResponse) more =
            vs_expect(e2e.d, 400, "PUT", "{\"cpus\":256}", "/vms/life");
        assert_non_null(strstr(more->body, "field 'cpus': 256 is more than the 255"));
        g_autoptr(VsTestResponse) fits = vs_expect(e2e.d, 200, "PUT", "{\"cpus\":2}", "/vms/life");
        assert_int_equal(vs_json_int(fits->json, "cpus"), 2);
        g_autofree char *config = vs_state_path(e2e.d, "libvirt", "etc", "qemu", "life.xml", NULL);
        g_autofree char *xml = vs_read_file(config);
        assert_non_null(strstr(xml, ">2</vcpu>")); /* in libvirt's definition, not only the answer */
        g_autoptr(VsTestResponse) back = vs_expect(e2e.d, 200, "PUT", "{\"cpus\":1}", "/vms/life");
        json_t *life = vs_guest_vm_get(e2e.d, "life");
        assert_int_equal(vs_json_int(life, "cpus"), 1);
        json_decref(life);
        g_autofree char *xml_back = vs_read_file(config);
        assert_non_null(strstr(xml_back, ">1</vcpu>"));
    }
    assert_int_equal(vs_dir_count(images), 1); /* nor did the refused definition */

    /* wrong-state actions on a shut-off VM */
    expect_409("POST", "/vms/life/resume", "shutoff");
    expect_409("POST", "/vms/life/suspend", "shutoff");
    expect_409("POST", "/vms/life/poweroff", "shutoff");
    expect_409("POST", "/vms/life/shutdown", "shutoff");

    /* start: the guest boots and counts on the serial log */
    vs_guest_vm_action(e2e.d, "life", "start", "running");
    e2e_check_accel("life");
    long n = vs_guest_wait_count(serial, 0, 3, 60);
    assert_int_equal(vs_guest_banners(serial, 0), 1);
    printf("# guest counting: COUNT %ld\n", n);
    expect_409("POST", "/vms/life/start", "running");
    expect_409("POST", "/vms/life/resume", "running");

    /* suspend: the counter stops */
    vs_guest_vm_action(e2e.d, "life", "suspend", "paused");
    expect_409("POST", "/vms/life/suspend", "paused");
    expect_409("POST", "/vms/life/start", "paused");
    g_usleep(300000); /* let the last line in flight reach the file */
    gsize size = vs_file_size(serial);
    long paused_at = vs_guest_last_count(serial);
    g_usleep(1500000); /* 15 lines' worth of time */
    assert_int_equal(vs_file_size(serial), size);
    assert_int_equal(vs_guest_last_count(serial), paused_at);
    json_t *got = vs_guest_vm_get(e2e.d, "life");
    assert_string_equal(vs_json_str(got, "state"), "paused");
    json_decref(got);

    /* resume: it counts on from where it stopped */
    vs_guest_vm_action(e2e.d, "life", "resume", "running");
    long resumed = vs_guest_wait_count(serial, size, paused_at + 5, 30);
    g_autofree char *text = vs_read_file(serial);
    g_autoptr(GArray) after = vs_guest_counts(text, size);
    assert_true(after->len > 0);
    assert_in_range(g_array_index(after, long, 0), paused_at, paused_at + 2);
    printf("# paused at %ld, resumed to %ld\n", paused_at, resumed);

    /* shutdown: asks the guest (ACPI power button), answers at once; the
     * guest sees the button, says so and powers off, and libvirt's event
     * makes it shut off. Started again, it boots afresh. */
    {
        gsize before = vs_file_size(serial);
        /* (running still, unless the guest was quicker than the answer) */
        g_autoptr(VsTestResponse) asked = vs_expect(e2e.d, 200, "POST", NULL, "/vms/life/shutdown");
        const char *answered = vs_json_str(asked->json, "state");
        if (g_strcmp0(answered, "running") && g_strcmp0(answered, "shutdown") &&
            g_strcmp0(answered, "shutoff"))
            fail_msg("a shutdown answered the VM %s", asked->body);
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
        g_autofree char *state = NULL;
        for (;;) {
            json_t *vm = vs_guest_vm_get(e2e.d, "life");
            g_free(state);
            state = g_strdup(vs_json_str(vm, "state"));
            json_decref(vm);
            if (!g_strcmp0(state, "shutoff") || g_get_monotonic_time() > deadline)
                break;
            g_usleep(100000);
        }
        g_autofree char *log = vs_read_file(serial);
        if (g_strcmp0(state, "shutoff") != 0)
            fail_msg("the guest did not shut down in 30 s (state %s; serial log since: %s)", state,
                     log + before);
        assert_non_null(strstr(log + before, "VIRTSNAP-GUEST OFF"));
        assert_int_equal(vs_guest_qemu_count(e2e.d, "life"), 0);
        expect_409("POST", "/vms/life/shutdown", "shutoff");
        gsize booted_at = vs_file_size(serial);
        vs_guest_vm_action(e2e.d, "life", "start", "running");
        vs_guest_wait_count(serial, booted_at, 3, 60);
        assert_int_equal(vs_guest_banners(serial, booted_at), 1);
        printf("# shut down by the guest, started again\n");
    }

    /* a running VM can be neither renamed nor cloned */
    {
        g_autoptr(VsTestResponse) r =
            vs_expect(e2e.d, 409, "PUT", "{\"name\":\"life-2\"}", "/vms/life");
        g_autoptr(VsTestResponse) c = vs_expect(e2e.d, 409, "POST", "{}", "/vms/life/clone");
        (void)r, (void)c;
    }

    /* poweroff */
    vs_guest_vm_action(e2e.d, "life", "poweroff", "shutoff");
    expect_409("POST", "/vms/life/poweroff", "shutoff");

    /* rename: same VM (uuid, disk, log), old name gone */
    {
        g_autoptr(VsTestResponse) r =
            vs_expect(e2e.d, 200, "PUT", "{\"name\":\"life renamed\"}", "/vms/life");
        assert_string_equal(vs_json_str(r->json, "name"), "life renamed");
        assert_string_equal(vs_json_str(r->json, "uuid"), uuid);
        json_t *d0 = json_array_get(json_object_get(r->json, "disks"), 0);
        assert_string_equal(vs_json_str(d0, "path"), image);
        g_autoptr(VsTestResponse) old = vs_expect(e2e.d, 404, "GET", NULL, "/vms/life");
        (void)old;
    }

    /* the renamed VM boots again (a third banner in the same log, after
     * the first boot's and the one after the shutdown) */
    vs_guest_vm_action(e2e.d, "life renamed", "start", "running");
    gsize before = vs_file_size(serial);
    vs_guest_wait_count(serial, before, 2, 60);
    assert_int_equal(vs_guest_banners(serial, 0), 3);

    /* delete while running: powered off first, then nothing left behind */
    {
        g_autoptr(VsTestResponse) r = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/life%%20renamed");
        g_autoptr(VsTestResponse) gone = vs_expect(e2e.d, 404, "GET", NULL, "/vms/life%%20renamed");
        g_autoptr(VsTestResponse) list = vs_expect(e2e.d, 200, "GET", NULL, "/vms");
        assert_int_equal(json_array_size(list->json), 0);
        (void)r, (void)gone;
    }
    assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
    assert_int_equal(vs_dir_count(images), 0);
    assert_int_equal(vs_dir_count(logs), 0);
    g_autofree char *def = vs_state_path(e2e.d, "libvirt", "etc", "qemu", "life renamed.xml", NULL);
    g_autofree char *pid = vs_state_path(e2e.d, "libvirt", "run", "qemu", "life renamed.pid", NULL);
    assert_false(g_file_test(def, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(pid, G_FILE_TEST_EXISTS));
}

/* ---- transient VMs ----------------------------------------------------- */

static char *self_exe;

/* Helper mode (a child process, while the daemon is stopped): opens the
 * daemon's embedded driver and starts a transient domain, as `virsh create`
 * would, with ACPI (a guest that hears the power button) unless not ACPI.
 * QEMU outlives us. */
static int make_transient(const char *root, const char *name, const char *disk, const char *log,
                          bool acpi)
{
    virConnectPtr conn = vs_embed_open(root);
    if (!conn)
        return 1;
    g_autofree char *caps = virConnectGetCapabilities(conn);
    const char *type = caps && strstr(caps, "<domain type='kvm'") ? "kvm" : "qemu";
#define TRANSIENT_HEAD                                                                       \
    "<domain type='%s'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"             \
    "<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>"
#define TRANSIENT_TAIL                                                                       \
    "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"             \
    "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"                              \
    "<serial type='file'><source path='%s'/><target port='0'/></serial>"                      \
    "<memballoon model='none'/></devices></domain>"
    /* (the arguments are escaped, the format is not) */
    g_autofree char *xml =
        acpi ? g_markup_printf_escaped(TRANSIENT_HEAD "<features><acpi/></features>" TRANSIENT_TAIL,
                                       type, name, disk, log)
             : g_markup_printf_escaped(TRANSIENT_HEAD TRANSIENT_TAIL, type, name, disk, log);
    virDomainPtr dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        fprintf(stderr, "cannot create %s: %s\n", name, virGetLastErrorMessage());
        return 1;
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}

/* Starts NAME as a transient domain on the embedded driver under ROOT
 * (the daemon stopped), on an overlay of the guest image in the work
 * directory, with ACPI unless NAME ends in "-deaf"; sets *DISK and *LOG to
 * its disk and serial log (owned). */
static void start_transient(const char *root, const char *name, char **disk, char **log)
{
    g_autofree char *disk_file = g_strdup_printf("%s.qcow2", name);
    g_autofree char *log_file = g_strdup_printf("%s.serial.log", name);
    *disk = g_build_filename(e2e.workdir, disk_file, NULL);
    *log = g_build_filename(e2e.workdir, log_file, NULL);
    const char *mkimg[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", e2e.guest,
                           "-F", "qcow2", *disk, NULL};
    g_autofree char *out = NULL;
    if (vs_run(mkimg, &out) != 0)
        fail_msg("qemu-img create: %s", out);
    const char *helper[] = {self_exe, "--make-transient", root, name, *disk, *log,
                            g_str_has_suffix(name, "-deaf") ? "no-acpi" : "acpi", NULL};
    g_autofree char *helper_out = NULL;
    int rc = vs_run(helper, &helper_out);
    if (rc != 0)
        fail_msg("making the transient VM %s failed (%d): %s", name, rc, helper_out);
}

static void test_transient(void **state)
{
    (void)state;

    /* a persistent VM running across the restart must be found again */
    json_t *vm = vs_guest_vm_create(e2e.d, "keeps-running", e2e.guest);
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    json_decref(vm);
    vs_guest_vm_action(e2e.d, "keeps-running", "start", "running");

    /* the daemon is stopped while the transient VM is made */
    assert_int_equal(vs_test_daemon_term(e2e.d), 0);
    g_autofree char *root = vs_state_path(e2e.d, "libvirt", NULL);
    g_autofree char *disk = NULL, *log = NULL, *disk_k = NULL, *log_k = NULL;
    g_autofree char *disk_s = NULL, *log_s = NULL, *disk_d = NULL, *log_d = NULL;
    start_transient(root, "transient", &disk, &log);
    start_transient(root, "transient-k", &disk_k, &log_k);
    start_transient(root, "transient-s", &disk_s, &log_s);
    start_transient(root, "transient-deaf", &disk_d, &log_d);
    /* What is kept of a VM that went while virtsnapd was stopped (its events
     * lost): a display name and a memory file of a UUID libvirt does not
     * know. The sweep at start removes them. */
    const char *lost = "6d9c1f0e-2b7a-4c1e-9f3d-5a8b7c6d5e4f";
    g_autofree char *lost_names = vs_state_path(e2e.d, "snapnames", NULL);
    g_autofree char *lost_conf_file = g_strdup_printf("%s.conf", lost);
    g_autofree char *lost_conf = g_build_filename(lost_names, lost_conf_file, NULL);
    g_autofree char *lost_live = vs_state_path(e2e.d, "live", lost, NULL);
    g_autofree char *lost_ram = g_build_filename(lost_live, "vs-lost.ram", NULL);
    assert_int_equal(g_mkdir_with_parents(lost_live, 0700), 0);
    assert_true(g_file_set_contents(lost_conf, "[names]\nvs-lost=lost one\n", -1, NULL));
    assert_true(g_file_set_contents(lost_ram, "x", 1, NULL));
    gint64 t0 = g_get_monotonic_time();
    vs_test_daemon_restart(e2e.d);
    printf("# daemon restarted in %.1f s\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);

    for (int i = 0; i < 100 && (g_file_test(lost_conf, G_FILE_TEST_EXISTS) ||
                                g_file_test(lost_live, G_FILE_TEST_EXISTS));
         i++)
        g_usleep(100 * 1000);
    assert_false(g_file_test(lost_conf, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(lost_live, G_FILE_TEST_EXISTS));

    json_t *kept = vs_guest_vm_get(e2e.d, "keeps-running");
    assert_string_equal(vs_json_str(kept, "state"), "running");
    json_decref(kept);
    long before = vs_guest_last_count(serial);
    vs_guest_wait_count(serial, 0, before + 3, 60);

    json_t *t = vs_guest_vm_get(e2e.d, "transient");
    assert_false(json_is_true(json_object_get(t, "persistent")));
    assert_string_equal(vs_json_str(t, "state"), "running");
    json_decref(t);
    vs_guest_wait_count(log, 0, 3, 60);

    /* without snapshots a transient VM can be suspended and resumed freely */
    vs_guest_vm_action(e2e.d, "transient", "suspend", "paused");
    vs_guest_vm_action(e2e.d, "transient", "resume", "running");

    vs_guest_snapshot(e2e.d, "transient", "t1");
    json_t *snap = vs_guest_snapshot_get(e2e.d, "transient", "t1");
    assert_true(json_is_true(json_object_get(snap, "memory")));
    json_decref(snap);

    /* powering off or shutting down would strand the metadata: 409 */
    expect_409("POST", "/vms/transient/poweroff", "transient");
    expect_409("POST", "/vms/transient/shutdown", "transient");
    {
        g_autoptr(VsTestResponse) still = vs_expect(e2e.d, 200, "GET", NULL, "/vms/transient");
        assert_string_equal(vs_json_str(still->json, "state"), "running");
        assert_int_equal(vs_json_int(still->json, "snapshots"), 1);
        g_autoptr(VsTestResponse) bad =
            vs_expect(e2e.d, 400, "POST", NULL, "/vms/transient/poweroff?discard_snapshots=maybe");
        (void)bad;
    }
    /* Killed between the metadata's drop and the power-off: after the
     * restart the VM runs on and recovery has defined its tree again from
     * the record written first (before: running, with no snapshots). */
    {
        g_setenv("VIRTSNAP_FAULT", "delete-before-power-off", TRUE);
        vs_test_daemon_restart(e2e.d);
        g_unsetenv("VIRTSNAP_FAULT");
        g_autoptr(VsTestResponse) cut =
            vs_req(e2e.d, "POST", NULL, "/vms/transient/poweroff?discard_snapshots=true");
        assert_int_equal(cut->status, 0); /* no answer: killed */
        int status = 0;
        assert_int_equal(waitpid(e2e.d->pid, &status, 0), e2e.d->pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        e2e.d->pid = 0;
        vs_test_daemon_restart(e2e.d);
        g_autoptr(VsTestResponse) back = vs_expect(e2e.d, 200, "GET", NULL, "/vms/transient");
        assert_string_equal(vs_json_str(back->json, "state"), "running");
        assert_int_equal(vs_json_int(back->json, "snapshots"), 1);
        assert_string_equal(vs_json_str(back->json, "current-snapshot"), "t1");
        g_autofree char *journal = vs_state_path(e2e.d, "journal", NULL);
        assert_true(g_file_test(journal, G_FILE_TEST_IS_DIR));
        assert_int_equal(vs_dir_count(journal), 0);
    }
    g_autofree char *meta =
        vs_state_path(e2e.d, "libvirt", "lib", "qemu", "snapshot", "transient", NULL);
    assert_int_equal(vs_dir_count(meta), 1); /* t1's metadata, there until the power-off */
    /* with consent it goes, metadata and all */
    {
        g_autoptr(VsTestResponse) r = vs_expect(e2e.d, 200, "POST", NULL,
                                                "/vms/transient/poweroff?discard_snapshots=true");
        assert_string_equal(vs_json_str(r->json, "state"), "shutoff");
        g_autoptr(VsTestResponse) gone = vs_expect(e2e.d, 404, "GET", NULL, "/vms/transient");
        g_autoptr(VsTestResponse) snaps =
            vs_expect(e2e.d, 404, "GET", NULL, "/vms/transient/snapshots");
        (void)gone, (void)snaps;
    }
    assert_int_equal(vs_dir_count(meta), 0);
    /* virtsnap did not make that disk: it stays (with the snapshot inside) */
    assert_true(g_file_test(disk, G_FILE_TEST_IS_REGULAR));
    g_autofree char *tags = vs_qemu_img_snapshots(disk);
    assert_non_null(strstr(tags, "t1"));

    /* A transient VM that stops without virtsnapd (here its QEMU dies)
     * loses its snapshots' metadata in libvirt: what virtsnapd kept of them
     * (display names, the figures of snapshots of the running guest) goes
     * too. (A transient VM takes no live snapshots: their revert restarts
     * QEMU.) */
    vs_guest_wait_count(log_k, 0, 3, 60);
    vs_guest_snapshot_kind(e2e.d, "transient-k", "k1", "false");
    vs_guest_snapshot_kind(e2e.d, "transient-k", "k2 \xc3\xa9", "false");
    json_t *k = vs_guest_vm_get(e2e.d, "transient-k");
    g_autofree char *uuid_k = g_strdup(vs_json_str(k, "uuid"));
    json_decref(k);
    g_autofree char *figures_name = g_strdup_printf("%s.figures", uuid_k);
    g_autofree char *figures_k = vs_state_path(e2e.d, "snapnames", figures_name, NULL);
    g_autofree char *names_name = g_strdup_printf("%s.conf", uuid_k);
    g_autofree char *names_k = vs_state_path(e2e.d, "snapnames", names_name, NULL);
    assert_int_equal(vs_dir_count(figures_k), 2);
    assert_true(g_file_test(names_k, G_FILE_TEST_IS_REGULAR));
    g_autofree char *pid_file =
        vs_state_path(e2e.d, "libvirt", "run", "qemu", "transient-k.pid", NULL);
    g_autofree char *pid_text = NULL;
    assert_true(g_file_get_contents(pid_file, &pid_text, NULL, NULL));
    assert_int_equal(kill((pid_t)atoi(pid_text), SIGKILL), 0);
    bool swept = false;
    for (int i = 0; i < 300 && !swept; i++) {
        g_autoptr(VsTestResponse) r = vs_http(e2e.d, "GET", "/vms/transient-k", NULL);
        swept = r->status == 404 && vs_dir_count(figures_k) == 0 &&
                !g_file_test(names_k, G_FILE_TEST_EXISTS);
        if (!swept)
            g_usleep(100 * 1000);
    }
    if (!swept)
        fail_msg("what virtsnapd kept of the stopped transient VM is still there: %s, %s",
                 figures_k, names_k);

    /* A transient VM shut down with consent: answered at once, the guest
     * sees the power button and powers off, and libvirt drops the VM with
     * its snapshots' metadata; what virtsnapd kept of them goes too. */
    vs_guest_wait_count(log_s, 0, 3, 60);
    vs_guest_snapshot_kind(e2e.d, "transient-s", "s1 \xc3\xa9", "false");
    json_t *s_vm = vs_guest_vm_get(e2e.d, "transient-s");
    g_autofree char *names_s_name = g_strdup_printf("%s.conf", vs_json_str(s_vm, "uuid"));
    json_decref(s_vm);
    g_autofree char *names_s = vs_state_path(e2e.d, "snapnames", names_s_name, NULL);
    assert_true(g_file_test(names_s, G_FILE_TEST_IS_REGULAR));
    g_autofree char *meta_s =
        vs_state_path(e2e.d, "libvirt", "lib", "qemu", "snapshot", "transient-s", NULL);
    assert_int_equal(vs_dir_count(meta_s), 1);
    expect_409("POST", "/vms/transient-s/shutdown", "transient");
    gsize asked_at = vs_file_size(log_s);
    g_autoptr(VsTestResponse) asked = vs_expect(e2e.d, 200, "POST", NULL,
                                                "/vms/transient-s/shutdown?discard_snapshots=true");
    (void)asked;
    bool ended = false;
    for (int i = 0; i < 300 && !ended; i++) {
        g_autoptr(VsTestResponse) r = vs_http(e2e.d, "GET", "/vms/transient-s", NULL);
        ended = r->status == 404 && !g_file_test(names_s, G_FILE_TEST_EXISTS);
        if (!ended)
            g_usleep(100 * 1000);
    }
    g_autofree char *said = vs_read_file(log_s);
    if (!ended)
        fail_msg("the transient VM did not end in 30 s after its shutdown, or %s stayed; its "
                 "serial log since: %s", names_s, said + asked_at);
    assert_non_null(strstr(said + asked_at, "VIRTSNAP-GUEST OFF"));
    assert_int_equal(vs_dir_count(meta_s), 0);

    /* A guest that ignores the shutdown (no ACPI) keeps running, and its
     * snapshots with it: only asked, nothing was dropped ahead. */
    vs_guest_wait_count(log_d, 0, 3, 60);
    vs_guest_snapshot_kind(e2e.d, "transient-deaf", "d1", "false");
    gsize deaf_at = vs_file_size(log_d);
    g_autoptr(VsTestResponse) ignored = vs_expect(
        e2e.d, 200, "POST", NULL, "/vms/transient-deaf/shutdown?discard_snapshots=true");
    long deaf_count = vs_guest_last_count(log_d);
    vs_guest_wait_count(log_d, deaf_at, deaf_count + 20, 60); /* counting on, 2 s or more */
    json_t *deaf = vs_guest_vm_get(e2e.d, "transient-deaf");
    assert_string_equal(vs_json_str(deaf, "state"), "running");
    assert_int_equal(vs_json_int(deaf, "snapshots"), 1);
    json_decref(deaf);
    g_autoptr(VsTestResponse) d1 =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/transient-deaf/snapshots/d1");
    g_autoptr(VsTestResponse) deaf_off =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/transient-deaf/poweroff?discard_snapshots=true");

    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/keeps-running");
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
}

/* ---- a disk swapped by another client ----------------------------------- */

/* Helper mode (a child process, while the daemon is down): redefines domain
 * NAME of the embedded driver under ROOT with disk file FROM replaced by TO,
 * as `virsh edit` would. */
static int swap_disk(const char *root, const char *name, const char *from, const char *to)
{
    virConnectPtr conn = vs_embed_open(root);
    if (!conn)
        return 1;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE)
                    : NULL;
    g_autofree char *quoted_from = g_strdup_printf("'%s'", from);
    g_autofree char *quoted_to = g_strdup_printf("'%s'", to);
    g_auto(GStrv) parts = xml ? g_strsplit(xml, quoted_from, -1) : NULL;
    if (!parts || g_strv_length(parts) != 2) {
        fprintf(stderr, "disk %s not found once in %s: %s\n", from, name,
                xml ? xml : virGetLastErrorMessage());
        return 1;
    }
    g_autofree char *swapped = g_strjoinv(quoted_to, parts);
    virDomainPtr redefined = virDomainDefineXML(conn, swapped);
    if (!redefined) {
        fprintf(stderr, "cannot redefine %s: %s\n", name, virGetLastErrorMessage());
        return 1;
    }
    free(xml);
    virDomainFree(redefined);
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}

/* A VM whose disk another client swapped for another file after a snapshot:
 * the snapshot's copy of the definition names the old file, which a clone
 * would not copy and would share. The clone's task fails with a conflict
 * that names the snapshot and the file, and leaves nothing behind; once
 * that snapshot is deleted the clone works. */
static void test_clone_swapped_disk(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "swapped", e2e.guest);
    json_decref(vm);
    g_autofree char *old_disk = vs_guest_vm_image(e2e.d, "swapped");
    vs_guest_snapshot(e2e.d, "swapped", "before-swap");

    /* the new disk, as another tool might make it, names its backing file
     * relative to its own directory */
    g_autofree char *new_disk = g_build_filename(e2e.workdir, "swapped-new.qcow2", NULL);
    g_autofree char *guest_name = g_path_get_basename(e2e.guest);
    assert_true(g_str_has_prefix(e2e.guest, e2e.workdir)); /* the same directory */
    const char *mkimg[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", guest_name,
                           "-F", "qcow2", new_disk, NULL};
    g_autofree char *out = NULL;
    if (vs_run(mkimg, &out) != 0)
        fail_msg("qemu-img create: %s", out);
    assert_int_equal(vs_test_daemon_term(e2e.d), 0);
    g_autofree char *root = vs_state_path(e2e.d, "libvirt", NULL);
    const char *helper[] = {self_exe, "--swap-disk", root, "swapped", old_disk, new_disk, NULL};
    g_autofree char *helper_out = NULL;
    int rc = vs_run(helper, &helper_out);
    vs_test_daemon_restart(e2e.d);
    if (rc != 0)
        fail_msg("swapping the disk failed (%d): %s", rc, helper_out);

    g_autofree char *images = vs_state_path(e2e.d, "images", NULL);
    int files = vs_dir_count(images);
    g_autoptr(VsTestResponse) r =
        vs_req(e2e.d, "POST", "{\"name\": \"swapped-clone\"}", "/vms/swapped/clone");
    assert_int_equal(r->status, 202);
    json_t *task = vs_wait_task(e2e.d, vs_json_str(r->json, "id"), 60);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    const char *message = vs_json_str(task, "message");
    printf("# clone refused: %s\n", message);
    assert_non_null(strstr(message, "snapshot 'before-swap'"));
    assert_non_null(strstr(message, old_disk));
    json_decref(task);
    assert_false(vs_guest_vm_exists(e2e.d, "swapped-clone"));
    assert_int_equal(vs_dir_count(images), files);

    g_autoptr(VsTestResponse) del =
        vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/swapped/snapshots/before-swap");
    g_autoptr(VsTestResponse) again =
        vs_req(e2e.d, "POST", "{\"name\": \"swapped-clone\"}", "/vms/swapped/clone");
    json_t *done = vs_guest_task_ok(e2e.d, again, 120);
    json_decref(done);
    assert_true(vs_guest_vm_exists(e2e.d, "swapped-clone"));
    /* The clone's copy, in STATE/images, still finds that backing file: its
     * header names it absolutely now (before, "guest.qcow2" next to the
     * copy: missing, the clone could not start). */
    g_autofree char *clone_disk = vs_guest_vm_image(e2e.d, "swapped-clone");
    const char *chain[] = {"qemu-img", "info", "-U", "--backing-chain", clone_disk, NULL};
    g_autofree char *info = NULL;
    if (vs_run(chain, &info) != 0)
        fail_msg("the clone's disk does not open with its backing chain: %s", info);
    g_autofree char *backing_line = g_strdup_printf("backing file: %s", e2e.guest);
    assert_non_null(strstr(info, backing_line));
    vs_guest_vm_action(e2e.d, "swapped-clone", "start", "running");
    json_t *clone_vm = vs_guest_vm_get(e2e.d, "swapped-clone");
    g_autofree char *clone_serial = g_strdup(vs_json_str(clone_vm, "serial_log"));
    json_decref(clone_vm);
    vs_guest_wait_count(clone_serial, 0, 3, 60); /* it boots from the guest */
    vs_guest_vm_action(e2e.d, "swapped-clone", "poweroff", "shutoff");
    g_autoptr(VsTestResponse) del_clone =
        vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/swapped-clone");
    g_autoptr(VsTestResponse) del_vm = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/swapped");
    g_unlink(old_disk); /* no longer the VM's: left by its delete */
}

/* Makes PATH immutable (chattr +i: not even root may remove it) or not. */
static bool set_immutable(const char *path, bool on)
{
    const char *argv[] = {"chattr", on ? "+i" : "-i", path, NULL};
    g_autofree char *out = NULL;
    return vs_run(argv, &out) == 0;
}

/* libvirt's undefine drops the snapshots' metadata first and can fail
 * after it: here its definition's file cannot be removed. The delete
 * answers 500 and the VM keeps every snapshot, the current one too
 * (before: none left, the qcow2 tags stranded in the image); with
 * disks=keep nothing is left beside the disk. Once the file can go, the
 * delete goes through. */
static void test_delete_refused_part_way(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "stuck", e2e.guest);
    json_decref(vm);
    vs_guest_snapshot(e2e.d, "stuck", "one");
    vs_guest_snapshot(e2e.d, "stuck", "two");
    vs_guest_revert(e2e.d, "stuck", "one");
    g_autofree char *disk = vs_guest_vm_image(e2e.d, "stuck");
    g_autofree char *config = vs_state_path(e2e.d, "libvirt", "etc", "qemu", "stuck.xml", NULL);
    assert_true(g_file_test(config, G_FILE_TEST_EXISTS));
    if (!set_immutable(config, true))
        skip(); /* a file system without immutable files */
    const char *queries[] = {"?disks=keep", ""};
    for (size_t i = 0; i < G_N_ELEMENTS(queries); i++) {
        g_autoptr(VsTestResponse) refused = vs_req(e2e.d, "DELETE", NULL, "/vms/stuck%s", queries[i]);
        printf("# delete%s refused: %ld %s\n", queries[i], refused->status, refused->body);
        assert_int_equal(refused->status, 500);
        json_t *all = vs_guest_snapshots_all(e2e.d, "stuck");
        g_autofree char *names = vs_names(all);
        json_decref(all);
        assert_string_equal(names, "one,two");
        json_t *one = vs_guest_snapshot_get(e2e.d, "stuck", "one");
        assert_true(json_is_true(json_object_get(one, "current")));
        json_t *two = vs_guest_snapshot_get(e2e.d, "stuck", "two");
        assert_string_equal(vs_json_str(two, "parent"), "one");
        json_decref(one);
        json_decref(two);
        g_autofree char *kept = g_strdup_printf("%s.snapshots", disk);
        assert_false(g_file_test(kept, G_FILE_TEST_EXISTS));
    }
    g_autofree char *tags = vs_qemu_img_tags(disk);
    assert_string_equal(tags, "one,two");
    assert_true(set_immutable(config, false));
    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/stuck");
    assert_false(vs_guest_vm_exists(e2e.d, "stuck"));
    assert_false(g_file_test(disk, G_FILE_TEST_EXISTS));
}

/* A running VM reverted to a snapshot taken while it was shut off: QEMU
 * stops, the VM is shut off, and its disk is as it was then (a block
 * written after the snapshot is gone). A second snapshot, named "1", is
 * reverted to its own disk (not to the image's snapshot of id 1). Then it
 * starts again from that disk: a boot (a banner), not a resume. */
static void test_revert_running_to_shutoff(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "back-off", e2e.guest);
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    json_decref(vm);
    g_autofree char *disk = vs_guest_vm_image(e2e.d, "back-off");
    vs_guest_snapshot(e2e.d, "back-off", "off1");
    json_t *off1 = vs_guest_snapshot_get(e2e.d, "back-off", "off1");
    assert_string_equal(vs_json_str(off1, "state"), "shutoff");
    assert_false(json_is_true(json_object_get(off1, "memory")));
    json_decref(off1);
    assert_true(vs_qemu_io(disk, "write -P 0xab 768k 4k")); /* after the snapshot */
    vs_guest_vm_action(e2e.d, "back-off", "start", "running");
    vs_guest_wait_count(serial, 0, 3, 60);
    assert_int_equal(vs_guest_qemu_count(e2e.d, "back-off"), 1);
    vs_guest_revert(e2e.d, "back-off", "off1");
    json_t *now = vs_guest_vm_get(e2e.d, "back-off");
    assert_string_equal(vs_json_str(now, "state"), "shutoff");
    assert_string_equal(vs_json_str(now, "current-snapshot"), "off1");
    json_decref(now);
    assert_int_equal(vs_guest_qemu_count(e2e.d, "back-off"), 0);
    assert_true(vs_qemu_io(disk, "read 768k 4k"));          /* (the image reads) */
    assert_false(vs_qemu_io(disk, "read -P 0xab 768k 4k")); /* the block written after is gone */
    /* A snapshot named by digits only: qemu-img and QEMU's loadvm take "1"
     * for the id of the image's first snapshot (off1's) before any name, so
     * its tag must not be "1" (a revert to it restored off1's disk). */
    assert_true(vs_qemu_io(disk, "write -P 0xcd 768k 4k"));
    vs_guest_snapshot(e2e.d, "back-off", "1");
    assert_true(vs_qemu_io(disk, "write -P 0xee 768k 4k"));
    vs_guest_revert(e2e.d, "back-off", "1");
    assert_true(vs_qemu_io(disk, "read -P 0xcd 768k 4k")); /* "1"'s disk, not off1's */
    g_autofree char *tags = vs_qemu_img_tags(disk);
    g_auto(GStrv) tag_list = g_strsplit(tags, ",", -1);
    assert_int_equal(g_strv_length(tag_list), 2);
    assert_false(g_strv_contains((const char *const *)tag_list, "1"));
    gsize offset = vs_file_size(serial);
    vs_guest_vm_action(e2e.d, "back-off", "start", "running");
    vs_guest_wait_count(serial, offset, 3, 60);
    assert_true(vs_guest_banners(serial, offset) >= 1); /* booted from the disk */
    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/back-off");
}

int main(int argc, char **argv)
{
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    if (argc == 7 && !strcmp(argv[1], "--make-transient"))
        return make_transient(argv[2], argv[3], argv[4], argv[5], !strcmp(argv[6], "acpi"));
    if (argc == 6 && !strcmp(argv[1], "--swap-disk"))
        return swap_disk(argv[2], argv[3], argv[4], argv[5]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_clone_swapped_disk),
        cmocka_unit_test(test_delete_refused_part_way),
        cmocka_unit_test(test_revert_running_to_shutoff),
    };
    return e2e_run_group("e2e-lifecycle", tests, G_N_ELEMENTS(tests));
}
