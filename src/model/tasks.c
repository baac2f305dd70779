/* tasks.c: the task registry and its worker threads. */
#include "tasks.h"

#include "../util/log.h"

struct VsTask {
    VsTaskInfo info;
    gint64 ended; /* monotonic seconds, 0 while running */
    VsTaskFunc fn;
    gpointer data;
    GDestroyNotify free_data;
};

static GMutex lock;          /* guards tasks, order and every VsTask's info */
static GHashTable *tasks;    /* id → VsTask* */
static GQueue order;         /* VsTask*, oldest first */
static GThreadPool *workers;
static guint64 next_id;

static void task_free(VsTask *task)
{
    g_free(task->info.id);
    g_free(task->info.message);
    g_free(task->info.target_uri);
    g_free(task);
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
    task->info.status = ok ? VS_TASK_FINISHED : VS_TASK_FAILED;
    g_free(task->info.message);
    task->info.message = g_strdup(ok ? "OK" : error ? error->message : "failed");
    if (ok)
        task->info.progress = task->info.progress >= 0 ? 100 : -1;
    task->ended = g_get_monotonic_time() / G_USEC_PER_SEC;
    g_mutex_unlock(&lock);
    if (!ok)
        vs_warn("task %s failed: %s", task->info.id, task->info.message);
}

void vs_tasks_init(void)
{
    tasks = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&order);
    /* Unbounded: a task waiting for its VM's lock must not hold up others. */
    workers = g_thread_pool_new(run_task, NULL, -1, FALSE, NULL);
}

void vs_tasks_shutdown(void)
{
    if (!workers)
        return;
    g_thread_pool_free(g_steal_pointer(&workers), FALSE, TRUE);
    g_queue_free_full(&order, (GDestroyNotify)task_free);
    g_queue_init(&order);
    g_clear_pointer(&tasks, g_hash_table_unref);
}

char *vs_task_start(const char *target_uri, VsTaskFunc fn, gpointer data,
                    GDestroyNotify free_data)
{
    VsTask *task = g_new0(VsTask, 1);
    task->fn = fn;
    task->data = data;
    task->free_data = free_data;
    task->info.status = VS_TASK_RUNNING;
    task->info.message = g_strdup("running");
    task->info.target_uri = g_strdup(target_uri);
    task->info.created = g_get_real_time() / G_USEC_PER_SEC;
    task->info.progress = -1;
    g_mutex_lock(&lock);
    task->info.id = g_strdup_printf("%" G_GUINT64_FORMAT, ++next_id);
    g_hash_table_insert(tasks, task->info.id, task);
    g_queue_push_tail(&order, task);
    char *id = g_strdup(task->info.id);
    g_mutex_unlock(&lock);
    g_thread_pool_push(workers, task, NULL);
    return id;
}

void vs_task_set_progress(VsTask *task, int percent)
{
    g_mutex_lock(&lock);
    task->info.progress = CLAMP(percent, 0, 100);
    g_mutex_unlock(&lock);
}

void vs_task_set_message(VsTask *task, const char *message)
{
    g_mutex_lock(&lock);
    g_free(task->info.message);
    task->info.message = g_strdup(message);
    g_mutex_unlock(&lock);
}

static VsTaskInfo *copy_info(const VsTaskInfo *info)
{
    VsTaskInfo *copy = g_new0(VsTaskInfo, 1);
    *copy = *info;
    copy->id = g_strdup(info->id);
    copy->message = g_strdup(info->message);
    copy->target_uri = g_strdup(info->target_uri);
    return copy;
}

VsTaskInfo *vs_task_get(const char *id)
{
    g_mutex_lock(&lock);
    VsTask *task = g_hash_table_lookup(tasks, id);
    VsTaskInfo *info = task ? copy_info(&task->info) : NULL;
    g_mutex_unlock(&lock);
    return info;
}

GPtrArray *vs_tasks_list(void)
{
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)vs_task_info_free);
    g_mutex_lock(&lock);
    for (GList *l = order.head; l; l = l->next)
        g_ptr_array_add(list, copy_info(&((VsTask *)l->data)->info));
    g_mutex_unlock(&lock);
    return list;
}

void vs_task_info_free(VsTaskInfo *info)
{
    if (!info)
        return;
    g_free(info->id);
    g_free(info->message);
    g_free(info->target_uri);
    g_free(info);
}

void vs_tasks_expire(gint64 keep_seconds)
{
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    g_mutex_lock(&lock);
    for (GList *l = order.head; l;) {
        GList *next = l->next;
        VsTask *task = l->data;
        if (task->ended && now - task->ended >= keep_seconds) {
            g_hash_table_remove(tasks, task->info.id);
            g_queue_delete_link(&order, l);
            task_free(task);
        }
        l = next;
    }
    g_mutex_unlock(&lock);
}
