/* files.c: small file-system helpers shared by the model. */
#include "files.h"

#include <glib.h>
#include <glib/gstdio.h>

void vs_dir_remove_files(const char *dir)
{
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    const char *name;
    while (listing && (name = g_dir_read_name(listing))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(dir);
}
