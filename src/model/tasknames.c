/* tasknames.c: names a task's target as it is now. The VM by its UUID, which
 * a rename keeps (libvirt answers with its name now); the snapshot by its
 * libvirt name, which a rename keeps too (a rename changes only the name it
 * is shown under: snapnames.h). A snapshot renamed and a new one made under
 * its old name are thus told apart. A VM libvirt no longer has, or cannot
 * answer for now (no connection: none is made for this), keeps the names
 * the task was made with. A VM's name, once asked, is kept until libvirt
 * tells of a change to the VM or an operation on it ends (a rename by
 * another client, or by virtsnapd), so that a client waiting on its task
 * (GET /tasks/<id>?wait) costs libvirt nothing. Knows nothing of HTTP. */
#include "tasknames.h"

#include "hv.h"
#include "snapnames.h"
#include "vmlock.h"

typedef struct {
    char *name;            /* NULL: libvirt has no such VM */
    guint64 changes, ended; /* vs_hv_domain_changes and the VM lock's ended operations then */
} KnownName;

static GMutex known_lock;
static GHashTable *known; /* uuid → KnownName* (one per VM asked of: a few bytes each) */

static void known_free(gpointer data)
{
    KnownName *k = data;
    g_free(k->name);
    g_free(k);
}

/* The name of VM UUID now (newly allocated), or NULL when libvirt has none
 * or cannot say. */
static char *vm_name_now(const char *uuid)
{
    guint64 changes = vs_hv_domain_changes(uuid), ended = 0;
    vs_vmlock_quiet(vs_vmlock_for(uuid), &ended);
    g_mutex_lock(&known_lock);
    KnownName *k = known ? g_hash_table_lookup(known, uuid) : NULL;
    bool valid = k && k->changes == changes && k->ended == ended;
    char *name = valid ? g_strdup(k->name) : NULL;
    g_mutex_unlock(&known_lock);
    if (valid)
        return name;
    /* Not worth a reconnection: tasks are how a client learns what
     * happened while libvirt was away. */
    g_autoptr(virConnect) conn = vs_hv_current();
    g_autoptr(virDomain) dom = conn ? virDomainLookupByUUIDString(conn, uuid) : NULL;
    bool answered = dom || (conn && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN);
    virResetLastError();
    name = dom ? g_strdup(virDomainGetName(dom)) : NULL;
    if (answered) {
        KnownName *fresh = g_new0(KnownName, 1);
        *fresh = (KnownName){.name = g_strdup(name), .changes = changes, .ended = ended};
        g_mutex_lock(&known_lock);
        if (!known)
            known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, known_free);
        g_hash_table_replace(known, g_strdup(uuid), fresh);
        g_mutex_unlock(&known_lock);
    }
    return name;
}

static void replace(char **field, char *value)
{
    g_free(*field);
    *field = value;
}

void vs_task_name_target(VsTaskInfo *info, GHashTable *cache)
{
    if (!info->target_uuid)
        return;
    if (!g_hash_table_contains(cache, info->target_uuid))
        g_hash_table_insert(cache, g_strdup(info->target_uuid), vm_name_now(info->target_uuid));
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
