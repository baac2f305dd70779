/* vmnames.h: VM names held by operations that are about to define a domain
 * under them (create, rename, clone). While one holds a name, another that
 * asks for it gets 409 at once, rather than a failure late in its work (a
 * clone after copying every disk). */
#pragma once
#include "hv.h" /* libvirt, with its g_autoptr cleanups */

#include <glib.h>
#include <stdbool.h>

/* Holds NAME: false with VS_ERR_CONFLICT if libvirt has a VM of that name
 * or another operation holds it, and with libvirt's error (503 for a lost
 * connection) if libvirt cannot tell. */
bool vs_vmname_hold(virConnectPtr conn, const char *name, GError **error);
/* The operation has ended (its domain defined, or not): NAME is free again. */
void vs_vmname_release(const char *name);
