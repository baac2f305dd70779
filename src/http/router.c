/* router.c: the route table matcher and the percent-decoder. */
#include "router.h"

#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *vs_percent_decode(const char *text, gssize len, bool plus_is_space)
{
    if (len < 0)
        len = (gssize)strlen(text);
    GString *out = g_string_sized_new((gsize)len);
    bool ok = true;
    for (gssize i = 0; i < len && ok; i++) {
        char c = text[i];
        if (c == '%') {
            int hi = i + 1 < len ? hex_value(text[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(text[i + 2]) : -1;
            ok = hi >= 0 && lo >= 0 && (hi | lo) != 0;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            ok = false;
        } else if (plus_is_space && c == '+') {
            c = ' ';
        }
        g_string_append_c(out, c);
    }
    if (!ok) {
        g_string_free(out, TRUE);
        return NULL;
    }
    return g_string_free(out, FALSE);
}

/* Splits PATH ("/a/b") into its raw segments; NULL for a path that does not
 * start with '/' or has an empty segment. "/" gives no segments and one
 * trailing '/' is ignored (*SLASHED says so). */
static GPtrArray *split_path(const char *path, bool *slashed)
{
    if (path[0] != '/')
        return NULL;
    GPtrArray *segs = g_ptr_array_new_with_free_func(g_free);
    const char *p = path + 1;
    size_t total = strlen(path);
    *slashed = total > 1 && path[total - 1] == '/';
    if (*slashed)
        total--;
    if (total > 1 && path[total - 1] == '/') { /* "…//": an empty last segment */
        g_ptr_array_unref(segs);
        return NULL;
    }
    const char *end = path + total;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash ? slash : end;
        if (seg_end == p) {
            g_ptr_array_unref(segs);
            return NULL;
        }
        g_ptr_array_add(segs, g_strndup(p, (gsize)(seg_end - p)));
        p = slash ? slash + 1 : end;
    }
    return segs;
}

/* Compares pattern segments with raw path segments; fills MATCH params.
 * Walks PATTERN in place (no g_strsplit per route and request). A trailing
 * slash (SLASHED) is taken only after a fixed segment ("/vms/",
 * "/vms/x/snapshots/"), never after a name: a client resolves a name "."
 * or ".." as a path step, so "/vms/x/snapshots/%2E%2E" reaches the server
 * as "/vms/x/", which must not be the VM. */
static VsRouteStatus match_pattern(const char *pattern, GPtrArray *segs, bool slashed,
                                   VsRouteMatch *match)
{
    guint n_pat = 0;
    for (const char *q = pattern; *q; q++)
        n_pat += *q == '/' && q[1];
    const char *last = strrchr(pattern, '/');
    if (n_pat != segs->len || (slashed && last && last[1] == '{'))
        return VS_ROUTE_NOT_FOUND;
    int n = 0;
    char *params[VS_ROUTE_MAX_PARAMS] = {0};
    VsRouteStatus status = VS_ROUTE_FOUND;
    const char *p = pattern + 1;
    /* A malformed escape (BAD_PATH) counts only where every fixed segment
     * matches too: another shape is simply not this route (404). */
    for (guint i = 0; i < n_pat && status != VS_ROUTE_NOT_FOUND; i++) {
        size_t len = strcspn(p, "/");
        const char *raw = g_ptr_array_index(segs, i);
        if (p[0] == '{') {
            char *decoded = status == VS_ROUTE_FOUND ? vs_percent_decode(raw, -1, false) : NULL;
            if (status == VS_ROUTE_FOUND && (!decoded || n >= VS_ROUTE_MAX_PARAMS)) {
                status = VS_ROUTE_BAD_PATH;
                g_free(decoded); /* never past the end of PARAMS */
            } else if (decoded) {
                params[n++] = decoded;
            }
        } else if (strlen(raw) != len || memcmp(p, raw, len) != 0) {
            status = VS_ROUTE_NOT_FOUND;
        }
        p += len + (p[len] == '/');
    }
    if (status == VS_ROUTE_FOUND) {
        memcpy(match->params, params, sizeof params);
        match->n_params = n;
    } else {
        for (int i = 0; i < n; i++)
            g_free(params[i]);
    }
    return status;
}

void vs_route_match(const VsRoute *routes, size_t n_routes, const char *method,
                    const char *path, VsRouteMatch *match)
{
    memset(match, 0, sizeof *match);
    match->status = VS_ROUTE_NOT_FOUND;
    bool slashed = false;
    g_autoptr(GPtrArray) segs = split_path(path, &slashed);
    if (!segs)
        return;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    g_autoptr(GString) allow = g_string_new(NULL);
    bool bad_path = false; /* the route for this shape and method has a malformed escape */
    for (size_t i = 0; i < n_routes; i++) {
        VsRouteMatch candidate = {0};
        VsRouteStatus status = match_pattern(routes[i].pattern, segs, slashed, &candidate);
        if (status == VS_ROUTE_NOT_FOUND)
            continue;
        if (status == VS_ROUTE_BAD_PATH && strcmp(routes[i].method, want) == 0) {
            bad_path = true;
        } else if (status == VS_ROUTE_FOUND && strcmp(routes[i].method, want) == 0 &&
                   match->status != VS_ROUTE_FOUND) {
            *match = candidate;
            match->status = VS_ROUTE_FOUND;
            match->route = &routes[i];
        } else {
            if (!strstr(allow->str, routes[i].method))
                g_string_append_printf(allow, "%s%s", allow->len ? ", " : "", routes[i].method);
            if (strcmp(routes[i].method, "GET") == 0 && !strstr(allow->str, "HEAD"))
                g_string_append(allow, ", HEAD"); /* answered wherever GET is */
            vs_route_match_clear(&candidate);
        }
    }
    if (match->status == VS_ROUTE_FOUND) {
        return;
    }
    if (bad_path) {
        match->status = VS_ROUTE_BAD_PATH;
        return;
    }
    if (allow->len) {
        match->status = VS_ROUTE_BAD_METHOD;
        match->allow = g_strdup(allow->str);
    }
}

void vs_route_match_clear(VsRouteMatch *match)
{
    for (int i = 0; i < match->n_params; i++)
        g_clear_pointer(&match->params[i], g_free);
    match->n_params = 0;
    g_clear_pointer(&match->allow, g_free);
}
