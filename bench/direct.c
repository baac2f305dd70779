/* direct.c: vsbench-direct, the libvirt baseline of the benchmark. It does
 * what virtsnapd's REST calls do, by direct libvirt calls in C on its own
 * connection of the same kind, and times them. It takes commands on stdin
 * from bench/run.sh (see cmd_serve), so that each step can run back to back
 * with the same step through the API and through virsh:
 *   - on test:///default (an in-memory driver of its own): build the same
 *     snapshot tree as run.sh builds through the API and time listing
 *     roots, listing the hub's 100 children, looking up a snapshot and
 *     looking up the VM (with its current snapshot and count), each
 *     fetching the same data the API returns (snapshot XML parsed with
 *     libxml2, IsCurrent, NumChildren; domain info, XML, block info...);
 *     snapshot create and revert;
 *   - on an embedded QEMU root of its own, with a VM identical to the
 *     daemon's: snapshot create and revert, and how long the guest stands
 *     still (libvirt lifecycle events: SUSPENDED → RESUMED for a create;
 *     the call → RESUMED for a revert, which restarts QEMU) and, given its
 *     serial log, the gap in the guest's output.
 * Prints "S <key> <value>" samples (µs) for run.sh.
 *
 *   vsbench-direct URI serve */
#include "common.h"
#include "watch.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>

static virConnectPtr conn;

/* ---- libvirt event loop and lifecycle events ------------------------------ */

typedef struct {
    double t;
    int event, detail;
} Event;

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static Event events[65536];
static int n_events;

static void *event_loop(void *unused)
{
    (void)unused;
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

static int on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)c;
    (void)dom;
    (void)opaque;
    double t = now_us();
    pthread_mutex_lock(&ev_lock);
    if (n_events < (int)(sizeof events / sizeof *events))
        events[n_events++] = (Event){t, event, detail};
    pthread_mutex_unlock(&ev_lock);
    return 0;
}

/* Time from the first FIRST event at or after FROM (or from FROM itself
 * when FIRST is -1) to the first RESUMED after it; waits up to 2 s. */
static double event_gap(double from, int first)
{
    for (int waited = 0; waited < 2000; waited += 5) {
        double a = first < 0 ? from : -1, b = -1;
        pthread_mutex_lock(&ev_lock);
        for (int i = 0; i < n_events; i++) {
            if (events[i].t < from)
                continue;
            if (a < 0 && events[i].event == first)
                a = events[i].t;
            else if (a >= 0 && events[i].event == VIR_DOMAIN_EVENT_RESUMED)
                b = events[i].t;
            if (b >= 0)
                break;
        }
        pthread_mutex_unlock(&ev_lock);
        if (a >= 0 && b >= 0)
            return b - a;
        usleep(5000);
    }
    return -1;
}

/* ---- what the API shows ---------------------------------------------------- */

typedef struct {
    char name[128], state[32], parent[128];
    char *description;
    long long created;
    bool memory, current;
    int children;
} Info;

static xmlNode *child(xmlNode *node, const char *name)
{
    for (xmlNode *n = node ? node->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name))
            return n;
    return NULL;
}

static void text_of(xmlNode *node, char *buf, size_t len)
{
    xmlChar *t = node ? xmlNodeGetContent(node) : NULL;
    snprintf(buf, len, "%s", t ? (const char *)t : "");
    xmlFree(t);
}

static void info_of(virDomainSnapshotPtr snap, Info *info)
{
    char *xml = virDomainSnapshotGetXMLDesc(snap, 0);
    if (!xml)
        die("virDomainSnapshotGetXMLDesc: %s", virGetLastErrorMessage());
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "snap.xml", "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        die("cannot parse snapshot XML");
    xmlNode *root = xmlDocGetRootElement(doc);
    char buf[64];
    snprintf(info->name, sizeof info->name, "%s", virDomainSnapshotGetName(snap));
    text_of(child(root, "state"), info->state, sizeof info->state);
    text_of(child(root, "creationTime"), buf, sizeof buf);
    info->created = atoll(buf);
    text_of(child(child(root, "parent"), "name"), info->parent, sizeof info->parent);
    xmlChar *desc = xmlNodeGetContent(child(root, "description"));
    info->description = strdup(desc ? (const char *)desc : "");
    xmlFree(desc);
    xmlChar *mem = xmlGetProp(child(root, "memory"), (const xmlChar *)"snapshot");
    info->memory = mem ? strcmp((const char *)mem, "no") != 0 : !strcmp(info->state, "running");
    xmlFree(mem);
    xmlFreeDoc(doc);
    free(xml);
    info->current = virDomainSnapshotIsCurrent(snap, 0) == 1;
    info->children = virDomainSnapshotNumChildren(snap, 0);
}

static int cmp_info(const void *a, const void *b)
{
    const Info *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->name, y->name);
}

static virDomainPtr domain(const char *vm)
{
    virDomainPtr dom = virDomainLookupByName(conn, vm);
    if (!dom)
        die("no VM %s: %s", vm, virGetLastErrorMessage());
    return dom;
}

static void list_infos(virDomainSnapshotPtr *snaps, int n)
{
    if (n < 0)
        die("listing snapshots: %s", virGetLastErrorMessage());
    Info *infos = calloc((size_t)n + 1, sizeof *infos);
    for (int i = 0; i < n; i++) {
        info_of(snaps[i], &infos[i]);
        virDomainSnapshotFree(snaps[i]);
    }
    qsort(infos, (size_t)n, sizeof *infos, cmp_info);
    for (int i = 0; i < n; i++)
        free(infos[i].description);
    free(infos);
    free(snaps);
}

static void op_lookup(const char *vm, const char *name)
{
    virDomainPtr dom = domain(vm);
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(dom, uuid);
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (!snap)
        die("no snapshot %s: %s", name, virGetLastErrorMessage());
    Info info;
    info_of(snap, &info);
    free(info.description);
    virDomainSnapshotFree(snap);
    virDomainFree(dom);
}

static void op_children(const char *vm, const char *parent)
{
    virDomainPtr dom = domain(vm);
    virDomainSnapshotPtr top = virDomainSnapshotLookupByName(dom, parent, 0);
    if (!top)
        die("no snapshot %s: %s", parent, virGetLastErrorMessage());
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainSnapshotListAllChildren(top, &snaps, 0);
    list_infos(snaps, n);
    virDomainSnapshotFree(top);
    virDomainFree(dom);
}

static void op_roots(const char *vm)
{
    virDomainPtr dom = domain(vm);
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(dom, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_ROOTS);
    list_infos(snaps, n);
    virDomainFree(dom);
}

/* GET /vms/<vm>/snapshots?all=true */
static void op_all(const char *vm)
{
    virDomainPtr dom = domain(vm);
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(dom, &snaps, 0);
    list_infos(snaps, n);
    virDomainFree(dom);
}

/* GET /vms/<vm>: state, definition (disks, serial log), block sizes, snapshot
 * count and current snapshot. */
static void op_vm(const char *vm)
{
    virDomainPtr dom = domain(vm);
    virDomainInfo info;
    if (virDomainGetInfo(dom, &info) < 0)
        die("virDomainGetInfo: %s", virGetLastErrorMessage());
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(dom, uuid);
    char *xml = virDomainGetXMLDesc(dom, 0);
    xmlDoc *doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "dom.xml", "UTF-8",
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
                      : NULL;
    if (!doc)
        die("cannot read the XML of %s", vm);
    xmlNode *devices = child(xmlDocGetRootElement(doc), "devices");
    for (xmlNode *d = devices ? devices->children : NULL; d; d = d->next) {
        if (d->type != XML_ELEMENT_NODE || strcmp((const char *)d->name, "disk"))
            continue;
        xmlChar *target = xmlGetProp(child(d, "target"), (const xmlChar *)"dev");
        virDomainBlockInfo bi;
        if (target)
            virDomainGetBlockInfo(dom, (const char *)target, &bi, 0);
        xmlFree(target);
    }
    xmlFreeDoc(doc);
    free(xml);
    (void)virDomainIsPersistent(dom);
    int count = virDomainSnapshotNum(dom, 0);
    if (count > 0 && virDomainHasCurrentSnapshot(dom, 0) == 1) {
        virDomainSnapshotPtr cur = virDomainSnapshotCurrent(dom, 0);
        if (cur) {
            (void)virDomainSnapshotGetName(cur);
            virDomainSnapshotFree(cur);
        }
    }
    virDomainFree(dom);
}

static double create_snapshot(const char *vm, const char *name)
{
    char xml[512];
    snprintf(xml, sizeof xml, "<domainsnapshot><name>%s</name></domainsnapshot>", name);
    double t0 = now_us();
    virDomainPtr dom = domain(vm);
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom, xml, 0);
    if (!snap)
        die("cannot create snapshot %s: %s", name, virGetLastErrorMessage());
    virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return now_us() - t0;
}

static double revert_snapshot(const char *vm, const char *name)
{
    double t0 = now_us();
    virDomainPtr dom = domain(vm);
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (!snap)
        die("no snapshot %s: %s", name, virGetLastErrorMessage());
    int rc = virDomainRevertToSnapshot(snap, 0);
    if (rc < 0 && virGetLastErrorCode() == VIR_ERR_SNAPSHOT_REVERT_RISKY)
        rc = virDomainRevertToSnapshot(snap, VIR_DOMAIN_SNAPSHOT_REVERT_FORCE);
    if (rc < 0)
        die("cannot revert to %s: %s", name, virGetLastErrorMessage());
    virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return now_us() - t0;
}

/* The same tree as rest.c's grow_tree. */
static void grow_tree(const char *vm, int from, int to)
{
    char name[64], tip[64];
    if (from == 0) {
        create_snapshot(vm, BENCH_HUB);
        for (int i = 1; i <= BENCH_FANOUT; i++) {
            revert_snapshot(vm, BENCH_HUB);
            tree_child_name(name, sizeof name, i);
            create_snapshot(vm, name);
        }
        from = 1 + BENCH_FANOUT;
    }
    for (int i = 1; i <= BENCH_FANOUT; i++) {
        int have = tree_chain_len(from, i), want = tree_chain_len(to, i);
        if (want <= have)
            continue;
        if (have == 0)
            tree_child_name(tip, sizeof tip, i);
        else
            tree_chain_name(tip, sizeof tip, i, have);
        revert_snapshot(vm, tip);
        for (int j = have + 1; j <= want; j++) {
            tree_chain_name(name, sizeof name, i, j);
            create_snapshot(vm, name);
        }
    }
}

/* ---- helpers ---------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)len + 1);
    if (fread(text, 1, (size_t)len, f) != (size_t)len)
        die("cannot read %s", path);
    fclose(f);
    return text;
}

/* Defines the domain of XML with its <name> replaced by NAME. */
static void define_as(const char *xml, const char *name)
{
    const char *a = strstr(xml, "<name>"), *b = a ? strstr(a, "</name>") : NULL;
    if (!b)
        die("no <name> in the domain XML");
    size_t len = strlen(xml) + strlen(name) + 1;
    char *copy = malloc(len);
    snprintf(copy, len, "%.*s<name>%s%s", (int)(a - xml), xml, name, b);
    virDomainPtr dom = virDomainDefineXML(conn, copy);
    if (!dom)
        die("cannot define %s: %s", name, virGetLastErrorMessage());
    virDomainFree(dom);
    free(copy);
}

static void time_op(const char *key, int n, void (*op)(const char *, const char *), const char *a,
                    const char *b)
{
    for (int i = 0; i < 5; i++) /* warm-up */
        op(a, b);
    double *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        op(a, b);
        v[i] = now_us() - t0;
    }
    for (int i = 0; i < n; i++)
        sample(key, v[i]);
    free(v);
}

static void do_roots(const char *vm, const char *unused) { (void)unused; op_roots(vm); }
static void do_vm(const char *vm, const char *unused) { (void)unused; op_vm(vm); }

/* ---- commands ------------------------------------------------------------------ */

/* VmRSS of this process in MiB. */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib / 1024;
}

/* The four read operations of the scale table on VM (a tree of SIZE): N
 * requests each, N/4 for the children listing, as run.sh does through the
 * API. */
static void measure(const char *vm, int size, int n)
{
    char key[128];
    snprintf(key, sizeof key, "scale.roots.%d.direct", size);
    time_op(key, n, do_roots, vm, NULL);
    snprintf(key, sizeof key, "scale.children.%d.direct", size);
    time_op(key, n / 4, op_children, vm, BENCH_HUB);
    snprintf(key, sizeof key, "scale.lookup.%d.direct", size);
    time_op(key, n, op_lookup, vm, BENCH_LOOKUP);
    snprintf(key, sizeof key, "scale.vm.%d.direct", size);
    time_op(key, n, do_vm, vm, NULL);
}

/* Waits until the guest has printed a COUNT line to SERIAL (30 s at most). */
static void wait_boot(const char *serial)
{
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(serial, "r");
        char line[256];
        bool up = false;
        while (f && fgets(line, sizeof line, f))
            if (strstr(line, "COUNT"))
                up = true;
        if (f)
            fclose(f);
        if (up)
            return;
        usleep(100000);
    }
    die("the guest never printed to %s", serial);
}

/* The guest's serial log, timestamped during each round (as vsbench-rest
 * does: a watcher polls every 0.5 ms, so it runs only in our own rounds),
 * or NULL. */
static char *serial_path;
/* The pause before each timed step of a round, µs (run.sh's SETTLE_MS,
 * the same for every client; it also lets a watched guest print between
 * steps). */
static long settle_us;

/* Starts VM (if needed) and, with SERIAL, waits for the guest; later
 * rounds timestamp its serial output. */
static void start_vm(const char *vm, const char *serial)
{
    virDomainPtr dom = domain(vm);
    if (virDomainIsActive(dom) != 1 && virDomainCreate(dom) < 0)
        die("cannot start %s: %s", vm, virGetLastErrorMessage());
    virDomainFree(dom);
    free(serial_path);
    serial_path = serial ? strdup(serial) : NULL;
    if (serial)
        wait_boot(serial);
    usleep(500000);
}

/* Destroys VM and undefines it with its snapshot metadata. */
static void stop_vm(const char *vm)
{
    free(serial_path);
    serial_path = NULL;
    virDomainPtr dom = domain(vm);
    if (virDomainIsActive(dom) == 1)
        virDomainDestroy(dom);
    virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
    virDomainFree(dom);
}

/* One round: snapshot NAME of VM, then revert to it; samples KEY.create,
 * KEY.revert and, for a running guest, how long it stood still. */
static void one_round(const char *key, const char *vm, const char *name)
{
    char k[640];
    bool watching = serial_path != NULL;
    useconds_t settle = (useconds_t)settle_us;
    virDomainPtr dom = domain(vm);
    bool running = virDomainIsActive(dom) == 1; /* else no lifecycle events to wait for */
    virDomainFree(dom);
    Watch watch = {0};
    if (watching)
        watch_start(&watch, serial_path);
    usleep(settle);
    double t0 = now_us();
    double t = create_snapshot(vm, name);
    double t1 = now_us();
    snprintf(k, sizeof k, "%s.create", key);
    sample(k, t);
    double paused = running ? event_gap(t0, VIR_DOMAIN_EVENT_SUSPENDED) : -1;
    if (paused >= 0) {
        snprintf(k, sizeof k, "%s.create_paused", key);
        sample(k, paused);
    }
    usleep(settle);
    double t2 = now_us();
    t = revert_snapshot(vm, name);
    double t3 = now_us();
    snprintf(k, sizeof k, "%s.revert", key);
    sample(k, t);
    /* libvirt 9.0 reverts a running snapshot by killing QEMU and starting a
     * new one from it, and sends STOPPED only once the old process is
     * reaped: the guest is down from about the call until RESUMED. */
    double down = paused >= 0 ? event_gap(t2, -1) : -1;
    if (down >= 0) {
        snprintf(k, sizeof k, "%s.revert_down", key);
        sample(k, down);
    }
    if (watching) {
        usleep(settle);
        watch_stop(&watch);
        snprintf(k, sizeof k, "%s.create_stall", key);
        sample(k, watch_stall(&watch, t0, t1));
        snprintf(k, sizeof k, "%s.revert_stall", key);
        sample(k, watch_stall(&watch, t2, t3));
        free(watch.stamps);
    }
}

/* Commands from stdin, one a line, each answered by its samples and "OK",
 * so that run.sh can interleave them with the same steps through the API
 * and virsh while this process keeps its connection (and, on test:///, its
 * in-memory driver):
 *   define XMLFILE NAME      define the domain of XMLFILE, named NAME
 *   grow VM FROM TO          grow the benchmark tree (common.h)
 *   measure VM SIZE N        time the four read operations on VM (SIZE: its tree)
 *   rss KEY                  sample our VmRSS as rss.direct.KEY
 *   all VM                   list all of VM's snapshots (as ?all=true), 3 times
 *   start VM [SERIAL]        start VM; with SERIAL wait for the guest
 *   round KEY VM NAME        snapshot NAME then revert to it (one_round)
 *   settle MS                pause MS before each timed step of later rounds
 *   stop VM                  destroy and undefine VM */
static int cmd_serve(void)
{
    char line[1024], a[512], b[512], c[256];
    int x, y;
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "define %511s %511s", a, b) == 2) {
            char *xml = read_file(a);
            define_as(xml, b);
            free(xml);
        } else if (sscanf(line, "grow %511s %d %d", a, &x, &y) == 3) {
            grow_tree(a, x, y);
        } else if (sscanf(line, "measure %511s %d %d", a, &x, &y) == 3) {
            measure(a, x, y);
        } else if (sscanf(line, "rss %255s", c) == 1) {
            snprintf(a, sizeof a, "rss.direct.%s", c);
            sample(a, rss_mib());
        } else if (sscanf(line, "all %511s", a) == 1) {
            for (int i = 0; i < 3; i++)
                op_all(a);
        } else if (sscanf(line, "start %511s %511s", a, b) >= 1) {
            start_vm(a, sscanf(line, "start %*s %511s", b) == 1 ? b : NULL);
        } else if (sscanf(line, "settle %d", &x) == 1) {
            settle_us = (long)x * 1000;
        } else if (sscanf(line, "round %511s %511s %255s", a, b, c) == 3) {
            one_round(a, b, c);
        } else if (sscanf(line, "stop %511s", a) == 1) {
            stop_vm(a);
        } else {
            die("unknown command: %s", line);
        }
        printf("OK\n");
        fflush(stdout);
    }
    return 0;
}

static void quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc < 3) {
        fprintf(stderr, "usage: vsbench-direct URI serve   (commands on stdin)\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    if (virEventRegisterDefaultImpl() < 0)
        die("cannot register libvirt's event loop");
    pthread_t loop;
    pthread_create(&loop, NULL, event_loop, NULL);
    conn = virConnectOpen(argv[1]);
    if (!conn)
        die("cannot open %s: %s", argv[1], virGetLastErrorMessage());
    if (virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL) < 0)
        die("cannot register for lifecycle events: %s", virGetLastErrorMessage());
    int rc = 2;
    if (!strcmp(argv[2], "serve") && argc == 3)
        rc = cmd_serve();
    else
        fprintf(stderr, "vsbench-direct: bad arguments\n");
    fflush(stdout);
    virConnectClose(conn);
    _exit(rc); /* the event-loop thread never returns */
}
