/* ramcopy.c: the RAM stream of a live snapshot goes from QEMU into a pipe and
 * from there, through a small copier process, into the RAM file. Why a pipe:
 * QEMU 7.2's snapshot thread first reads one byte of every guest page (with
 * the VM running), then writes its first bytes, and only then stops the VM,
 * saves the devices and write-protects RAM. The pipe is filled up before
 * QEMU gets it, so that first write blocks: QEMU is held after its page walk
 * and before it touches the VM. virtsnapd sees it blocked (/proc), pauses the
 * VM, snapshots the disks and only then lets the copier read: the walk is
 * out of the pause, and RAM cannot be protected before the disks are
 * snapshotted, whatever the timing.
 *
 * Why a process, not a thread: the copy must go on if virtsnapd dies. QEMU
 * 7.2 leaves guest RAM write-protected when its stream fails, which freezes
 * the guest; the copier outlives virtsnapd (a closed control pipe means go
 * on), and when the file cannot be written it drains the pipe all the same,
 * so QEMU always finishes. It is forked from a threaded program, so the child
 * makes system calls only (no allocation, no locks) and closes every
 * descriptor but its three. */
#include "ramcopy.h"

#include "../util/error.h"
#include "../util/fault.h"
#include "../util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COPY_CHUNK (16 << 20)        /* bytes per splice, and the pipe's size once copying */
#define COPY_CHUNK_SMALL (1 << 20)   /* the pipe's size without CAP_SYS_RESOURCE */
#define COPY_NAP_NS 1000000          /* the copier looks at the pipe every 1 ms */
#define WRITE_BEHIND (8 << 20)       /* the copier's step of writeback and cache dropping */
#define WAIT_POLL_US 200             /* how often the writer's state is looked at */
#define THREAD_APPEAR_US (50 * 1000) /* the writer thread names itself just after it starts */
#define REAP_TIMEOUT_US ((gint64)120 * G_USEC_PER_SEC)

struct VsRamCopy {
    pid_t child;
    int writer;    /* the pipe's write end until handed over, else -1 */
    int go;        /* the control pipe's write end, -1 once released */
    size_t filled; /* bytes put in the pipe to fill it */
    ino_t pipe_ino;
    int status;    /* the copier's exit status once reaped, else -1 */
};

/* ---- the copier (child process: system calls only) ----------------------- */

static void child_close_others(int a, int b, int c)
{
    int keep[3] = {a, b, c};
    for (int i = 0; i < 3; i++) /* sort the three */
        for (int j = i + 1; j < 3; j++)
            if (keep[j] < keep[i]) {
                int x = keep[i];
                keep[i] = keep[j];
                keep[j] = x;
            }
    unsigned int from = 3;
    for (int i = 0; i < 3; i++) {
        if ((unsigned int)keep[i] > from)
            close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
}

static ssize_t child_read(int fd, char *buf, size_t len)
{
    ssize_t n;
    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Writes LEN bytes of BUF at *OFFSET; 0 or an errno. */
static int child_write(int file, const char *buf, size_t len, off_t *offset)
{
    while (len) {
        ssize_t n = pwrite(file, buf, len, *offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        buf += n;
        len -= (size_t)n;
        *offset += n;
    }
    return 0;
}

/* Write-behind, as `dd oflag=nocache` does: each WRITE_BEHIND bytes written
 * start their writeback, and the step before, on disk once waited for,
 * leaves the page cache. A RAM file is as large as the guest's RAM; cached,
 * it crowds the host's memory, and once free memory runs out every later
 * copy has to reclaim as it writes, which slowed the copy and stalled the
 * guest's first writes (see docs/live-snapshots.md). Returns 0, or the
 * errno of a failed writeback: the kernel reports a write error once per
 * open file, and this one is virtsnapd's too (forked), so an error seen here
 * would not reach virtsnapd's final fdatasync. Where the filesystem cannot
 * (EINVAL, ENOSYS, ESPIPE), nothing is done and nothing is lost. */
static int child_write_behind(int file, off_t offset, off_t *started, off_t *dropped)
{
    if (offset - *started < WRITE_BEHIND)
        return 0;
    if (*started > *dropped) {
        if (sync_file_range(file, *dropped, *started - *dropped,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0 &&
            errno != EINVAL && errno != ENOSYS && errno != ESPIPE)
            return errno;
        (void)posix_fadvise(file, *dropped, *started - *dropped, POSIX_FADV_DONTNEED);
        *dropped = *started;
    }
    if (sync_file_range(file, *started, offset - *started, SYNC_FILE_RANGE_WRITE) != 0 &&
        errno != EINVAL && errno != ENOSYS && errno != ESPIPE)
        return errno;
    *started = offset;
    return 0;
}

/* Waits for the go (or for virtsnapd's end), skips the filling, copies the
 * rest to FILE from OFFSET (splice; read and write where the filesystem
 * cannot splice); after a write error it drains. Exit status: 0, or the
 * errno of the first error. */
static void G_GNUC_NORETURN child_main(int in, int file, off_t offset, int control, size_t filled,
                                       int hold_s)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigaction(SIGINT, &ignore, NULL);
    sigaction(SIGTERM, &ignore, NULL);
    sigaction(SIGHUP, &ignore, NULL);
    sigaction(SIGPIPE, &ignore, NULL);
    child_close_others(in, file, control);

    static char buf[64 * 1024]; /* the child's own copy once written */
    child_read(control, buf, 1); /* a byte, or the end: either way, go */
    close(control);
    if (hold_s > 0) { /* (a test's: QEMU held at the full pipe that long after the go) */
        struct timespec hold = {hold_s, 0};
        while (nanosleep(&hold, &hold) != 0 && errno == EINTR)
            ;
    }
    for (size_t skipped = 0; skipped < filled;) {
        ssize_t n = child_read(in, buf, MIN(sizeof buf, filled - skipped));
        if (n <= 0)
            _exit(n == 0 ? EPIPE : errno < 128 ? errno : EIO);
        skipped += (size_t)n;
    }
    /* QEMU flushes its stream after every page it copies: a reader waiting
     * in the pipe would be woken for each of them, a context switch per 4 KiB
     * that slows the thread serving the guest's write faults. So the copier
     * does not wait in the pipe: it naps 1 ms and then takes all there is,
     * and the pipe is made large enough to hold what QEMU writes meanwhile
     * (16 MiB as root, else the unprivileged maximum of 1 MiB). */
    if (fcntl(in, F_SETPIPE_SZ, COPY_CHUNK) < 0)
        fcntl(in, F_SETPIPE_SZ, COPY_CHUNK_SMALL);
    const struct timespec nap = {0, COPY_NAP_NS};
    int failed = 0;
    bool can_splice = true;
    off_t started = offset, dropped = offset; /* write-behind */
    for (;;) {
        ssize_t n;
        if (!failed && can_splice) {
            n = splice(in, NULL, file, &offset, COPY_CHUNK,
                       SPLICE_F_MOVE | SPLICE_F_MORE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EAGAIN) { /* empty for now */
                nanosleep(&nap, NULL);
                continue;
            }
            if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
                can_splice = false; /* this filesystem cannot: copy by hand */
                continue;
            }
        } else {
            n = child_read(in, buf, sizeof buf); /* failed: drain, so that the writer ends */
            if (n > 0 && !failed)
                failed = child_write(file, buf, (size_t)n, &offset);
        }
        if (n == 0)
            break;
        if (n > 0 && !failed)
            failed = child_write_behind(file, offset, &started, &dropped);
        if (n < 0 && errno != EINTR) {
            if (failed)
                break;
            failed = errno;
        }
    }
    _exit(failed > 0 && failed < 128 ? failed : failed ? EIO : 0);
}

/* ---- virtsnapd's side ----------------------------------------------------- */

/* Fills the pipe WRITE_END so that the next write blocks (a non-blocking
 * write of a page until it would block). Returns the bytes written. */
static gssize fill_pipe(int write_end)
{
    int flags = fcntl(write_end, F_GETFL);
    if (flags < 0 || fcntl(write_end, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    static const char page[4096];
    gssize filled = 0;
    for (;;) {
        ssize_t n = write(write_end, page, sizeof page);
        if (n > 0) {
            filled += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            filled = -1;
        break;
    }
    /* The writer gets the same open file: it must block, not fail. */
    if (fcntl(write_end, F_SETFL, flags) < 0)
        return -1;
    return filled;
}

VsRamCopy *vs_ram_copy_start(int file_fd, off_t offset, GError **error)
{
    int data[2] = {-1, -1}, control[2] = {-1, -1};
    VsRamCopy *copy = g_new0(VsRamCopy, 1);
    copy->writer = copy->go = -1;
    copy->child = -1;
    copy->status = -1;
    struct stat st;
    const char *step = "pipe";
    if (pipe2(data, O_CLOEXEC) != 0 || pipe2(control, O_CLOEXEC) != 0)
        goto fail;
    /* The smallest pipe: one page fills it (the kernel may round up). */
    fcntl(data[1], F_SETPIPE_SZ, 4096);
    step = "fill the pipe";
    gssize filled = fill_pipe(data[1]);
    if (filled <= 0 || fstat(data[1], &st) != 0)
        goto fail;
    copy->filled = (size_t)filled;
    copy->pipe_ino = st.st_ino;
    int hold_s = vs_fault_pause_seconds("ram-copier-go");
    if (hold_s)
        vs_warn("fault injection: the memory copier waits %d s after its go", hold_s);
    step = "fork";
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        child_main(data[0], file_fd, offset, control[0], copy->filled, hold_s);
    close(data[0]);
    close(control[0]);
    copy->child = pid;
    copy->writer = data[1];
    copy->go = control[1];
    return copy;

fail:
    g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot set up the memory copy (%s): %s", step,
                g_strerror(errno));
    for (int i = 0; i < 2; i++) {
        if (data[i] >= 0)
            close(data[i]);
        if (control[i] >= 0)
            close(control[i]);
    }
    g_free(copy);
    return NULL;
}

int vs_ram_copy_writer_fd(VsRamCopy *copy)
{
    return copy->writer;
}

void vs_ram_copy_writer_handed(VsRamCopy *copy)
{
    if (copy->writer >= 0)
        close(copy->writer);
    copy->writer = -1;
}

/* The thread of PID named NAME, or 0. */
static pid_t find_thread(pid_t pid, const char *name)
{
    g_autofree char *dir_path = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
    const char *entry;
    while (dir && (entry = g_dir_read_name(dir))) {
        g_autofree char *path = g_strdup_printf("%s/%s/comm", dir_path, entry);
        g_autofree char *comm = NULL;
        if (g_file_get_contents(path, &comm, NULL, NULL) && !strcmp(g_strchomp(comm), name))
            return (pid_t)atoi(entry);
    }
    return 0;
}

/* Whether thread TID of PID sits in a system call on our pipe: its
 * /proc/.../syscall reads "NR ARG0 ..." while it is blocked ("running"
 * otherwise), and ARG0 is then a descriptor of PID's. */
static int blocked_on_pipe(pid_t pid, pid_t tid, ino_t pipe_ino)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return -1; /* gone, or not ours to read */
    long nr;
    unsigned long long fd;
    if (sscanf(text, "%ld 0x%llx", &nr, &fd) != 2 || nr < 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/fd/%llu", (int)pid, fd);
    char link[64];
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    char want[64];
    snprintf(want, sizeof want, "pipe:[%llu]", (unsigned long long)pipe_ino);
    return strcmp(link, want) == 0;
}

bool vs_ram_copy_wait_writer_blocked(VsRamCopy *copy, pid_t pid, const char *thread,
                                     gint64 timeout_us)
{
    if (pid <= 0)
        return false;
    gint64 start = g_get_monotonic_time();
    pid_t tid = 0;
    while (!tid) {
        tid = find_thread(pid, thread);
        if (!tid && g_get_monotonic_time() - start > MIN(THREAD_APPEAR_US, timeout_us))
            return false;
        if (!tid)
            g_usleep(WAIT_POLL_US);
    }
    for (;;) {
        int blocked = blocked_on_pipe(pid, tid, copy->pipe_ino);
        if (blocked != 0)
            return blocked > 0;
        if (g_get_monotonic_time() - start > timeout_us)
            return false;
        g_usleep(WAIT_POLL_US);
    }
}

void vs_ram_copy_release(VsRamCopy *copy)
{
    if (copy->go < 0)
        return;
    ssize_t n;
    do
        n = write(copy->go, "g", 1);
    while (n < 0 && errno == EINTR);
    close(copy->go); /* a failed write still lets go: the child reads the end */
    copy->go = -1;
}

/* Waits for the copier's end (polling: it is our child, but not one that a
 * blocking wait could share with libvirt's or GLib's own); -1 on timeout. */
static int reap(VsRamCopy *copy)
{
    if (copy->status >= 0 || copy->child <= 0)
        return copy->status;
    gint64 deadline = g_get_monotonic_time() + REAP_TIMEOUT_US;
    gint64 nap = 100;
    for (;;) {
        int status;
        pid_t r = waitpid(copy->child, &status, WNOHANG);
        if (r == copy->child) {
            copy->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return copy->status;
        }
        if (r < 0 && errno != EINTR)
            return copy->status = ECHILD;
        if (g_get_monotonic_time() > deadline)
            return -1;
        g_usleep((gulong)nap);
        nap = MIN(nap * 2, 20000);
    }
}

bool vs_ram_copy_finish(VsRamCopy *copy, GError **error)
{
    vs_ram_copy_release(copy);
    vs_ram_copy_writer_handed(copy);
    int status = reap(copy);
    if (status == 0)
        return true;
    if (status < 0)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                    "the memory copier (pid %d) has not finished after %d s", (int)copy->child,
                    (int)(REAP_TIMEOUT_US / G_USEC_PER_SEC));
    else if (status > 128)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "the memory copier was killed (signal %d)",
                    status - 128);
    else
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write the memory file: %s",
                    g_strerror(status));
    return false;
}

void vs_ram_copy_free(VsRamCopy *copy)
{
    if (!copy)
        return;
    g_autoptr(GError) error = NULL;
    bool reported = copy->status >= 0; /* finish already told its caller */
    if (!vs_ram_copy_finish(copy, &error) && !reported)
        vs_warn("memory copy: %s", error->message);
    g_free(copy);
}
