/* statedir.c: the state directory's checks and lock file (see statedir.h). */
#include "statedir.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether GID is this user's private group: named as the user, with no
 * other member (the convention under which umask 002 is the default). */
static bool private_group(gid_t gid)
{
    struct passwd pw, *user = NULL;
    struct group gr, *group = NULL;
    char pw_buf[4096], gr_buf[16384];
    if (getpwuid_r(geteuid(), &pw, pw_buf, sizeof pw_buf, &user) != 0 || !user ||
        getgrgid_r(gid, &gr, gr_buf, sizeof gr_buf, &group) != 0 || !group ||
        strcmp(group->gr_name, user->pw_name) != 0)
        return false;
    for (char **member = group->gr_mem; member && *member; member++)
        if (strcmp(*member, user->pw_name) != 0)
            return false;
    return true;
}

/* Whether the write bits of ST (a directory) let in users other than this
 * one: others', or its group's unless that is this user's private group
 * (as umask 002 leaves on new directories). */
static bool writable_by_others(const struct stat *st)
{
    return (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && !private_group(st->st_gid));
}

/* Whether the file ST (from lstat) may hold or lead to the state directory:
 * root's or this user's, and a directory no other user can write in (or,
 * sticky as /tmp, replace what it holds), or a symbolic link (which only
 * its owner can change; where it leads is checked on its own). */
static bool safe_ancestor(const struct stat *st)
{
    return (st->st_uid == 0 || st->st_uid == geteuid()) &&
           (S_ISLNK(st->st_mode) ||
            (S_ISDIR(st->st_mode) && (!writable_by_others(st) || (st->st_mode & S_ISVTX))));
}

/* Whether each existing directory above PATH (up to "/") is safe_ancestor;
 * false with ERROR naming DIR and the first that is not. */
static bool ancestors_safe(const char *dir, const char *path, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(path);
    while (strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0) {
        struct stat st;
        bool exists = lstat(parent, &st) == 0;
        if ((exists && !safe_ancestor(&st)) || (!exists && errno != ENOENT)) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "state directory %s: its parent %s is not a directory that only root or "
                        "this user can change (another user could replace what it holds)",
                        dir, parent);
            return false;
        }
        char *up = g_path_get_dirname(parent);
        g_free(parent);
        parent = up;
    }
    return true;
}

/* The parents of DIR as written and, where links lead elsewhere, as they
 * are reached. */
static bool parents_safe(const char *dir, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(dir);
    g_autofree char *real = realpath(parent, NULL);
    g_autofree char *inside = real ? g_build_filename(real, "x", NULL) : NULL;
    return ancestors_safe(dir, dir, error) && (!inside || ancestors_safe(dir, inside, error));
}

bool vs_state_dir_make(const char *dir, GError **error)
{
    struct stat st;
    /* the parents before anything is made in them, and again after (one
     * made meanwhile by another user) */
    if (!parents_safe(dir, error))
        return false;
    const char *wrong = NULL;
    if (g_mkdir_with_parents(dir, 0700) != 0 || lstat(dir, &st) != 0)
        wrong = g_strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        wrong = "not a directory (a symbolic link is not followed)";
    else if (st.st_uid != geteuid())
        wrong = "owned by another user";
    else if (writable_by_others(&st))
        wrong = "writable by other users";
    else if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
        wrong = g_strerror(errno);
    if (wrong)
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "state directory %s: %s", dir, wrong);
    return !wrong && parents_safe(dir, error);
}

bool vs_state_file_private(int fd, const char *path, GError **error)
{
    struct stat st;
    const char *wrong = NULL;
    if (fstat(fd, &st) != 0)
        wrong = g_strerror(errno);
    else if (!S_ISREG(st.st_mode))
        wrong = "not a regular file";
    else if (st.st_uid != geteuid())
        wrong = "owned by another user";
    else if (st.st_mode & 077)
        wrong = "open to other users (it must be mode 0600)";
    if (wrong)
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "%s: %s", path, wrong);
    return !wrong;
}

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
