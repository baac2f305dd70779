/* test_hugepages.c: unit tests of util/hugepages.c: the free huge-page
 * figure read from /proc/meminfo texts, and the hugetlbfs mount check. */
#include "util/hugepages.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static void test_free_bytes_from_meminfo(void **state)
{
    (void)state;
    const char *typical = "MemTotal:       24000000 kB\n"
                          "HugePages_Total:    2100\n"
                          "HugePages_Free:     2048\n"
                          "HugePages_Rsvd:        0\n"
                          "Hugepagesize:       2048 kB\n";
    assert_true(vs_hugepages_free_bytes_in(typical) == 2048ull * 2048 * 1024);
    const char *gigantic = "HugePages_Free:        3\nHugepagesize:    1048576 kB\n";
    assert_true(vs_hugepages_free_bytes_in(gigantic) == 3ull << 30);
    /* none reserved, or a kernel without huge pages */
    assert_true(vs_hugepages_free_bytes_in("HugePages_Free:        0\nHugepagesize:       2048 kB\n") == 0);
    assert_true(vs_hugepages_free_bytes_in("MemTotal: 1 kB\n") == 0);
    assert_true(vs_hugepages_free_bytes_in("HugePages_Free: x\nHugepagesize: 2048 kB\n") == 0);
    assert_true(vs_hugepages_free_bytes_in("") == 0);
}

static void test_mounted_from_mounts(void **state)
{
    (void)state;
    const char *with = "sysfs /sys sysfs rw,nosuid 0 0\n"
                       "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n";
    assert_true(vs_hugepages_mounted_in(with));
    const char *without = "sysfs /sys sysfs rw,nosuid 0 0\n"
                          "/dev/vda / ext4 rw,relatime 0 0\n";
    assert_false(vs_hugepages_mounted_in(without));
    /* the type field, not a path or an option that says so */
    assert_false(vs_hugepages_mounted_in("none /mnt/hugetlbfs tmpfs rw 0 0\n"));
    assert_false(vs_hugepages_mounted_in("none /mnt tmpfs rw,hugetlbfs 0 0\n"));
    assert_false(vs_hugepages_mounted_in(""));
}

static void test_mounted_matches_proc_mounts(void **state)
{
    (void)state;
    /* the field-wise parse agrees with a plain search of the table */
    g_autofree char *mounts = NULL;
    assert_true(g_file_get_contents("/proc/mounts", &mounts, NULL, NULL));
    assert_int_equal(vs_hugepages_mounted(), strstr(mounts, " hugetlbfs ") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_bytes_from_meminfo),
        cmocka_unit_test(test_mounted_from_mounts),
        cmocka_unit_test(test_mounted_matches_proc_mounts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
