/* tasks.c: the task registry and its worker threads. Ended tasks stay
 * queryable for an hour; with records kept on disk, only the last
 * IN_MEMORY_ENDED of them stay in memory too, and older ones are read back
 * from their record when asked for (10,000 snapshots created through the
 * API leave 10,000 ended tasks: ~2.5 MiB held in memory otherwise). */
#include "tasks.h"

#include "../util/files.h"
#include "../util/log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct VsTask {
    VsTaskInfo info;
    gint64 ended; /* wall-clock seconds, 0 while running (or until FN returns) */
    bool finished_early; /* vs_task_finish_early: INFO says finished, FN still runs */
    bool saved;   /* its final record is on disk: it may leave memory */
    VsTaskFunc fn;
    gpointer data;
    GDestroyNotify free_data;
};

/* An ended task that is kept only as its record on disk. */
typedef struct {
    guint64 id;
    gint64 ended;
} Evicted;

#define IN_MEMORY_ENDED 1000

static GMutex lock;          /* guards tasks, order and every VsTask's info */
static GHashTable *tasks;    /* id → VsTask* */
static GQueue order;         /* VsTask*, oldest first */
static GThreadPool *workers;
static guint64 next_id;
static char *store_dir;      /* where records are kept, or NULL */
static guint n_ended;        /* ended tasks in ORDER */
static GArray *evicted;      /* Evicted, by id: ended tasks no longer in ORDER */
static GCond ended;          /* broadcast, with LOCK, when a task ends */
static bool waits_stopped;   /* vs_tasks_stop_waits was called */
static VsTaskNamer namer;    /* set once, before requests */

#define INTERRUPTED "interrupted: virtsnapd stopped while this task was running"

static char *record_path(const char *id)
{
    g_autofree char *file = g_strdup_printf("%s.task", id);
    return g_build_filename(store_dir, file, NULL);
}

/* TASK's record as key-file text (called with LOCK held), or NULL; ENDED_AT
 * is the end it records (task->ended, or now for a task finished early). */
static char *record_text(const VsTask *task, gint64 ended_at, gsize *len)
{
    if (!store_dir)
        return NULL;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, "task", "id", task->info.id);
    g_key_file_set_integer(kf, "task", "status", task->info.status);
    g_key_file_set_string(kf, "task", "message", task->info.message);
    const VsTaskInfo *i = &task->info;
    const char *target[][2] = {{"vm", i->vm},
                               {"snapshot", i->snapshot},
                               {"vm_uuid", i->target_uuid},
                               {"internal", i->target_internal},
                               {"target_uri", i->target_uri}};
    for (gsize k = 0; k < G_N_ELEMENTS(target); k++)
        if (target[k][1])
            g_key_file_set_string(kf, "task", target[k][0], target[k][1]);
    g_key_file_set_int64(kf, "task", "created", task->info.created);
    g_key_file_set_int64(kf, "task", "ended", ended_at);
    g_key_file_set_integer(kf, "task", "progress", task->info.progress);
    return g_key_file_to_data(kf, len, NULL);
}

typedef enum {
    RECORD_NEW,   /* a new task's first record */
    RECORD_EARLY, /* replaces it when the task finished early */
    RECORD_FINAL, /* replaces it when the task's function returned */
} RecordKind;

/* Writes a record made by record_text. A new task's record is created in
 * place, without a temporary file and a rename (~0.2 ms of the POST here):
 * vs_file_write_new leaves it whole or empty after a crash, and an empty
 * one is dropped at start like a task never accepted (a record longer than
 * a page, which no target URI makes, goes through g_file_set_contents). A
 * replacement is written to another file and renamed over the record. Only
 * the final record is fsync'ed (g_file_set_contents with CONSISTENT syncs
 * a replacement; it would sync a new file and its directory as well, ~1 ms
 * here, which every new task used to pay inside its POST under LOCK). A new
 * record lost in a power cut only forgets a task that was cut short
 * anyway; a final record lost leaves the "running" one, which the next
 * start shows as interrupted. The early one (a task finished early) is
 * renamed over the old one unsynced: it outlives the process, and the
 * synced final record follows. */
static bool write_record(const char *id, const char *text, gsize len, RecordKind kind)
{
    if (!text)
        return false;
    g_autofree char *path = record_path(id);
    g_autofree char *tmp = kind == RECORD_EARLY ? g_strconcat(path, ".early", NULL) : NULL;
    g_autoptr(GError) error = NULL;
    GFileSetContentsFlags flags =
        kind == RECORD_FINAL ? G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_ONLY_EXISTING
                             : G_FILE_SET_CONTENTS_NONE;
    bool ok = vs_file_write_record(tmp ? tmp : path, text, len, kind == RECORD_NEW, flags,
                                   &error) &&
              (!tmp || g_rename(tmp, path) == 0);
    if (!ok) {
        vs_warn("cannot save task %s: %s", id, error ? error->message : g_strerror(errno));
        if (tmp)
            g_unlink(tmp);
    }
    return ok;
}

/* Writes TASK's record (called with LOCK held). */
static void save_record(const VsTask *task, RecordKind kind)
{
    gsize len = 0;
    g_autofree char *text = record_text(task, task->ended, &len);
    write_record(task->info.id, text, len, kind);
}

/* Frees what INFO holds (not INFO). */
static void info_clear(VsTaskInfo *info)
{
    g_free(info->id);
    g_free(info->message);
    g_free(info->vm);
    g_free(info->snapshot);
    g_free(info->target_uri);
    g_free(info->target_uuid);
    g_free(info->target_internal);
}

static void task_free(VsTask *task)
{
    info_clear(&task->info);
    g_free(task);
}

static guint64 id_number(const char *id) { return g_ascii_strtoull(id, NULL, 10); }

/* Index in EVICTED of the first entry with an id >= ID. */
static guint evicted_index(guint64 id)
{
    guint lo = 0, hi = evicted->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        if (g_array_index(evicted, Evicted, mid).id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Leaves only the newest IN_MEMORY_ENDED ended tasks in memory (called with
 * LOCK held): the older ones, whose final record is on disk, become an
 * Evicted entry each. */
static void evict_locked(void)
{
    if (!store_dir)
        return;
    for (GList *l = order.head; l && n_ended > IN_MEMORY_ENDED;) {
        GList *next = l->next;
        VsTask *task = l->data;
        if (task->ended && task->saved) {
            Evicted e = {id_number(task->info.id), task->ended};
            g_array_insert_val(evicted, evicted_index(e.id), e);
            g_hash_table_remove(tasks, task->info.id);
            g_queue_delete_link(&order, l);
            task_free(task);
            n_ended--;
        }
        l = next;
    }
}

/* Makes TASK's end visible (called with LOCK held). */
static void show_end_locked(VsTask *task, gboolean ok, const GError *error)
{
    task->info.status = ok ? VS_TASK_FINISHED : VS_TASK_FAILED;
    g_free(task->info.message);
    task->info.message = g_strdup(ok ? "OK" : error ? error->message : "failed");
    if (ok)
        task->info.progress = task->info.progress >= 0 ? 100 : -1;
    g_cond_broadcast(&ended);
}

void vs_task_finish_early(VsTask *task)
{
    g_mutex_lock(&lock);
    show_end_locked(task, TRUE, NULL);
    task->finished_early = true;
    /* Its record says so at once (not only once FN has returned), so that a
     * crash meanwhile does not turn it into an interrupted task. ENDED stays
     * 0 in memory: a task is not expired or evicted while FN runs. */
    gsize len = 0;
    g_autofree char *text = record_text(task, g_get_real_time() / G_USEC_PER_SEC, &len);
    g_autofree char *id = g_strdup(task->info.id);
    g_mutex_unlock(&lock);
    write_record(id, text, len, RECORD_EARLY);
}

static void run_task(gpointer item, gpointer unused)
{
    (void)unused;
    VsTask *task = item;
    g_autoptr(GError) error = NULL;
    gboolean ok = task->fn(task, task->data, &error);
    if (task->free_data)
        task->free_data(task->data);
    g_mutex_lock(&lock);
    if (!task->finished_early)
        show_end_locked(task, ok, error);
    if (!ok) /* after finishing early, a broken promise: it stays finished */
        vs_warn("task %s failed%s: %s", task->info.id,
                task->finished_early ? " after finishing early" : "",
                error ? error->message : task->info.message);
    task->ended = g_get_real_time() / G_USEC_PER_SEC;
    gsize len = 0;
    g_autofree char *text = record_text(task, task->ended, &len);
    g_autofree char *id = g_strdup(task->info.id);
    n_ended++;
    g_mutex_unlock(&lock);
    if (!write_record(id, text, len, RECORD_FINAL))
        return; /* stays in memory */
    g_mutex_lock(&lock);
    task = g_hash_table_lookup(tasks, id); /* unless expired meanwhile */
    if (task)
        task->saved = true; /* it may leave memory from now on */
    evict_locked();
    g_mutex_unlock(&lock);
}

void vs_tasks_init(void)
{
    next_id = 0; /* (a new registry: ids go on from its records, vs_tasks_persist) */
    tasks = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&order);
    evicted = g_array_new(FALSE, FALSE, sizeof(Evicted));
    n_ended = 0;
    waits_stopped = false;
    /* Unbounded: a task waiting for its VM's lock must not hold up others. */
    workers = g_thread_pool_new(run_task, NULL, -1, FALSE, NULL);
}

void vs_tasks_shutdown(void)
{
    if (!workers)
        return;
    g_thread_pool_free(g_steal_pointer(&workers), FALSE, TRUE);
    g_queue_clear_full(&order, (GDestroyNotify)task_free);
    g_clear_pointer(&tasks, g_hash_table_unref);
    g_clear_pointer(&evicted, g_array_unref);
}

char *vs_task_start(const VsTaskTarget *target, VsTaskFunc fn, gpointer data,
                    GDestroyNotify free_data)
{
    VsTask *task = g_new0(VsTask, 1);
    task->fn = fn;
    task->data = data;
    task->free_data = free_data;
    task->info.status = VS_TASK_RUNNING;
    task->info.message = g_strdup("queued"); /* until its worker says more */
    task->info.vm = g_strdup(target->vm);
    task->info.snapshot = g_strdup(target->snapshot);
    task->info.target_uuid = g_strdup(target->vm_uuid);
    task->info.created = g_get_real_time() / G_USEC_PER_SEC;
    task->info.progress = -1;
    g_mutex_lock(&lock);
    task->info.id = g_strdup_printf("%" G_GUINT64_FORMAT, ++next_id);
    g_hash_table_insert(tasks, task->info.id, task);
    g_queue_push_tail(&order, task);
    save_record(task, RECORD_NEW);
    char *id = g_strdup(task->info.id);
    g_mutex_unlock(&lock);
    g_thread_pool_push(workers, task, NULL);
    return id;
}

/* Sets *FIELD of TASK to VALUE (under LOCK): kept in its next record. */
static void set_target_field(char **field, const char *value)
{
    g_mutex_lock(&lock);
    g_free(*field);
    *field = g_strdup(value);
    g_mutex_unlock(&lock);
}

void vs_task_set_target_uuid(VsTask *task, const char *uuid)
{
    set_target_field(&task->info.target_uuid, uuid);
}

void vs_task_set_target_internal(VsTask *task, const char *internal)
{
    set_target_field(&task->info.target_internal, internal);
}

void vs_tasks_set_namer(VsTaskNamer how) { namer = how; }

void vs_task_set_progress(VsTask *task, int percent)
{
    g_mutex_lock(&lock);
    if (!task->finished_early) /* it shows its end */
        task->info.progress = CLAMP(percent, 0, 100);
    g_mutex_unlock(&lock);
}

void vs_task_set_message(VsTask *task, const char *message)
{
    g_mutex_lock(&lock);
    if (!task->finished_early) {
        g_free(task->info.message);
        task->info.message = g_strdup(message);
    }
    g_mutex_unlock(&lock);
}

static VsTaskInfo *copy_info(const VsTaskInfo *info)
{
    VsTaskInfo *copy = g_new0(VsTaskInfo, 1);
    *copy = *info;
    copy->id = g_strdup(info->id);
    copy->message = g_strdup(info->message);
    copy->vm = g_strdup(info->vm);
    copy->snapshot = g_strdup(info->snapshot);
    copy->target_uri = g_strdup(info->target_uri);
    copy->target_uuid = g_strdup(info->target_uuid);
    copy->target_internal = g_strdup(info->target_internal);
    return copy;
}

/* INFO (may be NULL) with its target named as it is now (outside LOCK:
 * the namer may ask libvirt). */
static VsTaskInfo *named(VsTaskInfo *info, GHashTable *cache)
{
    if (info && info->vm && namer)
        namer(info, cache);
    return info;
}

static VsTask *load_record(const char *path, bool *interrupted);

/* The info of evicted task ID from its record, or NULL (expired since). */
static VsTaskInfo *load_evicted(guint64 id)
{
    g_autofree char *name = g_strdup_printf("%" G_GUINT64_FORMAT, id);
    g_autofree char *path = record_path(name);
    bool interrupted = false;
    VsTask *task = load_record(path, &interrupted);
    if (!task)
        return NULL;
    VsTaskInfo *info = copy_info(&task->info);
    task_free(task);
    return info;
}

static VsTaskInfo *get_info(const char *id, bool name_target);

VsTaskInfo *vs_task_get(const char *id) { return get_info(id, true); }

VsTaskInfo *vs_task_get_just_made(const char *id) { return get_info(id, false); }

static VsTaskInfo *get_info(const char *id, bool name_target)
{
    g_mutex_lock(&lock);
    VsTask *task = g_hash_table_lookup(tasks, id);
    VsTaskInfo *info = task ? copy_info(&task->info) : NULL;
    guint64 number = id_number(id);
    guint i = task || !evicted || number == 0 ? 0 : evicted_index(number);
    bool on_disk = !task && evicted && i < evicted->len &&
                   g_array_index(evicted, Evicted, i).id == number;
    g_mutex_unlock(&lock);
    if (on_disk) {
        g_autofree char *canonical = g_strdup_printf("%" G_GUINT64_FORMAT, number);
        if (!strcmp(canonical, id)) /* "007" is not task 7 */
            info = load_evicted(number);
    }
    if (!name_target)
        return info;
    g_autoptr(GHashTable) cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return named(info, cache);
}

VsTaskInfo *vs_task_wait(const char *id, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&lock);
    for (;;) {
        /* Looked up again after each wake: an ended task may leave memory. */
        VsTask *task = g_hash_table_lookup(tasks, id);
        if (!task || task->info.status != VS_TASK_RUNNING || waits_stopped ||
            !g_cond_wait_until(&ended, &lock, deadline))
            break;
    }
    g_mutex_unlock(&lock);
    return vs_task_get(id);
}

void vs_tasks_stop_waits(void)
{
    g_mutex_lock(&lock);
    waits_stopped = true;
    g_cond_broadcast(&ended);
    g_mutex_unlock(&lock);
}

GPtrArray *vs_tasks_list(bool running_only)
{
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)vs_task_info_free);
    GPtrArray *recent = g_ptr_array_new_with_free_func((GDestroyNotify)vs_task_info_free);
    g_mutex_lock(&lock);
    for (GList *l = order.head; l; l = l->next) {
        const VsTaskInfo *info = &((VsTask *)l->data)->info;
        if (!running_only || info->status == VS_TASK_RUNNING)
            g_ptr_array_add(recent, copy_info(info));
    }
    /* (evicted records are of ended tasks) */
    g_autoptr(GArray) old = evicted && !running_only ? g_array_copy(evicted) : NULL;
    g_mutex_unlock(&lock);
    /* Both by id: merge, reading the evicted ones from disk. */
    guint r = 0;
    for (guint e = 0; old && e < old->len; e++) {
        guint64 id = g_array_index(old, Evicted, e).id;
        for (; r < recent->len && id_number(((VsTaskInfo *)recent->pdata[r])->id) < id; r++)
            g_ptr_array_add(list, g_steal_pointer(&recent->pdata[r]));
        VsTaskInfo *info = load_evicted(id);
        if (info)
            g_ptr_array_add(list, info);
    }
    for (; r < recent->len; r++)
        g_ptr_array_add(list, g_steal_pointer(&recent->pdata[r]));
    g_ptr_array_unref(recent);
    g_autoptr(GHashTable) cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint k = 0; k < list->len; k++)
        named(list->pdata[k], cache);
    return list;
}

void vs_task_info_free(VsTaskInfo *info)
{
    if (!info)
        return;
    info_clear(info);
    g_free(info);
}

/* STATE/tasks/last-id: the highest id given out, written when expiry
 * removes records (it may remove the newest), so that the next start goes
 * on from it: a client's old /tasks/<id> is then 404, never another task
 * (with only the records to go by, ids began at 1 again after an hour). */
#define LAST_ID_FILE "last-id"

static bool save_last_id_locked(void)
{
    g_autofree char *path = g_build_filename(store_dir, LAST_ID_FILE, NULL);
    g_autofree char *text = g_strdup_printf("%" G_GUINT64_FORMAT "\n", next_id);
    g_autoptr(GError) error = NULL;
    if (g_file_set_contents_full(path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600,
                                 &error))
        return true;
    vs_warn("cannot keep the last task id (expired tasks' records stay on disk until it can): %s",
            error->message);
    return false;
}

/* Whether expiry at NOW, keeping KEEP_SECONDS, removes any record. */
static bool expires_any_locked(gint64 now, gint64 keep_seconds)
{
    for (GList *l = order.head; l; l = l->next) {
        const VsTask *task = l->data;
        if (task->ended && now - task->ended >= keep_seconds)
            return true;
    }
    for (guint i = 0; evicted && i < evicted->len; i++)
        if (now - g_array_index(evicted, Evicted, i).ended >= keep_seconds)
            return true;
    return false;
}

void vs_tasks_expire(gint64 keep_seconds)
{
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    g_mutex_lock(&lock);
    /* before any record goes: a kill part-way must not lose the highest id;
     * when it cannot be kept (a full disk), the records stay on disk (read
     * again and expired at the next start) and only memory is freed */
    bool unlink_records = store_dir && (!expires_any_locked(now, keep_seconds) ||
                                        save_last_id_locked());
    for (GList *l = order.head; l;) {
        GList *next = l->next;
        VsTask *task = l->data;
        if (task->ended && now - task->ended >= keep_seconds) {
            if (unlink_records) {
                g_autofree char *path = record_path(task->info.id);
                g_unlink(path);
            }
            g_hash_table_remove(tasks, task->info.id);
            g_queue_delete_link(&order, l);
            task_free(task);
            n_ended--;
        }
        l = next;
    }
    guint kept = 0;
    for (guint i = 0; evicted && unlink_records && i < evicted->len; i++) {
        Evicted *e = &g_array_index(evicted, Evicted, i);
        if (now - e->ended >= keep_seconds) {
            g_autofree char *id = g_strdup_printf("%" G_GUINT64_FORMAT, e->id);
            g_autofree char *path = record_path(id);
            g_unlink(path);
        } else {
            g_array_index(evicted, Evicted, kept++) = *e;
        }
    }
    if (evicted && unlink_records)
        g_array_set_size(evicted, kept);
    g_mutex_unlock(&lock);
}

static gint compare_ids(gconstpointer a, gconstpointer b)
{
    const VsTask *x = a, *y = b;
    guint64 i = id_number(x->info.id), j = id_number(y->info.id);
    return i < j ? -1 : i > j;
}

/* Loads one record; a task that was running is now failed. */
static VsTask *load_record(const char *path, bool *interrupted)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
        return NULL;
    g_autofree char *id = g_key_file_get_string(kf, "task", "id", NULL);
    if (!id || !*id || g_ascii_strtoull(id, NULL, 10) == 0)
        return NULL;
    VsTask *task = g_new0(VsTask, 1);
    task->info.id = g_steal_pointer(&id);
    task->info.status = (VsTaskStatus)CLAMP(g_key_file_get_integer(kf, "task", "status", NULL), 0, 2);
    task->info.message = g_key_file_get_string(kf, "task", "message", NULL);
    task->info.vm = g_key_file_get_string(kf, "task", "vm", NULL);
    task->info.snapshot = g_key_file_get_string(kf, "task", "snapshot", NULL);
    task->info.target_uuid = g_key_file_get_string(kf, "task", "vm_uuid", NULL);
    task->info.target_internal = g_key_file_get_string(kf, "task", "internal", NULL);
    if (!task->info.vm) /* a record from before */
        task->info.target_uri = g_key_file_get_string(kf, "task", "target_uri", NULL);
    task->info.created = g_key_file_get_int64(kf, "task", "created", NULL);
    task->info.progress = g_key_file_get_integer(kf, "task", "progress", NULL);
    task->ended = g_key_file_get_int64(kf, "task", "ended", NULL);
    *interrupted = task->info.status == VS_TASK_RUNNING;
    if (*interrupted) {
        task->info.status = VS_TASK_FAILED;
        g_free(task->info.message);
        task->info.message = g_strdup(INTERRUPTED);
        task->ended = g_get_real_time() / G_USEC_PER_SEC;
    }
    return task;
}

bool vs_tasks_persist(const char *dir, GError **error)
{
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot create %s", dir);
        return false;
    }
    g_autoptr(GDir) listing = g_dir_open(dir, 0, error);
    if (!listing)
        return false;
    g_mutex_lock(&lock);
    g_free(store_dir);
    store_dir = g_strdup(dir);
    GList *loaded = NULL;
    g_autofree char *last_path = g_build_filename(dir, LAST_ID_FILE, NULL);
    g_autofree char *last = NULL;
    if (g_file_get_contents(last_path, &last, NULL, NULL))
        next_id = MAX(next_id, g_ascii_strtoull(last, NULL, 10));
    const char *name;
    while ((name = g_dir_read_name(listing))) {
        if (g_str_has_suffix(name, ".early")) { /* a write cut short */
            g_autofree char *tmp = g_build_filename(dir, name, NULL);
            g_unlink(tmp);
            continue;
        }
        if (!g_str_has_suffix(name, ".task"))
            continue;
        g_autofree char *path = g_build_filename(dir, name, NULL);
        bool interrupted = false;
        VsTask *task = load_record(path, &interrupted);
        if (!task) {
            g_unlink(path);
            continue;
        }
        if (interrupted) {
            save_record(task, RECORD_FINAL);
            vs_warn("task %s (VM '%s'%s%s) was interrupted by a stop of virtsnapd",
                    task->info.id, task->info.vm ? task->info.vm : "?",
                    task->info.snapshot ? ", snapshot " : "",
                    task->info.snapshot ? task->info.snapshot : "");
        }
        next_id = MAX(next_id, g_ascii_strtoull(task->info.id, NULL, 10));
        loaded = g_list_prepend(loaded, task);
    }
    loaded = g_list_sort(loaded, compare_ids);
    for (GList *l = loaded; l; l = l->next) {
        VsTask *task = l->data;
        task->saved = true;
        n_ended++;
        g_hash_table_insert(tasks, task->info.id, task);
        g_queue_push_tail(&order, task);
    }
    g_list_free(loaded);
    evict_locked();
    g_mutex_unlock(&lock);
    return true;
}
