/* test_save_image.c: unit tests of a live snapshot's memory file header
 * (model/saveimage.c): the XML replaced in place keeps the cookie, whether
 * the new XML is shorter or longer than the room before the cookie; and a
 * replacement killed at each of its steps (a child process with
 * $VIRTSNAP_FAULT) leaves an image whose header points at the cookie whole,
 * which the replacement done again (as recovery replays a revert) makes
 * whole. Before, the cookie was moved with the XML in one write and the
 * header written after it: killed between, the old header pointed into the
 * new XML, and the replay wrote that garbage back as the cookie. */
#include "model/saveimage.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define COOKIE "<cookie><cpu mode='custom'><model>qemu64</model></cpu></cookie>"
#define STREAM "QEVM-the-migration-stream"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = g_dir_make_tmp("vs-save-image-XXXXXX", NULL);
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    (void)!system(cmd);
    g_free(dir);
    return 0;
}

/* A domain XML of about LEN bytes, named NAME. */
static char *domain_xml(const char *name, size_t len)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_string_append_printf(s, "<domain type='kvm'><name>%s</name><description>", name);
    while (s->len + 40 < len)
        g_string_append_c(s, 'x');
    g_string_append(s, "</description></domain>");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* A new image FILE holding XML, COOKIE and then the stream. */
static char *new_image(const char *file, const char *xml)
{
    char *path = g_build_filename(dir, file, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_true(vs_save_image_write_header(fd, xml, COOKIE));
    assert_true(write(fd, STREAM, strlen(STREAM)) == (ssize_t)strlen(STREAM));
    assert_true(vs_save_image_mark_complete(fd));
    close(fd);
    return path;
}

/* The image at PATH reads as XML with the cookie, and the stream after it
 * is untouched. */
static void expect_image(const char *path, const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *cookie = NULL;
    g_autofree char *got = vs_save_image_read(path, &cookie, &error);
    assert_non_null(got);
    assert_string_equal(got, xml);
    assert_non_null(cookie);
    assert_string_equal(cookie, COOKIE);
    assert_true(vs_save_image_complete(path));
    g_autofree char *all = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &all, &len, NULL));
    assert_true(len > strlen(STREAM));
    assert_memory_equal(all + len - strlen(STREAM), STREAM, strlen(STREAM));
}

static void test_replace(void **state)
{
    (void)state;
    g_autofree char *first = domain_xml("vm", 2000);
    g_autofree char *path = new_image("plain.ram", first);
    expect_image(path, first);
    g_autoptr(GError) error = NULL;
    g_autofree char *shorter = domain_xml("vm-renamed", 500);
    assert_true(vs_save_image_set_xml(path, shorter, &error));
    expect_image(path, shorter);
    g_autofree char *longer = domain_xml("vm-longer", 9000); /* past the room before the cookie */
    assert_true(vs_save_image_set_xml(path, longer, &error));
    expect_image(path, longer);
    g_autofree char *longest = domain_xml("vm-longest", 30000);
    assert_true(vs_save_image_set_xml(path, longest, &error));
    expect_image(path, longest);
    assert_true(vs_save_image_set_xml(path, first, &error)); /* back: the cookie stays put */
    expect_image(path, first);
    g_autofree char *too_long = domain_xml("vm", 200 * 1024);
    assert_false(vs_save_image_set_xml(path, too_long, &error));
    assert_non_null(strstr(error->message, "does not fit"));
    expect_image(path, first);
}

/* Kills a replacement of the XML in PATH by NEW at POINT (in a child). */
static void killed_at(const char *path, const char *new_xml, const char *point)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        g_setenv("VIRTSNAP_FAULT", point, TRUE);
        vs_save_image_set_xml(path, new_xml, NULL);
        _exit(0); /* not reached: the point kills it */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the replacement was not killed at '%s' (status %d)", point, status);
}

static void test_killed_at_each_step(void **state)
{
    (void)state;
    const char *points[] = {"save-image-cookie-copied", "save-image-header-moved",
                            "save-image-xml-half"};
    for (size_t i = 0; i < G_N_ELEMENTS(points); i++) {
        g_autofree char *file = g_strdup_printf("killed-%zu.ram", i);
        g_autofree char *old_xml = domain_xml("vm", 2000);
        g_autofree char *path = new_image(file, old_xml);
        /* past half the room: the kill at the XML's half tears it */
        g_autofree char *new_xml = domain_xml("vm-with-a-longer-name", 40000);
        killed_at(path, new_xml, points[i]);
        /* whatever the XML came to, the cookie is whole where the header says */
        g_autoptr(GError) error = NULL;
        g_autofree char *cookie = NULL;
        g_autofree char *between = vs_save_image_read(path, &cookie, &error);
        assert_non_null(between);
        if (!cookie || strcmp(cookie, COOKIE) != 0)
            fail_msg("killed at '%s': the cookie reads '%s'", points[i], cookie ? cookie : "");
        if (i < 2) /* before the XML's write: the old one, whole */
            assert_string_equal(between, old_xml);
        /* done again, as recovery does: whole */
        assert_true(vs_save_image_set_xml(path, new_xml, &error));
        expect_image(path, new_xml);
    }
    /* a shorter XML's replacement killed half-way: repaired the same way */
    g_autofree char *old_xml = domain_xml("vm", 6000);
    g_autofree char *path = new_image("killed-short.ram", old_xml);
    g_autofree char *new_xml = domain_xml("v", 5000); /* (past half its room: torn) */
    killed_at(path, new_xml, "save-image-xml-half");
    g_autoptr(GError) error = NULL;
    assert_true(vs_save_image_set_xml(path, new_xml, &error));
    expect_image(path, new_xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_killed_at_each_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
