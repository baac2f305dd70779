/* server.h: the HTTP server (libmicrohttpd, a thread per connection, so a
 * slow libvirt call holds up only its own request). */
#pragma once
#include <glib.h>
#include <stdbool.h>

typedef struct {
    const char *listen;   /* "ADDR:PORT" or "[V6]:PORT" */
    const char *tls_cert; /* PEM file, or NULL for plain HTTP (loopback only) */
    const char *tls_key;
    const char *web_dir;  /* static files of the web UI */
    size_t max_body;      /* bytes; larger bodies get 413 */
    /* The origin browsers see when a proxy in front of virtsnapd serves it
     * ("https://vs.example.com"), or NULL: writes authenticated by cookie or
     * HTTP Basic are also accepted from it, and an https one marks session
     * cookies Secure. */
    const char *public_origin;
} VsServerConfig;

typedef struct VsServer VsServer;

/* Binds ADDRESS ("ADDR:PORT", "[V6]:PORT", "localhost:PORT"; port 0: any
 * free one) and listens, before anything else is set up, so that an
 * address in use is said at once and no one else can take it meanwhile (a
 * bound socket that does not listen yet would not stop another
 * SO_REUSEADDR bind): the socket, or -1 with ERROR. Nothing is served on it
 * until vs_server_start: a client during a long start (journal recovery
 * may wait 2 minutes for libvirt) waits in its backlog. */
int vs_server_listen(const char *address, GError **error);
/* Serves on LISTEN_FD (from vs_server_listen on CONFIG's listen), which
 * the server takes: closed when it stops, or when it fails to start before
 * libmicrohttpd has it. */
VsServer *vs_server_start(const VsServerConfig *config, int listen_fd, GError **error);
/* The URL clients use, e.g. "http://127.0.0.1:8001". */
const char *vs_server_url(const VsServer *server);
void vs_server_stop(VsServer *server);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool vs_listen_is_loopback(const char *host);
/* Splits "host:port" / "[v6]:port"; false on nonsense. */
bool vs_listen_parse(const char *listen, char **host, guint16 *port);
