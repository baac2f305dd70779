/* files.h: small file-system helpers shared by the model. */
#pragma once

/* Deletes the files directly in DIR, then DIR itself (no subdirectories;
 * nothing happens when DIR does not exist). */
void vs_dir_remove_files(const char *dir);
