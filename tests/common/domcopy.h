/* domcopy.h: another libvirt client's doing, for tests: a VM defined as a
 * copy of another's definition (a tool handing one of virtsnap's disks to a
 * VM of its own, or defining a VM again under a name virtsnap knew). */
#pragma once
#include <libvirt/libvirt.h>
#include <stdbool.h>

/* Defines on CONN VM NAME as a copy of VM FROM's persistent definition,
 * under FROM's UUID (SAME_UUID: FROM defined again) or a new one, its disks'
 * driver type set to FORMAT (NULL: as they are). False with libvirt's or
 * libxml2's message on stderr. */
bool vs_test_define_copy(virConnectPtr conn, const char *from, const char *name,
                         const char *format, bool same_uuid);
