/* static.c: maps "/" and "/static/<file>" to files under the web directory,
 * refusing anything that could leave it. */
#include "static.h"

#include <string.h>

static const char *type_of(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
        {".json", "application/json"}, {".map", "application/json"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (g_str_has_suffix(path, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* Of the npm packages in web/node_modules only the browser builds the UI
 * loads are served (not the test tools installed beside them). */
static const char *const served_modules[] = {"node_modules/d3-hierarchy/dist/"};

static bool safe_relative(const char *rel)
{
    if (!*rel || rel[0] == '/')
        return false;
    if (g_str_has_prefix(rel, "node_modules/")) {
        bool allowed = false;
        for (size_t i = 0; i < G_N_ELEMENTS(served_modules); i++)
            allowed = allowed || g_str_has_prefix(rel, served_modules[i]);
        if (!allowed)
            return false;
    }
    for (const char *p = rel; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("._-/", *p))
            return false;
    g_auto(GStrv) parts = g_strsplit(rel, "/", -1);
    for (char **part = parts; *part; part++)
        if (!**part || (*part)[0] == '.')
            return false;
    return true;
}

GBytes *vs_static_lookup(const char *web_dir, const char *path, const char **content_type,
                         bool *is_static)
{
    const char *rel = NULL;
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        rel = "index.html";
    else if (g_str_has_prefix(path, "/static/"))
        rel = path + strlen("/static/");
    *is_static = rel != NULL;
    if (!rel || !web_dir || !safe_relative(rel))
        return NULL;
    g_autofree char *file = g_build_filename(web_dir, rel, NULL);
    char *data = NULL;
    gsize len = 0;
    if (!g_file_test(file, G_FILE_TEST_IS_REGULAR) || !g_file_get_contents(file, &data, &len, NULL))
        return NULL;
    *content_type = type_of(rel);
    return g_bytes_new_take(data, len);
}
