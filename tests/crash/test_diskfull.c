/* test_diskfull.c: the state directory's file system fills up while a
 * snapshot of a running VM is taken (issue 6). The task must fail with the
 * reason, leave no snapshot (no metadata, no qcow2 tag), and the VM must keep
 * running; a snapshot rename with a new description fails whole; once there
 * is room again snapshots and reverts work as before.
 * The state directory lives on a 320 MiB tmpfs the test mounts (root only):
 * room for the live snapshots' 128 MiB memory files. */
#include "guest.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

static char *mnt;

static void expect_no_space(const VsTestResponse *r)
{
    assert_int_equal(r->status, 507);
    assert_non_null(strstr(r->body, "free some space"));
}

/* Leaves about KIB KiB free on the tmpfs; returns the filler's path. */
static char *fill_up(guint64 kib)
{
    struct statvfs fs;
    assert_int_equal(statvfs(mnt, &fs), 0);
    guint64 avail = (guint64)fs.f_bavail * fs.f_frsize;
    char *filler = g_build_filename(mnt, "filler", NULL);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(posix_fallocate(fd, 0, (off_t)(avail - kib * 1024)), 0);
    close(fd);
    return filler;
}

static void test_snapshot_on_full_disk(void **state)
{
    (void)state;
    g_autofree char *work = NULL, *guest = NULL;
    assert_true(vs_guest_build("diskfull", &work, &guest));
    VsTestDaemon *d = vs_test_daemon_start(NULL, NULL);
    json_t *vm = vs_guest_vm_create(d, "df", guest);
    const char *serial = vs_json_str(vm, "serial_log");
    g_autofree char *log = g_strdup(serial);
    json_decref(vm);
    vs_guest_vm_action(d, "df", "start", "running");
    vs_guest_wait_counting(log, 0, 30);
    long before_lo = vs_guest_last_count(log);
    vs_guest_snapshot(d, "df", "before");
    long before_hi = vs_guest_last_count(log);
    vs_guest_snapshot_kind(d, "df", "extra", "false"); /* classic, deleted on the full disk */
    vs_guest_snapshot_kind(d, "df", "spare", "true"); /* deleted below to free room */
    g_autofree char *image = vs_guest_vm_image(d, "df");

    g_autofree char *filler = fill_up(100);
    long count_before = vs_guest_last_count(log);
    /* Classic, live, and the daemon's choice (live, then classic when there is
     * no room for the memory file): each fails saying why, and leaves nothing. */
    const char *bodies[] = {"{\"name\":\"full\",\"live\":false}",
                            "{\"name\":\"full\",\"live\":true}", "{\"name\":\"full\"}"};
    for (size_t i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autoptr(VsTestResponse) r = vs_req(d, "POST", bodies[i], "/vms/df/snapshots");
        assert_int_equal(r->status, 202);
        json_t *task = vs_wait_task(d, vs_json_str(r->json, "id"), 120);
        assert_string_equal(vs_json_str(task, "status"), "failed");
        const char *message = vs_json_str(task, "message");
        if (!strstr(message, "space"))
            fail_msg("the failed task (%s) does not say why: %s", bodies[i], message);
        printf("# %s on a full disk: %s\n", bodies[i], message);
        json_decref(task);

        /* Nothing half-made, and the VM runs on. */
        json_t *all = vs_guest_snapshots_all(d, "df");
        g_autofree char *names = vs_names(all);
        json_decref(all);
        assert_string_equal(names, "before,extra,spare");
        g_autofree char *tags = vs_qemu_img_tags(image);
        assert_string_equal(tags, "before,extra,spare");
        json_t *now = vs_guest_vm_get(d, "df");
        assert_string_equal(vs_json_str(now, "state"), "running");
        assert_string_equal(vs_json_str(now, "current-snapshot"), "spare");
        g_autofree char *live_dir = vs_state_path(d, "live", vs_json_str(now, "uuid"), NULL);
        g_autofree char *ram_files = vs_dir_list(live_dir);
        assert_null(strstr(ram_files, "full.ram")); /* no memory file of it left */
        json_decref(now);
        count_before = vs_guest_wait_count(log, 0, count_before + 10, 30);
    }

    /* Full to the last block: a snapshot's new name cannot be written, and
     * the request changes nothing, its new description included. */
    assert_int_equal(g_unlink(filler), 0);
    g_free(filler);
    filler = fill_up(0);
    g_autoptr(VsTestResponse) renamed = vs_req(
        d, "PUT", "{\"name\":\"renamed\",\"description\":\"new words\"}", "/vms/df/snapshots/before");
    printf("# rename and new description on a full disk: %ld %s\n", renamed->status, renamed->body);
    assert_true(renamed->status >= 500);
    g_autoptr(VsTestResponse) kept = vs_req(d, "GET", NULL, "/vms/df/snapshots/before");
    assert_int_equal(kept->status, 200);
    assert_string_not_equal(vs_json_str(kept->json, "description"), "new words");
    /* A new description alone: refused (507) before libvirt is asked, for
     * libvirt 9.0 would fail to save it, drop the snapshot from its list and
     * leave its children pointing at freed memory (the delete of "spare"
     * below crashed the daemon so, now and then). */
    g_autoptr(VsTestResponse) described =
        vs_req(d, "PUT", "{\"description\":\"new words\"}", "/vms/df/snapshots/before");
    printf("# new description on a full disk: %ld %s\n", described->status, described->body);
    expect_no_space(described);
    g_autoptr(VsTestResponse) still = vs_req(d, "GET", NULL, "/vms/df/snapshots/before");
    assert_int_equal(still->status, 200);

    /* A classic snapshot's delete on a disk full to the last block: its
     * journal record cannot be written, libvirt 9.0 drops its metadata but
     * then fails to save the domain's status (it answered 500 with the
     * snapshot gone and its tag left in the image, before), and removing
     * the tag makes qcow2 write a new snapshot table. Either it goes whole,
     * or the answer says what is left and how to remove it (nothing will
     * try again). */
    g_autoptr(VsTestResponse) classic = vs_req(d, "DELETE", NULL, "/vms/df/snapshots/extra");
    printf("# classic snapshot delete on a full disk: %ld %s\n", classic->status, classic->body);
    g_autofree char *tags_classic = vs_qemu_img_tags(image);
    if (classic->status == 204) {
        assert_string_equal(tags_classic, "before,spare");
    } else {
        assert_int_equal(classic->status, 500);
        assert_non_null(strstr(classic->body, "qemu-img snapshot -d 'extra'"));
        assert_string_equal(tags_classic, "before,extra,spare");
    }
    g_autoptr(VsTestResponse) unlisted = vs_req(d, "GET", NULL, "/vms/df/snapshots/extra");
    assert_int_equal(unlisted->status, 404);
    /* libvirt did refuse (else this would not test the case) */
    g_autofree char *daemon_log = NULL;
    assert_true(g_file_get_contents(d->log_path, &daemon_log, NULL, NULL));
    assert_non_null(strstr(daemon_log, "libvirt dropped the snapshot all the same"));

    /* Deleting a live snapshot frees room on a full disk (its journal
     * record cannot be written: it goes on without one). */
    json_t *vm_now = vs_guest_vm_get(d, "df");
    g_autofree char *spare_ram =
        vs_state_path(d, "live", vs_json_str(vm_now, "uuid"), "spare.ram", NULL);
    json_decref(vm_now);
    assert_true(g_file_test(spare_ram, G_FILE_TEST_EXISTS));
    g_autoptr(VsTestResponse) freed = vs_req(d, "DELETE", NULL, "/vms/df/snapshots/spare");
    printf("# live snapshot delete on a full disk: %ld %s\n", freed->status, freed->body);
    assert_int_equal(freed->status, 204);
    assert_false(g_file_test(spare_ram, G_FILE_TEST_EXISTS));
    g_autofree char *tags_left = vs_qemu_img_tags(image);
    assert_string_equal(tags_left, "before");

    /* Room again: everything works as before. */
    assert_int_equal(g_unlink(filler), 0);
    vs_test_daemon_restart(d);
    g_autoptr(VsTestResponse) back = vs_req(d, "GET", NULL, "/vms/df/snapshots/before");
    assert_int_equal(back->status, 200);
    g_autoptr(VsTestResponse) extra_gone = vs_req(d, "GET", NULL, "/vms/df/snapshots/extra");
    assert_int_equal(extra_gone->status, 404); /* not brought back by libvirt's reload */
    assert_string_not_equal(vs_json_str(back->json, "description"), "new words");
    json_t *after_restart = vs_guest_vm_get(d, "df");
    assert_string_equal(vs_json_str(after_restart, "state"), "running");
    json_decref(after_restart);
    vs_guest_snapshot(d, "df", "full");
    gsize offset = vs_file_size(log);
    vs_guest_revert(d, "df", "before");
    /* "before"'s memory back: on from its counter, not booted again */
    vs_guest_wait_resume(log, offset, before_lo, before_hi + 3, 60);
    assert_int_equal(vs_guest_banners(log, offset), 0);
    vs_guest_delete_all_vms(d, "diskfull");
    assert_int_equal(vs_test_daemon_term(d), 0);
    vs_test_daemon_free(d);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("disk-full test needs root (it mounts a tmpfs): skipped\n");
        return 77;
    }
    /* Before any GLib call: the harness's state directory and the guest go
     * below TMPDIR, which becomes the small tmpfs. */
    char dir[] = "/tmp/virtsnap-diskfull-XXXXXX";
    if (!mkdtemp(dir) || mount("tmpfs", dir, "tmpfs", 0, "size=320m,mode=0700") != 0) {
        printf("cannot mount a tmpfs: skipped\n");
        return 77;
    }
    mnt = dir;
    setenv("TMPDIR", dir, 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_snapshot_on_full_disk)};
    int rc = vs_test_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    return rc;
}
