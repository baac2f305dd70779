/* test_broken_call.c: a snapshot create whose libvirt call breaks off with
 * the connection is settled once the connection is back, not left unknown.
 * virtsnapd talks to a private libvirtd (test:///default) through a relay
 * in this program that can cut the connection at libvirt's
 * DomainSnapshotCreateXML call: after libvirtd has made the snapshot and
 * before it has, exactly the two outcomes a lost link or a libvirtd
 * restart can leave. The task must then report what happened: finished
 * with the snapshot under its name, or failed with nothing of it left. A
 * revert cut the same way is done again once the connection is back; a
 * create whose connection stays away is settled in the background once it
 * is back, before the VM's next change, or at the next start; a VM
 * delete cut half-way is finished; a VM rename cut half-way keeps its whole
 * snapshot tree; a clone cut half-way is removed, one that lost its
 * connection while copying is finished; a VM another client
 * undefined while the connection was away loses what virtsnapd kept of it
 * once the connection is back; a VM started whose answer cannot be read
 * back is a 503, not a made-up shut-off VM; a VM delete whose definition
 * cannot be read (to know its files) does not start; a clone whose new
 * name libvirt cannot check is refused at once (503); a VM create cut at
 * its define answers by what libvirtd did; a VM, VM list or snapshot list
 * read cut part-way is a 503, not a part of it. */
#include "guest.h"
#include "libvirtd.h"
#include "relay.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* What the tests share: libvirtd, the relay, a direct connection that
 * keeps test:///default's state alive (the driver drops it with its last
 * connection) and shows libvirt's view, the daemon and a running VM. */
static struct {
    virConnectPtr direct;
    VsTestDaemon *d;
} t;

static int setup(void **state)
{
    (void)state;
    g_autofree char *relay = vs_libvirtd_start_relayed();
    g_autofree char *direct_uri = g_strdup_printf("test+unix:///default?socket=%s",
                                                  vs_libvirtd_socket());
    t.direct = virConnectOpen(direct_uri);
    assert_non_null(t.direct);
    g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s", relay);
    t.d = vs_test_daemon_start(uri, NULL);
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "POST", "/vms", "{\"name\": \"cut\"}");
    assert_int_equal(vm->status, 201);
    g_autoptr(VsTestResponse) start = vs_http(t.d, "POST", "/vms/cut/start", NULL);
    assert_int_equal(start->status, 200);
    return 0;
}

/* The daemon's exit status (a leak under ASan makes it non-zero). Checked
 * in main: a failed assertion in a group teardown does not fail the run. */
static int daemon_status = -1;

static int teardown(void **state)
{
    (void)state;
    vs_relay_stop();
    if (t.d) {
        daemon_status = vs_test_daemon_term(t.d);
        vs_test_daemon_free(t.d);
    }
    if (t.direct)
        virConnectClose(t.direct);
    vs_libvirtd_remove();
    return 0;
}

/* Asks for snapshot NAME of VM cut with the relay armed to CUT, and waits
 * for the cut; returns the 202's task. */
static json_t *snapshot_cut_start(const char *name, VsCut cut)
{
    int cuts = vs_relay_cuts();
    vs_relay_arm(cut, VS_PROC_SNAPSHOT_CREATE_XML);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", name);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/cut/snapshots", body);
    assert_int_equal(r->status, 202);
    for (int i = 0; i < 100 && vs_relay_cuts() == cuts; i++)
        g_usleep(50000);
    assert_false(vs_relay_armed()); /* the call went through it */
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    return json_incref(r->json);
}

/* The same, waiting for the task's end; returns the ended task. */
static json_t *snapshot_cut(const char *name, VsCut cut)
{
    json_t *started = snapshot_cut_start(name, cut);
    json_t *task = vs_wait_task(t.d, vs_json_str(started, "id"), 60);
    json_decref(started);
    return task;
}

/* Every settled operation has ended its journal record. */
static void assert_journal_empty(void)
{
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    assert_int_equal(vs_dir_count(journal), 0);
}

static bool libvirt_has(const char *name)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, "cut");
    assert_non_null(dom);
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (snap)
        virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return snap != NULL;
}

static long snapshot_status(const char *name)
{
    g_autofree char *path = g_strdup_printf("/vms/cut/snapshots/%s", name);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", path, NULL);
    return r->status;
}

/* GET PATH once the connection is back (503 until then; 10 s at most). */
static VsTestResponse *get_when_back(const char *path)
{
    VsTestResponse *r = NULL;
    for (int i = 0; i < 100 && (!r || r->status == 503); i++) {
        if (r)
            g_usleep(100000);
        g_clear_pointer(&r, vs_response_free);
        r = vs_http(t.d, "GET", path, NULL);
    }
    return r;
}

/* libvirtd made the snapshot; its reply was lost with the connection. */
static void test_cut_after_libvirt_made_it(void **state)
{
    (void)state;
    json_t *task = snapshot_cut("made", VS_CUT_AFTER_REPLY);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    json_decref(task);
    assert_true(libvirt_has("made"));
    assert_int_equal(snapshot_status("made"), 200);
    /* The VM's current snapshot is the one made. */
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", "/vms/cut", NULL);
    assert_int_equal(vm->status, 200);
    json_t *current = json_object_get(vm->json, "current-snapshot");
    assert_true(json_is_string(current) && strcmp(json_string_value(current), "made") == 0);
}

/* The call never reached libvirtd. */
static void test_cut_before_libvirt_saw_it(void **state)
{
    (void)state;
    json_t *task = snapshot_cut("lost", VS_CUT_BEFORE);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    const char *message = vs_json_str(task, "message");
    assert_non_null(strstr(message, "was not made"));
    json_decref(task);
    assert_false(libvirt_has("lost"));
    assert_int_equal(snapshot_status("lost"), 404);
    /* Nothing holds the name: it can be taken again. */
    g_autofree char *status = vs_take_snapshot(t.d, "cut", "lost", NULL);
    assert_string_equal(status, "finished");
    assert_true(libvirt_has("lost"));
}

static long snapshot_status_enc(const char *name)
{
    g_autofree char *enc = vs_enc(name);
    return snapshot_status(enc);
}

static size_t snapshot_count(const char *vm)
{
    g_autofree char *path = g_strdup_printf("/vms/%s/snapshots?all=true", vm);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", path, NULL);
    assert_int_equal(r->status, 200);
    return json_array_size(r->json);
}

/* A create cut after libvirtd made snapshot NAME, while libvirtd seems away
 * longer than virtsnapd waits (3 s here): the task fails saying the outcome
 * is not known, and the journal record stays. ("away 1" and such are not
 * libvirt names: only the record knows the display name.) The background
 * settler tries kept records every RETRY seconds ("0": never, so that a
 * test sees what settles them on demand). */
static void cut_and_away(const char *name, const char *retry)
{
    g_setenv("VIRTSNAP_SETTLE_WAIT", "3", TRUE);
    g_setenv("VIRTSNAP_SETTLE_RETRY", retry, TRUE);
    vs_test_daemon_restart(t.d);
    g_unsetenv("VIRTSNAP_SETTLE_WAIT");
    g_unsetenv("VIRTSNAP_SETTLE_RETRY");
    vs_relay_hold_after_cut(true);
    json_t *task = snapshot_cut(name, VS_CUT_AFTER_REPLY);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    if (!strstr(vs_json_str(task, "message"), "not known whether it was done"))
        fail_msg("task message: %s", vs_json_str(task, "message"));
    json_decref(task);
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    assert_int_equal(vs_dir_count(journal), 1);
    vs_relay_hold_after_cut(false);
}

/* ...then libvirtd is back: a read settles nothing; the VM's next change
 * settles the record first, without a restart, and the snapshot is shown
 * under its name. That change is the client's retry of the same create:
 * it fails, the name taken by the settled one, and no second one is made. */
static void test_cut_and_away(void **state)
{
    (void)state;
    cut_and_away("away 1", "0");
    long status_now = 503; /* until virtsnapd has reconnected (every 2 s at most) */
    for (int i = 0; i < 100 && status_now == 503; i++) {
        status_now = snapshot_status_enc("away 1");
        if (status_now == 503)
            g_usleep(100000);
    }
    assert_int_equal(status_now, 404); /* a read settles nothing */
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    assert_int_equal(vs_dir_count(journal), 1);
    size_t before = snapshot_count("cut");
    g_autoptr(VsTestResponse) r =
        vs_http(t.d, "POST", "/vms/cut/snapshots", "{\"name\": \"away 1\"}");
    assert_int_equal(r->status, 202);
    json_t *task = vs_wait_task(t.d, vs_json_str(r->json, "id"), 60);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    if (!strstr(vs_json_str(task, "message"), "already has a snapshot named 'away 1'"))
        fail_msg("task message: %s", vs_json_str(task, "message"));
    json_decref(task);
    assert_int_equal(snapshot_status_enc("away 1"), 200);
    /* The same count: the one made (listed under its libvirt name before) and no other. */
    assert_int_equal(snapshot_count("cut"), before);
    assert_journal_empty();
}

/* ...or the next change is a plain request (a description changed): the
 * VM lock's gate settles the record before it. */
static void test_cut_and_away_gate(void **state)
{
    (void)state;
    cut_and_away("away 3", "0");
    long status = 503; /* until virtsnapd has reconnected (every 2 s at most) */
    for (int i = 0; i < 100 && status == 503; i++) {
        g_autoptr(VsTestResponse) r = vs_http(t.d, "PUT", "/vms/cut/snapshots/off",
                                              "{\"description\": \"after the cut\"}");
        status = r->status;
        if (status == 503)
            g_usleep(100000);
    }
    assert_int_equal(status, 200);
    assert_int_equal(snapshot_status_enc("away 3"), 200);
    assert_journal_empty();
}

/* The description of snapshot "off" of VM cut, once virtsnapd has
 * reconnected (every 2 s at most; a read settles nothing). */
static char *off_description(void)
{
    g_autoptr(VsTestResponse) r = get_when_back("/vms/cut/snapshots/off");
    assert_int_equal(r->status, 200);
    return g_strdup(vs_json_str(r->json, "description"));
}

/* PUTs description DESCRIPTION on snapshot "off", retried while virtsnapd
 * has not reconnected yet (every 2 s at most); the answer. */
static VsTestResponse *describe_off(const char *description)
{
    g_autofree char *body = g_strdup_printf("{\"description\": \"%s\"}", description);
    VsTestResponse *r = NULL;
    for (int i = 0; i < 100; i++) {
        g_clear_pointer(&r, vs_response_free);
        r = vs_http(t.d, "PUT", "/vms/cut/snapshots/off", body);
        const char *reason = r->json ? vs_json_str(r->json, "reason") : NULL;
        if (r->status != 503 || (reason && strstr(reason, "not settled")))
            break;
        g_usleep(100000);
    }
    return r;
}

/* ...or libvirt answers but the settle cannot finish (the relay cuts its
 * lookup of the snapshot): the change is refused with 503 saying an earlier
 * operation is not settled, and nothing of it is done; once the settle goes
 * through, the same change is done. */
static void test_cut_and_away_refused(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) set = describe_off("before the cut");
    assert_int_equal(set->status, 200);
    cut_and_away("away 5", "0");
    g_autofree char *reconnected = off_description();
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_BEFORE, VS_PROC_SNAPSHOT_LOOKUP_BY_NAME);
    g_autoptr(VsTestResponse) refused = describe_off("refused");
    assert_int_equal(refused->status, 503);
    const char *reason = vs_json_str(refused->json, "reason");
    if (!reason || !strstr(reason, "not settled yet"))
        fail_msg("503 reason: %s", reason ? reason : "(none)");
    assert_int_equal(vs_relay_cuts(), cuts + 1); /* cut in the settle, not before */
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    assert_int_equal(vs_dir_count(journal), 1);
    g_autofree char *unchanged = off_description();
    assert_string_equal(unchanged, "before the cut");
    g_autoptr(VsTestResponse) done = describe_off("settled");
    assert_int_equal(done->status, 200);
    assert_journal_empty();
    g_autofree char *after = off_description();
    assert_string_equal(after, "settled");
    assert_int_equal(snapshot_status_enc("away 5"), 200);
}

/* ...or nothing asks: once libvirtd answers again, the background settler
 * settles the record within a round (1 s here) and the snapshot is shown
 * under its name, with no request that changes the VM. */
static void test_cut_and_away_settler(void **state)
{
    (void)state;
    cut_and_away("away 4", "1");
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    for (int i = 0; i < 150 && vs_dir_count(journal) > 0; i++)
        g_usleep(100000);
    assert_journal_empty();
    assert_int_equal(snapshot_status_enc("away 4"), 200);
}

/* ...or virtsnapd restarts first: the start settles it. */
static void test_cut_and_away_restart(void **state)
{
    (void)state;
    cut_and_away("away 2", "0");
    vs_test_daemon_restart(t.d);
    assert_int_equal(snapshot_status_enc("away 2"), 200);
    assert_journal_empty();
}

/* Defines snapshot NAME of VM cut directly in libvirt, a copy of FROM's
 * metadata with creation time CREATED (as an older snapshot imported by
 * another tool would be). */
static void redefine_as(const char *from, const char *name, const char *created)
{
    virDomainPtr dom = virDomainLookupByName(t.direct, "cut");
    assert_non_null(dom);
    virDomainSnapshotPtr source = virDomainSnapshotLookupByName(dom, from, 0);
    assert_non_null(source);
    char *xml = virDomainSnapshotGetXMLDesc(source, VIR_DOMAIN_SNAPSHOT_XML_SECURE);
    xmlDoc *doc = xml ? xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET) : NULL;
    assert_non_null(doc);
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, (const xmlChar *)"name"))
            xmlNodeSetContent(n, (const xmlChar *)name);
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, (const xmlChar *)"creationTime"))
            xmlNodeSetContent(n, (const xmlChar *)created);
    }
    xmlChar *text = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &text, &len);
    virDomainSnapshotPtr made =
        virDomainSnapshotCreateXML(dom, (const char *)text, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE);
    assert_non_null(made);
    virDomainSnapshotFree(made);
    xmlFree(text);
    xmlFreeDoc(doc);
    free(xml);
    virDomainSnapshotFree(source);
    virDomainFree(dom);
}

/* While virtsnapd's create is cut off, another client defines a snapshot
 * of the same libvirt name (an old one, imported with REDEFINE): the
 * settle must not take it for ours, nor remove it. */
static void test_cut_and_name_taken(void **state)
{
    (void)state;
    vs_relay_hold_after_cut(true);
    json_t *task = snapshot_cut_start("rival", VS_CUT_BEFORE);
    redefine_as("off", "rival", "1000000000");
    vs_relay_hold_after_cut(false);
    json_t *ended = vs_wait_task(t.d, vs_json_str(task, "id"), 60);
    json_decref(task);
    assert_string_equal(vs_json_str(ended, "status"), "failed");
    if (!strstr(vs_json_str(ended, "message"), "was not made"))
        fail_msg("task message: %s", vs_json_str(ended, "message"));
    json_decref(ended);
    assert_true(libvirt_has("rival"));
}

/* libvirtd made the snapshot, its reply was lost, and the display name
 * (a space in it: a libvirt name of virtsnapd's own) cannot be recorded
 * (the names file is a directory): the task fails, and the snapshot the
 * settle found made goes again (before, it stayed, shown under its
 * libvirt name behind a failed task). */
static void test_cut_made_name_unrecorded(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", "/vms/cut", NULL);
    assert_int_equal(vm->status, 200);
    g_autofree char *conf = g_strdup_printf("%s.conf", vs_json_str(vm->json, "uuid"));
    g_autofree char *names = g_build_filename(t.d->state_dir, "snapnames", conf, NULL);
    g_autofree char *aside = g_strdup_printf("%s.aside", names);
    bool had = g_file_test(names, G_FILE_TEST_EXISTS);
    assert_true(!had || g_rename(names, aside) == 0);
    assert_int_equal(g_mkdir(names, 0700), 0);
    virDomainPtr dom = virDomainLookupByName(t.direct, "cut");
    assert_non_null(dom);
    int before = virDomainSnapshotNum(dom, 0);
    assert_true(before >= 0);

    json_t *task = snapshot_cut("lost reply", VS_CUT_AFTER_REPLY);
    print_message("task: %s\n", vs_json_str(task, "message"));
    assert_string_equal(vs_json_str(task, "status"), "failed");
    json_decref(task);
    assert_int_equal(virDomainSnapshotNum(dom, 0), before);
    virDomainFree(dom);
    g_autoptr(VsTestResponse) listed = vs_http(t.d, "GET", "/vms/cut/snapshots?all=true", NULL);
    assert_int_equal(listed->status, 200);
    assert_int_equal((int)json_array_size(listed->json), before);
    assert_int_equal(snapshot_status("lost%20reply"), 404);
    assert_journal_empty();
    assert_int_equal(g_rmdir(names), 0);
    assert_true(!had || g_rename(aside, names) == 0);
}

/* A VM with two snapshots deleted while the relay cuts libvirt's PROC call
 * as CUT: the delete is finished once the connection is back (204), with no
 * domain, no snapshot metadata and no image left. */
static void delete_cut(const char *vm, VsCut cut, unsigned proc)
{
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", vm);
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", body);
    assert_int_equal(made->status, 201);
    assert_true(vs_dir_count(images) > before);
    for (int i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("s%d", i);
        g_autofree char *status = vs_take_snapshot(t.d, vm, name, NULL);
        assert_string_equal(status, "finished");
    }
    int cuts = vs_relay_cuts();
    vs_relay_arm(cut, proc);
    g_autofree char *path = g_strdup_printf("/vms/%s", vm);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "DELETE", path, NULL);
    if (r->status != 204)
        fail_msg("DELETE %s: %ld %s", path, r->status, r->body);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    virDomainPtr dom = virDomainLookupByName(t.direct, vm);
    if (dom)
        virDomainFree(dom);
    assert_null(dom);
    assert_int_equal(vs_dir_count(images), before);
    g_autoptr(VsTestResponse) gone = vs_http(t.d, "GET", path, NULL);
    assert_int_equal(gone->status, 404);
    assert_journal_empty();
}

static void test_delete_cut(void **state)
{
    (void)state;
    /* Before libvirtd undefines the VM (with its snapshot metadata, in the
     * same call): nothing done yet. */
    delete_cut("del-early", VS_CUT_BEFORE, VS_PROC_UNDEFINE_FLAGS);
    /* After libvirtd undefined the VM: only the images were left to remove. */
    delete_cut("del-late", VS_CUT_AFTER_REPLY, VS_PROC_UNDEFINE_FLAGS);
    /* In the look at which images other VMs use, right before they go (the
     * VM undefined): they go once libvirt can say, by the delete's record. */
    const char *settling = "removing the files of deleted VM 'del-scan'";
    int said = vs_test_log_count(t.d, settling);
    delete_cut("del-scan", VS_CUT_BEFORE, VS_PROC_LIST_ALL_DOMAINS);
    assert_int_equal(vs_test_log_count(t.d, settling), said + 1); /* (the scan's call was cut) */
}


/* A delete cut off (CUT of the undefine) while libvirtd seems away longer
 * than virtsnapd waits (3 s): 503, look at the VM and try again. Once
 * libvirtd answers, the background settler (1 s rounds) removes the
 * images if the VM turned out deleted (before: they stayed for good, the
 * VM gone and a retry 404), and leaves a VM that is still there as it is,
 * snapshots and images, for the client to delete again. */
static void delete_cut_and_away(const char *vm, VsCut cut, bool deleted)
{
    g_setenv("VIRTSNAP_SETTLE_WAIT", "3", TRUE);
    g_setenv("VIRTSNAP_SETTLE_RETRY", "1", TRUE);
    vs_test_daemon_restart(t.d);
    g_unsetenv("VIRTSNAP_SETTLE_WAIT");
    g_unsetenv("VIRTSNAP_SETTLE_RETRY");
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", vm);
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", body);
    assert_int_equal(made->status, 201);
    int with_vm = vs_dir_count(images);
    assert_true(with_vm > before);
    for (int i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("s%d", i);
        g_autofree char *status = vs_take_snapshot(t.d, vm, name, NULL);
        assert_string_equal(status, "finished");
    }
    vs_relay_hold_after_cut(true);
    /* libvirt's test driver refuses the first undefine (its NVRAM and
     * checkpoint flags) and takes the second, basic one */
    vs_relay_arm_nth(cut, VS_PROC_UNDEFINE_FLAGS, 2);
    g_autofree char *path = g_strdup_printf("/vms/%s", vm);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "DELETE", path, NULL);
    if (r->status != 503 || !strstr(r->body, "look at the VM and try again"))
        fail_msg("DELETE %s: %ld %s", path, r->status, r->body);
    assert_int_equal(vs_dir_count(images), with_vm); /* not known yet: kept */
    vs_relay_hold_after_cut(false);
    g_autofree char *journal = g_build_filename(t.d->state_dir, "journal", NULL);
    for (int i = 0; i < 150 && vs_dir_count(journal) > 0; i++)
        g_usleep(100000);
    assert_journal_empty();
    g_autoptr(VsTestResponse) now = vs_http(t.d, "GET", path, NULL);
    if (deleted) {
        assert_int_equal(now->status, 404);
        assert_int_equal(vs_dir_count(images), before);
    } else {
        assert_int_equal(now->status, 200);
        assert_int_equal(snapshot_count(vm), 2);
        assert_int_equal(vs_dir_count(images), with_vm);
        g_autoptr(VsTestResponse) again = vs_http(t.d, "DELETE", path, NULL);
        assert_int_equal(again->status, 204);
        assert_int_equal(vs_dir_count(images), before);
    }
}

static void test_delete_cut_and_away(void **state)
{
    (void)state;
    delete_cut_and_away("del-away-late", VS_CUT_AFTER_REPLY, true);
    delete_cut_and_away("del-away-early", VS_CUT_BEFORE, false);
    /* The tests after this one wait as virtsnapd does (before, they inherited
     * the 3 s: one reconnect 2 s after a cut, and a slow one was a 503) */
    vs_test_daemon_restart(t.d);
}

/* A VM with three snapshots renamed from FROM to TO while the relay cuts
 * the NTH call of PROC (before libvirtd sees it): answers WANT_STATUS, the
 * VM under the name it then has, with its whole tree and current snapshot. */
static void rename_cut(const char *from, const char *to, unsigned proc, int nth,
                       long want_status)
{
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", from);
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", body);
    assert_int_equal(made->status, 201);
    for (int i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("r%d", i);
        g_autofree char *status = vs_take_snapshot(t.d, from, name, NULL);
        assert_string_equal(status, "finished");
    }
    int cuts = vs_relay_cuts();
    vs_relay_arm_nth(VS_CUT_BEFORE, proc, nth);
    g_autofree char *path = g_strdup_printf("/vms/%s", from);
    g_autofree char *change = g_strdup_printf("{\"name\": \"%s\"}", to);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "PUT", path, change);
    if (r->status != want_status)
        fail_msg("PUT %s: %ld %s", path, r->status, r->body);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    const char *now = want_status == 200 ? to : from;
    assert_int_equal(snapshot_count(now), 3);
    g_autofree char *now_path = g_strdup_printf("/vms/%s", now);
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", now_path, NULL);
    assert_int_equal(vm->status, 200);
    assert_string_equal(vs_json_str(vm->json, "current-snapshot"), "r2");
    assert_journal_empty();
}

static void test_rename_cut(void **state)
{
    (void)state;
    /* Between two snapshots' metadata drops: not renamed, tree whole. (The
     * test driver refuses metadata-only deletes, so each snapshot takes two
     * calls: the third is the second snapshot's.) */
    rename_cut("ren-a", "ren-a2", VS_PROC_SNAPSHOT_DELETE, 3, 503);
    /* Renamed, none of the tree defined again yet: renamed, tree whole. */
    rename_cut("ren-b", "ren-b2", VS_PROC_SNAPSHOT_CREATE_XML, 1, 200);
}

/* VM cl (two snapshots) cloned as CLONE while the relay cuts the NTH call
 * of PROC as CUT: the task fails saying the clone was not made, and
 * nothing of it is left: no domain, no copied image. */
static void clone_cut(const char *clone, VsCut cut, unsigned proc, int nth)
{
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    int cuts = vs_relay_cuts();
    vs_relay_arm_nth(cut, proc, nth);
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", clone);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/cl/clone", body);
    assert_int_equal(r->status, 202);
    json_t *task = vs_wait_task(t.d, vs_json_str(r->json, "id"), 60);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    if (!strstr(vs_json_str(task, "message"), "was not made, nothing of it is left"))
        fail_msg("task message: %s", vs_json_str(task, "message"));
    json_decref(task);
    virDomainPtr dom = virDomainLookupByName(t.direct, clone);
    if (dom)
        virDomainFree(dom);
    assert_null(dom);
    assert_int_equal(vs_dir_count(images), before);
    assert_int_equal(snapshot_count("cl"), 2); /* the source untouched */
    assert_journal_empty();
}

static void test_clone_cut(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"cl\"}");
    assert_int_equal(made->status, 201);
    for (int i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("c%d", i);
        g_autofree char *status = vs_take_snapshot(t.d, "cl", name, NULL);
        assert_string_equal(status, "finished");
    }
    /* libvirtd defined the clone; its answer was lost. */
    clone_cut("cl-a", VS_CUT_AFTER_REPLY, VS_PROC_DEFINE_XML, 1);
    /* The clone's tree half defined again. */
    clone_cut("cl-b", VS_CUT_BEFORE, VS_PROC_SNAPSHOT_CREATE_XML, 2);
}

#define HELD_AFTER_COPY "waiting 4 s at 'clone-after-copy'"

/* The connection lost while a clone copies (held 4 s after its copy, the
 * cut made meanwhile by a read): the clone is defined through the new
 * connection once it is back, and finishes (before, its define failed on
 * the dead connection and the copies were thrown away: "the clone … was
 * not made"; concurrency audit, session 24). */
static void test_clone_lost_during_copy(void **state)
{
    (void)state;
    g_setenv("VIRTSNAP_PAUSE", "clone-after-copy", TRUE);
    vs_test_daemon_restart(t.d);
    g_unsetenv("VIRTSNAP_PAUSE");
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"cc\"}");
    assert_int_equal(made->status, 201);
    g_autofree char *taken = vs_take_snapshot(t.d, "cc", "c0", NULL);
    assert_string_equal(taken, "finished");
    int held = vs_test_log_count(t.d, HELD_AFTER_COPY);
    g_autoptr(VsTestResponse) clone = vs_http(t.d, "POST", "/vms/cc/clone", "{\"name\": \"cc-copy\"}");
    assert_int_equal(clone->status, 202);
    assert_true(vs_test_wait_logged(t.d, HELD_AFTER_COPY, held + 1));
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_BEFORE, VS_PROC_LOOKUP_BY_NAME);
    g_autoptr(VsTestResponse) read = vs_http(t.d, "GET", "/vms/cc", NULL);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    json_t *task = vs_wait_task(t.d, vs_json_str(clone->json, "id"), 60);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("clone after the connection was lost: %s", vs_json_str(task, "message"));
    json_decref(task);
    g_autoptr(VsTestResponse) copy = get_when_back("/vms/cc-copy");
    assert_int_equal(copy->status, 200);
    assert_int_equal(json_integer_value(json_object_get(copy->json, "snapshots")), 1);
    assert_journal_empty();

    /* Another client starts the VM while its disks are copied, and stops it
     * again: the copies may not be whole, so no clone is made, and nothing
     * of it is left. */
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    g_autoptr(VsTestResponse) second = vs_http(t.d, "POST", "/vms/cc/clone", "{\"name\": \"cc-two\"}");
    assert_int_equal(second->status, 202);
    assert_true(vs_test_wait_logged(t.d, HELD_AFTER_COPY, held + 2));
    virDomainPtr dom = virDomainLookupByName(t.direct, "cc");
    assert_non_null(dom);
    assert_int_equal(virDomainCreate(dom), 0);
    assert_int_equal(virDomainDestroy(dom), 0);
    task = vs_wait_task(t.d, vs_json_str(second->json, "id"), 60);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    assert_non_null(strstr(vs_json_str(task, "message"),
                           "VM 'cc' was started by another libvirt client while its disks were copied"));
    json_decref(task);
    g_autoptr(VsTestResponse) none = vs_http(t.d, "GET", "/vms/cc-two", NULL);
    assert_int_equal(none->status, 404);
    assert_int_equal(vs_dir_count(images), before);
    assert_journal_empty();
    virDomainFree(dom);
    vs_test_daemon_restart(t.d); /* the tests after it are not held */
}

static const char *vm_state(void)
{
    static char state[32];
    g_autoptr(VsTestResponse) vm = vs_http(t.d, "GET", "/vms/cut", NULL);
    assert_int_equal(vm->status, 200);
    g_strlcpy(state, vs_json_str(vm->json, "state"), sizeof state);
    return state;
}

/* Reverts the running VM to "off" (taken shut off) with the relay armed to
 * CUT: the revert must answer 200 with the VM shut off, on either side of
 * the cut, as virtsnapd reverts again once the connection is back. */
static void revert_cut(VsCut cut)
{
    g_autoptr(VsTestResponse) start = vs_http(t.d, "POST", "/vms/cut/start", NULL);
    assert_int_equal(start->status, 200);
    assert_string_equal(vm_state(), "running");
    int cuts = vs_relay_cuts();
    vs_relay_arm(cut, VS_PROC_REVERT_TO_SNAPSHOT);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/cut/snapshots/off/revert", NULL);
    if (r->status != 200)
        fail_msg("revert: %ld %s", r->status, r->body);
    assert_false(vs_relay_armed());
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    assert_string_equal(vs_json_str(r->json, "name"), "off");
    assert_string_equal(vm_state(), "shutoff");
    assert_journal_empty();
}

static void test_revert_cut(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) stop = vs_http(t.d, "POST", "/vms/cut/poweroff", NULL);
    assert_int_equal(stop->status, 200);
    g_autofree char *status = vs_take_snapshot(t.d, "cut", "off", NULL);
    assert_string_equal(status, "finished");
    revert_cut(VS_CUT_AFTER_REPLY); /* libvirtd reverted; its answer was lost */
    revert_cut(VS_CUT_BEFORE);      /* libvirtd never saw the call */
}

/* While virtsnapd's connection is away, another client undefines a VM
 * whose renamed snapshot's display name virtsnapd keeps: no event can tell
 * virtsnapd, so the sweep after the reconnection must find it gone and
 * remove the display names (it used to run before the new connection was
 * the current one, found no connection, and kept them). */
static void test_gone_while_away(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"jan\"}");
    assert_int_equal(made->status, 201);
    const char *uuid = vs_json_str(made->json, "uuid");
    g_autofree char *status = vs_take_snapshot(t.d, "jan", "s0", NULL);
    assert_string_equal(status, "finished");
    g_autoptr(VsTestResponse) renamed =
        vs_http(t.d, "PUT", "/vms/jan/snapshots/s0", "{\"name\": \"first one\"}");
    if (renamed->status != 200 || strcmp(vs_json_str(renamed->json, "name"), "first one") != 0)
        fail_msg("rename: %ld %s", renamed->status, renamed->body);
    g_autofree char *conf = g_strdup_printf("%s.conf", uuid);
    g_autofree char *names = g_build_filename(t.d->state_dir, "snapnames", conf, NULL);
    assert_true(g_file_test(names, G_FILE_TEST_EXISTS));

    vs_relay_hold_after_cut(true);
    vs_relay_arm(VS_CUT_BEFORE, VS_PROC_SNAPSHOT_LOOKUP_BY_NAME);
    g_autoptr(VsTestResponse) cut = vs_http(t.d, "GET", "/vms/jan/snapshots/first%20one", NULL);
    if (cut->status != 503)
        fail_msg("GET during the cut: %ld %s", cut->status, cut->body);
    virDomainPtr dom = virDomainLookupByName(t.direct, "jan");
    assert_non_null(dom);
    assert_int_equal(virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA), 0);
    virDomainFree(dom);
    vs_relay_hold_after_cut(false);

    long served = 503; /* until virtsnapd has reconnected (every 2 s at most) */
    for (int i = 0; i < 100 && served == 503; i++) {
        g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", "/vms", NULL);
        served = r->status;
        if (served == 503)
            g_usleep(100000);
    }
    assert_int_equal(served, 200);
    for (int i = 0; i < 50 && g_file_test(names, G_FILE_TEST_EXISTS); i++)
        g_usleep(100000);
    assert_false(g_file_test(names, G_FILE_TEST_EXISTS));
}

/* A snapshot rename whose check of the new name is cut off answers 503
 * and changes nothing: before, a failed lookup counted as "free", and the
 * rename took the name from the snapshot that had it. */
static void test_rename_check_cut(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"nt\"}");
    assert_int_equal(made->status, 201);
    g_autofree char *a = vs_take_snapshot(t.d, "nt", "a", "first");
    g_autofree char *b = vs_take_snapshot(t.d, "nt", "b", "second");
    assert_string_equal(a, "finished");
    assert_string_equal(b, "finished");
    g_autoptr(VsTestResponse) named = vs_http(t.d, "PUT", "/vms/nt/snapshots/b", "{\"name\": \"foo\"}");
    assert_int_equal(named->status, 200);
    int cuts = vs_relay_cuts();
    vs_relay_arm_nth(VS_CUT_BEFORE, VS_PROC_SNAPSHOT_LOOKUP_BY_NAME, 2);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "PUT", "/vms/nt/snapshots/a", "{\"name\": \"foo\"}");
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (r->status != 503)
        fail_msg("rename during the cut: %ld %s", r->status, r->body);
    g_autoptr(VsTestResponse) foo = get_when_back("/vms/nt/snapshots/foo");
    assert_int_equal(foo->status, 200);
    assert_string_equal(vs_json_str(foo->json, "description"), "second");
    g_autoptr(VsTestResponse) still = vs_http(t.d, "GET", "/vms/nt/snapshots/a", NULL);
    assert_int_equal(still->status, 200);
}

/* Makes VM with one snapshot "s", then waits out the definition's
 * read-ahead after the snapshot (20 ms on), which looks the VM up by UUID
 * too: a cut armed after it meets the call under test. */
static void vm_with_snapshot(const char *vm)
{
    assert_true(vs_make_vm_with_snapshot(t.d, vm, "s"));
    g_usleep(G_USEC_PER_SEC);
}

/* A start that libvirt did, with the connection cut as the VM is read back
 * for the answer: 503 (before, 200 with the VM "shutoff" and no
 * snapshots), and the VM runs once the connection is back. */
static void test_action_answer_cut(void **state)
{
    (void)state;
    vm_with_snapshot("act");
    int cuts = vs_relay_cuts();
    /* the second: libvirt's remote driver looks the VM up by UUID itself
     * inside virDomainCreate, for its new id */
    vs_relay_arm_nth(VS_CUT_BEFORE, VS_PROC_LOOKUP_BY_UUID, 2);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/act/start", NULL);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (r->status != 503)
        fail_msg("start, answer cut: %ld %s", r->status, r->body);
    if (!strstr(vs_json_str(r->json, "reason"), "cannot be read back"))
        fail_msg("start, answer cut: %s", r->body);
    g_autoptr(VsTestResponse) vm = get_when_back("/vms/act");
    assert_int_equal(vm->status, 200);
    assert_string_equal(vs_json_str(vm->json, "state"), "running");
    assert_int_equal(json_integer_value(json_object_get(vm->json, "snapshots")), 1);
}

/* A VM delete with the connection cut as it reads the definition that
 * names its files: 503 and the VM whole (before, the delete went on with
 * no files to remove, and its images stayed behind); once the connection
 * is back the delete removes it all. */
static void test_delete_read_cut(void **state)
{
    (void)state;
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"dr\"}");
    assert_int_equal(made->status, 201);
    g_autofree char *snap = vs_take_snapshot(t.d, "dr", "s", NULL);
    assert_string_equal(snap, "finished");
    g_usleep(G_USEC_PER_SEC); /* the definition's read-ahead reads it too */
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_BEFORE, VS_PROC_GET_XML_DESC);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "DELETE", "/vms/dr", NULL);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (r->status != 503)
        fail_msg("delete, definition cut: %ld %s", r->status, r->body);
    g_autoptr(VsTestResponse) vm = get_when_back("/vms/dr");
    assert_int_equal(vm->status, 200);
    assert_int_equal(json_integer_value(json_object_get(vm->json, "snapshots")), 1);
    assert_true(vs_dir_count(images) > before);
    assert_journal_empty();
    g_autoptr(VsTestResponse) gone = vs_http(t.d, "DELETE", "/vms/dr", NULL);
    assert_int_equal(gone->status, 204);
    assert_int_equal(vs_dir_count(images), before);
}

/* A clone whose new name's check is cut: 503 at once (before, the name
 * counted as free, the clone was queued, copied the disks and failed at
 * the define: a VM of that name exists). The default name too. */
static void test_clone_name_check_cut(void **state)
{
    (void)state;
    g_autoptr(VsTestResponse) src = vs_http(t.d, "POST", "/vms", "{\"name\": \"nh\"}");
    assert_int_equal(src->status, 201);
    g_autoptr(VsTestResponse) taken = vs_http(t.d, "POST", "/vms", "{\"name\": \"nh-taken\"}");
    assert_int_equal(taken->status, 201);
    const char *bodies[] = {"{\"name\": \"nh-taken\"}", "{}"};
    for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
        int cuts = vs_relay_cuts();
        /* the second: the first looks up the VM being cloned */
        vs_relay_arm_nth(VS_CUT_BEFORE, VS_PROC_LOOKUP_BY_NAME, 2);
        g_autoptr(VsTestResponse) r = vs_http(t.d, "POST", "/vms/nh/clone", bodies[i]);
        assert_int_equal(vs_relay_cuts(), cuts + 1);
        if (r->status != 503)
            fail_msg("clone %s, name check cut: %ld %s", bodies[i], r->status, r->body);
        g_autoptr(VsTestResponse) list = get_when_back("/vms");
        assert_int_equal(list->status, 200);
        assert_null(strstr(list->body, "nh-clone"));
    }
    g_autoptr(VsTestResponse) again = vs_http(t.d, "POST", "/vms/nh/clone", "{\"name\": \"nh-taken\"}");
    assert_int_equal(again->status, 409);
}

/* A VM create whose define is cut: once the connection is back, a define
 * libvirtd did is a 201 with the VM and its disk (before, 503 and its disk
 * deleted under the defined VM); one libvirtd never saw is a 503 saying
 * nothing is left, and no disk stays behind. */
static void test_create_define_cut(void **state)
{
    (void)state;
    g_autofree char *images = g_build_filename(t.d->state_dir, "images", NULL);
    int before = vs_dir_count(images);
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_AFTER_CALL, VS_PROC_DEFINE_XML);
    g_autoptr(VsTestResponse) made = vs_http(t.d, "POST", "/vms", "{\"name\": \"dc\"}");
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (made->status != 201) {
        /* Seen about once in 30 runs until session 24: libvirtd 9.0 crashed
         * (a segfault in remoteClientCloseFunc) when the relay closed its
         * side while the define ran; the relay now reads the define's reply
         * first (relay.c). Should it come back, what libvirtd and virtsnapd
         * were doing: */
        vs_libvirtd_explain(t.d->pid);
        fail_msg("create, define cut after libvirtd saw it: %ld %s", made->status, made->body);
    }
    assert_string_equal(vs_json_str(made->json, "name"), "dc");
    json_t *disks = json_object_get(made->json, "disks");
    const char *disk = vs_json_str(json_array_get(disks, 0), "path");
    if (!g_file_test(disk, G_FILE_TEST_IS_REGULAR))
        fail_msg("the created VM's disk %s is gone", disk);
    assert_int_equal(vs_dir_count(images), before + 1);
    assert_journal_empty();
    g_autoptr(VsTestResponse) again = vs_http(t.d, "POST", "/vms", "{\"name\": \"dc\"}");
    assert_int_equal(again->status, 409);

    vs_relay_arm(VS_CUT_BEFORE, VS_PROC_DEFINE_XML);
    g_autoptr(VsTestResponse) lost = vs_http(t.d, "POST", "/vms", "{\"name\": \"dl\"}");
    assert_int_equal(vs_relay_cuts(), cuts + 2);
    if (lost->status != 503 || !strstr(vs_json_str(lost->json, "reason"), "nothing of it is left"))
        fail_msg("create, define cut before libvirtd saw it: %ld %s", lost->status, lost->body);
    g_autoptr(VsTestResponse) none = get_when_back("/vms/dl");
    assert_int_equal(none->status, 404);
    assert_int_equal(vs_dir_count(images), before + 1);
    assert_journal_empty();
}

/* GET PATH with libvirt's PROC call cut before libvirtd sees it: 503 (the
 * read is not answered in part), then, once the connection is back, 200. */
static VsTestResponse *read_cut(const char *path, unsigned proc)
{
    int cuts = vs_relay_cuts();
    vs_relay_arm(VS_CUT_BEFORE, proc);
    g_autoptr(VsTestResponse) r = vs_http(t.d, "GET", path, NULL);
    assert_int_equal(vs_relay_cuts(), cuts + 1);
    if (r->status != 503)
        fail_msg("GET %s, cut: %ld %s", path, r->status, r->body);
    VsTestResponse *back = get_when_back(path);
    assert_int_equal(back->status, 200);
    return back;
}

/* Reads cut part-way answer 503 rather than what they had read so far:
 * a VM whose snapshot count could not be read showed 0 snapshots and no
 * current one, the VM list left out such a VM, and a snapshot whose
 * children could not be counted showed none (API audit, session 23). */
static void test_read_cut(void **state)
{
    (void)state;
    vm_with_snapshot("rd");
    g_autoptr(VsTestResponse) vm = read_cut("/vms/rd", VS_PROC_SNAPSHOT_NUM);
    assert_int_equal(json_integer_value(json_object_get(vm->json, "snapshots")), 1);
    assert_string_equal(vs_json_str(vm->json, "current-snapshot"), "s");
    g_autoptr(VsTestResponse) vms = read_cut("/vms", VS_PROC_SNAPSHOT_NUM);
    assert_true(json_array_size(vms->json) >= 2);
    g_autoptr(VsTestResponse) snaps = read_cut("/vms/rd/snapshots", VS_PROC_SNAPSHOT_NUM_CHILDREN);
    assert_int_equal(json_array_size(snaps->json), 1);
    g_autoptr(VsTestResponse) del = vs_http(t.d, "DELETE", "/vms/rd", NULL);
    assert_int_equal(del->status, 204);
}

int main(void)
{
    if (vs_libvirtd_skip("broken-call test"))
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_after_libvirt_made_it),
        cmocka_unit_test(test_cut_before_libvirt_saw_it),
        cmocka_unit_test(test_revert_cut),
        cmocka_unit_test(test_cut_and_away),
        cmocka_unit_test(test_cut_and_away_gate),
        cmocka_unit_test(test_cut_and_away_settler),
        cmocka_unit_test(test_cut_and_away_refused),
        cmocka_unit_test(test_cut_and_away_restart),
        cmocka_unit_test(test_cut_and_name_taken),
        cmocka_unit_test(test_cut_made_name_unrecorded),
        cmocka_unit_test(test_delete_cut),
        cmocka_unit_test(test_delete_cut_and_away),
        cmocka_unit_test(test_rename_cut),
        cmocka_unit_test(test_clone_cut),
        cmocka_unit_test(test_clone_lost_during_copy),
        cmocka_unit_test(test_gone_while_away),
        cmocka_unit_test(test_rename_check_cut),
        cmocka_unit_test(test_create_define_cut),
        cmocka_unit_test(test_action_answer_cut),
        cmocka_unit_test(test_delete_read_cut),
        cmocka_unit_test(test_clone_name_check_cut),
        cmocka_unit_test(test_read_cut),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown); /* sets daemon_status */
    return vs_libvirtd_exit_status(vs_test_exit_status(failed), daemon_status);
}
