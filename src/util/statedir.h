/* statedir.h: the state directory, made or checked before anything in it is
 * trusted, and held by one virtsnapd at a time. virtsnapd runs as root and
 * replays what it finds there (journal records name files to remove; the
 * token lets its holder in), so a directory another user could write into
 * is refused. Two daemons on one state directory would each finish the
 * other's journalled operations, expire its tasks and forget its files;
 * the embedded QEMU driver refuses a second driver on its root, but a
 * daemon on qemu:///system or test:///default would not notice the first. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Makes DIR (mode 0700, with its missing parents) or checks it: a real
 * directory (not a symbolic link) owned by this process's user, in which
 * no other user can write (its group may, if it is this user's private
 * group: named as the user, with no other member),
 * below directories where no other user can replace it (each owned by
 * root or this user, and not writable by others unless sticky, as /tmp;
 * a link among them is followed and the place it leads to checked too).
 * Checked before and after DIR is made. A directory of ours open to others
 * in any way is made 0700. False with ERROR naming the first that fails. */
bool vs_state_dir_make(const char *dir, GError **error);

/* Whether the file PATH, opened without following a symbolic link as FD,
 * is this user's and closed to others (a token, a key): else false with
 * ERROR saying what is wrong with it. */
bool vs_state_file_private(int fd, const char *path, GError **error);

/* Takes STATE_DIR/lock for the rest of the process's life (an flock on a
 * descriptor that is never closed and not inherited across exec) and
 * writes this process's pid in it. False, with ERROR naming the holder's
 * pid, when another process holds it. */
bool vs_state_lock(const char *state_dir, GError **error);
