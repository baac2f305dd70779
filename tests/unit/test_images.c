/* test_images.c: unit tests of src/model/images.h that need no hypervisor:
 * the qcow2 snapshot table read straight from the file (which snapshots an
 * image holds, and the size of the memory saved with each), against images
 * and snapshots made with qemu-img, a table past the reader's 16 KiB window
 * too, and hand-made hostile tables; a new disk, blank or over a base image,
 * is its owner's only; a copy keeps finding a backing file named relative
 * to the image. Skipped when qemu-img is missing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>
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

/* Appends a snapshot table entry to TABLE (padded to 8 bytes): ID, NAME of
 * NAME_LEN bytes, EXTRA_SIZE bytes of extra data that start with VM_STATE. */
static void put_entry(GByteArray *table, const char *id, const char *name, gsize name_len,
                      guint32 extra_size, guint64 vm_state)
{
    guint8 head[40] = {0};
    guint16 id_size = GUINT16_TO_BE((guint16)strlen(id)), n = GUINT16_TO_BE((guint16)name_len);
    guint32 e = GUINT32_TO_BE(extra_size);
    memcpy(head + 12, &id_size, 2);
    memcpy(head + 14, &n, 2);
    memcpy(head + 36, &e, 4);
    g_byte_array_append(table, head, sizeof head);
    g_autofree guint8 *extra = g_malloc0(MAX(extra_size, 8));
    guint64 v = GUINT64_TO_BE(vm_state);
    memcpy(extra, &v, 8);
    g_byte_array_append(table, extra, extra_size);
    g_byte_array_append(table, (const guint8 *)id, (guint)strlen(id));
    g_byte_array_append(table, (const guint8 *)name, (guint)name_len);
    static const guint8 zero = 0;
    while (table->len % 8)
        g_byte_array_append(table, &zero, 1);
}

/* A qcow2 header claiming COUNT snapshots at TABLE_OFFSET, then TABLE. */
static char *hand_made_image(const char *file, guint32 count, guint64 table_offset,
                             GByteArray *table)
{
    guint8 header[72] = {0};
    memcpy(header, "QFI\xfb", 4);
    guint32 c = GUINT32_TO_BE(count);
    guint64 o = GUINT64_TO_BE(table_offset);
    memcpy(header + 60, &c, 4);
    memcpy(header + 64, &o, 8);
    g_autoptr(GByteArray) bytes = g_byte_array_new();
    g_byte_array_append(bytes, header, sizeof header);
    if (table)
        g_byte_array_append(bytes, table->data, table->len);
    char *path = g_build_filename(dir, file, NULL);
    assert_true(g_file_set_contents(path, (const char *)bytes->data, bytes->len, NULL));
    return path;
}

/* Tables no qemu-img writes: offsets past any file (near 2^64 the window
 * once read before its buffer), extra data over QEMU's bound, a table cut
 * short, and an entry larger than the reader's window, which is skipped. */
static void test_hostile_tables(void **state)
{
    (void)state;
    g_autoptr(GError) error = NULL;
    const guint64 offsets[] = {G_MAXUINT64 - 10, G_MAXUINT64 - 16000, 1ULL << 63,
                               (guint64)G_MAXINT64 - 39};
    for (size_t i = 0; i < G_N_ELEMENTS(offsets); i++) {
        g_autofree char *far = hand_made_image("far.qcow2", 1, offsets[i], NULL);
        assert_false(vs_image_snapshot_info(far, "a", NULL, &error));
        assert_non_null(error);
        g_clear_error(&error);
        g_unlink(far);
    }

    g_autoptr(GByteArray) big_extra = g_byte_array_new();
    put_entry(big_extra, "1", "a", 1, 2000, 5);
    g_autofree char *extra = hand_made_image("extra.qcow2", 1, 72, big_extra);
    assert_false(vs_image_snapshot_info(extra, "a", NULL, &error));
    assert_non_null(error);
    g_clear_error(&error);

    g_autoptr(GByteArray) short_table = g_byte_array_new();
    put_entry(short_table, "1", "a", 1, 24, 7);
    g_autofree char *cut = hand_made_image("cut.qcow2", 2, 72, short_table);
    guint64 size = 0;
    assert_true(vs_image_snapshot_info(cut, "a", &size, &error));
    assert_int_equal(size, 7);
    assert_false(vs_image_snapshot_info(cut, "b", NULL, &error)); /* its 2nd entry is missing */
    assert_non_null(error);
    g_clear_error(&error);

    g_autoptr(GByteArray) large = g_byte_array_new();
    g_autofree char *long_name = g_strnfill(20000, 'x');
    put_entry(large, "1", long_name, 20000, 24, 1);
    put_entry(large, "2", "a", 1, 24, 1234);
    g_autofree char *skip = hand_made_image("skip.qcow2", 2, 72, large);
    size = 0;
    assert_true(vs_image_snapshot_info(skip, "a", &size, &error));
    assert_int_equal(size, 1234);
    assert_false(vs_image_snapshot_info(skip, "b", NULL, &error));
    assert_null(error); /* all read, just not there */
    g_unlink(extra);
    g_unlink(cut);
    g_unlink(skip);
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

static void test_new_disks_private(void **state)
{
    (void)state;
    mode_t old_mask = umask(022);
    g_autofree char *base = g_build_filename(dir, "base.raw", NULL);
    assert_true(g_file_set_contents(base, "x", 1, NULL));
    g_autofree char *blank = g_build_filename(dir, "blank.qcow2", NULL);
    g_autofree char *overlay = g_build_filename(dir, "overlay.qcow2", NULL);
    g_autoptr(GError) error = NULL;
    assert_true(vs_image_create(blank, 1, NULL, &error));
    assert_true(vs_image_create(overlay, 1, base, &error));
    umask(old_mask);
    const char *made[] = {blank, overlay};
    for (size_t i = 0; i < G_N_ELEMENTS(made); i++) {
        struct stat st;
        assert_int_equal(stat(made[i], &st), 0);
        if ((st.st_mode & 0777) != 0600)
            fail_msg("%s has mode %o", made[i], st.st_mode & 0777);
    }
}

/* A copy elsewhere of an image naming its backing file relative to its own
 * directory: made to name it absolutely (vs_image_keep_backing); and one
 * whose header records no format for it is refused before any copy
 * (vs_image_backing_movable: a clone checks it before copying the disk).
 * qemu-img no longer writes such a header: the format extension's magic is
 * changed by hand into one QEMU skips. */
static void test_relative_backing(void **state)
{
    (void)state;
    g_autofree char *base = g_build_filename(dir, "rb-base.qcow2", NULL);
    g_autofree char *top = g_build_filename(dir, "rb-top.qcow2", NULL);
    g_autofree char *copy_dir = g_build_filename(dir, "elsewhere", NULL);
    g_autofree char *copy = g_build_filename(copy_dir, "rb-top.qcow2", NULL);
    const char *make_base[] = {"qemu-img", "create", "-q", "-f", "qcow2", base, "1M", NULL};
    const char *make_top[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", "rb-base.qcow2",
                              "-F", "qcow2", top, NULL};
    qemu_img(make_base);
    qemu_img(make_top);
    g_autoptr(GError) error = NULL;
    assert_true(vs_image_backing_movable(top, &error));
    assert_int_equal(g_mkdir(copy_dir, 0700), 0);
    assert_true(vs_image_copy(top, copy, NULL, NULL, &error));
    assert_true(vs_image_keep_backing(top, copy, &error));
    VsImageRefs refs = {0};
    vs_image_refs(copy, &refs);
    assert_string_equal(refs.backing, base);
    vs_image_refs_clear(&refs);

    gsize len = 0;
    g_autofree char *header = NULL;
    assert_true(g_file_get_contents(top, &header, &len, NULL));
    const char format_magic[] = {(char)0xE2, (char)0x79, (char)0x2A, (char)0xCA};
    char *at = memmem(header, MIN(len, 4096), format_magic, sizeof format_magic);
    assert_non_null(at);
    at[0] = 0x12; /* an extension QEMU does not know */
    assert_true(g_file_set_contents(top, header, (gssize)len, NULL));
    vs_image_refs(top, &refs);
    assert_null(refs.backing_format);
    vs_image_refs_clear(&refs);
    assert_false(vs_image_backing_movable(top, &error));
    assert_non_null(strstr(error->message, "qemu-img rebase -u -b 'rb-base.qcow2' -F"));
    g_unlink(copy);
    g_rmdir(copy_dir);
    g_unlink(top);
    g_unlink(base);
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
        cmocka_unit_test(test_hostile_tables),
        cmocka_unit_test(test_not_qcow2),
        cmocka_unit_test(test_new_disks_private),
        cmocka_unit_test(test_relative_backing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    g_rmdir(dir);
    return rc;
}
