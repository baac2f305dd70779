/* names.h: the contract's rule for VM and snapshot names. */
#pragma once
#include <stdbool.h>

#define VS_NAME_MAX_CHARS 64
/* libvirt's QEMU driver keeps a VM's definition in a file named after it
 * (NAME.xml, written as NAME.xml.new): at most 255 bytes. */
#define VS_VM_NAME_MAX_BYTES 200

/* True when NAME is a valid VM or snapshot name; otherwise false and, if
 * WHY is given, a static sentence saying what is wrong. */
bool vs_name_valid(const char *name, const char **why);
/* vs_name_valid, and at most VS_VM_NAME_MAX_BYTES bytes: the rule for new
 * VM names (64 characters of 4 bytes each would not fit a file name). */
bool vs_vm_name_valid(const char *name, const char **why);
/* True when NAME can stand for a VM or snapshot that already exists, which
 * other tools may have named outside the rule (libvirt takes more):
 * non-empty UTF-8 of at most 1024 bytes without '/'. Otherwise false with
 * WHY as above. */
bool vs_name_addressable(const char *name, const char **why);
