/* log.h: leveled, timestamped logging to stderr, safe from any thread. */
#pragma once
#include <stdbool.h>

typedef enum { VS_LOG_DEBUG, VS_LOG_INFO, VS_LOG_WARN, VS_LOG_ERROR } VsLogLevel;

void vs_log_set_level(VsLogLevel level);
/* TEXT with control characters escaped (\n, \t, \xNN, \u00NN for C1):
 * one line that cannot forge another. Newly allocated. */
char *vs_log_escape(const char *text);
/* TEXT as one word of a log line: a space, ' and ", control characters
 * and every byte outside ASCII (a no-break space looks like a space too)
 * written as %XX, so that a URL or user name quoted in a line cannot end
 * its field and forge the rest of the line (the access log is an audit of
 * who did what). Newly allocated. */
char *vs_log_word(const char *text);
/* Whether vs_log_word would leave TEXT as it is (no copy needed). */
bool vs_log_is_word(const char *text);
void vs_log(VsLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vs_debug(...) vs_log(VS_LOG_DEBUG, __VA_ARGS__)
#define vs_info(...)  vs_log(VS_LOG_INFO, __VA_ARGS__)
#define vs_warn(...)  vs_log(VS_LOG_WARN, __VA_ARGS__)
#define vs_error(...) vs_log(VS_LOG_ERROR, __VA_ARGS__)
