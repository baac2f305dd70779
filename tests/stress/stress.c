/* stress.c: load test on real VMs (issue 6). Starts virtsnapd on the
 * embedded QEMU driver with a few running guests, then CONNS client threads
 * for SECONDS mix reads with snapshot creates and reverts on every VM.
 * Passes when no request got a 5xx, no task failed, every snapshot that a
 * finished task made is listed afterwards, and resident memory is flat.
 *   stress [SECONDS [CONNS [VMS]]]     (make check: 10 16 2; make stress: 60 64 3) */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int id;
    unsigned seed;
    gint64 deadline;
    /* results */
    int requests, errors_5xx, other_errors, busy;
    int reverted; /* reverts answered 200 */
    GPtrArray *task_ids; /* char*, per VM index */
    GArray *read_us;     /* latency of reads, µs */
} Worker;

static VsTestDaemon *d;
static int n_vms;
static char **vm_names;
static GMutex snaps_lock;
static GPtrArray **known_snaps; /* per VM: names of finished snapshots */

static long rss_kib(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return -1;
    const char *line = strstr(text, "VmRSS:");
    return line ? strtol(line + 6, NULL, 10) : -1;
}

static void count(Worker *w, long status)
{
    w->requests++;
    if (status >= 500 || status == 0)
        w->errors_5xx++;
    else if (status >= 400 && status != 409 && status != 429)
        w->other_errors++;
    if (status == 429)
        w->busy++;
}

static void *work(void *arg)
{
    Worker *w = arg;
    while (g_get_monotonic_time() < w->deadline) {
        int vm = (int)(rand_r(&w->seed) % (unsigned)n_vms);
        int dice = (int)(rand_r(&w->seed) % 100);
        g_autofree char *vm_path = g_strdup_printf("/vms/%s", vm_names[vm]);
        if (dice < 6) {
            g_autofree char *path = g_strdup_printf("%s/snapshots", vm_path);
            g_autoptr(VsTestResponse) r = vs_http(d, "POST", path, "{}");
            count(w, r->status);
            if (r->status == 202)
                g_ptr_array_add(w->task_ids, g_strdup_printf("%d:%s", vm, vs_json_str(r->json, "id")));
        } else if (dice < 10) {
            g_autofree char *snap = NULL;
            g_mutex_lock(&snaps_lock);
            GPtrArray *list = known_snaps[vm];
            if (list->len)
                snap = g_strdup(g_ptr_array_index(list, rand_r(&w->seed) % list->len));
            g_mutex_unlock(&snaps_lock);
            if (!snap)
                continue;
            g_autofree char *enc = vs_enc(snap);
            g_autofree char *path = g_strdup_printf("%s/snapshots/%s/revert", vm_path, enc);
            g_autoptr(VsTestResponse) r = vs_http(d, "POST", path, NULL);
            count(w, r->status);
            w->reverted += r->status == 200;
        } else {
            static const char *reads[] = {"", "/snapshots?all=true", "/snapshots", NULL};
            int which = dice % 4;
            g_autofree char *path = reads[which] ? g_strdup_printf("%s%s", vm_path, reads[which])
                                                 : g_strdup("/tasks");
            gint64 t0 = g_get_monotonic_time();
            g_autoptr(VsTestResponse) r = vs_http(d, "GET", path, NULL);
            gint64 us = g_get_monotonic_time() - t0;
            g_array_append_val(w->read_us, us);
            count(w, r->status);
        }
    }
    return NULL;
}

/* Snapshot names finished so far, refreshed from the API now and then. */
static void *refresh(void *arg)
{
    gint64 deadline = *(gint64 *)arg;
    while (g_get_monotonic_time() < deadline) {
        for (int i = 0; i < n_vms; i++) {
            g_autofree char *path = g_strdup_printf("/vms/%s/snapshots?all=true", vm_names[i]);
            g_autoptr(VsTestResponse) r = vs_http(d, "GET", path, NULL);
            if (r->status != 200)
                continue;
            GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
            for (size_t k = 0; k < json_array_size(r->json); k++)
                g_ptr_array_add(names, g_strdup(vs_json_str(json_array_get(r->json, k), "name")));
            g_mutex_lock(&snaps_lock);
            g_ptr_array_unref(known_snaps[i]);
            known_snaps[i] = names;
            g_mutex_unlock(&snaps_lock);
        }
        g_usleep(500000);
    }
    return NULL;
}

static gint cmp_i64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
    return x < y ? -1 : x > y;
}

/* A hang must not end as a silent test timeout: after VS_STRESS_WATCHDOG_S
 * (default 240, under meson's 300) this prints what the daemon was doing (the
 * end of its log and, when gdb is there, every thread's stack) and exits. */
static gpointer watchdog(gpointer data)
{
    gint64 limit_s = GPOINTER_TO_INT(data);
    g_usleep((gulong)(limit_s * G_USEC_PER_SEC));
    fprintf(stderr, "stress: still running after %" G_GINT64_FORMAT " s: the daemon's state\n",
            limit_s);
    if (d) {
        g_autofree char *tail = g_strdup_printf("tail -60 '%s' >&2", d->log_path);
        g_autofree char *stacks = g_strdup_printf(
            "command -v gdb >/dev/null && timeout 60 gdb -p %d -batch -ex 'thread apply all bt' "
            "2>/dev/null | grep -E '^(Thread|#)' >&2",
            (int)d->pid);
        if (system(tail) != 0 || system(stacks) != 0)
            fprintf(stderr, "stress: (log tail or stacks unavailable)\n");
        vs_test_daemon_explain_stuck_forks(d);
        /* The daemon dies with this process; its QEMUs (daemonized) would not. */
        g_autoptr(GArray) qemus = vs_qemu_pids(d->state_dir, NULL);
        for (guint i = 0; i < qemus->len; i++)
            kill(g_array_index(qemus, pid_t, i), SIGKILL);
    }
    fflush(stderr);
    _exit(1);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *limit = g_getenv("VS_STRESS_WATCHDOG_S");
    g_thread_unref(g_thread_new("watchdog", watchdog, GINT_TO_POINTER(limit ? atoi(limit) : 240)));
    int seconds = argc > 1 ? atoi(argv[1]) : 10;
    int conns = argc > 2 ? atoi(argv[2]) : 16;
    n_vms = argc > 3 ? atoi(argv[3]) : 2;
    g_autofree char *guest_dir = g_dir_make_tmp("virtsnap-stress-XXXXXX", NULL);
    g_autofree char *build = g_strdup_printf("%s/tests/e2e/build-guest.sh %s", VS_SOURCE_DIR_STRESS, guest_dir);
    if (system(build) != 0) {
        fprintf(stderr, "cannot build the guest\n");
        return 1;
    }
    d = vs_test_daemon_start(NULL, NULL);
    vm_names = g_new0(char *, n_vms);
    known_snaps = g_new0(GPtrArray *, n_vms);
    for (int i = 0; i < n_vms; i++) {
        vm_names[i] = g_strdup_printf("load%d", i);
        known_snaps[i] = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *body = g_strdup_printf(
            "{\"name\":\"%s\",\"memory\":64,\"image\":\"%s/guest.qcow2\"}", vm_names[i], guest_dir);
        g_autoptr(VsTestResponse) c = vs_http(d, "POST", "/vms", body);
        g_autofree char *start = g_strdup_printf("/vms/%s/start", vm_names[i]);
        g_autoptr(VsTestResponse) s = vs_http(d, "POST", start, NULL);
        if (c->status != 201 || s->status != 200) {
            fprintf(stderr, "cannot create/start %s: %s %s\n", vm_names[i], c->body, s->body);
            return 1;
        }
    }
    long rss_before = rss_kib(d->pid);
    gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
    Worker *workers = g_new0(Worker, conns);
    pthread_t *threads = g_new0(pthread_t, conns), refresher;
    pthread_create(&refresher, NULL, refresh, &deadline);
    for (int i = 0; i < conns; i++) {
        workers[i] = (Worker){.id = i, .seed = (unsigned)i * 7919u + 1, .deadline = deadline,
                              .task_ids = g_ptr_array_new_with_free_func(g_free),
                              .read_us = g_array_new(FALSE, FALSE, sizeof(gint64))};
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    int requests = 0, e5xx = 0, other = 0, busy = 0, created = 0, failed = 0, reverted = 0;
    int *per_vm = g_new0(int, n_vms);
    GArray *all_reads = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (int i = 0; i < conns; i++) {
        pthread_join(threads[i], NULL);
        requests += workers[i].requests;
        e5xx += workers[i].errors_5xx;
        other += workers[i].other_errors;
        busy += workers[i].busy;
        reverted += workers[i].reverted;
        g_array_append_vals(all_reads, workers[i].read_us->data, workers[i].read_us->len);
    }
    pthread_join(refresher, NULL);
    for (int i = 0; i < conns; i++) {
        for (guint k = 0; k < workers[i].task_ids->len; k++) {
            const char *entry = g_ptr_array_index(workers[i].task_ids, k);
            int vm = atoi(entry);
            json_t *task = vs_wait_task(d, strchr(entry, ':') + 1, 120);
            if (!g_strcmp0(vs_json_str(task, "status"), "finished")) {
                created++;
                per_vm[vm]++;
            } else {
                failed++;
                fprintf(stderr, "task failed: %s\n", json_dumps(task, 0));
            }
            json_decref(task);
        }
    }
    long rss_after = rss_kib(d->pid);
    int missing = 0;
    for (int i = 0; i < n_vms; i++) {
        g_autofree char *path = g_strdup_printf("/vms/%s/snapshots?all=true", vm_names[i]);
        g_autoptr(VsTestResponse) r = vs_http(d, "GET", path, NULL);
        if ((int)json_array_size(r->json) != per_vm[i]) {
            missing += abs(per_vm[i] - (int)json_array_size(r->json));
            fprintf(stderr, "%s: %d snapshots made, %zu listed: %s\n", vm_names[i], per_vm[i],
                    json_array_size(r->json), r->body);
        }
        g_autofree char *vm_path = g_strdup_printf("/vms/%s", vm_names[i]);
        g_autoptr(VsTestResponse) del = vs_http(d, "DELETE", vm_path, NULL);
    }
    g_array_sort(all_reads, cmp_i64);
    double p50 = all_reads->len ? g_array_index(all_reads, gint64, all_reads->len / 2) / 1000.0 : 0;
    double p99 = all_reads->len ? g_array_index(all_reads, gint64, all_reads->len * 99 / 100) / 1000.0 : 0;
    printf("stress: %d s, %d connections, %d VMs: %d requests (%.0f/s), %d 5xx, %d 429 (VM queue "
           "full), %d other 4xx\n",
           seconds, conns, n_vms, requests, requests / (double)seconds, e5xx, busy, other);
    printf("stress: snapshots made %d, failed tasks %d, unaccounted %d; reads p50 %.1f ms p99 %.1f ms\n",
           created, failed, missing, p50, p99);
    printf("stress: virtsnapd RSS %ld KiB before load, %ld KiB after; %d reverts answered 200\n",
           rss_before, rss_after, reverted);
    /* VS_STRESS_RSS_MIB: the growth allowed (ASan's quarantine keeps freed
     * memory, so its run allows more and relies on LeakSanitizer instead). */
    const char *slack = g_getenv("VS_STRESS_RSS_MIB");
    bool rss_flat = rss_before > 0 && rss_after > 0 &&
                    rss_after - rss_before < (slack ? atol(slack) : 32) * 1024;
    vs_test_daemon_free(d);
    bool stopped = vs_test_exit_status(0) == 0; /* LeakSanitizer's report fails the exit */
    bool ok = e5xx == 0 && other == 0 && failed == 0 && missing == 0 && created > 0 &&
              reverted > 0 && rss_flat && stopped;
    printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
