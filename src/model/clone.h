/* clone.h: cloning a shut-off VM with its disks and its whole snapshot tree
 * (names, parents, descriptions, creation times, current snapshot). The
 * clone is independent afterwards: its disks are full copies. */
#pragma once
#include "tasks.h"

#include <glib.h>

typedef struct VsCloneJob VsCloneJob;

/* Checks the VM (exists, shut off) and the new name (free; NULL picks
 * "<vm>-clone-<n>"), reserves it and takes the VM's turn. */
VsCloneJob *vs_clone_prepare(const char *vm, const char *new_name, GError **error);
const char *vs_clone_job_name(const VsCloneJob *job);
gboolean vs_clone_job_run(VsTask *task, gpointer job, GError **error);
void vs_clone_job_free(gpointer job);
