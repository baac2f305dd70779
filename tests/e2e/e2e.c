/* e2e.c: shared machinery of the end-to-end programs (see e2e.h): daemon on
 * the embedded QEMU driver, optional TCG forcing, the self-built guest,
 * serial-log polling, qemu-io / qemu-img and REST wrappers. */
#include "e2e.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VS_SOURCE_DIR
#error "VS_SOURCE_DIR must be defined"
#endif

E2e e2e;

/* ---- accelerator ------------------------------------------------------- */

static bool kvm_usable(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
    close(fd);
    return ok;
}

/* Bind-mounts /dev/NAME (anything but a directory) or links it in DIR. */
static bool copy_dev_entry(const char *dir, const char *name)
{
    g_autofree char *src = g_build_filename("/dev", name, NULL);
    g_autofree char *dst = g_build_filename(dir, name, NULL);
    struct stat st;
    if (lstat(src, &st) != 0)
        return true; /* vanished meanwhile */
    if (S_ISLNK(st.st_mode)) {
        g_autofree char *target = g_file_read_link(src, NULL);
        return target && symlink(target, dst) == 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(dst, st.st_mode & 07777) != 0)
            return false;
        return mount(src, dst, NULL, MS_BIND | MS_REC, NULL) == 0;
    }
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    close(fd);
    return mount(src, dst, NULL, MS_BIND, NULL) == 0;
}

/* Makes KVM vanish for us and our children (the daemon and the QEMU processes
 * it starts): in a private mount namespace, /dev becomes a tmpfs holding
 * bind mounts of every entry of the real /dev but kvm. libvirt then sees a
 * host without KVM, as it would without the module (and, unlike a /dev/kvm
 * that exists but fails, keeps its capability cache across restarts). */
static bool hide_kvm(void)
{
    if (!g_file_test("/dev/kvm", G_FILE_TEST_EXISTS))
        return true;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        fprintf(stderr, "e2e: cannot make a private mount namespace: %s\n", g_strerror(errno));
        return false;
    }
    g_autofree char *dir = g_dir_make_tmp("virtsnap-e2e-dev-XXXXXX", NULL);
    if (!dir || mount("tmpfs", dir, "tmpfs", 0, "mode=0755") != 0) {
        fprintf(stderr, "e2e: cannot mount a tmpfs for /dev: %s\n", g_strerror(errno));
        return false;
    }
    GDir *dev = g_dir_open("/dev", 0, NULL);
    const char *name;
    bool ok = dev != NULL;
    while (ok && (name = g_dir_read_name(dev))) {
        if (strcmp(name, "kvm") != 0 && !copy_dev_entry(dir, name)) {
            fprintf(stderr, "e2e: cannot copy /dev/%s: %s\n", name, g_strerror(errno));
            ok = false;
        }
    }
    if (dev)
        g_dir_close(dev);
    if (!ok || mount(dir, "/dev", NULL, MS_MOVE, NULL) != 0) {
        fprintf(stderr, "e2e: cannot replace /dev: %s\n", g_strerror(errno));
        return false;
    }
    g_rmdir(dir);
    return !g_file_test("/dev/kvm", G_FILE_TEST_EXISTS) && g_file_test("/dev/null", G_FILE_TEST_EXISTS);
}

void e2e_check_accel(const char *vm)
{
    g_autofree char *xml_name = g_strdup_printf("%s.xml", vm);
    g_autofree char *xml_path = e2e_state_path("libvirt", "etc", "qemu", xml_name, NULL);
    g_autofree char *xml = e2e_read_file(xml_path);
    const char *type = e2e.expect_kvm ? "<domain type='kvm'" : "<domain type='qemu'";
    if (!strstr(xml, type))
        fail_msg("%s: expected %s, definition is:\n%.300s", xml_path, type, xml);
    g_autofree char *log_name = g_strdup_printf("%s.log", vm);
    g_autofree char *log_path = e2e_state_path("libvirt", "log", "qemu", log_name, NULL);
    g_autofree char *log = e2e_read_file(log_path);
    const char *accel = e2e.expect_kvm ? "-accel kvm" : "-accel tcg";
    if (!strstr(log, accel))
        fail_msg("%s: QEMU was not started with '%s'", log_path, accel);
    printf("# VM '%s' runs with %s\n", vm, accel);
}

/* ---- setup / teardown -------------------------------------------------- */

static char *daemon_log_copy;

int e2e_setup(void **state)
{
    (void)state;
    const char *accel = g_getenv("VS_E2E_ACCEL");
    e2e.force_tcg = accel && !strcmp(accel, "tcg");
    if (e2e.force_tcg && !hide_kvm()) {
        fprintf(stderr, "e2e: VS_E2E_ACCEL=tcg needs CAP_SYS_ADMIN to hide /dev/kvm: skipped\n");
        exit(77);
    }
    e2e.expect_kvm = !e2e.force_tcg && kvm_usable();
    e2e.workdir = g_dir_make_tmp("virtsnap-e2e-XXXXXX", NULL);
    assert_non_null(e2e.workdir);
    const char *build[] = {"sh", VS_SOURCE_DIR "/tests/e2e/build-guest.sh", e2e.workdir, NULL};
    g_autofree char *out = NULL;
    if (e2e_run(build, &out) != 0) {
        fprintf(stderr, "e2e: build-guest.sh failed:\n%s\n", out);
        return -1;
    }
    e2e.guest = g_build_filename(e2e.workdir, "guest.qcow2", NULL);
    gint64 t0 = g_get_monotonic_time();
    e2e.d = vs_test_daemon_start(NULL, NULL);
    daemon_log_copy = g_strdup(e2e.d->log_path);
    printf("# daemon up in %.1f s (state %s, log %s); expecting %s\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, e2e.d->state_dir,
           e2e.d->log_path, e2e.expect_kvm ? "KVM" : "TCG");
    return 0;
}

void e2e_dump_daemon_log(void)
{
    g_autofree char *log = daemon_log_copy ? e2e_read_file(daemon_log_copy) : g_strdup("");
    size_t len = strlen(log);
    const char *tail = len > 6000 ? log + len - 6000 : log;
    fprintf(stderr, "---- daemon log (tail) ----\n%s---- end of daemon log ----\n", tail);
}

int e2e_teardown(void **state)
{
    (void)state;
    if (!e2e.d)
        return 0;
    if (e2e.d->pid) {
        g_autoptr(VsTestResponse) list = vs_http(e2e.d, "GET", "/vms", NULL);
        size_t i;
        json_t *vm;
        json_array_foreach(list->json, i, vm) {
            g_autofree char *enc = vs_enc(vs_json_str(vm, "name"));
            g_autofree char *path = g_strdup_printf("/vms/%s", enc);
            g_autoptr(VsTestResponse) r = vs_http(e2e.d, "DELETE", path, NULL);
            if (r->status != 204)
                fprintf(stderr, "e2e: clean-up DELETE %s answered %ld: %s\n", path, r->status,
                        r->body);
        }
    }
    e2e_dump_daemon_log();
    vs_test_daemon_free(e2e.d); /* also kills QEMU processes left behind */
    e2e.d = NULL;
    const char *rm[] = {"rm", "-rf", e2e.workdir, NULL};
    e2e_run(rm, NULL);
    return 0;
}

int e2e_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
    gint64 t0 = g_get_monotonic_time();
    int failed = _cmocka_run_group_tests(name, tests, n, e2e_setup, e2e_teardown);
    printf("# %s: %d failed, %.1f s wall time\n", name, failed,
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    if (!failed && daemon_log_copy)
        g_unlink(daemon_log_copy);
    return failed;
}

/* ---- REST -------------------------------------------------------------- */

static VsTestResponse *vreq(const char *method, const char *body, const char *fmt, va_list ap)
{
    g_autofree char *path = g_strdup_vprintf(fmt, ap);
    return vs_http(e2e.d, method, path, body);
}

VsTestResponse *e2e_req(const char *method, const char *body, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    VsTestResponse *r = vreq(method, body, path_fmt, ap);
    va_end(ap);
    return r;
}

VsTestResponse *e2e_expect(long status, const char *method, const char *body,
                           const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    VsTestResponse *r = vs_http(e2e.d, method, path, body);
    if (r->status != status)
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status, r->status, r->body);
    return r;
}

json_t *e2e_vm_create(const char *name)
{
    json_t *req = json_pack("{s:s, s:i, s:s}", "name", name, "memory", 64, "image", e2e.guest);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autoptr(VsTestResponse) r = e2e_expect(201, "POST", body, "/vms");
    assert_string_equal(vs_json_str(r->json, "name"), name);
    return json_incref(r->json);
}

json_t *e2e_vm_get(const char *name)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = e2e_expect(200, "GET", NULL, "/vms/%s", enc);
    return json_incref(r->json);
}

void e2e_vm_action(const char *name, const char *action, const char *want_state)
{
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r = e2e_expect(200, "POST", NULL, "/vms/%s/%s", enc, action);
    assert_string_equal(vs_json_str(r->json, "state"), want_state);
}

json_t *e2e_task_ok(VsTestResponse *r, int timeout_s)
{
    if (r->status != 202)
        fail_msg("expected 202 with a task, got %ld: %s", r->status, r->body);
    g_autofree char *location = vs_response_header(r, "Location");
    g_autofree char *want = g_strdup_printf("/tasks/%s", vs_json_str(r->json, "id"));
    assert_non_null(location);
    assert_string_equal(location, want);
    json_t *task = vs_wait_task(e2e.d, vs_json_str(r->json, "id"), timeout_s);
    if (strcmp(vs_json_str(task, "status"), "finished") != 0)
        fail_msg("task %s ended %s: %s", vs_json_str(task, "id"), vs_json_str(task, "status"),
                 vs_json_str(task, "message"));
    return task;
}

void e2e_snapshot(const char *vm, const char *name)
{
    json_t *req = json_pack("{s:s}", "name", name);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autofree char *enc = vs_enc(vm);
    g_autoptr(VsTestResponse) r = e2e_req("POST", body, "/vms/%s/snapshots", enc);
    json_t *task = e2e_task_ok(r, 120);
    g_autofree char *snap_enc = vs_enc(name);
    g_autofree char *target = g_strdup_printf("/vms/%s/snapshots/%s", enc, snap_enc);
    assert_string_equal(vs_json_str(task, "target_uri"), target);
    json_decref(task);
}

json_t *e2e_snapshot_get(const char *vm, const char *name)
{
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *enc = vs_enc(name);
    g_autoptr(VsTestResponse) r =
        e2e_expect(200, "GET", NULL, "/vms/%s/snapshots/%s", vm_enc, enc);
    assert_string_equal(vs_json_str(r->json, "name"), name);
    return json_incref(r->json);
}

char *e2e_names(json_t *array)
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

/* ---- serial log -------------------------------------------------------- */

char *e2e_read_file(const char *path)
{
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

gint64 e2e_file_size(const char *path)
{
    GStatBuf st;
    return g_stat(path, &st) == 0 ? (gint64)st.st_size : -1;
}

GArray *e2e_counts(const char *text, gsize offset)
{
    GArray *counts = g_array_new(FALSE, FALSE, sizeof(long));
    size_t len = strlen(text);
    if (offset > len)
        offset = len;
    g_auto(GStrv) lines = g_strsplit(text + offset, "\n", -1);
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

long e2e_last_count(const char *log)
{
    g_autofree char *text = e2e_read_file(log);
    g_autoptr(GArray) counts = e2e_counts(text, 0);
    return counts->len ? g_array_index(counts, long, counts->len - 1) : 0;
}

long e2e_wait_count(const char *log, gsize offset, long min, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = e2e_read_file(log);
        g_autoptr(GArray) counts = e2e_counts(text, offset);
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

long e2e_wait_resume(const char *log, gsize offset, long lo, long hi, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = e2e_read_file(log);
        g_autoptr(GArray) counts = e2e_counts(text, offset);
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

int e2e_banners(const char *log, gsize offset)
{
    g_autofree char *text = e2e_read_file(log);
    int n = 0;
    if (offset > strlen(text))
        return 0;
    for (const char *p = text + offset; (p = strstr(p, "VIRTSNAP-GUEST BOOT")); p++)
        n++;
    return n;
}

/* ---- tools ------------------------------------------------------------- */

int e2e_run(const char *const *argv, char **out)
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
    if (!WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

bool e2e_qemu_io(const char *image, const char *cmd)
{
    const char *argv[] = {"qemu-io", "-c", cmd, image, NULL};
    g_autofree char *out = NULL;
    int rc = e2e_run(argv, &out);
    bool ok = rc == 0 && !strstr(out, "Pattern verification failed") && !strstr(out, "failed");
    printf("# qemu-io -c '%s' %s: exit %d%s\n", cmd, image, rc, ok ? "" : " (failed)");
    if (!ok)
        printf("#   %s\n", g_strstrip(out));
    return ok;
}

char *e2e_qemu_img_snapshots(const char *image)
{
    const char *argv[] = {"qemu-img", "snapshot", "-l", "-U", image, NULL};
    char *out = NULL;
    int rc = e2e_run(argv, &out);
    if (rc != 0)
        fail_msg("qemu-img snapshot -l %s: exit %d: %s", image, rc, out);
    return out;
}

char *e2e_sha256(const char *path)
{
    gsize len = 0;
    g_autofree char *data = NULL;
    if (!g_file_get_contents(path, &data, &len, NULL))
        fail_msg("cannot read %s", path);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

/* ---- state dir --------------------------------------------------------- */

char *e2e_state_path(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    g_autoptr(GString) path = g_string_new(e2e.d->state_dir);
    for (const char *part = first; part; part = va_arg(ap, const char *)) {
        g_string_append_c(path, '/');
        g_string_append(path, part);
    }
    va_end(ap);
    return g_strdup(path->str);
}

int e2e_dir_count(const char *path)
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
