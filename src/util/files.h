/* files.h: small file-system helpers shared by the model. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Deletes the files directly in DIR, then DIR itself (no subdirectories;
 * nothing happens when DIR does not exist): whether DIR was removed. */
bool vs_dir_remove_files(const char *dir);

/* Syncs DIR's entries (names made, renamed or removed in it), so that a
 * power cut keeps them: whether it was done. */
bool vs_dir_sync(const char *dir);

/* Whether PATH names something under DIR (absolute, without "." or ".."
 * parts): DIR, a '/', then parts none of which is empty, "." or "..". A
 * string check, for paths read from libvirt's definitions or the journal
 * before virtsnapd removes what they name. */
bool vs_path_is_inside(const char *path, const char *dir);

/* The most vs_file_write_new writes whole even when the process is killed
 * during the write: one page, written from its start in one write(). */
#define VS_FILE_NEW_MAX 4096

/* Creates PATH (mode 0600; false with ERROR if it exists) holding the LEN
 * bytes of TEXT, in place: no temporary file and no rename, which cost a
 * small record 0.1-0.3 ms each on ext4 here (bench, session 13). For
 * records of at most VS_FILE_NEW_MAX bytes, a crash of the process leaves
 * the whole record or an empty file, never part of one; readers take an
 * empty file for a write that never happened. Not for replacing a file
 * (that needs a rename to be atomic), nor for what must survive a power
 * cut (no fsync). */
bool vs_file_write_new(const char *path, const char *text, gsize len, GError **error);

/* Writes a record to PATH whole: with vs_file_write_new when it is NEW (no
 * file there yet) and small enough, else with g_file_set_contents_full and
 * FLAGS (CONSISTENT: a temporary file renamed over PATH, GLib fsyncing the
 * file and its directory as FLAGS say). */
bool vs_file_write_record(const char *path, const char *text, gsize len, bool is_new,
                          GFileSetContentsFlags flags, GError **error);
