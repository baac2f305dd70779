/* statelock.c: the state directory's lock file (see statelock.h). */
#include "statelock.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

bool vs_state_lock(const char *state_dir, GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, "lock", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, len, 0) == len)
            return true; /* fd stays open: the lock lasts as long as the process */
    }
    int err = errno;
    if (fd >= 0 && (err == EWOULDBLOCK || err == EAGAIN)) {
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        g_strstrip(holder);
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "another virtsnapd (pid %s) uses the state directory %s: stop it, or give "
                    "this one its own --state-dir",
                    *holder ? holder : "unknown", state_dir);
    } else {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot lock %s: %s", path, g_strerror(err));
    }
    if (fd >= 0)
        close(fd);
    return false;
}
