/* names.h: the contract's rule for VM and snapshot names. */
#pragma once
#include <stdbool.h>

#define VS_NAME_MAX_CHARS 64

/* True when NAME is a valid VM or snapshot name; otherwise false and, if
 * WHY is given, a static sentence saying what is wrong. */
bool vs_name_valid(const char *name, const char **why);
/* True when NAME can stand for a VM or snapshot that already exists, which
 * other tools may have named outside the rule (libvirt takes more):
 * non-empty UTF-8 of at most 1024 bytes without '/'. Otherwise false with
 * WHY as above. */
bool vs_name_addressable(const char *name, const char **why);
