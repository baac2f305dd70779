/* main.c: virtsnapd's entry point: command line and config file, the
 * orphan reaper, the state directory and API token, then the hypervisor
 * connection, the task workers and the HTTP server until SIGTERM or SIGINT. */
#include "http/auth.h"
#include "http/server.h"
#include "http/tls.h"
#include "model/definition.h"
#include "model/hv.h"
#include "model/janitor.h"
#include "model/journal.h"
#include "model/settler.h"
#include "model/snapnames.h"
#include "model/snapshot.h"
#include "model/tasknames.h"
#include "model/tasks.h"
#include "util/error.h"
#include "util/log.h"
#include "util/random.h"
#include "util/reaper.h"
#include "util/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VS_VERSION
#define VS_VERSION "0.0.0"
#endif
#ifndef VS_WEB_DIR
#define VS_WEB_DIR "/usr/share/virtsnap/web"
#endif

#define TASK_KEEP_SECONDS 3600

/* A number option not given (0 is a value, refused where out of range). */
#define UNSET G_MININT64

typedef struct {
    char *listen, *connect, *state_dir, *tls_cert, *tls_key, *config, *web_dir, *pam_service,
        *log_level, *domain_type, *live_snapshots, *public_origin, *login_group;
    gint64 session_ttl;    /* UNSET: not given */
    gint64 session_max_age; /* UNSET: not given */
    gint64 basic_remember; /* UNSET: not given */
    gint64 max_body;       /* UNSET: not given */
    gboolean version;
    GPtrArray *from_config; /* the keys that --config gave (its flags not given) */
} Options;

static void options_clear(Options *o)
{
    char **strings[] = {&o->listen,   &o->connect, &o->state_dir,   &o->tls_cert,
                        &o->tls_key,  &o->config,  &o->web_dir,     &o->pam_service,
                        &o->log_level, &o->domain_type, &o->live_snapshots, &o->public_origin,
                        &o->login_group};
    for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
        g_clear_pointer(strings[i], g_free);
    g_clear_pointer(&o->from_config, g_ptr_array_unref);
}

/* ORIGIN ("https://Name:443", say) as browsers send it ("https://name"):
 * lower case, the default port left out, an IPv6 address in brackets; NULL
 * unless it is a scheme, an ASCII host and an optional port, nothing else. */
static char *canonical_origin(const char *origin)
{
    g_autoptr(GUri) uri = g_uri_parse(origin, G_URI_FLAGS_NONE, NULL);
    const char *scheme = uri ? g_uri_get_scheme(uri) : NULL;
    const char *host = uri ? g_uri_get_host(uri) : NULL;
    bool https = !g_strcmp0(scheme, "https");
    if (!uri || (!https && g_strcmp0(scheme, "http")) || !host || !*host || !g_str_is_ascii(host) ||
        strchr(host, '%') || *g_uri_get_path(uri) || g_uri_get_userinfo(uri) ||
        g_uri_get_query(uri) || g_uri_get_fragment(uri) || g_str_has_suffix(origin, ":"))
        return NULL;
    int port = g_uri_get_port(uri);
    g_autofree char *name = g_ascii_strdown(host, -1);
    bool v6 = strchr(name, ':') != NULL;
    g_autofree char *authority = g_strdup_printf("%s%s%s", v6 ? "[" : "", name, v6 ? "]" : "");
    if (port > 0 && port != (https ? 443 : 80))
        return g_strdup_printf("%s://%s:%d", scheme, authority, port);
    return g_strdup_printf("%s://%s", scheme, authority);
}

static char *default_state_dir(void)
{
    if (geteuid() == 0)
        return g_strdup("/var/lib/virtsnap");
    return g_build_filename(g_get_user_state_dir(), "virtsnap", NULL);
}

/* Fills options the command line left unset from the [virtsnapd] group of
 * the key file. */
static bool load_config(Options *o, GError **error)
{
    if (!o->config)
        return true;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, o->config, G_KEY_FILE_NONE, error))
        return false;
    struct { const char *key; char **slot; } strings[] = {
        {"listen", &o->listen},       {"connect", &o->connect},   {"state_dir", &o->state_dir},
        {"tls_cert", &o->tls_cert},   {"tls_key", &o->tls_key},   {"web_dir", &o->web_dir},
        {"pam_service", &o->pam_service}, {"log_level", &o->log_level},
        {"domain_type", &o->domain_type}, {"live_snapshots", &o->live_snapshots},
        {"public_origin", &o->public_origin}, {"login_group", &o->login_group},
    };
    struct { const char *key; gint64 *slot; } numbers[] = {
        {"session_ttl", &o->session_ttl}, {"max_body", &o->max_body},
        {"session_max_age", &o->session_max_age}, {"basic_remember", &o->basic_remember},
    };
    /* A key or group that is not ours is a typo (session-ttl, [virtsnap]):
     * refused rather than silently ignored. */
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++)
        if (strcmp(*g, "virtsnapd") != 0) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "unknown group [%s] (the settings go in [virtsnapd])", *g);
            return false;
        }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, "virtsnapd", NULL, NULL);
    for (char **k = keys; k && *k; k++) {
        bool known = false;
        for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
            known |= strcmp(*k, strings[i].key) == 0;
        for (size_t i = 0; i < G_N_ELEMENTS(numbers); i++)
            known |= strcmp(*k, numbers[i].key) == 0;
        if (!known) {
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "unknown key '%s' in [virtsnapd] (keys are the long flags' names with "
                        "'_' for '-', see virtsnapd(8))", *k);
            return false;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
        if (!*strings[i].slot &&
            (*strings[i].slot = g_key_file_get_string(kf, "virtsnapd", strings[i].key, NULL)))
            g_ptr_array_add(o->from_config, (gpointer)strings[i].key);
    for (size_t i = 0; i < G_N_ELEMENTS(numbers); i++) {
        if (*numbers[i].slot != UNSET ||
            !g_key_file_has_key(kf, "virtsnapd", numbers[i].key, NULL))
            continue;
        g_autoptr(GError) bad = NULL;
        *numbers[i].slot = g_key_file_get_int64(kf, "virtsnapd", numbers[i].key, &bad);
        if (bad) {
            g_autofree char *value = g_key_file_get_value(kf, "virtsnapd", numbers[i].key, NULL);
            g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                        "%s must be a whole number, not '%s' (in %s)", numbers[i].key,
                        value ? value : "", o->config);
            return false;
        }
        g_ptr_array_add(o->from_config, (gpointer)numbers[i].key);
    }
    return true;
}

/* ERROR names a setting ("--log-level must be …", "max_body must be …"):
 * when --config gave its value, says so with the key's name. */
static void name_config_key(const Options *o, GError *error)
{
    for (guint i = 0; i < o->from_config->len; i++) {
        const char *key = g_ptr_array_index(o->from_config, i);
        g_autofree char *flag = g_strdup_printf("--%s", key);
        g_strdelimit(flag, "_", '-');
        if (strstr(error->message, flag) || g_str_has_prefix(error->message, key)) {
            char *named = g_strdup_printf("%s (key %s in %s)", error->message, key, o->config);
            g_free(error->message);
            error->message = named;
            return;
        }
    }
}

#define MIN_MAX_BODY 4096
#define MAX_MAX_BODY (1024 * 1024 * 1024)

/* Whether VALUE of option NAME lies within MIN..MAX (in UNIT), else false
 * with ERROR saying so. */
static bool in_range(const char *name, gint64 value, gint64 min, gint64 max, const char *unit,
                     GError **error)
{
    if (value >= min && value <= max)
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                "%s must be between %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT " %s", name, min,
                max, unit);
    return false;
}

/* Whether the TLS key at PATH is kept from other users (its owner's and
 * its group's: Debian's ssl-cert group reads keys that way); one that
 * cannot be read is reported when it is loaded. */
static bool tls_key_private(const char *path, GError **error)
{
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & (S_IROTH | S_IWOTH)))
        return true;
    g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                "--tls-key %s: refusing it, every user on this host can read or change it; make "
                "it private first (chmod o-rwx %s)", path, path);
    return false;
}

/* Checks every setting before anything is made: false, with ERROR saying
 * which and why, on the first that is wrong (exit status 2). Numbers left
 * UNSET take their defaults later. */
static bool check_options(const Options *o, GError **error)
{
    const char *bad = NULL;
    g_autofree char *host = NULL;
    guint16 port = 0;
    if (o->log_level && strcmp(o->log_level, "debug") && strcmp(o->log_level, "info") &&
        strcmp(o->log_level, "warn"))
        bad = "--log-level must be debug, info or warn";
    else if (o->domain_type && strcmp(o->domain_type, "kvm") && strcmp(o->domain_type, "qemu"))
        bad = "--domain-type must be kvm or qemu";
    else if (o->live_snapshots && strcmp(o->live_snapshots, "auto") &&
             strcmp(o->live_snapshots, "off"))
        bad = "--live-snapshots must be auto or off";
    else if (!o->tls_cert != !o->tls_key)
        bad = "--tls-cert and --tls-key go together";
    else if (o->listen && !vs_listen_parse(o->listen, &host, &port))
        bad = "--listen must be ADDR:PORT (an IPv6 address in brackets: [::1]:8001)";
    if (bad)
        g_set_error_literal(error, VS_ERROR, VS_ERR_INVALID, bad);
    return !bad && (!o->tls_key || tls_key_private(o->tls_key, error)) &&
           (o->session_ttl == UNSET ||
            in_range("--session-ttl", o->session_ttl, 1, VS_MAX_SESSION_TTL, "seconds", error)) &&
           (o->session_max_age == UNSET || in_range("--session-max-age", o->session_max_age, 1,
                                                    VS_MAX_SESSION_TTL, "seconds", error)) &&
           (o->basic_remember == UNSET || in_range("--basic-remember", o->basic_remember, 0,
                                                VS_MAX_BASIC_REMEMBER, "seconds", error)) &&
           (o->max_body == UNSET ||
            in_range("max_body", o->max_body, MIN_MAX_BODY, MAX_MAX_BODY, "bytes", error));
}

/* The API token in STATE/token (mode 0600), made at first start. */
static char *load_or_make_token(const char *state_dir, GError **error)
{
    g_autofree char *path = g_build_filename(state_dir, "token", NULL);
    int existing = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (existing >= 0 || errno != ENOENT) {
        /* One that another user could have written or read lets its holder in. */
        char text[256] = "";
        ssize_t n = -1;
        if (existing < 0 ||
            (vs_state_file_private(existing, path, error) &&
             (n = read(existing, text, sizeof text - 1)) < 0))
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot read %s: %s", path,
                        g_strerror(errno));
        if (existing >= 0)
            close(existing);
        if (n < 0)
            return NULL;
        text[n] = '\0';
        g_strstrip(text);
        if (strlen(text) >= 32)
            return g_strdup(text);
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "%s is too short to be a token; delete it", path);
        return NULL;
    }
    g_autofree char *token = vs_random_hex(32); /* 256 bits */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    g_autofree char *line = g_strdup_printf("%s\n", token);
    if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line) || fsync(fd) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write %s: %s", path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    close(fd);
    vs_info("wrote a new API token to %s", path);
    return g_steal_pointer(&token);
}

/* Each client connection, VM console, disk copy and libvirt connection
 * holds descriptors: the soft limit (1024 under systemd) is raised to the
 * hard one, so that a full connection table cannot starve the rest. */
static void raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

/* The SIGTERM and SIGINT sources: the first signal removes both, so that
 * a second one, while the stop waits for the requests being served, ends
 * the daemon at once (the signals' default action). */
static guint stop_signals[2];

static gboolean on_signal(gpointer loop)
{
    vs_info("stopping (running VMs keep running)");
    g_main_loop_quit(loop);
    for (gsize i = 0; i < G_N_ELEMENTS(stop_signals); i++)
        if (stop_signals[i] && stop_signals[i] != g_source_get_id(g_main_current_source()))
            g_source_remove(stop_signals[i]);
    return G_SOURCE_REMOVE;
}

static gboolean expire_tasks(gpointer unused)
{
    (void)unused;
    vs_tasks_expire(TASK_KEEP_SECONDS);
    return G_SOURCE_CONTINUE;
}

static gpointer recover(gpointer unused)
{
    (void)unused;
    return GINT_TO_POINTER(vs_journal_recover());
}

static int run(Options *o)
{
    g_autoptr(GError) error = NULL;
    if (!load_config(o, &error)) {
        vs_error("cannot read config %s: %s", o->config, error->message);
        return 2;
    }
    if (!check_options(o, &error)) {
        name_config_key(o, error);
        vs_error("%s", error->message);
        return 2;
    }
    if (o->log_level && !strcmp(o->log_level, "debug"))
        vs_log_set_level(VS_LOG_DEBUG);
    else if (o->log_level && !strcmp(o->log_level, "warn"))
        vs_log_set_level(VS_LOG_WARN);
    if (o->public_origin) {
        char *canonical = canonical_origin(o->public_origin);
        if (!canonical) {
            g_set_error_literal(&error, VS_ERROR, VS_ERR_INVALID,
                                "--public-origin must be https://HOST[:PORT] or http://HOST[:PORT] "
                                "(an ASCII host name, punycode for others; no path, no trailing "
                                "slash)");
            name_config_key(o, error);
            vs_error("%s", error->message);
            return 2;
        }
        g_free(o->public_origin);
        o->public_origin = canonical;
        vs_info("public origin (a proxy in front): %s", o->public_origin);
    }
    const char *listen = o->listen ? o->listen : "127.0.0.1:8001";
    int listen_fd = vs_server_listen(listen, &error);
    if (listen_fd < 0) {
        vs_error("%s", error->message);
        return 1;
    }
    if (!o->state_dir)
        o->state_dir = default_state_dir();
    /* absolute, without "." or ".." parts: the daemon's files are known by
     * their place under it */
    char *canonical_state = g_canonicalize_filename(o->state_dir, NULL);
    g_free(o->state_dir);
    o->state_dir = canonical_state;
    if (!vs_state_dir_make(o->state_dir, &error) || !vs_state_lock(o->state_dir, &error)) {
        vs_error("%s", error->message);
        return 1;
    }
    g_autofree char *token = load_or_make_token(o->state_dir, &error);
    vs_snapshot_set_live_default(g_strcmp0(o->live_snapshots, "off") == 0 ? VS_LIVE_OFF
                                                                          : VS_LIVE_AUTO);
    /* Once the settings, the address and the state directory are known
     * good (a start refused before this ends with no thread under way:
     * LeakSanitizer took the reaper thread's start for a leak when the
     * process exited at once), and before libvirt forks anything: exited
     * QEMUs are then reaped here at once rather than by PID 1
     * (util/reaper.c). */
    vs_reaper_start();
    VsHvConfig hv = {.uri = o->connect, .state_dir = o->state_dir, .domain_type = o->domain_type};
    if (!token || !vs_snapnames_init(o->state_dir, &error) ||
        !vs_journal_init(o->state_dir, &error)) {
        vs_error("%s", error->message);
        return 1;
    }
    if (!vs_hv_init(&hv, &error)) {
        /* A --domain-type the host does not offer is a wrong setting found
         * once libvirt answers: 2, which systemd does not restart
         * (contrib/virtsnapd.service). */
        bool bad_setting = g_error_matches(error, VS_ERROR, VS_ERR_INVALID);
        if (bad_setting)
            name_config_key(o, error);
        vs_error("%s", error->message);
        return bad_setting ? 2 : 1;
    }
    /* On a thread of its own: the qemu-img children recovery waits for
     * (g_spawn_sync) are then that thread's, which the reaper never takes,
     * however late the wait comes (util/reaper.c: it takes the main
     * thread's after 100 ms, and g_spawn_sync would then report success). */
    int recovered = GPOINTER_TO_INT(g_thread_join(g_thread_new("recover", recover, NULL)));
    if (recovered)
        vs_info("recovered %d operation(s) interrupted by the last stop", recovered);
    VsAuthConfig auth = {.token = token,
                         .pam_service = o->pam_service,
                         .login_group = o->login_group,
                         .session_ttl = o->session_ttl,
                         .session_max_age = o->session_max_age,
                         .basic_remember = o->basic_remember == UNSET ? -1 : o->basic_remember,
                         .proxied = o->public_origin != NULL};
    vs_auth_init(&auth);
    vs_tasks_init();
    vs_tasks_set_namer(vs_task_name_target);
    g_autofree char *tasks_dir = g_build_filename(o->state_dir, "tasks", NULL);
    if (!vs_tasks_persist(tasks_dir, &error)) {
        vs_error("cannot keep task records in %s: %s", tasks_dir, error->message);
        return 1;
    }
    g_autofree char *host = NULL;
    guint16 port = 0;
    if (!o->tls_cert && vs_listen_parse(listen, &host, &port) && !vs_listen_is_loopback(host)) {
        /* Never plain HTTP beyond loopback: make a certificate if none was given. */
        g_autofree char *fingerprint = NULL;
        if (!vs_tls_self_signed(o->state_dir, &o->tls_cert, &o->tls_key, &fingerprint, &error)) {
            vs_error("%s", error->message);
            return 1;
        }
        vs_info("serving TLS with the self-signed certificate %s (SHA-256 %s)", o->tls_cert,
                fingerprint);
    }
    VsServerConfig server_config = {
        .listen = listen,
        .tls_cert = o->tls_cert,
        .tls_key = o->tls_key,
        .web_dir = o->web_dir ? o->web_dir : VS_WEB_DIR,
        .max_body = o->max_body > 0 ? (size_t)o->max_body : 1024 * 1024,
        .public_origin = o->public_origin,
    };
    g_autofree char *index = g_build_filename(server_config.web_dir, "index.html", NULL);
    if (!g_file_test(index, G_FILE_TEST_IS_REGULAR))
        vs_warn("no web UI: %s has no index.html (see --web-dir); the API is served",
                server_config.web_dir);
    VsServer *server = vs_server_start(&server_config, listen_fd, &error);
    if (!server) {
        vs_error("%s", error->message);
        vs_hv_shutdown();
        return 1;
    }
    g_autofree char *token_path = g_build_filename(o->state_dir, "token", NULL);
    vs_info("virtsnapd %s listening on %s (API token in %s)", VS_VERSION, vs_server_url(server),
            token_path);
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    stop_signals[0] = g_unix_signal_add(SIGTERM, on_signal, loop);
    stop_signals[1] = g_unix_signal_add(SIGINT, on_signal, loop);
    g_timeout_add_seconds(60, expire_tasks, NULL);
    vs_settler_start();
    vs_janitor_start();
    vs_definition_read_ahead_start();
    g_main_loop_run(loop);
    vs_tasks_stop_waits();
    vs_journal_stop_settling();
    vs_server_stop(server);
    vs_settler_stop();
    vs_tasks_shutdown();
    vs_janitor_stop();
    vs_definition_read_ahead_stop();
    vs_hv_shutdown();
    vs_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    Options o = {.session_ttl = UNSET, .session_max_age = UNSET, .basic_remember = UNSET,
                 .max_body = UNSET, .from_config = g_ptr_array_new()};
    GOptionEntry entries[] = {
        {"listen", 'l', 0, G_OPTION_ARG_STRING, &o.listen, "Address to serve on (default 127.0.0.1:8001)", "ADDR:PORT"},
        {"connect", 'c', 0, G_OPTION_ARG_STRING, &o.connect, "libvirt URI (default: embedded QEMU driver in STATE/libvirt)", "URI"},
        {"state-dir", 's', 0, G_OPTION_ARG_FILENAME, &o.state_dir, "State directory (default /var/lib/virtsnap as root, else $XDG_STATE_HOME/virtsnap, ~/.local/state/virtsnap if unset)", "DIR"},
        {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_cert, "TLS certificate (PEM)", "FILE"},
        {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &o.tls_key, "TLS private key (PEM)", "FILE"},
        {"config", 0, 0, G_OPTION_ARG_FILENAME, &o.config, "Key file with a [virtsnapd] group; flags override it", "FILE"},
        {"web-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.web_dir, "Directory of the web UI files (default " VS_WEB_DIR ")", "DIR"},
        {"public-origin", 0, 0, G_OPTION_ARG_STRING, &o.public_origin, "Origin browsers use when a proxy serves virtsnapd (https://name[:port], or http://)", "URL"},
        {"pam-service", 0, 0, G_OPTION_ARG_STRING, &o.pam_service, "PAM service for logins (default virtsnap)", "NAME"},
        {"login-group", 0, 0, G_OPTION_ARG_STRING, &o.login_group, "Group whose members may log in besides root (default virtsnap; empty: every account PAM accepts)", "GROUP"},
        {"session-ttl", 0, 0, G_OPTION_ARG_INT64, &o.session_ttl, "Idle seconds before a login session expires (default 1800)", "SECONDS"},
        {"session-max-age", 0, 0, G_OPTION_ARG_INT64, &o.session_max_age, "Seconds after its login a session ends, however much it is used (default 86400)", "SECONDS"},
        {"basic-remember", 0, 0, G_OPTION_ARG_INT64, &o.basic_remember, "Seconds an HTTP Basic user and password that passed are taken again without PAM (default 60; 0: ask PAM every time)", "SECONDS"},
        {"domain-type", 0, 0, G_OPTION_ARG_STRING, &o.domain_type, "Domain type of new VMs: kvm or qemu (TCG); default: kvm when available", "TYPE"},
        {"live-snapshots", 0, 0, G_OPTION_ARG_STRING, &o.live_snapshots, "Snapshots of running VMs without \"live\": auto (live where possible, default) or off (classic)", "MODE"},
        {"log-level", 0, 0, G_OPTION_ARG_STRING, &o.log_level, "debug, info (default) or warn", "LEVEL"},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &o.version, "Print the version and exit", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- manage VMs and their snapshots over REST");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "virtsnapd: %s (see --help)\n", error->message);
        return 2;
    }
    if (o.version) {
        printf("virtsnapd %s\n", VS_VERSION);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    xmlInitParser();
    int rc = run(&o);
    options_clear(&o);
    xmlCleanupParser();
    return rc;
}
