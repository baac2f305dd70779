/* vmnames.c: the names held by create, rename and clone (vmnames.h), one
 * set under one lock. */
#include "vmnames.h"

#include "../util/error.h"
#include "hv.h"

static GMutex lock;
static GHashTable *held; /* names */

bool vs_vmname_hold(virConnectPtr conn, const char *name, GError **error)
{
    g_autoptr(virDomain) existing = virDomainLookupByName(conn, name);
    if (!existing && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
        /* libvirt could not tell (a lost connection): not "free" */
        vs_hv_set_error(error, "cannot tell whether a VM named '%s' exists", name);
        return false;
    }
    g_mutex_lock(&lock);
    if (!held)
        held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool taken = !existing && !g_hash_table_add(held, g_strdup(name));
    g_mutex_unlock(&lock);
    if (existing)
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "a VM named '%s' already exists", name);
    else if (taken)
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "a VM named '%s' is being made (created, cloned or renamed to)", name);
    return !existing && !taken;
}

void vs_vmname_release(const char *name)
{
    g_mutex_lock(&lock);
    if (held && name)
        g_hash_table_remove(held, name);
    g_mutex_unlock(&lock);
}
