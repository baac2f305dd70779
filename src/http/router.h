/* router.h: maps a method and a path to a handler through a table of
 * patterns such as "/vms/{vm}/snapshots/{snap}/revert". Each path segment is
 * percent-decoded on its own, so "%2F" inside a name never splits it. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#define VS_ROUTE_MAX_PARAMS 4

typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/vms/{vm}" */
    void *handler;       /* opaque to the router */
} VsRoute;

typedef enum {
    VS_ROUTE_FOUND,
    VS_ROUTE_NOT_FOUND,
    VS_ROUTE_BAD_METHOD, /* the path exists, the method does not: see allow */
    VS_ROUTE_BAD_PATH,   /* undecodable percent-escape or NUL in a segment */
} VsRouteStatus;

typedef struct {
    VsRouteStatus status;
    const VsRoute *route;
    char *params[VS_ROUTE_MAX_PARAMS]; /* decoded {…} captures, in order */
    int n_params;
    char *allow; /* "GET, PUT" for VS_ROUTE_BAD_METHOD */
} VsRouteMatch;

/* Decodes %XX escapes of one path segment or query value (and '+' as a
 * space when PLUS_IS_SPACE). NULL when an escape is malformed or decodes to
 * a NUL byte. */
char *vs_percent_decode(const char *text, gssize len, bool plus_is_space);

/* Matches METHOD and the raw (still encoded) PATH against ROUTES. A HEAD
 * request matches GET routes. */
void vs_route_match(const VsRoute *routes, size_t n_routes, const char *method,
                    const char *path, VsRouteMatch *match);
void vs_route_match_clear(VsRouteMatch *match);
