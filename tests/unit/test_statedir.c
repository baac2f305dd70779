/* test_statedir.c: unit tests of src/util/statedir.h and vs_path_is_inside
 * (src/util/files.h): a state directory another user could write into, or
 * reach through a symbolic link, is refused; a token open to others is
 * refused; one process holds the lock; a path read from a definition or a
 * record counts as virtsnapd's only when it really lies in its directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/files.h"
#include "util/statedir.h"

static char *root; /* a fresh directory of ours, under /tmp (sticky) */

static int setup(void **state)
{
    (void)state;
    root = g_dir_make_tmp("virtsnap-statedir-XXXXXX", NULL);
    return root ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", root);
    g_free(root);
    return system(rm) == 0 ? 0 : -1;
}

/* vs_state_dir_make on DIR fails, its message holding WANT. */
static void expect_refused(const char *dir, const char *want)
{
    g_autoptr(GError) error = NULL;
    if (vs_state_dir_make(dir, &error))
        fail_msg("%s was taken as a state directory", dir);
    if (!strstr(error->message, want))
        fail_msg("%s: '%s' does not say '%s'", dir, error->message, want);
}

static void test_made_and_checked(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    g_autofree char *fresh = g_build_filename(root, "a", "b", NULL);
    assert_true(vs_state_dir_make(fresh, &error));
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* ours, readable by others: closed */
    assert_int_equal(chmod(fresh, 0755), 0);
    assert_true(vs_state_dir_make(fresh, &error));
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* writable by others: refused, left as it is */
    g_autofree char *open_dir = g_build_filename(root, "open", NULL);
    assert_int_equal(g_mkdir(open_dir, 0700), 0);
    assert_int_equal(chmod(open_dir, 0777), 0);
    expect_refused(open_dir, "writable by other users");
    /* nor anything below it, which its other users could rename away */
    g_autofree char *below = g_build_filename(open_dir, "state", NULL);
    expect_refused(below, "its parent");
    assert_false(g_file_test(below, G_FILE_TEST_EXISTS));
    /* writable by its own group, this user's private one (umask 002):
     * taken, and closed */
    g_autofree char *group = g_build_filename(root, "group", NULL);
    assert_int_equal(g_mkdir(group, 0700), 0);
    assert_int_equal(chmod(group, 0775), 0);
    assert_true(vs_state_dir_make(group, &error));
    assert_int_equal(stat(group, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* writable by a group shared with others (here "users", gid 100, not
     * named as this user): refused as before */
    if (geteuid() == 0 && getgrgid(100)) {
        g_autofree char *shared = g_build_filename(root, "shared", NULL);
        assert_int_equal(g_mkdir(shared, 0700), 0);
        assert_int_equal(chown(shared, 0, 100), 0);
        assert_int_equal(chmod(shared, 0775), 0);
        expect_refused(shared, "writable by other users");
    }
    /* below a link of ours to a good directory (/srv -> /data/srv): taken;
     * below a link to one others can write in: refused */
    g_autofree char *to_good = g_build_filename(root, "to-good", NULL);
    assert_int_equal(symlink(fresh, to_good), 0);
    g_autofree char *via_good = g_build_filename(to_good, "state", NULL);
    if (!vs_state_dir_make(via_good, &error))
        fail_msg("%s: %s", via_good, error->message);
    g_autofree char *to_open = g_build_filename(root, "to-open", NULL);
    assert_int_equal(symlink(open_dir, to_open), 0);
    g_autofree char *via_open = g_build_filename(to_open, "state", NULL);
    expect_refused(via_open, "its parent");
    /* a symbolic link to a good one */
    g_autofree char *link = g_build_filename(root, "link", NULL);
    assert_int_equal(symlink(fresh, link), 0);
    expect_refused(link, "not a directory");
    if (geteuid() == 0) {
        /* another user's, as one made in /tmp ahead of a root daemon */
        g_autofree char *theirs = g_build_filename(root, "theirs", NULL);
        assert_int_equal(g_mkdir(theirs, 0700), 0);
        assert_int_equal(chown(theirs, 65534, 65534), 0);
        expect_refused(theirs, "owned by another user");
        g_autofree char *inside = g_build_filename(theirs, "state", NULL);
        expect_refused(inside, "its parent");
    }
}

static void test_private_file(void **state)
{
    (void)state;
    g_autofree char *path = g_build_filename(root, "token", NULL);
    assert_true(g_file_set_contents(path, "x", 1, NULL));
    const struct {
        mode_t mode;
        bool ok;
    } cases[] = {{0600, true}, {0400, true}, {0640, false}, {0604, false}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        assert_int_equal(chmod(path, cases[i].mode), 0);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        g_autoptr(GError) error = NULL;
        bool ok = vs_state_file_private(fd, path, &error);
        close(fd);
        if (ok != cases[i].ok)
            fail_msg("mode %o: %s", (unsigned)cases[i].mode, ok ? "taken" : error->message);
    }
}

static void test_lock(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_build_filename(root, "locked", NULL);
    assert_true(vs_state_dir_make(dir, &error));
    assert_true(vs_state_lock(dir, &error));
    /* a second taker (another open of the file: flock's unit) is refused,
     * and told who holds it */
    assert_false(vs_state_lock(dir, &error));
    g_autofree char *pid = g_strdup_printf("pid %d", (int)getpid());
    assert_non_null(strstr(error->message, pid));
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT));
}

static void test_path_is_inside(void **state)
{
    (void)state;
    const char *dir = "/var/lib/virtsnap/logs";
    const char *in[] = {"/var/lib/virtsnap/logs/u.serial.log", "/var/lib/virtsnap/logs/a/b",
                        "/var/lib/virtsnap/logs/..x", "/var/lib/virtsnap/logs/.x"};
    const char *out[] = {"/var/lib/virtsnap/logs", "/var/lib/virtsnap/logs/",
                         "/var/lib/virtsnap/logsx/a", "/var/lib/virtsnap/logs/../../x",
                         "/var/lib/virtsnap/logs/a/../../../etc/shadow",
                         "/var/lib/virtsnap/logs/./a", "/var/lib/virtsnap/logs//a",
                         "/var/lib/virtsnap/logs/a/..", "/etc/shadow", "logs/a", NULL};
    for (size_t i = 0; i < G_N_ELEMENTS(in); i++)
        if (!vs_path_is_inside(in[i], dir))
            fail_msg("%s should count as inside %s", in[i], dir);
    for (size_t i = 0; i < G_N_ELEMENTS(out); i++)
        if (vs_path_is_inside(out[i], dir))
            fail_msg("%s should not count as inside %s", out[i], dir);
    assert_false(vs_path_is_inside("/a/b", NULL));
    assert_false(vs_path_is_inside("/a/b", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_made_and_checked),
        cmocka_unit_test(test_private_file),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_path_is_inside),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
