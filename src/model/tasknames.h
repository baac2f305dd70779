/* tasknames.h: names a task's target as it is now (tasks.h's VsTaskNamer),
 * so that a task's target URI follows a rename of its VM or snapshot. */
#pragma once
#include "tasks.h"

void vs_task_name_target(VsTaskInfo *info, GHashTable *cache);
