/* test_live_contents.c: unit tests of what removing a live snapshot's
 * contents touches (model/live.c, vs_live_delete_contents) on a shut-off VM
 * of test:///default, in this process, with real qcow2 files: the tag goes
 * from the VM's writable disk, and a read-only disk (a shared base image,
 * say) that holds a tag of the same name keeps it; the memory file goes. */
#include "hv_fixture.h"
#include "model/live.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static char *state_dir;

static int setup(void **state)
{
    (void)state;
    return hv_fixture_start("vs-live-contents", &state_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    hv_fixture_stop(state_dir);
    return 0;
}

/* Makes qcow2 image PATH holding internal snapshot TAG. */
static void image_with_tag(const char *path, const char *tag)
{
    g_autofree char *cmd = g_strdup_printf(
        "qemu-img create -q -f qcow2 '%s' 1M && qemu-img snapshot -c '%s' '%s'", path, tag, path);
    assert_int_equal(system(cmd), 0);
}

/* Whether the qcow2 image PATH, which qemu-img must be able to read, holds
 * TAG (a missing, corrupt or locked image fails the test, not "no"). */
static bool has_tag(const char *path, const char *tag)
{
    g_autofree char *cmd = g_strdup_printf("qemu-img snapshot -l -U '%s'", path);
    g_autofree char *out = NULL;
    int wait_status = -1;
    assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &wait_status, NULL));
    assert_true(g_spawn_check_wait_status(wait_status, NULL));
    g_autofree char *word = g_strdup_printf(" %s ", tag);
    return strstr(out, word) != NULL;
}

static void test_read_only_disk_untouched(void **state)
{
    (void)state;
    g_autofree char *own = g_build_filename(state_dir, "own.qcow2", NULL);
    g_autofree char *shared = g_build_filename(state_dir, "shared.qcow2", NULL);
    g_autofree char *ram = g_build_filename(state_dir, "l1.ram", NULL);
    image_with_tag(own, "l1");
    image_with_tag(shared, "l1");
    assert_true(g_file_set_contents(ram, "memory", -1, NULL));
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>two-disks</name><memory>65536</memory>"
        "<os><type>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vdb'/><readonly/></disk>"
        "</devices></domain>",
        own, shared);
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
    assert_non_null(dom);
    g_autoptr(GError) error = NULL;
    if (!vs_live_delete_contents(dom, "l1", ram, &error))
        fail_msg("%s", error->message);
    assert_false(has_tag(own, "l1"));
    assert_true(has_tag(shared, "l1"));
    assert_false(g_file_test(ram, G_FILE_TEST_EXISTS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_only_disk_untouched),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
