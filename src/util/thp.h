/* thp.h: puts another process's transparent huge pages back together where
 * it uses them. Write-protecting memory (a live snapshot) splits huge pages;
 * MADV_COLLAPSE rebuilds them, but also fills every hole of the 2 MiB piece
 * it rebuilds, so this asks for it only over pieces that hold a page of the
 * process's own, unless the caller accepts filling the holes of a mapping
 * that is mostly in use. Reads /proc; no libvirt. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    guint64 mapped;    /* bytes of the mappings looked at */
    guint64 touched;   /* of which in huge-page pieces holding a page of their own */
    guint64 filled;    /* of which holes collapsed along (mappings mostly touched) */
    guint64 asked;     /* bytes the kernel was asked to collapse: touched + filled */
    guint64 collapsed; /* of which it did */
    guint64 failed;    /* of which it would not (collapsed + failed = asked) */
} VsThpCollapse;

/* Over PID's private anonymous read-write mappings of MIN_SIZE to MAX_SIZE
 * bytes, collapses (process_madvise MADV_COLLAPSE, Linux 6.1) each huge-page
 * piece that holds at least one page mapped by PID alone, i.e. not the shared
 * zero page and not a hole. A mapping with at least FILL_FROM (0 to 1; 0:
 * never) of its pieces touched is collapsed whole, holes and all: the holes
 * then cost host memory, but no longer page-table entries. Best effort: false
 * when /proc/PID or the call is refused (OUT then counts what was done). */
bool vs_thp_collapse(pid_t pid, guint64 min_size, guint64 max_size, double fill_from,
                     VsThpCollapse *out);

/* The size of a transparent huge page (hpage_pmd_size; 2 MiB on x86-64). */
guint64 vs_thp_size(void);
