/* live.c: live snapshots (see live.h and docs/live-snapshots.md). Talks QMP
 * to QEMU through libvirt (virDomainQemuMonitorCommand[WithFiles]) for the
 * parts libvirt 9.0 has no API for: the disk-only internal snapshot of a
 * running VM and the background-snapshot migration into a file descriptor. */
#include "live.h"

#include "../util/error.h"
#include "../util/fault.h"
#include "../util/files.h"
#include "../util/log.h"
#include "../util/thp.h"
#include "../util/xml.h"
#include "hv.h"
#include "images.h"
#include "journal.h"
#include "pause.h"
#include "ramcopy.h"
#include "saveimage.h"
#include "snapnames.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <stdint.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <linux/falloc.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RAM_BANDWIDTH (UINT64_C(1) << 40) /* bytes/s: unlimited in practice */
#define POLL_US 20000
#define WALK_TIMEOUT_US ((gint64)10 * G_USEC_PER_SEC) /* QEMU's walk of guest RAM, at most */

static double now_ms(void) { return (double)g_get_monotonic_time() / 1000.0; }

/* STATE/live: one directory per VM with memory files. */
static char *live_root(void)
{
    return g_build_filename(vs_hv_state_dir(), "live", NULL);
}

char *vs_live_vm_dir(const char *uuid)
{
    g_autofree char *root = live_root();
    return g_build_filename(root, uuid, NULL);
}

bool vs_live_has_vm(const char *uuid)
{
    g_autofree char *dir = vs_live_vm_dir(uuid);
    return g_file_test(dir, G_FILE_TEST_IS_DIR);
}

char *vs_live_ram_path(const char *uuid, const char *internal)
{
    g_autofree char *dir = vs_live_vm_dir(uuid);
    g_autofree char *file = g_strdup_printf("%s.ram", internal);
    return g_build_filename(dir, file, NULL);
}

/* ---- QMP through libvirt ------------------------------------------------ */

/* Runs the QMP command CMD (a JSON object, stolen) with optional FD passed
 * along; returns its "return" member (a new reference) or NULL with ERROR. */
static json_t *qmp_fd(virDomainPtr dom, json_t *cmd, int fd, GError **error)
{
    char *text = json_dumps(cmd, JSON_COMPACT);
    const char *what = json_string_value(json_object_get(cmd, "execute"));
    g_autofree char *name = g_strdup(what ? what : "?");
    json_decref(cmd);
    char *reply = NULL;
    int rc = fd >= 0 ? virDomainQemuMonitorCommandWithFiles(dom, text, 1, &fd, NULL, NULL, &reply, 0)
                     : virDomainQemuMonitorCommand(dom, text, &reply, 0);
    free(text);
    if (rc < 0) {
        vs_hv_set_error(error, "QEMU command %s failed", name);
        return NULL;
    }
    json_t *doc = json_loads(reply, 0, NULL);
    free(reply);
    json_t *ret = doc ? json_object_get(doc, "return") : NULL;
    if (!ret) {
        const char *desc = doc ? json_string_value(json_object_get(json_object_get(doc, "error"),
                                                                   "desc"))
                               : NULL;
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "QEMU command %s failed: %s", name,
                    desc ? desc : "unreadable reply");
        json_decref(doc);
        return NULL;
    }
    json_incref(ret);
    json_decref(doc);
    return ret;
}

static json_t *qmp(virDomainPtr dom, json_t *cmd, GError **error)
{
    return qmp_fd(dom, cmd, -1, error);
}

static bool qmp_ok_fd(virDomainPtr dom, json_t *cmd, int fd, GError **error)
{
    json_t *ret = qmp_fd(dom, cmd, fd, error);
    json_decref(ret);
    return ret != NULL;
}

static bool qmp_ok(virDomainPtr dom, json_t *cmd, GError **error)
{
    json_t *ret = qmp(dom, cmd, error);
    json_decref(ret);
    return ret != NULL;
}

/* QEMU's migration bandwidth limit, bytes/s (a live take's copy is one). */
static bool set_bandwidth(virDomainPtr dom, guint64 bytes_per_s, GError **error)
{
    return qmp_ok(dom,
                  json_pack("{s:s, s:{s:I}}", "execute", "migrate-set-parameters", "arguments",
                            "max-bandwidth", (json_int_t)bytes_per_s),
                  error);
}

static bool set_background_snapshot(virDomainPtr dom, bool on, GError **error)
{
    return qmp_ok(dom,
                  json_pack("{s:s, s:{s:[{s:s, s:b}]}}", "execute", "migrate-set-capabilities",
                            "arguments", "capabilities", "capability", "background-snapshot",
                            "state", on),
                  error);
}

/* "none", "setup", "active", "completed", "failed", … (newly allocated). */
static char *migration_status(virDomainPtr dom, json_t **info, GError **error)
{
    json_t *ret = qmp(dom, json_pack("{s:s}", "execute", "query-migrate"), error);
    if (!ret)
        return NULL;
    const char *status = json_string_value(json_object_get(ret, "status"));
    char *out = g_strdup(status ? status : "none");
    if (info)
        *info = ret;
    else
        json_decref(ret);
    return out;
}

static bool migration_running(const char *status)
{
    return strcmp(status, "none") != 0 && strcmp(status, "completed") != 0 &&
           strcmp(status, "failed") != 0 && strcmp(status, "cancelled") != 0;
}

/* Waits until no memory copy runs in DOM's QEMU (up to TIMEOUT_US); false if
 * one still runs or QEMU cannot be asked. A background snapshot is never
 * cancelled: QEMU 7.2 then leaves guest RAM write-protected with nobody to
 * serve the faults, and the guest (or QEMU's main loop) hangs at its next
 * write to a page not yet copied. The fix ("migration: stop tracking ram
 * writes when cancelling background migration", 2023) is not in 7.2. */
static bool wait_copy_end(virDomainPtr dom, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    for (;;) {
        g_autofree char *status = migration_status(dom, NULL, NULL);
        if (!status)
            return false;
        if (!migration_running(status))
            return true;
        if (g_get_monotonic_time() > end)
            return false;
        g_usleep(100000);
    }
}

/* ---- disks --------------------------------------------------------------- */

typedef struct {
    char *target; /* vda */
    char *file;   /* top image */
    char *node;   /* QEMU format node (running VM only) */
} LiveDisk;

static void live_disk_free(gpointer p)
{
    LiveDisk *d = p;
    g_free(d->target);
    g_free(d->file);
    g_free(d->node);
    g_free(d);
}

/* Writable disks of the domain definition DOC; fails on one that is not a
 * qcow2 file (it could not hold an internal snapshot). */
static GPtrArray *writable_disks(xmlDoc *doc, const char *vm, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(live_disk_free);
    g_autoptr(GPtrArray) nodes =
        vs_xml_nodes(doc, NULL, "/domain/devices/disk[@device='disk' and not(readonly)]");
    for (guint i = 0; i < nodes->len; i++) {
        xmlNode *node = g_ptr_array_index(nodes, i);
        g_autofree char *format = vs_xml_string(doc, node, "string(driver/@type)");
        g_autofree char *file = vs_xml_string(doc, node, "string(source/@file)");
        g_autofree char *target = vs_xml_string(doc, node, "string(target/@dev)");
        if (!format || strcmp(format, "qcow2") != 0 || !file) {
            g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                        "disk '%s' of VM '%s' is not a qcow2 file: it cannot hold a snapshot",
                        target ? target : "?", vm);
            return NULL;
        }
        LiveDisk *d = g_new0(LiveDisk, 1);
        d->target = g_steal_pointer(&target);
        d->file = g_steal_pointer(&file);
        g_ptr_array_add(out, d);
    }
    return g_steal_pointer(&out);
}

/* Fills in the QEMU node names of DISKS from query-block (matched by file). */
static bool find_nodes(virDomainPtr dom, GPtrArray *disks, GError **error)
{
    json_t *blocks = qmp(dom, json_pack("{s:s}", "execute", "query-block"), error);
    if (!blocks)
        return false;
    size_t i;
    json_t *blk;
    json_array_foreach(blocks, i, blk) {
        json_t *ins = json_object_get(blk, "inserted");
        const char *file = json_string_value(json_object_get(ins, "file"));
        const char *node = json_string_value(json_object_get(ins, "node-name"));
        for (guint k = 0; file && node && k < disks->len; k++) {
            LiveDisk *d = g_ptr_array_index(disks, k);
            if (!d->node && strcmp(d->file, file) == 0)
                d->node = g_strdup(node);
        }
    }
    json_decref(blocks);
    for (guint k = 0; k < disks->len; k++) {
        LiveDisk *d = g_ptr_array_index(disks, k);
        if (!d->node) {
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "QEMU does not show disk '%s' (%s)",
                        d->target, d->file);
            return false;
        }
    }
    return true;
}

/* ---- support check ------------------------------------------------------ */

static bool has_capability(json_t *caps, const char *name)
{
    size_t i;
    json_t *cap;
    json_array_foreach(caps, i, cap) {
        const char *n = json_string_value(json_object_get(cap, "capability"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* Whether this kernel lets a process write-protect anonymous memory with
 * userfaultfd, as QEMU's background snapshot does (tried once, in this
 * process: virtsnapd and QEMU both run as root under the embedded driver).
 * NULL when it does, else why not. */
static char *probe_uffd_wp(void)
{
    int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return g_strdup_printf("userfaultfd is not available (%s)%s", g_strerror(errno),
                               errno == EPERM ? "; vm.unprivileged_userfaultfd is 0 and the "
                                                "process lacks CAP_SYS_PTRACE"
                                              : "");
    char *problem = NULL;
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP};
    if (ioctl(fd, UFFDIO_API, &api) != 0 || !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
        problem = g_strdup("the kernel's userfaultfd cannot write-protect memory "
                           "(no UFFD_FEATURE_PAGEFAULT_FLAG_WP)");
    } else {
        size_t len = (size_t)sysconf(_SC_PAGESIZE);
        void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        struct uffdio_register reg = {.range = {.start = (uintptr_t)mem, .len = len},
                                      .mode = UFFDIO_REGISTER_MODE_WP};
        int rc = mem == MAP_FAILED ? -1 : ioctl(fd, UFFDIO_REGISTER, &reg);
        int saved = errno;
        if (rc != 0 || !(reg.ioctls & ((__u64)1 << _UFFDIO_WRITEPROTECT)))
            problem = g_strdup_printf("the kernel cannot write-protect anonymous memory with "
                                      "userfaultfd (%s)",
                                      rc != 0 ? g_strerror(saved) : "no UFFDIO_WRITEPROTECT");
        if (mem != MAP_FAILED)
            munmap(mem, len);
    }
    close(fd);
    return problem;
}

static const char *host_problem(void)
{
    static gsize done;
    static char *problem;
    if (g_once_init_enter(&done)) {
        problem = probe_uffd_wp();
        g_once_init_leave(&done, 1);
    }
    return problem;
}

bool vs_live_supported(virDomainPtr dom, GError **error)
{
    const char *vm = virDomainGetName(dom);
    int state = 0, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        vs_hv_set_error(error, "cannot read the state of VM '%s'", vm);
        return false;
    }
    if (state != VIR_DOMAIN_RUNNING) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is not running: a live snapshot needs a running VM", vm);
        return false;
    }
    if (!vs_hv_is_local()) {
        /* The memory file is written here and handed to QEMU as a descriptor. */
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot: its hypervisor (%s) is on another "
                    "host", vm, vs_hv_uri());
        return false;
    }
    if (virDomainIsPersistent(dom) != 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is transient: reverting a live snapshot restarts QEMU, which would "
                    "end a transient VM and its snapshot metadata", vm);
        return false;
    }
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, 0, error);
    g_autoptr(GPtrArray) disks = doc ? writable_disks(doc, vm, error) : NULL;
    if (!disks)
        return false;
    g_autoptr(GError) why = NULL;
    json_t *caps = qmp(dom, json_pack("{s:s}", "execute", "query-migrate-capabilities"), &why);
    if (!caps) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot: %s", vm, why->message);
        return false;
    }
    bool known = has_capability(caps, "background-snapshot");
    json_decref(caps);
    if (!known) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot: its QEMU lacks the "
                    "background-snapshot migration capability (QEMU 6.0 or later needed)",
                    vm);
        return false;
    }
    g_autofree char *status = migration_status(dom, NULL, &why);
    if (!status || migration_running(status)) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot: %s", vm,
                    status ? "a migration or snapshot of its memory is in progress"
                           : why->message);
        return false;
    }
    const char *problem = host_problem();
    if (problem) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot on this host: %s", vm, problem);
        return false;
    }
    return true;
}

/* ---- the RAM file ------------------------------------------------------- */

/* The save cookie libvirt would write: the guest CPU as QEMU runs it, so
 * that a restore asks for exactly the same CPU. NULL when there is no <cpu>. */
static char *save_cookie(virDomainPtr dom)
{
    g_autoptr(xmlDoc) live = vs_hv_domain_xml(dom, 0, NULL);
    g_autoptr(GPtrArray) cpus = live ? vs_xml_nodes(live, NULL, "/domain/cpu") : NULL;
    if (!cpus || cpus->len == 0)
        return NULL;
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"cookie");
    xmlDocSetRootElement(doc, root);
    xmlAddChild(root, xmlDocCopyNode(g_ptr_array_index(cpus, 0), doc, 1));
    return vs_xml_to_string(doc);
}

/* The RAM blocks of DOM's video devices, in bytes (QXL's ram, vram and
 * vram64, and every model's vgamem: 144 MiB for libvirt's QXL default, more
 * than the reservation's margin of 64 MiB). */
static guint64 video_ram(virDomainPtr dom)
{
    g_autoptr(xmlDoc) doc = vs_hv_domain_xml(dom, 0, NULL);
    g_autoptr(GPtrArray) models = doc ? vs_xml_nodes(doc, NULL, "/domain/devices/video/model")
                                      : NULL;
    const char *sizes[] = {"string(@ram)", "string(@vram)", "string(@vram64)", "string(@vgamem)"};
    guint64 kib = 0;
    for (guint i = 0; models && i < models->len; i++)
        for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++)
            kib += (guint64)MAX(vs_xml_int(doc, g_ptr_array_index(models, i), sizes[s], 0), 0);
    return kib * 1024;
}

/* Reserves room for the whole RAM stream up front (fallocate, keeping the
 * size 0), so that a full disk fails here, before the guest is paused, and
 * never in the middle of the copy, where QEMU 7.2 could not recover (see
 * wait_copy_end). The stream holds at most every RAM page (guest RAM plus
 * video and firmware RAM) with an 8-byte header each, then the devices.
 * Returns the bytes reserved, 0 when the filesystem cannot reserve (then
 * only free space is checked), -1 with ERROR when there is no room. */
static gint64 reserve_space(virDomainPtr dom, int fd, const char *path, GError **error)
{
    virDomainInfo info;
    if (virDomainGetInfo(dom, &info) != 0) {
        vs_hv_set_error(error, "cannot read the memory size of VM '%s'", virDomainGetName(dom));
        return -1;
    }
    guint64 ram = (guint64)info.maxMem * 1024 + video_ram(dom);
    gint64 want = (gint64)(ram + ram / 256 + (64u << 20));
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, want) == 0)
        return want;
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "no room for the memory of VM '%s' in %s (%" G_GINT64_FORMAT " MiB): %s",
                    virDomainGetName(dom), path, want >> 20, g_strerror(errno));
        return -1;
    }
    struct statvfs fs;
    if (fstatvfs(fd, &fs) == 0 && (guint64)fs.f_bavail * fs.f_frsize < (guint64)want) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "not enough free space for the memory of VM '%s' in %s (%" G_GINT64_FORMAT
                    " MiB needed)",
                    virDomainGetName(dom), path, want >> 20);
        return -1;
    }
    return 0;
}

/* ---- huge pages after a copy ------------------------------------------- */

/* Where libvirt keeps the pid files of the QEMU processes it runs, for
 * the connection's URI: the embedded driver's ROOT/run/qemu, qemu:///session's
 * $XDG_RUNTIME_DIR/libvirt/qemu/run, qemu:///system's /run/libvirt/qemu. */
static char *pid_dir(void)
{
    const char *uri = vs_hv_uri();
    const char *root = g_str_has_prefix(uri, "qemu:///embed") ? strstr(uri, "root=") : NULL;
    if (root) {
        g_autofree char *raw = g_strndup(root + 5, strcspn(root + 5, "&"));
        g_autofree char *path = g_uri_unescape_string(raw, NULL);
        return path ? g_build_filename(path, "run", "qemu", NULL) : NULL;
    }
    if (g_str_has_prefix(uri, "qemu:///session"))
        return g_build_filename(g_get_user_runtime_dir(), "libvirt", "qemu", "run", NULL);
    return g_strdup("/run/libvirt/qemu");
}

/* Whether PID's command line holds -uuid UUID. */
static bool runs_uuid(gint64 pid, const char *uuid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &cmdline, &len, NULL))
        return false;
    for (gsize i = 0; i + 1 < len; i += strlen(cmdline + i) + 1)
        if (!strcmp(cmdline + i, "-uuid") && i + 6 < len && !strcmp(cmdline + i + 6, uuid))
            return true;
    return false;
}

/* Whether process PID runs as a user QEMU is run as by libvirt (root, the
 * account libvirt's packages make for it, libvirt-qemu on Debian and qemu
 * elsewhere, or this process's own for qemu:///session): one that an
 * ordinary local user cannot start a process as. */
static bool qemu_owner(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT, pid);
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    if (st.st_uid == 0 || st.st_uid == geteuid())
        return true;
    const char *accounts[] = {"libvirt-qemu", "qemu"};
    for (gsize i = 0; i < G_N_ELEMENTS(accounts); i++) {
        struct passwd pw, *qemu = NULL;
        char buf[1024];
        if (getpwnam_r(accounts[i], &pw, buf, sizeof buf, &qemu) == 0 && qemu &&
            st.st_uid == qemu->pw_uid)
            return true;
    }
    return false;
}

/* The pid of the QEMU process running DOM on this host, or 0: the one in
 * the pid file libvirt keeps for it (pid_dir) if its command line holds
 * -uuid UUID (not a pid used again since); else (a libvirtd that keeps its
 * files out of sight, in another mount namespace) the process with that
 * command line among those running as a user libvirt runs QEMU as, so that
 * a local user cannot make a process of their own named so be taken. */
static pid_t qemu_pid(virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (!vs_hv_is_local() || virDomainGetUUIDString(dom, uuid) < 0)
        return 0;
    g_autofree char *dir = pid_dir();
    g_autofree char *file = g_strdup_printf("%s.pid", virDomainGetName(dom));
    g_autofree char *pidfile = dir ? g_build_filename(dir, file, NULL) : NULL;
    g_autofree char *text = NULL;
    gint64 pid = pidfile && g_file_get_contents(pidfile, &text, NULL, NULL)
                     ? g_ascii_strtoll(g_strstrip(text), NULL, 10)
                     : 0;
    if (pid > 0 && runs_uuid(pid, uuid))
        return (pid_t)pid;
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *entry;
    while (proc && (entry = g_dir_read_name(proc))) {
        pid = g_ascii_isdigit(entry[0]) ? g_ascii_strtoll(entry, NULL, 10) : 0;
        if (pid > 0 && runs_uuid(pid, uuid) && qemu_owner(pid))
            return (pid_t)pid;
    }
    return 0;
}

/* Write-protecting guest RAM splits its transparent huge pages at the first
 * write to each: after a live snapshot the guest runs on 4 KiB pages, and
 * the next snapshot's page walk is up to 512 times longer (measured when it
 * was inside the pause: 4 GiB guest, setup 19 ms at the first live snapshot,
 * 130-170 ms at the later ones; it runs before the pause now, and the guest
 * is better off on huge pages anyway). Once the copy is over, ask the kernel
 * to put the huge pages back together over QEMU's anonymous mappings at least
 * as large as guest RAM, i.e. guest RAM (not QEMU's own buffers, such as the
 * data of -device loader; RAM on hugetlbfs is a file mapping and needs
 * nothing). A collapse fills the holes of each 2 MiB piece it rebuilds:
 * asked over all of guest RAM it gave QEMU all of it (a 1 GiB guest using a
 * few MiB held 1.06 GiB afterwards), so only the pieces where the guest has
 * pages are collapsed. Untouched pieces stay holes, but split ones: 512
 * page-table entries each, which the next live snapshot write-protects inside
 * the pause (~20 ms per GiB of them here). When the guest already uses at
 * least FILL_FROM of its RAM, the rest is collapsed too: at most half again
 * of what it holds, for a pause as short as after its first live snapshot.
 * Best effort: where it is refused (older kernel, THP off) the next walk is
 * only longer. */
#define FILL_FROM (2.0 / 3.0)
static void collapse_guest_ram(virDomainPtr dom)
{
    double t0 = now_ms();
    virDomainInfo info;
    guint64 ram = virDomainGetInfo(dom, &info) == 0 ? (guint64)info.maxMem * 1024 : 0;
    pid_t pid = ram ? qemu_pid(dom) : 0;
    VsThpCollapse done = {0};
    if (pid)
        vs_thp_collapse(pid, MAX(ram, UINT64_C(32) << 20), G_MAXUINT64, FILL_FROM, &done);
    vs_debug("VM '%s': huge pages collapsed over %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
             " MiB of guest memory (%" G_GUINT64_FORMAT " MiB in use, %" G_GUINT64_FORMAT
             " MiB of holes filled) in %.0f ms",
             virDomainGetName(dom), done.collapsed >> 20, done.mapped >> 20, done.touched >> 20,
             done.filled >> 20, now_ms() - t0);
}

/* ---- taking ------------------------------------------------------------- */

static json_t *snapshot_actions(GPtrArray *disks, const char *tag, const char *type)
{
    json_t *actions = json_array();
    for (guint i = 0; i < disks->len; i++) {
        LiveDisk *d = g_ptr_array_index(disks, i);
        json_array_append_new(actions, json_pack("{s:s, s:{s:s, s:s}}", "type", type, "data",
                                                 "device", d->node, "name", tag));
    }
    return actions;
}

/* Removes TAG from the disks of a running DOM (best effort): whether all
 * went. */
static bool delete_tags_running(virDomainPtr dom, GPtrArray *disks, const char *tag)
{
    bool all = true;
    for (guint i = 0; i < disks->len; i++) {
        LiveDisk *d = g_ptr_array_index(disks, i);
        g_autoptr(GError) err = NULL;
        if (!qmp_ok(dom,
                    json_pack("{s:s, s:{s:s, s:s}}", "execute",
                              "blockdev-snapshot-delete-internal-sync", "arguments", "device",
                              d->node, "name", tag),
                    &err)) {
            vs_warn("VM '%s': cannot remove snapshot tag '%s' from %s: %s",
                    virDomainGetName(dom), tag, d->file, err->message);
            all = false;
        }
    }
    return all;
}

static int domain_state(virDomainPtr dom)
{
    int state = -1, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0)
        return -1;
    return state;
}

/* The snapshot metadata libvirt gets (REDEFINE): what was saved and where. */
static char *snapshot_metadata(const char *internal, const char *description, gint64 created,
                               const char *parent, const char *ram_path, xmlDoc *domain,
                               xmlDoc *inactive, GPtrArray *disks)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"domainsnapshot");
    xmlDocSetRootElement(doc, root);
    vs_xml_set_child_text(root, "name", internal);
    if (description && *description)
        vs_xml_set_child_text(root, "description", description);
    vs_xml_set_child_text(root, "state", "running");
    g_autofree char *when = g_strdup_printf("%" G_GINT64_FORMAT, created);
    vs_xml_set_child_text(root, "creationTime", when);
    if (parent) {
        xmlNode *p = xmlNewChild(root, NULL, (const xmlChar *)"parent", NULL);
        vs_xml_set_child_text(p, "name", parent);
    }
    xmlNode *mem = xmlNewChild(root, NULL, (const xmlChar *)"memory", NULL);
    xmlNewProp(mem, (const xmlChar *)"snapshot", (const xmlChar *)"external");
    xmlNewProp(mem, (const xmlChar *)"file", (const xmlChar *)ram_path);
    /* Every disk is listed: writable qcow2 ones internal, the rest not at all
     * (libvirt would otherwise invent external files for them). */
    xmlNode *list = xmlNewChild(root, NULL, (const xmlChar *)"disks", NULL);
    g_autoptr(GPtrArray) all = vs_xml_nodes(domain, NULL, "/domain/devices/disk");
    for (guint i = 0; i < all->len; i++) {
        g_autofree char *target = vs_xml_string(domain, g_ptr_array_index(all, i),
                                                "string(target/@dev)");
        bool internal_disk = false;
        for (guint k = 0; target && k < disks->len; k++)
            internal_disk |= strcmp(((LiveDisk *)g_ptr_array_index(disks, k))->target, target) == 0;
        if (!target)
            continue;
        xmlNode *d = xmlNewChild(list, NULL, (const xmlChar *)"disk", NULL);
        xmlNewProp(d, (const xmlChar *)"name", (const xmlChar *)target);
        xmlNewProp(d, (const xmlChar *)"snapshot", (const xmlChar *)(internal_disk ? "internal" : "no"));
    }
    xmlAddChild(root, xmlDocCopyNode(xmlDocGetRootElement(domain), doc, 1));
    /* The definition for the next start, as libvirt keeps it with a running
     * VM's snapshot: a revert brings it back. */
    if (inactive) {
        xmlNode *copy = xmlDocCopyNode(xmlDocGetRootElement(inactive), doc, 1);
        xmlNodeSetName(copy, (const xmlChar *)"inactiveDomain");
        xmlAddChild(root, copy);
    }
    return vs_xml_to_string(doc);
}

typedef struct {
    virDomainPtr dom;
    GPtrArray *disks;
    const char *tag;
    const char *ram_path;
    const char *fdname;
    int fd;
    VsRamCopy *copy; /* QEMU's stream goes through it into fd */
    bool fd_in_qemu, caps_on, tagged, paused_by_us, migrating;
    bool started_late; /* QEMU failed before write-protecting RAM */
    bool wedged;       /* the copy failed after: QEMU must not be asked anything */
    guint64 old_bandwidth;
    bool bandwidth_set;
    VsPauseMeter *meter;
} Take;

static bool delete_tags(virDomainPtr dom, const char *tag, GError **error);

/* Undoes whatever T reached; leaves the VM running (if it still runs). */
static void take_cleanup(Take *t, bool keep)
{
    if (t->meter) {
        vs_pause_meter_finish(t->meter, NULL);
        t->meter = NULL;
    }
    /* QEMU may be held at the pipe: let it go before waiting for it. */
    if (t->copy)
        vs_ram_copy_release(t->copy);
    if (t->wedged) { /* nothing is asked of QEMU: not the bandwidth either */
        vs_error("VM '%s': the memory copy failed after guest RAM was write-protected; "
                 "QEMU 7.2 cannot undo that: the VM must be restarted; qcow2 tag '%s' is "
                 "left on its disks",
                 virDomainGetName(t->dom), t->tag);
        g_clear_pointer(&t->copy, vs_ram_copy_free); /* QEMU closed its end when it failed */
        close(t->fd);
        g_unlink(t->ram_path);
        t->fd = -1;
        return;
    }
    bool copy_over = !t->migrating || wait_copy_end(t->dom, (gint64)3600 * G_USEC_PER_SEC);
    if (!copy_over)
        vs_warn("VM '%s': the memory copy to %s still runs or QEMU cannot be asked",
                virDomainGetName(t->dom), t->ram_path);
    if (t->fd_in_qemu && !t->migrating)
        qmp_ok(t->dom, json_pack("{s:s, s:{s:s}}", "execute", "closefd", "arguments", "fdname",
                                 t->fdname),
               NULL);
    /* Once QEMU has closed its end (copy over, or closefd), the copier ends. */
    g_clear_pointer(&t->copy, vs_ram_copy_free);
    if (t->caps_on)
        set_background_snapshot(t->dom, false, NULL);
    if (t->bandwidth_set)
        set_bandwidth(t->dom, t->old_bandwidth, NULL);
    if (!keep && t->tagged &&
        !(virDomainIsActive(t->dom) == 1 && delete_tags_running(t->dom, t->disks, t->tag))) {
        /* QEMU is gone, or going (it crashed, or the guest powered off
         * during the copy): once libvirt has seen it end, from the images. */
        for (int i = 0; i < 50 && virDomainIsActive(t->dom) == 1; i++)
            g_usleep(100 * 1000);
        g_autoptr(GError) err = NULL;
        if (virDomainIsActive(t->dom) == 1 || !delete_tags(t->dom, t->tag, &err))
            vs_warn("VM '%s': snapshot tag '%s' is left on its disks%s%s",
                    virDomainGetName(t->dom), t->tag, err ? ": " : " (QEMU still runs)",
                    err ? err->message : "");
    }
    /* Never while the copy may run: a guest resumed before QEMU protected
     * its RAM would make the memory saved later not the disks'. */
    if (t->paused_by_us && domain_state(t->dom) == VIR_DOMAIN_PAUSED) {
        if (copy_over)
            virDomainResume(t->dom);
        else
            vs_error("VM '%s' is left paused: its memory copy may still run (resume it once "
                     "QEMU's migration has ended, or power it off)",
                     virDomainGetName(t->dom));
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
        if (!keep)
            g_unlink(t->ram_path);
    }
}

/* How far QEMU's copy is, 0..100, from query-migrate's "ram" figures (-1:
 * not known). */
static int copy_percent(json_t *info)
{
    json_t *ram = json_object_get(info, "ram");
    json_int_t total = json_integer_value(json_object_get(ram, "total"));
    json_int_t remaining = json_integer_value(json_object_get(ram, "remaining"));
    if (total <= 0 || remaining < 0 || remaining > total)
        return -1;
    return (int)((total - remaining) * 100 / total);
}

virDomainSnapshotPtr vs_live_take(virDomainPtr dom, const char *internal, const char *description,
                                  const char *ram_path, VsJournal *journal,
                                  VsLiveProgress progress, void *data, VsLiveStats *stats,
                                  GError **error)
{
    const char *vm = virDomainGetName(dom);
    if (!vs_live_supported(dom, error))
        return NULL;
    g_autoptr(xmlDoc) live = vs_hv_domain_xml(dom, 0, error);
    g_autoptr(GPtrArray) disks = live ? writable_disks(live, vm, error) : NULL;
    if (!disks || !find_nodes(dom, disks, error))
        return NULL;
    /* The definition as libvirt saves it: migratable, secrets included. */
    g_autoptr(xmlDoc) domain =
        vs_hv_domain_xml(dom, VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE, error);
    if (!domain)
        return NULL;
    g_autofree char *domain_xml = vs_xml_to_string(domain);
    g_autoptr(xmlDoc) inactive =
        vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE, error);
    if (!inactive)
        return NULL;
    g_autofree char *cookie = save_cookie(dom);
    g_autoptr(virDomainSnapshot) current = virDomainSnapshotCurrent(dom, 0);
    g_autofree char *parent = current ? g_strdup(virDomainSnapshotGetName(current)) : NULL;
    virResetLastError();

    g_autofree char *dir = g_path_get_dirname(ram_path);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return NULL;
    }
    static gint serial;
    g_autofree char *fdname = g_strdup_printf("vslive%d", g_atomic_int_add(&serial, 1));
    Take t = {.dom = dom, .disks = disks, .tag = internal, .ram_path = ram_path,
              .fdname = fdname, .fd = -1};
    t.fd = open(ram_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (t.fd < 0) {
        g_set_error(error, VS_ERROR, errno == EEXIST ? VS_ERR_CONFLICT : VS_ERR_FAILED,
                    "cannot create %s: %s", ram_path, g_strerror(errno));
        return NULL;
    }
    gint64 reserved = reserve_space(dom, t.fd, ram_path, error);
    if (reserved < 0) {
        take_cleanup(&t, false);
        return NULL;
    }
    if (!vs_save_image_write_header(t.fd, domain_xml, cookie)) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write %s: %s", ram_path,
                    g_strerror(errno));
        take_cleanup(&t, false);
        return NULL;
    }
    /* QEMU writes into a pipe that is full until the disks are snapshotted
     * (ramcopy.c); the stream begins where the header ends. */
    off_t stream_start = lseek(t.fd, 0, SEEK_CUR);
    t.copy = stream_start > 0 ? vs_ram_copy_start(t.fd, stream_start, error) : NULL;
    if (!t.copy) {
        if (stream_start <= 0)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot read the offset in %s: %s",
                        ram_path, g_strerror(errno));
        take_cleanup(&t, false);
        return NULL;
    }
    if (!qmp_ok_fd(dom,
                   json_pack("{s:s, s:{s:s}}", "execute", "getfd", "arguments", "fdname", fdname),
                   vs_ram_copy_writer_fd(t.copy), error)) {
        take_cleanup(&t, false);
        return NULL;
    }
    t.fd_in_qemu = true;
    vs_ram_copy_writer_handed(t.copy);

    /* QEMU's default of 128 MiB/s would stretch the copy; the guest is
     * running meanwhile, so the copy should go as fast as the disk takes it. */
    json_t *params = qmp(dom, json_pack("{s:s}", "execute", "query-migrate-parameters"), error);
    if (!params) {
        take_cleanup(&t, false);
        return NULL;
    }
    t.old_bandwidth = (guint64)json_integer_value(json_object_get(params, "max-bandwidth"));
    json_decref(params);
    /* Recorded first: recovery puts it back after a crash from here on. */
    if (journal) {
        g_autofree char *old = g_strdup_printf("%" G_GUINT64_FORMAT, t.old_bandwidth);
        vs_journal_set(journal, "bandwidth", old);
    }
    if (journal && !vs_journal_commit(journal, error)) {
        take_cleanup(&t, false);
        return NULL;
    }
    t.bandwidth_set = set_bandwidth(dom, RAM_BANDWIDTH, error);
    if (!t.bandwidth_set) {
        take_cleanup(&t, false);
        return NULL;
    }
    /* QEMU's own check that it can write-protect every RAM block. */
    g_autoptr(GError) why = NULL;
    t.caps_on = set_background_snapshot(dom, true, &why);
    if (!t.caps_on) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' cannot take a live snapshot on this host: %s", vm, why->message);
        take_cleanup(&t, false);
        return NULL;
    }

    /* The copy starts with the VM running: QEMU's thread reads a byte of
     * every guest page, then blocks at its first write into the full pipe,
     * before it stops the VM. Once it is seen blocked (or when that cannot
     * be seen), the pause: disks snapshotted, then the pipe let go; QEMU
     * then saves the devices, write-protects RAM and starts the VCPUs. RAM
     * cannot be protected before the disks are snapshotted, whatever the
     * timing, so both are from the same instant. */
    pid_t pid = qemu_pid(dom);
    g_autofree char *uri = g_strdup_printf("fd:%s", fdname);
    double t_migrate = now_ms();
    if (!qmp_ok(dom, json_pack("{s:s, s:{s:s}}", "execute", "migrate", "arguments", "uri", uri),
                error)) {
        take_cleanup(&t, false);
        return NULL;
    }
    t.migrating = true;
    if (stats)
        stats->started = true;
    double t_migrating = now_ms();
    bool held = vs_ram_copy_wait_writer_blocked(t.copy, pid, "bg_snapshot", WALK_TIMEOUT_US);
    double t_walked = now_ms();
    if (!held)
        vs_debug("VM '%s': QEMU's page walk not seen to end (QEMU pid %d): pausing now", vm,
                 (int)pid);

    /* The pause ends when QEMU's RESUME comes through libvirt (no polling
     * that would compete with QEMU for the CPU), else by polling the state. */
    t.meter = vs_pause_meter_start(dom);
    gint64 created = g_get_real_time() / G_USEC_PER_SEC;
    double t_pause = now_ms();
    if (virDomainSuspend(dom) < 0) {
        vs_hv_set_error(error, "cannot pause VM '%s'", vm);
        take_cleanup(&t, false);
        return NULL;
    }
    t.paused_by_us = true;
    double t_suspended = now_ms();
    if (!qmp_ok(dom,
                json_pack("{s:s, s:{s:o}}", "execute", "transaction", "arguments", "actions",
                          snapshot_actions(disks, internal, "blockdev-snapshot-internal-sync")),
                error)) {
        take_cleanup(&t, false);
        return NULL;
    }
    t.tagged = true;
    double t_tagged = now_ms();
    vs_fault_point("snapshot-live-held");
    vs_ram_copy_release(t.copy);
    /* QEMU 7.2 stops the VCPUs itself (already stopped here), saves the
     * devices, write-protects RAM and then starts the VCPUs again. If it
     * fails before that, it leaves them stopped: then we resume them. Not
     * while the copy still runs, however long QEMU takes to get there (its
     * page walk not seen to end, a guest whose RAM the host swapped out):
     * a guest resumed before its RAM is protected runs on from the disks'
     * instant, and the RAM saved later would not be theirs. */
    double t_resumed = -1;
    gint64 since = g_get_monotonic_time(), looked = 0, unread_since = 0;
    bool warned = false, unknown = false, stuck = false, ended = false;
    while (t_resumed < 0 && !unknown && !stuck && !ended) {
        if (t.meter)
            t_resumed = vs_pause_meter_wait_resumed(t.meter, warned ? 100000 : 10000);
        else
            g_usleep(warned ? 100000 : 1000); /* (after 10 s, looked at less often) */
        int state = t_resumed < 0 ? domain_state(dom) : VIR_DOMAIN_RUNNING;
        if (t_resumed < 0 && state == VIR_DOMAIN_RUNNING)
            t_resumed = now_ms(); /* no event loop: seen by polling */
        ended = state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED; /* QEMU is gone */
        gint64 now = g_get_monotonic_time();
        if (t_resumed < 0 && now - looked >= G_USEC_PER_SEC / 10) {
            looked = now;
            g_autofree char *early = migration_status(dom, NULL, NULL);
            if (early && !migration_running(early))
                break; /* failed before RAM was protected: resumed below */
            unread_since = early ? 0 : unread_since ? unread_since : now;
            /* not known for 10 s (the connection is gone): not resumed here */
            unknown = unread_since && now - unread_since >= 10 * G_USEC_PER_SEC;
        }
        if (t_resumed < 0 && !warned && now - since >= 10 * G_USEC_PER_SEC) {
            vs_warn("VM '%s': QEMU has not started the guest again 10 s into the memory "
                    "copy's start; it stays paused until QEMU has its memory", vm);
            warned = true;
        }
        stuck = t_resumed < 0 && now - since >= (gint64)3600 * G_USEC_PER_SEC;
    }
    double qemu_pause = vs_pause_meter_finish(t.meter, NULL);
    t.meter = NULL;
    if (stuck || unknown || ended) {
        /* The snapshot fails; the cleanup resumes the guest only once the
         * copy is seen to have ended, else leaves it paused, said. */
        g_set_error(error, VS_ERROR, unknown ? VS_ERR_UNAVAILABLE : VS_ERR_FAILED, "VM '%s': %s",
                    vm,
                    ended     ? "QEMU ended during the memory copy's start"
                    : unknown ? "the memory copy's state could not be read for 10 s"
                              : "QEMU has not protected the guest's memory in an hour");
        take_cleanup(&t, false);
        return NULL;
    }
    /* (the copy ended meanwhile: QEMU may have started the guest after the
     * last look at its state) */
    if (t_resumed < 0 && domain_state(dom) == VIR_DOMAIN_RUNNING)
        t_resumed = now_ms();
    if (t_resumed < 0 || domain_state(dom) == VIR_DOMAIN_PAUSED) {
        vs_warn("VM '%s': QEMU did not resume the guest after starting the memory copy; "
                "resuming it", vm);
        virDomainResume(dom);
        t_resumed = now_ms();
        t.started_late = true;
    }
    t.paused_by_us = false;
    vs_debug("VM '%s': live snapshot: migrate command %.1f ms, page walk %.1f ms%s; pause: "
             "suspend %.1f ms, disk snapshot %.1f ms, until running %.1f ms",
             vm, t_migrating - t_migrate, t_walked - t_migrating, held ? "" : " (not seen)",
             t_suspended - t_pause, t_tagged - t_suspended, t_resumed - t_tagged);

    /* The copy, in the background as far as the guest is concerned. */
    vs_fault_point("snapshot-live-copying");
    json_t *info = NULL;
    g_autofree char *status = NULL;
    off_t flushed = 0;
    for (;;) {
        g_free(status);
        json_decref(info);
        info = NULL;
        status = migration_status(dom, &info, error);
        if (!status || !migration_running(status))
            break;
        int percent = copy_percent(info);
        if (progress && percent >= 0)
            progress(5 + percent * 90 / 100, data); /* the pause before, the sync after */
        /* Start writing back what QEMU wrote, so that dirty pages do not
         * pile up: the kernel would throttle QEMU's writes, and the thread
         * that writes is the one that serves the guest's write faults. */
        struct stat now;
        if (fstat(t.fd, &now) == 0 && now.st_size > flushed) {
            sync_file_range(t.fd, flushed, now.st_size - flushed, SYNC_FILE_RANGE_WRITE);
            flushed = now.st_size;
        }
        g_usleep(POLL_US);
    }
    if (!status || strcmp(status, "completed") != 0) {
        if (status) {
            const char *desc = json_string_value(json_object_get(info, "error-desc"));
            /* Once RAM is write-protected, QEMU 7.2 does not lift the
             * protection when the copy fails (see wait_copy_end): the guest
             * hangs at its next write to a page not yet copied, and so may
             * QEMU's main loop. Say so, and do not talk to QEMU again. */
            t.wedged = !t.started_late;
            g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                        "the memory copy of VM '%s' ended as '%s': %s%s", vm, status,
                        desc ? desc : "no reason given",
                        t.wedged ? "; QEMU 7.2 leaves the VM's memory write-protected after "
                                   "that, so the VM will hang: power it off and start it again "
                                   "(its disks hold an orphan snapshot tag)"
                                 : "");
        }
        json_decref(info);
        take_cleanup(&t, false);
        return NULL;
    }
    double qemu_downtime = (double)json_integer_value(json_object_get(info, "downtime"));
    double qemu_setup = (double)json_integer_value(json_object_get(info, "setup-time"));
    vs_debug("VM '%s': QEMU: setup %lld ms, downtime %.0f ms, total %lld ms", vm,
             (long long)json_integer_value(json_object_get(info, "setup-time")), qemu_downtime,
             (long long)json_integer_value(json_object_get(info, "total-time")));
    json_decref(info);
    t.migrating = false;
    t.fd_in_qemu = false; /* QEMU took it over and closed it */
    /* The copier drained the whole stream even if it could not write it,
     * so QEMU finished and unprotected RAM either way. */
    bool copied = vs_ram_copy_finish(t.copy, error);
    g_clear_pointer(&t.copy, vs_ram_copy_free);
    if (!copied) {
        take_cleanup(&t, false);
        return NULL;
    }
    g_autoptr(GError) caps_error = NULL;
    if (!set_background_snapshot(dom, false, &caps_error)) /* (the snapshot stands) */
        vs_warn("VM '%s': QEMU's background-snapshot capability stays on (%s): a later save "
                "or migration of this QEMU by another tool would run as a background snapshot "
                "until the VM restarts or takes a live snapshot again",
                vm, caps_error->message);
    t.caps_on = false;
    collapse_guest_ram(dom);

    /* Durable, then complete: the final magic goes last. The unused part of
     * the reservation (past the end) is given back: a truncate to the same
     * size frees it (ext4 does not punch holes past the end of a file). */
    struct stat st;
    if (fstat(t.fd, &st) == 0 && reserved > st.st_size && ftruncate(t.fd, st.st_size) != 0)
        vs_warn("cannot give back the space reserved for %s: %s", ram_path, g_strerror(errno));
    if (!vs_save_image_mark_complete(t.fd) ||
        fstat(t.fd, &st) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot finish %s: %s", ram_path,
                    g_strerror(errno));
        take_cleanup(&t, false);
        return NULL;
    }
    double t_done = now_ms();

    g_autofree char *meta =
        snapshot_metadata(internal, description, created, parent, ram_path, domain, inactive,
                          disks);
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(
        dom, meta, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE | VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT);
    if (!snap) {
        vs_hv_set_error(error, "cannot record live snapshot '%s' of VM '%s'", internal, vm);
        /* Broke off with the connection: libvirtd may have recorded it, so
         * the file and tags stay for the caller's settle (journal.c). */
        take_cleanup(&t, vs_hv_broke_off(error));
        return NULL;
    }
    vs_fault_point("snapshot-live-recorded"); /* before QEMU's settings are put back */
    take_cleanup(&t, true);
    if (stats) {
        /* QEMU's stamps (else libvirt's events), else the whole request. */
        stats->downtime_ms = qemu_pause >= 0 ? qemu_pause : t_resumed - t_pause;
        stats->request_ms = t_resumed - t_pause;
        stats->qemu_downtime_ms = qemu_downtime;
        stats->qemu_setup_ms = qemu_setup;
        stats->total_ms = t_done - t_migrate;
        stats->memory_bytes = (guint64)st.st_size;
    }
    vs_info("VM '%s': live snapshot '%s': VCPUs stopped %.1f ms (pause request to libvirt's "
            "resumed event %.1f ms), %.0f ms in all, %" G_GUINT64_FORMAT " bytes of memory",
            vm, internal, qemu_pause, t_resumed - t_pause, t_done - t_pause, (guint64)st.st_size);
    return snap;
}

/* ---- reading a live snapshot ------------------------------------------- */

static xmlDoc *snapshot_doc(virDomainSnapshotPtr snap, GError **error)
{
    g_autofree char *text = virDomainSnapshotGetXMLDesc(snap, VIR_DOMAIN_SNAPSHOT_XML_SECURE);
    if (!text) {
        vs_hv_set_error(error, "cannot read snapshot '%s'", virDomainSnapshotGetName(snap));
        return NULL;
    }
    return vs_xml_parse(text, error);
}

static bool doc_is_live(xmlDoc *doc)
{
    g_autofree char *mem = vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@snapshot)");
    g_autofree char *internal = vs_xml_string(
        doc, NULL, "string(/domainsnapshot/disks/disk[@snapshot='internal']/@name)");
    return mem && strcmp(mem, "external") == 0 && internal;
}

bool vs_live_is_live(virDomainSnapshotPtr snap)
{
    g_autoptr(xmlDoc) doc = snapshot_doc(snap, NULL);
    return doc && doc_is_live(doc);
}

/* The memory file of the live snapshot whose XML is DOC, or NULL. */
static char *doc_ram(xmlDoc *doc)
{
    return doc_is_live(doc) ? vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)")
                            : NULL;
}

char *vs_live_snapshot_ram(virDomainSnapshotPtr snap)
{
    g_autoptr(xmlDoc) doc = snapshot_doc(snap, NULL);
    return doc ? doc_ram(doc) : NULL;
}

/* The snapshot's own copy of the domain as a document of its own. */
/* The snapshot DOC's element WHAT ("domain", "inactiveDomain") as a
 * domain document of its own, or NULL. */
static xmlDoc *snapshot_domain(xmlDoc *doc, const char *what)
{
    g_autofree char *path = g_strdup_printf("/domainsnapshot/%s", what);
    g_autoptr(GPtrArray) nodes = vs_xml_nodes(doc, NULL, path);
    if (nodes->len == 0)
        return NULL;
    xmlDoc *out = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlDocCopyNode(g_ptr_array_index(nodes, 0), out, 1);
    xmlNodeSetName(root, (const xmlChar *)"domain");
    xmlDocSetRootElement(out, root);
    return out;
}

/* Disks (target, file) of DOMAIN that the snapshot DOC holds internally. */
static GPtrArray *snapshot_disks(xmlDoc *doc, xmlDoc *domain)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(live_disk_free);
    g_autoptr(GPtrArray) names =
        vs_xml_nodes(doc, NULL, "/domainsnapshot/disks/disk[@snapshot='internal']");
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *target = vs_xml_string(doc, g_ptr_array_index(names, i), "string(@name)");
        g_autofree char *xp = g_strdup_printf(
            "string(/domain/devices/disk[target/@dev='%s']/source/@file)", target);
        char *file = vs_xml_string(domain, NULL, xp);
        if (!file)
            continue;
        LiveDisk *d = g_new0(LiveDisk, 1);
        d->target = g_steal_pointer(&target);
        d->file = file;
        g_ptr_array_add(out, d);
    }
    return out;
}

/* ---- revert ------------------------------------------------------------- */

/* Makes SNAP current again (libvirt's own revert would). */
static bool make_current(virDomainSnapshotPtr snap, GError **error)
{
    g_autofree char *xml = virDomainSnapshotGetXMLDesc(snap, VIR_DOMAIN_SNAPSHOT_XML_SECURE);
    g_autoptr(virDomainSnapshot) again =
        xml ? virDomainSnapshotCreateXML(virDomainSnapshotGetDomain(snap), xml,
                                         VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE |
                                             VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT)
            : NULL;
    if (!again)
        vs_hv_set_error(error, "cannot mark snapshot '%s' current", virDomainSnapshotGetName(snap));
    return again != NULL;
}

bool vs_live_revert(virDomainSnapshotPtr snap, double *revert_ms, GError **error)
{
    double t0 = now_ms();
    virDomainPtr dom = virDomainSnapshotGetDomain(snap);
    virConnectPtr conn = virDomainSnapshotGetConnect(snap);
    const char *vm = virDomainGetName(dom);
    const char *tag = virDomainSnapshotGetName(snap);
    g_autoptr(xmlDoc) doc = snapshot_doc(snap, error);
    if (!doc)
        return false;
    g_autofree char *ram = vs_xml_string(doc, NULL, "string(/domainsnapshot/memory/@file)");
    g_autoptr(xmlDoc) domain = snapshot_domain(doc, "domain");
    if (!doc_is_live(doc) || !ram || !domain) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "snapshot '%s' of VM '%s' is not a live snapshot",
                    tag, vm);
        return false;
    }
    g_autoptr(GPtrArray) disks = snapshot_disks(doc, domain);
    /* Everything that can be checked is checked before the VM is stopped. */
    if (!vs_save_image_complete(ram)) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                    "the memory file of snapshot '%s' of VM '%s' is missing or incomplete: %s",
                    tag, vm, ram);
        return false;
    }
    for (guint i = 0; i < disks->len; i++) {
        LiveDisk *d = g_ptr_array_index(disks, i);
        g_autoptr(GError) why = NULL;
        if (!vs_image_snapshot_info(d->file, tag, NULL, &why)) {
            g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                        "disk '%s' of VM '%s' (%s) does not hold snapshot '%s'%s%s", d->target, vm,
                        d->file, tag, why ? ": " : "", why ? why->message : "");
            return false;
        }
    }
    /* The revert marks the snapshot current by saving it again (make_current). */
    if (!vs_hv_room_for_metadata(error))
        return false;
    g_autofree char *dxml = vs_xml_to_string(domain);
    /* The definition for the next start as it was then (a memory or CPU
     * change made while the VM ran waits there), as libvirt's own revert
     * brings back; a snapshot taken before session 16 has only DOMAIN. */
    g_autoptr(xmlDoc) inactive = snapshot_domain(doc, "inactiveDomain");
    g_autofree char *next_start = inactive ? vs_xml_to_string(inactive) : g_strdup(dxml);
    if (virDomainIsPersistent(dom) != 1) {
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "VM '%s' is transient: stopping it to revert would end it", vm);
        return false;
    }
    double t_checked = now_ms();
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
        vs_hv_set_error(error, "cannot stop VM '%s' to revert it", vm);
        return false;
    }
    double t_stopped = now_ms();
    /* From here a failure leaves the VM stopped: the error says where it is. */
    for (guint i = 0; i < disks->len; i++) {
        LiveDisk *d = g_ptr_array_index(disks, i);
        const char *argv[] = {"qemu-img", "snapshot", "-a", tag, d->file, NULL};
        if (!vs_image_qemu_img(argv, NULL, error)) {
            g_prefix_error(error, "VM '%s' is stopped and %s of its disks are at snapshot '%s' "
                                  "(revert to it again): ", vm, i ? "only some" : "none", tag);
            return false;
        }
    }
    const char *stopped = "VM '%s' is stopped with its disks at snapshot '%s' (start it to boot "
                          "from them, or revert again): ";
    /* The disks are the snapshot's: it is the VM's current one, whatever
     * comes next (a later snapshot's parent). */
    if (!make_current(snap, error)) {
        g_prefix_error(error, stopped, vm, tag);
        return false;
    }
    /* libvirt's own revert brings the snapshot's definition back too. */
    if (virDomainIsPersistent(dom) == 1) {
        g_autoptr(virDomain) defined = virDomainDefineXML(conn, next_start);
        if (!defined) {
            vs_hv_set_error(error, "cannot restore the definition of VM '%s'", vm);
            g_prefix_error(error, stopped, vm, tag);
            return false;
        }
    }
    /* libvirt insists that name and UUID match the image's copy. */
    if (!vs_save_image_set_xml(ram, dxml, error)) {
        g_prefix_error(error, stopped, vm, tag);
        return false;
    }
    double t_disks = now_ms();
    if (virDomainRestoreFlags(conn, ram, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
        vs_hv_set_error(error, "cannot start VM '%s' from the memory of snapshot '%s'", vm, tag);
        g_prefix_error(error, stopped, vm, tag);
        return false;
    }
    double t_restored = now_ms();
    vs_debug("VM '%s': live revert: checks %.0f ms, stop %.0f ms, disks and definition %.0f ms, "
             "restore %.0f ms, metadata %.0f ms",
             vm, t_checked - t0, t_stopped - t_checked, t_disks - t_stopped, t_restored - t_disks,
             now_ms() - t_restored);
    if (revert_ms)
        *revert_ms = now_ms() - t0;
    vs_info("VM '%s': reverted to live snapshot '%s' in %.0f ms", vm, tag, now_ms() - t0);
    return true;
}

/* ---- delete ------------------------------------------------------------- */

/* The files of a domain's writable qcow2 disks (a read-only, shared image's
 * tag of a snapshot's name is not the snapshot's). */
#define OWN_QCOW2_FILES                                                                            \
    "/domain/devices/disk[@device='disk' and driver/@type='qcow2' and not(readonly)]/source/@file"

/* Removes TAG from the disks of DOM: delvm while QEMU runs (what libvirt does
 * for its own internal snapshots), qemu-img on the images otherwise. */
static bool delete_tags(virDomainPtr dom, const char *tag, GError **error)
{
    if (virDomainIsActive(dom) == 1) {
        g_autofree char *cmd = g_strdup_printf("delvm %s", tag);
        char *reply = NULL;
        if (virDomainQemuMonitorCommand(dom, cmd, &reply, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) < 0) {
            vs_hv_set_error(error, "cannot remove snapshot '%s' from the disks of VM '%s'", tag,
                            virDomainGetName(dom));
            return false;
        }
        /* Silent when done: any answer ("Error: …", a parse error) is a failure. */
        bool failed = reply && *g_strstrip(reply) != '\0';
        if (failed)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED,
                        "cannot remove snapshot '%s' from the disks of VM '%s': %s", tag,
                        virDomainGetName(dom), g_strstrip(reply));
        free(reply);
        return !failed;
    }
    g_autoptr(xmlDoc) def = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, error);
    if (!def)
        return false;
    g_autoptr(GPtrArray) files = vs_xml_nodes(def, NULL, OWN_QCOW2_FILES);
    for (guint i = 0; i < files->len; i++) {
        xmlNode *attr = g_ptr_array_index(files, i);
        g_autofree char *file = (char *)xmlNodeGetContent(attr);
        g_autoptr(GError) why = NULL;
        if (!vs_image_snapshot_info(file, tag, NULL, &why))
            continue;
        const char *argv[] = {"qemu-img", "snapshot", "-d", tag, file, NULL};
        if (!vs_image_qemu_img(argv, NULL, error))
            return false;
    }
    return true;
}

bool vs_live_delete_contents(virDomainPtr dom, const char *tag, const char *ram, GError **error)
{
    /* The memory file first: on a full disk its space lets the images'
     * refcount updates through. */
    if (ram && g_unlink(ram) != 0 && errno != ENOENT)
        vs_warn("cannot delete %s: %s", ram, g_strerror(errno));
    return delete_tags(dom, tag, error);
}

/* Whether DOC's snapshot keeps everything inside the disks' qcow2 images
 * (a classic snapshot: libvirt's "internal"), with nothing external. */
static bool doc_is_internal(xmlDoc *doc)
{
    g_autoptr(GPtrArray) external =
        vs_xml_nodes(doc, NULL, "/domainsnapshot//*[@snapshot='external']");
    return external->len == 0;
}

/* The metadata goes first: a snapshot libvirt lists always has its
 * contents (a revert of one whose tags were gone would fail, and so would
 * its delete on a running VM). The journal record ("snapdelete") lets the
 * next start remove the contents should virtsnapd die in between. libvirt's
 * own delete of a classic snapshot does the opposite (the tags, then the
 * metadata), and on the embedded driver a crash between is virtsnapd's. */
static bool delete_metadata_first(virDomainSnapshotPtr snap, xmlDoc *doc, GError **error)
{
    virDomainPtr dom = virDomainSnapshotGetDomain(snap);
    g_autofree char *ram = doc_ram(doc);
    g_autofree char *name = g_strdup(virDomainSnapshotGetName(snap));
    g_autofree char *uuid = vs_hv_uuid(dom);
    /* A record that cannot be written (a full disk, which this delete may
     * be meant to relieve) does not stop it: it goes on without one. */
    g_autoptr(GError) record_error = NULL;
    VsJournal *journal = vs_journal_begin("snapdelete", uuid, &record_error);
    if (journal) {
        vs_journal_set(journal, "tag", name);
        if (ram)
            vs_journal_set(journal, "ram", ram);
    }
    if (journal && !vs_journal_commit(journal, &record_error))
        g_clear_pointer(&journal, vs_journal_end);
    if (!journal)
        vs_warn("VM '%s': deleting snapshot '%s' without a journal record: %s",
                virDomainGetName(dom), name, record_error->message);
    /* libvirt moves the children up and, for the current one, makes the
     * parent current; METADATA_ONLY as libvirt 9.0 cannot delete a live
     * snapshot itself. */
    bool ok = virDomainSnapshotDelete(snap, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY) == 0;
    if (!ok) {
        g_autoptr(GError) refused = NULL;
        vs_hv_set_error(&refused, "cannot delete snapshot '%s'", name);
        /* libvirt 9.0 drops the snapshot even when it then fails to save
         * the domain's status (a full disk; tests/crash/test_diskfull.c):
         * gone is gone, and its contents go too rather than stay behind
         * unlisted. */
        g_autoptr(virDomainSnapshot) still = virDomainSnapshotLookupByName(dom, name, 0);
        ok = !still && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT;
        if (ok)
            vs_warn("VM '%s': %s; libvirt dropped the snapshot all the same: its contents go",
                    virDomainGetName(dom), refused->message);
        else
            g_propagate_error(error, g_steal_pointer(&refused));
    }
    if (ok)
        vs_fault_point("delete-after-metadata");
    if (ok && !vs_live_delete_contents(dom, name, ram, error)) {
        /* With no record (none could be written), nothing will try again:
         * the message says how to finish by hand. */
        if (journal)
            g_prefix_error(error, "snapshot '%s' is deleted, but its contents stay inside the "
                                  "disks (qemu-img snapshot -l) until the VM's next change tries "
                                  "again: ", name);
        else
            g_prefix_error(error, "snapshot '%s' is deleted, but its contents stay inside the "
                                  "disks as tag '%s' (qemu-img snapshot -l); with the VM shut "
                                  "off and room on the disk, qemu-img snapshot -d '%s' on each "
                                  "disk removes them: ", name, name, name);
        ok = false;
        if (journal)
            vs_journal_keep(&journal); /* settled (tried once more) before that change */
    }
    vs_journal_end(journal);
    return ok;
}

/* Whether virtsnapd removes classic snapshot SNAP (its XML DOC) itself, the
 * metadata first, rather than leaving it to libvirt's delete (the tags, then
 * the metadata). Only where libvirt runs inside virtsnapd (the embedded
 * driver), so that a crash of virtsnapd between libvirt's two steps is
 * libvirt's (a libvirtd finishes its own delete; the test driver keeps no
 * contents and refuses METADATA_ONLY); for a name that delvm and qemu-img
 * take as it is (vs_snapnames_safe_internal: no quoting, not a number,
 * which qemu-img would take for a snapshot id); and, the VM stopped, when every disk of the snapshot is
 * one of the VM's own qcow2 files, which delete_tags reads (not a block
 * device, not a disk since removed). Else libvirt's delete, as before. */
static bool classic_ours(virDomainSnapshotPtr snap, xmlDoc *doc)
{
    virDomainPtr dom = virDomainSnapshotGetDomain(snap);
    const char *name = virDomainSnapshotGetName(snap);
    if (!vs_hv_private() || vs_hv_driver_is("test") || !doc_is_internal(doc) ||
        !vs_snapnames_safe_internal(name))
        return false;
    if (virDomainIsActive(dom) == 1)
        return true; /* delvm: QEMU finds the tag in every disk */
    g_autoptr(xmlDoc) def = vs_hv_domain_xml(dom, VIR_DOMAIN_XML_INACTIVE, NULL);
    if (!def)
        return false;
    g_autoptr(GHashTable) own = g_hash_table_new_full(g_str_hash, g_str_equal, xmlFree, NULL);
    g_autoptr(GPtrArray) files = vs_xml_nodes(def, NULL, OWN_QCOW2_FILES);
    for (guint i = 0; i < files->len; i++)
        g_hash_table_add(own, xmlNodeGetContent(g_ptr_array_index(files, i)));
    g_autoptr(GPtrArray) disks =
        vs_xml_nodes(doc, NULL, "/domainsnapshot/disks/disk[@snapshot='internal']");
    for (guint i = 0; i < disks->len; i++) {
        g_autofree char *target = vs_xml_string(doc, g_ptr_array_index(disks, i), "string(@name)");
        if (!target || strspn(target, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(target))
            return false;
        g_autofree char *xp = g_strdup_printf(
            "string(/domainsnapshot/domain/devices/disk[target/@dev='%s']/source/@file)", target);
        g_autofree char *file = vs_xml_string(doc, NULL, xp);
        if (!file || !g_hash_table_contains(own, file))
            return false;
    }
    return true;
}

static bool delete_one(virDomainSnapshotPtr snap, GError **error)
{
    /* An external snapshot another tool made is libvirt's to delete, or
     * to refuse. */
    g_autoptr(xmlDoc) doc = snapshot_doc(snap, NULL);
    if (doc && (doc_is_live(doc) || classic_ours(snap, doc)))
        return delete_metadata_first(snap, doc, error);
    if (virDomainSnapshotDelete(snap, 0) < 0) {
        vs_hv_set_error(error, "cannot delete snapshot '%s'", virDomainSnapshotGetName(snap));
        return false;
    }
    return true;
}

bool vs_live_delete(virDomainSnapshotPtr snap, bool with_children, GError **error)
{
    if (!with_children)
        return delete_one(snap, error);
    virDomainSnapshotPtr *below = NULL;
    int n = virDomainSnapshotListAllChildren(
        snap, &below, VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
    if (n < 0) {
        vs_hv_set_error(error, "cannot list the snapshots under '%s'",
                        virDomainSnapshotGetName(snap));
        return false;
    }
    /* Leaves first (parents come first in topological order). */
    bool ok = true;
    for (int i = n - 1; i >= 0 && ok; i--)
        ok = delete_one(below[i], error);
    ok = ok && delete_one(snap, error);
    for (int i = 0; i < n; i++)
        virDomainSnapshotFree(below[i]);
    free(below);
    return ok;
}

/* ---- recovery and files --------------------------------------------------- */

void vs_live_settle_qemu(virDomainPtr dom, guint64 bandwidth)
{
    if (virDomainIsActive(dom) != 1)
        return;
    set_background_snapshot(dom, false, NULL);
    if (bandwidth)
        set_bandwidth(dom, bandwidth, NULL);
}

void vs_live_abandon(virDomainPtr dom, const char *internal, const char *ram_path,
                     bool was_running, guint64 bandwidth)
{
    /* QEMU keeps copying into its own descriptor of the file: let it finish
     * rather than cancel (see wait_copy_end). */
    if (virDomainIsActive(dom) == 1 && !wait_copy_end(dom, (gint64)3600 * G_USEC_PER_SEC))
        vs_warn("VM '%s': a memory copy still runs; left alone", virDomainGetName(dom));
    vs_live_settle_qemu(dom, bandwidth);
    g_autoptr(GError) why = NULL;
    if (!delete_tags(dom, internal, &why))
        vs_warn("VM '%s': %s", virDomainGetName(dom), why->message);
    if (was_running && virDomainIsActive(dom) == 1 && domain_state(dom) == VIR_DOMAIN_PAUSED)
        virDomainResume(dom);
    if (ram_path)
        g_unlink(ram_path);
}

bool vs_live_copy_ram(const char *src, const char *dst, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(dst);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    g_autoptr(GFile) from = g_file_new_for_path(src);
    g_autoptr(GFile) to = g_file_new_for_path(dst);
    g_autoptr(GError) why = NULL;
    if (!g_file_copy(from, to, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &why)) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot copy %s to %s: %s", src, dst,
                    why->message);
        return false;
    }
    return true;
}

bool vs_live_forget_vm(const char *uuid)
{
    g_autofree char *dir = vs_live_vm_dir(uuid);
    return vs_dir_remove_files(dir);
}


GStrv vs_live_vms(void)
{
    g_autoptr(GStrvBuilder) uuids = g_strv_builder_new();
    g_autofree char *dir = live_root();
    g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
    for (const char *name; listing && (name = g_dir_read_name(listing));)
        if (g_uuid_string_is_valid(name))
            g_strv_builder_add(uuids, name);
    return g_strv_builder_end(uuids);
}
