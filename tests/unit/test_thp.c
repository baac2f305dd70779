/* test_thp.c: unit tests of util/thp.c on this test's own memory: only the
 * huge-page pieces holding pages of their own are collapsed, the others stay
 * holes (a collapse over all of them would fill them), unless the mapping is
 * mostly in use and the caller asked for its holes to be filled; the data
 * stays. */
#include "util/thp.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

typedef struct {
    char *raw, *region;
    guint64 piece, page;
    size_t size;
} Region;

/* PIECES huge-page pieces, aligned, between two inaccessible pieces so that
 * the mapping cannot merge with a neighbour (exactly SIZE bytes, which is
 * all the calls below look at), on small pages as a live snapshot leaves
 * them: every page read (the shared zero page), and in each piece of TOUCHED
 * one page written with its number. */
/* The mapping a failed check or a skip left (its test's Region is gone with
 * its stack frame): unmapped by the next test. */
static struct {
    char *raw;
    size_t len;
} left;

static void region_make(Region *r, const bool touched[PIECES])
{
    if (left.raw)
        munmap(left.raw, left.len);
    left.raw = NULL;
    r->piece = vs_thp_size();
    r->page = (guint64)sysconf(_SC_PAGESIZE);
    r->size = (size_t)(PIECES * r->piece);
    r->raw = mmap(NULL, r->size + 3 * r->piece, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(r->raw != MAP_FAILED);
    left.raw = r->raw;
    left.len = r->size + 3 * r->piece;
    r->region = (char *)(((uintptr_t)r->raw + 2 * r->piece - 1) & ~(uintptr_t)(r->piece - 1));
    assert_int_equal(mprotect(r->region, r->size, PROT_READ | PROT_WRITE), 0);
    assert_int_equal(madvise(r->region, r->size, MADV_NOHUGEPAGE), 0);
    volatile char sum = 0;
    for (size_t at = 0; at < r->size; at += r->page)
        sum += r->region[at];
    for (int p = 0; p < PIECES; p++)
        if (touched[p])
            r->region[p * r->piece + (p % 7) * r->page + 5] = (char)('a' + p);
    assert_int_equal(madvise(r->region, r->size, MADV_HUGEPAGE), 0);
    /* khugepaged may collapse a touched piece of its own from here on (it
     * fills up to max_ptes_none holes), never an untouched one. */
    for (int p = 0; p < PIECES; p++) {
        guint64 own = own_pages(r->region, r->piece, p);
        if (!touched[p] && own > 0) {
            /* Some kernels (seen on 6.18 in a Firecracker VM) give a read fault
             * a private page rather than the shared zero page: such a piece
             * is made a hole again by dropping its pages (a hole is then
             * unmapped, not the zero page: the same to the collapse). */
            assert_int_equal(madvise(r->region + p * r->piece, r->piece, MADV_DONTNEED), 0);
            own = own_pages(r->region, r->piece, p);
        }
        assert_true(touched[p] ? own == 1 || own == r->piece / r->page : own == 0);
    }
}

/* Whether this kernel lets this process collapse a touched piece of its own
 * by the call vs_thp_collapse makes (process_madvise MADV_COLLAPSE, Linux
 * 6.1; before 6.13 it wants CAP_SYS_NICE even for the caller itself): what
 * tells a kernel or a process that cannot from a vs_thp_collapse that fails. */
static bool kernel_collapses(void)
{
    size_t piece = (size_t)vs_thp_size();
    char *raw = mmap(NULL, 3 * piece, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return false;
    char *at = (char *)(((uintptr_t)raw + piece - 1) & ~(uintptr_t)(piece - 1));
    at[0] = 1;
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec range = {.iov_base = at, .iov_len = piece};
    bool ok = pidfd >= 0 &&
              syscall(SYS_process_madvise, pidfd, &range, 1, 25 /* MADV_COLLAPSE */, 0) ==
                  (long)piece;
    if (pidfd >= 0)
        close(pidfd);
    munmap(raw, 3 * piece);
    return ok;
}

/* Collapses R with FILL_FROM; checks the figures, then that each piece of
 * EXPECTED is one huge page and every other one still a hole, and the data. */
static void collapse_and_check(Region *r, const bool touched[PIECES], double fill_from,
                               const bool expected[PIECES])
{
    guint64 n_touched = 0, n_expected = 0;
    for (int p = 0; p < PIECES; p++)
        n_touched += touched[p], n_expected += expected[p];
    VsThpCollapse done;
    bool ok = vs_thp_collapse(getpid(), r->size, r->size, fill_from, &done);
    if (!ok && done.collapsed == 0) { /* this kernel will not collapse (older than 6.1, or refused) */
        if (kernel_collapses())
            fail_msg("vs_thp_collapse collapsed nothing (%" G_GUINT64_FORMAT " failed), where "
                     "process_madvise(MADV_COLLAPSE) on a piece of this process's own does",
                     done.failed);
        print_message("skipped: the kernel collapsed nothing (%" G_GUINT64_FORMAT " failed)\n",
                      done.failed);
        skip();
    }
    assert_true(done.mapped == r->size);
    assert_true(done.touched == n_touched * r->piece);
    assert_true(done.asked == n_expected * r->piece);
    assert_true(done.filled == done.asked - done.touched);
    assert_true(done.collapsed + done.failed == done.asked); /* every piece asked for */
    if (done.collapsed == 0) { /* no huge page to be had (memory too fragmented) */
        print_message("skipped: no huge page to be had\n");
        skip();
    }
    for (int p = 0; p < PIECES; p++) {
        if (!expected[p])
            assert_true(own_pages(r->region, r->piece, p) == 0); /* still a hole */
        else if (done.failed == 0)
            assert_true(own_pages(r->region, r->piece, p) == r->piece / r->page); /* one huge page */
        char *at = r->region + p * r->piece + (p % 7) * r->page + 5;
        assert_int_equal(*at, touched[p] ? (char)('a' + p) : 0);
    }
    munmap(r->raw, r->size + 3 * r->piece);
    left.raw = NULL;
}

/* 4 pieces of 16 touched (3, 7 and the run 10-11): below any fill ratio. */
static void test_collapses_only_touched_pieces(void **state)
{
    (void)state;
    if (!thp_available())
        skip();
    bool touched[PIECES] = {[3] = true, [7] = true, [10] = true, [11] = true};
    Region r;
    region_make(&r, touched);
    collapse_and_check(&r, touched, 2.0 / 3.0, touched);
}

/* 12 of 16 touched: at 2/3 the holes are filled too; at 0 (never) not. */
static void test_fills_holes_of_a_mostly_touched_mapping(void **state)
{
    (void)state;
    if (!thp_available())
        skip();
    bool touched[PIECES], all[PIECES];
    for (int p = 0; p < PIECES; p++)
        touched[p] = p % 4 != 1, all[p] = true;
    Region r;
    region_make(&r, touched);
    collapse_and_check(&r, touched, 2.0 / 3.0, all);
    region_make(&r, touched);
    collapse_and_check(&r, touched, 0, touched);
}

static void test_size_window_and_missing_process(void **state)
{
    (void)state;
    VsThpCollapse done = {.mapped = 1, .touched = 1, .collapsed = 1};
    /* No process has this PID (the kernel's limit is 4194304). */
    assert_false(vs_thp_collapse(INT_MAX, 0, G_MAXUINT64, 0, &done));
    assert_true(done.mapped == 0 && done.touched == 0 && done.collapsed == 0);
    /* An empty window looks at nothing and succeeds. */
    assert_true(vs_thp_collapse(getpid(), 2, 1, 0, &done));
    assert_true(done.mapped == 0 && done.touched == 0);
    guint64 size = vs_thp_size();
    assert_true(size >= 2 * (guint64)sysconf(_SC_PAGESIZE) && (size & (size - 1)) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collapses_only_touched_pieces),
        cmocka_unit_test(test_fills_holes_of_a_mostly_touched_mapping),
        cmocka_unit_test(test_size_window_and_missing_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
