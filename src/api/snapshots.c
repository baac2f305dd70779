/* snapshots.c: the /vms/<vm>/snapshots resource: list (roots, children of a
 * parent, all), create as a task, look up, rename and describe, delete
 * (alone or with its subtree) and revert. Calls src/model/snapshot.c. */
#include "api.h"

#include "../model/snapshot.h"
#include "../model/tasks.h"
#include "json.h"

#include <string.h>

json_t *vs_json_snapshot(const VsSnapshot *s)
{
    json_t *obj = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:b, s:b, s:i}", "name", s->name,
                            "state", s->state, "created", (json_int_t)s->created, "parent",
                            s->parent, "description", s->description, "memory", s->memory,
                            "live", s->live, "current", s->current, "children", s->children);
    if (s->measured) {
        /* to 0.1 ms: the measure is no finer */
        json_object_set_new(obj, "downtime_ms", json_real((double)(gint64)(s->downtime_ms * 10 + 0.5) / 10));
        json_object_set_new(obj, "memory_bytes", json_integer((json_int_t)s->memory_bytes));
    }
    return obj;
}

static const char *string_field(const VsApiRequest *req, const char *name)
{
    json_t *value = req->body ? json_object_get(req->body, name) : NULL;
    return value ? json_string_value(value) : NULL;
}

#define VS_DESCRIPTION_MAX 4096

static bool check_description(VsApiResponse *resp, const char *description)
{
    if (!description)
        return true;
    if (strlen(description) > VS_DESCRIPTION_MAX) {
        vs_api_error(resp, 400, "field 'description' must be at most %d bytes", VS_DESCRIPTION_MAX);
        return false;
    }
    for (const char *p = description; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        /* Control characters (C0 but tab and newline, DEL, C1) and what XML
         * 1.0 cannot carry (libvirt keeps descriptions in XML; a carriage
         * return would come back as a newline after XML's line-end rule). */
        bool control = g_unichar_iscntrl(c) && c != '\n' && c != '\t';
        if (control || c == 0xFFFE || c == 0xFFFF) {
            vs_api_error(resp, 400, "field 'description' must not contain control characters");
            return false;
        }
    }
    return true;
}

/* The optional {"name", "description"} body of create (which also takes
 * the third, "live") and update. */
const VsField vs_api_snapshot_fields[VS_API_N_SNAPSHOT_FIELDS] = {
    {"name", VS_FIELD_STRING, false},
    {"description", VS_FIELD_STRING, false},
    {"live", VS_FIELD_BOOL, false}};

/* CURRENT: the snapshot's name now (a change), whose name, given again
 * unchanged, is no rename and so passes whatever another tool named it;
 * NULL for a new snapshot. */
static bool read_name_description(const VsApiRequest *req, VsApiResponse *resp, size_t n_fields,
                                  const char *current, const char **name, const char **description)
{
    *name = string_field(req, "name");
    *description = string_field(req, "description");
    bool unchanged = *name && current && strcmp(*name, current) == 0;
    return vs_api_check_query(req, resp, NULL) &&
           vs_api_check_body(req, resp, vs_api_snapshot_fields, n_fields) &&
           (!*name || unchanged || vs_api_check_name(resp, "snapshot", *name)) &&
           check_description(resp, *description);
}

void vs_api_snapshots_list(const VsApiRequest *req, VsApiResponse *resp)
{
    static const char *const query[] = {"parent", "all", NULL};
    bool ok = true;
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    bool all = vs_api_query_flag(req, resp, "all", &ok);
    const char *parent = g_hash_table_lookup(req->query, "parent");
    bool by_parent = parent != NULL;
    /* "": a root's parent, as a snapshot shows it: the roots (a client can
     * walk up with ?parent=<snap.parent>) */
    if (parent && !*parent)
        parent = NULL;
    if (!ok || (parent && !vs_api_check_addressable(resp, "parent snapshot", parent)))
        return;
    if (all && by_parent) {
        vs_api_error(resp, 400, "use either 'parent' or 'all', not both");
        return;
    }
    VsSnapList kind = all ? VS_SNAP_ALL : parent ? VS_SNAP_CHILDREN : VS_SNAP_ROOTS;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) snaps = vs_snapshot_list(req->params[0], kind, parent, &error);
    if (!snaps) {
        vs_api_gerror(resp, error);
        return;
    }
    GString *list = g_string_sized_new(snaps->len * 160 + 2);
    for (guint i = 0; i < snaps->len; i++)
        vs_api_json_array_add(list, vs_json_snapshot(g_ptr_array_index(snaps, i)));
    vs_api_json_array(resp, 200, list);
}

void vs_api_snapshots_create(const VsApiRequest *req, VsApiResponse *resp)
{
    const char *name = NULL, *description = NULL;
    if (!read_name_description(req, resp, 3, NULL, &name, &description))
        return;
    json_t *live = req->body ? json_object_get(req->body, "live") : NULL;
    VsLiveMode mode = !live ? VS_LIVE_AUTO : json_is_true(live) ? VS_LIVE_ON : VS_LIVE_OFF;
    g_autoptr(GError) error = NULL;
    VsSnapshotJob *job = vs_snapshot_prepare(req->params[0], name, description, mode, &error);
    if (!job) {
        vs_api_gerror(resp, error);
        return;
    }
    VsTaskTarget target = {.vm_uuid = vs_snapshot_job_uuid(job), .vm = vs_snapshot_job_vm(job),
                           .snapshot = vs_snapshot_job_name(job)};
    g_autofree char *id = vs_task_start(&target, vs_snapshot_job_run, job, vs_snapshot_job_free);
    vs_api_task_accepted(resp, id);
}

static void answer_snapshot(VsApiResponse *resp, VsSnapshot *snap, GError *error)
{
    if (snap)
        vs_api_json(resp, 200, vs_json_snapshot(snap));
    else
        vs_api_gerror(resp, error);
}

void vs_api_snapshot_get(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(VsSnapshot) snap = vs_snapshot_get(req->params[0], req->params[1], &error);
    answer_snapshot(resp, snap, error);
}

void vs_api_snapshot_update(const VsApiRequest *req, VsApiResponse *resp)
{
    const char *name = NULL, *description = NULL;
    if (!read_name_description(req, resp, 2, req->params[1], &name, &description))
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(VsSnapshot) snap =
        vs_snapshot_update(req->params[0], req->params[1], name, description, &error);
    answer_snapshot(resp, snap, error);
}

void vs_api_snapshot_delete(const VsApiRequest *req, VsApiResponse *resp)
{
    static const char *const query[] = {"children", NULL};
    bool ok = true;
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    bool children = vs_api_query_flag(req, resp, "children", &ok);
    if (!ok)
        return;
    g_autoptr(GError) error = NULL;
    if (vs_snapshot_delete(req->params[0], req->params[1], children, &error))
        vs_api_json(resp, 204, NULL);
    else
        vs_api_gerror(resp, error);
}

void vs_api_snapshot_revert(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(VsSnapshot) snap = vs_snapshot_revert(req->params[0], req->params[1], &error);
    answer_snapshot(resp, snap, error);
}
