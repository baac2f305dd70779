/* live_proof.c: proof and benchmark of live snapshots (src/model/live.c) on
 * real VMs. Runs libvirt's embedded QEMU driver in a temporary state
 * directory exactly as virtsnapd does (through hv.c), with the guest of
 * guest-dirty.S: a counter in RAM printed ~10/s on the serial port and
 * written to the last disk sector, 1 MiB of RAM rewritten per round, and all
 * RAM above 1 MiB filled with random data by QEMU's loader device.
 *
 * Proof (256 MiB guest): live snapshots while the guest runs: the pause seen
 * by libvirt under 100 ms, the guest's serial output silent at most 150 ms
 * longer than its normal rhythm (beyond the host's own noise); the
 * counter on disk and in RAM from the same instant; revert brings the
 * counter back to the snapshot's value; a mixed tree (live, classic, live)
 * deletes cleanly; a live snapshot survives a clone of the VM (RAM file
 * copied, metadata redefined on the clone) and reverts there.
 * Benchmark: for each size (--sizes, MiB), classic internal snapshot
 * (virDomainSnapshotCreateXML) vs live snapshot: pause, total time, revert
 * time, repeated --repeat times; a table at the end.
 *
 * Usage: live-proof [--sizes 256,1024] [--repeat 3] [--live-repeat 10]
 *                   [--no-reap] [--skip-proof] [--keep] [--hugepages] [--quiet-guest]
 *                   [--no-revert]
 * --hugepages puts the benchmark guests' RAM on 2 MiB huge pages (needs a
 * hugetlbfs mounted and free pages for them; the proof guest stays as it is).
 * --quiet-guest gives the benchmark guests the proof guest's rhythm (32 pages
 * rewritten per round instead of 256).
 * --no-revert skips the reverts, so that every live snapshot is taken of the
 * QEMU that booted the guest (no restore in between).
 * Pauses are QEMU's STOP-to-RESUME stamps; "libvirt view" is from the pause
 * request until libvirt reported the VM running.
 * Needs root and /dev/kvm (exit 77, skipped, otherwise). Exit 0: PASS. */
#include "model/hv.h"
#include "model/live.h"
#include "model/pause.h"
#include "util/error.h"
#include "util/log.h"
#include "util/xml.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt-qemu.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VS_SOURCE_DIR
#define VS_SOURCE_DIR "."
#endif

/* Limits: the pause as libvirt sees it (VS_LIVE_STALL_MS), and how much
 * longer than usual the guest's output stops, beyond what this host's load
 * does anyway (VS_LIVE_SILENCE_MS): the pause plus the first write faults
 * after it, which wait for QEMU to copy the pages (see docs). */
static double STALL_LIMIT_MS = 100.0;
static double SILENCE_LIMIT_MS = 150.0;
/* The proof's guest rewrites 32 pages (128 KiB) per round, a quiet guest;
 * the benchmark's rewrites 256 (1 MiB per round, ~9 MiB/s) to show what
 * write-protection faults cost a guest that writes a lot. */
#define PROOF_PAGES "32"
#define PROOF_IMAGE "guest-dirty-" PROOF_PAGES ".qcow2"

static int failures;
static char *workdir;
static bool hugepages; /* --hugepages: benchmark guests' RAM on the host's 2 MiB huge pages */
static bool quiet_guest; /* --quiet-guest: benchmark guests rewrite 128 KiB per round, not 1 MiB */
static bool no_revert;   /* --no-revert: no reverts between the snapshots */

static gint64 last_progress; /* monotonic µs of the last CHECK, for the watchdog */
static gint last_progress_set;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        g_atomic_int_set(&last_progress_set, 1);                                          \
        last_progress = g_get_monotonic_time();                                            \
        if (cond) {                                                                        \
            printf("  ok: ");                                                              \
        } else {                                                                           \
            printf("  FAIL: ");                                                            \
            failures++;                                                                    \
        }                                                                                  \
        printf(__VA_ARGS__);                                                               \
        printf("\n");                                                                      \
        fflush(stdout);                                                                    \
    } while (0)

static double now_ms(void) { return (double)g_get_monotonic_time() / 1000.0; }

static void die(const char *what, GError *error)
{
    printf("FAIL: %s: %s\n", what, error ? error->message : virGetLastErrorMessage());
    exit(1);
}

/* ---- serial watcher: (time, counter) of every COUNT line ------------------ */

typedef struct {
    double t;
    long n;
} Tick;

typedef struct {
    char *path;
    GMutex lock;
    GArray *ticks; /* Tick */
    GString *partial;
    gint stop;
    bool ready;
    GThread *thread;
} Serial;

static gpointer serial_loop(gpointer data)
{
    Serial *s = data;
    int fd = -1;
    char buf[65536];
    while (!g_atomic_int_get(&s->stop)) {
        if (fd < 0)
            fd = open(s->path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : 0;
        if (n <= 0) {
            g_usleep(1000);
            continue;
        }
        double t = now_ms();
        g_string_append_len(s->partial, buf, n);
        char *nl;
        while ((nl = memchr(s->partial->str, '\n', s->partial->len))) {
            *nl = 0;
            long v;
            g_mutex_lock(&s->lock);
            if (sscanf(s->partial->str, "COUNT %ld", &v) == 1)
                g_array_append_val(s->ticks, ((Tick){t, v}));
            else if (strncmp(s->partial->str, "READY", 5) == 0)
                s->ready = true;
            g_mutex_unlock(&s->lock);
            g_string_erase(s->partial, 0, nl - s->partial->str + 1);
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static Serial *serial_watch(const char *path)
{
    Serial *s = g_new0(Serial, 1);
    s->path = g_strdup(path);
    g_mutex_init(&s->lock);
    s->ticks = g_array_new(FALSE, FALSE, sizeof(Tick));
    s->partial = g_string_new(NULL);
    s->thread = g_thread_new("serial", serial_loop, s);
    return s;
}

static void serial_stop(Serial *s)
{
    g_atomic_int_set(&s->stop, 1);
    g_thread_join(s->thread);
    g_array_unref(s->ticks);
    g_string_free(s->partial, TRUE);
    g_free(s->path);
    g_free(s);
}

static Tick serial_last(Serial *s)
{
    g_mutex_lock(&s->lock);
    Tick t = s->ticks->len ? g_array_index(s->ticks, Tick, s->ticks->len - 1) : (Tick){0, -1};
    g_mutex_unlock(&s->lock);
    return t;
}

/* The first tick after time T (n=-1 if none within TIMEOUT_MS). */
static Tick serial_first_after(Serial *s, double t, double timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (;;) {
        g_mutex_lock(&s->lock);
        for (guint i = 0; i < s->ticks->len; i++) {
            Tick k = g_array_index(s->ticks, Tick, i);
            if (k.t > t) {
                g_mutex_unlock(&s->lock);
                return k;
            }
        }
        g_mutex_unlock(&s->lock);
        if (now_ms() > end)
            return (Tick){0, -1};
        g_usleep(5000);
    }
}

/* The first tick after time T whose counter is lower than the one before it
 * (the guest went back in time), waiting up to TIMEOUT_MS; n=-1 if none. */
static Tick serial_first_drop(Serial *s, double t, double timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (;;) {
        g_mutex_lock(&s->lock);
        for (guint i = 1; i < s->ticks->len; i++) {
            Tick a = g_array_index(s->ticks, Tick, i - 1), k = g_array_index(s->ticks, Tick, i);
            if (k.t > t && k.n < a.n) {
                g_mutex_unlock(&s->lock);
                return k;
            }
        }
        g_mutex_unlock(&s->lock);
        if (now_ms() > end)
            return (Tick){0, -1};
        g_usleep(5000);
    }
}

/* Waits until READY and N more ticks were seen. */
static bool serial_wait_running(Serial *s, int n, double timeout_ms)
{
    double end = now_ms() + timeout_ms;
    long start = -1;
    while (now_ms() < end) {
        g_mutex_lock(&s->lock);
        guint len = s->ticks->len;
        g_mutex_unlock(&s->lock);
        if (start < 0)
            start = len;
        if ((long)len - start >= n)
            return true;
        g_usleep(20000);
    }
    return false;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Longest silence of the guest between FROM and TO, minus its usual
 * interval (the median of the 30 gaps before FROM): how long it stalled. */
static double serial_stall(Serial *s, double from, double to, double *usual_out)
{
    g_mutex_lock(&s->lock);
    GArray *before = g_array_new(FALSE, FALSE, sizeof(double));
    double worst = 0;
    for (guint i = 1; i < s->ticks->len; i++) {
        Tick a = g_array_index(s->ticks, Tick, i - 1), b = g_array_index(s->ticks, Tick, i);
        if (b.t <= from) {
            double gap = b.t - a.t;
            g_array_append_val(before, gap);
        } else if (a.t < to) {
            worst = MAX(worst, b.t - a.t);
        }
    }
    g_mutex_unlock(&s->lock);
    guint skip = before->len > 30 ? before->len - 30 : 0;
    double usual = 100;
    if (before->len > skip) {
        qsort((double *)before->data + skip, before->len - skip, sizeof(double), cmp_double);
        usual = g_array_index(before, double, skip + (before->len - skip) / 2);
    }
    g_array_unref(before);
    if (usual_out)
        *usual_out = usual;
    return MAX(0, worst - usual);
}

/* ---- reaping QEMU ---------------------------------------------------------------
 * libvirt daemonizes QEMU, so an exited QEMU is reaped by PID 1. When PID 1
 * reaps slowly (this sandbox's init takes up to ~2 s), libvirt's destroy,
 * which waits until the process is gone, takes that long too: an artifact
 * of the host that would blur the revert figures. As a child subreaper this
 * program inherits QEMU and reaps it within ~0.1 s (only QEMU, and only
 * orphans). --no-reap shows the host as it is. */
static gpointer reaper(gpointer data)
{
    (void)data;
    pid_t seen = 0;
    gint64 since = 0;
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid > 0) {
            /* Only orphans: a zombie that stays 100 ms is nobody's to wait
             * for (libvirt waits at once for the processes it started
             * itself, e.g. QEMU probing its capabilities). */
            if (si.si_pid != seen) {
                seen = si.si_pid;
                since = g_get_monotonic_time();
            } else if (g_get_monotonic_time() - since > 100000) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/comm", (int)si.si_pid);
                g_autofree char *comm = NULL;
                if (g_file_get_contents(path, &comm, NULL, NULL) &&
                    g_str_has_prefix(comm, "qemu-system"))
                    waitpid(si.si_pid, NULL, 0);
            }
        }
        g_usleep(2000);
    }
    return NULL;
}

static bool run(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0;
}

/* Kills the QEMU processes of this run (their disks are in WORKDIR), showing
 * where their threads wait. */
static void kill_our_qemus(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", n);
        g_autofree char *cmd = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmd, &len, NULL) || len == 0)
            continue;
        for (gsize i = 0; i + 1 < len; i++)
            if (!cmd[i])
                cmd[i] = ' ';
        if (g_str_has_prefix(cmd, "/usr/bin/qemu-system") && strstr(cmd, workdir)) {
            g_autofree char *stacks = g_strdup_printf(
                "for t in /proc/%s/task/*; do echo \"  $(cat $t/comm): $(head -1 $t/stack)\"; done",
                n);
            run(stacks);
            kill(atoi(n), SIGKILL);
        }
    }
}

/* Fails the run if nothing happened for 5 minutes (a hung QEMU or libvirt),
 * after showing where QEMU's threads wait and killing them. */
static gpointer watchdog(gpointer data)
{
    (void)data;
    for (;;) {
        g_usleep(5 * G_USEC_PER_SEC);
        if (g_atomic_int_get(&last_progress_set) &&
            g_get_monotonic_time() - last_progress > 300 * G_USEC_PER_SEC) {
            printf("FAIL: no progress for 5 minutes; QEMU threads:\n");
            kill_our_qemus();
            _exit(1);
        }
    }
    return NULL;
}

/* ---- VMs -------------------------------------------------------------------- */

typedef struct {
    char *name, *disk, *log;
    GPtrArray *fill;
    guint mib;
    bool hugepages;
    virDomainPtr dom;
    Serial *serial;
    double start_ms;
} Vm;

/* Files of random data for RAM from 1 MiB up to 1 MiB below the top of low
 * memory (E820 keeps the last MiB for the firmware's tables), in pieces of at
 * most 1 GiB (QEMU reads a loader file with one read(), which stops at 2 GiB).
 * Above 3.5 GiB the pc machine keeps 3 GiB low and puts the rest above 4 GiB,
 * which stays zero. */
static GPtrArray *fill_files(guint mib)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    guint low = (mib > 3584 ? 3072 : mib) - 2;
    for (guint done = 0, i = 0; done < low; done += 1024, i++) {
        guint part = MIN(1024, low - done);
        char *path = g_strdup_printf("%s/fill-%u-%u.bin", workdir, mib, i);
        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_autofree char *cmd = g_strdup_printf(
                "head -c %uM /dev/urandom > '%s.tmp' && mv '%s.tmp' '%s'", part, path, path, path);
            if (!run(cmd))
                die("cannot make the random fill file", NULL);
        }
        g_ptr_array_add(files, path);
    }
    return files;
}

static char *domain_xml(const Vm *vm)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *dom = xmlNewNode(NULL, (const xmlChar *)"domain");
    xmlDocSetRootElement(doc, dom);
    xmlNs *qemu = xmlNewNs(dom, (const xmlChar *)"http://libvirt.org/schemas/domain/qemu/1.0",
                           (const xmlChar *)"qemu");
    xmlNewProp(dom, (const xmlChar *)"type", (const xmlChar *)vs_hv_domain_type());
    vs_xml_set_child_text(dom, "name", vm->name);
    g_autofree char *mem = g_strdup_printf("%u", vm->mib);
    xmlNewProp(vs_xml_set_child_text(dom, "memory", mem), (const xmlChar *)"unit",
               (const xmlChar *)"MiB");
    xmlNewProp(vs_xml_set_child_text(dom, "currentMemory", mem), (const xmlChar *)"unit",
               (const xmlChar *)"MiB");
    if (vm->hugepages)
        xmlNewChild(xmlNewChild(dom, NULL, (const xmlChar *)"memoryBacking", NULL), NULL,
                    (const xmlChar *)"hugepages", NULL);
    vs_xml_set_child_text(dom, "vcpu", "1");
    xmlNode *os = xmlNewChild(dom, NULL, (const xmlChar *)"os", NULL);
    xmlNewProp(xmlNewTextChild(os, NULL, (const xmlChar *)"type", (const xmlChar *)"hvm"),
               (const xmlChar *)"arch", (const xmlChar *)"x86_64");
    xmlNewProp(xmlNewChild(os, NULL, (const xmlChar *)"boot", NULL), (const xmlChar *)"dev",
               (const xmlChar *)"hd");
    xmlNewChild(xmlNewChild(dom, NULL, (const xmlChar *)"features", NULL), NULL,
                (const xmlChar *)"acpi", NULL);
    vs_xml_set_child_text(dom, "on_poweroff", "destroy");
    vs_xml_set_child_text(dom, "on_crash", "destroy");
    xmlNode *devices = xmlNewChild(dom, NULL, (const xmlChar *)"devices", NULL);
    xmlNode *disk = xmlNewChild(devices, NULL, (const xmlChar *)"disk", NULL);
    xmlNewProp(disk, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNewProp(disk, (const xmlChar *)"device", (const xmlChar *)"disk");
    xmlNode *driver = xmlNewChild(disk, NULL, (const xmlChar *)"driver", NULL);
    xmlNewProp(driver, (const xmlChar *)"name", (const xmlChar *)"qemu");
    xmlNewProp(driver, (const xmlChar *)"type", (const xmlChar *)"qcow2");
    xmlNewProp(xmlNewChild(disk, NULL, (const xmlChar *)"source", NULL), (const xmlChar *)"file",
               (const xmlChar *)vm->disk);
    xmlNode *target = xmlNewChild(disk, NULL, (const xmlChar *)"target", NULL);
    xmlNewProp(target, (const xmlChar *)"dev", (const xmlChar *)"vda");
    xmlNewProp(target, (const xmlChar *)"bus", (const xmlChar *)"virtio");
    xmlNode *serial = xmlNewChild(devices, NULL, (const xmlChar *)"serial", NULL);
    xmlNewProp(serial, (const xmlChar *)"type", (const xmlChar *)"file");
    xmlNode *source = xmlNewChild(serial, NULL, (const xmlChar *)"source", NULL);
    xmlNewProp(source, (const xmlChar *)"path", (const xmlChar *)vm->log);
    xmlNewProp(source, (const xmlChar *)"append", (const xmlChar *)"on");
    xmlNewProp(xmlNewChild(serial, NULL, (const xmlChar *)"target", NULL), (const xmlChar *)"port",
               (const xmlChar *)"0");
    xmlNewProp(xmlNewChild(devices, NULL, (const xmlChar *)"memballoon", NULL),
               (const xmlChar *)"model", (const xmlChar *)"none");
    /* Random data in all RAM above 1 MiB, written by QEMU before the BIOS. */
    xmlNode *cmdline = xmlNewChild(dom, qemu, (const xmlChar *)"commandline", NULL);
    for (guint i = 0; i < vm->fill->len; i++) {
        g_autofree char *loader =
            g_strdup_printf("loader,file=%s,addr=0x%llx,force-raw=on",
                            (char *)g_ptr_array_index(vm->fill, i), 0x100000ULL + ((guint64)i << 30));
        xmlNewProp(xmlNewChild(cmdline, qemu, (const xmlChar *)"arg", NULL),
                   (const xmlChar *)"value", (const xmlChar *)"-device");
        xmlNewProp(xmlNewChild(cmdline, qemu, (const xmlChar *)"arg", NULL),
                   (const xmlChar *)"value", (const xmlChar *)loader);
    }
    return vs_xml_to_string(doc);
}

static Vm *vm_boot(virConnectPtr conn, const char *name, guint mib, const char *image)
{
    Vm *vm = g_new0(Vm, 1);
    vm->name = g_strdup(name);
    vm->mib = mib;
    vm->hugepages = hugepages && !g_str_has_prefix(name, "proof");
    vm->disk = g_strdup_printf("%s/%s.qcow2", workdir, name);
    vm->log = g_strdup_printf("%s/%s.log", workdir, name);
    vm->fill = fill_files(mib);
    g_autofree char *cp = g_strdup_printf("cp '%s/%s' '%s'", workdir, image, vm->disk);
    if (!run(cp))
        die("cannot copy the guest image", NULL);
    g_autofree char *xml = domain_xml(vm);
    vm->dom = virDomainDefineXML(conn, xml);
    if (!vm->dom)
        die("cannot define the VM", NULL);
    vm->serial = serial_watch(vm->log);
    double t = now_ms();
    if (virDomainCreate(vm->dom) < 0)
        die("cannot start the VM", NULL);
    vm->start_ms = now_ms() - t;
    if (!serial_wait_running(vm->serial, 20, 120000))
        die("the guest does not print its counter", NULL);
    printf("VM %s (%u MiB%s) runs; QEMU start took %.0f ms\n", name, mib,
           vm->hugepages ? ", RAM on 2 MiB huge pages" : "", vm->start_ms);
    return vm;
}

static void vm_remove(Vm *vm)
{
    if (virDomainIsActive(vm->dom) == 1)
        virDomainDestroy(vm->dom);
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(vm->dom, &snaps, 0);
    for (int i = 0; i < n; i++) {
        virDomainSnapshotDelete(snaps[i], VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    g_autofree char *uuid = vs_hv_uuid(vm->dom);
    vs_live_forget_vm(uuid);
    virDomainUndefine(vm->dom);
    virDomainFree(vm->dom);
    serial_stop(vm->serial);
    g_unlink(vm->disk);
    g_unlink(vm->log);
    g_free(vm->name);
    g_free(vm->disk);
    g_free(vm->log);
    g_ptr_array_unref(vm->fill);
    g_free(vm);
}

/* The counter the guest last wrote to its disk, inside internal snapshot TAG
 * of IMAGE (read while the VM runs: -U). */
static long disk_counter(const char *image, const char *tag)
{
    g_autofree char *raw = g_strdup_printf("%s/disk-%s.raw", workdir, tag);
    g_autofree char *cmd = g_strdup_printf(
        "qemu-img convert -U -f qcow2 -O raw -l snapshot.name='%s' '%s' '%s'", tag, image, raw);
    if (!run(cmd))
        return -1;
    unsigned char sector[8] = {0};
    int fd = open(raw, O_RDONLY);
    ssize_t n = fd >= 0 ? pread(fd, sector, sizeof sector, 2047 * 512) : -1;
    if (fd >= 0)
        close(fd);
    g_unlink(raw);
    if (n != 8 || memcmp(sector, "VSDC", 4) != 0)
        return -1;
    return (long)((guint32)sector[4] | (guint32)sector[5] << 8 | (guint32)sector[6] << 16 |
                  (guint32)sector[7] << 24);
}

static bool image_has_tag(const char *image, const char *tag)
{
    g_autofree char *cmd =
        g_strdup_printf("qemu-img snapshot -l -U '%s' | awk '{print $2}' | grep -qx '%s'", image, tag);
    return run(cmd);
}

static virDomainSnapshotPtr take_live(Vm *vm, const char *name, VsLiveStats *st)
{
    g_autofree char *uuid = vs_hv_uuid(vm->dom);
    g_autofree char *ram = vs_live_ram_path(uuid, name);
    g_autoptr(GError) error = NULL;
    virDomainSnapshotPtr snap = vs_live_take(vm->dom, name, "live test", ram, NULL, NULL, NULL, st,
                                                &error);
    if (!snap)
        die("live snapshot", error);
    return snap;
}

/* PAUSE: QEMU's STOP to RESUME; LIBVIRT_PAUSE: libvirt's SUSPENDED to RESUMED. */
static virDomainSnapshotPtr take_classic(Vm *vm, const char *name, double *pause,
                                         double *libvirt_pause, double *total)
{
    g_autofree char *xml =
        g_strdup_printf("<domainsnapshot><name>%s</name></domainsnapshot>", name);
    VsPauseMeter *m = vs_pause_meter_start(vm->dom);
    double t = now_ms();
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(vm->dom, xml, 0);
    *total = now_ms() - t;
    *pause = vs_pause_meter_finish(m, libvirt_pause);
    if (!snap)
        die("classic snapshot", NULL);
    return snap;
}

/* ---- proof ------------------------------------------------------------------- */

static void proof(virConnectPtr conn)
{
    printf("\n== proof: 256 MiB guest ==\n");
    Vm *vm = vm_boot(conn, "proof", 256, PROOF_IMAGE);
    g_autoptr(GError) error = NULL;
    CHECK(vs_live_supported(vm->dom, &error), "live snapshots supported here%s%s",
          error ? ": " : "", error ? error->message : "");
    g_usleep(1500 * 1000);

    /* Three live snapshots in a row; the last one (live1) is kept. For each,
     * the guest's longest silence during the snapshot, minus its usual
     * interval, is compared with the same figure over the 3 s before it
     * (what this host's load does to the guest without any snapshot). */
    VsLiveStats st;
    double pause[3], stall[3], noise[3], usual = 0;
    Tick at = {0, -1};
    virDomainSnapshotPtr live = NULL;
    for (int k = 0; k < 3; k++) {
        g_usleep(3 * G_USEC_PER_SEC);
        double t_before = now_ms();
        noise[k] = serial_stall(vm->serial, t_before - 3000, t_before, NULL);
        at = serial_last(vm->serial);
        g_autofree char *name = g_strdup_printf(k == 2 ? "live1" : "warm%d", k);
        live = take_live(vm, name, &st);
        double t_after = now_ms();
        g_usleep(1500 * 1000);
        stall[k] = serial_stall(vm->serial, t_before, t_after, &usual);
        pause[k] = st.request_ms;
        printf("  live snapshot %s: VCPUs stopped %.1f ms, pause request to libvirt's resumed "
               "%.1f ms (QEMU setup %.0f + downtime %.0f ms), total "
               "%.0f ms, RAM file %.1f MiB; guest silent %.0f ms beyond its usual %.0f ms "
               "(%.0f ms in the 3 s before)\n",
               name, st.downtime_ms, st.request_ms, st.qemu_setup_ms, st.qemu_downtime_ms, st.total_ms,
               st.memory_bytes / 1048576.0, stall[k], usual, noise[k]);
        if (k < 2) {
            g_autoptr(GError) e = NULL;
            if (!vs_live_delete(live, false, &e))
                die("delete", e);
            virDomainSnapshotFree(live);
        }
    }
    qsort(pause, 3, sizeof(double), cmp_double);
    double excess[3];
    for (int k = 0; k < 3; k++)
        excess[k] = stall[k] - noise[k];
    qsort(excess, 3, sizeof(double), cmp_double);
    CHECK(pause[1] < STALL_LIMIT_MS, "pause: median %.1f ms < %.0f ms (max %.1f)", pause[1],
          STALL_LIMIT_MS, pause[2]);
    CHECK(excess[1] <= SILENCE_LIMIT_MS,
          "guest output kept going: median silence %.0f ms beyond its usual rhythm and this "
          "host's own noise (limit %.0f ms; max %.0f)",
          excess[1], SILENCE_LIMIT_MS, excess[2]);
    CHECK(vs_live_is_live(live), "libvirt lists it as a live snapshot");
    g_autoptr(virDomainSnapshot) cur = virDomainSnapshotCurrent(vm->dom, 0);
    CHECK(cur && strcmp(virDomainSnapshotGetName(cur), "live1") == 0, "it is the current snapshot");
    g_autofree char *ram = vs_live_snapshot_ram(live);
    CHECK(ram && g_file_test(ram, G_FILE_TEST_EXISTS), "RAM file %s exists", ram ? ram : "?");
    CHECK(image_has_tag(vm->disk, "live1"), "the disk holds the qcow2 tag");
    long on_disk = disk_counter(vm->disk, "live1");

    /* Let the guest run on, then revert. */
    g_usleep(3 * 1000 * 1000);
    Tick before_revert = serial_last(vm->serial);
    double revert_ms = 0;
    error = NULL;
    double t_rev = now_ms();
    CHECK(vs_live_revert(live, &revert_ms, &error), "revert%s%s", error ? ": " : "",
          error ? error->message : "");
    Tick first = serial_first_drop(vm->serial, t_rev, 20000);
    long ram_counter = first.n - 1; /* the guest increments before printing */
    printf("  counter: %ld when the snapshot began, %ld before the revert, first after it %ld; "
           "on disk in the snapshot %ld; revert took %.0f ms\n",
           at.n, before_revert.n, first.n, on_disk, revert_ms);
    CHECK(first.n >= 0 && labs(ram_counter - at.n) <= 2,
          "the counter resumes from the snapshot moment (%ld vs %ld)", ram_counter, at.n);
    CHECK(before_revert.n > at.n + 10, "and not from where it was (%ld)", before_revert.n);
    CHECK(on_disk >= 0 && labs(on_disk - ram_counter) <= 1,
          "disk and RAM are from the same instant (disk %ld, RAM %ld)", on_disk, ram_counter);
    int state = 0, reason = 0;
    virDomainGetState(vm->dom, &state, &reason, 0);
    CHECK(state == VIR_DOMAIN_RUNNING && reason == VIR_DOMAIN_RUNNING_RESTORED,
          "libvirt runs the VM (state %d, reason %d: restored)", state, reason);
    cur = (virDomainSnapshotFree(cur), virDomainSnapshotCurrent(vm->dom, 0));
    CHECK(cur && strcmp(virDomainSnapshotGetName(cur), "live1") == 0, "live1 is current again");
    CHECK(serial_wait_running(vm->serial, 10, 10000), "the guest runs on after the revert");

    /* A mixed tree: live1 → classic1 → live2; delete live1 with children. */
    double cpause, clibvirt, ctotal;
    virDomainSnapshotPtr classic = take_classic(vm, "classic1", &cpause, &clibvirt, &ctotal);
    printf("  classic snapshot: paused %.0f ms (libvirt's events %.0f ms), total %.0f ms\n",
           cpause, clibvirt, ctotal);
    virDomainSnapshotPtr live2 = take_live(vm, "live2", &st);
    g_autoptr(virDomainSnapshot) parent = virDomainSnapshotGetParent(live2, 0);
    CHECK(parent && strcmp(virDomainSnapshotGetName(parent), "classic1") == 0,
          "a live snapshot's parent is the current snapshot (classic1)");
    g_autofree char *ram2 = vs_live_snapshot_ram(live2);

    /* Revert to the classic snapshot works with live snapshots around. */
    CHECK(virDomainRevertToSnapshot(classic, 0) == 0, "classic revert still works");

    /* Revert of a VM that is shut off starts it from the snapshot. */
    virDomainDestroy(vm->dom);
    double t_off = now_ms();
    error = NULL;
    CHECK(vs_live_revert(live, NULL, &error), "revert a shut-off VM to live1%s%s",
          error ? ": " : "", error ? error->message : "");
    Tick again = serial_first_after(vm->serial, t_off, 20000);
    CHECK(again.n >= 0 && labs(again.n - 1 - at.n) <= 2,
          "it runs from live1's moment again (counter %ld, snapshot %ld)", again.n - 1, at.n);
    CHECK(virDomainRevertToSnapshot(classic, 0) == 0, "and back to classic1");

    /* Clone: disk copied with its tags, RAM file copied, tree redefined on
     * the clone with name, UUID, disk, serial log and RAM path rewritten. */
    {
        g_autofree char *cdisk = g_strdup_printf("%s/proof-clone.qcow2", workdir);
        g_autofree char *clog = g_strdup_printf("%s/proof-clone.log", workdir);
        g_autofree char *cmd = g_strdup_printf("cp '%s' '%s'", vm->disk, cdisk);
        g_autofree char *cuuid = g_uuid_string_random();
        CHECK(run(cmd), "clone: disk copied");
        g_autoptr(xmlDoc) def = vs_hv_domain_xml(vm->dom, VIR_DOMAIN_XML_INACTIVE |
                                                     VIR_DOMAIN_XML_SECURE, NULL);
        g_autofree char *txt = vs_xml_to_string(def);
        /* the simplest faithful rewrite for a test: string replacement */
        g_autofree char *uuid = vs_hv_uuid(vm->dom);
        GString *x = g_string_new(txt);
        g_string_replace(x, "<name>proof</name>", "<name>proof-clone</name>", 0);
        g_string_replace(x, uuid, cuuid, 0);
        g_string_replace(x, vm->disk, cdisk, 0);
        g_string_replace(x, vm->log, clog, 0);
        g_autoptr(virDomain) clone = virDomainDefineXML(conn, x->str);
        g_string_free(x, TRUE);
        CHECK(clone != NULL, "clone: defined");
        g_autofree char *cram = vs_live_ram_path(cuuid, "live2");
        error = NULL;
        CHECK(vs_live_copy_ram(ram2, cram, &error), "clone: RAM file copied");
        virDomainSnapshotPtr *snaps = NULL;
        int n = virDomainListAllSnapshots(vm->dom, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
        for (int i = 0; i < n; i++) {
            g_autofree char *sx = virDomainSnapshotGetXMLDesc(snaps[i], VIR_DOMAIN_SNAPSHOT_XML_SECURE);
            g_autofree char *sram = vs_live_snapshot_ram(snaps[i]);
            GString *y = g_string_new(sx);
            g_string_replace(y, "<name>proof</name>", "<name>proof-clone</name>", 0);
            g_string_replace(y, uuid, cuuid, 0);
            g_string_replace(y, vm->disk, cdisk, 0);
            g_string_replace(y, vm->log, clog, 0);
            if (sram) {
                g_autofree char *nram = vs_live_ram_path(cuuid, virDomainSnapshotGetName(snaps[i]));
                g_string_replace(y, sram, nram, 0);
            }
            g_autoptr(virDomainSnapshot) d =
                virDomainSnapshotCreateXML(clone, y->str, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE);
            if (!d)
                printf("  (redefine %s: %s)\n", virDomainSnapshotGetName(snaps[i]),
                       virGetLastErrorMessage());
            g_string_free(y, TRUE);
            virDomainSnapshotFree(snaps[i]);
        }
        free(snaps);
        g_autoptr(virDomainSnapshot) clive = virDomainSnapshotLookupByName(clone, "live2", 0);
        CHECK(clive && vs_live_is_live(clive), "clone: live2 redefined on the clone");
        Serial *cs = serial_watch(clog);
        error = NULL;
        CHECK(clive && vs_live_revert(clive, NULL, &error), "clone: revert to live2%s%s",
              error ? ": " : "", error ? error->message : "");
        CHECK(serial_wait_running(cs, 5, 20000), "clone: runs from the copied RAM");
        virDomainInfo info;
        CHECK(virDomainGetInfo(vm->dom, &info) == 0 && info.state == VIR_DOMAIN_RUNNING,
              "clone: the original still runs");
        if (clive) {
            error = NULL;
            CHECK(vs_live_delete(clive, false, &error), "clone: delete live2 on the clone");
            CHECK(!g_file_test(cram, G_FILE_TEST_EXISTS), "clone: its RAM copy is gone");
            CHECK(g_file_test(ram2, G_FILE_TEST_EXISTS), "clone: the original's RAM file stays");
        }
        virDomainDestroy(clone);
        snaps = NULL;
        n = virDomainListAllSnapshots(clone, &snaps, 0);
        for (int i = 0; i < n; i++) {
            virDomainSnapshotDelete(snaps[i], VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY);
            virDomainSnapshotFree(snaps[i]);
        }
        free(snaps);
        vs_live_forget_vm(cuuid);
        virDomainUndefine(clone);
        serial_stop(cs);
        g_unlink(cdisk);
        g_unlink(clog);
    }

    error = NULL;
    CHECK(vs_live_delete(live, true, &error), "delete live1 with its subtree%s%s",
          error ? ": " : "", error ? error->message : "");
    int left = virDomainSnapshotNum(vm->dom, 0);
    CHECK(left == 0, "no snapshot metadata left (%d)", left);
    CHECK(!image_has_tag(vm->disk, "live1") && !image_has_tag(vm->disk, "classic1") &&
              !image_has_tag(vm->disk, "live2"),
          "no qcow2 tag left");
    CHECK(!g_file_test(ram, G_FILE_TEST_EXISTS) && !g_file_test(ram2, G_FILE_TEST_EXISTS),
          "no RAM file left");
    virDomainSnapshotFree(live);
    virDomainSnapshotFree(classic);
    virDomainSnapshotFree(live2);

    /* A failing take leaves nothing: a RAM path that exists already. */
    g_autofree char *uuid = vs_hv_uuid(vm->dom);
    g_autofree char *busy = vs_live_ram_path(uuid, "busy");
    g_file_set_contents(busy, "x", 1, NULL);
    error = NULL;
    virDomainSnapshotPtr none = vs_live_take(vm->dom, "busy", NULL, busy, NULL, NULL, NULL, NULL,
                                                &error);
    CHECK(!none && !image_has_tag(vm->disk, "busy") && virDomainSnapshotNum(vm->dom, 0) == 0,
          "a failed take leaves no tag and no metadata (%s)", error ? error->message : "?");
    virDomainGetState(vm->dom, &state, &reason, 0);
    CHECK(state == VIR_DOMAIN_RUNNING, "and the VM runs");
    g_unlink(busy);

    /* A paused VM is refused (a live snapshot would resume it). */
    virDomainSuspend(vm->dom);
    error = NULL;
    CHECK(!vs_live_supported(vm->dom, &error) && error &&
              g_error_matches(error, VS_ERROR, VS_ERR_CONFLICT),
          "a paused VM: %s", error ? error->message : "?");
    virDomainResume(vm->dom);

    /* Crash recovery: a take cut short (tag written, the copy running, the
     * capability on, no metadata) is undone by vs_live_abandon. */
    {
        g_autofree char *path = vs_live_ram_path(uuid, "crashed");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        char *reply = NULL;
        bool ok = fd >= 0 &&
                  virDomainQemuMonitorCommandWithFiles(
                      vm->dom, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"crash\"}}", 1,
                      &fd, NULL, NULL, &reply, 0) == 0;
        free(reply);
        const char *cmds[] = {
            "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
            "[{\"capability\":\"background-snapshot\",\"state\":true}]}}",
            "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":"
            "1099511627776}}",
            "{\"execute\":\"stop\"}",
            "{\"execute\":\"blockdev-snapshot-internal-sync\",\"arguments\":"
            "{\"device\":\"libvirt-1-format\",\"name\":\"crashed\"}}",
            "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:crash\"}}"};
        for (size_t i = 0; ok && i < G_N_ELEMENTS(cmds); i++) {
            ok = virDomainQemuMonitorCommand(vm->dom, cmds[i], &reply, 0) == 0 &&
                 !strstr(reply, "\"error\"");
            if (!ok)
                printf("  (%s: %s)\n", cmds[i], reply ? reply : virGetLastErrorMessage());
            free(reply);
            reply = NULL;
        }
        if (fd >= 0)
            close(fd);
        CHECK(ok, "simulated a take cut short");
        vs_live_abandon(vm->dom, "crashed", path, true, 134217728);
        virDomainQemuMonitorCommand(vm->dom, "{\"execute\":\"query-migrate-parameters\"}",
                                    &reply, 0);
        bool bandwidth_back = reply && strstr(reply, "\"max-bandwidth\":134217728");
        free(reply);
        virDomainQemuMonitorCommand(vm->dom, "{\"execute\":\"query-migrate\"}", &reply, 0);
        bool stopped = reply && !strstr(reply, "\"active\"") && !strstr(reply, "\"setup\"");
        free(reply);
        virDomainQemuMonitorCommand(vm->dom, "{\"execute\":\"query-migrate-capabilities\"}",
                                    &reply, 0);
        bool caps_off = reply && strstr(reply, "\"state\":false,\"capability\":\"background-snapshot\"");
        free(reply);
        virDomainGetState(vm->dom, &state, &reason, 0);
        CHECK(stopped && caps_off && bandwidth_back && !image_has_tag(vm->disk, "crashed") &&
                  !g_file_test(path, G_FILE_TEST_EXISTS) && state == VIR_DOMAIN_RUNNING,
              "vs_live_abandon: copy cancelled %d, capability off %d, bandwidth back %d, tag "
              "gone, file gone, VM runs (state %d)",
              stopped, caps_off != 0, bandwidth_back, state);
        CHECK(serial_wait_running(vm->serial, 5, 10000), "the guest runs on");
    }
    vm_remove(vm);
}

/* ---- benchmark ----------------------------------------------------------------- */

typedef struct {
    guint mib;
    GArray *c_pause, *c_total, *c_revert, *l_pause, *l_qemu, *l_setup, *l_total, *l_revert,
        *l_stall, *c_stall, *l_request;
    double mem_mib, start_ms;
} Row;

static double median(GArray *a)
{
    if (!a->len)
        return NAN;
    g_array_sort(a, cmp_double);
    return a->len % 2 ? g_array_index(a, double, a->len / 2)
                      : (g_array_index(a, double, a->len / 2 - 1) +
                         g_array_index(a, double, a->len / 2)) / 2;
}

static double maximum(GArray *a)
{
    double m = NAN;
    for (guint i = 0; i < a->len; i++)
        m = i == 0 ? g_array_index(a, double, 0) : MAX(m, g_array_index(a, double, i));
    return m;
}

static void add(GArray *a, double v) { g_array_append_val(a, v); }

static Row bench(virConnectPtr conn, guint mib, int repeat, int live_repeat)
{
    printf("\n== benchmark: %u MiB guest, RAM filled with random data ==\n", mib);
    Row r = {.mib = mib};
    GArray **all[] = {&r.c_pause, &r.c_total, &r.c_revert, &r.l_pause, &r.l_qemu, &r.l_setup,
                      &r.l_total, &r.l_revert, &r.l_stall, &r.c_stall, &r.l_request};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
        *all[i] = g_array_new(FALSE, FALSE, sizeof(double));
    g_autofree char *name = g_strdup_printf("bench%u", mib);
    Vm *vm = vm_boot(conn, name, mib, quiet_guest ? PROOF_IMAGE : "guest-dirty.qcow2");
    r.start_ms = vm->start_ms;
    for (int i = 0; i < repeat; i++) {
        g_usleep(1000 * 1000);
        double pause, libvirt_pause, total, usual;
        g_autofree char *cn = g_strdup_printf("classic%d", i);
        double t0 = now_ms();
        virDomainSnapshotPtr c = take_classic(vm, cn, &pause, &libvirt_pause, &total);
        double stall = serial_stall(vm->serial, t0, now_ms(), &usual);
        g_usleep(1000 * 1000);
        stall = serial_stall(vm->serial, t0, t0 + total, &usual);
        add(r.c_pause, pause);
        add(r.c_total, total);
        add(r.c_stall, stall);
        printf("  classic #%d: paused %.0f ms (libvirt's events %.0f ms), total %.0f ms, guest "
               "stalled %.0f ms\n", i, pause, libvirt_pause, total, stall);

        g_autofree char *ln = g_strdup_printf("live%d", i);
        VsLiveStats st;
        t0 = now_ms();
        virDomainSnapshotPtr l = take_live(vm, ln, &st);
        g_usleep(1000 * 1000);
        stall = serial_stall(vm->serial, t0, t0 + st.total_ms, &usual);
        add(r.l_pause, st.downtime_ms);
        add(r.l_request, st.request_ms);
        add(r.l_qemu, st.qemu_downtime_ms);
        add(r.l_setup, st.qemu_setup_ms);
        add(r.l_total, st.total_ms);
        add(r.l_stall, stall);
        r.mem_mib = st.memory_bytes / 1048576.0;
        printf("  live #%d: paused %.1f ms (request to libvirt's resumed %.1f ms; QEMU setup %.0f "
               "+ downtime %.0f ms), total %.0f ms, RAM file %.0f MiB, guest stalled %.0f ms\n",
               i, st.downtime_ms, st.request_ms, st.qemu_setup_ms, st.qemu_downtime_ms, st.total_ms, r.mem_mib,
               stall);

        /* Reverts, both with the VM running (unless --no-revert). */
        g_autoptr(GError) error = NULL;
        if (!no_revert) {
            double t = now_ms();
            if (virDomainRevertToSnapshot(c, 0) < 0)
                die("classic revert", NULL);
            double crev = now_ms() - t;
            if (!serial_wait_running(vm->serial, 3, 30000))
                die("guest after classic revert", NULL);
            add(r.c_revert, crev);
            double lrev = 0;
            if (!vs_live_revert(l, &lrev, &error))
                die("live revert", error);
            if (!serial_wait_running(vm->serial, 3, 30000))
                die("guest after live revert", NULL);
            add(r.l_revert, lrev);
            printf("  revert: classic %.0f ms, live %.0f ms\n", crev, lrev);
        }

        if (!vs_live_delete(l, false, &error))
            die("live delete", error);
        if (virDomainSnapshotDelete(c, 0) < 0)
            die("classic delete", NULL);
        virDomainSnapshotFree(l);
        virDomainSnapshotFree(c);
    }
    /* More live snapshots in a row, for the spread of the pause. */
    for (int i = 0; i < live_repeat; i++) {
        g_usleep(500 * 1000);
        g_autofree char *ln = g_strdup_printf("extra%d", i);
        VsLiveStats st;
        double t0 = now_ms(), usual;
        virDomainSnapshotPtr l = take_live(vm, ln, &st);
        g_usleep(500 * 1000);
        double stall = serial_stall(vm->serial, t0, t0 + st.total_ms, &usual);
        add(r.l_pause, st.downtime_ms);
        add(r.l_request, st.request_ms);
        add(r.l_qemu, st.qemu_downtime_ms);
        add(r.l_setup, st.qemu_setup_ms);
        add(r.l_total, st.total_ms);
        add(r.l_stall, stall);
        printf("  live extra #%d: paused %.1f ms (request to libvirt's resumed %.1f ms; QEMU "
               "setup %.0f + downtime %.0f ms), total %.0f ms, guest stalled %.0f ms\n",
               i, st.downtime_ms, st.request_ms, st.qemu_setup_ms, st.qemu_downtime_ms, st.total_ms, stall);
        g_autoptr(GError) error = NULL;
        if (!vs_live_delete(l, false, &error))
            die("live delete", error);
        virDomainSnapshotFree(l);
    }
    vm_remove(vm);
    return r;
}

int main(int argc, char **argv)
{
    const char *sizes = "256,1024";
    int repeat = 3, live_repeat = 10;
    bool skip_proof = false, keep = false, reap = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--live-repeat") && i + 1 < argc)
            live_repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-reap"))
            reap = false;
        else if (!strcmp(argv[i], "--skip-proof"))
            skip_proof = true;
        else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (!strcmp(argv[i], "--hugepages"))
            hugepages = true;
        else if (!strcmp(argv[i], "--quiet-guest"))
            quiet_guest = true;
        else if (!strcmp(argv[i], "--no-revert"))
            no_revert = true;
        else {
            fprintf(stderr, "usage: %s [--sizes 256,1024] [--repeat N] [--live-repeat N] [--no-reap] "
                    "[--skip-proof] [--keep] [--hugepages] [--quiet-guest] [--no-revert]\n",
                    argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (g_getenv("VS_LIVE_STALL_MS"))
        STALL_LIMIT_MS = g_ascii_strtod(g_getenv("VS_LIVE_STALL_MS"), NULL);
    if (g_getenv("VS_LIVE_SILENCE_MS"))
        SILENCE_LIMIT_MS = g_ascii_strtod(g_getenv("VS_LIVE_SILENCE_MS"), NULL);
    if (geteuid() != 0 || access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("SKIP: needs root and /dev/kvm\n");
        return 77;
    }
    vs_log_set_level(g_getenv("VS_LIVE_DEBUG") ? VS_LOG_DEBUG : VS_LOG_WARN);
    g_thread_unref(g_thread_new("watchdog", watchdog, NULL));
    if (reap && prctl(PR_SET_CHILD_SUBREAPER, 1) == 0)
        g_thread_unref(g_thread_new("reaper", reaper, NULL));
    printf("QEMU processes reaped by %s\n", reap ? "this program (child subreaper)" : "PID 1");
    workdir = g_strdup("/var/tmp/vs-live-XXXXXX");
    if (!g_mkdtemp(workdir))
        die("mkdtemp", NULL);
    const char *src = g_getenv("VS_SOURCE_DIR") ? g_getenv("VS_SOURCE_DIR") : VS_SOURCE_DIR;
    g_autofree char *build = g_strdup_printf("'%s/tests/live/build-guest-dirty.sh' '%s'", src,
                                             workdir);
    g_autofree char *build2 = g_strdup_printf("%s %s", build, PROOF_PAGES);
    if (!run(build) || !run(build2))
        die("cannot build the guest", NULL);
    g_autofree char *state = g_build_filename(workdir, "state", NULL);
    VsHvConfig config = {.state_dir = state};
    g_autoptr(GError) error = NULL;
    if (!vs_hv_init(&config, &error))
        die("libvirt", error);
    if (strcmp(vs_hv_domain_type(), "kvm") != 0) {
        printf("SKIP: KVM is not usable\n");
        return 77;
    }
    g_autoptr(virConnect) conn = vs_hv_connect(&error);
    if (!conn)
        die("libvirt", error);
    printf("state directory %s\n", state);

    if (!skip_proof)
        proof(conn);

    g_auto(GStrv) list = g_strsplit(sizes, ",", -1);
    GArray *rows = g_array_new(FALSE, FALSE, sizeof(Row));
    for (char **s = list; *s && **s && (repeat > 0 || live_repeat > 0); s++) {
        Row r = bench(conn, (guint)atoi(*s), repeat, live_repeat);
        g_array_append_val(rows, r);
    }
    if (rows->len) {
        printf("\n== results in ms: median [max]; classic and reverts %d runs, live pause %d "
               "runs ==\n",
               repeat, repeat + live_repeat);
        printf("%-8s | %-14s %-7s %-14s | %-28s %-16s %-7s %-14s %-9s | %-14s %-14s\n", "RAM",
               "classic pause", "total", "guest stall", "live pause", "libvirt view", "total",
               "guest stall", "RAM file", "classic revert", "live revert");
        for (guint i = 0; i < rows->len; i++) {
            Row *r = &g_array_index(rows, Row, i);
            g_autofree char *ram = g_strdup_printf("%u MiB", r->mib);
            g_autofree char *cp = g_strdup_printf("%.0f [%.0f]", median(r->c_pause), maximum(r->c_pause));
            g_autofree char *lp =
                g_strdup_printf("%.1f [%.1f] (QEMU %.0f+%.0f)", median(r->l_pause),
                                maximum(r->l_pause), median(r->l_setup), median(r->l_qemu));
            g_autofree char *cs = g_strdup_printf("%.0f [%.0f]", median(r->c_stall), maximum(r->c_stall));
            g_autofree char *ls = g_strdup_printf("%.0f [%.0f]", median(r->l_stall), maximum(r->l_stall));
            g_autofree char *mf = g_strdup_printf("%.0f MiB", r->mem_mib);
            g_autofree char *lr =
                g_strdup_printf("%.1f [%.1f]", median(r->l_request), maximum(r->l_request));
            printf("%-8s | %-14s %-7.0f %-14s | %-28s %-16s %-7.0f %-14s %-9s | %-14.0f %-14.0f\n",
                   ram, cp, median(r->c_total), cs, lp, lr, median(r->l_total), ls, mf,
                   median(r->c_revert), median(r->l_revert));
        }
        printf("(pauses: from QEMU's STOP to its RESUME event, as QEMU stamped them; in "
               "brackets after the live pause QEMU's setup-time (its page walk, then held at the "
               "pipe through the pause) + its own downtime; libvirt view: from the pause request until libvirt reported the VM "
               "running)\n");
        printf("(QEMU start of the test VM, with its loader device reading the fill file: ");
        for (guint i = 0; i < rows->len; i++)
            printf("%s%u MiB %.0f ms", i ? ", " : "", g_array_index(rows, Row, i).mib,
                   g_array_index(rows, Row, i).start_ms);
        printf("; a live revert starts QEMU too)\n");
    }
    if (!keep) {
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", workdir);
        virConnectClose(g_steal_pointer(&conn));
        vs_hv_shutdown();
        run(rm);
    }
    printf("\n%s (%d failure%s)\n", failures ? "FAIL" : "PASS", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
