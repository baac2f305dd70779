/* hugepages.h: what this host offers for guest RAM on huge pages (hugetlbfs):
 * whether a hugetlbfs is mounted and how much of the reserved pool is free.
 * Read from /proc; no libvirt. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Whether a hugetlbfs file system is mounted (libvirt needs one). */
bool vs_hugepages_mounted(void);
/* The same from a /proc/mounts text (for tests). */
bool vs_hugepages_mounted_in(const char *mounts);
/* Bytes of free default-size huge pages (HugePages_Free x Hugepagesize). */
guint64 vs_hugepages_free_bytes(void);
/* The same figures from a /proc/meminfo text (for tests). */
guint64 vs_hugepages_free_bytes_in(const char *meminfo);
