/* test_snapshots.c: API tests of domain snapshots against a real virtsnapd
 * on libvirt's test driver: create as a task and its up-front checks, the
 * listings and their order, inspect, rename and describe, delete (alone and
 * with the subtree), revert and the branching tree rule, serialized creates,
 * snapshots across VM rename, clone and delete; a task's target_uri that
 * follows renames of its VM and snapshot; and, on a test-driver node
 * file whose snapshots outlive the daemon, renames that survive a restart. */
#include "api_util.h"

#include <pthread.h>
#include <string.h>

static const char *const special_names[] = {"a&b", "<x>", "\"q\"", "пeω-∨м", "snap 1"};

static int setup(void **state)
{
    (void)state;
    api_d = vs_test_daemon_start("test:///default", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vs_test_daemon_free(api_d);
    api_d = NULL;
    return 0;
}

static VsTestResponse *snap_req(const char *method, const char *vm, const char *snap,
                                const char *suffix, const char *body)
{
    g_autofree char *path = api_snap_path(vm, snap, suffix);
    return vs_http(api_d, method, path, body);
}

static VsTestResponse *list_req(const char *vm, const char *query)
{
    g_autofree char *suffix = g_strdup_printf("/snapshots%s", query ? query : "");
    g_autofree char *path = api_vm_path(vm, suffix);
    return vs_http(api_d, "GET", path, NULL);
}

static json_t *list_json(const char *vm, const char *query)
{
    g_autofree char *suffix = g_strdup_printf("/snapshots%s", query ? query : "");
    g_autofree char *path = api_vm_path(vm, suffix);
    return api_get_json(path);
}

/* POST a snapshot without waiting; returns the task id (newly allocated). */
static char *start_snap(const char *vm, const char *name, const char *description)
{
    json_t *req = json_object();
    if (name)
        json_object_set_new(req, "name", json_string(name));
    if (description)
        json_object_set_new(req, "description", json_string(description));
    g_autofree char *body = json_dumps(req, 0);
    json_decref(req);
    g_autofree char *path = api_vm_path(vm, "/snapshots");
    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", path, body);
    if (r->status != 202)
        fail_msg("POST %s %s: %ld %s", path, body, r->status, r->body);
    return g_strdup(vs_json_str(r->json, "id"));
}

static void wait_finished(const char *id)
{
    json_t *task = vs_wait_task(api_d, id, 120);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("task %s: %s (%s)", id, vs_json_str(task, "status"), vs_json_str(task, "message"));
    json_decref(task);
}

static void revert(const char *vm, const char *snap)
{
    g_autoptr(VsTestResponse) r = snap_req("POST", vm, snap, "/revert", NULL);
    if (r->status != 200)
        fail_msg("revert %s/%s: %ld %s", vm, snap, r->status, r->body);
    assert_string_equal(vs_json_str(r->json, "name"), snap);
    assert_true(json_is_true(json_object_get(r->json, "current")));
}

static void delete_snap(const char *vm, const char *snap, bool children)
{
    g_autoptr(VsTestResponse) r =
        snap_req("DELETE", vm, snap, children ? "?children=true" : NULL, NULL);
    if (r->status != 204)
        fail_msg("delete %s/%s: %ld %s", vm, snap, r->status, r->body);
    assert_string_equal(r->body, "");
}

static void rename_snap(const char *vm, const char *snap, const char *new_name)
{
    json_t *req = json_pack("{s:s}", "name", new_name);
    g_autofree char *body = json_dumps(req, 0);
    json_decref(req);
    g_autoptr(VsTestResponse) r = snap_req("PUT", vm, snap, NULL, body);
    if (r->status != 200)
        fail_msg("rename %s/%s to %s: %ld %s", vm, snap, new_name, r->status, r->body);
    assert_string_equal(vs_json_str(r->json, "name"), new_name);
}

static void assert_snap_missing(const char *vm, const char *snap)
{
    g_autoptr(VsTestResponse) r = snap_req("GET", vm, snap, NULL, NULL);
    api_check_error(r, 404, snap);
}

static long long vm_count(const char *vm)
{
    g_autofree char *path = api_vm_path(vm, NULL);
    json_t *obj = api_get_json(path);
    long long n = vs_json_int(obj, "snapshots");
    json_decref(obj);
    return n;
}

static void assert_current(const char *vm, const char *want)
{
    g_autofree char *cur = api_current(vm);
    assert_string_equal(cur, want);
    /* And the snapshot itself says so; no other one does. */
    json_t *all = list_json(vm, "?all=true");
    size_t i;
    json_t *s;
    int currents = 0;
    json_array_foreach(all, i, s)
    {
        bool is = json_is_true(json_object_get(s, "current"));
        currents += is;
        if (is != !strcmp(vs_json_str(s, "name"), want))
            fail_msg("snapshot '%s' current=%d, VM's current is '%s'", vs_json_str(s, "name"), is,
                     want);
    }
    assert_int_equal(currents, *want ? 1 : 0);
    json_decref(all);
}

static void assert_parent(const char *vm, const char *snap, const char *want)
{
    g_autofree char *parent = api_parent(vm, snap);
    if (strcmp(parent, want) != 0)
        fail_msg("parent of '%s' is '%s', expected '%s'", snap, parent, want);
}

/* Sorted by creation time, then name. */
static void assert_sorted(json_t *list)
{
    for (size_t i = 1; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i - 1), *b = json_array_get(list, i);
        long long ca = vs_json_int(a, "created"), cb = vs_json_int(b, "created");
        if (ca > cb || (ca == cb && strcmp(vs_json_str(a, "name"), vs_json_str(b, "name")) >= 0))
            fail_msg("'%s' (%lld) listed before '%s' (%lld)", vs_json_str(a, "name"), ca,
                     vs_json_str(b, "name"), cb);
    }
}

/* Every snapshot's parent is listed before it. */
static void assert_parents_first(json_t *list)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *parent = vs_json_str(s, "parent");
        if (*parent && !g_hash_table_contains(seen, parent))
            fail_msg("'%s' listed before its parent '%s'", vs_json_str(s, "name"), parent);
        g_hash_table_add(seen, (gpointer)vs_json_str(s, "name"));
    }
}

/* Sleeps into the first tenth of a fresh second. */
static void next_second(void)
{
    gint64 now = g_get_real_time();
    g_usleep((gulong)(G_USEC_PER_SEC - now % G_USEC_PER_SEC) + 20000);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_create_task(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-task", NULL));
    gint64 t0 = g_get_real_time() / G_USEC_PER_SEC;
    g_autoptr(VsTestResponse) r =
        vs_http(api_d, "POST", "/vms/s-task/snapshots", "{\"name\": \"one\", \"description\": \"first one\"}");
    assert_int_equal(r->status, 202);
    const char *id = vs_json_str(r->json, "id");
    assert_non_null(id);
    g_autofree char *loc = vs_response_header(r, "Location");
    g_autofree char *want_loc = g_strdup_printf("/tasks/%s", id);
    assert_non_null(loc);
    assert_string_equal(loc, want_loc);
    assert_string_equal(vs_json_str(r->json, "target_uri"), "/vms/s-task/snapshots/one");
    assert_true(json_is_integer(json_object_get(r->json, "created")));
    wait_finished(id);
    gint64 t1 = g_get_real_time() / G_USEC_PER_SEC;

    json_t *s = api_get_snap("s-task", "one");
    assert_string_equal(vs_json_str(s, "name"), "one");
    assert_string_equal(vs_json_str(s, "state"), "shutoff");
    assert_true(json_is_integer(json_object_get(s, "created")));
    assert_true(vs_json_int(s, "created") >= t0 - 1 && vs_json_int(s, "created") <= t1 + 1);
    assert_string_equal(vs_json_str(s, "parent"), "");
    assert_string_equal(vs_json_str(s, "description"), "first one");
    assert_true(json_is_false(json_object_get(s, "memory")));
    assert_true(json_is_true(json_object_get(s, "current")));
    assert_true(json_is_integer(json_object_get(s, "children")));
    assert_int_equal(vs_json_int(s, "children"), 0);
    json_decref(s);
    assert_current("s-task", "one");
    assert_int_equal(vm_count("s-task"), 1);

    /* Of a running VM: disks and memory; of a paused one too. */
    g_free(api_vm_action("s-task", "start"));
    api_snap("s-task", "two", NULL);
    s = api_get_snap("s-task", "two");
    assert_string_equal(vs_json_str(s, "state"), "running");
    assert_true(json_is_true(json_object_get(s, "memory")));
    assert_string_equal(vs_json_str(s, "parent"), "one");
    assert_string_equal(vs_json_str(s, "description"), "");
    json_decref(s);
    g_free(api_vm_action("s-task", "suspend"));
    api_snap("s-task", "three", NULL);
    s = api_get_snap("s-task", "three");
    assert_string_equal(vs_json_str(s, "state"), "paused");
    assert_true(json_is_true(json_object_get(s, "memory")));
    json_decref(s);
    /* Taking a snapshot does not change the VM's state. */
    g_autofree char *path = api_vm_path("s-task", NULL);
    json_t *vm = api_get_json(path);
    assert_string_equal(vs_json_str(vm, "state"), "paused");
    assert_int_equal(vs_json_int(vm, "snapshots"), 3);
    json_decref(vm);
    s = api_get_snap("s-task", "one");
    assert_int_equal(vs_json_int(s, "children"), 1);
    assert_true(json_is_false(json_object_get(s, "current")));
    json_decref(s);
    assert_current("s-task", "three");
    api_delete_vm("s-task");
}

static void test_create_errors(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-err", NULL));
    api_snap("s-err", "taken", NULL);
    g_autoptr(VsTestResponse) tasks_before = vs_http(api_d, "GET", "/tasks", NULL);
    size_t n_tasks = json_array_size(tasks_before->json);

    g_autoptr(VsTestResponse) ghost = vs_http(api_d, "POST", "/vms/ghost/snapshots", "{\"name\": \"s\"}");
    api_check_error(ghost, 404, "ghost");
    g_autofree char *n65 = g_strnfill(65, 's');
    g_autofree char *body65 = g_strdup_printf("{\"name\": \"%s\"}", n65);
    g_autofree char *d4097 = g_strnfill(4097, 'd');
    g_autofree char *long_desc = g_strdup_printf("{\"name\": \"ok\", \"description\": \"%s\"}", d4097);
    struct {
        const char *body, *mentions;
        long status;
    } cases[] = {
        {"{\"name\": \"\"}", "name", 400},
        {"{\"name\": \".dot\"}", "name", 400},
        {"{\"name\": \"a/b\"}", "name", 400},
        {"{\"name\": \"   \"}", "name", 400},
        {"{\"name\": \"ctl\\u0001\"}", "name", 400},
        {body65, "name", 400},
        {"{\"name\": 7}", "name", 400},
        {"{\"description\": [\"x\"]}", "description", 400},
        {"{\"description\": \"bell\\u0007\"}", "description", 400},
        {"{\"description\": \"cr\\r\"}", "description", 400},
        {"{\"description\": \"del\\u007f\"}", "description", 400},
        {"{\"description\": \"c1\\u0085\"}", "description", 400},
        {"{\"name\": \"ok\", \"memory\": true}", "memory", 400},
        {long_desc, "description", 400},
        {"{\"name\": \"taken\"}", "taken", 409},
        {"{\"name\": \"ok\", \"live\": \"yes\"}", "live", 400},
        {"{\"name\": \"ok\", \"live\": 1}", "live", 400},
        /* s-err is shut off: a live snapshot needs a running VM */
        {"{\"name\": \"ok\", \"live\": true}", "not running", 409},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms/s-err/snapshots", cases[i].body);
        if (r->status != cases[i].status)
            fail_msg("POST snapshot %s: %ld %s", cases[i].body, r->status, r->body);
        api_check_error(r, cases[i].status, cases[i].mentions);
    }
    /* A VM with a raw writable disk cannot hold one: 409 naming the disk. */
    g_autoptr(VsTestResponse) raw = vs_http(api_d, "POST", "/vms/test/snapshots", "{\"name\": \"r\"}");
    api_check_error(raw, 409, "vda");
    g_autoptr(VsTestResponse) raw_list = vs_http(api_d, "GET", "/vms/test/snapshots?all=true", NULL);
    assert_int_equal(raw_list->status, 200);
    assert_int_equal(json_array_size(raw_list->json), 0);
    /* Names are case-sensitive: "Taken" is free. */
    api_snap("s-err", "Taken", NULL);
    /* Multi-line descriptions are fine. */
    api_snap("s-err", "multi", "line one\nline two\ttabbed");
    json_t *m = api_get_snap("s-err", "multi");
    assert_string_equal(vs_json_str(m, "description"), "line one\nline two\ttabbed");
    json_decref(m);
    /* None of the refused requests started a task or made a snapshot. */
    g_autoptr(VsTestResponse) tasks_after = vs_http(api_d, "GET", "/tasks", NULL);
    assert_int_equal(json_array_size(tasks_after->json), n_tasks + 2);
    assert_int_equal(vm_count("s-err"), 3);
    api_delete_vm("s-err");
}

/* Unnamed creates sent at the same moment from several connections each get
 * a name of their own (a name is reserved in one step, and one reserved
 * since it was found free is not given): no two snapshots are ever shown
 * under one name. */
#define RACERS 8
typedef struct {
    const char *body;
    VsTestResponse *answer;
} Racer;

static void *post_racer(void *data)
{
    Racer *r = data;
    r->answer = vs_http(api_d, "POST", "/vms/s-race/snapshots", r->body);
    return NULL;
}

/* POSTs BODY to /vms/s-race/snapshots from RACERS connections at once. */
static void post_at_once(const char *body, Racer racers[RACERS])
{
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (Racer){.body = body};
        assert_int_equal(pthread_create(&threads[i], NULL, post_racer, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(threads[i], NULL);
}

static void test_default_names_at_once(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-race", NULL));
    for (int round = 0; round < 3; round++) {
        Racer racers[RACERS];
        post_at_once("{}", racers);
        g_autoptr(GHashTable) targets = g_hash_table_new(g_str_hash, g_str_equal);
        for (int i = 0; i < RACERS; i++) {
            assert_int_equal(racers[i].answer->status, 202);
            const char *target = vs_json_str(racers[i].answer->json, "target_uri");
            if (!g_hash_table_add(targets, (gpointer)target))
                fail_msg("two creates were given %s", target);
            wait_finished(vs_json_str(racers[i].answer->json, "id"));
        }
        for (int i = 0; i < RACERS; i++)
            vs_response_free(racers[i].answer);
    }
    g_autoptr(VsTestResponse) all = vs_http(api_d, "GET", "/vms/s-race/snapshots?all=true", NULL);
    assert_int_equal(json_array_size(all->json), 3 * RACERS);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    size_t i;
    json_t *snap;
    json_array_foreach(all->json, i, snap) {
        if (!g_hash_table_add(names, (gpointer)vs_json_str(snap, "name")))
            fail_msg("two snapshots are shown as '%s'", vs_json_str(snap, "name"));
    }
    api_delete_vm("s-race");
}

/* Creates of one name sent at the same moment: one snapshot is made; every
 * other request is refused with 409 (the name is taken or reserved) or, if
 * the first create ended between its name check and its reservation, its
 * task fails saying the name came back (the worker's re-check). */
static void test_named_at_once(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-race", NULL));
    Racer racers[RACERS];
    post_at_once("{\"name\":\"same\"}", racers);
    int made = 0;
    for (int i = 0; i < RACERS; i++) {
        if (racers[i].answer->status == 202) {
            json_t *task = vs_wait_task(api_d, vs_json_str(racers[i].answer->json, "id"), 120);
            if (!strcmp(vs_json_str(task, "status"), "finished"))
                made++;
            else if (!strstr(vs_json_str(task, "message"), "already has a snapshot named 'same'"))
                fail_msg("a racing create failed otherwise: %s", vs_json_str(task, "message"));
            json_decref(task);
        } else {
            assert_int_equal(racers[i].answer->status, 409);
        }
        vs_response_free(racers[i].answer);
    }
    assert_int_equal(made, 1);
    assert_int_equal(vm_count("s-race"), 1);
    api_delete_vm("s-race");
}

static void test_default_name(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-def", NULL));
    const char *bodies[] = {"{}", NULL, "{\"description\": \"third\"}"};
    char *names[3] = {0};
    g_autoptr(GDateTime) began = g_date_time_new_now_local();
    g_autofree char *day_began = g_date_time_format(began, "snap-%Y%m%d-");
    for (int i = 0; i < 3; i++) {
        g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms/s-def/snapshots", bodies[i]);
        assert_int_equal(r->status, 202);
        const char *target = vs_json_str(r->json, "target_uri");
        assert_true(g_str_has_prefix(target, "/vms/s-def/snapshots/"));
        const char *enc = target + strlen("/vms/s-def/snapshots/");
        assert_true(*enc && !strchr(enc, '/'));
        names[i] = g_uri_unescape_string(enc, NULL);
        assert_non_null(names[i]);
        /* A readable name: printable, not hidden. */
        assert_true(names[i][0] != '.' && strlen(names[i]) <= 64);
        wait_finished(vs_json_str(r->json, "id"));
        /* The task's target exists. */
        json_t *s = api_get_json(target);
        assert_string_equal(vs_json_str(s, "name"), names[i]);
        json_decref(s);
    }
    assert_string_not_equal(names[0], names[1]);
    assert_string_not_equal(names[1], names[2]);
    assert_string_not_equal(names[0], names[2]);
    /* snap-YYYYMMDD-HHMMSS of the local time, with -2, -3… when a name of
     * that second is taken: of two made in the same second, the later has
     * the higher suffix (none counting as 1). */
    g_autoptr(GRegex) form = g_regex_new("^snap-(\\d{8}-\\d{6})(?:-([2-9]))?$", 0, 0, NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *day_now = g_date_time_format(now, "snap-%Y%m%d-");
    char *stamp[3] = {0};
    int nth[3] = {0};
    for (int i = 0; i < 3; i++) {
        g_autoptr(GMatchInfo) m = NULL;
        if (!g_regex_match(form, names[i], 0, &m))
            fail_msg("default name '%s' is not snap-YYYYMMDD-HHMMSS[-N]", names[i]);
        stamp[i] = g_match_info_fetch(m, 1);
        g_autofree char *n = g_match_info_fetch(m, 2);
        nth[i] = n && *n ? (int)g_ascii_strtoll(n, NULL, 10) : 1;
        /* local time: the day the creates began or ended on */
        assert_true(g_str_has_prefix(names[i], day_began) || g_str_has_prefix(names[i], day_now));
        for (int j = 0; j < i; j++)
            if (strcmp(stamp[i], stamp[j]) == 0)
                assert_true(nth[i] > nth[j]);
    }
    print_message("default names: %s, %s, %s\n", names[0], names[1], names[2]);
    for (int i = 0; i < 3; i++)
        g_free(stamp[i]);
    assert_parent("s-def", names[1], names[0]);
    assert_parent("s-def", names[2], names[1]);
    json_t *third = api_get_snap("s-def", names[2]);
    assert_string_equal(vs_json_str(third, "description"), "third");
    json_decref(third);
    for (int i = 0; i < 3; i++)
        g_free(names[i]);
    api_delete_vm("s-def");
}

static void test_special_names(void **state)
{
    (void)state;
    const char *vm = "vm a&b <x> \"q\"";
    json_decref(api_create_vm(vm, NULL));
    GString *chain = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(special_names); i++) {
        const char *name = special_names[i];
        json_t *req = json_pack("{s:s, s:s}", "name", name, "description", name);
        g_autofree char *body = json_dumps(req, 0);
        json_decref(req);
        g_autofree char *path = api_vm_path(vm, "/snapshots");
        g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", path, body);
        assert_int_equal(r->status, 202);
        g_autofree char *want = api_snap_path(vm, name, NULL);
        assert_string_equal(vs_json_str(r->json, "target_uri"), want);
        wait_finished(vs_json_str(r->json, "id"));
        json_t *s = api_get_snap(vm, name);
        assert_string_equal(vs_json_str(s, "name"), name);
        assert_string_equal(vs_json_str(s, "description"), name);
        assert_string_equal(vs_json_str(s, "parent"), i ? special_names[i - 1] : "");
        json_decref(s);
        g_string_append_printf(chain, "%s%s", i ? "|" : "", name);
    }
    g_autofree char *all = api_snap_names(vm, "?all=true");
    assert_string_equal(all, chain->str);
    g_string_free(chain, TRUE);
    assert_current(vm, "snap 1");
    g_autofree char *roots = api_snap_names(vm, "");
    assert_string_equal(roots, "a&b");
    for (size_t i = 0; i + 1 < G_N_ELEMENTS(special_names); i++) {
        g_autofree char *enc = vs_enc(special_names[i]);
        g_autofree char *q = g_strdup_printf("?parent=%s", enc);
        g_autofree char *kids = api_snap_names(vm, q);
        assert_string_equal(kids, special_names[i + 1]);
    }
    /* Names are case-sensitive and exact. */
    assert_snap_missing(vm, "A&B");
    assert_snap_missing(vm, "snap  1");
    assert_snap_missing(vm, "<x> ");
    /* Revert, describe, rename and delete all take them. */
    revert(vm, "<x>");
    assert_current(vm, "<x>");
    g_autoptr(VsTestResponse) d = snap_req("PUT", vm, "\"q\"", NULL, "{\"description\": \"<b>&amp;</b>\"}");
    assert_int_equal(d->status, 200);
    assert_string_equal(vs_json_str(d->json, "description"), "<b>&amp;</b>");
    delete_snap(vm, "пeω-∨м", false);
    assert_parent(vm, "snap 1", "\"q\"");
    rename_snap(vm, "snap 1", "snap 2 ∨ <y>");
    assert_parent(vm, "snap 2 ∨ <y>", "\"q\"");
    api_snap(vm, "пeω-∨м", NULL); /* the deleted name is free again, child of <x> */
    assert_parent(vm, "пeω-∨м", "<x>");
    revert(vm, "snap 2 ∨ <y>");
    assert_current(vm, "snap 2 ∨ <y>");
    api_delete_vm(vm);
}

static void test_lists(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-list", NULL));
    /* No snapshots yet. */
    g_autofree char *none = api_snap_names("s-list", "");
    assert_string_equal(none, "");
    g_autofree char *none_all = api_snap_names("s-list", "?all=true");
    assert_string_equal(none_all, "");
    /* A → m-first → C; then, a second later, A → a-later: among A's
     * children the earlier one comes first although its name sorts later. */
    api_snap("s-list", "A", NULL);
    api_snap("s-list", "m-first", NULL);
    api_snap("s-list", "C", NULL);
    next_second();
    revert("s-list", "A");
    api_snap("s-list", "a-later", NULL);
    g_autofree char *kids = api_snap_names("s-list", "?parent=A");
    assert_string_equal(kids, "m-first|a-later");
    /* Two more children of A within one second: the name decides. */
    next_second();
    revert("s-list", "A");
    api_snap("s-list", "z-tie", NULL);
    revert("s-list", "A");
    api_snap("s-list", "b-tie", NULL);
    json_t *children = list_json("s-list", "?parent=A");
    assert_int_equal(json_array_size(children), 4);
    assert_sorted(children);
    json_t *z = api_get_snap("s-list", "z-tie"), *b = api_get_snap("s-list", "b-tie");
    if (vs_json_int(z, "created") == vs_json_int(b, "created")) {
        g_autofree char *names = api_names(children);
        assert_true(g_str_has_suffix(names, "|b-tie|z-tie"));
    } else {
        print_message("note: z-tie and b-tie were made in different seconds\n");
    }
    json_decref(z);
    json_decref(b);
    json_decref(children);

    g_autofree char *roots = api_snap_names("s-list", "");
    assert_string_equal(roots, "A");
    g_autofree char *roots_false = api_snap_names("s-list", "?all=false");
    assert_string_equal(roots_false, "A");
    /* a root's parent, "", names the roots (before: 400) */
    g_autofree char *roots_empty = api_snap_names("s-list", "?parent=");
    assert_string_equal(roots_empty, "A");
    g_autoptr(VsTestResponse) empty_and_all =
        vs_http(api_d, "GET", "/vms/s-list/snapshots?parent=&all=true", NULL);
    api_check_error(empty_and_all, 400, "either");
    g_autofree char *leaf = api_snap_names("s-list", "?parent=C");
    assert_string_equal(leaf, "");
    g_autofree char *mid = api_snap_names("s-list", "?parent=m-first");
    assert_string_equal(mid, "C");
    json_t *all = list_json("s-list", "?all=true");
    assert_int_equal(json_array_size(all), 6);
    json_t *all_bare = list_json("s-list", "?all"); /* a bare flag is true */
    assert_int_equal(json_array_size(all_bare), 6);
    json_decref(all_bare);
    g_autoptr(VsTestResponse) all_empty = vs_http(api_d, "GET", "/vms/s-list/snapshots?all=", NULL);
    api_check_error(all_empty, 400, "given empty");
    assert_int_equal(vm_count("s-list"), 6);
    assert_parents_first(all);
    assert_string_equal(vs_json_str(json_array_get(all, 0), "name"), "A");
    g_autofree char *all_names = api_names(all);
    /* Children of one parent keep their order in the full list. */
    const char *p1 = strstr(all_names, "m-first"), *p2 = strstr(all_names, "a-later");
    assert_true(p1 && p2 && p1 < p2);
    json_decref(all);
    /* Each listed object is a full snapshot. */
    json_t *one = list_json("s-list", "");
    json_t *s = json_array_get(one, 0);
    assert_string_equal(vs_json_str(s, "name"), "A");
    assert_int_equal(vs_json_int(s, "children"), 4);
    assert_string_equal(vs_json_str(s, "parent"), "");
    assert_true(json_is_boolean(json_object_get(s, "memory")));
    assert_true(json_is_string(json_object_get(s, "state")));
    json_decref(one);

    /* Errors. */
    g_autoptr(VsTestResponse) unknown = list_req("s-list", "?parent=nope");
    api_check_error(unknown, 404, "nope");
    g_autoptr(VsTestResponse) outside = list_req("s-list", "?parent=.x"); /* looked up */
    api_check_error(outside, 404, ".x");
    g_autoptr(VsTestResponse) bad = list_req("s-list", "?parent=x%2Fy");
    api_check_error(bad, 400, "parent snapshot");
    g_autoptr(VsTestResponse) both = list_req("s-list", "?parent=A&all=true");
    api_check_error(both, 400, NULL);
    g_autoptr(VsTestResponse) flag = list_req("s-list", "?all=maybe");
    api_check_error(flag, 400, "all");
    g_autoptr(VsTestResponse) extra = list_req("s-list", "?sort=name");
    api_check_error(extra, 400, "sort");
    g_autoptr(VsTestResponse) ghost = list_req("ghost", "");
    api_check_error(ghost, 404, "ghost");
    g_autoptr(VsTestResponse) ghost_all = list_req("ghost", "?all=true");
    api_check_error(ghost_all, 404, "ghost");
    api_delete_vm("s-list");
}

static void test_get_one(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-get", NULL));
    api_snap("s-get", "root", "the root");
    api_snap("s-get", "kid", NULL);
    revert("s-get", "root");
    api_snap("s-get", "kid2", "second kid");
    json_t *s = api_get_snap("s-get", "root");
    const char *keys[] = {"name", "state", "created", "parent", "description", "memory", "live",
                          "current", "children"};
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
        if (!json_object_get(s, keys[i]))
            fail_msg("snapshot lacks '%s'", keys[i]);
    /* A disk-only snapshot: classic, nothing measured. */
    assert_true(json_is_false(json_object_get(s, "live")));
    assert_null(json_object_get(s, "downtime_ms"));
    assert_null(json_object_get(s, "memory_bytes"));
    assert_string_equal(vs_json_str(s, "name"), "root");
    assert_string_equal(vs_json_str(s, "state"), "shutoff");
    assert_string_equal(vs_json_str(s, "parent"), "");
    assert_string_equal(vs_json_str(s, "description"), "the root");
    assert_true(json_is_false(json_object_get(s, "memory")));
    assert_true(json_is_false(json_object_get(s, "current")));
    assert_int_equal(vs_json_int(s, "children"), 2);
    json_decref(s);
    s = api_get_snap("s-get", "kid2");
    assert_string_equal(vs_json_str(s, "parent"), "root");
    assert_true(json_is_true(json_object_get(s, "current")));
    assert_int_equal(vs_json_int(s, "children"), 0);
    json_decref(s);
    assert_snap_missing("s-get", "nope");
    g_autoptr(VsTestResponse) bad = vs_http(api_d, "GET", "/vms/s-get/snapshots/x%2Fy", NULL);
    api_check_error(bad, 400, "snapshot name");
    /* a name outside the rule (another tool's) is looked up */
    g_autoptr(VsTestResponse) hidden = vs_http(api_d, "GET", "/vms/s-get/snapshots/%2Ehidden", NULL);
    api_check_error(hidden, 404, "does not exist");
    g_autoptr(VsTestResponse) q = vs_http(api_d, "GET", "/vms/s-get/snapshots/root?x=1", NULL);
    api_check_error(q, 400, "x");
    g_autoptr(VsTestResponse) other_vm = vs_http(api_d, "GET", "/vms/test/snapshots/root", NULL);
    api_check_error(other_vm, 404, "root");
    api_delete_vm("s-get");
}

static void test_update(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-upd", NULL));
    api_snap("s-upd", "A", "desc A");
    api_snap("s-upd", "B", "desc B");
    api_snap("s-upd", "C", NULL);
    json_t *a0 = api_get_snap("s-upd", "A");
    long long a_created = vs_json_int(a0, "created");
    json_decref(a0);

    /* The description alone. */
    g_autoptr(VsTestResponse) d = snap_req("PUT", "s-upd", "A", NULL, "{\"description\": \"new A\"}");
    assert_int_equal(d->status, 200);
    assert_string_equal(vs_json_str(d->json, "name"), "A");
    assert_string_equal(vs_json_str(d->json, "description"), "new A");
    json_t *a = api_get_snap("s-upd", "A");
    assert_string_equal(vs_json_str(a, "description"), "new A");
    assert_int_equal(vs_json_int(a, "created"), a_created);
    assert_int_equal(vs_json_int(a, "children"), 1);
    json_decref(a);
    /* Describing the current snapshot keeps it current. */
    g_autoptr(VsTestResponse) dc = snap_req("PUT", "s-upd", "C", NULL, "{\"description\": \"desc C\"}");
    assert_int_equal(dc->status, 200);
    assert_true(json_is_true(json_object_get(dc->json, "current")));
    assert_current("s-upd", "C");
    /* Clearing a description. */
    g_autoptr(VsTestResponse) clr = snap_req("PUT", "s-upd", "A", NULL, "{\"description\": \"\"}");
    assert_int_equal(clr->status, 200);
    assert_string_equal(vs_json_str(clr->json, "description"), "");

    /* Rename a middle snapshot: its child follows, the old name is gone. */
    rename_snap("s-upd", "B", "B2");
    assert_snap_missing("s-upd", "B");
    json_t *b2 = api_get_snap("s-upd", "B2");
    assert_string_equal(vs_json_str(b2, "description"), "desc B");
    assert_string_equal(vs_json_str(b2, "parent"), "A");
    assert_int_equal(vs_json_int(b2, "children"), 1);
    json_decref(b2);
    assert_parent("s-upd", "C", "B2");
    g_autofree char *kids = api_snap_names("s-upd", "?parent=B2");
    assert_string_equal(kids, "C");
    g_autoptr(VsTestResponse) old_parent = list_req("s-upd", "?parent=B");
    api_check_error(old_parent, 404, "B");
    g_autofree char *all = api_snap_names("s-upd", "?all=true");
    assert_string_equal(all, "A|B2|C");
    /* Rename and describe the current snapshot at once: the VM follows. */
    g_autoptr(VsTestResponse) both =
        snap_req("PUT", "s-upd", "C", NULL, "{\"name\": \"C2\", \"description\": \"both\"}");
    assert_int_equal(both->status, 200);
    assert_string_equal(vs_json_str(both->json, "name"), "C2");
    assert_string_equal(vs_json_str(both->json, "description"), "both");
    assert_true(json_is_true(json_object_get(both->json, "current")));
    assert_current("s-upd", "C2");
    assert_snap_missing("s-upd", "C");

    /* Refusals change nothing. */
    struct {
        const char *snap, *body, *mentions;
        long status;
    } bad[] = {
        {"A", "{\"name\": \"B2\"}", "B2", 409},
        {"A", "{\"name\": \"C2\", \"description\": \"x\"}", "C2", 409},
        {"A", "{\"name\": \"\"}", "name", 400},
        {"A", "{\"name\": \"x/y\"}", "name", 400},
        {"A", "{\"name\": 1}", "name", 400},
        {"A", "{\"parent\": \"C2\"}", "parent", 400},
        {"A", "{\"description\": \"nul\\u0000\"}", NULL, 400},
        {"nope", "{\"name\": \"nope2\"}", "nope", 404},
        {"B", "{\"description\": \"old name\"}", "B", 404},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(VsTestResponse) r = snap_req("PUT", "s-upd", bad[i].snap, NULL, bad[i].body);
        if (r->status != bad[i].status)
            fail_msg("PUT %s %s: %ld %s", bad[i].snap, bad[i].body, r->status, r->body);
        api_check_error(r, bad[i].status, bad[i].mentions);
    }
    g_autofree char *all2 = api_snap_names("s-upd", "?all=true");
    assert_string_equal(all2, "A|B2|C2");
    a = api_get_snap("s-upd", "A");
    assert_string_equal(vs_json_str(a, "description"), "");
    json_decref(a);
    /* Renaming to its own name is fine. */
    rename_snap("s-upd", "A", "A");

    /* Revert and delete keep working after renames. */
    revert("s-upd", "B2");
    assert_current("s-upd", "B2");
    api_snap("s-upd", "D", NULL);
    assert_parent("s-upd", "D", "B2");
    delete_snap("s-upd", "B2", false);
    assert_parent("s-upd", "C2", "A");
    assert_parent("s-upd", "D", "A");
    revert("s-upd", "C2");
    assert_current("s-upd", "C2");

    /* An old name can be given to a new snapshot; both stay distinct. */
    rename_snap("s-upd", "A", "A-old");
    api_snap("s-upd", "A", "new A");
    json_t *na = api_get_snap("s-upd", "A");
    assert_string_equal(vs_json_str(na, "parent"), "C2");
    assert_string_equal(vs_json_str(na, "description"), "new A");
    json_decref(na);
    json_t *oa = api_get_snap("s-upd", "A-old");
    assert_string_equal(vs_json_str(oa, "parent"), "");
    assert_int_equal(vs_json_int(oa, "children"), 2);
    json_decref(oa);
    revert("s-upd", "A-old");
    assert_current("s-upd", "A-old");
    revert("s-upd", "A");
    assert_current("s-upd", "A");

    /* Swap two names through a third. */
    api_snap("s-upd", "P", "was P");
    api_snap("s-upd", "Q", "was Q");
    rename_snap("s-upd", "P", "tmp");
    rename_snap("s-upd", "Q", "P");
    rename_snap("s-upd", "tmp", "Q");
    json_t *p = api_get_snap("s-upd", "P"), *q = api_get_snap("s-upd", "Q");
    assert_string_equal(vs_json_str(p, "description"), "was Q");
    assert_string_equal(vs_json_str(q, "description"), "was P");
    assert_string_equal(vs_json_str(p, "parent"), "Q");
    assert_true(json_is_true(json_object_get(p, "current")));
    json_decref(p);
    json_decref(q);
    assert_snap_missing("s-upd", "tmp");
    revert("s-upd", "Q");
    assert_current("s-upd", "Q");
    delete_snap("s-upd", "Q", false);
    assert_parent("s-upd", "P", "A");
    assert_current("s-upd", "A");
    json_t *p2 = api_get_snap("s-upd", "P");
    assert_string_equal(vs_json_str(p2, "description"), "was Q");
    json_decref(p2);
    revert("s-upd", "P");
    delete_snap("s-upd", "P", false);
    assert_current("s-upd", "A");
    json_t *final = list_json("s-upd", "?all=true");
    assert_int_equal(json_array_size(final), 4);
    assert_parents_first(final);
    json_decref(final);
    assert_parent("s-upd", "C2", "A-old");
    assert_parent("s-upd", "D", "A-old");
    assert_parent("s-upd", "A", "C2");
    api_delete_vm("s-upd");
}

static void test_delete(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-del", NULL));
    /* A → B → C, B → D (current). */
    api_snap("s-del", "A", NULL);
    api_snap("s-del", "B", NULL);
    api_snap("s-del", "C", NULL);
    revert("s-del", "B");
    api_snap("s-del", "D", NULL);
    assert_current("s-del", "D");
    /* Alone: the children move up to the parent. */
    delete_snap("s-del", "B", false);
    assert_snap_missing("s-del", "B");
    assert_parent("s-del", "C", "A");
    assert_parent("s-del", "D", "A");
    json_t *a = api_get_snap("s-del", "A");
    assert_int_equal(vs_json_int(a, "children"), 2);
    json_decref(a);
    assert_int_equal(vm_count("s-del"), 3);
    assert_current("s-del", "D");
    /* The current snapshot: its parent becomes current. */
    delete_snap("s-del", "D", false);
    assert_current("s-del", "A");
    api_snap("s-del", "E", NULL);
    assert_parent("s-del", "E", "A");
    /* A root: its children become roots. */
    revert("s-del", "A");
    delete_snap("s-del", "A", false);
    g_autofree char *roots = api_snap_names("s-del", "");
    assert_string_equal(roots, "C|E");
    assert_parent("s-del", "C", "");
    assert_current("s-del", "");
    /* With no current snapshot the next one is a root. */
    api_snap("s-del", "F", NULL);
    assert_parent("s-del", "F", "");
    /* Errors change nothing. */
    g_autoptr(VsTestResponse) unknown = snap_req("DELETE", "s-del", "nope", NULL, NULL);
    api_check_error(unknown, 404, "nope");
    /* given empty (a client's unset variable): refused, nothing deleted */
    g_autoptr(VsTestResponse) empty_flag = snap_req("DELETE", "s-del", "C", "?children=", NULL);
    api_check_error(empty_flag, 400, "given empty");
    g_autoptr(VsTestResponse) flag = snap_req("DELETE", "s-del", "C", "?children=maybe", NULL);
    api_check_error(flag, 400, "children");
    g_autoptr(VsTestResponse) extra = snap_req("DELETE", "s-del", "C", "?force=true", NULL);
    api_check_error(extra, 400, "force");
    g_autoptr(VsTestResponse) again = snap_req("DELETE", "s-del", "A", NULL, NULL);
    api_check_error(again, 404, "A");
    assert_int_equal(vm_count("s-del"), 3);
    /* children=false is the default behaviour. */
    g_autoptr(VsTestResponse) f = snap_req("DELETE", "s-del", "C", "?children=false", NULL);
    assert_int_equal(f->status, 204);
    assert_int_equal(vm_count("s-del"), 2);
    api_delete_vm("s-del");
}

static void test_delete_subtree(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-sub", NULL));
    /* X → Y → Z, Y → Y2, X → W; current Z. */
    api_snap("s-sub", "X", NULL);
    api_snap("s-sub", "Y", NULL);
    api_snap("s-sub", "Z", NULL);
    revert("s-sub", "Y");
    api_snap("s-sub", "Y2", NULL);
    revert("s-sub", "X");
    api_snap("s-sub", "W", NULL);
    revert("s-sub", "Z");
    assert_int_equal(vm_count("s-sub"), 5);
    delete_snap("s-sub", "Y", true);
    assert_snap_missing("s-sub", "Y");
    assert_snap_missing("s-sub", "Z");
    assert_snap_missing("s-sub", "Y2");
    g_autofree char *all = api_snap_names("s-sub", "?all=true");
    assert_string_equal(all, "X|W");
    json_t *x = api_get_snap("s-sub", "X");
    assert_int_equal(vs_json_int(x, "children"), 1);
    json_decref(x);
    assert_int_equal(vm_count("s-sub"), 2);
    /* The current snapshot went with the subtree: the nearest surviving
     * ancestor (the deleted snapshot's parent) is current now. */
    assert_current("s-sub", "X");
    api_snap("s-sub", "after", NULL);
    assert_parent("s-sub", "after", "X");
    /* The names are free again. */
    api_snap("s-sub", "Y", NULL);
    api_snap("s-sub", "Z", NULL);
    assert_parent("s-sub", "Z", "Y");
    /* A subtree that does not hold the current snapshot: current stays. */
    revert("s-sub", "W");
    delete_snap("s-sub", "after", true);
    assert_current("s-sub", "W");
    /* The whole tree from the root. */
    delete_snap("s-sub", "X", true);
    g_autofree char *empty = api_snap_names("s-sub", "?all=true");
    assert_string_equal(empty, "");
    assert_current("s-sub", "");
    assert_int_equal(vm_count("s-sub"), 0);
    api_delete_vm("s-sub");
}

static void test_revert(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-rev", NULL));
    g_free(api_vm_action("s-rev", "start"));
    api_snap("s-rev", "run", NULL);
    g_free(api_vm_action("s-rev", "poweroff"));
    api_snap("s-rev", "off", NULL);
    assert_parent("s-rev", "off", "run");
    assert_current("s-rev", "off");
    /* Back to the running snapshot: the VM runs again. */
    g_autoptr(VsTestResponse) r = snap_req("POST", "s-rev", "run", "/revert", NULL);
    assert_int_equal(r->status, 200);
    assert_string_equal(vs_json_str(r->json, "name"), "run");
    assert_string_equal(vs_json_str(r->json, "state"), "running");
    assert_true(json_is_true(json_object_get(r->json, "current")));
    json_t *vm = api_get_json("/vms/s-rev");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    assert_string_equal(vs_json_str(vm, "current-snapshot"), "run");
    json_decref(vm);
    assert_current("s-rev", "run");
    /* Branch: the next snapshot is a child of the reverted one. */
    api_snap("s-rev", "branch", NULL);
    assert_parent("s-rev", "branch", "run");
    json_t *kids = list_json("s-rev", "?parent=run");
    assert_int_equal(json_array_size(kids), 2);
    assert_sorted(kids);
    json_decref(kids);
    g_autofree char *off_kids = api_snap_names("s-rev", "?parent=off");
    assert_string_equal(off_kids, "");
    /* Back to the shut-off snapshot: the VM is shut off. */
    revert("s-rev", "off");
    vm = api_get_json("/vms/s-rev");
    assert_string_equal(vs_json_str(vm, "state"), "shutoff");
    json_decref(vm);
    assert_current("s-rev", "off");
    /* Reverting twice to the same snapshot is fine. */
    revert("s-rev", "off");
    api_snap("s-rev", "after-off", NULL);
    assert_parent("s-rev", "after-off", "off");
    /* From a paused VM back to a running snapshot. */
    g_free(api_vm_action("s-rev", "start"));
    g_free(api_vm_action("s-rev", "suspend"));
    revert("s-rev", "run");
    vm = api_get_json("/vms/s-rev");
    assert_string_equal(vs_json_str(vm, "state"), "running");
    json_decref(vm);
    /* Errors. */
    g_autoptr(VsTestResponse) unknown = snap_req("POST", "s-rev", "nope", "/revert", NULL);
    api_check_error(unknown, 404, "nope");
    g_autoptr(VsTestResponse) ghost = snap_req("POST", "ghost", "run", "/revert", NULL);
    api_check_error(ghost, 404, "ghost");
    g_autoptr(VsTestResponse) body = snap_req("POST", "s-rev", "off", "/revert", "{\"force\": true}");
    api_check_error(body, 400, "force");
    g_autoptr(VsTestResponse) get = snap_req("GET", "s-rev", "off", "/revert", NULL);
    api_check_error(get, 405, NULL);
    assert_current("s-rev", "run");
    api_delete_vm("s-rev");
}

static void test_serialized_creates(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-b2b", NULL));
    /* Back to back, without waiting. */
    g_autofree char *t1 = start_snap("s-b2b", "p1", NULL);
    g_autofree char *t2 = start_snap("s-b2b", "p2", NULL);
    /* The name of a snapshot still being made is taken. */
    g_autoptr(VsTestResponse) dup = vs_http(api_d, "POST", "/vms/s-b2b/snapshots", "{\"name\": \"p2\"}");
    api_check_error(dup, 409, "p2");
    g_autofree char *t3 = start_snap("s-b2b", "p3", NULL);
    wait_finished(t1);
    wait_finished(t2);
    wait_finished(t3);
    assert_parent("s-b2b", "p1", "");
    assert_parent("s-b2b", "p2", "p1");
    assert_parent("s-b2b", "p3", "p2");
    g_autofree char *all = api_snap_names("s-b2b", "?all=true");
    assert_string_equal(all, "p1|p2|p3");
    assert_current("s-b2b", "p3");
    /* A revert asked for while a create is queued waits for it. */
    g_autofree char *t4 = start_snap("s-b2b", "p4", NULL);
    revert("s-b2b", "p1");
    wait_finished(t4);
    assert_parent("s-b2b", "p4", "p3");
    assert_current("s-b2b", "p1");
    /* Creates on two VMs at once both finish. */
    json_decref(api_create_vm("s-b2b-other", NULL));
    g_autofree char *o1 = start_snap("s-b2b-other", "o1", NULL);
    g_autofree char *m1 = start_snap("s-b2b", "m1", NULL);
    wait_finished(o1);
    wait_finished(m1);
    assert_parent("s-b2b", "m1", "p1");
    assert_parent("s-b2b-other", "o1", "");
    api_delete_vm("s-b2b");
    api_delete_vm("s-b2b-other");
}

static void test_vm_rename_keeps_tree(void **state)
{
    (void)state;
    json_decref(api_create_vm("s-ren", NULL));
    api_snap("s-ren", "A", "root of it");
    api_snap("s-ren", "B", NULL);
    revert("s-ren", "A");
    api_snap("s-ren", "C", "third");
    rename_snap("s-ren", "B", "B <renamed>");
    json_t *before = list_json("s-ren", "?all=true");

    /* A running VM with snapshots cannot be renamed; nothing changes. */
    g_free(api_vm_action("s-ren", "start"));
    g_autoptr(VsTestResponse) busy = vs_http(api_d, "PUT", "/vms/s-ren", "{\"name\": \"s-ren2\"}");
    api_check_error(busy, 409, NULL);
    json_t *still = list_json("s-ren", "?all=true");
    assert_true(json_equal(before, still));
    json_decref(still);
    g_free(api_vm_action("s-ren", "poweroff"));

    const char *new_name = "s-ren new & <improved>";
    g_autofree char *new_path = api_vm_path(new_name, NULL);
    g_autoptr(VsTestResponse) r = vs_http(api_d, "PUT", "/vms/s-ren",
                                          "{\"name\": \"s-ren new & <improved>\"}");
    assert_int_equal(r->status, 200);
    assert_string_equal(vs_json_str(r->json, "name"), new_name);
    assert_int_equal(vs_json_int(r->json, "snapshots"), 3);
    assert_string_equal(vs_json_str(r->json, "current-snapshot"), "C");
    g_autoptr(VsTestResponse) old = vs_http(api_d, "GET", "/vms/s-ren", NULL);
    api_check_error(old, 404, "s-ren");
    g_autoptr(VsTestResponse) old_snaps = vs_http(api_d, "GET", "/vms/s-ren/snapshots", NULL);
    api_check_error(old_snaps, 404, "s-ren");
    /* The whole tree, exactly. */
    json_t *after = list_json(new_name, "?all=true");
    if (!json_equal(before, after)) {
        g_autofree char *a = json_dumps(before, 0), *b = json_dumps(after, 0);
        fail_msg("tree changed by the rename:\n%s\n%s", a, b);
    }
    json_decref(after);
    json_decref(before);
    assert_current(new_name, "C");
    /* And it still works. */
    revert(new_name, "B <renamed>");
    api_snap(new_name, "D", NULL);
    assert_parent(new_name, "D", "B <renamed>");
    delete_snap(new_name, "C", false);
    /* Renaming back works too. */
    g_autoptr(VsTestResponse) back = vs_http(api_d, "PUT", new_path, "{\"name\": \"s-ren\"}");
    assert_int_equal(back->status, 200);
    assert_int_equal(vs_json_int(back->json, "snapshots"), 3);
    assert_string_equal(vs_json_str(back->json, "current-snapshot"), "D");
    g_autofree char *all = api_snap_names("s-ren", "?all=true");
    assert_string_equal(all, "A|B <renamed>|D");
    /* The name it had in between has nothing left. */
    json_decref(api_create_vm(new_name, NULL));
    g_autofree char *empty = api_snap_names(new_name, "?all=true");
    assert_string_equal(empty, "");
    api_delete_vm(new_name);
    api_delete_vm("s-ren");
}

/* Makes api_d a daemon of its own, started with the environment variable
 * VAR set to VALUE (a fault injection); returns the shared one, which
 * own_daemon_end() puts back. */
static VsTestDaemon *own_daemon(const char *var, const char *value)
{
    VsTestDaemon *shared = api_d;
    g_setenv(var, value, TRUE);
    api_d = vs_test_daemon_start("test:///default", NULL);
    g_unsetenv(var);
    return shared;
}

static void own_daemon_end(VsTestDaemon *shared)
{
    vs_test_daemon_free(api_d);
    api_d = shared;
}

/* A rename whose snapshot tree libvirt will not take back (injected once,
 * $VIRTSNAP_FAIL=tree-redefine) fails saying so, and the tree is not
 * lost: its record is kept and the background settler defines it again. */
static void test_rename_tree_refused(void **state)
{
    (void)state;
    VsTestDaemon *shared = own_daemon("VIRTSNAP_FAIL", "tree-redefine");
    json_decref(api_create_vm("r-old", NULL));
    api_snap("r-old", "A", "first");
    api_snap("r-old", "B", NULL);
    revert("r-old", "A");
    api_snap("r-old", "C", NULL);
    json_t *before = list_json("r-old", "?all=true");
    g_autoptr(VsTestResponse) r = vs_http(api_d, "PUT", "/vms/r-old", "{\"name\": \"r-new\"}");
    api_check_error(r, 500, "did not take all of its snapshots back");
    assert_true(api_contains(r->body, "was renamed"));
    /* The settler tries every 2 s: the tree is back, whole, under the new name. */
    json_t *after = NULL;
    for (int i = 0; i < 100; i++) {
        json_t *vm = api_get_json("/vms/r-new");
        long long n = vs_json_int(vm, "snapshots");
        json_decref(vm);
        if (n == 3) {
            after = list_json("r-new", "?all=true");
            break;
        }
        g_usleep(100 * 1000);
    }
    assert_non_null(after);
    if (!json_equal(before, after)) {
        g_autofree char *a = json_dumps(before, 0), *b = json_dumps(after, 0);
        fail_msg("the tree differs after the rename:\n%s\n%s", a, b);
    }
    assert_current("r-new", "C");
    json_decref(before);
    json_decref(after);
    api_delete_vm("r-new");
    own_daemon_end(shared);
}

/* A tree libvirt refuses for good does not hold the VM for ever: after 10
 * refusals (counted in its journal record, so across restarts too) its XML
 * is kept in STATE/kept-trees/ and the VM's changes (here its delete) go on. */
static void test_rename_tree_refused_for_good(void **state)
{
    (void)state;
    VsTestDaemon *shared = own_daemon("VIRTSNAP_FAIL", "tree-redefine*");
    json_decref(api_create_vm("rg-old", NULL));
    api_snap("rg-old", "A", NULL);
    api_snap("rg-old", "B", NULL);
    g_autoptr(VsTestResponse) r = vs_http(api_d, "PUT", "/vms/rg-old", "{\"name\": \"rg-new\"}");
    api_check_error(r, 500, "did not take all of its snapshots back");
    long status = 0;
    int tries = 0;
    g_autofree char *journal = g_build_filename(api_d->state_dir, "journal", NULL);
    int counted = 0; /* the refusals the record on disk holds (for the next start) */
    for (; tries < 40 && status != 204; tries++) {
        g_autoptr(VsTestResponse) del = vs_http(api_d, "DELETE", "/vms/rg-new", NULL);
        status = del->status;
        if (status != 204)
            api_check_error(del, 503, "not settled yet");
        g_autoptr(GDir) records = g_dir_open(journal, 0, NULL);
        const char *name = records ? g_dir_read_name(records) : NULL;
        g_autofree char *record = name ? g_build_filename(journal, name, NULL) : NULL;
        g_autoptr(GKeyFile) kf = g_key_file_new();
        if (status != 204 && record && g_key_file_load_from_file(kf, record, 0, NULL))
            counted = MAX(counted, g_key_file_get_integer(kf, "op", "refusals", NULL));
    }
    if (counted < 1)
        fail_msg("the rename's record on disk never counted a refusal");
    print_message("the delete went through at try %d\n", tries);
    assert_int_equal(status, 204);
    g_autofree char *kept = g_build_filename(api_d->state_dir, "kept-trees", NULL);
    g_autoptr(GDir) dir = g_dir_open(kept, 0, NULL);
    assert_non_null(dir);
    const char *one = g_dir_read_name(dir);
    assert_non_null(one);
    g_autofree char *first = g_build_filename(kept, one, "0000.xml", NULL);
    g_autofree char *second = g_build_filename(kept, one, "0001.xml", NULL);
    g_autofree char *xml = NULL;
    assert_true(g_file_get_contents(first, &xml, NULL, NULL));
    assert_true(api_contains(xml, "<name>A</name>"));
    assert_true(g_file_test(second, G_FILE_TEST_EXISTS));
    own_daemon_end(shared);
}

typedef struct {
    const char *path, *body;
    long status;
} Request;

static gpointer request_thread(gpointer data)
{
    Request *r = data;
    g_autoptr(VsTestResponse) resp = vs_http(api_d, "PUT", r->path, r->body);
    r->status = resp->status;
    return NULL;
}

/* What a delete with ?disks=keep leaves beside DISK (the tree of A → B2
 * (taken as B) → ünï, current): each snapshot under the name the API
 * showed, with the qcow2 tag that holds it (before, the tags alone were
 * left: "B" for B2, an internal name for ünï), and libvirt's XML. */
static void check_kept_index(const char *disk)
{
    g_autofree char *dir = g_strdup_printf("%s.snapshots", disk);
    g_autofree char *index_path = g_build_filename(dir, "snapshots.json", NULL);
    json_error_t jerr;
    json_t *index = json_load_file(index_path, 0, &jerr);
    if (!index)
        fail_msg("%s: %s", index_path, jerr.text);
    assert_string_equal(vs_json_str(index, "vm"), "s-gone");
    json_t *snaps = json_object_get(index, "snapshots");
    assert_int_equal(json_array_size(snaps), 3);
    const char *want[][3] = {{"A", "A", ""}, {"B2", "B", "A"}, {"ünï", NULL, "B2"}};
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        json_t *s = json_array_get(snaps, i);
        assert_string_equal(vs_json_str(s, "name"), want[i][0]);
        if (want[i][1])
            assert_string_equal(vs_json_str(s, "tag"), want[i][1]);
        else
            assert_string_not_equal(vs_json_str(s, "tag"), want[i][0]);
        assert_string_equal(vs_json_str(s, "parent"), want[i][2]);
        assert_int_equal(json_is_true(json_object_get(s, "current")), i == 2);
        g_autofree char *xml_path = g_build_filename(dir, vs_json_str(s, "xml"), NULL);
        g_autofree char *xml = NULL;
        assert_true(g_file_get_contents(xml_path, &xml, NULL, NULL));
        g_autofree char *tag = g_strdup_printf("<name>%s</name>", vs_json_str(s, "tag"));
        assert_true(api_contains(xml, tag));
    }
    assert_string_equal(vs_json_str(json_array_get(snaps, 0), "description"), "old A");
    json_decref(index);
}

/* A create accepted while a rename has the VM's snapshot metadata dropped
 * finds the name free; once the rename has defined the tree again, the
 * name is taken: the create fails, and no second snapshot of that name. */
static void test_create_during_rename(void **state)
{
    (void)state;
    VsTestDaemon *shared = own_daemon("VIRTSNAP_PAUSE", "rename-after-discard"); /* 4 s */
    json_decref(api_create_vm("cr-old", NULL));
    api_snap("cr-old", "s1", NULL);
    Request rename = {.path = "/vms/cr-old", .body = "{\"name\": \"cr-new\"}"};
    GThread *t = g_thread_new("rename", request_thread, &rename);
    /* The rename waits 4 s with the metadata dropped. */
    bool dropped = false;
    for (int i = 0; i < 160 && !dropped; i++) { /* up to 8 s: slower under ASan */
        g_usleep(50 * 1000);
        g_autoptr(VsTestResponse) vm = vs_http(api_d, "GET", "/vms/cr-old", NULL);
        dropped = vm->status == 200 && vs_json_int(vm->json, "snapshots") == 0;
    }
    assert_true(dropped);
    g_autoptr(VsTestResponse) c = vs_http(api_d, "POST", "/vms/cr-old/snapshots", "{\"name\": \"s1\"}");
    assert_int_equal(c->status, 202);
    g_thread_join(t);
    assert_int_equal(rename.status, 200);
    json_t *task = vs_wait_task(api_d, vs_json_str(c->json, "id"), 60);
    assert_string_equal(vs_json_str(task, "status"), "failed");
    assert_true(api_contains(vs_json_str(task, "message"), "already has a snapshot named 's1'"));
    json_decref(task);
    g_autofree char *all = api_snap_names("cr-new", "?all=true");
    assert_string_equal(all, "s1");
    api_delete_vm("cr-new");
    own_daemon_end(shared);
}

static void test_clone(void **state)
{
    (void)state;
    json_t *src = api_create_vm("s-src", "\"memory\": 256, \"cpus\": 2");
    g_autofree char *src_uuid = g_strdup(vs_json_str(src, "uuid"));
    g_autofree char *src_disk =
        g_strdup(vs_json_str(json_array_get(json_object_get(src, "disks"), 0), "path"));
    json_decref(src);
    api_snap("s-src", "A", "desc a");
    api_snap("s-src", "B", NULL);
    revert("s-src", "A");
    api_snap("s-src", "C", "desc c");
    rename_snap("s-src", "B", "B renamed ∨");
    json_t *src_tree = list_json("s-src", "?all=true");

    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \"s-dst\"}");
    assert_int_equal(r->status, 202);
    const char *id = vs_json_str(r->json, "id");
    g_autofree char *loc = vs_response_header(r, "Location");
    g_autofree char *want_loc = g_strdup_printf("/tasks/%s", id);
    assert_non_null(loc);
    assert_string_equal(loc, want_loc);
    assert_string_equal(vs_json_str(r->json, "target_uri"), "/vms/s-dst");
    json_t *task = vs_wait_task(api_d, id, 120);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    if (json_object_get(task, "progress"))
        assert_int_equal(vs_json_int(task, "progress"), 100);
    json_decref(task);

    json_t *dst = api_get_json("/vms/s-dst");
    assert_string_equal(vs_json_str(dst, "state"), "shutoff");
    assert_true(json_is_true(json_object_get(dst, "persistent")));
    assert_string_not_equal(vs_json_str(dst, "uuid"), src_uuid);
    assert_int_equal(vs_json_int(dst, "memory"), 256);
    assert_int_equal(vs_json_int(dst, "cpus"), 2);
    assert_int_equal(vs_json_int(dst, "snapshots"), 3);
    assert_string_equal(vs_json_str(dst, "current-snapshot"), "C");
    const char *dst_disk = vs_json_str(json_array_get(json_object_get(dst, "disks"), 0), "path");
    assert_string_not_equal(dst_disk, src_disk);
    g_autofree char *images = g_build_filename(api_d->state_dir, "images", NULL);
    assert_true(g_str_has_prefix(dst_disk, images));
    assert_true(g_file_test(dst_disk, G_FILE_TEST_IS_REGULAR));
    g_autofree char *dst_disk_copy = g_strdup(dst_disk);
    json_decref(dst);
    /* The same tree: names, parents, descriptions, times, current. */
    json_t *dst_tree = list_json("s-dst", "?all=true");
    if (!json_equal(src_tree, dst_tree)) {
        g_autofree char *a = json_dumps(src_tree, 0), *b = json_dumps(dst_tree, 0);
        fail_msg("clone's tree differs:\n%s\n%s", a, b);
    }
    json_decref(dst_tree);
    /* Independent afterwards, both ways. */
    revert("s-dst", "B renamed ∨");
    delete_snap("s-dst", "C", false);
    rename_snap("s-dst", "A", "A on dst");
    json_t *src_now = list_json("s-src", "?all=true");
    assert_true(json_equal(src_tree, src_now));
    json_decref(src_now);
    assert_current("s-src", "C");
    revert("s-src", "A");
    api_snap("s-src", "only-src", NULL);
    assert_snap_missing("s-dst", "only-src");
    assert_current("s-dst", "B renamed ∨");
    g_autofree char *dst_all = api_snap_names("s-dst", "?all=true");
    assert_string_equal(dst_all, "A on dst|B renamed ∨");
    assert_snap_missing("s-src", "A on dst");
    json_decref(src_tree);

    /* Default names. */
    for (int n = 1; n <= 2; n++) {
        g_autoptr(VsTestResponse) d = vs_http(api_d, "POST", "/vms/s-src/clone", NULL);
        assert_int_equal(d->status, 202);
        g_autofree char *want = g_strdup_printf("/vms/s-src-clone-%d", n);
        assert_string_equal(vs_json_str(d->json, "target_uri"), want);
        wait_finished(vs_json_str(d->json, "id"));
        json_t *c = api_get_json(want);
        assert_int_equal(vs_json_int(c, "snapshots"), 4);
        json_decref(c);
    }
    /* A default name stays a valid name (at most 64 characters) even for a
     * VM whose name is long already; the clone is reachable by it. */
    GString *long_name = g_string_new(NULL);
    for (int i = 0; i < 62; i++)
        g_string_append(long_name, i % 2 ? "ю" : "L");
    json_decref(api_create_vm(long_name->str, NULL));
    g_autofree char *long_clone = api_vm_path(long_name->str, "/clone");
    for (int n = 1; n <= 2; n++) {
        g_autoptr(VsTestResponse) lc = vs_http(api_d, "POST", long_clone, NULL);
        assert_int_equal(lc->status, 202);
        const char *target = vs_json_str(lc->json, "target_uri");
        g_autofree char *clone_name = g_uri_unescape_string(target + strlen("/vms/"), NULL);
        assert_non_null(clone_name);
        assert_true(g_utf8_validate(clone_name, -1, NULL));
        assert_true(g_utf8_strlen(clone_name, -1) <= 64);
        g_autofree char *suffix = g_strdup_printf("-clone-%d", n);
        assert_true(g_str_has_suffix(clone_name, suffix));
        wait_finished(vs_json_str(lc->json, "id"));
        json_t *c = api_get_json(target);
        assert_string_equal(vs_json_str(c, "name"), clone_name);
        json_decref(c);
    }
    /* (Deleted only now: a deleted clone's default name is free again.) */
    for (int n = 1; n <= 2; n++) {
        g_autofree char *suffix = g_strdup_printf("-clone-%d", n);
        g_autofree char *base = g_utf8_substring(long_name->str, 0, 64 - (glong)strlen(suffix));
        g_autofree char *clone_name = g_strconcat(base, suffix, NULL);
        g_autofree char *path = api_vm_path(clone_name, NULL);
        g_autoptr(VsTestResponse) del = vs_http(api_d, "DELETE", path, NULL);
        assert_int_equal(del->status, 204);
    }
    api_delete_vm(long_name->str);
    g_string_free(long_name, TRUE);
    /* Two clones asking for one name: the second is refused. */
    g_autoptr(VsTestResponse) twin1 = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \"twin\"}");
    assert_int_equal(twin1->status, 202);
    g_autoptr(VsTestResponse) twin2 = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \"twin\"}");
    api_check_error(twin2, 409, "twin");
    wait_finished(vs_json_str(twin1->json, "id"));
    api_delete_vm("twin");
    /* A clone of a clone, with a name that needs encoding. */
    g_autoptr(VsTestResponse) cc =
        vs_http(api_d, "POST", "/vms/s-dst/clone", "{\"name\": \"клон <&> 1\"}");
    assert_int_equal(cc->status, 202);
    g_autofree char *cc_path = api_vm_path("клон <&> 1", NULL);
    assert_string_equal(vs_json_str(cc->json, "target_uri"), cc_path);
    wait_finished(vs_json_str(cc->json, "id"));
    g_autofree char *cc_all = api_snap_names("клон <&> 1", "?all=true");
    assert_string_equal(cc_all, "A on dst|B renamed ∨");
    assert_current("клон <&> 1", "B renamed ∨");

    /* Refusals. */
    g_autoptr(VsTestResponse) taken = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \"s-dst\"}");
    api_check_error(taken, 409, "s-dst");
    g_autoptr(VsTestResponse) bad = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \".x\"}");
    api_check_error(bad, 400, "name");
    g_autoptr(VsTestResponse) extra = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"disks\": 1}");
    api_check_error(extra, 400, "disks");
    g_autoptr(VsTestResponse) ghost = vs_http(api_d, "POST", "/vms/ghost/clone", NULL);
    api_check_error(ghost, 404, "ghost");
    g_free(api_vm_action("s-src", "start"));
    g_autoptr(VsTestResponse) running = vs_http(api_d, "POST", "/vms/s-src/clone", "{\"name\": \"s-run\"}");
    api_check_error(running, 409, "s-src");
    g_autoptr(VsTestResponse) no_run = vs_http(api_d, "GET", "/vms/s-run", NULL);
    api_check_error(no_run, 404, NULL);
    g_free(api_vm_action("s-src", "poweroff"));
    /* A VM without snapshots clones too. */
    json_decref(api_create_vm("s-bare", NULL));
    g_autoptr(VsTestResponse) bare = vs_http(api_d, "POST", "/vms/s-bare/clone", "{}");
    assert_int_equal(bare->status, 202);
    wait_finished(vs_json_str(bare->json, "id"));
    json_t *bc = api_get_json("/vms/s-bare-clone-1");
    assert_int_equal(vs_json_int(bc, "snapshots"), 0);
    assert_string_equal(vs_json_str(bc, "current-snapshot"), "");
    json_decref(bc);

    /* Deleting the clone removes its disk, not the original's. */
    api_delete_vm("s-dst");
    assert_false(g_file_test(dst_disk_copy, G_FILE_TEST_EXISTS));
    assert_true(g_file_test(src_disk, G_FILE_TEST_IS_REGULAR));
    assert_current("s-src", "only-src");
    const char *vms[] = {"s-src", "s-src-clone-1", "s-src-clone-2", "клон <&> 1", "s-bare",
                         "s-bare-clone-1"};
    for (size_t i = 0; i < G_N_ELEMENTS(vms); i++)
        api_delete_vm(vms[i]);
}

static void test_delete_vm_with_snapshots(void **state)
{
    (void)state;
    g_autofree char *names_dir = g_build_filename(api_d->state_dir, "snapnames", NULL);
    for (int keep = 0; keep <= 1; keep++) {
        json_t *vm = api_create_vm("s-gone", NULL);
        g_autofree char *disk =
            g_strdup(vs_json_str(json_array_get(json_object_get(vm, "disks"), 0), "path"));
        g_autofree char *uuid = g_strdup(vs_json_str(vm, "uuid"));
        json_decref(vm);
        api_snap("s-gone", "A", "old A");
        api_snap("s-gone", "B", NULL);
        api_snap("s-gone", "ünï", NULL);
        rename_snap("s-gone", "B", "B2");
        g_free(api_vm_action("s-gone", "start"));
        g_autoptr(VsTestResponse) del =
            vs_http(api_d, "DELETE", keep ? "/vms/s-gone?disks=keep" : "/vms/s-gone", NULL);
        assert_int_equal(del->status, 204);
        g_autoptr(VsTestResponse) gone = vs_http(api_d, "GET", "/vms/s-gone/snapshots/A", NULL);
        api_check_error(gone, 404, "s-gone");
        assert_int_equal(g_file_test(disk, G_FILE_TEST_EXISTS), keep);
        if (keep)
            check_kept_index(disk);
        /* No name map is left for the deleted VM. */
        g_autofree char *conf = g_strdup_printf("%s/%s.conf", names_dir, uuid);
        assert_false(g_file_test(conf, G_FILE_TEST_EXISTS));
        /* The same name starts from nothing. */
        vm = api_create_vm("s-gone", NULL);
        assert_int_equal(vs_json_int(vm, "snapshots"), 0);
        assert_string_equal(vs_json_str(vm, "current-snapshot"), "");
        json_decref(vm);
        g_autofree char *all = api_snap_names("s-gone", "?all=true");
        assert_string_equal(all, "");
        assert_snap_missing("s-gone", "A");
        assert_snap_missing("s-gone", "B2");
        api_snap("s-gone", "A", NULL);
        json_t *a = api_get_snap("s-gone", "A");
        assert_string_equal(vs_json_str(a, "parent"), "");
        assert_string_equal(vs_json_str(a, "description"), "");
        json_decref(a);
        api_snap("s-gone", "B", NULL); /* an internal name the old VM used */
        assert_parent("s-gone", "B", "A");
        api_delete_vm("s-gone");
        if (keep) {
            g_unlink(disk);
            g_autofree char *rm = g_strdup_printf("rm -rf '%s.snapshots'", disk);
            assert_int_equal(system(rm), 0);
        }
    }
}

/* A delete with ?disks=keep that libvirt refuses (the power-off, once)
 * leaves nothing beside the disk; the next, with a directory of that name
 * already there (an earlier delete's), writes its own beside it. */
static void test_keep_refused_and_again(void **state)
{
    (void)state;
    VsTestDaemon *shared = own_daemon("VIRTSNAP_FAIL", "destroy");
    json_t *vm = api_create_vm("k-again", NULL);
    g_autofree char *disk =
        g_strdup(vs_json_str(json_array_get(json_object_get(vm, "disks"), 0), "path"));
    json_decref(vm);
    api_snap("k-again", "one", "the first");
    g_free(api_vm_action("k-again", "start"));
    g_autofree char *dir = g_strdup_printf("%s.snapshots", disk);
    g_autoptr(VsTestResponse) refused = vs_http(api_d, "DELETE", "/vms/k-again?disks=keep", NULL);
    api_check_error(refused, 500, "cannot power off");
    assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    json_t *still = api_get_json("/vms/k-again");
    assert_int_equal(vs_json_int(still, "snapshots"), 1);
    json_decref(still);
    assert_int_equal(g_mkdir(dir, 0700), 0);
    g_autoptr(VsTestResponse) del = vs_http(api_d, "DELETE", "/vms/k-again?disks=keep", NULL);
    assert_int_equal(del->status, 204);
    g_autofree char *index = g_strdup_printf("%s.snapshots-2/snapshots.json", disk);
    json_error_t jerr;
    json_t *kept = json_load_file(index, 0, &jerr);
    if (!kept)
        fail_msg("%s: %s", index, jerr.text);
    json_t *first = json_array_get(json_object_get(kept, "snapshots"), 0);
    assert_string_equal(vs_json_str(first, "name"), "one");
    assert_string_equal(vs_json_str(first, "description"), "the first");
    json_decref(kept);
    g_autofree char *rm = g_strdup_printf("rm -rf '%s' '%s' '%s.snapshots-2'", disk, dir, disk);
    assert_int_equal(system(rm), 0);
    own_daemon_end(shared);
}

/* ---- renames that survive a restart (test-driver node file) ------------- */

static char *file_tmp;

static int setup_file(void **state)
{
    (void)state;
    file_tmp = g_dir_make_tmp("virtsnap-node-XXXXXX", NULL);
#define KEEPER_DEF                                                                          \
    "<name>keeper</name><uuid>5d0c1f8e-1b2a-4c3d-8e9f-0a1b2c3d4e5f</uuid>"                  \
    "<memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os>"                \
    "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"           \
    "<source file='/var/lib/nowhere/keeper.qcow2'/><target dev='vda' bus='virtio'/></disk>" \
    "</devices>"
#define KEEPER_SNAP_DOMAIN "<domain type='test'>" KEEPER_DEF "</domain>"
    /* Three snapshots (s1 → s2, s1 → s3; s2 current) that the test driver
     * loads afresh at every daemon start. */
    const char *domain =
        "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        KEEPER_DEF "<test:runstate>5</test:runstate>"
        "<test:domainsnapshot><name>s1</name><state>shutoff</state>" KEEPER_SNAP_DOMAIN
        "<description>first</description><creationTime>1700000000</creationTime><active>0</active>"
        "</test:domainsnapshot>"
        "<test:domainsnapshot><name>s2</name><state>shutoff</state>" KEEPER_SNAP_DOMAIN
        "<description>second</description><parent><name>s1</name></parent>"
        "<creationTime>1700000100</creationTime><active>1</active>"
        "</test:domainsnapshot>"
        "<test:domainsnapshot><name>s3</name><state>shutoff</state>" KEEPER_SNAP_DOMAIN
        "<description>third</description><parent><name>s1</name></parent>"
        "<creationTime>1700000200</creationTime><active>0</active></test:domainsnapshot>"
        "</domain>";
    g_autofree char *uri = api_test_driver_uri(file_tmp, domain);
    api_d = vs_test_daemon_start(uri, NULL);
    return 0;
}

static int teardown_file(void **state)
{
    (void)state;
    vs_test_daemon_free(api_d);
    api_d = NULL;
    g_autofree char *node = g_build_filename(file_tmp, "node.xml", NULL);
    g_unlink(node);
    g_rmdir(file_tmp);
    return 0;
}

static void check_renamed_tree(void)
{
    g_autofree char *all = api_snap_names("keeper", "?all=true");
    assert_string_equal(all, "base <1>|s1|drei ω");
    assert_snap_missing("keeper", "s2");
    assert_snap_missing("keeper", "s3");
    json_t *s = api_get_snap("keeper", "s1");
    assert_string_equal(vs_json_str(s, "description"), "second");
    assert_string_equal(vs_json_str(s, "parent"), "base <1>");
    assert_int_equal(vs_json_int(s, "created"), 1700000100);
    assert_true(json_is_true(json_object_get(s, "current")));
    json_decref(s);
    json_t *b = api_get_snap("keeper", "base <1>");
    assert_string_equal(vs_json_str(b, "description"), "first");
    assert_int_equal(vs_json_int(b, "children"), 2);
    json_decref(b);
    g_autofree char *kids = api_snap_names("keeper", "?parent=base%20%3C1%3E");
    assert_string_equal(kids, "s1|drei ω");
    assert_current("keeper", "s1");
}

/* Starts a create of snapshot SNAP of VM, waits for it; the task's id. */
static char *snap_task(const char *vm, const char *snap)
{
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\"}", snap);
    g_autofree char *path = api_vm_path(vm, "/snapshots");
    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", path, body);
    assert_int_equal(r->status, 202);
    char *id = g_strdup(vs_json_str(r->json, "id"));
    json_t *task = vs_wait_task(api_d, id, 60);
    assert_string_equal(vs_json_str(task, "status"), "finished");
    json_decref(task);
    return id;
}

static void assert_task_target(const char *id, const char *uri)
{
    g_autofree char *path = g_strdup_printf("/tasks/%s", id);
    json_t *task = api_get_json(path);
    assert_string_equal(vs_json_str(task, "target_uri"), uri);
    json_decref(task);
    /* The list says the same. */
    json_t *all = api_get_json("/tasks");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *t = json_array_get(all, i);
        if (!strcmp(vs_json_str(t, "id"), id)) {
            assert_string_equal(vs_json_str(t, "target_uri"), uri);
            seen = true;
        }
    }
    json_decref(all);
    assert_true(seen);
}

/* A task's target_uri names its snapshot and VM as they are now: after a
 * snapshot rename, a new snapshot under the old name (a task of its own),
 * a VM rename, and for a clone's task a rename of the clone. Before, each
 * kept the URI it was made with, which led to nothing, or to the new
 * snapshot that took the old name. */
static void test_task_target_follows_renames(void **state)
{
    (void)state;
    json_decref(api_create_vm("tt", NULL));
    g_autofree char *first = snap_task("tt", "x1");
    assert_task_target(first, "/vms/tt/snapshots/x1");
    rename_snap("tt", "x1", "x2 ω");
    assert_task_target(first, "/vms/tt/snapshots/x2%20%CF%89");
    g_autofree char *second = snap_task("tt", "x1");
    assert_task_target(second, "/vms/tt/snapshots/x1");
    assert_task_target(first, "/vms/tt/snapshots/x2%20%CF%89");
    g_autoptr(VsTestResponse) renamed = vs_http(api_d, "PUT", "/vms/tt", "{\"name\": \"tt b\"}");
    assert_int_equal(renamed->status, 200);
    assert_task_target(first, "/vms/tt%20b/snapshots/x2%20%CF%89");
    assert_task_target(second, "/vms/tt%20b/snapshots/x1");

    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms/tt%20b/clone", "{\"name\": \"tt-c\"}");
    assert_int_equal(r->status, 202);
    g_autofree char *clone = g_strdup(vs_json_str(r->json, "id"));
    json_decref(vs_wait_task(api_d, clone, 120));
    assert_task_target(clone, "/vms/tt-c");
    g_autoptr(VsTestResponse) moved = vs_http(api_d, "PUT", "/vms/tt-c", "{\"name\": \"tt-d\"}");
    assert_int_equal(moved->status, 200);
    assert_task_target(clone, "/vms/tt-d");
    /* Gone: the name it was made with. */
    api_delete_vm("tt-d");
    assert_task_target(clone, "/vms/tt-c");
}

static void test_rename_survives_restart(void **state)
{
    (void)state;
    g_autofree char *initial = api_snap_names("keeper", "?all=true");
    assert_string_equal(initial, "s1|s2|s3");
    assert_current("keeper", "s2");
    /* s1 → "base <1>", then s2 takes the name s1, and s3 a non-ASCII one. */
    rename_snap("keeper", "s1", "base <1>");
    rename_snap("keeper", "s2", "s1");
    rename_snap("keeper", "s3", "drei ω");
    check_renamed_tree();
    vs_test_daemon_restart(api_d);
    check_renamed_tree();
    /* Revert, create and delete all work on the renamed tree. */
    revert("keeper", "base <1>");
    assert_current("keeper", "base <1>");
    api_snap("keeper", "s2", "new s2"); /* a libvirt name that is in use */
    assert_parent("keeper", "s2", "base <1>");
    json_t *n = api_get_snap("keeper", "s2");
    assert_string_equal(vs_json_str(n, "description"), "new s2");
    json_decref(n);
    delete_snap("keeper", "s1", false);
    g_autofree char *all = api_snap_names("keeper", "?all=true");
    assert_string_equal(all, "base <1>|drei ω|s2");
    /* Its original name can be given back. */
    rename_snap("keeper", "drei ω", "s3");
    json_t *s3 = api_get_snap("keeper", "s3");
    assert_string_equal(vs_json_str(s3, "description"), "third");
    json_decref(s3);
    assert_snap_missing("keeper", "drei ω");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_task),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_default_name),
        cmocka_unit_test(test_default_names_at_once),
        cmocka_unit_test(test_named_at_once),
        cmocka_unit_test(test_special_names),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_get_one),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_delete_subtree),
        cmocka_unit_test(test_revert),
        cmocka_unit_test(test_serialized_creates),
        cmocka_unit_test(test_vm_rename_keeps_tree),
        cmocka_unit_test(test_rename_tree_refused),
        cmocka_unit_test(test_rename_tree_refused_for_good),
        cmocka_unit_test(test_keep_refused_and_again),
        cmocka_unit_test(test_create_during_rename),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_delete_vm_with_snapshots),
        cmocka_unit_test(test_task_target_follows_renames),
    };
    const struct CMUnitTest file_tests[] = {
        cmocka_unit_test(test_rename_survives_restart),
    };
    int failed = cmocka_run_group_tests_name("snapshots", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("snapshots-restart", file_tests, setup_file,
                                          teardown_file);
    return vs_test_exit_status(failed);
}
