/* tasknames.c: names a task's target as it is now. The VM by its UUID, which
 * a rename keeps (libvirt answers with its name now); the snapshot by its
 * libvirt name, which a rename keeps too (a rename changes only the name it
 * is shown under: snapnames.h). A snapshot renamed and a new one made under
 * its old name are thus told apart. A VM libvirt no longer has, or cannot
 * answer for now (no connection: none is made for this), keeps the names
 * the task was made with. Knows nothing of HTTP. */
#include "tasknames.h"

#include "hv.h"
#include "snapnames.h"

static void replace(char **field, char *value)
{
    g_free(*field);
    *field = value;
}

void vs_task_name_target(VsTaskInfo *info, GHashTable *cache)
{
    if (!info->target_uuid)
        return;
    if (!g_hash_table_contains(cache, info->target_uuid)) {
        /* Not worth a reconnection: tasks are how a client learns what
         * happened while libvirt was away. */
        g_autoptr(virConnect) conn = vs_hv_current();
        g_autoptr(virDomain) dom =
            conn ? virDomainLookupByUUIDString(conn, info->target_uuid) : NULL;
        virResetLastError();
        g_hash_table_insert(cache, g_strdup(info->target_uuid),
                            dom ? g_strdup(virDomainGetName(dom)) : NULL);
    }
    const char *vm = g_hash_table_lookup(cache, info->target_uuid);
    if (!vm) /* gone, or libvirt cannot tell */
        return;
    replace(&info->vm, g_strdup(vm));
    if (!info->snapshot || !info->target_internal || info->status == VS_TASK_FAILED)
        return; /* (a failed create's name was never a snapshot's) */
    /* Without a display name of its own it keeps the one it was made with. */
    char *shown = vs_snapnames_renamed(info->target_uuid, info->target_internal);
    if (shown)
        replace(&info->snapshot, shown);
}
