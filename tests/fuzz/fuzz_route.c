/* fuzz_route.c: libFuzzer harness for the request path before any handler:
 * percent-decoding, routing on the daemon's real route table with a fuzzed
 * method and path, and the static file lookup.
 *
 * Input: byte 0 picks the method, the rest is the raw path (up to a NUL).
 * Properties checked beyond "no crash, no leak, no UB":
 *   - the decoder never yields more bytes than it read, never a NUL, and
 *     what it yields survives encode → decode unchanged;
 *   - a FOUND match has the wanted method (HEAD → GET), one capture per
 *     {…} of its pattern, and the path rebuilt from those captures routes
 *     back to the same route with the same captures;
 *   - a 405 carries a non-empty Allow list without the wanted method;
 *   - the static lookup serves only the files of its web directory, never
 *     the secret file beside it. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "http/router.h"
#include "http/routes.h"
#include "http/static.h"

static char *web_dir;

static const char *const web_files[][2] = {
    {"index.html", "<html>index</html>"},
    {"app.js", "console.log('app')"},
    {"style.css", "body{}"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char *root = g_dir_make_tmp("vs-fuzz-route-XXXXXX", NULL);
    FUZZ_ASSERT(root);
    web_dir = g_build_filename(root, "web", NULL);
    FUZZ_ASSERT(g_mkdir(web_dir, 0700) == 0);
    for (size_t i = 0; i < G_N_ELEMENTS(web_files); i++) {
        g_autofree char *path = g_build_filename(web_dir, web_files[i][0], NULL);
        FUZZ_ASSERT(g_file_set_contents(path, web_files[i][1], -1, NULL));
    }
    g_autofree char *secret = g_build_filename(root, "secret.txt", NULL);
    FUZZ_ASSERT(g_file_set_contents(secret, "SECRET", -1, NULL));
    g_autofree char *hidden = g_build_filename(web_dir, ".hidden", NULL);
    FUZZ_ASSERT(g_file_set_contents(hidden, "SECRET", -1, NULL));
    g_free(root); /* left behind in the temp dir: a few bytes per run */
    return 0;
}

static void check_decode(const char *raw, size_t len, bool plus)
{
    g_autofree char *d = vs_percent_decode(raw, (gssize)len, plus);
    if (!d)
        return;
    size_t n = strlen(d);
    FUZZ_ASSERT(n <= len);
    /* without escapes (and '+' kept) decoding is the identity */
    if (!memchr(raw, '%', len) && !(plus && memchr(raw, '+', len)))
        FUZZ_ASSERT(n == len && memcmp(d, raw, len) == 0);
    g_autofree char *enc = g_uri_escape_string(d, NULL, FALSE);
    g_autofree char *back = vs_percent_decode(enc, -1, plus);
    FUZZ_ASSERT(back && strcmp(back, d) == 0);
}

static int count_params(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; *p; p++)
        n += *p == '{';
    return n;
}

/* The path of ROUTE with CAPTURES percent-encoded into its {…} segments. */
static char *rebuild(const VsRoute *route, char *const *captures)
{
    GString *out = g_string_new(NULL);
    g_auto(GStrv) segs = g_strsplit(route->pattern + 1, "/", -1);
    int k = 0;
    for (char **s = segs; *s; s++) {
        g_string_append_c(out, '/');
        if ((*s)[0] == '{') {
            g_autofree char *enc = g_uri_escape_string(captures[k++], NULL, FALSE);
            g_string_append(out, enc);
        } else {
            g_string_append(out, *s);
        }
    }
    return g_string_free(out, FALSE);
}

static void check_route(const char *method, const char *path)
{
    size_t n_routes = 0;
    const VsRoute *routes = vs_api_routes(&n_routes);
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    VsRouteMatch m;
    vs_route_match(routes, n_routes, method, path, &m);
    switch (m.status) {
    case VS_ROUTE_FOUND: {
        FUZZ_ASSERT(m.route && m.route >= routes && m.route < routes + n_routes);
        FUZZ_ASSERT(strcmp(m.route->method, want) == 0);
        FUZZ_ASSERT(m.n_params == count_params(m.route->pattern));
        FUZZ_ASSERT(m.allow == NULL);
        for (int i = 0; i < m.n_params; i++)
            FUZZ_ASSERT(m.params[i] != NULL);
        g_autofree char *again = rebuild(m.route, m.params);
        VsRouteMatch m2;
        vs_route_match(routes, n_routes, method, again, &m2);
        FUZZ_ASSERT(m2.status == VS_ROUTE_FOUND && m2.route == m.route);
        FUZZ_ASSERT(m2.n_params == m.n_params);
        for (int i = 0; i < m.n_params; i++)
            FUZZ_ASSERT(strcmp(m2.params[i], m.params[i]) == 0);
        vs_route_match_clear(&m2);
        break;
    }
    case VS_ROUTE_BAD_METHOD:
        FUZZ_ASSERT(m.allow && *m.allow);
        FUZZ_ASSERT(m.route == NULL);
        /* the wanted method is not among the allowed ones */
        {
            g_auto(GStrv) allowed = g_strsplit(m.allow, ", ", -1);
            FUZZ_ASSERT(!g_strv_contains((const char *const *)allowed, want));
        }
        break;
    case VS_ROUTE_NOT_FOUND:
    case VS_ROUTE_BAD_PATH:
        FUZZ_ASSERT(m.allow == NULL && m.route == NULL);
        break;
    default:
        FUZZ_ASSERT(!"unknown route status");
    }
    if (m.status != VS_ROUTE_FOUND)
        FUZZ_ASSERT(m.n_params == 0);
    vs_route_match_clear(&m);
}

static void check_static(const char *path)
{
    const char *type = NULL;
    bool is_static = false;
    g_autoptr(GBytes) bytes = vs_static_lookup(web_dir, path, &type, &is_static);
    if (!bytes)
        return;
    FUZZ_ASSERT(is_static && type);
    gsize len = 0;
    const char *data = g_bytes_get_data(bytes, &len);
    bool known = false;
    for (size_t i = 0; i < G_N_ELEMENTS(web_files); i++)
        known |= len == strlen(web_files[i][1]) && memcmp(data, web_files[i][1], len) == 0;
    FUZZ_ASSERT(known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET",  "HEAD",    "POST", "PUT", "DELETE",
                                          "PATCH", "OPTIONS", "get",  ""};
    if (size < 1 || size > 4096)
        return 0;
    const char *method = methods[data[0] % G_N_ELEMENTS(methods)];
    const char *raw = (const char *)data + 1;
    size_t len = size - 1;
    check_decode(raw, len, false);
    check_decode(raw, len, true);
    g_autofree char *path = g_strndup(raw, len);
    check_route(method, path);
    if (data[0] % G_N_ELEMENTS(methods) < 2)
        check_static(path);
    return 0;
}
