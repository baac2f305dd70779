/* tasks.c: the /tasks resource: list and look up long operations. */
#include "api.h"

#include "../model/tasks.h"
#include "json.h"

/* By VsTaskStatus. */
static const char *const status_names[] = {"running", "finished", "failed"};

json_t *vs_json_task(const VsTaskInfo *task)
{
    /* The target's names as they are now (the model follows renames). */
    g_autofree char *target = !task->vm       ? g_strdup(task->target_uri ? task->target_uri : "")
                              : task->snapshot ? vs_api_snapshot_uri(task->vm, task->snapshot)
                                               : vs_api_vm_uri(task->vm);
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", task->id, "status",
                            status_names[task->status], "message", task->message ? task->message : "",
                            "target_uri", target, "created", (json_int_t)task->created);
    if (task->progress >= 0)
        json_object_set_new(obj, "progress", json_integer(task->progress));
    return obj;
}

void vs_api_task_accepted(VsApiResponse *resp, const char *task_id)
{
    g_autoptr(VsTaskInfo) task = vs_task_get_just_made(task_id);
    g_free(resp->location);
    resp->location = g_strdup_printf("/tasks/%s", task_id);
    if (task)
        vs_api_json(resp, 202, vs_json_task(task));
    else
        vs_api_error(resp, 500, "task %s vanished", task_id);
}

/* ?status=running|finished|failed as the status it keeps (-1: all,
 * absent); -2 with RESP set for any other value. */
static int status_filter(const VsApiRequest *req, VsApiResponse *resp)
{
    const char *value = req->query ? g_hash_table_lookup(req->query, "status") : NULL;
    if (!value)
        return -1;
    for (int s = 0; s < (int)G_N_ELEMENTS(status_names); s++)
        if (strcmp(value, status_names[s]) == 0)
            return s;
    vs_api_error(resp, 400, "query parameter 'status' must be running, finished or failed");
    return -2;
}

void vs_api_tasks_list(const VsApiRequest *req, VsApiResponse *resp)
{
    static const char *const query[] = {"status", NULL};
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    int only = status_filter(req, resp);
    if (only == -2)
        return;
    g_autoptr(GPtrArray) tasks = vs_tasks_list(only == VS_TASK_RUNNING);
    json_t *list = json_array();
    for (guint i = 0; i < tasks->len; i++) {
        const VsTaskInfo *task = g_ptr_array_index(tasks, i);
        if (only < 0 || (int)task->status == only)
            json_array_append_new(list, vs_json_task(task));
    }
    vs_api_json(resp, 200, list);
}

/* The longest ?wait= a client may ask for, in seconds: under the 30 s after
 * which clients and proxies commonly give up on a silent request (the
 * server's own idle timeout does not run while a handler waits). */
#define MAX_WAIT_SECONDS 25

/* ?wait=SECONDS (0 to MAX_WAIT_SECONDS) as milliseconds, 0 when absent; -1
 * with RESP set when it is not such a number. */
static int wait_ms(const VsApiRequest *req, VsApiResponse *resp)
{
    const char *value = req->query ? g_hash_table_lookup(req->query, "wait") : NULL;
    if (!value)
        return 0;
    guint64 seconds = 0;
    if (!g_ascii_string_to_unsigned(value, 10, 0, MAX_WAIT_SECONDS, &seconds, NULL)) {
        vs_api_error(resp, 400, "query parameter 'wait' must be a number of seconds from 0 to %d",
                     MAX_WAIT_SECONDS);
        return -1;
    }
    return (int)seconds * 1000;
}

void vs_api_task_get(const VsApiRequest *req, VsApiResponse *resp)
{
    static const char *const query[] = {"wait", NULL};
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    int wait = wait_ms(req, resp);
    if (wait < 0)
        return;
    g_autoptr(VsTaskInfo) task =
        wait > 0 ? vs_task_wait(req->params[0], (guint)wait) : vs_task_get(req->params[0]);
    if (!task) {
        vs_api_error(resp, 404, "task '%s' does not exist", req->params[0]);
        return;
    }
    vs_api_json(resp, 200, vs_json_task(task));
}
