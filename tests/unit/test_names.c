/* test_names.c: unit tests of vs_name_valid, the contract's rule for VM and
 * snapshot names (1-64 Unicode characters of UTF-8, no '/', no control
 * characters, no leading '.', not only white space). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "api/api.h"
#include "util/names.h"

static void expect_valid(const char *name)
{
    const char *why = "unset";
    if (!vs_name_valid(name, &why))
        fail_msg("'%s' should be valid but: %s", name, why);
    assert_null(why);
    assert_true(vs_name_valid(name, NULL));
}

/* Invalid, with a reason that contains WORD. */
static void expect_invalid(const char *name, const char *word)
{
    const char *why = NULL;
    if (vs_name_valid(name, &why))
        fail_msg("'%s' should be invalid", name ? name : "(null)");
    assert_non_null(why);
    if (!strstr(why, word))
        fail_msg("reason '%s' for '%s' should mention '%s'", why, name ? name : "(null)", word);
    assert_false(vs_name_valid(name, NULL));
}

/* A name made of N copies of the UTF-8 text UNIT. */
static char *repeat(const char *unit, int n)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++)
        g_string_append(s, unit);
    return g_string_free(s, FALSE);
}

static void test_contract_examples(void **state)
{
    (void)state;
    expect_valid("a&b");
    expect_valid("<x>");
    expect_valid("\"q\"");
    expect_valid("пeω-∨м");
    expect_valid("snap 1");
}

static void test_other_valid(void **state)
{
    (void)state;
    expect_valid("a");
    expect_valid("web-01.example");
    expect_valid("a.");      /* only a leading '.' is refused */
    expect_valid("a..b");
    expect_valid(" lead");   /* white space is fine when not alone */
    expect_valid("a\u00ad");  /* an invisible character beside a visible one */
    expect_valid("trail ");
    expect_valid("tab\u00a0nbsp");
    expect_valid("%2F");     /* already decoded: a percent sign is just a character */
    expect_valid("\\");
    expect_valid("😀");      /* outside the BMP */
    expect_valid("Snap"); /* names are case-sensitive: both forms are names */
    expect_valid("snap");
}

static void test_length_in_characters(void **state)
{
    (void)state;
    g_autofree char *ascii64 = repeat("a", 64);
    g_autofree char *ascii65 = repeat("a", 65);
    expect_valid(ascii64);
    expect_invalid(ascii65, "64");
    /* 64 two-byte characters are 128 bytes: still 64 characters */
    g_autofree char *omega64 = repeat("ω", 64);
    g_autofree char *omega65 = repeat("ω", 65);
    assert_int_equal(strlen(omega64), 128);
    expect_valid(omega64);
    expect_invalid(omega65, "64");
    /* 64 four-byte characters are 256 bytes */
    g_autofree char *emoji64 = repeat("😀", 64);
    g_autofree char *emoji65 = repeat("😀", 65);
    expect_valid(emoji64);
    expect_invalid(emoji65, "64");
    /* mixed widths */
    g_autofree char *mixed = repeat("aω∨😀", 16);
    g_autofree char *mixed_more = g_strconcat(mixed, "x", NULL);
    expect_valid(mixed);
    expect_invalid(mixed_more, "64");
}

static void test_empty(void **state)
{
    (void)state;
    expect_invalid("", "empty");
    expect_invalid(NULL, "empty");
}

static void test_slash(void **state)
{
    (void)state;
    expect_invalid("/", "/");
    expect_invalid("a/b", "/");
    expect_invalid("a/", "/");
    expect_invalid("../etc", "."); /* refused, whichever rule says it first */
}

static void test_control_characters(void **state)
{
    (void)state;
    const char *bad[] = {"a\tb", "a\nb", "\rx", "x\x01", "\x1b[31m", "a\x7f", "a\xc2\x85" "b",
                         "a\xc2\x9f" "b", "a\u2028b", "a\u2029b"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_invalid(bad[i], "control");
}

static void test_leading_dot(void **state)
{
    (void)state;
    expect_invalid(".", "'.'");
    expect_invalid("..", "'.'");
    expect_invalid(".hidden", "'.'");
}

static void test_only_white_space(void **state)
{
    (void)state;
    expect_invalid(" ", "white space");
    expect_invalid("   ", "white space");
    expect_invalid("\u00a0", "white space");       /* no-break space */
    expect_invalid(" \u3000 ", "white space");     /* ideographic space */
    expect_invalid("\u2003\u2009", "white space"); /* em space, thin space */
    expect_invalid("\u200b", "invisible");        /* zero-width space, alone */
    expect_invalid(" \u00ad\u2060 ", "invisible"); /* soft hyphen, word joiner */
}

/* Names end up in libvirt XML, which cannot carry U+FFFE or U+FFFF (found by
 * tests/fuzz/fuzz_name.c). Other non-characters are fine in XML 1.0. */
static void test_xml_illegal(void **state)
{
    (void)state;
    expect_invalid("a\xef\xbf\xbe" "b", "U+FFFE");
    expect_invalid("\xef\xbf\xbf", "U+FFFF");
    expect_valid("a\xef\xbf\xbd");     /* U+FFFD replacement character */
    expect_valid("a\xef\xb7\x90");     /* U+FDD0 */
    expect_valid("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    const char *bad[] = {
        "\xff",             /* never valid */
        "abc\xc3",          /* truncated two-byte sequence */
        "\xc3\x28",         /* bad continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "\x80",             /* lone continuation byte */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_invalid(bad[i], "UTF-8");
}

/* vs_api_check_name answers 400 naming what was wrong. */
static void test_api_check_name(void **state)
{
    (void)state;
    VsApiResponse resp = {0};
    assert_true(vs_api_check_name(&resp, "VM", "пeω-∨м"));
    assert_int_equal(resp.status, 0);
    assert_null(resp.body);

    assert_false(vs_api_check_name(&resp, "snapshot", ".x"));
    assert_int_equal(resp.status, 400);
    assert_int_equal(json_integer_value(json_object_get(resp.body, "code")), 400);
    const char *reason = json_string_value(json_object_get(resp.body, "reason"));
    assert_non_null(reason);
    assert_non_null(strstr(reason, "snapshot"));
    assert_non_null(strstr(reason, "'.'"));
    json_decref(resp.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_examples),
        cmocka_unit_test(test_other_valid),
        cmocka_unit_test(test_length_in_characters),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_slash),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_leading_dot),
        cmocka_unit_test(test_only_white_space),
        cmocka_unit_test(test_xml_illegal),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_api_check_name),
    };
    return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
