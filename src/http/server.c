/* server.c: libmicrohttpd glue. Admits a request once its headers are in
 * (the Host it was sent to, the route, authentication, the Origin of a
 * browser's write, the announced body size: a refusal is answered before
 * any body is read), then collects the body up to a limit, serves static
 * files, decodes the JSON body, calls the resource handler and writes the
 * response with the security headers and an access-log line.
 *
 * Threading: one thread per connection. A revert or snapshot can hold a
 * libvirt call for seconds; with a thread per connection that stalls only
 * the request that asked for it, while every other client keeps being
 * served. Work on one VM is ordered by that VM's lock in the model. */
#include "server.h"

#include "../api/api.h"
#include "../util/error.h"
#include "../util/log.h"
#include "auth.h"
#include "router.h"
#include "routes.h"
#include "static.h"
#include "watchdog.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Connections at most, and from one address: each holds a thread. Past
 * CONNECTION_LIMIT - CONNECTION_HEADROOM open, each new connection closes
 * one waiting for a request (watchdog.h): idle ones from a few addresses
 * cannot keep everyone else out. */
#define CONNECTION_LIMIT 512u
#define CONNECTION_HEADROOM 64u
#define PER_IP_CONNECTION_LIMIT 128u
/* TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct VsServer {
    struct MHD_Daemon *mhd;
    VsServerConfig config;
    char *web_dir;
    char *url;
    char *tls_cert_pem, *tls_key_pem;
    char *public_host; /* the host name of config.public_origin, or NULL */
    char *listen_host; /* the host of config.listen, as given */
    bool on_loopback;  /* listening on a loopback address */
    struct sockaddr_storage addr;
    VsWatchdog *watchdog; /* headers trickled for too long close the connection */
    /* Stopping: requests being served are let finish and answer (up to
     * DRAIN_SECONDS); new ones get 503. */
    GMutex drain_lock;
    GCond drained;
    guint in_flight; /* requests begun and not yet answered (drain_lock) */
    bool stopping;   /* (drain_lock) */
};

/* How long a stop waits for the requests being served: a revert may take
 * a while, and systemd's default stop timeout is 90 s. */
#define DRAIN_SECONDS 80

/* A body still coming this long after the request began, or this far
 * past the limit (a chunked one, whose length was not announced), closes
 * the connection: no thread is held by a body trickled or streamed without
 * end. (libmicrohttpd can answer 413 only once the body is in.) */
#define MAX_BODY_SECONDS 60

/* The most a request that needs no body (GET, HEAD, a path no route
 * takes) or a login's or logout's may send: small, since these are
 * answered before any credentials are checked. */
#define SMALL_BODY_MAX 4096

typedef struct {
    GString *body;
    size_t limit; /* of its body: max_body, or SMALL_BODY_MAX */
    bool too_large;
    size_t past_limit; /* bytes read and thrown away once too large */
    gint64 started;
    VsRouteMatch match;
    char *principal; /* who the headers proved, for an API route */
    VsAuthKind kind;
    char *method, *url; /* for the log line, written once the answer is sent */
    char peer[INET6_ADDRSTRLEN]; /* the client's address, for logins' log lines */
    int status;         /* of the answer, 0 while there is none */
    bool counted;       /* in the server's in_flight */
} RequestState;

static const char *const security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
};

/* MODE: MHD_RESPMEM_MUST_COPY, or MHD_RESPMEM_MUST_FREE to hand DATA (from
 * malloc) over without a copy: a long listing is several MB. */
static enum MHD_Result send_bytes(struct MHD_Connection *conn, int status, const void *data,
                                  size_t len, enum MHD_ResponseMemoryMode mode,
                                  const char *content_type, const VsApiResponse *api,
                                  const char *allow, bool challenge)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!resp) { /* out of memory: the connection is closed */
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)data);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; i < G_N_ELEMENTS(security_headers); i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
    if (api && api->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, api->location);
    if (api && api->set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, api->set_cookie);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (challenge) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"virtsnap\"");
        const char *xrw = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Requested-With");
        if (!xrw) /* the web UI asks not to trigger the browser's password dialog */
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                    "Basic realm=\"virtsnap\", charset=\"UTF-8\"");
    }
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A response at least this long (a listing of thousands of snapshots or
 * tasks) leaves megabytes of freed temporaries behind in the thread's malloc
 * arena, in holes between long-lived allocations that malloc does not give
 * back on its own: dispatch() then returns the free pages to the system. */
#define TRIM_AFTER_BYTES (1024 * 1024)

/* Sends an API response (JSON or empty); *SENT: the body's length. */
static enum MHD_Result send_api(struct MHD_Connection *conn, VsApiResponse *api,
                                const char *allow, bool challenge, size_t *sent)
{
    size_t len = 0;
    char *text = NULL; /* from malloc (jansson's and GLib's allocator): MHD frees it */
    if (api->text) {
        len = api->text->len;
        text = g_string_free(g_steal_pointer(&api->text), FALSE);
    } else if (api->body) {
        text = json_dumps(api->body, VS_JSON_DUMP_FLAGS);
        len = text ? strlen(text) : 0;
    }
    *sent = len;
    if (!text)
        return send_bytes(conn, api->status, "", 0, MHD_RESPMEM_PERSISTENT, NULL, api, allow,
                          challenge);
    return send_bytes(conn, api->status, text, len, MHD_RESPMEM_MUST_FREE, "application/json", api,
                      allow, challenge);
}

typedef struct {
    GHashTable *query;
    GHashTable *bare; /* the names given without '=' ("?children") */
    char *bad;
} QueryParse;

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    QueryParse *qp = cls;
    char *k = vs_percent_decode(key, -1, true);
    char *v = value ? vs_percent_decode(value, -1, true) : g_strdup("");
    if (!k || !v || !g_utf8_validate(k, -1, NULL) || !g_utf8_validate(v, -1, NULL)) {
        if (!qp->bad)
            qp->bad = g_strdup(key);
        g_free(k);
        g_free(v);
        return MHD_YES;
    }
    if (g_hash_table_contains(qp->query, k)) {
        if (!qp->bad)
            qp->bad = g_strdup(k);
        g_free(k);
        g_free(v);
        return MHD_YES;
    }
    if (!value)
        g_hash_table_add(qp->bare, g_strdup(k));
    g_hash_table_insert(qp->query, k, v);
    return MHD_YES;
}

/* "application/json", optionally followed by ";" parameters (RFC 9110),
 * of which a charset can only be UTF-8: JSON has no other (RFC 8259). */
static bool content_type_is_json(const char *type)
{
    size_t n = strlen("application/json");
    if (!type || g_ascii_strncasecmp(type, "application/json", n) != 0)
        return false;
    const char *rest = type + n;
    rest += strspn(rest, " \t");
    if (*rest == '\0')
        return true;
    if (*rest != ';')
        return false;
    g_auto(GStrv) params = g_strsplit(rest + 1, ";", -1);
    for (char **p = params; *p; p++) {
        g_autofree char *param = g_strstrip(g_strdup(*p));
        if (g_ascii_strncasecmp(param, "charset=", 8) != 0)
            continue;
        const char *charset = param + 8;
        if (g_ascii_strcasecmp(charset, "utf-8") != 0 &&
            g_ascii_strcasecmp(charset, "\"utf-8\"") != 0)
            return false;
    }
    return true;
}

/* The name in a Host header or URL authority ("name[:port]", "[v6][:port]"),
 * or NULL. */
static char *host_name(const char *host)
{
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        return end ? g_strndup(host + 1, (gsize)(end - host - 1)) : NULL;
    }
    const char *colon = strchr(host, ':');
    return colon ? g_strndup(host, (gsize)(colon - host)) : g_strdup(host);
}

/* Whether the Host header HOST names a loopback address. */
static bool host_is_loopback(const char *host)
{
    g_autofree char *name = host_name(host);
    return name && vs_listen_is_loopback(name);
}

/* Served on loopback, a request must have been sent to a loopback name, to
 * the name virtsnapd was told to listen on (say a host name that
 * /etc/hosts maps to 127.0.1.1), or to the public origin's host, through
 * its proxy: a page whose own name resolves to 127.0.0.1 (DNS rebinding)
 * would otherwise be "same origin" with virtsnapd and could have the
 * browser ask for a password for it. A request without Host (HTTP/1.0, not
 * a browser) passes. */
static bool host_allowed(const VsServer *srv, struct MHD_Connection *conn)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!srv->on_loopback || !host)
        return true;
    g_autofree char *name = host_name(host);
    return name && (vs_listen_is_loopback(name) || g_ascii_strcasecmp(name, srv->listen_host) == 0 ||
                    (srv->public_host && g_ascii_strcasecmp(name, srv->public_host) == 0));
}

/* A state-changing request whose credentials a browser attaches by itself
 * (a session cookie, cached HTTP Basic) must come from our own pages: its
 * Origin, when sent, must be the public origin a proxy in front of
 * virtsnapd serves (--public-origin, canonical: browsers send it so), or
 * the Host it was sent to under the scheme virtsnapd serves; with a public
 * origin, the latter only on loopback (a proxy that passes the browser's
 * Host on would otherwise let a page injected at http://<public name> in). */
static bool same_origin(struct MHD_Connection *conn, bool tls, const char *public_origin)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!origin)
        return true;
    if (public_origin && g_ascii_strcasecmp(origin, public_origin) == 0)
        return true;
    const char *scheme = tls ? "https://" : "http://";
    return host && (!public_origin || host_is_loopback(host)) && g_str_has_prefix(origin, scheme) &&
           g_ascii_strcasecmp(origin + strlen(scheme), host) == 0;
}

/* Session cookies are Secure when the browser speaks https: to virtsnapd's
 * own TLS, or through the proxy of an https public origin (its login comes
 * with that Origin). A login made directly over loopback HTTP gets a plain
 * cookie, which every browser keeps. */
static bool secure_cookies(struct MHD_Connection *conn, bool tls, const char *public_origin)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    return tls || (public_origin && g_str_has_prefix(public_origin, "https://") && origin &&
                   g_ascii_strcasecmp(origin, public_origin) == 0);
}

/* The client's address as text into OUT ("?" when unknown). */
static void peer_address(struct MHD_Connection *conn, char out[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    const void *where = !sa                        ? NULL
                        : sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : sa->sa_family == AF_INET6
                            ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                            : NULL;
    if (!where || !inet_ntop(sa->sa_family, where, out, INET6_ADDRSTRLEN))
        g_strlcpy(out, "?", INET6_ADDRSTRLEN);
}

/* Parses the body into *BODY; false with an error answer in API. */
static bool parse_body(struct MHD_Connection *conn, RequestState *st, VsApiResponse *api,
                       json_t **body)
{
    *body = NULL;
    if (st->too_large) {
        vs_api_error(api, 413, "the request body is larger than the limit (%zu bytes here)",
                     st->limit);
        return false;
    }
    if (st->body->len == 0)
        return true;
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!content_type_is_json(type)) {
        vs_api_error(api, 415, "the request body must be JSON sent as Content-Type: application/json");
        return false;
    }
    json_error_t err;
    *body = json_loadb(st->body->str, st->body->len, JSON_REJECT_DUPLICATES, &err);
    if (!*body) {
        vs_api_error(api, 400, "malformed JSON body: %s (line %d, column %d)", err.text, err.line,
                     err.column);
        return false;
    }
    if (!json_is_object(*body)) {
        vs_api_error(api, 400, "the JSON body must be an object");
        json_decref(*body);
        *body = NULL;
        return false;
    }
    return true;
}

/* Path parameters that are names must be names that can be looked up; a
 * VM's or a snapshot's may be one another tool gave it, outside the rule
 * (listed, so reachable: it can be renamed to a valid one). */
static bool check_params(const VsRouteMatch *match, VsApiResponse *api)
{
    const char *pattern = match->route->pattern;
    int idx = 0;
    for (const char *p = strchr(pattern, '{'); p && idx < match->n_params; p = strchr(p + 1, '{'), idx++) {
        const char *name = match->params[idx];
        if ((g_str_has_prefix(p, "{vm}") && !vs_api_check_addressable(api, "VM", name)) ||
            (g_str_has_prefix(p, "{snap}") && !vs_api_check_addressable(api, "snapshot", name)))
            return false;
    }
    return true;
}

/* Sends API's answer and frees what it holds; a long one is followed by a
 * malloc_trim. */
static enum MHD_Result answer(struct MHD_Connection *conn, VsApiResponse *api, const char *allow,
                              bool challenge)
{
    size_t sent = 0;
    enum MHD_Result rc = send_api(conn, api, allow, challenge, &sent);
    json_decref(api->body);
    if (api->text) /* not sent: answered otherwise */
        g_string_free(api->text, TRUE);
    g_free(api->location);
    g_free(api->set_cookie);
    if (sent >= TRIM_AFTER_BYTES) {
        gint64 t0 = g_get_monotonic_time();
        malloc_trim(0);
        vs_debug("malloc_trim after a %zu-byte response: %.1f ms", sent,
                 (double)(g_get_monotonic_time() - t0) / 1000.0);
    }
    return rc;
}

/* What can be decided from the headers alone: 0 when the request may go on
 * (its body is read next), else the status of the refusal, answered in API
 * (*CHALLENGE: with WWW-Authenticate). Routes and authenticates into ST. */
/* Whether METHOD on URL is refused for its path alone (no route takes it
 * as MATCH says, or IS_STATIC: a web UI path without a file): API holds
 * the answer and *ALLOW the methods a 405 names. */
static bool route_refused(const char *method, const char *url, const VsRouteMatch *match,
                          bool is_static, VsApiResponse *api, const char **allow)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    /* The web UI's paths take GET and HEAD only. */
    bool web_path = !strcmp(url, "/") || !strcmp(url, "/index.html") ||
                    g_str_has_prefix(url, "/static/");
    if (is_static)
        vs_api_error(api, 404, "no such file: %s", url);
    else if (!get && web_path && match->status == VS_ROUTE_NOT_FOUND)
        vs_api_error(api, 405, "method %s is not allowed here; use %s", method,
                     *allow = "GET, HEAD");
    else if (match->status == VS_ROUTE_NOT_FOUND)
        vs_api_error(api, 404, "no such resource: %s", url);
    else if (match->status == VS_ROUTE_BAD_PATH)
        vs_api_error(api, 400, "the path has a malformed percent-escape");
    else if (match->status == VS_ROUTE_BAD_METHOD)
        vs_api_error(api, 405, "method %s is not allowed here; use %s", method,
                     *allow = match->allow);
    return api->status != 0;
}

static int admit(VsServer *srv, struct MHD_Connection *conn, const char *method, const char *url,
                 RequestState *st, VsApiResponse *api, const char **allow, bool *challenge)
{
    *challenge = false;
    if (!host_allowed(srv, conn)) {
        vs_api_error(api, 421, "this server does not answer for that Host: use a loopback "
                               "address, or the public origin set with --public-origin");
        return api->status;
    }
    /* libmicrohttpd takes a request line's last space as the one before
     * the version, so a path may hold spaces (and control characters),
     * which no client sends: they encode them (%20). */
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= ' ' || *p == 0x7f) {
            vs_api_error(api, 400, "the request target holds a space or a control character: "
                                   "encode it (%%20)");
            return api->status;
        }
    size_t n_routes;
    const VsRoute *routes = vs_api_routes(&n_routes);
    vs_route_match(routes, n_routes, method, url, &st->match);
    bool found = st->match.status == VS_ROUTE_FOUND;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool no_credentials_needed = !found || st->match.route->handler == (void *)vs_api_login ||
                                 st->match.route->handler == (void *)vs_api_logout;
    /* A path no route takes is answered now, its body never read (a GET
     * may still be a web UI file: found once the request is in). */
    if (!found && !get && route_refused(method, url, &st->match, false, api, allow))
        return api->status;
    st->limit = get || no_credentials_needed ? SMALL_BODY_MAX : srv->config.max_body;
    const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    st->too_large = len && g_ascii_strtoull(len, NULL, 10) > st->limit;
    if (st->too_large) {
        vs_api_error(api, 413, "the request body is larger than the limit (%zu bytes here)",
                     st->limit);
        return api->status;
    }
    /* A static file, an error, the login, or a logout (which clears the
     * cookie of an expired session too, and ends one only with its key):
     * decided once the body is in. */
    bool logout = found && st->match.route->handler == (void *)vs_api_logout;
    if (logout && !same_origin(conn, srv->config.tls_cert != NULL, srv->config.public_origin)) {
        /* a cross-site form would sign the user's tabs out */
        vs_api_error(api, 403, "cross-site request refused: Origin does not match");
        return api->status;
    }
    if (no_credentials_needed)
        return 0;
    const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, VS_SESSION_KEY_HEADER);
    st->principal = vs_auth_check(authz, cookie, key, st->peer, &st->kind);
    if (!st->principal && st->kind == VS_AUTH_BUSY) {
        vs_api_error(api, 503, VS_AUTH_BUSY_REASON);
    } else if (!st->principal) {
        /* Whether something was sent that was refused (a stale token, an
         * expired session), or nothing at all. */
        bool sent = (authz && *authz) || (key && *key);
        vs_api_error(api, 401,
                     "%s: send the API token as 'Authorization: Bearer <token>', log in (the "
                     "session cookie with the key the login answered, in '" VS_SESSION_KEY_HEADER
                     "'), or use HTTP Basic",
                     sent ? "the credentials sent were not accepted (a wrong or old token, an "
                            "ended session, or a refused account)"
                          : "authentication required");
        *challenge = true;
    } else if ((st->kind == VS_AUTH_SESSION || st->kind == VS_AUTH_BASIC) && !get &&
               !same_origin(conn, srv->config.tls_cert != NULL, srv->config.public_origin)) {
        vs_api_error(api, 403, "cross-site request refused: Origin does not match");
    }
    return api->status;
}

/* Answers the admitted request ST once its body is in. */
static enum MHD_Result dispatch(VsServer *srv, struct MHD_Connection *conn, const char *method,
                                const char *url, RequestState *st, int *status_out)
{
    VsApiResponse api = {0};
    bool is_static = false;
    const char *content_type = NULL;
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    g_autoptr(GBytes) file = get ? vs_static_lookup(srv->web_dir, url, &content_type, &is_static) : NULL;
    if (file) {
        *status_out = 200;
        gsize len = 0;
        const void *data = g_bytes_get_data(file, &len);
        return send_bytes(conn, 200, data ? data : "", len, MHD_RESPMEM_MUST_COPY, content_type,
                          NULL, NULL, false);
    }
    VsRouteMatch *match = &st->match;
    g_autoptr(GHashTable) query = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GHashTable) bare = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    QueryParse qp = {query, bare, NULL};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &qp);
    const char *cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
    bool challenge = false;
    json_t *body = NULL;

    const char *allow = NULL;
    if (route_refused(method, url, match, is_static, &api, &allow))
        ;
    else if (qp.bad)
        vs_api_error(&api, 400, "query parameter '%s' is malformed or repeated", qp.bad);
    else if (check_params(match, &api) && parse_body(conn, st, &api, &body)) {
        bool tls = srv->config.tls_cert != NULL;
        VsApiRequest req = {.method = method,
                            .path = url,
                            .params = match->params,
                            .n_params = match->n_params,
                            .query = query,
                            .bare = bare,
                            .body = body,
                            .principal = st->principal,
                            .cookie = cookie,
                            .secure = secure_cookies(conn, tls, srv->config.public_origin),
                            .peer = st->peer,
                            .session_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                       VS_SESSION_KEY_HEADER)};
        ((VsApiHandler)match->route->handler)(&req, &api);
        if (!api.status)
            vs_api_error(&api, 500, "internal error: the handler gave no answer");
        challenge = api.status == 401; /* a refused POST /login: a 401 always challenges */
    }
    *status_out = api.status;
    g_free(qp.bad);
    json_decref(body);
    return answer(conn, &api, allow, challenge);
}

/* TEXT as one word of a log line (vs_log_word), or NULL when it is one
 * already (no copy for the common case, on every request). */
static char *logged_word(const char *text)
{
    return vs_log_is_word(text) ? NULL : vs_log_word(text);
}

/* After the answer was sent (on_completed): the log line's write is not in
 * the client's wait (a system call of 20-70 µs on this machine, on every
 * request). The time is until the answer was sent. */
static void log_request(const RequestState *st, enum MHD_RequestTerminationCode code)
{
    /* who (the principal the credentials proved, if any) and from where:
     * an audit of who deleted or reverted what, each field one word */
    g_autofree char *method = logged_word(st->method);
    g_autofree char *url = logged_word(st->url);
    g_autofree char *principal = st->principal ? logged_word(st->principal) : NULL;
    vs_info("%s %s %d %.1fms%s%s from %s%s", method ? method : st->method, url ? url : st->url,
            st->status, (double)(g_get_monotonic_time() - st->started) / 1000.0,
            st->principal ? " by " : "",
            principal ? principal : st->principal ? st->principal : "", st->peer,
            code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (answer not delivered)");
}

/* The connection's watch (watchdog.h), or NULL. */
static VsWatched *watched(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    VsServer *srv = cls;
    RequestState *st = *con_cls;
    if (!st) {
        st = g_new0(RequestState, 1);
        st->body = g_string_new(NULL);
        st->started = g_get_monotonic_time();
        st->method = g_strdup(method);
        st->url = g_strdup(url);
        peer_address(conn, st->peer);
        st->limit = srv->config.max_body;
        *con_cls = st;
        /* Closed to make room (watchdog.h) as its headers came in: nothing
         * runs (its answer could not be delivered). */
        if (!vs_watchdog_busy(srv->watchdog, watched(conn)))
            return MHD_NO;
        VsApiResponse api = {0};
        const char *allow = NULL;
        bool challenge = false;
        g_mutex_lock(&srv->drain_lock);
        bool stopping = srv->stopping;
        st->counted = !stopping;
        srv->in_flight += st->counted;
        g_mutex_unlock(&srv->drain_lock);
        int refused = 0;
        if (stopping) {
            vs_api_error(&api, 503, "virtsnapd is stopping: try again once it is back");
            refused = api.status;
        } else {
            refused = admit(srv, conn, method, url, st, &api, &allow, &challenge);
        }
        /* One admitted without credentials (a login, a logout, a static
         * file) may be closed to make room until its body is in, as if its
         * headers were still coming: else bodies trickled by anyone would
         * keep connections from being closed (up to MAX_BODY_SECONDS). */
        if (!refused && !st->principal)
            vs_watchdog_idle(srv->watchdog, watched(conn));
        if (!refused)
            return MHD_YES;
        /* Answered now: the body, if any, is never read (MHD closes the
         * connection after this answer). */
        st->status = refused;
        return answer(conn, &api, allow, challenge);
    }
    if (*upload_size) {
        if (!st->too_large && st->body->len + *upload_size > st->limit) {
            st->too_large = true;
            g_string_truncate(st->body, 0); /* it will not be used */
        }
        if (!st->too_large)
            g_string_append_len(st->body, upload_data, (gssize)*upload_size);
        else
            st->past_limit += *upload_size;
        *upload_size = 0;
        if (st->past_limit > st->limit ||
            g_get_monotonic_time() - st->started > MAX_BODY_SECONDS * G_USEC_PER_SEC) {
            vs_warn("%s %s: body %s: connection closed", st->method, st->url,
                    st->too_large ? "far over the limit" : "still coming after 60 s");
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (!st->principal && !vs_watchdog_busy(srv->watchdog, watched(conn)))
        return MHD_NO; /* closed to make room while its body came */
    return dispatch(srv, conn, method, url, st, &st->status);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    VsServer *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        char peer[INET6_ADDRSTRLEN];
        peer_address(conn, peer);
        *socket_context = vs_watchdog_add(srv->watchdog, fd ? fd->connect_fd : -1, peer);
    } else {
        vs_watchdog_remove(srv->watchdog, *socket_context);
        *socket_context = NULL;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    VsServer *srv = cls;
    vs_watchdog_idle(srv->watchdog, watched(conn));
    RequestState *st = *con_cls;
    if (st && st->counted) {
        g_mutex_lock(&srv->drain_lock);
        if (--srv->in_flight == 0)
            g_cond_broadcast(&srv->drained);
        g_mutex_unlock(&srv->drain_lock);
    }
    if (st) {
        if (st->status)
            log_request(st, code);
        g_free(st->method);
        g_free(st->url);
        g_string_free(st->body, TRUE);
        vs_route_match_clear(&st->match);
        g_free(st->principal);
        g_free(st);
        *con_cls = NULL;
    }
}

/* Leaves paths as sent: the router decodes each segment itself, so that
 * "%2F" stays inside a name. */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

bool vs_listen_parse(const char *listen, char **host, guint16 *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return false;
    g_autofree char *h = g_strndup(listen, (gsize)(colon - listen));
    if (h[0] == '[') {
        size_t n = strlen(h);
        if (n < 3 || h[n - 1] != ']')
            return false;
        char *inner = g_strndup(h + 1, n - 2);
        g_free(h);
        h = inner;
    }
    char *end = NULL;
    guint64 p = g_ascii_strtoull(colon + 1, &end, 10);
    if (!*(colon + 1) || *end || p > 65535)
        return false;
    *host = g_steal_pointer(&h);
    *port = (guint16)p;
    return true;
}

bool vs_listen_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (g_ascii_strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

/* Whether the address ADDR (resolved from the listen host) is loopback: what
 * is bound decides, not how its name was written. */
static bool addr_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family != AF_INET6)
        return false;
    const struct in6_addr *v6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

/* LISTEN's host (as given) and port, and the address it resolves to. */
static bool resolve_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addr_len,
                           char **host_out, guint16 *port, GError **error)
{
    g_autofree char *host = NULL;
    if (!vs_listen_parse(listen, &host, port)) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "cannot parse listen address '%s' (want ADDR:PORT)",
                    listen);
        return false;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    g_autofree char *service = g_strdup_printf("%u", *port);
    bool localhost = g_ascii_strcasecmp(host, "localhost") == 0;
    if (getaddrinfo(localhost ? "127.0.0.1" : host, service, &hints, &res) != 0 || !res) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "cannot resolve listen address '%s'", host);
        return false;
    }
    memset(addr, 0, sizeof *addr);
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    *host_out = g_steal_pointer(&host);
    return true;
}

int vs_server_listen(const char *address, GError **error)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    g_autofree char *host = NULL;
    guint16 port = 0;
    if (!resolve_listen(address, &addr, &addr_len, &host, &port, error))
        return -1;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    /* As libmicrohttpd sets them on a socket of its own. */
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
        (addr.ss_family != AF_INET6 ||
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0) &&
        bind(fd, (struct sockaddr *)&addr, addr_len) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    int err = errno;
    g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot listen on %s: %s", address,
                g_strerror(err));
    if (fd >= 0)
        close(fd);
    return -1;
}

/* The port LISTEN_FD is bound to. */
static guint16 bound_port(const struct sockaddr_storage *addr)
{
    return ntohs(addr->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)addr)->sin6_port
                                             : ((const struct sockaddr_in *)addr)->sin_port);
}

/* Fills SRV from CONFIG and LISTEN_FD, checks that plain HTTP stays on
 * loopback and reads the TLS files: false, with ERROR, if it may not be
 * served. */
static bool prepare(VsServer *srv, const VsServerConfig *config, int listen_fd, GError **error)
{
    g_autofree char *host = NULL;
    guint16 port = 0;
    socklen_t addr_len = sizeof srv->addr;
    srv->config = *config;
    if (!vs_listen_parse(config->listen, &host, &port) ||
        getsockname(listen_fd, (struct sockaddr *)&srv->addr, &addr_len) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID, "no socket listening on '%s'", config->listen);
        return false;
    }
    bool tls = config->tls_cert && config->tls_key;
    if (!tls && !(vs_listen_is_loopback(host) && addr_is_loopback(&srv->addr))) {
        g_set_error(error, VS_ERROR, VS_ERR_INVALID,
                    "refusing to serve plain HTTP on non-loopback address %s: give --tls-cert and --tls-key",
                    host);
        return false;
    }
    if (tls && (!g_file_get_contents(config->tls_cert, &srv->tls_cert_pem, NULL, error) ||
                !g_file_get_contents(config->tls_key, &srv->tls_key_pem, NULL, error)))
        return false;
    srv->web_dir = g_strdup(config->web_dir);
    srv->config.web_dir = srv->web_dir;
    srv->on_loopback = addr_is_loopback(&srv->addr);
    srv->listen_host = g_strdup(host);
    if (config->public_origin) {
        const char *authority = strstr(config->public_origin, "://");
        srv->public_host = authority ? host_name(authority + 3) : NULL;
    }
    bool v6 = strchr(host, ':') != NULL;
    srv->url = g_strdup_printf("%s://%s%s%s:%u", tls ? "https" : "http", v6 ? "[" : "", host,
                               v6 ? "]" : "", bound_port(&srv->addr));
    return true;
}

/* What vs_server_stop frees, for a server that never started too. */
static void free_server(VsServer *srv)
{
    g_mutex_clear(&srv->drain_lock);
    g_cond_clear(&srv->drained);
    if (srv->watchdog)
        vs_watchdog_free(srv->watchdog);
    g_free(srv->url);
    g_free(srv->web_dir);
    g_free(srv->tls_cert_pem);
    g_free(srv->tls_key_pem);
    g_free(srv->public_host);
    g_free(srv->listen_host);
    g_free(srv);
}

VsServer *vs_server_start(const VsServerConfig *config, int listen_fd, GError **error)
{
    VsServer *srv = g_new0(VsServer, 1);
    g_mutex_init(&srv->drain_lock);
    g_cond_init(&srv->drained);
    if (!prepare(srv, config, listen_fd, error)) {
        close(listen_fd);
        free_server(srv);
        return NULL;
    }
    /* poll(), not select(): descriptors may go beyond 1024 (main.c raises
     * the limit). */
    /* ITC: MHD_quiesce_daemon needs it in this threading mode. */
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (srv->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (srv->tls_cert_pem)
        flags |= MHD_USE_TLS;
    /* $VIRTSNAP_HEADER_DEADLINE (seconds) is for tests. */
    const char *deadline = g_getenv("VIRTSNAP_HEADER_DEADLINE");
    srv->watchdog = vs_watchdog_new(deadline ? MAX(g_ascii_strtoll(deadline, NULL, 10), 1)
                                             : VS_HEADER_DEADLINE,
                                    CONNECTION_LIMIT - CONNECTION_HEADROOM);
    struct MHD_OptionItem options[] = {
        {MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_escaped, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, PER_IP_CONNECTION_LIMIT, NULL},
        {srv->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->mhd = MHD_start_daemon(flags, bound_port(&srv->addr), NULL, NULL, on_request, srv,
                                MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!srv->mhd) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot serve on %s (libmicrohttpd refused "
                    "to start; see the messages above)", config->listen);
        /* listen_fd is not closed here: libmicrohttpd may have closed it
         * already, and the daemon ends on this error anyway. */
        free_server(srv);
        return NULL;
    }
    return srv;
}

const char *vs_server_url(const VsServer *srv) { return srv->url; }

void vs_server_stop(VsServer *srv)
{
    if (!srv)
        return;
    /* No new connection (the listening socket shut, so that a client is
     * refused at once rather than left in its backlog; closed once MHD has
     * stopped, as it may still be in use until then), and
     * no new request on a kept-alive one (503); those being served finish
     * and answer, for DRAIN_SECONDS at most. */
    MHD_socket listening = MHD_quiesce_daemon(srv->mhd);
    if (listening != MHD_INVALID_SOCKET)
        shutdown(listening, SHUT_RDWR);
    gint64 deadline = g_get_monotonic_time() + DRAIN_SECONDS * G_USEC_PER_SEC;
    g_mutex_lock(&srv->drain_lock);
    srv->stopping = true;
    if (srv->in_flight > 0)
        vs_info("stopping: waiting for %u request(s) being served", srv->in_flight);
    while (srv->in_flight > 0 && g_cond_wait_until(&srv->drained, &srv->drain_lock, deadline))
        ;
    if (srv->in_flight > 0)
        vs_warn("%u request(s) still being served after %d s: stopping the server now, which "
                "still waits for them to end; their answers may be lost",
                srv->in_flight, DRAIN_SECONDS);
    g_mutex_unlock(&srv->drain_lock);
    MHD_stop_daemon(srv->mhd);
    if (listening != MHD_INVALID_SOCKET)
        close(listening);
    free_server(srv);
}
