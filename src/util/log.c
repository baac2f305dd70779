/* log.c: leveled, timestamped logging to stderr, safe from any thread.
 * A message is one line whatever it quotes: control characters in it
 * (from a user name, a URL, a libvirt error) are written escaped. */
#include "log.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static VsLogLevel min_level = VS_LOG_INFO;
static GMutex log_lock;

void vs_log_set_level(VsLogLevel level) { min_level = level; }

char *vs_log_escape(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\\')
            g_string_append(out, "\\\\");
        else if (*p == '\n')
            g_string_append(out, "\\n");
        else if (*p == '\t')
            g_string_append(out, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf(out, "\\x%02x", *p);
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* a C1 control, U+0080-U+009F */
            g_string_append_printf(out, "\\u%04x", (unsigned)*++p);
        else
            g_string_append_c(out, (char)*p);
    }
    return g_string_free(out, FALSE);
}

/* A byte vs_log_word writes as %XX. */
static bool breaks_word(unsigned char c)
{
    return c <= ' ' || c >= 0x7f || c == '\'' || c == '"';
}

char *vs_log_word(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    for (const char *p = text; *p; p++) {
        if (breaks_word((unsigned char)*p))
            g_string_append_printf(out, "%%%02X", (unsigned)(unsigned char)*p);
        else
            g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

bool vs_log_is_word(const char *text)
{
    for (const char *p = text; *p; p++)
        if (breaks_word((unsigned char)*p))
            return false;
    return true;
}

void vs_log(VsLogLevel level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level)
        return;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *raw = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *msg = vs_log_escape(raw);
    g_mutex_lock(&log_lock);
    fprintf(stderr, "%s %-5s %s\n", stamp, names[level], msg);
    fflush(stderr);
    g_mutex_unlock(&log_lock);
}
