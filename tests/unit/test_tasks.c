/* test_tasks.c: unit tests of the task registry (src/model/tasks.h): a task
 * that succeeds, one that fails with its message, progress and messages
 * while running, listing order, expiry of ended tasks, waiting for a task's
 * end (and the shutdown that ends every wait), a task shown finished before
 * its function returns, ended tasks kept on disk
 * only (past the newest 1,000) still answered and expired, the records
 * a crash leaves read back at the next start, and a target named as it is
 * now (by the namer, through what the task knows it by, across a restart). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "model/tasks.h"
#include "util/error.h"

/* What a test task does, and a gate that holds it until the test opens it. */
typedef struct {
    GMutex lock;
    GCond cond;
    bool started;   /* the task has set its progress/message and waits */
    bool open;      /* the test lets it finish */
    int progress;   /* set before waiting (-2: leave it alone) */
    const char *message;
    const char *fail_with; /* NULL: succeed */
    bool fail_without_error;
    bool finish_early; /* vs_task_finish_early before waiting at the gate */
    int *freed;     /* counts free_data calls */
} Job;

static Job *job_new(int *freed)
{
    Job *job = g_new0(Job, 1);
    g_mutex_init(&job->lock);
    g_cond_init(&job->cond);
    job->progress = -2;
    job->open = true;
    job->freed = freed;
    return job;
}

static void job_free_data(gpointer data)
{
    Job *job = data;
    (*job->freed)++;
}

static gboolean job_run(VsTask *task, gpointer data, GError **error)
{
    Job *job = data;
    if (job->progress != -2)
        vs_task_set_progress(task, job->progress);
    if (job->message)
        vs_task_set_message(task, job->message);
    if (job->finish_early)
        vs_task_finish_early(task);
    g_mutex_lock(&job->lock);
    job->started = true;
    g_cond_broadcast(&job->cond);
    while (!job->open)
        g_cond_wait(&job->cond, &job->lock);
    g_mutex_unlock(&job->lock);
    if (job->fail_without_error)
        return FALSE;
    if (job->fail_with) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "%s", job->fail_with);
        return FALSE;
    }
    return TRUE;
}

static void job_wait_started(Job *job)
{
    g_mutex_lock(&job->lock);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!job->started)
        if (!g_cond_wait_until(&job->cond, &job->lock, deadline))
            fail_msg("the task did not start");
    g_mutex_unlock(&job->lock);
}

static void job_open(Job *job)
{
    g_mutex_lock(&job->lock);
    job->open = true;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
}

/* Polls until task ID is no longer running; its final record. */
static VsTaskInfo *wait_ended(const char *id)
{
    for (int i = 0; i < 1000; i++) {
        VsTaskInfo *info = vs_task_get(id);
        assert_non_null(info);
        if (info->status != VS_TASK_RUNNING)
            return info;
        vs_task_info_free(info);
        g_usleep(10 * 1000);
    }
    fail_msg("task %s did not end", id);
    return NULL;
}

/* vs_task_start for the target URI "/vms/VM[/snapshots/SNAP]", as the API
 * would make it (no encoding here: the names are the URI's segments). */
static char *start_for(const char *uri, VsTaskFunc fn, gpointer data, GDestroyNotify free_data)
{
    g_auto(GStrv) parts = g_strsplit(uri, "/", 5); /* "", "vms", VM, "snapshots", SNAP */
    assert_true(g_strv_length(parts) >= 3);
    VsTaskTarget target = {.vm = parts[2], .snapshot = parts[3] ? parts[4] : NULL};
    return vs_task_start(&target, fn, data, free_data);
}

static void assert_target(const VsTaskInfo *info, const char *uri)
{
    g_autofree char *made = info->snapshot
                                ? g_strdup_printf("/vms/%s/snapshots/%s", info->vm, info->snapshot)
                                : g_strdup_printf("/vms/%s", info->vm);
    assert_string_equal(made, uri);
}

static int setup(void **state)
{
    (void)state;
    vs_tasks_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vs_tasks_shutdown();
    return 0;
}

static void test_success(void **state)
{
    (void)state;
    int freed = 0;
    Job *job = job_new(&freed);
    job->open = false;
    job->progress = 40;
    job->message = "copying disk vda";
    gint64 before = g_get_real_time() / G_USEC_PER_SEC;
    g_autofree char *id = start_for("/vms/a%26b", job_run, job, job_free_data);
    assert_non_null(id);
    assert_true(*id);
    job_wait_started(job);

    g_autoptr(VsTaskInfo) running = vs_task_get(id);
    assert_non_null(running);
    assert_string_equal(running->id, id);
    assert_int_equal(running->status, VS_TASK_RUNNING);
    assert_int_equal(running->progress, 40);
    assert_string_equal(running->message, "copying disk vda");
    assert_target(running, "/vms/a%26b");
    assert_true(running->created >= before && running->created <= before + 5);
    assert_int_equal(freed, 0);

    job_open(job);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    assert_int_equal(done->status, VS_TASK_FINISHED);
    assert_int_equal(done->progress, 100);
    assert_string_equal(done->message, "OK");
    assert_target(done, "/vms/a%26b");
    assert_int_equal(done->created, running->created);
    assert_int_equal(freed, 1); /* the data was handed back exactly once */
    g_free(job);
}

static void test_success_without_progress(void **state)
{
    (void)state;
    int freed = 0;
    Job *job = job_new(&freed);
    g_autofree char *id = start_for("/vms/x", job_run, job, job_free_data);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    assert_int_equal(done->status, VS_TASK_FINISHED);
    assert_int_equal(done->progress, -1); /* unknown stays unknown */
    assert_int_equal(freed, 1);
    g_free(job);
}

static void test_failure(void **state)
{
    (void)state;
    int freed = 0;
    Job *job = job_new(&freed);
    job->progress = 30;
    job->fail_with = "disk 'vda' of VM 'x' is raw: only qcow2 disks can hold a snapshot";
    g_autofree char *id = start_for("/vms/x/snapshots/s1", job_run, job, job_free_data);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    assert_int_equal(done->status, VS_TASK_FAILED);
    assert_string_equal(done->message, job->fail_with);
    assert_int_equal(done->progress, 30); /* a failure does not claim 100 % */
    assert_target(done, "/vms/x/snapshots/s1");
    assert_int_equal(freed, 1);
    g_free(job);

    Job *silent = job_new(&freed);
    silent->fail_without_error = true;
    g_autofree char *id2 = start_for("/vms/y", job_run, silent, NULL); /* no free_data */
    g_autoptr(VsTaskInfo) done2 = wait_ended(id2);
    assert_int_equal(done2->status, VS_TASK_FAILED);
    assert_true(done2->message && *done2->message);
    assert_string_not_equal(done2->message, "OK");
    assert_int_equal(freed, 1);
    g_free(silent);
}

static void test_progress_clamped(void **state)
{
    (void)state;
    int freed = 0;
    Job *high = job_new(&freed);
    high->open = false;
    high->progress = 150;
    g_autofree char *id = start_for("/vms/x", job_run, high, NULL);
    job_wait_started(high);
    g_autoptr(VsTaskInfo) info = vs_task_get(id);
    assert_int_equal(info->progress, 100);
    job_open(high);
    vs_task_info_free(wait_ended(id));

    Job *low = job_new(&freed);
    low->open = false;
    low->progress = -7;
    g_autofree char *id2 = start_for("/vms/x", job_run, low, NULL);
    job_wait_started(low);
    g_autoptr(VsTaskInfo) info2 = vs_task_get(id2);
    assert_int_equal(info2->progress, 0);
    job_open(low);
    vs_task_info_free(wait_ended(id2));
    g_free(high);
    g_free(low);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_null(vs_task_get("no-such-task"));
    assert_null(vs_task_get(""));
    assert_null(vs_task_get("999999"));
}

static void test_list_order(void **state)
{
    (void)state;
    int freed = 0;
    Job *jobs[5];
    char *ids[5];
    g_autoptr(GPtrArray) before = vs_tasks_list(false);
    for (int i = 0; i < 5; i++) {
        jobs[i] = job_new(&freed);
        jobs[i]->open = i % 2 == 0; /* some end at once, some keep running */
        g_autofree char *uri = g_strdup_printf("/vms/vm%d", i);
        ids[i] = start_for(uri, job_run, jobs[i], job_free_data);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
    g_autoptr(GPtrArray) list = vs_tasks_list(false);
    assert_int_equal(list->len, before->len + 5);
    for (int i = 0; i < 5; i++) {
        const VsTaskInfo *info = g_ptr_array_index(list, before->len + (guint)i);
        assert_string_equal(info->id, ids[i]); /* oldest first */
        g_autofree char *uri = g_strdup_printf("/vms/vm%d", i);
        assert_target(info, uri);
    }
    for (int i = 0; i < 5; i++) {
        job_open(jobs[i]);
        vs_task_info_free(wait_ended(ids[i]));
    }
    g_autoptr(GPtrArray) after = vs_tasks_list(false);
    for (int i = 0; i < 5; i++) {
        const VsTaskInfo *info = g_ptr_array_index(after, before->len + (guint)i);
        assert_string_equal(info->id, ids[i]); /* ending does not reorder */
        assert_int_equal(info->status, VS_TASK_FINISHED);
        g_free(ids[i]);
        g_free(jobs[i]);
    }
    assert_int_equal(freed, 5);
}

static void test_expire(void **state)
{
    (void)state;
    int freed = 0;
    Job *ended = job_new(&freed);
    Job *failed = job_new(&freed);
    failed->fail_with = "no";
    Job *running = job_new(&freed);
    running->open = false;
    g_autofree char *id_ended = start_for("/vms/a", job_run, ended, NULL);
    g_autofree char *id_failed = start_for("/vms/b", job_run, failed, NULL);
    g_autofree char *id_running = start_for("/vms/c", job_run, running, NULL);
    vs_task_info_free(wait_ended(id_ended));
    vs_task_info_free(wait_ended(id_failed));
    job_wait_started(running);

    /* the daemon keeps ended tasks for an hour: nothing goes yet */
    vs_tasks_expire(3600);
    g_autoptr(VsTaskInfo) still = vs_task_get(id_ended);
    assert_non_null(still);
    g_autoptr(VsTaskInfo) still_failed = vs_task_get(id_failed);
    assert_non_null(still_failed);

    /* with no grace, ended and failed tasks go, running ones stay */
    vs_tasks_expire(0);
    assert_null(vs_task_get(id_ended));
    assert_null(vs_task_get(id_failed));
    g_autoptr(VsTaskInfo) alive = vs_task_get(id_running);
    assert_non_null(alive);
    assert_int_equal(alive->status, VS_TASK_RUNNING);
    g_autoptr(GPtrArray) list = vs_tasks_list(false);
    for (guint i = 0; i < list->len; i++) {
        const VsTaskInfo *info = g_ptr_array_index(list, i);
        assert_string_not_equal(info->id, id_ended);
        assert_string_not_equal(info->id, id_failed);
    }

    /* once it ends, it can expire too */
    job_open(running);
    vs_task_info_free(wait_ended(id_running));
    vs_tasks_expire(0);
    assert_null(vs_task_get(id_running));
    g_free(ended);
    g_free(failed);
    g_free(running);
}

static gboolean quick_run(VsTask *task, gpointer data, GError **error)
{
    (void)task;
    (void)data;
    (void)error;
    return TRUE;
}

/* Empties DIR of files and removes it. */
static void remove_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *n; d && (n = g_dir_read_name(d));) {
        g_autofree char *f = g_build_filename(dir, n, NULL);
        g_unlink(f);
    }
    g_rmdir(dir);
}

/* A new temporary directory the registry keeps its records in from now on. */
static char *keep_records(void)
{
    char *dir = g_dir_make_tmp("vs-tasks-XXXXXX", NULL);
    assert_non_null(dir);
    g_autoptr(GError) error = NULL;
    assert_true(vs_tasks_persist(dir, &error));
    return dir;
}

/* With records on disk, only the newest 1,000 ended tasks stay in memory;
 * the older ones are still listed (in order), looked up and expired. */
static void test_evicted_to_disk(void **state)
{
    (void)state;
    g_autofree char *dir = keep_records();
    enum { N = 1100 };
    char **ids = g_new0(char *, N + 1);
    for (int i = 0; i < N; i++) {
        g_autofree char *uri = g_strdup_printf("/vms/v/snapshots/s%d", i);
        ids[i] = start_for(uri, quick_run, NULL, NULL);
    }
    for (int i = 0; i < N; i++)
        vs_task_info_free(wait_ended(ids[i]));

    g_autoptr(VsTaskInfo) first = vs_task_get(ids[0]); /* long out of memory */
    assert_non_null(first);
    assert_int_equal(first->status, VS_TASK_FINISHED);
    assert_string_equal(first->message, "OK");
    assert_target(first, "/vms/v/snapshots/s0");
    g_autofree char *padded = g_strdup_printf("0%s", ids[0]);
    assert_null(vs_task_get(padded));

    g_autoptr(GPtrArray) list = vs_tasks_list(false);
    assert_int_equal(list->len, N);
    for (int i = 0; i < N; i++) {
        const VsTaskInfo *info = g_ptr_array_index(list, (guint)i);
        assert_string_equal(info->id, ids[i]);
        assert_int_equal(info->status, VS_TASK_FINISHED);
        g_autofree char *uri = g_strdup_printf("/vms/v/snapshots/s%d", i);
        assert_target(info, uri);
    }

    vs_tasks_expire(3600);
    g_autoptr(VsTaskInfo) kept = vs_task_get(ids[0]);
    assert_non_null(kept);
    vs_tasks_expire(0);
    assert_null(vs_task_get(ids[0]));
    assert_null(vs_task_get(ids[N - 1]));
    g_autoptr(GPtrArray) none = vs_tasks_list(false);
    assert_int_equal(none->len, 0);
    g_autoptr(GDir) left = g_dir_open(dir, 0, NULL);
    assert_non_null(left);
    for (const char *n; (n = g_dir_read_name(left));) /* every record went with its task */
        if (strcmp(n, "last-id") != 0)
            fail_msg("%s is left after every task expired", n);
    remove_dir(dir);
    g_strfreev(ids);
}

/* A vs_task_wait on another thread: when it began and returned, and what
 * it returned (set atomically: the test looks while it waits). */
typedef struct {
    const char *id;
    guint timeout_ms;
    gint64 entered, returned; /* monotonic µs */
    gint began;               /* atomic: ENTERED is set */
    VsTaskInfo *info;
} Waiter;

static gpointer waiter_run(gpointer data)
{
    Waiter *w = data;
    w->entered = g_get_monotonic_time();
    g_atomic_int_set(&w->began, 1);
    VsTaskInfo *info = vs_task_wait(w->id, w->timeout_ms);
    w->returned = g_get_monotonic_time();
    g_atomic_pointer_set(&w->info, info);
    return NULL;
}

/* Starts a task for URI that runs until its job is opened; its id. */
static char *start_held(const char *uri, int *freed, Job **job)
{
    *job = job_new(freed);
    (*job)->open = false;
    char *id = start_for(uri, job_run, *job, job_free_data);
    job_wait_started(*job);
    return id;
}

/* Starts a waiter and lets it block: it must have begun and not returned. */
static GThread *waiter_start(Waiter *w)
{
    GThread *thread = g_thread_new("waiter", waiter_run, w);
    g_usleep(100 * 1000);
    assert_true(g_atomic_int_get(&w->began));
    assert_null(g_atomic_pointer_get(&w->info)); /* still waiting */
    return thread;
}

static void test_wait(void **state)
{
    (void)state;
    int freed = 0;
    Job *job = NULL;
    g_autofree char *id = start_held("/vms/w", &freed, &job);

    /* Running past the timeout: the wait ends with it, the task running. */
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTaskInfo) still = vs_task_wait(id, 200);
    assert_true(g_get_monotonic_time() - t0 >= 190 * 1000);
    assert_non_null(still);
    assert_int_equal(still->status, VS_TASK_RUNNING);

    /* A long wait ends when the task does, not at its timeout. */
    Waiter w = {.id = id, .timeout_ms = 60 * 1000};
    GThread *thread = waiter_start(&w);
    gint64 opened = g_get_monotonic_time();
    job_open(job);
    g_thread_join(thread);
    assert_true(w.entered < opened && w.returned >= opened);
    assert_non_null(w.info);
    assert_int_equal(w.info->status, VS_TASK_FINISHED);
    assert_string_equal(w.info->message, "OK");
    assert_true(w.returned - opened < 10 * G_USEC_PER_SEC);
    vs_task_info_free(w.info);

    /* An ended task answers at once; an unknown one is NULL at once. */
    t0 = g_get_monotonic_time();
    g_autoptr(VsTaskInfo) done = vs_task_wait(id, 60 * 1000);
    assert_int_equal(done->status, VS_TASK_FINISHED);
    assert_null(vs_task_wait("999999", 60 * 1000));
    assert_null(vs_task_wait("00", 60 * 1000));
    assert_true(g_get_monotonic_time() - t0 < 10 * G_USEC_PER_SEC);
    assert_int_equal(freed, 1);
    g_free(job);
}

/* The status its record on disk in DIR says task ID has (-1: unreadable). */
static int record_status(const char *dir, const char *id)
{
    g_autofree char *name = g_strdup_printf("%s.task", id);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
        return -1;
    return g_key_file_get_integer(kf, "task", "status", NULL);
}

/* A task that finishes early is shown finished, and wakes its waiters,
 * while its function still tidies up; its record on disk says finished at
 * once (a crash meanwhile must not show it interrupted); it is not expired
 * while the function runs; it stays finished after that, even if the
 * tidying fails, and its data is freed once the function returns. */
static void test_finish_early(void **state)
{
    (void)state;
    g_autofree char *dir = keep_records();
    int freed = 0;
    Job *job = job_new(&freed);
    job->open = false;
    job->finish_early = true;
    job->fail_with = "tidying failed";
    g_autofree char *id = start_for("/vms/e", job_run, job, job_free_data);
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VsTaskInfo) shown = vs_task_wait(id, 60 * 1000);
    assert_true(g_get_monotonic_time() - t0 < 10 * G_USEC_PER_SEC);
    assert_non_null(shown);
    assert_int_equal(shown->status, VS_TASK_FINISHED);
    assert_string_equal(shown->message, "OK");
    job_wait_started(job);
    /* Read while the function is held, checked after letting it go (a
     * failed check must not leave the registry's shutdown waiting on it). */
    int freed_while_held = g_atomic_int_get(&freed);
    int on_disk = record_status(dir, id);
    vs_tasks_expire(0); /* not while its function runs */
    g_autoptr(VsTaskInfo) kept = vs_task_get(id);
    job_open(job);
    assert_int_equal(freed_while_held, 0);
    assert_int_equal(on_disk, VS_TASK_FINISHED);
    assert_non_null(kept);
    assert_int_equal(kept->status, VS_TASK_FINISHED);
    for (int i = 0; i < 1000 && g_atomic_int_get(&freed) == 0; i++)
        g_usleep(10 * 1000);
    assert_int_equal(freed, 1);
    g_autoptr(VsTaskInfo) after = vs_task_get(id);
    assert_int_equal(after->status, VS_TASK_FINISHED);
    assert_string_equal(after->message, "OK");
    vs_tasks_shutdown(); /* its final record written */
    assert_int_equal(record_status(dir, id), VS_TASK_FINISHED);
    vs_tasks_init(); /* for the teardown */
    remove_dir(dir);
    g_free(job);
}

/* A new task's record is private and leaves no temporary file beside it; at the next start, a record a crash left running is shown
 * interrupted, and an empty one (a crash between creating the file and
 * writing it) is dropped, like a task never accepted. */
static void test_records_at_start(void **state)
{
    (void)state;
    g_autofree char *dir = keep_records();
    int freed = 0;
    Job *job = NULL;
    g_autofree char *id = start_held("/vms/r", &freed, &job);
    g_autofree char *name = g_strdup_printf("%s.task", id);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    GStatBuf st;
    assert_int_equal(g_stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(record_status(dir, id), VS_TASK_RUNNING);
    /* A crash's leftovers: task 76 running, task 77's record empty. */
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_autofree char *id_line = g_strdup_printf("id=%s\n", id);
    g_auto(GStrv) parts = g_strsplit(text, id_line, 2);
    assert_non_null(parts[1]);
    g_autofree char *other = g_strconcat(parts[0], "id=76\n", parts[1], NULL);
    g_autofree char *path76 = g_build_filename(dir, "76.task", NULL);
    g_autofree char *path77 = g_build_filename(dir, "77.task", NULL);
    assert_true(g_file_set_contents(path76, other, -1, NULL));
    assert_true(g_file_set_contents(path77, "", 0, NULL));
    job_open(job);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    assert_int_equal(done->status, VS_TASK_FINISHED);
    vs_tasks_shutdown();
    vs_tasks_init();
    g_autoptr(GError) error = NULL;
    assert_true(vs_tasks_persist(dir, &error));
    g_autoptr(VsTaskInfo) before = vs_task_get(id);
    assert_int_equal(before->status, VS_TASK_FINISHED);
    g_autoptr(VsTaskInfo) cut = vs_task_get("76");
    assert_non_null(cut);
    assert_int_equal(cut->status, VS_TASK_FAILED);
    assert_true(g_str_has_prefix(cut->message, "interrupted"));
    assert_int_equal(record_status(dir, "76"), VS_TASK_FAILED);
    assert_null(vs_task_get("77"));
    assert_false(g_file_test(path77, G_FILE_TEST_EXISTS));
    /* New records are written after the restart, and only records stay. */
    g_autofree char *next = start_for("/vms/r", quick_run, NULL, NULL);
    g_autoptr(VsTaskInfo) next_done = wait_ended(next);
    vs_tasks_shutdown();
    assert_int_equal(record_status(dir, next), VS_TASK_FINISHED);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *n; d && (n = g_dir_read_name(d));)
        if (!g_str_has_suffix(n, ".task"))
            fail_msg("a temporary file was left: %s", n);
    vs_tasks_init(); /* for the teardown */
    remove_dir(dir);
    g_free(job);
}

static void test_stop_waits(void **state)
{
    (void)state;
    int freed = 0;
    Job *job = NULL;
    g_autofree char *id = start_held("/vms/s", &freed, &job);
    Waiter w = {.id = id, .timeout_ms = 60 * 1000};
    GThread *thread = waiter_start(&w);
    /* Stopping (the daemon's shutdown) ends the wait with the task running. */
    gint64 stopped = g_get_monotonic_time();
    vs_tasks_stop_waits();
    g_thread_join(thread);
    assert_true(w.entered < stopped && w.returned >= stopped);
    assert_true(w.returned - stopped < 10 * G_USEC_PER_SEC);
    assert_non_null(w.info);
    assert_int_equal(w.info->status, VS_TASK_RUNNING);
    vs_task_info_free(w.info);
    /* And later waits do not block either. */
    g_autoptr(VsTaskInfo) again = vs_task_wait(id, 60 * 1000);
    assert_int_equal(again->status, VS_TASK_RUNNING);
    job_open(job);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    assert_int_equal(done->status, VS_TASK_FINISHED);
    g_free(job);
}

/* A task that learns its target's UUID and libvirt name as it runs. */
static gboolean identify_run(VsTask *task, gpointer data, GError **error)
{
    (void)data;
    (void)error;
    vs_task_set_target_uuid(task, "uuid-1");
    vs_task_set_target_internal(task, "internal-1");
    return TRUE;
}

static int namer_calls;

/* The model's names now: VM uuid-1 is "after", its snapshot internal-1
 * "renamed"; once per VM and answer (CACHE). */
static void test_namer(VsTaskInfo *info, GHashTable *cache)
{
    if (g_strcmp0(info->target_uuid, "uuid-1") != 0)
        return;
    if (!g_hash_table_contains(cache, info->target_uuid)) {
        namer_calls++;
        g_hash_table_insert(cache, g_strdup(info->target_uuid), g_strdup("after"));
    }
    g_free(info->vm);
    info->vm = g_strdup(g_hash_table_lookup(cache, info->target_uuid));
    if (info->snapshot && g_strcmp0(info->target_internal, "internal-1") == 0) {
        g_free(info->snapshot);
        info->snapshot = g_strdup("renamed");
    }
}

/* A task's target as the model names it now: by the UUID and libvirt name
 * the task learnt, which its record keeps across a restart; the names it
 * was made with without a namer, or for a task that learnt neither. */
static void test_target_named(void **state)
{
    (void)state;
    g_autofree char *dir = keep_records();
    g_autofree char *id = start_for("/vms/before/snapshots/s", identify_run, NULL, NULL);
    g_autofree char *plain = start_for("/vms/other/snapshots/s", quick_run, NULL, NULL);
    g_autoptr(VsTaskInfo) done = wait_ended(id);
    g_autoptr(VsTaskInfo) other = wait_ended(plain);
    assert_target(done, "/vms/before/snapshots/s");
    vs_tasks_set_namer(test_namer);
    g_autoptr(VsTaskInfo) named = vs_task_get(id);
    assert_target(named, "/vms/after/snapshots/renamed");
    g_autoptr(VsTaskInfo) same = vs_task_get(plain);
    assert_target(same, "/vms/other/snapshots/s");
    namer_calls = 0;
    g_autofree char *second = start_for("/vms/before", identify_run, NULL, NULL);
    g_autoptr(VsTaskInfo) second_done = wait_ended(second);
    assert_target(second_done, "/vms/after");
    namer_calls = 0;
    g_autoptr(GPtrArray) list = vs_tasks_list(false);
    assert_int_equal(list->len, 3);
    assert_target(list->pdata[0], "/vms/after/snapshots/renamed");
    assert_target(list->pdata[1], "/vms/other/snapshots/s");
    assert_target(list->pdata[2], "/vms/after");
    assert_int_equal(namer_calls, 1); /* one VM, named once for the list */

    vs_tasks_shutdown(); /* a restart: the records are read back */
    vs_tasks_init();
    assert_true(vs_tasks_persist(dir, NULL));
    g_autoptr(VsTaskInfo) reloaded = vs_task_get(id);
    assert_target(reloaded, "/vms/after/snapshots/renamed");
    vs_tasks_set_namer(NULL);
    g_autoptr(VsTaskInfo) unnamed = vs_task_get(id);
    assert_target(unnamed, "/vms/before/snapshots/s");
    vs_tasks_shutdown();
    vs_tasks_init(); /* for the teardown */
    remove_dir(dir);
}

/* Ids are never given out again after a restart, even when every record
 * had expired (after an hour idle they began at 1 again, and a client's
 * old /tasks/<id> showed another task; API audit, session 23). */
static void test_ids_not_reused(void **state)
{
    (void)state;
    g_autofree char *dir = keep_records();
    g_autofree char *last = NULL;
    for (int i = 0; i < 3; i++) {
        g_free(last);
        last = start_for("/vms/v", quick_run, NULL, NULL);
        vs_task_info_free(wait_ended(last));
    }
    vs_tasks_expire(0);
    assert_null(vs_task_get(last));
    vs_tasks_shutdown(); /* a restart */
    vs_tasks_init();
    g_autoptr(GError) error = NULL;
    assert_true(vs_tasks_persist(dir, &error));
    g_autofree char *next = start_for("/vms/v", quick_run, NULL, NULL);
    vs_task_info_free(wait_ended(next));
    if (g_ascii_strtoull(next, NULL, 10) <= g_ascii_strtoull(last, NULL, 10))
        fail_msg("task id %s given out again after a restart (the last was %s)", next, last);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_without_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits, setup, teardown),
        /* last: records stay on disk for the rest of the process */
        /* These two keep records on disk (the registry keeps the directory). */
        cmocka_unit_test_setup_teardown(test_finish_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evicted_to_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_not_reused, setup, teardown),
    };
    return cmocka_run_group_tests_name("tasks", tests, NULL, NULL);
}
