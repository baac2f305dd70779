/* test_crash_snapshots.c: kill -9 of virtsnapd in the middle of snapshot
 * work, then a restart (issue 6, crash safety): a snapshot create on a running
 * and on a shut-off VM killed at snapshot-before-create and
 * snapshot-after-create leaves the snapshot either complete (metadata, qcow2
 * tag, parent, current) or absent (no metadata, no orphan tag), the task is
 * reported failed as interrupted (killed at snapshot-finished, after the task
 * showed finished: complete, and the task finished), the running guest keeps
 * counting, a live create's raised QEMU migration bandwidth is put back
 * (QEMU asked directly), and the
 * same name can be taken again and reverted; a live snapshot's delete killed
 * after its metadata went loses its disk tag and memory file at the restart,
 * and a classic one's killed while qemu-img removes its tag is gone whole
 * (not listed with nothing in it);
 * a real kill -9 while a running
 * VM is being reverted leaves it running with all its snapshots, and a
 * further revert brings its counter back to the snapshot's value. */
#include "crash.h"
#include "embed.h"

#include <glib/gstdio.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The snapshot as GET answers it, or NULL on 404 (fails otherwise). */
static json_t *snapshot_or_null(const char *vm, const char *name)
{
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = vs_req(crash.d, "GET", NULL, "/vms/%s/snapshots/%s", vm_enc, enc);
    if (r->status == 404)
        return NULL;
    if (r->status != 200)
        fail_msg("GET snapshot '%s' of '%s' answered %ld: %s", name, vm, r->status, r->body);
    return json_incref(r->json);
}

/* TAGS (sorted, comma-joined) with TAG added, sorted again. */
static char *tags_plus(const char *tags, const char *tag)
{
    g_auto(GStrv) parts = *tags ? g_strsplit(tags, ",", -1) : g_new0(char *, 1);
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    for (char **p = parts; *p; p++)
        g_ptr_array_add(all, *p);
    g_ptr_array_add(all, (gpointer)tag);
    return vs_join_sorted(all);
}

/* Sorted, comma-joined names (the order of equal creation times may vary). */
static char *sorted_names(json_t *array)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
        g_ptr_array_add(names, (gpointer)vs_json_str(item, "name"));
    return vs_join_sorted(names);
}

/* ---- QEMU asked directly ------------------------------------------------ */

static char *self_exe;

/* Helper mode (a child process, while the daemon is down): prints QEMU's
 * reply to the QMP command CMD for the running domain NAME of the embedded
 * driver under ROOT. QEMU outlives us. */
static int qmp_helper(const char *root, const char *name, const char *cmd)
{
    virConnectPtr conn = vs_embed_open(root);
    if (!conn)
        return 1;
    virDomainPtr dom = virDomainLookupByName(conn, name);
    char *reply = NULL;
    if (!dom || virDomainQemuMonitorCommand(dom, cmd, &reply, 0) < 0) {
        fprintf(stderr, "%s on %s: %s\n", cmd, name, virGetLastErrorMessage());
        return 1;
    }
    printf("%s\n", reply);
    free(reply);
    virDomainFree(dom);
    virConnectClose(conn);
    return 0;
}

/* QEMU's migration bandwidth limit (bytes/s) of running VM, from QEMU
 * itself: the daemon is killed for it (its embedded driver holds the root;
 * QEMU runs on) and started again. */
static long long qemu_bandwidth(const char *vm)
{
    crash_kill_now();
    g_autofree char *root = vs_state_path(crash.d, "libvirt", NULL);
    const char *helper[] = {self_exe, "--qmp", root, vm,
                            "{\"execute\":\"query-migrate-parameters\"}", NULL};
    g_autofree char *out = NULL;
    int rc = vs_run(helper, &out);
    crash_restart_clean();
    if (rc != 0)
        fail_msg("asking QEMU of '%s' failed (%d): %s", vm, rc, out);
    /* The reply's line comes first (stdout), then what libvirt printed on stderr. */
    json_t *reply = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *bandwidth = json_object_get(json_object_get(reply, "return"), "max-bandwidth");
    if (!json_is_integer(bandwidth))
        fail_msg("no max-bandwidth in QEMU's reply: %s", out);
    long long value = json_integer_value(bandwidth);
    json_decref(reply);
    return value;
}

/* QEMU 7.2's default migration bandwidth limit, 128 MiB/s (MAX_THROTTLE):
 * what the VMs here have, as no one else changes it. */
#define QEMU_DEFAULT_BANDWIDTH (128LL << 20)

/* Prepares VM NAME with a first snapshot "base"; RUNNING: started and counting. */
static void make_vm(const char *name, bool running)
{
    json_t *vm = vs_guest_vm_create(crash.d, name, crash.guest);
    json_decref(vm);
    if (running) {
        vs_guest_vm_action(crash.d, name, "start", "running");
        json_t *got = vs_guest_vm_get(crash.d, name);
        vs_guest_wait_count(vs_json_str(got, "serial_log"), 0, 3, 60);
        json_decref(got);
    }
    vs_guest_snapshot(crash.d, name, "base");
}

/* One create killed at POINT on VM (running or not), taking snapshot SNAP;
 * LIVE is the request's "live" (NULL: left to the daemon). */

/* The id of the newest task whose target is snapshot SNAP of VM_ENC. */
static char *task_for_target(const char *vm_enc, const char *snap)
{
    g_autofree char *want = g_strdup_printf("/vms/%s/snapshots/%s", vm_enc, snap);
    g_autoptr(VsTestResponse) all = vs_expect(crash.d, 200, "GET", NULL, "/tasks");
    char *id = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(all->json, i, t) {
        if (!g_strcmp0(vs_json_str(t, "target_uri"), want)) {
            g_free(id);
            id = g_strdup(vs_json_str(t, "id"));
        }
    }
    if (!id)
        fail_msg("no task with target %s after the restart: %s", want, all->body);
    return id;
}

static void snapshot_fault(const char *vm, bool running, const char *point, const char *snap,
                           const char *live)
{
    json_t *info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), running ? "running" : "shutoff");
    g_autofree char *parent = g_strdup(vs_json_str(info, "current-snapshot"));
    g_autofree char *serial = g_strdup(vs_json_str(info, "serial_log"));
    g_autofree char *uuid = g_strdup(vs_json_str(info, "uuid"));
    long n_before = vs_json_int(info, "snapshots");
    json_decref(info);
    assert_true(*parent);
    g_autofree char *image = vs_guest_vm_image(crash.d, vm);
    json_t *before = vs_guest_snapshots_all(crash.d, vm);
    g_autofree char *tags_before = vs_qemu_img_tags(image);

    crash_arm(point);
    long count_at_kill = running ? vs_guest_last_count(serial) : 0;
    /* The task may reach the fault point before the 202 is written: then the
     * answer is lost with the process (status 0), as in a real crash, and the
     * task is found by its target after the restart. */
    g_autofree char *body = live ? g_strdup_printf("{\"name\":\"%s\",\"live\":%s}", snap, live)
                                 : g_strdup_printf("{\"name\":\"%s\"}", snap);
    g_autofree char *vm_enc = vs_enc(vm);
    g_autoptr(VsTestResponse) posted = vs_req(crash.d, "POST", body, "/vms/%s/snapshots", vm_enc);
    if (posted->status != 202 && posted->status != 0)
        fail_msg("POST snapshot: expected 202 (or no answer), got %ld: %s", posted->status,
                 posted->body);
    g_autofree char *task = posted->status == 202 ? g_strdup(vs_json_str(posted->json, "id")) : NULL;
    crash_wait_killed(point);
    if (running)
        count_at_kill = MAX(count_at_kill, vs_guest_last_count(serial));
    gsize serial_at_restart = running ? vs_file_size(serial) : 0;
    if (strcmp(point, "snapshot-before-create") == 0) {
        /* Also what a kill between creating a journal record and writing
         * it leaves: an empty record, dropped at start (nothing began). */
        g_autofree char *file = g_strdup_printf("snapshot-%s-0000dead.op", uuid);
        g_autofree char *empty = vs_state_path(crash.d, "journal", file, NULL);
        assert_true(g_file_set_contents(empty, "", 0, NULL));
    }
    crash_restart_clean();

    if (!task)
        task = task_for_target(vm_enc, snap);
    /* Killed after the task showed finished, it stays finished; before,
     * it is interrupted. */
    bool finished = strcmp(point, "snapshot-finished") == 0;
    if (finished) {
        g_autoptr(VsTestResponse) t = vs_expect(crash.d, 200, "GET", NULL, "/tasks/%s", task);
        assert_string_equal(vs_json_str(t->json, "status"), "finished");
    } else {
        crash_check_task_interrupted(task);
    }
    crash_check_journal_empty();
    info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), running ? "running" : "shutoff");
    assert_int_equal(vs_guest_qemu_count(crash.d, vm), running ? 1 : 0);
    json_t *got = snapshot_or_null(vm, snap);
    json_t *after = vs_guest_snapshots_all(crash.d, vm);
    g_autofree char *tags = vs_qemu_img_tags(image);
    bool made = got != NULL;
    printf("# %s VM '%s', killed at %s: snapshot '%s' %s; tags now [%s]\n",
           running ? "running" : "shut-off", vm, point, snap, made ? "complete" : "absent", tags);

    /* All or nothing: metadata and the qcow2 tag go together. */
    g_autofree char *tags_with = tags_plus(tags_before, snap);
    if (made) {
        assert_string_equal(tags, tags_with);
        assert_string_equal(vs_json_str(got, "parent"), parent);
        assert_true(json_is_true(json_object_get(got, "current")));
        assert_true(json_is_true(json_object_get(got, "memory")) == running);
        assert_string_equal(vs_json_str(got, "state"), running ? "running" : "shutoff");
        if (live)
            assert_true(json_is_true(json_object_get(got, "live")) == !strcmp(live, "true"));
        assert_string_equal(vs_json_str(info, "current-snapshot"), snap);
        assert_int_equal(vs_json_int(info, "snapshots"), n_before + 1);
        assert_int_equal(json_array_size(after), json_array_size(before) + 1);
        json_t *p = snapshot_or_null(vm, parent);
        assert_non_null(p);
        assert_false(json_is_true(json_object_get(p, "current")));
        json_decref(p);
    } else {
        assert_string_equal(tags, tags_before);
        assert_true(json_equal(after, before));
        assert_string_equal(vs_json_str(info, "current-snapshot"), parent);
        assert_int_equal(vs_json_int(info, "snapshots"), n_before);
    }
    /* Nothing of a live snapshot that was not made is left (its memory file). */
    assert_string_equal(vs_json_str(info, "uuid"), uuid);
    g_autofree char *live_dir = vs_state_path(crash.d, "live", uuid, NULL);
    g_autofree char *ram_files = vs_dir_list(live_dir);
    g_autofree char *ram_made = g_strdup_printf("%s.ram", snap);
    if (!made || !live || strcmp(live, "true"))
        assert_null(strstr(ram_files, ram_made));
    else
        assert_non_null(strstr(ram_files, ram_made));
    /* Where the kill fell decides which: libvirt had or had not made it. */
    assert_true(made == (strcmp(point, "snapshot-after-create") == 0 ||
                         strcmp(point, "snapshot-live-recorded") == 0 || finished));
    /* A live take raises QEMU's migration bandwidth for its copy: killed in
     * the pause or while copying, recovery puts back the value the take
     * recorded (left raised, the next take would keep it as the old one).
     * Asked before anything restarts QEMU (a revert would reset it). */
    if (live && !strcmp(live, "true"))
        assert_int_equal(qemu_bandwidth(vm), QEMU_DEFAULT_BANDWIDTH);
    if (got)
        json_decref(got);
    json_decref(after);
    json_decref(before);
    json_decref(info);

    /* The guest kept running through the crash: it counts on from where it was. */
    if (running) {
        vs_guest_wait_counting(serial, serial_at_restart, 30);
        long now = vs_guest_wait_count(serial, serial_at_restart, count_at_kill + 1, 30);
        assert_int_equal(vs_guest_banners(serial, 0), 1); /* never rebooted */
        printf("# guest counted on: %ld at the kill, %ld now\n", count_at_kill, now);
    }

    /* The name can be taken again (after deleting the completed one). */
    if (made) {
        g_autoptr(VsTestResponse) del =
            vs_expect(crash.d, 204, "DELETE", NULL, "/vms/%s/snapshots/%s", vm_enc, snap);
        (void)del;
    }
    long c0 = running ? vs_guest_last_count(serial) : 0;
    vs_guest_snapshot(crash.d, vm, snap);
    long c1 = running ? vs_guest_last_count(serial) : 0;
    g_autofree char *tags_again = vs_qemu_img_tags(image);
    assert_string_equal(tags_again, tags_with);
    got = snapshot_or_null(vm, snap);
    assert_non_null(got);
    assert_string_equal(vs_json_str(got, "parent"), parent);
    json_decref(got);

    /* … and reverted to. */
    if (running) {
        vs_guest_wait_count(serial, 0, c1 + 10, 30);
        gsize offset = vs_file_size(serial);
        vs_guest_revert(crash.d, vm, snap);
        long v = vs_guest_wait_resume(serial, offset, c0, c1 + 2, 30);
        printf("# reverted to '%s': counter back at %ld (taken at %ld..%ld)\n", snap, v, c0, c1);
    } else {
        vs_guest_revert(crash.d, vm, snap);
        json_t *again = vs_guest_vm_get(crash.d, vm);
        assert_string_equal(vs_json_str(again, "state"), "shutoff");
        assert_string_equal(vs_json_str(again, "current-snapshot"), snap);
        json_decref(again);
    }
    crash_check_journal_empty();
}

static void test_create_running_before(void **state)
{
    (void)state;
    make_vm("run", true);
    snapshot_fault("run", true, "snapshot-before-create", "s1", "false");
}

static void test_create_running_after(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-after-create", "s2", "false");
}

/* Killed after the task showed finished, before its journal record was
 * removed: the snapshot is complete and the task finished. */
static void test_create_running_finished(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-finished", "s3", "false");
}

static void test_create_shutoff_before(void **state)
{
    (void)state;
    make_vm("off", false);
    snapshot_fault("off", false, "snapshot-before-create", "s1", NULL);
}

static void test_create_shutoff_after(void **state)
{
    (void)state;
    snapshot_fault("off", false, "snapshot-after-create", "s2", NULL);
}

/* Live snapshots: killed before it starts, in the pause, while QEMU copies
 * the memory in the background (QEMU goes on without virtsnapd: recovery lets
 * the copy end, removes the disk tags and the file), and after libvirt
 * recorded it. */
static void test_create_live_before(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-before-create", "l1", "true");
}

/* Killed in the pause: VM paused by virtsnapd, disk tags made, QEMU held at
 * the full pipe after its page walk. The copier sees virtsnapd gone and lets
 * QEMU go on: QEMU resumes the guest and finishes the copy by itself. */
static void test_create_live_held(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-live-held", "l4", "true");
}

static void test_create_live_copying(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-live-copying", "l2", "true");
}

/* Killed once libvirt recorded it, before the take put QEMU's settings
 * back: complete, and recovery puts them back. */
static void test_create_live_recorded(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-live-recorded", "l5", "true");
}

static void test_create_live_after(void **state)
{
    (void)state;
    snapshot_fault("run", true, "snapshot-after-create", "l3", "true");
}

/* A live snapshot's delete killed between dropping its metadata and its
 * contents: the next start removes its disk tag and memory file (journal
 * record "snapdelete"), so the snapshot is gone whole, and its name can be
 * taken again by a live snapshot (a tag left behind would refuse it). */
static void test_delete_live_killed(void **state)
{
    (void)state;
    const char *vm = "run";
    g_autofree char *image = vs_guest_vm_image(crash.d, vm);
    json_t *info = vs_guest_vm_get(crash.d, vm);
    g_autofree char *uuid = g_strdup(vs_json_str(info, "uuid"));
    json_decref(info);
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    vs_guest_snapshot_kind(crash.d, vm, "ld", "true");
    g_autofree char *ram = vs_state_path(crash.d, "live", uuid, "ld.ram", NULL);
    assert_true(g_file_test(ram, G_FILE_TEST_EXISTS));

    crash_arm("delete-after-metadata");
    g_autoptr(VsTestResponse) r = vs_req(crash.d, "DELETE", NULL, "/vms/%s/snapshots/ld", vm);
    assert_int_equal(r->status, 0);
    crash_wait_killed("delete-after-metadata");
    crash_restart_clean();

    crash_check_journal_empty();
    assert_null(snapshot_or_null(vm, "ld"));
    g_autofree char *tags = vs_qemu_img_tags(image);
    printf("# live snapshot delete killed after its metadata went: tags now [%s]\n", tags);
    assert_string_equal(tags, tags_before);
    assert_false(g_file_test(ram, G_FILE_TEST_EXISTS));
    vs_guest_snapshot_kind(crash.d, vm, "ld", "true");
    json_t *again = snapshot_or_null(vm, "ld");
    assert_non_null(again);
    assert_true(json_is_true(json_object_get(again, "live")));
    json_decref(again);
}

typedef struct {
    const char *path;
    long status;
} DeleteCall;

static void *delete_thread(void *data)
{
    DeleteCall *call = data;
    VsTestResponse *r = vs_http(crash.d, "DELETE", call->path, NULL);
    call->status = r->status;
    vs_response_free(r);
    return NULL;
}

/* A classic snapshot's delete on a shut-off VM, virtsnapd killed while
 * qemu-img removes its tag (a qemu-img in PATH that waits 3 s first, then
 * does its work: the real one goes on after its parent died). libvirt's
 * own delete removed the tag first and the metadata after, so the
 * snapshot came back listed, with nothing in it, and its revert failed;
 * now the metadata goes first, and the snapshot is gone whole. */
static void test_delete_classic_killed(void **state)
{
    (void)state;
    const char *vm = "cdel";
    make_vm(vm, false);
    g_autofree char *image = vs_guest_vm_image(crash.d, vm);
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    vs_guest_snapshot(crash.d, vm, "cd");
    g_autofree char *with_cd = tags_plus(tags_before, "cd");
    g_autofree char *tags_made = vs_qemu_img_tags(image);
    assert_string_equal(tags_made, with_cd);

    g_autofree char *bin = g_build_filename(crash.workdir, "slow-qemu-img", NULL);
    g_autofree char *started = g_build_filename(crash.workdir, "slow-delete.started", NULL);
    g_autofree char *done = g_build_filename(crash.workdir, "slow-delete.done", NULL);
    g_autofree char *real = g_find_program_in_path("qemu-img");
    assert_non_null(real);
    assert_int_equal(g_mkdir_with_parents(bin, 0755), 0);
    g_autofree char *wrapper = g_build_filename(bin, "qemu-img", NULL);
    g_autofree char *script = g_strdup_printf(
        "#!/bin/sh\n"
        "if [ \"$1\" = snapshot ] && [ \"$2\" = -d ]; then\n"
        "  touch '%s'; sleep 3; '%s' \"$@\"; rc=$?; touch '%s'; exit $rc\n"
        "fi\n"
        "exec '%s' \"$@\"\n",
        started, real, done, real);
    assert_true(g_file_set_contents(wrapper, script, -1, NULL));
    assert_int_equal(g_chmod(wrapper, 0755), 0);
    g_autofree char *path = g_strdup(g_getenv("PATH"));
    g_autofree char *slow_path = g_strdup_printf("%s:%s", bin, path);
    g_setenv("PATH", slow_path, TRUE);
    vs_test_daemon_restart(crash.d);
    g_setenv("PATH", path, TRUE); /* the daemon has it; nothing else must */

    g_autofree char *vm_path = g_strdup_printf("/vms/%s/snapshots/cd", vm);
    DeleteCall call = {.path = vm_path};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, delete_thread, &call), 0);
    for (int i = 0; i < 300 && !g_file_test(started, G_FILE_TEST_EXISTS); i++)
        g_usleep(100000);
    assert_true(g_file_test(started, G_FILE_TEST_EXISTS));
    crash_kill_now();
    pthread_join(thread, NULL);
    assert_int_equal(call.status, 0); /* cut off by the kill */
    for (int i = 0; i < 300 && !g_file_test(done, G_FILE_TEST_EXISTS); i++)
        g_usleep(100000);
    assert_true(g_file_test(done, G_FILE_TEST_EXISTS)); /* the tag went after the kill */
    crash_restart_clean();

    crash_check_journal_empty();
    json_t *left = snapshot_or_null(vm, "cd");
    if (left)
        fail_msg("snapshot 'cd' is still listed after its delete was killed, its tags now [%s]",
                 vs_qemu_img_tags(image));
    g_autofree char *tags = vs_qemu_img_tags(image);
    printf("# classic snapshot delete killed in qemu-img: tags now [%s]\n", tags);
    assert_string_equal(tags, tags_before);
    vs_guest_revert(crash.d, vm, "base"); /* the rest of the tree works */
}

/* A paused guest's snapshot (left to the daemon: live is tried first)
 * killed before libvirt made it: recovery removes what was begun and
 * leaves the guest paused, as the user had it. */
static void test_create_paused_before(void **state)
{
    (void)state;
    vs_guest_vm_action(crash.d, "run", "suspend", "paused");
    g_autofree char *image = vs_guest_vm_image(crash.d, "run");
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    crash_arm("snapshot-before-create");
    g_autoptr(VsTestResponse) posted = vs_req(crash.d, "POST", "{\"name\":\"p1\"}", "/vms/run/snapshots");
    if (posted->status != 202 && posted->status != 0)
        fail_msg("POST snapshot: expected 202 (or no answer), got %ld: %s", posted->status,
                 posted->body);
    crash_wait_killed("snapshot-before-create");
    crash_restart_clean();
    crash_check_journal_empty();
    json_t *info = vs_guest_vm_get(crash.d, "run");
    assert_string_equal(vs_json_str(info, "state"), "paused");
    json_decref(info);
    json_t *got = snapshot_or_null("run", "p1");
    assert_null(got);
    g_autofree char *tags = vs_qemu_img_tags(image); /* no tag of it in the image */
    assert_string_equal(tags, tags_before);
    vs_guest_vm_action(crash.d, "run", "resume", "running");
}

/* ---- kill -9 during a revert of a running VM ---------------------------- */

typedef struct {
    const char *vm, *snap;
    long status;
    gint64 took_us;
} RevertCall;

static void *revert_thread(void *data)
{
    RevertCall *call = data;
    g_autofree char *vm_enc = vs_enc(call->vm);
    g_autofree char *enc = vs_enc(call->snap);
    g_autofree char *path = g_strdup_printf("/vms/%s/snapshots/%s/revert", vm_enc, enc);
    gint64 t0 = g_get_monotonic_time();
    VsTestResponse *r = vs_http(crash.d, "POST", path, NULL);
    call->took_us = g_get_monotonic_time() - t0;
    call->status = r->status;
    vs_response_free(r);
    return NULL;
}

/* A revert of the running VM, to snapshots taken LIVE ("true"/"false"),
 * killed ~100 ms in. */
static void kill_during_revert(const char *vm, const char *live)
{
    make_vm(vm, true);
    json_t *info = vs_guest_vm_get(crash.d, vm);
    g_autofree char *serial = g_strdup(vs_json_str(info, "serial_log"));
    json_decref(info);
    long c0 = vs_guest_last_count(serial);
    vs_guest_snapshot_kind(crash.d, vm, "mark", live);
    long c1 = vs_guest_last_count(serial);
    vs_guest_wait_count(serial, 0, c1 + 10, 30);
    vs_guest_snapshot_kind(crash.d, vm, "later", live);
    vs_guest_wait_count(serial, 0, vs_guest_last_count(serial) + 10, 30);

    /* How long an undisturbed revert takes, for the record. */
    {
        RevertCall probe = {.vm = vm, .snap = "later"};
        revert_thread(&probe);
        assert_int_equal(probe.status, 200);
        printf("# an undisturbed revert of the running VM takes %.0f ms\n",
               (double)probe.took_us / 1000);
        vs_guest_wait_count(serial, 0, vs_guest_last_count(serial) + 5, 30);
    }
    json_t *before = vs_guest_snapshots_all(crash.d, vm);
    g_autofree char *names_before = sorted_names(before);
    json_decref(before);

    RevertCall call = {.vm = vm, .snap = "mark"};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, revert_thread, &call), 0);
    /* The revert's journal record is written just before libvirt's call;
     * ~100 ms after it, libvirt has begun stopping QEMU to start it again
     * from the snapshot (a revert takes ~1 s here). VS_CRASH_REVERT_KILL_MS
     * moves the kill (to explore). */
    g_autofree char *journal = vs_state_path(crash.d, "journal", NULL);
    bool recorded = false;
    for (int i = 0; i < 1000 && !recorded; i++) {
        g_autofree char *records = vs_dir_list(journal);
        recorded = strstr(records, "revert-") != NULL;
        if (!recorded)
            g_usleep(5000);
    }
    assert_true(recorded);
    const char *delay = g_getenv("VS_CRASH_REVERT_KILL_MS");
    g_usleep((gulong)(delay ? atoi(delay) : 100) * 1000);
    crash_kill_now();
    pthread_join(thread, NULL);
    printf("# the revert request %s before the kill (HTTP %ld after %.0f ms)\n",
           call.status == 200 ? "was answered" : "was cut off", call.status,
           (double)call.took_us / 1000);
    if (!delay && call.status != 0) /* else the kill fell after the revert */
        fail_msg("the revert ended before the kill (HTTP %ld): nothing was tested", call.status);
    gsize serial_at_restart = vs_file_size(serial);
    crash_restart_clean();

    crash_check_journal_empty();
    info = vs_guest_vm_get(crash.d, vm);
    const char *current = vs_json_str(info, "current-snapshot");
    printf("# after the restart: VM '%s' is %s, current snapshot '%s'\n", vm,
           vs_json_str(info, "state"), current);
    assert_string_equal(vs_json_str(info, "state"), "running");
    assert_int_equal(vs_guest_qemu_count(crash.d, vm), 1); /* no orphan from a half-made start */
    assert_true(!strcmp(current, "mark") || !strcmp(current, "later"));
    json_decref(info);
    json_t *after = vs_guest_snapshots_all(crash.d, vm);
    g_autofree char *names_after = sorted_names(after);
    json_decref(after);
    assert_string_equal(names_after, names_before);
    vs_guest_wait_counting(serial, serial_at_restart, 30);

    /* A further revert works, and the counter resumes from the snapshot's value. */
    gsize offset = vs_file_size(serial);
    vs_guest_revert(crash.d, vm, "mark");
    long v = vs_guest_wait_resume(serial, offset, c0, c1 + 2, 30);
    printf("# reverted to 'mark' after the crash: counter back at %ld (taken at %ld..%ld)\n", v,
           c0, c1);
    info = vs_guest_vm_get(crash.d, vm);
    assert_string_equal(vs_json_str(info, "state"), "running");
    assert_string_equal(vs_json_str(info, "current-snapshot"), "mark");
    json_decref(info);
    crash_check_journal_empty();
}

static void test_kill_during_revert(void **state)
{
    (void)state;
    kill_during_revert("rv", "false");
}

static void test_kill_during_live_revert(void **state)
{
    (void)state;
    kill_during_revert("rvl", "true");
}

/* QEMU dies (a crash, or the guest powering off) while it copies a live
 * snapshot's memory, after the disk tags were made: the task fails (not a
 * classic snapshot taken instead, "live" being asked for by default), no
 * snapshot is listed, and the tags are gone from the image. Last: it leaves
 * VM "run" shut off. */
static void test_qemu_dies_during_live_copy(void **state)
{
    (void)state;
    g_autofree char *image = vs_guest_vm_image(crash.d, "run");
    g_autofree char *tags_before = vs_qemu_img_tags(image);
    json_t *before = vs_guest_snapshots_all(crash.d, "run");
    g_setenv("VIRTSNAP_PAUSE", "snapshot-live-copying", TRUE);
    vs_test_daemon_restart(crash.d);
    g_unsetenv("VIRTSNAP_PAUSE");
    gsize log_from = vs_file_size(crash.d->log_path);
    g_autoptr(VsTestResponse) posted =
        vs_expect(crash.d, 202, "POST", "{\"name\":\"q1\"}", "/vms/run/snapshots");
    bool paused = false;
    for (int i = 0; i < 600 && !paused; i++) {
        g_autofree char *log = NULL;
        g_file_get_contents(crash.d->log_path, &log, NULL, NULL);
        paused = log && strlen(log) > log_from &&
                 strstr(log + log_from, "waiting 4 s at 'snapshot-live-copying'");
        if (!paused)
            g_usleep(50 * 1000);
    }
    assert_true(paused);
    json_t *info = vs_guest_vm_get(crash.d, "run");
    g_autofree char *live_dir = vs_state_path(crash.d, "live", vs_json_str(info, "uuid"), NULL);
    json_decref(info);
    g_autofree char *copying = vs_dir_list(live_dir);
    assert_non_null(strstr(copying, "q1.ram")); /* (being written: where it is looked for) */
    g_autoptr(GArray) pids = vs_qemu_pids(crash.d->state_dir, "run");
    assert_int_equal(pids->len, 1);
    assert_int_equal(kill(g_array_index(pids, pid_t, 0), SIGKILL), 0);
    json_t *task = vs_wait_task(crash.d, vs_json_str(posted->json, "id"), 120);
    printf("# QEMU killed during the copy: task %s: %s\n", vs_json_str(task, "status"),
           vs_json_str(task, "message"));
    assert_string_equal(vs_json_str(task, "status"), "failed");
    json_decref(task);
    json_t *got = snapshot_or_null("run", "q1");
    assert_null(got);
    json_t *after = vs_guest_snapshots_all(crash.d, "run");
    assert_true(json_equal(after, before));
    json_decref(after);
    json_decref(before);
    g_autofree char *tags = vs_qemu_img_tags(image);
    assert_string_equal(tags, tags_before);
    g_autofree char *left = vs_dir_list(live_dir);
    assert_null(strstr(left, "q1.ram")); /* its memory file went with it */
    crash_check_journal_empty();
    crash_restart_clean();
}

int main(int argc, char **argv)
{
    self_exe = g_file_read_link("/proc/self/exe", NULL);
    if (argc == 5 && !strcmp(argv[1], "--qmp"))
        return qmp_helper(argv[2], argv[3], argv[4]);
    const struct CMUnitTest tests[] = {
        CRASH_TEST(test_create_running_before),
        CRASH_TEST(test_create_running_after),
        CRASH_TEST(test_create_running_finished),
        CRASH_TEST(test_create_live_before),
        CRASH_TEST(test_create_live_held),
        CRASH_TEST(test_create_live_copying),
        CRASH_TEST(test_create_live_recorded),
        CRASH_TEST(test_create_live_after),
        CRASH_TEST(test_delete_live_killed),
        CRASH_TEST(test_delete_classic_killed),
        CRASH_TEST(test_create_paused_before),
        CRASH_TEST(test_create_shutoff_before),
        CRASH_TEST(test_create_shutoff_after),
        CRASH_TEST(test_kill_during_revert),
        CRASH_TEST(test_kill_during_live_revert),
        CRASH_TEST(test_qemu_dies_during_live_copy),
    };
    return crash_run_group("crash-snapshots", tests, G_N_ELEMENTS(tests));
}
