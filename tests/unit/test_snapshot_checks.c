/* test_snapshot_checks.c: unit tests of how a snapshot create's worker uses
 * what the request's checks found (model/snapshot.c) on test:///default in
 * this process. With nothing else on the VM, it takes the request's findings
 * (whether the VM runs; the name is free in libvirt); when an operation on
 * the VM was under way during the checks, the worker waits for it and asks
 * libvirt again, so that what that operation changed is seen (a name
 * taken meanwhile fails the create); and when libvirt told of a change to
 * the VM since (the guest paused), it asks for the state again. A failed
 * create deletes nothing it did not make. */
#include "hv_fixture.h"
#include "model/journal.h"
#include "model/snapnames.h"
#include "model/snapshot.h"
#include "model/tasks.h"
#include "model/vmlock.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define VM "checkvm"

static char *state_dir;

static virDomainPtr the_vm(void)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    assert_non_null(conn);
    virDomainPtr dom = virDomainLookupByName(conn, VM);
    assert_non_null(dom);
    return dom;
}

static VsVmLock *lock_of_vm(void)
{
    g_autoptr(virDomain) dom = the_vm();
    g_autofree char *uuid = vs_hv_uuid(dom);
    return vs_vmlock_for(uuid);
}

/* Runs JOB as the API does (a task) and waits for its end: true if it
 * finished (*MESSAGE, if given: the task's last message). */
static bool run_job_message(VsSnapshotJob *job, char **message)
{
    g_autofree char *id = vs_task_start(&(VsTaskTarget){.vm = "test"}, vs_snapshot_job_run, job, vs_snapshot_job_free);
    g_autoptr(VsTaskInfo) info = vs_task_wait(id, 20000);
    assert_non_null(info);
    if (message)
        *message = g_strdup(info->message);
    else if (info->status != VS_TASK_FINISHED)
        print_message("task: %s\n", info->message);
    return info->status == VS_TASK_FINISHED;
}

static bool run_job(VsSnapshotJob *job)
{
    return run_job_message(job, NULL);
}

/* The description of libvirt's snapshot NAME of the VM, or NULL. */
static char *libvirt_description(const char *name)
{
    g_autoptr(virDomain) dom = the_vm();
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotLookupByName(dom, name, 0);
    g_autofree char *xml = snap ? virDomainSnapshotGetXMLDesc(snap, 0) : NULL;
    const char *start = xml ? strstr(xml, "<description>") : NULL;
    const char *end = start ? strstr(start, "</description>") : NULL;
    return end ? g_strndup(start + 13, (gsize)(end - start - 13)) : NULL;
}

static VsSnapshot *shown(const char *name)
{
    g_autoptr(GError) error = NULL;
    VsSnapshot *snap = vs_snapshot_get(VM, name, &error);
    if (!snap)
        print_message("%s: %s\n", name, error->message);
    return snap;
}

/* Snapshot NAME holds the stopped VM's disks only, with no pause measured. */
static void assert_disks_only(const char *name)
{
    g_autoptr(VsSnapshot) snap = shown(name);
    assert_non_null(snap);
    assert_string_equal(snap->state, "shutoff");
    assert_false(snap->measured);
}

/* What another libvirt client does: a snapshot NAME described "other". */
static void other_client_takes(const char *name)
{
    g_autoptr(virDomain) dom = the_vm();
    g_autofree char *xml = g_strdup_printf(
        "<domainsnapshot><name>%s</name><description>other</description></domainsnapshot>",
        name);
    g_autoptr(virDomainSnapshot) other = virDomainSnapshotCreateXML(dom, xml, 0);
    assert_non_null(other);
}

/* The other client's snapshot NAME is still there. */
static void assert_other_kept(const char *name)
{
    g_autofree char *description = libvirt_description(name);
    assert_non_null(description);
    assert_string_equal(description, "other");
}

static int setup(void **state)
{
    (void)state;
    if (!hv_fixture_start_model("vs-snapshot-checks", &state_dir))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hv_fixture_stop_model(state_dir);
    return 0;
}

/* A fresh running VM with one qcow2 disk (test:///default does not open it). */
static int define_vm(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) old = virDomainLookupByName(conn, VM);
    if (old) {
        virDomainDestroy(old);
        virDomainUndefineFlags(old, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
    }
    const char *xml = "<domain type='test'><name>" VM "</name><memory>65536</memory>"
                      "<os><type>hvm</type></os><devices>"
                      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                      "<source file='/images/check.qcow2'/><target dev='vda'/></disk>"
                      "</devices></domain>";
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    return dom && virDomainCreate(dom) == 0 ? 0 : -1;
}

/* Nothing else on the VM: the worker takes the request's findings, which
 * must be right: a running VM's snapshot with the guest's pause measured,
 * under its own name in libvirt. */
static void test_request_findings_used(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "first", "", VS_LIVE_OFF, &error);
    assert_non_null(job);
    assert_true(run_job(job));
    g_autoptr(VsSnapshot) snap = shown("first");
    assert_non_null(snap);
    assert_string_equal(snap->state, "running");
    assert_true(snap->measured); /* taken as of a running VM */
    g_autoptr(virDomain) dom = the_vm();
    g_autoptr(virDomainSnapshot) in_libvirt = virDomainSnapshotLookupByName(dom, "first", 0);
    assert_non_null(in_libvirt);
}

/* A VM stopped (by its guest, say) before the request: the checks find it
 * so, and the snapshot holds the disks only, without a pause measure. */
static void test_stopped_vm_found_stopped(void **state)
{
    (void)state;
    g_autoptr(virDomain) dom = the_vm();
    assert_int_equal(virDomainDestroy(dom), 0);
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "stopped", "", VS_LIVE_OFF, &error);
    assert_non_null(job);
    assert_true(run_job(job));
    assert_disks_only("stopped");
}

/* Another client makes a snapshot under the name between the request's
 * check and the worker's call (nothing of virtsnapd's ran on the VM, so the
 * worker does not ask again): libvirt refuses the name, the task fails with
 * its message, and the other client's snapshot is left alone. */
static void test_name_taken_by_another_client_meanwhile(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "late", "", VS_LIVE_OFF, &error);
    assert_non_null(job);
    other_client_takes("late");
    g_autofree char *message = NULL;
    assert_false(run_job_message(job, &message));
    assert_non_null(strstr(message, "already exists"));
    assert_other_kept("late");
}

/* The VM stops while the checks wait behind an earlier operation: the
 * worker asks again and takes a disk-only snapshot of the stopped VM,
 * without a pause measure it could not have. */
static void test_state_asked_again_after_an_operation(void **state)
{
    (void)state;
    VsVmLock *lock = lock_of_vm();
    vs_vmlock_acquire(lock); /* an operation under way */
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "after-stop", "", VS_LIVE_OFF, &error);
    g_autoptr(virDomain) dom = the_vm();
    int stopped = virDomainDestroy(dom); /* what that operation did */
    vs_vmlock_release(lock);
    assert_non_null(job);
    assert_int_equal(stopped, 0);
    assert_true(run_job(job));
    assert_disks_only("after-stop");
}

/* A snapshot appears in libvirt under the requested name while the checks
 * wait behind an earlier operation (another client made it, or a rename
 * defined its tree again): the worker finds the name taken and fails, as
 * the request would have if it had come a moment later; the other one is
 * left alone (a failed create's cleanup must not remove it), and no second
 * snapshot shows under that name. */
static void test_name_asked_again_after_an_operation(void **state)
{
    (void)state;
    VsVmLock *lock = lock_of_vm();
    vs_vmlock_acquire(lock);
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "clash", "", VS_LIVE_OFF, &error);
    other_client_takes("clash"); /* a later test's VM has a lock of its own */
    vs_vmlock_release(lock);
    assert_non_null(job);
    g_autofree char *message = NULL;
    assert_false(run_job_message(job, &message));
    assert_non_null(strstr(message, "already has a snapshot named 'clash'"));

    assert_other_kept("clash");
    g_autoptr(virDomain) dom = the_vm();
    g_autofree char *uuid = vs_hv_uuid(dom);
    g_autofree char *internal = vs_snapnames_internal(uuid, "clash");
    assert_string_equal(internal, "clash");
}

/* The text of the one journal record in the state directory, waiting up to
 * 3 s for it to appear; NULL if none did. */
static char *journal_record(void)
{
    g_autofree char *dir = g_build_filename(state_dir, "journal", NULL);
    for (int i = 0; i < 300; i++) {
        g_autoptr(GDir) records = g_dir_open(dir, 0, NULL);
        const char *name = records ? g_dir_read_name(records) : NULL;
        g_autofree char *path = name ? g_build_filename(dir, name, NULL) : NULL;
        char *text = NULL;
        if (path && g_file_get_contents(path, &text, NULL, NULL) && strstr(text, "was_running"))
            return text;
        g_free(text);
        g_usleep(10000);
    }
    return NULL;
}

/* Another client pauses the guest after the request's checks, with no
 * operation of virtsnapd's in between (the worker would take the request's
 * findings): libvirt's event about the pause makes the worker ask for the
 * state again, and the create's journal record says the guest did not run
 * (crash recovery resumes only a guest that ran). The record is read while
 * the worker waits 4 s before libvirt's call ($VIRTSNAP_PAUSE). */
static void test_state_asked_again_after_an_event(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(VM, "paused-meanwhile", "", VS_LIVE_OFF, &error);
    assert_non_null(job);
    g_autoptr(virDomain) dom = the_vm();
    g_autofree char *uuid = vs_hv_uuid(dom);
    guint64 changes = vs_hv_domain_changes(uuid);
    assert_int_equal(virDomainSuspend(dom), 0);
    for (int i = 0; i < 200 && vs_hv_domain_changes(uuid) == changes; i++)
        g_usleep(5000);
    assert_true(vs_hv_domain_changes(uuid) != changes); /* the event is in */
    g_setenv("VIRTSNAP_PAUSE", "snapshot-before-create", TRUE);
    g_autofree char *id = vs_task_start(&(VsTaskTarget){.vm = "test"}, vs_snapshot_job_run, job, vs_snapshot_job_free);
    g_autofree char *record = journal_record();
    g_autoptr(VsTaskInfo) info = vs_task_wait(id, 20000);
    g_unsetenv("VIRTSNAP_PAUSE");
    assert_non_null(record);
    assert_non_null(strstr(record, "was_running=false"));
    assert_non_null(info);
    assert_int_equal(info->status, VS_TASK_FINISHED);
}

/* The contract's order of checks: a name taken is said before a disk that
 * cannot hold a snapshot (a raw one here). */
static void test_name_taken_said_first(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainDefineXML(
        conn, "<domain type='test'><name>rawvm</name><memory>65536</memory>"
              "<os><type>hvm</type></os><devices>"
              "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
              "<source file='/var/lib/rawvm.img'/><target dev='vda'/></disk>"
              "</devices></domain>");
    assert_non_null(dom);
    g_autoptr(virDomainSnapshot) s = virDomainSnapshotCreateXML(
        dom, "<domainsnapshot><name>s</name></domainsnapshot>", 0);
    assert_non_null(s);
    g_autoptr(GError) error = NULL;
    assert_null(vs_snapshot_prepare("rawvm", "s", "", VS_LIVE_OFF, &error));
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT));
    assert_non_null(strstr(error->message, "already has a snapshot named 's'"));
    g_clear_error(&error);
    assert_null(vs_snapshot_prepare("rawvm", "t", "", VS_LIVE_OFF, &error));
    assert_non_null(strstr(error->message, "only qcow2 disks can hold a snapshot"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_request_findings_used, define_vm),
        cmocka_unit_test_setup(test_stopped_vm_found_stopped, define_vm),
        cmocka_unit_test_setup(test_name_taken_by_another_client_meanwhile, define_vm),
        cmocka_unit_test_setup(test_state_asked_again_after_an_operation, define_vm),
        cmocka_unit_test_setup(test_name_asked_again_after_an_operation, define_vm),
        cmocka_unit_test_setup(test_state_asked_again_after_an_event, define_vm),
        cmocka_unit_test(test_name_taken_said_first),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
