/* tasks.h: the registry of long operations (snapshot create, clone). Each
 * task runs on a worker thread; its record stays queryable for at least an
 * hour after it ends. */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct VsTask VsTask;
typedef enum { VS_TASK_RUNNING, VS_TASK_FINISHED, VS_TASK_FAILED } VsTaskStatus;

/* The work: returns FALSE with ERROR set on failure. */
typedef gboolean (*VsTaskFunc)(VsTask *task, gpointer data, GError **error);

typedef struct {
    char *id;
    VsTaskStatus status;
    char *message;
    char *target_uri;
    gint64 created;
    int progress; /* 0..100, or -1 when unknown */
} VsTaskInfo;

void vs_tasks_init(void);
/* Keeps task records in DIR too, so they outlive the process: records of
 * tasks that were running when virtsnapd stopped are loaded as failed. */
bool vs_tasks_persist(const char *dir, GError **error);
void vs_tasks_shutdown(void); /* waits for running tasks */

/* Starts FN(task, DATA) on a worker; DATA is freed with FREE_DATA after.
 * Returns the new task's id. */
char *vs_task_start(const char *target_uri, VsTaskFunc fn, gpointer data,
                    GDestroyNotify free_data);

/* Shows TASK as finished now, from inside its FN, which then only tidies up
 * what a crash would leave recovered the same way anyway: clients waiting for
 * the end learn it before that. FN still returns TRUE. Its record on disk
 * says "finished" from now on (written without an fsync; the final one,
 * synced, follows when FN returns); its progress and message stay. */
void vs_task_finish_early(VsTask *task);

void vs_task_set_progress(VsTask *task, int percent);
void vs_task_set_message(VsTask *task, const char *message);

VsTaskInfo *vs_task_get(const char *id); /* NULL if unknown */
/* vs_task_get once task ID has ended, TIMEOUT_MS have passed or waits were
 * stopped, whichever comes first: a client learns of the end at once
 * without polling. */
VsTaskInfo *vs_task_wait(const char *id, guint timeout_ms);
/* Ends every wait now and from now on (before the HTTP server stops). */
void vs_tasks_stop_waits(void);
GPtrArray *vs_tasks_list(void);          /* of VsTaskInfo*, oldest first */
void vs_task_info_free(VsTaskInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsTaskInfo, vs_task_info_free)

/* Drops ended tasks older than KEEP_SECONDS (the daemon uses 3600+). */
void vs_tasks_expire(gint64 keep_seconds);
