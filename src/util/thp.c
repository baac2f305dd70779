/* thp.c: collapses another process's huge-page pieces where it has pages of
 * its own (see thp.h): /proc/PID/maps names the mappings, /proc/PID/pagemap
 * tells which pieces hold such a page, process_madvise(MADV_COLLAPSE)
 * rebuilds them. */
#include "thp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_FILE_OR_SHARED (UINT64_C(1) << 61)
#define PM_EXCLUSIVE (UINT64_C(1) << 56)
#define VS_MADV_COLLAPSE 25        /* Linux 6.1; glibc 2.36's headers lack it */
#define BATCH_PIECES 32            /* pagemap read per pread: 32 pieces (128 KiB on x86-64) */
#define CALL_MAX (UINT64_C(64) << 20) /* bytes per process_madvise call */

guint64 vs_thp_size(void)
{
    g_autofree char *text = NULL;
    guint64 size = 0, page = (guint64)sysconf(_SC_PAGESIZE);
    if (g_file_get_contents("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", &text, NULL, NULL))
        size = g_ascii_strtoull(text, NULL, 10);
    return size > page && (size & (size - 1)) == 0 ? size : UINT64_C(2) << 20;
}

typedef struct {
    int pidfd, pagemap;
    guint64 piece, page;        /* huge page and page sizes */
    guint64 run_start, run_end; /* touched pieces in a row, not yet collapsed */
    bool refused;               /* the kernel will not collapse for us (no right, no call) */
    bool mapping_refused;       /* nor in this mapping (EINVAL: THP off for it, or at all) */
    VsThpCollapse *out;
} Collapser;

/* A piece is touched when one of its pages is present and mapped by this
 * process alone: the shared zero page (what reading a hole maps) is not. */
static bool piece_touched(const guint64 *entries, guint64 count)
{
    for (guint64 i = 0; i < count; i++)
        if ((entries[i] & (PM_PRESENT | PM_EXCLUSIVE | PM_FILE_OR_SHARED)) == (PM_PRESENT | PM_EXCLUSIVE))
            return true;
    return false;
}

/* Collapses the run, CALL_MAX (at least one piece) at a time: a piece the
 * kernel cannot collapse (EAGAIN on a busy page) ends that call, not the
 * whole run. */
static void collapse_run(Collapser *c)
{
    guint64 step = MAX(CALL_MAX, c->piece);
    for (guint64 at = c->run_start; at < c->run_end; at += step) {
        guint64 len = MIN(c->run_end - at, step);
        c->out->asked += len;
        struct iovec range = {.iov_base = (void *)(uintptr_t)at, .iov_len = (size_t)len};
        ssize_t n = c->refused || c->mapping_refused
                        ? -1
                        : syscall(SYS_process_madvise, c->pidfd, &range, 1, VS_MADV_COLLAPSE, 0);
        if (n > 0) {
            c->out->collapsed += (guint64)n;
            continue;
        }
        c->out->failed += len;
        if (n < 0 && (errno == EPERM || errno == ENOSYS))
            c->refused = true;
        else if (n < 0 && errno == EINVAL)
            c->mapping_refused = true;
    }
    c->run_start = c->run_end = 0;
}

/* Walks MAPPING's whole pieces: adds those holding a page of their own to
 * *TOUCHED and, when COLLAPSE, collapses them. */
static bool walk_mapping(Collapser *c, guint64 start, guint64 end, bool collapse, guint64 *touched)
{
    guint64 per_piece = c->piece / c->page;
    guint64 at = (start + c->piece - 1) & ~(c->piece - 1), last = end & ~(c->piece - 1);
    g_autofree guint64 *entries = g_new(guint64, per_piece * BATCH_PIECES);
    while (at < last && !c->refused && !c->mapping_refused) {
        guint64 pieces = MIN((last - at) / c->piece, BATCH_PIECES);
        size_t len = (size_t)(pieces * per_piece * sizeof *entries);
        if (pread(c->pagemap, entries, len, (off_t)(at / c->page * sizeof *entries)) != (ssize_t)len) {
            if (collapse)
                collapse_run(c); /* what was found so far */
            return false;
        }
        for (guint64 p = 0; p < pieces; p++, at += c->piece) {
            if (!piece_touched(entries + p * per_piece, per_piece))
                continue;
            *touched += c->piece;
            if (!collapse)
                continue;
            if (c->run_end != at)
                collapse_run(c);
            if (c->run_start == c->run_end)
                c->run_start = at;
            c->run_end = at + c->piece;
        }
    }
    if (collapse)
        collapse_run(c);
    return true;
}

/* Collapses what MAPPING needs (see vs_thp_collapse). */
static bool collapse_mapping(Collapser *c, guint64 start, guint64 end, double fill_from)
{
    guint64 first = (start + c->piece - 1) & ~(c->piece - 1), last = end & ~(c->piece - 1);
    guint64 touched = 0;
    c->mapping_refused = false;
    if (fill_from <= 0 || first >= last || !walk_mapping(c, start, end, false, &touched) ||
        (double)touched < fill_from * (double)(last - first)) {
        touched = 0;
        bool ok = walk_mapping(c, start, end, true, &touched);
        c->out->touched += touched;
        return ok;
    }
    c->out->touched += touched;
    c->out->filled += last - first - touched;
    c->run_start = first;
    c->run_end = last;
    collapse_run(c);
    return true;
}

bool vs_thp_collapse(pid_t pid, guint64 min_size, guint64 max_size, double fill_from,
                     VsThpCollapse *out)
{
    *out = (VsThpCollapse){0};
#if defined(SYS_process_madvise) && defined(SYS_pidfd_open)
    g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", (int)pid);
    g_autofree char *pagemap_path = g_strdup_printf("/proc/%d/pagemap", (int)pid);
    g_autofree char *maps = NULL;
    Collapser c = {.pidfd = (int)syscall(SYS_pidfd_open, pid, 0), .pagemap = -1,
                   .piece = vs_thp_size(), .page = (guint64)sysconf(_SC_PAGESIZE), .out = out};
    bool ok = c.pidfd >= 0 && (c.pagemap = open(pagemap_path, O_RDONLY | O_CLOEXEC)) >= 0 &&
              g_file_get_contents(maps_path, &maps, NULL, NULL);
    g_auto(GStrv) lines = ok ? g_strsplit(maps, "\n", -1) : NULL;
    for (char **l = lines; ok && *l; l++) {
        unsigned long start = 0, end = 0;
        char perms[8] = "", path[8] = "";
        /* "start-end perms offset dev inode [path]": anonymous when no path. */
        if (sscanf(*l, "%lx-%lx %7s %*s %*s %*s %7s", &start, &end, perms, path) < 3 ||
            strcmp(perms, "rw-p") != 0 || path[0] || end - start < min_size || end - start > max_size)
            continue;
        out->mapped += end - start;
        ok = collapse_mapping(&c, start, end, fill_from) && !c.refused;
    }
    if (c.pagemap >= 0)
        close(c.pagemap);
    if (c.pidfd >= 0)
        close(c.pidfd);
    return ok;
#else
    (void)pid, (void)min_size, (void)max_size, (void)fill_from;
    return false;
#endif
}
