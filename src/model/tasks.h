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
    /* The target, named as it is now (vs_tasks_set_namer: a VM or snapshot
     * renamed since the task was made shows its new name): a VM, or
     * SNAPSHOT (display name) of VM. NULL VM: a record from before targets
     * were kept so, whose TARGET_URI is the URI it was made with. */
    char *vm, *snapshot;
    char *target_uri;
    /* What names it: the VM's UUID (NULL until known: a clone's new VM)
     * and the snapshot's libvirt name (NULL until chosen). */
    char *target_uuid, *target_internal;
    gint64 created;
    int progress; /* 0..100, or -1 when unknown */
} VsTaskInfo;

/* What a task is made for: VM (with VM_UUID when known) or its snapshot
 * SNAPSHOT (display name), by the names they have as it starts. */
typedef struct {
    const char *vm_uuid, *vm, *snapshot;
} VsTaskTarget;

/* Names INFO's target as it is now: may replace INFO->vm and
 * INFO->snapshot (found through target_uuid and target_internal). CACHE
 * (char* → char*, freed by the caller) lasts one answer: a list names each
 * VM once. */
typedef void (*VsTaskNamer)(VsTaskInfo *info, GHashTable *cache);

void vs_tasks_init(void);
/* Keeps task records in DIR too, so they outlive the process: records of
 * tasks that were running when virtsnapd stopped are loaded as failed. */
bool vs_tasks_persist(const char *dir, GError **error);
void vs_tasks_shutdown(void); /* waits for running tasks */

/* Starts FN(task, DATA) on a worker, for TARGET; DATA is freed with
 * FREE_DATA after. Returns the new task's id. */
char *vs_task_start(const VsTaskTarget *target, VsTaskFunc fn, gpointer data,
                    GDestroyNotify free_data);
/* From inside FN: the target VM's UUID once known (a clone's new VM), and
 * the libvirt name of the target snapshot once chosen. */
void vs_task_set_target_uuid(VsTask *task, const char *uuid);
void vs_task_set_target_internal(VsTask *task, const char *internal);
/* How tasks' targets are named as they are now (the model's VMs and
 * snapshots); without one, by the names they were made with. */
void vs_tasks_set_namer(VsTaskNamer namer);

/* Shows TASK as finished now, from inside its FN, which then only tidies up
 * what a crash would leave recovered the same way anyway: clients waiting for
 * the end learn it before that. FN still returns TRUE. Its record on disk
 * says "finished" from now on (written without an fsync; the final one,
 * synced, follows when FN returns); its progress and message stay. */
void vs_task_finish_early(VsTask *task);

void vs_task_set_progress(VsTask *task, int percent);
void vs_task_set_message(VsTask *task, const char *message);

VsTaskInfo *vs_task_get(const char *id); /* NULL if unknown */
/* The same for the answer to the request that made task ID: its target
 * has the names just given (no look-up). */
VsTaskInfo *vs_task_get_just_made(const char *id);
/* vs_task_get once task ID has ended, TIMEOUT_MS have passed or waits were
 * stopped, whichever comes first: a client learns of the end at once
 * without polling. */
VsTaskInfo *vs_task_wait(const char *id, guint timeout_ms);
/* Ends every wait now and from now on (before the HTTP server stops). */
void vs_tasks_stop_waits(void);
/* Of VsTaskInfo*, oldest first: all known tasks, or RUNNING_ONLY those
 * running (from memory alone: no ended record is read back from disk). */
GPtrArray *vs_tasks_list(bool running_only);
void vs_task_info_free(VsTaskInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsTaskInfo, vs_task_info_free)

/* Drops ended tasks older than KEEP_SECONDS (the daemon uses 3600+). */
void vs_tasks_expire(gint64 keep_seconds);
