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

static void expect_word(const char *text, const char *want)
{
    g_autofree char *got = vs_log_word(text);
    assert_string_equal(got, want);
}

static void test_word(void **state)
{
    (void)state;
    expect_word("/vms/a%20b", "/vms/a%20b"); /* an encoded URL stays as sent */
    expect_word("/vms/web1 204 1.0ms by alice", "/vms/web1%20204%201.0ms%20by%20alice");
    expect_word("x' from 198.51.100.7", "x%27%20from%20198.51.100.7");
    expect_word("say \"hi\"", "say%20%22hi%22");
    expect_word("no\xc2\xa0" "break", "no%C2%A0break"); /* looks like a space */
    expect_word("tab\there", "tab%09here");
    expect_word("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_word),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
