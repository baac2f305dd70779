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
#include <unistd.h>

#define RECONNECT_INTERVAL_US (2 * G_USEC_PER_SEC)

static struct {
    char *uri;
    char *state_dir, *images_dir, *logs_dir, *vnc_dir;
    char *domain_type;
    GMutex lock;              /* guards conn, event_ids, lost and last_attempt */
    virConnectPtr conn;
    int event_ids[2];         /* the device callbacks open_connection registered on CONN */
    GPtrArray *lost;          /* LostConnection*: closed by libvirt, to release */
    gint64 last_attempt;
    GThread *event_thread;
    gint stop;
    int wake_timer;
    gint device_changes; /* atomic: devices added or removed by libvirt, connections opened */
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

typedef struct {
    virConnectPtr conn;
    int event_ids[2];
} LostConnection;

static void on_close(virConnectPtr conn, int reason, void *opaque);

/* Drops what open_connection registered on CONN (each callback holds a
 * reference to it: without this a dead connection and its socket were
 * never freed, one per reconnect), then our reference. */
static void release_connection(virConnectPtr conn, const int event_ids[2])
{
    virConnectUnregisterCloseCallback(conn, on_close);
    for (size_t i = 0; i < 2; i++)
        if (event_ids[i] >= 0)
            virConnectDomainEventDeregisterAny(conn, event_ids[i]);
    vs_pause_unwatch(conn);
    virConnectClose(conn);
    virResetLastError(); /* a dead connection's refusals */
}

/* Releases the connections libvirt closed (called with hv.lock held). */
static void release_lost_locked(void)
{
    while (hv.lost && hv.lost->len) {
        LostConnection *lost = g_ptr_array_steal_index(hv.lost, hv.lost->len - 1);
        release_connection(lost->conn, lost->event_ids);
        g_free(lost);
    }
}

/* Runs inside libvirt's close handling: the connection is only set aside
 * here and released by the next vs_hv_connect. */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    (void)opaque;
    static const char *why[] = {"error", "end of file", "keepalive timeout", "client closed"};
    g_mutex_lock(&hv.lock);
    if (hv.conn == conn) {
        vs_warn("lost the connection to %s (%s); will reconnect", hv.uri,
                reason >= 0 && reason < 4 ? why[reason] : "unknown");
        LostConnection *lost = g_new0(LostConnection, 1);
        lost->conn = g_steal_pointer(&hv.conn);
        memcpy(lost->event_ids, hv.event_ids, sizeof hv.event_ids);
        if (!hv.lost)
            hv.lost = g_ptr_array_new();
        g_ptr_array_add(hv.lost, lost);
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

/* A device was added to or removed from a running domain without a request
 * of ours (the guest ejected it, say): definitions read before are stale. */
void vs_hv_note_device_change(void)
{
    g_atomic_int_inc(&hv.device_changes);
}

static void on_device_change(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)conn, (void)dom, (void)alias, (void)opaque;
    vs_hv_note_device_change();
}

guint vs_hv_device_changes(void)
{
    return (guint)g_atomic_int_get(&hv.device_changes);
}

/* Opens the connection with its callbacks (the device ones' ids in
 * EVENT_IDS, -1 where refused). */
static virConnectPtr open_connection(int event_ids[2])
{
    virConnectPtr conn = virConnectOpen(hv.uri);
    if (!conn)
        return NULL;
    virConnectRegisterCloseCallback(conn, on_close, NULL, NULL);
    int events[] = {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED};
    for (size_t i = 0; i < G_N_ELEMENTS(events); i++)
        event_ids[i] = virConnectDomainEventRegisterAny(
            conn, NULL, events[i], VIR_DOMAIN_EVENT_CALLBACK(on_device_change), NULL, NULL);
    vs_hv_note_device_change(); /* what happened while we were away */
    if (!vs_pause_watch(conn))
        vs_warn("%s takes no event callbacks: pauses are bounded by the calls' times", hv.uri);
    /* Remote connections notice a dead peer in ~15 s; local drivers ignore it. */
    virConnectSetKeepAlive(conn, 5, 3);
    return conn;
}

/* kvm when the host offers it for x86_64, else qemu, else the first type the
 * driver lists (test:///default offers "test"). */
static char *pick_domain_type(virConnectPtr conn)
{
    g_autofree char *caps = virConnectGetCapabilities(conn);
    g_autoptr(xmlDoc) doc = vs_xml_parse(caps, NULL);
    if (!doc)
        return g_strdup("qemu");
    const char *wanted[] = {"kvm", "qemu"};
    for (size_t i = 0; i < G_N_ELEMENTS(wanted); i++) {
        g_autofree char *xp = g_strdup_printf(
            "string(/capabilities/guest[os_type='hvm']/arch[@name='x86_64']/domain[@type='%s']/@type)",
            wanted[i]);
        g_autofree char *found = vs_xml_string(doc, NULL, xp);
        if (found)
            return g_steal_pointer(&found);
    }
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
    hv.conn = open_connection(hv.event_ids);
    hv.last_attempt = g_get_monotonic_time();
    if (!hv.conn) {
        vs_hv_set_error(error, "cannot connect to %s", hv.uri);
        return false;
    }
    hv.domain_type = config->domain_type ? g_strdup(config->domain_type) : pick_domain_type(hv.conn);
    if (embedded && strcmp(hv.domain_type, "kvm") != 0)
        vs_warn("/dev/kvm is not usable: guests run under TCG emulation (slow)");
    vs_info("connected to %s; new VMs use domain type '%s'", hv.uri, hv.domain_type);
    return true;
}

void vs_hv_shutdown(void)
{
    g_mutex_lock(&hv.lock);
    release_lost_locked();
    g_clear_pointer(&hv.lost, g_ptr_array_unref);
    if (hv.conn)
        release_connection(g_steal_pointer(&hv.conn), hv.event_ids);
    g_mutex_unlock(&hv.lock);
    if (hv.event_thread) {
        g_atomic_int_set(&hv.stop, 1);
        g_thread_join(g_steal_pointer(&hv.event_thread));
        virEventRemoveTimeout(hv.wake_timer);
    }
}

virConnectPtr vs_hv_connect(GError **error)
{
    g_mutex_lock(&hv.lock);
    release_lost_locked();
    if (hv.conn && virConnectIsAlive(hv.conn) != 1)
        release_connection(g_steal_pointer(&hv.conn), hv.event_ids);
    if (!hv.conn && g_get_monotonic_time() - hv.last_attempt >= RECONNECT_INTERVAL_US) {
        hv.last_attempt = g_get_monotonic_time();
        hv.conn = open_connection(hv.event_ids);
        if (hv.conn)
            vs_info("reconnected to %s", hv.uri);
    }
    virConnectPtr conn = hv.conn;
    if (conn)
        virConnectRef(conn);
    g_mutex_unlock(&hv.lock);
    if (!conn)
        g_set_error(error, VS_ERROR, VS_ERR_UNAVAILABLE,
                    "the hypervisor connection %s is unavailable; retrying", hv.uri);
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
    if (!dom)
        g_set_error(error, VS_ERROR, VS_ERR_NOT_FOUND, "VM '%s' no longer exists", name);
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

int vs_hv_undefine(virDomainPtr dom)
{
    unsigned int basic = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    if (virDomainUndefineFlags(dom, basic | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
                                        VIR_DOMAIN_UNDEFINE_NVRAM) == 0)
        return 0;
    virErrorPtr err = virGetLastError();
    if (!err || (err->code != VIR_ERR_INVALID_ARG && err->code != VIR_ERR_NO_SUPPORT))
        return -1;
    return virDomainUndefineFlags(dom, basic);
}
