/* test_vm_definition.c: unit tests of what model/vm.c keeps of a domain's
 * definition on drivers only virtsnapd changes (here test:///default, in
 * this process): kept while the VM is quiet, read again once an operation
 * under the VM's lock has ended or the VM started or stopped, never kept from
 * a read made while an operation runs. The definition is changed behind
 * virtsnapd's back (virDomainDefineXML) so that a kept copy shows. */
#include "hv_fixture.h"
#include "model/vm.h"
#include "model/vmlock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define VM "keptvm"

static char *state_dir;

/* Defines VM with its disk at DISK, as another client would. */
static void define_behind(const char *disk)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    assert_non_null(conn);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>" VM "</name>"
        "<uuid>0f6d2d3a-5b1e-4c3e-9a53-3c1b0e7d2a11</uuid><memory>65536</memory>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk>"
        "</devices></domain>",
        disk);
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
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

static void assert_shown(const char *disk)
{
    g_autofree char *shown = shown_disk();
    assert_string_equal(shown, disk);
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
    hv_fixture_stop(state_dir);
    return 0;
}

static void test_kept_until_an_operation_ends(void **state)
{
    (void)state;
    assert_true(vs_hv_private());
    assert_shown("/images/a.qcow2");
    /* Changed behind virtsnapd's back (which cannot happen on this driver
     * but shows that the copy is used): still the kept one. */
    define_behind("/images/b.qcow2");
    assert_shown("/images/a.qcow2");

    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    g_autofree char *uuid = vs_hv_uuid(dom);
    VsVmLock *lock = vs_vmlock_for(uuid);
    vs_vmlock_acquire(lock);
    /* While an operation runs, every read is fresh and none is kept
     * (checked once the lock is released: a failed check must not leave it
     * held for the next test). */
    g_autofree char *during_b = shown_disk();
    define_behind("/images/c.qcow2");
    g_autofree char *during_c = shown_disk();
    define_behind("/images/d.qcow2");
    vs_vmlock_release(lock);
    assert_string_equal(during_b, "/images/b.qcow2");
    assert_string_equal(during_c, "/images/c.qcow2");
    assert_shown("/images/d.qcow2");
    /* Kept again from that read on. */
    define_behind("/images/e.qcow2");
    assert_shown("/images/d.qcow2");
}

static void test_read_again_after_start_and_stop(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    g_autofree char *uuid = vs_hv_uuid(dom);
    VsVmLock *lock = vs_vmlock_for(uuid);
    vs_vmlock_acquire(lock); /* an operation ends: whatever was kept is stale */
    vs_vmlock_release(lock);
    define_behind("/images/f.qcow2");
    assert_shown("/images/f.qcow2");
    /* The VM starts and stops without an operation of virtsnapd's (the
     * guest powers itself off, QEMU dies): its definition is read again. */
    define_behind("/images/g.qcow2");
    assert_int_equal(virDomainCreate(dom), 0);
    assert_shown("/images/g.qcow2");
    define_behind("/images/h.qcow2"); /* the next boot's definition */
    assert_shown("/images/g.qcow2");  /* the running one's is still g */
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_shown("/images/h.qcow2");
}

static void test_read_again_after_a_device_change(void **state)
{
    (void)state;
    define_behind("/images/j.qcow2");
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, VM);
    g_autofree char *uuid = vs_hv_uuid(dom);
    vs_vmlock_acquire(vs_vmlock_for(uuid)); /* whatever was kept is stale */
    vs_vmlock_release(vs_vmlock_for(uuid));
    assert_shown("/images/j.qcow2");
    define_behind("/images/k.qcow2");
    assert_shown("/images/j.qcow2");
    /* What libvirt's device-added or device-removed event does (a guest
     * ejected a disk; test:///default cannot detach devices itself). */
    guint before = vs_hv_device_changes();
    vs_hv_note_device_change();
    assert_true(vs_hv_device_changes() != before);
    assert_shown("/images/k.qcow2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_until_an_operation_ends),
        cmocka_unit_test(test_read_again_after_start_and_stop),
        cmocka_unit_test(test_read_again_after_a_device_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
