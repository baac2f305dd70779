/* inuse.h: which files the other VMs use, read from libvirt: a VM delete
 * keeps the images another domain uses (as its disk, or under an overlay),
 * and a new VM is not put over an image another VM writes to. Both read
 * every domain's definition (one or two round trips each). */
#pragma once
#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdbool.h>

/* Drops from IMAGES (paths) the ones a domain other than the one with UUID
 * uses, as a disk or down a disk's backing chain, saying for each that it
 * is kept (VM: the deleted VM's name in that message). False with ERROR
 * when libvirt cannot list the domains or read one for a lost connection
 * (one gone meanwhile uses nothing): nothing may be removed then. */
bool vs_inuse_keep_images(virConnectPtr conn, const char *vm, const char *uuid, GPtrArray *images,
                          GError **error);

/* Whether IMAGE and its backing chain hold no VM's writable disk (a VM
 * over it would see its disk change as that VM writes, or is reverted).
 * False with ERROR: VS_ERR_INVALID naming the VM, or libvirt's. */
bool vs_inuse_image_free(virConnectPtr conn, const char *image, GError **error);
