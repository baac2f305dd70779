/* static.h: the web UI's files, served without authentication. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* For GET "/" and "/static/…": the file's bytes and content type, or NULL
 * (with *is_static false when PATH is not a static path at all). */
GBytes *vs_static_lookup(const char *web_dir, const char *path, const char **content_type,
                         bool *is_static);
