/* log.c: leveled, timestamped logging to stderr, safe from any thread. */
#include "log.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>

static VsLogLevel min_level = VS_LOG_INFO;
static GMutex log_lock;

void vs_log_set_level(VsLogLevel level) { min_level = level; }

void vs_log(VsLogLevel level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_mutex_lock(&log_lock);
    fprintf(stderr, "%s %-5s %s\n", stamp, names[level], msg);
    fflush(stderr);
    g_mutex_unlock(&log_lock);
}
