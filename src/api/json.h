/* json.h: the JSON shapes of the API's objects (VM, snapshot, task). */
#pragma once
#include <jansson.h>

#include "../model/snapshot.h"
#include "../model/tasks.h"
#include "../model/vm.h"

json_t *vs_json_vm(const VsVm *vm);
json_t *vs_json_snapshot(const VsSnapshot *snap);
json_t *vs_json_task(const VsTaskInfo *task);
