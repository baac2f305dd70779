/* test_static.c: unit tests of vs_static_lookup, the unauthenticated file
 * server of the web UI: what it serves from a temporary web directory, and
 * that nothing ("..", encoded dots, hidden files, absolute paths) leads out
 * of it. "/" is <web>/index.html and "/static/<file>" is <web>/<file>. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "http/static.h"

typedef struct {
    char *root; /* temp dir: web/ inside it, secret.txt beside it */
    char *web;
} Fixture;

static void write_file(const char *dir, const char *rel, const char *text)
{
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    g_autofree char *parent = g_path_get_dirname(path);
    assert_int_equal(g_mkdir_with_parents(parent, 0700), 0);
    assert_true(g_file_set_contents(path, text, -1, NULL));
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    f->root = g_dir_make_tmp("vs-static-XXXXXX", NULL);
    assert_non_null(f->root);
    f->web = g_build_filename(f->root, "web", NULL);
    write_file(f->web, "index.html", "<html>index</html>");
    /* "/static/<file>" is <web>/<file> */
    write_file(f->web, "app.js", "console.log(1)");
    write_file(f->web, "sub/style.css", "body{}");
    write_file(f->web, "data.bin", "\x01\x02");
    write_file(f->web, ".hidden", "hidden");
    write_file(f->web, "sub/.env", "TOKEN=x");
    write_file(f->web, ".git/config", "gitconfig");
    write_file(f->root, "secret.txt", "SECRET");
    g_autofree char *dir = g_build_filename(f->web, "dir.js", NULL);
    assert_int_equal(g_mkdir(dir, 0700), 0);
    *state = f;
    return 0;
}

static void rm_rf(const char *path)
{
    if (g_file_test(path, G_FILE_TEST_IS_DIR) && !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
        GDir *d = g_dir_open(path, 0, NULL);
        for (const char *n; d && (n = g_dir_read_name(d));) {
            g_autofree char *child = g_build_filename(path, n, NULL);
            rm_rf(child);
        }
        if (d)
            g_dir_close(d);
        g_rmdir(path);
    } else {
        g_unlink(path);
    }
}

static int teardown(void **state)
{
    Fixture *f = *state;
    rm_rf(f->root);
    g_free(f->root);
    g_free(f->web);
    g_free(f);
    return 0;
}

/* Asserts PATH serves TEXT with a content type starting with TYPE. */
static void expect_file(const Fixture *f, const char *path, const char *text, const char *type)
{
    const char *content_type = NULL;
    bool is_static = false;
    g_autoptr(GBytes) bytes = vs_static_lookup(f->web, path, &content_type, &is_static);
    if (!bytes)
        fail_msg("%s was not served", path);
    assert_true(is_static);
    gsize len = 0;
    const char *data = g_bytes_get_data(bytes, &len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(data, text, len);
    assert_non_null(content_type);
    if (!g_str_has_prefix(content_type, type))
        fail_msg("%s served as '%s', want '%s'", path, content_type, type);
}

/* Asserts PATH is a static path that serves nothing. */
static void expect_refused(const Fixture *f, const char *path)
{
    const char *content_type = NULL;
    bool is_static = false;
    g_autoptr(GBytes) bytes = vs_static_lookup(f->web, path, &content_type, &is_static);
    if (bytes)
        fail_msg("%s was served (%zu bytes)", path, g_bytes_get_size(bytes));
    assert_true(is_static);
}

static void test_serves_files(void **state)
{
    Fixture *f = *state;
    expect_file(f, "/", "<html>index</html>", "text/html");
    expect_file(f, "/index.html", "<html>index</html>", "text/html");
    expect_file(f, "/static/app.js", "console.log(1)", "text/javascript");
    expect_file(f, "/static/sub/style.css", "body{}", "text/css");
    expect_file(f, "/static/data.bin", "\x01\x02", "application/octet-stream");
}

static void test_not_static(void **state)
{
    Fixture *f = *state;
    const char *paths[] = {"/vms", "/tasks/1", "/login", "/staticx/app.js", "/static", "",
                           "/index.htm", "/web/index.html"};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        const char *content_type = NULL;
        bool is_static = true;
        g_autoptr(GBytes) bytes = vs_static_lookup(f->web, paths[i], &content_type, &is_static);
        assert_null(bytes);
        if (is_static)
            fail_msg("'%s' should not count as a static path", paths[i]);
    }
}

static void test_traversal(void **state)
{
    Fixture *f = *state;
    const char *paths[] = {
        "/static/../secret.txt",   "/static/../../secret.txt", "/static/sub/../../../secret.txt",
        "/static/./app.js",        "/static/sub/../app.js",    "/static/..",
        "/static/%2e%2e/secret.txt", "/static/%2E%2E%2Fsecret.txt", "/static/..%2fsecret.txt",
        "/static/app%2ejs",        "/static/..\\secret.txt",   "/static/sub\\..\\..\\secret.txt",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        expect_refused(f, paths[i]);
}

static void test_hidden_and_odd(void **state)
{
    Fixture *f = *state;
    const char *paths[] = {
        "/static/.hidden", "/static/sub/.env", "/static/.git/config", "/static/.", "/static/",
        "/static//app.js", "/static/sub//style.css", "/static/app.js/",
        "/static/missing.js", "/static/dir.js", /* a directory */
        "/static/sub",     "/static/app.js\n", "/static/app.js?x=1", "/static/a b.js",
        "/static/ω.js",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        expect_refused(f, paths[i]);
}

static void test_absolute(void **state)
{
    Fixture *f = *state;
    g_autofree char *abs_secret = g_build_filename(f->root, "secret.txt", NULL);
    g_autofree char *path = g_strconcat("/static/", abs_secret, NULL); /* "/static//tmp/…" */
    expect_refused(f, path);
    expect_refused(f, "/static//etc/passwd");
    expect_refused(f, "/static/%2Fetc%2Fpasswd");
}

static void test_no_web_dir(void **state)
{
    (void)state;
    const char *content_type = NULL;
    bool is_static = false;
    assert_null(vs_static_lookup(NULL, "/", &content_type, &is_static));
    assert_true(is_static);
    assert_null(vs_static_lookup("/nonexistent-vs-dir", "/static/app.js", &content_type,
                                 &is_static));
    assert_true(is_static);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_files),     cmocka_unit_test(test_not_static),
        cmocka_unit_test(test_traversal),        cmocka_unit_test(test_hidden_and_odd),
        cmocka_unit_test(test_absolute),         cmocka_unit_test(test_no_web_dir),
    };
    return cmocka_run_group_tests_name("static", tests, setup, teardown);
}
