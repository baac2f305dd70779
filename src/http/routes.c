/* routes.c: the REST API's route table: method + path pattern → handler. */
#include "routes.h"

#include "../api/api.h"

static const VsRoute routes[] = {
    {"POST", "/login", vs_api_login},
    {"POST", "/logout", vs_api_logout},
    {"GET", "/tasks", vs_api_tasks_list},
    {"GET", "/tasks/{id}", vs_api_task_get},
    {"GET", "/vms", vs_api_vms_list},
    {"POST", "/vms", vs_api_vms_create},
    {"GET", "/vms/{vm}", vs_api_vm_get},
    {"PUT", "/vms/{vm}", vs_api_vm_update},
    {"DELETE", "/vms/{vm}", vs_api_vm_delete},
    {"POST", "/vms/{vm}/start", vs_api_vm_start},
    {"POST", "/vms/{vm}/poweroff", vs_api_vm_poweroff},
    {"POST", "/vms/{vm}/shutdown", vs_api_vm_shutdown},
    {"POST", "/vms/{vm}/suspend", vs_api_vm_suspend},
    {"POST", "/vms/{vm}/resume", vs_api_vm_resume},
    {"POST", "/vms/{vm}/clone", vs_api_vm_clone},
    {"GET", "/vms/{vm}/snapshots", vs_api_snapshots_list},
    {"POST", "/vms/{vm}/snapshots", vs_api_snapshots_create},
    {"GET", "/vms/{vm}/snapshots/{snap}", vs_api_snapshot_get},
    {"PUT", "/vms/{vm}/snapshots/{snap}", vs_api_snapshot_update},
    {"DELETE", "/vms/{vm}/snapshots/{snap}", vs_api_snapshot_delete},
    {"POST", "/vms/{vm}/snapshots/{snap}/revert", vs_api_snapshot_revert},
};

const VsRoute *vs_api_routes(size_t *n)
{
    *n = G_N_ELEMENTS(routes);
    return routes;
}
