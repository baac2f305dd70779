/* hugepages.c: host facts about huge pages for guest RAM, read from
 * /proc/mounts and /proc/meminfo (see hugepages.h). */
#include "hugepages.h"

#include <stdio.h>
#include <string.h>

bool vs_hugepages_mounted(void)
{
    g_autofree char *mounts = NULL;
    return g_file_get_contents("/proc/mounts", &mounts, NULL, NULL) &&
           vs_hugepages_mounted_in(mounts);
}

bool vs_hugepages_mounted_in(const char *mounts)
{
    g_auto(GStrv) lines = g_strsplit(mounts, "\n", -1);
    for (char **l = lines; *l; l++) {
        char type[32] = "";
        if (sscanf(*l, "%*s %*s %31s", type) == 1 && strcmp(type, "hugetlbfs") == 0)
            return true;
    }
    return false;
}

guint64 vs_hugepages_free_bytes_in(const char *meminfo)
{
    const char *free_line = strstr(meminfo, "HugePages_Free:");
    const char *size_line = strstr(meminfo, "Hugepagesize:");
    unsigned long long pages = 0, kib = 0;
    if (!free_line || !size_line || sscanf(free_line, "HugePages_Free: %llu", &pages) != 1 ||
        sscanf(size_line, "Hugepagesize: %llu kB", &kib) != 1)
        return 0;
    return (guint64)pages * kib * 1024;
}

guint64 vs_hugepages_free_bytes(void)
{
    g_autofree char *meminfo = NULL;
    if (!g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL))
        return 0;
    return vs_hugepages_free_bytes_in(meminfo);
}
