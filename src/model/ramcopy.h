/* ramcopy.h: the RAM stream of a live snapshot through a pipe that holds QEMU
 * after its page walk (see ramcopy.c and docs/live-snapshots.md). */
#ifndef VS_MODEL_RAMCOPY_H
#define VS_MODEL_RAMCOPY_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct VsRamCopy VsRamCopy;

/* Creates the pipe, fills it so that the first write into it blocks, and
 * starts the copier process, which waits for vs_ram_copy_release and then
 * copies everything written into the pipe to FILE_FD from OFFSET on. */
VsRamCopy *vs_ram_copy_start(int file_fd, off_t offset, GError **error);

/* The pipe's write end, to hand to the writer (QEMU's getfd). */
int vs_ram_copy_writer_fd(VsRamCopy *copy);

/* Closes virtsnapd's own copy of the write end once the writer holds it, so
 * that the copier sees the end of the stream when the writer closes. */
void vs_ram_copy_writer_handed(VsRamCopy *copy);

/* Waits up to TIMEOUT_US until the thread named THREAD of process PID blocks
 * writing into the pipe (for QEMU's "bg_snapshot" thread: its page walk is
 * over and it waits before stopping the VM). False on timeout or when that
 * cannot be seen (no such process or thread, /proc not readable). */
bool vs_ram_copy_wait_writer_blocked(VsRamCopy *copy, pid_t pid, const char *thread,
                                     gint64 timeout_us);

/* Lets the copier run: the writer's blocked write goes through. */
void vs_ram_copy_release(VsRamCopy *copy);

/* Releases the copier if not yet done, waits until the writer has closed the
 * pipe and the copier has written everything; false with ERROR if writing
 * the file failed (the stream was still drained, so the writer finished). */
bool vs_ram_copy_finish(VsRamCopy *copy, GError **error);

/* Releases, waits for the copier as vs_ram_copy_finish, frees. NULL is fine. */
void vs_ram_copy_free(VsRamCopy *copy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsRamCopy, vs_ram_copy_free)

#endif
