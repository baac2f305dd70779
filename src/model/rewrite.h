/* rewrite.h: what changes in a VM's definition, and in every snapshot's
 * copy of it, when the VM is cloned (a new name, UUID, disks, NVRAM, MAC
 * addresses, console log and VNC socket) or renamed (the name alone). */
#pragma once
#include <glib.h>
#include <libxml/tree.h>

typedef struct {
    const char *name;       /* new domain name, or NULL */
    const char *uuid;       /* new domain UUID, or NULL */
    GHashTable *disk_paths; /* old source file → new source file, or NULL */
    const char *serial_log; /* new file for the serial console, or NULL */
    const char *vnc_socket; /* new VNC socket path, or NULL */
    const char *nvram;      /* new UEFI variable store (<os><nvram>), or NULL */
    /* Old MAC address (lower case) → new one, or NULL (MACs stay). An
     * address not in it yet gets a new one, added, so that the VM and all
     * its snapshots' copies name each network card alike. */
    GHashTable *macs;
} VsDomainRewrite;

/* Applies REWRITE to a domain definition (the top <domain> element). */
void vs_domain_rewrite(xmlNode *domain, const VsDomainRewrite *rewrite);

/* A new locally administered MAC address in QEMU's range, 52:54:00:xx:xx:xx,
 * as libvirt makes them. */
char *vs_new_mac(void);
