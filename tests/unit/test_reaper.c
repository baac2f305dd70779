/* test_reaper.c: unit tests of the orphan reaper (src/util/reaper.h): an
 * orphaned grandchild (daemonized like QEMU, from the main thread or from
 * another thread) is reparented to this process and reaped within 1 s,
 * several at once too; a direct child that its parent waits for itself
 * (30 ms late on the main thread, or 300 ms late on another thread) keeps
 * its pid and exit status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include "util/reaper.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_ORPHANS 5

/* The parent pid of PID from /proc/PID/stat, 0 if it is gone. */
static pid_t parent_of(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    const char *close = strrchr(text, ')');
    char state = 0;
    int ppid = 0;
    if (!close || sscanf(close + 1, " %c %d", &state, &ppid) != 2)
        return 0;
    return (pid_t)ppid;
}

typedef struct {
    pid_t pids[N_ORPHANS];
    int release[2]; /* the orphans exit when the write end closes */
} Orphans;

/* Daemonizes N_ORPHANS processes like libvirt does QEMU: an intermediate
 * child forks them and exits at once; the calling thread waits for it.
 * Returns non-NULL on success (no cmocka assert: it may run on a thread). */
static gpointer make_orphans(gpointer data)
{
    Orphans *o = data;
    int report[2];
    if (pipe(report) != 0)
        return NULL;
    pid_t mid = fork();
    if (mid < 0)
        return NULL;
    if (mid == 0) {
        close(report[0]);
        for (int i = 0; i < N_ORPHANS; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                close(o->release[1]);
                close(report[1]);
                char c;
                for (;;) {
                    ssize_t n = read(o->release[0], &c, 1);
                    if (n == 0 || (n < 0 && errno != EINTR))
                        break;
                }
                _exit(3);
            }
            if (pid < 0 || write(report[1], &pid, sizeof pid) != sizeof pid)
                _exit(1);
        }
        _exit(0);
    }
    close(report[1]);
    bool ok = true;
    for (int i = 0; i < N_ORPHANS; i++)
        ok = ok && read(report[0], &o->pids[i], sizeof o->pids[i]) == sizeof o->pids[i];
    close(report[0]);
    int status = 0;
    ok = waitpid(mid, &status, 0) == mid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
    return ok ? o : NULL;
}

/* Orphans made by THREAD (NULL: this one) are this process's children once
 * their parent exited, and are all reaped within 1 s of exiting together. */
static void check_orphans_reaped(bool other_thread)
{
    Orphans o;
    assert_int_equal(pipe(o.release), 0);
    if (other_thread)
        assert_non_null(g_thread_join(g_thread_new("spawner", make_orphans, &o)));
    else
        assert_non_null(make_orphans(&o));
    for (int i = 0; i < N_ORPHANS; i++)
        assert_int_equal(parent_of(o.pids[i]), getpid()); /* not PID 1 */
    unsigned before = vs_reaper_count();
    close(o.release[0]);
    gint64 start = g_get_monotonic_time();
    close(o.release[1]);
    int left = N_ORPHANS;
    while (left > 0 && g_get_monotonic_time() - start < G_USEC_PER_SEC) {
        g_usleep(5000);
        left = 0;
        for (int i = 0; i < N_ORPHANS; i++)
            if (kill(o.pids[i], 0) == 0 || errno != ESRCH)
                left++;
    }
    gint64 ms = (g_get_monotonic_time() - start) / 1000;
    printf("# %d orphans (made by %s thread) reaped in %" G_GINT64_FORMAT " ms\n", N_ORPHANS,
           other_thread ? "another" : "the main", ms);
    assert_int_equal(left, 0);
    assert_true(vs_reaper_count() - before >= N_ORPHANS);
}

static void test_orphans_of_main_thread_reaped(void **state)
{
    (void)state;
    check_orphans_reaped(false);
}

static void test_orphans_of_other_thread_reaped(void **state)
{
    (void)state;
    check_orphans_reaped(true);
}

/* Forks a child that exits with CODE, waits WAIT_US, then waitpid()s it:
 * true if that returned the child and its status (no cmocka assert: it may
 * run on a thread). */
static bool own_child_kept(int code, gulong wait_us)
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0)
        _exit(code);
    g_usleep(wait_us);
    int status = -1;
    pid_t got = waitpid(pid, &status, 0);
    if (got != pid || !WIFEXITED(status) || WEXITSTATUS(status) != code) {
        printf("# waitpid(%d) after %lu ms: %d (%s), status %d\n", (int)pid, wait_us / 1000,
               (int)got, got < 0 ? g_strerror(errno) : "", status);
        return false;
    }
    return true;
}

static void test_own_child_of_main_thread_kept(void **state)
{
    (void)state;
    unsigned before = vs_reaper_count();
    for (int i = 0; i < 10; i++)
        assert_true(own_child_kept(40 + i, 30 * 1000));
    assert_int_equal(vs_reaper_count(), before);
}

static gpointer late_waiter(gpointer unused)
{
    (void)unused;
    return GINT_TO_POINTER(own_child_kept(7, 300 * 1000)); /* well past the grace time */
}

static void test_own_child_of_other_thread_kept(void **state)
{
    (void)state;
    unsigned before = vs_reaper_count();
    for (int i = 0; i < 3; i++)
        assert_true(GPOINTER_TO_INT(g_thread_join(g_thread_new("late-waiter", late_waiter, NULL))));
    assert_int_equal(vs_reaper_count(), before);
}

static int setup(void **state)
{
    (void)state;
    return vs_reaper_start() && vs_reaper_start() ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orphans_of_main_thread_reaped),
        cmocka_unit_test(test_orphans_of_other_thread_reaped),
        cmocka_unit_test(test_own_child_of_main_thread_kept),
        cmocka_unit_test(test_own_child_of_other_thread_kept),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
