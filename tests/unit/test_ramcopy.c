/* test_ramcopy.c: unit tests of model/ramcopy.c with a thread of this
 * process as the writer in QEMU's place: its first write blocks until the
 * copier is released (and is seen blocked in /proc), the stream lands in the
 * file after the header, and a file that cannot be written still lets the
 * writer finish (the copier falling back from splice to read and write), and
 * a long stream does not stay in the page cache. */
#include "model/ramcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define STREAM_BYTES (8u << 20)
#define HEADER_BYTES 1000

typedef struct {
    int fd;
    size_t bytes; /* the stream's length; 0: STREAM_BYTES */
    gint written; /* bytes through so far */
    gboolean done, failed;
} Writer;

static guint8 pattern(size_t i)
{
    return (guint8)((i * 2654435761u) >> 13);
}

static void *writer_main(void *data)
{
    Writer *w = data;
    pthread_setname_np(pthread_self(), "vs_test_writer");
    static guint8 chunk[256 * 1024];
    size_t bytes = w->bytes ? w->bytes : STREAM_BYTES;
    for (size_t off = 0; off < bytes; off += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = pattern(off + i);
        for (size_t put = 0; put < sizeof chunk;) {
            ssize_t n = write(w->fd, chunk + put, sizeof chunk - put);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                g_atomic_int_set(&w->failed, TRUE);
                goto out;
            }
            put += (size_t)n;
            g_atomic_int_add(&w->written, (gint)n);
        }
    }
out:
    close(w->fd);
    g_atomic_int_set(&w->done, TRUE);
    return NULL;
}

static char *temp_file(int *fd)
{
    char *path = g_build_filename(g_get_tmp_dir(), "vs-ramcopy-XXXXXX", NULL);
    *fd = g_mkstemp(path);
    assert_true(*fd >= 0);
    return path;
}

/* Starts a writer thread on COPY's write end (handed over). */
static void start_writer(VsRamCopy *copy, Writer *w, pthread_t *thread)
{
    w->fd = dup(vs_ram_copy_writer_fd(copy));
    vs_ram_copy_writer_handed(copy);
    assert_int_equal(pthread_create(thread, NULL, writer_main, w), 0);
}

/* Copies a writer's stream of BYTES (0: STREAM_BYTES) into FD after its
 * HEADER_LEN bytes, released at once; both ends succeed. */
static void copy_stream(int fd, size_t header_len, size_t bytes)
{
    g_autoptr(GError) error = NULL;
    VsRamCopy *copy = vs_ram_copy_start(fd, (off_t)header_len, &error);
    assert_non_null(copy);
    Writer w = {.bytes = bytes};
    pthread_t thread;
    start_writer(copy, &w, &thread);
    vs_ram_copy_release(copy);
    assert_true(vs_ram_copy_finish(copy, &error));
    pthread_join(thread, NULL);
    assert_false(w.failed);
    vs_ram_copy_free(copy);
}

/* PATH holds HEADER, then the writer's whole stream of BYTES, byte for byte. */
static void check_stream(const char *path, const void *header, size_t header_len, size_t bytes)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &data, &len, NULL));
    assert_int_equal(len, header_len + bytes);
    assert_memory_equal(data, header, header_len);
    for (size_t i = 0; i < bytes; i++)
        if ((guint8)data[header_len + i] != pattern(i))
            fail_msg("byte %zu of the stream differs", i);
}

static void check_file(const char *path, const void *header, size_t header_len)
{
    check_stream(path, header, header_len, STREAM_BYTES);
}

static void test_holds_the_writer_until_released(void **state)
{
    (void)state;
    int fd;
    g_autofree char *path = temp_file(&fd);
    guint8 header[HEADER_BYTES];
    memset(header, 'H', sizeof header);
    assert_int_equal(write(fd, header, sizeof header), sizeof header);

    g_autoptr(GError) error = NULL;
    VsRamCopy *copy = vs_ram_copy_start(fd, HEADER_BYTES, &error);
    assert_non_null(copy);
    Writer w = {0};
    pthread_t thread;
    start_writer(copy, &w, &thread);

    /* Blocked at its first write, and seen so. */
    assert_true(vs_ram_copy_wait_writer_blocked(copy, getpid(), "vs_test_writer",
                                                5 * G_USEC_PER_SEC));
    g_usleep(50 * 1000);
    assert_int_equal(g_atomic_int_get(&w.written), 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, HEADER_BYTES);

    vs_ram_copy_release(copy);
    assert_true(vs_ram_copy_finish(copy, &error));
    assert_null(error);
    pthread_join(thread, NULL);
    assert_false(w.failed);
    vs_ram_copy_free(copy);

    check_file(path, header, HEADER_BYTES); /* the header untouched, the stream after it */
    close(fd);
    g_unlink(path);
}

/* How many of the first LEN bytes of FD are in the page cache, in pages;
 * *PAGES gets their number. */
static size_t cached_pages(int fd, size_t len, size_t *pages)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *pages = (len + page - 1) / page;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    g_autofree unsigned char *resident = g_malloc(*pages);
    assert_int_equal(mincore(map, len, resident), 0);
    munmap(map, len);
    size_t cached = 0;
    for (size_t i = 0; i < *pages; i++)
        cached += resident[i] & 1;
    return cached;
}

/* Whether this filesystem drops a written, synced file from the page cache
 * when asked (not tmpfs or ramfs, whose pages are the file; maybe not
 * overlayfs or NFS): a probe of 1 MiB. */
static bool page_cache_droppable(void)
{
    int fd;
    g_autofree char *path = temp_file(&fd);
    static const char block[1 << 20];
    bool written = write(fd, block, sizeof block) == (ssize_t)sizeof block &&
                   sync_file_range(fd, 0, sizeof block,
                                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                       SYNC_FILE_RANGE_WAIT_AFTER) == 0 &&
                   posix_fadvise(fd, 0, sizeof block, POSIX_FADV_DONTNEED) == 0;
    size_t pages = 0, cached = written ? cached_pages(fd, sizeof block, &pages) : 0;
    close(fd);
    g_unlink(path);
    return written && cached * 2 < pages;
}

/* A long stream does not stay in the page cache (write-behind): what the
 * copier wrote is on disk and dropped, but for its last steps. Skipped where
 * the filesystem keeps written files cached whatever it is asked. */
static void test_leaves_the_page_cache(void **state)
{
    (void)state;
    if (!page_cache_droppable())
        skip();
    const size_t bytes = 64u << 20;
    int fd;
    g_autofree char *path = temp_file(&fd);
    assert_int_equal(write(fd, "header", 6), 6);
    copy_stream(fd, 6, bytes);
    size_t pages = 0, cached = cached_pages(fd, 6 + bytes, &pages);
    check_stream(path, "header", 6, bytes); /* and all of it is there */
    close(fd);
    g_unlink(path);
    if (cached * 2 >= pages)
        fail_msg("%zu of the file's %zu pages are still cached", cached, pages);
}

/* A file that cannot take splice (O_APPEND refuses it): read and write. */
static void test_copies_without_splice(void **state)
{
    (void)state;
    int fd;
    g_autofree char *path = temp_file(&fd);
    assert_int_equal(write(fd, "header", 6), 6);
    int append = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(append >= 0);
    copy_stream(append, 6, 0);
    check_file(path, "header", 6);
    close(append);
    close(fd);
    g_unlink(path);
}

static void test_wait_gives_up_without_the_thread(void **state)
{
    (void)state;
    int fd;
    g_autofree char *path = temp_file(&fd);
    g_autoptr(GError) error = NULL;
    VsRamCopy *copy = vs_ram_copy_start(fd, 0, &error);
    assert_non_null(copy);
    gint64 t0 = g_get_monotonic_time();
    assert_false(vs_ram_copy_wait_writer_blocked(copy, getpid(), "no_such_thread",
                                                 5 * G_USEC_PER_SEC));
    assert_false(vs_ram_copy_wait_writer_blocked(copy, 0, "vs_test_writer", G_USEC_PER_SEC));
    assert_true(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC); /* not the whole timeout */
    /* Nobody wrote: the copier ends with the write end, having copied nothing. */
    assert_true(vs_ram_copy_finish(copy, &error));
    vs_ram_copy_free(copy);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(fd);
    g_unlink(path);
}

static void test_write_error_still_drains(void **state)
{
    (void)state;
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    g_autoptr(GError) error = NULL;
    VsRamCopy *copy = vs_ram_copy_start(full, 0, &error);
    assert_non_null(copy);
    Writer w = {0};
    pthread_t thread;
    start_writer(copy, &w, &thread);
    vs_ram_copy_release(copy);
    assert_false(vs_ram_copy_finish(copy, &error));
    assert_non_null(error);
    assert_non_null(strstr(error->message, "memory file"));
    /* /dev/full cannot splice (EINVAL): the copier wrote by hand, which is
     * where the device says it is full */
    assert_non_null(strstr(error->message, g_strerror(ENOSPC)));
    pthread_join(thread, NULL);
    /* The writer got everything through: it never waits on a copier that failed. */
    assert_false(w.failed);
    assert_int_equal(g_atomic_int_get(&w.written), STREAM_BYTES);
    vs_ram_copy_free(copy);
    close(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holds_the_writer_until_released),
        cmocka_unit_test(test_copies_without_splice),
        cmocka_unit_test(test_leaves_the_page_cache),
        cmocka_unit_test(test_wait_gives_up_without_the_thread),
        cmocka_unit_test(test_write_error_still_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
