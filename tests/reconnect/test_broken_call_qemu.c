/* test_broken_call_qemu.c: the same as test_broken_call.c on real QEMU, as
 * on a host run with qemu:///system: a private libvirtd (QEMU driver, own
 * mount namespace, libvirtd.h) runs the tiny guest, and virtsnapd reaches it
 * through the cutting relay (relay.h). QEMU is stopped (SIGSTOP) while a
 * snapshot is asked for, so that libvirt's call is still in progress when
 * the connection goes:
 *   - the link drops and libvirtd goes on: virtsnapd, back before libvirtd
 *     has finished, waits for libvirt's job and finds the snapshot made;
 *   - libvirtd itself is killed and restarted: the snapshot is not made,
 *     and nothing of it is left (no metadata, no qcow2 tag), the guest runs.
 * Also, a UEFI VM (pflash firmware) another client defined: a snapshot
 * create is refused at once (409), and its delete keeps its variable store
 * with ?disks=keep and removes it otherwise. */
#include "guest.h"
#include "libvirtd.h"
#include "relay.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static struct {
    VsTestDaemon *d;
    char *workdir, *guest;
    pid_t qemu;
} t;

static int daemon_status = -1;

static int setup(void **state)
{
    (void)state;
    g_autofree char *relay = vs_libvirtd_start_relayed();
    if (!vs_guest_build("broken-call", &t.workdir, &t.guest))
        return -1;
    g_autofree char *uri = g_strdup_printf("qemu+unix:///system?socket=%s", relay);
    t.d = vs_test_daemon_start(uri, NULL);
    json_decref(vs_guest_vm_create(t.d, "g", t.guest));
    vs_guest_vm_action(t.d, "g", "start", "running");
    g_autoptr(GArray) pids = vs_qemu_pids(t.d->state_dir, "g");
    assert_int_equal(pids->len, 1);
    t.qemu = g_array_index(pids, pid_t, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (t.qemu > 0)
        kill(t.qemu, SIGCONT);
    vs_relay_stop();
    if (t.d) {
        vs_guest_delete_all_vms(t.d, "broken-call-qemu");
        daemon_status = vs_test_daemon_term(t.d);
        vs_test_daemon_free(t.d);
    }
    vs_libvirtd_remove();
    if (t.workdir)
        vs_run((const char *const[]){"rm", "-rf", t.workdir, NULL}, NULL);
    return 0;
}

/* Whether libvirt (asked directly, not through virtsnapd) has snapshot NAME of g. */
static bool libvirt_has(const char *name)
{
    g_autofree char *uri = g_strdup_printf("qemu+unix:///system?socket=%s", vs_libvirtd_socket());
    virConnectPtr conn = virConnectOpen(uri);
    assert_non_null(conn);
    virDomainPtr dom = virDomainLookupByName(conn, "g");
    assert_non_null(dom);
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (snap)
        virDomainSnapshotFree(snap);
    virDomainFree(dom);
    virConnectClose(conn);
    return snap != NULL;
}

static bool image_has_tag(const char *name)
{
    g_autofree char *image = vs_guest_vm_image(t.d, "g");
    g_autofree char *tags = vs_qemu_img_tags(image);
    g_auto(GStrv) list = g_strsplit(tags, ",", -1);
    return g_strv_contains((const char *const *)list, name);
}

/* POSTs a classic snapshot NAME of g while QEMU is stopped: libvirt's call
 * cannot end until QEMU runs again. The task's id (owned). */
static char *snapshot_while_frozen(const char *name)
{
    assert_int_equal(kill(t.qemu, SIGSTOP), 0);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\", \"live\": false}", name);
    g_autoptr(VsTestResponse) r = vs_expect(t.d, 202, "POST", body, "/vms/g/snapshots");
    return g_strdup(vs_guest_task_accepted(r));
}

static json_t *task_now(const char *id)
{
    g_autoptr(VsTestResponse) r = vs_expect(t.d, 200, "GET", NULL, "/tasks/%s", id);
    return json_incref(r->json);
}

/* Polls task ID until its message contains WANT (fails after 30 s). */
static void wait_message(const char *id, const char *want)
{
    g_autofree char *last = NULL;
    for (int i = 0; i < 300; i++) {
        json_t *task = task_now(id);
        g_free(last);
        last = g_strdup_printf("%s: %s", vs_json_str(task, "status"), vs_json_str(task, "message"));
        json_decref(task);
        if (strstr(last, want))
            return;
        g_usleep(100000);
    }
    fail_msg("task %s never said '%s' (last: %s)", id, want, last);
}

static void test_link_drops_libvirtd_finishes(void **state)
{
    (void)state;
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_AFTER_CALL, VS_PROC_SNAPSHOT_CREATE_XML);
    g_autofree char *id = snapshot_while_frozen("slow");
    for (int i = 0; i < 100 && vs_relay_cuts() == cuts; i++)
        g_usleep(100000);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    /* virtsnapd reconnects within 2 s and must wait for libvirt's job,
     * which cannot end while QEMU is stopped. Longer than 30 s: libvirt
     * then answers the job query with a lock timeout, which is no answer. */
    wait_message(id, "broke off");
    g_usleep(35 * G_USEC_PER_SEC);
    json_t *waiting = task_now(id);
    assert_string_equal(vs_json_str(waiting, "status"), "running");
    json_decref(waiting);
    assert_int_equal(kill(t.qemu, SIGCONT), 0);
    json_t *task = vs_wait_task(t.d, id, 120);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("task: %s (%s)", vs_json_str(task, "status"), vs_json_str(task, "message"));
    json_decref(task);
    assert_true(libvirt_has("slow"));
    assert_true(image_has_tag("slow"));
    json_decref(vs_guest_snapshot_get(t.d, "g", "slow"));
    json_t *vm = vs_guest_vm_get(t.d, "g");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    assert_string_equal(vs_json_str(vm, "current-snapshot"), "slow");
    json_decref(vm);
}

static void test_libvirtd_killed_midway(void **state)
{
    (void)state;
    g_autofree char *id = snapshot_while_frozen("killed");
    wait_message(id, "saving disks and memory");
    g_usleep(500000); /* libvirtd is now in the call, waiting for QEMU */
    vs_libvirtd_kill();
    assert_int_equal(kill(t.qemu, SIGCONT), 0);
    vs_libvirtd_start();
    json_t *task = vs_wait_task(t.d, id, 120);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    if (!strstr(vs_json_str(task, "message"), "was not made"))
        fail_msg("task message: %s", vs_json_str(task, "message"));
    json_decref(task);
    assert_false(libvirt_has("killed"));
    assert_false(image_has_tag("killed"));
    g_autoptr(VsTestResponse) gone = vs_req(t.d, "GET", NULL, "/vms/g/snapshots/killed");
    assert_int_equal(gone->status, 404);
    json_t *vm = vs_guest_vm_get(t.d, "g");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* The VM takes snapshots again, the name free. */
    vs_guest_snapshot_kind(t.d, "g", "killed", "false");
    assert_true(libvirt_has("killed"));
}

static void quiet(void *opaque, virErrorPtr error)
{
    (void)opaque, (void)error;
}

/* A live snapshot whose last call (libvirt's metadata, REDEFINE) is made
 * but its answer lost: the take leaves its memory file and tags to the
 * settle, which finds the snapshot recorded and whole: kept, finished. */
static void test_live_cut_at_metadata(void **state)
{
    (void)state;
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_AFTER_REPLY, VS_PROC_SNAPSHOT_CREATE_XML);
    g_autoptr(VsTestResponse) r =
        vs_expect(t.d, 202, "POST", "{\"name\": \"live\", \"live\": true}", "/vms/g/snapshots");
    json_t *task = vs_wait_task(t.d, vs_guest_task_accepted(r), 120);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("task: %s (%s)", vs_json_str(task, "status"), vs_json_str(task, "message"));
    json_decref(task);
    assert_true(libvirt_has("live"));
    assert_true(image_has_tag("live"));
    json_t *snap = vs_guest_snapshot_get(t.d, "g", "live");
    assert_true(json_is_true(json_object_get(snap, "live")));
    json_decref(snap);
    /* Whole: the guest goes back to it. */
    vs_guest_revert(t.d, "g", "live");
    json_t *vm = vs_guest_vm_get(t.d, "g");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
}

/* Defines, through another client of the same libvirtd, VM "uefi": UEFI
 * firmware from pflash (a stand-in code file: the VM is never started), its
 * variable store NVRAM, a qcow2 disk outside STATE. */
static void define_uefi(const char *nvram, const char *disk)
{
    assert_true(g_file_set_contents(nvram, "variables", -1, NULL));
    g_autofree char *code = g_build_filename(t.workdir, "CODE.fd", NULL);
    assert_true(g_file_set_contents(code, "firmware", -1, NULL));
    g_autofree char *uri = g_strdup_printf("qemu+unix:///system?socket=%s", vs_libvirtd_socket());
    virConnectPtr conn = virConnectOpen(uri);
    assert_non_null(conn);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>uefi</name><memory unit='MiB'>64</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type>"
        "<loader readonly='yes' type='pflash'>%s</loader><nvram>%s</nvram></os>"
        "<features><acpi/></features><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>",
        code, nvram, disk);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    virDomainFree(dom);
    virConnectClose(conn);
}

/* A UEFI VM (pflash firmware) on QEMU: libvirt takes no internal snapshot
 * of it, so a create answers 409 at once, saying what works instead; its
 * delete keeps the variable store with ?disks=keep and removes it
 * otherwise (libvirt's UNDEFINE_KEEP_NVRAM / _NVRAM), and never touches a
 * disk outside STATE. */
static void test_uefi_vm(void **state)
{
    (void)state;
    g_autofree char *nvram = g_build_filename(t.workdir, "uefi_VARS.fd", NULL);
    g_autofree char *disk = g_build_filename(t.workdir, "uefi.qcow2", NULL);
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", disk, "16M", NULL};
    assert_int_equal(vs_run(argv, NULL), 0);
    define_uefi(nvram, disk);
    g_autoptr(VsTestResponse) refused =
        vs_http(t.d, "POST", "/vms/uefi/snapshots", "{\"name\": \"u1\"}");
    assert_int_equal(refused->status, 409);
    assert_non_null(strstr(vs_json_str(refused->json, "reason"), "pflash"));
    assert_non_null(strstr(vs_json_str(refused->json, "reason"), "live snapshot"));
    g_autoptr(VsTestResponse) kept = vs_http(t.d, "DELETE", "/vms/uefi?disks=keep", NULL);
    assert_int_equal(kept->status, 204);
    assert_true(g_file_test(nvram, G_FILE_TEST_EXISTS));
    define_uefi(nvram, disk);
    g_autoptr(VsTestResponse) gone = vs_http(t.d, "DELETE", "/vms/uefi", NULL);
    assert_int_equal(gone->status, 204);
    assert_false(g_file_test(nvram, G_FILE_TEST_EXISTS));
    assert_true(g_file_test(disk, G_FILE_TEST_EXISTS));
    g_autoptr(VsTestResponse) none = vs_http(t.d, "GET", "/vms/uefi", NULL);
    assert_int_equal(none->status, 404);
}

int main(void)
{
    virSetErrorFunc(NULL, quiet); /* expected refusals, checked by the tests */
    if (vs_libvirtd_skip("broken-call-qemu test"))
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_drops_libvirtd_finishes),
        cmocka_unit_test(test_libvirtd_killed_midway),
        cmocka_unit_test(test_live_cut_at_metadata),
        cmocka_unit_test(test_uefi_vm),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown); /* sets daemon_status */
    return vs_libvirtd_exit_status(vs_test_exit_status(failed), daemon_status);
}
