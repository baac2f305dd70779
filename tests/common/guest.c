/* guest.c: helpers for tests on real VMs (see guest.h): the guest build,
 * serial-log COUNT parsing and polling, file and tool wrappers, and VM /
 * snapshot REST helpers that fail the running cmocka test. */
#include "guest.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#ifndef VS_SOURCE_DIR
#error "VS_SOURCE_DIR must be defined"
#endif

/* ---- the guest and the test program ------------------------------------ */

bool vs_guest_build(const char *who, char **workdir, char **guest)
{
    g_autofree char *tmpl = g_strdup_printf("virtsnap-%s-XXXXXX", who);
    *workdir = g_dir_make_tmp(tmpl, NULL);
    assert_non_null(*workdir);
    const char *build[] = {"sh", VS_SOURCE_DIR "/tests/e2e/build-guest.sh", *workdir, NULL};
    g_autofree char *out = NULL;
    if (vs_run(build, &out) != 0) {
        fprintf(stderr, "%s: build-guest.sh failed:\n%s\n", who, out);
        return false;
    }
    *guest = g_build_filename(*workdir, "guest.qcow2", NULL);
    return true;
}

void vs_guest_delete_all_vms(VsTestDaemon *d, const char *who)
{
    g_autoptr(VsTestResponse) list = vs_http(d, "GET", "/vms", NULL);
    size_t i;
    json_t *vm;
    json_array_foreach(list->json, i, vm) {
        g_autofree char *enc = vs_enc(vs_json_str(vm, "name"));
        g_autofree char *path = g_strdup_printf("/vms/%s", enc);
        g_autoptr(VsTestResponse) r = vs_http(d, "DELETE", path, NULL);
        if (r->status != 204) {
            fprintf(stderr, "%s: clean-up DELETE %s answered %ld: %s\n", who, path, r->status,
                    r->body);
            vs_test_cleanup_failed();
        }
    }
}

int vs_guest_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown)
{
    gint64 t0 = g_get_monotonic_time();
    int failed = _cmocka_run_group_tests(name, tests, n, setup, teardown);
    printf("# %s: %d failed, %.1f s wall time\n", name, failed,
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    return failed;
}

void vs_print_log_tail(const char *path, size_t max)
{
    g_autofree char *log = path ? vs_read_file(path) : g_strdup("");
    size_t len = strlen(log);
    const char *tail = len > max ? log + len - max : log;
    fprintf(stderr, "---- daemon log (tail) ----\n%s---- end of daemon log ----\n", tail);
}

/* ---- the serial log ---------------------------------------------------- */

GArray *vs_guest_counts(const char *text, gsize offset)
{
    GArray *counts = g_array_new(FALSE, FALSE, sizeof(long));
    size_t len = strlen(text);
    g_auto(GStrv) lines = g_strsplit(text + MIN(offset, len), "\n", -1);
    /* The last piece may be a line still being written: skip it. */
    for (char **l = lines; *l && l[1]; l++) {
        const char *p = strstr(*l, "COUNT ");
        if (!p)
            continue;
        char *end = NULL;
        long v = strtol(p + 6, &end, 10);
        if (end != p + 6 && (*end == '\r' || *end == '\0'))
            g_array_append_val(counts, v);
    }
    return counts;
}

long vs_guest_last_count(const char *log)
{
    g_autofree char *text = vs_read_file(log);
    g_autoptr(GArray) counts = vs_guest_counts(text, 0);
    return counts->len ? g_array_index(counts, long, counts->len - 1) : 0;
}

long vs_guest_wait_count(const char *log, gsize offset, long min, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = vs_read_file(log);
        g_autoptr(GArray) counts = vs_guest_counts(text, offset);
        for (guint i = 0; i < counts->len; i++)
            if (g_array_index(counts, long, i) >= min)
                return g_array_index(counts, long, counts->len - 1);
        if (g_get_monotonic_time() > deadline) {
            size_t len = strlen(text);
            fail_msg("%s: no COUNT >= %ld within %d s; log ends with:\n%s", log, min, timeout_s,
                     len > 300 ? text + len - 300 : text);
        }
        g_usleep(50000);
    }
}

long vs_guest_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = vs_read_file(log);
        g_autoptr(GArray) counts = vs_guest_counts(text, offset);
        for (guint i = 0; i + 2 < counts->len; i++) {
            long v = g_array_index(counts, long, i);
            if (v >= lo && v <= hi && g_array_index(counts, long, i + 1) == v + 1 &&
                g_array_index(counts, long, i + 2) == v + 2)
                return v;
        }
        if (g_get_monotonic_time() > deadline) {
            g_autoptr(GString) seen = g_string_new(NULL);
            for (guint i = 0; i < counts->len; i++)
                g_string_append_printf(seen, " %ld", g_array_index(counts, long, i));
            fail_msg("%s: the counter did not resume in [%ld, %ld] within %d s; counts seen:%s",
                     log, lo, hi, timeout_s, seen->str);
        }
        g_usleep(50000);
    }
}

void vs_guest_wait_counting(const char *log, gsize offset, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = vs_read_file(log);
        g_autoptr(GArray) counts = vs_guest_counts(text, offset);
        if (counts->len >= 2 &&
            g_array_index(counts, long, counts->len - 1) > g_array_index(counts, long, 0))
            return;
        if (g_get_monotonic_time() > deadline)
            fail_msg("%s: the guest's counter does not go on (%u new COUNT lines in %d s)", log,
                     counts->len, timeout_s);
        g_usleep(50000);
    }
}

int vs_guest_banners(const char *log, gsize offset)
{
    g_autofree char *text = vs_read_file(log);
    int n = 0;
    if (offset > strlen(text))
        return 0;
    for (const char *p = text + offset; (p = strstr(p, "VIRTSNAP-GUEST BOOT")); p++)
        n++;
    return n;
}

/* ---- files, directories and tools -------------------------------------- */

char *vs_read_file(const char *path)
{
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

gsize vs_file_size(const char *path)
{
    GStatBuf st;
    return g_stat(path, &st) == 0 ? (gsize)st.st_size : 0;
}

char *vs_state_path(VsTestDaemon *d, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    g_autoptr(GString) path = g_string_new(d->state_dir);
    for (const char *part = first; part; part = va_arg(ap, const char *)) {
        g_string_append_c(path, '/');
        g_string_append(path, part);
    }
    va_end(ap);
    return g_strdup(path->str);
}

int vs_dir_count(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    int n = 0;
    if (!dir)
        return 0;
    while (g_dir_read_name(dir))
        n++;
    g_dir_close(dir);
    return n;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *vs_join_sorted(GPtrArray *items)
{
    g_ptr_array_sort(items, cmp_str);
    g_ptr_array_add(items, NULL);
    char *out = g_strjoinv(",", (char **)items->pdata);
    g_ptr_array_remove_index(items, items->len - 1);
    return out;
}

char *vs_dir_list(const char *path)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_strdup(name));
    if (dir)
        g_dir_close(dir);
    return vs_join_sorted(names);
}

int vs_run(const char *const *argv, char **out)
{
    g_autofree char *stdout_text = NULL, *stderr_text = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &stdout_text,
                      &stderr_text, &status, &error)) {
        if (out)
            *out = g_strdup(error->message);
        return -1;
    }
    if (out)
        *out = g_strconcat(stdout_text ? stdout_text : "", stderr_text ? stderr_text : "", NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool vs_qemu_io(const char *image, const char *cmd)
{
    const char *argv[] = {"qemu-io", "-c", cmd, image, NULL};
    g_autofree char *out = NULL;
    int rc = vs_run(argv, &out);
    bool ok = rc == 0 && !strstr(out, "Pattern verification failed") && !strstr(out, "failed");
    printf("# qemu-io -c '%s' %s: exit %d%s\n", cmd, image, rc, ok ? "" : " (failed)");
    if (!ok)
        printf("#   %s\n", g_strstrip(out));
    return ok;
}

char *vs_qemu_img_snapshots(const char *image)
{
    const char *argv[] = {"qemu-img", "snapshot", "-l", "-U", image, NULL};
    char *out = NULL;
    int rc = vs_run(argv, &out);
    if (rc != 0)
        fail_msg("qemu-img snapshot -l -U %s: exit %d: %s", image, rc, out);
    return out;
}

char *vs_qemu_img_tags(const char *image)
{
    g_autofree char *out = vs_qemu_img_snapshots(image);
    /* "Snapshot list:", a header starting with "ID", then "<id> <tag> ...". */
    g_autoptr(GPtrArray) tags = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    bool rows = false;
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) cols = g_strsplit_set(g_strstrip(*l), " \t", -1);
        g_autoptr(GPtrArray) words = g_ptr_array_new();
        for (char **c = cols; *c; c++)
            if (**c)
                g_ptr_array_add(words, *c);
        if (words->len >= 2 && !strcmp(g_ptr_array_index(words, 0), "ID")) {
            rows = true;
            continue;
        }
        if (rows && words->len >= 2)
            g_ptr_array_add(tags, g_strdup(g_ptr_array_index(words, 1)));
    }
    return vs_join_sorted(tags);
}

char *vs_sha256(const char *path)
{
    gsize len = 0;
    g_autofree char *data = NULL;
    if (!g_file_get_contents(path, &data, &len, NULL))
        fail_msg("cannot read %s", path);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

int vs_guest_qemu_count(VsTestDaemon *d, const char *vm)
{
    g_autoptr(GArray) pids = vs_qemu_pids(d->state_dir, vm);
    return (int)pids->len;
}

/* ---- REST -------------------------------------------------------------- */

VsTestResponse *vs_req(VsTestDaemon *d, const char *method, const char *body,
                       const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    return vs_http(d, method, path, body);
}

VsTestResponse *vs_expect(VsTestDaemon *d, long status, const char *method, const char *body,
                          const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    VsTestResponse *r = vs_http(d, method, path, body);
    if (r->status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r->status, r->body);
    return r;
}

const char *vs_guest_task_accepted(VsTestResponse *r)
{
    if (r->status != 202)
        fail_msg("expected 202 with a task, got %ld: %s", r->status, r->body);
    g_autofree char *location = vs_response_header(r, "Location");
    g_autofree char *want = g_strdup_printf("/tasks/%s", vs_json_str(r->json, "id"));
    assert_non_null(location);
    assert_string_equal(location, want);
    return vs_json_str(r->json, "id");
}

json_t *vs_guest_task_ok(VsTestDaemon *d, VsTestResponse *r, int timeout_s)
{
    json_t *task = vs_wait_task(d, vs_guest_task_accepted(r), timeout_s);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("task %s ended %s: %s", vs_json_str(task, "id"), vs_json_str(task, "status"),
                 vs_json_str(task, "message"));
    return task;
}

char *vs_names(json_t *array)
{
    g_autoptr(GString) s = g_string_new(NULL);
    size_t i;
    json_t *item;
    assert_true(json_is_array(array));
    json_array_foreach(array, i, item) {
        if (i)
            g_string_append_c(s, ',');
        g_string_append(s, vs_json_str(item, "name"));
    }
    return g_strdup(s->str);
}

json_t *vs_guest_vm_create(VsTestDaemon *d, const char *name, const char *image)
{
    json_t *req = json_pack("{s:s, s:i, s:s}", "name", name, "memory", 64, "image", image);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autoptr(VsTestResponse) r = vs_expect(d, 201, "POST", body, "/vms");
    assert_string_equal(vs_json_str(r->json, "name"), name);
    return json_incref(r->json);
}

json_t *vs_guest_vm_get(VsTestDaemon *d, const char *name)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = vs_expect(d, 200, "GET", NULL, "/vms/%s", enc);
    return json_incref(r->json);
}

bool vs_guest_vm_exists(VsTestDaemon *d, const char *name)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = vs_req(d, "GET", NULL, "/vms/%s", enc);
    if (r->status != 200 && r->status != 404)
        fail_msg("GET /vms/%s answered %ld: %s", enc, r->status, r->body);
    return r->status == 200;
}

void vs_guest_vm_action(VsTestDaemon *d, const char *name, const char *action,
                        const char *want)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = vs_expect(d, 200, "POST", NULL, "/vms/%s/%s", enc, action);
    assert_string_equal(vs_json_str(r->json, "state"), want);
}

char *vs_guest_vm_image(VsTestDaemon *d, const char *name)
{
    json_t *vm = vs_guest_vm_get(d, name);
    json_t *disk = json_array_get(json_object_get(vm, "disks"), 0);
    assert_non_null(disk);
    char *path = g_strdup(vs_json_str(disk, "path"));
    json_decref(vm);
    assert_non_null(path);
    return path;
}

/* {"name": NAME} with "live": LIVE when LIVE is "true" or "false". */
static char *snapshot_body(const char *name, const char *live)
{
    json_t *req = json_pack("{s:s}", "name", name);
    if (live)
        json_object_set_new(req, "live", json_boolean(!strcmp(live, "true")));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

void vs_guest_snapshot_kind(VsTestDaemon *d, const char *vm, const char *name, const char *live)
{
    g_autofree char *body = snapshot_body(name, live);
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r = vs_req(d, "POST", body, "/vms/%s/snapshots", enc);
    json_t *task = vs_guest_task_ok(d, r, 120);
    g_autofree char *snap_enc = vs_enc(name);
    g_autofree char *target = g_strdup_printf("/vms/%s/snapshots/%s", enc, snap_enc);
    assert_string_equal(vs_json_str(task, "target_uri"), target);
    json_decref(task);
}

void vs_guest_snapshot(VsTestDaemon *d, const char *vm, const char *name)
{
    vs_guest_snapshot_kind(d, vm, name, NULL);
}

char *vs_guest_snapshot_start(VsTestDaemon *d, const char *vm, const char *name)
{
    g_autofree char *body = snapshot_body(name, NULL);
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r = vs_expect(d, 202, "POST", body, "/vms/%s/snapshots", enc);
    return g_strdup(vs_json_str(r->json, "id"));
}

json_t *vs_guest_snapshot_get(VsTestDaemon *d, const char *vm, const char *name)
{
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r =
        vs_expect(d, 200, "GET", NULL, "/vms/%s/snapshots/%s", vm_enc, enc);
    assert_string_equal(vs_json_str(r->json, "name"), name);
    return json_incref(r->json);
}

json_t *vs_guest_snapshots_all(VsTestDaemon *d, const char *vm)
{
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r =
        vs_expect(d, 200, "GET", NULL, "/vms/%s/snapshots?all=true", enc);
    assert_true(json_is_array(r->json));
    return json_incref(r->json);
}

void vs_guest_revert(VsTestDaemon *d, const char *vm, const char *snap)
{
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *enc = vs_enc(snap);
    g_autoptr(VsTestResponse) r =
        vs_expect(d, 200, "POST", NULL, "/vms/%s/snapshots/%s/revert", vm_enc, enc);
    assert_string_equal(vs_json_str(r->json, "name"), snap);
    assert_true(json_is_true(json_object_get(r->json, "current")));
}
