/* vmnames.c: the names held by create, rename and clone (vmnames.h), one
 * set under one lock. */
#include "vmnames.h"

#include "../util/error.h"
#include "hv.h"

static GMutex lock;
static GHashTable *held; /* names */

bool vs_vmname_hold(virConnectPtr conn, const char *name, GError **error)
{
    /* Held first, then looked up: whoever holds a name defines its VM
     * before letting the name go, so of two that want it, one always sees
     * the other (looked up first, a create could define and let go of the
     * name between another's look-up and its hold). */
    g_mutex_lock(&lock);
    if (!held)
        held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool taken = !g_hash_table_add(held, g_strdup(name));
    g_mutex_unlock(&lock);
    if (taken) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "a VM named '%s' is being made (created, cloned or renamed to)", name);
        return false;
    }
    g_autoptr(virDomain) existing = virDomainLookupByName(conn, name);
    /* libvirt could not tell (a lost connection): not "free" */
    bool unknown = !existing && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN;
    if (unknown)
        vs_hv_set_error(error, "cannot tell whether a VM named '%s' exists", name);
    else if (existing)
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT, "a VM named '%s' already exists", name);
    if (existing || unknown)
        vs_vmname_release(name);
    return !existing && !unknown;
}

void vs_vmname_release(const char *name)
{
    g_mutex_lock(&lock);
    if (held && name)
        g_hash_table_remove(held, name);
    g_mutex_unlock(&lock);
}
