/* test_crash_vms.c: kill -9 of virtsnapd in the middle of whole-VM operations,
 * then a restart (issue 6, crash safety): a VM rename with snapshots killed
 * at rename-after-discard and rename-after-rename keeps every snapshot, the
 * tree and the current snapshot, and revert works; a clone killed at
 * clone-after-copy and clone-after-define leaves no clone domain, no copied
 * image and the original intact; a delete killed at delete-before-power-off
 * (running VM, and shut-off VM with ?disks=keep) is finished: the VM is gone,
 * its images gone (or kept with their internal snapshots and, beside them,
 * the description of those written before the kill), and a new VM of the
 * same name has no snapshots; a ?disks=keep delete killed once the
 * description is written (delete-described), before its record says the
 * delete goes on, leaves the VM whole with its snapshots and no
 * description, unless another client undefined the VM meanwhile (the
 * description, whole, then stays and the delete is finished); one killed
 * right after it made that description's directory leaves the VM whole
 * and no empty directory; a delete
 * killed before its power-off whose disk another VM took before the
 * restart is finished with that disk kept; a create
 * killed before its define leaves no
 * disk, and after it the VM with its disk. STATE/journal is empty after
 * every scenario. */
#include "crash.h"
#include "domcopy.h"
#include "embed.h"

#include <glib/gstdio.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <string.h>

/* Fails unless the two snapshot lists (GET ?all=true) are identical. */
static void assert_same_tree(json_t *before, json_t *after)
{
    if (!json_equal(before, after)) {
        g_autofree char *a = json_dumps(before, JSON_COMPACT);
        g_autofree char *b = json_dumps(after, JSON_COMPACT);
        fail_msg("the snapshot tree changed:\nbefore %s\nafter  %s", a, b);
    }
}

/* The tree VM's serial log (named by its UUID: the same through renames),
 * and the guest's counter when r1 was taken: within [lo, hi]. */
static char *tree_serial;
static long r1_lo = -1, r1_hi = -1;

/* A shut-off VM NAME with the tree r1 (running, with memory) → {first off
 * (renamed from o1), o2}, current o2. */
static void make_tree_vm(const char *name)
{
    json_t *vm = vs_guest_vm_create(crash.d, name, crash.guest);
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    json_decref(vm);
    vs_guest_vm_action(crash.d, name, "start", "running");
    vs_guest_wait_count(serial, 0, 3, 60);
    r1_lo = vs_guest_last_count(serial);
    vs_guest_snapshot(crash.d, name, "r1");
    r1_hi = vs_guest_last_count(serial);
    g_free(tree_serial);
    tree_serial = g_strdup(serial);
    vs_guest_vm_action(crash.d, name, "poweroff", "shutoff");
    vs_guest_snapshot(crash.d, name, "o1");
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) ren =
        vs_expect(crash.d, 200, "PUT", "{\"name\":\"first off\"}", "/vms/%s/snapshots/o1", enc);
    vs_guest_revert(crash.d, name, "r1");
    json_t *got = vs_guest_vm_get(crash.d, name);
    assert_string_equal(vs_json_str(got, "state"), "running");
    json_decref(got);
    vs_guest_vm_action(crash.d, name, "poweroff", "shutoff");
    vs_guest_snapshot(crash.d, name, "o2");
    json_t *all = vs_guest_snapshots_all(crash.d, name);
    assert_int_equal(json_array_size(all), 3);
    json_decref(all);
    const char *parents[][2] = {{"r1", ""}, {"first off", "r1"}, {"o2", "r1"}};
    for (size_t i = 0; i < G_N_ELEMENTS(parents); i++) {
        g_autofree char *snap = vs_enc(parents[i][0]);
        g_autoptr(VsTestResponse) s =
            vs_expect(crash.d, 200, "GET", NULL, "/vms/%s/snapshots/%s", enc, snap);
        assert_string_equal(vs_json_str(s->json, "parent"), parents[i][1]);
        assert_true(json_is_true(json_object_get(s->json, "current")) == (i == 2));
    }
}

/* ---- rename ------------------------------------------------------------- */

static char *tree_vm; /* the VM with a snapshot tree the rename test leaves */

/* Reverting works on VM: to a shut-off snapshot (stays off) and to the
 * running one (runs again, under its own name); ends shut off on "o2". */
static void check_reverts(const char *vm)
{
    vs_guest_revert(crash.d, vm, "first off");
    json_t *info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), "shutoff");
    assert_string_equal(vs_json_str(info, "current-snapshot"), "first off");
    json_decref(info);
    gsize offset = vs_file_size(tree_serial); /* the log is appended to across boots */
    vs_guest_revert(crash.d, vm, "r1");
    info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), "running");
    assert_string_equal(vs_json_str(info, "name"), vm);
    g_autofree char *serial = g_strdup(vs_json_str(info, "serial_log"));
    json_decref(info);
    assert_string_equal(serial, tree_serial);
    /* r1's memory back: the counter goes on from where r1 caught it, the
     * guest not booted again */
    vs_guest_wait_resume(serial, offset, r1_lo, r1_hi + 3, 30);
    assert_int_equal(vs_guest_banners(serial, offset), 0);
    vs_guest_vm_action(crash.d, vm, "poweroff", "shutoff");
    vs_guest_revert(crash.d, vm, "o2");
    info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), "shutoff");
    assert_string_equal(vs_json_str(info, "current-snapshot"), "o2");
    json_decref(info);
}

/* Renames FROM to TO with a kill at POINT; returns the name the VM has after
 * the restart (owned). */
static char *rename_fault(const char *from, const char *to, const char *point)
{
    json_t *info = vs_guest_vm_get(crash.d, from);
    g_autofree char *uuid = g_strdup(vs_json_str(info, "uuid"));
    g_autofree char *current = g_strdup(vs_json_str(info, "current-snapshot"));
    long count = vs_json_int(info, "snapshots");
    json_decref(info);
    g_autofree char *image = vs_guest_vm_image(crash.d, from);
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    json_t *before = vs_guest_snapshots_all(crash.d, from);

    crash_arm(point);
    json_t *req = json_pack("{s:s}", "name", to);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autofree char *enc = vs_enc(from);
    g_autoptr(VsTestResponse) r = vs_req(crash.d, "PUT", body, "/vms/%s", enc);
    assert_int_equal(r->status, 0); /* the daemon died before answering */
    crash_wait_killed(point);
    crash_restart_clean();

    crash_check_journal_empty();
    bool has_from = vs_guest_vm_exists(crash.d, from), has_to = vs_guest_vm_exists(crash.d, to);
    printf("# rename '%s' → '%s' killed at %s: the VM is now '%s'\n", from, to, point,
           has_from ? from : has_to ? to : "(gone!)");
    assert_true(has_from != has_to);
    const char *now = has_from ? from : to;
    info = vs_guest_vm_get(crash.d, now);
    assert_string_equal(vs_json_str(info, "uuid"), uuid);
    assert_string_equal(vs_json_str(info, "state"), "shutoff");
    assert_string_equal(vs_json_str(info, "current-snapshot"), current);
    assert_int_equal(vs_json_int(info, "snapshots"), count);
    json_decref(info);
    json_t *after = vs_guest_snapshots_all(crash.d, now);
    assert_same_tree(before, after);
    json_decref(after);
    json_decref(before);
    g_autofree char *tags = vs_qemu_img_tags(image);
    assert_string_equal(tags, tags_before);
    check_reverts(now);
    crash_check_journal_empty();
    return g_strdup(now);
}

static void test_rename(void **state)
{
    (void)state;
    make_tree_vm("tree");
    /* Killed before libvirt renamed the domain: the old name stays. */
    g_autofree char *first = rename_fault("tree", "tree-renamed", "rename-after-discard");
    assert_string_equal(first, "tree");
    /* Killed after it: the new name holds, the tree is redefined under it. */
    tree_vm = rename_fault("tree", "tree-renamed", "rename-after-rename");
    assert_string_equal(tree_vm, "tree-renamed");
    /* And a clean rename back still carries everything. */
    json_t *before = vs_guest_snapshots_all(crash.d, tree_vm);
    g_autoptr(VsTestResponse) r =
        vs_expect(crash.d, 200, "PUT", "{\"name\":\"tree\"}", "/vms/tree-renamed");
    json_t *after = vs_guest_snapshots_all(crash.d, "tree");
    assert_same_tree(before, after);
    json_decref(before);
    json_decref(after);
    g_free(tree_vm);
    tree_vm = g_strdup("tree");
}

/* ---- clone -------------------------------------------------------------- */

static void clone_fault(const char *src, const char *point)
{
    g_autofree char *images = vs_state_path(crash.d, "images", NULL);
    g_autofree char *logs = vs_state_path(crash.d, "logs", NULL);
    g_autofree char *names_dir = vs_state_path(crash.d, "snapnames", NULL);
    g_autofree char *defs = vs_state_path(crash.d, "libvirt", "etc", "qemu", NULL);
    g_autofree char *images_before = vs_dir_list(images);
    g_autofree char *logs_before = vs_dir_list(logs);
    g_autofree char *names_before = vs_dir_list(names_dir);
    g_autofree char *defs_before = vs_dir_list(defs);
    g_autoptr(VsTestResponse) vms_before = vs_expect(crash.d, 200, "GET", NULL, "/vms");
    g_autofree char *image = vs_guest_vm_image(crash.d, src);
    g_autofree char *sum_before = vs_sha256(image);
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    json_t *before = vs_guest_snapshots_all(crash.d, src);

    crash_arm(point);
    g_autofree char *enc = vs_enc(src);
    g_autoptr(VsTestResponse) r =
        vs_expect(crash.d, 202, "POST", "{\"name\":\"cl\"}", "/vms/%s/clone", enc);
    g_autofree char *task = g_strdup(vs_json_str(r->json, "id"));
    crash_wait_killed(point);
    /* At the kill the copy was there: the journal must get rid of it. */
    g_autofree char *images_at_kill = vs_dir_list(images);
    printf("# clone of '%s' killed at %s; images then: %s\n", src, point, images_at_kill);
    assert_string_not_equal(images_at_kill, images_before);
    crash_restart_clean();

    crash_check_task_interrupted(task);
    crash_check_journal_empty();
    assert_false(vs_guest_vm_exists(crash.d, "cl"));
    g_autoptr(VsTestResponse) vms_after = vs_expect(crash.d, 200, "GET", NULL, "/vms");
    assert_true(json_equal(vms_before->json, vms_after->json));
    g_autofree char *images_after = vs_dir_list(images);
    g_autofree char *logs_after = vs_dir_list(logs);
    g_autofree char *names_after = vs_dir_list(names_dir);
    g_autofree char *defs_after = vs_dir_list(defs);
    assert_string_equal(images_after, images_before);
    assert_string_equal(logs_after, logs_before);
    assert_string_equal(names_after, names_before);
    assert_string_equal(defs_after, defs_before);
    /* The original is untouched. */
    g_autofree char *sum_after = vs_sha256(image);
    assert_string_equal(sum_after, sum_before);
    g_autofree char *tags_after = vs_qemu_img_tags(image);
    assert_string_equal(tags_after, tags_before);
    json_t *after = vs_guest_snapshots_all(crash.d, src);
    assert_same_tree(before, after);
    json_decref(after);
    json_decref(before);
    crash_check_journal_empty();
}

static void test_clone(void **state)
{
    (void)state;
    if (!tree_vm) {
        make_tree_vm("tree");
        tree_vm = g_strdup("tree");
    }
    clone_fault(tree_vm, "clone-after-copy");
    clone_fault(tree_vm, "clone-after-define");
    check_reverts(tree_vm);

    /* The name is free and a clean clone works, with the whole tree. */
    g_autofree char *images = vs_state_path(crash.d, "images", NULL);
    g_autofree char *images_before = vs_dir_list(images);
    g_autofree char *enc = vs_enc(tree_vm);
    g_autoptr(VsTestResponse) r =
        vs_expect(crash.d, 202, "POST", "{\"name\":\"cl\"}", "/vms/%s/clone", enc);
    json_t *task = vs_wait_task(crash.d, vs_json_str(r->json, "id"), 120);
    if (g_strcmp0(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("the clone after the crashes failed: %s", vs_json_str(task, "message"));
    json_decref(task);
    json_t *src_tree = vs_guest_snapshots_all(crash.d, tree_vm);
    json_t *clone_tree = vs_guest_snapshots_all(crash.d, "cl");
    assert_same_tree(src_tree, clone_tree);
    json_decref(src_tree);
    json_decref(clone_tree);
    g_autoptr(VsTestResponse) del = vs_expect(crash.d, 204, "DELETE", NULL, "/vms/cl");
    g_autofree char *images_after = vs_dir_list(images);
    assert_string_equal(images_after, images_before);
    crash_check_journal_empty();
}

/* ---- delete ------------------------------------------------------------- */

static void delete_fault(const char *vm, bool running, bool keep)
{
    json_t *info = vs_guest_vm_create(crash.d, vm, crash.guest);
    g_autofree char *uuid = g_strdup(vs_json_str(info, "uuid"));
    g_autofree char *serial = g_strdup(vs_json_str(info, "serial_log"));
    json_decref(info);
    g_autofree char *image = vs_guest_vm_image(crash.d, vm);
    if (running) {
        vs_guest_vm_action(crash.d, vm, "start", "running");
        vs_guest_wait_count(serial, 0, 3, 60);
        g_autofree char *vnc_name = g_strdup_printf("%s.vnc", uuid);
        g_autofree char *vnc = vs_state_path(crash.d, "vnc", vnc_name, NULL);
        assert_true(g_file_test(vnc, G_FILE_TEST_EXISTS));
    }
    vs_guest_snapshot(crash.d, vm, "a");
    vs_guest_snapshot(crash.d, vm, "b");
    g_autofree char *vm_enc = vs_enc(vm);
    g_autoptr(VsTestResponse) ren =
        vs_expect(crash.d, 200, "PUT", "{\"name\":\"b renamed\"}", "/vms/%s/snapshots/b", vm_enc);
    g_autofree char *map_name = g_strdup_printf("%s.conf", uuid);
    g_autofree char *map = vs_state_path(crash.d, "snapnames", map_name, NULL);
    assert_true(g_file_test(map, G_FILE_TEST_EXISTS));
    assert_int_equal(vs_guest_qemu_count(crash.d, vm), running ? 1 : 0);
    g_autofree char *images = vs_state_path(crash.d, "images", NULL);
    g_autofree char *images_before = vs_dir_list(images);

    if (keep) {
        /* Killed once the kept disks' description is written, before the
         * record says the delete goes on: the delete had not begun, so
         * the VM stays whole and the description goes (it stayed, a
         * directory naming snapshots that were never deleted, hard links
         * holding their memory files). */
        crash_arm("delete-described");
        g_autoptr(VsTestResponse) cut =
            vs_req(crash.d, "DELETE", NULL, "/vms/%s?disks=keep", vm_enc);
        assert_int_equal(cut->status, 0);
        crash_wait_killed("delete-described");
        crash_restart_clean();
        crash_check_journal_empty();
        g_autofree char *images_kept = vs_dir_list(images);
        assert_string_equal(images_kept, images_before);
        json_t *all = vs_guest_snapshots_all(crash.d, vm);
        assert_int_equal(json_array_size(all), 2);
        json_decref(all);
        g_autoptr(VsTestResponse) b =
            vs_expect(crash.d, 200, "GET", NULL, "/vms/%s/snapshots/b%%20renamed", vm_enc);
    }
    crash_arm("delete-before-power-off");
    g_autoptr(VsTestResponse) r =
        vs_req(crash.d, "DELETE", NULL, keep ? "/vms/%s?disks=keep" : "/vms/%s", vm_enc);
    assert_int_equal(r->status, 0);
    crash_wait_killed("delete-before-power-off");
    crash_restart_clean();

    crash_check_journal_empty();
    printf("# delete of %s VM '%s'%s killed before its power-off: VM %s\n",
           running ? "running" : "shut-off", vm, keep ? " (disks=keep)" : "",
           vs_guest_vm_exists(crash.d, vm) ? "still there!" : "gone");
    assert_false(vs_guest_vm_exists(crash.d, vm));
    assert_int_equal(vs_guest_qemu_count(crash.d, vm), 0);
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(map, G_FILE_TEST_EXISTS));
    g_autofree char *vnc_name = g_strdup_printf("%s.vnc", uuid);
    g_autofree char *vnc = vs_state_path(crash.d, "vnc", vnc_name, NULL);
    assert_false(g_file_test(vnc, G_FILE_TEST_EXISTS)); /* QEMU's socket file */
    g_autofree char *images_after = vs_dir_list(images);
    if (keep) {
        /* The image stays with its snapshot contents, and beside it what
         * names them, written before the kill (the recovery that finished
         * the delete left it). */
        g_autofree char *kept_dir = g_strdup_printf("%s.snapshots", image);
        g_autofree char *kept_base = g_path_get_basename(kept_dir);
        g_auto(GStrv) before_parts = g_strsplit(images_before, ",", -1);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        for (char **p = before_parts; *p; p++)
            g_ptr_array_add(names, g_strdup(*p));
        g_ptr_array_add(names, g_strdup(kept_base));
        g_autofree char *want = vs_join_sorted(names);
        assert_string_equal(images_after, want);
        g_autofree char *tags = vs_qemu_img_tags(image);
        assert_string_equal(tags, "a,b");
        g_autofree char *index = g_build_filename(kept_dir, "snapshots.json", NULL);
        g_autofree char *text = vs_read_file(index);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"name\": \"b renamed\""));
        assert_non_null(strstr(text, "\"tag\": \"b\""));
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", kept_dir);
        assert_int_equal(system(rm), 0);
    } else {
        assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
        g_autofree char *base = g_path_get_basename(image);
        g_auto(GStrv) parts = g_strsplit(images_before, ",", -1);
        g_autoptr(GString) want = g_string_new(NULL);
        for (char **p = parts; *p; p++)
            if (strcmp(*p, base) != 0)
                g_string_append_printf(want, "%s%s", want->len ? "," : "", *p);
        assert_string_equal(images_after, want->str);
    }

    /* A new VM of the same name starts with no snapshots. */
    info = vs_guest_vm_create(crash.d, vm, crash.guest);
    assert_int_equal(vs_json_int(info, "snapshots"), 0);
    assert_string_equal(vs_json_str(info, "current-snapshot"), "");
    json_decref(info);
    json_t *all = vs_guest_snapshots_all(crash.d, vm);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    g_autoptr(VsTestResponse) none =
        vs_expect(crash.d, 404, "GET", NULL, "/vms/%s/snapshots/a", vm_enc);
    vs_guest_snapshot(crash.d, vm, "a");
    g_autoptr(VsTestResponse) del = vs_expect(crash.d, 204, "DELETE", NULL, "/vms/%s", vm_enc);
    if (keep)
        g_unlink(image);
    crash_check_journal_empty();
}

static void test_delete_running(void **state)
{
    (void)state;
    delete_fault("dl-run", true, false);
}

static void test_delete_keep(void **state)
{
    (void)state;
    delete_fault("dl-keep", false, true);
}

/* Helper mode (a child process, while the daemon is down): undefines the
 * VM NAME of the embedded driver under ROOT with its snapshots' metadata,
 * as another libvirt client would. */
static int undefine_helper(const char *root, const char *name)
{
    virConnectPtr conn = vs_embed_open(root);
    if (!conn)
        return 1;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (!dom || virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                                VIR_DOMAIN_UNDEFINE_NVRAM) < 0) {
        fprintf(stderr, "undefine %s: %s\n", name, virGetLastErrorMessage());
        return 1;
    }
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}

static char *self_exe;

/* VM NAME made with one snapshot, "a", and then its DELETE (QUERY after
 * the path, or "") killed at POINT: its disk (owned), its UUID in *UUID. */
static char *delete_killed(const char *name, const char *query, const char *point, char **uuid)
{
    json_t *info = vs_guest_vm_create(crash.d, name, crash.guest);
    *uuid = g_strdup(vs_json_str(info, "uuid"));
    json_decref(info);
    char *image = vs_guest_vm_image(crash.d, name);
    vs_guest_snapshot(crash.d, name, "a");
    crash_arm(point);
    g_autoptr(VsTestResponse) cut = vs_req(crash.d, "DELETE", NULL, "/vms/%s%s", name, query);
    assert_int_equal(cut->status, 0);
    crash_wait_killed(point);
    return image;
}

/* A ?disks=keep delete killed once the description is written, and the VM
 * undefined by another client before the restart: the description, whole,
 * is the one left of the snapshots inside the kept disk, so recovery keeps
 * it and finishes the delete as one with its disks kept (the disk and the
 * description stay). */
static void test_delete_keep_vm_gone(void **state)
{
    (void)state;
    g_autofree char *uuid = NULL;
    g_autofree char *image = delete_killed("dl-gone", "?disks=keep", "delete-described", &uuid);
    g_autofree char *root = vs_state_path(crash.d, "libvirt", NULL);
    const char *helper[] = {self_exe, "--undefine", root, "dl-gone", NULL};
    g_autofree char *out = NULL;
    assert_int_equal(vs_run(helper, &out), 0);
    crash_restart_clean();
    crash_check_journal_empty();
    assert_false(vs_guest_vm_exists(crash.d, "dl-gone"));
    assert_true(g_file_test(image, G_FILE_TEST_IS_REGULAR));
    g_autofree char *kept_dir = g_strdup_printf("%s.snapshots", image);
    g_autofree char *index = g_build_filename(kept_dir, "snapshots.json", NULL);
    g_autofree char *text = vs_read_file(index);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"name\": \"a\""));
    /* finished as a delete, not dropped as one that never began */
    g_autofree char *log = vs_read_file(crash.d->log_path);
    g_autofree char *finished = g_strdup_printf("finished an interrupted delete of VM %s", uuid);
    assert_non_null(log);
    assert_non_null(strstr(log, finished));
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", kept_dir);
    assert_int_equal(system(rm), 0);
    g_unlink(image);
}

/* A ?disks=keep delete killed right after it made its description's
 * directory, before its record names it: the delete had not begun, the VM
 * stays whole, and the empty directory is removed at the restart (it
 * stayed, named by nothing). */
static void test_delete_dir_made(void **state)
{
    (void)state;
    g_autofree char *uuid = NULL;
    g_autofree char *image = delete_killed("dl-dir", "?disks=keep", "delete-dir-made", &uuid);
    g_autofree char *made = g_strdup_printf("%s.snapshots", image);
    assert_true(g_file_test(made, G_FILE_TEST_IS_DIR)); /* (what the kill left) */
    gsize log_at = vs_file_size(crash.d->log_path);
    crash_restart_clean();
    crash_check_journal_empty();
    assert_false(g_file_test(made, G_FILE_TEST_EXISTS));
    assert_true(g_file_test(image, G_FILE_TEST_IS_REGULAR));
    g_autofree char *log = vs_read_file(crash.d->log_path);
    g_autofree char *said = g_strdup_printf("removed %s, empty", made);
    assert_non_null(strstr(log + log_at, said));
    json_t *all = vs_guest_snapshots_all(crash.d, "dl-dir");
    assert_int_equal(json_array_size(all), 1);
    json_decref(all);
    g_autoptr(VsTestResponse) del = vs_expect(crash.d, 204, "DELETE", NULL, "/vms/dl-dir");
    crash_check_journal_empty();
}

/* Helper mode (daemon down): defines on the embedded driver under ROOT VM
 * NAME as a copy of VM FROM with a new UUID (its disks the same files), as
 * another tool handing one of virtsnap's disks to a VM of its own would. */
static int define_copy_helper(const char *root, const char *from, const char *name)
{
    virConnectPtr conn = vs_embed_open(root);
    if (!conn)
        return 1;
    bool ok = vs_test_define_copy(conn, from, name, NULL, false);
    virConnectClose(conn);
    return ok ? 0 : 1;
}

/* A delete killed before its power-off, and its VM's disk given to another
 * VM before the restart: recovery finishes the delete but keeps the disk
 * the other VM uses, and says so (before, the replayed delete removed it:
 * the check made at the delete's start was not made again). */
static void test_delete_disk_taken(void **state)
{
    (void)state;
    g_autofree char *uuid = NULL;
    g_autofree char *image = delete_killed("dl-lent", "", "delete-before-power-off", &uuid);
    g_autofree char *root = vs_state_path(crash.d, "libvirt", NULL);
    const char *helper[] = {self_exe, "--define-copy", root, "dl-lent", "borrower", NULL};
    g_autofree char *out = NULL;
    assert_int_equal(vs_run(helper, &out), 0);
    gsize log_at = vs_file_size(crash.d->log_path);
    crash_restart_clean();
    crash_check_journal_empty();
    assert_false(vs_guest_vm_exists(crash.d, "dl-lent"));
    if (!g_file_test(image, G_FILE_TEST_IS_REGULAR))
        fail_msg("the disk %s of VM 'borrower' was removed with deleted VM 'dl-lent'", image);
    g_autofree char *log = vs_read_file(crash.d->log_path);
    assert_non_null(log);
    g_autofree char *kept = g_strdup_printf("VM 'dl-lent': its disk %s is kept: VM 'borrower' uses it",
                                            image);
    g_autofree char *finished = g_strdup_printf("finished an interrupted delete of VM %s", uuid);
    assert_non_null(strstr(log + log_at, kept));
    assert_non_null(strstr(log + log_at, finished));
    /* The other VM is whole: virtsnapd shows it with that disk, and its
     * delete takes the disk (no other VM uses it now). */
    json_t *borrower = vs_guest_vm_get(crash.d, "borrower");
    const char *disk = vs_json_str(json_array_get(json_object_get(borrower, "disks"), 0), "path");
    assert_string_equal(disk, image);
    json_decref(borrower);
    g_autoptr(VsTestResponse) del = vs_expect(crash.d, 204, "DELETE", NULL, "/vms/borrower");
    assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    crash_check_journal_empty();
}

/* ---- create ------------------------------------------------------------ */

/* A VM create killed at POINT, after its disk is made: after the restart,
 * the VM and its disk are both there (DEFINED) or neither (before, a kill
 * ahead of the define left its disk in STATE/images, named by no VM). */
static void create_fault(const char *point, bool defined)
{
    g_autofree char *images = vs_state_path(crash.d, "images", NULL);
    g_autofree char *images_before = vs_dir_list(images);
    crash_arm(point);
    g_autoptr(VsTestResponse) cut = vs_http(crash.d, "POST", "/vms", "{\"name\":\"cr\",\"disk\":1}");
    crash_wait_killed(point);
    crash_restart_clean();
    g_autofree char *images_after = vs_dir_list(images);
    if (!defined) {
        assert_false(vs_guest_vm_exists(crash.d, "cr"));
        assert_string_equal(images_after, images_before);
    } else {
        json_t *vm = vs_guest_vm_get(crash.d, "cr");
        const char *disk = vs_json_str(json_array_get(json_object_get(vm, "disks"), 0), "path");
        if (!g_file_test(disk, G_FILE_TEST_IS_REGULAR))
            fail_msg("the VM's disk %s is gone", disk);
        json_decref(vm);
        assert_true(strlen(images_after) > strlen(images_before));
        g_autoptr(VsTestResponse) del = vs_expect(crash.d, 204, "DELETE", NULL, "/vms/cr");
    }
    crash_check_journal_empty();
}

static void test_create(void **state)
{
    (void)state;
    create_fault("create-before-define", false);
    create_fault("create-after-define", true);
}

int main(int argc, char **argv)
{
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    if (argc == 4 && !strcmp(argv[1], "--undefine"))
        return undefine_helper(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "--define-copy"))
        return define_copy_helper(argv[2], argv[3], argv[4]);
    const struct CMUnitTest tests[] = {
        CRASH_TEST(test_rename),
        CRASH_TEST(test_clone),
        CRASH_TEST(test_delete_running),
        CRASH_TEST(test_delete_keep),
        CRASH_TEST(test_delete_keep_vm_gone),
        CRASH_TEST(test_delete_disk_taken),
        CRASH_TEST(test_delete_dir_made),
        CRASH_TEST(test_create),
    };
    int failed = crash_run_group("crash-vms", tests, G_N_ELEMENTS(tests));
    g_free(tree_vm);
    g_free(self_exe);
    return failed;
}
