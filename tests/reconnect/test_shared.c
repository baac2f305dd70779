/* test_shared.c: virtsnapd shares a libvirtd (test+unix://, a private one
 * the test starts) with another client that moves VM names around between
 * requests: a VM renamed away and another defined under its name. A
 * snapshot create must then check and act on the VM the name stands for
 * now, never on one it stood for before: a guard for any handle or
 * definition virtsnapd keeps across requests on a shared libvirtd (session
 * 15 tried keeping each name's handle to save round trips; a create that
 * trusted the old handle blindly fails here); and a VM defined again by the
 * other client, whose new definition virtsnapd must show and check once
 * libvirt's event about it has come (definition.h keeps what was read). */
#include "domcopy.h"
#include "harness.h"
#include "libvirtd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <glib/gstdio.h>
#include <string.h>

static struct {
    virConnectPtr direct; /* the other client; keeps test:///default's state alive */
    VsTestDaemon *d;
} t;

static int daemon_status = -1;

static int setup(void **state)
{
    (void)state;
    vs_libvirtd_setup();
    vs_libvirtd_start();
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s", vs_libvirtd_socket());
    t.direct = virConnectOpen(uri);
    assert_non_null(t.direct);
    t.d = vs_test_daemon_start(uri, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (t.d) {
        daemon_status = vs_test_daemon_term(t.d);
        vs_test_daemon_free(t.d);
    }
    if (t.direct)
        virConnectClose(t.direct);
    vs_libvirtd_remove();
    return 0;
}

/* DOC as text (free with xmlFree), and DOC freed. */
static xmlChar *text_of(xmlDoc *doc)
{
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &out, &len);
    xmlFreeDoc(doc);
    return out;
}

/* A document whose root is element ROOT; *TOP gets that element. */
static xmlDoc *doc_of(const char *root, xmlNode **top)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    *top = xmlNewNode(NULL, (const xmlChar *)root);
    xmlDocSetRootElement(doc, *top);
    return doc;
}

/* Defines, through the other client, VM NAME as DOC says; frees DOC. */
static void define_doc(const char *name, xmlDoc *doc)
{
    xmlChar *out = text_of(doc);
    virDomainPtr made = virDomainDefineXML(t.direct, (const char *)out);
    if (!made)
        fail_msg("cannot define %s: %s", name, virGetLastErrorMessage());
    virDomainFree(made);
    xmlFree(out);
}

/* Defines, through the other client, VM NAME as a copy of VM FROM's
 * definition with its disks in FORMAT, under FROM's UUID (defined again) or
 * a new one. */
static void define_as(const char *from, const char *name, const char *format, bool same_uuid)
{
    if (!vs_test_define_copy(t.direct, from, name, format, same_uuid))
        fail_msg("cannot define %s as a copy of %s (stderr says why)", name, from);
}

/* Defines, through the other client, VM NAME as a copy of VM FROM's
 * definition with a new UUID and its disks in FORMAT. */
static void define_copy(const char *from, const char *name, const char *format)
{
    define_as(from, name, format, false);
}

/* How many snapshots libvirt holds for VM NAME. */
static int libvirt_snapshots(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, name);
    assert_non_null(dom);
    int n = virDomainSnapshotNum(dom, 0);
    virDomainFree(dom);
    return n;
}

static void rename_vm(const char *from, const char *to)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, from);
    assert_non_null(dom);
    assert_int_equal(virDomainRename(dom, to, 0), 0);
    virDomainFree(dom);
}

static void undefine_vm(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, name);
    assert_non_null(dom);
    assert_int_equal(virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA), 0);
    virDomainFree(dom);
}

/* Makes VM NAME through virtsnapd and takes its snapshot s1: virtsnapd
 * has looked the VM up and read its definition. */
static void vm_with_snapshot(const char *name)
{
    assert_true(vs_make_vm_with_snapshot(t.d, name, "s1"));
}

static void test_name_changes_hands(void **state)
{
    (void)state;
    vm_with_snapshot("a");

    /* The other client renames it and puts a VM with a raw disk under its
     * name: the create is refused for the raw disk, not for a name that the
     * old "a" (now "b") has. */
    rename_vm("a", "b");
    define_copy("b", "a", "raw");
    g_autoptr(VsTestResponse) raw = vs_http(t.d, "POST", "/vms/a/snapshots", "{\"name\": \"s1\"}");
    assert_int_equal(raw->status, 409);
    assert_non_null(strstr(vs_json_str(raw->json, "reason"), "only qcow2 disks"));

    /* The same with a qcow2 disk: made, on the new "a" and not on "b". */
    undefine_vm("a");
    define_copy("b", "a", "qcow2");
    g_autofree char *second = vs_take_snapshot(t.d, "a", "s1", NULL);
    assert_string_equal(second, "finished");
    assert_int_equal(libvirt_snapshots("a"), 1);
    assert_int_equal(libvirt_snapshots("b"), 1);
    g_autoptr(VsTestResponse) listed = vs_http(t.d, "GET", "/vms/a/snapshots", NULL);
    assert_int_equal(listed->status, 200);
    assert_int_equal(json_array_size(listed->json), 1);

    /* A name asked for again right after is seen as taken. */
    g_autoptr(VsTestResponse) again = vs_http(t.d, "POST", "/vms/a/snapshots", "{\"name\": \"s1\"}");
    assert_int_equal(again->status, 409);
    assert_non_null(strstr(vs_json_str(again->json, "reason"), "already has a snapshot"));

    /* Gone altogether: 404. */
    undefine_vm("a");
    g_autoptr(VsTestResponse) gone = vs_http(t.d, "POST", "/vms/a/snapshots", "{\"name\": \"s2\"}");
    assert_int_equal(gone->status, 404);
}

/* The disk format GET /vms/VM shows. */
static char *shown_format(const char *vm)
{
    g_autofree char *path = g_strdup_printf("/vms/%s", vm);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    json_t *disks = json_object_get(r->json, "disks");
    assert_int_equal(json_array_size(disks), 1);
    return g_strdup(vs_json_str(json_array_get(disks, 0), "format"));
}

/* virtsnapd keeps what it read of a VM's definition between requests; on
 * a shared libvirtd another client's redefinition makes libvirt send an
 * event, and what is shown and checked follows it. */
static void test_definition_changed_by_another_client(void **state)
{
    (void)state;
    vm_with_snapshot("c");
    /* Once the create's lock is released and its read-ahead done, a copy
     * is kept (an earlier GET may have raced with the task's end). */
    g_usleep(200000);
    g_autofree char *before = shown_format("c");
    assert_string_equal(before, "qcow2");

    define_as("c", "c", "raw", true); /* the same VM, defined again */
    char *format = NULL;
    for (int i = 0; i < 500 && (!format || strcmp(format, "raw") != 0); i++) { /* 10 s */
        g_free(format);
        g_usleep(i ? 20000 : 0);
        format = shown_format("c");
    }
    assert_string_equal(format, "raw");
    g_free(format);
    g_autoptr(VsTestResponse) refused =
        vs_http(t.d, "POST", "/vms/c/snapshots", "{\"name\": \"s2\"}");
    assert_int_equal(refused->status, 409);
    assert_non_null(strstr(vs_json_str(refused->json, "reason"), "only qcow2 disks"));
    assert_int_equal(libvirt_snapshots("c"), 1);
}

/* VMs another tool named outside virtsnap's rule (libvirt takes a leading
 * '.', 65 characters and more) are listed, and can be looked at, changed
 * with their own name given again, renamed to a valid name and deleted;
 * '/' stays refused. */
static void test_names_other_tools_gave(void **state)
{
    (void)state;
    g_autofree char *long_name = g_strnfill(70, 'x');
    const char *names[] = {".old", long_name};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *xml = g_strdup_printf("<domain type='test'><name>%s</name>"
                                               "<memory>65536</memory><os><type>hvm</type></os>"
                                               "</domain>",
                                               names[i]);
        virDomainPtr dom = virDomainDefineXML(t.direct, xml);
        assert_non_null(dom);
        virDomainFree(dom);
    }
    g_autoptr(VsTestResponse) list = vs_http(t.d, "GET", "/vms", NULL);
    assert_int_equal(list->status, 200);
    assert_non_null(strstr(list->body, "\".old\""));
    assert_non_null(strstr(list->body, long_name));
    g_autofree char *long_path = g_strdup_printf("/vms/%s", long_name);
    g_autoptr(VsTestResponse) shown = vs_http(t.d, "GET", long_path, NULL);
    assert_int_equal(shown->status, 200);
    g_autoptr(VsTestResponse) old = vs_http(t.d, "GET", "/vms/.old", NULL);
    assert_int_equal(old->status, 200);
    /* A change that gives such a name again, unchanged (a client's read,
     * modify, write), is no rename: allowed (it was a 400), for the VM and
     * for a snapshot another tool named too. */
    virDomainPtr dot = virDomainLookupByName(t.direct, ".old");
    virDomainSnapshotPtr dot_snap =
        virDomainSnapshotCreateXML(dot, "<domainsnapshot><name>.s</name></domainsnapshot>", 0);
    assert_non_null(dot_snap);
    virDomainSnapshotFree(dot_snap);
    virDomainFree(dot);
    g_autoptr(VsTestResponse) same =
        vs_http(t.d, "PUT", "/vms/.old", "{\"name\": \".old\", \"memory\": 64}");
    if (same->status != 200)
        fail_msg("PUT /vms/.old with its own name: %ld %s", same->status, same->body);
    g_autoptr(VsTestResponse) same_snap = vs_http(t.d, "PUT", "/vms/.old/snapshots/.s",
                                                  "{\"name\": \".s\", \"description\": \"d\"}");
    if (same_snap->status != 200)
        fail_msg("PUT a snapshot with its own name: %ld %s", same_snap->status, same_snap->body);
    assert_string_equal(vs_json_str(same_snap->json, "description"), "d");
    g_autoptr(VsTestResponse) to_dot = vs_http(t.d, "PUT", "/vms/.old/snapshots/.s",
                                               "{\"name\": \".t\"}");
    assert_int_equal(to_dot->status, 400); /* a new name follows the rule */
    g_autoptr(VsTestResponse) renamed = vs_http(t.d, "PUT", "/vms/.old", "{\"name\": \"old\"}");
    assert_int_equal(renamed->status, 200);
    assert_string_equal(vs_json_str(renamed->json, "name"), "old");
    /* The new name must follow the rule. */
    g_autoptr(VsTestResponse) back = vs_http(t.d, "PUT", "/vms/old", "{\"name\": \".old\"}");
    assert_int_equal(back->status, 400);
    g_autoptr(VsTestResponse) deleted = vs_http(t.d, "DELETE", long_path, NULL);
    assert_int_equal(deleted->status, 204);
    virDomainPtr gone = virDomainLookupByName(t.direct, long_name);
    assert_null(gone);
    g_autoptr(VsTestResponse) slash = vs_http(t.d, "GET", "/vms/a%2Fb", NULL);
    assert_int_equal(slash->status, 400);
    g_autoptr(VsTestResponse) cleanup = vs_http(t.d, "DELETE", "/vms/old", NULL);
    assert_int_equal(cleanup->status, 204);
}

/* Defines, through the other client, VM NAME with one qcow2 disk: the file
 * PATH, or (POOL not NULL) volume PATH of storage pool POOL. */
static void define_with_source(const char *name, const char *pool, const char *path)
{
    xmlNode *root = NULL;
    xmlDoc *doc = doc_of("domain", &root);
    xmlSetProp(root, (const xmlChar *)"type", (const xmlChar *)"test");
    xmlNewTextChild(root, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    xmlNewTextChild(root, NULL, (const xmlChar *)"memory", (const xmlChar *)"65536");
    xmlNode *os = xmlNewChild(root, NULL, (const xmlChar *)"os", NULL);
    xmlNewTextChild(os, NULL, (const xmlChar *)"type", (const xmlChar *)"hvm");
    xmlNode *disk = xmlNewChild(xmlNewChild(root, NULL, (const xmlChar *)"devices", NULL), NULL,
                                (const xmlChar *)"disk", NULL);
    xmlSetProp(disk, (const xmlChar *)"type", (const xmlChar *)(pool ? "volume" : "file"));
    xmlSetProp(disk, (const xmlChar *)"device", (const xmlChar *)"disk");
    xmlNode *driver = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
    xmlSetProp(driver, (const xmlChar *)"name", (const xmlChar *)"qemu");
    xmlSetProp(driver, (const xmlChar *)"type", (const xmlChar *)"qcow2");
    xmlNode *source = xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL);
    if (pool)
        xmlSetProp(source, (const xmlChar *)"pool", (const xmlChar *)pool);
    xmlSetProp(source, (const xmlChar *)(pool ? "volume" : "file"), (const xmlChar *)path);
    xmlSetProp(xmlNewChild(disk, NULL, (const xmlChar *)"target", NULL), (const xmlChar *)"dev",
               (const xmlChar *)"vda");
    define_doc(name, doc);
}

static void define_with_disk(const char *name, const char *path)
{
    define_with_source(name, NULL, path);
}

/* Makes and starts, through the other client, directory pool NAME over
 * DIR (the test driver's: simulated). */
static void make_pool(const char *name, const char *dir)
{
    xmlNode *top = NULL;
    xmlDoc *doc = doc_of("pool", &top);
    xmlSetProp(top, (const xmlChar *)"type", (const xmlChar *)"dir");
    xmlNewTextChild(top, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    xmlNewTextChild(xmlNewChild(top, NULL, (const xmlChar *)"target", NULL), NULL,
                    (const xmlChar *)"path", (const xmlChar *)dir);
    xmlChar *xml = text_of(doc);
    virStoragePoolPtr pool = virStoragePoolDefineXML(t.direct, (const char *)xml, 0);
    xmlFree(xml);
    if (!pool || virStoragePoolCreate(pool, 0) < 0)
        fail_msg("cannot make pool %s: %s", name, virGetLastErrorMessage());
    virStoragePoolFree(pool);
}

/* Adds volume VOLUME to pool NAME: its path is the pool's DIR/VOLUME. */
static void add_volume(const char *name, const char *volume)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(t.direct, name);
    assert_non_null(pool);
    xmlNode *top = NULL;
    xmlDoc *doc = doc_of("volume", &top);
    xmlNewTextChild(top, NULL, (const xmlChar *)"name", (const xmlChar *)volume);
    xmlNode *capacity = xmlNewTextChild(top, NULL, (const xmlChar *)"capacity", (const xmlChar *)"16");
    xmlSetProp(capacity, (const xmlChar *)"unit", (const xmlChar *)"M");
    xmlChar *xml = text_of(doc);
    virStorageVolPtr vol = virStorageVolCreateXML(pool, (const char *)xml, 0);
    xmlFree(xml);
    if (!vol)
        fail_msg("cannot make volume %s: %s", volume, virGetLastErrorMessage());
    virStorageVolFree(vol);
    virStoragePoolFree(pool);
}

/* Stops pool NAME (STOP), or stops and undefines it. */
static void pool_off(const char *name, bool stop)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(t.direct, name);
    assert_non_null(pool);
    if (virStoragePoolIsActive(pool) == 1)
        assert_int_equal(virStoragePoolDestroy(pool), 0);
    if (!stop)
        assert_int_equal(virStoragePoolUndefine(pool), 0);
    virStoragePoolFree(pool);
}

/* VM NAME's first disk, as virtsnapd shows it. */
static char *first_disk(const char *name)
{
    g_autofree char *path = g_strdup_printf("/vms/%s", name);
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", path, NULL);
    assert_int_equal(vm->status, 200);
    return g_strdup(vs_json_str(json_array_get(json_object_get(vm->json, "disks"), 0), "path"));
}

/* Another tool gave one of virtsnapd's disks to a VM of its own (as the
 * file, or as a volume of a directory pool over STATE/images, the pool
 * started or not), and put an
 * overlay over another for a third VM: deleting the VMs virtsnapd made
 * keeps those disks (the other VMs would lose theirs) and says so; the
 * other VMs' definitions are as they were (before, the files went). */
static void test_delete_keeps_disks_in_use(void **state)
{
    (void)state;
    vm_with_snapshot("lender");
    vm_with_snapshot("base");
    g_autofree char *lent = first_disk("lender");
    g_autofree char *base = first_disk("base");
    define_copy("lender", "borrower", "qcow2");
    g_autofree char *overlay = g_build_filename(t.d->state_dir, "overlay.qcow2", NULL);
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                          overlay, NULL};
    int status = -1;
    g_autoptr(GError) spawn_error = NULL;
    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                             NULL, &status, &spawn_error));
    assert_int_equal(status, 0);
    define_with_disk("over", overlay);
    vm_with_snapshot("pooled");
    g_autofree char *pooled = first_disk("pooled");
    g_autofree char *images = g_path_get_dirname(pooled);
    g_autofree char *volume = g_path_get_basename(pooled);
    make_pool("vs-images", images);
    add_volume("vs-images", volume);
    define_with_source("pool-user", "vs-images", volume);
    const char *gone[] = {"lender", "base", "pooled"};
    for (size_t i = 0; i < G_N_ELEMENTS(gone); i++) {
        g_autofree char *path = g_strdup_printf("/vms/%s", gone[i]);
        g_autoptr(VsTestResponse) deleted = vs_http(t.d, "DELETE", path, NULL);
        assert_int_equal(deleted->status, 204);
    }
    assert_true(g_file_test(lent, G_FILE_TEST_IS_REGULAR));
    assert_true(g_file_test(base, G_FILE_TEST_IS_REGULAR));
    if (!g_file_test(pooled, G_FILE_TEST_IS_REGULAR))
        fail_msg("%s, pool vs-images' volume %s of VM 'pool-user', was removed", pooled, volume);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(t.d->log_path, &log, NULL, NULL));
    g_autofree char *said = g_strdup_printf("VM 'lender': its disk %s is kept: VM 'borrower' uses it", lent);
    assert_non_null(strstr(log, said));
    g_autofree char *said_pool =
        g_strdup_printf("VM 'pooled': its disk %s is kept: VM 'pool-user' uses it", pooled);
    assert_non_null(strstr(log, said_pool));
    /* Nobody else uses a disk: it goes with its VM, as before. */
    vm_with_snapshot("alone");
    g_autofree char *alone = first_disk("alone");
    g_autoptr(VsTestResponse) deleted = vs_http(t.d, "DELETE", "/vms/alone", NULL);
    assert_int_equal(deleted->status, 204);
    assert_false(g_file_test(alone, G_FILE_TEST_EXISTS));
    undefine_vm("borrower");
    undefine_vm("over");
    /* The same with the pool stopped (not autostarted after the host's
     * restart, say): libvirt cannot look the volume up, so its path is
     * taken from the pool's directory. */
    vm_with_snapshot("pooled-off");
    g_autofree char *pooled_off = first_disk("pooled-off");
    g_autofree char *volume_off = g_path_get_basename(pooled_off);
    add_volume("vs-images", volume_off);
    define_with_source("pool-user-off", "vs-images", volume_off);
    pool_off("vs-images", true);
    g_autoptr(VsTestResponse) deleted_off = vs_http(t.d, "DELETE", "/vms/pooled-off", NULL);
    assert_int_equal(deleted_off->status, 204);
    if (!g_file_test(pooled_off, G_FILE_TEST_IS_REGULAR))
        fail_msg("%s, volume %s of stopped pool vs-images, was removed", pooled_off, volume_off);
    g_autofree char *log_off = NULL;
    assert_true(g_file_get_contents(t.d->log_path, &log_off, NULL, NULL));
    g_autofree char *said_off =
        g_strdup_printf("VM 'pooled-off': its disk %s is kept: VM 'pool-user-off' uses it",
                        pooled_off);
    assert_non_null(strstr(log_off, said_off));
    undefine_vm("pool-user");
    undefine_vm("pool-user-off");
    pool_off("vs-images", false);
    g_unlink(pooled);
    g_unlink(pooled_off);
}

/* Runs qemu-img create for a qcow2 image of 16 MiB at PATH, or over
 * BACKING when not NULL. */
static void qcow2_at(const char *path, const char *backing)
{
    const char *plain[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, "16M", NULL};
    const char *over[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F",
                          "qcow2", path, NULL};
    int status = -1;
    assert_true(g_spawn_sync(NULL, (char **)(backing ? over : plain), NULL, G_SPAWN_SEARCH_PATH,
                             NULL, NULL, NULL, NULL, &status, NULL));
    assert_int_equal(status, 0);
}

/* A new VM over an image that another tool's VM writes to (its disk, or a
 * file down the chain under the image) is refused, naming that VM: the new
 * VM's disk would change under it. A base that the other VM's overlay
 * stands on is meant to be shared: taken. */
static void test_image_another_vm_writes(void **state)
{
    (void)state;
    g_autofree char *dir = g_dir_make_tmp("vs-shared-XXXXXX", NULL);
    assert_non_null(dir);
    g_autofree char *base = g_build_filename(dir, "base.qcow2", NULL);
    g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree char *over_top = g_build_filename(dir, "over-top.qcow2", NULL);
    qcow2_at(base, NULL);
    qcow2_at(top, base);
    qcow2_at(over_top, top);
    define_with_disk("writer", top);
    const char *refused[] = {top, over_top};
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *body = g_strdup_printf("{\"name\": \"on-top\", \"image\": \"%s\"}", refused[i]);
        g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms", body);
        if (r->status != 400 || !strstr(vs_json_str(r->json, "reason"), "is the disk of VM 'writer'"))
            fail_msg("a VM over %s: %ld %s", refused[i], r->status, r->body);
    }
    g_autoptr(VsTestResponse) none = vs_http(t.d, "GET", "/vms/on-top", NULL);
    assert_int_equal(none->status, 404);
    g_autofree char *body = g_strdup_printf("{\"name\": \"on-base\", \"image\": \"%s\"}", base);
    g_autoptr(VsTestResponse) shared = vs_http(t.d, "POST", "/vms", body);
    if (shared->status != 201)
        fail_msg("a VM over the shared base: %ld %s", shared->status, shared->body);
    g_autoptr(VsTestResponse) deleted = vs_http(t.d, "DELETE", "/vms/on-base", NULL);
    assert_int_equal(deleted->status, 204);
    assert_true(g_file_test(base, G_FILE_TEST_IS_REGULAR));
    undefine_vm("writer");
    const char *files[] = {over_top, top, base};
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
        g_unlink(files[i]);
    g_rmdir(dir);
}

int main(void)
{
    if (vs_libvirtd_skip("shared libvirtd test"))
        return 77;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_name_changes_hands),
                                       cmocka_unit_test(test_definition_changed_by_another_client),
                                       cmocka_unit_test(test_names_other_tools_gave),
                                       cmocka_unit_test(test_delete_keeps_disks_in_use),
                                       cmocka_unit_test(test_image_another_vm_writes)};
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    return vs_libvirtd_exit_status(vs_test_exit_status(failed), daemon_status);
}
