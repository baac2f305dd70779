/* tasks.c: the /tasks resource: list and look up long operations. */
#include "api.h"

#include "../model/tasks.h"
#include "json.h"

json_t *vs_json_task(const VsTaskInfo *task)
{
    static const char *status[] = {"running", "finished", "failed"};
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", task->id, "status",
                            status[task->status], "message", task->message ? task->message : "",
                            "target_uri", task->target_uri ? task->target_uri : "", "created",
                            (json_int_t)task->created);
    if (task->progress >= 0)
        json_object_set_new(obj, "progress", json_integer(task->progress));
    return obj;
}

void vs_api_task_accepted(VsApiResponse *resp, const char *task_id)
{
    g_autoptr(VsTaskInfo) task = vs_task_get(task_id);
    g_free(resp->location);
    resp->location = g_strdup_printf("/tasks/%s", task_id);
    if (task)
        vs_api_json(resp, 202, vs_json_task(task));
    else
        vs_api_error(resp, 500, "task %s vanished", task_id);
}

void vs_api_tasks_list(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(GPtrArray) tasks = vs_tasks_list();
    json_t *list = json_array();
    for (guint i = 0; i < tasks->len; i++)
        json_array_append_new(list, vs_json_task(g_ptr_array_index(tasks, i)));
    vs_api_json(resp, 200, list);
}

void vs_api_task_get(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(VsTaskInfo) task = vs_task_get(req->params[0]);
    if (!task) {
        vs_api_error(resp, 404, "task '%s' does not exist", req->params[0]);
        return;
    }
    vs_api_json(resp, 200, vs_json_task(task));
}
