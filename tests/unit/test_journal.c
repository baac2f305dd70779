/* test_journal.c: unit tests of the journal's record life (src/model/
 * journal.h) without a hypervisor: a record is on disk once committed and
 * gone once ended; the end of a record whose replay would undo finished
 * work (clone, revert, rename, power-off, VM create, VM delete) syncs the journal's
 * directory, so that a power cut cannot bring it back, while a snapshot's,
 * harmless to replay, costs no sync. fsync is wrapped
 * (-Wl,--wrap=fsync) to see which descriptors are synced. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/journal.h"

static char *root;        /* the state directory */
static char *journal_dir; /* ROOT/journal */
static int dir_syncs;     /* fsyncs of JOURNAL_DIR since the last reset */

int __real_fsync(int fd);
int __wrap_fsync(int fd)
{
    g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
    g_autofree char *target = g_file_read_link(link, NULL);
    if (g_strcmp0(target, journal_dir) == 0)
        dir_syncs++;
    return __real_fsync(fd);
}

static int setup(void **state)
{
    (void)state;
    g_autofree char *made = g_dir_make_tmp("virtsnap-journal-XXXXXX", NULL);
    /* as /proc/self/fd shows it (TMPDIR may be reached through a link) */
    root = made ? realpath(made, NULL) : NULL;
    journal_dir = root ? g_build_filename(root, "journal", NULL) : NULL;
    return root && vs_journal_init(root, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", root);
    free(root);
    g_free(journal_dir);
    return system(rm) == 0 ? 0 : -1;
}

/* How many files JOURNAL_DIR holds. */
static guint records(void)
{
    g_autoptr(GDir) d = g_dir_open(journal_dir, 0, NULL);
    guint n = 0;
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

/* A record of KIND begun, committed and ended: how many times the
 * journal's directory was synced by the end. */
static int syncs_at_end(const char *kind)
{
    g_autoptr(GError) error = NULL;
    VsJournal *j = vs_journal_begin(kind, "0b8b3d2e-8a3f-4f6c-9d59-1c1e5f1d2a77", &error);
    assert_non_null(j);
    vs_journal_set(j, "internal", "s1");
    assert_true(vs_journal_commit(j, &error));
    assert_int_equal(records(), 1);
    dir_syncs = 0;
    vs_journal_end(j);
    assert_int_equal(records(), 0);
    return dir_syncs;
}

static void test_durable_end(void **state)
{
    (void)state;
    const char *kinds[] = {"clone", "revert", "rename", "poweroff", "create", "delete"};
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (syncs_at_end(kinds[i]) != 1)
            fail_msg("the end of a %s record did not sync %s", kinds[i], journal_dir);
}

static void test_plain_end(void **state)
{
    (void)state;
    const char *kinds[] = {"snapshot", "snapdelete"};
    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++)
        if (syncs_at_end(kinds[i]) != 0)
            fail_msg("the end of a %s record synced %s", kinds[i], journal_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_end),
        cmocka_unit_test(test_plain_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
