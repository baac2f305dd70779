/* test_thp.c: unit tests of util/thp.c on this test's own memory: only the
 * huge-page pieces holding pages of their own are collapsed, the others stay
 * holes (a collapse over all of them would fill them), and the data stays. */
#include "util/thp.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#define PIECES 16
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_EXCLUSIVE (UINT64_C(1) << 56)

/* Pages of piece P of REGION mapped by this process alone (not the zero page). */
static guint64 own_pages(char *region, guint64 piece, int p)
{
    guint64 page = (guint64)sysconf(_SC_PAGESIZE), n = piece / page, own = 0;
    g_autofree guint64 *entries = g_new(guint64, n);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    off_t at = (off_t)(((uintptr_t)region + (guint64)p * piece) / page * sizeof *entries);
    assert_int_equal(pread(fd, entries, n * sizeof *entries, at), (ssize_t)(n * sizeof *entries));
    close(fd);
    for (guint64 i = 0; i < n; i++)
        own += (entries[i] & (PM_PRESENT | PM_EXCLUSIVE)) == (PM_PRESENT | PM_EXCLUSIVE);
    return own;
}

static bool thp_available(void)
{
    g_autofree char *enabled = NULL;
    return g_file_get_contents("/sys/kernel/mm/transparent_hugepage/enabled", &enabled, NULL, NULL) &&
           !strstr(enabled, "[never]");
}

static void test_collapses_only_touched_pieces(void **state)
{
    (void)state;
    if (!thp_available())
        skip();
    guint64 piece = vs_thp_size(), page = (guint64)sysconf(_SC_PAGESIZE);
    size_t size = (size_t)(PIECES * piece);
    /* Aligned, between two inaccessible pieces so that the mapping cannot
     * merge with a neighbour: exactly SIZE bytes, which is all the call
     * below looks at. */
    char *raw = mmap(NULL, size + 3 * piece, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(raw != MAP_FAILED);
    char *region = (char *)(((uintptr_t)raw + 2 * piece - 1) & ~(uintptr_t)(piece - 1));
    assert_int_equal(mprotect(region, size, PROT_READ | PROT_WRITE), 0);
    /* Small pages first, as a live snapshot leaves them: every page read
     * (the shared zero page), a few written. */
    assert_int_equal(madvise(region, size, MADV_NOHUGEPAGE), 0);
    volatile char sum = 0;
    for (size_t at = 0; at < size; at += page)
        sum += region[at];
    region[3 * piece + 5] = 'a';           /* piece 3: one page */
    region[7 * piece] = 'b';               /* piece 7: two pages */
    region[7 * piece + piece - 1] = 'c';
    region[10 * piece + 2 * page] = 'd';   /* pieces 10 and 11: one run */
    region[11 * piece + 9 * page] = 'e';
    assert_int_equal(madvise(region, size, MADV_HUGEPAGE), 0);
    assert_true(own_pages(region, piece, 3) == 1);
    assert_true(own_pages(region, piece, 0) == 0);

    VsThpCollapse done;
    bool ok = vs_thp_collapse_touched(getpid(), size, size, &done);
    if (!ok && done.collapsed == 0)
        skip(); /* this kernel will not collapse (older than 6.1, or refused) */
    assert_true(done.mapped == size);
    assert_true(done.touched == 4 * piece);
    assert_true(done.collapsed + done.failed == done.touched); /* every touched piece asked for */
    if (done.collapsed == 0)
        skip(); /* no huge page to be had (memory too fragmented) */
    for (int p = 0; p < PIECES; p++) {
        bool touched = p == 3 || p == 7 || p == 10 || p == 11;
        if (!touched)
            assert_true(own_pages(region, piece, p) == 0); /* still a hole */
        else if (done.failed == 0)
            assert_true(own_pages(region, piece, p) == piece / page); /* one huge page */
    }
    assert_int_equal(region[3 * piece + 5], 'a');
    assert_int_equal(region[7 * piece], 'b');
    assert_int_equal(region[7 * piece + piece - 1], 'c');
    assert_int_equal(region[10 * piece + 2 * page], 'd');
    assert_int_equal(region[11 * piece + 9 * page], 'e');
    assert_int_equal(region[5 * piece], 0);
    munmap(raw, size + 3 * piece);
}

static void test_size_window_and_missing_process(void **state)
{
    (void)state;
    VsThpCollapse done = {.mapped = 1, .touched = 1, .collapsed = 1};
    /* No process has this PID (the kernel's limit is 4194304). */
    assert_false(vs_thp_collapse_touched(INT_MAX, 0, G_MAXUINT64, &done));
    assert_true(done.mapped == 0 && done.touched == 0 && done.collapsed == 0);
    /* An empty window looks at nothing and succeeds. */
    assert_true(vs_thp_collapse_touched(getpid(), 2, 1, &done));
    assert_true(done.mapped == 0 && done.touched == 0);
    guint64 size = vs_thp_size();
    assert_true(size >= 2 * (guint64)sysconf(_SC_PAGESIZE) && (size & (size - 1)) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collapses_only_touched_pieces),
        cmocka_unit_test(test_size_window_and_missing_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
