/* names.h: the contract's rule for VM and snapshot names. */
#pragma once
#include <stdbool.h>

#define VS_NAME_MAX_CHARS 64

/* True when NAME is a valid VM or snapshot name; otherwise false and, if
 * WHY is given, a static sentence saying what is wrong. */
bool vs_name_valid(const char *name, const char **why);
