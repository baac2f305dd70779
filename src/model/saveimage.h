/* saveimage.h: libvirt's QEMU save-image header, as a live snapshot's
 * memory file carries it (the header, the domain XML and libvirt's save
 * cookie, then QEMU's migration stream): written before the stream, marked
 * complete after it, and its XML replaced in place before a restore. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Writes the header (marked partial) with XML and COOKIE (may be NULL) and
 * room to edit the XML in place; FD's offset is left where the stream must
 * start. */
bool vs_save_image_write_header(int fd, const char *xml, const char *cookie);
/* Marks the image at FD complete (the final magic, synced after the data). */
bool vs_save_image_mark_complete(int fd);
/* Whether the image at PATH is marked complete. */
bool vs_save_image_complete(const char *path);
/* Puts XML in place of the domain definition in the image at PATH, its
 * cookie kept, as libvirt's virDomainSaveImageDefineXML would, but without
 * libvirt's check that name and UUID stay (a restore must find the VM's
 * current name and UUID there: after a VM rename, or in a clone's copy).
 * Crash-safe in the sense recovery needs: at every moment the header points
 * at the cookie whole, so that doing it again after a kill or a power cut
 * (a revert's record is replayed) leaves the image whole; only the XML can
 * be found torn in between. */
bool vs_save_image_set_xml(const char *path, const char *xml, GError **error);
/* The image's XML and cookie as libvirt reads them (*COOKIE NULL when it
 * has none); NULL with ERROR when the header cannot be read. */
char *vs_save_image_read(const char *path, char **cookie, GError **error);
