/* names.c: validates VM and snapshot names: 1 to 64 characters of UTF-8
 * (a VM's at most 200 bytes too),
 * no '/', no control characters, not starting with '.', not only white space
 * and invisible format characters (a zero-width space: no one could see it);
 * and, more loosely, names of VMs and snapshots other tools made. */
#include "names.h"

#include <glib.h>
#include <string.h>

bool vs_name_valid(const char *name, const char **why)
{
    const char *reason = NULL;
    if (name == NULL || *name == '\0')
        reason = "must not be empty";
    else if (!g_utf8_validate(name, -1, NULL))
        reason = "must be valid UTF-8";
    else if (g_utf8_strlen(name, -1) > VS_NAME_MAX_CHARS)
        reason = "must be at most 64 characters";
    else if (name[0] == '.')
        reason = "must not start with '.'";
    else {
        bool only_space = true;
        for (const char *p = name; *p; p = g_utf8_next_char(p)) {
            gunichar c = g_utf8_get_char(p);
            if (c == '/') {
                reason = "must not contain '/'";
                break;
            }
            if (g_unichar_iscntrl(c) || c == 0x2028 || c == 0x2029) {
                reason = "must not contain control characters";
                break;
            }
            if (c == 0xFFFE || c == 0xFFFF) { /* not allowed in XML: libvirt would refuse it */
                reason = "must not contain the non-characters U+FFFE or U+FFFF";
                break;
            }
            if (!g_unichar_isspace(c) && g_unichar_type(c) != G_UNICODE_FORMAT)
                only_space = false;
        }
        if (!reason && only_space)
            reason = "must not be only white space or invisible characters";
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

bool vs_vm_name_valid(const char *name, const char **why)
{
    if (!vs_name_valid(name, why))
        return false;
    if (strlen(name) <= VS_VM_NAME_MAX_BYTES)
        return true;
    if (why)
        *why = "must be at most 200 bytes in UTF-8 (libvirt names a file after it)";
    return false;
}

bool vs_name_addressable(const char *name, const char **why)
{
    const char *reason = NULL;
    if (name == NULL || *name == '\0')
        reason = "must not be empty";
    else if (!g_utf8_validate(name, -1, NULL))
        reason = "must be valid UTF-8";
    else if (strlen(name) > 1024)
        reason = "must be at most 1024 bytes";
    else if (strchr(name, '/'))
        reason = "must not contain '/'";
    if (why)
        *why = reason;
    return reason == NULL;
}
