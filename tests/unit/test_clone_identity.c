/* test_clone_identity.c: unit tests of what a clone (model/clone.c) must not
 * share with its source (test:///default, in this process): MAC addresses
 * and the UEFI variable store, in the clone's definition and in every
 * snapshot's copy of it, which a revert brings back; and disks it cannot
 * copy. The source VM has a network card and an NVRAM file, as VMs made
 * with virt-manager do, and a second card added between its two snapshots.
 * Also: the name a clone will take is held (model/vmnames.c) against a VM
 * create or rename while the clone runs. */
#include "hv_fixture.h"
#include "model/clone.h"
#include "model/journal.h"
#include "model/snapnames.h"
#include "model/vm.h"
#include "util/error.h"
#include "util/xml.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define MAC1 "52:54:00:aa:bb:01"
#define MAC2 "52:54:00:aa:bb:02"

static char *state_dir;

/* Defines VM "nic" with NICS network cards (MAC1, then MAC2). */
static void define_source(int nics)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autofree char *disk = g_build_filename(state_dir, "nic.qcow2", NULL);
    g_autofree char *nvram = g_build_filename(state_dir, "nic_VARS.fd", NULL);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>nic</name>"
        "<uuid>5b0c1f8e-9a3d-4f1e-8c2b-7d6e5f4a3b21</uuid><memory>65536</memory>"
        "<os><type>hvm</type>"
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
        "<nvram>%s</nvram></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk>"
        "<interface type='user'><mac address='" MAC1 "'/></interface>%s"
        "</devices></domain>",
        nvram, disk,
        nics > 1 ? "<interface type='user'><mac address='" MAC2 "'/></interface>" : "");
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
}

static void snapshot_source(const char *name)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, "nic");
    g_autofree char *xml =
        g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>", name);
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotCreateXML(dom, xml, 0);
    assert_non_null(snap);
}

static int setup(void **state)
{
    (void)state;
    if (!hv_fixture_start_model("vs-clone-identity", &state_dir))
        return -1;
    g_autofree char *disk = g_build_filename(state_dir, "nic.qcow2", NULL);
    g_autofree char *nvram = g_build_filename(state_dir, "nic_VARS.fd", NULL);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 1M", disk);
    if (system(cmd) != 0 || !g_file_set_contents(nvram, "source firmware settings", -1, NULL))
        return -1;
    define_source(1);
    snapshot_source("one-nic");
    define_source(2);
    snapshot_source("two-nics");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hv_fixture_stop_model(state_dir);
    return 0;
}

/* The MACs and NVRAM path of VM's definition, or of its snapshot SNAP's copy. */
static xmlDoc *definition(const char *vm, const char *snap)
{
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, vm);
    assert_non_null(dom);
    g_autofree char *xml = NULL;
    if (snap) {
        g_autoptr(virDomainSnapshot) s = virDomainSnapshotLookupByName(dom, snap, 0);
        assert_non_null(s);
        xml = virDomainSnapshotGetXMLDesc(s, 0);
    } else {
        xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    }
    xmlDoc *doc = vs_xml_parse(xml, NULL);
    assert_non_null(doc);
    return doc;
}

static char *mac_of(xmlDoc *doc, int nth)
{
    g_autofree char *expr =
        g_strdup_printf("string((//domain/devices/interface/mac/@address)[%d])", nth);
    return vs_xml_string(doc, NULL, expr);
}

/* Clones VM FROM as TO through the clone task; it must finish. */
static void clone_vm(const char *from, const char *to)
{
    g_autoptr(GError) error = NULL;
    VsCloneJob *job = vs_clone_prepare(from, to, &error);
    if (!job)
        fail_msg("clone %s: %s", from, error->message);
    g_autofree char *id = vs_task_start(&(VsTaskTarget){.vm = to}, vs_clone_job_run, job,
                                        vs_clone_job_free);
    g_autoptr(VsTaskInfo) info = vs_task_wait(id, 30000);
    if (info->status != VS_TASK_FINISHED)
        fail_msg("clone %s: %s", from, info->message);
}

static void test_clone_has_its_own_macs_and_nvram(void **state)
{
    (void)state;
    clone_vm("nic", "nic-copy");

    g_autoptr(xmlDoc) clone = definition("nic-copy", NULL);
    g_autoptr(xmlDoc) one = definition("nic-copy", "one-nic");
    g_autoptr(xmlDoc) two = definition("nic-copy", "two-nics");
    g_autofree char *first = mac_of(clone, 1);
    g_autofree char *second = mac_of(clone, 2);
    assert_non_null(first);
    assert_non_null(second);
    assert_string_not_equal(first, MAC1);
    assert_string_not_equal(second, MAC2);
    assert_string_not_equal(first, second);
    assert_true(g_str_has_prefix(first, "52:54:00:"));
    /* Each snapshot's copy names the clone's cards as the clone does:
     * reverting the clone never brings the source's MACs back. */
    g_autofree char *one_first = mac_of(one, 1);
    g_autofree char *two_first = mac_of(two, 1);
    g_autofree char *two_second = mac_of(two, 2);
    assert_string_equal(one_first, first);
    assert_string_equal(two_first, first);
    assert_string_equal(two_second, second);

    /* Its own UEFI variable store, a copy of the source's, in its
     * definition and its snapshots'. */
    g_autofree char *nvram = vs_xml_string(clone, NULL, "string(/domain/os/nvram)");
    g_autofree char *source_nvram = g_build_filename(state_dir, "nic_VARS.fd", NULL);
    assert_non_null(nvram);
    assert_string_not_equal(nvram, source_nvram);
    g_autofree char *copied = NULL;
    assert_true(g_file_get_contents(nvram, &copied, NULL, NULL));
    assert_string_equal(copied, "source firmware settings");
    g_autofree char *loader = vs_xml_string(clone, NULL, "string(/domain/os/loader)");
    assert_string_equal(loader, "/usr/share/OVMF/OVMF_CODE.fd");
    g_autofree char *snap_nvram = vs_xml_string(two, NULL, "string(//domain/os/nvram)");
    assert_string_equal(snap_nvram, nvram);

    /* The source is untouched. */
    g_autoptr(xmlDoc) source = definition("nic", NULL);
    g_autofree char *source_first = mac_of(source, 1);
    g_autofree char *source_path = vs_xml_string(source, NULL, "string(/domain/os/nvram)");
    assert_string_equal(source_first, MAC1);
    assert_string_equal(source_path, source_nvram);
}

/* A writable disk that is not a file (a block device here) would be shared
 * by the clone: refused at once with a 409, nothing made. */
static void test_clone_refuses_shared_disk(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainDefineXML(
        conn, "<domain type='test'><name>blockvm</name><memory>65536</memory>"
              "<os><type>hvm</type></os><devices>"
              "<disk type='block' device='disk'><driver name='qemu' type='raw'/>"
              "<source dev='/dev/vs-test-volume'/><target dev='vdb'/></disk>"
              "</devices></domain>");
    assert_non_null(dom);
    g_autoptr(GError) error = NULL;
    VsCloneJob *job = vs_clone_prepare("blockvm", "blockvm-copy", &error);
    assert_null(job);
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT));
    assert_non_null(strstr(error->message, "vdb, which is not a file"));
    g_autoptr(virDomain) copy = virDomainLookupByName(conn, "blockvm-copy");
    assert_null(copy);
}

/* Between the clone's 202 and its define, its name is held: a create or a
 * rename to it answers 409 at once; after the clone, the VM has it. */
static void test_clone_name_held(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    VsVmSpec other_spec = {.name = "other", .disk_gib = 1};
    g_autoptr(VsVm) other = vs_vm_create(&other_spec, &error);
    assert_non_null(other);
    VsCloneJob *job = vs_clone_prepare("nic", "held", &error);
    assert_non_null(job);

    VsVmSpec spec = {.name = "held", .disk_gib = 1};
    g_autoptr(VsVm) created = vs_vm_create(&spec, &error);
    assert_null(created);
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT));
    assert_non_null(strstr(error->message, "is being made"));
    g_clear_error(&error);
    VsVmChange rename = {.name = "held"};
    g_autoptr(VsVm) renamed = vs_vm_update("other", &rename, &error);
    assert_null(renamed);
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT));
    g_clear_error(&error);

    g_autofree char *id = vs_task_start(&(VsTaskTarget){.vm = "held"}, vs_clone_job_run, job, vs_clone_job_free);
    g_autoptr(VsTaskInfo) info = vs_task_wait(id, 30000);
    if (info->status != VS_TASK_FINISHED)
        fail_msg("clone: %s", info->message);
    g_autoptr(VsVm) again = vs_vm_create(&spec, &error);
    assert_null(again);
    assert_non_null(strstr(error->message, "already exists"));
    g_clear_error(&error);

    /* Each lets go of the name when it ends: once the VM of that name is
     * gone (deleted, renamed away), a create may take it. */
    assert_true(vs_vm_delete("held", false, &error));
    g_autoptr(VsVm) after_clone = vs_vm_create(&spec, &error);
    assert_non_null(after_clone);
    VsVmChange away = {.name = "other-renamed"};
    g_autoptr(VsVm) moved = vs_vm_update("other", &away, &error);
    assert_non_null(moved);
    VsVmChange away_again = {.name = "other-elsewhere"};
    g_autoptr(VsVm) moved_again = vs_vm_update("other-renamed", &away_again, &error);
    assert_non_null(moved_again);
    VsVmSpec freed = {.name = "other-renamed", .disk_gib = 1};
    g_autoptr(VsVm) after_rename = vs_vm_create(&freed, &error);
    assert_non_null(after_rename);
}

/* The libvirt 8.5 form of <nvram> (a <source file>), naming a store that
 * does not exist yet (a UEFI VM never booted): the clone names one of its
 * own all the same, beside it, and nothing is copied; the source's stays. */
static void test_clone_nvram_new_form_not_made_yet(void **state)
{
    (void)state;
    g_autofree char *disk = g_build_filename(state_dir, "nic.qcow2", NULL);
    g_autofree char *store = g_build_filename(state_dir, "fresh_VARS.fd", NULL);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>fresh</name><memory>65536</memory>"
        "<os><type>hvm</type>"
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
        "<nvram template='/usr/share/OVMF/OVMF_VARS.fd' type='file'>"
        "<source file='%s'/></nvram></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk></devices></domain>",
        store, disk);
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    clone_vm("fresh", "fresh-copy");
    g_autoptr(xmlDoc) clone = definition("fresh-copy", NULL);
    g_autofree char *path = vs_xml_string(clone, NULL, "string(/domain/os/nvram/source/@file)");
    g_autofree char *dir = g_path_get_dirname(path);
    assert_string_not_equal(path, store);
    assert_string_equal(dir, state_dir);
    assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_autofree char *template = vs_xml_string(clone, NULL, "string(/domain/os/nvram/@template)");
    assert_string_equal(template, "/usr/share/OVMF/OVMF_VARS.fd");
    g_autoptr(xmlDoc) source = definition("fresh", NULL);
    g_autofree char *kept = vs_xml_string(source, NULL, "string(/domain/os/nvram/source/@file)");
    assert_string_equal(kept, store);
}

static int count_files(const char *dir)
{
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (listing && g_dir_read_name(listing))
        n++;
    return n;
}

/* A disk detached since a snapshot was taken: the snapshot's copy of the
 * definition still names its file, which the clone would share (and delete
 * with itself). The clone fails, naming the snapshot, and makes nothing. */
static void test_clone_refuses_detached_disk(void **state)
{
    (void)state;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autofree char *vda = g_build_filename(state_dir, "det-a.qcow2", NULL);
    g_autofree char *vdb = g_build_filename(state_dir, "det-b.qcow2", NULL);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 1M && "
                                           "qemu-img create -q -f qcow2 '%s' 1M", vda, vdb);
    assert_int_equal(system(cmd), 0);
    const char *fmt = "<domain type='test'><name>det</name>"
                      "<uuid>5b0c1f8e-9a3d-4f1e-8c2b-7d6e5f4a3b99</uuid><memory>65536</memory>"
                      "<os><type>hvm</type></os><devices>"
                      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                      "<source file='%s'/><target dev='vda'/></disk>%s</devices></domain>";
    g_autofree char *second = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vdb'/></disk>", vdb);
    g_autofree char *both = g_strdup_printf(fmt, vda, second);
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, both);
    assert_non_null(dom);
    g_autoptr(virDomainSnapshot) snap = virDomainSnapshotCreateXML(
        dom, "<domainsnapshot><name>with-vdb</name></domainsnapshot>", 0);
    assert_non_null(snap);
    g_autofree char *one = g_strdup_printf(fmt, vda, "");
    g_autoptr(virDomain) again = virDomainDefineXML(conn, one); /* vdb detached */
    assert_non_null(again);
    g_autofree char *images = g_build_filename(state_dir, "images", NULL);
    int before = count_files(images);
    g_autoptr(GError) error = NULL;
    VsCloneJob *job = vs_clone_prepare("det", "det-copy", &error);
    assert_non_null(job);
    g_autofree char *id = vs_task_start(&(VsTaskTarget){.vm = "det-copy"}, vs_clone_job_run, job, vs_clone_job_free);
    g_autoptr(VsTaskInfo) info = vs_task_wait(id, 30000);
    assert_int_equal(info->status, VS_TASK_FAILED);
    assert_non_null(strstr(info->message, "snapshot 'with-vdb'"));
    assert_non_null(strstr(info->message, vdb));
    g_autoptr(virDomain) none = virDomainLookupByName(conn, "det-copy");
    assert_null(none);
    assert_int_equal(count_files(images), before); /* nothing copied, or all removed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clone_has_its_own_macs_and_nvram),
        cmocka_unit_test(test_clone_refuses_shared_disk),
        cmocka_unit_test(test_clone_name_held),
        cmocka_unit_test(test_clone_nvram_new_form_not_made_yet),
        cmocka_unit_test(test_clone_refuses_detached_disk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
