/* hv.c: the libvirt connection, its event-loop thread, reconnects and the
 * libvirt error → VS_ERROR mapping. */
#include "hv.h"

#include "../util/error.h"
#include "../util/log.h"
#include "../util/xml.h"
#include "pause.h"

#include <fcntl.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RECONNECT_INTERVAL_US (2 * G_USEC_PER_SEC)
/* vs_hv_domain_changes counts by bucket: bounded memory however many
 * domains come and go; two domains sharing one only cost extra reads. */
#define CHANGE_BUCKETS 1024

/* A connection with the callbacks open_connection registered on it (their
 * ids, -1 where refused). */
typedef struct {
    virConnectPtr conn;
    int device_ids[2];
    int change_ids[2]; /* block jobs, disk changes */
    int pause_ids[2];
    int lifecycle_id;
} Link;

static struct {
    char *uri;
    char *state_dir, *images_dir, *logs_dir, *vnc_dir;
    char *domain_type;
    /* Guards current, lost, connecting and last_attempt. No libvirt call is
     * made while it is held: libvirt may be running on_close, which takes
     * it, while holding locks such a call needs. */
    GMutex lock;
    Link current;             /* current.conn is NULL while disconnected */
    GPtrArray *lost;          /* Link*: set aside, to be released */
    bool connecting;          /* a request is opening a connection */
    gint64 last_attempt;
    bool failing;             /* the last attempt failed (said once until one works) */
    GThread *event_thread;
    gint stop;
    int wake_timer;
    /* Guards changes, starts, epoch, told, untold and change_hook (held
     * while the hook runs). */
    GMutex changes_lock;
    guint changes[CHANGE_BUCKETS]; /* events libvirt sent, by a hash of the domain's UUID */
    GHashTable *starts;            /* of them, starts: UUID → count (GUINT_TO_POINTER) */
    guint epoch;                   /* connections opened */
    bool told;      /* the current connection takes the lifecycle and device events */
    guint64 untold; /* vs_hv_domain_changes' answers while it does not */
    VsHvChangeHook change_hook;
} hv;

static void ignore_libvirt_error(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static gpointer event_loop(gpointer data)
{
    (void)data;
    while (!g_atomic_int_get(&hv.stop))
        virEventRunDefaultImpl();
    return NULL;
}

static void wake_tick(int timer, void *opaque)
{
    (void)timer;
    (void)opaque;
}

static void on_close(virConnectPtr conn, int reason, void *opaque);

/* Drops what open_connection registered on LINK's connection (each callback
 * holds a reference to it: without this a lost connection and its socket
 * were never freed, one per reconnect), then our reference. Called without
 * hv.lock. */
static void release_link(const Link *link)
{
    virConnectUnregisterCloseCallback(link->conn, on_close);
    for (size_t i = 0; i < G_N_ELEMENTS(link->device_ids); i++)
        if (link->device_ids[i] >= 0)
            virConnectDomainEventDeregisterAny(link->conn, link->device_ids[i]);
    for (size_t i = 0; i < G_N_ELEMENTS(link->change_ids); i++)
        if (link->change_ids[i] >= 0)
            virConnectDomainEventDeregisterAny(link->conn, link->change_ids[i]);
    if (link->lifecycle_id >= 0)
        virConnectDomainEventDeregisterAny(link->conn, link->lifecycle_id);
    vs_pause_unwatch(link->conn, link->pause_ids);
    virConnectClose(link->conn);
    virResetLastError(); /* a dead connection's refusals */
}

/* Sets the current connection aside, to be released (with hv.lock held). */
static void set_aside_locked(void)
{
    if (!hv.lost)
        hv.lost = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(hv.lost, g_memdup2(&hv.current, sizeof hv.current));
    hv.current.conn = NULL;
}

/* Releases what was set aside (LOST, taken from hv.lost; freed). */
static void release_lost(GPtrArray *lost)
{
    for (guint i = 0; lost && i < lost->len; i++)
        release_link(g_ptr_array_index(lost, i));
    if (lost)
        g_ptr_array_unref(lost);
}

/* Runs inside libvirt's close handling: the connection is only set aside
 * here and released by the next vs_hv_connect. */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    (void)opaque;
    static const char *why[] = {"error", "end of file", "keepalive timeout", "client closed"};
    g_mutex_lock(&hv.lock);
    if (hv.current.conn == conn) {
        vs_warn("lost the connection to %s (%s); will reconnect", hv.uri,
                reason >= 0 && reason < 4 ? why[reason] : "unknown");
        set_aside_locked();
    }
    g_mutex_unlock(&hv.lock);
}

/* Writes the embedded driver's qemu.conf: log to files (no virtlogd), and as
 * root run QEMU as root, since STATE is 0700 and /dev/kvm is root-only here. */
static bool write_embed_config(GError **error)
{
    g_autofree char *etc = g_build_filename(hv.state_dir, "libvirt", "etc", NULL);
    g_autofree char *conf = g_build_filename(etc, "qemu.conf", NULL);
    g_autoptr(GString) text = g_string_new("# written by virtsnapd at every start\n"
                                           "stdio_handler = \"file\"\n"
                                           "security_driver = \"none\"\n"
                                           "namespaces = []\n"
                                           "cgroup_controllers = []\n");
    if (geteuid() == 0)
        g_string_append(text, "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\n");
    if (g_mkdir_with_parents(etc, 0700) != 0 ||
        !g_file_set_contents(conf, text->str, (gssize)text->len, error)) {
        if (error && !*error)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s", etc);
        return false;
    }
    return true;
}

void vs_hv_note_domain_change(const char *uuid)
{
    g_mutex_lock(&hv.changes_lock);
    hv.changes[g_str_hash(uuid) % CHANGE_BUCKETS]++;
    if (hv.change_hook)
        hv.change_hook(uuid);
    g_mutex_unlock(&hv.changes_lock);
}

/* libvirt told a change of DOM (on the event thread: no libvirt call but
 * the handle's own UUID). */
static void note_domain_change(virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) == 0)
        vs_hv_note_domain_change(uuid);
}

guint64 vs_hv_domain_changes(const char *uuid)
{
    g_mutex_lock(&hv.changes_lock);
    /* Without the events nothing read can be kept: a new value each time
     * (the top bit set, apart from every counted one). */
    guint64 changes = hv.told ? (guint64)hv.epoch << 32 | hv.changes[g_str_hash(uuid) % CHANGE_BUCKETS]
                              : (1ULL << 63) | ++hv.untold;
    g_mutex_unlock(&hv.changes_lock);
    return changes;
}

/* The starts told of the domain with UUID (by its exact UUID: a start of
 * another VM must not count); called with changes_lock held. */
static guint starts_of(const char *uuid)
{
    return hv.starts ? GPOINTER_TO_UINT(g_hash_table_lookup(hv.starts, uuid)) : 0;
}

guint64 vs_hv_domain_start_mark(const char *uuid)
{
    g_mutex_lock(&hv.changes_lock);
    guint64 mark = hv.told ? (guint64)hv.epoch << 32 | starts_of(uuid) : G_MAXUINT64;
    g_mutex_unlock(&hv.changes_lock);
    return mark;
}

int vs_hv_domain_started_since(const char *uuid, guint64 mark)
{
    g_mutex_lock(&hv.changes_lock);
    int started = !hv.told || mark == G_MAXUINT64 || (guint64)hv.epoch != mark >> 32
                      ? -1
                      : starts_of(uuid) != (guint)mark;
    g_mutex_unlock(&hv.changes_lock);
    return started;
}

void vs_hv_set_change_hook(VsHvChangeHook hook)
{
    g_mutex_lock(&hv.changes_lock);
    hv.change_hook = hook;
    g_mutex_unlock(&hv.changes_lock);
}

static void on_device_change(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)conn, (void)alias, (void)opaque;
    note_domain_change(dom);
}

/* A block job (a copy or commit may pivot a disk to another file) or a
 * disk change (a source dropped at start, a medium changed). */
static void on_block_job(virConnectPtr conn, virDomainPtr dom, const char *disk, int type,
                         int status, void *opaque)
{
    (void)conn, (void)disk, (void)type, (void)status, (void)opaque;
    note_domain_change(dom);
}

static void on_disk_change(virConnectPtr conn, virDomainPtr dom, const char *old_src,
                           const char *new_src, const char *alias, int reason, void *opaque)
{
    (void)conn, (void)old_src, (void)new_src, (void)alias, (void)reason, (void)opaque;
    note_domain_change(dom);
}

static VsHvGoneHook gone_hook;
static GMutex gone_hook_lock; /* held while the hook runs: unset only between runs */

void vs_hv_set_gone_hook(VsHvGoneHook hook)
{
    g_mutex_lock(&gone_hook_lock);
    gone_hook = hook;
    g_mutex_unlock(&gone_hook_lock);
}

/* A domain stopped or was undefined: it may be gone from libvirt (a
 * transient one that stopped). Only a revert's stop (QEMU restarted from a
 * snapshot) and a rename's undefine leave it for certain; the hook finds
 * out for the others, off the event thread. */
static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    (void)conn, (void)opaque;
    char started[VIR_UUID_STRING_BUFLEN];
    if (event == VIR_DOMAIN_EVENT_STARTED && virDomainGetUUIDString(dom, started) == 0) {
        g_mutex_lock(&hv.changes_lock);
        if (!hv.starts)
            hv.starts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert(hv.starts, g_strdup(started), GUINT_TO_POINTER(starts_of(started) + 1));
        g_mutex_unlock(&hv.changes_lock);
    }
    note_domain_change(dom); /* any: started, stopped, paused, defined again, … */
    bool maybe_gone = (event == VIR_DOMAIN_EVENT_STOPPED &&
                       detail != VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT) ||
                      (event == VIR_DOMAIN_EVENT_UNDEFINED &&
                       detail != VIR_DOMAIN_EVENT_UNDEFINED_RENAMED);
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (!maybe_gone || virDomainGetUUIDString(dom, uuid) < 0) /* from the handle: no call */
        return 0;
    g_mutex_lock(&gone_hook_lock);
    if (gone_hook)
        gone_hook(uuid);
    g_mutex_unlock(&gone_hook_lock);
    return 0;
}

/* Opens a connection with its callbacks into LINK; false if it cannot.
 * Called without hv.lock. */
static bool open_connection(Link *link)
{
    link->conn = virConnectOpen(hv.uri);
    if (!link->conn)
        return false;
    virConnectRegisterCloseCallback(link->conn, on_close, NULL, NULL);
    int events[] = {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED};
    for (size_t i = 0; i < G_N_ELEMENTS(events); i++)
        link->device_ids[i] = virConnectDomainEventRegisterAny(
            link->conn, NULL, events[i], VIR_DOMAIN_EVENT_CALLBACK(on_device_change), NULL, NULL);
    link->change_ids[0] = virConnectDomainEventRegisterAny(
        link->conn, NULL, VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, VIR_DOMAIN_EVENT_CALLBACK(on_block_job),
        NULL, NULL);
    link->change_ids[1] = virConnectDomainEventRegisterAny(
        link->conn, NULL, VIR_DOMAIN_EVENT_ID_DISK_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_disk_change),
        NULL, NULL);
    link->lifecycle_id = virConnectDomainEventRegisterAny(
        link->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
        NULL, NULL);
    g_mutex_lock(&hv.changes_lock); /* what happened while we were away */
    hv.epoch++;
    hv.told = link->lifecycle_id >= 0 && link->device_ids[0] >= 0 && link->device_ids[1] >= 0;
    g_mutex_unlock(&hv.changes_lock);
    if (!hv.told)
        vs_warn("%s takes no lifecycle or device events: what is read of a VM is read again "
                "every time", hv.uri);
    if (!vs_pause_watch(link->conn, link->pause_ids))
        vs_warn("%s takes no event callbacks: pauses are bounded by the calls' times", hv.uri);
    /* Remote connections notice a dead peer in ~20 s (5 s x (3 + 1)); local
     * drivers ignore it. */
    virConnectSetKeepAlive(link->conn, 5, 3);
    return true;
}

/* Whether the capabilities DOC offer domain type TYPE for x86_64 guests. */
static bool offers(xmlDoc *doc, const char *type)
{
    g_autofree char *xp = g_strdup_printf(
        "string(/capabilities/guest[os_type='hvm']/arch[@name='x86_64']/domain[@type='%s']/@type)",
        type);
    g_autofree char *found = vs_xml_string(doc, NULL, xp);
    return found != NULL;
}

/* WANTED (--domain-type) when the host offers it (NULL and ERROR if not: a
 * forced kvm without a usable /dev/kvm failed every create, late); else kvm
 * when the host offers it for x86_64, else qemu, else the first type the
 * driver lists (test:///default offers "test"). */
static char *pick_domain_type(virConnectPtr conn, const char *wanted, GError **error)
{
    g_autofree char *caps = virConnectGetCapabilities(conn);
    g_autoptr(xmlDoc) doc = vs_xml_parse(caps, NULL);
    if (!doc)
        return g_strdup(wanted ? wanted : "qemu");
    if (wanted && !offers(doc, wanted)) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                    "--domain-type %s: %s offers no such x86_64 guests%s", wanted, hv.uri,
                    strcmp(wanted, "kvm") == 0 ? " (no usable /dev/kvm: use qemu, or leave it out)"
                                               : "");
        return NULL;
    }
    if (wanted)
        return g_strdup(wanted);
    const char *preferred[] = {"kvm", "qemu"};
    for (size_t i = 0; i < G_N_ELEMENTS(preferred); i++)
        if (offers(doc, preferred[i]))
            return g_strdup(preferred[i]);
    char *first = vs_xml_string(doc, NULL, "string(/capabilities/guest/arch/domain/@type)");
    return first ? first : g_strdup("qemu");
}

bool vs_hv_init(const VsHvConfig *config, GError **error)
{
    hv.state_dir = g_strdup(config->state_dir);
    hv.images_dir = g_build_filename(hv.state_dir, "images", NULL);
    hv.logs_dir = g_build_filename(hv.state_dir, "logs", NULL);
    hv.vnc_dir = g_build_filename(hv.state_dir, "vnc", NULL);
    bool embedded = config->uri == NULL;
    hv.uri = embedded ? g_strdup_printf("qemu:///embed?root=%s/libvirt", hv.state_dir)
                      : g_strdup(config->uri);
    if (g_mkdir_with_parents(hv.images_dir, 0700) != 0 ||
        g_mkdir_with_parents(hv.logs_dir, 0700) != 0 || g_mkdir_with_parents(hv.vnc_dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s or %s", hv.images_dir,
                    hv.logs_dir);
        return false;
    }
    if (embedded && !write_embed_config(error))
        return false;
    virSetErrorFunc(NULL, ignore_libvirt_error);
    if (virEventRegisterDefaultImpl() < 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot start libvirt's event loop");
        return false;
    }
    hv.wake_timer = virEventAddTimeout(500, wake_tick, NULL, NULL);
    hv.event_thread = g_thread_new("libvirt-events", event_loop, NULL);
    bool connected = open_connection(&hv.current);
    hv.last_attempt = g_get_monotonic_time();
    if (!connected) {
        vs_hv_set_error(error, "cannot connect to %s", hv.uri);
        return false;
    }
    hv.domain_type = pick_domain_type(hv.current.conn, config->domain_type, error);
    if (!hv.domain_type)
        return false;
    if (embedded && strcmp(hv.domain_type, "kvm") != 0)
        vs_warn("/dev/kvm is not usable: guests run under TCG emulation (slow)");
    vs_info("connected to %s; new VMs use domain type '%s'", hv.uri, hv.domain_type);
    return true;
}

void vs_hv_shutdown(void)
{
    g_mutex_lock(&hv.lock);
    if (hv.current.conn)
        set_aside_locked();
    GPtrArray *lost = g_steal_pointer(&hv.lost);
    g_mutex_unlock(&hv.lock);
    release_lost(lost);
    if (hv.event_thread) {
        g_atomic_int_set(&hv.stop, 1);
        g_thread_join(g_steal_pointer(&hv.event_thread));
        virEventRemoveTimeout(hv.wake_timer);
    }
    g_mutex_lock(&hv.changes_lock); /* (no event comes any more) */
    g_clear_pointer(&hv.starts, g_hash_table_unref);
    g_mutex_unlock(&hv.changes_lock);
}

/* The current connection with a reference for the caller, or NULL. */
static virConnectPtr current_ref(void)
{
    g_mutex_lock(&hv.lock);
    virConnectPtr conn = hv.current.conn;
    if (conn)
        virConnectRef(conn);
    g_mutex_unlock(&hv.lock);
    return conn;
}

/* Opens a new current connection, one request at a time and at most every
 * RECONNECT_INTERVAL_US. */
static void try_reconnect(void)
{
    g_mutex_lock(&hv.lock);
    bool attempt = !hv.current.conn && !hv.connecting &&
                   g_get_monotonic_time() - hv.last_attempt >= RECONNECT_INTERVAL_US;
    if (attempt) {
        hv.connecting = true;
        hv.last_attempt = g_get_monotonic_time();
    }
    g_mutex_unlock(&hv.lock);
    if (!attempt)
        return;
    Link fresh = {0};
    bool opened = open_connection(&fresh);
    g_autofree char *why = opened ? NULL : g_strdup(virGetLastErrorMessage());
    g_mutex_lock(&hv.lock);
    hv.connecting = false;
    bool first_failure = !opened && !hv.failing;
    hv.failing = !opened;
    if (opened)
        hv.current = fresh; /* were it dead already, the next request sets it aside */
    g_mutex_unlock(&hv.lock);
    if (first_failure) /* once per outage: the next attempts come every 2 s */
        vs_warn("cannot reconnect to %s yet (trying again every %d s): %s", hv.uri,
                (int)(RECONNECT_INTERVAL_US / G_USEC_PER_SEC), why);
    if (!opened)
        return;
    vs_info("reconnected to %s", hv.uri);
    /* The stops and undefines while we were away: swept once the new
     * connection is the current one (the sweep asks for it). */
    g_mutex_lock(&gone_hook_lock);
    if (gone_hook)
        gone_hook(NULL);
    g_mutex_unlock(&gone_hook_lock);
}

virConnectPtr vs_hv_connect(GError **error)
{
    virConnectPtr conn = current_ref();
    if (conn && virConnectIsAlive(conn) != 1) {
        g_mutex_lock(&hv.lock);
        if (hv.current.conn == conn) /* else on_close or another request did */
            set_aside_locked();
        g_mutex_unlock(&hv.lock);
        g_clear_pointer(&conn, virConnectClose);
    }
    g_mutex_lock(&hv.lock);
    GPtrArray *lost = g_steal_pointer(&hv.lost);
    g_mutex_unlock(&hv.lock);
    release_lost(lost);
    if (!conn) {
        try_reconnect();
        conn = current_ref();
    }
    if (!conn)
        g_set_error(error, VS_ERROR, VS_ERR_UNAVAILABLE,
                    "the hypervisor connection %s is unavailable; retrying", hv.uri);
    return conn;
}

virConnectPtr vs_hv_current(void)
{
    virConnectPtr conn = current_ref();
    if (conn && virConnectIsAlive(conn) != 1)
        g_clear_pointer(&conn, virConnectClose);
    return conn;
}

const char *vs_hv_uri(void) { return hv.uri; }

bool vs_hv_is_local(void)
{
    g_autoptr(GUri) uri = g_uri_parse(hv.uri, G_URI_FLAGS_NON_DNS, NULL);
    const char *host = uri ? g_uri_get_host(uri) : NULL;
    return !host || !*host;
}
bool vs_hv_private(void)
{
    return hv.uri && (g_str_has_prefix(hv.uri, "qemu:///embed") || g_str_has_prefix(hv.uri, "test://"));
}
const char *vs_hv_domain_type(void) { return hv.domain_type; }
const char *vs_hv_state_dir(void) { return hv.state_dir; }
const char *vs_hv_images_dir(void) { return hv.images_dir; }
const char *vs_hv_logs_dir(void) { return hv.logs_dir; }
const char *vs_hv_vnc_dir(void) { return hv.vnc_dir; }

virDomainPtr vs_hv_domain_again(virConnectPtr conn, const char *uuid, const char *name,
                                GError **error)
{
    virDomainPtr dom = virDomainLookupByUUIDString(conn, uuid);
    if (!dom && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        g_set_error(error, VS_ERROR, VS_ERR_NOT_FOUND, "VM '%s' no longer exists", name);
    else if (!dom)
        vs_hv_set_error(error, "cannot look up VM '%s'", name);
    return dom;
}

virDomainPtr vs_hv_domain(virConnectPtr conn, const char *name, GError **error)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (!dom) {
        virErrorPtr err = virGetLastError();
        if (err && err->code == VIR_ERR_NO_DOMAIN)
            g_set_error(error, VS_ERROR, VS_ERR_NOT_FOUND, "VM '%s' does not exist", name);
        else
            vs_hv_set_error(error, "cannot look up VM '%s'", name);
    }
    return dom;
}

void vs_hv_set_error_from(virErrorPtr err, GError **error, const char *fmt, ...)
{
    VsErrorCode code = VS_ERR_FAILED;
    if (err) {
        switch (err->code) {
        case VIR_ERR_NO_DOMAIN:
        case VIR_ERR_NO_DOMAIN_SNAPSHOT:
            code = VS_ERR_NOT_FOUND;
            break;
        case VIR_ERR_OPERATION_INVALID:
        case VIR_ERR_DOM_EXIST:
        case VIR_ERR_SNAPSHOT_REVERT_RISKY:
            code = VS_ERR_CONFLICT;
            break;
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
        case VIR_ERR_RPC:
        case VIR_ERR_AUTH_FAILED:
            code = VS_ERR_UNAVAILABLE;
            break;
        default:
            /* The connection broke during the call (its socket's end of
             * file, "client socket is closed"): the next request
             * reconnects, so this one is a 503 as well. */
            if (err->domain == VIR_FROM_RPC)
                code = VS_ERR_UNAVAILABLE;
            break;
        }
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VS_ERROR, code, "%s: %s", what,
                err && err->message ? err->message : "unknown libvirt error");
    if (err)
        virFreeError(err);
}

bool vs_hv_broke_off(GError *const *error)
{
    return error && g_error_matches(*error, VS_ERROR, VS_ERR_UNAVAILABLE);
}

char *vs_hv_uuid(virDomainPtr dom)
{
    char buf[VIR_UUID_STRING_BUFLEN] = "";
    virDomainGetUUIDString(dom, buf);
    return g_strdup(buf);
}

xmlDoc *vs_hv_domain_xml(virDomainPtr dom, unsigned int flags, GError **error)
{
    g_autofree char *text = virDomainGetXMLDesc(dom, flags);
    if (!text) {
        vs_hv_set_error(error, "cannot read the definition of VM '%s'", virDomainGetName(dom));
        return NULL;
    }
    return vs_xml_parse(text, error);
}

int vs_hv_undefine(virDomainPtr dom, bool keep_nvram)
{
    unsigned int basic = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    unsigned int nvram = keep_nvram ? VIR_DOMAIN_UNDEFINE_KEEP_NVRAM : VIR_DOMAIN_UNDEFINE_NVRAM;
    if (virDomainUndefineFlags(dom, basic | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | nvram) == 0)
        return 0;
    virErrorPtr err = virGetLastError();
    if (!err || (err->code != VIR_ERR_INVALID_ARG && err->code != VIR_ERR_NO_SUPPORT))
        return -1;
    return virDomainUndefineFlags(dom, basic);
}

bool vs_hv_room_for_metadata(GError **error)
{
    if (!g_str_has_prefix(hv.uri, "qemu:///embed"))
        return true;
    g_autofree char *dir = g_build_filename(hv.state_dir, "libvirt", NULL);
    struct statvfs fs;
    if (statvfs(dir, &fs) != 0)
        return true; /* not known: libvirt will say */
    guint64 free_bytes = (guint64)fs.f_bavail * fs.f_frsize;
    if (free_bytes >= 4u << 20)
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_NO_SPACE,
                "only %" G_GUINT64_FORMAT " KiB are free where libvirt keeps its files (%s): "
                "free some space first (libvirt 9.0 loses track of a snapshot it cannot save)",
                free_bytes >> 10, dir);
    return false;
}

bool vs_hv_driver_is(const char *driver)
{
    size_t len = strlen(driver);
    return hv.uri && strncmp(hv.uri, driver, len) == 0 &&
           (hv.uri[len] == ':' || hv.uri[len] == '+');
}

bool vs_hv_failed_broke_off(GError **error, const char *fmt, ...)
{
    virErrorPtr saved = virSaveLastError();
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GError) failed = NULL;
    vs_hv_set_error_from(saved, &failed, "%s", what);
    if (!vs_hv_broke_off(&failed))
        return false;
    g_propagate_error(error, g_steal_pointer(&failed));
    return true;
}
