/* thp.h: puts another process's transparent huge pages back together where
 * it uses them. Write-protecting memory (a live snapshot) splits huge pages;
 * MADV_COLLAPSE rebuilds them, but also fills every hole of the 2 MiB piece
 * it rebuilds, so this asks for it only over pieces that hold a page of the
 * process's own. Reads /proc; no libvirt. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    guint64 mapped;    /* bytes of the mappings looked at */
    guint64 touched;   /* of which in huge-page pieces holding a page of their own */
    guint64 collapsed; /* of which the kernel put back together */
    guint64 failed;    /* of which it would not (collapsed + failed = touched) */
} VsThpCollapse;

/* Over PID's private anonymous read-write mappings of MIN_SIZE to MAX_SIZE
 * bytes, collapses (process_madvise MADV_COLLAPSE, Linux 6.1) each huge-page
 * piece that holds at least one page mapped by PID alone, i.e. not the shared
 * zero page and not a hole. Best effort: false when /proc/PID or the call is
 * refused (OUT then counts what was done). */
bool vs_thp_collapse_touched(pid_t pid, guint64 min_size, guint64 max_size, VsThpCollapse *out);

/* The size of a transparent huge page (hpage_pmd_size; 2 MiB on x86-64). */
guint64 vs_thp_size(void);
