/* test_snapnames.c: unit tests of the snapshot display-name map
 * (src/model/snapnames.h) in a temporary state directory: display/internal
 * mapping, renames hiding the old name, forget, copy between VMs and
 * persistence across a reload (vs_snapnames_init again on the same state
 * directory, which is what a daemon restart does); the measured figures of
 * snapshots, kept beside the names with the same life. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "model/snapnames.h"

#define VM_A "aaaaaaaa-0000-4000-8000-000000000001"
#define VM_B "bbbbbbbb-0000-4000-8000-000000000002"

static char *state_dir;

static int setup(void **state)
{
    (void)state;
    state_dir = g_dir_make_tmp("vs-snapnames-XXXXXX", NULL);
    assert_non_null(state_dir);
    g_autoptr(GError) error = NULL;
    assert_true(vs_snapnames_init(state_dir, &error));
    assert_null(error);
    return 0;
}

/* Removes DIR and what it holds, one level of subdirectories included. */
static void remove_tree(const char *dir, int depth)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *n; d && (n = g_dir_read_name(d));) {
        g_autofree char *file = g_build_filename(dir, n, NULL);
        if (depth > 0 && g_file_test(file, G_FILE_TEST_IS_DIR))
            remove_tree(file, depth - 1);
        else
            g_unlink(file);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static int teardown(void **state)
{
    (void)state;
    g_autofree char *dir = g_build_filename(state_dir, "snapnames", NULL);
    remove_tree(dir, 1);
    g_rmdir(state_dir);
    g_clear_pointer(&state_dir, g_free);
    return 0;
}

/* A daemon restart: the in-memory maps go, the files stay. */
static void reload(void)
{
    g_autoptr(GError) error = NULL;
    assert_true(vs_snapnames_init(state_dir, &error));
}

static char *map_file(const char *uuid)
{
    g_autofree char *file = g_strdup_printf("%s.conf", uuid);
    return g_build_filename(state_dir, "snapnames", file, NULL);
}

static void expect_display(const char *uuid, const char *internal, const char *display)
{
    g_autofree char *got = vs_snapnames_display(uuid, internal);
    assert_non_null(got);
    assert_string_equal(got, display);
}

static void expect_internal(const char *uuid, const char *display, const char *internal)
{
    g_autofree char *got = vs_snapnames_internal(uuid, display);
    if (!internal) {
        if (got)
            fail_msg("'%s' should be hidden but maps to '%s'", display, got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, internal);
}

static void set(const char *uuid, const char *internal, const char *display)
{
    g_autoptr(GError) error = NULL;
    if (!vs_snapnames_set(uuid, internal, display, &error))
        fail_msg("set %s → %s: %s", internal, display, error ? error->message : "?");
}

static void test_init_creates_dir(void **state)
{
    (void)state;
    g_autofree char *dir = g_build_filename(state_dir, "snapnames", NULL);
    assert_true(g_file_test(dir, G_FILE_TEST_IS_DIR));
    GStatBuf st;
    assert_int_equal(g_stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0); /* private to the daemon */
}

static void test_unmapped_names(void **state)
{
    (void)state;
    /* snapshots made with virsh: shown under their libvirt name */
    expect_display(VM_A, "from-virsh", "from-virsh");
    expect_internal(VM_A, "from-virsh", "from-virsh");
    expect_internal(VM_A, "anything", "anything"); /* the caller asks libvirt */
    g_autofree char *file = map_file(VM_A);
    assert_false(g_file_test(file, G_FILE_TEST_EXISTS)); /* reads write nothing */
}

static void test_mapping_and_rename(void **state)
{
    (void)state;
    set(VM_A, "vs-1", "snap 1");
    expect_display(VM_A, "vs-1", "snap 1");
    expect_internal(VM_A, "snap 1", "vs-1");
    /* the internal name is no longer a name users can reach */
    expect_internal(VM_A, "vs-1", NULL);
    g_autofree char *file = map_file(VM_A);
    assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));

    /* rename again: the previous display name goes away */
    set(VM_A, "vs-1", "final");
    expect_display(VM_A, "vs-1", "final");
    expect_internal(VM_A, "final", "vs-1");
    expect_internal(VM_A, "snap 1", "snap 1"); /* a name of its own, never the renamed snapshot */
    expect_internal(VM_A, "vs-1", NULL);

    /* other VMs are not affected */
    expect_display(VM_B, "vs-1", "vs-1");
    expect_internal(VM_B, "final", "final");

    /* renaming back to the internal name removes the entry (and the file) */
    set(VM_A, "vs-1", "vs-1");
    expect_display(VM_A, "vs-1", "vs-1");
    expect_internal(VM_A, "vs-1", "vs-1");
    expect_internal(VM_A, "final", "final");
    assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
}

/* Two snapshots swap their names through a free one, as the API would. */
static void test_swap(void **state)
{
    (void)state;
    set(VM_A, "x", "tmp");
    set(VM_A, "y", "x");
    set(VM_A, "x", "y");
    expect_display(VM_A, "x", "y");
    expect_display(VM_A, "y", "x");
    expect_internal(VM_A, "x", "y");
    expect_internal(VM_A, "y", "x");
    expect_internal(VM_A, "tmp", "tmp"); /* free again: not the renamed snapshot */
    reload();
    expect_display(VM_A, "x", "y");
    expect_display(VM_A, "y", "x");
    expect_internal(VM_A, "x", "y");
    expect_internal(VM_A, "y", "x");
    vs_snapnames_forget_vm(VM_A);
}

static void test_forget(void **state)
{
    (void)state;
    set(VM_A, "vs-1", "one");
    set(VM_A, "vs-2", "two");
    vs_snapnames_forget(VM_A, "vs-1");
    expect_display(VM_A, "vs-1", "vs-1");
    expect_internal(VM_A, "one", "one");
    expect_display(VM_A, "vs-2", "two");
    vs_snapnames_forget(VM_A, "never-mapped"); /* harmless */
    expect_display(VM_A, "vs-2", "two");
    reload();
    expect_display(VM_A, "vs-1", "vs-1");
    expect_display(VM_A, "vs-2", "two");

    /* forgetting the whole VM drops its file too */
    vs_snapnames_forget_vm(VM_A);
    expect_display(VM_A, "vs-2", "vs-2");
    g_autofree char *file = map_file(VM_A);
    assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
    reload();
    expect_display(VM_A, "vs-2", "vs-2");
}

/* Snapshot vs-1, shown as "foo", went without its entry going (another
 * client dropped it): a new snapshot made under the free name "foo" is
 * found by it, and the stale entry is gone, also after a reload. */
static void test_stale_entry_replaced(void **state)
{
    (void)state;
    set(VM_A, "vs-1", "foo");
    set(VM_A, "foo", "foo");
    expect_internal(VM_A, "foo", "foo");
    expect_display(VM_A, "vs-1", "vs-1");
    reload();
    expect_internal(VM_A, "foo", "foo");
    expect_display(VM_A, "vs-1", "vs-1");
    vs_snapnames_forget_vm(VM_A);
}

static void test_copy_vm(void **state)
{
    (void)state;
    set(VM_A, "vs-1", "<x>");
    set(VM_A, "vs-2", "пeω-∨м");
    g_autoptr(GError) error = NULL;
    assert_true(vs_snapnames_copy_vm(VM_A, VM_B, &error));
    expect_display(VM_B, "vs-1", "<x>");
    expect_display(VM_B, "vs-2", "пeω-∨м");
    expect_internal(VM_B, "пeω-∨м", "vs-2");
    /* the copy is independent of its source */
    set(VM_A, "vs-1", "changed");
    vs_snapnames_forget(VM_A, "vs-2");
    expect_display(VM_B, "vs-1", "<x>");
    expect_display(VM_B, "vs-2", "пeω-∨м");
    reload();
    expect_display(VM_B, "vs-1", "<x>");
    expect_display(VM_B, "vs-2", "пeω-∨м");
    expect_display(VM_A, "vs-1", "changed");
    expect_display(VM_A, "vs-2", "vs-2");
    vs_snapnames_forget_vm(VM_A);
    vs_snapnames_forget_vm(VM_B);
}

/* Every valid name, however awkward for a key file, survives a restart. */
static void test_persistence(void **state)
{
    (void)state;
    const char *names[] = {"a&b", "<x>", "\"q\"", "пeω-∨м", "snap 1", " leading", "trailing  ",
                           "a=b", "[group]", "# not a comment", "; nor this", "back\\slash",
                           "\\n", "x\\s", "tab\u00a0nbsp", "😀"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *internal = g_strdup_printf("vs-%zu", i);
        set(VM_A, internal, names[i]);
    }
    reload();
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *internal = g_strdup_printf("vs-%zu", i);
        expect_display(VM_A, internal, names[i]);
        expect_internal(VM_A, names[i], internal);
        expect_internal(VM_A, internal, NULL);
    }
    vs_snapnames_forget_vm(VM_A);
}

/* Whether PATH still ends with the comment MARK appended to it (a rewrite
 * drops it; inode numbers are no proof, as the file system reuses them). */
static bool has_mark(const char *path, const char *mark)
{
    g_autofree char *text = NULL;
    return g_file_get_contents(path, &text, NULL, NULL) && g_str_has_suffix(text, mark);
}

static void add_mark(const char *path, const char *mark)
{
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_autofree char *marked = g_strconcat(text, mark, NULL);
    assert_true(g_file_set_contents(path, marked, -1, NULL));
}

/* The map file holds every renamed snapshot of a VM and each write of it is
 * fsynced: a new snapshot shown under its libvirt name, or a name set to
 * what it already is, must not rewrite it (every create did, 0.9 ms with one
 * renamed snapshot). A write that failed is made by the next set. */
static void test_unchanged_not_rewritten(void **state)
{
    (void)state;
    g_autofree char *path = map_file(VM_A);
    const char *mark = "# not rewritten\n";
    set(VM_A, "vs-1", "renamed");
    add_mark(path, mark);
    set(VM_A, "plain", "plain"); /* a new snapshot, no display name of its own */
    assert_true(has_mark(path, mark));
    set(VM_A, "vs-1", "renamed"); /* the same again */
    assert_true(has_mark(path, mark));
    set(VM_A, "vs-2", "other");
    assert_false(has_mark(path, mark)); /* a change is written */
    expect_display(VM_A, "vs-2", "other");

    /* A failed write (the file's place taken by a directory) leaves the
     * names as they were; the file is written by the next set, even of an
     * unchanged name. */
    assert_int_equal(g_unlink(path), 0);
    assert_int_equal(g_mkdir(path, 0700), 0);
    g_autoptr(GError) error = NULL;
    assert_false(vs_snapnames_set(VM_A, "vs-1", "failed rename", &error));
    assert_non_null(error);
    expect_display(VM_A, "vs-1", "renamed"); /* the failed set changed nothing */
    expect_internal(VM_A, "failed rename", "failed rename");
    assert_int_equal(g_rmdir(path), 0);
    set(VM_A, "plain", "plain");
    assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
    reload();
    expect_display(VM_A, "vs-1", "renamed");
    expect_display(VM_A, "vs-2", "other");
    vs_snapnames_forget_vm(VM_A);
}

static void expect_figures(const char *uuid, const char *internal, double ms, guint64 bytes)
{
    VsSnapFigures f = {0};
    assert_true(vs_snapnames_figures(uuid, internal, &f));
    assert_true(f.downtime_ms == ms);
    assert_int_equal(f.memory_bytes, bytes);
}

static void set_figures(const char *uuid, const char *internal, double ms, guint64 bytes)
{
    VsSnapFigures f = {.downtime_ms = ms, .memory_bytes = bytes};
    g_autoptr(GError) error = NULL;
    vs_snapnames_keep_figures(uuid, internal, &f);
    expect_figures(uuid, internal, ms, bytes); /* shown before it is written */
    assert_true(vs_snapnames_save_figures(uuid, internal, &error));
    assert_null(error);
}

static int count_files(const char *uuid)
{
    g_autofree char *name = g_strdup_printf("%s.figures", uuid);
    g_autofree char *dir = g_build_filename(state_dir, "snapnames", name, NULL);
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;
    while (d && g_dir_read_name(d))
        n++;
    if (d)
        g_dir_close(d);
    return d ? n : -1; /* -1: no directory at all */
}

/* Figures: one file per snapshot, kept across a restart, gone with the
 * snapshot or the VM, copied with a clone; names and figures independent. */
static void test_figures(void **state)
{
    (void)state;
    VsSnapFigures none;
    assert_false(vs_snapnames_figures(VM_A, "s1", &none));
    set_figures(VM_A, "s1", 23.5, 1048576);
    set_figures(VM_A, "s2", 1234.25, G_GUINT64_CONSTANT(4294967296) + 7);
    set(VM_A, "s2", "renamed");
    set_figures(VM_A, "s1", 24.5, 2097152); /* replaced, not added */
    assert_int_equal(count_files(VM_A), 2);
    reload();
    expect_figures(VM_A, "s1", 24.5, 2097152);
    expect_figures(VM_A, "s2", 1234.25, G_GUINT64_CONSTANT(4294967296) + 7);
    expect_display(VM_A, "s2", "renamed");

    vs_snapnames_forget(VM_A, "s1");
    assert_false(vs_snapnames_figures(VM_A, "s1", &none));
    assert_int_equal(count_files(VM_A), 1);
    expect_display(VM_A, "s2", "renamed"); /* the other snapshot keeps both */

    g_autoptr(GError) error = NULL;
    assert_true(vs_snapnames_copy_vm(VM_A, VM_B, &error));
    vs_snapnames_forget_vm(VM_A);
    assert_int_equal(count_files(VM_A), -1);
    reload();
    assert_false(vs_snapnames_figures(VM_A, "s2", &none));
    expect_figures(VM_B, "s2", 1234.25, G_GUINT64_CONSTANT(4294967296) + 7);
    expect_display(VM_B, "s2", "renamed");
    vs_snapnames_forget_vm(VM_B);
    assert_int_equal(count_files(VM_B), -1);
}

static void test_safe_internal(void **state)
{
    (void)state;
    const char *safe[] = {"snap1", "vs-1700000000-1", "a.b_c:d+e@f", "X", "1a", "2.0", "+1"};
    for (size_t i = 0; i < G_N_ELEMENTS(safe); i++)
        if (!vs_snapnames_safe_internal(safe[i]))
            fail_msg("'%s' should be a safe internal name", safe[i]);
    const char *unsafe[] = {"",       "-opt",   "a b",  "a/b",   "a\"b", "a'b",  "a,b",
                            "пeω",    "a&b",    "<x>",  "a\\b",  "a;b",  "a\nb", "a=b",
                            "1",      "007",    "20261207"};
    for (size_t i = 0; i < G_N_ELEMENTS(unsafe); i++)
        if (vs_snapnames_safe_internal(unsafe[i]))
            fail_msg("'%s' must not be used as an internal name", unsafe[i]);
    g_autofree char *long65 = g_strnfill(65, 'a');
    g_autofree char *long64 = g_strnfill(64, 'a');
    assert_false(vs_snapnames_safe_internal(long65));
    assert_true(vs_snapnames_safe_internal(long64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_creates_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmapped_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mapping_and_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_entry_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_not_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_safe_internal, setup, teardown),
    };
    return cmocka_run_group_tests_name("snapnames", tests, NULL, NULL);
}
