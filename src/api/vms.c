/* vms.c: the /vms resource: list, create, inspect, update (memory, cpus,
 * huge pages, rename), delete, power actions and clone. Parses and validates requests,
 * calls src/model/vm.c and clone.c, and formats VM objects. */
#include "api.h"

#include "../model/clone.h"
#include "../model/tasks.h"
#include "../model/vm.h"
#include "json.h"

json_t *vs_json_vm(const VsVm *vm)
{
    json_t *disks = json_array();
    for (guint i = 0; vm->disks && i < vm->disks->len; i++) {
        const VsDisk *d = g_ptr_array_index(vm->disks, i);
        json_array_append_new(disks, json_pack("{s:s, s:s, s:s, s:I}", "target", d->target,
                                               "path", d->path ? d->path : "", "format",
                                               d->format, "size", (json_int_t)d->size));
    }
    json_t *obj = json_pack("{s:s, s:s, s:s, s:b, s:I, s:i, s:b, s:o, s:s, s:i}", "name",
                            vm->name, "uuid", vm->uuid, "state", vm->state, "persistent",
                            vm->persistent, "memory", (json_int_t)vm->memory_mib, "cpus",
                            (int)vm->cpus, "hugepages", vm->hugepages, "disks", disks,
                            "current-snapshot", vm->current_snapshot, "snapshots", vm->snapshots);
    if (vm->serial_log)
        json_object_set_new(obj, "serial_log", json_string(vm->serial_log));
    if (vm->next_start)
        json_object_set_new(obj, "next_start",
                            json_pack("{s:I, s:i, s:b}", "memory", (json_int_t)vm->next_memory_mib,
                                      "cpus", (int)vm->next_cpus, "hugepages", vm->next_hugepages));
    return obj;
}

void vs_api_vms_list(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) vms = vs_vm_list(&error);
    if (!vms) {
        vs_api_gerror(resp, error);
        return;
    }
    json_t *list = json_array();
    for (guint i = 0; i < vms->len; i++)
        json_array_append_new(list, vs_json_vm(g_ptr_array_index(vms, i)));
    vs_api_json(resp, 200, list);
}

/* An integer field from MIN (at least 1) to MAX, or 0 when absent; false
 * (400 sent, naming the range) when out of it. */
static bool range_field(const VsApiRequest *req, VsApiResponse *resp, const char *name,
                           guint64 min, guint64 max, guint64 *out)
{
    json_t *value = req->body ? json_object_get(req->body, name) : NULL;
    *out = 0;
    if (!value)
        return true;
    json_int_t n = json_integer_value(value);
    if (n < (json_int_t)min || (guint64)n > max) {
        vs_api_error(resp, 400, "field '%s' must be between %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT,
                     name, min, max);
        return false;
    }
    *out = (guint64)n;
    return true;
}

static const char *string_field(const VsApiRequest *req, const char *name)
{
    json_t *value = req->body ? json_object_get(req->body, name) : NULL;
    return value ? json_string_value(value) : NULL;
}

/* An optional boolean field (its type already checked): KEEP when absent. */
static VsHugepagesChange hugepages_field(const VsApiRequest *req)
{
    json_t *value = req->body ? json_object_get(req->body, "hugepages") : NULL;
    return !value ? VS_HUGEPAGES_KEEP : json_is_true(value) ? VS_HUGEPAGES_ON : VS_HUGEPAGES_OFF;
}

static void answer_vm(VsApiResponse *resp, int status, VsVm *vm, GError *error)
{
    if (vm)
        vs_api_json(resp, status, vs_json_vm(vm));
    else
        vs_api_gerror(resp, error);
}

const VsField vs_api_vm_create_fields[VS_API_N_VM_CREATE_FIELDS] = {
    {"name", VS_FIELD_STRING, true}, {"memory", VS_FIELD_INT, false},
    {"cpus", VS_FIELD_INT, false},   {"disk", VS_FIELD_INT, false},
    {"image", VS_FIELD_STRING, false}, {"hugepages", VS_FIELD_BOOL, false}};
const VsField vs_api_vm_update_fields[VS_API_N_VM_UPDATE_FIELDS] = {
    {"name", VS_FIELD_STRING, false}, {"memory", VS_FIELD_INT, false},
    {"cpus", VS_FIELD_INT, false}, {"hugepages", VS_FIELD_BOOL, false}};
const VsField vs_api_vm_clone_fields[VS_API_N_VM_CLONE_FIELDS] = {{"name", VS_FIELD_STRING, false}};

void vs_api_vms_create(const VsApiRequest *req, VsApiResponse *resp)
{
    guint64 memory, cpus, disk;
    if (!vs_api_check_query(req, resp, NULL) ||
        !vs_api_check_body(req, resp, vs_api_vm_create_fields, VS_API_N_VM_CREATE_FIELDS) ||
        !vs_api_check_vm_name(resp, string_field(req, "name")) ||
        !range_field(req, resp, "memory", VS_VM_MIN_MEMORY_MIB, VS_VM_MAX_MEMORY_MIB, &memory) ||
        !range_field(req, resp, "cpus", 1, VS_VM_MAX_CPUS, &cpus) ||
        !range_field(req, resp, "disk", 1, VS_VM_MAX_DISK_GIB, &disk))
        return;
    VsVmSpec spec = {.name = string_field(req, "name"),
                     .memory_mib = memory,
                     .cpus = (guint)cpus,
                     .disk_gib = disk,
                     .image = string_field(req, "image"),
                     .hugepages = hugepages_field(req) == VS_HUGEPAGES_ON};
    g_autoptr(GError) error = NULL;
    g_autoptr(VsVm) vm = vs_vm_create(&spec, &error);
    if (vm)
        resp->location = vs_api_vm_uri(vm->name);
    answer_vm(resp, 201, vm, error);
}

void vs_api_vm_get(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(VsVm) vm = vs_vm_get(req->params[0], &error);
    answer_vm(resp, 200, vm, error);
}

void vs_api_vm_update(const VsApiRequest *req, VsApiResponse *resp)
{
    guint64 memory, cpus;
    const char *name = string_field(req, "name");
    if (!vs_api_check_query(req, resp, NULL) ||
        !vs_api_check_body(req, resp, vs_api_vm_update_fields, VS_API_N_VM_UPDATE_FIELDS) ||
        /* (its own name, unchanged, as another tool may have given it: no rename) */
        (name && strcmp(name, req->params[0]) != 0 && !vs_api_check_vm_name(resp, name)) ||
        !range_field(req, resp, "memory", VS_VM_MIN_MEMORY_MIB, VS_VM_MAX_MEMORY_MIB, &memory) ||
        !range_field(req, resp, "cpus", 1, VS_VM_MAX_CPUS, &cpus))
        return;
    VsVmChange change = {.name = name,
                         .memory_mib = memory,
                         .cpus = (guint)cpus,
                         .hugepages = hugepages_field(req)};
    g_autoptr(GError) error = NULL;
    g_autoptr(VsVm) vm = vs_vm_update(req->params[0], &change, &error);
    answer_vm(resp, 200, vm, error);
}

void vs_api_vm_delete(const VsApiRequest *req, VsApiResponse *resp)
{
    static const char *const query[] = {"disks", NULL};
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    const char *disks = g_hash_table_lookup(req->query, "disks");
    if (disks && g_strcmp0(disks, "keep") != 0 && g_strcmp0(disks, "delete") != 0) {
        vs_api_error(resp, 400, "query parameter 'disks' must be 'keep' or 'delete'");
        return;
    }
    g_autoptr(GError) error = NULL;
    if (vs_vm_delete(req->params[0], g_strcmp0(disks, "keep") == 0, &error))
        vs_api_json(resp, 204, NULL);
    else
        vs_api_gerror(resp, error);
}

static void act(const VsApiRequest *req, VsApiResponse *resp, VsVmAction action)
{
    static const char *const query[] = {"discard_snapshots", NULL};
    bool ok = true;
    if (!vs_api_check_query(req, resp, query) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    bool discard = vs_api_query_flag(req, resp, "discard_snapshots", &ok);
    if (!ok)
        return;
    g_autoptr(GError) error = NULL;
    g_autoptr(VsVm) vm = vs_vm_act(req->params[0], action, discard, &error);
    answer_vm(resp, 200, vm, error);
}

void vs_api_vm_start(const VsApiRequest *req, VsApiResponse *resp) { act(req, resp, VS_VM_START); }
void vs_api_vm_poweroff(const VsApiRequest *req, VsApiResponse *resp) { act(req, resp, VS_VM_POWEROFF); }
void vs_api_vm_shutdown(const VsApiRequest *req, VsApiResponse *resp) { act(req, resp, VS_VM_SHUTDOWN); }
void vs_api_vm_suspend(const VsApiRequest *req, VsApiResponse *resp) { act(req, resp, VS_VM_SUSPEND); }
void vs_api_vm_resume(const VsApiRequest *req, VsApiResponse *resp) { act(req, resp, VS_VM_RESUME); }

void vs_api_vm_clone(const VsApiRequest *req, VsApiResponse *resp)
{
    const char *name = string_field(req, "name");
    if (!vs_api_check_query(req, resp, NULL) ||
        !vs_api_check_body(req, resp, vs_api_vm_clone_fields, VS_API_N_VM_CLONE_FIELDS) ||
        (name && !vs_api_check_vm_name(resp, name)))
        return;
    g_autoptr(GError) error = NULL;
    VsCloneJob *job = vs_clone_prepare(req->params[0], name, &error);
    if (!job) {
        vs_api_gerror(resp, error);
        return;
    }
    VsTaskTarget target = {.vm = vs_clone_job_name(job)}; /* its UUID: once it runs */
    g_autofree char *id = vs_task_start(&target, vs_clone_job_run, job, vs_clone_job_free);
    vs_api_task_accepted(resp, id);
}
