/* test_vm_definition.c: unit tests of what model/definition.c keeps of a
 * domain's definition (here on test:///default, in this process): kept
 * while the VM is quiet; read again once an operation under the VM's lock
 * has ended, the VM started or stopped, a device was added or removed, or
 * libvirt sent an event about it (another client defined it again); never
 * kept from a read made while an operation runs; and, with read-ahead on,
 * read again without a request once stale. How many reads reached libvirt
 * (vs_definition_reads) shows whether a copy was used; what GET /vms/<vm>
 * shows, that it is the right one. */
#include "hv_fixture.h"
#include "model/definition.h"
#include "model/vm.h"
#include "model/vmlock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define VM "keptvm"
#define VM_UUID "0f6d2d3a-5b1e-4c3e-9a53-3c1b0e7d2a11"

static char *state_dir;

/* Waits until libvirt's events about VM have come through the event loop:
 * at least one since CHANGES (vs_hv_domain_changes then), and none for
 * 100 ms (a start sends two, say). */
static void wait_events(guint64 changes)
{
    for (int i = 0; i < 200 && vs_hv_domain_changes(VM_UUID) == changes; i++)
        g_usleep(5000);
    assert_true(vs_hv_domain_changes(VM_UUID) != changes);
    for (guint64 seen = 0; seen != vs_hv_domain_changes(VM_UUID);) {
        seen = vs_hv_domain_changes(VM_UUID);
        g_usleep(100000);
    }
}

/* Defines VM with its disk at DISK, as another client would, and waits
 * for libvirt's event about it. */
static void define_behind(const char *disk)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    assert_non_null(conn);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>" VM "</name>"
        "<uuid>" VM_UUID "</uuid><memory>65536</memory>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk>"
        "</devices></domain>",
        disk);
    guint64 changes = vs_hv_domain_changes(VM_UUID);
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    wait_events(changes);
}

/* The disk path GET /vms/VM would show. */
static char *shown_disk(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VsVm) vm = vs_vm_get(VM, &error);
    assert_non_null(vm);
    assert_int_equal(vm->disks->len, 1);
    return g_strdup(((VsDisk *)g_ptr_array_index(vm->disks, 0))->path);
}

/* GET /vms/VM shows DISK, after READS reads of the definition from libvirt
 * (0: a kept copy). */
static void assert_shown(const char *disk, guint reads)
{
    guint before = vs_definition_reads();
    g_autofree char *shown = shown_disk();
    assert_string_equal(shown, disk);
    assert_int_equal(vs_definition_reads() - before, reads);
}

static void operation_ends(void)
{
    VsVmLock *lock = vs_vmlock_for(VM_UUID);
    vs_vmlock_acquire(lock);
    vs_vmlock_release(lock);
}

static int setup(void **state)
{
    (void)state;
    if (!hv_fixture_start("vs-vm-definition", &state_dir))
        return -1;
    define_behind("/images/a.qcow2");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vs_definition_read_ahead_stop(); /* test_read_ahead started it */
    hv_fixture_stop(state_dir);
    return 0;
}

static void test_kept_until_an_operation_ends(void **state)
{
    (void)state;
    assert_true(vs_hv_private());
    assert_shown("/images/a.qcow2", 1);
    assert_shown("/images/a.qcow2", 0); /* kept */
    assert_shown("/images/a.qcow2", 0);

    VsVmLock *lock = vs_vmlock_for(VM_UUID);
    vs_vmlock_acquire(lock);
    /* While an operation runs, every read is fresh and none is kept
     * (checked once the lock is released: a failed check must not leave it
     * held for the next test). */
    guint before = vs_definition_reads();
    g_autofree char *during_1 = shown_disk();
    g_autofree char *during_2 = shown_disk();
    guint during = vs_definition_reads() - before;
    vs_vmlock_release(lock);
    assert_int_equal(during, 2);
    assert_string_equal(during_1, "/images/a.qcow2");
    assert_string_equal(during_2, "/images/a.qcow2");
    assert_shown("/images/a.qcow2", 1); /* the operation ended */
    assert_shown("/images/a.qcow2", 0); /* kept again from that read on */
}

static void test_read_again_after_an_event(void **state)
{
    (void)state;
    operation_ends();
    assert_shown("/images/a.qcow2", 1);
    assert_shown("/images/a.qcow2", 0);
    /* Another client defines it again: libvirt's event says so. */
    define_behind("/images/b.qcow2");
    assert_shown("/images/b.qcow2", 1);
    assert_shown("/images/b.qcow2", 0);
}

static void test_read_again_after_start_and_stop(void **state)
{
    (void)state;
    define_behind("/images/f.qcow2");
    assert_shown("/images/f.qcow2", 1);
    /* The VM starts and stops without an operation of virtsnapd's (the
     * guest powers itself off, QEMU dies): its definition is read again,
     * whether or not the event has come yet (the domain ID differs). */
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    guint64 changes = vs_hv_domain_changes(VM_UUID);
    assert_int_equal(virDomainCreate(dom), 0);
    assert_shown("/images/f.qcow2", 1);
    wait_events(changes);
    define_behind("/images/h.qcow2"); /* the next boot's definition */
    assert_shown("/images/f.qcow2", 1); /* the running one's is still f */
    changes = vs_hv_domain_changes(VM_UUID);
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_shown("/images/h.qcow2", 1);
    wait_events(changes);
}

/* A UUID whose GLib string hash falls in VM_UUID's bucket of 1024. */
#define COLLIDING_UUID "1a2b3c4d-0000-4000-8000-000000000060"

/* Starts are counted by the exact UUID (hv.h): another VM's start is not
 * one of VM's, even one whose UUID hashes alike (a clone of VM fails only
 * on a start of its own; counted by a hash of the UUID, 1 start in 1024 of
 * other VMs failed it). */
static void test_starts_by_exact_uuid(void **state)
{
    (void)state;
    assert_int_equal(g_str_hash(COLLIDING_UUID) % 1024, g_str_hash(VM_UUID) % 1024);
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    g_autoptr(virDomain) other = virDomainDefineXML(
        conn, "<domain type='test'><name>collider</name><uuid>" COLLIDING_UUID "</uuid>"
              "<memory>65536</memory><os><type>hvm</type></os></domain>");
    assert_non_null(other);
    guint64 mark = vs_hv_domain_start_mark(VM_UUID);
    guint64 other_mark = vs_hv_domain_start_mark(COLLIDING_UUID);
    assert_int_equal(virDomainCreate(other), 0);
    for (int i = 0; i < 1000 && vs_hv_domain_started_since(COLLIDING_UUID, other_mark) != 1; i++)
        g_usleep(5000); /* (its start's event) */
    assert_int_equal(vs_hv_domain_started_since(COLLIDING_UUID, other_mark), 1);
    assert_int_equal(vs_hv_domain_started_since(VM_UUID, mark), 0);
    assert_int_equal(virDomainDestroy(other), 0);
    assert_int_equal(virDomainUndefine(other), 0);
    guint64 changes = vs_hv_domain_changes(VM_UUID);
    assert_int_equal(virDomainCreate(dom), 0);
    wait_events(changes);
    assert_int_equal(vs_hv_domain_started_since(VM_UUID, mark), 1);
    changes = vs_hv_domain_changes(VM_UUID);
    assert_int_equal(virDomainDestroy(dom), 0);
    wait_events(changes);
    assert_int_equal(vs_hv_domain_started_since(VM_UUID, mark), 1); /* stopped again: still told */
}

static void test_read_again_after_a_device_change(void **state)
{
    (void)state;
    operation_ends();
    assert_shown("/images/h.qcow2", 1);
    assert_shown("/images/h.qcow2", 0);
    /* What libvirt's device-added or device-removed event does (a guest
     * ejected a disk; test:///default cannot detach devices itself). */
    guint64 before = vs_hv_domain_changes(VM_UUID);
    vs_hv_note_domain_change(VM_UUID);
    assert_true(vs_hv_domain_changes(VM_UUID) != before);
    assert_shown("/images/h.qcow2", 1);
}

/* Waits until a definition read ahead was kept since KEPT (vs_definition_keeps then). */
static void wait_kept(guint kept)
{
    for (int i = 0; i < 200 && vs_definition_keeps() == kept; i++)
        g_usleep(5000);
    assert_true(vs_definition_keeps() > kept);
}

/* With read-ahead on, a definition made stale by an event or by the end of
 * an operation is read again without a request: the next one finds it. */
static void test_read_ahead(void **state)
{
    (void)state;
    vs_definition_read_ahead_start();
    guint kept = vs_definition_keeps();
    operation_ends();
    wait_kept(kept); /* read ahead once quiet */
    assert_shown("/images/h.qcow2", 0);

    kept = vs_definition_keeps();
    define_behind("/images/k.qcow2");
    wait_kept(kept); /* read ahead after the event */
    assert_shown("/images/k.qcow2", 0);

    /* Not while an operation runs: its end asks again. */
    VsVmLock *lock = vs_vmlock_for(VM_UUID);
    vs_vmlock_acquire(lock);
    guint reads = vs_definition_reads();
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    guint64 changes = vs_hv_domain_changes(VM_UUID);
    bool started = virDomainCreate(dom) == 0; /* an event, with the lock held */
    g_usleep(200000);
    guint during = vs_definition_reads() - reads;
    kept = vs_definition_keeps();
    vs_vmlock_release(lock);
    assert_true(started);
    assert_int_equal(during, 0);
    wait_kept(kept);
    wait_events(changes);
    assert_int_equal(virDomainDestroy(dom), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_until_an_operation_ends),
        cmocka_unit_test(test_read_again_after_an_event),
        cmocka_unit_test(test_read_again_after_start_and_stop),
        cmocka_unit_test(test_starts_by_exact_uuid),
        cmocka_unit_test(test_read_again_after_a_device_change),
        cmocka_unit_test(test_read_ahead),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
