/* crash.c: shared machinery of the crash-safety programs (see crash.h). */
#include "crash.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VS_SOURCE_DIR
#error "VS_SOURCE_DIR must be defined"
#endif

Crash crash;

static char *log_copy;      /* the daemon's log path (outlives the daemon struct) */
static gsize armed_offset;  /* log size when the last fault was armed */
static int failures;

/* ---- tools ------------------------------------------------------------- */

static int run(const char *const *argv, char **out)
{
    g_autofree char *so = NULL, *se = NULL;
    int status = 0;
    g_autoptr(GError) error = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &so, &se,
                      &status, &error)) {
        if (out)
            *out = g_strdup(error->message);
        return -1;
    }
    if (out)
        *out = g_strconcat(so ? so : "", se ? se : "", NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *crash_read_file(const char *path)
{
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

gsize crash_file_size(const char *path)
{
    GStatBuf st;
    return g_stat(path, &st) == 0 ? (gsize)st.st_size : 0;
}

static void dump_log(void)
{
    g_autofree char *log = log_copy ? crash_read_file(log_copy) : g_strdup("");
    size_t len = strlen(log);
    const char *tail = len > 8000 ? log + len - 8000 : log;
    fprintf(stderr, "---- daemon log (tail) ----\n%s---- end of daemon log ----\n", tail);
}

/* ---- setup / teardown -------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    g_unsetenv("VIRTSNAP_FAULT");
    crash.workdir = g_dir_make_tmp("virtsnap-crash-XXXXXX", NULL);
    assert_non_null(crash.workdir);
    const char *build[] = {"sh", VS_SOURCE_DIR "/tests/e2e/build-guest.sh", crash.workdir, NULL};
    g_autofree char *out = NULL;
    if (run(build, &out) != 0) {
        fprintf(stderr, "crash: build-guest.sh failed:\n%s\n", out);
        return -1;
    }
    crash.guest = g_build_filename(crash.workdir, "guest.qcow2", NULL);
    gint64 t0 = g_get_monotonic_time();
    crash.d = vs_test_daemon_start(NULL, NULL);
    log_copy = g_strdup(crash.d->log_path);
    printf("# daemon up in %.1f s (state %s, log %s)\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, crash.d->state_dir, log_copy);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!crash.d)
        return 0;
    g_unsetenv("VIRTSNAP_FAULT");
    if (!crash.d->pid)
        vs_test_daemon_restart(crash.d);
    g_autoptr(VsTestResponse) list = vs_http(crash.d, "GET", "/vms", NULL);
    size_t i;
    json_t *vm;
    json_array_foreach(list->json, i, vm) {
        g_autofree char *enc = vs_enc(vs_json_str(vm, "name"));
        g_autofree char *path = g_strdup_printf("/vms/%s", enc);
        g_autoptr(VsTestResponse) r = vs_http(crash.d, "DELETE", path, NULL);
        if (r->status != 204)
            fprintf(stderr, "crash: clean-up DELETE %s answered %ld: %s\n", path, r->status,
                    r->body);
    }
    vs_test_daemon_free(crash.d); /* also kills QEMU processes left behind */
    crash.d = NULL;
    const char *rm[] = {"rm", "-rf", crash.workdir, NULL};
    run(rm, NULL);
    return 0;
}

int crash_test_setup(void **state)
{
    (void)state;
    g_unsetenv("VIRTSNAP_FAULT");
    int status;
    if (crash.d && crash.d->pid && waitpid(crash.d->pid, &status, WNOHANG) == crash.d->pid)
        crash.d->pid = 0; /* died and was not reaped yet */
    if (crash.d && !crash.d->pid)
        vs_test_daemon_restart(crash.d);
    return 0;
}

int crash_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
    gint64 t0 = g_get_monotonic_time();
    failures = _cmocka_run_group_tests(name, tests, n, setup, teardown);
    printf("# %s: %d failed, %.1f s wall time\n", name, failures,
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    if (failures)
        dump_log();
    else if (log_copy)
        g_unlink(log_copy);
    return failures;
}

/* ---- faults ------------------------------------------------------------ */

void crash_arm(const char *point)
{
    g_setenv("VIRTSNAP_FAULT", point, TRUE);
    armed_offset = crash_file_size(log_copy);
    vs_test_daemon_restart(crash.d);
    g_unsetenv("VIRTSNAP_FAULT"); /* the daemon has it; nothing else must */
}

void crash_wait_killed(const char *point)
{
    assert_true(crash.d->pid > 0);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1200 && got == 0; i++) {
        got = waitpid(crash.d->pid, &status, WNOHANG);
        if (got == 0)
            g_usleep(100000);
    }
    if (got != crash.d->pid)
        fail_msg("virtsnapd (pid %d) did not die at '%s'", (int)crash.d->pid,
                 point ? point : "(kill)");
    crash.d->pid = 0;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("virtsnapd ended with status 0x%x, not SIGKILL", status);
    if (point) {
        g_autofree char *log = crash_read_file(log_copy);
        g_autofree char *want = g_strdup_printf("fault injection: killing virtsnapd at '%s'", point);
        if (strlen(log) < armed_offset || !strstr(log + armed_offset, want))
            fail_msg("the daemon log does not say it died at '%s'", point);
    }
    printf("# virtsnapd killed%s%s%s\n", point ? " at '" : "", point ? point : "",
           point ? "'" : "");
}

void crash_kill_now(void)
{
    assert_true(crash.d->pid > 0);
    kill(crash.d->pid, SIGKILL);
    crash_wait_killed(NULL);
}

void crash_restart_clean(void)
{
    g_unsetenv("VIRTSNAP_FAULT");
    gsize offset = crash_file_size(log_copy);
    gint64 t0 = g_get_monotonic_time();
    vs_test_daemon_restart(crash.d);
    g_autofree char *log = crash_read_file(log_copy);
    const char *rec = strlen(log) >= offset ? strstr(log + offset, "recovered ") : NULL;
    g_autofree char *line = rec ? g_strndup(rec, strcspn(rec, "\n")) : g_strdup("nothing recovered");
    printf("# restarted in %.1f s: %s\n", (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC,
           line);
    /* What recovery did, as the daemon tells it. */
    for (const char *p = strlen(log) >= offset ? log + offset : ""; (p = strstr(p, "recovery: "));) {
        size_t len = strcspn(p, "\n");
        printf("#   %.*s\n", (int)len, p);
        p += len;
    }
}

void crash_check_journal_empty(void)
{
    g_autofree char *journal = crash_state_path("journal", NULL);
    g_autofree char *left = crash_dir_list(journal);
    if (*left)
        fail_msg("STATE/journal is not empty: %s", left);
}

void crash_check_task_interrupted(const char *id)
{
    g_autoptr(VsTestResponse) r = crash_expect(200, "GET", NULL, "/tasks/%s", id);
    const char *status = vs_json_str(r->json, "status");
    const char *message = vs_json_str(r->json, "message");
    if (g_strcmp0(status, "failed") != 0 || !message || !g_str_has_prefix(message, "interrupted"))
        fail_msg("task %s should be failed with 'interrupted…': %s", id, r->body);
    /* It is in the list too, not only reachable by id. */
    g_autoptr(VsTestResponse) all = crash_expect(200, "GET", NULL, "/tasks");
    size_t i;
    json_t *task;
    bool listed = false;
    json_array_foreach(all->json, i, task) {
        if (!g_strcmp0(vs_json_str(task, "id"), id)) {
            listed = !g_strcmp0(vs_json_str(task, "status"), "failed");
        }
    }
    if (!listed)
        fail_msg("task %s is not listed as failed in GET /tasks", id);
}

/* ---- REST -------------------------------------------------------------- */

VsTestResponse *crash_req(const char *method, const char *body, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    return vs_http(crash.d, method, path, body);
}

VsTestResponse *crash_expect(long status, const char *method, const char *body,
                             const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    VsTestResponse *r = vs_http(crash.d, method, path, body);
    if (r->status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r->status, r->body);
    return r;
}

json_t *crash_vm_create(const char *name)
{
    json_t *req = json_pack("{s:s, s:i, s:s}", "name", name, "memory", 64, "image", crash.guest);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autoptr(VsTestResponse) r = crash_expect(201, "POST", body, "/vms");
    assert_string_equal(vs_json_str(r->json, "name"), name);
    return json_incref(r->json);
}

json_t *crash_vm_get(const char *name)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = crash_expect(200, "GET", NULL, "/vms/%s", enc);
    return json_incref(r->json);
}

bool crash_vm_exists(const char *name)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = crash_req("GET", NULL, "/vms/%s", enc);
    if (r->status != 200 && r->status != 404)
        fail_msg("GET /vms/%s answered %ld: %s", enc, r->status, r->body);
    return r->status == 200;
}

void crash_vm_action(const char *name, const char *action, const char *want)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = crash_expect(200, "POST", NULL, "/vms/%s/%s", enc, action);
    assert_string_equal(vs_json_str(r->json, "state"), want);
}

char *crash_vm_image(const char *name)
{
    json_t *vm = crash_vm_get(name);
    json_t *disk = json_array_get(json_object_get(vm, "disks"), 0);
    assert_non_null(disk);
    char *path = g_strdup(vs_json_str(disk, "path"));
    json_decref(vm);
    assert_non_null(path);
    return path;
}

char *crash_snapshot_start(const char *vm, const char *name)
{
    json_t *req = json_pack("{s:s}", "name", name);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r = crash_expect(202, "POST", body, "/vms/%s/snapshots", enc);
    return g_strdup(vs_json_str(r->json, "id"));
}

void crash_snapshot(const char *vm, const char *name)
{
    g_autofree char *id = crash_snapshot_start(vm, name);
    json_t *task = vs_wait_task(crash.d, id, 120);
    if (g_strcmp0(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("snapshot '%s' of '%s': task ended %s: %s", name, vm,
                 vs_json_str(task, "status"), vs_json_str(task, "message"));
    json_decref(task);
}

void crash_revert(const char *vm, const char *snap)
{
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *enc = vs_enc(snap);
    g_autoptr(VsTestResponse) r =
        crash_expect(200, "POST", NULL, "/vms/%s/snapshots/%s/revert", vm_enc, enc);
    assert_string_equal(vs_json_str(r->json, "name"), snap);
    assert_true(json_is_true(json_object_get(r->json, "current")));
}

json_t *crash_snapshots_all(const char *vm)
{
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r = crash_expect(200, "GET", NULL, "/vms/%s/snapshots?all=true", enc);
    assert_true(json_is_array(r->json));
    return json_incref(r->json);
}

char *crash_names(json_t *array)
{
    g_autoptr(GString) s = g_string_new(NULL);
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) {
        if (i)
            g_string_append_c(s, ',');
        g_string_append(s, vs_json_str(item, "name"));
    }
    return g_strdup(s->str);
}

/* ---- files and processes ----------------------------------------------- */

char *crash_state_path(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    g_autoptr(GString) path = g_string_new(crash.d->state_dir);
    for (const char *part = first; part; part = va_arg(ap, const char *)) {
        g_string_append_c(path, '/');
        g_string_append(path, part);
    }
    va_end(ap);
    return g_strdup(path->str);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_sorted(GPtrArray *items)
{
    g_ptr_array_sort(items, cmp_str);
    g_ptr_array_add(items, NULL);
    char *out = g_strjoinv(",", (char **)items->pdata);
    g_ptr_array_remove_index(items, items->len - 1);
    return out;
}

char *crash_dir_list(const char *path)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_strdup(name));
    if (dir)
        g_dir_close(dir);
    return join_sorted(names);
}

char *crash_image_tags(const char *image)
{
    const char *argv[] = {"qemu-img", "snapshot", "-U", "-l", image, NULL};
    g_autofree char *out = NULL;
    int rc = run(argv, &out);
    if (rc != 0)
        fail_msg("qemu-img snapshot -U -l %s: exit %d: %s", image, rc, out);
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
    return join_sorted(tags);
}

int crash_qemu_count(const char *vm)
{
    g_autofree char *guest = g_strdup_printf("guest=%s,", vm);
    GDir *proc = g_dir_open("/proc", 0, NULL);
    const char *name;
    int n = 0;
    while (proc && (name = g_dir_read_name(proc))) {
        if (!g_ascii_isdigit(name[0]))
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", name);
        g_autofree char *cmdline = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
            continue;
        for (gsize i = 0; i + 1 < len; i++)
            if (cmdline[i] == '\0')
                cmdline[i] = ' ';
        if (strstr(cmdline, "qemu-system") && strstr(cmdline, crash.d->state_dir) &&
            strstr(cmdline, guest))
            n++;
    }
    if (proc)
        g_dir_close(proc);
    return n;
}

char *crash_sha256(const char *path)
{
    gsize len = 0;
    g_autofree char *data = NULL;
    if (!g_file_get_contents(path, &data, &len, NULL))
        fail_msg("cannot read %s", path);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

/* ---- the guest's serial log -------------------------------------------- */

/* The COUNT values in TEXT from byte OFFSET on (the last, maybe partial,
 * line skipped). */
static GArray *counts(const char *text, gsize offset)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(long));
    size_t len = strlen(text);
    g_auto(GStrv) lines = g_strsplit(text + MIN(offset, len), "\n", -1);
    for (char **l = lines; *l && l[1]; l++) {
        const char *p = strstr(*l, "COUNT ");
        if (!p)
            continue;
        char *end = NULL;
        long v = strtol(p + 6, &end, 10);
        if (end != p + 6 && (*end == '\r' || *end == '\0'))
            g_array_append_val(out, v);
    }
    return out;
}

long crash_last_count(const char *log)
{
    g_autofree char *text = crash_read_file(log);
    g_autoptr(GArray) c = counts(text, 0);
    return c->len ? g_array_index(c, long, c->len - 1) : 0;
}

long crash_wait_count(const char *log, gsize offset, long min, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = crash_read_file(log);
        g_autoptr(GArray) c = counts(text, offset);
        for (guint i = 0; i < c->len; i++)
            if (g_array_index(c, long, i) >= min)
                return g_array_index(c, long, c->len - 1);
        if (g_get_monotonic_time() > deadline) {
            size_t len = strlen(text);
            fail_msg("%s: no COUNT >= %ld within %d s; log ends with:\n%s", log, min, timeout_s,
                     len > 300 ? text + len - 300 : text);
        }
        g_usleep(50000);
    }
}

long crash_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = crash_read_file(log);
        g_autoptr(GArray) c = counts(text, offset);
        for (guint i = 0; i + 2 < c->len; i++) {
            long v = g_array_index(c, long, i);
            if (v >= lo && v <= hi && g_array_index(c, long, i + 1) == v + 1 &&
                g_array_index(c, long, i + 2) == v + 2)
                return v;
        }
        if (g_get_monotonic_time() > deadline) {
            g_autoptr(GString) seen = g_string_new(NULL);
            for (guint i = 0; i < c->len; i++)
                g_string_append_printf(seen, " %ld", g_array_index(c, long, i));
            fail_msg("%s: the counter did not resume in [%ld, %ld] within %d s; counts seen:%s",
                     log, lo, hi, timeout_s, seen->str);
        }
        g_usleep(50000);
    }
}

void crash_wait_counting(const char *log, gsize offset, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = crash_read_file(log);
        g_autoptr(GArray) c = counts(text, offset);
        if (c->len >= 2 && g_array_index(c, long, c->len - 1) > g_array_index(c, long, 0))
            return;
        if (g_get_monotonic_time() > deadline)
            fail_msg("%s: the guest's counter does not go on (%u new COUNT lines in %d s)", log,
                     c->len, timeout_s);
        g_usleep(50000);
    }
}
