/* crash.c: what is particular to the crash-safety programs (see crash.h):
 * the group setup and teardown, arming fault points, waiting for the kill,
 * the clean restart and the checks of what recovery left. */
#include "crash.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Crash crash;

static char *log_copy;      /* the daemon's log path (outlives the daemon struct) */
static gsize armed_offset;  /* log size when the last fault was armed */

/* ---- setup / teardown -------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    g_unsetenv("VIRTSNAP_FAULT");
    if (!vs_guest_build("crash", &crash.workdir, &crash.guest))
        return -1;
    gint64 t0 = g_get_monotonic_time();
    crash.d = vs_test_daemon_start(NULL, NULL);
    log_copy = g_strdup(crash.d->log_path);
    printf("# daemon up in %.1f s (state %s, log %s)\n",
           (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC, crash.d->state_dir, log_copy);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!crash.d)
        return 0;
    g_unsetenv("VIRTSNAP_FAULT");
    if (!crash.d->pid)
        vs_test_daemon_restart(crash.d);
    vs_guest_delete_all_vms(crash.d, "crash");
    vs_test_daemon_free(crash.d); /* also kills QEMU processes left behind */
    crash.d = NULL;
    const char *rm[] = {"rm", "-rf", crash.workdir, NULL};
    vs_run(rm, NULL);
    return 0;
}

int crash_test_setup(void **state)
{
    (void)state;
    g_unsetenv("VIRTSNAP_FAULT");
    int status;
    if (crash.d && crash.d->pid && waitpid(crash.d->pid, &status, WNOHANG) == crash.d->pid)
        crash.d->pid = 0; /* died and was not reaped yet */
    if (crash.d && !crash.d->pid)
        vs_test_daemon_restart(crash.d);
    return 0;
}

int crash_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
    int failures = vs_test_exit_status(vs_guest_run_group(name, tests, n, setup, teardown));
    if (failures)
        vs_print_log_tail(log_copy, 8000);
    else if (log_copy)
        g_unlink(log_copy);
    return failures;
}

/* ---- faults ------------------------------------------------------------ */

void crash_arm(const char *point)
{
    g_setenv("VIRTSNAP_FAULT", point, TRUE);
    armed_offset = vs_file_size(log_copy);
    vs_test_daemon_restart(crash.d);
    g_unsetenv("VIRTSNAP_FAULT"); /* the daemon has it; nothing else must */
}

void crash_wait_killed(const char *point)
{
    assert_true(crash.d->pid > 0);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1200 && got == 0; i++) {
        got = waitpid(crash.d->pid, &status, WNOHANG);
        if (got == 0)
            g_usleep(100000);
    }
    if (got != crash.d->pid)
        fail_msg("virtsnapd (pid %d) did not die at '%s'", (int)crash.d->pid,
                 point ? point : "(kill)");
    crash.d->pid = 0;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("virtsnapd ended with status 0x%x, not SIGKILL", status);
    if (point) {
        g_autofree char *log = vs_read_file(log_copy);
        g_autofree char *want = g_strdup_printf("fault injection: killing virtsnapd at '%s'", point);
        if (strlen(log) < armed_offset || !strstr(log + armed_offset, want))
            fail_msg("the daemon log does not say it died at '%s'", point);
    }
    printf("# virtsnapd killed%s%s%s\n", point ? " at '" : "", point ? point : "",
           point ? "'" : "");
}

void crash_kill_now(void)
{
    assert_true(crash.d->pid > 0);
    kill(crash.d->pid, SIGKILL);
    crash_wait_killed(NULL);
}

void crash_restart_clean(void)
{
    g_unsetenv("VIRTSNAP_FAULT");
    gsize offset = vs_file_size(log_copy);
    gint64 t0 = g_get_monotonic_time();
    vs_test_daemon_restart(crash.d);
    g_autofree char *log = vs_read_file(log_copy);
    const char *rec = strlen(log) >= offset ? strstr(log + offset, "recovered ") : NULL;
    g_autofree char *line = rec ? g_strndup(rec, strcspn(rec, "\n")) : g_strdup("nothing recovered");
    printf("# restarted in %.1f s: %s\n", (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC,
           line);
    /* What recovery did, as the daemon tells it. */
    for (const char *p = strlen(log) >= offset ? log + offset : ""; (p = strstr(p, "recovery: "));) {
        size_t len = strcspn(p, "\n");
        printf("#   %.*s\n", (int)len, p);
        p += len;
    }
}

void crash_check_journal_empty(void)
{
    g_autofree char *journal = vs_state_path(crash.d, "journal", NULL);
    if (!g_file_test(journal, G_FILE_TEST_IS_DIR))
        fail_msg("no STATE/journal directory (%s): nothing to look at", journal);
    g_autofree char *left = vs_dir_list(journal);
    if (*left)
        fail_msg("STATE/journal is not empty: %s", left);
}

void crash_check_task_interrupted(const char *id)
{
    g_autoptr(VsTestResponse) r = vs_expect(crash.d, 200, "GET", NULL, "/tasks/%s", id);
    const char *status = vs_json_str(r->json, "status");
    const char *message = vs_json_str(r->json, "message");
    if (g_strcmp0(status, "failed") != 0 || !message || !g_str_has_prefix(message, "interrupted"))
        fail_msg("task %s should be failed with 'interrupted…': %s", id, r->body);
    /* It is in the list too, not only reachable by id. */
    g_autoptr(VsTestResponse) all = vs_expect(crash.d, 200, "GET", NULL, "/tasks");
    size_t i;
    json_t *task;
    bool listed = false;
    json_array_foreach(all->json, i, task) {
        if (!g_strcmp0(vs_json_str(task, "id"), id)) {
            listed = !g_strcmp0(vs_json_str(task, "status"), "failed");
        }
    }
    if (!listed)
        fail_msg("task %s is not listed as failed in GET /tasks", id);
}
