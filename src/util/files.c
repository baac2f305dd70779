/* files.c: small file-system helpers shared by the model. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

bool vs_dir_remove_files(const char *dir)
{
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    const char *name;
    while (listing && (name = g_dir_read_name(listing))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_unlink(path);
    }
    return g_rmdir(dir) == 0;
}

bool vs_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool synced = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return synced;
}

bool vs_path_is_inside(const char *path, const char *dir)
{
    size_t len = dir ? strlen(dir) : 0;
    if (!path || !len || strncmp(path, dir, len) != 0 || path[len] != '/' || !path[len + 1])
        return false;
    g_auto(GStrv) parts = g_strsplit(path + len + 1, "/", -1);
    for (char **part = parts; *part; part++)
        if (!**part || !strcmp(*part, ".") || !strcmp(*part, ".."))
            return false;
    return true;
}

bool vs_file_write_new(const char *path, const char *text, gsize len, GError **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    gsize done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n == 0)
            errno = EIO; /* nothing written and no error: do not spin */
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        done += n > 0 ? (gsize)n : 0;
    }
    bool ok = fd >= 0 && done == len;
    int err = ok ? 0 : errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        if (fd >= 0) /* ours, half written: gone, as if never begun */
            g_unlink(path);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "cannot write %s: %s",
                    path, g_strerror(err));
    }
    return ok;
}

bool vs_file_write_record(const char *path, const char *text, gsize len, bool is_new,
                          GFileSetContentsFlags flags, GError **error)
{
    return is_new && len <= VS_FILE_NEW_MAX
               ? vs_file_write_new(path, text, len, error)
               : g_file_set_contents_full(path, text, (gssize)len, flags, 0600, error);
}
