/* test_log.c: unit tests of log.c's escaping: whatever a message quotes (a
 * user name, a URL), it stays one line and cannot write terminal controls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include "util/log.h"

static void expect_escaped(const char *text, const char *want)
{
    g_autofree char *got = vs_log_escape(text);
    assert_string_equal(got, want);
}

static void test_escape(void **state)
{
    (void)state;
    expect_escaped("plain text, ünïcode ∨ 名前", "plain text, ünïcode ∨ 名前");
    expect_escaped("x'\n2025-01-01T00:00:00Z info  forged", "x'\\n2025-01-01T00:00:00Z info  forged");
    expect_escaped("a\tb\rc", "a\\tb\\x0dc");
    expect_escaped("\x1b[31mred\x7f", "\\x1b[31mred\\x7f");
    expect_escaped("csi \xc2\x9b" "1m", "csi \\u009b1m"); /* U+009B, a C1 control */
    expect_escaped("nbsp \xc2\xa0", "nbsp \xc2\xa0"); /* U+00A0 is not one */
    expect_escaped("a \\n b", "a \\\\n b"); /* a backslash is not an escape */
    expect_escaped("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
