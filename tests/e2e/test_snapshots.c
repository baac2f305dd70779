/* test_snapshots.c: end-to-end proofs of issue 4 on real QEMU with the tiny
 * guest: (1) a memory snapshot brings the guest's RAM counter back,
 * (4) also after a snapshot rename and a daemon restart, (5) a clone with
 * snapshots is independent of its original (and stays itself after a revert
 * restored a definition saved in a snapshot), a renamed VM reverts under its
 * new name, (2) disk contents come back, (3) branching trees, (6) a deleted
 * VM's name starts clean, (7) disks=keep keeps the internal snapshots in the
 * image; and a paused guest's snapshot and revert. Tests run in order; 1, 4, 5 and the VM rename share the VM "mem". */
#include "e2e.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

/* The counter value the snapshot "m1" holds: within [m1_lo, m1_hi]. */
static long m1_lo = -1, m1_hi = -1;

static const char *disk_path(json_t *vm)
{
    return vs_json_str(json_array_get(json_object_get(vm, "disks"), 0), "path");
}

/* Snapshots VM (running) and returns the range its counter was in. */
static void snapshot_running(const char *vm, const char *serial, const char *name, long *lo,
                             long *hi)
{
    *lo = vs_guest_last_count(serial);
    vs_guest_snapshot(e2e.d, vm, name);
    *hi = vs_guest_last_count(serial);
    json_t *snap = vs_guest_snapshot_get(e2e.d, vm, name);
    assert_string_equal(vs_json_str(snap, "state"), "running");
    assert_true(json_is_true(json_object_get(snap, "memory")));
    assert_true(json_is_true(json_object_get(snap, "current")));
    json_decref(snap);
    printf("# snapshot '%s' taken with the counter in [%ld, %ld]\n", name, *lo, *hi);
}

/* Lets the guest run well past HI, reverts to SNAP and checks from the serial
 * output that it resumes from [LO, HI], neither rebooting nor carrying on. */
static void revert_and_check_memory(const char *vm, const char *serial, const char *snap,
                                    long lo, long hi)
{
    long ahead = vs_guest_wait_count(serial, vs_file_size(serial), hi + 30, 60);
    gsize offset = vs_file_size(serial);
    vs_guest_revert(e2e.d, vm, snap);
    json_t *got = vs_guest_vm_get(e2e.d, vm);
    assert_string_equal(vs_json_str(got, "state"), "running");
    assert_string_equal(vs_json_str(got, "current-snapshot"), snap);
    json_decref(got);
    long resumed = vs_guest_wait_resume(serial, offset, lo, hi + 3, 30);
    assert_int_equal(vs_guest_banners(serial, offset), 0); /* not a reboot */
    /* and it keeps counting from there, well below where it had got to */
    long later = vs_guest_wait_count(serial, offset, resumed + 5, 30);
    assert_true(later < ahead);
    printf("# was at %ld, reverted to '%s': resumed at %ld\n", ahead, snap, resumed);
}

/* Creates VM NAME on the tiny guest, starts it and waits until it has
 * counted to 10; its serial log (owned). */
static char *start_counting(const char *name)
{
    json_t *vm = vs_guest_vm_create(e2e.d, name, e2e.guest);
    char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    json_decref(vm);
    vs_guest_vm_action(e2e.d, name, "start", "running");
    e2e_check_accel(name);
    vs_guest_wait_count(serial, 0, 10, 60);
    return serial;
}

/* (1) memory */
static void test_memory(void **state)
{
    (void)state;
    g_autofree char *serial = start_counting("mem");
    snapshot_running("mem", serial, "m1", &m1_lo, &m1_hi);
    assert_true(m1_lo >= 10); /* so that "from about N" cannot mean "from 1" */
    revert_and_check_memory("mem", serial, "m1", m1_lo, m1_hi);
    /* a revert in place is still the same boot */
    assert_int_equal(vs_guest_banners(serial, 0), 1);
}

/* (4) rename a snapshot, restart the daemon, revert to it */
static void test_rename_revert(void **state)
{
    (void)state;
    const char *new_name = "r new \xe2\x9c\x93 <&>"; /* "r new ✓ <&>" */
    json_t *vm = vs_guest_vm_get(e2e.d, "mem");
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    vs_guest_wait_count(serial, 0, vs_guest_last_count(serial) + 5, 30);
    long lo, hi;
    snapshot_running("mem", serial, "r-old", &lo, &hi);

    g_autofree char *enc = vs_enc(new_name);
    g_autofree char *body = g_strdup_printf("{\"name\":\"%s\"}", "r new \xe2\x9c\x93 <&>");
    {
        g_autoptr(VsTestResponse) r =
            vs_expect(e2e.d, 200, "PUT", body, "/vms/mem/snapshots/r-old");
        assert_string_equal(vs_json_str(r->json, "name"), new_name);
        assert_string_equal(vs_json_str(r->json, "parent"), "m1");
        assert_true(json_is_true(json_object_get(r->json, "current")));
        g_autoptr(VsTestResponse) old =
            vs_expect(e2e.d, 404, "GET", NULL, "/vms/mem/snapshots/r-old");
        (void)old;
    }
    /* the renamed snapshot survives a daemon restart (the VM keeps running) */
    gint64 t0 = g_get_monotonic_time();
    vs_test_daemon_restart(e2e.d);
    printf("# daemon restarted in %.1f s\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    json_t *after = vs_guest_vm_get(e2e.d, "mem");
    assert_string_equal(vs_json_str(after, "state"), "running");
    assert_string_equal(vs_json_str(after, "uuid"), uuid);
    assert_string_equal(vs_json_str(after, "current-snapshot"), new_name);
    assert_int_equal(vs_json_int(after, "snapshots"), 2);
    json_decref(after);
    {
        g_autoptr(VsTestResponse) kids =
            vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem/snapshots?parent=m1");
        g_autofree char *names = vs_names(kids->json);
        assert_string_equal(names, new_name);
        g_autoptr(VsTestResponse) old =
            vs_expect(e2e.d, 404, "GET", NULL, "/vms/mem/snapshots/r-old");
        (void)old;
    }
    revert_and_check_memory("mem", serial, new_name, lo, hi);
    /* and the older snapshot still reverts too, back to its own value */
    revert_and_check_memory("mem", serial, "m1", m1_lo, m1_hi);
    /* m1 is current again: put the renamed one back as current for the clone */
    g_autoptr(VsTestResponse) r =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/mem/snapshots/%s/revert", enc);
    (void)r;
}

/* A snapshot of a paused guest holds its memory, does not unpause it, and
 * records no pause of its own (the guest was paused already); a revert to
 * it brings the guest back paused at that point, and it counts on from
 * there once resumed. (The daemon's default, live where possible, takes a
 * classic one here: a paused guest cannot be snapshotted live.) */
static void test_paused(void **state)
{
    (void)state;
    g_autofree char *serial = start_counting("pz");
    vs_guest_vm_action(e2e.d, "pz", "suspend", "paused");
    g_usleep(300000); /* let the last line in flight reach the file (as test_lifecycle) */
    long at = vs_guest_last_count(serial);
    vs_guest_snapshot(e2e.d, "pz", "p1");
    json_t *snap = vs_guest_snapshot_get(e2e.d, "pz", "p1");
    assert_string_equal(vs_json_str(snap, "state"), "paused");
    assert_true(json_is_true(json_object_get(snap, "memory")));
    json_t *downtime = json_object_get(snap, "downtime_ms");
    assert_non_null(downtime);
    assert_true(json_number_value(downtime) == 0);
    json_decref(snap);
    json_t *still = vs_guest_vm_get(e2e.d, "pz");
    assert_string_equal(vs_json_str(still, "state"), "paused");
    json_decref(still);
    assert_int_equal(vs_guest_last_count(serial), at);

    vs_guest_vm_action(e2e.d, "pz", "resume", "running");
    vs_guest_wait_count(serial, 0, at + 30, 60);
    vs_guest_revert(e2e.d, "pz", "p1");
    json_t *reverted = vs_guest_vm_get(e2e.d, "pz");
    assert_string_equal(vs_json_str(reverted, "state"), "paused");
    json_decref(reverted);
    gsize offset = vs_file_size(serial);
    g_usleep(G_USEC_PER_SEC); /* paused: not a line in a second */
    assert_int_equal(vs_file_size(serial), offset);
    vs_guest_vm_action(e2e.d, "pz", "resume", "running");
    long resumed = vs_guest_wait_resume(serial, offset, at, at + 3, 30);
    assert_int_equal(vs_guest_banners(serial, offset), 0); /* not a reboot */
    printf("# paused at %ld, snapshot and revert: resumed at %ld\n", at, resumed);
    g_autoptr(VsTestResponse) gone = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/pz");
    (void)gone;
}

/* (5) clone with snapshots; the clone is independent of the original */
static void test_clone(void **state)
{
    (void)state;
    const char *renamed = "r new \xe2\x9c\x93 <&>";
    vs_guest_vm_action(e2e.d, "mem", "poweroff", "shutoff");
    json_t *src = vs_guest_vm_get(e2e.d, "mem");
    g_autofree char *src_disk = g_strdup(disk_path(src));
    g_autofree char *src_serial = g_strdup(vs_json_str(src, "serial_log"));
    json_decref(src);
    g_autofree char *src_sha = vs_sha256(src_disk);
    g_autofree char *src_tags = vs_qemu_img_snapshots(src_disk);
    g_autoptr(VsTestResponse) src_all =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem/snapshots?all=true");
    assert_int_equal(json_array_size(src_all->json), 2);

    /* the default name is <vm>-clone-<n> */
    g_autoptr(VsTestResponse) accepted = vs_req(e2e.d, "POST", "{}", "/vms/mem/clone");
    json_t *task = vs_guest_task_ok(e2e.d, accepted, 120);
    assert_string_equal(vs_json_str(task, "target_uri"), "/vms/mem-clone-1");
    json_decref(task);

    json_t *clone = vs_guest_vm_get(e2e.d, "mem-clone-1");
    g_autofree char *clone_disk = g_strdup(disk_path(clone));
    g_autofree char *clone_serial = g_strdup(vs_json_str(clone, "serial_log"));
    g_autofree char *clone_uuid = g_strdup(vs_json_str(clone, "uuid"));
    assert_string_equal(vs_json_str(clone, "current-snapshot"), renamed);
    assert_int_equal(vs_json_int(clone, "snapshots"), 2);
    assert_string_equal(vs_json_str(clone, "state"), "shutoff");
    json_decref(clone);
    assert_string_not_equal(clone_disk, src_disk);
    assert_string_not_equal(clone_serial, src_serial);
    g_autofree char *images = vs_state_path(e2e.d, "images", NULL);
    assert_true(g_str_has_prefix(clone_disk, images));
    /* the same tree (names, parents, times, descriptions, current) and tags */
    {
        g_autoptr(VsTestResponse) all =
            vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem-clone-1/snapshots?all=true");
        if (!json_equal(all->json, src_all->json))
            fail_msg("clone tree differs:\n%s\nvs original:\n%s", all->body, src_all->body);
    }
    g_autofree char *clone_tags = vs_qemu_img_snapshots(clone_disk);
    assert_string_equal(clone_tags, src_tags);

    /* revert the clone to the memory snapshot m1: it runs on from m1's counter */
    {
        g_autoptr(VsTestResponse) r =
            vs_expect(e2e.d, 200, "POST", NULL, "/vms/mem-clone-1/snapshots/m1/revert");
        (void)r;
    }
    json_t *running = vs_guest_vm_get(e2e.d, "mem-clone-1");
    assert_string_equal(vs_json_str(running, "state"), "running");
    assert_string_equal(vs_json_str(running, "current-snapshot"), "m1");
    json_decref(running);
    e2e_check_accel("mem-clone-1");
    long resumed = vs_guest_wait_resume(clone_serial, 0, m1_lo, m1_hi + 3, 30);
    assert_int_equal(vs_guest_banners(clone_serial, 0), 0); /* restored, not booted */
    printf("# clone resumed from m1 at %ld\n", resumed);

    /* the original did not move */
    json_t *orig = vs_guest_vm_get(e2e.d, "mem");
    assert_string_equal(vs_json_str(orig, "state"), "shutoff");
    assert_string_equal(vs_json_str(orig, "current-snapshot"), renamed);
    json_decref(orig);

    /* powered off, the clone is still itself: its uuid, disk and log (a revert
     * restores the persistent definition saved in the snapshot) */
    vs_guest_vm_action(e2e.d, "mem-clone-1", "poweroff", "shutoff");
    json_t *off = vs_guest_vm_get(e2e.d, "mem-clone-1");
    assert_string_equal(disk_path(off), clone_disk);
    assert_string_equal(vs_json_str(off, "serial_log"), clone_serial);
    assert_string_equal(vs_json_str(off, "uuid"), clone_uuid);
    json_decref(off);
    orig = vs_guest_vm_get(e2e.d, "mem");
    assert_string_equal(disk_path(orig), src_disk);
    json_decref(orig);

    /* data written to the clone's disk is absent from the original */
    assert_true(vs_qemu_io(clone_disk, "write -P 0xef 768k 4k"));
    assert_true(vs_qemu_io(clone_disk, "read -P 0xef 768k 4k"));
    assert_false(vs_qemu_io(src_disk, "read -P 0xef 768k 4k"));

    /* deleting on the clone leaves the original's snapshot alone */
    g_autofree char *enc = vs_enc(renamed);
    {
        g_autoptr(VsTestResponse) del =
            vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/mem-clone-1/snapshots/%s", enc);
        g_autoptr(VsTestResponse) gone =
            vs_expect(e2e.d, 404, "GET", NULL, "/vms/mem-clone-1/snapshots/%s", enc);
        (void)del, (void)gone;
    }
    json_t *kept = vs_guest_snapshot_get(e2e.d, "mem", renamed);
    json_decref(kept);
    g_autofree char *clone_tags_after = vs_qemu_img_tags(clone_disk);
    assert_string_equal(clone_tags_after, "m1"); /* the deleted snapshot's tag went, m1's stays */
    g_autofree char *src_tags_after = vs_qemu_img_snapshots(src_disk);
    assert_string_equal(src_tags_after, src_tags);
    g_autofree char *src_sha_after = vs_sha256(src_disk);
    assert_string_equal(src_sha_after, src_sha);

    /* deleting the clone removes its files only */
    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/mem-clone-1");
    assert_false(g_file_test(clone_disk, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(clone_serial, G_FILE_TEST_EXISTS));
    assert_true(g_file_test(src_disk, G_FILE_TEST_IS_REGULAR));
    g_autoptr(VsTestResponse) all_after =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem/snapshots?all=true");
    assert_true(json_equal(all_after->json, src_all->json));
}

/* Renaming a VM keeps its tree, and reverting it to a memory snapshot later
 * neither brings the old name back nor loses the memory state. */
static void test_vm_rename_revert(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_get(e2e.d, "mem");
    g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
    g_autofree char *disk = g_strdup(disk_path(vm));
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    g_autofree char *current = g_strdup(vs_json_str(vm, "current-snapshot"));
    json_decref(vm);
    g_autoptr(VsTestResponse) before =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem/snapshots?all=true");
    g_autoptr(VsTestResponse) r = vs_expect(e2e.d, 200, "PUT", "{\"name\":\"mem 2\"}", "/vms/mem");
    assert_string_equal(vs_json_str(r->json, "current-snapshot"), current);
    assert_int_equal(vs_json_int(r->json, "snapshots"), 2);
    g_autoptr(VsTestResponse) after =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/mem%%202/snapshots?all=true");
    assert_true(json_equal(after->json, before->json));
    g_autoptr(VsTestResponse) old = vs_expect(e2e.d, 404, "GET", NULL, "/vms/mem");

    gsize offset = vs_file_size(serial);
    g_autoptr(VsTestResponse) rv =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/mem%%202/snapshots/m1/revert");
    long resumed = vs_guest_wait_resume(serial, offset, m1_lo, m1_hi + 3, 30);
    assert_int_equal(vs_guest_banners(serial, offset), 0);
    printf("# renamed VM reverted to m1: resumed at %ld\n", resumed);
    vs_guest_vm_action(e2e.d, "mem 2", "poweroff", "shutoff");
    json_t *off = vs_guest_vm_get(e2e.d, "mem 2");
    assert_string_equal(vs_json_str(off, "uuid"), uuid);
    assert_string_equal(disk_path(off), disk);
    assert_string_equal(vs_json_str(off, "current-snapshot"), "m1");
    json_decref(off);
    g_autoptr(VsTestResponse) list = vs_expect(e2e.d, 200, "GET", NULL, "/vms");
    g_autofree char *names = vs_names(list->json);
    assert_string_equal(names, "mem 2");
    g_autoptr(VsTestResponse) still_old = vs_expect(e2e.d, 404, "GET", NULL, "/vms/mem");
    (void)old, (void)rv, (void)still_old;
}

/* (2) disks: a snapshot of a stopped VM brings its disk contents back */
static void test_disks(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "disk", e2e.guest);
    g_autofree char *image = g_strdup(disk_path(vm));
    json_decref(vm);
    assert_true(vs_qemu_io(image, "write -P 0xab 512k 4k"));
    vs_guest_snapshot(e2e.d, "disk", "d1");
    json_t *snap = vs_guest_snapshot_get(e2e.d, "disk", "d1");
    assert_string_equal(vs_json_str(snap, "state"), "shutoff");
    assert_false(json_is_true(json_object_get(snap, "memory")));
    json_decref(snap);
    assert_true(vs_qemu_io(image, "write -P 0xcd 512k 4k"));
    assert_true(vs_qemu_io(image, "read -P 0xcd 512k 4k"));
    assert_false(vs_qemu_io(image, "read -P 0xab 512k 4k"));
    g_autoptr(VsTestResponse) r =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/disk/snapshots/d1/revert");
    assert_string_equal(vs_json_str(r->json, "state"), "shutoff");
    json_t *after = vs_guest_vm_get(e2e.d, "disk");
    assert_string_equal(vs_json_str(after, "state"), "shutoff");
    json_decref(after);
    assert_true(vs_qemu_io(image, "read -P 0xab 512k 4k"));
    assert_false(vs_qemu_io(image, "read -P 0xcd 512k 4k"));
    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/disk");
    assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
}

static void expect_children(const char *vm, const char *parent, const char *names)
{
    g_autoptr(VsTestResponse) r =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/%s/snapshots?parent=%s", vm, parent);
    g_autofree char *got = vs_names(r->json);
    assert_string_equal(got, names);
}

static void expect_parent(const char *vm, const char *snap, const char *parent)
{
    json_t *s = vs_guest_snapshot_get(e2e.d, vm, snap);
    assert_string_equal(vs_json_str(s, "parent"), parent);
    json_decref(s);
}

/* (3) a branching tree: A → B, revert A, C is A's child; each branch keeps
 * its own disk contents */
static void test_tree(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "tree", e2e.guest);
    g_autofree char *image = g_strdup(disk_path(vm));
    json_decref(vm);
    assert_true(vs_qemu_io(image, "write -P 0x11 512k 4k"));
    vs_guest_snapshot(e2e.d, "tree", "A");
    assert_true(vs_qemu_io(image, "write -P 0x22 512k 4k"));
    vs_guest_snapshot(e2e.d, "tree", "B");
    expect_parent("tree", "B", "A");
    g_autoptr(VsTestResponse) r =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/tree/snapshots/A/revert");
    assert_true(vs_qemu_io(image, "read -P 0x11 512k 4k"));
    json_t *got = vs_guest_vm_get(e2e.d, "tree");
    assert_string_equal(vs_json_str(got, "current-snapshot"), "A");
    json_decref(got);
    assert_true(vs_qemu_io(image, "write -P 0x33 512k 4k"));
    vs_guest_snapshot(e2e.d, "tree", "C");

    expect_parent("tree", "C", "A");
    expect_parent("tree", "A", "");
    expect_children("tree", "A", "B,C");
    expect_children("tree", "B", "");
    expect_children("tree", "C", "");
    {
        g_autoptr(VsTestResponse) roots = vs_expect(e2e.d, 200, "GET", NULL, "/vms/tree/snapshots");
        g_autofree char *names = vs_names(roots->json);
        assert_string_equal(names, "A");
        assert_int_equal(vs_json_int(json_array_get(roots->json, 0), "children"), 2);
        g_autoptr(VsTestResponse) all =
            vs_expect(e2e.d, 200, "GET", NULL, "/vms/tree/snapshots?all=true");
        g_autofree char *all_names = vs_names(all->json);
        assert_string_equal(all_names, "A,B,C");
        g_autoptr(VsTestResponse) none =
            vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree/snapshots?parent=nope");
        (void)none;
    }
    json_t *c = vs_guest_snapshot_get(e2e.d, "tree", "C");
    assert_true(json_is_true(json_object_get(c, "current")));
    json_decref(c);
    json_t *a = vs_guest_snapshot_get(e2e.d, "tree", "A");
    assert_false(json_is_true(json_object_get(a, "current")));
    json_decref(a);
    got = vs_guest_vm_get(e2e.d, "tree");
    assert_string_equal(vs_json_str(got, "current-snapshot"), "C");
    assert_int_equal(vs_json_int(got, "snapshots"), 3);
    json_decref(got);

    /* each branch has its own disk */
    g_autoptr(VsTestResponse) rb =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/tree/snapshots/B/revert");
    assert_true(vs_qemu_io(image, "read -P 0x22 512k 4k"));
    g_autoptr(VsTestResponse) rc =
        vs_expect(e2e.d, 200, "POST", NULL, "/vms/tree/snapshots/C/revert");
    assert_true(vs_qemu_io(image, "read -P 0x33 512k 4k"));
}

/* (6) delete a VM with snapshots, then recreate the name: nothing stale */
static void test_delete_recreate(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_get(e2e.d, "tree");
    g_autofree char *image = g_strdup(disk_path(vm));
    g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
    assert_int_equal(vs_json_int(vm, "snapshots"), 3);
    json_decref(vm);
    /* a renamed snapshot leaves a display-name record behind, if anything would */
    g_autoptr(VsTestResponse) ren =
        vs_expect(e2e.d, 200, "PUT", "{\"name\":\"B renamed\"}", "/vms/tree/snapshots/B");
    g_autofree char *names_file_name = g_strdup_printf("%s.conf", uuid);
    g_autofree char *names_file = vs_state_path(e2e.d, "snapnames", names_file_name, NULL);
    assert_true(g_file_test(names_file, G_FILE_TEST_EXISTS));
    /* (libvirt's metadata files, one per snapshot: the place looked at below) */
    g_autofree char *meta =
        vs_state_path(e2e.d, "libvirt", "lib", "qemu", "snapshot", "tree", NULL);
    assert_int_equal(vs_dir_count(meta), 3);

    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/tree");
    assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    assert_false(g_file_test(names_file, G_FILE_TEST_EXISTS));
    assert_int_equal(vs_dir_count(meta), 0);
    g_autoptr(VsTestResponse) gone = vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree");
    g_autoptr(VsTestResponse) gone_snaps =
        vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree/snapshots");

    json_t *fresh = vs_guest_vm_create(e2e.d, "tree", e2e.guest);
    assert_string_not_equal(vs_json_str(fresh, "uuid"), uuid);
    assert_int_equal(vs_json_int(fresh, "snapshots"), 0);
    assert_string_equal(vs_json_str(fresh, "current-snapshot"), "");
    g_autofree char *fresh_image = g_strdup(disk_path(fresh));
    json_decref(fresh);
    g_autoptr(VsTestResponse) roots = vs_expect(e2e.d, 200, "GET", NULL, "/vms/tree/snapshots");
    assert_int_equal(json_array_size(roots->json), 0);
    g_autoptr(VsTestResponse) all =
        vs_expect(e2e.d, 200, "GET", NULL, "/vms/tree/snapshots?all=true");
    assert_int_equal(json_array_size(all->json), 0);
    g_autoptr(VsTestResponse) a = vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree/snapshots/A");
    g_autoptr(VsTestResponse) b =
        vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree/snapshots/B%%20renamed");
    g_autoptr(VsTestResponse) p =
        vs_expect(e2e.d, 404, "GET", NULL, "/vms/tree/snapshots?parent=A");
    g_autofree char *tags = vs_qemu_img_snapshots(fresh_image);
    assert_string_equal(g_strstrip(tags), ""); /* no snapshot inside the new image */
    /* the old names are free again and start a new tree */
    vs_guest_snapshot(e2e.d, "tree", "B renamed");
    vs_guest_snapshot(e2e.d, "tree", "A");
    expect_parent("tree", "B renamed", "");
    expect_parent("tree", "A", "B renamed");
    (void)ren, (void)gone, (void)gone_snaps, (void)a, (void)b, (void)p;
}

/* (7) DELETE ?disks=keep: the image keeps its internal snapshots */
static void test_disks_keep(void **state)
{
    (void)state;
    json_t *vm = vs_guest_vm_create(e2e.d, "keep", e2e.guest);
    g_autofree char *image = g_strdup(disk_path(vm));
    g_autofree char *serial = g_strdup(vs_json_str(vm, "serial_log"));
    g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
    json_decref(vm);
    assert_true(vs_qemu_io(image, "write -P 0x77 512k 4k"));
    vs_guest_snapshot(e2e.d, "keep", "k1");
    assert_true(vs_qemu_io(image, "write -P 0x88 512k 4k"));
    vs_guest_snapshot(e2e.d, "keep", "k2");
    g_autofree char *meta =
        vs_state_path(e2e.d, "libvirt", "lib", "qemu", "snapshot", "keep", NULL);
    assert_int_equal(vs_dir_count(meta), 2); /* (where the metadata is, looked at below) */

    g_autoptr(VsTestResponse) bad = vs_expect(e2e.d, 400, "DELETE", NULL, "/vms/keep?disks=maybe");
    g_autoptr(VsTestResponse) del = vs_expect(e2e.d, 204, "DELETE", NULL, "/vms/keep?disks=keep");
    g_autoptr(VsTestResponse) gone = vs_expect(e2e.d, 404, "GET", NULL, "/vms/keep");
    g_autoptr(VsTestResponse) gone_snaps =
        vs_expect(e2e.d, 404, "GET", NULL, "/vms/keep/snapshots");
    (void)bad, (void)del, (void)gone, (void)gone_snaps;
    assert_true(g_file_test(image, G_FILE_TEST_IS_REGULAR));
    assert_false(g_file_test(serial, G_FILE_TEST_EXISTS));
    assert_int_equal(vs_dir_count(meta), 0);
    g_autofree char *names_file_name = g_strdup_printf("%s.conf", uuid);
    g_autofree char *names_file = vs_state_path(e2e.d, "snapnames", names_file_name, NULL);
    assert_false(g_file_test(names_file, G_FILE_TEST_EXISTS));

    g_autofree char *tags = vs_qemu_img_snapshots(image);
    printf("# kept image:\n%s", tags);
    assert_non_null(strstr(tags, " k1 "));
    assert_non_null(strstr(tags, " k2 "));
    /* and the contents are really in there */
    const char *apply[] = {"qemu-img", "snapshot", "-a", "k1", image, NULL};
    g_autofree char *out = NULL;
    assert_int_equal(vs_run(apply, &out), 0);
    assert_true(vs_qemu_io(image, "read -P 0x77 512k 4k"));

    /* the name is free and clean */
    json_t *fresh = vs_guest_vm_create(e2e.d, "keep", e2e.guest);
    assert_int_equal(vs_json_int(fresh, "snapshots"), 0);
    assert_string_not_equal(disk_path(fresh), image);
    json_decref(fresh);
    g_autoptr(VsTestResponse) roots = vs_expect(e2e.d, 200, "GET", NULL, "/vms/keep/snapshots");
    assert_int_equal(json_array_size(roots->json), 0);
    g_unlink(image);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_rename_revert),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_vm_rename_revert),
        cmocka_unit_test(test_disks),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_delete_recreate),
        cmocka_unit_test(test_disks_keep),
    };
    return e2e_run_group("e2e-snapshots", tests, G_N_ELEMENTS(tests));
}
