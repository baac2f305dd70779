/* test_images.c: unit tests of src/model/images.h that need no hypervisor:
 * the qcow2 snapshot table read straight from the file (which snapshots an
 * image holds, and the size of the memory saved with each), against images
 * and snapshots made with qemu-img, a table past the reader's 16 KiB window
 * too. Skipped when qemu-img is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "model/images.h"

static char *dir;

static void qemu_img(const char *const *argv)
{
    g_autoptr(GError) error = NULL;
    if (!vs_image_qemu_img(argv, NULL, &error))
        fail_msg("%s", error->message);
}

static void test_snapshot_table(void **state)
{
    (void)state;
    g_autofree char *image = g_build_filename(dir, "disk.qcow2", NULL);
    const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", image, "64M", NULL};
    qemu_img(create);
    g_autoptr(GError) error = NULL;
    guint64 size = 99;
    assert_false(vs_image_snapshot_info(image, "a", &size, &error));
    assert_null(error); /* readable, just not there */
    /* Names of every length, so that entries of several paddings follow one another. */
    const char *tags[] = {"a", "bb", "ccc-1", "a-longer.name:with+odd@chars", "last"};
    for (size_t i = 0; i < G_N_ELEMENTS(tags); i++) {
        const char *snap[] = {"qemu-img", "snapshot", "-c", tags[i], image, NULL};
        qemu_img(snap);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(tags); i++) {
        size = 99;
        assert_true(vs_image_snapshot_info(image, tags[i], &size, &error));
        assert_int_equal(size, 0); /* disk-only: no memory saved */
    }
    assert_false(vs_image_snapshot_info(image, "b", NULL, &error)); /* a prefix of "bb" */
    assert_false(vs_image_snapshot_info(image, "ccc", NULL, &error));
    assert_null(error);
    const char *del[] = {"qemu-img", "snapshot", "-d", "bb", image, NULL};
    qemu_img(del);
    assert_false(vs_image_snapshot_info(image, "bb", NULL, &error));
    assert_true(vs_image_snapshot_info(image, "last", NULL, &error));
    g_unlink(image);
}

/* A table larger than the reader's 16 KiB window: entries are found on
 * both sides of every refill, including one that straddles its end. */
static void test_large_table(void **state)
{
    (void)state;
    g_autofree char *image = g_build_filename(dir, "large.qcow2", NULL);
    const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", image, "64M", NULL};
    qemu_img(create);
    /* QEMU keeps names to 255 bytes; 60 entries of ~330 bytes: ~20 KB. */
    enum { COUNT = 60, NAME_LEN = 255 };
    g_autofree char *filler = g_strnfill(NAME_LEN - 4, 'x');
    for (int i = 0; i < COUNT; i++) {
        g_autofree char *tag = g_strdup_printf("%s%04d", filler, i);
        const char *snap[] = {"qemu-img", "snapshot", "-c", tag, image, NULL};
        qemu_img(snap);
    }
    g_autoptr(GError) error = NULL;
    for (int i = 0; i < COUNT; i++) {
        g_autofree char *tag = g_strdup_printf("%s%04d", filler, i);
        guint64 size = 99;
        if (!vs_image_snapshot_info(image, tag, &size, &error))
            fail_msg("snapshot %d of %d not found: %s", i, COUNT, error ? error->message : "");
        assert_int_equal(size, 0);
    }
    g_autofree char *absent = g_strdup_printf("%s%04d", filler, COUNT);
    assert_false(vs_image_snapshot_info(image, absent, NULL, &error));
    assert_null(error); /* the whole table was read */
    g_unlink(image);
}

static void test_not_qcow2(void **state)
{
    (void)state;
    g_autofree char *raw = g_build_filename(dir, "raw.img", NULL);
    assert_true(g_file_set_contents(raw, "not an image", -1, NULL));
    g_autoptr(GError) error = NULL;
    assert_false(vs_image_snapshot_info(raw, "a", NULL, &error));
    assert_non_null(error);
    g_clear_error(&error);
    g_autofree char *missing = g_build_filename(dir, "missing.qcow2", NULL);
    assert_false(vs_image_snapshot_info(missing, "a", NULL, &error));
    assert_non_null(error);
    g_unlink(raw);
}

int main(void)
{
    g_autofree char *tool = g_find_program_in_path("qemu-img");
    if (!tool) {
        printf("qemu-img missing: skipped\n");
        return 77;
    }
    dir = g_dir_make_tmp("vs-images-XXXXXX", NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_table),
        cmocka_unit_test(test_large_table),
        cmocka_unit_test(test_not_qcow2),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_rmdir(dir);
    return rc;
}
